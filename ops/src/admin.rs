//! The operations over a pool of engines: every `show` gathers from each
//! worker between two batches and merges; `clear conn` and `configure`
//! change every worker. Until Raft runs, `configure` applies locally, with
//! a local version number, and saves the policy for the next start
//! ([`Admin::with_policy_store`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_dataplane::IfaceId;
use rampart_dataplane::engine::classes::SlotsExhausted;
use rampart_dataplane::policy::compile::{Policy, compile_at};
use rampart_dataplane::policy::parse::parse_config;
use rampart_dataplane::policy::render::render;

use crate::backend::{Backend, Caller, ConnQuery, LocalHostQuery, OpsError};
use crate::local_apply::{LOCAL_APPLY_WAIT, LocalApplies, LocalOutcome};
use crate::model::{
    AccessLists, AclClearResult, ClassStats, ClearResult, ClusterView, ConfigProblem,
    ConfigureResult, ConnList, Counters, DropCount, Health, MemberChange, MemberResult, NodeStatus,
    PolicyBinding, PolicyScope, RunningConfig, ServicePolicy,
};
use crate::pool::{EnginePool, PoolError};
use crate::show_conn::{ConnFilter, collect_rows_in};
use crate::show_local_host::LocalHosts;
use crate::snapshot::{NodeSnapshot, WorkerSnapshot};

mod install;
mod local_host;
mod shun;
mod time_ranges;
mod walk;
use install::{install_wanted, pending_note};
pub use shun::{ShunWriter, compile_shuns};
pub use time_ranges::{WallClock, system_wall_clock};

/// How long an operation waits for the workers.
pub const WORKER_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a policy not yet in force on every worker is installed again.
const INSTALL_RETRY: Duration = Duration::from_millis(200);

/// The policy every worker is to run (the last one applied) and the
/// cluster's sequence-randomization key. An install job installs *these*,
/// not what it was queued with, so a job that runs after its caller stopped
/// waiting never puts an older policy back, and installing them again on a
/// worker that has them changes nothing.
#[derive(Debug, Default)]
struct Wanted {
    /// Bumped by each change: a retry of an older one stops.
    generation: u64,
    policy: Option<Arc<Policy>>,
    seq_secret: Option<[u64; 2]>,
    /// Every worker answered that it runs `seq_secret`: what the node's
    /// status reports as the cluster's key being shared.
    key_in_force: bool,
    /// Some worker may still wait for its first policy (a node of a
    /// cluster that has not joined, [`Admin::awaiting_cluster_policy`]):
    /// cleared once every worker answered that it runs one.
    workers_closed: bool,
    /// The shun list compiled for the workers (docs/asa-behaviour.md §2.12).
    shuns: Option<Arc<rampart_dataplane::shun::ShunTable>>,
}

/// How a policy that every worker had room for was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Applied {
    /// Every worker runs it.
    Everywhere,
    /// It is the node's policy, but some workers have not taken it yet
    /// (why); a thread installs it as they serve again.
    Pending(String),
}

/// The running configuration as this node holds it.
#[derive(Debug, Clone, Default)]
struct PolicyState {
    version: u64,
    text: String,
    loaded: bool,
}

/// Where the node's own status comes from (cluster, Raft).
pub type StatusSource = Box<dyn Fn() -> NodeStatus + Send + Sync>;

/// Where `configure` writes when the cluster replicates its policy (Raft):
/// validate, commit, and answer the committed version, or refuse with the
/// configuration's problems (nothing committed). The node applies each
/// committed policy itself with [`Admin::apply_committed`].
pub type PolicyWriter = Box<dyn Fn(&str) -> Result<u64, OpsError> + Send + Sync>;

/// Where `configure` saves the policy it applies on a node without a
/// cluster, with its version, before it answers: the node's startup-config,
/// which a restart runs again (docs/ops.md §7). An error (why) refuses the
/// `configure`: nothing is applied, the running policy stays.
pub type PolicyStore = Box<dyn Fn(u64, &str) -> Result<(), String> + Send + Sync>;

/// The version of the policy the cluster committed last, as this node's
/// log holds it (Raft): what `show running-config` reports beside the
/// version this node runs, for `configure --sign-key` to sign the next.
pub type CommittedVersion = Box<dyn Fn() -> u64 + Send + Sync>;

/// Where `rampart cluster join|remove` goes when the node is in a Raft
/// cluster: the change is made (one at a time, by the leader) or refused.
pub type MembershipOps = Box<dyn Fn(&MemberChange) -> Result<MemberResult, OpsError> + Send + Sync>;

/// Where `clear conn` goes beyond this node: every peer clears the same
/// filter; answers the peers' total and the peers that did not answer.
pub type PeerClear = Box<dyn Fn(&ConnFilter) -> (u64, Vec<u16>) + Send + Sync>;

/// A copy of the running policy's version and loaded flag that readers
/// take without waiting (see [`Admin`]'s `published`).
#[derive(Debug)]
struct PublishedPolicy {
    version: AtomicU64,
    loaded: AtomicBool,
}

