//! `show access-list` of a real node: UDP from the client's namespace
//! through `rampart run` with two workers (the fanout spreads the flows
//! over both), each flow opened by the inside access-group's permit entry
//! and each datagram to a denied port dropped by its deny entry; the
//! admin API sums the workers' counts per entry, and `clear access-list`
//! zeroes them (docs/asa-behaviour.md §2.9). An entry over a group of two
//! server addresses counts a flow to each on its own element. Needs root, as CI has; builds
//! and removes its own namespaces.
#![cfg(target_os = "linux")]
// Test threads enter namespaces and keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rampart_node::lab::netns::sh;
use rampart_node::lab::{Lab, NodeProc, Role, is_root};

/// Worker threads of the node: the counts of both are summed.
const WORKERS: usize = 2;
/// Flows opened to the permitted port, each from its own source port.
const FLOWS: usize = 40;
/// Datagrams sent to the denied port.
const DENIED: usize = 7;
const OPEN_PORT: u16 = 5402;
const DENIED_PORT: u16 = 5403;
/// The port of the entry over the group of both server addresses.
const GROUP_PORT: u16 = 5404;
/// The server's second address, a member of the group.
const SECOND: &str = "198.18.0.21";
/// How long the node may take to count what was sent.
const WAIT: Duration = Duration::from_secs(5);

const POLICY: &str = "\
hostname fw-a
object-group network SERVERS
 network-object host 198.18.0.20
 network-object host 198.18.0.21
access-list IN remark UDP to one port; none to the other
access-list IN extended deny udp any any eq 5403
access-list IN extended permit udp any any eq 5402
access-list IN extended permit udp any object-group SERVERS eq 5404
access-list IN extended permit tcp any any
access-group IN in interface inside
";

/// From inside: a datagram from each of [`FLOWS`] sockets to the open
/// port, then [`DENIED`] to the denied one, each twice from one socket
/// (its flow's second datagram is not judged by the rules).
fn send() -> impl FnOnce() + Send {
    || {
        let to = |port| SocketAddr::new("198.18.0.20".parse().unwrap(), port);
        // Every socket stays open until all are sent, so the kernel cannot
        // hand one ephemeral port out twice and merge two flows into one.
        let socks: Vec<UdpSocket> = (0..FLOWS)
            .map(|_| UdpSocket::bind("198.18.0.10:0").unwrap())
            .collect();
        for s in &socks {
            s.send_to(b"one", to(OPEN_PORT)).unwrap();
            s.send_to(b"two", to(OPEN_PORT)).unwrap();
        }
        let s = UdpSocket::bind("198.18.0.10:0").unwrap();
        for _ in 0..DENIED {
            s.send_to(b"no", to(DENIED_PORT)).unwrap();
        }
        // One flow to each member of the group.
        for server in ["198.18.0.20", SECOND] {
            let to = SocketAddr::new(server.parse().unwrap(), GROUP_PORT);
            s.send_to(b"member", to).unwrap();
        }
    }
}

/// The hit counts of the inside list, then those of the group entry's
/// elements, once they reach `want` or at [`WAIT`].
type Counts = (Vec<Option<u64>>, Vec<u64>);

fn counts(node: &NodeProc, want: &Counts) -> Counts {
    let deadline = Instant::now() + WAIT;
    loop {
        let lists = node
            .access_lists(Some("IN"))
            .unwrap_or_else(|e| panic!("{e}"));
        let lines = &lists.lists[0].lines;
        let got: Counts = (
            lines.iter().map(|l| l.hitcnt).collect(),
            lines[3].children.iter().map(|c| c.hitcnt).collect(),
        );
        if got == *want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_real_node_counts_each_flow_once_on_its_entry() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-acl{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-acl-{}", std::process::id()));
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rampart"));
    let server = lab.ns(Role::Server);
    sh(&[
        "ip",
        "-n",
        &server,
        "addr",
        "add",
        &format!("{SECOND}/24"),
        "dev",
        "s0",
    ])
    .unwrap();
    let node = lab
        .start_node(exe, &dir, POLICY, WORKERS)
        .unwrap_or_else(|e| panic!("{e}"));
    lab.spawn(Role::Client, send())
        .expect("namespace thread")
        .join()
        .unwrap();
    let want = (
        vec![
            None,
            Some(DENIED as u64),
            Some(FLOWS as u64),
            Some(2),
            Some(0),
        ],
        vec![1, 1],
    );
    let before = counts(&node, &want);
    let cleared = node.endpoint().clear_access_lists(Some("IN"));
    let zero = (vec![None, Some(0), Some(0), Some(0), Some(0)], vec![0, 0]);
    let after = counts(&node, &zero);
    let summary = node.stop().unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(&dir).ok();
    let err = format!("{summary:?}");
    assert_eq!(before, want, "{err}");
    assert_eq!(cleared.unwrap_or_else(|e| panic!("{e}")), ["IN"]);
    assert_eq!(after, zero, "{err}");
    // The server's kernel answers datagrams to closed ports with port
    // unreachables, which the security levels deny (the outside has no
    // access-group): dropped as `acl-drop` too, on no entry.
    assert!(
        summary.counters.drops_of("acl-drop") >= DENIED as u64,
        "{err}"
    );
}
