//! The snapshot as the store keeps it, and the SHA-256 kept beside it.
//!
//! The stored snapshot is what a node runs from once its log is purged:
//! at a restart, when it sends a snapshot to a lagging member or to one
//! that joins. A byte changed on disk in it (a bit flip, a torn write)
//! would make the node, or the member it sends it to, enforce another
//! policy than the cluster committed, an address one bit off, without a
//! word. So the store keeps the SHA-256 of the whole record beside it, in
//! a record of its own (the snapshot's encoding stays as earlier versions
//! wrote it), and every read of the record checks it: the whole record,
//! not only the policy text, since its membership (the members'
//! addresses), sequence key and removed nodes are taken as they read too.
//!
//! A snapshot sent to a member is checked end to end as well: its id
//! (a free string in openraft's meta, which earlier versions only log
//! and compare) ends with the SHA-256 of its body, `…-sha256:<hex>`, and
//! a member installs no body that does not match it. A snapshot from a
//! leader of an earlier version has no such suffix and installs as
//! before; an earlier version ignores the suffix. The wire encoding is
//! unchanged.
//!
//! The digest names the snapshot it is of (its last log id and id): an
//! earlier release that built or installed a snapshot after this one
//! wrote the digest left it as it was, and a digest of another snapshot is
//! no evidence, like a missing one (a store written before the digest):
//! the record is read as before and the digest is written with the next
//! snapshot built or installed (docs/ARCHITECTURE.md §7; docs/ops.md §4).

use redb::ReadableDatabase as _;
use serde::{Deserialize, Serialize};

use super::codec::{self, CodecError};
use super::store::{Db, SM};
use super::types::{LogId, SnapshotMeta};

/// The stored snapshot: its meta and its body ([`StoredSnapshot`]).
pub(super) const KEY_SNAPSHOT: &str = "snapshot";
/// The SHA-256 of [`KEY_SNAPSHOT`]'s bytes ([`SnapshotDigest`]). Absent
/// in stores written before it.
pub(super) const KEY_SNAPSHOT_DIGEST: &str = "snapshot-sha256";

/// A snapshot as stored: its meta and its bytes.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredSnapshot {
    pub(super) meta: SnapshotMeta,
    pub(super) data: Vec<u8>,
}

/// The SHA-256 of a stored snapshot record, and which snapshot it is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SnapshotDigest {
    last_log_id: Option<LogId>,
    snapshot_id: String,
    sha256: [u8; 32],
}

impl SnapshotDigest {
    /// The digest of `record`, the stored bytes of a snapshot with `meta`.
    pub(super) fn of(meta: &SnapshotMeta, record: &[u8]) -> SnapshotDigest {
        let d = ring::digest::digest(&ring::digest::SHA256, record);
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(d.as_ref());
        SnapshotDigest {
            last_log_id: meta.last_log_id,
            snapshot_id: meta.snapshot_id.clone(),
            sha256,
        }
    }

    /// Whether it is a digest of the snapshot with `meta` (whatever its
    /// bytes).
    fn is_for(&self, meta: &SnapshotMeta) -> bool {
        self.last_log_id == meta.last_log_id && self.snapshot_id == meta.snapshot_id
    }
}

/// What a snapshot id carries before its body's SHA-256 (hex).
const ID_BODY_SHA256: &str = "-sha256:";

fn sha256_hex(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `id` with the SHA-256 of the snapshot's `body` appended.
pub(super) fn id_with_body_sha256(id: &str, body: &[u8]) -> String {
    format!("{id}{ID_BODY_SHA256}{}", sha256_hex(body))
}

/// The body of a snapshot from a leader does not match the SHA-256 its
/// id carries: damaged between the leader's snapshot and this member.
#[derive(Debug, thiserror::Error)]
#[error(
    "the snapshot {snapshot_id:?} from the leader does not match the SHA-256 its id carries \
     (body of {len} bytes): damaged in transit or on the leader, it is not installed"
)]
pub(super) struct BodyMismatch {
    snapshot_id: String,
    len: usize,
}

/// Check a snapshot `body` against the SHA-256 its id carries, if any (a
/// leader of an earlier version sends none).
pub(super) fn check_body(meta: &SnapshotMeta, body: &[u8]) -> Result<(), BodyMismatch> {
    match meta.snapshot_id.rsplit_once(ID_BODY_SHA256) {
        Some((_, want)) if want != sha256_hex(body) => Err(BodyMismatch {
            snapshot_id: meta.snapshot_id.clone(),
            len: body.len(),
        }),
        _ => Ok(()),
    }
}

