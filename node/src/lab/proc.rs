//! Real `rampart run` node processes in lab namespaces: their node files
//! and certificates, start and stop, observed through typed status only —
//! the node's admin API on its namespace's loopback (`/readyz`, `show
//! conn`, counters, cluster, running-config, `/metrics`) and, when it
//! stops, its exit [`Summary`] (JSON on stdout with `--log-format json`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rampart_ops::client::{Client, ClientError};
use rampart_ops::model::{AccessLists, ClusterView, ConnList, Counters, Health, RunningConfig};
use rampart_ops::show_conn::ConnFilter;
use serde::Deserialize;

use super::netns::{Netns, NetnsError, enter_and_spawn};
use super::topology::{SYNC_A, SYNC_B, SYNC_C};
use crate::config::{ConfigError, NodeConfig};
use crate::summary::Summary;

/// The port of the lab's cluster endpoints.
pub const SYNC_PORT: u16 = 7400;
/// The port of a lab node's `/metrics` (on its cluster address, or on its
/// loopback without a cluster).
pub const METRICS_PORT: u16 = 9460;
/// The port of a lab node's admin API, on its namespace's loopback.
pub const ADMIN_PORT: u16 = 9461;

/// How long a node has to stop on SIGTERM before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// How often a wait polls.
const POLL: Duration = Duration::from_millis(20);

/// Why a node could not be set up, started, asked or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The node's certificate could not be issued.
    #[error("issuing the certificate of {name}: {source}")]
    Cert {
        /// The node.
        name: String,
        /// Why.
        source: rampart_cluster::pki::PkiError,
    },
    /// The node file does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The process could not be started.
    #[error("starting {name}: {source}")]
    Spawn {
        /// The node.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// The process ended when it should run.
    #[error("{name} exited ({status}):\n{output}")]
    Exited {
        /// The node.
        name: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it logged.
        output: String,
    },
    /// The node did not become ready in time.
    #[error("{name} not ready after {limit:?} ({why}):\n{output}")]
    NotReady {
        /// The node.
        name: String,
        /// How long it had.
        limit: Duration,
        /// The last answer of its `/readyz`, or why there was none.
        why: String,
        /// What it logged.
        output: String,
    },
    /// The node file has no `[ops] admin` address to ask.
    #[error("{name}: its node file has no [ops] admin address")]
    NoAdmin {
        /// The node.
        name: String,
    },
    /// The node's admin API did not answer as asked.
    #[error("{name}: {source}")]
    Admin {
        /// The node.
        name: String,
        /// Why.
        source: ClientError,
    },
    /// Entering the node's namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// The node stopped without a readable exit summary.
    #[error("{name} left no exit summary ({why}):\n{output}")]
    NoSummary {
        /// The node.
        name: String,
        /// Why it could not be read.
        why: String,
        /// What it logged.
        output: String,
    },
}

/// A lab node: id, name, data interfaces and cluster address.
#[derive(Debug, Clone, Copy)]
pub struct NodeSpec {
    /// Node id.
    pub id: u16,
    /// Node name.
    pub name: &'static str,
    /// Inside data interface.
    pub inside: &'static str,
    /// Outside data interface.
    pub outside: &'static str,
    /// Address on the cluster link.
    pub sync: &'static str,
    /// Worker threads (`[node] workers`).
    pub workers: usize,
    /// The connection log (`[ops] conn_log`; off in the lab's nodes
    /// unless asked for: it costs the nodes work per connection).
    pub conn_log: bool,
}

/// The nodes of the asymmetric lab ([`super::topology::AsymLab`]): A and
/// B on the two paths, and C on its third node — id, name, inside and
/// outside interfaces, cluster address.
const ASYM_NODES: [(u16, &str, &str, &str, &str); 3] = [
    (1, "fw-a", "ca1", "as1", SYNC_A),
    (2, "fw-b", "cb1", "bs1", SYNC_B),
    (3, "fw-c", "nc1", "ns1", SYNC_C),
];

/// Node `i` (0 = A, 1 = B, 2 = C) of the asymmetric lab with `workers`
/// worker threads.
pub const fn asym_node(i: usize, workers: usize) -> NodeSpec {
    let (id, name, inside, outside, sync) = ASYM_NODES[i];
    NodeSpec {
        id,
        name,
        inside,
        outside,
        sync,
        workers,
        conn_log: false,
    }
}

