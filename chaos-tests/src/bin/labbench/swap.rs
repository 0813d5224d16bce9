//! The policy-swap benchmark (issue 6): TCP throughput (iperf3) through
//! `rampart run` during a burst of `configure` writes, against the same
//! run without writes, on the single-node topology of [`Lab`].
//!
//! Three cases, every run on a fresh topology and node, interleaved over
//! the repetitions (the order rotates from one repetition to the next):
//!
//! - `none`: iperf3 alone.
//! - `swaps`: from [`BURST_START`] into the iperf3 run, `--swaps` writes
//!   back to back, each `rampart configure FILE --config node.toml` in the
//!   node's namespace (a new CLI process each time, as an operator's
//!   script would), alternating two valid policies; each is compiled by
//!   the node's admin API and swapped into every worker between two
//!   packet batches before the CLI returns.
//! - `refused`: the same burst of CLI calls with a configuration that
//!   parses but does not compile here (its access-group names an
//!   interface the node lacks): the same processes, HTTP requests, parsing
//!   and worker round trip, but no swap. It separates the cost of the
//!   swaps from the cost of the burst of CLI processes on the same CPUs.
//!
//! The throughput compared is what iperf3's client sent in its 0.1 s
//! intervals lying wholly inside the burst window (from the first write's
//! start to the last write's end; a `none` run takes the window of its
//! repetition's `swaps` run), and over the whole run. The daemon's CPU by
//! thread is recorded too.
//! The node runs without a cluster: `configure` applies locally, exactly
//! one swap per write. (With Raft the dataplane sees the same swap job;
//! Raft adds the commit, off the dataplane, which `cluster/benches/raft.rs`
//! measures, and its watch may fold back-to-back commits into one swap.)
//!
//! Checks (a failure stops the run): after a `swaps` run the node's
//! running-config version and its engines' swap counter have advanced by
//! exactly `--swaps`; after a `refused` run by nothing, every write
//! refused with the compile error; every write of a `swaps` run answered
//! with the next version. The daemon's drops at exit are recorded.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rampart_node::lab::{Endpoint, Lab, NodeProc, Role, no_ipv6, sh};
use serde_json::{Value, json};

use crate::proc::{Spawned, cpu_seconds};
use crate::{cell, check_stop, median, ratio, sleep};

/// The client's address (on `c0`).
const CLIENT: &str = "198.18.0.10";
/// The server's address.
const SERVER: &str = "198.18.0.20";
/// iperf3's port.
const IPERF_PORT: &str = "5201";
/// The node's admin API, on its namespace's loopback.
const ADMIN: &str = "127.0.0.1:9461";
/// When the burst starts, after iperf3's client is started.
const BURST_START: Duration = Duration::from_millis(1500);
/// iperf3's reporting interval (its smallest).
const INTERVAL: &str = "0.1";
/// How long one CLI call may take.
const CLI_LIMIT: Duration = Duration::from_secs(20);

/// The policies of the `swaps` case: `DENIED` is the port an inside
/// access-list denies to new connections, `IDLE` the idle timeout of the
/// class that holds iperf3's connections. Both permit iperf3.
const POLICY: &str = "\
access-list IN extended deny tcp any any eq DENIED
access-list IN extended permit ip any any
access-group IN in interface inside
access-list IPERF extended permit tcp any any eq 5201
class-map IPERF
 match access-list IPERF
policy-map global_policy
 class IPERF
  set connection timeout idle IDLE
service-policy global_policy global
";

/// The `refused` case's configuration: it parses, but `dmz` is none of
/// the node's interfaces, so it does not compile and nothing changes.
const REFUSED: &str = "\
access-list IN extended permit ip any any
access-group IN in interface dmz
";

fn policy(i: usize) -> String {
    let (denied, idle) = if i.is_multiple_of(2) {
        ("5010", "1:00:00")
    } else {
        ("5009", "0:30:00")
    };
    POLICY.replace("DENIED", denied).replace("IDLE", idle)
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The `rampart` binary (release build).
    #[arg(long, default_value = "target/release/rampart")]
    rampart: PathBuf,
    /// Namespace name prefix (default: rbw<pid>).
    #[arg(long)]
    prefix: Option<String>,
    /// Repetitions of each case (medians are reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Seconds of traffic per run (the burst must end 1 s before).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Writes in the burst.
    #[arg(long, default_value_t = 100)]
    swaps: usize,
    /// Parallel TCP streams (iperf3 -P).
    #[arg(long, default_value_t = 1)]
    tcp_streams: u32,
    /// `workers = N` in the node's `[node]` table (default: not written).
    #[arg(long)]
    workers: Option<usize>,
    /// Link offloads: `on` keeps TSO/GSO (the node takes super-packets
    /// whole, `offload = true`), `off` turns them off (`offload = false`).
    #[arg(long, value_enum, default_value_t = Offloads::On)]
    offloads: Offloads,
    /// Working directory for node files (default: a temporary one).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Offloads {
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    None,
    Swaps,
    Refused,
}

