//! The Raft RPC service: peers' calls, decoded, checked against the
//! connection's proven identity, and handed to openraft or (forwarded
//! requests) to the leader's handling.

use std::sync::Weak;

use bytes::Bytes;
use tokio::sync::mpsc;

use openraft::raft::{AppendEntriesResponse, VoteResponse};
use openraft::{EntryPayload, LeaderId, LogId};

use super::bounds::first_beyond;
use super::codec;
use super::entry_checks::{entries_out_of_order, invalid_membership};
use super::handle::{Inner, PolicyRaft};
use super::identity::ClusterId;
use super::members::SelfEvent;
use super::messages::{RaftReply, RaftRequest, decode_call};
use super::settings::MAX_SNAPSHOT_BYTES;
use super::types::NodeId;
use crate::transport::IncomingRpc;

/// Serve calls until the transport stops or the node is dropped.
pub(super) async fn serve(node: Weak<Inner>, mut calls: mpsc::Receiver<IncomingRpc>) {
    while let Some(call) = calls.recv().await {
        let Some(node) = PolicyRaft::from_weak(&node) else {
            return;
        };
        // One task per call: a vote must not wait behind a snapshot. The
        // transport bounds the calls in flight per peer.
        tokio::spawn(async move {
            let reply = handle(&node, call.peer, &call.request).await;
            if matches!(reply, RaftReply::Refused(_)) {
                node.count_refused();
            }
            let bytes = codec::encode(&reply)
                .or_else(|e| codec::encode(&RaftReply::Refused(format!("reply: {e}"))))
                .unwrap_or_default();
            call.reply(Bytes::from(bytes));
        });
    }
}

/// A Raft message names its sender in its vote; a member may only speak
/// for itself (its certificate names it).
fn wrong_sender(peer: u16, claimed: Option<NodeId>) -> Option<RaftReply> {
    (claimed != Some(NodeId::from(peer))).then(|| {
        RaftReply::Refused(format!(
            "node {peer} sent a message naming node {claimed:?} as its sender"
        ))
    })
}

/// A message whose terms or indexes reach 2^62 (`bounds.rs`).
fn beyond_bounds<'a>(
    peer: u16,
    leaders: impl IntoIterator<Item = &'a LeaderId<NodeId>>,
    logs: impl IntoIterator<Item = &'a LogId<NodeId>>,
) -> Option<RaftReply> {
    first_beyond(leaders, logs).map(|_| {
        RaftReply::Refused(format!(
            "node {peer} sent a term or log index of 2^62 or more, which no cluster reaches"
        ))
    })
}

/// A snapshot chunk must lie within [`MAX_SNAPSHOT_BYTES`]: openraft
/// seeks to its offset in an in-memory buffer, so an offset near 2^50
/// would have it allocate a petabyte and abort the process.
fn snapshot_chunk_out_of_bounds(offset: u64, len: usize) -> Option<RaftReply> {
    let end = u64::try_from(len).ok().and_then(|l| offset.checked_add(l));
    end.is_none_or(|end| end > MAX_SNAPSHOT_BYTES).then(|| {
        RaftReply::Refused(format!(
            "snapshot chunk at offset {offset} of {len} bytes ends past the \
             {MAX_SNAPSHOT_BYTES}-byte snapshot limit"
        ))
    })
}

/// A call from another cluster (both sides know theirs and they differ),
/// or a leader's call without one to a node that has one: a fresh store
/// founds no cluster's log, and the Raft calls a member sends all carry
/// the id once its cluster has one. Forwarded requests are the leader's
/// to judge and a hello is answered to anyone: a node without an id may
/// send them.
fn foreign_cluster(
    mine: Option<ClusterId>,
    theirs: Option<ClusterId>,
    peer: u16,
    forward: bool,
) -> Option<RaftReply> {
    let refused = match (mine, theirs) {
        (Some(m), Some(t)) => m != t,
        (Some(_), None) => !forward,
        (None, _) => false,
    };
    refused.then(|| {
        let theirs = theirs.map_or_else(|| "none".to_string(), |t| t.to_string());
        let mine = mine.map_or_else(|| "none".to_string(), |m| m.to_string());
        RaftReply::Refused(format!(
            "node {peer} speaks for cluster {theirs}, this node belongs to cluster {mine}: \
             a node whose store was founded or lost apart from the cluster must be \
             removed and joined again with an empty data directory"
        ))
    })
}

