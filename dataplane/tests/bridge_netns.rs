//! Real TCP through the bridge: a client and a server namespace joined
//! only through a node namespace where the AF_PACKET bridge runs the engine
//! (ASA defaults: strict tracking, normalizer, sequence randomization).
//! Namespaces are created and removed by the test; needs root (CI is root).
#![cfg(target_os = "linux")]
// Test threads enter namespaces and keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::io::afpacket::PacketSocket;
use rampart_dataplane::io::bridge::Bridge;
use rampart_dataplane::{DropReason, Engine, EngineConfig};

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("command runs");
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three namespaces and two veth pairs, removed on drop.
struct Lab {
    prefix: String,
}

impl Lab {
    fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    fn new() -> Lab {
        let lab = Lab {
            prefix: format!("rp-br{}", std::process::id()),
        };
        for role in ["c", "s", "n"] {
            sh(&["ip", "netns", "add", &lab.ns(role)]);
        }
        let (c, s, n) = (lab.ns("c"), lab.ns("s"), lab.ns("n"));
        sh(&[
            "ip", "-n", &c, "link", "add", "c0", "type", "veth", "peer", "name", "c1", "netns", &n,
        ]);
        sh(&[
            "ip", "-n", &s, "link", "add", "s0", "type", "veth", "peer", "name", "s1", "netns", &n,
        ]);
        sh(&["ip", "-n", &c, "addr", "add", "198.18.0.10/24", "dev", "c0"]);
        sh(&["ip", "-n", &s, "addr", "add", "198.18.0.20/24", "dev", "s0"]);
        // Segmentation offloads off: AF_PACKET would otherwise hand the
        // bridge 64 KiB super-frames it cannot send as they are. Transmit
        // checksums stay partial, which the bridge completes.
        for (ns, dev) in [(&c, "c0"), (&s, "s0"), (&n, "c1"), (&n, "s1")] {
            sh(&[
                "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro",
                "off",
            ]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        lab
    }

    /// Run `f` on a new thread inside namespace `role`.
    fn spawn<T: Send + 'static>(
        &self,
        role: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.ns(role));
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("namespace file");
            // SAFETY: a valid namespace fd; setns affects only this thread.
            let r =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for role in ["c", "s", "n"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(role)])
                .status();
        }
    }
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn tcp_through_the_bridge_is_inspected_and_delivered_intact() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: network namespaces and AF_PACKET need root");
        return;
    }
    let lab = Lab::new();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_bridge = stop.clone();
    let bridge = lab.spawn("n", move || {
        let inside = PacketSocket::open("c1").expect("c1");
        let outside = PacketSocket::open("s1").expect("s1");
        let engine =
            Engine::new(EngineConfig::inside_outside(NodeId(1), [9, 8, 7, 6])).expect("engine");
        let mut b = Bridge::new(inside, outside, engine);
        b.run(&stop_bridge).expect("bridge runs");
        b
    });

    let server = lab.spawn("s", || {
        let l = TcpListener::bind("198.18.0.20:5001").expect("listen");
        let (mut conn, _) = l.accept().expect("accept");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut data = Vec::new();
        conn.read_to_end(&mut data).expect("read");
        conn.write_all(&fnv(&data).to_be_bytes()).expect("reply");
        data.len()
    });
    std::thread::sleep(Duration::from_millis(200));

    let payload: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let expect = fnv(&payload);
    let client = lab.spawn("c", move || {
        let addr: SocketAddr = "198.18.0.20:5001".parse().unwrap();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .expect("connect through the bridge");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&payload).expect("send");
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut reply = [0u8; 8];
        s.read_exact(&mut reply).expect("reply");
        u64::from_be_bytes(reply)
    });
    let got = client.join().expect("client");
    assert_eq!(server.join().expect("server"), 1_000_000);
    assert_eq!(got, expect, "the server received exactly the bytes sent");

    // A connection opened from the outside (security 0 → 100) is refused.
    let denied = lab.spawn("s", || {
        let addr: SocketAddr = "198.18.0.10:5002".parse().unwrap();
        TcpStream::connect_timeout(&addr, Duration::from_millis(800)).is_err()
    });
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
