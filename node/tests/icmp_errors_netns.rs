//! ICMP errors through `rampart run` with three workers: an error is
//! spread by the kernel's fanout by its own addresses, not by the ports of
//! the flow it quotes, so it mostly reaches a worker that does not hold
//! that flow; that worker's engine hands it to the flow's owner
//! (docs/io.md §9). From each of 48 client ports a UDP datagram goes to a
//! port nothing listens on; the server's kernel answers each with a port
//! unreachable, which `inspect icmp error` lets back for the flow, and
//! every client socket must hear it (`ECONNREFUSED`), IPv4 and IPv6.
//! Needs root, as CI has; builds and removes its own namespaces.
#![cfg(target_os = "linux")]
// Test threads enter namespaces and keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rampart_node::lab::{Lab, Role, is_root, sh};

/// Worker threads of the node: with three, most errors reach a worker
/// that does not own the flow they quote.
const WORKERS: usize = 3;
/// Client sockets, each its own source port and flow.
const FLOWS: usize = 48;
/// A port nothing listens on.
const CLOSED: u16 = 5401;
/// How long the errors may take.
const WAIT: Duration = Duration::from_secs(5);

/// UDP out from the inside; ICMP errors back for the flows they quote
/// (`inspect icmp error`); ICMPv6 for neighbour discovery.
const POLICY: &str = "\
hostname fw-a
access-list IN extended permit udp any any
access-list IN extended permit icmp6 any6 any6
access-group IN in interface inside
class-map inspection_default
 match default-inspection-traffic
policy-map global_policy
 class inspection_default
  inspect icmp
  inspect icmp error
service-policy global_policy global
";

/// Send one datagram from each of [`FLOWS`] sockets connected to
/// `server`'s closed port, and count those whose socket then reports the
/// port unreachable within [`WAIT`].
fn refused(client: &'static str, server: &'static str) -> impl FnOnce() -> usize + Send {
    move || {
        let to = SocketAddr::new(server.parse().unwrap(), CLOSED);
        let socks: Vec<UdpSocket> = (0..FLOWS)
            .map(|_| {
                let s = UdpSocket::bind(SocketAddr::new(client.parse().unwrap(), 0)).unwrap();
                s.connect(to).unwrap();
                s.set_nonblocking(true).unwrap();
                s
            })
            .collect();
        for s in &socks {
            s.send(b"anyone?").expect("send");
            // The server's kernel limits the errors it sends per second
            // (its sysctls are opened below, but not its global burst).
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut heard = [false; FLOWS];
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 64];
        while heard.iter().any(|h| !h) && Instant::now() < deadline {
            for (i, s) in socks.iter().enumerate() {
                if let Err(e) = s.recv(&mut buf)
                    && e.kind() == std::io::ErrorKind::ConnectionRefused
                {
                    heard[i] = true;
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        heard.iter().filter(|&&h| h).count()
    }
}

#[test]
fn icmp_errors_reach_the_worker_of_the_flow_they_quote() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-icm{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-icm-{}", std::process::id()));
    lab.add_ipv6().unwrap();
    // The server's kernel answers every datagram: no per-destination
    // limit on its errors (per namespace).
    for knob in ["net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0"] {
        sh(&[
            "ip",
            "netns",
            "exec",
            &lab.ns(Role::Server),
            "sysctl",
            "-qw",
            knob,
        ])
        .unwrap();
    }
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rampart"));
    let node = lab
        .start_node(exe, &dir, POLICY, WORKERS)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut results = Vec::new();
    for (name, client, server) in [
        ("IPv4", "198.18.0.10", "198.18.0.20"),
        ("IPv6", "2001:2::10", "2001:2::20"),
    ] {
        let heard = lab
            .spawn(Role::Client, refused(client, server))
            .expect("namespace thread")
            .join()
            .unwrap();
        results.push((name, heard));
    }
    let handed = node
        .metrics()
        .ok()
        .and_then(|t| rampart_ops::metrics::text::sample(&t, "rampart_worker_handoffs_total", &[]))
        .unwrap_or(0.0);
    let summary = node.stop().unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(&dir).ok();
    let err = format!("{results:?}\nhand-offs {handed}\n{summary:?}");
    for (name, heard) in &results {
        assert_eq!(
            *heard, FLOWS,
            "{name}: every client heard its port unreachable: {err}"
        );
    }
    assert_eq!(summary.counters.drops_of("icmp-no-connection"), 0, "{err}");
    assert!(handed > 0.0, "{err}");
}
