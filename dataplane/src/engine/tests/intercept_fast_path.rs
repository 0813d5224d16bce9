//! The fast path against the general path on intercepted
//! connections (tests/fast_path_equivalence.rs has none): random segments
//! both ways, any server ISN (any shift, small ones included), with and
//! without a tcp-map.

use super::intercept::{CLIENT_ISN, Ends, seg, sent, tuple, wire};
use super::*;
use crate::trace::XorShift;

fn config(extra: &str, top: &str) -> Harness {
    let mut h = Harness::new();
    let text = format!(
        "{top}class-map all\n match any\npolicy-map p\n class all\n  set connection embryonic-conn-max 1\n  set connection random-sequence-number disable\n{extra}service-policy p global\n"
    );
    h.install(crate::policy::parse::parse_config(&text).unwrap().config);
    h
}

fn run(seed: u64, fast: bool, extra: &str, top: &str) -> Vec<String> {
    let mut h = config(extra, top);
    h.engine.set_fast_path(fast);
    let mut r = XorShift(seed);
    super::intercept::fill_cap(&mut h);
    let s = v4_pair(1, 80).1;
    let e = Ends {
        client: v4_pair(45_000, 80).0,
        server: s,
    };
    e.send(&mut h, &seg(Side::Client, CLIENT_ISN, 0, TcpFlags::SYN, 0));
    let cookie = wire(&sent(&mut h)[0].1).seq;
    e.send(
        &mut h,
        &seg(
            Side::Client,
            CLIENT_ISN + 1,
            cookie.wrapping_add(1),
            TcpFlags::ACK,
            0,
        ),
    );
    sent(&mut h);
    // Any server ISN: a shift of any size.
    let sisn = if r.below(2) == 0 {
        cookie.wrapping_sub(r.below(3000) as u32)
    } else {
        r.next_u64() as u32
    };
    let mut sa = seg(
        Side::Server,
        sisn,
        CLIENT_ISN + 1,
        TcpFlags::SYN | TcpFlags::ACK,
        0,
    );
    sa.wscale = None;
    let mut log = vec![format!("{:?}", e.send(&mut h, &sa).0)];
    sent(&mut h);
    // Each side's next sequence number (in its own space) and what it has
    // received (in the space it sees).
    let (mut cn, mut sn) = (CLIENT_ISN + 1, sisn.wrapping_add(1));
    let shift = cookie.wrapping_sub(sisn);
    for _ in 0..300 {
        let client = r.below(2) == 0;
        let len = [0u32, 1, 100, 1380, 1400][r.below(5) as usize];
        let jitter = [0i64, 0, 0, -50, 50, -70_000, 70_000][r.below(7) as usize];
        let ajit = [0i64, 0, 0, -10, 10, -70_000, 70_000][r.below(7) as usize];
        let win = [29_200u16, 0, 1, 65_535, 8192][r.below(5) as usize];
        let mut sg = if client {
            seg(
                Side::Client,
                (cn as i64 + jitter) as u32,
                (sn.wrapping_add(shift) as i64 + ajit) as u32,
                TcpFlags::ACK | TcpFlags::PSH,
                len,
            )
        } else {
            seg(
                Side::Server,
                (sn as i64 + jitter) as u32,
                (cn as i64 + ajit) as u32,
                TcpFlags::ACK | TcpFlags::PSH,
                len,
            )
        };
        sg.window = win;
        let (v, f) = e.send(&mut h, &sg);
        if matches!(v, Verdict::Forward { .. }) && jitter == 0 {
            if client {
                cn = cn.wrapping_add(len)
            } else {
                sn = sn.wrapping_add(len)
            }
        }
        if r.below(20) == 0 {
            h.advance(Duration::from_millis(r.below(5000)));
        }
        log.push(format!(
            "{v:?} {:?}",
            if matches!(v, Verdict::Forward { .. }) {
                Some(f)
            } else {
                None
            }
        ));
    }
    let entry = h.engine.find(&tuple(&e), h.now);
    log.push(format!("{entry:?}"));
    log.push(format!("{:?}", h.engine.counters().drops));
    log
}

#[test]
fn the_fast_path_judges_intercepted_connections_as_the_general_path() {
    for seed in 1..200u64 {
        for (extra, top) in [
            ("", ""),
            (
                "  set connection advanced-options M\n",
                "tcp-map M\n exceed-mss drop\n",
            ),
        ] {
            let a = run(seed * 7919, true, extra, top);
            let b = run(seed * 7919, false, extra, top);
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert_eq!(x, y, "seed {seed} step {i} map {top:?}");
            }
        }
    }
}
