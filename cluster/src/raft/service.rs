//! The Raft RPC service: peers' calls, decoded, checked against the
//! connection's proven identity, and handed to openraft or (forwarded
//! requests) to the leader's handling.

use std::sync::Weak;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::codec;
use super::handle::{Inner, PolicyRaft};
use super::messages::{RaftReply, RaftRequest};
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

async fn handle(node: &PolicyRaft, peer: u16, request: &[u8]) -> RaftReply {
    let req: RaftRequest = match codec::decode(request) {
        Ok(r) => r,
        Err(e) => return RaftReply::Refused(format!("undecodable request: {e}")),
    };
    let raft = node.raft();
    match req {
        RaftRequest::AppendEntries(r) => {
            if let Some(refused) = wrong_sender(peer, r.vote.leader_id().voted_for()) {
                return refused;
            }
            RaftReply::AppendEntries(raft.append_entries(r).await)
        }
        RaftRequest::Vote(r) => {
            if let Some(refused) = wrong_sender(peer, r.vote.leader_id().voted_for()) {
                return refused;
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
            RaftReply::InstallSnapshot(raft.install_snapshot(r).await)
        }
        RaftRequest::Forward(f) => RaftReply::Forward(node.serve_forward(f).await),
    }
}
