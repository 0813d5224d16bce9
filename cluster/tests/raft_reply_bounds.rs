//! A member's replies are held to the bound on terms and log indexes that
//! its calls are held to (`cluster/src/raft/bounds.rs`): openraft adopts
//! any higher vote it meets in a reply, stores it, and its next election
//! asks for `term + 1`. A member answering with a term of `u64::MAX`
//! stopped Raft on every node, for good (docs/ARCHITECTURE.md §7).

// Tests wait on real sockets with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::raft_lab::{Lab, policy, test_settings, wait_until};
use openraft::Vote;
use openraft::raft::{AppendEntriesResponse, InstallSnapshotResponse, VoteResponse};
use rampart_cluster::raft::messages::{RaftReply, RaftRequest, decode_call};
use rampart_cluster::raft::{MAX_RAFT_NUMBER, NodeId, Role, codec};
use rampart_cluster::transport::RPC_SERVICE_RAFT;
use tokio::task::JoinHandle;

/// How long the lying member answers before the honest nodes are looked
/// at: a review saw both stop within 5 s.
const LIE_FOR: Duration = Duration::from_secs(5);

/// What the lying member was asked, by kind.
#[derive(Default)]
struct Asked {
    appends: AtomicU64,
    votes: AtomicU64,
}

/// Serve `attacker`'s Raft RPCs (its Raft shut, its transport up) with a
/// vote of term `u64::MAX` in every reply: a HigherVote to every
/// AppendEntries, a refused vote to every Vote, the same vote to every
/// snapshot chunk.
fn lie(lab: &Lab, attacker: NodeId, asked: Arc<Asked>) -> JoinHandle<()> {
    let mut calls = lab.transport(attacker).serve_rpcs(RPC_SERVICE_RAFT);
    tokio::spawn(async move {
        let huge = Vote::new(u64::MAX, attacker);
        while let Some(call) = calls.recv().await {
            let reply = match decode_call(&call.request).map(|c| c.request) {
                Ok(RaftRequest::AppendEntries(_)) => {
                    asked.appends.fetch_add(1, Ordering::Relaxed);
                    RaftReply::AppendEntries(Ok(AppendEntriesResponse::HigherVote(huge)))
                }
                Ok(RaftRequest::Vote(_)) => {
                    asked.votes.fetch_add(1, Ordering::Relaxed);
                    RaftReply::Vote(Ok(VoteResponse::new(huge, None, false)))
                }
                Ok(RaftRequest::InstallSnapshot(_)) => {
                    RaftReply::InstallSnapshot(Ok(InstallSnapshotResponse { vote: huge }))
                }
                _ => RaftReply::Refused("not served".into()),
            };
            call.reply(codec::encode(&reply).expect("encode").into());
        }
    })
}

/// Each of `honest` runs Raft at a term under the bound.
fn alive_under_the_bound(lab: &Lab, honest: &[NodeId]) {
    for &id in honest {
        let s = lab.node(id).status();
        assert_ne!(s.role, Role::Stopped, "node {id}: {s:?}");
        assert!(s.term < MAX_RAFT_NUMBER, "node {id} took term {}", s.term);
    }
}

/// Until one of `honest` leads and all of them follow it.
async fn wait_honest_leader(lab: &Lab, honest: &[NodeId]) -> NodeId {
    let mut leader = 0;
    wait_until("a leader among the honest nodes", || {
        let seen: Vec<_> = honest.iter().map(|id| lab.node(*id).status()).collect();
        match seen[0].leader {
            Some(l)
                if honest.contains(&l)
                    && seen.iter().all(|s| s.leader == Some(l))
                    && lab.node(l).status().role == Role::Leader =>
            {
                leader = l;
                true
            }
            _ => false,
        }
    })
    .await;
    leader
}

/// The review's case: a member answers every call with a term of
/// `u64::MAX`. Both honest nodes had adopted it and stopped within 5 s,
/// and a restarted one stopped again (the term was in its store). Now the
/// replies are refused and counted, the terms stay small, and the honest
/// pair commits, before and after an election in which the liar is asked
/// for its vote and one of them restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_with_a_term_past_the_bound_is_refused_and_raft_lives() {
    let mut lab = Lab::new("huge-reply", 3, test_settings());
    lab.form(&policy(7911)).await;
    let leader = lab.wait_leader().await;
    let attacker = lab
        .running()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    let honest: Vec<NodeId> = lab
        .running()
        .into_iter()
        .filter(|id| *id != attacker)
        .collect();
    lab.node(attacker).shutdown().await;
    let asked = Arc::new(Asked::default());
    let liar = lie(&lab, attacker, asked.clone());

    tokio::time::sleep(LIE_FOR).await;
    assert!(
        asked.appends.load(Ordering::Relaxed) > 0,
        "the leader never called the liar"
    );
    alive_under_the_bound(&lab, &honest);
    assert!(
        lab.node(leader).status().rpcs_refused > 0,
        "refused replies are counted"
    );
    let v = lab.node(leader).write(&policy(7912)).await.expect("write");
    for &id in &honest {
        assert_eq!(lab.wait_version(id, v).await.version, v);
    }

    // The leader down: the other honest node campaigns and asks the liar
    // for its vote (a leader restarted at once would lead again on its
    // stored vote, with no election). Then the leader restarts, reading
    // its store back, and the two elect a leader.
    lab.stop(leader).await;
    wait_until("the liar is asked for its vote", || {
        asked.votes.load(Ordering::Relaxed) > 0
    })
    .await;
    lab.start(leader).await;
    let leader = wait_honest_leader(&lab, &honest).await;
    tokio::time::sleep(LIE_FOR).await;
    alive_under_the_bound(&lab, &honest);
    let v = lab.node(leader).write(&policy(7913)).await.expect("write");
    for &id in &honest {
        assert_eq!(lab.wait_version(id, v).await.version, v);
    }
    liar.abort();
    lab.shutdown().await;
}
