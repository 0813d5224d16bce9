//! Membership as an operator drives it (`rampart cluster join` and
//! `cluster remove`) in a three-node cluster over real QUIC transports on
//! loopback: removing the leader, a node removing itself, what a removed
//! node does afterwards, and joining it again with its old store. Every
//! wait is bounded (common::raft_lab::WAIT).

// Tests wait on real sockets with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::raft_lab::{Lab, policy, test_settings, wait_until};
use rampart_cluster::raft::{MemberNode, MembershipError, NodeId, RaftSettings, Role};
use rampart_cluster::transport::LinkState;

/// What a membership change may take on loopback: far below the 30 s
/// membership budget the change once ran out (a review's finding), and
/// above a new election (at most a second) and the removal's close grace.
const PROMPT: Duration = Duration::from_secs(8);

fn others(lab: &Lab, id: NodeId) -> Vec<NodeId> {
    lab.running().into_iter().filter(|i| *i != id).collect()
}

/// After `gone` left: the other two agree on a leader among them, see two
/// voters, take a write, and drop `gone` from their transports.
async fn the_rest_carry_on(lab: &Lab, gone: NodeId, port: u16) {
    let kept = others(lab, gone);
    lab.wait_voters_among(&kept, 2).await;
    let mut leader = 0;
    wait_until("a leader among the remaining two", || {
        let l = lab.node(kept[0]).status().leader;
        match l {
            Some(l) if kept.contains(&l) && lab.node(kept[1]).status().leader == Some(l) => {
                leader = l;
                lab.node(l).status().role == Role::Leader
            }
            _ => false,
        }
    })
    .await;
    let v = lab
        .node(kept[1])
        .write(&policy(port))
        .await
        .expect("the remaining two commit");
    for &id in &kept {
        assert_eq!(lab.wait_version(id, v).await.text.as_str(), policy(port));
        let t = lab.transport(id);
        wait_until(&format!("node {id} drops node {gone}"), || {
            t.peer_states().iter().all(|(p, _)| u64::from(*p) != gone)
        })
        .await;
    }
}

/// Removing the leader (asked on the leader): each follower appended the
/// new membership and dropped its link to the leader at once, its ack was
/// lost, the leader never committed, and `remove` ran out its 30 s budget
/// and failed although the other two committed the removal (a review's
/// finding). It now returns success promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removing_the_leader_succeeds_promptly_and_the_rest_carry_on() {
    let (lab, leader) = Lab::formed_and_written("remove-leader", 3).await;
    let started = Instant::now();
    let r = lab.node(leader).remove(leader).await;
    let took = started.elapsed();
    assert!(r.is_ok(), "{r:?} after {took:?}");
    assert!(took < PROMPT, "took {took:?}");
    the_rest_carry_on(&lab, leader, 7101).await;
    lab.shutdown().await;
}

/// A follower removing itself (`cluster remove --id 2` on node 2): the
/// leader dropped it as it appended the change, and the reply to the
/// forwarded request was lost with the link: 30 s, then "no quorum" (a
/// review's finding). It now returns success promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_removing_itself_succeeds_promptly_and_the_rest_carry_on() {
    let (lab, leader) = Lab::formed_and_written("remove-self", 3).await;
    let me = others(&lab, leader)[0];
    let started = Instant::now();
    let r = lab.node(me).remove(me).await;
    let took = started.elapsed();
    assert!(r.is_ok(), "{r:?} after {took:?}");
    assert!(took < PROMPT, "took {took:?}");
    the_rest_carry_on(&lab, me, 7201).await;
    lab.shutdown().await;
}

