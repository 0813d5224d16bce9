//! `rampart run --config node.toml`: the node daemon. Loads the node
//! configuration and its bootstrap policy, opens the data interfaces and
//! bridges them through the engine until SIGINT or SIGTERM, with one
//! worker thread (and engine) per `[node] workers`, frames spread between
//! them by a symmetric flow hash (see [`crate::worker`]).
//!
//! With a `[cluster]` table the node also runs state sync: a tokio thread
//! drives the QUIC transport and the sync protocol, and each worker trades
//! events with it through a [`crate::cluster_link::Port`]. The node does
//! not forward until its first bulk sync is done (or it is alone).
//!
//! SIGUSR1 writes `show conn detail` to `<data_dir>/<name>.conn` and the
//! counters to `<data_dir>/<name>.counters`, gathered from the workers
//! between their batches ([`crate::control`]). SIGHUP is logged and
//! otherwise ignored: the node reloads no file.
//!
//! The daemon logs through `tracing` only. When it stops it reports its
//! [`Summary`]: as log lines for people, or with `--log-format json` as one
//! JSON document on stdout (the logs stay on stderr).

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};
use std::time::Duration;

use rampart_afpacket::io::IoChoice;
use rampart_cluster::pki::NodeTls;
use rampart_cluster::sync::{Protocol, ProtocolConfig};
use rampart_cluster::transport::{PeerSpec, Transport, TransportConfig};
use rampart_dataplane::counters::BridgeCounters;
use rampart_dataplane::engine::fragment::WorkerShare;
use rampart_dataplane::engine::sync::SyncConfig;
use rampart_dataplane::{DropReason, Engine, EngineConfig};
use rampart_ops::admin::WALK_SLICE_SLOTS;
use rampart_ops::logging::LogFormat;
use rampart_ops::pool::{EnginePool, PoolError};
use rampart_ops::show_conn::{ConnFilter, ConnRow, collect_rows_in, printed, render_rows};

use crate::admin::Running;
use crate::cluster_link::{self, Clock, LinkCounters, Port, SyncStatus};
use crate::config::NodeConfig;
use crate::control::{self, Wake, Workers};
use crate::kept_policy::KeptPolicy;
use crate::policy_raft::{RaftSide, RaftStart};
use crate::startup_policy;
use crate::summary::{ClusterCounts, Counts, EngineSync, IoCounts, PeerPhase, Summary};
use crate::worker::{self, NodePort};

/// Set by the signal handler; the workers check it between batches.
static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGUSR1: dump the connection table.
static DUMP: AtomicBool = AtomicBool::new(false);
/// Set by SIGHUP, which changes nothing but a log line: the node reloads
/// no file (a policy changes through `rampart configure`), and a hang-up
/// must not stop a firewall (its default action).
static HUP: AtomicBool = AtomicBool::new(false);

/// How long a table dump waits for the workers.
const DUMP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the main thread looks at the signal flags and the workers.
const SUPERVISE_TICK: Duration = Duration::from_millis(20);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

extern "C" fn on_usr1(_: libc::c_int) {
    DUMP.store(true, Ordering::Relaxed);
}

extern "C" fn on_hup(_: libc::c_int) {
    HUP.store(true, Ordering::Relaxed);
}

/// Secrets for the flow hash and sequence randomization, from the kernel.
/// Each worker's engine configuration from the node file, keyed by the
/// node's secrets (hash seeds, then the sequence-randomization secret).
pub fn engine_config(cfg: &NodeConfig, s: [u64; 6]) -> EngineConfig {
    let mut engine_cfg = EngineConfig::inside_outside(
        rampart_dataplane::conntrack::NodeId(cfg.node.id),
        [s[0], s[1], s[2], s[3]],
    );
    engine_cfg.seq_secret = [s[4], s[5]];
    engine_cfg.interfaces = cfg.engine_interfaces();
    engine_cfg.max_conns = cfg.node.max_conns;
    if let Some(c) = &cfg.cluster {
        engine_cfg.sync = Some(SyncConfig {
            hold_deadline: Duration::from_millis(c.hold_ms),
            hold_max_packets: c.hold_max_packets,
            hold_max_per_flow: c.hold_max_per_flow,
            defer_deadline: Duration::from_millis(c.defer_ms),
            backup_delay: Duration::from_millis(c.backup_delay_ms),
            ..SyncConfig::default()
        });
    }
    engine_cfg
}

