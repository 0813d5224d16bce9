//! The Raft log store on disk: one redb file per node holding the log,
//! the vote, the committed and last purged log ids, and (see
//! [`super::state_machine`]) the state machine and its current snapshot,
//! so that installing a snapshot is one transaction.
//!
//! Write transactions commit with `Durability::Immediate` (redb fsyncs
//! before `commit` returns): Raft's safety rests on a vote and on
//! appended entries surviving a crash once acknowledged, so the append
//! callback runs only after the commit. The one exception is the
//! committed log id (see `save_committed`). redb blocks on fsync, so writes
//! run on tokio's blocking pool, off the Raft core's task.
//!
//! The log is never purged past what the state machine holds durably.
//! openraft 0.9.25 installs a leader's snapshot by queueing the install to
//! its state-machine task and purging the log at once, without waiting for
//! the install; the install and the purge are two transactions here, and a
//! crash (or a failed install) between them would leave the log purged past
//! the state machine: the next apply asks for entries that are gone, on
//! every start. So a purge beyond what the state machine covers, while a
//! snapshot receive is in flight, waits for the install to commit (and
//! fails if it fails); see [`Db::wait_covered`]. A store already in that
//! state is refused when Raft starts ([`refuse_purged_past_state`]).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageIOError, Vote};
use redb::{Database, Durability, ReadableDatabase as _, ReadableTable as _, TableDefinition};
use tokio::sync::watch;

use crate::bounded_read::open_regular;
use crate::private_files::{
    TrustError, check_trusted_dir, check_trusted_meta, create_private_dir_all, create_secret_file,
};

use super::bounds::MAX_RAFT_NUMBER;
use super::codec;
use super::settings::SNAPSHOT_INSTALL_WAIT;
use super::types::{Entry, LogId, NodeId, StorageError, TypeConfig, Version};

/// The store's file inside the Raft directory.
pub const STORE_FILE: &str = "raft.redb";

/// Log entries by index.
pub(super) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// Vote, committed and last purged log ids.
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The state machine and its current snapshot.
pub(super) const SM: TableDefinition<&str, &[u8]> = TableDefinition::new("state_machine");

pub(super) const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_LAST_PURGED: &str = "last_purged";

/// Store counters (monotonic), for metrics.
#[derive(Debug, Default)]
pub struct StoreCounters {
    /// Durable write transactions committed (each one fsync).
    pub fsyncs: AtomicU64,
    /// Log entries appended.
    pub entries_appended: AtomicU64,
    /// Entries applied to the state machine.
    pub entries_applied: AtomicU64,
    /// Snapshots built here.
    pub snapshots_built: AtomicU64,
    /// Snapshots received from a leader and installed.
    pub snapshots_installed: AtomicU64,
    /// The committed log index + 1 (0: nothing committed yet).
    pub committed_index_plus_one: AtomicU64,
    /// Raft calls from members refused: undecodable, naming another
    /// sender, a snapshot chunk past the size limit, a term or index past
    /// 2^62, entries out of order, or a membership no change makes; and
    /// members' replies refused, with a term or index past 2^62.
    pub rpcs_refused: AtomicU64,
    /// Committed policies larger than the write path takes, skipped by the
    /// state machine (a member committed them around the check).
    pub policies_oversized: AtomicU64,
    /// Votes asked of this node while its log was not complete, refused
    /// (`identity.rs`).
    pub votes_withheld: AtomicU64,
}

