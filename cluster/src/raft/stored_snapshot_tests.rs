//! The stored snapshot's digest, checked where the record is read: at
//! open, and when openraft asks for the snapshot to send a member
//! (`stored_snapshot.rs`).

use openraft::RaftSnapshotBuilder as _;

use super::*;
use crate::raft::store::STORE_FILE;

fn dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-snap-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn open(d: &std::path::Path) -> StateMachine {
    StateMachine::open(Db::open(d).expect("db"), &d.join(STORE_FILE)).expect("open")
}

fn set(index: u64, text: &str) -> Entry {
    openraft::Entry {
        log_id: openraft::testing::log_id(1, 1, index),
        payload: EntryPayload::Normal(PolicyCmd::SetConfig { text: text.into() }),
    }
}

/// Write `value` under `key` of the state machine's table (remove it for
/// `None`), as a damaged disk or an earlier version would leave it.
async fn put(db: &Arc<Db>, key: &'static str, value: Option<Vec<u8>>) {
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

fn get(db: &Db, key: &str) -> Option<Vec<u8>> {
    db.get_str(SM, key).expect("read")
}

/// A snapshot built by `sm` (stored and digested as openraft's builder
/// does).
async fn snapshot(sm: &mut StateMachine) -> Snapshot<TypeConfig> {
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("snapshot")
}

/// A policy whose address a one-bit flip changes: 198.18.0.1 becomes
/// 198.18.0.0, the whole /24's first address.
const POLICY: &str = "access-list A extended permit tcp host 198.18.0.1 any eq 443\n";

/// The store's snapshot with one bit of its policy text flipped is never
/// served to a member (an error openraft reports, not the bytes) and is
/// refused at the next open, naming the file and both records.
#[tokio::test(flavor = "current_thread")]
async fn a_snapshot_changed_in_the_store_is_refused_and_never_served() {
    let d = dir("flip");
    let mut sm = open(&d);
    sm.apply([set(1, POLICY)]).await.expect("apply");
    snapshot(&mut sm).await;
    let db = sm.db.clone();
    let good = get(&db, KEY_SNAPSHOT).expect("snapshot record");
    let at = good
        .windows(10)
        .position(|w| w == b"198.18.0.1")
        .expect("the text is in the record")
        + 9;
    let mut flipped = good.clone();
    flipped[at] ^= 0x01;
    put(&db, KEY_SNAPSHOT, Some(flipped.clone())).await;
    // It still decodes, as the other policy: only the digest tells.
    let body = decode_body(
        &codec::decode::<StoredSnapshot>(&flipped)
            .expect("decodes")
            .data,
    )
    .expect("body");
    assert!(body.text.contains("198.18.0.0"), "{}", body.text);

    let e = sm
        .get_current_snapshot()
        .await
        .expect_err("a damaged snapshot is not served");
    assert!(e.to_string().contains("SHA-256"), "{e}");
    drop(sm);

    let path = d.join(STORE_FILE);
    let e = StateMachine::open(db.clone(), &path).expect_err("refused at open");
    assert!(
        matches!(
            e,
            OpenError::SnapshotDigest {
                last_index: Some(1),
                ..
            }
        ),
        "{e}"
    );
    let text = e.to_string();
    for want in [
        path.display().to_string().as_str(),
        "\"snapshot\"",
        "\"snapshot-sha256\"",
        "aside",
    ] {
        assert!(text.contains(want), "{want:?} in {text}");
    }

    // The record as written opens and is served as it was.
    put(&db, KEY_SNAPSHOT, Some(good)).await;
    let mut sm = StateMachine::open(db, &path).expect("the record as written");
    let served = sm
        .get_current_snapshot()
        .await
        .expect("served")
        .expect("a snapshot");
    assert!(
        decode_body(served.snapshot.get_ref())
            .expect("body")
            .text
            .contains("198.18.0.1")
    );
    drop(sm);
    let _ = std::fs::remove_dir_all(&d);
}

/// A snapshot record cut short does not decode: refused at open as an
/// unreadable record (with or without its digest), and not served.
#[tokio::test(flavor = "current_thread")]
async fn a_truncated_snapshot_record_is_refused_as_unreadable() {
    let d = dir("truncated");
    let mut sm = open(&d);
    sm.apply([set(1, POLICY)]).await.expect("apply");
    snapshot(&mut sm).await;
    let db = sm.db.clone();
    let good = get(&db, KEY_SNAPSHOT).expect("snapshot record");
    put(&db, KEY_SNAPSHOT, Some(good[..good.len() / 2].to_vec())).await;
    assert!(sm.get_current_snapshot().await.is_err());
    drop(sm);
    let path = d.join(STORE_FILE);
    for digest in [true, false] {
        if !digest {
            put(&db, KEY_SNAPSHOT_DIGEST, None).await;
        }
        let e = StateMachine::open(db.clone(), &path).expect_err("refused");
        assert!(
            matches!(
                e,
                OpenError::Record {
                    record: "snapshot",
                    ..
                }
            ),
            "digest kept: {digest}: {e}"
        );
        assert!(e.to_string().contains("unreadable"), "{e}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// A store written before the digest (none), or one an earlier release
/// wrote a newer snapshot in after this one wrote the digest (a digest of
/// another snapshot), opens and serves its snapshot as before; the next
/// snapshot built writes the digest of it. An installed snapshot is
/// stored with its digest too.
#[tokio::test(flavor = "current_thread")]
async fn a_store_without_the_snapshot_digest_opens_and_gets_it_at_the_next_snapshot() {
    let d = dir("earlier");
    let mut sm = open(&d);
    sm.apply([set(1, POLICY)]).await.expect("apply");
    snapshot(&mut sm).await;
    let db = sm.db.clone();
    let first_digest = get(&db, KEY_SNAPSHOT_DIGEST).expect("digest written");
    sm.apply([set(2, "access-list B extended deny ip any any\n")])
        .await
        .expect("apply");
    snapshot(&mut sm).await;
    drop(sm);
    let path = d.join(STORE_FILE);

    // Another snapshot's digest: no evidence either way.
    put(&db, KEY_SNAPSHOT_DIGEST, Some(first_digest)).await;
    let mut sm = StateMachine::open(db.clone(), &path).expect("a stale digest");
    assert!(sm.get_current_snapshot().await.expect("served").is_some());
    drop(sm);

    // None at all.
    put(&db, KEY_SNAPSHOT_DIGEST, None).await;
    let mut sm = StateMachine::open(db.clone(), &path).expect("an earlier store");
    let served = sm
        .get_current_snapshot()
        .await
        .expect("served")
        .expect("a snapshot");
    assert!(get(&db, KEY_SNAPSHOT_DIGEST).is_none());
    let snap = snapshot(&mut sm).await;
    let record = get(&db, KEY_SNAPSHOT).expect("record");
    let digest = get(&db, KEY_SNAPSHOT_DIGEST).expect("the digest, written with the snapshot");
    let digest: stored_snapshot::SnapshotDigest = codec::decode(&digest).expect("decode");
    assert_eq!(
        digest,
        stored_snapshot::SnapshotDigest::of(&snap.meta, &record)
    );
    drop(sm);
    StateMachine::open(db.clone(), &path).expect("reopen");

    // Installed on another store: with its digest, checked at the next
    // open like a built one.
    let other = dir("earlier-other");
    let mut sm2 = open(&other);
    let mut data = sm2.begin_receiving_snapshot().await.expect("begin");
    *data = *served.snapshot;
    sm2.install_snapshot(&served.meta, data)
        .await
        .expect("install");
    let db2 = sm2.db.clone();
    let mut flipped = get(&db2, KEY_SNAPSHOT).expect("record");
    assert!(get(&db2, KEY_SNAPSHOT_DIGEST).is_some());
    let last = flipped.len() - 2;
    flipped[last] ^= 0x01;
    put(&db2, KEY_SNAPSHOT, Some(flipped)).await;
    drop(sm2);
    let e = StateMachine::open(db2, &other.join(STORE_FILE)).expect_err("refused");
    assert!(matches!(e, OpenError::SnapshotDigest { .. }), "{e}");
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_dir_all(&other);
}

/// A snapshot's id carries the SHA-256 of its body: a member installs no
/// body that does not match it (nothing stored, the policy unchanged),
/// and installs one from a leader of an earlier version (no digest in
/// its id) as before.
#[tokio::test(flavor = "current_thread")]
async fn a_snapshot_body_that_does_not_match_its_id_is_not_installed() {
    let d = dir("leader");
    let mut leader = open(&d);
    leader.apply([set(1, POLICY)]).await.expect("apply");
    let snap = snapshot(&mut leader).await;
    assert!(snap.meta.snapshot_id.contains("-sha256:"), "{}", snap.meta);
    let body = snap.snapshot.into_inner();
    let at = body
        .windows(10)
        .position(|w| w == b"198.18.0.1")
        .expect("the text is in the body")
        + 9;
    let mut flipped = body.clone();
    flipped[at] ^= 0x01;

    let install = |meta: SnapshotMeta, data: Vec<u8>, tag: &'static str| async move {
        let d = dir(tag);
        let mut sm = open(&d);
        let mut buf = sm.begin_receiving_snapshot().await.expect("begin");
        *buf = Cursor::new(data);
        let r = sm.install_snapshot(&meta, buf).await;
        let text = sm.subscribe().borrow().text.to_string();
        let stored = get(&sm.db, KEY_SNAPSHOT).is_some();
        drop(sm);
        let _ = std::fs::remove_dir_all(&d);
        (r, text, stored)
    };
    let (r, text, stored) = install(snap.meta.clone(), flipped.clone(), "member-bad").await;
    let e = r.expect_err("a damaged body is refused");
    assert!(e.to_string().contains("SHA-256"), "{e}");
    assert_eq!((text.as_str(), stored), ("", false), "nothing installed");

    let (r, text, _) = install(snap.meta.clone(), body.clone(), "member-good").await;
    r.expect("the body as built");
    assert_eq!(text, POLICY);

    // From a leader of an earlier version: an id without the digest.
    let mut earlier = snap.meta.clone();
    earlier.snapshot_id = "1-1-1-1".into();
    let (r, text, _) = install(earlier, body, "member-earlier").await;
    r.expect("installed as before");
    assert_eq!(text, POLICY);
    drop(leader);
    let _ = std::fs::remove_dir_all(&d);
}

/// Where the digest record is no evidence, the stored snapshot is still
/// checked: against the body's SHA-256 in its id (a digest of another,
/// earlier snapshot kept beside it), and a digest of a later snapshot
/// than the record's means the record's meta changed.
#[tokio::test(flavor = "current_thread")]
async fn a_snapshot_is_checked_where_its_digest_record_is_of_another() {
    let d = dir("other-digest");
    let mut sm = open(&d);
    sm.apply([set(1, POLICY)]).await.expect("apply");
    snapshot(&mut sm).await;
    let db = sm.db.clone();
    let first = get(&db, KEY_SNAPSHOT).expect("record");
    let first_digest = get(&db, KEY_SNAPSHOT_DIGEST).expect("digest");
    sm.apply([set(2, POLICY)]).await.expect("apply");
    snapshot(&mut sm).await;
    let second = get(&db, KEY_SNAPSHOT).expect("record");
    let second_digest = get(&db, KEY_SNAPSHOT_DIGEST).expect("digest");
    drop(sm);
    let path = d.join(STORE_FILE);

    // The second record, its policy text flipped, beside the first's
    // digest (as an earlier release would leave it after a snapshot).
    let at = second
        .windows(10)
        .position(|w| w == b"198.18.0.1")
        .expect("the text is in the record")
        + 9;
    let mut flipped = second.clone();
    flipped[at] ^= 0x01;
    put(&db, KEY_SNAPSHOT, Some(flipped)).await;
    put(&db, KEY_SNAPSHOT_DIGEST, Some(first_digest)).await;
    let e = StateMachine::open(db.clone(), &path).expect_err("the id's SHA-256");
    assert!(matches!(e, OpenError::SnapshotDigest { .. }), "{e}");

    // The first record beside the second's digest: never written so.
    put(&db, KEY_SNAPSHOT, Some(first)).await;
    put(&db, KEY_SNAPSHOT_DIGEST, Some(second_digest.clone())).await;
    let e = StateMachine::open(db.clone(), &path).expect_err("a later digest");
    assert!(matches!(e, OpenError::SnapshotDigest { .. }), "{e}");

    put(&db, KEY_SNAPSHOT, Some(second)).await;
    StateMachine::open(db, &path).expect("as written");
    let _ = std::fs::remove_dir_all(&d);
}