/// Worker `index`'s engine configuration (of `count` workers): the
/// node's, and with several workers which one it is and how the kernel's
/// fanout names a flow's worker, so that its engine hands a datagram it
/// reassembled to the worker that owns the flow (docs/io.md §9).
pub fn worker_engine_config(node: &EngineConfig, index: usize, count: usize) -> EngineConfig {
    let mut cfg = node.clone();
    cfg.workers = (count > 1).then_some(WorkerShare {
        index,
        count,
        worker_of: rampart_afpacket::fanout::worker_of,
    });
    cfg
}

fn secrets() -> anyhow::Result<[u64; 6]> {
    let mut bytes = [0u8; 48];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for the node's secrets")?;
    let mut out = [0u64; 6];
    for (o, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        *o = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    }
    Ok(out)
}

/// Run the node until a signal asks it to stop; its exit summary is
/// reported in `log` format.
pub fn run(config_path: &Path, log: LogFormat) -> anyhow::Result<()> {
    // A hang-up (the operator's terminal closed) never stops the node,
    // from its first moment on.
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGHUP, on_hup as *const () as libc::sighandler_t);
    }
    let mut cfg = NodeConfig::load(config_path)?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("rampart run needs root (AF_PACKET sockets on the data interfaces)");
    }
    let (data, _lock) = open_data_dir(&cfg, config_path)?;
    // One node per data interface (docs/ops.md §4), held until `run`
    // returns; taken before the cluster side starts, which a refused
    // second node must not start either.
    let guarded: Vec<(&str, u32)> = cfg
        .interfaces
        .iter()
        .filter_map(|i| Some((i.name.as_str(), worker::index_of(&i.name)?)))
        .collect();
    let _interface_guards =
        crate::iface_lock::lock(&guarded, |w| tracing::warn!("{w}")).context("[[interface]]")?;
    // Every later name in the data directory (tokens, keys, the Raft
    // store, kept policies, the dump, the admin socket) is made from its
    // resolved path: a link on the way repointed later changes nothing.
    cfg.node.data_dir.clone_from(&data);
    let s = secrets()?;
    let engine_cfg = engine_config(&cfg, s);
    let n = cfg.node.workers;
    let mut engines = (0..n)
        .map(|w| Engine::new(worker_engine_config(&engine_cfg, w, n)))
        .collect::<Result<Vec<_>, _>>()
        .context("building the engine")?;
    // A relative policy path is relative to the node configuration.
    let policy_file = cfg
        .node
        .policy
        .as_ref()
        .map(|p| config_path.parent().unwrap_or(Path::new(".")).join(p));
    // Without a cluster, the policy `configure` applied last is the
    // node's startup-config: it runs in place of the policy file
    // (docs/ops.md §7).
    let configured = cfg
        .cluster
        .is_none()
        .then(|| KeptPolicy::configured_in(&data));
    let start = startup_policy::load(
        policy_file.as_deref(),
        configured.as_ref(),
        &engine_cfg.interfaces,
    )?;
    // A node of a cluster runs its file only without Raft's policy
    // (`forward_before_join`); otherwise the cluster's, below.
    if let Some(p) = &start
        && cfg.cluster.as_ref().is_none_or(|c| c.forward_before_join)
    {
        for e in &mut engines {
            e.set_policy(p.compiled.clone())
                .map_err(|e| anyhow::anyhow!("policy refused: {e}"))?;
        }
    }
    // A cluster's bootstrap policy: its policy file.
    let policy_text = start.as_ref().map(|p| p.text.as_str());
    let clock = Clock::start();
    let wakes = (0..n)
        .map(|_| Wake::new())
        .collect::<Result<Vec<_>, _>>()
        .context("creating the workers' wake-ups")?;
    let (workers, inboxes) = control::workers(&wakes);
    let (hand_offs, handed) = crate::handoff::hand_offs(&wakes);
    // The cluster first: a bad certificate or address fails before any
    // interface is touched.
    let mut cluster = match &cfg.cluster {
        Some(c) => Some(start_cluster(
            &cfg,
            c,
            config_path,
            clock,
            s[0] ^ s[5],
            &wakes,
        )?),
        None => None,
    };
    let io_choice = match cfg.dataplane.io {
        crate::config::IoBackend::Ring => IoChoice::Ring,
        crate::config::IoBackend::BlockRing => IoChoice::BlockRing,
        crate::config::IoBackend::Mmsg => IoChoice::Mmsg,
    };
    let (sockets, io_modes) = worker::open_sockets(
        &cfg.interfaces[0].name,
        &cfg.interfaces[1].name,
        n,
        cfg.node.offload,
        io_choice,
    )?;
    let mut sync_ports = cluster
        .as_mut()
        .map(|c| std::mem::take(&mut c.ports))
        .unwrap_or_default()
        .into_iter();
    let ports: Vec<NodePort> = wakes
        .into_iter()
        .zip(inboxes)
        .zip(handed)
        .map(|((wake, inbox), handed)| NodePort {
            wake,
            inbox,
            sync: sync_ports.next(),
            hand_offs: hand_offs.clone(),
            handed,
        })
        .collect();
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
    }
    tracing::info!(
        "node {} (id {}) bridging {} ({}) and {} ({}) with {} worker(s)",
        cfg.node.name,
        cfg.node.id,
        cfg.interfaces[0].name,
        cfg.interfaces[0].nameif,
        cfg.interfaces[1].name,
        cfg.interfaces[1].nameif,
        workers.len()
    );
    // The policy log rides the cluster endpoint; without a cluster the
    // policy file (and `configure`) is the node's alone.
    let raft = match (&cluster, &cfg.cluster) {
        (Some(side), Some(c)) => {
            let dir = cfg.data_path(config_path).join("raft");
            Some(RaftSide::start(
                &side.runtime,
                &side.transport,
                RaftStart {
                    id: cfg.node.id,
                    name: &cfg.node.name,
                    address: c.listen.to_string(),
                    dir: &dir,
                    data_dir: &data,
                    bootstrap: c.bootstrap,
                    policy: policy_text,
                    interfaces: engine_cfg.interfaces.clone(),
                    signer: cfg
                        .policy_signer_path(config_path)
                        .map(|p| crate::policy_sig::Signer::load(&p))
                        .transpose()?,
                },
            )?)
        }
        _ => None,
    };
    // A restarted node runs the policy its store committed (and the
    // cluster's sequence key) from its first packet, not the policy file
    // until `follow` below catches up; where it cannot run that one, the
    // policy it ran last (`kept_policy.rs`).
    let stored = raft
        .as_ref()
        .map(|r| r.stored_policy(&engine_cfg.interfaces))
        .transpose()?;
    let stored_policy = stored.as_ref().and_then(|s| s.policy.as_ref());
    // A node of a cluster runs the cluster's policy or nothing: one whose
    // store holds none it can run (new or wiped before its join, a
    // bootstrap that founded nothing, a committed policy that cannot run
    // here with no earlier one it ran) forwards nothing until one reaches
    // it. A founding node's store holds its policy file by now.
    let awaiting = match (&cfg.cluster, &stored) {
        (Some(c), Some(s)) => s.policy.is_none() && !c.forward_before_join,
        _ => false,
    };
    let running = match (stored_policy, &start) {
        (Some(p), _) => Running::Policy(p.version, &p.rendered),
        (None, _) if awaiting => Running::AwaitingCluster,
        (None, Some(p)) => Running::Policy(p.version, &p.rendered),
        (None, None) => Running::BuiltIn,
    };
    let ops = crate::admin::start(
        &cfg,
        config_path,
        &workers,
        cluster.as_ref().map(|c| c.status.clone()),
        running,
        raft.as_ref(),
        cluster
            .as_ref()
            .map(|c| (c.runtime.handle().clone(), c.transport.clone())),
    )?;
    if let Some(s) = &stored {
        for e in &mut engines {
            if let Some(p) = stored_policy
                && let Err(err) = e.set_policy(p.compiled.clone())
            {
                // Fresh engines have every slot free: not reached.
                tracing::warn!("the stored policy version {}: {err}", p.version);
            }
            if let Some(k) = s.key {
                e.set_seq_secret(k);
            }
        }
        // The shuns the store holds, from the first packet: a restarted
        // node must not let a shunned source in while it starts
        // (docs/asa-behaviour.md §2.12).
        if let Some(r) = &raft {
            let shuns = r.stored_shun_table(&engine_cfg.interfaces);
            for e in &mut engines {
                e.set_shuns(shuns.clone());
            }
        }
        if awaiting {
            for e in &mut engines {
                e.await_cluster_policy();
            }
        }
        match stored_policy {
            Some(p) if p.kept => tracing::info!(
                "policy version {} (the last this node ran) in force before forwarding",
                p.version
            ),
            Some(p) => tracing::info!(
                "policy version {} from the store in force before forwarding",
                p.version
            ),
            None if awaiting && s.committed == 0 => tracing::warn!(
                "no cluster policy in the store: forwarding nothing until the cluster's policy \
                 arrives (rampart cluster join --id {} on a member; a cluster run without Raft \
                 sets [cluster] forward_before_join = true)",
                cfg.node.id
            ),
            None if awaiting => tracing::warn!(
                "the cluster's policy version {} cannot run here, nor one this node ran before: \
                 forwarding nothing until the cluster commits one it can run",
                s.committed
            ),
            None => {}
        }
    }
    let busy_poll = Duration::from_micros(cfg.dataplane.busy_poll_us);
    let handles = worker::spawn(sockets, engines, ports, clock, busy_poll, &STOP)?;
    // Committed policies reach the workers from here on (the one in the
    // store first: a restarted node runs its cluster's policy again).
    if let Some(r) = &raft {
        r.follow(ops.admin().clone());
        // And the cluster's shun list (docs/asa-behaviour.md §2.12).
        r.follow_shuns(ops.admin().clone());
    }
    // Time-ranges follow the node's clock (docs/asa-behaviour.md §2.10).
    let time_ranges = crate::time_ranges::spawn(
        ops.admin().clone(),
        ops.time_range_failures().clone(),
        &STOP,
    )?;
    let conn_path = data.join(format!("{}.conn", cfg.node.name));
    let counters_path = data.join(format!("{}.counters", cfg.node.name));
    while !STOP.load(Ordering::Relaxed) {
        if handles.iter().any(|h| h.is_finished()) {
            // A worker stopped on an I/O error that is no link event (a
            // link down or deleted is counted and ridden out, docs/io.md
            // §8): stop the others and report.
            STOP.store(true, Ordering::Relaxed);
            break;
        }
        if HUP.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                "SIGHUP ignored: the node reloads no file on a hang-up and keeps running; change \
                 its policy with `rampart configure`, stop it with SIGTERM (docs/ops.md §7)"
            );
        }
        if DUMP.swap(false, Ordering::Relaxed) {
            dump(
                &workers,
                cluster.as_ref(),
                &io_modes,
                &conn_path,
                &counters_path,
            );
        }
        std::thread::sleep(SUPERVISE_TICK);
    }
    // It stops within a check's sleep of STOP.
    if time_ranges.join().is_err() {
        tracing::warn!("the time-range thread panicked");
    }
    drop(ops);
    let mut bridges = Vec::with_capacity(handles.len());
    let mut failure = None;
    for (w, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(b)) => bridges.push(b),
            Ok(Err(e)) => failure = Some(anyhow::anyhow!("worker {w}: {e}")),
            Err(_) => failure = Some(anyhow::anyhow!("worker {w} panicked")),
        }
    }
    let tally = Tally::sum(bridges.iter().map(|b| Tally::of(&b.engine, &b.counters)));
    let mut summary = tally.summary(&cfg.node.name, n);
    summary.io_modes = io_modes;
    if let Some(c) = cluster {
        if let Some(r) = &raft {
            r.stop(&c.runtime);
            summary.policy_versions_not_applied = r.apply_failed();
        }
        summary.cluster = c.counts();
        c.stop();
    }
    report(&summary, log);
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Write `show conn detail` and the counters, gathered from the workers.
fn dump(
    workers: &Workers,
    cluster: Option<&ClusterSide>,
    io_modes: &[String],
    conn_path: &Path,
    counters_path: &Path,
) {
    let (tally, rows) = match dump_rows(workers) {
        Ok(got) => got,
        Err(e) => {
            tracing::warn!("table dump: {e}");
            return;
        }
    };
    let table = render_rows(tally.in_use, tally.most_used, rows, true);
    let mut summary = tally.summary("", workers.len());
    summary.io_modes = io_modes.to_vec();
    summary.cluster = cluster.and_then(ClusterSide::counts);
    let mut counters = format!("counters; {}\n", summary.counters_line());
    for line in summary
        .sync_line()
        .into_iter()
        .chain(summary.cluster_line())
    {
        counters.push_str(&line);
        counters.push('\n');
    }
    for (path, text) in [(conn_path, table), (counters_path, counters)] {
        if let Err(e) = write_atomic(path, &text) {
            tracing::warn!("cannot write {}: {e}", path.display());
        }
    }
}

