//! Time-based entries on a real node (docs/asa-behaviour.md §2.10): the
//! node compiles the policy it starts with for the time-ranges active by
//! its clock, so UDP to a port whose permit names an always-active range
//! passes, the deny before it that names a range long ended decides
//! nothing, `show access-list` marks that deny `(inactive)` and `show
//! time-range` says which range is active. Needs root, as CI has; builds
//! and removes its own namespaces.
#![cfg(target_os = "linux")]
// Test threads enter namespaces and keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rampart_node::lab::{Lab, NodeProc, Role, is_root};

/// Flows opened to the port, each from its own source port.
const FLOWS: usize = 20;
const PORT: u16 = 5412;
/// How long the node may take to count what was sent.
const WAIT: Duration = Duration::from_secs(5);

const POLICY: &str = "\
hostname fw-a
clock timezone CET 1
clock summer-time CEST recurring last Sun Mar 2:00 last Sun Oct 3:00
time-range ALWAYS
 periodic daily 0:00 to 23:59
time-range ENDED
 absolute end 0:00 1 January 2020
access-list IN extended deny udp any any eq 5412 time-range ENDED
access-list IN extended permit udp any any eq 5412 time-range ALWAYS
access-list IN extended permit tcp any any
access-group IN in interface inside
";

fn send() -> impl FnOnce() + Send {
    || {
        let to = SocketAddr::new("198.18.0.20".parse().unwrap(), PORT);
        // Every socket stays open until all are sent, so no two flows
        // share an ephemeral port.
        let socks: Vec<UdpSocket> = (0..FLOWS)
            .map(|_| UdpSocket::bind("198.18.0.10:0").unwrap())
            .collect();
        for s in &socks {
            s.send_to(b"one", to).unwrap();
        }
    }
}

/// The inside list's (hit count, inactive) per entry, once the counts
/// reach `want` or at [`WAIT`].
fn entries(node: &NodeProc, want: &[(Option<u64>, bool)]) -> Vec<(Option<u64>, bool)> {
    let deadline = Instant::now() + WAIT;
    loop {
        let lists = node
            .access_lists(Some("IN"))
            .unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(Option<u64>, bool)> = lists.lists[0]
            .lines
            .iter()
            .map(|l| (l.hitcnt, l.inactive))
            .collect();
        if got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_real_node_starts_with_the_ranges_its_clock_makes_active() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-tr{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-tr-{}", std::process::id()));
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rampart"));
    let node = lab
        .start_node(exe, &dir, POLICY, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    lab.spawn(Role::Client, send())
        .expect("namespace thread")
        .join()
        .unwrap();
    let want = [
        (Some(0), true),
        (Some(FLOWS as u64), false),
        (Some(0), false),
    ];
    let got = entries(&node, &want);
    let ranges = node.endpoint().time_ranges();
    let summary = node.stop().unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(&dir).ok();
    let err = format!("{summary:?}");
    assert_eq!(got, want, "{err}");
    let ranges: Vec<(String, bool, bool)> = ranges
        .unwrap_or_else(|e| panic!("{e}"))
        .ranges
        .into_iter()
        .map(|r| (r.name, r.active, r.used))
        .collect();
    assert_eq!(
        ranges,
        [
            ("ALWAYS".to_string(), true, true),
            ("ENDED".to_string(), false, true)
        ]
    );
}
