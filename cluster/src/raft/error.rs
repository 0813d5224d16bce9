//! The errors of the policy log's operations, one enum per operation.
//! Each variant says whose fault it is: the writer's (an invalid
//! config), the cluster's (no quorum), this node's (not a member,
//! stopped, storage).

use super::identity::ClusterId;
use super::settings::SettingsError;
use super::store::OpenError;
use super::types::{NodeId, Version};

/// Why [`super::PolicyRaft::start`] failed (local faults).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store under the data directory.
    #[error("raft store: {0}")]
    Store(#[from] OpenError),
    /// The settings.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The Raft id differs from the transport's node id.
    #[error("raft node id {raft} differs from the transport's node id {transport}")]
    IdMismatch {
        /// The Raft id asked for.
        raft: NodeId,
        /// The transport's.
        transport: u16,
    },
    /// openraft refused to start.
    #[error("raft: {0}")]
    Raft(String),
}

/// Why a policy write was refused. Nothing was committed, except where
/// [`WriteError::is_pending`] says the entry may still take effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The writer's fault: the config does not parse or compile. The
    /// message carries each error's line and column.
    #[error("configuration refused:\n{message}")]
    Invalid {
        /// The validator's text.
        message: String,
    },
    /// The writer's fault: the config is larger than a policy may be.
    #[error("configuration of {len} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The cluster's: no majority of the voters answered in time. The
    /// running policy is unchanged on every node (unless `cause` is
    /// [`NoQuorumCause::NotCommitted`]: then it changes if and when a
    /// majority returns).
    #[error("{}", no_quorum_text(*.waited_ms, *.leader, *.cause))]
    NoQuorum {
        /// How long the write waited.
        waited_ms: u64,
        /// The leader last known, if any.
        leader: Option<NodeId>,
        /// What stood in the way.
        cause: NoQuorumCause,
    },
    /// This node's: it is not in the cluster (never joined, or removed).
    #[error("node {node} is not a member of an initialised cluster; join it first")]
    NotMember {
        /// This node.
        node: NodeId,
    },
    /// This node's: its Raft has stopped (shutdown, a storage fault, a
    /// panic of its core).
    #[error(
        "Raft has stopped on this node ({reason}): it takes no policy writes until it is \
         restarted, and forwards on the policy in force; restart the node"
    )]
    Stopped {
        /// Why.
        reason: String,
    },
    /// The writer's: the config is bound to a version (signed for it)
    /// that is not the committed version plus one. Another write was
    /// committed since the writer looked, or the signature is stale;
    /// nothing changed.
    #[error(
        "the policy changed meanwhile: this configuration is signed for version {wanted}, but \
         the committed version is {committed}; check what changed (rampart show \
         running-config), then sign it for version {} (rampart configure --sign-key does; \
         on a cluster that does not sign, remove its `! rampart-signature` line)",
        .committed.saturating_add(1)
    )]
    Conflict {
        /// The version in force.
        committed: Version,
        /// The version the write was bound to.
        wanted: Version,
    },
    /// The leader's: it failed to handle the write (storage fault,
    /// shutting down).
    #[error("leader {leader} failed the write: {message}")]
    LeaderFailed {
        /// The leader.
        leader: NodeId,
        /// What it said.
        message: String,
    },
    /// The leader's Raft stopped (a storage fault, a panic) after the
    /// write was proposed: the entry may have been appended and committed
    /// (openraft reports a state machine that fails to apply a committed
    /// entry the same way), so it may run on the other members, and on the
    /// leader after its restart.
    #[error(
        "Raft stopped on leader {leader} during the write ({message}); the write may          already be committed and may still take effect: rampart show cluster on another          member tells which version the cluster runs"
    )]
    LeaderStopped {
        /// The leader.
        leader: NodeId,
        /// What it said.
        message: String,
    },
}

/// Why a write found no quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoQuorumCause {
    /// No leader was elected (a majority of the voters is down or
    /// unreachable).
    NoLeader,
    /// A leader is known but this node cannot reach it, and no other was
    /// elected.
    LeaderUnreachable,
    /// The leader cannot reach a majority to confirm it still leads.
    LeaderIsolated,
    /// The leader appended the entry but could not commit it in time.
    NotCommitted,
}

impl WriteError {
    /// Whether the write may still take effect later (appended, perhaps
    /// committed): a caller must not assume it was dropped.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            WriteError::NoQuorum {
                cause: NoQuorumCause::NotCommitted,
                ..
            } | WriteError::LeaderStopped { .. }
        )
    }
}