/// The node of [`super::topology::Lab`] (`c1` inside, `s1` outside), named
/// `name`, with `workers` worker threads; it has no cluster address.
pub const fn lab_node(name: &'static str, workers: usize) -> NodeSpec {
    NodeSpec {
        id: 1,
        name,
        inside: "c1",
        outside: "s1",
        sync: "127.0.0.1",
        workers,
        conn_log: false,
    }
}

/// A global policy that only inspects ICMP (`inspect icmp` in the
/// inspection class), as most ASA sites add to the factory configuration:
/// echo replies then pass by state, not by access rule.
pub const ICMP_INSPECTION_POLICY: &str = "\
class-map inspection_default
 match default-inspection-traffic
policy-map global_policy
 class inspection_default
  inspect icmp
service-policy global_policy global
";

/// The tests' policy on the asymmetric lab: the seed's kind of
/// tcp-state-bypass class for server port 5002 (both directions, and
/// admitted from outside), everything else inspected, ICMP included.
pub const BYPASS_5002_POLICY: &str = "\
access-list tcp_bypass extended permit tcp any any eq 5002
access-list tcp_bypass extended permit tcp any eq 5002 any
access-list OUTSIDE_IN extended permit tcp any eq 5002 any
access-group OUTSIDE_IN in interface outside
class-map tcp_bypass
 match access-list tcp_bypass
class-map inspection_default
 match default-inspection-traffic
policy-map global_policy
 class tcp_bypass
  set connection advanced-options tcp-state-bypass
 class inspection_default
  inspect icmp
  inspect icmp error
service-policy global_policy global
";

fn write(path: &Path, text: &str) -> Result<(), NodeError> {
    std::fs::write(path, text).map_err(|source| NodeError::File {
        path: path.to_path_buf(),
        source,
    })
}

/// The `[node]`, interfaces and `[ops]` of `me`'s file (`node_extra`
/// appended to `[node]`), its data directory created in `dir`.
fn node_part(
    dir: &Path,
    me: &NodeSpec,
    node_extra: &str,
    metrics: &str,
) -> Result<String, NodeError> {
    let data = dir.join(me.name);
    std::fs::create_dir_all(&data).map_err(|source| NodeError::File { path: data, source })?;
    Ok(format!(
        "[node]\nid = {id}\nname = \"{name}\"\ndata_dir = \"{name}\"\npolicy = \"policy.cfg\"\nworkers = {workers}\n{node_extra}\n\n\
         [[interface]]\nname = \"{inside}\"\nnameif = \"inside\"\nsecurity_level = 100\n\n\
         [[interface]]\nname = \"{outside}\"\nnameif = \"outside\"\nsecurity_level = 0\n\n\
         [ops]\nmetrics = \"{metrics}:{METRICS_PORT}\"\nadmin = \"127.0.0.1:{ADMIN_PORT}\"\nconn_log = {conn_log}\n\n",
        id = me.id,
        name = me.name,
        inside = me.inside,
        outside = me.outside,
        workers = me.workers,
        conn_log = me.conn_log,
    ))
}

/// Write node `me`'s file into `dir` (policy `policy.cfg`, `[ops]` with
/// metrics on its cluster address and the admin API on its loopback, a
/// cluster with every other node of `all`, TLS files in `dir`) and issue
/// its certificate from the CA in `dir` unless it exists. `extra` is
/// appended to the `[cluster]` table (e.g. `hold_ms = 1000`).
pub fn write_config(
    dir: &Path,
    me: &NodeSpec,
    all: &[NodeSpec],
    extra: &str,
) -> Result<PathBuf, NodeError> {
    if !dir.join(format!("node-{}.pem", me.id)).exists() {
        rampart_cluster::pki::issue_node_cert(dir, me.id, me.name, dir).map_err(|source| {
            NodeError::Cert {
                name: me.name.to_string(),
                source,
            }
        })?;
    }
    let peers: Vec<String> = all
        .iter()
        .filter(|p| p.id != me.id)
        .map(|p| {
            format!(
                "{{ id = {}, name = \"{}\", address = \"{}:{SYNC_PORT}\" }}",
                p.id, p.name, p.sync
            )
        })
        .collect();
    let file = dir.join(format!("{}.toml", me.name));
    let text = format!(
        "{}[cluster]\nlisten = \"{sync}:{SYNC_PORT}\"\npeers = [{peers}]\n\
         ca = \"ca.pem\"\ncert = \"node-{id}.pem\"\nkey = \"node-{id}.key\"\n{extra}\n",
        node_part(dir, me, "", me.sync)?,
        id = me.id,
        sync = me.sync,
        peers = peers.join(", "),
    );
    write(&file, &text)?;
    Ok(file)
}

