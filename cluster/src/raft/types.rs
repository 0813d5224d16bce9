//! The Raft type configuration and the data the policy log carries.

use std::io::Cursor;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The policy version: 1 for the bootstrap policy, then one more for
/// every committed write. Every node applies the same entries in the
/// same order, so a version names the same text on every node.
pub type Version = u64;

/// A Raft node id. Equal to the transport's node id (which is a `u16`).
pub type NodeId = u64;

/// What the log carries: a whole running config (the state machine
/// never checks it; it was validated before it was proposed), the
/// cluster's sequence-randomization key, or a change to the shun list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyCmd {
    /// Replace the running config with `text` (ASA commands).
    SetConfig {
        /// The config text.
        text: String,
    },
    /// The cluster's sequence-randomization key. The first one committed
    /// stays: a later one (two leaders that both saw none) is ignored, so
    /// every node ends with the same key.
    SetSeqKey {
        /// The key.
        key: SeqKey,
    },
    /// Set the running config to `text` only if no config was ever
    /// committed (version 0), else nothing: a node that finishes a
    /// bootstrap cut short must not override a policy written through
    /// another member meanwhile. (A node of an earlier release cannot
    /// decode it; only that rare finish proposes it.)
    SetFirstConfig {
        /// The config text.
        text: String,
    },
    /// Set the running config to `text` as version `version`, only if
    /// `version` is the committed version plus one; otherwise nothing
    /// changes and the entry's reply says so ([`PolicyResp::conflict`]).
    /// Proposed for a text bound to a version (an operator-signed policy):
    /// committed as any other version, every node that checks the
    /// signature would refuse it, so it is committed as that version or
    /// not at all. (A node of an earlier release cannot decode it:
    /// docs/ARCHITECTURE.md §7.)
    SetConfigAt {
        /// The version the text is bound to.
        version: Version,
        /// The config text.
        text: String,
    },
    /// Change the shun list (`shun`, `no shun`, `clear shun`:
    /// docs/asa-behaviour.md §2.12). Not config: the policy's text and
    /// version stay. (A node of an earlier release cannot decode it.)
    Shun(super::shuns::ShunOp),
}

/// 16 bytes from the system's random source.
pub(super) fn random16() -> Result<[u8; 16], String> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system random source failed".to_string())?;
    Ok(bytes)
}

/// The key every node of a cluster derives TCP sequence-randomization
/// offsets from (docs/sync.md §1): 16 random bytes drawn by the leader that
/// commits the cluster's first policy. With one key, any node shifts a
/// client's retransmitted SYN exactly as the node that forwarded the first
/// one did. Its `Debug` never shows the bytes.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqKey(pub [u8; 16]);

impl SeqKey {
    /// A fresh key from the system's random source.
    pub fn generate() -> Result<Self, String> {
        random16().map(SeqKey)
    }

    /// The key as the engine takes it (two SipHash key words).
    pub fn words(&self) -> [u64; 2] {
        let (a, b) = self.0.split_at(8);
        [
            u64::from_le_bytes(a.try_into().expect("8 bytes")),
            u64::from_le_bytes(b.try_into().expect("8 bytes")),
        ]
    }
}

impl std::fmt::Debug for SeqKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeqKey(<secret>)")
    }
}

/// The state machine's answer to an applied entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyResp {
    /// The version after the entry was applied.
    pub version: Version,
    /// A [`PolicyCmd::SetConfigAt`] that found another version committed
    /// than the one before its own, or a [`PolicyCmd::Shun`] that could not
    /// apply (another change of the list committed first): it changed
    /// nothing.
    pub conflict: bool,
}

/// A member as the Raft membership records it, so that every node (and
/// a leader elected later) can reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberNode {
    /// The node's name (informational: identity is the node id, which
    /// its certificate names).
    pub name: String,
    /// Its cluster address (`ip:port`, UDP).
    pub address: String,
}

impl std::fmt::Display for MemberNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.address)
    }
}

openraft::declare_raft_types!(
    /// Rampart's Raft types.
    pub TypeConfig:
        D = PolicyCmd,
        R = PolicyResp,
        NodeId = NodeId,
        Node = MemberNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft handle of this crate.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id.
pub type LogId = openraft::LogId<NodeId>;
/// Storage errors as openraft wants them.
pub type StorageError = openraft::StorageError<NodeId>;
/// A membership (voters, learners, their records).
pub type Membership = openraft::Membership<NodeId, MemberNode>;
/// Membership as stored.
pub type StoredMembership = openraft::StoredMembership<NodeId, MemberNode>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, MemberNode>;

/// The committed and applied policy, as a node should run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedPolicy {
    /// Its version; 0 before the cluster's first policy.
    pub version: Version,
    /// The config text (empty at version 0).
    pub text: Arc<String>,
    /// The log index of the entry that set it (0 at version 0).
    pub log_index: u64,
    /// The cluster's sequence-randomization key, once committed.
    pub seq_key: Option<SeqKey>,
}

impl AppliedPolicy {
    /// Nothing applied yet.
    pub fn none() -> Self {
        AppliedPolicy {
            version: 0,
            text: Arc::new(String::new()),
            log_index: 0,
            seq_key: None,
        }
    }
}
