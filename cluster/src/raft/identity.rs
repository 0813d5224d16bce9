//! Which cluster a store belongs to, and whether its log can be trusted
//! with a vote (docs/architecture.md, "Raft: cluster identity").
//!
//! Raft's safety assumes a voter never forgets what it acknowledged. A
//! voter whose data directory was lost breaks that: started again with an
//! empty store, it would grant its vote to any candidate (every log is at
//! least as long as none), so a candidate that missed a committed entry
//! could win with it and overwrite the entry on the others. And a node
//! started with an empty store and `bootstrap = true` founds a cluster of
//! its own, whose messages the old cluster's members would take as their
//! own. Two records guard against both:
//!
//! - **The cluster id**: 16 random bytes drawn by the node that founds the
//!   cluster, carried in every Raft call. A node refuses calls from
//!   another cluster; a node without one (a fresh store) takes the id of
//!   the first leader whose entries it accepts.
//! - **Log complete**: a fresh store neither campaigns nor grants its vote
//!   until a leader's append leaves its log holding everything that leader
//!   has committed and ending with an entry of the leader's own term. A
//!   leader holds every committed entry (Raft's leader completeness, kept
//!   because the store that forgot them took no part in electing it); an
//!   entry this store acknowledged before it was lost was committed, or
//!   comes before the leader's own entries in its log. The founding node
//!   is complete from the start. One exception: in a pair, the store
//!   grants its vote to the other node, which holds every committed entry
//!   (each was on both), so a pair never stalls on a replaced disk. Stores
//!   written before these records existed count as complete when they hold
//!   a vote (they are what they always were) and as fresh otherwise.
//!
//! A follower whose store was lost while the same leader went on leading
//! answers that leader's next append with a conflict below what it had
//! acknowledged; openraft is built with `loosen-follower-log-revert` so
//! the leader starts that follower's replication over instead of stopping
//! (the rules above are what make that safe).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::codec;
use super::store::{Db, KEY_VOTE, META, OpenError};

/// The cluster id record.
const KEY_CLUSTER: &str = "cluster_id";
/// The log-complete record.
const KEY_COMPLETE: &str = "log_complete";

/// A cluster's identity: 16 random bytes drawn when it is founded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClusterId(pub [u8; 16]);

impl ClusterId {
    /// A fresh id from the system's random source.
    pub fn generate() -> Result<ClusterId, String> {
        super::types::random16().map(ClusterId)
    }
}

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterId({self})")
    }
}

/// The two records, in memory and on disk.
#[derive(Debug)]
pub(super) struct Identity {
    db: Arc<Db>,
    cluster: Mutex<Option<ClusterId>>,
    complete: AtomicBool,
}

/// How a stored record failed to read.
fn record_error(db_path: &std::path::Path, record: &'static str, reason: String) -> OpenError {
    OpenError::Record {
        path: db_path.to_path_buf(),
        record,
        reason,
    }
}