impl Case {
    const ALL: [Case; 3] = [Case::None, Case::Swaps, Case::Refused];

    fn id(self) -> &'static str {
        match self {
            Case::None => "none",
            Case::Swaps => "swaps",
            Case::Refused => "refused",
        }
    }
}

/// One iperf3 run.
#[derive(Debug, Default, Clone)]
struct Run {
    /// (start s, end s, bits) of each interval, as iperf3's client saw it.
    intervals: Vec<(f64, f64, f64)>,
    /// Gbit/s over the whole run (received).
    gbps: f64,
    retransmits: u64,
    /// The burst, in seconds from iperf3's start (`swaps` and `refused`).
    burst: Option<(f64, f64)>,
    /// Per write: seconds from the CLI's start to its answer.
    write_secs: Vec<f64>,
    /// Running-config version and swap counter moves over the run.
    version_delta: u64,
    swaps_delta: u64,
    rampart_cpu_percent: Option<f64>,
    /// CPU % of the daemon's threads over the run, by thread name.
    thread_cpu_percent: std::collections::BTreeMap<String, f64>,
    /// The daemon's drops at exit (`N [reason=count …]`).
    drops: String,
}

impl Run {
    /// Gbit/s in the intervals lying wholly inside `w`.
    fn gbps_in(&self, w: (f64, f64)) -> Option<f64> {
        let inside: Vec<&(f64, f64, f64)> = self
            .intervals
            .iter()
            .filter(|(s, e, _)| *s >= w.0 && *e <= w.1)
            .collect();
        let secs: f64 = inside.iter().map(|(s, e, _)| e - s).sum();
        (secs > 0.0).then(|| inside.iter().map(|(_, _, b)| b).sum::<f64>() / secs / 1e9)
    }
}

/// `rampart ARGS` in namespace `ns`, bounded: (exit code, stdout, stderr).
fn cli(rampart: &Path, ns: &str, args: &[&str]) -> Result<(i32, String, String), String> {
    let child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(rampart)
        .args(args)
        .env_remove("RAMPART_ADMIN")
        .env_remove("RAMPART_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting rampart {args:?}: {e}"))?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(CLI_LIMIT) {
        Ok(Ok(out)) => Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )),
        Ok(Err(e)) => Err(format!("rampart {args:?}: {e}")),
        Err(_) => {
            // SAFETY: our own child's PID (`ip netns exec` execs rampart).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            Err(format!("rampart {args:?} took over {CLI_LIMIT:?}"))
        }
    }
}

/// The node's running-config version and swap counter (its admin API).
fn version_and_swaps(_a: &Args, ns: &str, file: &Path) -> Result<(u64, u64), String> {
    let node = Endpoint::of(ns, file, "bench").map_err(|e| e.to_string())?;
    let version = node.running_config().map_err(|e| e.to_string())?.version;
    let swaps = node.cluster().map_err(|e| e.to_string())?.policy_swaps;
    Ok((version, swaps))
}

/// CPU seconds used so far by each thread of process `pid`, summed by
/// thread name (`rampart-w0`, `rampart-ops`, …).
fn thread_cpu(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let Ok(tid) = t.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let name = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok();
        // The same layout as /proc/<pid>/stat (see `cpu_seconds`).
        let secs = stat.and_then(|stat| {
            let rest = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let (u, s): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
            // SAFETY: sysconf has no preconditions.
            Some((u + s) / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64)
        });
        *out.entry(name).or_insert(0.0) += secs.unwrap_or(0.0);
    }
    out
}

/// The node stopped when dropped (also on an error).
struct Node(Option<NodeProc>);

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(n) = self.0.take() {
            let _ = n.stop();
        }
    }
}

