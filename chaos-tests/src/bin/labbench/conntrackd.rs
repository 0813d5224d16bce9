//! The state-sync baseline (issue 5): conntrackd between two firewall
//! namespaces, measured the way Rampart's link benchmark measures itself,
//! and printed beside it (`--rampart-json`, the link benchmark's JSON).
//!
//! Topology: generator `c` (198.18.0.10) — firewall `a` (routes, nftables
//! with conntrack) — sink `k` (drops everything at ingress, so no replies
//! and no ICMP); firewall `b` is joined to `a` by the sync link only
//! (`sync0`, 198.19.255.1 ↔ 198.19.255.2). conntrackd runs in `a` and `b`
//! with the configuration that [`conntrackd_conf`] writes (below)
//! (FTFW over UDP, `DisableExternalCache On`: peer entries go straight
//! into the kernel table), its cache sized for the bulk phase.
//!
//! Each new UDP flow the generator sends through `a` is one conntrack
//! entry and one NEW event for conntrackd; we watch the entries appear in
//! `b`'s kernel table:
//! 1. **Lag** at a fixed rate: new flows at `--lag-rate` for
//!    `--lag-seconds`; per flow, `b`'s entry start minus `a`'s entry start
//!    (kernel timestamps, `nf_conntrack_timestamp=1`, one kernel clock).
//! 2. **Burst**: `--burst` new flows as fast as the generator goes;
//!    events/s until `b` holds them all (if `b` finished with the
//!    generator, the figure is the generator's and conntrackd's own ceiling
//!    is higher: the JSON says so).
//! 3. **Bulk**: both daemons restart, `a` with `--bulk` entries in its
//!    kernel table (loaded into its cache), `b` empty; `b` asks for a
//!    resync (`conntrackd -n`); time until `b` holds them. If that does
//!    not complete, the size is halved until one does (the largest that
//!    works is reported beside the failed ones). This runs once with the
//!    baseline's sync socket buffers (1.2 MB, which a 1M resync overflows)
//!    and once with `--tuned-socket-buffer` (32 MiB).
//!
//! The kernel's connection limit is per namespace but capped by the
//! initial namespace's `nf_conntrack_max` (262144 by default), and the
//! hash is one for all namespaces: for the bulk phase this raises the
//! initial namespace's `nf_conntrack_max` and `nf_conntrack_buckets` and
//! restores them on exit (`--no-host-sysctl`: leave them, and cap the
//! bulk to what fits).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rampart_node::lab::{Netns, NsThread, no_ipv6, sh};
use serde_json::{Value, json};

use crate::proc::{Spawned, run_in};
use crate::{cell, check_stop, percentile, sleep};

/// Destination ports per destination host of the generated flows.
const PORTS_PER_HOST: u32 = 1000;
/// The first destination port.
const FIRST_PORT: u16 = 10_000;
/// Destination blocks of the three phases (distinct flows each).
const LAG_BASE: [u8; 4] = [198, 18, 128, 0];
const BURST_BASE: [u8; 4] = [198, 18, 136, 0];
const BULK_BASE: [u8; 4] = [198, 18, 144, 0];
/// Hosts available from the bulk base to 198.18.255.255.
const BULK_MAX_HOSTS: u32 = 112 * 256;
/// How often the entry counts are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(2);
/// A phase ends when the count has not moved for this long.
const SETTLED: Duration = Duration::from_secs(5);
/// The bulk phase's no-progress limit (a resync starts with a pause).
const BULK_SETTLED: Duration = Duration::from_secs(15);
/// The smallest bulk tried when larger ones do not complete.
const MIN_BULK: u64 = 25_000;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The `udpblast` binary (default: beside this one).
    #[arg(long)]
    udpblast: Option<PathBuf>,
    /// Namespace name prefix (default: rbs<pid>).
    #[arg(long)]
    prefix: Option<String>,
    /// New flows per second in the lag phase.
    #[arg(long, default_value_t = 20_000)]
    lag_rate: u64,
    /// Seconds of the lag phase.
    #[arg(long, default_value_t = 3)]
    lag_seconds: u64,
    /// New flows in the burst phase.
    #[arg(long, default_value_t = 200_000)]
    burst: u64,
    /// Entries in node a for the bulk resync.
    #[arg(long, default_value_t = 1_000_000)]
    bulk: u64,
    /// Leave the initial namespace's conntrack limits alone (and cap the
    /// bulk to what fits).
    #[arg(long)]
    no_host_sysctl: bool,
    /// conntrackd's sync socket buffers (the baseline's: 1249280 bytes).
    #[arg(long, default_value_t = 1_249_280)]
    sync_socket_buffer: u64,
    /// A second bulk series with these socket buffers (0: none): the
    /// baseline's overflow under a 1M resync.
    #[arg(long, default_value_t = 32 << 20)]
    tuned_socket_buffer: u64,
    /// Rampart link-benchmark JSON lines to print beside (repeatable).
    #[arg(long)]
    rampart_json: Vec<PathBuf>,
    /// Working directory for configurations and logs (default: temporary).
    #[arg(long)]
    dir: Option<PathBuf>,
}

