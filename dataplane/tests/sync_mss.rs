//! The MSS clamp across a pair (docs/asa-behaviour.md §6.3, docs/sync.md
//! §1): nothing of it is synced as such, each node clamps the SYN or
//! SYN-ACK it forwards by the policy they share, and the MSS each side
//! announced travels in the synced TCP state as the receiver got it, so
//! `exceed-mss` counts alike on the node that saw the SYN and on the one
//! that did not.

mod common;
mod pair_sync;

use std::time::Duration;

use rampart_dataplane::conntrack::ProtoState;
use rampart_dataplane::packet::{PacketMeta, Parsed, Transport};
use rampart_dataplane::trace::{Seg, Side, TcpModel, v4_pair};
use rampart_dataplane::{Engine, Instant, Verdict};

/// Node `id` of a pair with the ASA's default clamp (1380) and
/// randomization off (the model does not follow a randomizing middlebox).
fn node(id: u16) -> Engine {
    let mut e = common::synced_node(id, Duration::ZERO, 1);
    let cfg = rampart_dataplane::policy::compile::randomization_off();
    let policy = rampart_dataplane::policy::compile::compile(&cfg, &e.config().interfaces)
        .expect("compiles");
    e.set_policy(std::sync::Arc::new(policy))
        .expect("the policy's classes fit");
    e
}

/// Send `seg` through node `i`, which must forward it; returns the MSS
/// option of the frame that left, if any.
fn through(
    nodes: &mut [Engine; 2],
    i: usize,
    m: &TcpModel,
    seg: &Seg,
    now: Instant,
) -> Option<u16> {
    let mut f = m.frame(seg);
    let v = nodes[i].process(&mut f, PacketMeta::default(), m.iface(seg.from), now);
    assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
    match rampart_dataplane::packet::parse(&f, PacketMeta::default()) {
        Ok(Parsed::Ip {
            transport: Transport::Tcp(t),
            ..
        }) => t.options.mss,
        other => panic!("the frame that left does not parse: {other:?}"),
    }
}

/// The MSS each side announced, as node `i` records it.
fn recorded(nodes: &[Engine; 2], i: usize, m: &TcpModel, now: Instant) -> [u16; 2] {
    match nodes[i].find(&m.tuple(), now).map(|e| e.proto) {
        Some(ProtoState::Tcp(t)) => [t.half[0].mss, t.half[1].mss],
        other => panic!("node {i}: {other:?}"),
    }
}

#[test]
fn each_node_clamps_what_it_forwards_and_both_record_what_was_received() {
    let mut nodes = [node(1), node(2)];
    let now = Instant::from_secs(1_700_000_000);
    let (c, s) = v4_pair(40_000, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [Some(7), Some(7)]);
    // The client's packets cross node 0, the server's node 1.
    let syn = m.syn();
    assert_eq!(through(&mut nodes, 0, &m, &syn, now), Some(1380));
    pair_sync::deliver(&mut nodes, 0, now);
    assert_eq!(recorded(&nodes, 1, &m, now)[0], 1380, "synced as received");
    let sa = m.syn_ack();
    assert_eq!(through(&mut nodes, 1, &m, &sa, now), Some(1380));
    pair_sync::deliver(&mut nodes, 1, now);
    let ack = m.ack(Side::Client);
    through(&mut nodes, 0, &m, &ack, now);
    pair_sync::deliver(&mut nodes, 0, now);
    for i in 0..2 {
        assert_eq!(recorded(&nodes, i, &m, now), [1380, 1380], "node {i}");
        assert_eq!(nodes[i].counters().normalizer.mss_clamped, 1, "node {i}");
    }
    // Each side sends one segment the other's clamped MSS allows and one
    // a byte longer, each through its own node.
    for (i, side) in [(0, Side::Client), (1, Side::Server)] {
        for len in [1380, 1381] {
            let d = m.data(side, len);
            through(&mut nodes, i, &m, &d, now);
            pair_sync::deliver(&mut nodes, i, now);
        }
        assert_eq!(
            nodes[i].counters().normalizer.exceed_mss_seen,
            1,
            "node {i}"
        );
    }
}