impl StoreCounters {
    /// The committed log index, if any.
    pub fn committed_index(&self) -> Option<u64> {
        self.committed_index_plus_one
            .load(Ordering::Relaxed)
            .checked_sub(1)
    }
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The directory could not be created.
    #[error("{path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// redb refused the file (corrupt, open elsewhere, unreadable).
    #[error("{path}: {source}")]
    Database {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<redb::Error>,
    },
    /// redb panicked on the file (some corruptions reach an assertion of
    /// its own instead of an error).
    #[error(
        "{path}: the store is corrupt (the database library failed on it: {reason}). Stop the \
         node, move the directory {dir} aside (keep it for inspection) and start the node \
         again: with an empty store it catches up from the cluster's leader",
        dir = .path.parent().map_or_else(|| ".".into(), |d| d.display().to_string())
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The library's message.
        reason: String,
    },
    /// The log was purged past what the state machine holds: a snapshot
    /// install was cut short (a crash or a failed install between the
    /// purge and the install, before this version kept them in order).
    /// Raft would stop at the next apply, on every start.
    #[error(
        "{path}: the Raft log is purged up to index {purged}, but the state machine holds \
         entries only up to {covered} (a snapshot install from the leader was cut short, and \
         the entries between are gone); this store cannot catch up. Stop the node, move the \
         directory {dir} aside (keep it for inspection) and start the node again: with an \
         empty store it catches up from the cluster's leader and does not vote until it has \
         (docs/ARCHITECTURE.md §7, cluster identity)",
        dir = .path.parent().map_or_else(|| ".".into(), |d| d.display().to_string()),
        covered = .covered.map_or_else(|| "none".to_string(), |c| format!("index {c}"))
    )]
    PurgedPastState {
        /// The file.
        path: PathBuf,
        /// The last purged log index.
        purged: u64,
        /// The last index the state machine holds (applied or in its
        /// snapshot), if any.
        covered: Option<u64>,
    },
    /// The log does not run in order (a gap, or a leader going down): a
    /// member's entries that an earlier version stored. openraft fails
    /// every start reading it back.
    #[error(
        "{path}: the Raft log is out of order ({why}): a cluster member sent entries no leader \
         sends, and a version before this one stored them; this store cannot start. Stop the \
         node, move the directory {dir} aside (keep it for inspection) and start the node \
         again: with an empty store it catches up from the cluster's leader and does not vote \
         until it has (docs/ARCHITECTURE.md §7, cluster identity)",
        dir = .path.parent().map_or_else(|| ".".into(), |d| d.display().to_string())
    )]
    LogOutOfOrder {
        /// The file.
        path: PathBuf,
        /// Where the order breaks.
        why: String,
    },
    /// The stored vote's term is 2^62 or more (`bounds.rs`): a member's
    /// term that an earlier version adopted from a reply. openraft would
    /// start on it and stop at its next election (`term + 1` overflows),
    /// on every start.
    #[error(
        "{path}: the stored Raft vote has term {term}, past 2^62, which no cluster reaches: a \
         member sent it and a version before this one adopted it; this store cannot start. \
         Stop the node, move the directory {dir} aside (keep it for inspection) and start the \
         node again: with an empty store it catches up from the cluster's leader and does not \
         vote until it has. If every voter's store is refused so, no leader is left to catch up \
         from: move them all aside, found the cluster again on one node ([cluster] bootstrap) \
         and join the others (docs/ARCHITECTURE.md §7, Raft numbers)",
        dir = .path.parent().map_or_else(|| ".".into(), |d| d.display().to_string())
    )]
    VoteBeyondBounds {
        /// The file.
        path: PathBuf,
        /// The stored vote's term.
        term: u64,
    },
    /// The directory or the file may be changed by another user (docs/ops.md §4).
    #[error(transparent)]
    Untrusted(#[from] TrustError),
    /// The file exists and is empty: redb would take it for a new store,
    /// and the node would start with no vote, log, policy or cluster id.
    #[error(
        "{path}: the Raft store is empty (0 bytes), though this start did not create it; it is \
         not opened as a new store, which would forget the node's vote and log. An empty store \
         is what a crash during a node's very first start, or a truncation, leaves. Stop the \
         node, move the directory {dir} aside (keep it for inspection) and start the node \
         again: with an empty store it catches up from the cluster's leader and does not vote \
         until it has (docs/ARCHITECTURE.md §7, cluster identity)",
        dir = .path.parent().map_or_else(|| ".".into(), |d| d.display().to_string())
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The policy text the state machine holds does not match the SHA-256
    /// stored with it: the node would enforce another policy than the
    /// cluster committed.
    #[error(
        "{path}: the stored policy (version {version}) does not match the SHA-256 recorded \
         with it (the file was damaged or changed outside Rampart), so this node would enforce \
         another policy than the cluster committed. Stop the node, move the directory {dir} \
         aside (keep it for inspection) and start the node again: with an empty store it \
         catches up from the cluster's leader",
        dir = .path.parent().map_or_else(|| ".".into(), |d| d.display().to_string())
    )]
    PolicyDigest {
        /// The file.
        path: PathBuf,
        /// The version the state holds.
        version: Version,
    },
    /// The stored snapshot does not match the SHA-256 stored with it: a
    /// node whose log is purged would run its policy, and send it to the
    /// members it catches up (`stored_snapshot.rs`).
    #[error(
        "{path}: the stored Raft snapshot (record \"snapshot\", up to log index {}) does not \
         match the SHA-256 recorded with it (record \"snapshot-sha256\", or in the snapshot's \
         id): the file was damaged or changed outside Rampart, so this node would enforce, \
         and send to the members it catches up, another policy than the cluster committed. \
         Stop the node, move the directory {dir} aside (keep it for inspection) and start the \
         node again: with an empty store it catches up from the cluster's leader",
        .last_index.map_or_else(|| "none".to_string(), |i| i.to_string()),
        dir = .path.parent().map_or_else(|| ".".into(), |d| d.display().to_string())
    )]
    SnapshotDigest {
        /// The file.
        path: PathBuf,
        /// The last log index the snapshot's meta names.
        last_index: Option<u64>,
    },
    /// A record in the file does not decode.
    #[error("{path}: record {record:?} is unreadable: {reason}")]
    Record {
        /// The file.
        path: PathBuf,
        /// Which record.
        record: &'static str,
        /// Why.
        reason: String,
    },
}

/// What the state machine holds durably, and whether a snapshot from a
/// leader is being received: what a purge must wait for.
#[derive(Debug, Clone, Default)]
pub(super) struct Coverage {
    /// The highest log index the state machine holds on disk: its last
    /// applied entry, or its stored snapshot's last, whichever is later.
    covered: Option<u64>,
    /// Snapshot receives begun and not yet installed. A receive the leader
    /// abandons is never installed and stays counted; that only makes a
    /// later purge wait for coverage, which the install it belongs to
    /// brings.
    receiving: u32,
    /// Why the last install failed, until the next receive begins.
    failed: Option<String>,
}

