//! The policy log: the running config replicated by Raft (openraft 0.9,
//! storage v2) over the cluster's QUIC transport, persisted in redb.
//!
//! # Wiring it into the node
//!
//! 1. **Start order.** Start the sync transport first ([`Transport::start`],
//!    as `ClusterSide` does), then, on the same tokio runtime and before the
//!    bridge forwards, `PolicyRaft::start(node_id, data_dir/"raft",
//!    transport.clone(), validator, RaftSettings::default())`. Raft RPCs ride
//!    the same connections (service [`RPC_SERVICE_RAFT`] on bidirectional
//!    streams), so nothing else listens. Until Raft serves, peers' calls are
//!    answered "no service" and openraft treats the node as unreachable.
//! 2. **Validator.** `Arc::new(move |text| { parse_config(text)` then
//!    `compile(&parsed.config, &interfaces) })` with this node's interfaces,
//!    mapping errors to their `Display` (the parser's carries `line L,
//!    column C`). It runs on the writing node and again on the leader before
//!    anything is proposed, so a config this cluster cannot compile is never
//!    committed. It answers `Some(version)` for a text bound to a version
//!    (the one an operator signed it for): the leader then proposes a
//!    compare-and-set (`PolicyCmd::SetConfigAt`), committed as that version
//!    or not at all.
//! 3. **Bootstrap.** On the first node only, when its store is pristine
//!    (`status().members` is empty): `initialize(MemberNode { name, address:
//!    cluster listen address }, bootstrap policy text)`; it returns version 1.
//!    `InitError::AlreadyInitialized` on a restart is expected; then call
//!    `complete_bootstrap(policy)`, which commits the policy if the first
//!    start founded the cluster but died before its policy committed. Any
//!    other node starts pristine and waits; `rampart cluster join` (on any
//!    member) calls `join(id, MemberNode { .. })` (learner, catch-up, voter);
//!    `rampart cluster remove` calls `remove(id)`. Both are routed to the
//!    leader and run one at a time there. Never reuse a node id, never wipe a
//!    live member's `raft/` directory.
//! 4. **Applying the policy.** `subscribe()` gives a `watch` of
//!    [`AppliedPolicy`] (version, text, log index); its first value is what
//!    the store holds (version 0 when the cluster has no policy yet: keep the
//!    bootstrap file's policy then). For each new value compile it with the
//!    node's interfaces and swap it into the engines (arc-swap); if it does not
//!    compile here (interfaces differ from the writer's), keep the running one,
//!    log it and count it — never fail the node. Writes return once the leader
//!    applied; followers apply within about a round trip (the benchmark).
//! 5. **`configure FILE` (CLI / admin API)** calls `write(text)`. Map
//!    [`WriteError`]: `Invalid { message }` and `TooLarge` are the user's
//!    fault: print the message as is (it has line and column), exit 1;
//!    `NoQuorum` is the cluster's: print its text (it says the running policy
//!    is unchanged) and exit 2, and when `is_pending()` add that the write may
//!    still take effect (also `LeaderStopped`: the leader's Raft stopped
//!    after proposing, and the entry may be committed); `NotMember` says to
//!    join first; `Stopped` and `LeaderFailed` are local/leader faults. `Conflict` is the
//!    writer's: its text was bound to a version another write took; nothing
//!    changed. Success prints the version.
//! 6. **Status.** `status()` is cheap (no await): role, term, leader,
//!    last/committed/applied/snapshot/purged indexes, voters, learners,
//!    members with addresses, joint flag, policy version and store counters,
//!    for `show cluster` and `rampart_raft_*` gauges. The policy swap count is
//!    the node's (it applies).
//! 7. **Membership and the transport.** `PolicyRaft` adds every Raft member
//!    as a transport peer ([`Transport::add_peer`]) and removes nodes that
//!    leave the membership ([`Transport::remove_peer`]), so a removed node
//!    stops receiving state and policy. The state machine remembers the
//!    nodes removed (until a join names one again), so `PolicyRaft` drops
//!    them at every start too, also when the node file still lists them;
//!    [`removed_members`] reads them from the store before the transport
//!    starts, so that the node leaves them out of the transport's and the
//!    sync protocol's peers from the first dial. The sync `Protocol` keeps
//!    its own peer list from the node configuration and ignores peers it
//!    does not know: a node that joined without being in the others'
//!    configuration needs the protocol to learn the peer too (not done
//!    here).
//! 8. **Stop.** `PolicyRaft::shutdown()` before `Transport::shutdown()`.
//! 9. **Logs.** openraft logs through `tracing`; filter it at
//!    `openraft=warn` (it logs an error line per heartbeat that fails while a
//!    quorum check runs without a majority).
//!
//! [`Transport::start`]: crate::transport::Transport::start
//! [`Transport::add_peer`]: crate::transport::Transport::add_peer
//! [`Transport::remove_peer`]: crate::transport::Transport::remove_peer
//! [`RPC_SERVICE_RAFT`]: crate::transport::RPC_SERVICE_RAFT
//!
//! # Files
//!
//! | file | job |
//! | --- | --- |
//! | `types.rs` | the type config, the command, the member record |
//! | `codec.rs` | bincode with limits and a version byte |
//! | `store.rs` | the redb file; the log, vote and committed id |
//! | `state_machine.rs` | the policy and version; snapshots; the watch |
//! | `shuns.rs` | the shun list, its operations and limits |
//! | `stored_snapshot.rs` | the stored snapshot record and the SHA-256 checked at each read |
//! | `messages.rs` | the RPC messages |
//! | `network.rs` | openraft's network over transport RPCs |
//! | `service.rs` | serving peers' RPCs |
//! | `bounds.rs` | the bound on a peer's terms and indexes, and a store's vote |
//! | `entry_checks.rs` | the order of a peer's entries; its memberships |
//! | `handle.rs` | [`PolicyRaft`]: start, writes, membership, status |
//! | `members.rs` | the transport's peers as the membership changes; this node's own removal |
//! | `identity.rs` | the cluster id; whether a store's log may vote |
//! | `settings.rs` | every limit, and openraft's config |
//! | `error.rs` | one error enum per operation |