impl PublishedPolicy {
    fn new(version: u64, loaded: bool) -> Self {
        PublishedPolicy {
            version: AtomicU64::new(version),
            loaded: AtomicBool::new(loaded),
        }
    }

    /// Copy `st`'s (under its lock, so changes are copied in order).
    fn set(&self, st: &PolicyState) {
        self.version.store(st.version, Ordering::Release);
        self.loaded.store(st.loaded, Ordering::Release);
    }

    fn get(&self) -> (u64, bool) {
        (
            self.version.load(Ordering::Acquire),
            self.loaded.load(Ordering::Acquire),
        )
    }
}

/// The node's operations.
pub struct Admin<P: EnginePool> {
    pool: Arc<P>,
    status: StatusSource,
    policy: Mutex<PolicyState>,
    /// The running policy's version and whether one is loaded, as the
    /// last change of `policy` left them: read without its lock, which a
    /// change holds while it waits for the workers (up to their timeout),
    /// so that `/readyz`, `/metrics` and `show cluster` never wait for a
    /// policy to be applied (a probe with a one-second timeout would take
    /// a node out of service for a `configure`).
    published: PublishedPolicy,
    writer: Option<PolicyWriter>,
    /// Where a local `configure` saves its policy (no cluster).
    store: Option<PolicyStore>,
    committed_version: Option<CommittedVersion>,
    /// What this node made of each committed policy, for `configure`.
    local: Arc<LocalApplies>,
    /// How long `configure` waits for it ([`LOCAL_APPLY_WAIT`]).
    local_wait: Duration,
    membership: Option<MembershipOps>,
    peer_clear: Option<PeerClear>,
    timeout: Duration,
    /// `clear conn` walks allowed now: the operator's, and peers'.
    clears: Mutex<[WalkBudget; 2]>,
    /// `show conn` walks, by [`Caller::index`].
    reads: [ReadWalks; 4],
    /// The clock `clears` and `reads` refill by and wait on.
    clock: Arc<dyn WalkClock>,
    /// The policy every worker is to run.
    wanted: Arc<Mutex<Wanted>>,
    /// The wall clock time-ranges are evaluated by (docs/asa-behaviour.md §2.10).
    wall: WallClock,
    /// The shun list in force here.
    shuns: shun::ShunSide,
    /// Where `shun` changes go.
    shun_writer: Option<ShunWriter>,
}

/// Whose `clear conn`: each has a budget of its own, so a member sending
/// many cannot keep the operator's refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clear {
    /// The operator's (admin token).
    Operator = 0,
    /// A peer's part of a cluster-wide `clear conn`.
    Peer = 1,
}

/// Table slots a worker scans per job of a `show conn`: the job runs
/// between two packet batches, so this bounds the pause it causes
/// (a table of a million entries takes sixteen jobs, not one long one).
pub const WALK_SLICE_SLOTS: usize = 65_536;

/// The least a slice is charged, however few slots it scans: each costs a
/// round trip to every worker as well.
const MIN_SLICE_CHARGE: usize = 8_192;

/// Table slots each kind of caller may have the workers scan per second
/// (each worker scans its own table: a walk of N slots costs every worker
/// N). A walk that would pass its budget waits for it, slice by slice, so
/// the cost to the packet workers is bounded per second whatever the
/// table holds; a token-less walk of a full table (a million entries) takes
/// about eight seconds. Without a token: two slices a second; the read
/// token twice that (its rows are not capped at 10,000); the admin token
/// sixteen, its own (while the operator walks); the admin socket without
/// the admin token (the operator too: only root and the node's user reach
/// it) as many, its own. By [`Caller::index`].
const READ_SLOTS_PER_SECOND: [f64; 4] = [131_072.0, 262_144.0, 1_048_576.0, 1_048_576.0];

/// `clear conn` walks a node serves per second on average, and at once.
const WALKS_PER_SECOND: f64 = 10.0;
const WALK_BURST: f64 = 20.0;

/// A token bucket of table walks.
#[derive(Debug)]
struct WalkBudget {
    tokens: f64,
    at: std::time::Instant,
}

impl WalkBudget {
    fn take(&mut self, now: std::time::Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * WALKS_PER_SECOND;
        self.tokens = (self.tokens + refill).min(WALK_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A token bucket of table slots scanned, holding at most one second's.
#[derive(Debug)]
struct SlotBudget {
    per_second: f64,
    tokens: f64,
    at: std::time::Instant,
}

impl SlotBudget {
    fn new(per_second: f64, now: std::time::Instant) -> Self {
        SlotBudget {
            per_second,
            tokens: per_second,
            at: now,
        }
    }

    /// Take `slots` now, or say how long until they are there.
    fn take(&mut self, slots: usize, now: std::time::Instant) -> Result<(), Duration> {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.per_second);
        self.at = now;
        let want = slots as f64;
        if self.tokens >= want {
            self.tokens -= want;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (want - self.tokens) / self.per_second,
            ))
        }
    }
}

/// Where the walk budgets read the time and wait for it. The node runs on
/// [`SystemClock`]; a test injects a [`ManualClock`], so what it asserts is
/// how long the budgets made a caller wait, not how long the machine took
/// (shared test machines are slow at random).
pub trait WalkClock: Send + Sync + 'static {
    /// The time now.
    fn now(&self) -> std::time::Instant;
    /// Wait `d`: the budget said the caller's slots are there after it.
    fn sleep(&self, d: Duration);
}

