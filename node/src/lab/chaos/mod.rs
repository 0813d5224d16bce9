//! `rampart lab chaos`: failover scenarios with real `rampart run`
//! processes on the asymmetric lab under real traffic — a node killed or
//! frozen while the hosts' routes move to the other path, the sync link
//! lossy or cut, a node restarted wiped or five times in a minute, the Raft
//! leader killed during a policy write, bypass and inspected streams
//! through a failover. Each scenario builds its own lab and reports one
//! row ([`report::ScenarioRow`]); the chaos suite
//! (`chaos-tests/tests/failover.rs`) runs the same scenarios at CI size.
//!
//! Parts: [`scenarios`] (the eight), [`bench`] (a scenario's lab, nodes
//! and faults), [`traffic`] (streams with end-to-end checks and short
//! connections), [`datagrams`] (UDP requests and ICMP echoes, each resent
//! until answered or lost), [`report`] (rows, table, JSON).

pub mod bench;
pub mod datagrams;
pub mod report;
pub mod scenarios;
pub mod traffic;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use report::{ChaosReport, ScenarioRow, ms};

use crate::lab::LabError;

/// How big the scenarios are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The chaos suite's size: all eight in about six minutes on two busy
    /// cores.
    Ci,
    /// The numbers (`rampart lab chaos`): 200 long streams, 200
    /// new connections per second (500 on the lossy link), a 10 s freeze
    /// and cut, 60 s of loss.
    Full,
}

/// A size's numbers.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    /// Inspected long streams.
    pub streams: usize,
    /// Bypass long streams (the mixed scenario).
    pub bypass_streams: usize,
    /// Bytes per round trip of a long stream.
    pub chunk: usize,
    /// Pause between a stream's round trips.
    pub interval: Duration,
    /// New short connections per second.
    pub new_per_s: u32,
    /// New short connections per second on the lossy link.
    pub lossy_new_per_s: u32,
    /// Traffic before the fault.
    pub warmup: Duration,
    /// Traffic after the fault.
    pub after: Duration,
    /// How long a node stays frozen.
    pub freeze: Duration,
    /// How long the sync link is lossy.
    pub loss_for: Duration,
    /// How long the sync link is cut.
    pub cut_for: Duration,
    /// Traffic through the restarted node between two restarts.
    pub between_restarts: Duration,
    /// The bound of a scenario's whole traffic.
    pub limit: Duration,
}

impl Size {
    /// The numbers of this size.
    pub fn dims(self) -> Dims {
        match self {
            Size::Ci => Dims {
                streams: 24,
                bypass_streams: 8,
                chunk: 1024,
                interval: Duration::from_millis(50),
                new_per_s: 40,
                lossy_new_per_s: 100,
                warmup: Duration::from_secs(2),
                after: Duration::from_secs(5),
                freeze: Duration::from_secs(10),
                loss_for: Duration::from_secs(15),
                cut_for: Duration::from_secs(10),
                between_restarts: Duration::from_secs(1),
                limit: Duration::from_secs(150),
            },
            Size::Full => Dims {
                streams: 200,
                bypass_streams: 50,
                chunk: 1024,
                interval: Duration::from_millis(100),
                new_per_s: 200,
                lossy_new_per_s: 500,
                warmup: Duration::from_secs(5),
                after: Duration::from_secs(15),
                freeze: Duration::from_secs(10),
                loss_for: Duration::from_secs(60),
                cut_for: Duration::from_secs(10),
                between_restarts: Duration::from_secs(5),
                limit: Duration::from_secs(300),
            },
        }
    }

    /// `ci` or `full`.
    pub fn name(self) -> &'static str {
        match self {
            Size::Ci => "ci",
            Size::Full => "full",
        }
    }
}

/// A scenario: its name and what runs it.
pub type ScenarioFn = fn(&Ctx, &mut ScenarioRow) -> Result<(), LabError>;

/// The scenarios, in the order.
pub const SCENARIOS: [(&str, &str, ScenarioFn); 8] = [
    (
        "kill-a",
        "kill -9 node A under asymmetric traffic, its path to B",
        scenarios::kill_a,
    ),
    (
        "freeze-a",
        "SIGSTOP node A, then SIGCONT: no forwarding on stale state, resync, ready",
        scenarios::freeze_a,
    ),
    (
        "lossy-link",
        "sync link 30 % loss and 10 ms delay under new asymmetric connections",
        scenarios::lossy_link,
    ),
    (
        "cut-link",
        "sync link cut with both nodes alive; tables converge after healing",
        scenarios::cut_link,
    ),
    (
        "wiped-restart",
        "node restart with its data directory wiped: bulk sync, ready, traffic",
        scenarios::wiped_restart,
    ),
    (
        "raft-leader",
        "three nodes: the Raft leader killed during a policy write",
        scenarios::raft_leader,
    ),
    (
        "bypass-mixed",
        "bypass and inspected streams through a failover",
        scenarios::bypass_mixed,
    ),
    (
        "restart-loop",
        "five restarts in a minute under traffic, of either node in turn",
        scenarios::restart_loop,
    ),
];

