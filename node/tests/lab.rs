//! `rampart lab --json` end to end: the asymmetric topology, two node
//! processes sharing state over QUIC, real traffic: every kind passes,
//! asymmetric inspected flows included, and no node drops a packet for want
//! of state. Needs root.
#![cfg(target_os = "linux")]

use std::process::Command;

use rampart_node::lab::is_root;
use rampart_node::lab::report::LabReport;

#[test]
fn lab_json_reports_every_kind_passing_with_state_sync() {
    if !is_root() {
        eprintln!("skipped: rampart lab needs root");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["lab", "--json"])
        .output()
        .expect("run the lab");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        json.lines().count(),
        1,
        "only the JSON report on stdout: {json}"
    );
    let report: LabReport =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("the report: {e}: {json}"));
    let kinds: Vec<(&str, usize, usize, usize, usize)> = report
        .kinds
        .iter()
        .map(|k| {
            (
                k.kind.as_str(),
                k.attempted,
                k.succeeded,
                k.failed,
                k.bytes_verified,
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("tcp_symmetric_inspected", 10, 10, 0, 655_360),
            ("tcp_asymmetric_inspected", 10, 10, 0, 655_360),
            ("tcp_asymmetric_bypass", 10, 10, 0, 655_360),
            ("udp_asymmetric", 10, 10, 0, 220),
        ],
        "{json}"
    );
    assert_eq!(report.nodes.len(), 2, "{json}");
    // The pair was formed as in production: fw-a bootstrapped the Raft
    // log, fw-b joined; both run the committed policy and one key.
    let places: Vec<(&str, &str, bool)> = report
        .nodes
        .iter()
        .map(|n| {
            (
                n.node.as_str(),
                n.cluster.raft_role.as_str(),
                n.cluster.seq_key_shared,
            )
        })
        .collect();
    assert_eq!(
        places,
        [("fw-a", "leader", true), ("fw-b", "follower", true)],
        "{json}"
    );
    assert!(report.nodes.iter().all(|n| n.cluster.policy_version >= 1));
    for node in &report.nodes {
        for want_of_state in [
            "tcp-not-syn",
            "icmp-no-connection",
            "inspect-icmp-seq-num-not-matched",
            "tcp-seq-past-win",
            "tcp-invalid-ack",
            "tcp-invalid-state",
            "tcp-data-past-fin",
            "acl-drop",
        ] {
            assert_eq!(
                node.summary.counters.drops_of(want_of_state),
                0,
                "no drop for want of state ({want_of_state}): {json}"
            );
        }
        // Both nodes exchanged events in both directions.
        assert!(node.sync_events_sent > 0, "{json}");
        assert!(node.sync_events_received > 0, "{json}");
        // The report shows the node's table and metrics, taken from its
        // admin API and /metrics while it ran.
        assert!(node.conns.in_use > 0, "{json}");
        assert!(!node.metrics.is_empty(), "{json}");
    }
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    assert!(
        !left.lines().any(|l| l.starts_with("rp-lab")),
        "the lab removed its namespaces: {left}"
    );
}

#[test]
fn lab_up_keeps_a_working_lab_until_lab_down_removes_it() {
    if !is_root() {
        eprintln!("skipped: rampart lab needs root");
        return;
    }
    let prefix = format!("rp-lu{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("rampart-labup-{}", std::process::id()));
    let rampart = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(args)
            .output()
            .expect("run rampart")
    };
    let d = dir.to_str().unwrap();
    let up = rampart(&["lab", "up", "--prefix", &prefix, "--dir", d]);
    let down = || rampart(&["lab", "down", "--dir", d]);
    if !up.status.success() {
        down();
        panic!("lab up: {}", String::from_utf8_lossy(&up.stderr));
    }
    // A second `up` on the same directory is refused.
    let again = rampart(&["lab", "up", "--prefix", &prefix, "--dir", d]);
    // Asymmetric ping through both nodes, while the lab stays up: the
    // lab inspects ICMP, so each reply crosses the node that did not see
    // its request and passes once that node hears of it.
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{prefix}-c"),
            "ping",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
        ])
        .args(["-I", "198.18.10.10", "198.18.20.20"])
        .output()
        .expect("ping");
    let out = down();
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!again.status.success(), "a second lab up is refused");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already up"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        ping.status.success() && String::from_utf8_lossy(&ping.stdout).contains(" 3 received"),
        "every request answered: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("the lab is down"),
        "{text}"
    );
    assert_eq!(text.matches("stopped node process").count(), 2, "{text}");
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains(&prefix),
        "namespaces removed"
    );
    assert!(!dir.exists(), "files removed");
}
