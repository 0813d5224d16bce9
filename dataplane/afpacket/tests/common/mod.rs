//! What the bridge tests share (`mod common;`): the bridge in a lab's node
//! namespace, 1 MB of TCP through it checked end to end, and a connection
//! opened from the outside, which the engine must drop and count.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rampart_afpacket::bridge::Bridge;
use rampart_afpacket::io::PacketIo;
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::{DropReason, Engine, EngineConfig};
use rampart_node::lab::{Lab, NsThread, Role, fnv};

/// Run the bridge (ASA defaults) in `lab`'s node namespace between `c1`
/// and `s1`, each opened by `open`, until `stop` is set; the thread gives
/// the bridge back for its counters.
pub fn spawn_bridge<S: Into<PacketIo>>(
    lab: &Lab,
    stop: &Arc<AtomicBool>,
    open: impl Fn(&'static str) -> S + Send + 'static,
) -> NsThread<Bridge> {
    let stop = stop.clone();
    lab.spawn(Role::Node, move || {
        let engine =
            Engine::new(EngineConfig::inside_outside(NodeId(1), [9, 8, 7, 6])).expect("engine");
        let mut b = Bridge::new(open("c1"), open("s1"), engine);
        b.run(&stop).expect("bridge runs");
        b
    })
    .expect("namespace thread")
}

/// Send `bytes` of TCP from the client to the server through the bridge
/// and read back the server's digest of what it received. Returns that
/// digest, the digest of what was sent, and how many bytes the server
/// received.
pub fn tcp_through(lab: &Lab, bytes: u32) -> (u64, u64, usize) {
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
    let payload: Vec<u8> = (0..bytes)
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
    (got, expect, server.join().expect("server"))
}

/// Whether a connection opened from the outside (security 0 → 100) fails.
pub fn outside_connect_fails(lab: &Lab) -> bool {
    lab.spawn(Role::Server, || {
        let addr: SocketAddr = "198.18.0.10:5002".parse().unwrap();
        TcpStream::connect_timeout(&addr, Duration::from_millis(800)).is_err()
    })
    .expect("namespace thread")
    .join()
    .unwrap()
}

/// Stop the bridge `spawn_bridge` started and check what every bridge
/// test expects of it: the refused SYN counted, no segment outside the
/// window, no frame truncated or left unsent. Returns the bridge.
pub fn stop_and_check(stop: &AtomicBool, bridge: NsThread<Bridge>) -> Bridge {
    stop.store(true, Ordering::Relaxed);
    let b = bridge.join().expect("bridge thread");
    let c = b.engine.counters();
    assert!(
        c.dropped(DropReason::AclDeny) >= 1,
        "the refused SYN is counted"
    );
    assert_eq!(c.dropped(DropReason::TcpSeqPastWindow), 0);
    assert_eq!(c.dropped(DropReason::TcpAckPastWindow), 0);
    assert_eq!(b.counters.truncated, 0);
    assert_eq!(b.counters.send_failed, 0);
    b
}
