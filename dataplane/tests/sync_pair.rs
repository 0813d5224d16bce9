//! Two engines that share state through their sync events, with the
//! client's packets crossing node A and the server's crossing node B (the
//! asymmetric path of docs/sync.md §4). Events travel between them by hand here,
//! immediately or late, so hold, defer and the merge are tested without a
//! network; the cluster crate runs the same engines over its protocol.

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use rampart_dataplane::conntrack::{NodeId, TcpState};
use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::{EventKind, PullOut, Source, SyncConfig, SyncOut};
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::sync::{PeerSet, SyncEvent};
use rampart_dataplane::trace::{Seg, Side, TcpModel, v4_pair};
use rampart_dataplane::{DropReason, Engine, EngineConfig, Instant, Verdict};

fn node(id: u16, defer: Duration) -> Engine {
    common::synced_node(id, defer, 1)
}

/// Two nodes, events queued between them.
struct Pair {
    nodes: [Engine; 2],
    /// Events in flight towards node `i`.
    inbox: [VecDeque<SyncOut>; 2],
    now: Instant,
    /// Frames that left either node (forwarded at once or released later).
    delivered: Vec<Vec<u8>>,
}

impl Pair {
    fn new(defer: Duration) -> Self {
        Pair {
            nodes: [node(1, defer), node(2, defer)],
            inbox: [VecDeque::new(), VecDeque::new()],
            now: Instant::from_secs(1_700_000_000),
            delivered: Vec::new(),
        }
    }

    fn tick(&mut self) {
        self.now = self.now + Duration::from_micros(50);
    }

    /// Collect what node `i` produced: sync events for the other node and
    /// frames it released.
    fn collect(&mut self, i: usize) {
        while let Some(effect) = self.nodes[i].poll_effect(self.now) {
            match effect {
                Effect::Release { frame, .. } => self.delivered.push(frame),
                Effect::Transmit { .. } => panic!("unexpected effect {effect:?}"),
                sync => self.inbox[1 - i].extend(sync.into_sync()),
            }
        }
    }

    /// Node `i` applies everything in flight to it, acknowledging inserts
    /// that want it (as the protocol does when the batch is applied).
    fn deliver(&mut self, i: usize) {
        while let Some(o) = self.inbox[i].pop_front() {
            self.nodes[i]
                .apply_sync(&o.event, self.now)
                .expect("valid state");
            if o.want_ack
                && let SyncEvent::Upsert(s) = &o.event
            {
                self.nodes[1 - i].sync_acked(&s.key, &s.inc);
            }
        }
        self.collect(i);
        self.collect(1 - i);
    }

    /// Everything in flight, applied as the cluster link applies it: each
    /// node learns which peer sent an event (node index j has id j + 1);
    /// both hold whole copies (a pair with two copies).
    fn sync_all_from_peers(&mut self) {
        for i in [0, 1, 0] {
            let from = (1 - i) as u16 + 1;
            while let Some(o) = self.inbox[i].pop_front() {
                let source = Source::batch(Some(from), false);
                self.nodes[i]
                    .apply_peer(&o.event, source, self.now)
                    .expect("valid state");
            }
            self.collect(i);
            self.collect(1 - i);
        }
    }

    /// The client's SYN through node 0, forwarded; the model then shifts
    /// the client's sequence numbers as node 0 randomized them.
    fn open_at_0(&mut self, m: &mut TcpModel) {
        let syn = m.syn();
        assert!(matches!(
            self.send(0, m.frame(&syn), m.iface(Side::Client)),
            Verdict::Forward { .. }
        ));
        m.set_shift(shift_of(self, m));
    }

    /// The connection opened through node 0 and its handshake and data
    /// through whichever node each segment's sender uses, every segment
    /// forwarded and synced before the next.
    fn establish_synced(&mut self, m: &mut TcpModel) {
        self.open_at_0(m);
        self.sync_all();
        for seg in rest_of_handshake_and_data(m) {
            assert!(
                matches!(self.seg(m, &seg), Verdict::Forward { .. }),
                "{seg:?}"
            );
            self.sync_all();
        }
    }

    /// Each segment through node `i` whoever sent it (a symmetric path
    /// through it), forwarded.
    fn all_through(&mut self, i: usize, m: &TcpModel, segs: &[Seg]) {
        for seg in segs {
            assert!(
                matches!(
                    self.send(i, m.frame(seg), m.iface(seg.from)),
                    Verdict::Forward { .. }
                ),
                "{seg:?}"
            );
        }
    }

    /// Send a frame through node `i`; returns the verdict.
    fn send(
        &mut self,
        i: usize,
        mut frame: Vec<u8>,
        ingress: rampart_dataplane::IfaceId,
    ) -> Verdict {
        self.tick();
        let v = self.nodes[i].process(&mut frame, PacketMeta::default(), ingress, self.now);
        if matches!(v, Verdict::Forward { .. }) {
            self.delivered.push(frame);
        }
        self.collect(i);
        v
    }

    /// Client segments cross node 0, server segments node 1.
    fn seg(&mut self, m: &TcpModel, seg: &Seg) -> Verdict {
        let i = match seg.from {
            Side::Client => 0,
            Side::Server => 1,
        };
        self.send(i, m.frame(seg), m.iface(seg.from))
    }

    fn sync_all(&mut self) {
        self.deliver(0);
        self.deliver(1);
        self.deliver(0);
    }

    fn drops(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.counters().total_dropped())
            .sum()
    }
}

/// Parse, compile and install the policy `text` on `e`.
fn set_policy_text(e: &mut Engine, text: &str) {
    use rampart_dataplane::policy::compile::compile;
    let cfg = rampart_dataplane::policy::parse::parse_config(text)
        .expect("parses")
        .config;
    let policy = compile(&cfg, &e.config().interfaces).expect("compiles");
    e.set_policy(std::sync::Arc::new(policy))
        .expect("the policy's classes fit");
}

/// After the SYN: the SYN-ACK, the client's ACK, 2,000 bytes from the
/// client and the server's ACK of them.
fn rest_of_handshake_and_data(m: &mut TcpModel) -> [Seg; 4] {
    [
        m.syn_ack(),
        m.ack(Side::Client),
        m.data(Side::Client, 2_000),
        m.ack(Side::Server),
    ]
}

/// The offset node A gave the connection, so the model server sees what
/// the client's sequence numbers look like after randomization.
fn shift_of(pair: &Pair, m: &TcpModel) -> u32 {
    pair.nodes[0]
        .find(&m.tuple(), pair.now)
        .map_or(0, |e| e.seq_offset)
}

#[test]
fn asymmetric_connection_with_immediate_sync_passes_strictly() {
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_000, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [Some(7), Some(7)]);
    p.open_at_0(&mut m);
    p.sync_all();
    for seg in [m.syn_ack(), m.ack(Side::Client)] {
        assert!(
            matches!(p.seg(&m, &seg), Verdict::Forward { .. }),
            "{seg:?}"
        );
        p.sync_all();
    }
    for _ in 0..20 {
        let d = m.data(Side::Client, 1000);
        assert!(matches!(p.seg(&m, &d), Verdict::Forward { .. }));
        p.sync_all();
        let a = m.ack(Side::Server);
        assert!(matches!(p.seg(&m, &a), Verdict::Forward { .. }));
        p.sync_all();
    }
    for (side, fin) in [
        (Side::Client, true),
        (Side::Server, false),
        (Side::Server, true),
        (Side::Client, false),
    ] {
        let seg = if fin { m.fin(side) } else { m.ack(side) };
        assert!(
            matches!(p.seg(&m, &seg), Verdict::Forward { .. }),
            "{seg:?}"
        );
        p.sync_all();
    }
    assert_eq!(p.drops(), 0);
    for n in &p.nodes {
        let e = n.find(&m.tuple(), p.now).expect("both nodes know the flow");
        assert_eq!(e.tcp_state(), Some(TcpState::TimeWait));
        assert_eq!(e.owner, NodeId(1), "node A opened it");
        assert_ne!(
            e.seq_offset, 0,
            "randomized (the ASA default), same offset on both"
        );
    }
    // Both nodes end with the same synced state.
    let a = p.nodes[0].flow_state(p.nodes[0].find(&m.tuple(), p.now).unwrap());
    let b = p.nodes[1].flow_state(p.nodes[1].find(&m.tuple(), p.now).unwrap());
    assert_eq!(a.map(|s| s.proto), b.map(|s| s.proto));
}

#[test]
fn a_reply_that_outruns_the_insert_is_held_then_released() {
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_001, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    // The SYN-ACK reaches node B before B learned the flow.
    let synack = m.syn_ack();
    assert_eq!(p.seg(&m, &synack), Verdict::Hold);
    assert_eq!(p.nodes[1].sync_backlog().0, 1);
    let before = p.delivered.len();
    p.deliver(1);
    assert_eq!(p.delivered.len(), before + 1, "released on the insert");
    let c = p.nodes[1].sync_counters().unwrap();
    assert_eq!((c.held, c.held_released, c.held_expired), (1, 1, 0));
    // The client's ACK reaches A before A learned of the SYN-ACK: held too.
    let ack = m.ack(Side::Client);
    assert_eq!(p.seg(&m, &ack), Verdict::Hold);
    p.deliver(0);
    assert_eq!(p.nodes[0].sync_counters().unwrap().held_released, 1);
    assert_eq!(p.drops(), 0);
    p.sync_all();
    for n in &p.nodes {
        assert_eq!(
            n.find(&m.tuple(), p.now).unwrap().tcp_state(),
            Some(TcpState::Established)
        );
    }
}

#[test]
fn a_held_packet_that_still_fails_is_dropped_at_its_deadline() {
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_002, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
    // A mid-stream ACK from the server: no node ever saw a SYN.
    let _ = m.syn();
    let _ = m.syn_ack();
    let ack = m.ack(Side::Server);
    assert_eq!(p.seg(&m, &ack), Verdict::Hold);
    p.now = p.now + Duration::from_millis(199);
    p.nodes[1].expire(p.now);
    assert_eq!(p.nodes[1].counters().dropped(DropReason::TcpNotSyn), 0);
    p.now = p.now + Duration::from_millis(2);
    p.nodes[1].expire(p.now);
    assert_eq!(p.nodes[1].counters().dropped(DropReason::TcpNotSyn), 1);
    assert_eq!(p.nodes[1].sync_counters().unwrap().held_expired, 1);
    assert_eq!(p.nodes[1].sync_backlog(), (0, 0));
}

