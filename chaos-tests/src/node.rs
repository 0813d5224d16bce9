//! Real `rampart run` node processes in lab namespaces: their
//! configuration and certificates, start, readiness, table dumps and
//! exit lines. Shared by `rampart lab` and the real-packet tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::netns::Netns;

/// The port of the lab's cluster endpoints.
pub const SYNC_PORT: u16 = 7400;

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
}

/// The nodes of the asymmetric lab ([`crate::netns::AsymLab`]): A and B
/// on the two paths, and C on [`crate::netns::AsymLab::third_node`] — id,
/// name, inside and outside interfaces, cluster address.
const ASYM_NODES: [(u16, &str, &str, &str, &str); 3] = [
    (1, "fw-a", "ca1", "as1", crate::netns::SYNC_A),
    (2, "fw-b", "cb1", "bs1", crate::netns::SYNC_B),
    (3, "fw-c", "nc1", "ns1", crate::netns::SYNC_C),
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
    }
}

/// The tests' policy on the asymmetric lab: the seed's kind of
/// tcp-state-bypass class for server port 5002 (both directions, and
/// admitted from outside), everything else inspected.
pub const BYPASS_5002_POLICY: &str = "\
access-list tcp_bypass extended permit tcp any any eq 5002
access-list tcp_bypass extended permit tcp any eq 5002 any
access-list OUTSIDE_IN extended permit tcp any eq 5002 any
access-group OUTSIDE_IN in interface outside
class-map tcp_bypass
 match access-list tcp_bypass
policy-map global_policy
 class tcp_bypass
  set connection advanced-options tcp-state-bypass
service-policy global_policy global
";

/// Write node `me`'s configuration into `dir` (policy `policy.cfg`, a
/// cluster with every other node of `all`, TLS files in `dir`) and issue
/// its certificate from the CA in `dir` unless it exists. `extra` is
/// appended to the `[cluster]` table (e.g. `hold_ms = 1000`).
pub fn write_config(
    dir: &Path,
    me: &NodeSpec,
    all: &[NodeSpec],
    extra: &str,
) -> Result<PathBuf, String> {
    if !dir.join(format!("node-{}.pem", me.id)).exists() {
        rampart_cluster::pki::issue_node_cert(dir, me.id, me.name, dir)
            .map_err(|e| format!("issuing the certificate of {}: {e}", me.name))?;
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
    let data = dir.join(me.name);
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    let file = dir.join(format!("{}.toml", me.name));
    let text = format!(
        "[node]\nid = {id}\nname = \"{name}\"\ndata_dir = \"{name}\"\npolicy = \"policy.cfg\"\nworkers = {workers}\n\n\
         [[interface]]\nname = \"{inside}\"\nnameif = \"inside\"\nsecurity_level = 100\n\n\
         [[interface]]\nname = \"{outside}\"\nnameif = \"outside\"\nsecurity_level = 0\n\n\
         [cluster]\nlisten = \"{sync}:{SYNC_PORT}\"\npeers = [{peers}]\n\
         ca = \"ca.pem\"\ncert = \"node-{id}.pem\"\nkey = \"node-{id}.key\"\n{extra}\n",
        id = me.id,
        name = me.name,
        inside = me.inside,
        outside = me.outside,
        sync = me.sync,
        workers = me.workers,
        peers = peers.join(", "),
    );
    std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(file)
}

/// The node file's `data_dir` (where SIGUSR1 dumps go), resolved as the
/// node resolves it: relative to the file's directory.
fn data_dir(file: &Path) -> PathBuf {
    let base = file.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let dir = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("data_dir"))
        .filter_map(|rest| rest.trim().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_string())
        .next()
        .unwrap_or_else(|| ".".into());
    base.join(dir)
}

/// A running node process and the lines it has written to stderr.
#[derive(Debug)]
pub struct NodeProc {
    child: Child,
    name: String,
    dir: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
}