fn membership_no_quorum_text(waited_ms: u64, pending: bool) -> String {
    if pending {
        format!(
            "membership change not committed within {waited_ms} ms (no quorum, or a learner \
             still catching up); it may still take effect: rampart show cluster tells"
        )
    } else {
        format!(
            "membership change not made within {waited_ms} ms (no leader, or another change in \
             progress the whole time); nothing was proposed"
        )
    }
}

fn no_quorum_text(waited_ms: u64, leader: Option<NodeId>, cause: NoQuorumCause) -> String {
    let leader = leader.map_or_else(|| "?".to_string(), |l| l.to_string());
    let unchanged = "the running policy is unchanged";
    match cause {
        NoQuorumCause::NoLeader => format!(
            "no quorum: no Raft leader within {waited_ms} ms (a majority of the voters is down \
             or unreachable); {unchanged}"
        ),
        NoQuorumCause::LeaderUnreachable => format!(
            "no quorum: leader {leader} is unreachable from this node and no other leader was \
             elected within {waited_ms} ms; {unchanged}"
        ),
        NoQuorumCause::LeaderIsolated => format!(
            "no quorum: leader {leader} cannot reach a majority of the voters (waited \
             {waited_ms} ms); {unchanged}"
        ),
        NoQuorumCause::NotCommitted => format!(
            "no quorum: leader {leader} could not commit the write within {waited_ms} ms; it \
             is pending and takes effect only if a majority of the voters returns; {unchanged} \
             for now"
        ),
    }
}

/// Why [`super::PolicyRaft::initialize`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// This node already holds a cluster (a restart): nothing to do.
    #[error("this node is already part of an initialised cluster")]
    AlreadyInitialized,
    /// openraft refused.
    #[error("raft initialisation: {0}")]
    Raft(String),
    /// A configured peer already belongs to a cluster (or its leader
    /// reached this node while it asked): founding another would split
    /// the nodes in two. Nothing was initialised; if this node is a
    /// member there, it follows that cluster's leader.
    #[error(
        "node {peer} already belongs to {}{}: this node does not found \
         another; take `bootstrap = true` out of its node file{}",
        .cluster.map_or_else(|| "a cluster founded before cluster ids".to_string(),
            |c| format!("cluster {c}")),
        if *.member { ", which counts this node as a member" } else { "" },
        if *.member { " (it catches up from that cluster's leader)" }
        else { ", and join it to that cluster with `rampart cluster join`" }
    )]
    ClusterExists {
        /// The peer that answered (this node's id if a leader reached it).
        peer: NodeId,
        /// Its cluster (`None`: founded before cluster ids).
        cluster: Option<ClusterId>,
        /// Whether that cluster counts this node as a member.
        member: bool,
    },
    /// The bootstrap policy write failed (an invalid policy is refused
    /// before the cluster is initialised).
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Why a membership change failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// The caller's: the node cannot be a member (id or address).
    #[error("node {id}: {reason}")]
    BadNode {
        /// The node.
        id: NodeId,
        /// Why.
        reason: String,
    },
    /// openraft refused the change (e.g. the node is not a learner yet,
    /// or another change is in progress).
    #[error("membership change refused: {message}")]
    Refused {
        /// Its text.
        message: String,
    },
    /// No leader, or the leader could not commit in time.
    #[error("{}", membership_no_quorum_text(*.waited_ms, *.pending))]
    NoQuorum {
        /// How long it waited.
        waited_ms: u64,
        /// The change may have been proposed (the leader had it and did
        /// not commit it in time, or an answer was lost): it may still
        /// take effect. Otherwise nothing was proposed (no leader, or
        /// another change held the leader the whole time).
        pending: bool,
    },
    /// This node is not a member.
    #[error("node {node} is not a member of an initialised cluster")]
    NotMember {
        /// This node.
        node: NodeId,
    },
    /// Raft stopped, here or at the leader.
    #[error("raft stopped: {reason}")]
    Stopped {
        /// Why.
        reason: String,
    },
    /// Raft stopped on the leader after the change was proposed: it may
    /// have been appended and committed (a state machine that fails to
    /// apply a committed entry stops Raft too).
    #[error(
        "Raft stopped on the leader after the membership change was proposed ({message}); it \
         may still take effect: rampart show cluster on another member tells"
    )]
    LeaderStopped {
        /// The leader's word.
        message: String,
    },
}

impl MembershipError {
    /// Whether the change may still take effect later (proposed, perhaps
    /// committed): a caller must not assume it was dropped.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            MembershipError::NoQuorum { pending: true, .. } | MembershipError::LeaderStopped { .. }
        )
    }
}