/// The workers' counters and every connection, as `show conn detail`
/// prints them. The table is walked in slices of [`WALK_SLICE_SLOTS`], one
/// job per worker each, so the dump pauses a worker's packets for one
/// slice at a time, as `show conn` does, never for the whole table (a
/// million entries once took 1.4 s in one job). An entry opened during the
/// dump in a slice already walked is not listed; the counts are those of
/// its start. The rows are printed here, off the workers.
fn dump_rows<P: EnginePool>(pool: &P) -> Result<(Tally, Vec<ConnRow>), PoolError> {
    let parts = pool.each(DUMP_TIMEOUT, |ctx| {
        // A worker's view always carries its I/O counters.
        let io = ctx.io.copied().unwrap_or_default();
        (Tally::of(ctx.engine, &io), ctx.engine.table().slot_count())
    })?;
    let slots = parts.iter().map(|p| p.1).max().unwrap_or(0);
    let tally = Tally::sum(parts.into_iter().map(|(t, _)| t));
    let mut rows = Vec::new();
    for start in (0..slots).step_by(WALK_SLICE_SLOTS) {
        let range = start..start + WALK_SLICE_SLOTS;
        let got = pool.each(DUMP_TIMEOUT, move |ctx| {
            let filter = ConnFilter::default();
            collect_rows_in(
                ctx.engine,
                ctx.now,
                &filter,
                ctx.worker,
                usize::MAX,
                range.clone(),
            )
            .0
        })?;
        rows.extend(got.iter().flatten().map(|r| printed(r, true)));
    }
    Ok((tally, rows))
}