fn write_files(a: &Args, dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let workers = a
        .workers
        .map(|w| format!("workers = {w}\n"))
        .unwrap_or_default();
    let offload = a.offloads == Offloads::On;
    let text = format!(
        "[node]\nid = 1\nname = \"bench\"\ndata_dir = \".\"\npolicy = \"policy.cfg\"\n\
         offload = {offload}\n{workers}\n\
         [[interface]]\nname = \"c1\"\nnameif = \"inside\"\nsecurity_level = 100\n\n\
         [[interface]]\nname = \"s1\"\nnameif = \"outside\"\nsecurity_level = 0\n\n\
         [ops]\nadmin = \"{ADMIN}\"\n"
    );
    let file = dir.join("node.toml");
    let mut files = vec![
        (file.clone(), text),
        (dir.join("policy.cfg"), policy(0)),
        (dir.join("refused.cfg"), REFUSED.to_string()),
    ];
    for i in 1..=2 {
        files.push((dir.join(format!("policy-{i}.cfg")), policy(i)));
    }
    for (p, t) in files {
        std::fs::write(&p, t).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(file)
}

/// One run of `case` on a fresh topology.
fn one_run(a: &Args, prefix: &str, case: Case, dir: &Path) -> Result<Run, String> {
    check_stop()?;
    let lab = match a.offloads {
        Offloads::On => Lab::with_offloads(prefix).map_err(|e| e.to_string())?,
        Offloads::Off => Lab::new(prefix).map_err(|e| e.to_string())?,
    };
    let (c, s, n) = (
        lab.ns(Role::Client),
        lab.ns(Role::Server),
        lab.ns(Role::Node),
    );
    for ns in [&c, &s, &n] {
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]).map_err(|e| e.to_string())?;
        // IPv4 only: no IPv6 neighbour chatter meets the access-list.
        no_ipv6(ns).map_err(|e| e.to_string())?;
    }
    let file = write_files(a, dir)?;
    let mut node = Node(Some(
        NodeProc::start(lab.netns(Role::Node), &a.rampart, &file, "bench")
            .map_err(|e| e.to_string())?,
    ));
    // The admin API answers once the node runs (a node without a cluster
    // forwards at once).
    let t0 = Instant::now();
    let before = loop {
        match version_and_swaps(a, &n, &file) {
            Ok(v) => break v,
            Err(e) if t0.elapsed() > Duration::from_secs(15) => {
                return Err(format!(
                    "the node's admin API does not answer: {e}\n{}",
                    node.0.as_ref().map(NodeProc::output).unwrap_or_default()
                ));
            }
            Err(_) => sleep(Duration::from_millis(100))?,
        }
    };
    let pid = node.0.as_ref().map(NodeProc::pid);
    let mut srv = Spawned::in_ns(
        &s,
        &[
            "iperf3",
            "-s",
            "-1",
            "--forceflush",
            "-B",
            SERVER,
            "-p",
            IPERF_PORT,
        ],
    )?;
    srv.wait_line("Server listening", Duration::from_secs(5))?;
    let secs = a.seconds.to_string();
    let streams = a.tcp_streams.to_string();
    let cpu0 = pid.and_then(cpu_seconds);
    let threads0 = pid.map(thread_cpu).unwrap_or_default();
    let started = Instant::now();
    let mut client = Spawned::in_ns(
        &c,
        &[
            "iperf3",
            "-c",
            SERVER,
            "-B",
            CLIENT,
            "-p",
            IPERF_PORT,
            "-t",
            &secs,
            "-i",
            INTERVAL,
            "-P",
            &streams,
            "-J",
            "--connect-timeout",
            "3000",
        ],
    )?;
    let mut run = Run::default();
    if case != Case::None {
        sleep(BURST_START)?;
        let f = file.to_string_lossy().into_owned();
        let b0 = started.elapsed().as_secs_f64();
        for i in 1..=a.swaps {
            check_stop()?;
            let cfg = match case {
                Case::Swaps => dir.join(format!("policy-{}.cfg", 2 - i % 2)),
                _ => dir.join("refused.cfg"),
            };
            let cfg = cfg.to_string_lossy().into_owned();
            let w0 = Instant::now();
            let (code, out, err) = cli(&a.rampart, &n, &["configure", &cfg, "--config", &f])?;
            run.write_secs.push(w0.elapsed().as_secs_f64());
            match case {
                Case::Swaps => {
                    let want = format!("Configuration applied: version {}", before.0 + i as u64);
                    if code != 0 || out.trim() != want {
                        return Err(format!("write {i}: exit {code}: {out}{err}"));
                    }
                }
                _ => {
                    if code != 1 || !err.contains("is not one of this node's interfaces") {
                        return Err(format!("refused write {i}: exit {code}: {out}{err}"));
                    }
                }
            }
        }
        let b1 = started.elapsed().as_secs_f64();
        if b1 + 1.0 > a.seconds as f64 {
            return Err(format!(
                "the burst took until {b1:.1} s of a {} s run: raise --seconds",
                a.seconds
            ));
        }
        run.burst = Some((b0, b1));
    }
    let out = client.wait(Duration::from_secs(a.seconds + 20))?;
    let wall = started.elapsed().as_secs_f64();
    let cpu1 = pid.and_then(cpu_seconds);
    let threads1 = pid.map(thread_cpu).unwrap_or_default();
    run.thread_cpu_percent = threads1
        .iter()
        .map(|(name, t)| {
            let t0 = threads0.get(name).copied().unwrap_or(0.0);
            (name.clone(), 100.0 * (t - t0) / wall)
        })
        .collect();
    srv.wait(Duration::from_secs(10))?;
    let after = version_and_swaps(a, &n, &file)?;
    run.version_delta = after.0 - before.0;
    run.swaps_delta = after.1 - before.1;
    let want = if case == Case::Swaps {
        a.swaps as u64
    } else {
        0
    };
    if run.version_delta != want || run.swaps_delta != want {
        return Err(format!(
            "{}: version moved by {}, swaps by {}; expected {want} each",
            case.id(),
            run.version_delta,
            run.swaps_delta
        ));
    }
    let summary = node
        .0
        .take()
        .ok_or("no running node")?
        .stop()
        .map_err(|e| e.to_string())?;
    // Recorded, not checked: iperf3 ends its connections with resets the
    // engine may find out of window (`tcp-rstfin-ooo`), whatever the case.
    let reasons: Vec<String> = summary
        .counters
        .drops
        .iter()
        .map(|(r, n)| format!("{r}={n}"))
        .collect();
    run.drops = format!("{} [{}]", summary.counters.dropped, reasons.join(" "));
    let v: Value = serde_json::from_str(&out).map_err(|e| format!("iperf3 JSON: {e}"))?;
    if let Some(e) = v.get("error") {
        return Err(format!("iperf3: {e}"));
    }
    run.gbps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .ok_or("iperf3 JSON without end.sum_received.bits_per_second")?
        / 1e9;
    run.retransmits = v["end"]["sum_sent"]["retransmits"].as_u64().unwrap_or(0);
    run.intervals = v["intervals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let s = &i["sum"];
            Some((
                s["start"].as_f64()?,
                s["end"].as_f64()?,
                s["bytes"].as_f64()? * 8.0,
            ))
        })
        .collect();
    run.rampart_cpu_percent = match (cpu0, cpu1) {
        (Some(x), Some(y)) => Some(100.0 * (y - x) / wall),
        _ => None,
    };
    drop(lab);
    Ok(run)
}

