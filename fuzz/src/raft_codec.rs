//! The `raft_codec` target: bytes through the Raft codec (a version byte,
//! then bincode with a size limit, refusing trailing bytes) as one of the
//! types it carries between nodes or into the log store. Whatever decodes
//! must encode again, decode again to an equal value, and encode again to
//! the same bytes: a value one node accepts is one it can pass on.
//!
//! Input:
//!
//! ```text
//! [type: u8] [encoded value: the rest]
//! ```
//!
//! `type` modulo 6: 0 a Raft RPC call (a request and its sender's cluster
//! id, or a bare request as earlier versions send), 1 its reply, 2 a policy command
//! (a log entry's payload), 3 a log entry, 4 a vote, 5 a log id (the last
//! three are store records).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use openraft::error::{Fatal, InstallSnapshotError, RaftError, SnapshotMismatch};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{
    CommittedLeaderId, EntryPayload, Membership, SnapshotMeta, SnapshotSegmentId, StoredMembership,
    Vote,
};
use rampart_cluster::raft::codec::{decode, encode};
use rampart_cluster::raft::messages::{
    ForwardReply, ForwardRequest, RaftCall, RaftReply, RaftRequest, decode_call, encode_call,
};
use rampart_cluster::raft::{
    ClusterId, Entry, LogId, MemberNode, NodeId, PolicyCmd, ShunConn, ShunOp, ShunRecord, ShunScope,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::corpus::SeedFile;

/// A shun with every field set, as the seeds of shun changes carry it.
fn shun() -> ShunRecord {
    ShunRecord {
        source: "198.18.1.66".parse().expect("an address"),
        conn: Some(ShunConn {
            dest: "198.18.0.10".parse().expect("an address"),
            sport: 40_000,
            dport: 443,
            proto: 6,
        }),
        scope: ShunScope::Interface("outside".into()),
        added_unix: 1_800_000_000,
    }
}

/// Where the seeds live, relative to `fuzz/`.
pub const DIR: &str = "corpus/raft_codec";

/// The types the first byte selects, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `RaftCall`, on the RPC stream.
    Request = 0,
    /// `RaftReply`, on the RPC stream.
    Reply = 1,
    /// `PolicyCmd`, a log entry's payload.
    Cmd = 2,
    /// A log entry, as the store keeps it.
    Entry = 3,
    /// The vote, as the store keeps it.
    Vote = 4,
    /// A log id (committed, purged), as the store keeps it.
    LogId = 5,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Request,
        Kind::Reply,
        Kind::Cmd,
        Kind::Entry,
        Kind::Vote,
        Kind::LogId,
    ];

    fn of(byte: u8) -> Kind {
        Kind::ALL[usize::from(byte) % Kind::ALL.len()]
    }
}

/// Decode one input; `Some(kind)` when it decoded (and round-tripped).
/// The fuzz target's whole body.
pub fn run(data: &[u8]) -> Option<Kind> {
    let (&first, bytes) = data.split_first()?;
    let kind = Kind::of(first);
    let decoded = match kind {
        // The RPC messages (and openraft's requests) have no `PartialEq`:
        // their debug text shows every field, so it stands in for one.
        Kind::Request => call_round_trip(bytes),
        Kind::Reply => round_trip::<RaftReply>(bytes, same_debug),
        Kind::Cmd => round_trip::<PolicyCmd>(bytes, PartialEq::eq),
        Kind::Entry => round_trip::<Entry>(bytes, PartialEq::eq),
        Kind::Vote => round_trip::<Vote<NodeId>>(bytes, PartialEq::eq),
        Kind::LogId => round_trip::<LogId>(bytes, PartialEq::eq),
    };
    decoded.then_some(kind)
}

fn same_debug<T: Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Decode `bytes` as a call, in either of its two forms (with a cluster
/// id, or a bare request as nodes of earlier versions send); if that
/// works, check the round trip.
fn call_round_trip(bytes: &[u8]) -> bool {
    let Ok(value) = decode_call(bytes) else {
        return false;
    };
    let once = encode_call(&value)
        .unwrap_or_else(|e| panic!("{value:?} decoded but does not encode: {e}"));
    let back = decode_call(&once)
        .unwrap_or_else(|e| panic!("{value:?} encoded to bytes that do not decode: {e}"));
    assert!(same_debug(&value, &back), "{value:?} came back as {back:?}");
    let twice = encode_call(&back).expect("encoded once");
    assert_eq!(once, twice, "{value:?} encodes two ways");
    true
}

/// Decode `bytes` as a `T`; if that works, check the round trip.
fn round_trip<T: Serialize + DeserializeOwned + Debug>(
    bytes: &[u8],
    same: impl Fn(&T, &T) -> bool,
) -> bool {
    let Ok(value) = decode::<T>(bytes) else {
        return false;
    };
    let once =
        encode(&value).unwrap_or_else(|e| panic!("{value:?} decoded but does not encode: {e}"));
    let back = decode::<T>(&once)
        .unwrap_or_else(|e| panic!("{value:?} encoded to bytes that do not decode: {e}"));
    assert!(same(&value, &back), "{value:?} came back as {back:?}");
    let twice = encode(&back).expect("encoded once");
    assert_eq!(once, twice, "{value:?} encodes two ways");
    true
}

// === seeds ===

fn log_id(term: u64, node: NodeId, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, node), index)
}