/// The machine's clock: the budgets wait by sleeping the handler's thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WalkClock for SystemClock {
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// A clock that moves only when a budget waits on it: `sleep(d)` returns at
/// once and moves it `d` on, so [`slept`](Self::slept) is the time the
/// budgets made their callers wait, whatever the machine's load.
#[cfg(any(test, feature = "fixture"))]
#[derive(Debug)]
pub struct ManualClock {
    start: std::time::Instant,
    slept: Mutex<Duration>,
}

#[cfg(any(test, feature = "fixture"))]
impl ManualClock {
    /// A clock standing at the machine's time now.
    pub fn new() -> Self {
        ManualClock {
            start: std::time::Instant::now(),
            slept: Mutex::new(Duration::ZERO),
        }
    }

    /// The time waited on this clock so far.
    pub fn slept(&self) -> Duration {
        *self.slept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(any(test, feature = "fixture"))]
impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(any(test, feature = "fixture"))]
impl WalkClock for ManualClock {
    fn now(&self) -> std::time::Instant {
        self.start + self.slept()
    }
    fn sleep(&self, d: Duration) {
        // A real sleep always lets time pass. So must this one: a budget
        // short by a rounding error asks for a wait that rounds to 0 ns,
        // and a clock that did not move would have it ask forever.
        *self.slept.lock().unwrap_or_else(|p| p.into_inner()) += d.max(Duration::from_nanos(1));
    }
}

/// The `show conn` walks of one kind of caller: their budget, and, for
/// callers the operator does not control, the turn that lets one walk at a
/// time (each waits on its budget holding a handler; two would only halve
/// each other's pace).
#[derive(Debug)]
struct ReadWalks {
    budget: Mutex<SlotBudget>,
    turn: Option<Mutex<()>>,
}

impl ReadWalks {
    /// Wait on `clock` until `slots` may be scanned.
    fn pace(&self, slots: usize, clock: &dyn WalkClock) {
        loop {
            let wait = match self.budget.lock() {
                Ok(mut b) => b.take(slots, clock.now()),
                Err(_) => return,
            };
            match wait {
                Ok(()) => return,
                Err(d) => clock.sleep(d),
            }
        }
    }
}

impl<P: EnginePool> std::fmt::Debug for Admin<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

/// Full `clear conn` budgets at `now`, by [`Clear`].
fn clear_budgets(now: std::time::Instant) -> [WalkBudget; 2] {
    std::array::from_fn(|_| WalkBudget {
        tokens: WALK_BURST,
        at: now,
    })
}

/// Full `show conn` budgets at `now`, by [`Caller::index`].
fn read_walks(now: std::time::Instant) -> [ReadWalks; 4] {
    Caller::ALL.map(|c| ReadWalks {
        budget: Mutex::new(SlotBudget::new(READ_SLOTS_PER_SECOND[c.index()], now)),
        // The operator's walks wait for nobody's turn.
        turn: (!c.is_operator()).then(|| Mutex::new(())),
    })
}

/// Refuse a `clear conn` filter of more than an address and a port: the
/// request every peer is sent carries no more (`node/src/clear_rpc.rs`),
/// so the peers would clear more than asked.
fn clear_filter(filter: &ConnFilter) -> Result<(), OpsError> {
    if filter.is_address_port() {
        Ok(())
    } else {
        Err(OpsError::BadRequest(
            "clear conn takes an address and a port only".into(),
        ))
    }
}

fn unavailable(e: PoolError) -> OpsError {
    OpsError::Unavailable(e.0)
}

impl<P: EnginePool> Admin<P> {
    /// Operations over `pool`, with the node's status from `status`. The
    /// engines run the security-levels policy until [`with_policy`](Self::with_policy)
    /// or a `configure`.
    pub fn new(pool: Arc<P>, status: StatusSource) -> Self {
        let now = SystemClock.now();
        Admin {
            pool,
            status,
            policy: Mutex::new(PolicyState {
                version: 0,
                text: String::new(),
                // The built-in policy is a policy: a node without a
                // configuration forwards by security levels.
                loaded: true,
            }),
            published: PublishedPolicy::new(0, true),
            writer: None,
            store: None,
            committed_version: None,
            local: Arc::new(LocalApplies::default()),
            local_wait: LOCAL_APPLY_WAIT,
            membership: None,
            peer_clear: None,
            timeout: WORKER_TIMEOUT,
            clears: Mutex::new(clear_budgets(now)),
            reads: read_walks(now),
            clock: Arc::new(SystemClock),
            wanted: Arc::new(Mutex::new(Wanted::default())),
            wall: system_wall_clock(),
            shuns: shun::new_state(),
            shun_writer: None,
        }
    }

    /// Evaluate time-ranges by `wall` (a test's) instead of the machine's clock.
    pub fn with_wall_clock(mut self, wall: WallClock) -> Self {
        self.wall = wall;
        self
    }

