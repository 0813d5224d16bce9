//! `rampart lab`: the asymmetric topology in network namespaces, two
//! real `rampart run` node processes, real TCP and UDP traffic of four
//! kinds, and a report of what happened. Everything is torn down at the
//! end, also on Ctrl-C and on error. `rampart lab --nodes N` does the same
//! with N nodes and random paths ([`mesh`]).
//!
//! Its parts are the lab the real-packet tests use too: [`netns`]
//! (namespaces), [`topology`] (the labs built in them), [`proc`] (node
//! processes, observed through their admin API and exit summary),
//! [`traffic`] and [`report`].

pub mod chaos;
pub mod lossy;
pub mod mesh;
pub mod netns;
pub mod proc;
pub mod report;
pub mod topology;
pub mod traffic;

pub use netns::{
    Netns, NetnsError, NsThread, is_root, no_ipv6, raise_fd_limit, sh, syn_retransmits, tcp_ext,
};
pub use proc::{
    BYPASS_5002_POLICY, Endpoint, ICMP_INSPECTION_POLICY, LogRecord, NodeError, NodeProc, NodeSpec,
    SYNC_PORT, StopOnDrop, asym_node, lab_node, report_stop, write_config, write_standalone,
};
pub use topology::{
    ASYM_CLIENT, ASYM_CLIENT_V6, ASYM_SERVER, ASYM_SERVER_V6, AsymLab, Lab, Role, SYM_CLIENT,
    SYM_SERVER, SYNC_A, SYNC_B, SYNC_C, SYNC_DEV, SYNC_HUB,
};
pub use traffic::{accept_within, fnv, tcp_info};

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rampart_ops::show_conn::ConnFilter;

use proc::{ADMIN_PORT, METRICS_PORT, form_raft};
use report::{LabReport, NodeReport, conn_sample, metric_sample};

/// Why `rampart lab` failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Namespaces and links need root.
    #[error("rampart lab{0} needs root (network namespaces and AF_PACKET)")]
    NotRoot(&'static str),
    /// Building the topology failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A node could not be set up, started, asked or stopped.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A file of the lab.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The lab's cluster CA.
    #[error("creating the lab's cluster CA: {0}")]
    Ca(rampart_cluster::pki::PkiError),
    /// Where the `rampart` binary is.
    #[error("finding the rampart binary: {0}")]
    Exe(std::io::Error),
    /// The report could not be encoded.
    #[error("encoding the report: {0}")]
    Encode(#[from] serde_json::Error),
    /// Ctrl-C.
    #[error("interrupted; the lab was torn down")]
    Interrupted,
    /// A chaos scenario's bench could not do what it was asked.
    #[error("{0}")]
    Bench(String),
    /// The lab's nodes could not form their Raft cluster.
    #[error("forming the Raft cluster: {0}")]
    Raft(String),
    /// `lab up` on a directory that holds a lab.
    #[error("a lab is already up (see {0}/state); run `rampart lab down` first")]
    AlreadyUp(String),
    /// `--nodes` outside what the mesh lab builds.
    #[error(
        "--nodes {0}: the mesh lab has {min} to {max} nodes",
        min = mesh::MIN_MESH_NODES,
        max = mesh::MAX_MESH_NODES
    )]
    Nodes(usize),
    /// `--copies` outside 1 to the number of nodes.
    #[error("--copies {copies}: must be 1 to {nodes}, the number of nodes")]
    Copies {
        /// What was asked.
        copies: usize,
        /// The mesh's nodes.
        nodes: usize,
    },
    /// `--flows` outside its bounds.
    #[error("--flows {0}: must be 1 to {max} per kind", max = mesh::MAX_FLOWS_PER_KIND)]
    Flows(usize),
    /// A socket of the lab's own traffic could not be made.
    #[error("{what}: {source}")]
    Socket {
        /// What the lab was doing.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A node did not see all its peers up in time.
    #[error("{node}: not every peer up after {limit:?} ({states})")]
    PeersNotUp {
        /// The node.
        node: String,
        /// How long it had.
        limit: Duration,
        /// Its peers' states.
        states: String,
    },
}

pub(crate) fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> LabError + '_ {
    move |source| LabError::File {
        path: path.to_path_buf(),
        source,
    }
}