/// What every scenario is given.
pub struct Ctx {
    /// The `rampart` binary the nodes run.
    pub exe: PathBuf,
    /// The numbers.
    pub dims: Dims,
    prefix: String,
    progress: Box<dyn Fn(&str) + Sync>,
    interrupted: fn() -> bool,
    t0: Instant,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("exe", &self.exe)
            .field("dims", &self.dims)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Ctx {
    /// A context: nodes run `exe`, namespaces are named from `prefix`
    /// (short: a namespace name holds 15 characters with its suffix),
    /// progress goes to `progress`, and `interrupted` says when to stop.
    pub fn new(
        exe: PathBuf,
        size: Size,
        prefix: &str,
        progress: Box<dyn Fn(&str) + Sync>,
        interrupted: fn() -> bool,
    ) -> Ctx {
        Ctx {
            exe,
            dims: size.dims(),
            prefix: prefix.to_string(),
            progress,
            interrupted,
            t0: Instant::now(),
        }
    }

    /// Tell progress.
    pub fn progress(&self, what: &str) {
        (self.progress)(&format!("[{:>4}s] {what}", self.t0.elapsed().as_secs()));
    }

    /// Whether to stop (Ctrl-C).
    pub fn interrupted(&self) -> bool {
        (self.interrupted)()
    }

    /// The namespace prefix of scenario `name`: the context's prefix and
    /// the scenario's number.
    pub fn prefix(&self, name: &str) -> String {
        let n = SCENARIOS
            .iter()
            .position(|(s, _, _)| *s == name)
            .unwrap_or(9);
        format!("{}{n}", self.prefix)
    }
}

/// Run scenario `name` in `ctx`: its row, a failure to run it counted as
/// FAIL.
pub fn run_one(ctx: &Ctx, name: &str) -> ScenarioRow {
    let mut row = ScenarioRow::new(name);
    let t0 = Instant::now();
    match SCENARIOS.iter().find(|(s, _, _)| *s == name) {
        Some((_, what, f)) => {
            ctx.progress(&format!("{name}: {what}"));
            if let Err(e) = f(ctx, &mut row) {
                row.check(false, format!("the scenario could not complete: {e}"));
            }
        }
        None => row.check(false, format!("no scenario {name}")),
    }
    row.wall_ms = ms(t0.elapsed());
    ctx.progress(&format!(
        "{name}: {:?} in {:.1} s",
        row.verdict,
        t0.elapsed().as_secs_f64()
    ));
    row
}

/// `rampart lab chaos [--scenario NAME] [--json]`: run the scenarios (all,
/// or the one named) at full size with progress on stderr; the report
/// (text or JSON) and whether every scenario passed.
pub fn run(scenario: Option<&str>, json: bool, size: Size) -> Result<(String, bool), LabError> {
    if !crate::lab::netns::is_root() {
        return Err(LabError::NotRoot(" chaos"));
    }
    if let Some(s) = scenario
        && !SCENARIOS.iter().any(|(n, _, _)| *n == s)
    {
        let names: Vec<&str> = SCENARIOS.iter().map(|(n, _, _)| *n).collect();
        return Err(LabError::Bench(format!(
            "no scenario {s}; the scenarios are {}",
            names.join(", ")
        )));
    }
    crate::lab::catch_interrupt();
    crate::lab::netns::raise_fd_limit(65_536);
    let exe = std::env::current_exe().map_err(LabError::Exe)?;
    let ctx = Ctx::new(
        exe,
        size,
        &format!("rc{}", std::process::id() % 100_000),
        Box::new(|s| eprintln!("{s}")),
        crate::lab::interrupted,
    );
    let mut rows = Vec::new();
    for (name, _, _) in SCENARIOS
        .iter()
        .filter(|(n, _, _)| scenario.is_none_or(|s| s == *n))
    {
        if ctx.interrupted() {
            return Err(LabError::Interrupted);
        }
        rows.push(run_one(&ctx, name));
    }
    if ctx.interrupted() {
        return Err(LabError::Interrupted);
    }
    let report = ChaosReport {
        size: size.name().to_string(),
        rows,
    };
    let passed = report.passed();
    let out = if json { report.json()? } else { report.text() };
    Ok((out, passed))
}