/// The open database, shared by the log store and the state machine.
#[derive(Debug)]
pub(super) struct Db {
    pub(super) db: Database,
    pub(super) counters: Arc<StoreCounters>,
    /// Set by the state machine after each of its commits and around each
    /// snapshot receive; read by the log store's purge.
    coverage: watch::Sender<Coverage>,
}

thread_local! {
    /// Whether a panic on this thread is one [`quietly`] catches.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f`, turning a panic into its message. The panic is not reported
/// (no "panicked at" line, no backtrace in the journal): a hook installed
/// once passes every other panic, of any thread, to the hook before it.
fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let earlier = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                earlier(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    out.map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// Run the start-time reads of the store under `path` (`fut`), turning a
/// panic of the database library on a corrupt file into
/// [`OpenError::Corrupt`], as [`Db::open`] does.
pub(super) async fn guarded<T>(
    path: &Path,
    fut: impl std::future::Future<Output = Result<T, OpenError>>,
) -> Result<T, OpenError> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| match quietly(|| fut.as_mut().poll(cx)) {
        Ok(p) => p,
        Err(reason) => std::task::Poll::Ready(Err(OpenError::Corrupt {
            path: path.to_path_buf(),
            reason,
        })),
    })
    .await
}

/// [`guarded`] for reads that do not wait.
pub(super) fn guarded_now<T>(
    path: &Path,
    f: impl FnOnce() -> Result<T, OpenError>,
) -> Result<T, OpenError> {
    quietly(f).unwrap_or_else(|reason| {
        Err(OpenError::Corrupt {
            path: path.to_path_buf(),
            reason,
        })
    })
}

