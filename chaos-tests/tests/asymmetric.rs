//! The asymmetric topology with two in-process bridges (node A and node
//! B) that share no state, and real kernel TCP: what two unsynced
//! firewalls do, the case state sync exists for (docs/sync.md) —
//! symmetric inspected connections work; asymmetric inspected ones fail at
//! node B, which never saw the SYN (counted `tcp-not-syn`); asymmetric
//! connections in a tcp-state-bypass class work on local state alone,
//! which is why bypass flows never need syncing.
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
use rampart_dataplane::policy::compile::compile;
use rampart_dataplane::policy::parse::parse_config;
use rampart_dataplane::{DropReason, Engine, EngineConfig};
use rampart_node::lab::{
    ASYM_CLIENT, ASYM_SERVER, AsymLab, Netns, NsThread, SYM_CLIENT, SYM_SERVER, fnv, is_root,
};
use socket2::{Domain, Socket, Type};

const POLICY: &str = "\
access-list BYP extended permit tcp any any eq 5002
access-list BYP extended permit tcp any eq 5002 any
access-list OUTSIDE_IN extended permit tcp any eq 5002 any
access-group OUTSIDE_IN in interface outside
class-map BYP
 match access-list BYP
policy-map global_policy
 class BYP
  set connection advanced-options tcp-state-bypass
service-policy global_policy global
";

fn bridge(
    ns: &Netns,
    node: u16,
    inside: &'static str,
    outside: &'static str,
    stop: Arc<AtomicBool>,
) -> NsThread<Bridge> {
    ns.spawn(move || {
        let mut engine = Engine::new(EngineConfig::inside_outside(
            NodeId(node),
            [u64::from(node), 2, 3, 4],
        ))
        .unwrap();
        let cfg = parse_config(POLICY).expect("policy parses").config;
        engine
            .set_policy(Arc::new(
                compile(&cfg, &engine.config().interfaces).expect("policy compiles"),
            ))
            .expect("the policy's classes fit");
        let mut b = Bridge::new(
            PacketSocket::open(inside).unwrap(),
            PacketSocket::open(outside).unwrap(),
            engine,
        );
        b.run(&stop).expect("bridge");
        b
    })
    .expect("namespace thread")
}

/// Sets the bridges' stop flag on drop, so that their threads end also
/// when an assert fails (instead of spinning until the test binary exits).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Serve one connection on `addr`: read everything, answer its digest.
/// Returns once the server listens (a client's SYN before that would be
/// answered with a RST and the exchange would fail for the wrong reason).
fn serve(ns: &Netns, addr: &'static str, port: u16) -> NsThread<()> {
    let (listening, ready) = std::sync::mpsc::channel();
    let t = ns
        .spawn(move || {
            let l = TcpListener::bind((addr, port)).expect("listen");
            l.set_nonblocking(true).unwrap();
            let _ = listening.send(());
            // Bounded: the asymmetric inspected case never connects.
            for _ in 0..400 {
                match l.accept() {
                    Ok((mut conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                        let mut data = Vec::new();
                        if conn.read_to_end(&mut data).is_ok() {
                            let _ = conn.write_all(&fnv(&data).to_be_bytes());
                        }
                        return;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
        .expect("namespace thread");
    ready
        .recv_timeout(Duration::from_secs(5))
        .expect("the server listens");
    t
}

/// Connect from `src` to `dst:port`, send 100 kB, check the digest.
fn exchange(ns: &Netns, src: &'static str, dst: &'static str, port: u16) -> bool {
    ns.spawn(move || {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.bind(&SocketAddr::from((src.parse::<std::net::Ipv4Addr>().unwrap(), 0)).into())
            .unwrap();
        let to: SocketAddr = (dst.parse::<std::net::Ipv4Addr>().unwrap(), port).into();
        if s.connect_timeout(&to.into(), Duration::from_secs(2))
            .is_err()
        {
            return false;
        }
        let mut s: TcpStream = s.into();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        if s.write_all(&payload).is_err() || s.shutdown(std::net::Shutdown::Write).is_err() {
            return false;
        }
        let mut reply = [0u8; 8];
        s.read_exact(&mut reply).is_ok() && u64::from_be_bytes(reply) == fnv(&payload)
    })
    .expect("namespace thread")
    .join()
    .unwrap()
}

#[test]
fn before_sync_only_symmetric_and_bypass_flows_cross_asymmetric_paths() {
    if !is_root() {
        eprintln!("skipped: network namespaces and AF_PACKET need root");
        return;
    }
    let lab = AsymLab::new(&format!("rp-as{}", std::process::id())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Dropped before the namespaces (declared after them).
    let stopping = StopOnDrop(stop.clone());
    let a = bridge(&lab.node_a, 1, "ca1", "as1", stop.clone());
    let b = bridge(&lab.node_b, 2, "cb1", "bs1", stop.clone());
    std::thread::sleep(Duration::from_millis(100));

    let srv = serve(&lab.server, SYM_SERVER, 5001);
    assert!(
        exchange(&lab.client, SYM_CLIENT, SYM_SERVER, 5001),
        "symmetric inspected connection"
    );
    srv.join().unwrap();

    let srv = serve(&lab.server, ASYM_SERVER, 5002);
    assert!(
        exchange(&lab.client, ASYM_CLIENT, ASYM_SERVER, 5002),
        "asymmetric bypass connection"
    );
    srv.join().unwrap();

    let srv = serve(&lab.server, ASYM_SERVER, 5001);
    assert!(
        !exchange(&lab.client, ASYM_CLIENT, ASYM_SERVER, 5001),
        "asymmetric inspected connection must fail without sync"
    );
    srv.join().unwrap();

    drop(stopping);
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert!(
        b.engine.counters().dropped(DropReason::TcpNotSyn) >= 1,
        "node B drops the SYN-ACK it has no state for"
    );
    assert!(
        a.engine.counters().bypass_conns_created >= 1
            && b.engine.counters().bypass_conns_created >= 1
    );
}