#[test]
fn defer_keeps_the_syn_until_a_peer_acknowledges_the_insert() {
    let mut p = Pair::new(Duration::from_millis(10));
    let (c, s) = v4_pair(40_003, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
    let syn = m.syn();
    assert_eq!(p.seg(&m, &syn), Verdict::Hold, "deferred");
    assert!(p.delivered.is_empty());
    assert!(
        p.inbox[1]
            .iter()
            .any(|o| o.want_ack && o.kind == EventKind::Insert)
    );
    p.deliver(1);
    assert_eq!(p.delivered.len(), 1, "sent on the ack");
    let c = p.nodes[0].sync_counters().unwrap();
    assert_eq!(
        (c.deferred, c.deferred_acked, c.deferred_timed_out),
        (1, 1, 0)
    );
    // A deferred frame that leaves is a forwarded frame (the cluster
    // simulator found these uncounted).
    assert_eq!(p.nodes[0].counters().forwarded_packets, 1);
    m.set_shift(shift_of(&p, &m));
    // B already knows the flow: the SYN-ACK passes at once.
    let synack = m.syn_ack();
    assert!(matches!(p.seg(&m, &synack), Verdict::Forward { .. }));
}

/// Issue 13: when a flow's hold queue was full, a further packet was
/// judged against the stale state its predecessors waited to see change
/// and dropped under that state's reason (`tcp-invalid-ack` and the like),
/// so nothing showed the overflow. Now a packet that fails while others of
/// its flow wait joins them, and one that finds the queue full is dropped
/// as `cluster-hold-overflow`.
#[test]
fn packets_behind_held_ones_wait_with_them_and_an_overflow_is_named() {
    let mut cfg = EngineConfig::inside_outside(NodeId(2), [2, 2, 3, 4]);
    cfg.sync = Some(SyncConfig {
        hold_max_per_flow: 2,
        defer_deadline: Duration::ZERO,
        ..SyncConfig::default()
    });
    let mut b = Engine::new(cfg).expect("valid config");
    b.set_peers_up(1);
    b.set_ready(true);
    let now = Instant::from_secs(1_700_000_000);
    let (c, s) = v4_pair(40_010, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
    m.syn();
    // Node B never saw the SYN: the SYN-ACK waits for node A's state.
    let synack = m.syn_ack();
    let mut f = m.frame(&synack);
    let v = b.process(&mut f, PacketMeta::default(), m.iface(Side::Server), now);
    assert_eq!(v, Verdict::Hold);
    // A malformed segment of the same flow (SYN and FIN) would be dropped
    // on its own; behind a waiting packet it waits too…
    let mut bad = m.syn_ack();
    bad.flags = rampart_dataplane::packet::TcpFlags::SYN | rampart_dataplane::packet::TcpFlags::FIN;
    let mut f = m.frame(&bad);
    let v = b.process(&mut f, PacketMeta::default(), m.iface(Side::Server), now);
    assert_eq!(v, Verdict::Hold);
    // …and the third finds the flow's queue (two) full.
    let ack = m.ack(Side::Server);
    let mut f = m.frame(&ack);
    let v = b.process(&mut f, PacketMeta::default(), m.iface(Side::Server), now);
    assert_eq!(v, Verdict::Drop(DropReason::HoldOverflow));
    assert_eq!(b.sync_counters().unwrap().hold_overflow, 1);
    assert_eq!(b.counters().drops[DropReason::HoldOverflow.index()], 1);
}

/// Found by the cluster simulator (seed 21058): node B held a mid-stream
/// server segment for want of state; node A's insert (SYN-SENT) arrived
/// ahead of its updates, and the tracker lets a responder's segment in
/// SYN-SENT by without checks (RFC 5961's challenge ACK), so B released it
/// on the insert with no change of state, never told A of it, and the
/// connection hung. A lenient pass on a peer's state now waits for the
/// rest of that state; the segment then passes with its checks, and B
/// tells its peer.
#[test]
fn a_held_segment_waits_past_an_insert_for_the_updates_behind_it() {
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_011, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [Some(7), Some(7)]);
    p.open_at_0(&mut m);
    // The whole start of the conversation crosses node A; B hears nothing yet.
    for seg in [m.syn_ack(), m.ack(Side::Client), m.data(Side::Client, 100)] {
        let v = p.send(0, m.frame(&seg), m.iface(seg.from));
        assert!(matches!(v, Verdict::Forward { .. }));
    }
    assert!(p.inbox[1].len() >= 2, "an insert and updates wait for B");
    // The server's next segment (its ACK of the data) takes the other path.
    let reply = m.ack(Side::Server);
    let v = p.send(1, m.frame(&reply), m.iface(Side::Server));
    assert_eq!(v, Verdict::Hold);
    let delivered = p.delivered.len();
    // Only the insert (SYN-SENT) reaches B: the segment keeps waiting.
    let insert = p.inbox[1].pop_front().expect("the insert");
    p.nodes[1].apply_sync(&insert.event, p.now).expect("valid");
    p.collect(1);
    assert_eq!(
        p.delivered.len(),
        delivered,
        "not released on the insert alone"
    );
    // The updates follow: it passes with its checks, and B syncs what it saw.
    p.deliver(1);
    assert_eq!(p.delivered.len(), delivered + 1, "released on the updates");
    assert!(
        p.inbox[0]
            .iter()
            .any(|o| o.event.key() == &FlowKey::of(&m.tuple()).0 && o.kind == EventKind::Update),
        "B tells A of the server's segment"
    );
}

/// `shutdown` of the inside interface (docs/asa-behaviour.md §2.1), with
/// randomization off so that the tests' model endpoints need no shift.
const INSIDE_SHUT: &str = "interface G0\n nameif inside\n security-level 100\n shutdown\n\
                           interface G1\n nameif outside\n security-level 0\n\
                           policy-map global_policy\n class class-default\n  \
                           set connection random-sequence-number disable\n\
                           service-policy global_policy global\n";

/// A frame that waited for a peer's state does not leave by an interface
/// that a policy installed meanwhile shuts, whether a peer's state or its
/// deadline releases it: a frame arriving then is dropped as
/// `interface-down`, and so is it (docs/sync.md §4). Before, a held
/// frame was judged again without that check and left.
#[test]
fn a_held_frame_does_not_leave_by_an_interface_shut_while_it_waited() {
    let down = DropReason::InterfaceDown;
    // Released on the peer's insert: the SYN-ACK that outran it.
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_017, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    let synack = m.syn_ack();
    assert_eq!(p.seg(&m, &synack), Verdict::Hold);
    set_policy_text(&mut p.nodes[1], INSIDE_SHUT);
    assert_eq!(
        p.send(1, m.frame(&synack), m.iface(Side::Server)),
        Verdict::Drop(down),
        "a frame arriving now"
    );
    let delivered = p.delivered.len();
    p.deliver(1);
    assert_eq!(p.delivered.len(), delivered, "not released");
    assert_eq!(p.nodes[1].counters().dropped(down), 2);
    let c = p.nodes[1].sync_counters().unwrap();
    assert_eq!((c.held, c.held_released, c.held_refused), (1, 0, 1));
    assert_eq!(p.nodes[1].sync_backlog().0, 0);

    // Released at its deadline: a segment that passes only leniently on
    // the peer's insert waits for the rest of the peer's state, and would
    // leave at its deadline if it still passed (as in
    // `a_held_segment_waits_past_an_insert_for_the_updates_behind_it`).
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_018, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [Some(7), Some(7)]);
    p.open_at_0(&mut m);
    for seg in [m.syn_ack(), m.ack(Side::Client), m.data(Side::Client, 100)] {
        let v = p.send(0, m.frame(&seg), m.iface(seg.from));
        assert!(matches!(v, Verdict::Forward { .. }));
    }
    let reply = m.ack(Side::Server);
    assert_eq!(
        p.send(1, m.frame(&reply), m.iface(Side::Server)),
        Verdict::Hold
    );
    let insert = p.inbox[1].pop_front().expect("the insert");
    p.nodes[1].apply_sync(&insert.event, p.now).expect("valid");
    p.collect(1);
    set_policy_text(&mut p.nodes[1], INSIDE_SHUT);
    let delivered = p.delivered.len();
    p.now = p.now + Duration::from_millis(250);
    p.nodes[1].expire_sync(p.now);
    p.collect(1);
    assert_eq!(p.delivered.len(), delivered, "not released at its deadline");
    assert_eq!(p.nodes[1].counters().dropped(down), 1);
    let c = p.nodes[1].sync_counters().unwrap();
    assert_eq!((c.held, c.held_released, c.held_refused), (1, 0, 1));
}

/// Nor does a held frame enter by an interface whose EtherType
/// access-group a policy installed meanwhile gives an explicit `deny any`
/// (docs/asa-behaviour.md §2.7): it is dropped as `l2_acl`, as a frame
/// arriving then would be.
#[test]
fn a_held_frame_meets_an_ethertype_deny_installed_while_it_waited() {
    let l2 = DropReason::EthertypeDeny;
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_019, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    let synack = m.syn_ack();
    assert_eq!(p.seg(&m, &synack), Verdict::Hold);
    let closed = INSIDE_SHUT.replacen(" shutdown\n", "", 1)
        + "access-list L2 ethertype deny any\naccess-group L2 in interface outside\n";
    set_policy_text(&mut p.nodes[1], &closed);
    assert_eq!(
        p.send(1, m.frame(&synack), m.iface(Side::Server)),
        Verdict::Drop(l2),
        "a frame arriving now"
    );
    let delivered = p.delivered.len();
    p.deliver(1);
    assert_eq!(p.delivered.len(), delivered, "not released");
    assert_eq!(p.nodes[1].counters().dropped(l2), 2);
    let c = p.nodes[1].sync_counters().unwrap();
    assert_eq!((c.held, c.held_released, c.held_refused), (1, 0, 1));
}

/// The deferred frame that opened a flow does not leave by an interface
/// shut while it waited for a peer's acknowledgement, on the
/// acknowledgement or at its deadline (docs/sync.md §4): it is dropped as
/// `interface-down`, as a frame arriving then would be.
#[test]
fn a_deferred_frame_does_not_leave_by_an_interface_shut_while_it_waited() {
    let down = DropReason::InterfaceDown;
    let outside_shut = INSIDE_SHUT
        .replace(" security-level 100\n shutdown\n", " security-level 100\n")
        .replace(" security-level 0\n", " security-level 0\n shutdown\n");
    let mut p = Pair::new(Duration::from_millis(10));
    let (c, s) = v4_pair(40_019, 80);
    let mut acked = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
    let (c, s) = v4_pair(40_020, 80);
    let mut timed_out = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
    for m in [&mut acked, &mut timed_out] {
        let syn = m.syn();
        assert_eq!(
            p.send(0, m.frame(&syn), m.iface(Side::Client)),
            Verdict::Hold
        );
    }
    assert_eq!(p.nodes[0].sync_backlog().1, 2);
    set_policy_text(&mut p.nodes[0], &outside_shut);
    let delivered = p.delivered.len();
    // B acknowledges the first insert only.
    let mut inserts: Vec<SyncOut> = p.inbox[1].drain(..).collect();
    inserts.retain(|o| o.event.key() == &FlowKey::of(&acked.tuple()).0);
    assert!(inserts.iter().any(|o| o.want_ack));
    p.inbox[1].extend(inserts);
    p.deliver(1);
    assert_eq!(p.delivered.len(), delivered, "not released on the ack");
    p.now = p.now + Duration::from_millis(20);
    p.nodes[0].expire_sync(p.now);
    p.collect(0);
    assert_eq!(p.delivered.len(), delivered, "not released at its deadline");
    assert_eq!(p.nodes[0].sync_backlog().1, 0);
    assert_eq!(p.nodes[0].counters().dropped(down), 2);
    let c = p.nodes[0].sync_counters().unwrap();
    assert_eq!(
        (c.deferred, c.deferred_acked, c.deferred_timed_out),
        (2, 1, 1)
    );
    assert_eq!(p.nodes[0].counters().forwarded_packets, 0);
}

/// Found by the cluster simulator (seed 31905): a path moved to node B
/// in the same millisecond as the handshake's last ACK passed node A; B,
/// which had only the SYN, dropped the client's next segment as
/// `tcp-3whs-failed` at once. That reason can come from state a peer has
/// moved past, so the segment now waits for it like the others.
#[test]
fn a_handshake_failure_on_a_peers_state_waits_for_the_rest_of_it() {
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_012, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    let syn = m.syn();
    p.send(0, m.frame(&syn), m.iface(Side::Client));
    m.set_shift(shift_of(&p, &m));
    let synack = m.syn_ack();
    p.send(0, m.frame(&synack), m.iface(Side::Server));
    // B learns the flow up to the SYN-ACK (SYN-RECEIVED).
    p.deliver(1);
    for seg in [m.ack(Side::Client), m.data(Side::Server, 50)] {
        p.send(0, m.frame(&seg), m.iface(seg.from));
    }
    // The client's ACK of that data reaches B before A's updates: on B's
    // state it acknowledges more than the server ever sent.
    let data = m.ack(Side::Client);
    let v = p.send(1, m.frame(&data), m.iface(Side::Client));
    assert_eq!(v, Verdict::Hold, "waits instead of tcp-3whs-failed");
    let delivered = p.delivered.len();
    p.deliver(1);
    assert_eq!(p.delivered.len(), delivered + 1);
    assert_eq!(p.drops(), 0);
}

