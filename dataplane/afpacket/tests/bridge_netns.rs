//! Real TCP through the bridge: a client and a server namespace joined
//! only through a node namespace where the AF_PACKET bridge runs the engine
//! (ASA defaults: strict tracking, normalizer, sequence randomization).
//! Namespaces are created and removed by the test; needs root (CI is root).
#![cfg(target_os = "linux")]
// Test threads enter namespaces and keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rampart_afpacket::afpacket::PacketSocket;
use rampart_afpacket::bridge::Bridge;
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::{DropReason, Engine, EngineConfig};
use rampart_node::lab::{Lab, Role, fnv, is_root};

#[test]
fn tcp_through_the_bridge_is_inspected_and_delivered_intact() {
    if !is_root() {
        eprintln!("skipped: network namespaces and AF_PACKET need root");
        return;
    }
    let lab = Lab::new(&format!("rp-br{}", std::process::id())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_bridge = stop.clone();
    let bridge = lab
        .spawn(Role::Node, move || {
            let inside = PacketSocket::open("c1").expect("c1");
            let outside = PacketSocket::open("s1").expect("s1");
            let engine =
                Engine::new(EngineConfig::inside_outside(NodeId(1), [9, 8, 7, 6])).expect("engine");
            let mut b = Bridge::new(inside, outside, engine);
            b.run(&stop_bridge).expect("bridge runs");
            b
        })
        .expect("namespace thread");

    let server = lab
        .spawn(Role::Server, || {
            let l = TcpListener::bind("198.18.0.20:5001").expect("listen");
            let (mut conn, _) = l.accept().expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut data = Vec::new();
            conn.read_to_end(&mut data).expect("read");
            conn.write_all(&fnv(&data).to_be_bytes()).expect("reply");
            data.len()
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(200));

    let payload: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let expect = fnv(&payload);
    let client = lab
        .spawn(Role::Client, move || {
            let addr: SocketAddr = "198.18.0.20:5001".parse().unwrap();
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .expect("connect through the bridge");
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(&payload).expect("send");
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut reply = [0u8; 8];
            s.read_exact(&mut reply).expect("reply");
            u64::from_be_bytes(reply)
        })
        .expect("namespace thread");
    let got = client.join().expect("client");
    assert_eq!(server.join().expect("server"), 1_000_000);
    assert_eq!(got, expect, "the server received exactly the bytes sent");

    // A connection opened from the outside (security 0 → 100) is refused.
    let denied = lab
        .spawn(Role::Server, || {
            let addr: SocketAddr = "198.18.0.10:5002".parse().unwrap();
            TcpStream::connect_timeout(&addr, Duration::from_millis(800)).is_err()
        })
        .expect("namespace thread");
    assert!(
        denied.join().unwrap(),
        "outside-initiated connection must not open"
    );

    stop.store(true, Ordering::Relaxed);
    let b = bridge.join().expect("bridge thread");
    let c = b.engine.counters();
    assert!(
        c.dropped(DropReason::AclDeny) >= 1,
        "the refused SYN is counted"
    );
    assert_eq!(c.dropped(DropReason::TcpSeqPastWindow), 0);
    assert_eq!(c.dropped(DropReason::TcpAckPastWindow), 0);
    assert_eq!(c.normalizer.seq_randomized_conns, 1);
    assert_eq!(b.counters.truncated, 0);
    assert_eq!(b.counters.send_failed, 0);
}
