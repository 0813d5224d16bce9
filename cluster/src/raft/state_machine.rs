//! The policy state machine: the running config and its version, the
//! last applied log id and membership, persisted in the store's file
//! with every apply; snapshots of it; and the `watch` through which the
//! node learns each newly applied policy.
//!
//! It also remembers the nodes a membership change removed, so that a
//! member restarted with a node file that still lists one does not take it
//! back as a peer (docs/ARCHITECTURE.md §7): a set applied from the
//! membership entries like everything else, kept in a record of its own
//! beside the state (whose encoding stays as earlier versions wrote it) and
//! carried in snapshots. The shun list (`shuns.rs`) is kept the same way:
//! a record of its own, a watch of its own, carried in snapshots.
//!
//! Apply is deterministic and never validates: a config is checked
//! before it is proposed, and every node must apply the same entries to
//! the same result whatever its own interfaces are.

use std::collections::BTreeSet;
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
use super::shuns::{self, ShunRecord};
use redb::ReadableTable as _;

use super::store::{Db, OpenError, SM};
use super::stored_snapshot::{
    self, KEY_SNAPSHOT, KEY_SNAPSHOT_DIGEST, StoredSnapshot, StoredSnapshotError,
};
use super::types::{
    AppliedPolicy, Entry, LogId, Membership, NodeId, PolicyCmd, PolicyResp, SeqKey, SnapshotMeta,
    StorageError, StoredMembership, TypeConfig, Version,
};

const KEY_STATE: &str = "state";
/// The removed nodes (absent: none, as in stores written before it).
const KEY_REMOVED: &str = "removed";
/// The shun list (absent: none, as in stores written before it).
const KEY_SHUNS: &str = "shuns";
/// The SHA-256 of the policy text in [`KEY_STATE`] ([`PolicyDigest`]):
/// its own record, so that the state's encoding stays as earlier
/// versions wrote it. Absent in stores written before it: written at the
/// next apply.
const KEY_DIGEST: &str = "policy-sha256";

/// The digest of the state's policy text, and which policy it is of: a
/// digest of another version and log index (an earlier release applied
/// after it was written, and left it as it was) is no evidence and is
/// written again, like a missing one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PolicyDigest {
    version: Version,
    log_index: u64,
    sha256: [u8; 32],
}

impl PolicyDigest {
    fn of(state: &SmState) -> PolicyDigest {
        let d = ring::digest::digest(&ring::digest::SHA256, state.text.as_bytes());
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(d.as_ref());
        PolicyDigest {
            version: state.version,
            log_index: state.log_index,
            sha256,
        }
    }

    /// Whether it is a digest of `state`'s policy (whatever its text).
    fn is_for(&self, state: &SmState) -> bool {
        (self.version, self.log_index) == (state.version, state.log_index)
    }
}

/// The most removed node ids remembered; past it the lowest is forgotten
/// (alike on every node). Far above any real cluster's history, and it
/// keeps a snapshot within [`super::MAX_SNAPSHOT_BYTES`] beside a policy of
/// the largest size.
const MAX_REMOVED_REMEMBERED: usize = 4096;

/// The codec version byte of a snapshot body that carries removed nodes
/// ([`SnapshotBodyV2`]). A snapshot with none is written as before
/// ([`SnapshotBody`], version 1), so nodes of the previous version still
/// install it during a rolling upgrade.
const SNAPSHOT_BODY_V2: u8 = 2;

/// The codec version byte of a snapshot body that carries shuns
/// ([`SnapshotBodyV3`]); one without shuns is written as before.
const SNAPSHOT_BODY_V3: u8 = 3;

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
    /// Nodes a membership change dropped and no later one took back. Not
    /// in the state record (see the module's text): its own record.
    #[serde(skip)]
    removed: BTreeSet<NodeId>,
    /// The shun list, in the order the shuns were added. Its own record.
    #[serde(skip)]
    shuns: Arc<Vec<ShunRecord>>,
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

/// The body of a snapshot of a cluster that removed nodes.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotBodyV2 {
    version: Version,
    log_index: u64,
    text: String,
    seq_key: Option<SeqKey>,
    removed: BTreeSet<NodeId>,
}

/// The body of a snapshot of a cluster with shuns in place.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotBodyV3 {
    version: Version,
    log_index: u64,
    text: String,
    seq_key: Option<SeqKey>,
    removed: BTreeSet<NodeId>,
    shuns: Vec<ShunRecord>,
}