// === host limits ===

/// Initial-namespace sysctls changed for the run, restored on drop.
#[derive(Debug, Default)]
struct HostSysctl {
    saved: Vec<(String, String)>,
}

fn sysctl_path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

fn read_sysctl(key: &str) -> Result<u64, String> {
    let p = sysctl_path(key);
    let t = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    t.trim()
        .parse()
        .map_err(|e| format!("{}: {t:?}: {e}", p.display()))
}

impl HostSysctl {
    /// Raise `key` to at least `value`.
    fn raise(&mut self, key: &str, value: u64) -> Result<(), String> {
        let old = read_sysctl(key)?;
        if old >= value {
            return Ok(());
        }
        let p = sysctl_path(key);
        std::fs::write(&p, value.to_string())
            .map_err(|e| format!("raising {key} to {value}: {e}"))?;
        eprintln!("  host: {key} {old} -> {value} (restored on exit)");
        self.saved.push((key.to_string(), old.to_string()));
        Ok(())
    }
}

impl Drop for HostSysctl {
    fn drop(&mut self) {
        for (k, v) in self.saved.iter().rev() {
            if let Err(e) = std::fs::write(sysctl_path(k), v) {
                eprintln!("labbench: restoring {k}={v}: {e}");
            }
        }
    }
}

// === topology ===

/// The four namespaces (removed on drop).
#[derive(Debug)]
struct Topology {
    c: Netns,
    a: Netns,
    b: Netns,
    k: Netns,
}

const FIREWALL: &str = r#"table inet rampart_bench {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		ct state invalid drop
		iifname "c1" ct state new accept
	}
}
"#;

const SINK: &str = r#"table netdev rampart_bench_sink {
	chain ingress {
		type filter hook ingress device "k0" priority 0; policy drop;
	}
}
"#;

fn nft(ns: &str, ruleset: &str, dir: &Path, name: &str) -> Result<(), String> {
    let f = dir.join(name);
    std::fs::write(&f, ruleset).map_err(|e| format!("{}: {e}", f.display()))?;
    run_in(
        ns,
        &["nft", "-f", &f.to_string_lossy()],
        Duration::from_secs(20),
    )
    .map(|_| ())
}

fn sysctl_in(ns: &str, kv: &str) -> Result<(), String> {
    run_in(ns, &["sysctl", "-qw", kv], Duration::from_secs(10)).map(|_| ())
}

fn topology(prefix: &str, dir: &Path) -> Result<Topology, String> {
    let t = Topology {
        c: Netns::new(&format!("{prefix}-c")).map_err(|e| e.to_string())?,
        a: Netns::new(&format!("{prefix}-a")).map_err(|e| e.to_string())?,
        b: Netns::new(&format!("{prefix}-b")).map_err(|e| e.to_string())?,
        k: Netns::new(&format!("{prefix}-k")).map_err(|e| e.to_string())?,
    };
    let (c, a, b, k) = (t.c.name(), t.a.name(), t.b.name(), t.k.name());
    for ns in [c, a, b, k] {
        no_ipv6(ns).map_err(|e| e.to_string())?;
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]).map_err(|e| e.to_string())?;
    }
    for (ns, dev, peer_ns, peer) in [
        (c, "c0", a, "c1"),
        (k, "k0", a, "k1"),
        (a, "sync0", b, "sync0"),
    ] {
        sh(&[
            "ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", peer, "netns",
            peer_ns,
        ])
        .map_err(|e| e.to_string())?;
    }
    for (ns, addr, dev) in [
        (c, "198.18.0.10/24", "c0"),
        (a, "198.18.0.1/24", "c1"),
        (a, "198.18.1.1/24", "k1"),
        (k, "198.18.1.20/24", "k0"),
        (a, "198.19.255.1/24", "sync0"),
        (b, "198.19.255.2/24", "sync0"),
    ] {
        sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]).map_err(|e| e.to_string())?;
    }
    for (ns, dev) in [
        (c, "c0"),
        (a, "c1"),
        (a, "k1"),
        (k, "k0"),
        (a, "sync0"),
        (b, "sync0"),
    ] {
        sh(&["ip", "-n", ns, "link", "set", dev, "up"]).map_err(|e| e.to_string())?;
    }
    sh(&[
        "ip",
        "-n",
        c,
        "route",
        "add",
        "198.18.128.0/17",
        "via",
        "198.18.0.1",
    ])
    .map_err(|e| e.to_string())?;
    sh(&[
        "ip",
        "-n",
        a,
        "route",
        "add",
        "198.18.128.0/17",
        "via",
        "198.18.1.20",
    ])
    .map_err(|e| e.to_string())?;
    nft(k, SINK, dir, "sink.nft")?;
    for ns in [a, b] {
        for kv in [
            "net.ipv4.ip_forward=1",
            "net.netfilter.nf_conntrack_timestamp=1",
            // Unreplied UDP entries must outlive the run (default 30 s).
            "net.netfilter.nf_conntrack_udp_timeout=600",
        ] {
            sysctl_in(ns, kv)?;
        }
        nft(ns, FIREWALL, dir, "firewall.nft")?;
    }
    Ok(t)
}

