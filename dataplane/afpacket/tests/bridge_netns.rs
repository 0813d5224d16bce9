//! Real TCP through the bridge: a client and a server namespace joined
//! only through a node namespace where the AF_PACKET bridge runs the engine
//! (ASA defaults: strict tracking, normalizer, sequence randomization).
//! Namespaces are created and removed by the test; needs root (CI is root).
#![cfg(target_os = "linux")]
// Test threads enter namespaces and keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rampart_afpacket::afpacket::PacketSocket;
use rampart_node::lab::{Lab, is_root};

#[test]
fn tcp_through_the_bridge_is_inspected_and_delivered_intact() {
    if !is_root() {
        eprintln!("skipped: network namespaces and AF_PACKET need root");
        return;
    }
    let lab = Lab::new(&format!("rp-br{}", std::process::id())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let bridge = common::spawn_bridge(&lab, &stop, |name| PacketSocket::open(name).expect(name));

    let (got, expect, received) = common::tcp_through(&lab, 1_000_000);
    assert_eq!(received, 1_000_000);
    assert_eq!(got, expect, "the server received exactly the bytes sent");

    // A connection opened from the outside (security 0 → 100) is refused.
    assert!(
        common::outside_connect_fails(&lab),
        "outside-initiated connection must not open"
    );

    let b = common::stop_and_check(&stop, bridge);
    assert_eq!(b.engine.counters().normalizer.seq_randomized_conns, 1);
}