/// A snapshot body's bytes for `state`.
fn encode_body(state: &SmState) -> Result<Vec<u8>, codec::CodecError> {
    if !state.shuns.is_empty() {
        return codec::encode_versioned(
            SNAPSHOT_BODY_V3,
            &SnapshotBodyV3 {
                version: state.version,
                log_index: state.log_index,
                text: state.text.to_string(),
                seq_key: state.seq_key,
                removed: state.removed.clone(),
                shuns: state.shuns.to_vec(),
            },
        );
    }
    if state.removed.is_empty() {
        return codec::encode(&SnapshotBody {
            version: state.version,
            log_index: state.log_index,
            text: state.text.to_string(),
            seq_key: state.seq_key,
        });
    }
    codec::encode_versioned(
        SNAPSHOT_BODY_V2,
        &SnapshotBodyV2 {
            version: state.version,
            log_index: state.log_index,
            text: state.text.to_string(),
            seq_key: state.seq_key,
            removed: state.removed.clone(),
        },
    )
}

/// A snapshot body of any version, as the newest one.
fn decode_body(data: &[u8]) -> Result<SnapshotBodyV3, codec::CodecError> {
    match data.first() {
        Some(&SNAPSHOT_BODY_V3) => codec::decode_versioned(SNAPSHOT_BODY_V3, data),
        Some(&SNAPSHOT_BODY_V2) => {
            let b: SnapshotBodyV2 = codec::decode_versioned(SNAPSHOT_BODY_V2, data)?;
            Ok(SnapshotBodyV3 {
                version: b.version,
                log_index: b.log_index,
                text: b.text,
                seq_key: b.seq_key,
                removed: b.removed,
                shuns: Vec::new(),
            })
        }
        _ => {
            let b: SnapshotBody = codec::decode(data)?;
            Ok(SnapshotBodyV3 {
                version: b.version,
                log_index: b.log_index,
                text: b.text,
                seq_key: b.seq_key,
                removed: BTreeSet::new(),
                shuns: Vec::new(),
            })
        }
    }
}

/// Apply a membership entry to the removed set: every node of the
/// previous membership that `after` lacks is removed; every node of
/// `after` is not (a `cluster join` takes a removed id back).
fn remember_removed(removed: &mut BTreeSet<NodeId>, before: &StoredMembership, after: &Membership) {
    let now: BTreeSet<NodeId> = after.nodes().map(|(id, _)| *id).collect();
    removed.extend(
        before
            .membership()
            .nodes()
            .map(|(id, _)| *id)
            .filter(|id| !now.contains(id)),
    );
    removed.retain(|id| !now.contains(id));
    while removed.len() > MAX_REMOVED_REMEMBERED {
        removed.pop_first();
    }
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
    removed: watch::Sender<BTreeSet<NodeId>>,
    /// The applied shun list.
    shuns: watch::Sender<Arc<Vec<ShunRecord>>>,
    /// The nodes of the applied membership.
    members: watch::Sender<BTreeSet<NodeId>>,
    /// The log index of the applied membership (0: none).
    membership_index: watch::Sender<u64>,
    /// Whether the store holds the digest of the state's policy text.
    digest_stored: bool,
}

/// The log index of a membership (0: the initial one, with none).
fn index_of(m: &StoredMembership) -> u64 {
    m.log_id().map_or(0, |l| l.index)
}