fn member(id: NodeId) -> MemberNode {
    MemberNode {
        name: format!("fw-{id}"),
        address: format!("198.19.255.{id}:7400"),
    }
}

fn membership(voters: &[NodeId], learners: &[NodeId]) -> Membership<NodeId, MemberNode> {
    let nodes: BTreeMap<NodeId, MemberNode> = voters
        .iter()
        .chain(learners)
        .map(|&id| (id, member(id)))
        .collect();
    Membership::new(vec![voters.iter().copied().collect::<BTreeSet<_>>()], nodes)
}

fn entry(index: u64, payload: EntryPayload<rampart_cluster::raft::TypeConfig>) -> Entry {
    Entry {
        log_id: log_id(2, 1, index),
        payload,
    }
}

const POLICY: &str = "access-list A extended permit tcp any host 198.18.2.1 eq www\n\
                      access-group A in interface outside\n";

fn seed(name: &str, kind: Kind, value: &impl Serialize) -> SeedFile {
    let mut input = vec![kind as u8];
    input.extend(encode(value).expect("a seed encodes"));
    SeedFile::new(format!("seed-{name}"), input)
}

/// The seeds: every request and reply variant, and each store record, as
/// the codec encodes them.
pub fn seeds() -> Vec<SeedFile> {
    let vote = Vote::new_committed(2, 1);
    let cmd = PolicyCmd::SetConfig {
        text: POLICY.into(),
    };
    let entries = vec![
        entry(1, EntryPayload::Blank),
        entry(2, EntryPayload::Membership(membership(&[1, 2], &[3]))),
        entry(3, EntryPayload::Normal(cmd.clone())),
    ];
    let meta = SnapshotMeta {
        last_log_id: Some(log_id(2, 1, 3)),
        last_membership: StoredMembership::new(Some(log_id(2, 1, 2)), membership(&[1, 2], &[])),
        snapshot_id: "2-1-3-1".into(),
    };
    let mismatch = SnapshotMismatch {
        expect: SnapshotSegmentId {
            id: "2-1-3-1".into(),
            offset: 0,
        },
        got: SnapshotSegmentId {
            id: "2-1-3-1".into(),
            offset: 512,
        },
    };
    let requests = [
        (
            "request-append",
            RaftRequest::AppendEntries(AppendEntriesRequest {
                vote,
                prev_log_id: Some(log_id(1, 2, 0)),
                entries,
                leader_commit: Some(log_id(2, 1, 1)),
            }),
        ),
        (
            "request-heartbeat",
            RaftRequest::AppendEntries(AppendEntriesRequest {
                vote,
                prev_log_id: None,
                entries: Vec::new(),
                leader_commit: None,
            }),
        ),
        (
            "request-vote",
            RaftRequest::Vote(VoteRequest::new(Vote::new(3, 2), Some(log_id(2, 1, 3)))),
        ),
        (
            "request-snapshot",
            RaftRequest::InstallSnapshot(InstallSnapshotRequest {
                vote,
                meta,
                offset: 512,
                data: b"snapshot bytes".to_vec(),
                done: true,
            }),
        ),
        (
            "request-forward-write",
            RaftRequest::Forward(ForwardRequest::Write {
                text: POLICY.into(),
                budget_ms: 5_000,
            }),
        ),
        (
            "request-forward-add-learner",
            RaftRequest::Forward(ForwardRequest::AddLearner {
                id: 3,
                node: member(3),
                budget_ms: 30_000,
            }),
        ),
        (
            "request-forward-promote",
            RaftRequest::Forward(ForwardRequest::Promote {
                id: 3,
                budget_ms: 30_000,
            }),
        ),
        ("request-hello", RaftRequest::Hello),
        (
            "request-forward-remove",
            RaftRequest::Forward(ForwardRequest::Remove {
                id: 2,
                budget_ms: 30_000,
            }),
        ),
        (
            "request-forward-shun",
            RaftRequest::Forward(ForwardRequest::Shun {
                op: ShunOp::Add(shun()),
                budget_ms: 5_000,
            }),
        ),
    ];
    let replies = [
        (
            "reply-append",
            RaftReply::AppendEntries(Ok(AppendEntriesResponse::Success)),
        ),
        (
            "reply-append-partial",
            RaftReply::AppendEntries(Ok(AppendEntriesResponse::PartialSuccess(Some(log_id(
                2, 1, 2,
            ))))),
        ),
        (
            "reply-append-conflict",
            RaftReply::AppendEntries(Ok(AppendEntriesResponse::Conflict)),
        ),
        (
            "reply-append-higher-vote",
            RaftReply::AppendEntries(Ok(AppendEntriesResponse::HigherVote(Vote::new(4, 3)))),
        ),
        (
            "reply-append-stopped",
            RaftReply::AppendEntries(Err(RaftError::Fatal(Fatal::Stopped))),
        ),
        (
            "reply-vote",
            RaftReply::Vote(Ok(VoteResponse {
                vote: Vote::new(3, 2),
                vote_granted: true,
                last_log_id: Some(log_id(2, 1, 3)),
            })),
        ),
        (
            "reply-snapshot",
            RaftReply::InstallSnapshot(Ok(InstallSnapshotResponse { vote })),
        ),
        (
            "reply-snapshot-mismatch",
            RaftReply::InstallSnapshot(Err(RaftError::APIError(
                InstallSnapshotError::SnapshotMismatch(mismatch),
            ))),
        ),
        (
            "reply-forward-committed",
            RaftReply::Forward(ForwardReply::Committed { version: 7 }),
        ),
        (
            "reply-forward-membership",
            RaftReply::Forward(ForwardReply::MembershipChanged { log_index: 9 }),
        ),
        (
            "reply-forward-invalid",
            RaftReply::Forward(ForwardReply::Invalid {
                message: "line 1, column 22: expected protocol".into(),
            }),
        ),
        (
            "reply-forward-not-leader",
            RaftReply::Forward(ForwardReply::NotLeader { leader: Some(2) }),
        ),
        (
            "reply-forward-no-quorum",
            RaftReply::Forward(ForwardReply::NoQuorum {
                waited_ms: 5_000,
                pending: true,
            }),
        ),
        (
            "reply-forward-refused",
            RaftReply::Forward(ForwardReply::Refused {
                message: "learner 3 is not caught up".into(),
            }),
        ),
        (
            "reply-forward-failed",
            RaftReply::Forward(ForwardReply::Failed {
                message: "shutting down".into(),
            }),
        ),
        (
            "reply-forward-conflict",
            RaftReply::Forward(ForwardReply::Conflict {
                committed: 3,
                wanted: 5,
            }),
        ),
        (
            "reply-forward-stopped-after-proposing",
            RaftReply::Forward(ForwardReply::StoppedAfterProposing {
                message: "the state machine could not apply entry 12".into(),
            }),
        ),
        (
            "reply-hello",
            RaftReply::Hello {
                cluster: Some(ClusterId([0x5a; 16])),
                members: vec![1, 2, 3],
                voters: vec![1, 2],
            },
        ),
        (
            "reply-refused",
            RaftReply::Refused("node 2 is not node 3".into()),
        ),
    ];
    let mut out = Vec::new();
    for (name, request) in requests {
        // A fresh store's hello and forwarded write carry no cluster id
        // (the write goes as a bare request, as earlier versions send).
        let fresh = matches!(name, "request-forward-write" | "request-hello");
        let cluster = (!fresh).then_some(ClusterId([0x5a; 16]));
        let mut input = vec![Kind::Request as u8];
        input.extend(encode_call(&RaftCall { cluster, request }).expect("a seed encodes"));
        out.push(SeedFile::new(format!("seed-{name}"), input));
    }
    for (name, r) in &replies {
        out.push(seed(name, Kind::Reply, r));
    }
    out.push(seed("cmd", Kind::Cmd, &cmd));
    out.push(seed(
        "cmd-at",
        Kind::Cmd,
        &PolicyCmd::SetConfigAt {
            version: 4,
            text: POLICY.into(),
        },
    ));
    out.push(seed("cmd-shun", Kind::Cmd, &PolicyCmd::Shun(ShunOp::Add(shun()))));
    out.push(seed(
        "cmd-no-shun",
        Kind::Cmd,
        &PolicyCmd::Shun(ShunOp::Remove {
            source: "2001:db8::66".parse().expect("an address"),
            scope: ShunScope::Vlan(12),
        }),
    ));
    out.push(seed(
        "entry-membership",
        Kind::Entry,
        &entry(2, EntryPayload::Membership(membership(&[1, 2, 3], &[]))),
    ));
    out.push(seed(
        "entry-policy",
        Kind::Entry,
        &entry(3, EntryPayload::Normal(cmd)),
    ));
    out.push(seed("vote", Kind::Vote, &vote));
    out.push(seed("log-id", Kind::LogId, &log_id(2, 1, 3)));
    out
}
