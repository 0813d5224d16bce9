//! A node of a cluster that has not joined runs no policy: its engines
//! wait for the cluster's ([`Engine::await_cluster_policy`]) and drop
//! everything meanwhile. `/readyz` must say so until every worker runs the
//! cluster's policy, and say why when the node refuses the one committed
//! (docs/ops.md §1, *A node not yet joined*).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::{Engine, EngineConfig, Instant};
use rampart_ops::admin::Admin;
use rampart_ops::backend::Backend;
use rampart_ops::model::{AWAITING_CLUSTER_POLICY, NodeStatus};
use rampart_ops::pool::{EnginePool, LocalPool, PoolError, WorkerView};

const NOW: Instant = Instant::from_secs(100);

fn awaiting_engines(n: usize) -> Vec<Engine> {
    (0..n)
        .map(|_| {
            let mut e = Engine::new(EngineConfig::inside_outside(NodeId(2), [1, 2, 3, 4])).unwrap();
            e.await_cluster_policy();
            e
        })
        .collect()
}

/// Workers that stop answering after `answers` requests (a worker stuck
/// in a long batch, a full control queue), until told to answer again.
struct Stalling {
    pool: LocalPool,
    answers: AtomicUsize,
}

impl EnginePool for Stalling {
    fn workers(&self) -> usize {
        self.pool.workers()
    }
    fn each<R: Send + 'static>(
        &self,
        timeout: Duration,
        f: impl Fn(&mut WorkerView<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>, PoolError> {
        let left = self.answers.load(Ordering::SeqCst);
        if left == 0 {
            return Err(PoolError("worker 1 did not answer".into()));
        }
        self.answers.store(left - 1, Ordering::SeqCst);
        self.pool.each(timeout, f)
    }
}

fn clustered() -> NodeStatus {
    NodeStatus {
        clustered: true,
        sync_ready: true,
        ..NodeStatus::default()
    }
}

/// The cluster's policy accepted while the workers could not take it:
/// the node is not ready (before, `/readyz` said ready while every worker
/// still dropped all it received); once they take it, it is.
#[test]
fn not_ready_until_every_worker_runs_the_clusters_policy() {
    let pool = Arc::new(Stalling {
        pool: LocalPool::new(awaiting_engines(2), || NOW),
        // Two requests answer (the compile and the room check); the
        // install does not.
        answers: AtomicUsize::new(2),
    });
    let admin = Admin::new(pool.clone(), Box::new(clustered)).awaiting_cluster_policy();
    let h = admin.health();
    assert!(!h.ready);
    assert!(
        h.reasons[0].starts_with(AWAITING_CLUSTER_POLICY),
        "{:?}",
        h.reasons
    );
    admin.apply_committed(1, "").expect("accepted: pending");
    let h = admin.health();
    assert!(!h.ready, "workers still closed: {h:?}");
    assert!(
        h.reasons.iter().any(|r| r.contains("not yet in force")),
        "{h:?}"
    );
    // The workers answer again: the install retry gets through.
    pool.answers.store(usize::MAX, Ordering::SeqCst);
    let t0 = std::time::Instant::now();
    while !admin.health().ready && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(admin.health().reasons, Vec::<String>::new());
    let open = pool
        .pool
        .each(Duration::from_secs(5), |v| {
            !v.engine.awaits_cluster_policy()
        })
        .unwrap();
    assert_eq!(open, [true, true]);
}

/// A committed policy this node refuses leaves it closed, and `/readyz`
/// says that, not that it has not joined.
#[test]
fn a_refused_cluster_policy_is_named_as_refused() {
    let pool = LocalPool::new(awaiting_engines(1), || NOW);
    let admin = Admin::new(Arc::new(pool), Box::new(clustered)).awaiting_cluster_policy();
    let text = "access-group A in interface dmz\n";
    let err = admin.apply_committed(5, text).unwrap_err();
    admin.refuse_committed(5, &err.to_string());
    let h = admin.health();
    assert!(!h.ready);
    assert!(
        h.reasons[0].starts_with("the cluster's policy version 5 (")
            && h.reasons[0].contains("refused here"),
        "{:?}",
        h.reasons
    );
}