// === conntrackd ===

/// conntrackd's configuration for node `me` (`a` or `b`): the baseline's,
/// with the cache sized for `entries`.
fn conntrackd_conf(dir: &Path, me: &str, entries: u64, buffer: u64) -> String {
    let (local, peer) = if me == "a" {
        ("198.19.255.1", "198.19.255.2")
    } else {
        ("198.19.255.2", "198.19.255.1")
    };
    let limit = (2 * entries).max(131_072);
    let size = (entries.next_power_of_two() / 4).max(32_768);
    let d = dir.display();
    format!(
        "Sync {{
	Mode FTFW {{
		DisableExternalCache On
	}}
	UDP {{
		IPv4_address {local}
		IPv4_Destination_Address {peer}
		Port 3780
		Interface sync0
		SndSocketBuffer {buffer}
		RcvSocketBuffer {buffer}
		Checksum on
	}}
	Options {{
		TCPWindowTracking Off
	}}
}}
General {{
	Systemd off
	HashSize {size}
	HashLimit {limit}
	LogFile {d}/conntrackd-{me}.log
	LockFile {d}/conntrackd-{me}.lock
	UNIX {{ Path {d}/conntrackd-{me}.ctl }}
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
	Filter From Kernelspace {{
		Protocol Accept {{ TCP UDP }}
		Address Ignore {{ IPv4_address 127.0.0.1 IPv4_address 198.19.255.0/24 }}
	}}
}}
"
    )
}

/// One conntrackd in the foreground, stopped by PID on drop.
#[derive(Debug)]
struct Daemon {
    ns: String,
    conf: String,
    /// Held for its drop, which stops the daemon by PID.
    _proc: Spawned,
}

impl Daemon {
    fn start(ns: &str, conf: &Path) -> Result<Daemon, String> {
        let conf = conf.to_string_lossy().to_string();
        let mut proc = Spawned::in_ns(ns, &["conntrackd", "-C", &conf])?;
        proc.wait_line("initialization completed", Duration::from_secs(10))?;
        Ok(Daemon {
            ns: ns.to_string(),
            conf,
            _proc: proc,
        })
    }

    /// A client command (`-s`, `-n`, `-R`, …) to this daemon.
    fn ctl(&self, args: &[&str], limit: Duration) -> Result<String, String> {
        let mut v = vec!["conntrackd", "-C", &self.conf];
        v.extend_from_slice(args);
        run_in(&self.ns, &v, limit)
    }

    fn stats(&self) -> Result<String, String> {
        self.ctl(&["-s"], Duration::from_secs(30))
    }
}

/// The number after the first line containing `key` that follows the
/// line starting with `section` in `conntrackd -s` output.
fn stat(text: &str, section: &str, key: &str) -> Option<u64> {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(section));
    lines.next()?;
    let line = lines.find(|l| l.contains(key))?;
    line.split(':')
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `N Lost msgs` of the `message tracking` section (number first).
fn lost_msgs(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.contains("Lost msgs"))?;
    let w: Vec<&str> = line.split_whitespace().collect();
    let i = w.iter().position(|x| *x == "Lost")?;
    w.get(i.checked_sub(1)?)?.parse().ok()
}

// === counting entries ===

/// Entries in a namespace's kernel table.
fn count_in(ns: &str) -> Result<u64, String> {
    let out = run_in(
        ns,
        &["cat", "/proc/sys/net/netfilter/nf_conntrack_count"],
        Duration::from_secs(5),
    )?;
    out.trim()
        .parse()
        .map_err(|e| format!("nf_conntrack_count {out:?}: {e}"))
}

/// Samples a namespace's entry count every [`SAMPLE_EVERY`] on a thread
/// inside it, until stopped.
#[derive(Debug)]
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<NsThread<Vec<(Duration, u64)>>>,
}