/// Report the exit summary: log lines for people; with JSON logs, one
/// JSON document on stdout (and a short log event).
fn report(summary: &Summary, log: LogFormat) {
    match log {
        LogFormat::Human => {
            for line in summary.lines() {
                tracing::info!("{line}");
            }
        }
        LogFormat::Json => {
            tracing::info!(
                forwarded = summary.counters.forwarded,
                dropped = summary.counters.dropped,
                conns_in_use = summary.counters.conns_in_use,
                "stopped"
            );
            match serde_json::to_string(summary) {
                Ok(json) => {
                    use std::io::Write as _;
                    let mut out = std::io::stdout().lock();
                    if let Err(e) = writeln!(out, "{json}").and_then(|()| out.flush()) {
                        tracing::warn!("cannot write the exit summary: {e}");
                    }
                }
                Err(e) => tracing::warn!("cannot encode the exit summary: {e}"),
            }
        }
    }
}

/// The node-wide sums of the workers' counters that the status lines show.
#[derive(Debug, Clone)]
struct Tally {
    forwarded: u64,
    in_use: usize,
    most_used: usize,
    drops: [u64; DropReason::COUNT],
    /// Frames larger than a receive buffer, frames the kernel refused to
    /// send (the I/O layer's own drops), and GSO super-packets forwarded.
    io: [u64; 3],
    /// The kernel's receive drops, ring blocks not trusted, frames sent
    /// through a ring's companion socket, loop turns spent polling, and
    /// frames read whole past a per-frame ring's slot.
    ring: [u64; 5],
    /// events_out, events_in, joined, rejected, held, released, expired,
    /// deferred, acked, timed_out, bulk_flows_out, hold_overflow, refused.
    sync: Option<[u64; 13]>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            forwarded: 0,
            in_use: 0,
            most_used: 0,
            drops: [0; DropReason::COUNT],
            io: [0; 3],
            ring: [0; 5],
            sync: None,
        }
    }
}