/// Why the stored snapshot cannot be used.
#[derive(Debug, thiserror::Error)]
pub(super) enum StoredSnapshotError {
    /// The database failed to read.
    #[error("reading the stored snapshot: {0}")]
    Database(#[from] redb::Error),
    /// The snapshot record does not decode (cut short, damaged).
    #[error("record {KEY_SNAPSHOT:?} is unreadable: {0}")]
    Record(CodecError),
    /// The digest record does not decode.
    #[error("record {KEY_SNAPSHOT_DIGEST:?} is unreadable: {0}")]
    DigestRecord(CodecError),
    /// The record's bytes do not match the digest of it.
    #[error(
        "the stored snapshot (record {KEY_SNAPSHOT:?}, up to log index {}) does not match the \
         SHA-256 recorded with it (record {KEY_SNAPSHOT_DIGEST:?}, or in the snapshot's id): the file was damaged or \
         changed outside Rampart, and its policy is not used",
        .last_index.map_or_else(|| "none".to_string(), |i| i.to_string())
    )]
    Mismatch {
        /// The last log index the snapshot's meta names.
        last_index: Option<u64>,
    },
}

/// The stored snapshot, checked against its digest when the store holds
/// one of it, and against the body's SHA-256 in its id when it has one; `None` when there is no snapshot. Both records are read in
/// one transaction: a snapshot built meanwhile replaces them together.
pub(super) fn read(db: &Db) -> Result<Option<StoredSnapshot>, StoredSnapshotError> {
    let (record, digest) = {
        let txn = db.db.begin_read().map_err(redb::Error::from)?;
        let t = txn.open_table(SM).map_err(redb::Error::from)?;
        let get = |key: &str| -> Result<Option<Vec<u8>>, redb::Error> {
            Ok(t.get(key)?.map(|v| v.value().to_vec()))
        };
        (get(KEY_SNAPSHOT)?, get(KEY_SNAPSHOT_DIGEST)?)
    };
    let Some(record) = record else {
        return Ok(None);
    };
    check(&record, digest.as_deref()).map(Some)
}

/// Decode a stored snapshot `record` and check it against `digest` (the
/// digest record's bytes) when that is of it.
pub(super) fn check(
    record: &[u8],
    digest: Option<&[u8]>,
) -> Result<StoredSnapshot, StoredSnapshotError> {
    // Decoded first: a record cut short is refused as unreadable whether
    // or not a digest is kept, and the meta says which snapshot it is.
    let stored: StoredSnapshot = codec::decode(record).map_err(StoredSnapshotError::Record)?;
    let mismatch = || StoredSnapshotError::Mismatch {
        last_index: stored.meta.last_log_id.map(|l| l.index),
    };
    // The body against the SHA-256 its id carries (a snapshot this
    // version built, or installed from a leader that did): evidence also
    // where the digest record is of another snapshot, or missing.
    if check_body(&stored.meta, &stored.data).is_err() {
        return Err(mismatch());
    }
    let Some(digest) = digest else {
        return Ok(stored);
    };
    let digest: SnapshotDigest =
        codec::decode(digest).map_err(StoredSnapshotError::DigestRecord)?;
    // No release replaces a stored snapshot by an earlier one (a build
    // keeps a newer one, openraft installs only a snapshot past what it
    // committed): a digest of a later snapshot than the record's says the
    // record's meta changed, not that an earlier release wrote it.
    if digest.last_log_id > stored.meta.last_log_id
        || (digest.is_for(&stored.meta) && digest != SnapshotDigest::of(&stored.meta, record))
    {
        return Err(mismatch());
    }
    Ok(stored)
}

/// The records to store for a snapshot with `meta` and body `data`: the
/// snapshot's and its digest's bytes.
pub(super) fn encode(meta: &SnapshotMeta, data: Vec<u8>) -> Result<(Vec<u8>, Vec<u8>), CodecError> {
    let record = codec::encode(&StoredSnapshot {
        meta: meta.clone(),
        data,
    })?;
    let digest = codec::encode(&SnapshotDigest::of(meta, &record))?;
    Ok((record, digest))
}
