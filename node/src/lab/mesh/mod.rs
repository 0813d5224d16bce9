//! `rampart lab --nodes N [--copies K] [--seed S] [--flows F]`: the mesh
//! topology of N nodes in network namespaces ([`topology`]), N real
//! `rampart run` node processes in one cluster, the two-node lab's four
//! kinds of traffic with each flow's forward and return node drawn at
//! random from a seed ([`traffic`]), and a report of each kind and of
//! each node's table and sync traffic ([`report`]). Everything is torn
//! down at the end, also on Ctrl-C and on error.

pub mod report;
pub mod topology;
pub mod traffic;

pub use topology::{
    MAX_MESH_NODES, MIN_MESH_NODES, MeshLab, NodeCount, client_addr, mesh_node, server_addr,
};

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use report::{
    FAILED_SHOWN, MeshKindReport, MeshNodeReport, MeshReport, RoleCounts, SyncSample,
    bytes_per_new_flow, histogram_buckets, pulls_per_new_flow, quantile_ms, sum_buckets,
};
use traffic::{Flow, KindOutcome};

use super::proc::{Endpoint, NodeProc, NodeSpec, form_raft, write_config};
use super::{INTERRUPTED, LabError, POLICY, TCP_BYTES, catch_interrupt, file_error, interrupted};

/// Flows per kind unless `--flows` says otherwise (the two-node lab's
/// number).
pub const DEFAULT_FLOWS: usize = super::PER_KIND;
/// The most flows a kind may be asked for.
pub const MAX_FLOWS_PER_KIND: usize = 1_000;
/// How long a kind may start new flows; the flows left are not attempted.
const KIND_TIME_LIMIT: Duration = Duration::from_secs(60);
/// Worker threads per node: the node's default (class limits exact), and
/// N nodes share the machine's cores.
const MESH_WORKERS: usize = 1;
/// How long each node has to report ready.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// How long the nodes have, once ready, to see every peer up: a flow's
/// state reaches only the peers a node is connected to.
const PEERS_UP_LIMIT: Duration = Duration::from_secs(30);
/// How often the peers' states are asked.
const PEERS_POLL: Duration = Duration::from_millis(100);
/// The inspected server port.
const INSPECTED_PORT: u16 = 5001;
/// The server port of the policy's tcp-state-bypass class.
const BYPASS_PORT: u16 = 5002;

/// What `rampart lab --nodes N` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshOptions {
    /// Nodes (2 to 6).
    pub nodes: usize,
    /// `[cluster] copies` for every node (1 to `nodes`); `None` leaves the
    /// key out.
    pub copies: Option<usize>,
    /// The seed of the flows' paths; `None` picks one (and the report
    /// names it).
    pub seed: Option<u64>,
    /// Flows per kind (1 to [`MAX_FLOWS_PER_KIND`]).
    pub flows: usize,
    /// The namespaces' name prefix; `None`: `rp-m<pid>`.
    pub prefix: Option<String>,
}

/// [`MeshOptions`] checked.
#[derive(Debug, Clone)]
struct Plan {
    nodes: NodeCount,
    copies: Option<usize>,
    seed: u64,
    flows: usize,
    prefix: String,
}

impl MeshOptions {
    fn check(&self) -> Result<Plan, LabError> {
        let nodes = NodeCount::new(self.nodes).ok_or(LabError::Nodes(self.nodes))?;
        if let Some(copies) = self.copies
            && !(1..=nodes.get()).contains(&copies)
        {
            return Err(LabError::Copies {
                copies,
                nodes: nodes.get(),
            });
        }
        if !(1..=MAX_FLOWS_PER_KIND).contains(&self.flows) {
            return Err(LabError::Flows(self.flows));
        }
        Ok(Plan {
            nodes,
            copies: self.copies,
            seed: self.seed.unwrap_or_else(fresh_seed),
            flows: self.flows,
            prefix: self
                .prefix
                .clone()
                .unwrap_or_else(|| format!("rp-m{}", std::process::id())),
        })
    }
}

/// A seed for a run not given one: the clock and the PID, mixed.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut s = nanos ^ (u64::from(std::process::id()) << 32);
    crate::lab::lossy::next(&mut s)
}

/// Run the mesh lab; returns the report (text, or JSON with `json`).
pub fn run(opts: &MeshOptions, json: bool) -> Result<String, LabError> {
    let plan = opts.check()?;
    if !super::netns::is_root() {
        return Err(LabError::NotRoot(" --nodes"));
    }
    catch_interrupt();
    // On stderr at once, so a run that fails part-way can be replayed.
    eprintln!(
        "rampart lab: {} nodes, seed {}",
        plan.nodes.get(),
        plan.seed
    );
    let lab = MeshLab::new(&plan.prefix, plan.nodes)?;
    let dir = std::env::temp_dir().join(format!("rampart-mesh-{}", std::process::id()));
    let outcome = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("policy.cfg"), POLICY))
        .map_err(file_error(&dir))
        .and_then(|()| run_in(&lab, &dir, &plan));
    let _ = std::fs::remove_dir_all(&dir);
    drop(lab);
    let report = outcome?;
    if json {
        Ok(report.json()?)
    } else {
        Ok(report.text())
    }
}

