//! The policy state machine: the running config and its version, the
//! last applied log id and membership, persisted in the store's file
//! with every apply; snapshots of it; and the `watch` through which the
//! node learns each newly applied policy.
//!
//! Apply is deterministic and never validates: a config is checked
//! before it is proposed, and every node must apply the same entries to
//! the same result whatever its own interfaces are.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot, StorageIOError,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::codec;
use super::settings::MAX_POLICY_BYTES;
use redb::ReadableTable as _;

use super::store::{Db, OpenError, SM};
use super::types::{
    AppliedPolicy, Entry, LogId, PolicyCmd, PolicyResp, SeqKey, SnapshotMeta, StorageError,
    StoredMembership, TypeConfig, Version,
};

const KEY_STATE: &str = "state";
const KEY_SNAPSHOT: &str = "snapshot";

/// What the state machine holds (and a snapshot carries, with its meta).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SmState {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    version: Version,
    /// Log index of the entry that set `text`.
    log_index: u64,
    text: Arc<str>,
    seq_key: Option<SeqKey>,
}

/// The body of a snapshot: the policy alone (the meta carries the last
/// log id and membership).
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotBody {
    version: Version,
    log_index: u64,
    text: String,
    seq_key: Option<SeqKey>,
}

/// A snapshot as stored: its meta and its bytes.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

fn applied(state: &SmState) -> AppliedPolicy {
    AppliedPolicy {
        version: state.version,
        text: Arc::new(state.text.to_string()),
        log_index: state.log_index,
        seq_key: state.seq_key,
    }
}

fn sm_write_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_state_machine(AnyError::new(&e)).into()
}

fn snap_read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_snapshot(None, AnyError::new(&e)).into()
}

fn snap_write_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_snapshot(None, AnyError::new(&e)).into()
}

// === impl StateMachine ===

/// openraft's `RaftStateMachine` over the store's file.
#[derive(Debug)]
pub struct StateMachine {
    db: Arc<Db>,
    state: SmState,
    policy: watch::Sender<AppliedPolicy>,
}

impl StateMachine {
    /// Load the state machine from the store; the watch starts at the
    /// persisted policy.
    pub(super) fn open(db: Arc<Db>, path: &std::path::Path) -> Result<Self, OpenError> {
        let record = |reason: String| OpenError::Record {
            path: path.to_path_buf(),
            record: KEY_STATE,
            reason,
        };
        let state = match db
            .get_str(SM, KEY_STATE)
            .map_err(|e| record(e.to_string()))?
        {
            Some(b) => codec::decode::<SmState>(&b).map_err(|e| record(e.to_string()))?,
            None => SmState::default(),
        };
        // What a purge may reach (`store.rs`): the applied entries, or the
        // stored snapshot's when that is later.
        let snapshot_last = match db
            .get_str(SM, KEY_SNAPSHOT)
            .map_err(|e| record(e.to_string()))?
        {
            Some(b) => {
                codec::decode::<StoredSnapshot>(&b)
                    .map_err(|e| OpenError::Record {
                        path: path.to_path_buf(),
                        record: KEY_SNAPSHOT,
                        reason: e.to_string(),
                    })?
                    .meta
                    .last_log_id
            }
            None => None,
        };
        db.state_covers(state.last_applied.max(snapshot_last).map(|l| l.index));
        let (policy, _) = watch::channel(applied(&state));
        Ok(StateMachine { db, state, policy })
    }

    /// A new subscription to the applied policy.
    pub fn subscribe(&self) -> watch::Receiver<AppliedPolicy> {
        self.policy.subscribe()
    }