/// The directory, removed when dropped.
struct DirGuard(PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(a: &Args) -> Result<String, String> {
    if a.reps == 0 || a.seconds < 4 || a.seconds > 120 || a.swaps == 0 || a.swaps > 10_000 {
        return Err("--reps ≥ 1, --seconds 4..=120, --swaps 1..=10000".into());
    }
    if !a.rampart.exists() {
        return Err(format!(
            "{}: no such rampart binary (cargo build --release -p rampart-node)",
            a.rampart.display()
        ));
    }
    let prefix = a
        .prefix
        .clone()
        .unwrap_or_else(|| format!("rbw{}", std::process::id()));
    let dir = a.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("rampart-swapbench-{}", std::process::id()))
    });
    let _guard = DirGuard(dir.clone());
    let machine = crate::machine();
    // reps × cases, each case's runs in repetition order.
    let mut runs: Vec<[Option<Run>; 3]> = Vec::with_capacity(a.reps);
    for rep in 0..a.reps {
        let mut got: [Option<Run>; 3] = [None, None, None];
        for k in 0..3 {
            let idx = (rep + k) % 3;
            let case = Case::ALL[idx];
            eprintln!("labbench swap: rep {} {}", rep + 1, case.id());
            let r = one_run(
                a,
                &format!("{prefix}-{rep}{idx}"),
                case,
                &dir.join(case.id()),
            )?;
            got[idx] = Some(r);
        }
        runs.push(got);
    }
    let summary = summarize(a, &runs, machine);
    print_table(a, &summary);
    serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())
}