/// Wait until every node sees each of its peers up.
fn wait_peers_up(procs: &[NodeProc], peers: usize) -> Result<(), LabError> {
    let t0 = Instant::now();
    for p in procs {
        loop {
            let view = p.cluster()?;
            let up = view.status.peers.iter().filter(|s| s.state == "up").count();
            if up == peers {
                break;
            }
            if interrupted() {
                return Err(LabError::Interrupted);
            }
            if t0.elapsed() >= PEERS_UP_LIMIT {
                let states: Vec<String> = view
                    .status
                    .peers
                    .iter()
                    .map(|s| format!("{} {}", s.name, s.state))
                    .collect();
                return Err(LabError::PeersNotUp {
                    node: p.name().to_string(),
                    limit: PEERS_UP_LIMIT,
                    states: states.join(", "),
                });
            }
            std::thread::sleep(PEERS_POLL);
        }
    }
    Ok(())
}

/// Histogram `family` of all nodes now, summed.
fn histogram_now(procs: &[NodeProc], family: &str) -> Vec<(f64, u64)> {
    let each: Vec<Vec<(f64, u64)>> = procs
        .iter()
        .map(|p| {
            p.metrics()
                .map(|t| histogram_buckets(&t, family))
                .unwrap_or_default()
        })
        .collect();
    sum_buckets(each.iter().map(Vec::as_slice))
}

/// A node's sync counters now (all unknown if `/metrics` does not answer).
fn sync_now(p: &NodeProc) -> SyncSample {
    p.metrics().map(|t| SyncSample::of(&t)).unwrap_or_default()
}

