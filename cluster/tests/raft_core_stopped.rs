//! When Raft's core ends on a node (a fatal storage error, a panic, a
//! shutdown), the node says so: its status is `Stopped` with the reason
//! and no leader, and writes and membership changes on it fail at once
//! instead of waiting out their budget and blaming the quorum. A core
//! that panics reports nothing: only its closed metrics channel shows it
//! (docs/ARCHITECTURE.md §7).

// Tests wait on real sockets with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::raft_lab::{Lab, policy, wait_until};
use openraft::raft::AppendEntriesRequest;
use rampart_cluster::raft::{
    Entry, MembershipError, NodeId, PolicyCmd, Role, TypeConfig, WriteError,
};

/// What a healthy node answers at once, and a stopped one used to wait
/// for: well under the write budget (3 s in these tests).
const AT_ONCE: Duration = Duration::from_secs(1);

/// A three-node cluster with a policy written; the leader and a follower.
async fn cluster(tag: &str) -> (Lab, NodeId, NodeId) {
    let (lab, leader) = Lab::formed_and_written(tag, 3).await;
    let follower = lab
        .running()
        .into_iter()
        .find(|i| *i != leader)
        .expect("a follower");
    (lab, leader, follower)
}

/// `victim`'s Raft has ended: its status says so, and it fails writes
/// and membership changes at once with its own fault; the others commit.
async fn shows_stopped(lab: &Lab, leader: NodeId, victim: NodeId) {
    let node = lab.node(victim);
    wait_until("the victim's status shows its core ended", || {
        node.status().role == Role::Stopped
    })
    .await;
    let st = node.status();
    assert!(st.stopped.is_some(), "{st:?}");
    assert_eq!(st.leader, None, "a stopped core follows no leader: {st:?}");
    let t0 = Instant::now();
    let w = node.write(&policy(7003)).await;
    assert!(matches!(w, Err(WriteError::Stopped { .. })), "{w:?}");
    assert!(t0.elapsed() < AT_ONCE, "answered after {:?}", t0.elapsed());
    let t0 = Instant::now();
    let j = node.join(9, lab.member(1)).await;
    assert!(matches!(j, Err(MembershipError::Stopped { .. })), "{j:?}");
    assert!(t0.elapsed() < AT_ONCE, "answered after {:?}", t0.elapsed());
    // The others keep the cluster going.
    let v = lab.node(leader).write(&policy(7004)).await.expect("write");
    for id in lab.running().into_iter().filter(|i| *i != victim) {
        assert_eq!(lab.wait_version(id, v).await.version, v);
    }
}

/// The core panics (openraft's own check of an append, in a build with
/// debug assertions; without them the entry is stored and the next apply
/// is a fatal storage error). The entry reaches openraft directly, as no
/// peer's can any more (`raft_member_entries.rs`). Before the fix the
/// status kept the core's last reading (a follower of a leader, running),
/// and a write waited out its budget and reported no quorum.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_core_that_dies_shows_as_stopped_and_fails_writes_at_once() {
    let (lab, leader, victim) = cluster("core-dies").await;
    // The victim may have stored an entry it has not yet applied (the
    // leader's commit index reaches it with the next heartbeat); the
    // forged append follows the victim's last entry, applied.
    let raft = lab.node(victim).raft();
    wait_until("the victim applied every entry it stored", || {
        let m = raft.metrics().borrow().clone();
        m.last_applied.map(|l| l.index) == m.last_log_index
    })
    .await;
    let m = raft.metrics().borrow().clone();
    let last = m.last_log_index.expect("a log");
    let prev = m.last_applied.expect("applied");
    assert_eq!(prev.index, last);
    let gap = openraft::LogId::new(*prev.committed_leader_id(), last + 5);
    let req = AppendEntriesRequest::<TypeConfig> {
        vote: openraft::Vote::new_committed(m.current_term, leader),
        prev_log_id: Some(prev),
        entries: vec![Entry {
            log_id: gap,
            payload: openraft::EntryPayload::Normal(PolicyCmd::SetConfig { text: policy(6666) }),
        }],
        leader_commit: Some(gap),
    };
    let _ = lab.node(victim).raft().append_entries(req).await;
    shows_stopped(&lab, leader, victim).await;
    lab.shutdown().await;
}

/// openraft's own shutdown: the core reports it stopped. The status
/// named the leader of its last reading all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_core_shut_down_shows_as_stopped() {
    let (lab, leader, victim) = cluster("core-shutdown").await;
    lab.node(victim)
        .raft()
        .shutdown()
        .await
        .expect("the core stops");
    shows_stopped(&lab, leader, victim).await;
    let why = lab.node(victim).status().stopped.expect("stopped");
    assert!(why.contains("raft stopped"), "{why}");
    lab.shutdown().await;
}