impl Identity {
    /// Read both records; a store without the complete record gets one
    /// (complete when the store holds a vote, as above).
    pub(super) async fn load(db: Arc<Db>, path: &std::path::Path) -> Result<Identity, OpenError> {
        let read = |key: &'static str| {
            db.get_str(META, key).map_err(|e| OpenError::Database {
                path: path.to_path_buf(),
                source: Box::new(e),
            })
        };
        let cluster = match read(KEY_CLUSTER)? {
            Some(b) => Some(
                codec::decode::<ClusterId>(&b)
                    .map_err(|e| record_error(path, KEY_CLUSTER, e.to_string()))?,
            ),
            None => None,
        };
        let complete = match read(KEY_COMPLETE)? {
            Some(b) => codec::decode::<bool>(&b)
                .map_err(|e| record_error(path, KEY_COMPLETE, e.to_string()))?,
            None => {
                let complete = read(KEY_VOTE)?.is_some();
                put(&db, KEY_COMPLETE, &complete)
                    .await
                    .map_err(|e| OpenError::Database {
                        path: path.to_path_buf(),
                        source: Box::new(e),
                    })?;
                complete
            }
        };
        Ok(Identity {
            db,
            cluster: Mutex::new(cluster),
            complete: AtomicBool::new(complete),
        })
    }

    /// The cluster this store belongs to, if it knows.
    pub(super) fn cluster(&self) -> Option<ClusterId> {
        self.cluster.lock().map(|c| *c).unwrap_or(None)
    }

    /// Whether the log may be trusted with a vote.
    pub(super) fn complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Found a cluster here: a new id (or the one a founding that failed
    /// half-way recorded), and a complete log (the founder's log is the
    /// cluster's). Durable before it returns.
    pub(super) async fn found(&self) -> Result<ClusterId, String> {
        let id = match self.cluster() {
            Some(id) => id,
            None => ClusterId::generate()?,
        };
        self.db
            .write(move |txn| {
                let mut t = txn.open_table(META)?;
                let id = codec::encode(&id).map_err(codec_err)?;
                let yes = codec::encode(&true).map_err(codec_err)?;
                t.insert(KEY_CLUSTER, id.as_slice())?;
                t.insert(KEY_COMPLETE, yes.as_slice())?;
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(mut c) = self.cluster.lock() {
            *c = Some(id);
        }
        self.complete.store(true, Ordering::Release);
        Ok(id)
    }

    /// Take the id of a leader whose entries this store accepted, if it
    /// has none yet, or only one its membership does not back (`pristine`:
    /// a founding that failed half-way left it). Durable before it returns.
    pub(super) async fn adopt(&self, id: ClusterId, pristine: bool) -> Result<(), redb::Error> {
        let mine = self.cluster();
        if mine == Some(id) || (mine.is_some() && !pristine) {
            return Ok(());
        }
        put(&self.db, KEY_CLUSTER, &id).await?;
        if let Ok(mut c) = self.cluster.lock() {
            *c = Some(id);
        }
        tracing::info!(cluster = %id, "this node's store joined cluster {id}");
        Ok(())
    }

    /// The log reached an entry of its leader's term: it may vote from
    /// now on. Durable before it returns (a crash before leaves the store
    /// withholding its vote until the next append, which is safe).
    pub(super) async fn mark_complete(&self) -> Result<(), redb::Error> {
        if self.complete() {
            return Ok(());
        }
        put(&self.db, KEY_COMPLETE, &true).await?;
        self.complete.store(true, Ordering::Release);
        tracing::info!("this node's log holds its leader's entries again: it votes from now on");
        Ok(())
    }
}

fn codec_err(e: codec::CodecError) -> redb::Error {
    redb::Error::Io(std::io::Error::other(e.to_string()))
}

async fn put<T: Serialize>(db: &Arc<Db>, key: &'static str, value: &T) -> Result<(), redb::Error> {
    let bytes = codec::encode(value).map_err(codec_err)?;
    db.write(move |txn| {
        txn.open_table(META)?.insert(key, bytes.as_slice())?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-identity-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// A fresh store is incomplete and has no id; founding records both
    /// durably; a founding that failed half-way (the id recorded, Raft not
    /// initialised) founds again with the same id.
    #[tokio::test]
    async fn founding_is_recorded_and_a_second_founding_keeps_the_id() {
        let d = dir("found");
        let path = d.join(super::super::store::STORE_FILE);
        let db = Db::open(&d).expect("open");
        let id = Identity::load(db.clone(), &path).await.expect("load");
        assert_eq!((id.cluster(), id.complete()), (None, false));
        let founded = id.found().await.expect("found");
        drop(id);
        let again = Identity::load(db, &path).await.expect("reload");
        assert_eq!((again.cluster(), again.complete()), (Some(founded), true));
        assert_eq!(again.found().await.expect("found again"), founded);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A store written before these records: complete if it holds a vote;
    /// a store with an id but no membership takes a leader's id instead.
    #[tokio::test]
    async fn older_stores_and_leftover_ids() {
        let d = dir("legacy");
        let path = d.join(super::super::store::STORE_FILE);
        let db = Db::open(&d).expect("open");
        put(&db, KEY_VOTE, &1u8).await.expect("a vote record");
        let id = Identity::load(db.clone(), &path).await.expect("load");
        assert!(id.complete(), "a store that voted is what it always was");
        let (left, leader) = (ClusterId([1; 16]), ClusterId([2; 16]));
        id.adopt(left, true).await.expect("adopt");
        id.adopt(leader, false).await.expect("kept");
        assert_eq!(id.cluster(), Some(left), "a member's id is kept");
        id.adopt(leader, true).await.expect("adopt");
        assert_eq!(
            id.cluster(),
            Some(leader),
            "an id no membership backs gives way"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