    /// Refill and wait the walk budgets on `clock` instead of the machine's
    /// (a test's [`ManualClock`]); the budgets start full at its time.
    pub fn with_clock(mut self, clock: Arc<dyn WalkClock>) -> Self {
        let now = clock.now();
        self.clears = Mutex::new(clear_budgets(now));
        self.reads = read_walks(now);
        self.clock = clock;
        self
    }

    /// Take one `clear conn` walk from the budget of its kind, or refuse.
    fn walk_allowed(&self, kind: Clear) -> Result<(), OpsError> {
        let ok = self
            .clears
            .lock()
            .map(|mut b| b[kind as usize].take(self.clock.now()))
            .unwrap_or(false);
        if ok {
            Ok(())
        } else {
            Err(OpsError::RateLimited(format!(
                "at most {WALKS_PER_SECOND} per second (bursts of {WALK_BURST}); try again shortly"
            )))
        }
    }

    /// Send `configure` to `writer` (Raft) instead of applying it locally.
    /// Its answer then waits, up to [`LOCAL_APPLY_WAIT`], for what this
    /// node makes of the committed version ([`Admin::apply_committed`],
    /// [`Admin::refuse_committed`]).
    pub fn with_writer(mut self, writer: PolicyWriter) -> Self {
        self.writer = Some(writer);
        self
    }

    /// Save each policy a local `configure` applies through `store` before
    /// answering (a node without a cluster: its policy must survive a
    /// restart). Without one, a local `configure` lasts until the process
    /// ends (the demo, tests).
    pub fn with_policy_store(mut self, store: PolicyStore) -> Self {
        self.store = Some(store);
        self
    }

    /// Wait `wait` instead of [`LOCAL_APPLY_WAIT`] for what this node
    /// makes of a policy it wrote (tests).
    pub fn with_local_apply_wait(mut self, wait: Duration) -> Self {
        self.local_wait = wait;
        self
    }

    /// Report the cluster's committed version from `committed` in `show
    /// running-config` (Raft).
    pub fn with_committed_version(mut self, committed: CommittedVersion) -> Self {
        self.committed_version = Some(committed);
        self
    }

    /// Where this node's outcomes of committed policies are recorded (its
    /// apply task records through [`Admin::apply_committed`] and
    /// [`Admin::refuse_committed`]).
    pub fn local_applies(&self) -> Arc<LocalApplies> {
        self.local.clone()
    }

    /// Record that this node does not run committed version `version` and
    /// keeps the policy it runs (`why`: not signed for that version, or
    /// it does not compile or install here).
    pub fn refuse_committed(&self, version: u64, why: &str) {
        self.local
            .record(version, LocalOutcome::Refused(why.to_string()));
    }

    /// Make `clear conn` cluster-wide through `clear`.
    pub fn with_peer_clear(mut self, clear: PeerClear) -> Self {
        self.peer_clear = Some(clear);
        self
    }

    /// This node's part of `clear conn` (what a peer asks of it).
    pub fn clear_local(&self, filter: &ConnFilter) -> Result<u64, OpsError> {
        clear_filter(filter)?;
        self.walk_allowed(Clear::Peer)?;
        self.clear_here(filter)
    }

    /// Clear this node's entries that `filter` matches, in slices of
    /// [`WALK_SLICE_SLOTS`] table slots, one job per slice on each worker
    /// as `show conn` walks: a clear of a large table is as many short
    /// pauses between packet batches, not one long one.
    fn clear_here(&self, filter: &ConnFilter) -> Result<u64, OpsError> {
        let slots = self.each(|w| w.engine.table().slot_count())?;
        let mut cleared = 0u64;
        for start in (0..slots.into_iter().max().unwrap_or(0)).step_by(WALK_SLICE_SLOTS) {
            let range = start..start + WALK_SLICE_SLOTS;
            let f = filter.clone();
            let n = self.each(move |w| {
                let m = f.resolve(&w.engine.config().interfaces);
                w.engine.clear_conns_in(range.clone(), |e| m.matches(e)) as u64
            })?;
            cleared = n.into_iter().fold(cleared, u64::saturating_add);
        }
        Ok(cleared)
    }

    /// Serve `rampart cluster join|remove` through `ops` (Raft).
    pub fn with_membership(mut self, ops: MembershipOps) -> Self {
        self.membership = Some(ops);
        self
    }

    /// Apply a committed policy (from the replicated log) to every worker
    /// and record it as the running config, version `version`. A text that
    /// does not compile here is refused and the running policy stays.
    pub fn apply_committed(&self, version: u64, text: &str) -> Result<(), OpsError> {
        let (policy, config) = self.compile(text)?;
        let mut st = self
            .policy
            .lock()
            .map_err(|_| OpsError::Unavailable("policy state poisoned".into()))?;
        let policy = self.for_ranges_active_now(policy, &config)?;
        // Pending on a worker or two, it is still this node's policy: the
        // install thread brings them to it.
        let applied = self.apply(Arc::new(policy))?;
        *st = PolicyState {
            version,
            text: render(&config),
            loaded: true,
        };
        self.published.set(&st);
        drop(st);
        self.local.record(
            version,
            LocalOutcome::Running {
                pending: pending_note(applied),
            },
        );
        Ok(())
    }

