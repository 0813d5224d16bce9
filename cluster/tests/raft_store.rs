//! The redb Raft store against openraft's own storage conformance suite,
//! plus what the suite does not cover: the store survives a reopen, and
//! an unreadable record is an error, not a panic.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{RaftLogReader, Vote};
use rampart_cluster::raft::{LogStore, SeqKey, StateMachine, TypeConfig, open_store};

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

fn fresh_dir(tag: &str) -> PathBuf {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("rampart-raft-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Removes a store's directory when the suite is done with it.
#[derive(Debug)]
struct DirGuard(PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every store the suite asks for is a new redb file in a new directory.
struct RedbBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, DirGuard> for RedbBuilder {
    async fn build(
        &self,
    ) -> Result<(DirGuard, LogStore, StateMachine), openraft::StorageError<u64>> {
        let dir = fresh_dir("suite");
        let (log, sm) = open_store(&dir).map_err(|e| {
            openraft::StorageIOError::write(openraft::AnyError::error(e.to_string()))
        })?;
        Ok((DirGuard(dir), log, sm))
    }
}

#[test]
fn redb_store_passes_the_openraft_storage_suite() {
    Suite::test_all(RedbBuilder).expect("openraft storage suite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vote_and_log_survive_a_reopen() {
    use openraft::entry::RaftEntry as _;
    use openraft::storage::RaftLogStorageExt as _;
    let dir = fresh_dir("reopen");
    let _guard = DirGuard(dir.clone());
    {
        let (mut log, _sm) = open_store(&dir).expect("open");
        log.save_vote(&Vote::new(3, 2)).await.expect("vote");
        let entries = (1..=5)
            .map(|i| openraft::Entry::<TypeConfig>::new_blank(openraft::testing::log_id(3, 2, i)));
        log.blocking_append(entries).await.expect("append");
        log.purge(openraft::testing::log_id(3, 2, 2))
            .await
            .expect("purge");
    }
    let (mut log, mut sm) = open_store(&dir).expect("reopen");
    assert_eq!(
        log.read_vote().await.expect("read vote"),
        Some(Vote::new(3, 2))
    );
    let state = log.get_log_state().await.expect("state");
    assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(2));
    assert_eq!(state.last_log_id.map(|l| l.index), Some(5));
    let got = log.try_get_log_entries(0..10).await.expect("entries");
    assert_eq!(
        got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    let (applied, _) = sm.applied_state().await.expect("applied");
    assert_eq!(applied, None);
}

#[test]
fn a_corrupt_store_file_is_an_error_not_a_panic() {
    let dir = fresh_dir("corrupt");
    let _guard = DirGuard(dir.clone());
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join(rampart_cluster::raft::STORE_FILE),
        b"this is not a redb file at all, just bytes",
    )
    .expect("write");
    let err = open_store(&dir).expect_err("refused");
    assert!(err.to_string().contains("raft.redb"), "{err}");
}

fn set_config(term: u64, index: u64, text: &str) -> openraft::Entry<TypeConfig> {
    openraft::Entry {
        log_id: openraft::testing::log_id(term, 1, index),
        payload: openraft::EntryPayload::Normal(rampart_cluster::raft::PolicyCmd::SetConfig {
            text: text.into(),
        }),
    }
}

fn set_seq_key(term: u64, index: u64, byte: u8) -> openraft::Entry<TypeConfig> {
    openraft::Entry {
        log_id: openraft::testing::log_id(term, 1, index),
        payload: openraft::EntryPayload::Normal(rampart_cluster::raft::PolicyCmd::SetSeqKey {
            key: SeqKey([byte; 16]),
        }),
    }
}

/// What the suite cannot build: policy entries. Versions count them, the
/// watch follows, a reopen keeps them, and a snapshot carries them to
/// another store; so with the sequence-randomization key, of which the
/// first one committed stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_entries_versions_watch_reopen_and_snapshot() {
    use openraft::RaftSnapshotBuilder as _;
    use openraft::entry::RaftEntry as _;
    let dir = fresh_dir("policy");
    let _guard = DirGuard(dir.clone());
    {
        let (_log, mut sm) = open_store(&dir).expect("open");
        let mut rx = sm.subscribe();
        assert_eq!(rx.borrow_and_update().version, 0);
        let replies = sm
            .apply([
                openraft::Entry::new_blank(openraft::testing::log_id(1, 1, 1)),
                set_config(1, 2, "policy a"),
                set_config(1, 3, "policy b"),
            ])
            .await
            .expect("apply");
        assert_eq!(
            replies.iter().map(|r| r.version).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(rx.borrow().seq_key, None);
        assert!(rx.has_changed().expect("watch"));
        let p = rx.borrow_and_update().clone();
        assert_eq!(
            (p.version, p.text.as_str(), p.log_index),
            (2, "policy b", 3)
        );
        // A blank entry moves the applied index, not the version.
        sm.apply([openraft::Entry::new_blank(openraft::testing::log_id(
            2, 1, 4,
        ))])
        .await
        .expect("apply blank");
        assert!(!rx.has_changed().expect("watch"), "no new policy");
        let (applied, _) = sm.applied_state().await.expect("state");
        assert_eq!(applied.map(|l| l.index), Some(4));
        // The key is published; a second key (another leader's) is ignored.
        let r = sm.apply([set_seq_key(2, 5, 7)]).await.expect("apply key");
        assert_eq!(r[0].version, 2, "a key is no policy version");
        assert!(rx.has_changed().expect("watch"));
        assert_eq!(rx.borrow_and_update().seq_key, Some(SeqKey([7; 16])));
        sm.apply([set_seq_key(2, 6, 9)]).await.expect("apply key");
        assert!(!rx.has_changed().expect("watch"), "the first key stays");
    }
    // Reopened: the same policy, before any Raft runs.
    let (_log, mut sm) = open_store(&dir).expect("reopen");
    let p = sm.subscribe().borrow().clone();
    assert_eq!((p.version, p.text.as_str()), (2, "policy b"));
    assert_eq!(p.seq_key, Some(SeqKey([7; 16])));

    let snap = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("snapshot");
    assert_eq!(snap.meta.last_log_id.map(|l| l.index), Some(6));

    let other = fresh_dir("policy-other");
    let _g2 = DirGuard(other.clone());
    let (_l2, mut sm2) = open_store(&other).expect("other");
    let mut rx2 = sm2.subscribe();
    let mut data = sm2.begin_receiving_snapshot().await.expect("begin");
    *data = *snap.snapshot;
    sm2.install_snapshot(&snap.meta, data)
        .await
        .expect("install");
    let p = rx2.borrow_and_update().clone();
    assert_eq!(
        (p.version, p.text.as_str(), p.log_index),
        (2, "policy b", 3)
    );
    assert_eq!(p.seq_key, Some(SeqKey([7; 16])), "the snapshot carries it");
    assert_eq!(
        sm2.applied_state().await.expect("state").0.map(|l| l.index),
        Some(6)
    );
    // A corrupt snapshot is refused as a storage error, not a panic.
    let mut bad = sm2.begin_receiving_snapshot().await.expect("begin");
    bad.get_mut().extend_from_slice(b"\x01\xff\xff\xff");
    assert!(sm2.install_snapshot(&snap.meta, bad).await.is_err());
    assert_eq!(sm2.subscribe().borrow().version, 2, "unchanged");
}

/// Damage anywhere in the file (4 KiB zeroed or set to 0xff, at every
/// 512-byte offset of a store holding a vote and a few entries) is
/// refused with an error or read as it is; never a panic. Some of these
/// make redb itself panic (an assertion on its allocator state), which
/// the store turns into an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_anywhere_in_the_store_file_is_never_a_panic() {
    use openraft::storage::RaftLogStorageExt as _;
    let dir = fresh_dir("damage-src");
    let _guard = DirGuard(dir.clone());
    {
        let (mut log, _sm) = open_store(&dir).expect("open");
        log.save_vote(&Vote::new(3, 2)).await.expect("vote");
        let entries: Vec<_> = (1..=5)
            .map(|i| {
                set_config(
                    3,
                    i,
                    &format!("access-list A{i} extended permit ip any any"),
                )
            })
            .collect();
        log.blocking_append(entries).await.expect("append");
    }
    let file = dir.join(rampart_cluster::raft::STORE_FILE);
    let good = std::fs::read(&file).expect("read");
    let mut refused = 0;
    let mut panicked = Vec::new();
    for fill in [0u8, 0xff] {
        for at in (0..good.len()).step_by(512) {
            let mut bad = good.clone();
            let end = (at + 4096).min(bad.len());
            bad[at..end].fill(fill);
            let d = fresh_dir("damage");
            let _g = DirGuard(d.clone());
            std::fs::create_dir_all(&d).expect("dir");
            std::fs::write(d.join(rampart_cluster::raft::STORE_FILE), &bad).expect("write");
            match std::panic::catch_unwind(|| open_store(&d).map(|_| ())) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    assert!(e.to_string().contains("raft.redb"), "{e}");
                    refused += 1;
                }
                Err(_) => panicked.push((fill, at)),
            }
        }
    }
    assert!(panicked.is_empty(), "open_store panicked for {panicked:?}");
    assert!(refused > 0, "no damage was noticed at all");
}

