//! `rampart lab --nodes N --json` end to end: the mesh topology with N
//! real node processes in one cluster and the four kinds of traffic, each
//! flow out through one node and back through another drawn from a fixed
//! seed. Every kind passes for N = 4 and N = 3, no node drops a packet for
//! want of state, every node reports its table and its sync traffic, and
//! the lab leaves no namespace behind — also when the run fails or hangs
//! (the test's guard removes what is left under its prefix).
//!
//! Needs root (CI is root); skipped with a message otherwise. The
//! argument checks run without root.
#![cfg(target_os = "linux")]
// Tests bound the child's run with the wall clock.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Leftovers, wait_bounded};
use rampart_node::lab::chaos::bench::WANT_OF_STATE;
use rampart_node::lab::is_root;
use rampart_node::lab::mesh::report::MeshReport;

/// Flows per kind: enough to cross many pairs, small enough for a run of
/// a few seconds on two cores.
const FLOWS: usize = 6;
/// The seed of the paths (any failure replays with `--seed`).
const SEED: u64 = 20_241_204;
/// The longest a lab run may take before the test ends it.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Run the mesh lab with `nodes` nodes (and `copies`, if given) under a
/// prefix of this test's own and check its report.
fn mesh_lab_passes(nodes: usize, copies: Option<usize>) {
    if !is_root() {
        eprintln!("skipped: rampart lab needs root");
        return;
    }
    let guard = Leftovers {
        prefix: format!("rp-t{nodes}{}m{}", copies.unwrap_or(0), std::process::id()),
    };
    let t0 = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["lab", "--json", "--nodes", &nodes.to_string()])
        .args(["--flows", &FLOWS.to_string(), "--seed", &SEED.to_string()])
        .args(["--prefix", &guard.prefix])
        .args(
            copies
                .map(|k| vec!["--copies".to_string(), k.to_string()])
                .unwrap_or_default(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the lab");
    let (json, stderr, ok) = wait_bounded(child, RUN_LIMIT, || ());
    let took = t0.elapsed();
    let left = guard.namespaces();
    assert!(ok, "the lab failed or ran past {RUN_LIMIT:?}: {stderr}");
    eprintln!("{nodes} nodes: the lab ran in {took:?}");
    assert!(
        left.is_empty(),
        "the lab removed its namespaces, but left {left:?}"
    );
    assert_eq!(json.lines().count(), 1, "only the JSON report: {json}");
    let r: MeshReport =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("the report: {e}: {json}"));
    assert_eq!(
        (r.node_count, r.seed, r.flows_per_kind, r.copies),
        (nodes, SEED, FLOWS, copies)
    );
    let kinds: Vec<(&str, usize, usize, usize)> = r
        .kinds
        .iter()
        .map(|k| {
            let o = &k.outcome;
            (o.kind.as_str(), o.attempted, o.succeeded, o.failed)
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("tcp_symmetric_inspected", FLOWS, FLOWS, 0),
            ("tcp_asymmetric_inspected", FLOWS, FLOWS, 0),
            ("tcp_asymmetric_bypass", FLOWS, FLOWS, 0),
            ("udp_asymmetric", FLOWS, FLOWS, 0),
        ],
        "every flow of every kind passes (seed {SEED}): {json}"
    );
    let names: Vec<&str> = r.nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(names, ["fw-a", "fw-b", "fw-c", "fw-d"][..nodes], "{json}");
    for n in &r.nodes {
        let want_of_state: Vec<_> = n
            .drops
            .iter()
            .filter(|(reason, _)| WANT_OF_STATE.contains(&reason.as_str()))
            .collect();
        assert!(
            want_of_state.is_empty(),
            "{}: no drop for want of state: {json}",
            n.node
        );
        // With as many copies as nodes, every inspected flow and UDP
        // exchange is on every node, so each table holds at least those.
        if copies == Some(nodes) {
            assert!(
                n.conns.is_some_and(|c| c >= 3 * FLOWS as u64),
                "{}: {json}",
                n.node
            );
        }
        assert!(n.sync_bytes_out.is_some(), "{}: {json}", n.node);
        assert!(n.sync_events_out.is_some(), "{}: {json}", n.node);
        // One Raft cluster (fw-a bootstrapped it, the others joined): one
        // policy and one sequence-randomization key everywhere.
        assert!(n.cluster.seq_key_shared, "{}: {json}", n.node);
        assert!(n.cluster.policy_version >= 1, "{}: {json}", n.node);
    }
    let roles: Vec<&str> = r
        .nodes
        .iter()
        .map(|n| n.cluster.raft_role.as_str())
        .collect();
    assert_eq!(roles[0], "leader", "{json}");
    assert!(roles[1..].iter().all(|r| *r == "follower"), "{json}");
    // Otherwise (two copies by default) each of those flows is whole on
    // two nodes at least (docs/sync.md §13): the tables hold at least
    // twice as many entries between them.
    let held: u64 = r.nodes.iter().filter_map(|n| n.conns).sum();
    assert!(
        held >= 2 * 3 * FLOWS as u64,
        "{held} entries in all: {json}"
    );
    // Every node counts its entries by role; each flow has one owner, and
    // with more than two nodes some flows' directors are third nodes.
    for n in &r.nodes {
        let roles = n.roles;
        assert!(
            roles.owned.is_some() && roles.director.is_some() && roles.copy.is_some(),
            "{}: roles {roles:?}",
            n.node
        );
    }
    let owned: u64 = r.nodes.iter().filter_map(|n| n.roles.owned).sum();
    assert!(owned >= 3 * FLOWS as u64, "{owned} owned in all: {json}");
    if nodes > 2 {
        let directed: u64 = r.nodes.iter().filter_map(|n| n.roles.director).sum();
        assert!(directed > 0, "no entry held as director: {json}");
    }
    // Some node opened flows and sent their state; the ratio is defined.
    assert!(r.nodes.iter().any(|n| n.sync_bytes_out > Some(0)), "{json}");
    assert!(r.sync_bytes_per_new_flow.is_some_and(|b| b > 0.0), "{json}");
}

#[test]
fn four_node_mesh_lab_passes_every_kind() {
    mesh_lab_passes(4, None);
}

#[test]
fn four_node_mesh_lab_with_a_copy_on_every_node_passes_every_kind() {
    mesh_lab_passes(4, Some(4));
}

#[test]
fn three_node_mesh_lab_passes_every_kind() {
    mesh_lab_passes(3, None);
}

#[test]
fn copies_outside_one_to_the_nodes_is_refused() {
    for (nodes, copies) in [("3", "4"), ("3", "0")] {
        let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(["lab", "--nodes", nodes, "--copies", copies])
            .output()
            .expect("run rampart");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains(&format!(
                "--copies {copies}: must be 1 to {nodes}, the number of nodes"
            )),
            "{err}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["lab", "--copies", "2"])
        .output()
        .expect("run rampart");
    assert!(!out.status.success(), "--copies needs --nodes");
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["lab", "--nodes", "7"])
        .output()
        .expect("run rampart");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--nodes 7: the mesh lab has 2 to 6 nodes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
