//! The Raft RPC messages between nodes: openraft's three RPCs, and the
//! requests a follower forwards to the leader (policy writes and
//! membership changes).

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::identity::ClusterId;
use super::types::{MemberNode, NodeId, TypeConfig, Version};

/// What travels on the Raft RPC service: the request, and the cluster its
/// sender belongs to (`None`: its store has not joined one yet). See
/// `identity.rs`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RaftCall {
    /// The sender's cluster.
    pub cluster: Option<ClusterId>,
    /// The request.
    pub request: RaftRequest,
}

/// A request on the Raft RPC service.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRequest {
    /// Replication and heartbeats.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Elections.
    Vote(VoteRequest<NodeId>),
    /// A snapshot chunk.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A request this node can only serve as the leader.
    Forward(ForwardRequest),
    /// A node about to found a cluster asks whether this one already
    /// belongs to one.
    Hello,
}

/// What a follower asks the leader to do for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardRequest {
    /// Propose a config (the leader validates it again before).
    Write {
        /// The config text.
        text: String,
        /// How long the origin still waits (ms): the leader gives up
        /// before, so its answer arrives in time.
        budget_ms: u64,
    },
    /// Add a learner and wait until it has caught up.
    AddLearner {
        /// Its id.
        id: NodeId,
        /// Its name and address.
        node: MemberNode,
        /// How long the origin still waits (ms).
        budget_ms: u64,
    },
    /// Make a caught-up learner a voter.
    Promote {
        /// Its id.
        id: NodeId,
        /// How long the origin still waits (ms).
        budget_ms: u64,
    },
    /// Remove a voter or learner from the cluster entirely.
    Remove {
        /// Its id.
        id: NodeId,
        /// How long the origin still waits (ms).
        budget_ms: u64,
    },
}

/// A reply on the Raft RPC service, one variant per request.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    /// To [`RaftRequest::AppendEntries`].
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// To [`RaftRequest::Vote`].
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// To [`RaftRequest::InstallSnapshot`].
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// To [`RaftRequest::Forward`].
    Forward(ForwardReply),
    /// To [`RaftRequest::Hello`].
    Hello {
        /// The cluster this node's store belongs to.
        cluster: Option<ClusterId>,
        /// The members it knows of.
        members: Vec<NodeId>,
    },
    /// The request named another node as its sender than the connection
    /// proved (a member impersonating another): refused.
    Refused(String),
}

/// The leader's answer to a forwarded request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardReply {
    /// A write committed and applied at this version.
    Committed {
        /// The version.
        version: Version,
    },
    /// A membership change committed at this log index.
    MembershipChanged {
        /// The log index of the (final) membership entry.
        log_index: u64,
    },
    /// The leader refused the config.
    Invalid {
        /// Its error text (lines and columns).
        message: String,
    },
    /// The receiver is not the leader (any more); try this one.
    NotLeader {
        /// The leader it knows of.
        leader: Option<NodeId>,
    },
    /// The leader cannot reach a majority.
    NoQuorum {
        /// How long it waited (ms).
        waited_ms: u64,
        /// Whether the entry was appended and may still commit.
        pending: bool,
    },
    /// openraft refused a membership change (its text).
    Refused {
        /// Why.
        message: String,
    },
    /// The leader is shutting down or its store failed.
    Failed {
        /// Why.
        message: String,
    },
}