    fn publish(&self) {
        self.policy.send_replace(applied(&self.state));
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.state.last_applied, self.state.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<PolicyResp>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut next = self.state.clone();
        let mut replies = Vec::new();
        for e in entries {
            next.last_applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Blank => {}
                // A write is refused above this size before it is proposed;
                // a member that committed one around that check (its key
                // stolen) would have every node carry it in snapshots too
                // large to install. Every node skips it alike, so their
                // state machines stay equal, and counts it.
                EntryPayload::Normal(PolicyCmd::SetConfig { text })
                    if text.len() > MAX_POLICY_BYTES =>
                {
                    self.db
                        .counters
                        .policies_oversized
                        .fetch_add(1, Ordering::Relaxed);
                }
                EntryPayload::Normal(PolicyCmd::SetConfig { text }) => {
                    next.version = next.version.saturating_add(1);
                    next.log_index = e.log_id.index;
                    next.text = Arc::from(text);
                }
                EntryPayload::Normal(PolicyCmd::SetSeqKey { key }) => {
                    // The first key stays (PolicyCmd::SetSeqKey).
                    next.seq_key.get_or_insert(key);
                }
                EntryPayload::Membership(m) => {
                    next.last_membership = StoredMembership::new(Some(e.log_id), m);
                }
            }
            replies.push(PolicyResp {
                version: next.version,
            });
        }
        if replies.is_empty() {
            return Ok(replies);
        }
        let bytes = codec::encode(&next).map_err(sm_write_err)?;
        self.db
            .write(move |txn| {
                txn.open_table(SM)?.insert(KEY_STATE, bytes.as_slice())?;
                Ok(())
            })
            .await
            .map_err(sm_write_err)?;
        self.db
            .state_covers(next.last_applied.as_ref().map(|l| l.index));
        self.db
            .counters
            .entries_applied
            .fetch_add(replies.len() as u64, Ordering::Relaxed);
        let changed = next.version != self.state.version || next.seq_key != self.state.seq_key;
        self.state = next;
        if changed {
            self.publish();
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            db: self.db.clone(),
            state: self.state.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        // openraft purges the log up to the snapshot as soon as it queues
        // the install: from now on such a purge waits for it (`store.rs`).
        self.db.receive_began();
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let r = self.install(meta, snapshot).await;
        // A purge waiting for this install proceeds, or fails with it.
        self.db
            .receive_ended(r.as_ref().err().map(|e| e.to_string()));
        r
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some(bytes) = self.db.get_str(SM, KEY_SNAPSHOT).map_err(snap_read_err)? else {
            return Ok(None);
        };
        let s: StoredSnapshot = codec::decode(&bytes).map_err(snap_read_err)?;
        Ok(Some(Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

impl StateMachine {
    /// Install a leader's snapshot: the state and the snapshot in one
    /// transaction.
    async fn install(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let body: SnapshotBody = codec::decode(&data).map_err(snap_read_err)?;
        let next = SmState {
            last_applied: meta.last_log_id,
            last_membership: meta.last_membership.clone(),
            version: body.version,
            log_index: body.log_index,
            text: Arc::from(body.text),
            seq_key: body.seq_key,
        };
        let state_bytes = codec::encode(&next).map_err(snap_write_err)?;
        let snap_bytes = codec::encode(&StoredSnapshot {
            meta: meta.clone(),
            data,
        })
        .map_err(snap_write_err)?;
        // The state and the snapshot together: after a crash the node has
        // either the old pair or the new one.
        self.db
            .write(move |txn| {
                let mut t = txn.open_table(SM)?;
                t.insert(KEY_STATE, state_bytes.as_slice())?;
                t.insert(KEY_SNAPSHOT, snap_bytes.as_slice())?;
                Ok(())
            })
            .await
            .map_err(snap_write_err)?;
        self.db
            .state_covers(meta.last_log_id.as_ref().map(|l| l.index));
        self.db
            .counters
            .snapshots_installed
            .fetch_add(1, Ordering::Relaxed);
        self.state = next;
        self.publish();
        Ok(())
    }
}

// === impl SnapshotBuilder ===

/// Builds a snapshot of the state machine as it was when the builder
/// was made (openraft may keep applying meanwhile).
#[derive(Debug)]
pub struct SnapshotBuilder {
    db: Arc<Db>,
    state: SmState,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let data = codec::encode(&SnapshotBody {
            version: self.state.version,
            log_index: self.state.log_index,
            text: self.state.text.to_string(),
            seq_key: self.state.seq_key,
        })
        .map_err(snap_write_err)?;
        let seq = self.db.counters.snapshots_built.load(Ordering::Relaxed) + 1;
        // The state machine is deterministic, so a last log id names one
        // content; the sequence number only tells builds apart in logs.
        let snapshot_id = match &self.state.last_applied {
            Some(l) => format!("{}-{}-{seq}", l.leader_id, l.index),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: self.state.last_applied,
            last_membership: self.state.last_membership.clone(),
            snapshot_id,
        };
        let stored = codec::encode(&StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        })
        .map_err(snap_write_err)?;
        let new_last = meta.last_log_id;
        self.db
            .write(move |txn| {
                let mut t = txn.open_table(SM)?;
                // Never replace a newer snapshot (one installed from the
                // leader while this one was being built).
                let newer = match t.get(KEY_SNAPSHOT)? {
                    Some(old) => codec::decode::<StoredSnapshot>(old.value())
                        .is_ok_and(|o| o.meta.last_log_id > new_last),
                    None => false,
                };
                if !newer {
                    t.insert(KEY_SNAPSHOT, stored.as_slice())?;
                }
                Ok(())
            })
            .await
            .map_err(snap_write_err)?;
        self.db
            .counters
            .snapshots_built
            .fetch_add(1, Ordering::Relaxed);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}
