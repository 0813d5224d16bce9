//! A real Prometheus server scrapes two real `rampart run` nodes of the
//! asymmetric lab while real traffic crosses them, loads the shipped alert
//! rules, and its HTTP query API returns the expected series and values:
//!
//! 1. both targets up, rules loaded and evaluating without error;
//! 2. asymmetric tcp-state-bypass connections: bypass entries > 0 on both
//!    nodes while the sync event counters stay 0;
//! 3. asymmetric inspected connections: sync events sent by A and applied
//!    by B, peers up, replication lag observed;
//! 4. node B stopped: `up` 0 and `RampartNodeDown` pending.
//!
//! Prometheus (Debian package `prometheus`, scripts/deps.sh) runs in the
//! lab's hub namespace on the cluster network, on a free loopback port,
//! with a generated config and a temporary storage dir, and is killed by
//! PID when the test ends. Needs root; skipped with a message otherwise
//! or when /usr/bin/prometheus is missing.
#![cfg(target_os = "linux")]
// Deadlines of the polling loops use the wall clock.
#![allow(clippy::disallowed_methods)]

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart_node::lab::{
    ASYM_CLIENT, ASYM_SERVER, AsymLab, BYPASS_5002_POLICY, Netns, NodeProc, NodeSpec, SYNC_A,
    SYNC_B, StopOnDrop, asym_node, fnv, is_root, report_stop, write_config,
};
use rampart_ops::client::Client;
use rampart_ops::http::percent_encode;
use socket2::{Domain, Socket, Type};

const PROMETHEUS: &str = "/usr/bin/prometheus";
/// Where lab nodes serve `/metrics` (on their cluster address).
const METRICS_PORT: u16 = rampart_node::lab::proc::METRICS_PORT;

/// The nodes, with their connection log (`[ops] conn_log`).
const NODES: [NodeSpec; 2] = [
    NodeSpec {
        conn_log: true,
        ..asym_node(0, 2)
    },
    NodeSpec {
        conn_log: true,
        ..asym_node(1, 2)
    },
];

/// Bytes each connection sends (the server answers with their digest).
const PAYLOAD: usize = 2048;

/// An instant query's results: (instance, value).
type Samples = Vec<(String, f64)>;

/// A Prometheus server started by the test; killed by PID on drop.
struct Prometheus {
    child: Child,
    hub: String,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    fn start(hub: &Netns, dir: &Path, targets: &[String], rules: &Path) -> Prometheus {
        rampart_node::lab::sh(&["ip", "-n", hub.name(), "link", "set", "lo", "up"]).unwrap();
        let port = hub
            .spawn(|| {
                TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map(|a| a.port())
                    .expect("a free port in the hub namespace")
            })
            .expect("namespace thread")
            .join()
            .expect("port probe");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let dir = dir.join("prometheus");
        std::fs::create_dir_all(dir.join("tsdb")).expect("storage dir");
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             rule_files:\n  - \"{}\"\n\
             scrape_configs:\n  - job_name: rampart\n    static_configs:\n      - targets: [{}]\n",
            rules.display(),
            targets.join(", ")
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).expect("prometheus.yml");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", hub.name(), PROMETHEUS])
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting prometheus");
        Prometheus {
            child,
            hub: hub.name().to_string(),
            addr,
            dir,
        }
    }

    /// GET `path` on the Prometheus API from inside the hub namespace.
    fn get(&self, path: &str) -> Option<serde_json::Value> {
        let (hub, addr, path) = (self.hub.clone(), self.addr, path.to_string());
        let ns = format!("/var/run/netns/{hub}");
        std::thread::spawn(move || {
            let file = std::fs::File::open(ns).ok()?;
            // SAFETY: a valid namespace fd; setns affects only this thread.
            let r =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            if r != 0 {
                return None;
            }
            let resp = Client::new(addr, None)
                .request("GET", &path, b"", "")
                .ok()?;
            serde_json::from_slice(&resp.body).ok()
        })
        .join()
        .ok()
        .flatten()
    }

    /// An instant query: (instance, value) of each result.
    fn query(&self, q: &str) -> Samples {
        let Some(v) = self.get(&format!("/api/v1/query?query={}", percent_encode(q))) else {
            return Vec::new();
        };
        v["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let instance = r["metric"]["instance"].as_str().unwrap_or("").to_string();
                let value = r["value"][1]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(f64::NAN);
                (instance, value)
            })
            .collect()
    }

    /// Poll `q` until `ok` holds for its results (at most `limit`); the
    /// last results either way.
    fn wait(
        &self,
        q: &str,
        limit: Duration,
        ok: impl Fn(&[(String, f64)]) -> bool,
    ) -> Result<Samples, Samples> {
        let t0 = Instant::now();
        loop {
            let r = self.query(q);
            if ok(&r) {
                return Ok(r);
            }
            if t0.elapsed() > limit {
                return Err(r);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SAFETY: our own child's PID (`ip netns exec` execs prometheus).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        for _ in 0..250 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` asymmetric connections client→server:`port`, each sending
/// `PAYLOAD` bytes and checking the server's digest; all kept open in the
/// returned streams. Returns (streams, failures).
fn connections(lab: &AsymLab, port: u16, n: usize) -> (Vec<TcpStream>, usize) {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let sink = kept.clone();
    let listener = lab
        .server
        .spawn(move || {
            let l = TcpListener::bind(("0.0.0.0", port)).expect("listen");
            l.set_nonblocking(true).expect("non-blocking");
            l
        })
        .expect("namespace thread")
        .join()
        .expect("listener");
    let server = lab
        .server
        .spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut accepted = 0;
            while accepted < n && Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut c, _)) => {
                        accepted += 1;
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
                        let mut data = vec![0u8; PAYLOAD];
                        if c.read_exact(&mut data).is_ok() {
                            let _ = c.write_all(&fnv(&data).to_be_bytes());
                        }
                        if let Ok(mut v) = sink.lock() {
                            v.push(c);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        })
        .expect("namespace thread");
    let client = lab
        .client
        .spawn(move || {
            let mut streams = Vec::new();
            let mut failed = 0;
            for i in 0..n {
                let payload: Vec<u8> = (0..PAYLOAD).map(|j| ((i + j) % 251) as u8).collect();
                match one(&payload, port) {
                    Some(s) => streams.push(s),
                    None => failed += 1,
                }
            }
            (streams, failed)
        })
        .expect("namespace thread");
    let (streams, failed) = client.join().expect("client");
    let _ = server.join();
    (streams, failed)
}

fn one(payload: &[u8], port: u16) -> Option<TcpStream> {
    let src: Ipv4Addr = ASYM_CLIENT.parse().ok()?;
    let dst: Ipv4Addr = ASYM_SERVER.parse().ok()?;
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    s.bind(&SocketAddr::from((src, 0)).into()).ok()?;
    s.connect_timeout(
        &SocketAddr::from((dst, port)).into(),
        Duration::from_secs(5),
    )
    .ok()?;
    let mut s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(payload).ok()?;
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).ok()?;
    (u64::from_be_bytes(reply) == fnv(payload)).then_some(s)
}