impl Tally {
    fn of(engine: &Engine, io: &BridgeCounters) -> Tally {
        let c = engine.counters();
        Tally {
            io: [io.truncated, io.send_failed, io.gso_frames],
            ring: [
                io.kernel_rx_drops,
                io.ring_bad_slots,
                io.ring_tx_spilled,
                io.busy_polls,
                io.ring_rx_copied,
            ],
            forwarded: c.forwarded_packets,
            in_use: engine.table().len(),
            most_used: engine.table().high_water(),
            drops: c.drops,
            sync: engine.sync_counters().map(|sc| {
                let kinds = |a: &[u64; 4]| a.iter().sum::<u64>();
                [
                    kinds(&sc.events_out),
                    kinds(&sc.events_in),
                    sc.joined,
                    sc.rejected,
                    sc.held,
                    sc.held_released,
                    sc.held_expired,
                    sc.deferred,
                    sc.deferred_acked,
                    sc.deferred_timed_out,
                    sc.bulk_flows_out,
                    sc.hold_overflow,
                    sc.held_refused,
                ]
            }),
        }
    }

    /// The sum over workers. The node's "most used" is the sum of the
    /// workers' peaks: an upper bound of the node's own peak.
    fn sum(parts: impl IntoIterator<Item = Tally>) -> Tally {
        let mut t = Tally::default();
        for p in parts {
            t.forwarded = t.forwarded.saturating_add(p.forwarded);
            t.in_use += p.in_use;
            t.most_used += p.most_used;
            for (a, b) in t
                .drops
                .iter_mut()
                .chain(&mut t.io)
                .chain(&mut t.ring)
                .zip(p.drops.into_iter().chain(p.io).chain(p.ring))
            {
                *a = a.saturating_add(b);
            }
            if let Some(ps) = p.sync {
                let ts = t.sync.get_or_insert([0; 13]);
                for (a, b) in ts.iter_mut().zip(ps) {
                    *a = a.saturating_add(b);
                }
            }
        }
        t
    }