    /// Give every worker the cluster's sequence-randomization secret (from
    /// the policy log, docs/sync.md §1); open connections keep their
    /// offsets, new ones take theirs from it.
    /// A worker that does not take it in time takes it from the install
    /// retry, as a policy (the node's status says the key is shared from
    /// now on).
    pub fn set_seq_secret(&self, secret: [u64; 2]) -> Result<(), OpsError> {
        let generation = self.want(|w| {
            if w.seq_secret != Some(secret) {
                w.key_in_force = false;
            }
            w.seq_secret = Some(secret);
        })?;
        self.install_or_retry(generation, "the cluster's sequence key");
        Ok(())
    }

    /// Parse and compile `text` for this node's interfaces.
    fn compile(
        &self,
        text: &str,
    ) -> Result<(Policy, Arc<rampart_dataplane::policy::ast::Config>), OpsError> {
        let parsed = parse_config(text).map_err(|e| {
            OpsError::Config(
                e.0.into_iter()
                    .map(|p| ConfigProblem {
                        line: p.line,
                        column: p.column,
                        message: p.message,
                    })
                    .collect(),
            )
        })?;
        let interfaces = self
            .each(|w| w.engine.config().interfaces.clone())?
            .into_iter()
            .next()
            .ok_or_else(|| OpsError::Unavailable("no packet workers".into()))?;
        let config = Arc::new(parsed.config);
        // With the time-ranges active now (docs/asa-behaviour.md §2.10).
        let active = self.active_now(&config);
        let policy = compile_at(&config, &interfaces, &active).map_err(|e| {
            // Where the text names what the error is about (0, 0: the
            // whole policy, e.g. its size).
            let (line, column) =
                rampart_dataplane::policy::locate::locate(text, &e).unwrap_or((0, 0));
            OpsError::Config(vec![ConfigProblem {
                line,
                column,
                message: e.to_string(),
            }])
        })?;
        // Kept for `packet-tracer`, which prints the lines that decide.
        Ok((policy.with_source(config.clone()), config))
    }

    /// Record that the engines run `text` (the bootstrap policy the node
    /// loaded before starting its workers) as version 1.
    pub fn with_policy(self, text: &str) -> Self {
        self.with_running_policy(1, text)
    }

    /// Record that the engines run `text` as version `version`: the policy
    /// the node put on its workers before starting them (its policy file,
    /// or in a cluster the stored policy it ran last).
    pub fn with_running_policy(self, version: u64, text: &str) -> Self {
        match parse_config(text) {
            Ok(parsed) => self.with_running_rendered(version, render(&parsed.config)),
            Err(_) => self,
        }
    }

    /// [`with_running_policy`](Self::with_running_policy) for a policy the
    /// node parsed already: `shown` is its `show running-config` text
    /// ([`render`]), so the start does not parse a large policy twice.
    pub fn with_running_rendered(self, version: u64, shown: String) -> Self {
        if let Ok(mut st) = self.policy.lock() {
            *st = PolicyState {
                version,
                text: shown,
                loaded: true,
            };
            self.published.set(&st);
        }
        self
    }

    /// Record that the engines run no policy: they wait for the cluster's
    /// ([`Engine::await_cluster_policy`](rampart_dataplane::Engine::await_cluster_policy)),
    /// and the node is not ready until
    /// [`apply_committed`](Self::apply_committed) brings it.
    pub fn awaiting_cluster_policy(self) -> Self {
        if let Ok(mut st) = self.policy.lock() {
            *st = PolicyState {
                version: 0,
                text: String::new(),
                loaded: false,
            };
            self.published.set(&st);
        }
        if let Ok(mut w) = self.wanted.lock() {
            w.workers_closed = true;
        }
        self
    }

    /// The pool.
    pub fn pool(&self) -> &Arc<P> {
        &self.pool
    }