fn run_in(lab: &MeshLab, dir: &Path, plan: &Plan) -> Result<MeshReport, LabError> {
    rampart_cluster::pki::init_ca(dir).map_err(LabError::Ca)?;
    let n = plan.nodes.get();
    let specs: Vec<NodeSpec> = (0..n).map(|i| mesh_node(i, MESH_WORKERS)).collect();
    let extra = plan
        .copies
        .map(|k| format!("copies = {k}"))
        .unwrap_or_default();
    let exe = std::env::current_exe().map_err(LabError::Exe)?;
    // A node that fails to start or to get ready is killed when dropped.
    let mut procs = Vec::with_capacity(n);
    // The first node bootstraps the Raft log with the lab's policy; the
    // others join it below, as a production cluster is formed (README).
    let mut files = Vec::with_capacity(n);
    for (i, (me, ns)) in specs.iter().zip(&lab.nodes).enumerate() {
        let extra = if i == 0 {
            format!("{extra}\nbootstrap = true")
        } else {
            extra.clone()
        };
        let file = write_config(dir, me, &specs, &extra)?;
        procs.push(NodeProc::start(ns, &exe, &file, me.name)?);
        files.push(file);
    }
    // The others forward nothing until they are joined (the cluster's
    // policy); form_raft waits for them to be ready.
    for p in &mut procs {
        p.wait_joinable(READY_LIMIT)?;
    }
    let ids: Vec<u16> = specs.iter().skip(1).map(|s| s.id).collect();
    let endpoints: Vec<&Endpoint> = procs.iter().map(NodeProc::endpoint).collect();
    form_raft(lab.nodes[0].name(), &exe, &files[0], &ids, &endpoints).map_err(LabError::Raft)?;
    wait_peers_up(&procs, n - 1)?;

    // Every path drawn before any traffic: the plan depends on the seed
    // alone, not on what happened.
    let mut rng = plan.seed;
    let mut draw = |symmetric| traffic::plan(&mut rng, plan.nodes, plan.flows, symmetric);
    let (sym, asym, bypass, udp) = (draw(true), draw(false), draw(false), draw(false));
    let stop: &'static AtomicBool = &INTERRUPTED;
    let before: Vec<SyncSample> = procs.iter().map(sync_now).collect();
    let lag_before = histogram_now(&procs, report::SYNC_LAG);
    let wait_before = histogram_now(&procs, report::HELD_WAIT);
    let outcomes = [
        traffic::tcp_kind(
            lab,
            "tcp_symmetric_inspected",
            sym,
            INSPECTED_PORT,
            TCP_BYTES,
            KIND_TIME_LIMIT,
            stop,
        )?,
        traffic::tcp_kind(
            lab,
            "tcp_asymmetric_inspected",
            asym,
            INSPECTED_PORT,
            TCP_BYTES,
            KIND_TIME_LIMIT,
            stop,
        )?,
        traffic::tcp_kind(
            lab,
            "tcp_asymmetric_bypass",
            bypass,
            BYPASS_PORT,
            TCP_BYTES,
            KIND_TIME_LIMIT,
            stop,
        )?,
        traffic::udp_kind(lab, "udp_asymmetric", udp, KIND_TIME_LIMIT, stop)?,
    ];
    // Every node is read while all still run, then each is stopped for
    // its exit summary's drops.
    let lag_after = histogram_now(&procs, report::SYNC_LAG);
    let wait_after = histogram_now(&procs, report::HELD_WAIT);
    let mut nodes: Vec<MeshNodeReport> = procs
        .iter()
        .zip(&specs)
        .zip(before)
        .map(|((p, me), before)| {
            let metrics = p.metrics().ok();
            let moved = metrics
                .as_deref()
                .map(SyncSample::of)
                .unwrap_or_default()
                .since(before);
            MeshNodeReport {
                node: me.name.to_string(),
                id: me.id,
                conns: p.conn_count().ok(),
                sync_bytes_out: moved.bytes_out,
                sync_events_out: moved.events_out,
                sync_events_to_peers: moved.events_to_peers,
                sync_pulls_sent: moved.pulls_sent,
                roles: metrics.as_deref().map(RoleCounts::of).unwrap_or_default(),
                drops: Default::default(),
                cluster: p
                    .cluster()
                    .map(|v| crate::lab::report::ClusterPlace::of(&v))
                    .unwrap_or_default(),
            }
        })
        .collect();
    for (p, node) in procs.into_iter().zip(&mut nodes) {
        node.drops = p.stop()?.counters.drops;
    }
    if interrupted() {
        return Err(LabError::Interrupted);
    }
    let kinds: Vec<MeshKindReport> = outcomes
        .into_iter()
        .map(|o| kind_report(o, &specs))
        .collect();
    Ok(MeshReport {
        node_count: n,
        copies: plan.copies,
        seed: plan.seed,
        flows_per_kind: plan.flows,
        sync_bytes_per_new_flow: bytes_per_new_flow(&nodes, &kinds),
        pulls_per_new_flow: pulls_per_new_flow(&nodes, &kinds),
        sync_lag_p99_ms: quantile_ms(&lag_before, &lag_after, 0.99),
        held_wait_p50_ms: quantile_ms(&wait_before, &wait_after, 0.5),
        held_wait_p99_ms: quantile_ms(&wait_before, &wait_after, 0.99),
        kinds,
        nodes,
    })
}

/// A kind's outcome, its failed flows named by their nodes.
fn kind_report(o: KindOutcome, specs: &[NodeSpec]) -> MeshKindReport {
    let path = |f: &Flow| format!("{}>{}", specs[f.fwd].name, specs[f.ret].name);
    MeshKindReport {
        outcome: o.report,
        failed_flows: o.failed.iter().take(FAILED_SHOWN).map(path).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(nodes: usize, copies: Option<usize>, flows: usize) -> MeshOptions {
        MeshOptions {
            nodes,
            copies,
            seed: Some(1),
            flows,
            prefix: Some("t".into()),
        }
    }

    #[test]
    fn copies_must_be_one_to_the_number_of_nodes() {
        for (nodes, copies) in [(3, 0), (3, 4), (2, 3)] {
            let e = opts(nodes, Some(copies), 1).check().unwrap_err();
            assert!(matches!(e, LabError::Copies { .. }), "{e}");
            assert_eq!(
                e.to_string(),
                format!("--copies {copies}: must be 1 to {nodes}, the number of nodes")
            );
        }
        for (nodes, copies) in [(3, 1), (3, 3), (6, 2)] {
            assert!(opts(nodes, Some(copies), 1).check().is_ok());
        }
    }

    #[test]
    fn nodes_and_flows_are_bounded() {
        for nodes in [0, 1, 7] {
            let e = opts(nodes, None, 1).check().unwrap_err();
            assert!(matches!(e, LabError::Nodes(n) if n == nodes), "{e}");
        }
        for flows in [0, MAX_FLOWS_PER_KIND + 1] {
            let e = opts(3, None, flows).check().unwrap_err();
            assert!(matches!(e, LabError::Flows(f) if f == flows), "{e}");
        }
        let p = opts(2, None, MAX_FLOWS_PER_KIND).check().unwrap();
        assert_eq!((p.nodes.get(), p.seed, p.prefix.as_str()), (2, 1, "t"));
    }
}
