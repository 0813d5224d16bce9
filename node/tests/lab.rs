//! `rampart lab --json` end to end: the asymmetric topology, two node
//! processes sharing state over QUIC, real traffic: every kind passes,
//! asymmetric inspected flows included, and no node drops a packet for want
//! of state. The run is bounded in time (SIGINT, then SIGKILL, by its
//! PID) and leaves no namespace behind, also when it fails or hangs (the
//! test's guard removes what is left under its prefix). Needs root.
#![cfg(target_os = "linux")]
// Tests bound the child's run with the wall clock.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Leftovers, wait_bounded};
use rampart_node::lab::is_root;
use rampart_node::lab::report::LabReport;

/// The longest a lab run may take before the test ends it.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// The longest `rampart lab up` or `lab down` may take (each waits for
/// the nodes to start or stop).
const UP_DOWN_LIMIT: Duration = Duration::from_secs(60);

/// The test's directory, removed on drop (also on a failed assert).
struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn lab_json_reports_every_kind_passing_with_state_sync() {
    if !is_root() {
        eprintln!("skipped: rampart lab needs root");
        return;
    }
    let child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["lab", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the lab");
    // `--prefix` goes only with `--nodes`: the two-node lab names its
    // namespaces after its own PID, `rp-lab<pid>-…`, and keeps its files
    // in `<tmp>/rampart-lab-<pid>` (lab::run), unique to this run. The
    // guards clean up there, and only there, if the run fails or hangs.
    let guard = Leftovers {
        prefix: format!("rp-lab{}", child.id()),
    };
    let _files = Dir(std::env::temp_dir().join(format!("rampart-lab-{}", child.id())));
    // That the namespaces were seen while the lab ran keeps the check of
    // their removal below from passing on a name that no longer matches.
    let mut seen = false;
    let (json, stderr, ok) = wait_bounded(child, RUN_LIMIT, || {
        seen = seen || !guard.namespaces().is_empty();
    });
    let left = guard.namespaces();
    assert!(ok, "the lab failed or ran past {RUN_LIMIT:?}: {stderr}");
    assert!(
        seen,
        "the lab's namespaces, {}-…, were never seen while it ran",
        guard.prefix
    );
    assert!(
        left.is_empty(),
        "the lab removed its namespaces, but left {left:?}"
    );
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
}

#[test]
fn lab_up_keeps_a_working_lab_until_lab_down_removes_it() {
    if !is_root() {
        eprintln!("skipped: rampart lab needs root");
        return;
    }
    let prefix = format!("rp-lu{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("rampart-labup-{}", std::process::id()));
    // If `lab down` does not run or fails: the nodes killed by PID, the
    // namespaces and files removed (declared first, dropped last).
    let guard = Leftovers {
        prefix: prefix.clone(),
    };
    let _files = Dir(dir.clone());
    // Each command bounded: `up` and `down` wait for the nodes.
    let rampart = |args: &[&str]| {
        let child = Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run rampart");
        wait_bounded(child, UP_DOWN_LIMIT, || ())
    };
    let d = dir.to_str().unwrap();
    let up = rampart(&["lab", "up", "--prefix", &prefix, "--dir", d]);
    let down = || rampart(&["lab", "down", "--dir", d]);
    if !up.2 {
        down();
        panic!("lab up failed or ran past {UP_DOWN_LIMIT:?}: {}", up.1);
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
    let left = guard.namespaces();
    assert!(!again.2, "a second lab up is refused");
    assert!(again.1.contains("already up"), "{}", again.1);
    assert!(
        ping.status.success() && String::from_utf8_lossy(&ping.stdout).contains(" 3 received"),
        "every request answered: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let text = &out.0;
    assert!(
        out.2 && text.contains("the lab is down"),
        "{text} {}",
        out.1
    );
    assert_eq!(text.matches("stopped node process").count(), 2, "{text}");
    assert!(left.is_empty(), "namespaces removed, but left {left:?}");
    assert!(!dir.exists(), "files removed");
}