/// The nodes of a membership.
fn nodes_of(m: &StoredMembership) -> BTreeSet<NodeId> {
    m.membership().nodes().map(|(id, _)| *id).collect()
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
        let mut state = match db
            .get_str(SM, KEY_STATE)
            .map_err(|e| record(e.to_string()))?
        {
            Some(b) => codec::decode::<SmState>(&b).map_err(|e| record(e.to_string()))?,
            None => SmState::default(),
        };
        if let Some(b) = db
            .get_str(SM, KEY_REMOVED)
            .map_err(|e| record(e.to_string()))?
        {
            state.removed = codec::decode(&b).map_err(|e| OpenError::Record {
                path: path.to_path_buf(),
                record: KEY_REMOVED,
                reason: e.to_string(),
            })?;
        }
        if let Some(b) = db
            .get_str(SM, KEY_SHUNS)
            .map_err(|e| record(e.to_string()))?
        {
            state.shuns = Arc::new(codec::decode(&b).map_err(|e| OpenError::Record {
                path: path.to_path_buf(),
                record: KEY_SHUNS,
                reason: e.to_string(),
            })?);
        }
        // A policy text that does not match its digest would be enforced
        // as it reads: another policy than the cluster committed.
        let digest = match db
            .get_str(SM, KEY_DIGEST)
            .map_err(|e| record(e.to_string()))?
        {
            Some(b) => Some(
                codec::decode::<PolicyDigest>(&b).map_err(|e| OpenError::Record {
                    path: path.to_path_buf(),
                    record: KEY_DIGEST,
                    reason: e.to_string(),
                })?,
            ),
            None => None,
        };
        let digest_stored = match digest {
            Some(d) if d.is_for(&state) => {
                if d != PolicyDigest::of(&state) {
                    return Err(OpenError::PolicyDigest {
                        path: path.to_path_buf(),
                        version: state.version,
                    });
                }
                true
            }
            _ => false,
        };
        // What a purge may reach (`store.rs`): the applied entries, or the
        // stored snapshot's when that is later. Read whole and checked
        // against its digest: with the log purged, openraft runs from it.
        let snapshot_record = |record, reason: String| OpenError::Record {
            path: path.to_path_buf(),
            record,
            reason,
        };
        let snapshot_last = match stored_snapshot::read(&db) {
            Ok(s) => s.and_then(|s| s.meta.last_log_id),
            Err(e @ StoredSnapshotError::Database(_)) => {
                return Err(snapshot_record(KEY_SNAPSHOT, e.to_string()));
            }
            Err(StoredSnapshotError::Record(e)) => {
                return Err(snapshot_record(KEY_SNAPSHOT, e.to_string()));
            }
            Err(StoredSnapshotError::DigestRecord(e)) => {
                return Err(snapshot_record(KEY_SNAPSHOT_DIGEST, e.to_string()));
            }
            Err(StoredSnapshotError::Mismatch { last_index }) => {
                return Err(OpenError::SnapshotDigest {
                    path: path.to_path_buf(),
                    last_index,
                });
            }
        };
        db.state_covers(state.last_applied.max(snapshot_last).map(|l| l.index));
        let (policy, _) = watch::channel(applied(&state));
        let (removed, _) = watch::channel(state.removed.clone());
        let (shuns, _) = watch::channel(state.shuns.clone());
        let (members, _) = watch::channel(nodes_of(&state.last_membership));
        let (membership_index, _) = watch::channel(index_of(&state.last_membership));
        Ok(StateMachine {
            db,
            state,
            policy,
            removed,
            shuns,
            members,
            membership_index,
            digest_stored,
        })
    }

    /// A new subscription to the applied policy.
    pub fn subscribe(&self) -> watch::Receiver<AppliedPolicy> {
        self.policy.subscribe()
    }

    /// A new subscription to the nodes the cluster removed (applied
    /// membership changes; a join takes a node back).
    pub fn subscribe_removed(&self) -> watch::Receiver<BTreeSet<NodeId>> {
        self.removed.subscribe()
    }

    /// A new subscription to the applied shun list.
    pub fn subscribe_shuns(&self) -> watch::Receiver<Arc<Vec<ShunRecord>>> {
        self.shuns.subscribe()
    }

    /// A new subscription to the nodes of the applied membership: a
    /// membership is effective once appended, but only a committed one
    /// is applied (openraft), so this is what the cluster has decided.
    pub fn subscribe_members(&self) -> watch::Receiver<BTreeSet<NodeId>> {
        self.members.subscribe()
    }

    /// A new subscription to the log index of the applied membership,
    /// known from the store at start, before openraft's metrics say it.
    pub fn subscribe_membership_index(&self) -> watch::Receiver<u64> {
        self.membership_index.subscribe()
    }

    /// Take `next` as the state, telling the watches what changed (the
    /// policy's in any case with `republish`).
    fn take(&mut self, next: SmState, republish: bool) {
        let policy =
            republish || next.version != self.state.version || next.seq_key != self.state.seq_key;
        if next.removed != self.state.removed {
            self.removed.send_replace(next.removed.clone());
        }
        if next.shuns != self.state.shuns {
            self.shuns.send_replace(next.shuns.clone());
        }
        let members = nodes_of(&next.last_membership);
        self.members.send_if_modified(|m| {
            let changed = *m != members;
            *m = members;
            changed
        });
        let index = index_of(&next.last_membership);
        self.membership_index.send_if_modified(|i| {
            let changed = *i != index;
            *i = index;
            changed
        });
        self.state = next;
        if policy {
            self.publish();
        }
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
            let mut conflict = false;
            match e.payload {
                EntryPayload::Blank => {}
                // A write is refused above this size before it is proposed;
                // a member that committed one around that check (its key
                // stolen) would have every node carry it in snapshots too
                // large to install. Every node skips it alike, so their
                // state machines stay equal, and counts it.
                EntryPayload::Normal(
                    PolicyCmd::SetConfig { text }
                    | PolicyCmd::SetFirstConfig { text }
                    | PolicyCmd::SetConfigAt { text, .. },
                ) if text.len() > MAX_POLICY_BYTES => {
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
                EntryPayload::Normal(PolicyCmd::SetFirstConfig { text }) => {
                    if next.version == 0 {
                        next.version = 1;
                        next.log_index = e.log_id.index;
                        next.text = Arc::from(text);
                    }
                }
                // A compare-and-set: the text is bound to `version` (an
                // operator's signature), so it takes that version or none.
                // Two writes signed for the same version, or one signed
                // against a stale view: the first committed wins, the
                // other changes nothing and its writer is told.
                EntryPayload::Normal(PolicyCmd::SetConfigAt { version, text }) => {
                    if next.version.checked_add(1) == Some(version) {
                        next.version = version;
                        next.log_index = e.log_id.index;
                        next.text = Arc::from(text);
                    } else {
                        conflict = true;
                    }
                }
                EntryPayload::Normal(PolicyCmd::SetSeqKey { key }) => {
                    // The first key stays (PolicyCmd::SetSeqKey).
                    next.seq_key.get_or_insert(key);
                }
                // One that cannot apply (a shun already in place, the list
                // full: another change committed first) changes nothing,
                // and its writer is told.
                EntryPayload::Normal(PolicyCmd::Shun(op)) => {
                    conflict = shuns::refusal(&next.shuns, &op).is_some();
                    if !conflict {
                        shuns::apply(Arc::make_mut(&mut next.shuns), op);
                    }
                }
                EntryPayload::Membership(m) => {
                    remember_removed(&mut next.removed, &next.last_membership, &m);
                    next.last_membership = StoredMembership::new(Some(e.log_id), m);
                }
            }
            replies.push(PolicyResp {
                version: next.version,
                conflict,
            });
        }
        if replies.is_empty() {
            return Ok(replies);
        }
        let bytes = codec::encode(&next).map_err(sm_write_err)?;
        let removed = if next.removed == self.state.removed {
            None
        } else {
            Some(codec::encode(&next.removed).map_err(sm_write_err)?)
        };
        let shun_bytes = if next.shuns == self.state.shuns {
            None
        } else {
            Some(codec::encode(&*next.shuns).map_err(sm_write_err)?)
        };
        // The digest with each new policy, and once in a store without it.
        let new_policy =
            (next.version, next.log_index) != (self.state.version, self.state.log_index);
        let digest = if new_policy || !self.digest_stored {
            Some(codec::encode(&PolicyDigest::of(&next)).map_err(sm_write_err)?)
        } else {
            None
        };
        self.db
            .write(move |txn| {
                let mut t = txn.open_table(SM)?;
                t.insert(KEY_STATE, bytes.as_slice())?;
                if let Some(removed) = &removed {
                    t.insert(KEY_REMOVED, removed.as_slice())?;
                }
                if let Some(shuns) = &shun_bytes {
                    t.insert(KEY_SHUNS, shuns.as_slice())?;
                }
                if let Some(digest) = &digest {
                    t.insert(KEY_DIGEST, digest.as_slice())?;
                }
                Ok(())
            })
            .await
            .map_err(sm_write_err)?;
        self.digest_stored = true;
        self.db
            .state_covers(next.last_applied.as_ref().map(|l| l.index));
        self.db
            .counters
            .entries_applied
            .fetch_add(replies.len() as u64, Ordering::Relaxed);
        self.take(next, false);
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
        // Checked against its digest: what this returns is what openraft
        // sends a lagging or joining member, and runs from at a start.
        // A damaged record is an error openraft reports, never sent.
        let Some(s) = stored_snapshot::read(&self.db).map_err(snap_read_err)? else {
            return Ok(None);
        };
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
        stored_snapshot::check_body(meta, &data).map_err(snap_read_err)?;
        let body = decode_body(&data).map_err(snap_read_err)?;
        // A list the log could not have built (a member that wrote its
        // own snapshot) is refused whole, as a body that does not decode.
        if let Some(why) = shuns::list_problem(&body.shuns) {
            return Err(snap_read_err(std::io::Error::other(format!(
                "the snapshot's shun list: {why}"
            ))));
        }
        let next = SmState {
            last_applied: meta.last_log_id,
            last_membership: meta.last_membership.clone(),
            version: body.version,
            log_index: body.log_index,
            text: Arc::from(body.text),
            seq_key: body.seq_key,
            removed: body.removed,
            shuns: Arc::new(body.shuns),
        };
        let state_bytes = codec::encode(&next).map_err(snap_write_err)?;
        let removed_bytes = codec::encode(&next.removed).map_err(snap_write_err)?;
        let shun_bytes = codec::encode(&*next.shuns).map_err(snap_write_err)?;
        let digest_bytes = codec::encode(&PolicyDigest::of(&next)).map_err(snap_write_err)?;
        let (snap_bytes, snap_digest) =
            stored_snapshot::encode(meta, data).map_err(snap_write_err)?;
        // The state and the snapshot together: after a crash the node has
        // either the old pair or the new one.
        self.db
            .write(move |txn| {
                let mut t = txn.open_table(SM)?;
                t.insert(KEY_STATE, state_bytes.as_slice())?;
                t.insert(KEY_REMOVED, removed_bytes.as_slice())?;
                t.insert(KEY_SHUNS, shun_bytes.as_slice())?;
                t.insert(KEY_DIGEST, digest_bytes.as_slice())?;
                t.insert(KEY_SNAPSHOT, snap_bytes.as_slice())?;
                t.insert(KEY_SNAPSHOT_DIGEST, snap_digest.as_slice())?;
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
        self.digest_stored = true;
        self.take(next, true);
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
        let data = encode_body(&self.state).map_err(snap_write_err)?;
        let seq = self.db.counters.snapshots_built.load(Ordering::Relaxed) + 1;
        // The state machine is deterministic, so a last log id names one
        // content; the sequence number only tells builds apart in logs.
        // The id ends with the body's SHA-256, which a member checks
        // before it installs the body (`stored_snapshot.rs`).
        let snapshot_id = match &self.state.last_applied {
            Some(l) => format!("{}-{}-{seq}", l.leader_id, l.index),
            None => format!("none-{seq}"),
        };
        let snapshot_id = stored_snapshot::id_with_body_sha256(&snapshot_id, &data);
        let meta = SnapshotMeta {
            last_log_id: self.state.last_applied,
            last_membership: self.state.last_membership.clone(),
            snapshot_id,
        };
        let (stored, digest) =
            stored_snapshot::encode(&meta, data.clone()).map_err(snap_write_err)?;
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
                    t.insert(KEY_SNAPSHOT_DIGEST, digest.as_slice())?;
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

#[cfg(test)]
#[path = "stored_snapshot_tests.rs"]
mod stored_snapshot_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::store::STORE_FILE;
    use std::collections::BTreeMap;

    pub(super) fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-sm-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    pub(super) fn open(d: &std::path::Path) -> StateMachine {
        StateMachine::open(Db::open(d).expect("db"), &d.join(STORE_FILE)).expect("open")
    }

    /// A snapshot of `sm` as its builder makes one.
    pub(super) async fn snapshot(sm: &mut StateMachine) -> Snapshot<TypeConfig> {
        use openraft::RaftSnapshotBuilder as _;
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("snapshot")
    }

    /// A membership entry: `voters` and `learners`.
    fn membership(index: u64, voters: &[NodeId], learners: &[NodeId]) -> Entry {
        let nodes: BTreeMap<NodeId, _> = voters
            .iter()
            .chain(learners)
            .map(|id| (*id, super::super::types::MemberNode::default()))
            .collect();
        openraft::Entry {
            log_id: openraft::testing::log_id(1, 1, index),
            payload: EntryPayload::Membership(Membership::new(
                vec![voters.iter().copied().collect()],
                nodes,
            )),
        }
    }

    fn removed(sm: &StateMachine) -> Vec<NodeId> {
        sm.subscribe_removed().borrow().iter().copied().collect()
    }

    fn cmd(index: u64, cmd: PolicyCmd) -> Entry {
        openraft::Entry {
            log_id: openraft::testing::log_id(1, 1, index),
            payload: EntryPayload::Normal(cmd),
        }
    }

    /// The store's policy text with one byte flipped is refused at the
    /// next open (it would have been enforced as it read, with no word);
    /// a store without the digest (written before it) opens as before and
    /// gets it at the next apply.
    #[tokio::test(flavor = "current_thread")]
    async fn a_policy_text_changed_in_the_store_is_refused_at_open() {
        let d = dir("digest");
        let text = "access-list A extended permit tcp any any eq 443\n";
        {
            let mut sm = open(&d);
            let set = cmd(1, PolicyCmd::SetConfig { text: text.into() });
            sm.apply([set]).await.expect("apply");
        }
        let sm = open(&d);
        let bytes = sm.db.get_str(SM, KEY_STATE).expect("read").expect("state");
        // Flip one byte of the text: "443" becomes "543".
        let at = bytes
            .windows(3)
            .position(|w| w == b"443")
            .expect("the text is in the record");
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x01;
        let db = sm.db.clone();
        let write = |key: &'static str, value: Option<Vec<u8>>| {
            let db = db.clone();
            async move {
                db.write(move |txn| {
                    let mut t = txn.open_table(SM)?;
                    match &value {
                        Some(v) => t.insert(key, v.as_slice()).map(|_| ())?,
                        None => t.remove(key).map(|_| ())?,
                    }
                    Ok(())
                })
                .await
                .expect("write")
            }
        };
        write(KEY_STATE, Some(flipped)).await;
        drop(sm);
        let e = StateMachine::open(db.clone(), &d.join(STORE_FILE)).expect_err("refused");
        assert!(
            matches!(e, OpenError::PolicyDigest { version: 1, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("SHA-256"), "{e}");
        assert!(e.to_string().contains("aside"), "{e}");
        // Without the digest (as an earlier version wrote the store), the
        // same record opens, and the next apply writes the digest.
        write(KEY_STATE, Some(bytes)).await;
        write(KEY_DIGEST, None).await;
        let mut sm = StateMachine::open(db.clone(), &d.join(STORE_FILE)).expect("earlier store");
        assert!(!sm.digest_stored);
        assert!(db.get_str(SM, KEY_DIGEST).expect("read").is_none());
        sm.apply([cmd(
            2,
            PolicyCmd::SetSeqKey {
                key: SeqKey([1; 16]),
            },
        )])
        .await
        .expect("apply");
        let stored = db.get_str(SM, KEY_DIGEST).expect("read").expect("digest");
        let stored: PolicyDigest = codec::decode(&stored).expect("decode");
        assert_eq!(stored, PolicyDigest::of(&sm.state));
        drop(sm);
        StateMachine::open(db, &d.join(STORE_FILE)).expect("reopen");
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A bootstrap's finishing write applies only while no policy was
    /// committed: one written meanwhile through another member stays.
    #[tokio::test(flavor = "current_thread")]
    async fn a_first_config_never_overrides_a_committed_one() {
        let d = dir("first-config");
        let mut sm = open(&d);
        let first = |i, t: &str| cmd(i, PolicyCmd::SetFirstConfig { text: t.into() });
        let set = |i, t: &str| cmd(i, PolicyCmd::SetConfig { text: t.into() });
        sm.apply([set(1, "written meanwhile")]).await.unwrap();
        let r = sm.apply([first(2, "bootstrap file")]).await.unwrap();
        assert_eq!(r[0].version, 1);
        assert_eq!(sm.subscribe().borrow().text.as_str(), "written meanwhile");
        let d2 = dir("first-config-empty");
        let mut sm = open(&d2);
        sm.apply([first(1, "bootstrap file")]).await.unwrap();
        sm.apply([first(2, "again")]).await.unwrap();
        let now = sm.subscribe().borrow().clone();
        assert_eq!((now.version, now.text.as_str()), (1, "bootstrap file"));
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_dir_all(&d2);
    }

    /// A write bound to a version commits as that version or changes
    /// nothing: a second one for the same version, one signed against a
    /// stale view and one for a version ahead are each refused, and the
    /// reply says so; every reply carries the version then in force.
    #[tokio::test(flavor = "current_thread")]
    async fn a_write_bound_to_a_version_takes_that_version_or_none() {
        let d = dir("config-at");
        let mut sm = open(&d);
        let at = |i, version, t: &str| {
            cmd(
                i,
                PolicyCmd::SetConfigAt {
                    version,
                    text: t.into(),
                },
            )
        };
        let set = |i, t: &str| cmd(i, PolicyCmd::SetConfig { text: t.into() });
        let r = sm
            .apply([
                at(1, 1, "first"),
                at(2, 1, "also for 1"),
                set(3, "unbound"),
                at(4, 2, "for 2, stale"),
                at(5, 9, "for 9"),
                at(6, 3, "for 3"),
            ])
            .await
            .unwrap();
        let got: Vec<(Version, bool)> = r.iter().map(|r| (r.version, r.conflict)).collect();
        assert_eq!(
            got,
            [
                (1, false),
                (1, true),
                (2, false),
                (2, true),
                (2, true),
                (3, false)
            ]
        );
        let now = sm.subscribe().borrow().clone();
        assert_eq!(
            (now.version, now.text.as_str(), now.log_index),
            (3, "for 3", 6)
        );
        drop(sm);
        // Durable as any other apply.
        let again = open(&d).subscribe().borrow().clone();
        assert_eq!((again.version, again.text.as_str()), (3, "for 3"));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Entries of the earlier commands keep their encoding (the variant's
    /// index first), so logs and snapshots written before `SetConfigAt`
    /// read as they were written.
    #[test]
    fn earlier_commands_keep_their_encoding() {
        let set = codec::encode(&PolicyCmd::SetConfig { text: "x".into() }).unwrap();
        assert_eq!(set, [1, 0, 1, b'x']);
        let first = codec::encode(&PolicyCmd::SetFirstConfig { text: "x".into() }).unwrap();
        assert_eq!(first, [1, 2, 1, b'x']);
        let at = codec::encode(&PolicyCmd::SetConfigAt {
            version: 7,
            text: "x".into(),
        })
        .unwrap();
        assert_eq!(at, [1, 3, 7, 1, b'x']);
    }

    /// A node a membership entry drops is remembered (also a learner, and
    /// across the joint step of a voter's removal), durably and in
    /// snapshots; a membership that names it again (a join) forgets it.
    #[tokio::test(flavor = "current_thread")]
    async fn removed_nodes_are_remembered_until_joined_again() {
        use openraft::RaftSnapshotBuilder as _;
        let d = dir("removed");
        {
            let mut sm = open(&d);
            let watch = sm.subscribe_removed();
            sm.apply([
                membership(1, &[1], &[]),
                membership(2, &[1], &[2, 3, 4]),
                membership(3, &[1, 2, 3], &[4]),
            ])
            .await
            .expect("apply");
            assert!(removed(&sm).is_empty());
            assert!(!watch.has_changed().expect("watch"));
            // Removing voter 3 (joint, then final) and learner 4.
            let joint = {
                let nodes: BTreeMap<NodeId, _> = [1, 2, 3]
                    .into_iter()
                    .map(|id| (id, super::super::types::MemberNode::default()))
                    .collect();
                openraft::Entry {
                    log_id: openraft::testing::log_id(1, 1, 4),
                    payload: EntryPayload::Membership(Membership::new(
                        vec![[1, 2, 3].into(), [1, 2].into()],
                        nodes,
                    )),
                }
            };
            sm.apply([joint, membership(5, &[1, 2], &[])])
                .await
                .expect("apply");
            assert_eq!(removed(&sm), vec![3, 4]);
            assert!(watch.has_changed().expect("watch"));
        }
        // Durable: a reopened store remembers them.
        let mut sm = open(&d);
        assert_eq!(removed(&sm), vec![3, 4]);
        // A snapshot carries them to another store.
        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("snapshot");
        assert_eq!(snap.snapshot.get_ref().first(), Some(&SNAPSHOT_BODY_V2));
        let other = dir("removed-other");
        {
            let mut sm2 = open(&other);
            let mut data = sm2.begin_receiving_snapshot().await.expect("begin");
            *data = *snap.snapshot;
            sm2.install_snapshot(&snap.meta, data)
                .await
                .expect("install");
            assert_eq!(removed(&sm2), vec![3, 4]);
        }
        assert_eq!(removed(&open(&other)), vec![3, 4], "installed durably");
        // A join of node 3 (as a learner first) takes it back.
        sm.apply([membership(6, &[1, 2], &[3])])
            .await
            .expect("apply");
        assert_eq!(removed(&sm), vec![4]);
        drop(sm);
        assert_eq!(removed(&open(&d)), vec![4]);
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_dir_all(&other);
    }

    /// A shun change is kept in its own record (read back at open), is
    /// no policy write (the version stays), and a snapshot carries the
    /// list in the third body, which another store installs whole; a
    /// list emptied again snapshots as the first body.
    #[tokio::test(flavor = "current_thread")]
    async fn the_shun_list_persists_and_travels_in_snapshots() {
        use super::super::shuns::{ShunOp, ShunScope};
        let d = dir("shuns");
        let mut sm = open(&d);
        let rec = ShunRecord {
            source: "198.18.0.10".parse().unwrap(),
            conn: None,
            scope: ShunScope::Interface("outside".into()),
            added_unix: 7,
        };
        sm.apply([
            membership(1, &[1], &[]),
            cmd(2, PolicyCmd::SetConfig { text: "x".into() }),
            cmd(3, PolicyCmd::Shun(ShunOp::Add(rec.clone()))),
        ])
        .await
        .expect("apply");
        assert_eq!(*sm.subscribe_shuns().borrow().clone(), vec![rec.clone()]);
        assert_eq!(sm.subscribe().borrow().version, 1);
        let snap = snapshot(&mut sm).await;
        assert_eq!(snap.snapshot.get_ref()[0], SNAPSHOT_BODY_V3);
        drop(sm);
        let sm = open(&d);
        assert_eq!(*sm.subscribe_shuns().borrow().clone(), vec![rec.clone()]);
        drop(sm);
        // Installed on another store.
        let other = dir("shuns-other");
        let mut sm2 = open(&other);
        sm2.install_snapshot(&snap.meta, snap.snapshot)
            .await
            .expect("install");
        assert_eq!(*sm2.subscribe_shuns().borrow().clone(), vec![rec]);
        drop(sm2);
        let mut sm2 = open(&other);
        assert_eq!(sm2.subscribe_shuns().borrow().len(), 1);
        sm2.apply([cmd(4, PolicyCmd::Shun(ShunOp::Clear))])
            .await
            .expect("apply");
        assert!(sm2.subscribe_shuns().borrow().is_empty());
        let snap = snapshot(&mut sm2).await;
        let body: SnapshotBody = codec::decode(snap.snapshot.get_ref()).expect("v1 body");
        assert_eq!(body.version, 1);
        drop(sm2);
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_dir_all(&other);
    }

    /// Stores and snapshots written before the removed set: the state
    /// record keeps its encoding, and a snapshot without removed nodes is
    /// still the earlier body, which the earlier version installs.
    #[tokio::test(flavor = "current_thread")]
    async fn the_state_and_snapshot_encodings_stay_compatible() {
        use openraft::RaftSnapshotBuilder as _;
        let d = dir("compat");
        let mut sm = open(&d);
        sm.apply([membership(1, &[1], &[])]).await.expect("apply");
        // The state record is what the version before wrote (no removed
        // field): it decodes as that version's struct would.
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Before {
            last_applied: Option<LogId>,
            last_membership: StoredMembership,
            version: Version,
            log_index: u64,
            text: String,
            seq_key: Option<SeqKey>,
        }
        let bytes = sm.db.get_str(SM, KEY_STATE).expect("read").expect("state");
        let before: Before = codec::decode(&bytes).expect("the earlier state record");
        assert_eq!(before.last_applied.map(|l| l.index), Some(1));
        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("snapshot");
        let body: SnapshotBody = codec::decode(snap.snapshot.get_ref()).expect("v1 body");
        assert_eq!(body.version, 0);
        assert!(
            decode_body(snap.snapshot.get_ref())
                .expect("read")
                .removed
                .is_empty()
        );
        drop(sm);
        let _ = std::fs::remove_dir_all(&d);
    }
}

#[cfg(test)]
#[path = "shun_tests.rs"]
mod shun_tests;