impl Sampler {
    fn start(ns: &Netns, t0: Instant, limit: Duration) -> Result<Sampler, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let handle = ns.spawn(move || {
            let mut v = Vec::new();
            // The thread is in the namespace: /proc/sys/net is its own.
            while !s.load(Ordering::Relaxed) && !crate::stopping() && t0.elapsed() < limit {
                if let Some(n) =
                    std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_count")
                        .ok()
                        .and_then(|t| t.trim().parse().ok())
                {
                    v.push((t0.elapsed(), n));
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
            v
        });
        Ok(Sampler {
            stop,
            handle: Some(handle.map_err(|e| e.to_string())?),
        })
    }

    /// The latest sample.
    fn finish(mut self) -> Vec<(Duration, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Wait until `ns` holds `base + want` entries, or the count has not
/// moved for `settled`, or `limit` passed; returns the count.
fn wait_count(
    ns: &str,
    base: u64,
    want: u64,
    settled: Duration,
    limit: Duration,
) -> Result<u64, String> {
    let end = Instant::now() + limit;
    let (mut last, mut since) = (count_in(ns)?, Instant::now());
    loop {
        check_stop()?;
        if last.saturating_sub(base) >= want || since.elapsed() >= settled || Instant::now() >= end
        {
            return Ok(last);
        }
        sleep(Duration::from_millis(100))?;
        let n = count_in(ns)?;
        if n != last {
            (last, since) = (n, Instant::now());
        }
    }
}

/// When the samples first held `base + target` entries, or else their
/// final value: the entries above `base` and the time.
fn reached(samples: &[(Duration, u64)], base: u64, target: u64) -> Option<(u64, Duration)> {
    let goal = (base + target).min(samples.last()?.1);
    let (t, n) = samples.iter().find(|(_, n)| *n >= goal)?;
    Some((n.saturating_sub(base), *t))
}

// === generating flows ===

fn hosts_for(n: u64) -> u32 {
    n.div_ceil(u64::from(PORTS_PER_HOST)).max(1) as u32
}

fn ip(base: [u8; 4]) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(base)
}

/// Send `n` new flows (one datagram each) from the generator through `a`.
fn generate(
    t: &Topology,
    blast: &Path,
    base: [u8; 4],
    n: u64,
    rate: u64,
    limit: Duration,
) -> Result<Value, String> {
    let to = format!("{}:{FIRST_PORT}", ip(base));
    let out = Spawned::in_ns(
        t.c.name(),
        &[
            &blast.to_string_lossy(),
            "send",
            "--to",
            &to,
            "--hosts",
            &hosts_for(n).to_string(),
            "--ports",
            &PORTS_PER_HOST.to_string(),
            "--count",
            &n.to_string(),
            "--rate",
            &rate.to_string(),
            "--seconds",
            &limit.as_secs_f64().to_string(),
            "--batch",
            if rate > 0 && rate < 100_000 {
                "16"
            } else {
                "64"
            },
        ],
    )?
    .wait(limit + Duration::from_secs(10))?;
    let v: Value = serde_json::from_str(&out).map_err(|e| format!("udpblast: {e}: {out}"))?;
    if v["sent"].as_u64() != Some(n) {
        return Err(format!("the generator sent {} of {n} flows", v["sent"]));
    }
    Ok(v)
}

// === kernel timestamps ===

/// A flow of the dump: (source, destination, source port, destination
/// port) of the original direction.
type Key = (u32, u32, u16, u16);

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let i = s.find(open)? + open.len();
    let j = s[i..].find(close)? + i;
    Some(&s[i..j])
}

/// The original-direction key and start timestamp (ns) of each `<flow>`
/// line of `conntrack -L -o xml,ktimestamp`.
fn parse_flows(xml: &str) -> HashMap<Key, u64> {
    let mut out = HashMap::new();
    for line in xml.lines().filter(|l| l.contains("<flow>")) {
        let Some(orig) = between(line, "<meta direction=\"original\">", "</meta>") else {
            continue;
        };
        let key = (|| {
            let src: std::net::Ipv4Addr = between(orig, "<src>", "</src>")?.parse().ok()?;
            let dst: std::net::Ipv4Addr = between(orig, "<dst>", "</dst>")?.parse().ok()?;
            let sport = between(orig, "<sport>", "</sport>")?.parse().ok()?;
            let dport = between(orig, "<dport>", "</dport>")?.parse().ok()?;
            Some((u32::from(src), u32::from(dst), sport, dport))
        })();
        let start = between(line, "<start>", "</start>").and_then(|s| s.parse().ok());
        if let (Some(k), Some(s)) = (key, start) {
            out.insert(k, s);
        }
    }
    out
}

fn dump(ns: &str) -> Result<HashMap<Key, u64>, String> {
    let xml = run_in(
        ns,
        &["conntrack", "-L", "-p", "udp", "-o", "xml,ktimestamp"],
        Duration::from_secs(120),
    )?;
    Ok(parse_flows(&xml))
}

/// Lags (ms) of the flows to `hosts` hosts from `base` present in both.
fn lags(
    a: &HashMap<Key, u64>,
    b: &HashMap<Key, u64>,
    base: [u8; 4],
    hosts: u32,
) -> (Vec<f64>, u64) {
    let lo = u32::from(ip(base));
    let mut v = Vec::new();
    let mut in_a = 0u64;
    for (k, ta) in a.iter().filter(|(k, _)| (lo..lo + hosts).contains(&k.1)) {
        in_a += 1;
        if let Some(tb) = b.get(k) {
            v.push((*tb as f64 - *ta as f64) / 1e6);
        }
    }
    (v, in_a)
}

// === the benchmark ===

pub fn run(args: &Args) -> Result<String, String> {
    let blast = match &args.udpblast {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("current exe: {e}"))?
            .with_file_name("udpblast"),
    };
    if !blast.exists() {
        return Err(format!("{}: no udpblast binary", blast.display()));
    }
    if args.lag_rate == 0 || args.lag_seconds == 0 || args.lag_seconds > 60 {
        return Err("--lag-rate must be > 0 and --lag-seconds 1..=60".into());
    }
    let lag_n = args.lag_rate * args.lag_seconds;
    if lag_n > 256 * u64::from(PORTS_PER_HOST) * 8 || args.burst > 256 * 8 * 1000 {
        return Err("--lag-rate × --lag-seconds and --burst must each be ≤ 2,048,000".into());
    }
    let rampart: Vec<Value> = args
        .rampart_json
        .iter()
        .map(|p| {
            let t = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let line = t.lines().rev().find(|l| l.trim_start().starts_with('{'));
            serde_json::from_str(line.unwrap_or(""))
                .map_err(|e| format!("{}: no link-benchmark JSON line: {e}", p.display()))
        })
        .collect::<Result<_, _>>()?;
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| format!("rbs{}", std::process::id()));
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("rampart-syncbench-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let _dir_guard = DirGuard(dir.clone(), args.dir.is_none());
    let machine = crate::machine();
    eprintln!(
        "conntrackd baseline: lag at {}/s for {} s, burst of {}, bulk of {}; kernel {}, {} CPU(s), load {}",
        args.lag_rate,
        args.lag_seconds,
        args.burst,
        args.bulk,
        machine["kernel"].as_str().unwrap_or("?"),
        machine["cpus"],
        machine["loadavg"].as_str().unwrap_or("?")
    );

    // Limits: a and b each hold every entry of the run at the end.
    let mut host = HostSysctl::default();
    let total = (lag_n + args.burst).max(args.bulk) + 16_384;
    let mut bulk = args.bulk.max(lag_n + args.burst);
    if args.no_host_sysctl {
        let max = read_sysctl("net.netfilter.nf_conntrack_max")?;
        let fits = (max * 9 / 10).saturating_sub(16_384);
        if bulk > fits {
            eprintln!("  bulk capped to {fits} entries by nf_conntrack_max = {max}");
            bulk = fits;
        }
    } else {
        host.raise("net.netfilter.nf_conntrack_max", total * 2 + 65_536)?;
        host.raise(
            "net.netfilter.nf_conntrack_buckets",
            (total * 2).next_power_of_two() / 2,
        )?;
    }
    if bulk.saturating_sub(lag_n + args.burst) > u64::from(BULK_MAX_HOSTS * PORTS_PER_HOST) {
        return Err("--bulk too large for the address block".into());
    }
    let t = topology(&prefix, &dir)?;
    let (na, nb) = (t.a.name().to_string(), t.b.name().to_string());
    for me in ["a", "b"] {
        let f = dir.join(format!("conntrackd-{me}.conf"));
        std::fs::write(&f, conntrackd_conf(&dir, me, bulk, args.sync_socket_buffer))
            .map_err(|e| format!("{}: {e}", f.display()))?;
    }
    let conf = |me: &str| dir.join(format!("conntrackd-{me}.conf"));
    let da = Daemon::start(&na, &conf("a"))?;
    let db = Daemon::start(&nb, &conf("b"))?;
    sleep(Duration::from_millis(500))?;

    // 1. Lag at a fixed rate.
    check_stop()?;
    let b0 = count_in(&nb)?;
    let lag_gen = generate(
        &t,
        &blast,
        LAG_BASE,
        lag_n,
        args.lag_rate,
        Duration::from_secs(args.lag_seconds * 4 + 10),
    )?;
    wait_count(&nb, b0, lag_n, SETTLED, Duration::from_secs(60))?;
    let (fa, fb) = (dump(&na)?, dump(&nb)?);
    let (mut lag, in_a) = lags(&fa, &fb, LAG_BASE, hosts_for(lag_n));
    let (p50, p99, pmax) = (
        percentile(&mut lag, 50.0),
        percentile(&mut lag, 99.0),
        percentile(&mut lag, 100.0),
    );
    let offered = lag_gen["pps"].as_f64();
    eprintln!(
        "  lag at {} new flows/s offered: {} of {lag_n} replicated ({in_a} in a), p50 {} ms, p99 {} ms, max {} ms",
        cell(offered, 0),
        lag.len(),
        cell(p50, 3),
        cell(p99, 3),
        cell(pmax, 3)
    );
    let lag_json = json!({
        "rate_offered": offered,
        "flows": lag_n,
        "in_a": in_a,
        "replicated": lag.len(),
        "lag_ms_p50": p50,
        "lag_ms_p99": p99,
        "lag_ms_max": pmax,
    });

    // 2. Burst.
    check_stop()?;
    let (a0, b0) = (count_in(&na)?, count_in(&nb)?);
    let t0 = Instant::now();
    let limit = Duration::from_secs(180);
    let sa = Sampler::start(&t.a, t0, limit)?;
    let sb = Sampler::start(&t.b, t0, limit)?;
    let burst_gen = generate(
        &t,
        &blast,
        BURST_BASE,
        args.burst,
        0,
        Duration::from_secs(120),
    )?;
    let gen_s = t0.elapsed();
    wait_count(&nb, b0, args.burst, SETTLED, Duration::from_secs(120))?;
    let (va, vb) = (sa.finish(), sb.finish());
    let (a_made, a_t) = reached(&va, a0, args.burst).unwrap_or((0, gen_s));
    let (b_got, b_t) = reached(&vb, b0, args.burst).unwrap_or((0, gen_s));
    let eps = b_got as f64 / b_t.as_secs_f64().max(1e-9);
    // b finished with the generator: conntrackd kept up, its own ceiling
    // is above what the generator produced.
    let gen_bound = b_t.as_secs_f64() <= gen_s.as_secs_f64() * 1.05 + 0.05;
    eprintln!(
        "  burst: generator {} flows/s ({:.2} s), a made {a_made} in {:.2} s, b got {b_got} of {} in {:.3} s = {eps:.0} events/s{}",
        cell(burst_gen["pps"].as_f64(), 0),
        gen_s.as_secs_f64(),
        a_t.as_secs_f64(),
        args.burst,
        b_t.as_secs_f64(),
        if gen_bound {
            " (bounded by the generator)"
        } else {
            ""
        }
    );
    let stats_after_burst = json!({
        "a": da.stats().unwrap_or_default(),
        "b": db.stats().unwrap_or_default(),
    });
    let burst_json = json!({
        "flows": args.burst,
        "generator_flows_per_s": burst_gen["pps"],
        "generator_seconds": gen_s.as_secs_f64(),
        "a_entries_made": a_made,
        "b_entries_received": b_got,
        "b_seconds": b_t.as_secs_f64(),
        "events_per_s": eps.round(),
        "bounded_by_generator": gen_bound,
    });

    // 3. Bulk, from the requested size down by halves until one
    // completes (conntrackd's bulk can overrun the receiver and lose more
    // than its resend queue recovers: then the largest size that works).
    check_stop()?;
    drop(db);
    drop(da);
    let mut series = vec![bulk_series(
        &t,
        &blast,
        &dir,
        bulk,
        args.sync_socket_buffer,
    )?];
    if args.tuned_socket_buffer > 0 && args.tuned_socket_buffer != args.sync_socket_buffer {
        series.push(bulk_series(
            &t,
            &blast,
            &dir,
            bulk,
            args.tuned_socket_buffer,
        )?);
    }
    let bulk_json = json!({ "requested": bulk, "series": series });

    let summary = json!({
        "benchmark": "sync",
        "machine": machine,
        "loadavg_end": crate::machine()["loadavg"],
        "rampart": rampart,
        "conntrackd": {
            "version": run_in(&na, &["conntrackd", "-v"], Duration::from_secs(5)).unwrap_or_default().trim(),
            "lag": lag_json,
            "burst": burst_json,
            "bulk": bulk_json,
            "stats_after_burst": stats_after_burst,
        },
    });
    print_side_by_side(&summary);
    drop(t);
    drop(host);
    Ok(summary.to_string())
}