async fn handle(node: &PolicyRaft, peer: u16, request: &[u8]) -> RaftReply {
    let call = match decode_call(request) {
        Ok(r) => r,
        Err(e) => return RaftReply::Refused(format!("undecodable request: {e}")),
    };
    let identity = node.identity();
    // A store without a membership belongs to no cluster yet, whatever id
    // a founding that failed half-way left in it.
    let pristine = !node.has_membership();
    let mine = if pristine { None } else { identity.cluster() };
    let forward = matches!(call.request, RaftRequest::Forward(_) | RaftRequest::Hello);
    if let Some(refused) = foreign_cluster(mine, call.cluster, peer, forward) {
        return refused;
    }
    let raft = node.raft();
    match call.request {
        RaftRequest::AppendEntries(r) => {
            if let Some(refused) = wrong_sender(peer, r.vote.leader_id().voted_for()) {
                return refused;
            }
            let logs = r.entries.iter().map(|e| &e.log_id);
            let logs = logs.chain(&r.prev_log_id).chain(&r.leader_commit);
            if let Some(refused) = beyond_bounds(peer, [r.vote.leader_id()], logs) {
                return refused;
            }
            if let Some(why) = entries_out_of_order(&r) {
                return RaftReply::Refused(format!("node {peer} sent entries out of order: {why}"));
            }
            let memberships = r.entries.iter().filter_map(|e| match &e.payload {
                EntryPayload::Membership(m) => Some(m),
                _ => None,
            });
            if let Some(why) = memberships.filter_map(invalid_membership).next() {
                return RaftReply::Refused(format!("node {peer} sent {why}"));
            }
            // Whether, if this call succeeds, the log holds everything the
            // leader committed and ends with an entry of the leader's own
            // term: then it holds every entry this store may ever have
            // acknowledged (`identity.rs`).
            let last = r.entries.last().map(|e| e.log_id).or(r.prev_log_id);
            let covers_commit = match (last, r.leader_commit) {
                (_, None) => true,
                (Some(l), Some(c)) => l.index >= c.index,
                (None, Some(_)) => false,
            };
            let leaders_own = r.vote.is_committed()
                && covers_commit
                && last.is_some_and(|l| l.leader_id == *r.vote.leader_id());
            let reply = raft.append_entries(r).await;
            if matches!(reply, Ok(AppendEntriesResponse::Success)) {
                // openraft answers after the store's append returned, which
                // is after its fsync (`store.rs`): the entries are durable.
                if let Some(id) = call.cluster {
                    node.adopt_cluster(id, pristine).await;
                }
                if leaders_own {
                    node.log_completed().await;
                }
                // A leader replicates to members only (`members.rs`).
                node.on_self_event(SelfEvent::Replicated);
            }
            RaftReply::AppendEntries(reply)
        }
        RaftRequest::Vote(r) => {
            if let Some(refused) = wrong_sender(peer, r.vote.leader_id().voted_for()) {
                return refused;
            }
            if let Some(refused) = beyond_bounds(peer, [r.vote.leader_id()], &r.last_log_id) {
                return refused;
            }
            // A store that may have forgotten entries it acknowledged does
            // not vote (`identity.rs`), except for the other node of a pair:
            // every committed entry is on both, so the candidate has them.
            if !identity.complete() && !node.candidate_is_my_pair(peer).await {
                node.count_vote_withheld(peer);
                return RaftReply::Vote(Ok(VoteResponse::new(r.vote, None, false)));
            }
            RaftReply::Vote(raft.vote(r).await)
        }
        RaftRequest::InstallSnapshot(r) => {
            if let Some(refused) = wrong_sender(peer, r.vote.leader_id().voted_for()) {
                return refused;
            }
            if let Some(refused) = snapshot_chunk_out_of_bounds(r.offset, r.data.len()) {
                return refused;
            }
            let logs = r.meta.last_log_id.iter();
            let logs = logs.chain(r.meta.last_membership.log_id());
            if let Some(refused) = beyond_bounds(peer, [r.vote.leader_id()], logs) {
                return refused;
            }
            // openraft takes the snapshot's membership as the node's own.
            if let Some(why) = invalid_membership(r.meta.last_membership.membership()) {
                return RaftReply::Refused(format!("node {peer} sent a snapshot with {why}"));
            }
            let (vote, done) = (r.vote, r.done);
            let reply = raft.install_snapshot(r).await;
            // openraft answers Ok with its own vote when it refuses the
            // sender: only an installed snapshot of this leader counts.
            let installed = done && reply.as_ref().is_ok_and(|resp| resp.vote == vote);
            if let (true, Some(id)) = (installed, call.cluster) {
                node.adopt_cluster(id, pristine).await;
            }
            RaftReply::InstallSnapshot(reply)
        }
        RaftRequest::Forward(f) => RaftReply::Forward(node.serve_forward(f).await),
        RaftRequest::Hello => {
            let status = node.status();
            RaftReply::Hello {
                cluster: mine,
                members: status.members.into_keys().collect(),
                voters: status.voters,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_from_another_cluster_are_refused() {
        let a = Some(ClusterId([1; 16]));
        let b = Some(ClusterId([2; 16]));
        assert!(foreign_cluster(a, a, 2, false).is_none());
        assert!(foreign_cluster(a, b, 2, false).is_some());
        assert!(foreign_cluster(a, b, 2, true).is_some());
        // A fresh store takes any cluster's leader.
        assert!(foreign_cluster(None, b, 2, false).is_none());
        assert!(foreign_cluster(None, None, 2, false).is_none());
        // No leader of a cluster lacks its id; a forward may.
        assert!(foreign_cluster(a, None, 2, false).is_some());
        assert!(foreign_cluster(a, None, 2, true).is_none());
    }
}