fn by_instance(r: &[(String, f64)], instance: &str) -> Option<f64> {
    r.iter().find(|(i, _)| i == instance).map(|(_, v)| *v)
}

#[test]
fn prometheus_scrapes_two_lab_nodes() {
    if !is_root() {
        eprintln!("skipped: the Prometheus lab needs root (network namespaces, AF_PACKET)");
        return;
    }
    if !Path::new(PROMETHEUS).exists() {
        eprintln!("skipped: {PROMETHEUS} missing (Debian package prometheus; scripts/deps.sh)");
        return;
    }
    let lab = AsymLab::new(&format!("rp-pq{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-prom-lab-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("policy.cfg"), BYPASS_5002_POLICY).expect("policy");
    rampart_cluster::pki::init_ca(&dir).expect("ca");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| phases(&lab, &dir)));
    let _ = std::fs::remove_dir_all(&dir);
    drop(lab);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn phases(lab: &AsymLab, dir: &Path) {
    let exe = Path::new(env!("CARGO_BIN_EXE_rampart"));
    // Lab nodes serve /metrics on their cluster address.
    let start = |ns: &Netns, me: &NodeSpec| {
        // No Raft: each node runs its own policy file.
        let file =
            write_config(dir, me, &NODES, "forward_before_join = true").expect("node config");
        NodeProc::start(ns, exe, &file, me.name).expect("start node")
    };
    let mut a = start(&lab.node_a, &NODES[0]);
    let mut b = start(&lab.node_b, &NODES[1]);
    let ready = a
        .wait_ready(Duration::from_secs(20))
        .and_then(|()| b.wait_ready(Duration::from_secs(20)));
    let mut nodes = StopOnDrop(vec![a, b]);
    ready.unwrap_or_else(|e| panic!("{e}"));
    let (ia, ib) = (
        format!("{SYNC_A}:{METRICS_PORT}"),
        format!("{SYNC_B}:{METRICS_PORT}"),
    );
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/alerts/rampart.rules.yml");
    let prom = Prometheus::start(&lab.hub, dir, &[ia.clone(), ib.clone()], &rules);

    // 1. Both targets up; the rules loaded and evaluating.
    let up = prom.wait("up{job=\"rampart\"}", Duration::from_secs(60), |r| {
        r.len() == 2 && r.iter().all(|(_, v)| *v == 1.0)
    });
    assert!(up.is_ok(), "targets up: {up:?}\n{}", prom.log());
    let t0 = Instant::now();
    let rules_ok = loop {
        let groups = prom
            .get("/api/v1/rules")
            .map(|v| v["data"]["groups"].clone())
            .unwrap_or_default();
        let rules: Vec<serde_json::Value> = groups
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        let names: Vec<&str> = rules.iter().filter_map(|r| r["name"].as_str()).collect();
        let healthy = !rules.is_empty() && rules.iter().all(|r| r["health"] == "ok");
        if healthy && names.contains(&"RampartNodeDown") && names.contains(&"RampartNoRaftLeader") {
            break Ok(names.len());
        }
        if t0.elapsed() > Duration::from_secs(20) {
            break Err(format!("{rules:#?}"));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let n_rules = rules_ok.unwrap_or_else(|e| panic!("rules not loaded and healthy: {e}"));
    assert!(n_rules >= 10);

    // 2. Bypass connections: entries on both nodes, no sync events.
    let (bypass, failed) = connections(lab, 5002, 50);
    assert_eq!(
        (bypass.len(), failed),
        (50, 0),
        "asymmetric bypass connections"
    );
    let bypass_entries = prom.wait(
        "sum by (instance) (rampart_conntrack_entries{mode=\"bypass\"})",
        Duration::from_secs(20),
        |r| {
            by_instance(r, &ia).is_some_and(|v| v >= 50.0)
                && by_instance(r, &ib).is_some_and(|v| v >= 50.0)
        },
    );
    assert!(bypass_entries.is_ok(), "bypass entries: {bypass_entries:?}");
    for q in [
        "sum by (instance) (rampart_sync_events_sent_total)",
        "sum by (instance) (rampart_sync_events_applied_total)",
        "sum by (instance) (rampart_sync_peer_events_sent_total)",
    ] {
        let r = prom.query(q);
        assert_eq!(r.len(), 2, "{q}: {r:?}");
        assert!(
            r.iter().all(|(_, v)| *v == 0.0),
            "bypass sent no events: {q}: {r:?}"
        );
    }
    let peers = prom.query("rampart_sync_peer_up");
    assert!(
        peers.len() == 2 && peers.iter().all(|(_, v)| *v == 1.0),
        "peers up: {peers:?}"
    );
    let links = prom.query("rampart_cluster_link_connections_total{event=\"up\"}");
    assert!(
        links.len() == 2 && links.iter().all(|(_, v)| *v >= 1.0),
        "cluster links made: {links:?}"
    );
    // The connection log: A built them (302303, the initiator first).
    let built = nodes.0[0]
        .log()
        .into_iter()
        .find(|r| r.asa_id == Some(302_303) && r.message.contains("Built TCP state-bypass"));
    assert!(
        built
            .as_ref()
            .is_some_and(|r| r.message.contains(&format!("from inside:{ASYM_CLIENT}/"))),
        "A logs 302303: {built:?}"
    );
    drop(bypass);

    // 3. Inspected asymmetric connections: A sends, B applies, lag observed.
    let (inspected, failed) = connections(lab, 5001, 50);
    assert_eq!(
        (inspected.len(), failed),
        (50, 0),
        "asymmetric inspected connections"
    );
    let sent = prom.wait(
        "sum by (instance) (rampart_sync_events_sent_total{kind=\"insert\"})",
        Duration::from_secs(20),
        |r| by_instance(r, &ia).is_some_and(|v| v >= 50.0),
    );
    assert!(sent.is_ok(), "A's inserts: {sent:?}");
    let applied = prom.wait(
        "sum by (instance) (rampart_sync_events_applied_total)",
        Duration::from_secs(20),
        |r| by_instance(r, &ib).is_some_and(|v| v >= 50.0),
    );
    assert!(applied.is_ok(), "B applied A's events: {applied:?}");
    let lag = prom.wait(
        "sum by (instance) (rampart_sync_replication_lag_seconds_count)",
        Duration::from_secs(20),
        |r| by_instance(r, &ia).is_some_and(|v| v > 0.0),
    );
    assert!(lag.is_ok(), "replication lag observed on A: {lag:?}");
    let inspected_entries = prom.wait(
        "sum by (instance) (rampart_conntrack_entries{mode=\"inspected\",protocol=\"tcp\"})",
        Duration::from_secs(20),
        |r| by_instance(r, &ib).is_some_and(|v| v >= 50.0),
    );
    assert!(
        inspected_entries.is_ok(),
        "B holds A's inspected flows: {inspected_entries:?}"
    );
    let drops = prom.query("sum by (instance) (rampart_drops_total{reason=\"tcp-not-syn\"})");
    assert!(
        drops.len() == 2 && drops.iter().all(|(_, v)| *v == 0.0),
        "a series per node, and no drop for want of state: {drops:?}"
    );
    drop(inspected);

    // 4. Node B stops: its target goes down and the alert is pending.
    report_stop(nodes.0.pop().expect("node b"));
    let down = prom.wait("up{job=\"rampart\"}", Duration::from_secs(20), |r| {
        by_instance(r, &ib) == Some(0.0) && by_instance(r, &ia) == Some(1.0)
    });
    assert!(down.is_ok(), "B down, A up: {down:?}");
    let alert = prom.wait(
        "ALERTS{alertname=\"RampartNodeDown\"}",
        Duration::from_secs(20),
        |r| by_instance(r, &ib).is_some(),
    );
    assert!(alert.is_ok(), "RampartNodeDown for B: {alert:?}");
    drop(prom);
}
