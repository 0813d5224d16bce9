//! Dead connection detection in a pair (docs/asa-behaviour.md §2.2): the
//! owner A probes an idle connection's ends; the client's path crosses A,
//! the server's crosses B, so the server's answer reaches A only as B's
//! refresh of the flow's last-seen. A live connection stays on both nodes;
//! one with a dead end leaves both, by A's verdict, while B's copy waits
//! for it past the idle timeout; and B's word counts as the answer however
//! far B's clock lags A's.

mod common;

use std::time::Duration;

use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::Source;
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::placement::Placement;
use rampart_dataplane::trace::{Seg, Side, TcpModel, v4_pair};
use rampart_dataplane::{Engine, IfaceId, Instant, Verdict};

const A: u16 = 1;
const B: u16 = 2;

/// Idle after a minute; probes 5 s apart, three to an end (15 s, less
/// than the 35 s an end has to answer in a cluster).
const POLICY: &str = "class-map all\n match any\npolicy-map global_policy\n class all\n  set connection timeout idle 0:01:00 dcd 0:00:05 3\nservice-policy global_policy global\n";

fn node(id: u16) -> Engine {
    node_with(id, POLICY)
}

fn node_with(id: u16, policy: &str) -> Engine {
    let mut e = common::synced_node(id, Duration::ZERO, 1);
    let text = rampart_dataplane::policy::parse::parse_config(policy)
        .expect("parses")
        .config;
    let policy = rampart_dataplane::policy::compile::compile(&text, &e.config().interfaces)
        .expect("compiles");
    e.set_policy(std::sync::Arc::new(policy))
        .expect("the policy's classes fit");
    e.set_placement(Placement::new([A, B], 2));
    e
}

/// A connection whose flow the pair directs at A.
fn directed_by_a() -> TcpModel {
    let placement = Placement::new([A, B], 2);
    (40_000..41_000)
        .map(|port| {
            let (c, s) = v4_pair(port, 80);
            TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None])
        })
        .find(|m| placement.ranked(&FlowKey::of(&m.tuple()).0)[0] == A)
        .expect("some port is directed so")
}

/// Send `seg` through `e`, which must forward it.
fn through(e: &mut Engine, m: &TcpModel, seg: &Seg, now: Instant) {
    let mut f = m.frame(seg);
    let v = e.process(&mut f, PacketMeta::default(), m.iface(seg.from), now);
    assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
}

/// Drain `from`'s effects: `to` applies its sync events; the frames it
/// sent are returned by egress.
fn drain(from: &mut Engine, from_id: u16, to: &mut Engine, now: Instant) -> Vec<IfaceId> {
    drain_at(from, from_id, to, now, now)
}

/// [`drain`] between nodes whose clocks read `now` and `to_now`.
fn drain_at(
    from: &mut Engine,
    from_id: u16,
    to: &mut Engine,
    now: Instant,
    to_now: Instant,
) -> Vec<IfaceId> {
    let mut sent = Vec::new();
    while let Some(effect) = from.poll_effect(now) {
        if let Effect::Transmit { egress, .. } = effect {
            sent.push(egress);
            continue;
        }
        if let Some(o) = effect.into_sync() {
            to.apply_peer(&o.event, Source::batch(Some(from_id), false), to_now)
                .expect("valid state");
        }
    }
    sent
}

/// A connection the pair directs at A, established through A with data
/// both ways at `now`; the model shifted as A randomized it.
fn opened(a: &mut Engine, now: Instant) -> TcpModel {
    let mut m = directed_by_a();
    let syn = m.syn();
    through(a, &m, &syn, now);
    m.set_shift(a.find(&m.tuple(), now).expect("opened").seq_offset);
    for seg in [
        m.syn_ack(),
        m.ack(Side::Client),
        m.data(Side::Client, 100),
        m.data(Side::Server, 100),
        m.ack(Side::Client),
    ] {
        through(a, &m, &seg, now);
    }
    m
}

/// The pair with the connection established through A (data both ways)
/// and B holding A's copy.
fn established() -> (Engine, Engine, TcpModel, Instant) {
    let (mut a, mut b) = (node(A), node(B));
    let mut now = Instant::from_secs(1_700_000_000);
    let m = opened(&mut a, now);
    now = now + Duration::from_millis(10);
    a.expire(now);
    assert!(drain(&mut a, A, &mut b, now).is_empty());
    assert!(b.find(&m.tuple(), now).is_some(), "B holds a copy");
    (a, b, m, now)
}