/// A policy over the write path's size limit that a member committed
/// around the check is skipped by every state machine alike: the version
/// stays, the previous policy stays published, and snapshots stay within
/// what a node installs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_committed_policy_is_skipped_alike_everywhere() {
    use openraft::RaftSnapshotBuilder as _;
    let dir = fresh_dir("oversized");
    let _guard = DirGuard(dir.clone());
    let (_log, mut sm) = open_store(&dir).expect("open");
    let mut rx = sm.subscribe();
    let huge = "!".repeat(rampart_cluster::raft::MAX_POLICY_BYTES + 1);
    let replies = sm
        .apply([
            set_config(1, 1, "policy a"),
            set_config(1, 2, &huge),
            set_config(1, 3, "policy b"),
        ])
        .await
        .expect("apply");
    assert_eq!(
        replies.iter().map(|r| r.version).collect::<Vec<_>>(),
        vec![1, 1, 2]
    );
    let p = rx.borrow_and_update().clone();
    assert_eq!((p.version, p.text.as_str()), (2, "policy b"));
    let mut builder = sm.get_snapshot_builder().await;
    let snap = builder.build_snapshot().await.expect("snapshot");
    assert!(
        (snap.snapshot.get_ref().len() as u64) < rampart_cluster::raft::MAX_SNAPSHOT_BYTES,
        "snapshot of {} bytes",
        snap.snapshot.get_ref().len()
    );
}
