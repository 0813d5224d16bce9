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

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageIOError, Vote};
use redb::{Database, Durability, ReadableDatabase as _, ReadableTable as _, TableDefinition};

use crate::private_files::{create_private_dir_all, create_secret_file};

use super::codec;
use super::types::{Entry, LogId, NodeId, StorageError, TypeConfig};

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
    /// sender, or a snapshot chunk past the size limit.
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
    #[error("{path}: the store is corrupt (the database library failed on it: {reason})")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The library's message.
        reason: String,
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

/// The open database, shared by the log store and the state machine.
#[derive(Debug)]
pub(super) struct Db {
    pub(super) db: Database,
    pub(super) counters: Arc<StoreCounters>,
}

impl Db {
    /// Open (or create) the store under `dir`, creating every table so
    /// that reads never meet a missing one.
    pub(super) fn open(dir: &Path) -> Result<Arc<Db>, OpenError> {
        // The directory 0700 and the file 0600, set explicitly: redb
        // creates its file with the umask's mode, which may be 0666
        // (docs/ops.md §4). An empty file is one redb initializes.
        create_private_dir_all(dir).map_err(|source| OpenError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(STORE_FILE);
        let fail = |e: redb::Error| OpenError::Database {
            path: path.clone(),
            source: Box::new(e),
        };
        match create_secret_file(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail(e.into())),
        }
        // Some corruptions make redb panic rather than answer an error: a
        // node refuses such a file with a clear error like any other.
        let opened = std::panic::catch_unwind(|| -> Result<Database, OpenError> {
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
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                return Err(OpenError::Corrupt { path, reason });
            }
        };
        Ok(Arc::new(Db {
            db,
            counters: Arc::new(StoreCounters::default()),
        }))
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