/// Write the file of node `me` without a cluster into `dir` (policy
/// `policy.cfg`, `[ops]` on its loopback); `node_extra` is appended to its
/// `[node]` table (e.g. `offload = false`).
pub fn write_standalone(dir: &Path, me: &NodeSpec, node_extra: &str) -> Result<PathBuf, NodeError> {
    let file = dir.join(format!("{}.toml", me.name));
    write(&file, &node_part(dir, me, node_extra, "127.0.0.1")?)?;
    Ok(file)
}

/// One record of a node's JSON log (`--log-format json`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogRecord {
    /// `INFO`, `WARN`, …
    pub level: String,
    /// The message.
    #[serde(default)]
    pub message: String,
    /// Where it comes from (`rampart::asa` for the connection log).
    #[serde(default)]
    pub target: String,
    /// The ASA message id, for the connection log.
    #[serde(default)]
    pub asa_id: Option<u32>,
}

/// How to reach a node's admin API and `/metrics` from outside its
/// namespace.
#[derive(Debug, Clone)]
pub struct Endpoint {
    name: String,
    ns: String,
    admin: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
    token: PathBuf,
}

impl Endpoint {
    /// The endpoints named by node file `file` of node `name` in `ns`.
    pub fn of(ns: &str, file: &Path, name: &str) -> Result<Endpoint, NodeError> {
        let cfg = NodeConfig::load(file)?;
        Ok(Endpoint {
            name: name.to_string(),
            ns: ns.to_string(),
            admin: cfg.ops.as_ref().and_then(|o| o.admin),
            metrics: cfg.ops.as_ref().and_then(|o| o.metrics),
            token: cfg.token_path(file),
        })
    }