/// Connections (or UDP exchanges) per traffic kind.
const PER_KIND: usize = 10;
/// Bytes each TCP connection carries.
const TCP_BYTES: usize = 64 * 1024;

/// The lab's policy: the seed's bypass class for server port 5002 (both
/// directions), inspected traffic on every other port, and ICMP inspected
/// as most ASA configurations have it (echo and errors by state).
pub const POLICY: &str = "\
access-list tcp_bypass extended permit tcp any any eq 5002
access-list tcp_bypass extended permit tcp any eq 5002 any
access-list OUTSIDE_IN extended permit tcp any eq 5002 any
access-group OUTSIDE_IN in interface outside
class-map tcp_bypass
 description TCP traffic test network
 match access-list tcp_bypass
class-map inspection_default
 match default-inspection-traffic
policy-map global_policy
 class tcp_bypass
  set connection per-client-max 10000
  set connection timeout idle 0:00:15
  set connection advanced-options tcp-state-bypass
 class inspection_default
  inspect icmp
  inspect icmp error
service-policy global_policy global
";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

const NODES: [NodeSpec; 2] = [asym_node(0, 2), asym_node(1, 2)];

/// Node `me`'s file in `dir`: fw-a bootstraps the Raft log with the
/// lab's policy, fw-b waits to be joined (as a production pair is formed,
/// README), so both run the policy Raft commits and share the cluster's
/// sequence-randomization key (docs/sync.md §1).
fn node_file(dir: &Path, me: &NodeSpec) -> Result<std::path::PathBuf, LabError> {
    let extra = if me.id == NODES[0].id {
        "bootstrap = true"
    } else {
        ""
    };
    Ok(write_config(dir, me, &NODES, extra)?)
}

fn start(ns: &Netns, dir: &Path, me: &NodeSpec) -> Result<NodeProc, LabError> {
    let file = node_file(dir, me)?;
    let exe = std::env::current_exe().map_err(LabError::Exe)?;
    Ok(NodeProc::start(ns, &exe, &file, me.name)?)
}

/// `rampart cluster join --id 2` on fw-a, then wait until both nodes use
/// the cluster's sequence key and are ready.
fn join_b(ns: &Netns, dir: &Path, a: &Endpoint, b: &Endpoint) -> Result<(), LabError> {
    let exe = std::env::current_exe().map_err(LabError::Exe)?;
    let file = dir.join(format!("{}.toml", NODES[0].name));
    form_raft(ns.name(), &exe, &file, &[NODES[1].id], &[a, b]).map_err(LabError::Raft)
}

/// From now on, Ctrl-C only sets a flag ([`interrupted`]) that the lab
/// checks, so it can tear everything down before it ends.
pub(crate) fn catch_interrupt() {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as *const () as libc::sighandler_t,
        )
    };
}

