//! A member (it holds a node's key) sends another node Raft calls that no
//! leader sends: an entry past a gap, and a membership (in an entry or a
//! snapshot) whose voter has no node record. openraft 0.9.25 took them and
//! stopped Raft's core on the node for good (docs/ARCHITECTURE.md §7;
//! SECURITY.md, what a member's key allows). They are refused, counted,
//! and the node stays a working member.

// Tests wait on real sockets with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::raft_lab::{Lab, WAIT, data_dir, policy, wait_until};
use openraft::raft::AppendEntriesRequest;
use rampart_cluster::raft::messages::{ForwardRequest, RaftCall, RaftRequest, encode_call};
use rampart_cluster::raft::{
    Entry, MemberNode, MembershipError, NodeId, PolicyCmd, Role, TypeConfig, open_store,
};
use rampart_cluster::transport::RPC_SERVICE_RAFT;

/// The leader, and two followers: an attacker and its victim.
async fn three_nodes(tag: &str) -> (Lab, NodeId, NodeId, NodeId) {
    let (lab, leader) = Lab::formed_and_written(tag, 3).await;
    let others: Vec<NodeId> = lab.running().into_iter().filter(|i| *i != leader).collect();
    (lab, leader, others[0], others[1])
}

/// `attacker` sends `request` to `victim` as its own Raft call; the
/// reply's text.
async fn call(lab: &Lab, attacker: NodeId, victim: NodeId, request: RaftRequest) -> String {
    let call = RaftCall {
        cluster: lab.node(attacker).status().cluster,
        request,
    };
    let bytes = encode_call(&call).expect("encode");
    let reply = lab
        .transport(attacker)
        .rpc(
            u16::try_from(victim).expect("small id"),
            RPC_SERVICE_RAFT,
            bytes.into(),
            WAIT,
        )
        .await
        .expect("the victim answers");
    String::from_utf8_lossy(&reply).into_owned()
}

async fn send(
    lab: &Lab,
    attacker: NodeId,
    victim: NodeId,
    req: AppendEntriesRequest<TypeConfig>,
) -> String {
    call(lab, attacker, victim, RaftRequest::AppendEntries(req)).await
}

/// Voters 1, 2, 3 and 9, node records for 1, 2 and 3 only, as it arrives
/// on the wire (built through serde: `Membership::new` would add a record
/// for 9).
/// `attacker`'s AppendEntries, as leader of `term`, of one membership
/// entry right after `last`.
fn membership_after(
    last: openraft::LogId<NodeId>,
    term: u64,
    attacker: NodeId,
    membership: openraft::Membership<NodeId, MemberNode>,
) -> AppendEntriesRequest<TypeConfig> {
    AppendEntriesRequest {
        vote: openraft::Vote::new_committed(term, attacker),
        prev_log_id: Some(last),
        entries: vec![Entry {
            log_id: openraft::LogId::new(
                openraft::CommittedLeaderId::new(term, attacker),
                last.index + 1,
            ),
            payload: openraft::EntryPayload::Membership(membership),
        }],
        leader_commit: Some(last),
    }
}

fn voter_without_a_record(lab: &Lab) -> openraft::Membership<NodeId, MemberNode> {
    let nodes = (1..=3).map(|i| (i, lab.member(i))).collect();
    let membership = on_the_wire(BTreeSet::from([1, 2, 3, 9]), nodes);
    assert!(membership.get_node(&9).is_none());
    membership
}

/// A membership of `voters` with node records `nodes`, as it arrives on
/// the wire.
fn on_the_wire(
    voters: BTreeSet<NodeId>,
    nodes: BTreeMap<NodeId, MemberNode>,
) -> openraft::Membership<NodeId, MemberNode> {
    #[derive(serde::Serialize)]
    struct Raw {
        configs: Vec<BTreeSet<NodeId>>,
        nodes: BTreeMap<NodeId, MemberNode>,
    }
    let raw = Raw {
        configs: vec![voters],
        nodes,
    };
    let c = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&raw, c).expect("encode");
    bincode::serde::decode_from_slice(&bytes, c)
        .expect("decode")
        .0
}

/// The victim's last log id, once everything it holds is applied.
async fn settled_last(lab: &Lab, victim: NodeId) -> openraft::LogId<NodeId> {
    let raft = lab.node(victim).raft().clone();
    let mut last = None;
    wait_until("the victim applies its whole log", || {
        let m = raft.metrics().borrow().clone();
        last = m.last_applied;
        m.last_applied.is_some() && m.last_applied.map(|l| l.index) == m.last_log_index
    })
    .await;
    last.expect("applied")
}