/// Bulk resyncs with sync socket buffers of `buffer` bytes, from `bulk`
/// entries down by halves until one completes.
fn bulk_series(
    t: &Topology,
    blast: &Path,
    dir: &Path,
    bulk: u64,
    buffer: u64,
) -> Result<Value, String> {
    eprintln!("  bulk with {buffer}-byte sync socket buffers:");
    let mut conf = Vec::new();
    for me in ["a", "b"] {
        let f = dir.join(format!("conntrackd-{me}-bulk-{buffer}.conf"));
        std::fs::write(&f, conntrackd_conf(dir, me, bulk, buffer))
            .map_err(|e| format!("{}: {e}", f.display()))?;
        conf.push(f);
    }
    let mut attempts = Vec::new();
    let mut size = bulk;
    loop {
        let r = bulk_attempt(t, blast, &conf[0], &conf[1], size)?;
        let done = r["complete"].as_bool() == Some(true);
        attempts.push(r);
        if done || size / 2 < MIN_BULK {
            break;
        }
        size /= 2;
    }
    let largest = attempts
        .iter()
        .find(|r| r["complete"].as_bool() == Some(true))
        .cloned();
    Ok(json!({
        "socket_buffer_bytes": buffer,
        "attempts": attempts,
        "largest_complete": largest,
    }))
}