#[test]
fn a_deferred_packet_goes_out_at_its_deadline_without_an_ack() {
    let mut p = Pair::new(Duration::from_millis(10));
    let (c, s) = v4_pair(40_004, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
    let syn = m.syn();
    assert_eq!(p.seg(&m, &syn), Verdict::Hold);
    p.now = p.now + Duration::from_millis(11);
    p.nodes[0].expire(p.now);
    p.collect(0);
    assert_eq!(p.delivered.len(), 1);
    assert_eq!(p.nodes[0].sync_counters().unwrap().deferred_timed_out, 1);
    assert_eq!(p.nodes[0].counters().forwarded_packets, 1);
}

#[test]
fn alone_or_bypass_nothing_is_held_or_synced() {
    let mut p = Pair::new(Duration::from_millis(10));
    p.nodes[1].set_peers_up(0);
    let (c, s) = v4_pair(40_005, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
    let _ = m.syn();
    let synack = m.syn_ack();
    assert_eq!(
        p.seg(&m, &synack),
        Verdict::Drop(DropReason::TcpNotSyn),
        "a node alone drops at once"
    );
    // Not ready: everything is dropped and counted.
    p.nodes[1].set_ready(false);
    let again = m.syn_ack();
    assert_eq!(
        p.seg(&m, &again),
        Verdict::Drop(DropReason::ClusterNotReady)
    );
}

#[test]
fn deletes_win_over_late_updates_and_clear_conn_is_synced() {
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_006, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
    let syn = m.syn();
    p.seg(&m, &syn);
    p.sync_all();
    assert!(p.nodes[1].find(&m.tuple(), p.now).is_some());
    // An update in flight from A while A clears the connection.
    let late = m.syn();
    p.seg(&m, &late);
    let stale: Vec<SyncOut> = p.inbox[1].drain(..).collect();
    assert_eq!(p.nodes[0].clear_conns(|_| true), 1);
    p.collect(0);
    p.deliver(1);
    assert!(
        p.nodes[1].find(&m.tuple(), p.now).is_none(),
        "delete applied"
    );
    for o in stale {
        p.nodes[1].apply_sync(&o.event, p.now).unwrap();
    }
    assert!(
        p.nodes[1].find(&m.tuple(), p.now).is_none(),
        "the late update does not resurrect it"
    );
    assert_eq!(p.nodes[1].tombstones(), 1);
}

/// `clear conn` on A while B's update of the flow is on its way to A: the
/// update crosses A's delete, and reaches A after the clear. A remembers
/// what it deleted itself, so the update is stale there, as it would be
/// after a peer's delete (docs/sync.md §3.2); the clearing node once
/// re-created the connection from it and passed its packets for up to
/// its idle timeout. A connection reopened on the tuple afterwards is a
/// new incarnation, which the tombstone does not bury.
#[test]
fn an_update_that_crosses_a_clear_does_not_bring_the_connection_back() {
    use rampart_dataplane::engine::sync::Applied;
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_016, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [Some(7), Some(7)]);
    p.establish_synced(&mut m);
    // B passes server data: its update is on its way to A.
    let d = m.data(Side::Server, 200);
    assert!(matches!(p.seg(&m, &d), Verdict::Forward { .. }));
    let from_b: Vec<SyncOut> = p.inbox[0].drain(..).collect();
    assert!(!from_b.is_empty(), "B's update is in flight");
    // The operator clears the connection on A; A's delete goes to B.
    assert_eq!(p.nodes[0].clear_conns(|_| true), 1);
    assert_eq!(p.nodes[0].tombstones(), 1, "A remembers its own delete");
    p.collect(0);
    // The two cross: A applies B's update, then B applies A's delete.
    for o in &from_b {
        assert_eq!(
            p.nodes[0].apply_sync(&o.event, p.now),
            Ok(Applied::Stale),
            "{:?}",
            o.event
        );
    }
    p.deliver(1);
    assert!(
        p.nodes[1].find(&m.tuple(), p.now).is_none(),
        "B applied the delete"
    );
    // B's own part of the cluster-wide clear finds nothing left.
    assert_eq!(p.nodes[1].clear_conns(|_| true), 0);
    assert!(
        p.nodes[0].find(&m.tuple(), p.now).is_none(),
        "the cleared connection is not back on A"
    );
    let ack = m.ack(Side::Client);
    assert!(
        !matches!(p.seg(&m, &ack), Verdict::Forward { .. }),
        "A passes nothing of the cleared connection"
    );
    // The client reconnects on the same tuple: a newer incarnation, which
    // B's updates reach A for as for any connection.
    let (c, s) = v4_pair(40_016, 80);
    let mut m = TcpModel::new(c, s, [9000, 7000], [65535, 65535], [Some(7), Some(7)]);
    p.sync_all();
    p.establish_synced(&mut m);
    let d = m.data(Side::Server, 200);
    assert!(matches!(p.seg(&m, &d), Verdict::Forward { .. }));
    let server_end = p.nodes[1]
        .flow_state(p.nodes[1].find(&m.tuple(), p.now).expect("B has it"))
        .map(|s| s.proto);
    p.sync_all();
    let on_a = p.nodes[0]
        .flow_state(
            p.nodes[0]
                .find(&m.tuple(), p.now)
                .expect("A has the new one"),
        )
        .map(|s| s.proto);
    assert_eq!(
        on_a, server_end,
        "B's update of the new connection joined on A"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the lag of the sync link (events delivered after 0..3 more
    /// packets), every segment of a valid asymmetric conversation is
    /// delivered, and both nodes end with the same state.
    #[test]
    fn asymmetric_conversations_pass_whatever_the_sync_lag(
        isn in any::<[u32; 2]>(),
        lens in proptest::collection::vec((any::<bool>(), 1u32..=1460), 1..40),
        lag in proptest::collection::vec(0usize..3, 64),
        defer in any::<bool>(),
    ) {
        let mut p = Pair::new(if defer { Duration::from_millis(10) } else { Duration::ZERO });
        let (c, s) = v4_pair(41_000, 443);
        let mut m = TcpModel::new(c, s, isn, [65535, 65535], [Some(2), Some(2)]);
        let mut segs = Vec::new();
        let syn = m.syn();
        let mut sent = 0usize;
        p.seg(&m, &syn);
        p.sync_all();
        m.set_shift(shift_of(&p, &m));
        segs.push(m.syn_ack());
        segs.push(m.ack(Side::Client));
        for (client, len) in &lens {
            let side = if *client { Side::Client } else { Side::Server };
            let n = (*len).min(m.sendable(side));
            segs.push(if n == 0 { m.ack(side) } else { m.data(side, n) });
            segs.push(m.ack(side.other()));
        }
        let expected = 1 + segs.len();
        for (k, seg) in segs.iter().enumerate() {
            let v = p.seg(&m, seg);
            prop_assert!(!matches!(v, Verdict::Drop(_)), "segment {} {:?}: {:?}", k, seg, v);
            // Events lag behind by a few packets, then catch up.
            if lag[k % lag.len()] == 0 {
                p.sync_all();
            }
            sent += 1;
            // A TCP sender waits for what it needs: before the next segment,
            // let everything in flight arrive if this one is still held.
            if p.nodes.iter().any(|n| n.sync_backlog().0 > 0) {
                p.sync_all();
            }
        }
        p.sync_all();
        prop_assert_eq!(sent + 1, expected);
        prop_assert_eq!(p.drops(), 0);
        prop_assert_eq!(p.delivered.len(), expected);
        let a = p.nodes[0].flow_state(p.nodes[0].find(&m.tuple(), p.now).unwrap()).unwrap();
        let b = p.nodes[1].flow_state(p.nodes[1].find(&m.tuple(), p.now).unwrap()).unwrap();
        prop_assert_eq!(a.proto, b.proto);
        prop_assert_eq!(a.inc, b.inc);
    }
}

/// Drain every effect of `e` at `now`.
fn effects(e: &mut Engine, now: Instant) -> Vec<Effect> {
    std::iter::from_fn(|| e.poll_effect(now)).collect()
}

#[test]
fn the_input_surface_gives_exact_effects_for_defer_then_hold() {
    use rampart_dataplane::engine::sync::Applied;
    use rampart_dataplane::engine::{Handled, Input, ReleaseCause};
    let mut a = node(1, Duration::from_millis(10));
    let mut b = node(2, Duration::from_millis(10));
    let now = Instant::from_secs(1_700_000_000);
    let (c, s) = v4_pair(40_100, 80);
    let mut m = TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None]);
    // Node A: the SYN opens an inspected flow and is deferred; the one
    // effect is the insert for peers, which asks for an acknowledgement.
    let syn = m.syn();
    let mut frame = m.frame(&syn);
    let v = a.handle(
        Input::Frame {
            frame: &mut frame,
            meta: PacketMeta::default(),
            ingress: m.iface(Side::Client),
        },
        now,
    );
    assert_eq!(v, Handled::Verdict(Verdict::Hold));
    let out = effects(&mut a, now);
    assert_eq!(out.len(), 1, "{out:?}");
    let Effect::FlowChanged(insert) = &out[0] else {
        panic!("expected the insert, got {out:?}")
    };
    assert_eq!((insert.kind, insert.want_ack), (EventKind::Insert, true));
    let SyncEvent::Upsert(state) = insert.event else {
        panic!("an insert carries the state")
    };
    m.set_shift(state.seq_offset);
    // Node B: the SYN-ACK outruns the insert and is held; the one effect
    // is a pull for its flow (B holds no entry: nobody to name but the
    // director, whom the shell adds).
    let synack = m.syn_ack();
    let mut reply = m.frame(&synack);
    let v = b.handle(
        Input::Frame {
            frame: &mut reply,
            meta: PacketMeta::default(),
            ingress: m.iface(Side::Server),
        },
        now,
    );
    assert_eq!(v, Handled::Verdict(Verdict::Hold));
    assert_eq!(
        effects(&mut b, now),
        vec![Effect::Pull(PullOut::Want {
            key: state.key,
            ask: PeerSet::EMPTY,
            director: true,
        })]
    );
    // The insert reaches B: the flow is created, the held SYN-ACK is
    // judged again and released, and B tells its peers what it changed.
    let v = b.handle(Input::Sync(&insert.event), now);
    assert_eq!(v, Handled::Sync(Ok(Applied::Created)));
    let out = effects(&mut b, now);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        matches!(
            &out[0],
            Effect::Release { cause: ReleaseCause::HeldPassed, frame, .. } if frame.len() == reply.len()
        ),
        "{out:?}"
    );
    assert!(
        matches!(&out[1], Effect::FlowChanged(o) if o.kind == EventKind::Update && !o.want_ack),
        "{out:?}"
    );
    // B acknowledges the insert: A's deferred SYN leaves, exactly once.
    let v = a.handle(
        Input::Acked {
            key: state.key,
            inc: state.inc,
        },
        now,
    );
    assert_eq!(v, Handled::Acked);
    let out = effects(&mut a, now);
    assert!(
        matches!(
            out.as_slice(),
            // The SYN as A rewrote it in place (sequence shifted).
            [Effect::Release { cause: ReleaseCause::DeferAcked, frame: sent, .. }] if *sent == frame
        ),
        "{out:?}"
    );
    let later = now + Duration::from_millis(20);
    assert_eq!(a.handle(Input::Timer, later), Handled::Expired(0));
    assert_eq!(
        effects(&mut a, later),
        vec![],
        "no second release at the deadline"
    );
    let ca = a.sync_counters().unwrap();
    assert_eq!(
        (ca.deferred, ca.deferred_acked, ca.deferred_timed_out),
        (1, 1, 0)
    );
    let cb = b.sync_counters().unwrap();
    assert_eq!((cb.held, cb.held_released), (1, 1));
}

/// A client reuses its port at once after a close whose last ACK only the
/// server's node saw (as a stack whose side is closed does; the simulator
/// found this, and the lossy-link chaos scenario lost connections to it).
/// The new SYN reaches A while A still holds the old connection in
/// LAST-ACK: beyond the client's FIN it can only open a new connection, and
/// does at once. The SYN-ACK reaches B, whose old entry is in TIME-WAIT,
/// before A's insert of the new connection: it waits for that insert
/// instead of passing on the old entry (where the tracker lets it by
/// unchanged, RFC 5961 §4, and the new connection would then be tracked
/// against the old one's windows until it timed out).
#[test]
fn a_reused_tuple_waits_for_the_peers_state_and_opens_a_new_connection() {
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_013, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [Some(7), Some(7)]);
    p.open_at_0(&mut m);
    p.sync_all();
    let mut script = vec![m.syn_ack(), m.ack(Side::Client), m.data(Side::Client, 512)];
    script.push(m.data(Side::Server, 512));
    // The server closes first; the client answers with its own FIN.
    script.push(m.fin(Side::Server));
    script.push(m.ack(Side::Client));
    script.push(m.fin(Side::Client));
    for seg in &script {
        assert!(matches!(p.seg(&m, seg), Verdict::Forward { .. }), "{seg:?}");
        p.sync_all();
    }
    // The server's last ACK crosses B; A does not know of it yet.
    let last = m.ack(Side::Server);
    assert!(matches!(p.seg(&m, &last), Verdict::Forward { .. }));
    let a_state = |p: &Pair| {
        p.nodes[0]
            .find(&m.tuple(), p.now)
            .and_then(|e| e.tcp_state())
    };
    assert_eq!(a_state(&p), Some(TcpState::LastAck));
    let old_id = p.nodes[0].find(&m.tuple(), p.now).map(|e| e.id);
    p.inbox[0].clear();

    let (c, s) = v4_pair(40_013, 80);
    let isn = m.next_seq(Side::Client).wrapping_add(100_000);
    let mut n = TcpModel::new(c, s, [isn, 90_000], [65535, 65535], [Some(7), Some(7)]);
    let syn = n.syn();
    assert!(
        matches!(p.seg(&n, &syn), Verdict::Forward { .. }),
        "a SYN beyond the client's FIN opens a new connection"
    );
    let entry = p.nodes[0].find(&n.tuple(), p.now).expect("a new entry");
    assert_ne!(Some(entry.id), old_id, "a new connection, not the old one");
    assert_eq!(entry.tcp_state(), Some(TcpState::SynSent));
    n.set_shift(shift_of(&p, &n));
    // The SYN-ACK reaches B before A's insert of the new connection.
    let synack = n.syn_ack();
    assert_eq!(
        p.seg(&n, &synack),
        Verdict::Hold,
        "the SYN-ACK waits for A's insert"
    );
    let before = p.delivered.len();
    p.deliver(1);
    assert_eq!(p.delivered.len(), before + 1);
    p.sync_all();
    for seg in [
        n.ack(Side::Client),
        n.data(Side::Client, 512),
        n.data(Side::Server, 512),
    ] {
        assert!(
            matches!(p.seg(&n, &seg), Verdict::Forward { .. }),
            "{seg:?}"
        );
        p.sync_all();
    }
    for i in 0..2 {
        let e = p.nodes[i].find(&n.tuple(), p.now).expect("tracked");
        assert_eq!(e.tcp_state(), Some(TcpState::Established), "node {i}");
    }
    assert_eq!(p.drops(), 0);
}

