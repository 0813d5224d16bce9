//! The Raft RPC messages between nodes: openraft's three RPCs, and the
//! requests a follower forwards to the leader (policy writes and
//! membership changes).

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::codec::{self, CodecError};
use super::identity::ClusterId;
use super::types::{MemberNode, NodeId, TypeConfig, Version};

/// What travels on the Raft RPC service: the request, and the cluster its
/// sender belongs to (`None`: its store has not joined one yet, or its
/// cluster was founded before clusters had ids). See `identity.rs`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RaftCall {
    /// The sender's cluster.
    pub cluster: Option<ClusterId>,
    /// The request.
    pub request: RaftRequest,
}

/// The version byte of a call that carries a cluster id. A call without
/// one goes as the bare request under the codec's own version byte, as
/// nodes of earlier versions send and read it: a cluster founded before
/// cluster ids keeps working while its nodes are upgraded one at a time.
const CALL_FORMAT_VERSION: u8 = 2;

/// Encode a call for the wire (see [`CALL_FORMAT_VERSION`]).
pub fn encode_call(call: &RaftCall) -> Result<Vec<u8>, CodecError> {
    match (&call.cluster, &call.request) {
        (None, r) if !matches!(r, RaftRequest::Hello) => codec::encode(r),
        _ => codec::encode_versioned(CALL_FORMAT_VERSION, call),
    }
}

/// Decode a call in either form.
pub fn decode_call(bytes: &[u8]) -> Result<RaftCall, CodecError> {
    if bytes.first() == Some(&CALL_FORMAT_VERSION) {
        return codec::decode_versioned(CALL_FORMAT_VERSION, bytes);
    }
    codec::decode::<RaftRequest>(bytes).map(|request| RaftCall {
        cluster: None,
        request,
    })
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
    /// Change the shun list (a leader of an earlier release cannot decode
    /// it and refuses the call: nothing is proposed).
    Shun {
        /// The change.
        op: super::shuns::ShunOp,
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
        /// Its voters (of every config, when a change is half done).
        voters: Vec<NodeId>,
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
    /// A write bound to a version (`PolicyCmd::SetConfigAt`) found another
    /// version committed than the one before it: nothing changed.
    Conflict {
        /// The version in force.
        committed: Version,
        /// The version the write was bound to.
        wanted: Version,
    },
    /// The leader's Raft stopped after the write was proposed: it may
    /// have been appended and committed (a state machine that fails to
    /// apply a committed entry stops Raft too). Last, so that the other
    /// replies keep their encoding; a node of an earlier version cannot
    /// decode it and waits for the outcome as for a leader lost.
    StoppedAfterProposing {
        /// Why.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call without a cluster id goes as the bare request, byte for byte
    /// what earlier versions send and read; one with an id goes in the
    /// second form; both decode.
    #[test]
    fn calls_keep_the_earlier_form_without_a_cluster_id() {
        let forward = || {
            RaftRequest::Forward(ForwardRequest::Promote {
                id: 3,
                budget_ms: 1_000,
            })
        };
        let bare = encode_call(&RaftCall {
            cluster: None,
            request: forward(),
        })
        .expect("encode");
        assert_eq!(bare, codec::encode(&forward()).expect("encode"));
        let back = decode_call(&bare).expect("decode");
        assert_eq!(back.cluster, None);
        assert!(matches!(back.request, RaftRequest::Forward(_)));

        let id = ClusterId([7; 16]);
        let with_id = encode_call(&RaftCall {
            cluster: Some(id),
            request: forward(),
        })
        .expect("encode");
        assert_eq!(with_id[0], CALL_FORMAT_VERSION);
        assert_eq!(decode_call(&with_id).expect("decode").cluster, Some(id));
        // A hello exists only in the new form, with or without an id.
        let hello = encode_call(&RaftCall {
            cluster: None,
            request: RaftRequest::Hello,
        })
        .expect("encode");
        assert_eq!(hello[0], CALL_FORMAT_VERSION);
        assert!(decode_call(&hello[1..]).is_err(), "no version byte");
    }
}
