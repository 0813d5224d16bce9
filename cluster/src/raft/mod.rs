//! The policy log: the running config replicated by Raft (openraft 0.9,
//! storage v2) over the cluster's QUIC transport, persisted in redb.
//!
//! | file | job |
//! | --- | --- |
//! | `types.rs` | the type config, the command, the member record |
//! | `codec.rs` | bincode with limits and a version byte |
//! | `store.rs` | the redb file; the log, vote and committed id |
//! | `state_machine.rs` | the policy and version; snapshots; the watch |
//! | `messages.rs` | the RPC messages |
//! | `network.rs` | openraft's network over transport RPCs |
//! | `service.rs` | serving peers' RPCs |
//! | `handle.rs` | [`PolicyRaft`]: start, writes, membership, status |
//! | `settings.rs` | every limit, and openraft's config |
//! | `error.rs` | one error enum per operation |

mod codec;
mod error;
mod handle;
mod messages;
mod network;
mod service;
mod settings;
mod state_machine;
mod store;
mod types;

pub use codec::CodecError;
pub use error::{InitError, MembershipError, NoQuorumCause, StartError, WriteError};
pub use handle::{PolicyRaft, PolicyStatus, Role, Validator};
pub use network::{NetworkFactory, PeerClient, UNREACHABLE_BACKOFF};
pub use settings::{MAX_POLICY_BYTES, RaftSettings, SNAPSHOT_CHUNK_BYTES, SettingsError};
pub use state_machine::{SnapshotBuilder, StateMachine};
pub use store::{LogStore, OpenError, STORE_FILE, StoreCounters};
pub use types::{
    AppliedPolicy, Entry, LogId, MemberNode, NodeId, PolicyCmd, PolicyResp, Raft, TypeConfig,
    Version,
};

/// Open a store under `dir` as openraft's two storage halves, for the
/// conformance suite and tools: the log store and the state machine.
pub fn open_store(dir: &std::path::Path) -> Result<(LogStore, StateMachine), OpenError> {
    let db = store::Db::open(dir)?;
    let sm = StateMachine::open(db.clone(), &dir.join(STORE_FILE))?;
    Ok((LogStore::new(db), sm))
}
