//! `configure` with and without a replicated log: locally it compiles and
//! swaps into every worker; with a writer (Raft) it only writes, and the
//! node applies what was committed through `apply_committed`.

use std::sync::{Arc, Mutex};

use rampart_ops::backend::{Backend, OpsError};
use rampart_ops::fixture;
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
    let r = a.configure(GOOD).unwrap();
    assert_eq!(r.version, 9);
    assert_eq!(*written.lock().unwrap(), vec![GOOD.to_string()]);
    // Running config and engines change when the commit is applied.
    assert_eq!(a.running_config().unwrap().version, 1);
    a.apply_committed(9, GOOD).unwrap();
    assert_eq!(a.running_config().unwrap().version, 9);
}
