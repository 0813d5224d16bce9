//! Dead connection detection in a pair whose clocks differ (by NTP's
//! milliseconds, or by seconds): the answers cross the other node, whose
//! refreshes carry its own clock; the prober takes them as answers
//! whatever their stamps say (docs/asa-behaviour.md §2.2).

mod common;

use std::time::Duration;

use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::Source;
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::placement::Placement;
use rampart_dataplane::trace::{Seg, Side, TcpModel, v4_pair};
use rampart_dataplane::{Engine, Instant, Verdict};

const A: u16 = 1;
const B: u16 = 2;

fn policy(dcd: &str) -> String {
    format!(
        "class-map all\n match any\npolicy-map global_policy\n class all\n  set connection timeout idle 0:00:10 {dcd}\nservice-policy global_policy global\n"
    )
}

fn node(id: u16, members: &[u16], copies: usize, dcd: &str) -> Engine {
    let mut e = common::synced_node(id, Duration::ZERO, members.len() - 1);
    let text = rampart_dataplane::policy::parse::parse_config(&policy(dcd))
        .expect("parses")
        .config;
    let policy = rampart_dataplane::policy::compile::compile(&text, &e.config().interfaces)
        .expect("compiles");
    e.set_policy(std::sync::Arc::new(policy)).expect("fits");
    e.set_placement(Placement::new(members.iter().copied(), copies));
    e
}

fn directed_by(director: u16, members: &[u16], copies: usize) -> (TcpModel, FlowKey) {
    let placement = Placement::new(members.iter().copied(), copies);
    (40_000..41_000)
        .map(|port| {
            let (c, s) = v4_pair(port, 80);
            let m = TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None]);
            let (key, _) = FlowKey::of(&m.tuple());
            (m, key)
        })
        .find(|(_, key)| placement.ranked(key)[0] == director)
        .unwrap()
}

fn through(e: &mut Engine, m: &TcpModel, seg: &Seg, now: Instant) {
    let mut f = m.frame(seg);
    let v = e.process(&mut f, PacketMeta::default(), m.iface(seg.from), now);
    assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
}

/// Drain `from`'s effects into `to`; returns the interfaces `from`'s
/// frames went out of.
fn drain(
    from: &mut Engine,
    from_id: u16,
    to: &mut Engine,
    to_id: u16,
    now: Instant,
    to_now: Instant,
) -> Vec<u8> {
    let mut sent = Vec::new();
    while let Some(effect) = from.poll_effect(now) {
        if let Effect::Transmit { egress, .. } = &effect {
            sent.push(egress.0);
            continue;
        }
        let Some(o) = effect.into_sync() else {
            continue;
        };
        let passive = if o.full.contains(to_id) {
            false
        } else if o.passive.contains(to_id) {
            true
        } else {
            continue;
        };
        to.apply_peer(&o.event, Source::batch(Some(from_id), passive), to_now)
            .expect("valid");
    }
    sent
}

/// A owns the connection (it opened through A); both ends are alive and
/// answer every probe; their answers cross B (an asymmetric path), whose
/// clock runs `skew` behind A's. Returns (DCD dead count at A, whether
/// the connection is still in A's table).
fn run(skew: Duration, dcd: &str) -> (u64, bool) {
    let members = [A, B];
    let (mut m, _) = directed_by(A, &members, 2);
    let (mut a, mut b) = (node(A, &members, 2, dcd), node(B, &members, 2, dcd));
    let mut now = Instant::from_secs(1_700_000_000);
    let syn = m.syn();
    through(&mut a, &m, &syn, now);
    m.set_shift(a.find(&m.tuple(), now).unwrap().seq_offset);
    for seg in [
        m.syn_ack(),
        m.ack(Side::Client),
        m.data(Side::Client, 100),
        m.ack(Side::Server),
    ] {
        through(&mut a, &m, &seg, now);
    }
    now = now + Duration::from_millis(10);
    a.expire(now);
    drain(&mut a, A, &mut b, B, now, now - skew);
    assert!(b.find(&m.tuple(), now - skew).is_some(), "B holds a copy");
    for _ in 0..60 {
        now = now + Duration::from_secs(1);
        a.expire(now);
        b.expire(now - skew);
        let probes = drain(&mut a, A, &mut b, B, now, now - skew);
        drain(&mut b, B, &mut a, A, now - skew, now);
        // Each end answers its probe within a millisecond, through B.
        let t = now + Duration::from_millis(1);
        for iface in probes {
            let side = if iface == 0 {
                Side::Client
            } else {
                Side::Server
            };
            let ans = m.ack(side);
            through(&mut b, &m, &ans, t - skew);
        }
        b.expire_sync(t - skew);
        drain(&mut b, B, &mut a, A, t - skew, t);
    }
    eprintln!(
        "skew {skew:?}: {:?} table a {} b {}",
        a.counters().dcd,
        a.table().len(),
        b.table().len()
    );
    (a.counters().dcd.dead, a.find(&m.tuple(), now).is_some())
}

#[test]
fn pair_without_skew_keeps_a_live_connection() {
    let (dead, present) = run(Duration::ZERO, "dcd 0:00:02 1");
    assert_eq!((dead, present), (0, true));
}

#[test]
fn pair_with_5ms_skew_keeps_a_live_connection() {
    let (dead, present) = run(Duration::from_millis(5), "dcd 0:00:02 1");
    assert_eq!(
        (dead, present),
        (0, true),
        "B's clock 5 ms behind A's: the live connection was removed"
    );
}

#[test]
fn pair_with_2500ms_skew_keeps_a_live_connection_three_probes() {
    let (dead, present) = run(Duration::from_millis(2500), "dcd 0:00:01 3");
    assert_eq!(
        (dead, present),
        (0, true),
        "B's clock 2.5 s behind A's (within MAX_PEER_CLOCK_AHEAD): removed"
    );
}