    /// The typed summary of these counts, for node `name`.
    fn summary(&self, name: &str, workers: usize) -> Summary {
        let drops = DropReason::ALL
            .iter()
            .filter(|r| self.drops[r.index()] > 0)
            .map(|r| (r.label().to_string(), self.drops[r.index()]))
            .collect();
        Summary {
            node: name.to_string(),
            workers,
            counters: Counts {
                forwarded: self.forwarded,
                conns_in_use: self.in_use as u64,
                conns_most_used: self.most_used as u64,
                dropped: self.drops.iter().fold(0u64, |a, b| a.saturating_add(*b)),
                drops,
                io: IoCounts {
                    truncated: self.io[0],
                    send_failed: self.io[1],
                    gso_frames: self.io[2],
                    kernel_rx_drops: self.ring[0],
                    bad_blocks: self.ring[1],
                    tx_spilled: self.ring[2],
                    busy_polls: self.ring[3],
                    rx_copied: self.ring[4],
                },
            },
            sync: self.sync.map(|v| EngineSync {
                events_out: v[0],
                events_in: v[1],
                joined: v[2],
                rejected: v[3],
                held: v[4],
                released: v[5],
                expired: v[6],
                deferred: v[7],
                acked: v[8],
                timed_out: v[9],
                bulk_flows_out: v[10],
                hold_overflow: v[11],
                refused: v[12],
            }),
            cluster: None,
            policy_versions_not_applied: 0,
            io_modes: Vec::new(),
        }
    }
}

/// Create the data directory if it is missing (0700), refuse one that
/// another user may change (the node reads its tokens, keys and Raft
/// store from it and writes its table dumps into it, and whoever may
/// write there, or point a link on the way to it elsewhere, may swap any
/// of them), and lock it against a second node (docs/ops.md §4). Returns
/// its resolved path, no link left in it, and the lock.
fn open_data_dir(
    cfg: &NodeConfig,
    config_path: &Path,
) -> anyhow::Result<(std::path::PathBuf, crate::data_lock::DataLock)> {
    let data = cfg.data_path(config_path);
    rampart_cluster::private_files::create_private_dir_all(&data)
        .with_context(|| format!("creating the data directory {}", data.display()))?;
    let real = rampart_cluster::private_files::check_trusted_dir(&data, "data directory")
        .with_context(|| format!("{}: [node] data_dir", config_path.display()))?;
    let lock = crate::data_lock::lock(&real)
        .with_context(|| format!("{}: [node] data_dir", config_path.display()))?;
    Ok((real, lock))
}

/// Write `text` to `path`, mode 0600 (the table names the connections
/// through the node): under a fresh name, synced, then renamed over it, so
/// readers never see a partial file and nothing prepared at a temporary
/// name (a link to elsewhere) is written through.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    rampart_cluster::private_files::replace_file(
        path,
        text.as_bytes(),
        rampart_cluster::private_files::SECRET_FILE_MODE,
    )
}

/// The cluster side of a node: its runtime thread and shared status.
struct ClusterSide {
    runtime: tokio::runtime::Runtime,
    transport: Transport,
    /// One sync port per worker, taken when the workers start.
    ports: Vec<Port>,
    status: Arc<SyncStatus>,
    link: Arc<LinkCounters>,
}

impl ClusterSide {
    /// Protocol, transport and link counters.
    fn counts(&self) -> Option<ClusterCounts> {
        let s = self.status.snapshot.lock().ok()?;
        let (pc, phases) = s.as_ref()?;
        let tc = self.transport.counters();
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        Some(ClusterCounts {
            peers: phases
                .iter()
                .map(|(p, ph)| PeerPhase {
                    id: *p,
                    phase: ph.to_string(),
                })
                .collect(),
            batches_sent: pc.batches_sent,
            events_sent: pc.events_sent,
            events_received: pc.events_received,
            datagrams_sent: pc.datagrams_sent,
            datagrams_resent: pc.datagrams_resent,
            datagrams_received: pc.datagrams_received,
            resent: pc.batches_resent,
            gaps: pc.gaps,
            malformed: pc.malformed,
            bulk_completed: pc.bulk_completed,
            bulk_flows_received: pc.bulk_flows_received,
            last_bulk_ms: u64::try_from(pc.last_bulk.as_millis()).unwrap_or(u64::MAX),
            frames_refused: get(&self.link.frames_refused),
            send_failed: get(&self.link.send_failed),
            events_dropped: get(&self.link.events_dropped),
            refused_tls: get(&tc.refused_tls),
            refused_identity: get(&tc.refused_wrong_identity),
            refused_unknown_peer: get(&tc.refused_unknown_peer),
        })
    }

    fn stop(self) {
        let t = self.transport.clone();
        self.runtime.block_on(async move { t.shutdown().await });
        self.runtime.shutdown_timeout(Duration::from_millis(500));
    }
}

