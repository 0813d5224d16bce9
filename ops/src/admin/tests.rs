//! Tests of the admin backend (ops/src/admin.rs).
use super::*;
use crate::pool::{LocalPool, WorkerView};
use crate::show_conn::{SHOW_CONN_MAX_ROWS, SHOW_CONN_MAX_ROWS_OPEN};
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::{Engine, EngineConfig, Instant};

const NOW: Instant = Instant::from_secs(100);

/// One engine holding `n` UDP flows.
fn filled(n: u32) -> Engine {
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    cfg.max_conns = n as usize + 1000;
    let mut e = Engine::new(cfg).expect("engine");
    rampart_dataplane::trace::fill_udp_flows(&mut e, n, NOW);
    e
}

fn admin_of<P: EnginePool>(pool: P) -> Admin<P> {
    Admin::new(Arc::new(pool), Box::new(NodeStatus::default))
}

fn query(caller: Caller) -> ConnQuery {
    ConnQuery {
        caller,
        ..ConnQuery::default()
    }
}

/// Workers that never answer: asked to install a key, none confirms.
struct Silent(LocalPool);

impl EnginePool for Silent {
    fn workers(&self) -> usize {
        self.0.workers()
    }
    fn each<R: Send + 'static>(
        &self,
        _timeout: Duration,
        _f: impl Fn(&mut WorkerView<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>, crate::pool::PoolError> {
        Err(crate::pool::PoolError("worker 0 did not answer".into()))
    }
}

/// The node says the cluster's key is shared only once every worker
/// said it runs it. Before, asking was enough: a worker that never
/// took the key (and went on offsetting sequences by its own) was
/// reported as sharing it, in `show cluster`, `/metrics` and the lab.
#[test]
fn the_key_is_shared_once_every_worker_runs_it() {
    let key = [7, 9];
    let silent = admin_of(Silent(LocalPool::new(vec![filled(0)], || NOW)));
    silent.set_seq_secret(key).unwrap();
    assert!(!silent.status().seq_key_shared);
    let pool = LocalPool::new(vec![filled(0), filled(0)], || NOW);
    let admin = admin_of(pool);
    assert!(!admin.status().seq_key_shared);
    admin.set_seq_secret(key).unwrap();
    assert!(admin.status().seq_key_shared);
    let keys = admin.each(|v| v.engine.config().seq_secret).unwrap();
    assert_eq!(keys, [key, key]);
}

#[test]
fn a_slot_budget_holds_one_second_and_says_how_long_to_wait() {
    let t0 = std::time::Instant::now();
    let mut b = SlotBudget::new(100.0, t0);
    assert_eq!(b.take(60, t0), Ok(()));
    let wait = b.take(60, t0).unwrap_err();
    assert!((wait.as_secs_f64() - 0.2).abs() < 1e-9, "{wait:?}");
    assert_eq!(b.take(60, t0 + Duration::from_millis(200)), Ok(()));
    // Idle for long, it holds one second's worth, no more.
    let later = t0 + Duration::from_secs(60);
    assert_eq!(b.take(100, later), Ok(()));
    assert!(b.take(1, later).is_err());
}

/// A token-less walk of a table of 200,000 entries scans four slices
/// against 131,072 slots a second: it waits on its budget, so what it
/// costs the worker per second does not grow with the table (before,
/// ten such walks a second were allowed whatever the table held: at a
/// million entries, seconds of slice work per second). The operator's
/// walk, right after, draws on its own budget. The budgets run on a
/// [`ManualClock`]: the test asserts the waits the budgets decided, not
/// the machine's time, which a loaded machine stretches at random.
#[test]
fn a_walk_of_a_large_table_is_paced_by_the_slots_it_scans() {
    let clock = Arc::new(ManualClock::new());
    let admin = admin_of(LocalPool::new(vec![filled(200_000)], || NOW)).with_clock(clock.clone());
    let slots = admin
        .pool
        .each(WORKER_TIMEOUT, |w| w.engine.table().slot_count())
        .unwrap()[0];
    // What one walk is charged: a slice's slots, at least the minimum.
    let charge: usize = (0..slots)
        .step_by(WALK_SLICE_SLOTS)
        .map(|s| (slots - s).clamp(MIN_SLICE_CHARGE, WALK_SLICE_SLOTS))
        .sum();
    let per_second = READ_SLOTS_PER_SECOND[Caller::Open.index()];
    assert!(
        charge as f64 > per_second,
        "{charge} slots: not past a second's"
    );
    let waited = |walks: usize| (walks * charge) as f64 / per_second - 1.0;
    let close = |d: Duration, want: f64| (d.as_secs_f64() - want).abs() < 1e-6;
    // The budget starts with one second's worth: the first walk waits
    // for the slots beyond it, the next for all of its own (about
    // 205,000 slots, over 1.5 s).
    admin.conns(&query(Caller::Open)).expect("walked");
    assert!(close(clock.slept(), waited(1)), "{:?}", clock.slept());
    let open = admin.conns(&query(Caller::Open)).expect("walked");
    let paced = clock.slept();
    assert!(close(paced, waited(2)), "not paced: {paced:?}");
    assert!(paced >= Duration::from_millis(1500), "not paced: {paced:?}");
    // Without a token, at most SHOW_CONN_MAX_ROWS_OPEN rows.
    assert_eq!(open.conns.len(), SHOW_CONN_MAX_ROWS_OPEN);
    assert_eq!(open.truncated, 200_000 - SHOW_CONN_MAX_ROWS_OPEN as u64);
    // The operator's walk, with the token-less budget spent, waits for
    // nothing: its budget is its own.
    let op = admin.conns(&query(Caller::AdminToken)).expect("walked");
    assert_eq!(op.conns.len(), SHOW_CONN_MAX_ROWS);
    assert_eq!(op.conns.len() as u64 + op.truncated, 200_000);
    assert_eq!(
        clock.slept(),
        paced,
        "the operator waited on others' budget"
    );
}

/// The operator on the admin socket without a token is a kind of
/// caller of its own: with the token-less budget spent and a
/// token-less walk holding its turn, its walk neither waits nor is
/// refused, and lists rows as a token holder's do. Before, it was a
/// token-less caller, and a local user's loop of `show conn` on the
/// port refused every one of the operator's (429).
#[test]
fn the_admin_socket_s_walks_are_the_operator_s_own() {
    let clock = Arc::new(ManualClock::new());
    let admin = admin_of(LocalPool::new(vec![filled(200_000)], || NOW)).with_clock(clock.clone());
    admin.conns(&query(Caller::Open)).expect("walked");
    let spent = clock.slept();
    assert!(spent > Duration::ZERO, "the token-less budget is not spent");
    let op = admin.conns(&query(Caller::Socket)).expect("walked");
    assert_eq!(clock.slept(), spent, "it waited on the token-less budget");
    assert_eq!(op.conns.len(), SHOW_CONN_MAX_ROWS);
    // And while a token-less walk holds its turn.
    let pool = LocalPool::new(vec![filled(10)], || NOW);
    let admin = Arc::new(admin_of(Gated::new(pool, 2)));
    let a = admin.clone();
    let first = std::thread::spawn(move || a.conns(&query(Caller::Open)));
    admin.pool.await_entered(2);
    assert!(matches!(
        admin.conns(&query(Caller::Open)),
        Err(OpsError::RateLimited(_))
    ));
    assert_eq!(
        admin
            .conns(&query(Caller::Socket))
            .expect("socket")
            .conns
            .len(),
        10
    );
    admin.pool.open();
    first.join().unwrap().expect("first");
}

/// `show local-host` walks as `show conn` does: in slices, on the same
/// budget of its kind of caller (a token-less one waits for its slots,
/// and a `show conn` right after waits for all of its own), with the same
/// row limits; the operator's waits on nobody's budget. Hosts chosen by
/// their counts get their rows in a second walk: here every host with
/// 60,000 UDP flows (198.18.0.0-2), not 198.18.0.3 (20,000) nor the
/// server (200,000).
#[test]
fn show_local_host_walks_as_show_conn_does() {
    use crate::backend::LocalHostQuery;
    use crate::show_local_host::{CountRange, HostFilter};
    let clock = Arc::new(ManualClock::new());
    let admin = admin_of(LocalPool::new(vec![filled(200_000)], || NOW)).with_clock(clock.clone());
    let open = LocalHostQuery {
        caller: Caller::Open,
        ..LocalHostQuery::default()
    };
    let l = admin.local_hosts(&open).expect("walked");
    let first = clock.slept();
    assert!(first > Duration::ZERO, "not paced");
    let hosts: Vec<usize> = l.interfaces.iter().map(|i| i.hosts.len()).collect();
    assert_eq!(hosts, [4, 1], "198.18.0.0-3 inside, the server outside");
    assert_eq!(l.interfaces[1].hosts[0].udp, 200_000);
    assert_eq!(l.conns.len(), SHOW_CONN_MAX_ROWS_OPEN);
    assert_eq!(l.conns_truncated, 200_000 - SHOW_CONN_MAX_ROWS_OPEN as u64);
    admin.conns(&query(Caller::Open)).expect("walked");
    assert!(
        clock.slept() > first + Duration::from_secs(1),
        "{:?}",
        clock.slept()
    );
    let spent = clock.slept();
    let busy = LocalHostQuery {
        hosts: HostFilter {
            udp: Some(CountRange {
                min: 60_000,
                max: Some(60_000),
            }),
            ..HostFilter::default()
        },
        caller: Caller::AdminToken,
    };
    let l = admin.local_hosts(&busy).expect("walked");
    assert_eq!(
        clock.slept(),
        spent,
        "the operator waited on others' budget"
    );
    let hosts: Vec<usize> = l.interfaces.iter().map(|i| i.hosts.len()).collect();
    assert_eq!(hosts, [3, 0]);
    assert_eq!(l.conns.len(), SHOW_CONN_MAX_ROWS);
    assert_eq!(l.conns.len() as u64 + l.conns_truncated, 180_000);
    // And while a token-less `show conn` holds the turn, a token-less
    // `show local-host` is refused: one walk at a time of the kind.
    let pool = LocalPool::new(vec![filled(10)], || NOW);
    let admin = Arc::new(admin_of(Gated::new(pool, 2)));
    let a = admin.clone();
    let walking = std::thread::spawn(move || a.conns(&query(Caller::Open)));
    admin.pool.await_entered(2);
    assert!(matches!(
        admin.local_hosts(&open),
        Err(OpsError::RateLimited(_))
    ));
    admin.pool.open();
    walking.join().unwrap().expect("walking");
    assert!(admin.local_hosts(&open).is_ok());
}

/// `clear conn` of a large table runs on the workers slice by slice,
/// as `show conn` does, so no packet batch waits for the whole table.
/// Before, it was one job over the whole table.
#[test]
fn clear_conn_walks_the_table_in_slices() {
    let pool = LocalPool::new(vec![filled(200_000), filled(1_000)], || NOW);
    let admin = admin_of(pool);
    let slices = admin
        .pool
        .each(WORKER_TIMEOUT, |w| w.engine.table().slot_count());
    let slices = slices
        .unwrap()
        .into_iter()
        .max()
        .unwrap()
        .div_ceil(WALK_SLICE_SLOTS);
    assert!(slices >= 3, "{slices} slices");
    let r = admin.clear_conns(&ConnFilter::default()).expect("cleared");
    assert_eq!(r.deleted, 201_000);
    // The request above, the count, then one per slice.
    let jobs = admin.pool.requests();
    assert_eq!(jobs, 2 + slices, "one job per slice, after the count");
    let left = admin.pool.each(WORKER_TIMEOUT, |w| w.engine.table().len());
    assert_eq!(left.unwrap(), [0, 0]);
}

/// A pool whose every request to the workers takes `delay` (a long
/// slice, or busy workers).
/// Workers that hold one request (the `hold`th) until the test opens
/// them, and count the requests that reached them: a walk in progress
/// for as long as the test needs, whatever the machine's load.
struct Gated {
    pool: LocalPool,
    hold: usize,
    shut: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
    entered: std::sync::atomic::AtomicUsize,
}

impl Gated {
    fn new(pool: LocalPool, hold: usize) -> Self {
        Gated {
            pool,
            hold,
            shut: std::sync::Mutex::new(true),
            opened: std::sync::Condvar::new(),
            entered: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn open(&self) {
        *self.shut.lock().unwrap() = false;
        self.opened.notify_all();
    }

    /// Wait until `n` requests reached the workers (a minute at most:
    /// a hang guard).
    fn await_entered(&self, n: usize) {
        let until = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let seen = self.entered.load(std::sync::atomic::Ordering::SeqCst);
            if seen >= n {
                return;
            }
            assert!(
                std::time::Instant::now() < until,
                "{seen} of {n} requests came"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl EnginePool for Gated {
    fn workers(&self) -> usize {
        self.pool.workers()
    }
    fn each<R: Send + 'static>(
        &self,
        timeout: Duration,
        f: impl Fn(&mut WorkerView<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>, PoolError> {
        let n = self
            .entered
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if n == self.hold {
            let g = self.shut.lock().unwrap();
            let _ = self
                .opened
                .wait_timeout_while(g, Duration::from_secs(60), |shut| *shut)
                .unwrap();
        }
        self.pool.each(timeout, f)
    }
}

/// A `configure` holds the policy state while it waits for the
/// workers: readiness, the metrics and `show cluster` read the running
/// version without waiting for it (before, `/readyz` waited as long as
/// the slowest worker, and a load balancer's one-second probe failed).
#[test]
fn readiness_does_not_wait_for_a_policy_being_applied() {
    let pool = LocalPool::new(vec![filled(1)], || NOW);
    // Request 1 reads the interfaces to compile with; request 2, the
    // room check under the policy state's lock, is held.
    let admin = Arc::new(admin_of(Gated::new(pool, 2)));
    let a = admin.clone();
    let writing =
        std::thread::spawn(move || a.configure("access-list A extended permit ip any any\n"));
    admin.pool.await_entered(2);
    let (tx, rx) = std::sync::mpsc::channel();
    let a = admin.clone();
    std::thread::spawn(move || {
        let _ = tx.send((a.health(), a.status().policy_version));
    });
    let answered = rx.recv_timeout(Duration::from_secs(10));
    admin.pool.open();
    let (health, version) = answered.expect("readiness answered while the policy is applied");
    assert!(
        !health.reasons.iter().any(|r| r.contains("policy")),
        "{health:?}"
    );
    assert_eq!(
        version, 0,
        "the running version until the new one is in force"
    );
    let done = writing.join().expect("configure").expect("applied");
    assert_eq!(done.version, 1);
    assert_eq!(admin.status().policy_version, 1);
}

/// While a token-less walk runs, another token-less one is refused
/// (429) rather than queued beside it; the read token's and the
/// operator's walks run at the same time, on budgets of their own:
/// both are answered while the first is held at the workers.
#[test]
fn walks_without_a_token_take_turns_and_others_do_not_wait_for_them() {
    // The first walk's count (request 1) passes; its first slice
    // (request 2), inside its turn, is held.
    let pool = LocalPool::new(vec![filled(10)], || NOW);
    let admin = Arc::new(admin_of(Gated::new(pool, 2)));
    let a = admin.clone();
    let first = std::thread::spawn(move || a.conns(&query(Caller::Open)));
    admin.pool.await_entered(2);
    assert!(matches!(
        admin.conns(&query(Caller::Open)),
        Err(OpsError::RateLimited(_))
    ));
    let read = admin.conns(&query(Caller::ReadToken));
    let op = admin.conns(&query(Caller::AdminToken));
    assert_eq!(read.expect("read token").conns.len(), 10);
    assert_eq!(op.expect("operator").conns.len(), 10);
    assert!(!first.is_finished(), "the first walk was let go");
    admin.pool.open();
    assert_eq!(first.join().unwrap().expect("first").conns.len(), 10);
    // Its turn over, the next token-less walk goes.
    assert!(admin.conns(&query(Caller::Open)).is_ok());
}
