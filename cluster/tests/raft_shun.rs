//! The shun list through the policy log (docs/asa-behaviour.md §2.12) in a
//! three-node cluster over real QUIC transports on loopback: a shun added
//! on a follower reaches every node without changing the policy's
//! version, a second one of the same source and scope is refused, `no
//! shun` and `clear shun` reach every node, a restarted node reads the
//! list back from its store, and a node behind a compacted log gets it in
//! the snapshot; of two adds racing for the last place, the one the log
//! cannot apply is refused to its caller. Every wait is bounded
//! (common::raft_lab::WAIT).

// Tests wait on real sockets with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use std::net::IpAddr;

use common::raft_lab::{Lab, compacting_settings, policy, test_settings, wait_until};
use rampart_cluster::raft::{MAX_SHUNS, ShunConn, ShunOp, ShunRecord, ShunScope, WriteError};

fn shun(source: &str, scope: ShunScope) -> ShunRecord {
    ShunRecord {
        source: source.parse().unwrap(),
        conn: None,
        scope,
        added_unix: 1_800_000_000,
    }
}

fn sources(lab: &Lab, id: u64) -> Vec<IpAddr> {
    lab.node(id).shuns().iter().map(|s| s.source).collect()
}

async fn wait_sources(lab: &Lab, want: &[&str]) {
    let want: Vec<IpAddr> = want.iter().map(|s| s.parse().unwrap()).collect();
    for id in lab.running() {
        wait_until(&format!("node {id} has the shuns {want:?}"), || {
            sources(lab, id) == want
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shun_on_a_follower_reaches_every_node_and_survives_a_restart() {
    let mut lab = Lab::new("shun-follower", 3, test_settings());
    lab.form(&policy(5101)).await;
    let leader = lab.wait_leader().await;
    let follower = lab.follower_of(leader);

    let mut first = shun("198.18.0.10", ShunScope::Any);
    first.conn = Some(ShunConn {
        dest: "198.18.0.20".parse().unwrap(),
        sport: 40000,
        dport: 80,
        proto: 6,
    });
    lab.node(follower)
        .shun(ShunOp::Add(first.clone()))
        .await
        .expect("shun");
    lab.node(leader)
        .shun(ShunOp::Add(shun("2001:db8::7", ShunScope::Vlan(12))))
        .await
        .expect("shun");
    wait_sources(&lab, &["198.18.0.10", "2001:db8::7"]).await;
    for id in 1..=3 {
        assert_eq!(
            lab.node(id).shuns()[0],
            first,
            "node {id}: the record whole"
        );
        // Not a policy write.
        assert_eq!(lab.node(id).applied().version, 1, "node {id}");
    }

    // The same source and scope again: refused, with the reason.
    let again = lab
        .node(follower)
        .shun(ShunOp::Add(shun("198.18.0.10", ShunScope::Any)))
        .await;
    assert!(
        matches!(&again, Err(WriteError::Invalid { message }) if message.contains("already")),
        "{again:?}"
    );
    // Another scope of the same source is another shun.
    lab.node(follower)
        .shun(ShunOp::Add(shun(
            "198.18.0.10",
            ShunScope::Interface("outside".into()),
        )))
        .await
        .expect("shun on one interface");
    wait_sources(&lab, &["198.18.0.10", "2001:db8::7", "198.18.0.10"]).await;

    // A restarted node has them from its store before it hears the leader.
    lab.stop(follower).await;
    lab.start(follower).await;
    assert_eq!(
        sources(&lab, follower),
        ["198.18.0.10", "2001:db8::7", "198.18.0.10"]
            .map(|s| s.parse::<IpAddr>().unwrap())
            .to_vec()
    );

    // `no shun` of one scope, then `clear shun`.
    let leader = lab.wait_leader().await;
    lab.node(lab.follower_of(leader))
        .shun(ShunOp::Remove {
            source: "198.18.0.10".parse().unwrap(),
            scope: ShunScope::Any,
        })
        .await
        .expect("no shun");
    wait_sources(&lab, &["2001:db8::7", "198.18.0.10"]).await;
    let none = lab
        .node(leader)
        .shun(ShunOp::Remove {
            source: "198.18.0.99".parse().unwrap(),
            scope: ShunScope::Any,
        })
        .await;
    assert!(matches!(none, Err(WriteError::Invalid { .. })), "{none:?}");
    lab.node(leader).shun(ShunOp::Clear).await.expect("clear");
    wait_sources(&lab, &[]).await;
    // The policy still writes as before, at the next version.
    assert_eq!(lab.node(leader).write(&policy(5102)).await, Ok(2));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_behind_a_compacted_log_gets_the_shuns_in_the_snapshot() {
    let mut lab = Lab::new("shun-snapshot", 3, compacting_settings());
    let down = lab.form_and_stop_a_follower(&policy(5201)).await;

    let writer = lab.follower_of(down);
    let many: Vec<String> = (1..=6).map(|i| format!("198.18.3.{i}")).collect();
    for s in &many {
        lab.node(writer)
            .shun(ShunOp::Add(shun(s, ShunScope::Any)))
            .await
            .expect("shun");
    }
    let leader = lab.wait_leader().await;
    wait_until("the leader purged its log", || {
        lab.node(leader).status().purged_index.is_some()
    })
    .await;
    lab.start(down).await;
    let want: Vec<&str> = many.iter().map(String::as_str).collect();
    wait_sources(&lab, &want).await;
    let s = lab.node(down).status();
    assert!(s.snapshots_installed >= 1, "caught up by snapshot: {s:?}");
    lab.shutdown().await;
}

/// Two adds that each pass the leader's check against the applied list,
/// when only one slot is left: the log applies the first, and the second,
/// which changes nothing, is refused to its caller (not reported as
/// committed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_add_the_log_cannot_apply_is_refused_to_its_caller() {
    let mut lab = Lab::new("shun-last-slot", 3, test_settings());
    lab.form(&policy(5301)).await;
    let leader = lab.wait_leader().await;
    let raft = lab.node(leader).clone();
    // Fill all but one slot, 64 at a time.
    let all: Vec<u32> = (0..(MAX_SHUNS as u32 - 1)).collect();
    for chunk in all.chunks(64) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let r = raft.clone();
            let ip = std::net::Ipv4Addr::from(0xC612_0000 + i).into();
            let rec = ShunRecord {
                source: ip,
                conn: None,
                scope: ShunScope::Any,
                added_unix: 1_800_000_000,
            };
            set.spawn(async move { r.shun(ShunOp::Add(rec)).await });
        }
        while let Some(res) = set.join_next().await {
            res.unwrap().expect("add");
        }
    }
    assert_eq!(raft.shuns().len(), MAX_SHUNS - 1);
    let a = "198.19.255.1".parse().unwrap();
    let b = "198.19.255.2".parse().unwrap();
    let add = |source| {
        ShunOp::Add(ShunRecord {
            source,
            conn: None,
            scope: ShunScope::Any,
            added_unix: 1_800_000_000,
        })
    };
    let (ra, rb) = tokio::join!(raft.shun(add(a)), raft.shun(add(b)));
    let list = raft.shuns();
    let has = |ip| list.iter().any(|s: &ShunRecord| s.source == ip);
    assert_eq!(list.len(), MAX_SHUNS);
    // Each caller told Ok must find its shun in force.
    assert!(
        ra.is_err() || has(a),
        "a answered Ok but is not in the list"
    );
    assert!(
        rb.is_err() || has(b),
        "b answered Ok but is not in the list"
    );
    lab.shutdown().await;
}
