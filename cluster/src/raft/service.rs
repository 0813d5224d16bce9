//! The Raft RPC service: peers' calls, decoded, checked against the
//! connection's proven identity, and handed to openraft or (forwarded
//! requests) to the leader's handling.

use std::sync::Weak;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::codec;
use super::handle::{Inner, PolicyRaft};
use super::messages::{RaftReply, RaftRequest};
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
            RaftReply::InstallSnapshot(raft.install_snapshot(r).await)
        }
        RaftRequest::Forward(f) => RaftReply::Forward(node.serve_forward(f).await),
    }
}