impl Db {
    /// Open (or create) the store under `dir`, creating every table so
    /// that reads never meet a missing one.
    pub(super) fn open(dir: &Path) -> Result<Arc<Db>, OpenError> {
        // The directory 0700 and the file 0600, set explicitly: redb
        // creates its file with the umask's mode, which may be 0666
        // (docs/ops.md §4). An empty file is one redb initializes. Both
        // helpers sync the directory they add an entry to: redb's commits
        // sync the file, not its name, and a store lost at a power loss
        // would take back the votes and entries this node acknowledged.
        create_private_dir_all(dir).map_err(|source| OpenError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        // Nobody but root and this user may change the directory, so the
        // file checked below is the one redb opens by name after.
        check_trusted_dir(dir, "Raft directory")?;
        let path = dir.join(STORE_FILE);
        let fail = |e: redb::Error| OpenError::Database {
            path: path.clone(),
            source: Box::new(e),
        };
        let created = match create_secret_file(&path) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(fail(e.into())),
        };
        let (_, meta) = open_regular(&path, "Raft store", false).map_err(TrustError::from)?;
        check_trusted_meta(&path, "Raft store", &meta)?;
        // redb takes an empty file for a new database: only the one this
        // start just made may be one.
        if !created && meta.len() == 0 {
            return Err(OpenError::Empty { path });
        }
        // Some corruptions make redb panic rather than answer an error: a
        // node refuses such a file with a clear error like any other.
        // So is one it finds damaged or truncated: the error says once what
        // the library said, and what to do.
        let fail = |e: redb::Error| match &e {
            redb::Error::Corrupted(_) => OpenError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            },
            redb::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                OpenError::Corrupt {
                    path: path.clone(),
                    reason: format!("the file ends too soon: {e}"),
                }
            }
            _ => fail(e),
        };
        let opened = quietly(|| -> Result<Database, OpenError> {
            let db = Database::create(&path).map_err(|e| fail(e.into()))?;
            let txn = db.begin_write().map_err(|e| fail(e.into()))?;
            {
                txn.open_table(LOG).map_err(|e| fail(e.into()))?;
                txn.open_table(META).map_err(|e| fail(e.into()))?;
                txn.open_table(SM).map_err(|e| fail(e.into()))?;
            }
            txn.commit().map_err(|e| fail(e.into()))?;
            Ok(db)
        });
        let db = match opened {
            Ok(r) => r?,
            Err(reason) => return Err(OpenError::Corrupt { path, reason }),
        };
        Ok(Arc::new(Db {
            db,
            counters: Arc::new(StoreCounters::default()),
            coverage: watch::Sender::new(Coverage::default()),
        }))
    }

    /// The state machine holds entries up to `index` on disk (called after
    /// the commit that put them there).
    pub(super) fn state_covers(&self, index: Option<u64>) {
        self.coverage.send_if_modified(|c| {
            let more = index > c.covered;
            if more {
                c.covered = index;
            }
            more
        });
    }

    /// The highest log index the state machine holds on disk.
    pub(super) fn covered(&self) -> Option<u64> {
        self.coverage.borrow().covered
    }

    /// A snapshot receive began: purges past the state machine wait for
    /// its install from now on.
    pub(super) fn receive_began(&self) {
        self.coverage.send_modify(|c| {
            c.receiving = c.receiving.saturating_add(1);
            c.failed = None;
        });
    }

    /// A snapshot install ended (its commit done, or failed with `failed`).
    pub(super) fn receive_ended(&self, failed: Option<String>) {
        self.coverage.send_modify(|c| {
            c.receiving = c.receiving.saturating_sub(1);
            if failed.is_some() {
                c.failed = failed;
            }
        });
    }

    /// Wait until a purge up to `upto` leaves no entry the state machine
    /// lacks: at once when the state machine covers `upto`, or when no
    /// snapshot receive is in flight (openraft purges only what a snapshot
    /// covers, apart from a snapshot install; the conformance suite purges
    /// entries never applied). Otherwise the install that began the
    /// receive is on its way on the state-machine task: wait for its
    /// commit, asynchronously (the cluster runtime may have one thread, and
    /// the install needs it), and fail if it fails or never comes.
    async fn wait_covered(&self, upto: u64) -> Result<(), String> {
        let mut rx = self.coverage.subscribe();
        let deadline = tokio::time::Instant::now() + SNAPSHOT_INSTALL_WAIT;
        loop {
            let now = rx.borrow_and_update().clone();
            if now.covered >= Some(upto) {
                return Ok(());
            }
            if let Some(why) = now.failed {
                return Err(format!(
                    "not purging the log up to index {upto}: the snapshot install that \
                     covers it failed ({why})"
                ));
            }
            if now.receiving == 0 {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives in `self`: not reached.
                Ok(Err(_)) => return Err("the store's coverage record is gone".into()),
                Err(_) => {
                    return Err(format!(
                        "not purging the log up to index {upto}: the state machine holds \
                         entries only up to {:?} and the snapshot install did not commit \
                         within {SNAPSHOT_INSTALL_WAIT:?}",
                        now.covered
                    ));
                }
            }
        }
    }

    /// Run a durable write transaction (fsync before it returns) on the
    /// blocking pool.
    pub(super) async fn write<T, F>(self: &Arc<Self>, f: F) -> Result<T, redb::Error>
    where
        T: Send + 'static,
        F: FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error> + Send + 'static,
    {
        self.write_with(Durability::Immediate, f).await
    }

    async fn write_with<T, F>(
        self: &Arc<Self>,
        durability: Durability,
        f: F,
    ) -> Result<T, redb::Error>
    where
        T: Send + 'static,
        F: FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error> + Send + 'static,
    {
        let me = self.clone();
        let job = tokio::task::spawn_blocking(move || {
            let mut txn = me.db.begin_write()?;
            let fsync = matches!(durability, Durability::Immediate);
            txn.set_durability(durability)?;
            let out = f(&txn)?;
            txn.commit()?;
            if fsync {
                me.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
            }
            Ok(out)
        });
        match job.await {
            Ok(r) => r,
            Err(e) => Err(redb::Error::Io(std::io::Error::other(format!(
                "store task failed: {e}"
            )))),
        }
    }

    /// Read one record of a `&str`-keyed table.
    pub(super) fn get_str(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<Vec<u8>>, redb::Error> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(table)?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read(AnyError::new(&e)).into()
}

// openraft's traits fix the error type; it is large, and rare.
#[allow(clippy::result_large_err)]
fn decode_meta<T: serde::de::DeserializeOwned>(
    db: &Db,
    key: &str,
) -> Result<Option<T>, StorageError> {
    match db.get_str(META, key).map_err(read_err)? {
        Some(b) => codec::decode(&b).map(Some).map_err(read_err),
        None => Ok(None),
    }
}

// === impl LogStore ===

/// The Raft log, vote and committed id (openraft's `RaftLogStorage`).
#[derive(Debug, Clone)]
pub struct LogStore {
    db: Arc<Db>,
}

impl LogStore {
    pub(super) fn new(db: Arc<Db>) -> Self {
        LogStore { db }
    }

    #[allow(clippy::result_large_err)]
    fn last_purged(&self) -> Result<Option<LogId>, StorageError> {
        decode_meta(&self.db, KEY_LAST_PURGED)
    }
}

/// Refuse a store whose log was purged past what its state machine holds
/// (see the module's text): openraft would start on it and stop at the
/// first apply, asking for entries that are gone. Call after the state
/// machine was opened (it records what it covers).
pub(super) fn refuse_purged_past_state(db: &Db, path: &Path) -> Result<(), OpenError> {
    let purged: Option<LogId> =
        decode_meta(db, KEY_LAST_PURGED).map_err(|e| OpenError::Record {
            path: path.to_path_buf(),
            record: KEY_LAST_PURGED,
            reason: e.to_string(),
        })?;
    let covered = db.covered();
    match purged {
        Some(p) if Some(p.index) > covered => Err(OpenError::PurgedPastState {
            path: path.to_path_buf(),
            purged: p.index,
            covered,
        }),
        _ => Ok(()),
    }
}

