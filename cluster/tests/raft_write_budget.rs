//! A forwarded write's budget covers the leader's own policy check: a
//! leader whose check outlasts it refuses the write before proposing, in
//! time for the follower to hear why, instead of answering late (the
//! follower took it for lost and the operator heard "no answer") and
//! committing it long after.

// Tests wait on real sockets with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::raft_lab::{Lab, policy, test_settings, validator, wait_until};
use rampart_cluster::raft::{NodeId, Validator, WriteError};

/// A policy the slow node takes long to check.
const SLOW: &str = "! slow\n";

/// The lab's validator, which on node `id`, while `slow` names it, sleeps
/// `pause` before checking a policy marked [`SLOW`].
fn slow_on(id: NodeId, slow: Arc<AtomicU64>, pause: Duration) -> Validator {
    let inner = validator();
    Arc::new(move |text: &str| {
        if slow.load(Ordering::Relaxed) == id && text.starts_with(SLOW) {
            std::thread::sleep(pause);
        }
        inner(text)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leaders_check_past_the_budget_refuses_the_write_in_time() {
    let settings = test_settings();
    let budget = settings.write_timeout;
    let pause = budget + Duration::from_secs(1);
    let slow = Arc::new(AtomicU64::new(0));
    let mut lab = Lab::new("write-budget", 3, settings);
    lab.form_with(&policy(7001), |id| slow_on(id, slow.clone(), pause))
        .await;
    let leader = lab.wait_leader().await;
    let follower = lab
        .running()
        .into_iter()
        .find(|i| *i != leader)
        .expect("a follower");
    let before = lab.node(leader).applied().version;
    slow.store(leader, Ordering::Relaxed);

    let t0 = Instant::now();
    let text = format!("{SLOW}{}", policy(7009));
    let e = lab
        .node(follower)
        .write(&text)
        .await
        .expect_err("the leader's check outlasts the budget");
    assert!(
        matches!(&e, WriteError::LeaderFailed { message, .. }
            if message.contains("took longer than the write's budget")),
        "{e:?}"
    );
    assert!(!e.is_pending(), "{e}");
    assert!(
        t0.elapsed() < budget + Duration::from_millis(500),
        "answered after {:?}",
        t0.elapsed()
    );
    // Nothing was proposed: once the check has ended, still nothing.
    tokio::time::sleep(pause).await;
    for id in lab.running() {
        assert_eq!(lab.node(id).applied().version, before, "node {id}");
    }
    // The leader takes writes again.
    slow.store(0, Ordering::Relaxed);
    let v = lab
        .node(follower)
        .write(&policy(7010))
        .await
        .expect("write");
    wait_until("the leader applied it", || {
        lab.node(leader).applied().version == v
    })
    .await;
    lab.shutdown().await;
}