/// The victim is still a member that applies what the cluster commits,
/// and its core runs.
async fn still_works(lab: &Lab, leader: NodeId, victim: NodeId, port: u16) {
    let st = lab.node(victim).status();
    assert_eq!(st.stopped, None, "the victim's Raft runs: {st:?}");
    assert_ne!(st.role, Role::Stopped);
    let v = lab.node(leader).write(&policy(port)).await.expect("write");
    assert_eq!(lab.wait_version(victim, v).await.version, v);
    assert_eq!(lab.node(victim).status().stopped, None);
}

/// The reviewer's attack: a vote five terms on, `prev_log_id` the
/// victim's last entry and one entry five indexes past it, committed.
/// Before the fix the victim stored it, its next apply failed ("try to get
/// log at index 11 but got Some(15)"; a panic with debug assertions) and
/// every later start failed on the same log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_entry_past_a_gap_from_a_member_is_refused_and_raft_lives() {
    let (lab, leader, attacker, victim) = three_nodes("gap").await;
    let last = settled_last(&lab, victim).await;
    let term = lab.node(victim).status().term + 5;
    let gap = openraft::LogId::new(
        openraft::CommittedLeaderId::new(term, attacker),
        last.index + 5,
    );
    let req = AppendEntriesRequest::<TypeConfig> {
        vote: openraft::Vote::new_committed(term, attacker),
        prev_log_id: Some(last),
        entries: vec![Entry {
            log_id: gap,
            payload: openraft::EntryPayload::Normal(PolicyCmd::SetConfig { text: policy(6666) }),
        }],
        leader_commit: Some(gap),
    };
    let refused_before = lab.node(victim).status().rpcs_refused;
    let text = send(&lab, attacker, victim, req).await;
    assert!(
        text.contains("entries out of order") && text.contains("entries must follow"),
        "refused with the reason: {text}"
    );
    assert_eq!(lab.node(victim).status().rpcs_refused, refused_before + 1);
    let st = lab.node(victim).status();
    assert_eq!(st.last_log_index, Some(last.index), "nothing stored");
    assert!(st.term < term, "the attacker's vote was not taken: {st:?}");
    // Long enough for an apply of the stored entry to have failed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    still_works(&lab, leader, victim, 7003).await;
    lab.shutdown().await;
}

/// A membership entry naming voter 9, which has no node record: the victim
/// stored it and openraft's core panicked at its next election, looking
/// the voter's record up. Refused now; the victim campaigns (its leader
/// stopped) and lives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_membership_with_a_voter_without_a_record_is_refused_and_raft_lives() {
    let (mut lab, leader, attacker, victim) = three_nodes("voter-no-node").await;
    let last = settled_last(&lab, victim).await;
    let term = lab.node(victim).status().term + 5;
    let membership = voter_without_a_record(&lab);
    let req = membership_after(last, term, attacker, membership);
    let refused_before = lab.node(victim).status().rpcs_refused;
    let text = send(&lab, attacker, victim, req).await;
    assert!(
        text.contains("a membership whose voter 9 has no node record"),
        "refused with the reason: {text}"
    );
    assert_eq!(lab.node(victim).status().rpcs_refused, refused_before + 1);
    assert_eq!(lab.node(victim).status().voters, vec![1, 2, 3]);
    // Make the victim campaign: its leader goes, and it is told to elect.
    lab.stop(leader).await;
    lab.node(victim)
        .raft()
        .trigger()
        .elect()
        .await
        .expect("the victim's core takes the order");
    let new_leader = lab.wait_leader().await;
    still_works(&lab, new_leader, victim, 7004).await;
    lab.shutdown().await;
}

/// A store that an earlier version let a member fill past a gap: every
/// start failed inside openraft ("Failed to get log entries, expected
/// index: [11, 16)"), saying nothing of what to do. The start is refused
/// with the advice, and the node, its `raft/` moved aside, catches up from
/// the leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_left_with_a_gap_is_refused_at_start_with_what_to_do() {
    use openraft::storage::RaftLogStorageExt as _;
    let (mut lab, leader, _, victim) = three_nodes("gap-stored").await;
    let last = settled_last(&lab, victim).await;
    lab.stop(victim).await;
    let dir = data_dir(&lab, victim);
    {
        let (mut log, _sm) = open_store(&dir).expect("open the victim's store");
        let gap = Entry {
            log_id: openraft::LogId::new(
                openraft::CommittedLeaderId::new(last.leader_id.term + 5, 1),
                last.index + 5,
            ),
            payload: openraft::EntryPayload::Blank,
        };
        log.blocking_append([gap]).await.expect("append");
    }
    let e = lab.try_start(victim).await.expect_err("refused");
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "the log holds no entry {} but one at {}",
            last.index + 1,
            last.index + 5
        )) && text.contains(&format!("move the directory {} aside", dir.display())),
        "{text}"
    );
    std::fs::rename(&dir, dir.with_extension("aside")).expect("move raft/ aside");
    lab.start(victim).await;
    let v = lab.node(leader).write(&policy(7005)).await.expect("write");
    assert_eq!(lab.wait_version(victim, v).await.version, v);
    let _ = std::fs::remove_dir_all(dir.with_extension("aside"));
    lab.shutdown().await;
}

