//! TCP Intercept from its second review: class counts equal the table under
//! random operations, the MSS a cookie offers, and no answer from an
//! address the parser refuses as a source.

use super::intercept::{CLIENT_ISN, Ends, seg, sent};
use super::*;
use crate::trace::XorShift;

fn config(limits: &str) -> Harness {
    let mut h = Harness::new();
    let text = format!(
        "class-map all\n match any\npolicy-map p\n class all\n  set connection {limits}\n  set connection random-sequence-number disable\nservice-policy p global\n"
    );
    h.install(crate::policy::parse::parse_config(&text).unwrap().config);
    h
}

/// `answerable` (intercept.rs) is meant to refuse a cookie from any
/// address the node's own parser refuses as a source ("its own parser
/// would refuse such a source"), but it lets 0.0.0.0/8 other than 0.0.0.0
/// by (`source_ok`, packet/parse.rs, refuses every 0.x.y.z source but a
/// DHCP client's 0.0.0.0): past the cap a SYN to 0.1.2.3 is answered with
/// a SYN-ACK from 0.1.2.3, which the node itself would drop as
/// `sp-security-failed`.
#[test]
fn no_cookie_from_a_source_the_parser_refuses() {
    let mut h = config("embryonic-conn-max 1");
    super::intercept::fill_cap(&mut h);
    let s = v4_pair(1, 80).1;
    let e = Ends {
        client: v4_pair(46_000, 80).0,
        server: Host {
            ip: "0.1.2.3".parse().unwrap(),
            ..s
        },
    };
    let (v, _) = e.send(&mut h, &seg(Side::Client, CLIENT_ISN, 0, TcpFlags::SYN, 0));
    let out = sent(&mut h);
    let refused: Vec<_> = out
        .iter()
        .map(|(_, f)| crate::packet::parse(f, crate::packet::PacketMeta::default()).map(|_| ()))
        .collect();
    assert!(
        out.is_empty(),
        "verdict {v:?}; the firewall answered with {} SYN-ACK(s) whose parse by the node is {refused:?}",
        out.len()
    );
}