    /// Ask `addr` with a client from inside the node's namespace.
    fn ask<T: Send + 'static>(
        &self,
        addr: Option<SocketAddr>,
        token: bool,
        f: impl FnOnce(&Client, SocketAddr) -> Result<T, ClientError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let addr = addr.ok_or_else(|| NodeError::NoAdmin {
            name: self.name.clone(),
        })?;
        let token = if token {
            Some(
                std::fs::read_to_string(&self.token)
                    .map_err(|source| NodeError::File {
                        path: self.token.clone(),
                        source,
                    })?
                    .trim()
                    .to_string(),
            )
        } else {
            None
        };
        let client = Client::new(addr, token);
        let path = PathBuf::from("/var/run/netns").join(&self.ns);
        let answer = enter_and_spawn(&self.ns, path, move || f(&client, addr))?
            .join()
            .map_err(|_| NetnsError::Panicked(self.ns.clone()))?;
        answer.map_err(|source| NodeError::Admin {
            name: self.name.clone(),
            source,
        })
    }

    /// `/readyz`: whether the node forwards, and why not.
    pub fn health(&self) -> Result<Health, NodeError> {
        self.ask(self.admin, false, |c, addr| {
            let r = c.request("GET", "/readyz", b"", "")?;
            serde_json::from_slice(&r.body).map_err(|e| ClientError::Protocol {
                addr: addr.into(),
                what: format!("/readyz: {e}"),
            })
        })
    }

    /// `show conn` (rows matching `filter`).
    pub fn conns(&self, filter: &ConnFilter) -> Result<ConnList, NodeError> {
        let filter = filter.clone();
        self.ask(self.admin, false, move |c, _| c.conns(&filter, false))
    }

    /// `show conn count`: connections in use.
    pub fn conn_count(&self) -> Result<u64, NodeError> {
        self.ask(self.admin, false, |c, _| {
            c.conns(&ConnFilter::default(), true).map(|l| l.in_use)
        })
    }

    /// `show counters`: drops by reason, frames forwarded.
    pub fn counters(&self) -> Result<Counters, NodeError> {
        self.ask(self.admin, false, |c, _| c.counters())
    }

    /// `show cluster`: the node, its peers, sync totals, Raft, policy.
    pub fn cluster(&self) -> Result<ClusterView, NodeError> {
        self.ask(self.admin, false, |c, _| c.cluster())
    }

    /// `show running-config`.
    pub fn running_config(&self) -> Result<RunningConfig, NodeError> {
        self.ask(self.admin, false, |c, _| c.running_config())
    }

    /// `clear conn` (with the node's admin token): connections removed.
    pub fn clear_conns(&self, filter: &ConnFilter) -> Result<u64, NodeError> {
        let filter = filter.clone();
        self.ask(self.admin, true, move |c, _| {
            c.clear_conns(&filter).map(|r| r.deleted)
        })
    }

    /// `show access-list [NAME]`: the lists in force with each entry's
    /// hit count.
    pub fn access_lists(&self, name: Option<&str>) -> Result<AccessLists, NodeError> {
        let name = name.map(str::to_string);
        self.ask(self.admin, false, move |c, _| {
            c.access_lists(name.as_deref())
        })
    }

    /// `show time-range`: the ranges of the policy in force, active or not.
    pub fn time_ranges(&self) -> Result<rampart_ops::show_time_range::TimeRanges, NodeError> {
        self.ask(self.admin, false, |c, _| c.time_ranges())
    }

    /// `clear access-list [NAME] counters` (with the node's admin token):
    /// the lists cleared.
    pub fn clear_access_lists(&self, name: Option<&str>) -> Result<Vec<String>, NodeError> {
        let name = name.map(str::to_string);
        self.ask(self.admin, true, move |c, _| {
            c.clear_access_lists(name.as_deref()).map(|r| r.cleared)
        })
    }

    /// Ask the admin API with `f` from inside the node's namespace, with
    /// the node's admin token (`admin_token`) or no token.
    pub fn admin<T: Send + 'static>(
        &self,
        admin_token: bool,
        f: impl FnOnce(&Client) -> Result<T, ClientError> + Send + 'static,
    ) -> Result<T, NodeError> {
        self.ask(self.admin, admin_token, move |c, _| f(c))
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> Result<String, NodeError> {
        self.ask(self.metrics, false, |c, _| {
            let r = c.request("GET", "/metrics", b"", "")?;
            Ok(String::from_utf8_lossy(&r.body).into_owned())
        })
    }

    /// Wait until `/readyz` says ready, at most `limit`; `exited` says
    /// whether the process has ended (then waiting stops at once).
    fn wait_ready(
        &self,
        limit: Duration,
        exited: impl FnMut() -> Option<std::process::ExitStatus>,
        output: impl Fn() -> String,
    ) -> Result<(), NodeError> {
        self.wait_health(limit, exited, output, |h| h.ready)
    }

    /// Wait until `/readyz` says ready but for the cluster's policy, which
    /// a node that has not joined waits for: the node to join.
    fn wait_joinable(
        &self,
        limit: Duration,
        exited: impl FnMut() -> Option<std::process::ExitStatus>,
        output: impl Fn() -> String,
    ) -> Result<(), NodeError> {
        self.wait_health(limit, exited, output, |h| {
            h.reasons
                .iter()
                .all(|r| r.starts_with(rampart_ops::model::AWAITING_CLUSTER_POLICY))
        })
    }

    /// Wait until `/readyz` answers what `good` takes, at most `limit`.
    fn wait_health(
        &self,
        limit: Duration,
        mut exited: impl FnMut() -> Option<std::process::ExitStatus>,
        output: impl Fn() -> String,
        good: impl Fn(&Health) -> bool,
    ) -> Result<(), NodeError> {
        let t0 = Instant::now();
        let mut why = String::from("no answer yet");
        while t0.elapsed() < limit {
            if let Some(status) = exited() {
                return Err(NodeError::Exited {
                    name: self.name.clone(),
                    status,
                    output: output(),
                });
            }
            match self.health() {
                Ok(h) if good(&h) => return Ok(()),
                Ok(h) => why = h.reasons.join(", "),
                Err(e) => why = e.to_string(),
            }
            std::thread::sleep(POLL);
        }
        Err(NodeError::NotReady {
            name: self.name.clone(),
            limit,
            why,
            output: output(),
        })
    }
}