mod bounds;
// Public only for the fuzz targets (`fuzz/`, `raft_codec`): not an API.
#[doc(hidden)]
pub mod codec;
mod entry_checks;
mod error;
mod handle;
mod identity;
mod members;
// Public only for the fuzz targets (`fuzz/`, `raft_codec`): not an API.
#[doc(hidden)]
pub mod messages;
mod network;
mod service;
mod settings;
mod shuns;
mod state_machine;
mod store;
mod stored_snapshot;
mod types;

pub use bounds::MAX_RAFT_NUMBER;
pub use codec::CodecError;
pub use entry_checks::member_id_problem;
pub use error::{InitError, MembershipError, NoQuorumCause, StartError, WriteError};
pub use handle::{PolicyRaft, PolicyStatus, Role, Validator};
pub use identity::ClusterId;
pub use members::Removed;
pub use network::{NetworkFactory, PeerClient, UNREACHABLE_BACKOFF};
pub use settings::{
    MAX_POLICY_BYTES, MAX_SNAPSHOT_BYTES, RaftSettings, SNAPSHOT_CHUNK_BYTES, SettingsError,
};
pub use shuns::{
    MAX_SHUN_IFACE_BYTES, MAX_SHUNS, ShunConn, ShunOp, ShunRecord, ShunScope, apply as shun_apply,
    refusal as shun_refusal,
};
pub use state_machine::{SnapshotBuilder, StateMachine};
pub use store::{LogStore, OpenError, STORE_FILE, StoreCounters};
pub use types::{
    AppliedPolicy, Entry, LogId, MemberNode, NodeId, PolicyCmd, PolicyResp, Raft, SeqKey,
    TypeConfig, Version,
};

/// The nodes the cluster removed (and did not join again), as the store
/// under `dir` holds them; none for a store not created yet. The store is
/// closed again before this returns: call it before
/// [`PolicyRaft::start`], to leave removed nodes out of the peers a node
/// file lists.
pub fn removed_members(
    dir: &std::path::Path,
) -> Result<std::collections::BTreeSet<NodeId>, OpenError> {
    if !dir.join(STORE_FILE).exists() {
        return Ok(std::collections::BTreeSet::new());
    }
    let db = store::Db::open(dir)?;
    let path = dir.join(STORE_FILE);
    let sm = store::guarded_now(&path, || StateMachine::open(db, &path))?;
    let removed = sm.subscribe_removed().borrow().clone();
    Ok(removed)
}

/// Open the store under `dir` and do every read a start does before Raft
/// runs, each under the guard [`store::Db::open`] runs under: a corrupt
/// file may make the database library panic at any of them, and a node
/// refuses it with a clear error instead.
async fn read_at_start(
    dir: &std::path::Path,
) -> Result<(std::sync::Arc<store::Db>, identity::Identity, StateMachine), OpenError> {
    let db = store::Db::open(dir)?;
    let path = dir.join(STORE_FILE);
    let (identity, sm) = store::guarded(&path, async {
        let identity = identity::Identity::load(db.clone(), &path).await?;
        let sm = StateMachine::open(db.clone(), &path)?;
        // A log purged past the state machine would stop Raft at its first
        // apply, on every start: refuse it with what to do instead.
        store::refuse_purged_past_state(&db, &path)?;
        // So would a log with a gap in it, at every start.
        store::refuse_log_out_of_order(&db, &path)?;
        // So would a vote an earlier version took from a member's reply
        // past the bound on terms (`bounds.rs`), at its next election.
        store::refuse_vote_beyond_bounds(&db, &path)?;
        Ok((identity, sm))
    })
    .await?;
    Ok((db, identity, sm))
}

/// The reads [`PolicyRaft::start`] does of the store under `dir` before
/// Raft runs, alone (for tests: a damaged store is refused, never a panic).
#[doc(hidden)]
pub async fn check_store_at_start(dir: &std::path::Path) -> Result<(), OpenError> {
    read_at_start(dir).await.map(|_| ())
}

/// Open a store under `dir` as openraft's two storage halves, for the
/// conformance suite and tools: the log store and the state machine.
pub fn open_store(dir: &std::path::Path) -> Result<(LogStore, StateMachine), OpenError> {
    let db = store::Db::open(dir)?;
    let path = dir.join(STORE_FILE);
    let sm = store::guarded_now(&path, || StateMachine::open(db.clone(), &path))?;
    Ok((LogStore::new(db), sm))
}