/// One bulk resync of `size` entries with both daemons started fresh:
/// `a`'s kernel table is filled while no daemon runs, `a`'s daemon loads
/// it into its cache, then `b` (empty) asks for a resync.
fn bulk_attempt(
    t: &Topology,
    blast: &Path,
    conf_a: &Path,
    conf_b: &Path,
    size: u64,
) -> Result<Value, String> {
    let (na, nb) = (t.a.name(), t.b.name());
    // No daemon listens: the flushes sync nothing.
    for ns in [na, nb] {
        run_in(ns, &["conntrack", "-F"], Duration::from_secs(120))?;
    }
    // Flushed entries are freed a little later.
    let end = Instant::now() + Duration::from_secs(10);
    while count_in(na)? > 16 && Instant::now() < end {
        sleep(Duration::from_millis(50))?;
    }
    let base_a = count_in(na)?;
    let tf = Instant::now();
    generate(t, blast, BULK_BASE, size, 0, Duration::from_secs(600))?;
    let in_a =
        wait_count(na, base_a, size, SETTLED, Duration::from_secs(120))?.saturating_sub(base_a);
    let fill_s = tf.elapsed().as_secs_f64();
    let da = Daemon::start(na, conf_a)?;
    // Load the kernel table into a's cache (what it sends in a resync).
    da.ctl(&["-R"], Duration::from_secs(300))?;
    let end = Instant::now() + Duration::from_secs(120);
    let mut cached = 0;
    while Instant::now() < end {
        cached = stat(&da.stats()?, "cache internal", "current active connections").unwrap_or(0);
        if cached + 16 >= in_a {
            break;
        }
        sleep(Duration::from_millis(500))?;
    }
    let db = Daemon::start(nb, conf_b)?;
    sleep(Duration::from_millis(500))?;
    let b0 = count_in(nb)?;
    let t0 = Instant::now();
    let sb = Sampler::start(&t.b, t0, Duration::from_secs(600))?;
    db.ctl(&["-n"], Duration::from_secs(30))?;
    wait_count(nb, b0, cached, BULK_SETTLED, Duration::from_secs(600))?;
    let vb = sb.finish();
    let (b_got, b_t) = reached(&vb, b0, cached).unwrap_or((0, Duration::ZERO));
    let complete = b_got + 16 >= cached;
    let (sa, sbs) = (
        da.stats().unwrap_or_default(),
        db.stats().unwrap_or_default(),
    );
    let lost = lost_msgs(&sbs);
    eprintln!(
        "  bulk: a holds {in_a} (filled in {fill_s:.1} s), {cached} in its cache; b holds {b_got} after {:.3} s{}",
        b_t.as_secs_f64(),
        if complete {
            String::new()
        } else {
            format!(
                " — incomplete (b's conntrackd counted {} lost messages)",
                lost.map(|l| l.to_string()).unwrap_or("?".into())
            )
        }
    );
    Ok(json!({
        "size": size,
        "entries_in_a": in_a,
        "entries_in_a_cache": cached,
        "b_entries": b_got,
        "bulk_seconds": b_t.as_secs_f64(),
        "complete": complete,
        "entries_per_s": (b_got as f64 / b_t.as_secs_f64().max(1e-9)).round(),
        "b_lost_msgs": lost,
        "stats_a": sa,
        "stats_b": sbs,
    }))
}