/// Collect what `from` writes, line by line, into `sink`.
fn collect(
    from: impl std::io::Read + Send + 'static,
    sink: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(from).lines().map_while(Result::ok) {
            if let Ok(mut v) = sink.lock() {
                v.push(line);
            }
        }
    })
}

/// The `rampart run` command of node file `file` in namespace `ns`.
fn run_command(ns: &Netns, exe: &Path, file: &Path, json: bool) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns.name()]).arg(exe);
    if json {
        cmd.args(["--log-format", "json"]);
    }
    cmd.args(["run", "--config"]).arg(file);
    cmd.env_remove("RAMPART_LOG_FORMAT");
    cmd
}

/// A running node process: its endpoints, its log (JSON records, on
/// stderr) and its exit summary (on stdout).
#[derive(Debug)]
pub struct NodeProc {
    child: Child,
    endpoint: Endpoint,
    log: Arc<Mutex<Vec<String>>>,
    out: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl NodeProc {
    /// Start `exe --log-format json run --config file` inside `ns`.
    pub fn start(ns: &Netns, exe: &Path, file: &Path, name: &str) -> Result<NodeProc, NodeError> {
        let endpoint = Endpoint::of(ns.name(), file, name)?;
        let mut child = run_command(ns, exe, file, true)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| NodeError::Spawn {
                name: name.to_string(),
                source,
            })?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(err) = child.stderr.take() {
            readers.push(collect(err, log.clone()));
        }
        if let Some(o) = child.stdout.take() {
            readers.push(collect(o, out.clone()));
        }
        Ok(NodeProc {
            child,
            endpoint,
            log,
            out,
            readers,
        })
    }