/// With no peer up a SYN inside a live connection passes at once, as on a
/// standalone firewall (the endpoint answers it with a challenge ACK).
#[test]
fn alone_a_syn_inside_a_live_connection_passes_at_once() {
    let mut p = Pair::new(Duration::ZERO);
    p.nodes[0].set_peers_up(0);
    p.nodes[1].set_peers_up(0);
    let (c, s) = v4_pair(40_014, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    for seg in [m.syn_ack(), m.ack(Side::Client)] {
        assert!(matches!(
            p.send(0, m.frame(&seg), m.iface(seg.from)),
            Verdict::Forward { .. }
        ));
    }
    let (c, s) = v4_pair(40_014, 80);
    let mut again = TcpModel::new(c, s, [7_000_000, 1], [65535, 65535], [None, None]);
    let syn = again.syn();
    assert!(matches!(
        p.send(0, again.frame(&syn), again.iface(Side::Client)),
        Verdict::Forward { .. }
    ));
}

/// A node whose clock is behind reopens a tuple whose old entry a peer
/// with a clock ahead created: the new incarnation must still order after
/// the old one on every node, or the peer buries it under the old one's
/// tombstone (with clocks ±500 ms apart, one simulator seed in ten failed).
#[test]
fn a_reopen_orders_after_the_old_incarnation_whatever_the_clocks() {
    let mut p = Pair::new(Duration::ZERO);
    let behind = p.now;
    // Node B, its clock 1 s ahead, carries a whole connection, reset at the end.
    p.now = behind + Duration::from_secs(1);
    let (c, s) = v4_pair(40_015, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    let syn = m.syn();
    assert!(matches!(
        p.send(1, m.frame(&syn), m.iface(Side::Client)),
        Verdict::Forward { .. }
    ));
    m.set_shift(
        p.nodes[1]
            .find(&m.tuple(), p.now)
            .map_or(0, |e| e.seq_offset),
    );
    for seg in [m.syn_ack(), m.ack(Side::Client), m.rst(Side::Client)] {
        assert!(matches!(
            p.send(1, m.frame(&seg), m.iface(seg.from)),
            Verdict::Forward { .. }
        ));
    }
    p.deliver(0);
    let old = p.nodes[0]
        .find(&m.tuple(), p.now)
        .expect("A learned it")
        .incarnation();
    // Node A, its clock behind, sees the client's new SYN on the tuple.
    p.now = behind + Duration::from_millis(10);
    let (c, s) = v4_pair(40_015, 80);
    let mut n = TcpModel::new(c, s, [900_000, 1], [65535, 65535], [None, None]);
    let syn = n.syn();
    assert!(matches!(
        p.send(0, n.frame(&syn), n.iface(Side::Client)),
        Verdict::Forward { .. }
    ));
    let new = p.nodes[0]
        .find(&n.tuple(), p.now)
        .expect("reopened")
        .incarnation();
    assert!(new > old, "{new:?} must order after {old:?}");
    // B replaces its closed entry with A's new one instead of burying it.
    p.now = behind + Duration::from_secs(1) + Duration::from_millis(20);
    p.deliver(1);
    let at_b = p.nodes[1]
        .find(&n.tuple(), p.now)
        .expect("B holds the new connection");
    assert_eq!(at_b.incarnation(), new);
}

/// A peer's last-seen time beyond this node's clock plus
/// `MAX_PEER_CLOCK_AHEAD` is pulled back to it and counted: a faulty
/// member's `u64::MAX` (or a clock far ahead) once made the entry never
/// idle out. Its creation time, part of the flow's identity, is kept.
#[test]
fn a_peers_times_from_the_far_future_are_clamped_and_the_entry_still_expires() {
    use rampart_dataplane::engine::sync::MAX_PEER_CLOCK_AHEAD;
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_031, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    let syn = m.syn();
    assert!(matches!(p.seg(&m, &syn), Verdict::Forward { .. }));
    // The events for node B, forged with times at the end of the clock.
    for o in p.inbox[1].iter_mut() {
        match &mut o.event {
            SyncEvent::Upsert(st) => {
                st.inc.created_ns = u64::MAX;
                st.last_seen_ns = u64::MAX;
            }
            SyncEvent::Delete { inc, .. } | SyncEvent::Demote { inc, .. } => {
                inc.created_ns = u64::MAX
            }
        }
    }
    p.deliver(1);
    let limit = p.now + MAX_PEER_CLOCK_AHEAD;
    let e = p.nodes[1].find(&m.tuple(), p.now).expect("B learned it");
    assert!(e.last_seen <= limit, "{e:?}");
    assert_eq!(e.created.as_nanos(), u64::MAX, "the identity is kept");
    let counters = p.nodes[1].sync_counters().expect("syncing");
    assert!(counters.clock_clamped >= 1);
    // The embryonic entry idles out as any other: its timeout counts from
    // at most the clamped time.
    p.now = limit + Duration::from_secs(31);
    while p.nodes[1].expire(p.now) > 0 {}
    assert!(
        p.nodes[1].find(&m.tuple(), p.now).is_none(),
        "the embryonic entry is gone after its timeout"
    );
}

/// A peer whose clock runs 10 s ahead (started before NTP stepped its
/// clock, say): each of its events names the flow with the creation time
/// its insert gave it, so they join this node's entry. They were clamped
/// to this node's clock plus the bound, a bound that moves with this
/// node's clock: each later event then named a newer incarnation,
/// superseded the entry and erased what this node's own packets had
/// taught it (here, the server's SYN-ACK).
#[test]
fn a_peer_clock_ahead_of_the_bound_still_joins_one_flow() {
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_032, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    for o in p.inbox[1].iter_mut() {
        if let SyncEvent::Upsert(st) = &mut o.event {
            st.inc.created_ns += 10_000_000_000;
            st.last_seen_ns += 10_000_000_000;
        }
    }
    let insert = p.inbox[1].clone();
    p.deliver(1);
    let inc = p.nodes[1]
        .find(&m.tuple(), p.now)
        .expect("B learned it")
        .incarnation();
    // The SYN-ACK crosses B; A's event comes again 200 ms later (a resend,
    // or any later event: they all carry the flow's creation time).
    let synack = m.syn_ack();
    assert!(matches!(p.seg(&m, &synack), Verdict::Forward { .. }));
    p.now = p.now + Duration::from_millis(200);
    p.inbox[1].extend(insert);
    p.deliver(1);
    let e = p.nodes[1].find(&m.tuple(), p.now).expect("B holds it");
    assert_eq!(e.incarnation(), inc, "one flow, one name");
    assert_eq!(
        e.tcp_state(),
        Some(TcpState::SynRecv),
        "B keeps its SYN-ACK"
    );
    let counters = p.nodes[1].sync_counters().expect("syncing");
    assert_eq!(counters.superseded, 0);
    assert_eq!(p.drops(), 0);
}

/// The hold buffer keeps only what a peer's state could let through, and
/// no one sender fills it: a packet the policy denies both ways is dropped
/// at once, and a flood of stray ACKs from one source takes at most its
/// share, so a genuine asymmetric reply from elsewhere is still held.
#[test]
fn the_hold_buffer_keeps_only_what_a_peer_could_pass_and_no_source_fills_it() {
    let mut e = {
        let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
        // Room for one source's share among the frames of flows unknown
        // here (half the buffer).
        cfg.sync = Some(SyncConfig {
            hold_max_packets: 3000,
            ..SyncConfig::default()
        });
        let mut e = Engine::new(cfg).expect("valid config");
        e.set_peers_up(1);
        e.set_ready(true);
        e
    };
    // Inside hosts may not reach port 9999 outside; everything else may.
    let text = "access-list INSIDE_OUT extended deny udp any any eq 9999\n\
                access-list INSIDE_OUT extended deny tcp any any eq 9999\n\
                access-list INSIDE_OUT extended permit ip any any\n\
                access-group INSIDE_OUT in interface inside\n";
    set_policy_text(&mut e, text);
    let now = Instant::from_secs(1_700_000_000);
    let held = |e: &Engine| e.sync_counters().expect("syncing").held;
    let send = |e: &mut Engine, mut frame: Vec<u8>| {
        e.process(
            &mut frame,
            PacketMeta::default(),
            rampart_dataplane::IfaceId(1),
            now,
        )
    };

    // A UDP "reply" from outside port 9999: no connection from inside could
    // have opened it, so no peer can hold one. Dropped, never held.
    let (c, s) = v4_pair(40_100, 9999);
    let reply = rampart_dataplane::trace::udp_frame(&s, &c, b"x");
    assert_eq!(send(&mut e, reply), Verdict::Drop(DropReason::AclDeny));
    // A stray ACK from outside port 9999: denied inbound by the security
    // levels and outbound by the access list. Dropped, never held.
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    m.handshake();
    let seg = m.ack(Side::Server);
    let ack = m.frame(&seg);
    assert_eq!(send(&mut e, ack), Verdict::Drop(DropReason::TcpNotSyn));
    assert_eq!(held(&e), 0);

    // 2,000 stray ACKs from one outside host to port-80 clients: each
    // could be a reply, but the source gets its share only.
    for port in 0..2_000u16 {
        let (c, s) = v4_pair(20_000 + port, 80);
        let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
        m.handshake();
        let seg = m.ack(Side::Server);
        let v = send(&mut e, m.frame(&seg));
        assert!(
            matches!(v, Verdict::Hold | Verdict::Drop(DropReason::HoldOverflow)),
            "{v:?}"
        );
    }
    let per_source = SyncConfig::default().hold_max_per_source as u64;
    assert_eq!(held(&e), per_source);
    let counters = e.sync_counters().expect("syncing");
    assert_eq!(counters.hold_source_capped, 2_000 - per_source);
    // A genuine asymmetric reply from another server still finds room.
    let (c, mut s) = v4_pair(45_000, 443);
    s.ip = std::net::IpAddr::from([198, 18, 1, 77]);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    m.syn();
    let seg = m.syn_ack();
    assert_eq!(send(&mut e, m.frame(&seg)), Verdict::Hold);
}

/// A connection opened in a `tcp-state-bypass` class is never synced, so a
/// reply that reaches the other node first, which its access rules deny
/// there, waits for no peer: it is dropped at once, not held to expire.
/// The same reply of an inspected connection is held.
#[test]
fn a_reply_of_a_bypass_connection_is_not_held_for_state_no_peer_sends() {
    let mut e = node(2, Duration::ZERO);
    // Source port 5002 is bypass either way; only replies from server
    // port 5002 may enter from outside.
    let text = "access-list tcp_bypass extended permit tcp any any eq 5002\n\
                access-list tcp_bypass extended permit tcp any eq 5002 any\n\
                access-list OUTSIDE_IN extended permit tcp any eq 5002 any\n\
                access-group OUTSIDE_IN in interface outside\n\
                class-map tcp_bypass\n match access-list tcp_bypass\n\
                policy-map global_policy\n class tcp_bypass\n  \
                set connection advanced-options tcp-state-bypass\n\
                service-policy global_policy global\n";
    set_policy_text(&mut e, text);
    let now = Instant::from_secs(1_700_000_000);
    let mut syn_ack_of = |client_port: u16| {
        let (c, s) = v4_pair(client_port, 8080);
        let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
        m.syn();
        let seg = m.syn_ack();
        let mut f = m.frame(&seg);
        e.process(&mut f, PacketMeta::default(), m.iface(Side::Server), now)
    };
    // The client's port is 5002: the connection its SYN opened on the
    // other node is bypass there.
    assert_eq!(syn_ack_of(5002), Verdict::Drop(DropReason::AclDeny));
    // Any other client port: an inspected connection, whose state the
    // other node pushes.
    assert_eq!(syn_ack_of(40_000), Verdict::Hold);
    let counters = e.sync_counters().expect("syncing");
    assert_eq!((counters.held, counters.held_expired), (1, 0));
}

/// A reset outside the window of a connection its node opened and no
/// peer has been on the path of is dropped at once: no peer can have newer
/// state (a host resetting what it already closed, as clients do when a
/// benchmark ends). On a connection a peer carries the other direction of,
/// the same reset waits for that peer's state.
#[test]
fn an_out_of_window_reset_waits_only_where_a_peer_is_on_the_path() {
    let stray_reset = |m: &mut TcpModel| {
        let mut seg = m.rst(Side::Client);
        seg.seq = seg.seq.wrapping_sub(1_000);
        seg
    };
    // Symmetric: every segment crosses node 0.
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_300, 80);
    let mut m = TcpModel::new(c, s, [70_000, 9_000], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    let rest = rest_of_handshake_and_data(&mut m);
    p.all_through(0, &m, &rest);
    p.sync_all();
    let rst = stray_reset(&mut m);
    assert_eq!(
        p.send(0, m.frame(&rst), m.iface(Side::Client)),
        Verdict::Drop(DropReason::TcpRstOutOfWindow)
    );
    assert_eq!(p.nodes[0].sync_counters().expect("syncing").held, 0);

    // Asymmetric: the server's segments cross node 1, which told node 0.
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_301, 80);
    let mut m = TcpModel::new(c, s, [70_000, 9_000], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    p.sync_all_from_peers();
    let rest = rest_of_handshake_and_data(&mut m);
    for seg in rest {
        assert!(
            matches!(p.seg(&m, &seg), Verdict::Forward { .. }),
            "{seg:?}"
        );
        p.sync_all_from_peers();
    }
    let rst = stray_reset(&mut m);
    assert_eq!(p.seg(&m, &rst), Verdict::Hold);
}

/// A client that closed its socket while the server's response was on
/// its way resets on that response, at the acknowledgement it carried;
/// by then the server's later ACK of the client's FIN has passed node B
/// and reached node A. The reset lies behind what the server has
/// acknowledged: the server ignores it (RFC 5961 §3.2) and A refuses it.
/// It waits all the same (only a new incarnation of the tuple, which A
/// may not have heard of, could let it through), and at its deadline,
/// judged once more, it is counted as refused, not expired: no peer's
/// state of this connection short of its close could have let it pass.
#[test]
fn a_reset_behind_the_acknowledged_edge_is_refused_not_expired() {
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_302, 80);
    let mut m = TcpModel::new(c, s, [70_000, 9_000], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    p.sync_all_from_peers();
    let request = [m.syn_ack(), m.ack(Side::Client), m.data(Side::Client, 100)];
    let request_end = m.next_seq(Side::Client);
    let response = m.data(Side::Server, 500);
    let client_fin = m.fin(Side::Client);
    let fin_acked = m.ack(Side::Server);
    for seg in request.iter().chain([&response, &client_fin, &fin_acked]) {
        assert!(matches!(p.seg(&m, seg), Verdict::Forward { .. }), "{seg:?}");
        p.sync_all_from_peers();
    }
    let reset_at = |seq: u32| Seg {
        from: Side::Client,
        seq,
        ack: 0,
        flags: rampart_dataplane::packet::TcpFlags::RST,
        window: 0,
        wscale: None,
        sack: Vec::new(),
        payload_len: 0,
    };
    let counters = |p: &Pair| p.nodes[0].sync_counters().expect("syncing").clone();
    assert_eq!(p.seg(&m, &reset_at(request_end)), Verdict::Hold);
    p.now = p.now + Duration::from_millis(201);
    p.nodes[0].expire(p.now);
    let c = counters(&p);
    assert_eq!((c.held, c.held_refused, c.held_expired), (1, 1, 0));
    assert_eq!(
        p.nodes[0].counters().dropped(DropReason::TcpRstOutOfWindow),
        1
    );
    // Had the exact reset closed the connection meanwhile, the held one
    // would leave at its deadline as a straggler after the close, as a
    // standalone engine passes it on that state.
    assert_eq!(p.seg(&m, &reset_at(request_end)), Verdict::Hold);
    let exact = reset_at(request_end.wrapping_add(1));
    assert!(matches!(p.seg(&m, &exact), Verdict::Forward { .. }));
    assert_eq!(
        p.nodes[0].find(&m.tuple(), p.now).map(|e| e.tcp_state()),
        Some(Some(TcpState::Close))
    );
    p.now = p.now + Duration::from_millis(201);
    p.nodes[0].expire(p.now);
    let c = counters(&p);
    assert_eq!(
        (c.held, c.held_released, c.held_refused, c.held_expired),
        (2, 1, 1, 0)
    );
}

/// A pair inspecting ICMP, and a ping (identifier 7) from the inside
/// client to the outside server.
struct EchoPair {
    c: rampart_dataplane::trace::Host,
    s: rampart_dataplane::trace::Host,
    ci: rampart_dataplane::IfaceId,
    si: rampart_dataplane::IfaceId,
}

impl EchoPair {
    fn new() -> (Pair, EchoPair) {
        let mut p = Pair::new(Duration::ZERO);
        let text = "policy-map global_policy\n class class-default\n  inspect icmp\n\
                    service-policy global_policy global\n";
        for e in &mut p.nodes {
            set_policy_text(e, text);
        }
        let (c, s) = v4_pair(0, 0);
        let (ci, si) = (rampart_dataplane::IfaceId(0), rampart_dataplane::IfaceId(1));
        (p, EchoPair { c, s, ci, si })
    }

    fn req(&self, seq: u16) -> Vec<u8> {
        rampart_dataplane::trace::echo_frame(&self.c, &self.s, 7, seq, false)
    }

    fn rep(&self, seq: u16) -> Vec<u8> {
        rampart_dataplane::trace::echo_frame(&self.s, &self.c, 7, seq, true)
    }
}

/// ICMP echo under `inspect icmp` on the asymmetric path: the request
/// crosses node A, the reply node B. A reply that outruns A's event about
/// its request waits for it; each request is answered once on either node
/// (the answered sequence numbers travel too). A second reply waits like
/// any refused frame (a new incarnation could still come) and at its
/// deadline is counted as refused, not expired.
#[test]
fn an_echo_reply_waits_for_its_request_and_passes_once_across_nodes() {
    let (mut p, ping) = EchoPair::new();
    let (ci, si, req, rep) = (ping.ci, ping.si, |seq| ping.req(seq), |seq| ping.rep(seq));
    let counters = |p: &Pair, i: usize| p.nodes[i].sync_counters().expect("syncing").clone();
    assert!(matches!(p.send(0, req(1), ci), Verdict::Forward { .. }));
    p.sync_all_from_peers();
    assert!(matches!(p.send(1, rep(1), si), Verdict::Forward { .. }));
    // Request 2's event has not reached B: its reply waits, then passes.
    assert!(matches!(p.send(0, req(2), ci), Verdict::Forward { .. }));
    assert_eq!(p.send(1, rep(2), si), Verdict::Hold);
    let delivered = p.delivered.len();
    p.sync_all_from_peers();
    assert_eq!(p.delivered.len(), delivered + 1, "the held reply left");
    assert_eq!(counters(&p, 1).held_released, 1);
    // A second reply, where the first passed and (a route flip) on A,
    // once B's answer has reached it: neither passes.
    assert_eq!(p.send(1, rep(2), si), Verdict::Hold);
    p.sync_all_from_peers();
    assert_eq!(p.send(0, rep(2), si), Verdict::Hold);
    let delivered = p.delivered.len();
    p.now = p.now + Duration::from_millis(201);
    for i in 0..2 {
        p.nodes[i].expire(p.now);
        let c = counters(&p, i);
        assert_eq!((c.held_refused, c.held_expired), (1, 0), "node {i}");
        assert_eq!(
            p.nodes[i].counters().dropped(DropReason::IcmpSeqMismatch),
            1
        );
    }
    assert_eq!(p.delivered.len(), delivered);
}

/// One ping opened on both nodes: request 1 crosses A, request 2 reaches
/// B before A's insert (no entry there: B opens the flow anew, a newer
/// incarnation). The two incarnations number alike, so A's older one is
/// joined into B's instead of being dropped as stale: the reply to
/// request 1, which crosses B, passes, and both nodes end on B's
/// incarnation with both requests answered.
#[test]
fn an_echo_flow_opened_on_both_nodes_keeps_the_requests_of_both() {
    let (mut p, ping) = EchoPair::new();
    let (ci, si, req, rep) = (ping.ci, ping.si, |seq| ping.req(seq), |seq| ping.rep(seq));
    assert!(matches!(p.send(0, req(1), ci), Verdict::Forward { .. }));
    let a_insert = std::mem::take(&mut p.inbox[1]);
    p.now = p.now + Duration::from_millis(1);
    assert!(matches!(p.send(1, req(2), ci), Verdict::Forward { .. }));
    p.inbox[1].extend(a_insert);
    p.sync_all_from_peers();
    assert_eq!(
        p.nodes[1].sync_counters().expect("syncing").echo_absorbed,
        1
    );
    for seq in [1, 2] {
        assert!(
            matches!(p.send(1, rep(seq), si), Verdict::Forward { .. }),
            "{seq}"
        );
    }
    p.sync_all_from_peers();
    let state = |i: usize| {
        p.nodes[i]
            .find(&c_tuple(&ping.c, &ping.s), p.now)
            .map(|e| (e.incarnation(), e.proto))
    };
    assert_eq!(state(0), state(1));
    let Some((inc, rampart_dataplane::conntrack::ProtoState::IcmpEcho(seqs))) = state(1) else {
        panic!("an echo flow on B");
    };
    assert_eq!(inc.owner, 2, "B's incarnation");
    assert_eq!((seqs.newest, seqs.outstanding()), (2, 0));
}

/// The tuple of an echo request from `c` to `s`, identifier 7.
fn c_tuple(
    c: &rampart_dataplane::trace::Host,
    s: &rampart_dataplane::trace::Host,
) -> rampart_dataplane::flow::Tuple {
    let frame = rampart_dataplane::trace::echo_frame(c, s, 7, 1, false);
    match rampart_dataplane::packet::parse(&frame, PacketMeta::default()) {
        Ok(rampart_dataplane::packet::Parsed::Ip { tuple, .. }) => tuple,
        other => panic!("an echo request parses: {other:?}"),
    }
}

/// While a flow's only other copies are backups (no peer on its path),
/// its changes after the insert wait `backup_delay` and leave merged, as
/// one event with the whole current state; once a peer is on the path,
/// every change leaves at once.
#[test]
fn changes_for_backups_wait_merged_while_no_peer_is_on_the_path() {
    let delay = Duration::from_millis(5);
    let with_delay = |id: u16| {
        let mut cfg = EngineConfig::inside_outside(NodeId(id), [u64::from(id), 2, 3, 4]);
        cfg.sync = Some(SyncConfig {
            defer_deadline: Duration::ZERO,
            backup_delay: delay,
            ..SyncConfig::default()
        });
        let mut e = Engine::new(cfg).expect("valid config");
        e.set_peers_up(1);
        e.set_ready(true);
        e
    };
    let mut p = Pair::new(Duration::ZERO);
    p.nodes = [with_delay(1), with_delay(2)];
    let state_at = |p: &Pair, i: usize, m: &TcpModel| {
        p.nodes[i]
            .find(&m.tuple(), p.now)
            .map(|e| format!("{:?}", e.proto))
    };

    // Symmetric: every segment crosses node 0.
    let (c, s) = v4_pair(40_400, 80);
    let mut m = TcpModel::new(c, s, [70_000, 9_000], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    assert_eq!(p.inbox[1].len(), 1, "the insert leaves at once");
    let rest = rest_of_handshake_and_data(&mut m);
    p.all_through(0, &m, &rest);
    assert_eq!(p.inbox[1].len(), 1, "four changes wait for the delay");
    let due = p.nodes[0]
        .sync_timeout()
        .expect("a timer for the waiting change");
    assert!(due <= p.now + delay, "{due:?}");
    p.now = due;
    p.collect(0);
    assert_eq!(p.inbox[1].len(), 2, "one merged update");
    assert_eq!(p.inbox[1][1].kind, EventKind::Update);
    p.sync_all_from_peers();
    assert!(state_at(&p, 1, &m).is_some());
    assert_eq!(
        state_at(&p, 1, &m),
        state_at(&p, 0, &m),
        "the backup has it all"
    );

    // Asymmetric: node 1 carries the server's side; once node 0 hears of
    // it, node 0's changes leave at once.
    let (c, s) = v4_pair(40_401, 80);
    let mut m = TcpModel::new(c, s, [70_000, 9_000], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    p.sync_all_from_peers();
    let syn_ack = m.syn_ack();
    assert!(matches!(p.seg(&m, &syn_ack), Verdict::Forward { .. }));
    assert_eq!(p.inbox[0].len(), 1, "the owner is on the path: at once");
    p.sync_all_from_peers();
    let ack = m.ack(Side::Client);
    assert!(matches!(p.seg(&m, &ack), Verdict::Forward { .. }));
    assert_eq!(p.inbox[1].len(), 1, "a peer is on the path: at once");
    p.sync_all_from_peers();

    // A symmetric flow whose path moves while its changes wait: the
    // waiting change leaves as soon as the new path's node is heard from.
    let (c, s) = v4_pair(40_402, 80);
    let mut m = TcpModel::new(c, s, [70_000, 9_000], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    p.sync_all_from_peers();
    let syn_ack = m.syn_ack();
    let ack = m.ack(Side::Client);
    p.all_through(0, &m, &[syn_ack.clone(), ack]);
    assert!(p.inbox[1].is_empty(), "the changes wait");
    // The server's SYN-ACK, sent again, now crosses node 1.
    assert!(matches!(p.seg(&m, &syn_ack), Verdict::Forward { .. }));
    assert_eq!(p.inbox[0].len(), 1);
    let o = p.inbox[0].pop_front().expect("node 1's change");
    p.nodes[0]
        .apply_peer(&o.event, Source::batch(Some(2), false), p.now)
        .expect("valid state");
    p.collect(0);
    assert_eq!(p.inbox[1].len(), 1, "the waiting change leaves at once");
}

/// A packet of a flow its node lacks pulls at once, unless the flow's
/// owner pushes its insert to this node whoever the owner is (it is the
/// director, or a backup even behind the owner): then it waits
/// `pull_after` for the insert, as with two nodes and two copies, where a
/// pull would only race the insert already on its way.
#[test]
fn an_unknown_flow_waits_for_its_insert_only_where_the_insert_surely_comes() {
    use rampart_dataplane::placement::Placement;
    let after = SyncConfig::default().pull_after;
    let now = Instant::from_secs(1_700_000_000);
    let pulls = |e: &mut Engine| {
        effects(e, now)
            .into_iter()
            .filter(|e| matches!(e, Effect::Pull(_)))
            .count()
    };
    let syn_ack_at = |e: &mut Engine, port: u16| {
        let (c, s) = v4_pair(port, 80);
        let mut m = TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None]);
        m.syn();
        let seg = m.syn_ack();
        let mut f = m.frame(&seg);
        let v = e.process(&mut f, PacketMeta::default(), m.iface(Side::Server), now);
        let (key, _) = FlowKey::of(&m.tuple());
        (v, key)
    };
    // Two nodes, two copies: every insert comes here.
    let mut b = node(2, Duration::ZERO);
    b.set_placement(Placement::new([1, 2], 2));
    assert_eq!(syn_ack_at(&mut b, 41_000).0, Verdict::Hold);
    assert_eq!(pulls(&mut b), 0, "waits for the insert");
    b.expire_sync(now + after);
    assert_eq!(pulls(&mut b), 1, "then pulls");
    // A placement that lists only this node (its peers not yet counted
    // live): nobody pushes here, it pulls at once.
    let mut alone = node(2, Duration::ZERO);
    alone.set_placement(Placement::new([2], 2));
    assert_eq!(syn_ack_at(&mut alone, 41_001).0, Verdict::Hold);
    assert_eq!(pulls(&mut alone), 1);

    // Three nodes, two copies: node 3 is surely pushed a flow it directs,
    // but not one it ranks last for (the owner may take the backup's
    // place).
    let three = Placement::new([1, 2, 3], 2);
    let (mut waited, mut pulled) = (0, 0);
    for port in 41_100..41_160u16 {
        let mut c = node(3, Duration::ZERO);
        c.set_peers_up(2);
        c.set_placement(three.clone());
        let (v, key) = syn_ack_at(&mut c, port);
        assert_eq!(v, Verdict::Hold);
        let rank = three.ranked(&key).iter().position(|&n| n == 3).unwrap();
        match (rank, pulls(&mut c)) {
            (0, 0) => waited += 1,
            (1 | 2, 1) => pulled += 1,
            other => panic!("rank and pulls {other:?}"),
        }
    }
    assert!(waited > 0 && pulled > 0, "{waited} waited, {pulled} pulled");
}

/// A connection reopened on its tuple (a SYN on a closed connection, as
/// clients reusing ports do) sends the new connection's insert and no
/// delete where the insert reaches every peer that held the old one: the
/// newer incarnation supersedes it there.
#[test]
fn a_reopened_connection_supersedes_the_old_one_without_a_delete() {
    use rampart_dataplane::placement::Placement;
    let mut p = Pair::new(Duration::ZERO);
    for n in &mut p.nodes {
        n.set_placement(Placement::new([1, 2], 2));
    }
    let (c, s) = v4_pair(40_500, 80);
    let mut m = TcpModel::new(c, s, [70_000, 9_000], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    let close = [
        m.syn_ack(),
        m.ack(Side::Client),
        m.fin(Side::Client),
        m.fin(Side::Server),
        m.ack(Side::Client),
    ];
    p.all_through(0, &m, &close);
    p.sync_all_from_peers();
    let old = p.nodes[1].find(&m.tuple(), p.now).map(|e| e.incarnation());
    assert!(old.is_some(), "the peer holds the closed connection");
    // The client reuses its port with a fresh sequence number.
    let mut n = TcpModel::new(c, s, [900_000, 19_000], [65535, 65535], [None, None]);
    let syn = n.syn();
    assert!(matches!(
        p.send(0, n.frame(&syn), n.iface(Side::Client)),
        Verdict::Forward { .. }
    ));
    let kinds: Vec<EventKind> = p.inbox[1].iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::Insert],
        "no delete for the old connection"
    );
    let counters = p.nodes[0].sync_counters().expect("syncing");
    assert_eq!(counters.deletes_superseded, 1);
    p.sync_all_from_peers();
    let new = p.nodes[1].find(&n.tuple(), p.now).map(|e| e.incarnation());
    assert!(
        new > old,
        "the peer holds the new connection: {old:?} -> {new:?}"
    );
    assert_eq!(
        new,
        p.nodes[0].find(&n.tuple(), p.now).map(|e| e.incarnation())
    );
}

/// A packet held on a flow its node holds in full waits for the change
/// its peer pushes; it pulls only when that has not come within
/// `pull_after` (a lost event), while a packet of a flow its node lacks
/// pulls at once (the_input_surface_gives_exact_effects_for_defer_then_hold).
#[test]
fn a_held_packet_of_a_flow_held_in_full_waits_for_the_push_before_it_pulls() {
    use rampart_dataplane::engine::{Handled, Input};
    let mut a = node(1, Duration::ZERO);
    let mut b = node(2, Duration::ZERO);
    let after = SyncConfig::default().pull_after;
    assert!(!after.is_zero());
    let mut now = Instant::from_secs(1_700_000_000);
    let (c, s) = v4_pair(40_200, 80);
    let mut m = TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None]);
    let through = |e: &mut Engine, m: &TcpModel, seg: &Seg, now: Instant| {
        let mut f = m.frame(seg);
        e.process(&mut f, PacketMeta::default(), m.iface(seg.from), now)
    };
    let pass_events = |from: &mut Engine, to: &mut Engine, now: Instant| {
        for effect in effects(from, now) {
            if let Some(o) = effect.into_sync() {
                to.apply_sync(&o.event, now).expect("valid state");
            }
        }
    };
    // The handshake, each node's events delivered at once.
    let syn = m.syn();
    assert!(matches!(
        through(&mut a, &m, &syn, now),
        Verdict::Forward { .. }
    ));
    let key = a
        .find(&m.tuple(), now)
        .map(|id| a.flow_state(id).unwrap())
        .unwrap();
    m.set_shift(key.seq_offset);
    pass_events(&mut a, &mut b, now);
    let synack = m.syn_ack();
    assert!(matches!(
        through(&mut b, &m, &synack, now),
        Verdict::Forward { .. }
    ));
    pass_events(&mut b, &mut a, now);
    let ack = m.ack(Side::Client);
    assert!(matches!(
        through(&mut a, &m, &ack, now),
        Verdict::Forward { .. }
    ));
    let data = m.data(Side::Client, 512);
    assert!(matches!(
        through(&mut a, &m, &data, now),
        Verdict::Forward { .. }
    ));
    // A's change (the client's data) is late: the server's ACK of it
    // waits on B, which asks nobody yet.
    let server_ack = m.ack(Side::Server);
    assert_eq!(through(&mut b, &m, &server_ack, now), Verdict::Hold);
    let none: Vec<Effect> = effects(&mut b, now)
        .into_iter()
        .filter(|e| matches!(e, Effect::Pull(_)))
        .collect();
    assert_eq!(none, vec![], "no pull before pull_after");
    assert_eq!(b.sync_counters().unwrap().pulls_sent, 0);
    // Still nothing pushed after `pull_after`: B pulls from the holders
    // it knows of (the owner, A).
    now = now + after;
    assert_eq!(b.handle(Input::Timer, now), Handled::Expired(0));
    assert_eq!(
        effects(&mut b, now),
        vec![Effect::Pull(PullOut::Want {
            key: key.key,
            ask: PeerSet::of(1),
            director: true,
        })]
    );
    assert_eq!(b.sync_counters().unwrap().pulls_sent, 1);
    // A's change arrives: the ACK leaves, having waited `pull_after`.
    pass_events(&mut a, &mut b, now);
    let cb = b.sync_counters().unwrap();
    assert_eq!(cb.held_released, 1);
    let bucket = rampart_dataplane::engine::sync::HELD_WAIT_BOUNDS_US
        .iter()
        .position(|&us| us >= after.as_micros() as u64)
        .unwrap();
    let mut want = [0u64; 15];
    want[bucket] = 1;
    assert_eq!(cb.held_wait, want);
    assert_eq!(cb.held_wait_sum_ns, after.as_nanos() as u64);
}