/// Removes the working directory if it was a temporary one.
#[derive(Debug)]
struct DirGuard(PathBuf, bool);

impl Drop for DirGuard {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn print_side_by_side(s: &Value) {
    let c = &s["conntrackd"];
    let f = |v: &Value, d: usize| cell(v.as_f64(), d);
    eprintln!();
    eprintln!(
        "  {:<34} {:>28} {:>28}",
        "", "rampart (QUIC, loopback)", "conntrackd (FTFW/UDP, netns)"
    );
    let r: Vec<&Value> = s["rampart"]
        .as_array()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let first = r.first().copied().unwrap_or(&Value::Null);
    let eps_c = format!(
        "{}{}",
        if c["burst"]["bounded_by_generator"].as_bool() == Some(true) {
            "≥ "
        } else {
            ""
        },
        f(&c["burst"]["events_per_s"], 0)
    );
    eprintln!(
        "  {:<34} {:>28} {:>28}",
        "events/s",
        f(&first["throughput_events_per_s"], 0),
        eps_c
    );
    let crate_ = c["lag"]["rate_offered"].as_f64().unwrap_or(0.0);
    for rr in &r {
        let rate = rr["lag_rate"].as_f64().unwrap_or(0.0);
        let same = (rate - crate_).abs() <= crate_ * 0.1;
        eprintln!(
            "  {:<34} {:>28} {:>28}",
            format!("lag p50 / p99 / max ms at {rate:.0}/s"),
            format!(
                "{} / {} / {}",
                f(&rr["lag_ms_p50"], 3),
                f(&rr["lag_ms_p99"], 3),
                f(&rr["lag_ms_max"], 3)
            ),
            if same {
                format!(
                    "{} / {} / {}",
                    f(&c["lag"]["lag_ms_p50"], 3),
                    f(&c["lag"]["lag_ms_p99"], 3),
                    f(&c["lag"]["lag_ms_max"], 3)
                )
            } else {
                "-".into()
            }
        );
    }
    if !r.iter().any(|rr| {
        let rate = rr["lag_rate"].as_f64().unwrap_or(0.0);
        (rate - crate_).abs() <= crate_ * 0.1
    }) {
        eprintln!(
            "  {:<34} {:>28} {:>28}",
            format!("lag p50 / p99 / max ms at {crate_:.0}/s"),
            "-",
            format!(
                "{} / {} / {}",
                f(&c["lag"]["lag_ms_p50"], 3),
                f(&c["lag"]["lag_ms_p99"], 3),
                f(&c["lag"]["lag_ms_max"], 3)
            )
        );
    }
    let bulk_cell = |r: &Value| {
        format!(
            "{} s ({} of {}){}",
            f(&r["bulk_seconds"], 3),
            r["b_entries"],
            r["entries_in_a_cache"],
            if r["complete"].as_bool() == Some(true) {
                ""
            } else {
                " incomplete"
            }
        )
    };
    let series = c["bulk"]["series"].as_array().cloned().unwrap_or_default();
    for (i, sr) in series.iter().enumerate() {
        let first_bulk = &sr["attempts"][0];
        let buf = sr["socket_buffer_bytes"].as_u64().unwrap_or(0);
        eprintln!(
            "  {:<34} {:>28} {:>28}",
            format!("bulk sync of {}", c["bulk"]["requested"]),
            if first.is_null() || i > 0 {
                "".to_string()
            } else {
                format!(
                    "{} s ({} flows)",
                    f(&first["bulk_seconds"], 3),
                    first["flows"]
                )
            },
            format!("{} [{} KiB buffers]", bulk_cell(first_bulk), buf / 1024)
        );
        if first_bulk["complete"].as_bool() != Some(true) {
            let largest = &sr["largest_complete"];
            eprintln!(
                "  {:<34} {:>28} {:>28}",
                "  largest that completed",
                "",
                if largest.is_null() {
                    "none".to_string()
                } else {
                    bulk_cell(largest)
                }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_and_kernel_timestamps_are_read_from_the_xml_dump() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<conntrack>
<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>198.18.0.10</src><dst>198.18.128.14</dst></layer3><layer4 protonum="17" protoname="udp"><sport>45369</sport><dport>1325</dport></layer4></meta><meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>198.18.128.14</src><dst>198.18.0.10</dst></layer3><layer4 protonum="17" protoname="udp"><sport>1325</sport><dport>45369</dport></layer4></meta><meta direction="independent"><timeout>598</timeout><mark>0</mark><use>1</use><id>1926093876</id><unreplied/><timestamp><start>1796313544846211802</start></timestamp><deltatime>2</deltatime></meta></flow>
</conntrack>"#;
        let f = parse_flows(xml);
        let key = (
            u32::from(std::net::Ipv4Addr::new(198, 18, 0, 10)),
            u32::from(std::net::Ipv4Addr::new(198, 18, 128, 14)),
            45369,
            1325,
        );
        assert_eq!(f.get(&key), Some(&1_796_313_544_846_211_802));
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn lags_pair_flows_of_the_block_present_on_both_sides() {
        let k = |h: u8, p: u16| {
            (
                u32::from(std::net::Ipv4Addr::new(198, 18, 0, 10)),
                u32::from(std::net::Ipv4Addr::new(198, 18, 128, h)),
                4000,
                p,
            )
        };
        let a: HashMap<Key, u64> = [(k(0, 1), 1_000_000), (k(1, 1), 2_000_000), (k(9, 1), 0)]
            .into_iter()
            .collect();
        let b: HashMap<Key, u64> = [(k(0, 1), 1_500_000)].into_iter().collect();
        let (v, in_a) = lags(&a, &b, LAG_BASE, 2);
        assert_eq!(in_a, 2, "host 9 is outside the block");
        assert_eq!(v, vec![0.5]);
    }

    #[test]
    fn conntrackd_statistics_by_section() {
        let s = "cache internal:\ncurrent active connections:\t       50000\nconnections created:\t\t       50000\tfailed:\t 0\n\nexternal inject:\nconnections created:\t\t       123\tfailed:\t 0\n";
        assert_eq!(
            stat(s, "cache internal", "current active connections"),
            Some(50_000)
        );
        assert_eq!(stat(s, "external inject", "connections created"), Some(123));
        assert_eq!(stat(s, "nothing", "x"), None);
        let m = "message tracking:\n                   0 Malformed msgs              1039351 Lost msgs\n";
        assert_eq!(lost_msgs(m), Some(1_039_351));
        assert_eq!(lost_msgs("nothing"), None);
    }

    #[test]
    fn the_time_a_count_reached_its_final_value() {
        let s = [
            (Duration::from_millis(1), 10),
            (Duration::from_millis(2), 15),
            (Duration::from_millis(3), 20),
            (Duration::from_millis(4), 20),
        ];
        assert_eq!(reached(&s, 10, 10), Some((10, Duration::from_millis(3))));
        assert_eq!(reached(&s, 10, 5), Some((5, Duration::from_millis(2))));
        // Short of the target: the final value, when it was first seen.
        assert_eq!(reached(&s, 10, 50), Some((10, Duration::from_millis(3))));
        assert_eq!(reached(&[], 0, 1), None);
    }

    #[test]
    fn the_configuration_scales_the_cache_for_the_bulk() {
        let c = conntrackd_conf(Path::new("/tmp/x"), "b", 1_000_000, 1_249_280);
        assert!(c.contains("IPv4_address 198.19.255.2\n"));
        assert!(c.contains("IPv4_Destination_Address 198.19.255.1\n"));
        assert!(c.contains("HashLimit 2000000\n"));
        assert!(c.contains("HashSize 262144\n"));
        assert!(c.contains("DisableExternalCache On"));
        assert!(c.contains("RcvSocketBuffer 1249280\n"));
        let small = conntrackd_conf(Path::new("/tmp/x"), "a", 10_000, 1_249_280);
        assert!(small.contains("HashLimit 131072\n") && small.contains("HashSize 32768\n"));
    }
}