    /// Start `exe run --config file` inside `ns` on its own, logging for
    /// people to `log`, in a process group of its own (so a Ctrl-C meant
    /// for the caller does not reach it); returns its PID once its
    /// `/readyz` says ready (with `joining`, ready but for the cluster's
    /// policy: a node to be joined), or the reason it is not.
    pub fn start_detached(
        ns: &Netns,
        exe: &Path,
        file: &Path,
        name: &str,
        log: &Path,
        limit: Duration,
        joining: bool,
    ) -> Result<u32, NodeError> {
        use std::os::unix::process::CommandExt as _;
        let endpoint = Endpoint::of(ns.name(), file, name)?;
        let out = std::fs::File::create(log).map_err(|source| NodeError::File {
            path: log.to_path_buf(),
            source,
        })?;
        let mut child = run_command(ns, exe, file, false)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .process_group(0)
            .spawn()
            .map_err(|source| NodeError::Spawn {
                name: name.to_string(),
                source,
            })?;
        let output = || std::fs::read_to_string(log).unwrap_or_default();
        let exited = || child.try_wait().ok().flatten();
        let waited = if joining {
            endpoint.wait_joinable(limit, exited, output)
        } else {
            endpoint.wait_ready(limit, exited, output)
        };
        match waited {
            Ok(()) => Ok(child.id()),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.endpoint.name
    }

    /// Its admin API and `/metrics`.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The node's PID (`ip netns exec` execs rampart, so it is rampart's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Everything it has logged so far, as written (for messages).
    pub fn output(&self) -> String {
        self.log.lock().map(|v| v.join("\n")).unwrap_or_default()
    }

    /// Its log records so far (lines that are not JSON records, such as a
    /// start-up error, are left out).
    pub fn log(&self) -> Vec<LogRecord> {
        self.log
            .lock()
            .map(|v| {
                v.iter()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wait until its `/readyz` says ready (the first bulk sync done, a
    /// policy loaded), at most `limit`.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<(), NodeError> {
        let (child, log) = (&mut self.child, &self.log);
        self.endpoint.wait_ready(
            limit,
            || child.try_wait().ok().flatten(),
            || log.lock().map(|v| v.join("\n")).unwrap_or_default(),
        )
    }

    /// Wait until its `/readyz` says ready but for the cluster's policy
    /// (a node that waits to be joined), at most `limit`.
    pub fn wait_joinable(&mut self, limit: Duration) -> Result<(), NodeError> {
        let (child, log) = (&mut self.child, &self.log);
        self.endpoint.wait_joinable(
            limit,
            || child.try_wait().ok().flatten(),
            || log.lock().map(|v| v.join("\n")).unwrap_or_default(),
        )
    }

    /// See [`Endpoint::health`].
    pub fn health(&self) -> Result<Health, NodeError> {
        self.endpoint.health()
    }

    /// See [`Endpoint::conns`].
    pub fn conns(&self, filter: &ConnFilter) -> Result<ConnList, NodeError> {
        self.endpoint.conns(filter)
    }

    /// See [`Endpoint::conn_count`].
    pub fn conn_count(&self) -> Result<u64, NodeError> {
        self.endpoint.conn_count()
    }

    /// See [`Endpoint::counters`].
    pub fn counters(&self) -> Result<Counters, NodeError> {
        self.endpoint.counters()
    }

    /// See [`Endpoint::cluster`].
    pub fn cluster(&self) -> Result<ClusterView, NodeError> {
        self.endpoint.cluster()
    }

    /// See [`Endpoint::running_config`].
    pub fn running_config(&self) -> Result<RunningConfig, NodeError> {
        self.endpoint.running_config()
    }

    /// See [`Endpoint::metrics`].
    pub fn metrics(&self) -> Result<String, NodeError> {
        self.endpoint.metrics()
    }

    /// See [`Endpoint::access_lists`].
    pub fn access_lists(&self, name: Option<&str>) -> Result<AccessLists, NodeError> {
        self.endpoint.access_lists(name)
    }

    /// Wait for the output readers (they end when the process is gone).
    fn drain(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    /// SIGKILL by PID: the node dies as in a crash (no clean shutdown);
    /// what it logged before is returned.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.drain();
        self.output()
    }

    /// SIGTERM by PID (SIGKILL after 5 s), then its exit summary; an
    /// error unless it stopped cleanly (exit status 0) with one.
    pub fn stop(mut self) -> Result<Summary, NodeError> {
        // SAFETY: the PID is our own child's.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let t0 = Instant::now();
        let mut status = None;
        while t0.elapsed() < STOP_WAIT {
            if let Ok(Some(s)) = self.child.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(POLL);
        }
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.drain();
        let last = self
            .out
            .lock()
            .ok()
            .and_then(|v| v.iter().rev().find(|l| !l.trim().is_empty()).cloned());
        let why = match (&last, status) {
            (_, None) => format!("it did not stop within {STOP_WAIT:?} and was killed"),
            (_, Some(s)) if !s.success() => {
                return Err(NodeError::Exited {
                    name: self.endpoint.name.clone(),
                    status: s,
                    output: self.output(),
                });
            }
            (None, Some(s)) => format!("nothing on stdout; exit {s}"),
            (Some(line), Some(_)) => match serde_json::from_str::<Summary>(line) {
                Ok(summary) => return Ok(summary),
                Err(e) => format!("{e}: {line}"),
            },
        };
        Err(NodeError::NoSummary {
            name: self.endpoint.name.clone(),
            why,
            output: self.output(),
        })
    }
}

impl Drop for NodeProc {
    /// A node the caller did not stop (it failed first) is killed by PID,
    /// never left running.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Node processes a test started, stopped when dropped (SIGTERM by PID,
/// as [`NodeProc::stop`]), also when an assert failed first; each one's
/// exit summary, or why it could not stop, goes to stderr.
#[derive(Debug)]
pub struct StopOnDrop(pub Vec<NodeProc>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        for n in self.0.drain(..) {
            report_stop(n);
        }
    }
}

/// Stop a node and print its exit summary (or why it could not stop).
pub fn report_stop(n: NodeProc) {
    let name = n.name().to_string();
    match n.stop() {
        Ok(summary) => eprintln!("{name}: {}", summary.lines().join("\n")),
        Err(e) => eprintln!("{e}"),
    }
}

/// `rampart <args> --config <file>` in namespace `ns`, started (not
/// waited for), its output piped: see [`finish_command`].
pub fn cli(ns: &str, exe: &Path, file: &Path, args: &[&str]) -> std::io::Result<Child> {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(exe)
        .args(args)
        .arg("--config")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// Wait for a command we started, at most `limit` (then it is killed by
/// PID): exit code, stdout, stderr.
pub fn finish_command(mut c: Child, limit: Duration) -> (Option<i32>, String, String) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if let Ok(Some(_)) = c.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if matches!(c.try_wait(), Ok(None)) {
        let _ = c.kill();
    }
    match c.wait_with_output() {
        Ok(o) => (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr).trim().to_string(),
        ),
        Err(e) => (None, String::new(), e.to_string()),
    }
}

/// `rampart <args> --config <file>` in namespace `ns`, at most `limit`:
/// its stdout when it exits 0, else what it said (its code, stdout and
/// stderr).
pub fn cli_output(
    ns: &str,
    exe: &Path,
    file: &Path,
    args: &[&str],
    limit: Duration,
) -> Result<String, String> {
    let child = cli(ns, exe, file, args).map_err(|e| format!("rampart {args:?}: {e}"))?;
    match finish_command(child, limit) {
        (Some(0), out, _) => Ok(out),
        (code, out, err) => Err(format!(
            "rampart {args:?} exited {code:?} (or ran past {limit:?}): {out} {err}"
        )),
    }
}

/// A scratch directory of a test, made empty at its start and removed
/// when dropped (also when the test fails).
#[derive(Debug)]
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    /// `<temp>/<name>-<pid>`, empty.
    pub fn new(name: &str) -> std::io::Result<ScratchDir> {
        let d = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d)?;
        Ok(ScratchDir(d))
    }

    /// [`new`](Self::new), holding a cluster CA and `policy` as
    /// `policy.cfg` (what [`write_config`]'s node files name).
    pub fn for_cluster(name: &str, policy: &str) -> Result<ScratchDir, String> {
        let d = ScratchDir::new(name).map_err(|e| format!("{name}: {e}"))?;
        rampart_cluster::pki::init_ca(&d.0).map_err(|e| format!("the cluster CA: {e}"))?;
        std::fs::write(d.0.join("policy.cfg"), policy).map_err(|e| format!("policy.cfg: {e}"))?;
        Ok(d)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Form the Raft cluster as a production cluster is formed (README): the
/// node of `leader_file` (in namespace `ns`) bootstrapped the log, and
/// `rampart cluster join --id N` on it brings in each of `ids` in turn;
/// then wait until every node of `all` installed the cluster's
/// sequence-randomization key in its workers (docs/sync.md §1) and is
/// ready (a joined node forwards once the cluster's policy reached it).
pub fn form_raft(
    ns: &str,
    exe: &Path,
    leader_file: &Path,
    ids: &[u16],
    all: &[&Endpoint],
) -> Result<(), String> {
    for id in ids {
        let id = id.to_string();
        let join = cli(ns, exe, leader_file, &["cluster", "join", "--id", &id])
            .map_err(|e| format!("cluster join {id}: {e}"))?;
        let (code, out, err) = finish_command(join, RAFT_JOIN_WAIT);
        if code != Some(0) {
            return Err(format!("cluster join {id}: {out} {err}"));
        }
    }
    let t0 = Instant::now();
    let shared = |e: &&Endpoint| e.cluster().is_ok_and(|v| v.status.seq_key_shared);
    while !all.iter().all(shared) {
        if t0.elapsed() > SEQ_KEY_WAIT {
            return Err("the nodes never all used the cluster's sequence key".into());
        }
        std::thread::sleep(POLL);
    }
    // A joined node forwards once the cluster's policy reached it.
    for e in all {
        e.wait_ready(SEQ_KEY_WAIT, || None, String::new)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// How long one `cluster join` may take (a learner's catch-up, then its
/// promotion to voter).
const RAFT_JOIN_WAIT: Duration = Duration::from_secs(40);
/// How long the nodes have to install the cluster's key once joined.
const SEQ_KEY_WAIT: Duration = Duration::from_secs(20);
