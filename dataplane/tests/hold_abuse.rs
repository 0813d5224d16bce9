//! What a sender on a data interface, with no credentials and no
//! connection of its own, can make a cluster node hold and pull
//! (docs/sync.md §4, §13): frames of flows the node has no entry for take
//! at most half the hold buffer, whatever their source addresses; a flow
//! the node holds is still held and repaired while strangers fill their
//! half; a flow no member has is asked of its director and then of every
//! member once, and again after a hold deadline's wait while it keeps
//! sending.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::{PullOut, Source, SyncConfig};
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::placement::Placement;
use rampart_dataplane::sync::PeerSet;
use rampart_dataplane::trace::{Side, TcpModel, v4_pair};
use rampart_dataplane::{DropReason, Engine, EngineConfig, IfaceId, Instant, Verdict};

fn node(id: u16, peers: usize) -> Engine {
    common::synced_node(id, Duration::ZERO, peers)
}

fn randomization_off(e: &mut Engine) {
    let cfg = rampart_dataplane::policy::compile::randomization_off();
    let p = rampart_dataplane::policy::compile::compile(&cfg, &e.config().interfaces)
        .expect("compiles");
    e.set_policy(std::sync::Arc::new(p)).expect("fits");
}

/// A stray ACK to an inside client from outside host number `i`, each
/// from an address of its own (spoofed, or one host's many addresses).
fn stray_ack(i: u32) -> (Vec<u8>, IfaceId) {
    let (c, mut s) = v4_pair(1024 + (i % 60_000) as u16, 80);
    s.ip = IpAddr::from([203, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    m.handshake();
    let seg = m.ack(Side::Server);
    (m.frame(&seg), m.iface(Side::Server))
}

fn pull_wants(e: &mut Engine, now: Instant) -> Vec<PeerSet> {
    let mut wants = Vec::new();
    while let Some(eff) = e.poll_effect(now) {
        if let Effect::Pull(PullOut::Want { ask, .. }) = eff {
            wants.push(ask);
        }
    }
    wants
}

/// Stray ACKs from as many addresses as the buffer has room take half of
/// it; the rest are refused and counted as strangers. A connection node
/// B holds as a passive copy (from a bulk) then sends a segment: it is
/// held and its flow pulled, as without the flood. Before, the strays
/// filled the whole buffer, the segment was dropped and nothing pulled
/// its flow, so the copy could not be made whole while the flood lasted.
#[test]
fn strangers_fill_half_the_hold_and_a_known_flow_still_waits_and_pulls() {
    let mut a = node(1, 1);
    let mut b = node(2, 1);
    randomization_off(&mut a);
    randomization_off(&mut b);
    let mut now = Instant::from_secs(1_700_000_000);
    let (c, s) = v4_pair(41_000, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    for seg in m.handshake() {
        let mut f = m.frame(&seg);
        let v = a.process(&mut f, PacketMeta::default(), m.iface(seg.from), now);
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    }
    while let Some(eff) = a.poll_effect(now) {
        if let Some(o) = eff.into_sync() {
            b.apply_peer(&o.event, Source::batch(None, true), now)
                .expect("valid state");
        }
    }
    let key = FlowKey::of(&m.tuple()).0;
    assert_eq!(b.is_passive_copy(&key), Some(true));
    while b.poll_effect(now).is_some() {}

    let max = SyncConfig::default().hold_max_packets as u32;
    let mut held = 0;
    for i in 0..max {
        let (mut f, ifc) = stray_ack(i);
        match b.process(&mut f, PacketMeta::default(), ifc, now) {
            Verdict::Hold => held += 1,
            Verdict::Drop(DropReason::HoldOverflow) => {}
            v => panic!("stray ACK {i}: {v:?}"),
        }
    }
    assert_eq!(held, max / 2);
    let c = b.sync_counters().expect("syncing");
    assert_eq!(c.hold_strangers_capped, u64::from(max / 2));
    while b.poll_effect(now).is_some() {}

    now = now + Duration::from_millis(1);
    let seg = m.data(Side::Client, 100);
    let mut f = m.frame(&seg);
    let v = b.process(&mut f, PacketMeta::default(), m.iface(Side::Client), now);
    assert_eq!(v, Verdict::Hold);
    assert_eq!(
        pull_wants(&mut b, now).len(),
        1,
        "the passive copy is pulled"
    );
}

/// With the buffer full of the known flows' own frames, a refused frame
/// of a passive copy still has its flow pulled: the copy is made whole
/// and the hosts' retransmissions find it so.
#[test]
fn a_refused_frame_of_a_passive_copy_still_pulls_its_flow() {
    let mut a = node(1, 1);
    let mut b = {
        let mut cfg = EngineConfig::inside_outside(NodeId(2), [2, 2, 3, 4]);
        cfg.sync = Some(SyncConfig {
            defer_deadline: Duration::ZERO,
            hold_max_packets: 1,
            ..SyncConfig::default()
        });
        let mut e = Engine::new(cfg).expect("valid config");
        e.set_peers_up(1);
        e.set_ready(true);
        e
    };
    randomization_off(&mut a);
    randomization_off(&mut b);
    let now = Instant::from_secs(1_700_000_000);
    let mut models = Vec::new();
    for port in [41_001, 41_002] {
        let (c, s) = v4_pair(port, 80);
        let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
        for seg in m.handshake() {
            let mut f = m.frame(&seg);
            let v = a.process(&mut f, PacketMeta::default(), m.iface(seg.from), now);
            assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        }
        models.push(m);
    }
    while let Some(eff) = a.poll_effect(now) {
        if let Some(o) = eff.into_sync() {
            b.apply_peer(&o.event, Source::batch(None, true), now)
                .expect("valid state");
        }
    }
    while b.poll_effect(now).is_some() {}
    let mut verdicts = Vec::new();
    for m in &mut models {
        let seg = m.data(Side::Client, 100);
        let mut f = m.frame(&seg);
        verdicts.push(b.process(&mut f, PacketMeta::default(), m.iface(Side::Client), now));
    }
    assert_eq!(
        verdicts,
        [Verdict::Hold, Verdict::Drop(DropReason::HoldOverflow)]
    );
    assert_eq!(pull_wants(&mut b, now).len(), 2, "both flows are pulled");
}

/// One stray ACK for a flow no member has: its director is asked, then
/// every member once, and nothing more for the rest of its hold, at any
/// cluster size (each member that lacks the flow keeps the pull). Before,
/// every member was asked every 20 ms for the whole 200 ms: about ten
/// pulls per stray packet, to every member.
#[test]
fn a_flow_no_member_has_is_asked_of_everyone_once() {
    for (members, peers) in [
        (vec![1u16, 2], 1usize),
        (vec![1, 2, 3, 4], 3),
        (vec![1, 2, 3, 4, 5, 6], 5),
    ] {
        let mut e = node(2, peers);
        e.set_placement(Placement::new(members.clone(), 2));
        let mut now = Instant::from_secs(1_700_000_000);
        let (mut f, ifc) = stray_ack(7);
        assert_eq!(
            e.process(&mut f, PacketMeta::default(), ifc, now),
            Verdict::Hold
        );
        let mut wants = pull_wants(&mut e, now);
        for _ in 0..250 {
            now = now + Duration::from_millis(1);
            e.expire_sync(now);
            wants.extend(pull_wants(&mut e, now));
        }
        assert_eq!(wants.len(), 2, "N = {}: {wants:?}", members.len());
        assert_eq!(wants[1], PeerSet::ALL, "N = {}", members.len());
        let c = e.sync_counters().expect("syncing");
        assert_eq!((c.held, c.held_expired), (1, 1));
    }
}

/// A flow this node holds, whose pulls do not help (the answers lag what
/// its packets need), is asked again at 20, 40, 80 ms…, not every 20 ms:
/// a sender with a connection of its own cannot make every member answer
/// it in full fifty times a second per segment.
#[test]
fn repeated_pulls_of_a_held_flow_back_off() {
    let mut a = node(1, 1);
    randomization_off(&mut a);
    let mut now = Instant::from_secs(1_700_000_000);
    let (c, s) = v4_pair(40_000, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    let mut segs: Vec<_> = m.handshake().into();
    segs.push(m.data(Side::Client, 100));
    segs.push(m.ack(Side::Server));
    for seg in &segs {
        let mut f = m.frame(seg);
        let v = a.process(&mut f, PacketMeta::default(), m.iface(seg.from), now);
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    }
    while a.poll_effect(now).is_some() {}
    // A peer was on the path of the flow once: its segments may be ahead.
    let mut bad = m.data(Side::Client, 100);
    bad.seq = bad.seq.wrapping_add(1 << 30);
    let mut f = m.frame(&bad);
    let v = a.process(&mut f, PacketMeta::default(), m.iface(Side::Client), now);
    assert_eq!(v, Verdict::Hold);
    let start = now;
    let mut at = Vec::new();
    for _ in 0..250 {
        now = now + Duration::from_millis(1);
        a.expire_sync(now);
        for _ in pull_wants(&mut a, now) {
            at.push((now.as_nanos() - start.as_nanos()) / 1_000_000);
        }
    }
    // pull_after (5 ms), then 20, 40, 80 ms apart, until the deadline.
    assert_eq!(at, [5, 25, 65, 145], "pulls at (ms)");
}

/// A stream that keeps sending while no member has its flow (an answer
/// lost with a link, or state that reaches its holders late) is asked
/// again after each hold deadline, twice: not every 20 ms, and not never
/// again while it lasts (a member keeps a parked pull only a hold
/// deadline).
#[test]
fn a_stranger_that_keeps_sending_is_asked_again_after_each_wait() {
    let mut e = node(2, 3);
    e.set_placement(Placement::new([1u16, 2, 3, 4], 2));
    let mut now = Instant::from_secs(1_700_000_000);
    let mut wants = Vec::new();
    for ms in 0..1_000u32 {
        if ms % 50 == 0 {
            let (mut f, ifc) = stray_ack(7);
            let v = e.process(&mut f, PacketMeta::default(), ifc, now);
            assert!(matches!(v, Verdict::Hold), "{ms} ms: {v:?}");
        }
        e.expire_sync(now);
        wants.extend(pull_wants(&mut e, now));
        now = now + Duration::from_millis(1);
    }
    // Two pulls, a hold deadline's wait, two more…: four rounds in a second.
    assert!((6..=10).contains(&wants.len()), "{} pulls", wants.len());
    assert!(wants[1..].iter().all(|w| *w == PeerSet::ALL), "{wants:?}");
}