/// The node file's `[cluster] peers` without the nodes the cluster removed
/// (`rampart cluster remove`; the Raft store remembers them), each left out
/// with a warning: a removed node must not have state or policy again
/// because a node file still lists it.
fn peers_not_removed(
    peers: &[crate::config::Peer],
    removed: &std::collections::BTreeSet<u64>,
) -> Vec<crate::config::Peer> {
    peers
        .iter()
        .filter(|p| {
            let gone = removed.contains(&u64::from(p.id));
            if gone {
                tracing::warn!(
                    "[cluster] peers lists node {} ({}), which was removed from the cluster: it \
                     is no peer of this node; take it out of the node file, or join it again \
                     with `rampart cluster join --id {}`",
                    p.id,
                    p.name,
                    p.id
                );
            }
            !gone
        })
        .cloned()
        .collect()
}

fn start_cluster(
    cfg: &NodeConfig,
    c: &crate::config::Cluster,
    config_path: &Path,
    clock: Clock,
    session: u64,
    wakes: &[Wake],
) -> anyhow::Result<ClusterSide> {
    let paths = cfg.tls_paths(config_path).expect("a [cluster] table");
    let tls = NodeTls::load(&paths.ca, &paths.cert, &paths.key).with_context(|| {
        format!(
            "{}: cluster TLS (create with `rampart cluster init` and `rampart cluster cert`)",
            config_path.display()
        )
    })?;
    tls.verify_peer(&tls.chain, Some(cfg.node.id))
        .and_then(|()| tls.verify_peer_name(&tls.chain, &cfg.node.name))
        .map_err(|e| anyhow::anyhow!("{}: {e}", paths.cert.display()))?;
    // One runtime thread: a sync event crosses several tasks (the link's
    // driver, quinn's connection and endpoint drivers, the transport's
    // readers), and with two threads each hand-off could wake the other
    // thread. Measured on the HTTP benchmark (scripts/bench/http.sh, two
    // runs each): asymmetric connect p50 0.163-0.174 ms above symmetric
    // with one thread, 0.188-0.209 ms with two; asym/sym requests 0.82-0.84
    // against 0.79-0.80. Blocking work (the Raft store's fsyncs, policy
    // compiles) runs on the blocking pool.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("rampart-cluster")
        .enable_all()
        .build()
        .context("starting the cluster runtime")?;
    // A node the cluster removed stays out although this file lists it:
    // it comes back only through `rampart cluster join`.
    let raft_dir = cfg.data_path(config_path).join("raft");
    let removed = rampart_cluster::raft::removed_members(&raft_dir)
        .with_context(|| format!("reading the policy log in {}", raft_dir.display()))?;
    let configured = peers_not_removed(&c.peers, &removed);
    let peers: Vec<PeerSpec> = configured
        .iter()
        .map(|p| PeerSpec {
            id: p.id,
            name: p.name.clone(),
            address: p.address,
        })
        .collect();
    let mut tcfg = TransportConfig::new(cfg.node.id, c.listen, peers);
    tcfg.idle_timeout = Duration::from_millis(c.idle_timeout_ms);
    tcfg.keep_alive = tcfg.idle_timeout / 6;
    let (transport, events) = {
        let _guard = runtime.enter();
        Transport::start(tcfg, tls).context("starting the cluster transport")?
    };
    let peer_ids: Vec<u16> = configured.iter().map(|p| p.id).collect();
    let pcfg = ProtocolConfig {
        join_timeout: Duration::from_millis(c.join_timeout_ms),
        copies: c.copies,
        ..ProtocolConfig::default()
    };
    let protocol = Protocol::new(cfg.node.id, session, &peer_ids, pcfg, clock.now());
    let link = Arc::new(LinkCounters::default());
    let (ports, end) = cluster_link::link(link.clone(), wakes);
    let status = Arc::new(SyncStatus::default());
    runtime.spawn(cluster_link::drive(
        protocol,
        transport.clone(),
        events,
        end,
        clock,
        link.clone(),
        status.clone(),
    ));
    tracing::info!(
        "cluster endpoint on {} ({} peer(s)); not forwarding until synced",
        c.listen,
        configured.len()
    );
    Ok(ClusterSide {
        runtime,
        transport,
        ports,
        status,
        link,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_node_file_sizes_each_workers_table() {
        let text = include_str!("../../examples/node-a.toml");
        let mut cfg = NodeConfig::parse("node-a.toml", text).expect("the example parses");
        assert_eq!(super::engine_config(&cfg, [1; 6]).max_conns, 1_000_000);
        cfg.node.max_conns = 250_000;
        let e = super::engine_config(&cfg, [1; 6]);
        assert_eq!(e.max_conns, 250_000);
        assert!(e.sync.is_some(), "the example is clustered");
    }

    use super::*;
    use rampart_ops::pool::LocalPool;

    /// Each worker's engine knows its index, the node's count and the
    /// fanout's `worker_of` (so it hands a datagram to the owner the
    /// kernel's hash names); one worker alone hands nothing to anyone.
    #[test]
    fn each_worker_engine_knows_its_share_of_the_node() {
        let text = include_str!("../../examples/node-a.toml");
        let cfg = NodeConfig::parse("node-a.toml", text).expect("the example parses");
        let node = engine_config(&cfg, [1; 6]);
        assert!(worker_engine_config(&node, 0, 1).workers.is_none());
        let t = rampart_dataplane::flow::Tuple {
            src: rampart_dataplane::flow::Endpoint {
                addr: rampart_dataplane::flow::Addr::v4([198, 18, 0, 10]),
                port: 40_001,
            },
            dst: rampart_dataplane::flow::Endpoint {
                addr: rampart_dataplane::flow::Addr::v4([198, 18, 0, 20]),
                port: 5300,
            },
            proto: rampart_dataplane::flow::proto::UDP,
            vlan: 0,
        };
        let key = rampart_dataplane::flow::FlowKey::of(&t).0;
        for i in 0..3 {
            let w = worker_engine_config(&node, i, 3);
            let share = w.workers.expect("three workers share the node");
            assert_eq!((share.index, share.count), (i, 3));
            assert_eq!(
                (share.worker_of)(&key, 3),
                rampart_afpacket::fanout::worker_of(&key, 3)
            );
            // The rest is the node's.
            assert_eq!(w.max_conns, node.max_conns);
            assert_eq!(w.interfaces, node.interfaces);
        }
    }

    #[test]
    fn removed_nodes_are_no_peers_whatever_the_node_file_lists() {
        let peer = |id: u16| crate::config::Peer {
            id,
            name: format!("fw-{id}"),
            address: ([127, 0, 0, 1], 4700 + id).into(),
        };
        let peers = [peer(2), peer(3), peer(4)];
        let kept = peers_not_removed(&peers, &[3, 9].into_iter().collect());
        assert_eq!(kept.iter().map(|p| p.id).collect::<Vec<_>>(), vec![2, 4]);
        assert_eq!(peers_not_removed(&peers, &Default::default()).len(), 3);
    }

    /// The SIGUSR1 dump of a table of 200,000 entries (about 205,000
    /// slots) is one job for the counters and four for the rows, and lists
    /// them all. Before, one job walked and printed the whole
    /// table: 1.4 s of a worker's packets at a million entries.
    #[test]
    fn the_table_dump_walks_in_slices_and_lists_every_connection() {
        let now = rampart_dataplane::Instant::from_secs(100);
        let mut cfg =
            EngineConfig::inside_outside(rampart_dataplane::conntrack::NodeId(1), [1, 2, 3, 4]);
        cfg.max_conns = 201_000;
        let mut e = Engine::new(cfg).unwrap();
        rampart_dataplane::trace::fill_udp_flows(&mut e, 200_000, now);
        let slots = e.table().slot_count();
        let pool = LocalPool::new(vec![e], move || now);
        let (tally, rows) = dump_rows(&pool).unwrap();
        assert_eq!(tally.in_use, 200_000);
        assert_eq!(rows.len(), 200_000);
        assert_eq!(pool.requests(), 1 + slots.div_ceil(WALK_SLICE_SLOTS));
        assert!(slots.div_ceil(WALK_SLICE_SLOTS) >= 4);
        let text = render_rows(tally.in_use, tally.most_used, rows, true);
        assert!(text.starts_with("200000 in use"), "{}", &text[..80]);
    }

    /// The SIGUSR1 dump replaces its file under a fresh name: a link
    /// someone put at the name the dump once used (`<name>.tmp`) is not
    /// written through, and the dump is the owner's only (0600) whatever
    /// the old file's mode.
    #[test]
    fn a_table_dump_writes_through_no_planted_link_and_is_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = std::env::temp_dir().join(format!("rampart-dump-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let victim = d.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let conn = d.join("fw-a.conn");
        std::fs::write(&conn, "old").unwrap();
        std::fs::set_permissions(&conn, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&victim, d.join("fw-a.tmp")).unwrap();
        write_atomic(&conn, "0 in use, 0 most used\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(
            std::fs::read_to_string(&conn).unwrap(),
            "0 in use, 0 most used\n"
        );
        let meta = std::fs::symlink_metadata(&conn).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
