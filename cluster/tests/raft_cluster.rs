//! The Raft policy log in a three-node cluster over real QUIC transports
//! with mutual TLS on loopback: writes from any node, leader failover,
//! catch-up from the log and from a snapshot after a restart, refusal of
//! an invalid config, and a clear error without a quorum. Every wait is
//! bounded (common::raft_lab::WAIT).

// Tests wait on real sockets with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::raft_lab::{
    Lab, WAIT, compacting_settings, data_dir, policy, test_settings, wait_until,
};
use rampart_cluster::raft::{InitError, NoQuorumCause, RaftSettings, Role, WriteError};

/// The one sequence-randomization key nodes `ids` hold (docs/sync.md §1):
/// every one has it, and it is the same.
fn shared_key(lab: &Lab, ids: &[u64]) -> rampart_cluster::raft::SeqKey {
    let keys: Vec<_> = ids
        .iter()
        .map(|id| lab.node(*id).applied().seq_key)
        .collect();
    let first = keys[0].expect("the first policy write committed a key");
    assert!(keys.iter().all(|k| *k == Some(first)), "one key for all");
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_on_a_follower_reaches_all_three_with_one_version() {
    let mut lab = Lab::new("follower-write", 3, test_settings());
    lab.form(&policy(1001)).await;
    let leader = lab.wait_leader().await;
    let follower = lab.follower_of(leader);
    assert_ne!(lab.node(follower).status().role, Role::Leader);

    let text = policy(1002);
    let v = lab.node(follower).write(&text).await.expect("write");
    assert_eq!(v, 2);
    for id in 1..=3 {
        let p = lab.wait_version(id, v).await;
        assert_eq!(
            (p.version, p.text.as_str()),
            (v, text.as_str()),
            "node {id}"
        );
    }
    // The same entry everywhere: one log index for the version.
    let idx: Vec<u64> = (1..=3).map(|id| lab.node(id).applied().log_index).collect();
    assert!(idx.iter().all(|i| *i == idx[0]), "{idx:?}");
    let key = shared_key(&lab, &[1, 2, 3]);
    assert_ne!(key.words(), [0, 0]);
    assert_eq!(format!("{key:?}"), "SeqKey(<secret>)", "never logged");
    let s = lab.node(leader).status();
    assert_eq!(s.voters, vec![1, 2, 3]);
    assert_eq!(s.version, 2);
    assert!(s.committed_index >= Some(idx[0]));
    assert!(s.fsyncs > 0);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_elects_a_new_one_and_writes_continue() {
    let mut lab = Lab::new("failover", 3, test_settings());
    lab.form(&policy(2001)).await;
    let old = lab.wait_leader().await;
    let old_term = lab.node(old).status().term;
    for id in 1..=3 {
        lab.wait_version(id, 1).await;
    }
    let key = shared_key(&lab, &[1, 2, 3]);
    lab.stop(old).await;

    let started = Instant::now();
    let new = lab.wait_leader().await;
    assert_ne!(new, old);
    assert!(lab.node(new).status().term > old_term);
    eprintln!("new leader {new} after {:?}", started.elapsed());

    let survivor = lab.follower_of(new);
    let v = lab
        .node(survivor)
        .write(&policy(2002))
        .await
        .expect("write after failover");
    assert_eq!(v, 2);
    for id in lab.running() {
        assert_eq!(lab.wait_version(id, v).await.version, v);
    }
    // The old leader comes back as a follower and catches up.
    lab.start(old).await;
    assert_eq!(lab.wait_version(old, v).await.text.as_str(), policy(2002));
    assert_ne!(lab.node(old).status().role, Role::Leader);
    // The new leader's write kept the cluster's key.
    assert_eq!(shared_key(&lab, &[1, 2, 3]), key);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_stopped_during_two_writes_catches_up_from_its_log() {
    let mut lab = Lab::new("catch-up-log", 3, test_settings());
    lab.form(&policy(3001)).await;
    let leader = lab.wait_leader().await;
    let down = lab.follower_of(leader);
    lab.wait_version(down, 1).await;
    lab.stop(down).await;

    let writer = lab.follower_of(down);
    assert_eq!(lab.node(writer).write(&policy(3002)).await, Ok(2));
    assert_eq!(lab.node(writer).write(&policy(3003)).await, Ok(3));

    lab.start(down).await;
    // Its store gave it back what it had before it stopped.
    let before = lab.node(down).applied();
    assert_eq!(
        (before.version, before.text.as_str()),
        (1, policy(3001).as_str())
    );
    let after = lab.wait_version(down, 3).await;
    assert_eq!(after.text.as_str(), policy(3003));
    assert_eq!(
        lab.node(down).status().snapshots_installed,
        0,
        "the log sufficed"
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_behind_a_compacted_log_catches_up_by_snapshot() {
    let mut lab = Lab::new("catch-up-snapshot", 3, compacting_settings());
    let down = lab.form_and_stop_a_follower(&policy(4001)).await;

    let writer = lab.follower_of(down);
    for (i, port) in (4002..4008).enumerate() {
        assert_eq!(
            lab.node(writer).write(&policy(port)).await,
            Ok(i as u64 + 2)
        );
    }
    let leader = lab.wait_leader().await;
    let l = lab.node(leader).status();
    wait_until("the leader purged its log", || {
        lab.node(leader).status().purged_index.is_some()
    })
    .await;
    assert!(l.snapshots_built >= 1, "{l:?}");

    lab.start(down).await;
    let got = lab.wait_version(down, 7).await;
    assert_eq!(got.text.as_str(), policy(4007));
    // The snapshot carried the key.
    shared_key(&lab, &[1, 2, 3]);
    let s = lab.node(down).status();
    assert!(s.snapshots_installed >= 1, "caught up by snapshot: {s:?}");

    // And it keeps following after the snapshot.
    assert_eq!(lab.node(down).write(&policy(4008)).await, Ok(8));
    for id in 1..=3 {
        assert_eq!(lab.wait_version(id, 8).await.text.as_str(), policy(4008));
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_config_is_refused_and_every_node_keeps_the_old_one() {
    let mut lab = Lab::new("invalid", 3, test_settings());
    lab.form(&policy(5001)).await;
    let leader = lab.wait_leader().await;
    for id in 1..=3 {
        lab.wait_version(id, 1).await;
    }
    let bad = "access-list OUTSIDE_IN extended permit tcp any any eq 5002\n\
               access-list OUTSIDE_IN extended permit tcp any any eq 99999\n";
    for origin in [leader, lab.follower_of(leader)] {
        let before = lab.node(leader).status().last_log_index;
        match lab.node(origin).write(bad).await {
            Err(WriteError::Invalid { message }) => {
                assert!(message.contains("line 2, column"), "{message}");
            }
            other => panic!("node {origin}: {other:?}"),
        }
        assert_eq!(
            lab.node(leader).status().last_log_index,
            before,
            "nothing was proposed"
        );
    }
    assert!(matches!(
        lab.node(leader).write(&"x".repeat(2 << 20)).await,
        Err(WriteError::TooLarge { .. })
    ));
    // A heartbeat or two later, still version 1 everywhere.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in 1..=3 {
        let p = lab.node(id).applied();
        assert_eq!(
            (p.version, p.text.as_str()),
            (1, policy(5001).as_str()),
            "node {id}"
        );
    }
    lab.shutdown().await;
}

/// A write bound to a version (an operator's signature binds one) is
/// committed as that version or not at all: written on a follower or on
/// the leader, one bound to a version already taken, or to one ahead, is
/// refused with the version in force and changes nothing; of two bound to
/// the same next version at once, one commits and the other is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_bound_to_a_version_commits_as_that_version_or_not_at_all() {
    use common::raft_lab::bound;
    let mut lab = Lab::new("bound", 3, test_settings());
    lab.form(&policy(8001)).await;
    let leader = lab.wait_leader().await;
    let follower = lab.follower_of(leader);
    assert_eq!(lab.node(follower).write(&bound(8002, 2)).await, Ok(2));
    for origin in [follower, leader] {
        assert_eq!(
            lab.node(origin).write(&bound(8003, 2)).await,
            Err(WriteError::Conflict {
                committed: 2,
                wanted: 2
            }),
            "node {origin}: version 2 is taken"
        );
        assert_eq!(
            lab.node(origin).write(&bound(8004, 5)).await,
            Err(WriteError::Conflict {
                committed: 2,
                wanted: 5
            }),
            "node {origin}: version 5 is not the next"
        );
    }
    let e = WriteError::Conflict {
        committed: 2,
        wanted: 5,
    };
    assert!(e.to_string().contains("sign it for version 3"), "{e}");
    // Two writers, each bound to version 3.
    let others: Vec<u64> = lab.running().into_iter().filter(|i| *i != leader).collect();
    let (a, b) = (lab.node(others[0]).clone(), lab.node(others[1]).clone());
    let (ta, tb) = (bound(8005, 3), bound(8006, 3));
    let (ra, rb) = tokio::join!(a.write(&ta), b.write(&tb));
    let conflict = Err(WriteError::Conflict {
        committed: 3,
        wanted: 3,
    });
    assert!(
        (ra == Ok(3) && rb == conflict) || (ra == conflict && rb == Ok(3)),
        "{ra:?} {rb:?}"
    );
    let winner = if ra.is_ok() { 8005 } else { 8006 };
    for id in 1..=3 {
        let p = lab.wait_version(id, 3).await;
        assert_eq!(p.text.as_str(), bound(winner, 3), "node {id}");
    }
    // Unbound writes take the next version as before.
    assert_eq!(lab.node(follower).write(&policy(8007)).await, Ok(4));
    lab.shutdown().await;
}

/// How long a failed write says it waited for a quorum.
fn waited(e: &WriteError) -> Duration {
    match e {
        WriteError::NoQuorum { waited_ms, .. } => Duration::from_millis(*waited_ms),
        other => panic!("not a quorum failure: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_quorum_writes_fail_clearly_within_the_timeout() {
    let settings = test_settings();
    let budget = settings.write_timeout;
    let mut lab = Lab::new("no-quorum", 3, settings);
    lab.form(&policy(6001)).await;

    // The two followers go down: the leader cannot confirm itself.
    let leader = lab.wait_leader().await;
    for id in [1, 2, 3] {
        if id != leader {
            lab.stop(id).await;
        }
    }
    let started = Instant::now();
    let e = lab
        .node(leader)
        .write(&policy(6002))
        .await
        .expect_err("no quorum");
    let took = started.elapsed();
    assert!(
        matches!(
            e,
            WriteError::NoQuorum {
                cause: NoQuorumCause::LeaderIsolated,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_pending());
    assert!(e.to_string().starts_with("no quorum"), "{e}");
    assert!(e.to_string().contains("running policy is unchanged"), "{e}");
    // It gave up because its budget was spent (the write's own account),
    // and it did give up: WAIT is a hang guard far above the 3 s budget,
    // not a timing claim. How soon after the budget it answers is wall
    // time, a figure for a benchmark.
    assert!(waited(&e) >= budget, "{e:?}");
    assert!(took < WAIT, "took {took:?}");
    eprintln!("leader alone: {e} (after {took:?})");
    let p = lab.node(leader).applied();
    assert_eq!(p.version, 1);

    // The leader and another down, a follower alone: no leader at all.
    let lone = [1, 2, 3]
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    lab.start(lone).await;
    lab.wait_version(lone, 1).await;
    lab.stop(leader).await;
    let started = Instant::now();
    let e = lab
        .node(lone)
        .write(&policy(6003))
        .await
        .expect_err("no quorum");
    let took = started.elapsed();
    assert!(
        matches!(
            e,
            WriteError::NoQuorum {
                cause: NoQuorumCause::NoLeader | NoQuorumCause::LeaderUnreachable,
                ..
            }
        ),
        "{e:?}"
    );
    // As above: the budget spent, and a hang guard.
    assert!(waited(&e) >= budget, "{e:?}");
    assert!(took < WAIT, "took {took:?}");
    eprintln!("follower alone: {e} (after {took:?})");
    assert_eq!(lab.node(lone).applied().version, 1);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_joins_at_run_time_and_a_removed_node_stops_receiving_policy() {
    // Node 4 is in nobody's configuration: it joins through Raft.
    let mut lab = Lab::with_founders("membership", 4, 3, test_settings());
    for id in 1..=3 {
        lab.start(id).await;
    }
    lab.node(1)
        .initialize(lab.member(1), &policy(7001))
        .await
        .expect("initialize");
    for id in 2..=3 {
        lab.node(1).join(id, lab.member(id)).await.expect("join");
    }
    let leader = lab.wait_leader().await;
    lab.start(4).await;
    assert!(
        lab.transport(1)
            .peer_states()
            .iter()
            .all(|(id, _)| *id != 4),
        "node 4 is not configured"
    );
    // Asked on a follower: forwarded to the leader.
    let follower = lab.follower_of(leader);
    lab.node(follower)
        .join(4, lab.member(4))
        .await
        .expect("join node 4");
    lab.wait_voters(4).await;
    assert_eq!(lab.wait_version(4, 1).await.text.as_str(), policy(7001));
    for id in 1..=3 {
        let t = lab.transport(id);
        wait_until(&format!("node {id} connects to node 4"), || {
            t.peer_states()
                .contains(&(4, rampart_cluster::transport::LinkState::Up))
        })
        .await;
    }

    // A second change while nothing else runs; then remove node 3.
    let removed = if leader == 3 { 2 } else { 3 };
    lab.node(4).remove(removed).await.expect("remove");
    let kept: Vec<u64> = lab
        .running()
        .into_iter()
        .filter(|id| *id != removed)
        .collect();
    lab.wait_voters_among(&kept, 3).await;
    let v = lab.node(4).write(&policy(7002)).await.expect("write");
    for id in lab.running() {
        if id != removed {
            assert_eq!(lab.wait_version(id, v).await.text.as_str(), policy(7002));
        }
    }
    for id in lab.running() {
        if id != removed {
            let t = lab.transport(id);
            wait_until(&format!("node {id} drops node {removed}"), || {
                t.peer_states()
                    .iter()
                    .all(|(p, _)| u64::from(*p) != removed)
            })
            .await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        lab.node(removed).applied().version,
        1,
        "a removed node receives no policy"
    );
    // Removing a node that is not a member is refused, with the reason.
    match lab.node(1).remove(9).await {
        Err(rampart_cluster::raft::MembershipError::Refused { message }) => {
            assert!(message.contains("not a member"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    lab.shutdown().await;
}

/// A member (its key stolen, or its code faulty) sends an InstallSnapshot
/// chunk at an offset near 2^50: openraft would seek there in its
/// in-memory buffer and the allocation would abort the receiving node.
/// The chunk is refused and counted, and the node keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_snapshot_chunk_far_past_the_limit_is_refused_and_the_node_lives() {
    use openraft::raft::InstallSnapshotRequest;
    use rampart_cluster::raft::{MAX_SNAPSHOT_BYTES, TypeConfig};
    type SnapshotMeta = openraft::SnapshotMeta<u64, rampart_cluster::raft::MemberNode>;
    use rampart_cluster::transport::RPC_SERVICE_RAFT;

    let mut lab = Lab::new("snap-offset", 3, test_settings());
    lab.form(&policy(7001)).await;
    let leader = lab.wait_leader().await;
    let attacker = lab.follower_of(leader);
    let victim = lab
        .running()
        .into_iter()
        .find(|id| *id != attacker)
        .expect("a victim");
    let term = lab.node(victim).status().term;
    let cluster = lab
        .node(attacker)
        .status()
        .cluster
        .expect("a founded cluster");
    // A membership the victim takes (one without a voter is refused
    // before the chunk's offset is looked at).
    let nodes: std::collections::BTreeMap<u64, _> = (1..=3).map(|i| (i, lab.member(i))).collect();
    let membership = openraft::StoredMembership::new(
        Some(openraft::LogId::new(
            openraft::CommittedLeaderId::new(1, 1),
            0,
        )),
        openraft::Membership::new(vec![nodes.keys().copied().collect()], nodes),
    );
    let chunk = |offset: u64, len: usize| {
        let req = InstallSnapshotRequest::<TypeConfig> {
            vote: openraft::Vote::new_committed(term + 1, attacker),
            meta: SnapshotMeta {
                last_log_id: None,
                last_membership: membership.clone(),
                snapshot_id: "hostile".into(),
            },
            offset,
            data: vec![0x41; len],
            done: false,
        };
        // The RPC codec's framing of a call with a cluster id: format
        // version byte 2, then the call in bincode 2: the sender's cluster id
        // (an option), then the request enum (InstallSnapshot is its third
        // variant).
        let mut bytes = vec![2u8];
        bytes.extend(
            bincode::serde::encode_to_vec(Some(cluster), bincode::config::standard())
                .expect("encode"),
        );
        bytes.push(2);
        bytes.extend(
            bincode::serde::encode_to_vec(&req, bincode::config::standard()).expect("encode"),
        );
        let transport = lab.transport(attacker).clone();
        let victim = u16::try_from(victim).unwrap();
        async move {
            let reply = transport
                .rpc(victim, RPC_SERVICE_RAFT, bytes.into(), WAIT)
                .await
                .expect("the victim answers");
            String::from_utf8_lossy(&reply).into_owned()
        }
    };
    // The first chunk (offset 0) opens the stream, as a leader's would.
    let opened = chunk(0, 16).await;
    assert!(!opened.contains("snapshot limit"), "{opened}");
    // Then a chunk far beyond: before the fix, openraft seeked there in
    // the in-memory buffer and writing aborted the victim's process.
    for (offset, len) in [
        (1u64 << 50, 16usize),
        (MAX_SNAPSHOT_BYTES, 1),
        (u64::MAX, 1),
    ] {
        let text = chunk(offset, len).await;
        assert!(
            text.contains("snapshot limit"),
            "offset {offset}: refused with a reason: {text}"
        );
    }
    assert!(lab.node(victim).status().rpcs_refused >= 3);
    // Still a working member: a write reaches it.
    let v = lab.node(leader).write(&policy(7002)).await.expect("write");
    assert_eq!(lab.wait_version(victim, v).await.version, v);
    lab.shutdown().await;
}

/// A member's vote or log id with a term (or index) near `u64::MAX`:
/// openraft adopts any higher vote and stores it, and the next election's
/// `term + 1` overflowed and killed Raft's core on every node that had
/// adopted it, for good (a review's failing case). Such messages are
/// refused, the terms stay small and the cluster still commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_term_near_the_end_of_u64_is_refused_and_the_cluster_commits() {
    use openraft::raft::{AppendEntriesRequest, VoteRequest};
    use rampart_cluster::raft::TypeConfig;
    use rampart_cluster::transport::RPC_SERVICE_RAFT;

    let mut lab = Lab::new("huge-term", 3, test_settings());
    lab.form(&policy(7901)).await;
    let leader = lab.wait_leader().await;
    let attacker = lab.follower_of(leader);
    let cluster = lab
        .node(attacker)
        .status()
        .cluster
        .expect("a founded cluster");
    // The RPC codec's framing (as in the snapshot test above): version
    // byte 2, the cluster id, the request's variant, the request.
    let call = |variant: u8, request: Vec<u8>| {
        let mut bytes = vec![2u8];
        bytes.extend(
            bincode::serde::encode_to_vec(Some(cluster), bincode::config::standard())
                .expect("encode"),
        );
        bytes.push(variant);
        bytes.extend(request);
        bytes
    };
    let append = AppendEntriesRequest::<TypeConfig> {
        vote: openraft::Vote::new_committed(u64::MAX, attacker),
        prev_log_id: None,
        entries: Vec::new(),
        leader_commit: None,
    };
    let vote = VoteRequest::<u64> {
        vote: openraft::Vote::new(u64::MAX - 1, attacker),
        last_log_id: Some(openraft::LogId::new(
            openraft::CommittedLeaderId::new(u64::MAX - 1, attacker),
            u64::MAX,
        )),
    };
    let calls = [
        call(
            0,
            bincode::serde::encode_to_vec(&append, bincode::config::standard()).expect("encode"),
        ),
        call(
            1,
            bincode::serde::encode_to_vec(&vote, bincode::config::standard()).expect("encode"),
        ),
    ];
    for victim in lab.running().into_iter().filter(|id| *id != attacker) {
        for bytes in &calls {
            let reply = lab
                .transport(attacker)
                .rpc(
                    u16::try_from(victim).unwrap(),
                    RPC_SERVICE_RAFT,
                    bytes.clone().into(),
                    WAIT,
                )
                .await
                .expect("the victim answers");
            let text = String::from_utf8_lossy(&reply).into_owned();
            assert!(text.contains("2^62"), "node {victim}: {text}");
        }
    }
    for id in lab.running() {
        let term = lab.node(id).status().term;
        assert!(term < 1 << 62, "node {id} took term {term}");
    }
    // The cluster still elects and commits: stop the leader, write on
    // the others.
    lab.stop(leader).await;
    let writer = lab.running()[0];
    let v = lab.node(writer).write(&policy(7902)).await.expect("write");
    for id in lab.running() {
        assert_eq!(lab.wait_version(id, v).await.version, v);
    }
    lab.shutdown().await;
}

/// `cluster join` of a node that is not running (down, or a wrong
/// address): making it a voter would leave a one-voter cluster needing it
/// for every commit, for good. The join is refused once the membership
/// budget runs out, the node stays a learner, and the cluster still
/// commits policy; started later, the node joins for real.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn joining_a_node_that_never_answers_keeps_the_quorum() {
    let settings = RaftSettings {
        membership_timeout: Duration::from_secs(2),
        ..test_settings()
    };
    let mut lab = Lab::with_founders("join-down", 2, 1, settings);
    lab.start(1).await;
    lab.node(1)
        .initialize(lab.member(1), &policy(7101))
        .await
        .expect("initialize");
    // Refused by the learner step's own wait or by the promote's check,
    // whichever ends first: either way no voter was added.
    match lab.node(1).join(2, lab.member(2)).await {
        Err(rampart_cluster::raft::MembershipError::Refused { message }) => {
            assert!(message.contains("has not caught up"), "{message}");
        }
        Err(rampart_cluster::raft::MembershipError::NoQuorum { .. }) => {}
        other => panic!("joining a node that is down: {other:?}"),
    }
    assert_eq!(
        lab.node(1).status().voters,
        vec![1],
        "the node that never answered is no voter"
    );
    let v = lab
        .node(1)
        .write(&policy(7102))
        .await
        .expect("the cluster still commits");
    assert_eq!(lab.wait_version(1, v).await.text.as_str(), policy(7102));
    // Joining it again at another address is refused with the way out;
    // at its own address it joins once it runs.
    let mut elsewhere = lab.member(2);
    elsewhere.address = "127.0.0.1:9".into();
    match lab.node(1).join(2, elsewhere).await {
        Err(rampart_cluster::raft::MembershipError::Refused { message }) => {
            assert!(message.contains("remove it first"), "{message}");
        }
        other => panic!("joining at another address: {other:?}"),
    }
    lab.start(2).await;
    lab.node(1)
        .join(2, lab.member(2))
        .await
        .expect("join once up");
    lab.wait_voters(2).await;
    assert_eq!(lab.wait_version(2, v).await.text.as_str(), policy(7102));
    lab.shutdown().await;
}

/// Voters {1, 2, 3} with node 3 down: removing node 2 would need node 3 in
/// the new configuration, and the change (and every one after it) could
/// never commit. It is refused with the reason, and the cluster still
/// commits with its two voters up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removal_that_would_leave_no_quorum_is_refused() {
    let mut lab = Lab::new("remove-down", 3, test_settings());
    lab.form(&policy(7201)).await;
    let leader = lab.wait_leader().await;
    let down = if leader == 3 { 2 } else { 3 };
    let other = (1..=3)
        .find(|&i| i != leader && i != down)
        .expect("a third node");
    lab.stop(down).await;
    let t = lab.transport(leader);
    wait_until(&format!("the leader sees node {down} down"), || {
        !t.peer_states()
            .contains(&(down as u16, rampart_cluster::transport::LinkState::Up))
    })
    .await;
    match lab.node(leader).remove(other).await {
        Err(rampart_cluster::raft::MembershipError::Refused { message }) => {
            assert!(message.contains("could not commit"), "{message}");
        }
        r => panic!("removing node {other} with node {down} down: {r:?}"),
    }
    let v = lab
        .node(leader)
        .write(&policy(7202))
        .await
        .expect("the cluster still commits");
    assert_eq!(lab.wait_version(other, v).await.text.as_str(), policy(7202));
    assert_eq!(lab.node(leader).status().voters, vec![1, 2, 3]);
    lab.shutdown().await;
}

/// Voters {1, 2, 3}: one follower misses a write the other two commit;
/// then the leader stops and the other follower loses its data directory.
/// Started again with an empty store, that node must not vote: the node
/// that missed the write would win with it and overwrite the committed
/// policy. No leader is elected until the node that holds the write
/// returns; then every node has the write, and the emptied node votes
/// again once it holds its leader's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_voter_whose_store_was_lost_elects_no_leader_that_misses_committed_policy() {
    let mut lab = Lab::new("lost-store", 3, test_settings());
    lab.form(&policy(7301)).await;
    let leader = lab.wait_leader().await;
    let followers: Vec<u64> = (1..=3).filter(|&i| i != leader).collect();
    let (behind, emptied) = (followers[0], followers[1]);
    lab.wait_version(behind, 1).await;
    lab.stop(behind).await;
    let v = lab
        .node(leader)
        .write(&policy(7302))
        .await
        .expect("committed by the leader and one follower");
    lab.wait_version(emptied, v).await;
    let cluster = lab
        .node(leader)
        .status()
        .cluster
        .expect("a founded cluster");
    lab.stop(leader).await;
    lab.stop(emptied).await;
    std::fs::remove_dir_all(data_dir(&lab, emptied)).expect("remove the data directory");

    lab.start(emptied).await;
    lab.start(behind).await;
    // Several election timeouts (0.5-1 s each): the node that missed the
    // write campaigns, and only the emptied node could give it a majority.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for id in [emptied, behind] {
        assert_ne!(
            lab.node(id).status().role,
            Role::Leader,
            "node {id} leads without the committed write"
        );
    }
    let s = lab.node(emptied).status();
    assert!(!s.log_complete && s.votes_withheld > 0, "{s:?}");
    assert_eq!(s.cluster, None, "no leader reached it");

    lab.start(leader).await;
    for id in 1..=3 {
        assert_eq!(lab.wait_version(id, v).await.text.as_str(), policy(7302));
    }
    let node = lab.node(emptied);
    wait_until("the emptied node's log is complete again", || {
        node.status().log_complete
    })
    .await;
    assert_eq!(node.status().cluster, Some(cluster));
    lab.shutdown().await;
}

/// The founder loses its data directory and starts again with
/// `bootstrap` (it calls `initialize`): it finds its peers in a cluster
/// that counts it as a member, founds nothing, and catches up from that
/// cluster's leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_founder_whose_store_was_lost_rejoins_instead_of_founding() {
    let mut lab = Lab::new("refound", 3, test_settings());
    lab.form(&policy(7401)).await;
    let v = lab.node(2).write(&policy(7402)).await.expect("a write");
    let cluster = lab.node(2).status().cluster.expect("a founded cluster");
    lab.stop(1).await;
    std::fs::remove_dir_all(data_dir(&lab, 1)).expect("remove the data directory");
    lab.start(1).await;
    match lab.node(1).initialize(lab.member(1), &policy(7499)).await {
        Err(InitError::ClusterExists {
            cluster: c,
            member: true,
            ..
        }) => assert_eq!(c, Some(cluster)),
        r => panic!("founding again beside the cluster: {r:?}"),
    }
    assert_eq!(lab.wait_version(1, v).await.text.as_str(), policy(7402));
    assert_eq!(lab.node(1).status().cluster, Some(cluster));
    // And the cluster is whole: a write reaches all three.
    let v = lab.node(1).write(&policy(7403)).await.expect("a write");
    for id in 1..=3 {
        assert_eq!(lab.wait_version(id, v).await.text.as_str(), policy(7403));
    }
    lab.shutdown().await;
}

/// A follower loses its data directory while the leader stays: the leader
/// finds the follower's log gone (openraft asserts that never happens
/// unless told it may), starts its replication over, and the follower
/// catches up and votes again; the cluster keeps committing throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_whose_store_was_lost_catches_up_from_the_same_leader() {
    let mut lab = Lab::new("lost-follower", 3, test_settings());
    lab.form(&policy(7501)).await;
    let leader = lab.wait_leader().await;
    let emptied = lab.follower_of(leader);
    let mut v = 1;
    for port in 7502..7506 {
        v = lab
            .node(leader)
            .write(&policy(port))
            .await
            .expect("a write");
    }
    lab.wait_version(emptied, v).await;
    lab.stop(emptied).await;
    std::fs::remove_dir_all(data_dir(&lab, emptied)).expect("remove the data directory");
    lab.start(emptied).await;
    assert_eq!(
        lab.wait_version(emptied, v).await.text.as_str(),
        policy(7505)
    );
    let node = lab.node(emptied);
    wait_until("the emptied node's log is complete again", || {
        node.status().log_complete
    })
    .await;
    // The leader's Raft lives on (without `loosen-follower-log-revert`
    // openraft stops it on the follower's log going back).
    let l = lab.node(leader).status();
    assert!(l.stopped.is_none() && l.role != Role::Stopped, "{l:?}");
    let v = lab
        .node(emptied)
        .write(&policy(7506))
        .await
        .expect("a write");
    for id in 1..=3 {
        assert_eq!(lab.wait_version(id, v).await.text.as_str(), policy(7506));
    }
    lab.shutdown().await;
}

/// A pair: both nodes stop, and the leader comes back with an empty store.
/// Its vote is withheld from any larger cluster, but in a pair every
/// committed entry is on the other node, which must campaign (its vote was
/// for the old leader): the pair elects it and the emptied node catches up
/// (a pair must not stall on a replaced disk).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pair_with_one_store_lost_elects_the_other_and_catches_up() {
    let mut lab = Lab::new("lost-pair", 2, test_settings());
    lab.form(&policy(7601)).await;
    assert_eq!(lab.wait_leader().await, 1, "the founder leads");
    let v = lab.node(2).write(&policy(7602)).await.expect("a write");
    lab.wait_version(1, v).await;
    lab.wait_version(2, v).await;
    lab.stop(1).await;
    lab.stop(2).await;
    std::fs::remove_dir_all(data_dir(&lab, 1)).expect("remove the data directory");
    lab.start(1).await;
    lab.start(2).await;
    assert_eq!(
        lab.wait_leader().await,
        2,
        "the node that kept its store leads"
    );
    assert_eq!(lab.wait_version(1, v).await.text.as_str(), policy(7602));
    let v = lab.node(1).write(&policy(7603)).await.expect("a write");
    for id in 1..=2 {
        assert_eq!(lab.wait_version(id, v).await.text.as_str(), policy(7603));
    }
    lab.shutdown().await;
}

/// A founder's first start initialises the log and then fails to commit
/// its bootstrap policy (here the write is refused by a validator that
/// takes the policy once; a crash between the two leaves the same store).
/// The next start with `bootstrap` finds the cluster founded, but with no
/// policy and itself the only voter, and commits the policy file as
/// version 1; after that there is nothing left to finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_cut_short_before_its_policy_is_finished_at_the_next_start() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut lab = Lab::new("half-founded", 1, test_settings());
    let checks = Arc::new(AtomicUsize::new(0));
    let (seen, check) = (checks.clone(), common::raft_lab::validator());
    let once: rampart_cluster::raft::Validator = Arc::new(move |text: &str| {
        if seen.fetch_add(1, Ordering::Relaxed) == 0 {
            check(text)
        } else {
            Err("the node died here".into())
        }
    });
    lab.start_with(1, once).await;
    let founded = lab.node(1).initialize(lab.member(1), &policy(7601)).await;
    assert!(matches!(founded, Err(InitError::Write(_))), "{founded:?}");
    assert_eq!(lab.node(1).applied().version, 0);
    assert_eq!(lab.node(1).status().voters, vec![1]);

    lab.stop(1).await;
    lab.start(1).await;
    assert_eq!(
        lab.node(1).initialize(lab.member(1), &policy(7601)).await,
        Err(InitError::AlreadyInitialized)
    );
    let v = lab
        .node(1)
        .complete_bootstrap(&policy(7601))
        .await
        .expect("the bootstrap finished");
    assert_eq!(v, Some(1));
    assert_eq!(lab.wait_version(1, 1).await.text.as_str(), policy(7601));
    assert!(
        lab.node(1).applied().seq_key.is_some(),
        "with the cluster's key"
    );

    // Founded and written: a later start has nothing to finish, and a
    // changed policy file is not committed.
    lab.stop(1).await;
    lab.start(1).await;
    assert_eq!(
        lab.node(1).complete_bootstrap(&policy(7602)).await,
        Ok(None)
    );
    assert_eq!(lab.node(1).applied().version, 1);
    lab.shutdown().await;
}

/// `rampart cluster remove` is remembered: a remaining node restarted
/// with a configuration that still lists the removed node (every lab
/// node's does) gives it no link again, though it keeps dialling; only
/// `cluster join` takes it back. (A review's failing case.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_member_stays_out_after_a_restart_until_joined_again() {
    use rampart_cluster::transport::LinkState;
    let mut lab = Lab::new("removed-stays-out", 3, test_settings());
    lab.form(&policy(7701)).await;
    let leader = lab.wait_leader().await;
    let removed = if leader == 3 { 2 } else { 3 };
    lab.node(leader).remove(removed).await.expect("remove");
    let kept: Vec<u64> = (1..=3).filter(|id| *id != removed).collect();
    let gone = |lab: &Lab, id: u64| {
        lab.transport(id)
            .peer_states()
            .iter()
            .all(|(p, _)| u64::from(*p) != removed)
    };
    for &id in &kept {
        wait_until(&format!("node {id} drops node {removed}"), || {
            gone(&lab, id)
        })
        .await;
        let node = lab.node(id);
        wait_until(&format!("node {id} remembers the removal"), || {
            node.status().removed == vec![removed]
        })
        .await;
    }
    // The leader restarts; the removed node still runs and dials it.
    lab.stop(leader).await;
    lab.start(leader).await;
    assert_eq!(lab.node(leader).status().removed, vec![removed]);
    wait_until(&format!("node {leader} drops node {removed} again"), || {
        gone(&lab, leader)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        gone(&lab, leader),
        "node {removed} is a peer again: {:?}",
        lab.transport(leader).peer_states()
    );
    let v = lab
        .node(leader)
        .write(&policy(7702))
        .await
        .expect("the two voters commit");

    // Taken back explicitly, with a fresh store.
    lab.stop(removed).await;
    std::fs::remove_dir_all(data_dir(&lab, removed)).expect("wipe");
    let via = lab.wait_leader().await;
    lab.start(removed).await;
    lab.node(via)
        .join(removed, lab.member(removed))
        .await
        .expect("join again");
    lab.wait_voters(3).await;
    assert_eq!(
        lab.wait_version(removed, v).await.text.as_str(),
        policy(7702)
    );
    for &id in &kept {
        let t = lab.transport(id);
        wait_until(&format!("node {id} links node {removed} again"), || {
            t.peer_states().contains(&(removed as u16, LinkState::Up))
        })
        .await;
        let node = lab.node(id);
        wait_until(&format!("node {id} forgets the removal"), || {
            node.status().removed.is_empty()
        })
        .await;
    }
    lab.shutdown().await;
}

/// A write's policy check (a parse and a compile: a second or two near
/// the compiler's bounds) runs off the runtime that carries Raft and the
/// sync links, which a node runs on one thread. The check here waits for
/// a tick of a task on the test's one-worker runtime: inline on that
/// worker, no tick could come, and the check fails after 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_policy_check_leaves_the_runtime_free() {
    use std::sync::{Arc, Mutex, mpsc};
    let (tick, ticks) = mpsc::channel::<()>();
    let ticks = Arc::new(Mutex::new(ticks));
    let check = common::raft_lab::validator();
    let waiting: rampart_cluster::raft::Validator = Arc::new(move |text: &str| {
        let ticks = ticks.lock().map_err(|_| "poisoned".to_string())?;
        // Only a tick sent while this check runs counts.
        while ticks.try_recv().is_ok() {}
        ticks
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "no tick while the check ran: the runtime was stalled".to_string())?;
        check(text)
    });
    let ticker = tokio::spawn(async move {
        for _ in 0..6_000 {
            if tick.send(()).is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let mut lab = Lab::new("check-off-runtime", 1, test_settings());
    lab.start_with(1, waiting).await;
    // On the worker, as Raft calls it there (the test's own body runs on
    // another thread).
    let (node, me) = (lab.node(1).clone(), lab.member(1));
    let writes = tokio::spawn(async move {
        let founded = node.initialize(me, &policy(7801)).await;
        (founded, node.write(&policy(7802)).await)
    });
    let (founded, written) = writes.await.expect("the writes ran");
    assert_eq!(founded, Ok(1));
    assert_eq!(written, Ok(2));
    ticker.abort();
    lab.shutdown().await;
}