/// Checked sound: random conversations through TCP Intercept (SYNs, cookie
/// ACKs with and without data, server SYN-ACKs, RSTs each way, data, FINs,
/// time passing, the sweep) keep every class's counts equal to the table.
#[test]
fn class_counts_follow_the_table_through_intercept() {
    for seed in 1..150u64 {
        let mut r = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let limits = [
            "embryonic-conn-max 1",
            "per-client-embryonic-max 1",
            "conn-max 3 embryonic-conn-max 1",
        ][r.below(3) as usize];
        let mut h = config(limits);
        let (_, s0) = v4_pair(1, 80);
        let clients = crate::trace::v4_clients(3, 20);
        // Per conversation: (isn, cookie, server isn, client next, server next)
        let mut st = std::collections::HashMap::new();
        for step in 0..400 {
            let ci = r.below(3) as usize;
            let port = 47_000 + r.below(3) as u16;
            let e = Ends {
                client: Host {
                    port,
                    ..clients[ci]
                },
                server: s0,
            };
            let key = (ci, port);
            let (isn, cookie, sisn) =
                *st.entry(key)
                    .or_insert((r.next_u64() as u32, 0u32, r.next_u64() as u32));
            let op = r.below(12);
            let s = match op {
                0 | 1 => {
                    let isn = if r.below(3) == 0 {
                        r.next_u64() as u32
                    } else {
                        isn
                    };
                    st.insert(key, (isn, cookie, sisn));
                    seg(Side::Client, isn, 0, TcpFlags::SYN, 0)
                }
                2 | 3 => seg(
                    Side::Client,
                    isn.wrapping_add(1),
                    cookie.wrapping_add(1),
                    TcpFlags::ACK,
                    0,
                ),
                4 => seg(
                    Side::Client,
                    isn.wrapping_add(1),
                    cookie.wrapping_add(1),
                    TcpFlags::ACK | TcpFlags::PSH,
                    100,
                ),
                5 => {
                    let mut s = seg(
                        Side::Server,
                        sisn,
                        isn.wrapping_add(1),
                        TcpFlags::SYN | TcpFlags::ACK,
                        0,
                    );
                    s.wscale = None;
                    s
                }
                6 => seg(
                    Side::Server,
                    0,
                    isn.wrapping_add(1),
                    TcpFlags::RST | TcpFlags::ACK,
                    0,
                ),
                7 => seg(
                    Side::Client,
                    isn.wrapping_add(1),
                    cookie.wrapping_add(1),
                    TcpFlags::RST | TcpFlags::ACK,
                    0,
                ),
                8 => seg(
                    Side::Server,
                    sisn.wrapping_add(1),
                    isn.wrapping_add(1),
                    TcpFlags::ACK | TcpFlags::PSH,
                    50,
                ),
                9 => seg(
                    Side::Client,
                    isn.wrapping_add(1),
                    cookie.wrapping_add(1),
                    TcpFlags::FIN | TcpFlags::ACK,
                    0,
                ),
                10 => seg(
                    Side::Server,
                    sisn.wrapping_add(1),
                    isn.wrapping_add(1),
                    TcpFlags::FIN | TcpFlags::ACK,
                    0,
                ),
                _ => {
                    h.advance(Duration::from_millis(
                        [10, 900, 12_000, 31_000][r.below(4) as usize],
                    ));
                    h.engine.expire(h.now);
                    continue;
                }
            };
            let _ = e.send(&mut h, &s);
            for (_, f) in sent(&mut h) {
                let w = super::intercept::wire(&f);
                if w.flags == TcpFlags::SYN | TcpFlags::ACK {
                    let (i, _, si) = st[&key];
                    st.insert(key, (i, w.seq, si));
                }
            }
            // The invariant.
            let mut conns = std::collections::HashMap::<u16, (u32, u32)>::new();
            for (_, en) in h.engine.table().iter() {
                let c = conns.entry(en.class.0).or_default();
                c.0 += 1;
                c.1 += u32::from(en.tcp_state().is_some_and(|s| s.is_embryonic()));
            }
            for (id, slot) in h.engine.classes().iter() {
                let want = conns.get(&id.0).copied().unwrap_or_default();
                assert_eq!(
                    (slot.conns, slot.embryonic),
                    want,
                    "seed {seed} step {step} op {op} limits {limits}: class counts vs table"
                );
            }
        }
    }
}

/// The cookie SYN-ACK offers the `sysopt connection tcpmss` clamp applied
/// to the client's own MSS (docs/asa-behaviour.md §2.2): a client
/// announcing 1220 is offered 1220, one announcing 1460 the clamp, 1380.
#[test]
fn the_cookie_offers_the_clamp_of_the_clients_mss() {
    let mut h = config("embryonic-conn-max 1");
    super::intercept::fill_cap(&mut h);
    let e = Ends {
        client: v4_pair(46_100, 80).0,
        server: v4_pair(1, 80).1,
    };
    let (mut f, i) = e.frame(&seg(Side::Client, CLIENT_ISN, 0, TcpFlags::SYN, 0));
    // The MSS option (kind 2, length 4) right after the 20-byte header.
    let at = 14 + 20 + 20;
    assert_eq!(&f[at..at + 2], &[2, 4]);
    f[at + 2..at + 4].copy_from_slice(&1220u16.to_be_bytes());
    let sum = super::mss::fresh_checksum(&f);
    f[14 + 20 + 16..14 + 20 + 18].copy_from_slice(&sum.to_be_bytes());
    let (v, _) = super::intercept::pass(&mut h, f, i);
    assert_eq!(v, Verdict::Drop(DropReason::TcpIntercepted));
    let out = sent(&mut h);
    let w = super::intercept::wire(&out[0].1);
    assert_eq!(w.mss, Some(1220), "the client's own, within the clamp");
}