/// The roles a node counts for its entries (owner, director, copy) follow
/// the entries in and out of the table and the directors when the live
/// members change.
#[test]
fn role_counts_follow_entries_and_directors() {
    use rampart_dataplane::engine::sync::{ROLE_COPY, ROLE_DIRECTOR, ROLE_OWNER};
    use rampart_dataplane::placement::Placement;
    let mut a = node(1, Duration::ZERO);
    let mut b = node(2, Duration::ZERO);
    let members = Placement::new([1, 2, 3], 2);
    a.set_placement(members.clone());
    b.set_placement(members.clone());
    let now = Instant::from_secs(1_700_000_000);
    // Forty flows opened on A, their inserts applied on B.
    let mut directed_by_b = 0;
    for port in 0..40u16 {
        let (c, s) = v4_pair(41_000 + port, 80);
        let mut m = TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None]);
        let syn = m.syn();
        let mut f = m.frame(&syn);
        assert!(matches!(
            a.process(&mut f, PacketMeta::default(), m.iface(Side::Client), now),
            Verdict::Forward { .. }
        ));
        let state = a.flow_state(a.find(&m.tuple(), now).unwrap()).unwrap();
        directed_by_b += usize::from(members.director(&state.key) == Some(2));
        for effect in effects(&mut a, now) {
            if let Some(o) = effect.into_sync() {
                b.apply_sync(&o.event, now).expect("valid state");
            }
        }
    }
    assert!(directed_by_b > 0 && directed_by_b < 40, "{directed_by_b}");
    let roles = |e: &Engine| e.sync_counters().unwrap().roles;
    assert_eq!(roles(&a)[ROLE_OWNER], 40);
    assert_eq!(roles(&a)[ROLE_DIRECTOR] + roles(&a)[ROLE_COPY], 0);
    let rb = roles(&b);
    assert_eq!(rb[ROLE_OWNER], 0);
    assert_eq!(rb[ROLE_DIRECTOR] as usize, directed_by_b);
    assert_eq!(rb[ROLE_COPY] as usize, 40 - directed_by_b);
    // Node 3 leaves: B now directs every flow A does not (of two members,
    // one is the owner).
    let pair = Placement::new([1, 2], 2);
    b.set_placement(pair.clone());
    let directed_now = (0..40u16)
        .filter(|p| {
            let (c, s) = v4_pair(41_000 + p, 80);
            let m = TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None]);
            let key = b.flow_state(b.find(&m.tuple(), now).unwrap()).unwrap().key;
            pair.director(&key) == Some(2)
        })
        .count();
    assert_eq!(roles(&b)[ROLE_DIRECTOR] as usize, directed_now);
    assert_eq!(roles(&b)[ROLE_COPY] as usize, 40 - directed_now);
    // The entries idle out: every count returns to zero.
    let later = now + Duration::from_secs(3600);
    for e in [&mut a, &mut b] {
        while e.expire(later) > 0 {}
        assert_eq!(e.sync_counters().unwrap().roles, [0, 0, 0]);
    }
}