    pub(crate) fn each<R: Send + 'static>(
        &self,
        f: impl Fn(&mut crate::pool::WorkerView<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>, OpsError> {
        self.pool.each(self.timeout, f).map_err(unavailable)
    }

    fn status(&self) -> NodeStatus {
        let mut s = (self.status)();
        (s.policy_version, s.policy_loaded) = self.published.get();
        // Shared once every worker said it runs the key, not when it was
        // asked to (a worker that has not taken it yet is retried).
        (s.seq_key_shared, s.policy_pending_workers) = self
            .wanted
            .lock()
            .map_or((false, true), |w| (w.key_in_force, w.workers_closed));
        s.policy_pending_workers &= s.policy_loaded;
        if !s.policy_loaded
            && let Some((v, LocalOutcome::Refused(why))) = self.local.last()
        {
            s.policy_refused = Some(format!("version {v} ({why})"));
        }
        s
    }

    /// Make `policy` the one every worker runs. Refused, with nothing
    /// changed, unless every worker answers that it has room for its
    /// classes; then it is the node's policy, installed on every worker
    /// now or, for a worker that did not answer in time or whose slots a
    /// peer's flow took in between, by a thread that installs it again
    /// until every worker runs it (or a newer policy replaces it).
    fn apply(&self, policy: Arc<Policy>) -> Result<Applied, OpsError> {
        self.apply_saving(policy, || Ok(()))
    }

    /// [`apply`](Self::apply), calling `save` once every worker has room
    /// and before any takes it: a policy `save` refuses is installed
    /// nowhere, and one the workers refuse is never saved.
    fn apply_saving(
        &self,
        policy: Arc<Policy>,
        save: impl FnOnce() -> Result<(), OpsError>,
    ) -> Result<Applied, OpsError> {
        let p = policy.clone();
        let first = |r: Vec<Option<SlotsExhausted>>| r.into_iter().flatten().next();
        if let Some(e) = first(self.each(move |w| w.engine.policy_fits(&p).err())?) {
            return Err(OpsError::PolicyRefused(e.to_string()));
        }
        save()?;
        let generation = self.want(|w| w.policy = Some(policy))?;
        match self.install_or_retry(generation, "a policy") {
            None => Ok(Applied::Everywhere),
            Some(why) => Ok(Applied::Pending(why)),
        }
    }

    /// Change what the workers are to have; the change's generation.
    fn want(&self, change: impl FnOnce(&mut Wanted)) -> Result<u64, OpsError> {
        let mut w = self
            .wanted
            .lock()
            .map_err(|_| OpsError::Unavailable("policy state poisoned".into()))?;
        change(&mut w);
        w.generation += 1;
        Ok(w.generation)
    }

    /// Install what is wanted (`generation`) on every worker; if a worker
    /// did not take it, say why (`what` was changed) and have a thread
    /// install it again every [`INSTALL_RETRY`] until every worker has it
    /// or a newer change replaces it.
    fn install_or_retry(&self, generation: u64, what: &str) -> Option<String> {
        let why = install_wanted(&*self.pool, &self.wanted, self.timeout).err()?;
        tracing::warn!(
            "{what} is not in force on every worker yet ({why}); installing it again every {} ms",
            INSTALL_RETRY.as_millis()
        );
        let (pool, wanted, timeout) = (self.pool.clone(), self.wanted.clone(), self.timeout);
        let retry = std::thread::Builder::new()
            .name("policy-install".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(INSTALL_RETRY);
                    let current = wanted.lock().map_or(0, |w| w.generation);
                    if current != generation || install_wanted(&*pool, &wanted, timeout).is_ok() {
                        return;
                    }
                }
            });
        if let Err(e) = retry {
            tracing::error!("cannot start the policy install retry: {e}");
        }
        Some(why)
    }
}