/// Whether Ctrl-C was pressed since [`catch_interrupt`].
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Run the lab; returns the report (text, or JSON with `json`).
pub fn run(json: bool) -> Result<String, LabError> {
    if !netns::is_root() {
        return Err(LabError::NotRoot(""));
    }
    catch_interrupt();
    let lab = AsymLab::new(&format!("rp-lab{}", std::process::id()))?;
    let dir = std::env::temp_dir().join(format!("rampart-lab-{}", std::process::id()));
    let outcome = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("policy.cfg"), POLICY))
        .map_err(file_error(&dir))
        .and_then(|()| run_in(&lab, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    drop(lab);
    let report = outcome?;
    if json {
        Ok(report.json()?)
    } else {
        Ok(report.text())
    }
}

/// A node's table, metrics and place in the cluster, taken while it runs.
fn samples(
    n: &NodeProc,
) -> (
    rampart_ops::model::ConnList,
    Vec<String>,
    report::ClusterPlace,
) {
    let inspected_to = (std::net::IpAddr::from([198, 18, 20, 20]), 5001);
    let conns = n
        .conns(&ConnFilter::default())
        .map(|l| conn_sample(l, inspected_to))
        .unwrap_or(rampart_ops::model::ConnList {
            in_use: 0,
            most_used: 0,
            conns: Vec::new(),
            truncated: 0,
        });
    let metrics = n.metrics().map(|t| metric_sample(&t)).unwrap_or_default();
    let place = n
        .cluster()
        .map(|v| report::ClusterPlace::of(&v))
        .unwrap_or_default();
    (conns, metrics, place)
}

fn run_in(lab: &AsymLab, dir: &Path) -> Result<LabReport, LabError> {
    rampart_cluster::pki::init_ca(dir).map_err(LabError::Ca)?;
    // A node that fails to start or to get ready is killed when dropped.
    let mut a = start(&lab.node_a, dir, &NODES[0])?;
    let mut b = start(&lab.node_b, dir, &NODES[1])?;
    a.wait_ready(Duration::from_secs(15))?;
    // fw-b forwards nothing until it is joined (the cluster's policy).
    b.wait_joinable(Duration::from_secs(15))?;
    join_b(&lab.node_a, dir, a.endpoint(), b.endpoint())?;
    let stop = &INTERRUPTED;
    let kinds = vec![
        traffic::tcp_kind(
            lab,
            "tcp_symmetric_inspected",
            SYM_CLIENT,
            SYM_SERVER,
            5001,
            PER_KIND,
            TCP_BYTES,
            stop,
        )?,
        traffic::tcp_kind(
            lab,
            "tcp_asymmetric_inspected",
            ASYM_CLIENT,
            ASYM_SERVER,
            5001,
            PER_KIND,
            TCP_BYTES,
            stop,
        )?,
        traffic::tcp_kind(
            lab,
            "tcp_asymmetric_bypass",
            ASYM_CLIENT,
            ASYM_SERVER,
            5002,
            PER_KIND,
            TCP_BYTES,
            stop,
        )?,
        traffic::udp_kind(lab, "udp_asymmetric", PER_KIND, stop)?,
    ];
    let (sa, sb) = (samples(&a), samples(&b));
    let nodes = vec![
        NodeReport::new(a.stop()?, sa.0, sa.1).with_cluster(sa.2),
        NodeReport::new(b.stop()?, sb.0, sb.1).with_cluster(sb.2),
    ];
    if INTERRUPTED.load(Ordering::Relaxed) {
        return Err(LabError::Interrupted);
    }
    Ok(LabReport { kinds, nodes })
}

// === lab up / lab down ===

/// Where a lab kept running by `lab up` keeps its files and its state.
pub const UP_DIR: &str = "/run/rampart-lab";
/// The namespace prefix of a kept lab (short, so people can type it).
pub const UP_PREFIX: &str = "rp-lab";
/// How long `lab down` waits for a node to stop on SIGTERM.
const DOWN_WAIT: Duration = Duration::from_secs(5);

/// `rampart lab up`: build the topology, start both nodes, and leave them
/// running for a person to explore; `rampart lab down` removes it all.
pub fn up(prefix: &str, dir: &Path) -> Result<String, LabError> {
    if !netns::is_root() {
        return Err(LabError::NotRoot(" up"));
    }
    if dir.join("state").exists() {
        return Err(LabError::AlreadyUp(dir.display().to_string()));
    }
    std::fs::create_dir_all(dir).map_err(file_error(dir))?;
    let policy = dir.join("policy.cfg");
    std::fs::write(&policy, POLICY).map_err(file_error(&policy))?;
    if !dir.join(rampart_cluster::pki::CA_CERT).exists() {
        rampart_cluster::pki::init_ca(dir).map_err(LabError::Ca)?;
    }
    let lab = AsymLab::new(prefix)?;
    let mut state: Vec<String> = lab.names().iter().map(|n| format!("ns {n}")).collect();
    let state_file = dir.join("state");
    let save = |state: &[String]| {
        std::fs::write(&state_file, state.join("\n") + "\n").map_err(file_error(&state_file))
    };
    // Namespaces first: a failure below leaves a state that `down` clears.
    save(&state)?;
    let started = (|| -> Result<(), LabError> {
        let exe = std::env::current_exe().map_err(LabError::Exe)?;
        for (me, ns) in NODES.iter().zip([&lab.node_a, &lab.node_b]) {
            let file = node_file(dir, me)?;
            let log = dir.join(format!("{}.log", me.name));
            let limit = Duration::from_secs(15);
            let joining = me.id != NODES[0].id;
            let pid = NodeProc::start_detached(ns, &exe, &file, me.name, &log, limit, joining)?;
            state.push(format!("pid {pid}"));
            save(&state)?;
        }
        let endpoint = |i: usize, ns: &Netns| {
            let file = dir.join(format!("{}.toml", NODES[i].name));
            Endpoint::of(ns.name(), &file, NODES[i].name)
        };
        let (a, b) = (endpoint(0, &lab.node_a)?, endpoint(1, &lab.node_b)?);
        join_b(&lab.node_a, dir, &a, &b)
    })();
    lab.keep();
    if let Err(e) = started {
        // Undo what was made: the nodes started so far, the namespaces.
        let _ = down(dir);
        return Err(e);
    }
    Ok(format!(
        "The lab is up: client {c} and server {s}, nodes fw-a ({a}) and fw-b ({b}),\n\
         one Raft cluster (fw-a bootstrapped it with the lab's policy, fw-b joined).\n\
         Asymmetric flows: {ASYM_CLIENT} -> {ASYM_SERVER} (out via fw-a, back via fw-b);\n\
         symmetric flows: {SYM_CLIENT} -> {SYM_SERVER} (both ways via fw-a).\n\
         Port 5002 is in a tcp-state-bypass class; everything else is inspected.\n\n\
         Try:\n  ip netns exec {s} iperf3 -s -B {ASYM_SERVER} &\n  \
         ip netns exec {c} iperf3 -c {ASYM_SERVER} -B {ASYM_CLIENT} -t 5\n  \
         ip netns exec {c} ping -c 3 -I {ASYM_CLIENT} {ASYM_SERVER}\n\n\
         Node files, certificates and logs are in {d}; `kill -USR1` a node to write\n\
         its `show conn detail` to {d}/<name>.conn. In its namespace, each node serves its\n\
         admin API on 127.0.0.1:{ADMIN_PORT} and its metrics on http://<cluster address>:{METRICS_PORT}/metrics\n\
         (fw-a: {sync_a}):\n  \
         ip netns exec {a} {exe} show conn --config {d}/fw-a.toml\n  \
         ip netns exec {a} {exe} show cluster --config {d}/fw-a.toml\n\
         Remove it all with `rampart lab down`.\n",
        c = ns_name(prefix, "c"),
        s = ns_name(prefix, "s"),
        a = ns_name(prefix, "a"),
        b = ns_name(prefix, "b"),
        d = dir.display(),
        exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "rampart".into()),
        sync_a = NODES[0].sync,
    ))
}