/// The TCP sequence number of an untagged IPv4 frame without options.
fn seq_of(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame[38..42].try_into().expect("4 bytes"))
}

#[test]
fn a_syn_retransmitted_through_the_other_node_is_shifted_alike() {
    // Node A forwards the client's SYN and dies before its insert leaves;
    // the client retransmits through B. With the cluster's shared secret B
    // shifts it exactly as A did, so the server (in SYN-RECEIVED with A's
    // shifted ISN) answers it and B passes the answer; with node-local
    // secrets (the control) the two shifts differ and the connection
    // could not open until the server gave up on the first SYN.
    for shared in [true, false] {
        let mut p = Pair::new(Duration::ZERO);
        if shared {
            for n in &mut p.nodes {
                n.set_seq_secret([0x1111, 0x2222]);
            }
        }
        // B has opened other connections: its connection ids differ from A's.
        let (c, s) = v4_pair(40_002, 80);
        let mut other = TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None]);
        let other_syn = other.syn();
        p.send(1, other.frame(&other_syn), other.iface(Side::Client));
        let (c, s) = v4_pair(40_001, 80);
        let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [Some(7), Some(7)]);
        let syn = m.syn();
        assert!(matches!(
            p.send(0, m.frame(&syn), m.iface(Side::Client)),
            Verdict::Forward { .. }
        ));
        let first = seq_of(p.delivered.last().expect("forwarded"));
        m.set_shift(shift_of(&p, &m));
        p.inbox = [VecDeque::new(), VecDeque::new()];
        p.now = p.now + Duration::from_secs(1);
        assert!(matches!(
            p.send(1, m.frame(&syn), m.iface(Side::Client)),
            Verdict::Forward { .. }
        ));
        let second = seq_of(p.delivered.last().expect("forwarded"));
        assert_ne!(first, 1000, "randomized");
        assert_eq!(first == second, shared, "A sent {first}, B {second}");
        if shared {
            // The server's answer to A's shifted ISN, then the client's
            // ACK and data, all through B: strict tracking passes them.
            let mut rest = rest_of_handshake_and_data(&mut m);
            for seg in &mut rest {
                let v = p.send(1, m.frame(seg), m.iface(seg.from));
                assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
            }
            assert_eq!(p.drops(), 0);
        }
    }
}