/// The lines of an accepted configuration that have no effect.
fn ignored(text: &str) -> Vec<ConfigProblem> {
    parse_config(text)
        .map(|p| {
            p.ignored
                .into_iter()
                .map(|l| ConfigProblem {
                    line: l.line,
                    column: 1,
                    message: format!("{}: {}", l.text, l.reason),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn seconds(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_secs())
}

/// The service-policy bindings of one engine's current policy with that
/// engine's class counters: what each class's limits count, its earlier
/// versions' live connections and released slots' counts included, from
/// the sum the class metrics read (`ClassTable::counts_by_class`).
fn bindings(engine: &rampart_dataplane::Engine) -> Vec<PolicyBinding> {
    let policy = engine.policy();
    let counts = engine.classes().counts_by_class();
    let mut scopes = vec![(PolicyScope::Global, policy.global_classes().to_vec())];
    for (i, iface) in engine.config().interfaces.iter().enumerate() {
        let list = policy.interface_classes(IfaceId(i as u8));
        scopes.push((PolicyScope::Interface(iface.nameif.clone()), list.to_vec()));
    }
    let mut out: Vec<PolicyBinding> = Vec::new();
    for (scope, list) in scopes {
        for idx in list {
            let compiled = &policy.classes()[idx];
            let (map, class) = compiled
                .name
                .split_once('/')
                .unwrap_or(("", compiled.name.as_str()));
            let n = counts
                .get(&(compiled.name.as_str(), &compiled.scope))
                .copied()
                .unwrap_or_default();
            let o = &compiled.options;
            let stats = ClassStats {
                class: class.to_string(),
                conn_max: o.conn_max,
                embryonic_conn_max: o.embryonic_conn_max,
                per_client_max: o.per_client_max,
                per_client_embryonic_max: o.per_client_embryonic_max,
                random_sequence_number: o.random_sequence_number,
                timeout_embryonic_s: seconds(o.timeout_embryonic),
                timeout_half_closed_s: seconds(o.timeout_half_closed),
                timeout_idle_s: seconds(o.timeout_idle),
                idle_reset: o.idle_reset,
                tcp_state_bypass: o.tcp_state_bypass,
                current_conns: n.conns,
                current_embryonic: n.embryonic,
                created: n.created,
                limit_drops: n.limit_drops,
                dcd: o.dcd.map(|d| (d.retry_interval.as_secs(), d.max_retries)),
                dcd_counts: [n.dcd.client_probes, n.dcd.server_probes, n.dcd.expired],
            };
            match out
                .iter_mut()
                .find(|b| b.scope == scope && b.policy_map == map)
            {
                Some(b) => b.classes.push(stats),
                None => out.push(PolicyBinding {
                    scope: scope.clone(),
                    policy_map: map.to_string(),
                    classes: vec![stats],
                }),
            }
        }
    }
    out
}

/// Add one worker's bindings into the merged list (the same policy on
/// every worker; a class is the same class by scope, map and name).
fn merge_bindings(into: &mut Vec<PolicyBinding>, more: Vec<PolicyBinding>) {
    for b in more {
        let Some(t) = into
            .iter_mut()
            .find(|x| x.scope == b.scope && x.policy_map == b.policy_map)
        else {
            into.push(b);
            continue;
        };
        for c in b.classes {
            match t.classes.iter_mut().find(|x| x.class == c.class) {
                Some(x) => {
                    x.current_conns += c.current_conns;
                    x.current_embryonic += c.current_embryonic;
                    x.created = x.created.saturating_add(c.created);
                    x.limit_drops = x.limit_drops.saturating_add(c.limit_drops);
                }
                None => t.classes.push(c),
            }
        }
    }
}

impl<P: EnginePool> Backend for Admin<P> {
    fn snapshot(&self) -> NodeSnapshot {
        let status = self.status();
        match self.each(|w| WorkerSnapshot::take(w)) {
            Ok(workers) => NodeSnapshot {
                workers,
                status,
                workers_unavailable: false,
            },
            Err(_) => NodeSnapshot {
                workers: Vec::new(),
                status,
                workers_unavailable: true,
            },
        }
    }

    fn conns(&self, q: &ConnQuery) -> Result<ConnList, OpsError> {
        let (filter, count_only) = (&q.filter, q.count_only);
        filter.check().map_err(OpsError::BadRequest)?;
        // Counts are counters; rows need a walk, taken in slices.
        let nameif = filter.interface.clone();
        let parts = self.each(move |w| {
            let t = w.engine.table();
            let found = walk::has_interface(w.engine, nameif.as_deref());
            (t.len() as u64, t.high_water() as u64, t.slot_count(), found)
        })?;
        walk::interface_found(filter.interface.as_deref(), parts.iter().map(|p| p.3))?;
        let mut list = ConnList {
            in_use: parts.iter().map(|p| p.0).sum(),
            most_used: parts.iter().map(|p| p.1).sum(),
            conns: Vec::new(),
            truncated: 0,
        };
        let slots = parts.iter().map(|p| p.2).max().unwrap_or(0);
        if count_only {
            return Ok(list);
        }
        let max_rows = walk::max_rows(q.caller);
        let mut rows = walk::Rows::default();
        self.table_walk(q.caller, "show conn", slots, |range| {
            let f = filter.clone();
            let got = self.each(move |w| {
                collect_rows_in(w.engine, w.now, &f, w.worker, max_rows, range.clone())
            })?;
            for (r, left_out) in got {
                rows.add(r, left_out);
            }
            rows.keep(max_rows);
            Ok(())
        })?;
        (list.conns, list.truncated) = (rows.conns, rows.truncated);
        Ok(list)
    }

    fn clear_conns(&self, filter: &ConnFilter) -> Result<ClearResult, OpsError> {
        clear_filter(filter)?;
        self.walk_allowed(Clear::Operator)?;
        let mut deleted = self.clear_here(filter)?;
        let mut unreachable = Vec::new();
        if let Some(peers) = &self.peer_clear {
            let (n, down) = peers(filter);
            deleted = deleted.saturating_add(n);
            unreachable = down;
        }
        Ok(ClearResult {
            deleted,
            unreachable,
        })
    }

    fn local_hosts(&self, q: &LocalHostQuery) -> Result<LocalHosts, OpsError> {
        self.walk_local_hosts(q)
    }

    fn service_policy(&self) -> Result<ServicePolicy, OpsError> {
        let parts = self.each(|w| bindings(w.engine))?;
        let mut merged = Vec::new();
        for p in parts {
            merge_bindings(&mut merged, p);
        }
        Ok(ServicePolicy { bindings: merged })
    }

    fn cluster(&self) -> Result<ClusterView, OpsError> {
        let parts = self.each(|w| {
            (
                w.engine.counters().policy_swaps,
                w.engine.table().len() as u64,
            )
        })?;
        Ok(ClusterView {
            status: self.status(),
            policy_swaps: parts.iter().map(|p| p.0).max().unwrap_or(0),
            conns_in_use: parts.iter().map(|p| p.1).sum(),
        })
    }

    fn running_config(&self) -> Result<RunningConfig, OpsError> {
        let p = self
            .policy
            .lock()
            .map_err(|_| OpsError::Unavailable("policy state poisoned".into()))?;
        Ok(RunningConfig {
            version: p.version,
            text: p.text.clone(),
            committed_version: self.committed_version.as_ref().map(|c| c()),
        })
    }

    fn configure(&self, text: &str) -> Result<ConfigureResult, OpsError> {
        if let Some(write) = &self.writer {
            // Refused here, with every problem's line and column, before
            // anything reaches the log: a config this node cannot compile
            // is never committed.
            self.compile(text)?;
            let version = write(text)?;
            // Committed: say what this node made of it, never "applied"
            // for a policy it does not run (docs/ARCHITECTURE.md §7).
            let (pending, refused_here) = match self.local.wait(version, self.local_wait) {
                Some((v, LocalOutcome::Running { pending })) if v == version => (pending, None),
                Some((v, LocalOutcome::Refused(why))) if v == version => {
                    let kept = self.policy.lock().map_or(0, |p| p.version);
                    (None, Some(format!("this node keeps version {kept}: {why}")))
                }
                Some((later, _)) => (
                    Some(format!(
                        "version {later} (another write) was committed since; this node took \
                         that one instead"
                    )),
                    None,
                ),
                None => (
                    Some(format!(
                        "not in force on this node after {} s; it is installed once its \
                         workers have room (show running-config says when)",
                        self.local_wait.as_secs()
                    )),
                    None,
                ),
            };
            return Ok(ConfigureResult {
                version,
                ignored_lines: ignored(text),
                pending,
                refused_here,
            });
        }
        let (policy, config) = self.compile(text)?;
        // Hold the policy state across the swap: two writes apply in order.
        let mut st = self
            .policy
            .lock()
            .map_err(|_| OpsError::Unavailable("policy state poisoned".into()))?;
        let policy = self.for_ranges_active_now(policy, &config)?;
        // Saved before it is installed and answered: a node restarted after
        // this answer runs this policy, never the one before it; one that
        // cannot be saved is not applied (docs/ops.md §7).
        let version = st.version + 1;
        let applied = self.apply_saving(Arc::new(policy), || match &self.store {
            Some(save) => save(version, text).map_err(OpsError::NotSaved),
            None => Ok(()),
        })?;
        st.version = version;
        st.text = render(&config);
        st.loaded = true;
        self.published.set(&st);
        Ok(ConfigureResult {
            version: st.version,
            ignored_lines: ignored(text),
            pending: pending_note(applied),
            refused_here: None,
        })
    }

    fn counters(&self) -> Result<Counters, OpsError> {
        let parts = self.each(|w| {
            (
                w.engine.counters().drops,
                w.engine.counters().forwarded_packets,
                w.engine.table().len() as u64,
            )
        })?;
        let drops = rampart_dataplane::DropReason::ALL
            .iter()
            .map(|r| DropCount {
                reason: r.label().to_string(),
                description: r.description().to_string(),
                count: parts
                    .iter()
                    .fold(0u64, |a, p| a.saturating_add(p.0[r.index()])),
            })
            .collect();
        Ok(Counters {
            drops,
            forwarded_packets: parts.iter().fold(0u64, |a, p| a.saturating_add(p.1)),
            conns_in_use: parts.iter().map(|p| p.2).sum(),
            // The server that answers knows its listeners.
            ops_listeners: Vec::new(),
        })
    }

    fn fragments(&self) -> Result<crate::model::Fragments, OpsError> {
        let parts = self.each(|w| crate::show_fragment::worker_fragments(w.engine))?;
        Ok(crate::show_fragment::merge(parts))
    }

    fn packet_tracer(
        &self,
        q: &crate::backend::TraceQuery,
    ) -> Result<crate::model::PacketTrace, OpsError> {
        let q = q.clone();
        crate::packet_tracer::merge(self.each(move |w| crate::packet_tracer::worker_trace(w, &q))?)
    }

    fn time_ranges(&self) -> Result<crate::show_time_range::TimeRanges, OpsError> {
        self.time_range_view()
    }
    fn access_lists(&self, name: Option<&str>) -> Result<AccessLists, OpsError> {
        self.access_list_view(name) // both in ops/src/show_acl.rs
    }
    fn clear_access_lists(&self, name: Option<&str>) -> Result<AclClearResult, OpsError> {
        self.clear_access_list_counts(name)
    }
    // The captures: ops/src/capture.rs.
    fn capture_command(&self, line: &str) -> Result<crate::model::CaptureDone, OpsError> {
        self.capture_command(line)
    }
    fn capture_list(&self) -> Result<crate::model::CaptureList, OpsError> {
        self.capture_list()
    }
    fn capture_show(
        &self,
        q: &crate::model::CaptureQuery,
    ) -> Result<crate::model::CaptureView, OpsError> {
        self.capture_show(q)
    }
    fn capture_pcap(&self, name: &str) -> Result<Vec<u8>, OpsError> {
        self.capture_pcap(name)
    }

    fn shun_command(&self, line: &str) -> Result<crate::shun::ShunDone, OpsError> {
        self.shun_command_here(line)
    }

    fn shun_list(&self) -> Result<crate::shun::ShunList, OpsError> {
        self.shun_list_here()
    }

    fn membership(&self, change: &MemberChange) -> Result<MemberResult, OpsError> {
        match &self.membership {
            Some(ops) => ops(change),
            None => Err(OpsError::BadRequest(
                "this node replicates no policy (no Raft cluster)".into(),
            )),
        }
    }

    fn health(&self) -> Health {
        let reasons = self.status().not_ready();
        Health {
            ready: reasons.is_empty(),
            reasons,
        }
    }
}

#[cfg(test)]
mod tests;