/// Refuse a store whose log does not run in order: entries one index at a
/// time from just after the last purged one, their leaders (term, then
/// node) never going down. Before this version refused such entries from
/// a member (`entry_checks.rs`), a member could have a node store one
/// past a gap; openraft then fails every start reading the log back
/// ("Failed to get log entries, expected index: [11, 16)"), saying nothing
/// of why or what to do. Reads every entry the log holds: a log is purged
/// to a few hundred at most (`RaftSettings::snapshot_logs_since_last`).
pub(super) fn refuse_log_out_of_order(db: &Db, path: &Path) -> Result<(), OpenError> {
    let record = |record: &'static str, reason: String| OpenError::Record {
        path: path.to_path_buf(),
        record,
        reason,
    };
    let purged: Option<LogId> =
        decode_meta(db, KEY_LAST_PURGED).map_err(|e| record(KEY_LAST_PURGED, e.to_string()))?;
    let txn = db
        .db
        .begin_read()
        .map_err(|e| record("log", e.to_string()))?;
    let t = txn
        .open_table(LOG)
        .map_err(|e| record("log", e.to_string()))?;
    let mut expect = purged.map_or(0, |p| p.index.saturating_add(1));
    let mut before = purged;
    for row in t.iter().map_err(|e| record("log", e.to_string()))? {
        let (k, v) = row.map_err(|e| record("log", e.to_string()))?;
        let entry: Entry = codec::decode(v.value())
            .map_err(|e| record("log", format!("entry {}: {e}", k.value())))?;
        let why = if k.value() != expect {
            Some(format!(
                "the log holds no entry {expect} but one at {}",
                k.value()
            ))
        } else if entry.log_id.index != k.value() {
            Some(format!(
                "entry {} names index {}",
                k.value(),
                entry.log_id.index
            ))
        } else if before.is_some_and(|b| entry.log_id.leader_id < b.leader_id) {
            Some(format!(
                "entry {} is of an earlier leader (term {}) than the entry before it",
                k.value(),
                entry.log_id.leader_id.term
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(OpenError::LogOutOfOrder {
                path: path.to_path_buf(),
                why,
            });
        }
        before = Some(entry.log_id);
        expect = expect.saturating_add(1);
    }
    Ok(())
}

/// Refuse a store whose vote's term is 2^62 or more (`bounds.rs`): peers'
/// calls and replies past the bound are refused now, but a version before
/// this one adopted such a term from a member's reply and stored it, and
/// openraft's next election after any start would stop its core. Refused
/// with what to do rather than lowered: a vote must never go back, or the
/// node could vote twice in one term. The log needs no check of its own: a
/// node stores no entry of a term past its vote's, and an index past the
/// bound follows a gap, which [`refuse_log_out_of_order`] refuses.
pub(super) fn refuse_vote_beyond_bounds(db: &Db, path: &Path) -> Result<(), OpenError> {
    let vote: Option<Vote<NodeId>> = decode_meta(db, KEY_VOTE).map_err(|e| OpenError::Record {
        path: path.to_path_buf(),
        record: KEY_VOTE,
        reason: e.to_string(),
    })?;
    match vote.map(|v| v.leader_id().get_term()) {
        Some(term) if term >= MAX_RAFT_NUMBER => Err(OpenError::VoteBeyondBounds {
            path: path.to_path_buf(),
            term,
        }),
        _ => Ok(()),
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let txn = self.db.db.begin_read().map_err(read_err)?;
        let t = txn.open_table(LOG).map_err(read_err)?;
        let mut out = Vec::new();
        for row in t.range::<u64>(range).map_err(read_err)? {
            let (_, v) = row.map_err(read_err)?;
            out.push(codec::decode::<Entry>(v.value()).map_err(read_err)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id = self.last_purged()?;
        let last = {
            let txn = self.db.db.begin_read().map_err(read_err)?;
            let t = txn.open_table(LOG).map_err(read_err)?;
            match t.last().map_err(read_err)? {
                Some((_, v)) => Some(codec::decode::<Entry>(v.value()).map_err(read_err)?.log_id),
                None => None,
            }
        };
        Ok(LogState {
            last_log_id: last.or(last_purged_log_id),
            last_purged_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let bytes =
            codec::encode(vote).map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        self.db
            .write(move |txn| {
                txn.open_table(META)?.insert(KEY_VOTE, bytes.as_slice())?;
                Ok(())
            })
            .await
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        decode_meta(&self.db, KEY_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let bytes =
            codec::encode(&committed).map_err(|e| StorageIOError::write(AnyError::new(&e)))?;
        let index = committed.as_ref().map_or(0, |c| c.index + 1);
        // Not fsynced: the committed id only saves re-applying entries
        // after a restart (openraft learns it again from the leader), and
        // the next durable commit (an append or an apply) carries it to
        // disk. It saves one fsync per write on every node.
        self.db
            .write_with(Durability::None, move |txn| {
                txn.open_table(META)?
                    .insert(KEY_COMMITTED, bytes.as_slice())?;
                Ok(())
            })
            .await
            .map_err(|e| StorageError::from(StorageIOError::write(AnyError::new(&e))))?;
        self.db
            .counters
            .committed_index_plus_one
            .store(index, Ordering::Relaxed);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let c: Option<Option<LogId>> = decode_meta(&self.db, KEY_COMMITTED)?;
        let c = c.flatten();
        self.db
            .counters
            .committed_index_plus_one
            .store(c.as_ref().map_or(0, |c| c.index + 1), Ordering::Relaxed);
        Ok(c)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut rows = Vec::new();
        for e in entries {
            let bytes = codec::encode(&e)
                .map_err(|err| StorageIOError::write_log_entry(e.log_id, AnyError::new(&err)))?;
            rows.push((e.log_id.index, bytes));
        }
        let n = rows.len() as u64;
        let res = self
            .db
            .write(move |txn| {
                let mut t = txn.open_table(LOG)?;
                for (index, bytes) in &rows {
                    t.insert(*index, bytes.as_slice())?;
                }
                Ok(())
            })
            .await;
        match res {
            // The commit returned: the entries are on disk. Only now may
            // openraft count them as persisted (and acknowledge them).
            Ok(()) => {
                self.db
                    .counters
                    .entries_appended
                    .fetch_add(n, Ordering::Relaxed);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(AnyError::new(&e)).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Entries from `log_id` on were never committed (a new leader
        // overwrote them).
        let from = log_id.index;
        self.db
            .write(move |txn| {
                let mut t = txn.open_table(LOG)?;
                t.retain_in::<u64, _>(from.., |_, _| false)?;
                Ok(())
            })
            .await
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The purge mark and the deletion in one transaction, so the log
        // state after a crash is either before or after the purge.
        let bytes =
            codec::encode(&log_id).map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        let upto = log_id.index;
        // openraft purges for a snapshot install before the install has
        // committed (see the module's text): never past the state machine.
        self.db
            .wait_covered(upto)
            .await
            .map_err(|e| StorageIOError::write_logs(AnyError::error(e)))?;
        self.db
            .write(move |txn| {
                txn.open_table(META)?
                    .insert(KEY_LAST_PURGED, bytes.as_slice())?;
                let mut t = txn.open_table(LOG)?;
                t.retain_in::<u64, _>((Bound::Unbounded, Bound::Included(upto)), |_, _| false)?;
                Ok(())
            })
            .await
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::state_machine::StateMachine;
    use crate::raft::types::PolicyCmd;
    use openraft::storage::{RaftLogReaderExt as _, RaftLogStorageExt as _, RaftStateMachine as _};
    use openraft::{RaftSnapshotBuilder as _, Snapshot};
    use std::time::Duration;

    /// A panic of the database library at any start-time read (a review
    /// saw one at a read after the open, on a store with pages zeroed, and
    /// the node exit 101) is a clear error that says what to do, and the
    /// node goes on.
    #[tokio::test]
    async fn a_panic_at_a_start_time_read_is_an_error_with_advice() {
        let path = Path::new("/var/lib/rampart/raft/raft.redb");
        let e = guarded(path, async {
            tokio::task::yield_now().await;
            if path.exists() {
                return Ok(());
            }
            panic!("called `Option::unwrap()` on a `None` value");
        })
        .await
        .expect_err("refused");
        let text = e.to_string();
        assert!(matches!(e, OpenError::Corrupt { .. }), "{text}");
        assert!(text.contains("raft.redb: the store is corrupt"), "{text}");
        assert!(text.contains("None"), "{text}");
        assert!(
            text.contains("move the directory /var/lib/rampart/raft aside"),
            "{text}"
        );
        let e = guarded_now(path, || -> Result<(), OpenError> { panic!("btree") })
            .expect_err("refused");
        assert!(matches!(e, OpenError::Corrupt { .. }), "{e}");
        // Other panics still reach the hook and unwind as before.
        assert!(std::panic::catch_unwind(|| panic!("not guarded")).is_err());
    }

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn policy(index: u64) -> Entry {
        openraft::Entry {
            log_id: openraft::testing::log_id(1, 1, index),
            payload: openraft::EntryPayload::Normal(PolicyCmd::SetConfig {
                text: format!("policy {index}"),
            }),
        }
    }

    fn open(dir: &Path) -> (Arc<Db>, LogStore, StateMachine) {
        let db = Db::open(dir).expect("open");
        let sm = StateMachine::open(db.clone(), &dir.join(STORE_FILE)).expect("state machine");
        (db.clone(), LogStore::new(db), sm)
    }

    /// An empty `raft.redb` this open did not create is refused, not taken
    /// for a new store (which would forget the vote, the log and the
    /// cluster id); the one it creates opens, and opens again.
    #[test]
    fn an_empty_store_left_from_before_is_refused() {
        let d = dir("empty");
        drop(open(&d));
        drop(open(&d));
        let path = d.join(STORE_FILE);
        std::fs::File::create(&path).expect("truncate");
        let e = Db::open(&d).expect_err("an empty store");
        assert!(matches!(e, OpenError::Empty { .. }), "{e}");
        let said = e.to_string();
        assert!(
            said.starts_with(&format!(
                "{}: the Raft store is empty (0 bytes), though this start did not create it",
                path.display()
            )) && said.contains(&format!("move the directory {} aside", d.display())),
            "{said}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    /// The store's directory and file: refused when another user may
    /// change them (docs/ops.md §4).
    #[test]
    fn a_store_another_user_may_change_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = dir("trust");
        drop(open(&d));
        let path = d.join(STORE_FILE);
        let chmod = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
        };
        chmod(&d, 0o770);
        assert!(matches!(
            Db::open(&d),
            Err(OpenError::Untrusted(TrustError::Writable { ref path, .. })) if *path == d
        ));
        chmod(&d, 0o700);
        chmod(&path, 0o660);
        let e = Db::open(&d).expect_err("group-writable").to_string();
        assert_eq!(
            e,
            format!(
                "{0}: this Raft store has mode 0660, so group or others may change it; refusing \
                 to trust it (take their write access away: chmod go-w {0})",
                path.display()
            )
        );
        chmod(&path, 0o600);
        std::os::unix::fs::lchown(&path, Some(65533), None).expect("chown");
        assert!(matches!(
            Db::open(&d),
            Err(OpenError::Untrusted(TrustError::Owner { .. }))
        ));
        std::os::unix::fs::lchown(&path, Some(0), None).expect("chown");
        drop(open(&d));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A follower's store as openraft leaves it before a snapshot install:
    /// entries 1..=3 in the log, 1 applied, a receive begun.
    async fn behind(dir: &Path) -> (Arc<Db>, LogStore, StateMachine) {
        let (db, mut log, mut sm) = open(dir);
        log.blocking_append((1..=3).map(policy))
            .await
            .expect("append");
        sm.apply([policy(1)]).await.expect("apply");
        drop(sm.begin_receiving_snapshot().await.expect("begin"));
        (db, log, sm)
    }

    /// The leader's snapshot of entries 1..=5, built by another store.
    async fn leaders_snapshot(tag: &str) -> Snapshot<TypeConfig> {
        let d = dir(tag);
        let (_db, _log, mut sm) = open(&d);
        sm.apply((1..=5).map(policy)).await.expect("apply");
        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("snapshot");
        let _ = std::fs::remove_dir_all(&d);
        snap
    }

    /// openraft 0.9.25 queues the install of a leader's snapshot and purges
    /// the log up to it at once: the purge waits for the install's commit,
    /// so the log is never purged past the state machine.
    #[tokio::test(flavor = "current_thread")]
    async fn a_purge_for_a_snapshot_waits_for_its_install() {
        let d = dir("purge-waits");
        let snap = leaders_snapshot("purge-waits-leader").await;
        let (db, log, mut sm) = behind(&d).await;
        let mut purging = log.clone();
        let purge =
            tokio::spawn(async move { purging.purge(openraft::testing::log_id(1, 1, 5)).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!purge.is_finished(), "the purge waits for the install");
        let mut reader = log.clone();
        assert_eq!(
            reader
                .get_log_state()
                .await
                .expect("state")
                .last_purged_log_id,
            None
        );
        sm.install_snapshot(&snap.meta, snap.snapshot)
            .await
            .expect("install");
        purge.await.expect("task").expect("purge");
        let state = reader.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(5));
        assert_eq!(db.covered(), Some(5));
        drop((db, log, reader, sm));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// The reviewer's crash: the node dies after openraft asked for the
    /// purge and before the install committed. The store comes back with
    /// its log whole (entries 2..=3 still there for the next apply) and
    /// starts.
    #[tokio::test(flavor = "current_thread")]
    async fn a_crash_before_the_install_leaves_the_log_whole() {
        let d = dir("purge-crash");
        {
            let (_db, log, _sm) = behind(&d).await;
            let mut purging = log.clone();
            let purge =
                tokio::spawn(
                    async move { purging.purge(openraft::testing::log_id(1, 1, 5)).await },
                );
            tokio::time::sleep(Duration::from_millis(200)).await;
            // The crash: the install never runs.
            purge.abort();
            let _ = purge.await;
        }
        let (db, mut log, mut sm) = open(&d);
        refuse_purged_past_state(&db, &d.join(STORE_FILE)).expect("a store that can start");
        let state = log.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id, None);
        assert_eq!(
            sm.applied_state()
                .await
                .expect("applied")
                .0
                .map(|l| l.index),
            Some(1)
        );
        let next = log.get_log_entries(2..4).await.expect("entries 2..=3");
        assert_eq!(next.len(), 2);
        drop((db, log, sm));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// An install that fails fails the purge waiting for it: Raft stops on
    /// a storage error instead of purging entries the state machine lacks.
    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_install_fails_the_purge() {
        let d = dir("purge-failed");
        let snap = leaders_snapshot("purge-failed-leader").await;
        let (db, log, mut sm) = behind(&d).await;
        let mut purging = log.clone();
        let purge =
            tokio::spawn(async move { purging.purge(openraft::testing::log_id(1, 1, 5)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let garbage = Box::new(std::io::Cursor::new(b"\x01\xff\xff\xff".to_vec()));
        assert!(sm.install_snapshot(&snap.meta, garbage).await.is_err());
        let e = purge.await.expect("task").expect_err("the purge fails");
        assert!(e.to_string().contains("snapshot install"), "{e}");
        let mut reader = log.clone();
        assert_eq!(
            reader
                .get_log_state()
                .await
                .expect("state")
                .last_purged_log_id,
            None
        );
        drop((db, log, reader, sm));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A store left purged past its state machine (by a version before
    /// this one) is refused with what to do; one purged only within what a
    /// snapshot covers is not.
    #[tokio::test(flavor = "current_thread")]
    async fn a_store_purged_past_its_state_machine_is_refused() {
        let d = dir("purged-past");
        {
            let (_db, mut log, mut sm) = open(&d);
            log.blocking_append((1..=3).map(policy))
                .await
                .expect("append");
            sm.apply([policy(1), policy(2)]).await.expect("apply");
            sm.get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .expect("snapshot");
            log.purge(openraft::testing::log_id(1, 1, 2))
                .await
                .expect("purge what the snapshot holds");
        }
        {
            let (db, _log, _sm) = open(&d);
            refuse_purged_past_state(&db, &d.join(STORE_FILE)).expect("covered");
        }
        {
            // What the earlier purge-before-install left: no receive is in
            // flight now, so the purge is not held back.
            let (_db, mut log, _sm) = open(&d);
            log.purge(openraft::testing::log_id(1, 1, 5))
                .await
                .expect("purge");
        }
        let (db, _log, _sm) = open(&d);
        let e = refuse_purged_past_state(&db, &d.join(STORE_FILE)).expect_err("refused");
        assert!(
            matches!(
                e,
                OpenError::PurgedPastState {
                    purged: 5,
                    covered: Some(2),
                    ..
                }
            ),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("purged up to index 5")
                && text.contains("only up to index 2")
                && text.contains(&format!("move the directory {} aside", d.display())),
            "{text}"
        );
        drop(db);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A log an earlier version stored past a gap (a member's entry five
    /// past the last) is refused at start with what to do; so is one whose
    /// leaders go down. A log that runs in order from its last purged
    /// entry starts.
    #[tokio::test(flavor = "current_thread")]
    async fn a_log_out_of_order_is_refused() {
        let d = dir("out-of-order");
        let path = d.join(STORE_FILE);
        let at = |term: u64, index: u64| {
            let mut e = policy(index);
            e.log_id = openraft::testing::log_id(term, 1, index);
            e
        };
        {
            let (db, mut log, _sm) = open(&d);
            log.blocking_append((0..=3).map(|i| at(1, i)))
                .await
                .expect("append");
            log.purge(openraft::testing::log_id(1, 1, 1))
                .await
                .expect("purge");
            refuse_log_out_of_order(&db, &path).expect("in order from the purged entry");
            // What the reviewer's member left: entry 8 after entry 3.
            log.blocking_append([at(6, 8)]).await.expect("append");
        }
        let (db, mut log, _sm) = open(&d);
        let e = refuse_log_out_of_order(&db, &path).expect_err("a gap");
        assert!(matches!(e, OpenError::LogOutOfOrder { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("the log holds no entry 4 but one at 8")
                && text.contains(&format!("move the directory {} aside", d.display())),
            "{text}"
        );
        log.truncate(openraft::testing::log_id(6, 1, 8))
            .await
            .expect("truncate");
        refuse_log_out_of_order(&db, &path).expect("in order again");
        log.blocking_append([at(2, 4), at(1, 5)])
            .await
            .expect("append");
        let text = refuse_log_out_of_order(&db, &path)
            .expect_err("a leader going down")
            .to_string();
        assert!(text.contains("entry 5 is of an earlier leader"), "{text}");
        drop((db, log));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A vote whose term an earlier version took from a member's reply
    /// past 2^62 is refused at start with what to do: openraft would stop
    /// at the next election (`term + 1` overflows), on every start. A vote
    /// just under the bound starts.
    #[tokio::test(flavor = "current_thread")]
    async fn a_stored_vote_past_the_bound_is_refused() {
        let d = dir("huge-vote");
        let path = d.join(STORE_FILE);
        let (db, mut log, _sm) = open(&d);
        refuse_vote_beyond_bounds(&db, &path).expect("no vote yet");
        log.save_vote(&Vote::new(MAX_RAFT_NUMBER - 1, 2))
            .await
            .expect("vote");
        refuse_vote_beyond_bounds(&db, &path).expect("a vote under the bound");
        log.save_vote(&Vote::new_committed(u64::MAX, 2))
            .await
            .expect("vote");
        let e = refuse_vote_beyond_bounds(&db, &path).expect_err("a vote past the bound");
        assert!(
            matches!(e, OpenError::VoteBeyondBounds { term: u64::MAX, .. }),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains(&format!("term {}", u64::MAX))
                && text.contains(&format!("move the directory {} aside", d.display()))
                && text.contains("found the cluster again"),
            "{text}"
        );
        drop((db, log));
        let _ = std::fs::remove_dir_all(&d);
    }
}
