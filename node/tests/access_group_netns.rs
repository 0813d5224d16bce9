//! `access-group … global` and `access-group … out interface …` on a real
//! node (docs/asa-behaviour.md §2.3): UDP from the inside host to four
//! ports meets the inside list, then the global list, then the outside
//! interface's out list; the server receives exactly what all three let
//! through, and `show access-list` counts each list's entries. Needs
//! root, as CI has; builds and removes its own namespaces.
#![cfg(target_os = "linux")]
// Test threads enter namespaces and keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rampart_node::lab::{Lab, NodeProc, Role, is_root};

/// Datagrams sent to each port, each from its own source port.
const FLOWS: u64 = 10;
/// Ports 5501 (the inside list permits), 5502 (the global list permits),
/// 5503 (the global list permits, the out list denies) and 5504 (no list
/// permits: the implicit deny after the global list).
const PORTS: [u16; 4] = [5501, 5502, 5503, 5504];
/// How long the node may take to count what was sent.
const WAIT: Duration = Duration::from_secs(5);

const POLICY: &str = "\
access-list OWN extended permit udp any any eq 5501
access-list GLOBAL extended permit udp any any eq 5502
access-list GLOBAL extended permit udp any any eq 5503
access-list OUTSIDE_OUT extended deny udp any any eq 5503
access-list OUTSIDE_OUT extended permit udp any any
access-group OWN in interface inside
access-group GLOBAL global
access-group OUTSIDE_OUT out interface outside
";

/// The server's sockets, bound before anything is sent; how many
/// datagrams each port received within `for_how_long`.
fn receive(for_how_long: Duration) -> impl FnOnce() -> Vec<u64> + Send {
    move || {
        let sockets: Vec<UdpSocket> = PORTS
            .iter()
            .map(|p| {
                let s =
                    UdpSocket::bind(SocketAddr::new("198.18.0.20".parse().unwrap(), *p)).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
                s
            })
            .collect();
        let mut got = vec![0; PORTS.len()];
        let end = Instant::now() + for_how_long;
        let mut buf = [0u8; 64];
        while Instant::now() < end {
            for (s, n) in sockets.iter().zip(&mut got) {
                while s.recv(&mut buf).is_ok() {
                    *n += 1;
                }
            }
        }
        got
    }
}

fn send() -> impl FnOnce() + Send {
    || {
        // Every socket stays open until all are sent, so no two flows to
        // one port share an ephemeral port.
        let socks: Vec<UdpSocket> = (0..FLOWS)
            .map(|_| UdpSocket::bind("198.18.0.10:0").unwrap())
            .collect();
        for port in PORTS {
            let to = SocketAddr::new("198.18.0.20".parse().unwrap(), port);
            for s in &socks {
                s.send_to(b"one", to).unwrap();
            }
        }
    }
}

/// Each list's entries' hit counts, once they reach `want` or at [`WAIT`].
fn counts(node: &NodeProc, want: &[Vec<Option<u64>>]) -> Vec<Vec<Option<u64>>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got: Vec<Vec<Option<u64>>> = ["OWN", "GLOBAL", "OUTSIDE_OUT"]
            .iter()
            .map(|name| {
                let lists = node
                    .access_lists(Some(name))
                    .unwrap_or_else(|e| panic!("{e}"));
                lists.lists[0].lines.iter().map(|l| l.hitcnt).collect()
            })
            .collect();
        if got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_real_node_judges_by_its_own_global_and_out_lists_in_order() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-ag{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-ag-{}", std::process::id()));
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rampart"));
    let node = lab
        .start_node(exe, &dir, POLICY, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let server = lab
        .spawn(Role::Server, receive(Duration::from_secs(3)))
        .expect("namespace thread");
    // The server's sockets are bound before the first datagram leaves.
    std::thread::sleep(Duration::from_millis(300));
    lab.spawn(Role::Client, send())
        .expect("namespace thread")
        .join()
        .unwrap();
    let want = vec![
        vec![Some(FLOWS)],
        vec![Some(FLOWS), Some(FLOWS)],
        vec![Some(FLOWS), Some(2 * FLOWS)],
    ];
    let got = counts(&node, &want);
    let received = server.join().unwrap();
    let summary = node.stop().unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(&dir).ok();
    let err = format!("{summary:?}");
    assert_eq!(received, [FLOWS, FLOWS, 0, 0], "{err}");
    assert_eq!(got, want, "{err}");
}