/// A peer's SYN state of a class this node does not know, made by a real
/// engine (so every field is what a peer sends).
fn peer_syn_state(
    peer: &mut Engine,
    port: u16,
    now: Instant,
) -> rampart_dataplane::sync::FlowState {
    let (c, s) = v4_pair(port, 443);
    let mut m = TcpModel::new(c, s, [10, 20], [64_240, 65_160], [Some(7), Some(7)]);
    let syn = m.syn();
    let mut frame = m.frame(&syn);
    peer.process(
        &mut frame,
        PacketMeta::default(),
        m.iface(Side::Client),
        now,
    );
    while let Some(effect) = peer.poll_effect(now) {
        if let Some(o) = effect.into_sync()
            && let SyncEvent::Upsert(state) = o.event
        {
            return state;
        }
    }
    panic!("no insert for port {port}");
}

/// A full table makes room for a peer's flow by evicting its oldest
/// half-open entry; when that entry was the last of the peer class the new
/// flow belongs to, the class's slot went free under the insert, and the
/// node panicked on it (a member could crash its peers).
#[test]
fn evicting_the_last_flow_of_a_peers_class_to_make_room_for_the_next() {
    use rampart_dataplane::placement::Placement;
    let now = Instant::from_secs(1_700_000_000);
    let mut peer = node(2, Duration::ZERO);
    peer.set_peers_up(0);
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    cfg.max_conns = 4;
    cfg.sync = Some(SyncConfig::default());
    let mut full = Engine::new(cfg).expect("valid config");
    full.set_peers_up(1);
    full.set_ready(true);
    for n in [&mut peer, &mut full] {
        n.set_placement(Placement::new([1, 2], 2));
    }
    const UNKNOWN_CLASS: u64 = 0xdead_beef;
    let mut first = peer_syn_state(&mut peer, 40_000, now);
    first.class = UNKNOWN_CLASS;
    full.apply_peer(&SyncEvent::Upsert(first), Source::default(), now)
        .expect("valid state");
    for port in 40_001..40_004 {
        let state = peer_syn_state(&mut peer, port, now);
        full.apply_peer(&SyncEvent::Upsert(state), Source::default(), now)
            .expect("valid state");
    }
    assert_eq!(full.table().len(), 4);
    let mut last = peer_syn_state(&mut peer, 40_010, now);
    last.class = UNKNOWN_CLASS;
    full.apply_peer(&SyncEvent::Upsert(last), Source::default(), now)
        .expect("valid state");
    assert_eq!(full.table().len(), 4);
    let (c, s) = v4_pair(40_010, 443);
    let tuple = TcpModel::new(c, s, [10, 20], [64_240, 65_160], [Some(7), Some(7)]).tuple();
    let entry = full.find(&tuple, now).expect("the new flow is in");
    let slot = full.classes().get(entry.class);
    assert!(slot.from_peer);
    assert_eq!(slot.conns, 1);
}

/// A full table makes room by evicting a peer's half-open copy: the copy
/// leaves this table only. Before, the eviction sent a delete that ended
/// the owner's live handshake too, so a spoofed flood at one node removed
/// other nodes' genuine connections.
#[test]
fn making_room_drops_a_peers_copy_here_only() {
    use rampart_dataplane::placement::Placement;
    let now = Instant::from_secs(1_700_000_000);
    let mut peer = node(2, Duration::ZERO);
    peer.set_peers_up(0);
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    cfg.max_conns = 2;
    cfg.sync = Some(SyncConfig {
        defer_deadline: Duration::ZERO,
        ..SyncConfig::default()
    });
    let mut full = Engine::new(cfg).expect("valid config");
    full.set_peers_up(1);
    full.set_ready(true);
    for n in [&mut peer, &mut full] {
        n.set_placement(Placement::new([1, 2], 2));
    }
    for port in [40_000, 40_001] {
        let state = peer_syn_state(&mut peer, port, now);
        full.apply_peer(&SyncEvent::Upsert(state), Source::default(), now)
            .expect("valid state");
    }
    let _ = effects(&mut full, now);
    let deletes = |e: &[Effect]| {
        e.iter()
            .filter(|e| matches!(e, Effect::FlowDeleted { .. }))
            .count()
    };
    // A SYN of this node's own, into the full table: the peer's oldest
    // copy makes room, and nothing tells the peer to drop its connection.
    let later = now + Duration::from_millis(1);
    let (c, s) = v4_pair(41_000, 443);
    let mut m = TcpModel::new(c, s, [30, 40], [64_240, 65_160], [Some(7), Some(7)]);
    let syn = m.syn();
    let mut f = m.frame(&syn);
    let v = full.process(&mut f, PacketMeta::default(), m.iface(Side::Client), later);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(full.table().len(), 2);
    assert_eq!(deletes(&effects(&mut full, later)), 0);
}

/// A passive copy leaves the table (cleared, timed out, deleted by its
/// owner) and a bypass connection takes its slot: the slot's sync marks
/// start afresh, so the bypass connection's packets pass at once instead
/// of waiting for a pull no peer answers.
#[test]
fn a_bypass_connection_in_the_slot_of_a_passive_copy_is_not_held() {
    use rampart_dataplane::placement::Placement;
    let now = Instant::from_secs(1_700_000_000);
    let mut peer = node(2, Duration::ZERO);
    peer.set_peers_up(0);
    let mut e = node(1, Duration::ZERO);
    for n in [&mut peer, &mut e] {
        n.set_placement(Placement::new([1, 2], 2));
    }
    let text = "access-list tcp_bypass extended permit tcp any any eq 5002\n\
                access-list tcp_bypass extended permit tcp any eq 5002 any\n\
                class-map tcp_bypass\n match access-list tcp_bypass\n\
                policy-map global_policy\n class tcp_bypass\n  \
                set connection advanced-options tcp-state-bypass\n\
                service-policy global_policy global\n";
    set_policy_text(&mut e, text);
    let state = peer_syn_state(&mut peer, 40_000, now);
    e.apply_peer(&SyncEvent::Upsert(state), Source::batch(Some(2), true), now)
        .expect("valid state");
    let key = e.table().iter().next().expect("the copy").1.key;
    assert_eq!(e.is_passive_copy(&key), Some(true));
    assert_eq!(e.clear_conns(|_| true), 1);
    // A bypass connection picked up mid-stream, then more of its packets.
    let (c, s) = v4_pair(41_000, 5002);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    m.handshake();
    for _ in 0..3 {
        let seg = m.data(Side::Client, 100);
        let mut f = m.frame(&seg);
        assert!(
            matches!(
                e.process(&mut f, PacketMeta::default(), m.iface(Side::Client), now),
                Verdict::Forward { .. }
            ),
            "a bypass packet waits"
        );
    }
    assert_eq!(e.sync_counters().expect("syncing").held, 0);
}

/// The floor of sync events on a short asymmetric connection (issue 15's
/// "events per connection" figure): a `Connection: close` exchange with the
/// client's packets through node 0 and the server's through node 1, every
/// burst of one direction merged into one event. Each burst tells the other
/// node something it needs before it can check the next acknowledgement
/// (the client's ISN, the server's ISN, the request's end, the response's
/// and the server FIN's end, the client FIN's end), and the last ends the
/// connection there: six events, one per burst. The benchmark's 6.4 is
/// bursts split across worker turns.
#[test]
fn a_short_asymmetric_close_exchange_costs_one_event_per_burst() {
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_000, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [Some(7), Some(7)]);
    // One burst through node `i`: its packets, then the events it made,
    // delivered to the other node. Returns how many events it made.
    let burst = |p: &mut Pair, m: &TcpModel, i: usize, segs: &[Seg]| {
        for seg in segs {
            p.tick();
            let mut f = m.frame(seg);
            let v = p.nodes[i].process(&mut f, PacketMeta::default(), m.iface(seg.from), p.now);
            assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
        }
        p.collect(i);
        let n = p.inbox[1 - i].len();
        p.deliver(1 - i);
        p.collect(1 - i);
        n
    };
    let syn = m.syn();
    let mut events = vec![burst(&mut p, &m, 0, &[syn])];
    m.set_shift(shift_of(&p, &m));
    let b = [m.syn_ack()];
    events.push(burst(&mut p, &m, 1, &b));
    let b = [m.ack(Side::Client), m.data(Side::Client, 100)];
    events.push(burst(&mut p, &m, 0, &b));
    let b = [m.data(Side::Server, 600), m.fin(Side::Server)];
    events.push(burst(&mut p, &m, 1, &b));
    let b = [m.ack(Side::Client), m.fin(Side::Client)];
    events.push(burst(&mut p, &m, 0, &b));
    let b = [m.ack(Side::Server)];
    events.push(burst(&mut p, &m, 1, &b));
    assert_eq!(events, vec![1; 6]);
    for n in &p.nodes {
        let t = n.find(&m.tuple(), p.now).and_then(|e| e.tcp_state());
        assert_eq!(t, Some(TcpState::TimeWait));
    }
    assert_eq!(p.drops(), 0);
}

/// A connection's VLAN travels with its state (docs/asa-behaviour.md
/// §2.6): one tuple on two VLANs, both conversations on the asymmetric
/// path, is two connections on each node, and a segment of the one
/// strayed onto the other VLAN is not taken for the other's.
#[test]
fn one_tuple_on_two_vlans_is_two_connections_on_both_nodes() {
    use rampart_dataplane::flow::Tuple;
    use rampart_dataplane::trace::vlan_tagged;
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_300, 80);
    let vlans = [10u16, 20];
    let mut m: Vec<TcpModel> = (0..2u32)
        .map(|i| {
            let isn = [1000 + i * 0x7000_0000, 5000 + i * 0x5000_0000];
            TcpModel::new(c, s, isn, [65535, 65535], [Some(7), Some(7)])
        })
        .collect();
    let through = |p: &mut Pair, m: &TcpModel, seg: &Seg, vlan: u16| {
        let i = usize::from(seg.from == Side::Server);
        p.send(i, vlan_tagged(m.frame(seg), 0, vlan), m.iface(seg.from))
    };
    for (m, vlan) in m.iter_mut().zip(vlans) {
        let syn = m.syn();
        assert!(matches!(
            through(&mut p, m, &syn, vlan),
            Verdict::Forward { .. }
        ));
        let tuple = Tuple { vlan, ..m.tuple() };
        m.set_shift(p.nodes[0].find(&tuple, p.now).expect("opened").seq_offset);
        p.sync_all();
        for seg in rest_of_handshake_and_data(m) {
            assert!(
                matches!(through(&mut p, m, &seg, vlan), Verdict::Forward { .. }),
                "VLAN {vlan}: {seg:?}"
            );
            p.sync_all();
        }
    }
    assert_eq!(p.drops(), 0);
    for n in &p.nodes {
        let mut held: Vec<(u16, TcpState)> = n
            .table()
            .iter()
            .map(|(_, e)| (e.key.vlan, e.tcp_state().expect("tcp")))
            .collect();
        held.sort_unstable_by_key(|&(v, _)| v);
        assert_eq!(
            held,
            [(10, TcpState::Established), (20, TcpState::Established)]
        );
    }
    // VLAN 20's next server segment, strayed onto VLAN 10, lies past that
    // connection's window: it waits as any refused segment may (a peer
    // could be ahead) and is dropped at its deadline, never delivered.
    let d = m[1].data(Side::Server, 500);
    let delivered = p.delivered.len();
    assert_eq!(through(&mut p, &m[1], &d, 10), Verdict::Hold);
    p.sync_all();
    p.now = p.now + Duration::from_millis(201);
    p.nodes[1].expire(p.now);
    p.sync_all();
    assert_eq!(p.delivered.len(), delivered);
    assert_eq!(
        p.nodes[1].counters().dropped(DropReason::TcpSeqPastWindow),
        1
    );
    assert!(matches!(
        through(&mut p, &m[1], &d, 20),
        Verdict::Forward { .. }
    ));
}

