//! Property tests on real frames: any conversation a pair of correct TCP
//! stacks can have passes strictly; moving one sequence number beyond the
//! receiver's window is caught; no input panics the engine.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::{ChecksumState, PacketMeta};
use rampart_dataplane::policy::compile::{compile, randomization_off};
use rampart_dataplane::trace::{Seg, Side, TcpModel, v4_pair};
use rampart_dataplane::{DropReason, Engine, EngineConfig, IfaceId, Instant, Verdict};

#[derive(Debug, Clone)]
enum Action {
    /// Data from a side: a length in 1..=1460, clipped to the peer's window.
    Data(Side, u32),
    /// A pure ACK.
    Ack(Side),
    /// A late copy of a segment sent earlier (index modulo the count sent).
    Retransmit(usize),
    /// A new advertised window (may shrink, may be zero).
    Window(Side, u16),
}

#[derive(Debug, Clone, Copy)]
enum Close {
    Open,
    Fins,
    Reset(Side),
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Client), Just(Side::Server)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (side(), 1u32..=1460).prop_map(|(s, n)| Action::Data(s, n)),
        2 => side().prop_map(Action::Ack),
        2 => any::<usize>().prop_map(Action::Retransmit),
        1 => (side(), any::<u16>()).prop_map(|(s, w)| Action::Window(s, w)),
    ]
}

fn close() -> impl Strategy<Value = Close> {
    prop_oneof![
        Just(Close::Open),
        Just(Close::Fins),
        side().prop_map(Close::Reset)
    ]
}

/// One segment of a generated conversation, with what the tracker must
/// accept as the sender's right window edge at the moment it is sent.
#[derive(Debug, Clone)]
struct Sent {
    seg: Seg,
    right_edge: u32,
    fresh_data: bool,
}

/// Play the actions on a model pair; every segment is one a correct stack
/// could send on an in-order path (possibly late, for retransmissions).
fn conversation(
    isn: [u32; 2],
    window: [u16; 2],
    wscale: [Option<u8>; 2],
    actions: &[Action],
    close: Close,
) -> (TcpModel, Vec<Sent>) {
    let (c, s) = v4_pair(40_000, 443);
    let mut m = TcpModel::new(c, s, isn, window, wscale);
    let mut out = Vec::new();
    let push = |out: &mut Vec<Sent>, seg: Seg, right_edge: u32, fresh_data: bool| {
        out.push(Sent {
            seg,
            right_edge,
            fresh_data,
        });
    };
    for seg in m.handshake() {
        push(&mut out, seg, 0, false);
    }
    for a in actions {
        match *a {
            Action::Data(side, len) => {
                let edge = m.max_right_edge(side);
                let n = len.min(m.sendable(side));
                let seg = if n == 0 { m.ack(side) } else { m.data(side, n) };
                push(&mut out, seg, edge, n > 0);
            }
            Action::Ack(side) => {
                let edge = m.max_right_edge(side);
                let seg = m.ack(side);
                push(&mut out, seg, edge, false);
            }
            Action::Retransmit(i) => {
                let seg = m.retransmit(i % m.sent.len()).expect("index in range");
                push(&mut out, seg, 0, false);
            }
            Action::Window(side, w) => m.set_window(side, w),
        }
    }
    match close {
        Close::Open => {}
        Close::Fins => {
            for (side, fin) in [
                (Side::Client, true),
                (Side::Server, false),
                (Side::Server, true),
                (Side::Client, false),
            ] {
                let seg = if fin { m.fin(side) } else { m.ack(side) };
                push(&mut out, seg, 0, false);
            }
        }
        Close::Reset(side) => {
            let seg = m.rst(side);
            push(&mut out, seg, 0, false);
        }
    }
    (m, out)
}

/// An engine with randomization off: the model endpoints here talk to
/// each other directly (randomization has its own tests).
fn engine() -> Engine {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [11, 22, 33, 44]))
        .expect("valid config");
    let off = compile(&randomization_off(), &e.config().interfaces).expect("compiles");
    e.set_policy(Arc::new(off))
        .expect("the policy's classes fit");
    e
}

fn feed(engine: &mut Engine, m: &TcpModel, seg: &Seg, now: Instant) -> Verdict {
    engine.process(
        &mut m.frame(seg),
        PacketMeta::default(),
        m.iface(seg.from),
        now,
    )
}

fn forwarded(v: Verdict) -> bool {
    matches!(v, Verdict::Forward { .. })
}