/// The kept lab's namespace of `role`.
fn ns_name(prefix: &str, role: &str) -> String {
    format!("{prefix}-{role}")
}

/// `rampart lab down`: stop the nodes `lab up` started (by PID, checked
/// to still be ours) and remove its namespaces and files.
pub fn down(dir: &Path) -> Result<String, LabError> {
    let state = match std::fs::read_to_string(dir.join("state")) {
        Ok(s) => s,
        Err(_) => return Ok("no lab is up\n".into()),
    };
    let mut out = String::new();
    for pid in state.lines().filter_map(|l| l.strip_prefix("pid ")) {
        let Ok(pid) = pid.trim().parse::<libc::pid_t>() else {
            continue;
        };
        // Only a process that is still one of the lab's nodes: a PID may
        // have been reused since `lab up`.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains(" run --config ") || !cmdline.contains(&*dir.to_string_lossy()) {
            continue;
        }
        // SAFETY: signalling a PID we started, checked above.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let t0 = std::time::Instant::now();
        while Path::new(&format!("/proc/{pid}")).exists() && t0.elapsed() < DOWN_WAIT {
            std::thread::sleep(Duration::from_millis(20));
        }
        if Path::new(&format!("/proc/{pid}")).exists() {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = writeln!(out, "stopped node process {pid}");
    }
    for ns in state.lines().filter_map(|l| l.strip_prefix("ns ")) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", ns.trim()])
            .status();
        let _ = writeln!(out, "removed namespace {}", ns.trim());
    }
    std::fs::remove_dir_all(dir).map_err(file_error(dir))?;
    out.push_str("the lab is down\n");
    Ok(out)
}