/// A removed node was never told: it campaigned for ever (its term
/// climbing), dialled and woke every member (each refusing it), and when
/// joined again with its old store its inflated term forced an election
/// (a review's finding: term 1 to 12). Told by the members, it now says it
/// was removed, stops campaigning and dialling, and joins again with its
/// store without disturbing the leader's term.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_node_knows_it_goes_quiet_and_joins_again_with_its_store() {
    let (lab, leader) = Lab::formed_and_written("removed-quiet", 3).await;
    let gone = others(&lab, leader)[0];
    lab.node(leader).remove(gone).await.expect("remove");
    the_rest_carry_on(&lab, gone, 7301).await;
    let node = lab.node(gone);
    wait_until(&format!("node {gone} knows it was removed"), || {
        node.status().removed_self.is_some()
    })
    .await;
    eprintln!("removed: {:?}", node.status().removed_self);

    // Quiet: its term stays, and the members stop refusing its dials.
    let term = node.status().term;
    let refused = |lab: &Lab| -> u64 {
        others(lab, gone)
            .iter()
            .map(|id| {
                lab.transport(*id)
                    .counters()
                    .refused_unknown_peer
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = refused(&lab);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(node.status().term, term, "a removed node campaigns no more");
    assert_ne!(node.status().role, Role::Candidate);
    assert_eq!(refused(&lab), before, "a removed node dials no member");

    // Joined again with its old store: no election.
    let now = lab.wait_leader_among(&others(&lab, gone)).await;
    let leader_term = lab.node(now).status().term;
    lab.node(now)
        .join(gone, lab.member(gone))
        .await
        .expect("join again");
    lab.wait_voters(3).await;
    let v = lab.node(now).write(&policy(7302)).await.expect("write");
    assert_eq!(lab.wait_version(gone, v).await.text.as_str(), policy(7302));
    assert_eq!(lab.node(now).status().term, leader_term, "no election");
    assert_eq!(lab.node(now).status().role, Role::Leader);
    wait_until(&format!("node {gone} is a member again"), || {
        lab.node(gone).status().removed_self.is_none()
    })
    .await;
    for id in others(&lab, gone) {
        let t = lab.transport(id);
        wait_until(&format!("node {id} links node {gone} again"), || {
            t.peer_states().contains(&(gone as u16, LinkState::Up))
        })
        .await;
    }
    lab.shutdown().await;
}

/// Three founders formed with `policy(port)`; node 4 (in nobody's
/// configuration) is neither started nor a member. Joins wait at most
/// `MEMBERSHIP`.
async fn three_of_four(tag: &str, port: u16) -> Lab {
    let settings = RaftSettings {
        membership_timeout: MEMBERSHIP,
        ..test_settings()
    };
    let mut lab = Lab::with_founders(tag, 4, 3, settings);
    for id in 1..=3 {
        lab.start(id).await;
    }
    lab.node(1)
        .initialize(lab.member(1), &policy(port))
        .await
        .expect("initialize");
    for id in 2..=3 {
        lab.node(1).join(id, lab.member(id)).await.expect("join");
    }
    lab.wait_leader().await;
    lab
}

/// The membership timeout of the join tests.
const MEMBERSHIP: Duration = Duration::from_secs(4);

/// A join of a node that never answers: the learner step and the
/// promotion each had their own 30 s while the admin API waited 30 s in
/// all, so the refusal that says what is wrong never reached the operator
/// and the change could complete after it was told it failed (a review's
/// finding). One deadline now covers both, and the refusal arrives within
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_join_of_an_unreachable_node_is_refused_in_time_saying_why() {
    let lab = three_of_four("join-unreachable", 7401).await;
    let started = Instant::now();
    let r = lab.node(2).join(4, lab.member(4)).await;
    let took = started.elapsed();
    match r {
        Err(MembershipError::Refused { message }) => {
            assert!(message.contains("has not caught up"), "{message}");
        }
        other => panic!("{other:?} after {took:?}"),
    }
    assert!(took <= MEMBERSHIP, "took {took:?}");
    let s = lab.node(1).status();
    assert_eq!((s.voters, s.learners), (vec![1, 2, 3], vec![4]));
    lab.shutdown().await;
}

/// A join with a wrong name: the transport refuses the node (its
/// certificate carries another), the refusal says so, and a join with the
/// right name, silently ignored before (openraft keeps the first record),
/// is refused until the node is removed; then it joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_join_with_a_wrong_name_says_so_and_is_mended_by_remove_and_join() {
    let mut lab = three_of_four("join-wrong-name", 7501).await;
    lab.start(4).await;
    let wrong = MemberNode {
        name: "fw-x".into(),
        ..lab.member(4)
    };
    match lab.node(1).join(4, wrong).await {
        Err(MembershipError::Refused { message }) => {
            assert!(message.contains("has not caught up"), "{message}");
            assert!(message.contains("does not carry the name"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match lab.node(1).join(4, lab.member(4)).await {
        Err(MembershipError::Refused { message }) => {
            assert!(message.contains("already a member named fw-x"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    lab.node(1).remove(4).await.expect("remove");
    lab.node(1).join(4, lab.member(4)).await.expect("join");
    lab.wait_voters(4).await;
    // A wildcard address is refused before anything is proposed.
    let wildcard = MemberNode {
        address: "0.0.0.0:7000".into(),
        ..lab.member(4)
    };
    assert!(matches!(
        lab.node(1).join(5, wildcard).await,
        Err(MembershipError::BadNode { id: 5, .. })
    ));
    lab.shutdown().await;
}

/// `cluster remove` asked on a node whose log holds an earlier removal of
/// the same node, joined again since without that join reaching it: the
/// old removal is no evidence that this call's removal committed. Asked
/// where no leader can be reached, the call must fail, not report the
/// removal done (it returned the old removal's index at once before, a
/// review found).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_earlier_removal_is_no_evidence_that_a_new_one_committed() {
    let mut lab = three_of_four("remove-stale-evidence", 7601).await;
    lab.start(4).await;
    let leader = lab.wait_leader_among(&[1, 2, 3]).await;
    lab.node(leader).join(4, lab.member(4)).await.expect("join");
    lab.wait_voters(4).await;
    let leader = lab.wait_leader().await;
    let asked = (1..=3).find(|id| *id != leader).expect("a follower");
    lab.node(leader).remove(4).await.expect("remove");
    let node = lab.node(asked);
    wait_until(&format!("node {asked} applies the removal"), || {
        node.status().removed == vec![4]
    })
    .await;

    // Node 4 joins again while `asked` is down: its log ends at the
    // removal.
    lab.stop(asked).await;
    let members: Vec<NodeId> = (1..=3).filter(|id| *id != asked).collect();
    let leader = lab.wait_leader_among(&members).await;
    lab.node(leader)
        .join(4, lab.member(4))
        .await
        .expect("join again");
    for id in lab.running() {
        lab.stop(id).await;
    }

    // Alone, it holds the old removal and can reach no leader.
    lab.start(asked).await;
    let node = lab.node(asked);
    wait_until(&format!("node {asked} holds the old removal"), || {
        node.status().removed == vec![4]
    })
    .await;
    let started = Instant::now();
    let r = node.remove(4).await;
    assert!(
        r.is_err(),
        "a removal no leader took reported done: {r:?} after {:?}",
        started.elapsed()
    );
    lab.shutdown().await;
}