fn params() -> impl Strategy<Value = ([u32; 2], [u16; 2], [Option<u8>; 2])> {
    (
        any::<[u32; 2]>(),
        [1u16..=u16::MAX, 1u16..=u16::MAX],
        [
            proptest::option::of(0u8..=14),
            proptest::option::of(0u8..=14),
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Every segment of a valid conversation is forwarded, whatever the ISNs
    /// (wrap-around included), windows, scaling and retransmissions.
    #[test]
    fn valid_conversations_pass_strictly(
        (isn, window, wscale) in params(),
        actions in proptest::collection::vec(action(), 0..60),
        close in close(),
    ) {
        let (m, sent) = conversation(isn, window, wscale, &actions, close);
        let mut eng = engine();
        let mut now = Instant::from_secs(10);
        for (i, s) in sent.iter().enumerate() {
            now = now + Duration::from_millis(3);
            let v = feed(&mut eng, &m, &s.seg, now);
            prop_assert!(matches!(v, Verdict::Forward { .. }), "segment {} {:?}: {:?}", i, s.seg, v);
        }
        prop_assert_eq!(eng.counters().total_dropped(), 0);
        prop_assert_eq!(eng.table().len(), 1);
    }

    /// Moving one fresh data segment's sequence number beyond the receiver's
    /// window is caught, and the drop leaves the connection intact.
    #[test]
    fn a_sequence_number_beyond_the_window_is_caught(
        (isn, window, wscale) in params(),
        actions in proptest::collection::vec(action(), 1..60),
        pick in any::<usize>(),
        beyond in 1u32..(1 << 30),
    ) {
        let (m, sent) = conversation(isn, window, wscale, &actions, Close::Open);
        let fresh: Vec<usize> = (0..sent.len()).filter(|&i| sent[i].fresh_data).collect();
        prop_assume!(!fresh.is_empty());
        let k = fresh[pick % fresh.len()];
        let mut eng = engine();
        let mut now = Instant::from_secs(10);
        for s in &sent[..k] {
            now = now + Duration::from_millis(3);
            prop_assert!(forwarded(feed(&mut eng, &m, &s.seg, now)));
        }
        let mut bad = sent[k].seg.clone();
        bad.seq = sent[k].right_edge.wrapping_add(beyond);
        prop_assert_eq!(feed(&mut eng, &m, &bad, now), Verdict::Drop(DropReason::TcpSeqPastWindow));
        for s in &sent[k..] {
            now = now + Duration::from_millis(3);
            prop_assert!(forwarded(feed(&mut eng, &m, &s.seg, now)));
        }
    }

    /// Acknowledging bytes the other side never sent is caught.
    #[test]
    fn an_ack_beyond_sent_data_is_caught(
        (isn, window, wscale) in params(),
        actions in proptest::collection::vec(action(), 1..40),
        beyond in 1u32..(1 << 30),
    ) {
        let (mut m, sent) = conversation(isn, window, wscale, &actions, Close::Open);
        let mut eng = engine();
        let now = Instant::from_secs(10);
        for s in &sent {
            prop_assert!(forwarded(feed(&mut eng, &m, &s.seg, now)));
        }
        let mut bad = m.ack(Side::Client);
        bad.ack = bad.ack.wrapping_add(beyond);
        prop_assert_eq!(feed(&mut eng, &m, &bad, now), Verdict::Drop(DropReason::TcpAckPastWindow));
    }

    /// Arbitrary bytes on any interface, with any checksum knowledge, never
    /// panic and always yield a verdict.
    #[test]
    fn arbitrary_bytes_never_panic(
        frames in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..200), 0u8..3, 0u8..3),
            1..20,
        ),
    ) {
        let mut eng = engine();
        let mut now = Instant::from_secs(1);
        for (mut bytes, iface, cs) in frames {
            let checksum = [ChecksumState::Unverified, ChecksumState::Partial, ChecksumState::Verified][usize::from(cs)];
            now = now + Duration::from_millis(500);
            let _ = eng.process(&mut bytes, PacketMeta { checksum, ..PacketMeta::default() }, IfaceId(iface), now);
            eng.expire(now);
        }
    }

    /// Valid frames with random bytes overwritten never panic either (this
    /// reaches deeper than random bytes, which rarely parse).
    #[test]
    fn mutated_frames_never_panic(
        (isn, window, wscale) in params(),
        actions in proptest::collection::vec(action(), 0..20),
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<u8>()), 1..8),
    ) {
        let (m, sent) = conversation(isn, window, wscale, &actions, Close::Fins);
        let mut frames: Vec<(Vec<u8>, IfaceId)> =
            sent.iter().map(|s| (m.frame(&s.seg), m.iface(s.seg.from))).collect();
        for (f, at, byte) in edits {
            let n = frames.len();
            let frame = &mut frames[f % n].0;
            let len = frame.len();
            frame[at % len] = byte;
        }
        let mut eng = engine();
        let now = Instant::from_secs(1);
        for (mut f, iface) in frames {
            let _ = eng.process(&mut f, PacketMeta { checksum: ChecksumState::Verified, ..PacketMeta::default() }, iface, now);
        }
    }
}
