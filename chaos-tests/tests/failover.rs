//! The failover scenarios of `rampart lab chaos` at CI size, one test each:
//! real `rampart run` processes in network namespaces, real traffic, a
//! node killed or frozen by PID with the hosts' routes moved at the same
//! instant, the sync link lossy or cut in the user-space relay, restarts,
//! the Raft leader killed mid-write (`node/src/lab/chaos/`).
//!
//! Acceptance per scenario: no established inspected connection lost or
//! corrupted, bypass streams intact, no UDP request and no ICMP echo
//! request of the datagram streams lost (each is resent every 200 ms and
//! lost when unanswered after 1 s; `node/src/lab/chaos/datagrams.rs`; in
//! cut-link they take the symmetric route, as the streams held to the
//! symmetric budget do), tables converged at its end (every running
//! node's compared; kill-a restarts A first; beyond a pair a closed
//! connection left on one node is reported, not failed: docs/sync.md
//! §13, "A known leftover"), and every check of the scenario held (its
//! verdict). Afterwards none of the test's
//! namespaces or node processes is left, whatever the outcome.
//!
//! The scenarios take turns (one lock): they measure stalls and lags,
//! which parallel scenarios on two cores would distort. Needs root;
//! skipped with a message otherwise.
#![cfg(target_os = "linux")]
// The scenarios keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;
use std::sync::Mutex;

use rampart_node::lab::chaos::report::{ScenarioRow, Verdict};
use rampart_node::lab::chaos::{Ctx, Size, run_one};
use rampart_node::lab::{is_root, raise_fd_limit};

/// One scenario at a time.
static TURN: Mutex<()> = Mutex::new(());

/// This test process's namespace prefix for scenario test `tag`.
fn prefix(tag: &str) -> String {
    format!("cf{tag}{}", std::process::id() % 10_000)
}

/// Namespaces whose name starts with `prefix`.
fn namespaces_left(prefix: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Processes whose command line names a file of the scenario's bench
/// (`rampart-chaos-<prefix>…`).
fn processes_left(prefix: &str) -> Vec<String> {
    let needle = format!("rampart-chaos-{prefix}");
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            found.push(format!("{name}: {cmdline}"));
        }
    }
    found
}

/// Run scenario `name` at CI size and check its acceptance.
fn scenario(tag: &str, name: &str) {
    if !is_root() {
        eprintln!("skipped: the failover scenarios need root (network namespaces, AF_PACKET)");
        return;
    }
    let exe = common::rampart_exe();
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    raise_fd_limit(65_536);
    let prefix = prefix(tag);
    let ctx = Ctx::new(
        exe,
        Size::Ci,
        &prefix,
        Box::new(|s| eprintln!("{s}")),
        || false,
    );
    let row = run_one(&ctx, name);
    let text = describe(&row);
    eprintln!("{text}");
    assert_eq!(
        namespaces_left(&prefix),
        Vec::<String>::new(),
        "namespaces left behind"
    );
    assert_eq!(
        processes_left(&prefix),
        Vec::<String>::new(),
        "processes left behind"
    );
    assert!(
        row.longest_stall_ms <= stall_budget_ms(name),
        "a stream stalled {} ms, over the scenario's {} ms: {text}",
        row.longest_stall_ms,
        stall_budget_ms(name)
    );
    if let Some(sym) = row.longest_symmetric_stall_ms {
        assert!(
            sym <= SYMMETRIC_STALL_BUDGET_MS,
            "a symmetric stream stalled {sym} ms, over {SYMMETRIC_STALL_BUDGET_MS} ms: {text}"
        );
    }
    if let Some(resync) = row.resync_ms {
        assert!(
            resync <= RESYNC_BUDGET_MS,
            "resync took {resync} ms, over {RESYNC_BUDGET_MS} ms: {text}"
        );
    }
    assert_eq!(row.lost, 0, "established connections lost: {text}");
    assert_eq!(row.corrupted, 0, "connections corrupted: {text}");
    assert!(row.udp_requests > 0, "no UDP request made: {text}");
    assert_eq!(row.udp_lost, 0, "UDP requests lost: {text}");
    assert!(row.icmp_requests > 0, "no ICMP echo request made: {text}");
    assert_eq!(row.icmp_lost, 0, "ICMP echo requests lost: {text}");
    assert_eq!(row.verdict, Verdict::Pass, "{text}");
}

/// The longest a stream may stall in a scenario: far above a healthy run
/// at CI size (55-260 ms on 2 shared cores), far below the 30 s at which
/// the harness counts a stream lost. cut-link stalls asymmetric streams for
/// its whole 10 s cut by design (strict tracking needs the peer's state):
/// they must resume within 8 s of the heal. Its symmetric streams are held
/// to [`SYMMETRIC_STALL_BUDGET_MS`] apart.
fn stall_budget_ms(name: &str) -> u64 {
    match name {
        "cut-link" => 18_000,
        _ => 5_000,
    }
}

/// The longest a stream on the symmetric route may stall, in any scenario:
/// its node sees both directions and needs no peer's state, so a cut sync
/// link is no reason for it to wait (docs/sync.md §4).
const SYMMETRIC_STALL_BUDGET_MS: u64 = 5_000;

/// Longest resync after a fault (a restart's bulk, a new Raft leader's
/// first commit): a healthy run takes 0.2-3 s.
const RESYNC_BUDGET_MS: u64 = 10_000;

fn describe(row: &ScenarioRow) -> String {
    format!(
        "{}: {:?}; {} connections, {} lost, {} corrupted, {} failed connects, UDP {} of {} requests lost, ICMP echo {} of {} lost, longest stall {} ms (symmetric streams {:?} ms), resync {:?} ms, {} s\n  {}",
        row.scenario,
        row.verdict,
        row.connections,
        row.lost,
        row.corrupted,
        row.failed_connects,
        row.udp_lost,
        row.udp_requests,
        row.icmp_lost,
        row.icmp_requests,
        row.longest_stall_ms,
        row.longest_symmetric_stall_ms,
        row.resync_ms,
        row.wall_ms / 1000,
        row.notes.join("\n  ")
    )
}

#[test]
fn kill_a_under_asymmetric_traffic() {
    scenario("1", "kill-a");
}

#[test]
fn freeze_a_then_thaw() {
    scenario("2", "freeze-a");
}

#[test]
fn lossy_sync_link() {
    scenario("3", "lossy-link");
}

#[test]
fn sync_link_cut_then_healed() {
    scenario("4", "cut-link");
}

#[test]
fn restart_with_wiped_data_directory() {
    scenario("5", "wiped-restart");
}

#[test]
fn raft_leader_killed_during_a_policy_write() {
    scenario("6", "raft-leader");
}

#[test]
fn bypass_and_inspected_through_a_failover() {
    scenario("7", "bypass-mixed");
}

#[test]
fn five_restarts_in_a_minute() {
    scenario("8", "restart-loop");
}