impl NodeProc {
    /// Start `exe run --config file` inside `ns`; stderr is collected.
    pub fn start(ns: &Netns, exe: &Path, file: &Path, name: &str) -> Result<NodeProc, String> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .arg(exe)
            .args(["run", "--config"])
            .arg(file)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let sink = lines.clone();
            std::thread::spawn(move || {
                use std::io::BufRead as _;
                for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut v) = sink.lock() {
                        v.push(line);
                    }
                }
            });
        }
        Ok(NodeProc {
            child,
            name: name.to_string(),
            dir: data_dir(file),
            lines,
        })
    }

    /// Start `exe run --config file` inside `ns` on its own, writing its
    /// stderr to `log`, in a process group of its own (so a Ctrl-C meant
    /// for the caller does not reach it); returns its PID once it says it
    /// is ready, or the reason it is not.
    pub fn start_detached(
        ns: &Netns,
        exe: &Path,
        file: &Path,
        name: &str,
        log: &Path,
        limit: Duration,
    ) -> Result<u32, String> {
        use std::os::unix::process::CommandExt as _;
        let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .arg(exe)
            .args(["run", "--config"])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        let t0 = std::time::Instant::now();
        while t0.elapsed() < limit {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains("ready to forward") {
                return Ok(child.id());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{name} exited ({status}):\n{text}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("{name} not ready after {limit:?}"))
    }

    /// The node's PID (`ip netns exec` execs rampart, so it is rampart's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The first stderr line containing `needle`.
    pub fn line_with(&self, needle: &str) -> Option<String> {
        self.lines
            .lock()
            .ok()?
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
    }

    /// Everything written to stderr so far.
    pub fn output(&self) -> String {
        self.lines.lock().map(|v| v.join("\n")).unwrap_or_default()
    }

    /// Wait until the node says it is ready to forward; its ready line.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<String, String> {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < limit {
            if let Some(l) = self.line_with("ready to forward") {
                return Ok(l);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.output()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "{} not ready after {limit:?}:\n{}",
            self.name,
            self.output()
        ))
    }

    /// Ask the node (SIGUSR1) for `show conn detail` and its counters;
    /// returns (table, counters line).
    pub fn dump(&self) -> Result<(String, String), String> {
        let conn = self.dir.join(format!("{}.conn", self.name));
        let counters = self.dir.join(format!("{}.counters", self.name));
        let _ = std::fs::remove_file(&conn);
        let _ = std::fs::remove_file(&counters);
        // SAFETY: the PID is our own child's (`ip netns exec` execs rampart).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGUSR1) };
        for _ in 0..500 {
            if let (Ok(a), Ok(b)) = (
                std::fs::read_to_string(&conn),
                std::fs::read_to_string(&counters),
            ) {
                return Ok((a, b));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!("{} wrote no dump", self.name))
    }

    /// SIGKILL by PID: the node dies as in a crash (no clean shutdown);
    /// what it wrote before is returned.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50));
        self.output()
    }

    /// SIGTERM by PID (SIGKILL after 5 s), then the node's exit lines.
    pub fn stop(mut self) -> Vec<String> {
        // SAFETY: the PID is our own child's.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        for _ in 0..250 {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The reader thread sees EOF once the process is gone.
        std::thread::sleep(Duration::from_millis(50));
        let lines = self.lines.lock().map(|v| v.clone()).unwrap_or_default();
        let exit: Vec<String> = lines
            .iter()
            .filter(|l| l.contains("stopped;") || l.contains("sync;") || l.contains("cluster;"))
            .map(|l| l.trim_start_matches("rampart: ").to_string())
            .collect();
        if exit.is_empty() {
            vec![format!("(no exit line) {}", lines.join(" | "))]
        } else {
            exit
        }
    }
}

/// `key=value` (a number) from status or exit lines; 0 when absent.
pub fn value(text: &str, key: &str) -> u64 {
    let pat = format!("{key}=");
    text.split_whitespace()
        .find_map(|w| w.trim_start_matches('[').strip_prefix(&pat))
        .and_then(|v| v.trim_end_matches(']').parse().ok())
        .unwrap_or(0)
}

impl Drop for NodeProc {
    /// A node the test did not stop (it panicked first) is killed by PID,
    /// never left running.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
