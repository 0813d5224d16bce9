//! `configure` with and without a replicated log: locally it compiles and
//! swaps into every worker; with a writer (Raft) it only writes, the node
//! applies what was committed through `apply_committed` (or refuses it),
//! and the writer's answer says what this node made of it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_ops::backend::{Backend, OpsError};
use rampart_ops::fixture;
use rampart_ops::local_apply::{LocalApplies, LocalOutcome};
use rampart_ops::model::ConfigProblem;

const GOOD: &str = "class-map c1\n match any\npolicy-map p\n class c1\n  set connection conn-max 7\nservice-policy p global\n";
const BAD: &str =
    "class-map c1\n match any\npolicy-map p\n class c1\n  set connection conn-max lots\n";

#[test]
fn committed_policies_apply_to_every_worker_and_bad_ones_change_nothing() {
    let a = fixture::admin(fixture::standalone_status());
    a.apply_committed(5, GOOD).unwrap();
    assert_eq!(a.running_config().unwrap().version, 5);
    let sp = a.service_policy().unwrap();
    assert_eq!(sp.bindings[0].classes[0].conn_max, 7);
    // Both workers run it: the cluster view counts one swap more than the
    // fixture's own.
    assert_eq!(a.cluster().unwrap().policy_swaps, 2);
    match a.apply_committed(6, BAD) {
        Err(OpsError::Config(p)) => assert_eq!(p[0].line, 5),
        other => panic!("{other:?}"),
    }
    assert_eq!(a.running_config().unwrap().version, 5);
    assert_eq!(a.cluster().unwrap().policy_swaps, 2);
}

#[test]
fn with_a_writer_configure_writes_and_does_not_apply_itself() {
    let written = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = written.clone();
    let a = fixture::admin(fixture::standalone_status()).with_writer(Box::new(move |text| {
        if text.contains("lots") {
            return Err(OpsError::Config(vec![ConfigProblem {
                line: 5,
                column: 32,
                message: "expected a number".into(),
            }]));
        }
        log.lock().unwrap().push(text.to_string());
        Ok(9)
    }));
    assert!(matches!(a.configure(BAD), Err(OpsError::Config(_))));
    let a = a.with_local_apply_wait(Duration::from_millis(10));
    let r = a.configure(GOOD).unwrap();
    assert_eq!(r.version, 9);
    assert_eq!(*written.lock().unwrap(), vec![GOOD.to_string()]);
    // Running config and engines change when the commit is applied; until
    // then the answer says the policy is not in force here.
    assert!(
        r.pending
            .as_deref()
            .is_some_and(|p| p.starts_with("not in force on this node")),
        "{r:?}"
    );
    assert_eq!(r.refused_here, None);
    assert_eq!(a.running_config().unwrap().version, 1);
    a.apply_committed(9, GOOD).unwrap();
    assert_eq!(a.running_config().unwrap().version, 9);
}

/// A writer that commits as `version` and, a moment later, has the node's
/// apply task make `outcome` of it (through the node's record, as
/// `rampart run` does).
fn committing(
    version: u64,
    outcome: impl Fn(&LocalApplies) + Send + Sync + 'static,
) -> (
    rampart_ops::admin::PolicyWriter,
    Arc<Mutex<Option<Arc<LocalApplies>>>>,
) {
    let applies: Arc<Mutex<Option<Arc<LocalApplies>>>> = Arc::new(Mutex::new(None));
    let seen = applies.clone();
    let outcome = Arc::new(outcome);
    let writer = Box::new(move |_: &str| {
        let a = seen.lock().unwrap().clone().expect("wired");
        let outcome = outcome.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            outcome(&a);
        });
        Ok(version)
    });
    (writer, applies)
}

/// In a cluster, `configure` answers once the node made something of the
/// committed version: never "applied" for one it does not run.
#[test]
fn configure_through_the_cluster_says_what_this_node_made_of_the_commit() {
    // It runs it.
    let (w, wire) = committing(4, |a| a.record(4, LocalOutcome::Running { pending: None }));
    let a = fixture::admin(fixture::standalone_status()).with_writer(w);
    *wire.lock().unwrap() = Some(a.local_applies());
    let r = a.configure(GOOD).unwrap();
    assert_eq!((r.version, r.pending, r.refused_here), (4, None, None));

    // It refuses it (not signed for its version here): the answer says so,
    // with the version it keeps.
    let (w, wire) = committing(5, |a| {
        a.record(
            5,
            LocalOutcome::Refused("not signed by the operator's key".into()),
        )
    });
    let a = fixture::admin(fixture::standalone_status()).with_writer(w);
    *wire.lock().unwrap() = Some(a.local_applies());
    let r = a.configure(GOOD).unwrap();
    assert_eq!(r.version, 5);
    assert_eq!(
        r.refused_here.as_deref(),
        Some("this node keeps version 1: not signed by the operator's key")
    );

    // Some workers take it later: the pending note (docs/ARCHITECTURE.md §7).
    let (w, wire) = committing(6, |a| {
        a.record(
            6,
            LocalOutcome::Running {
                pending: Some("worker 1 did not answer".into()),
            },
        )
    });
    let a = fixture::admin(fixture::standalone_status()).with_writer(w);
    *wire.lock().unwrap() = Some(a.local_applies());
    let r = a.configure(GOOD).unwrap();
    assert_eq!(r.pending.as_deref(), Some("worker 1 did not answer"));

    // A later version replaced it before this node took it.
    let (w, wire) = committing(7, |a| a.record(8, LocalOutcome::Running { pending: None }));
    let a = fixture::admin(fixture::standalone_status()).with_writer(w);
    *wire.lock().unwrap() = Some(a.local_applies());
    let r = a.configure(GOOD).unwrap();
    assert_eq!(r.version, 7);
    assert!(
        r.pending
            .as_deref()
            .is_some_and(|p| p.starts_with("version 8 (another write) was committed since")),
        "{r:?}"
    );
}

/// The node's apply task records through the admin: a refusal, and each
/// policy applied (with the pending note when a worker lags).
#[test]
fn applying_or_refusing_a_committed_policy_is_recorded() {
    let a = fixture::admin(fixture::standalone_status());
    a.refuse_committed(3, "does not compile here");
    assert_eq!(
        a.local_applies().wait(3, Duration::ZERO),
        Some((3, LocalOutcome::Refused("does not compile here".into())))
    );
    a.apply_committed(4, GOOD).unwrap();
    assert_eq!(
        a.local_applies().wait(3, Duration::ZERO),
        Some((4, LocalOutcome::Running { pending: None }))
    );
}