fn opt(v: Option<f64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

fn summarize(a: &Args, runs: &[[Option<Run>; 3]], machine: Value) -> Value {
    let mut cases = serde_json::Map::new();
    // Per repetition, the window of its `swaps` run.
    let windows: Vec<Option<(f64, f64)>> = runs
        .iter()
        .map(|r| r[1].as_ref().and_then(|s| s.burst))
        .collect();
    let mut medians = Vec::new();
    for (idx, case) in Case::ALL.iter().enumerate() {
        let list: Vec<&Run> = runs.iter().filter_map(|r| r[idx].as_ref()).collect();
        // A burst's own window; for `none`, its repetition's `swaps` one.
        let window = |r: &Run, w: &Option<(f64, f64)>| r.burst.or(*w);
        let in_burst: Vec<f64> = runs
            .iter()
            .zip(&windows)
            .filter_map(|(r, w)| {
                let r = r[idx].as_ref()?;
                r.gbps_in(window(r, w)?)
            })
            .collect();
        let whole: Vec<f64> = list.iter().map(|r| r.gbps).collect();
        let mut writes: Vec<f64> = list.iter().flat_map(|r| r.write_secs.clone()).collect();
        let write_p50 = crate::percentile(&mut writes, 50.0);
        let m = (median(&in_burst), median(&whole));
        medians.push(m);
        cases.insert(
            case.id().into(),
            json!({
                "runs": list.iter().zip(&windows).map(|(r, w)| json!({
                    "gbps_in_burst_window": opt(window(r, w).and_then(|w| r.gbps_in(w))),
                    "gbps_whole_run": r.gbps,
                    "retransmits": r.retransmits,
                    "burst_window_s": r.burst.map(|(x, y)| json!([x, y])),
                    "writes": r.write_secs.len(),
                    "version_delta": r.version_delta,
                    "swaps_delta": r.swaps_delta,
                    "rampart_cpu_percent": opt(r.rampart_cpu_percent),
                    "drops": r.drops,
                    "thread_cpu_percent": r.thread_cpu_percent,
                })).collect::<Vec<_>>(),
                "median_gbps_in_burst_window": opt(m.0),
                "median_gbps_whole_run": opt(m.1),
                "write_seconds_p50": opt(write_p50),
            }),
        );
    }
    let burst_secs: Vec<f64> = windows.iter().flatten().map(|(x, y)| y - x).collect();
    json!({
        "benchmark": "policy swaps under TCP load",
        "machine": machine,
        "loadavg_end": crate::machine()["loadavg"].clone(),
        "settings": {
            "reps": a.reps, "seconds": a.seconds, "swaps": a.swaps,
            "tcp_streams": a.tcp_streams, "workers": a.workers,
            "offloads": format!("{:?}", a.offloads).to_lowercase(),
            "burst_start_s": BURST_START.as_secs_f64(),
        },
        "median_burst_seconds": opt(median(&burst_secs)),
        "cases": cases,
        "ratios": {
            "in_burst_swaps_over_none": opt(ratio(medians[1].0, medians[0].0)),
            "in_burst_swaps_over_refused": opt(ratio(medians[1].0, medians[2].0)),
            "in_burst_refused_over_none": opt(ratio(medians[2].0, medians[0].0)),
            "whole_run_swaps_over_none": opt(ratio(medians[1].1, medians[0].1)),
        },
    })
}

fn print_table(a: &Args, s: &Value) {
    eprintln!(
        "\npolicy swaps under TCP load: {} write(s) per burst, {} rep(s) of {} s, offloads {:?}",
        a.swaps, a.reps, a.seconds, a.offloads
    );
    eprintln!(
        "burst: median {} s; load {} at start, {} at end",
        cell(s["median_burst_seconds"].as_f64(), 2),
        s["machine"]["loadavg"].as_str().unwrap_or("?"),
        s["loadavg_end"].as_str().unwrap_or("?")
    );
    eprintln!(
        "{:<10} {:>22} {:>18} {:>16}",
        "case", "Gbit/s in burst (med)", "Gbit/s whole (med)", "write p50 (ms)"
    );
    for case in Case::ALL {
        let c = &s["cases"][case.id()];
        eprintln!(
            "{:<10} {:>22} {:>18} {:>16}",
            case.id(),
            cell(c["median_gbps_in_burst_window"].as_f64(), 3),
            cell(c["median_gbps_whole_run"].as_f64(), 3),
            cell(c["write_seconds_p50"].as_f64().map(|x| x * 1e3), 1),
        );
    }
    let r = &s["ratios"];
    eprintln!(
        "ratios (in the burst window): swaps/none {}, swaps/refused {}, refused/none {}; whole run swaps/none {}",
        cell(r["in_burst_swaps_over_none"].as_f64(), 3),
        cell(r["in_burst_swaps_over_refused"].as_f64(), 3),
        cell(r["in_burst_refused_over_none"].as_f64(), 3),
        cell(r["whole_run_swaps_over_none"].as_f64(), 3),
    );
}