/// A snapshot's membership becomes the node's own when it is installed:
/// one whose voter has no node record is refused on its first chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_snapshot_whose_membership_lacks_a_voters_record_is_refused() {
    use openraft::raft::InstallSnapshotRequest;
    let (lab, leader, attacker, victim) = three_nodes("snap-voter-no-node").await;
    let term = lab.node(victim).status().term + 5;
    let req = InstallSnapshotRequest::<TypeConfig> {
        vote: openraft::Vote::new_committed(term, attacker),
        meta: openraft::SnapshotMeta {
            last_log_id: Some(openraft::LogId::new(
                openraft::CommittedLeaderId::new(term, attacker),
                500,
            )),
            last_membership: openraft::StoredMembership::new(
                Some(openraft::LogId::new(
                    openraft::CommittedLeaderId::new(term, attacker),
                    499,
                )),
                voter_without_a_record(&lab),
            ),
            snapshot_id: "hostile".into(),
        },
        offset: 0,
        data: vec![0; 16],
        done: false,
    };
    let refused_before = lab.node(victim).status().rpcs_refused;
    let text = call(&lab, attacker, victim, RaftRequest::InstallSnapshot(req)).await;
    assert!(
        text.contains("a snapshot with a membership whose voter 9 has no node record"),
        "refused with the reason: {text}"
    );
    assert_eq!(lab.node(victim).status().rpcs_refused, refused_before + 1);
    still_works(&lab, leader, victim, 7006).await;
    lab.shutdown().await;
}

/// Node ids 64 apart share a bit of a flow's holder set, so the sync
/// engine took node 65 for node 1 (docs/ops.md §5). A join naming node 65
/// (or 0, node 64's bit) is refused where it is asked; the leader refuses
/// it from a follower that forwards it without checking; and a follower
/// refuses a membership entry naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_id_outside_1_to_64_is_refused_by_join_the_leader_and_followers() {
    let (lab, leader, attacker, victim) = three_nodes("node-65").await;
    let member = |id: NodeId| MemberNode {
        name: format!("fw-{id}"),
        address: "127.0.0.1:7400".into(),
    };
    for id in [65, 0] {
        match lab.node(attacker).join(id, member(id)).await {
            Err(MembershipError::BadNode {
                id: refused,
                reason,
            }) => {
                assert_eq!(refused, id);
                assert_eq!(
                    reason,
                    format!(
                        "node ids are 1-64 (the sync engine gives each a bit of a 64-bit \
                         set), not {id}"
                    )
                );
            }
            other => panic!("joining node {id}: {other:?}"),
        }
    }
    let forward = ForwardRequest::AddLearner {
        id: 65,
        node: member(65),
        budget_ms: 2_000,
    };
    let text = call(&lab, attacker, leader, RaftRequest::Forward(forward)).await;
    assert!(
        text.contains("node ids are 1-64"),
        "the leader refuses: {text}"
    );

    let last = settled_last(&lab, victim).await;
    let term = lab.node(victim).status().term + 5;
    let mut nodes: BTreeMap<NodeId, MemberNode> = (1..=3).map(|i| (i, lab.member(i))).collect();
    nodes.insert(65, member(65));
    let membership = on_the_wire(BTreeSet::from([1, 2, 3]), nodes);
    let req = membership_after(last, term, attacker, membership);
    let refused_before = lab.node(victim).status().rpcs_refused;
    let text = send(&lab, attacker, victim, req).await;
    assert!(
        text.contains("a membership naming a node it cannot have: node ids are 1-64"),
        "refused with the reason: {text}"
    );
    assert_eq!(lab.node(victim).status().rpcs_refused, refused_before + 1);
    let st = lab.node(leader).status();
    assert_eq!((st.voters, st.learners), (vec![1, 2, 3], vec![]));
    still_works(&lab, leader, victim, 7007).await;
    lab.shutdown().await;
}