/// `secs` seconds, a tenth at a time: both nodes run their timers and
/// exchange their events; each probe A sends is answered by `answer` (the
/// end it went to answers through its own path, a millisecond later, when
/// it lives). Returns the probes A and B sent, by egress.
fn run(
    (a, b): (&mut Engine, &mut Engine),
    m: &TcpModel,
    now: &mut Instant,
    secs: u32,
    answers: [bool; 2],
) -> (Vec<IfaceId>, Vec<IfaceId>) {
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    for _ in 0..secs * 10 {
        *now = *now + Duration::from_millis(100);
        a.expire(*now);
        b.expire(*now);
        let sent = drain(a, A, b, *now);
        from_b.extend(drain(b, B, a, *now));
        for &egress in &sent {
            let end = m.side_behind(egress);
            if !answers[end as usize] || a.find(&m.tuple(), *now).is_none() {
                continue;
            }
            // The client's path crosses A, the server's B.
            let t = *now + Duration::from_millis(1);
            let ack = m.clone().ack(end);
            match end {
                Side::Client => through(a, m, &ack, t),
                Side::Server => through(b, m, &ack, t),
            }
        }
        from_a.extend(sent);
    }
    (from_a, from_b)
}

#[test]
fn an_answer_through_the_peer_keeps_the_connection_on_both_nodes() {
    let (mut a, mut b, m, mut now) = established();
    // Four idle timeouts' worth of silence but for the probes' answers.
    let (from_a, from_b) = run((&mut a, &mut b), &m, &mut now, 250, [true, true]);
    assert!(from_b.is_empty(), "only the owner probes: {from_b:?}");
    assert!(a.find(&m.tuple(), now).is_some(), "A keeps it");
    assert!(b.find(&m.tuple(), now).is_some(), "B keeps it");
    let rounds = a.counters().dcd.kept;
    assert!(rounds >= 3, "kept {rounds} times in 250 s");
    assert_eq!(a.counters().dcd.dead, 0);
    // Each round probes each end once (a round may be under way): the
    // server's answer through B reached A in B's refresh, in time.
    for end in [Side::Client, Side::Server] {
        let n = from_a.iter().filter(|&&e| e == m.iface(end)).count() as u64;
        assert!(
            n == rounds || n == rounds + 1,
            "{end:?}: {n} probes, {rounds} rounds"
        );
    }
}

#[test]
fn a_dead_server_ends_the_connection_on_both_nodes() {
    let (mut a, mut b, m, mut now) = established();
    // The client answers; the server is gone. A's verdict comes 35 s
    // after it began probing the server (an end's answer time in a
    // cluster); B holds its copy until then, past the idle timeout.
    let (from_a, from_b) = run((&mut a, &mut b), &m, &mut now, 90, [true, false]);
    assert!(from_b.is_empty());
    assert!(a.find(&m.tuple(), now).is_some(), "still probing at 90 s");
    assert!(b.find(&m.tuple(), now).is_some(), "B waits for A's verdict");
    let (more, _) = run((&mut a, &mut b), &m, &mut now, 20, [true, false]);
    assert!(a.find(&m.tuple(), now).is_none(), "A found the server dead");
    assert!(
        b.find(&m.tuple(), now).is_none(),
        "A's delete reached B, long before B's own grace ran out"
    );
    let probes: Vec<_> = from_a.iter().chain(&more).collect();
    assert_eq!(
        probes
            .iter()
            .filter(|&&&e| e == m.iface(Side::Server))
            .count(),
        3,
        "three probes to the server"
    );
    assert_eq!(a.counters().dcd.dead, 1);
}

/// Both ends alive, every answer crossing B, whose clock reads `skew`
/// behind A's: the prober takes B's word of the flow as the answer
/// whatever its stamps say. Before the review fix, A compared last-seen
/// times, and 5 ms of skew with one probe an end (or 2.5 s with three)
/// removed the live connection. Returns A's dead count and whether the
/// connection is still there after a minute (six idle timeouts).
fn skewed(skew: Duration, dcd: &str) -> (u64, bool) {
    let policy = POLICY.replace("idle 0:01:00 dcd 0:00:05 3", &format!("idle 0:00:10 {dcd}"));
    let (mut a, mut b) = (node_with(A, &policy), node_with(B, &policy));
    let mut now = Instant::from_secs(1_700_000_000);
    let mut m = opened(&mut a, now);
    now = now + Duration::from_millis(10);
    a.expire(now);
    drain_at(&mut a, A, &mut b, now, now - skew);
    for _ in 0..60 {
        now = now + Duration::from_secs(1);
        a.expire(now);
        b.expire(now - skew);
        let probes = drain_at(&mut a, A, &mut b, now, now - skew);
        drain_at(&mut b, B, &mut a, now - skew, now);
        let t = now + Duration::from_millis(1);
        for egress in probes {
            let side = m.side_behind(egress);
            let ans = m.ack(side);
            through(&mut b, &m, &ans, t - skew);
        }
        b.expire_sync(t - skew);
        drain_at(&mut b, B, &mut a, t - skew, t);
    }
    (a.counters().dcd.dead, a.find(&m.tuple(), now).is_some())
}

#[test]
fn a_peer_whose_clock_lags_still_answers_for_the_ends() {
    assert_eq!(skewed(Duration::ZERO, "dcd 0:00:02 1"), (0, true));
    assert_eq!(
        skewed(Duration::from_millis(5), "dcd 0:00:02 1"),
        (0, true),
        "B 5 ms behind A"
    );
    assert_eq!(
        skewed(Duration::from_millis(2500), "dcd 0:00:01 3"),
        (0, true),
        "B 2.5 s behind A"
    );
}