/// A node that kept an older incarnation of a reused tuple (it was frozen
/// while the old connection closed and the new one opened) and pushes it
/// when it comes back is told to delete it by a node that holds the newer
/// one: otherwise the copies it made would keep a connection the tuple's
/// new one ended, on nodes no later change of the key reaches (the
/// simulator found such a copy on a node that never held the new one).
#[test]
fn a_peer_pushing_an_older_incarnation_is_told_to_delete_it() {
    use rampart_dataplane::placement::Placement;
    let mut p = Pair::new(Duration::ZERO);
    for n in &mut p.nodes {
        n.set_placement(Placement::new([1, 2], 2));
    }
    let (c, s) = v4_pair(40_510, 80);
    let mut m = TcpModel::new(c, s, [70_000, 9_000], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    let talk = [m.syn_ack(), m.ack(Side::Client), m.data(Side::Client, 100)];
    p.all_through(0, &m, &talk);
    p.sync_all_from_peers();
    let entry = p.nodes[0].find(&m.tuple(), p.now).expect("open");
    let stale = p.nodes[0].flow_state(entry).expect("inspected");
    let close = [
        m.ack(Side::Server),
        m.fin(Side::Client),
        m.fin(Side::Server),
        m.ack(Side::Client),
    ];
    p.all_through(0, &m, &close);
    let mut n = TcpModel::new(c, s, [900_000, 19_000], [65535, 65535], [None, None]);
    p.open_at_0(&mut n);
    p.sync_all_from_peers();
    let newer = p.nodes[1]
        .find(&n.tuple(), p.now)
        .expect("reopened")
        .incarnation();
    assert!(newer > stale.inc);
    // Node 1 (id 1) comes back with its copy of the old connection.
    let from_back = Source::batch(Some(1), false);
    let applied = p.nodes[1]
        .apply_peer(&SyncEvent::Upsert(stale), from_back, p.now)
        .expect("valid state");
    assert_eq!(
        p.nodes[1].find(&n.tuple(), p.now).map(|e| e.incarnation()),
        Some(newer),
        "{applied:?}"
    );
    p.collect(1);
    let told: Vec<&SyncEvent> = p.inbox[0].iter().map(|o| &o.event).collect();
    assert_eq!(
        told,
        [&SyncEvent::Delete {
            key: stale.key,
            inc: stale.inc
        }]
    );
    // A node holding only that old copy drops it on the delete.
    let mut back = node(1, Duration::ZERO);
    back.apply_peer(
        &SyncEvent::Upsert(stale),
        Source::batch(Some(2), false),
        p.now,
    )
    .expect("valid state");
    assert!(back.find(&m.tuple(), p.now).is_some());
    back.apply_peer(told[0], Source::batch(Some(2), false), p.now)
        .expect("valid state");
    assert!(back.find(&m.tuple(), p.now).is_none());
    // The newer connection is untouched everywhere.
    for node in &p.nodes {
        assert_eq!(
            node.find(&n.tuple(), p.now).map(|e| e.incarnation()),
            Some(newer)
        );
    }
}

/// The review found a peer's state taken with any window (u32::MAX passed
/// the validation) and any right edge: joined by maximum into the live
/// entry, it let every sequence number through from then on. Such a state
/// is refused, by reason, and the entry keeps judging strictly.
#[test]
fn a_peers_state_that_would_widen_the_windows_is_refused_or_clamped() {
    use rampart_dataplane::sync::{SyncProto, SyncReject};
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_123, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    p.sync_all();
    for seg in [m.syn_ack(), m.ack(Side::Client)] {
        assert!(matches!(p.seg(&m, &seg), Verdict::Forward { .. }));
        p.sync_all();
    }
    let id = p.nodes[1].find(&m.tuple(), p.now).expect("synced");
    let good = p.nodes[1].flow_state(id).expect("an inspected flow");
    let forged = |f: &dyn Fn(&mut rampart_dataplane::conntrack::TcpTrack)| {
        let mut s = good;
        let SyncProto::Tcp(t) = &mut s.proto else {
            panic!("a TCP flow")
        };
        f(t);
        SyncEvent::Upsert(s)
    };
    let wide = forged(&|t| t.half[0].max_win = u32::MAX);
    let far = forged(&|t| {
        t.half[0].max_end = t.half[0].end + 1_000_000_000;
    });
    let no_syn = forged(&|t| t.half[1] = Default::default());
    for (event, why) in [(far, SyncReject::TcpEdge), (no_syn, SyncReject::TcpSynSeen)] {
        assert_eq!(p.nodes[1].apply_sync(&event, p.now), Err(why));
    }
    let id = p.nodes[1].find(&m.tuple(), p.now).expect("still there");
    assert_eq!(p.nodes[1].flow_state(id).map(|s| s.proto), Some(good.proto));
    // A window beyond its scale (an earlier release's tracker could grow
    // one so, in good faith) is pulled back to what the side can
    // advertise, 65535 unscaled here, and counted: no wider than before.
    assert!(p.nodes[1].apply_sync(&wide, p.now).is_ok());
    let id = p.nodes[1].find(&m.tuple(), p.now).expect("still there");
    let state = p.nodes[1].flow_state(id).expect("still there");
    let SyncProto::Tcp(t) = state.proto else {
        panic!("a TCP flow")
    };
    assert_eq!(t.half[0].max_win, 65_535);
    assert_eq!(t.check(), Ok(()));
    assert_eq!(
        p.nodes[1].sync_counters().map(|c| c.window_clamped),
        Some(1)
    );
    // A server segment a billion bytes ahead is still refused there.
    let mut d = m.data(Side::Server, 100);
    d.seq = d.seq.wrapping_add(500_000_000);
    assert!(!matches!(p.seg(&m, &d), Verdict::Forward { .. }));
}

/// A node kept a copy of a connection in SYN_SENT and missed the rest of
/// it (it ran through the other node and closed there). A new connection
/// on the tuple sends its SYN, with a new ISN, through this node: the
/// tracker would take it as the initiator restarting its connect on the
/// old entry, unchecked, and the connection would share the old one's
/// incarnation, which the other node holds closed (the cluster simulator's
/// seed 225943). It waits for the peer's state instead, and opens a new
/// connection once it learns the old one is over.
#[test]
fn a_syn_with_a_new_isn_on_a_lagging_syn_sent_copy_waits_and_opens_anew() {
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_014, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [Some(7), Some(7)]);
    p.open_at_0(&mut m);
    p.sync_all();
    let old = p.nodes[1].find(&m.tuple(), p.now).map(|e| e.incarnation());
    assert!(old.is_some(), "node 1 holds the SYN_SENT copy");
    // The rest of the old connection runs through node 0 alone; its
    // events to node 1 are still on their way.
    let script = [
        m.syn_ack(),
        m.ack(Side::Client),
        m.fin(Side::Client),
        m.ack(Side::Server),
        m.fin(Side::Server),
        m.ack(Side::Client),
    ];
    p.all_through(0, &m, &script);
    let (c, s) = v4_pair(40_014, 80);
    let isn = m.next_seq(Side::Client).wrapping_add(1_000_000);
    let n = TcpModel::new(c, s, [isn, 90_000], [65535, 65535], [Some(7), Some(7)]);
    let syn = n.clone().syn();
    assert_eq!(
        p.send(1, n.frame(&syn), n.iface(Side::Client)),
        Verdict::Hold,
        "a new ISN on a SYN_SENT copy waits for the peers' state"
    );
    let before = p.delivered.len();
    p.deliver(1);
    assert_eq!(
        p.delivered.len(),
        before + 1,
        "released once the state came"
    );
    let entry = p.nodes[1].find(&n.tuple(), p.now).expect("a new entry");
    assert_ne!(
        Some(entry.incarnation()),
        old,
        "a new connection, not the old one"
    );
    assert_eq!(entry.tcp_state(), Some(TcpState::SynSent));
    assert_eq!(p.drops(), 0);
}

/// A reset is exact only against the newest view of its sender's stream.
/// The server's response crossed node 1 and its news has not reached node 0
/// when the server's reset (at its next sequence number, exact) takes node
/// 0 after a path change: against node 0's view it lies inside the window
/// but past the server's end, the ASA's `tcp-rst-syn-in-win`. It waits for
/// node 1's state, and once that lands it is exact and passes (before,
/// it passed at once as a challenged reset, closing nothing).
#[test]
fn an_exact_reset_on_a_lagging_copy_waits_and_closes() {
    let mut p = Pair::new(Duration::ZERO);
    let (c, s) = v4_pair(40_310, 80);
    let mut m = TcpModel::new(c, s, [70_000, 9_000], [65535, 65535], [None, None]);
    p.open_at_0(&mut m);
    p.sync_all_from_peers();
    for seg in [m.syn_ack(), m.ack(Side::Client), m.data(Side::Client, 100)] {
        assert!(
            matches!(p.seg(&m, &seg), Verdict::Forward { .. }),
            "{seg:?}"
        );
        p.sync_all_from_peers();
    }
    // The response through node 1; node 0 does not hear of it yet.
    let response = m.data(Side::Server, 500);
    assert!(matches!(p.seg(&m, &response), Verdict::Forward { .. }));
    let reset = m.rst(Side::Server);
    assert_eq!(
        p.send(0, m.frame(&reset), m.iface(Side::Server)),
        Verdict::Hold
    );
    p.sync_all_from_peers();
    let c = p.nodes[0].sync_counters().expect("syncing").clone();
    assert_eq!((c.held, c.held_released, c.held_expired), (1, 1, 0));
    assert_eq!(
        p.nodes[0].counters().dropped(DropReason::TcpRstSynInWindow),
        0
    );
}

/// Under `inspect icmp error`, an error quoting a tuple the rules deny
/// both ways cannot belong to a connection any peer holds: dropped at
/// once, like the same tuple's UDP "reply", not held and pulled. An error
/// quoting a permitted tuple still waits.
#[test]
fn an_icmp_error_quoting_a_denied_tuple_is_not_held() {
    let mut e = node(2, Duration::ZERO);
    let text = "access-list INSIDE_OUT extended deny udp any any eq 9999\n\
                access-list INSIDE_OUT extended permit ip any any\n\
                access-group INSIDE_OUT in interface inside\n\
                policy-map global_policy\n class class-default\n  inspect icmp\n  inspect icmp error\n\
                service-policy global_policy global\n";
    set_policy_text(&mut e, text);
    let now = Instant::from_secs(1_700_000_000);
    let (c, s) = v4_pair(40_100, 9999);
    let reply = rampart_dataplane::trace::udp_frame(&s, &c, b"x");
    let mut f = reply;
    assert_eq!(
        e.process(&mut f, PacketMeta::default(), s.iface, now),
        Verdict::Drop(DropReason::AclDeny)
    );
    let probe = rampart_dataplane::trace::udp_frame(&c, &s, b"probe");
    let mut err = rampart_dataplane::trace::icmpv4_unreachable_frame(&s, &c, &probe);
    assert_eq!(
        e.process(&mut err, PacketMeta::default(), s.iface, now),
        Verdict::Drop(DropReason::IcmpNoConnection)
    );
    // The same error about a permitted port waits for a peer's state.
    let (c, s) = v4_pair(40_101, 9998);
    let probe = rampart_dataplane::trace::udp_frame(&c, &s, b"probe");
    let mut err = rampart_dataplane::trace::icmpv4_unreachable_frame(&s, &c, &probe);
    assert_eq!(
        e.process(&mut err, PacketMeta::default(), s.iface, now),
        Verdict::Hold
    );
    assert_eq!(e.sync_counters().expect("syncing").held, 1);
}

/// Under `inspect icmp error`, an error quoting a TCP sequence number this
/// node cannot place (`icmp-err-bad-seq`) may be about segments only a
/// peer has seen: it waits for the peer's state, and passes once that
/// state places it (docs/sync.md §4). Here the server's SYN-ACK crossed
/// node B, and a router on the client's side answers it with an
/// unreachable that reaches node A before B's update does.
#[test]
fn an_icmp_error_about_a_segment_only_a_peer_saw_waits_for_its_state() {
    let mut p = Pair::new(Duration::ZERO);
    let text = "policy-map global_policy\n class class-default\n  inspect icmp\n  inspect icmp error\n\
                service-policy global_policy global\n";
    for n in &mut p.nodes {
        set_policy_text(n, text);
    }
    let (c, s) = v4_pair(40_102, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [Some(7), Some(7)]);
    p.open_at_0(&mut m);
    p.sync_all();
    let synack = m.syn_ack();
    assert!(matches!(p.seg(&m, &synack), Verdict::Forward { .. }));
    let err =
        rampart_dataplane::trace::icmpv4_unreachable_frame(&m.client, &m.server, &m.frame(&synack));
    assert_eq!(p.send(0, err, m.iface(Side::Client)), Verdict::Hold);
    p.sync_all();
    let c = p.nodes[0].sync_counters().expect("syncing").clone();
    assert_eq!((c.held, c.held_released, c.held_expired), (1, 1, 0));
    assert_eq!(
        p.nodes[0].counters().dropped(DropReason::IcmpErrorBadSeq),
        0
    );
}
