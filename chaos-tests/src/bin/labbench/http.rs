//! The HTTP benchmark (issue 15): a real HTTP client, `wrk`, opening a new
//! connection for every request (`Connection: close`) with `--connections`
//! at once, through the asymmetric pair of synced nodes
//! ([`rampart_node::lab::AsymLab`]), symmetric and asymmetric in the same
//! run, interleaved over the repetitions.
//!
//! - `sym`: the client's source 198.18.10.11 to the server's
//!   198.18.20.21: both directions through node A.
//! - `asym`: source 198.18.10.10 to 198.18.20.20: client to server
//!   through A, server to client through B. Every change of direction
//!   meets a node that did not see the previous packet: it holds the packet
//!   until the other node's state arrives (or pulls it).
//!
//! The server is this process's own (in the server's namespace): a pool of
//! threads, each accepting, reading one request and answering 612 bytes
//! (the size of nginx's default page) with `Connection: close`, then
//! closing, as a web server closes a non-keep-alive connection.
//!
//! Per run, from the nodes' metrics before and after: packets held and what
//! became of them (expired is a failure of the design, counted), sync
//! events produced per connection (both nodes, every kind), packets
//! deferred, drops by reason; from `wrk`: requests/s, latency p50/p99,
//! socket errors and non-2xx answers. The nodes run for the whole
//! benchmark; `--defer-ms` sets `[cluster] defer_ms` (absent: the
//! default).

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rampart_node::lab::BYPASS_5002_POLICY;
use rampart_node::lab::chaos::bench::{Bench, BenchOpts};
use rampart_node::lab::mesh::report::{
    HELD_WAIT, histogram_buckets, metric_sum, quantile_ms, sum_buckets,
};
use rampart_node::lab::netns::sysctl;
use rampart_node::lab::sh;
use serde_json::{Value, json};

use crate::proc::run_in;
use crate::{cell, check_stop, median, ratio};

/// The server's port.
const PORT: u16 = 8080;
/// The answer's body length (nginx's default page).
const BODY: usize = 612;
/// Server threads (each serves one connection at a time).
const SERVER_THREADS: usize = 96;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds per wrk run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Repetitions (each runs both cases).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Concurrent connections (wrk -c).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// wrk threads (wrk -t).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Sequential connects per case for the connect-time phase (0: none).
    #[arg(long, default_value_t = 2000)]
    connects: usize,
    /// `[cluster] defer_ms` of both nodes (absent: the default).
    #[arg(long)]
    defer_ms: Option<u64>,
    /// Namespace prefix (default `rbh<pid>`).
    #[arg(long)]
    prefix: Option<String>,
    /// The `rampart` executable.
    #[arg(long, default_value = "target/release/rampart")]
    rampart: std::path::PathBuf,
}

/// What one wrk run printed.
#[derive(Debug, Default, Clone)]
struct Wrk {
    requests: u64,
    rps: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    errors: u64,
    timeouts: u64,
    non_2xx: u64,
}

/// A latency as wrk prints it (`512.00us`, `1.20ms`, `2.00s`), in ms.
fn wrk_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

fn parse_wrk(out: &str) -> Wrk {
    let mut w = Wrk::default();
    for line in out.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => w.p50_ms = wrk_ms(v),
            ["99%", v] => w.p99_ms = wrk_ms(v),
            ["Requests/sec:", v] => w.rps = v.parse().unwrap_or(0.0),
            [n, "requests", "in", ..] => w.requests = n.parse().unwrap_or(0),
            ["Non-2xx", "or", "3xx", "responses:", n] => w.non_2xx = n.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                // connect 0, read 0, write 0, timeout 0
                let nums: Vec<u64> = rest
                    .iter()
                    .filter_map(|t| t.trim_end_matches(',').parse().ok())
                    .collect();
                if let [c, r, wr, t] = nums.as_slice() {
                    w.errors = c + r + wr;
                    w.timeouts = *t;
                }
            }
            _ => {}
        }
    }
    w
}

/// The benchmark's HTTP server: threads accepting on one listener in the
/// server's namespace until stopped.
struct Server {
    stop: Arc<AtomicBool>,
    fd: i32,
    served: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
    main: Option<rampart_node::lab::NsThread<()>>,
}

impl Server {
    fn start(bench: &Bench) -> Result<Server, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let (st, sv) = (Arc::clone(&stop), Arc::clone(&served));
        // The listener and its threads live in the server's namespace
        // (threads inherit the namespace of the thread that starts them).
        let main = bench
            .lab
            .server
            .spawn(move || {
                let listener = match TcpListener::bind(("0.0.0.0", PORT)) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = tx.send(Err(format!("binding :{PORT}: {e}")));
                        return;
                    }
                };
                let listener = Arc::new(listener);
                let mut threads = Vec::new();
                for _ in 0..SERVER_THREADS {
                    let (l, st, sv) = (Arc::clone(&listener), Arc::clone(&st), Arc::clone(&sv));
                    threads.push(std::thread::spawn(move || serve(&l, &st, &sv)));
                }
                let _ = tx.send(Ok((listener.as_raw_fd(), threads)));
            })
            .map_err(|e| e.to_string())?;
        let (fd, threads) = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|e| format!("starting the HTTP server: {e}"))??;
        Ok(Server {
            stop,
            fd,
            served,
            threads,
            main: Some(main),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes every thread blocked in accept (EINVAL on a listener shut
        // down for reading).
        // SAFETY: the listener is alive: its threads hold it until they end.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(m) = self.main.take() {
            let _ = m.join();
        }
    }
}

fn serve(listener: &TcpListener, stop: &AtomicBool, served: &AtomicU64) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nServer: labbench\r\nContent-Type: text/html\r\nContent-Length: {BODY}\r\nConnection: close\r\n\r\n"
    );
    let mut answer = head.into_bytes();
    answer.extend(std::iter::repeat_n(b'x', BODY));
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let Ok((mut s, _)) = listener.accept() else {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.set_nodelay(true);
        let mut got = 0;
        let complete = loop {
            match s.read(&mut buf[got..]) {
                Ok(0) | Err(_) => break false,
                Ok(n) => {
                    got += n;
                    if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                        break true;
                    }
                    if got == buf.len() {
                        break false;
                    }
                }
            }
        };
        if complete && s.write_all(&answer).is_ok() {
            served.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Connect times of `n` sequential connections from the client's
/// namespace to `dst` (each closed at once), in µs; a failed connect is
/// counted, not timed.
fn connect_times(bench: &Bench, dst: &str, n: usize) -> Result<(Vec<f64>, usize), String> {
    let addr: std::net::SocketAddr = format!("{dst}:{PORT}")
        .parse()
        .map_err(|e| format!("{dst}: {e}"))?;
    bench
        .lab
        .client
        .run(move || {
            let mut times = Vec::with_capacity(n);
            let mut failed = 0;
            for _ in 0..n {
                if crate::stopping() {
                    break;
                }
                let t0 = std::time::Instant::now();
                match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                    Ok(s) => {
                        times.push(t0.elapsed().as_secs_f64() * 1e6);
                        drop(s);
                    }
                    Err(_) => failed += 1,
                }
            }
            (times, failed)
        })
        .map_err(|e| e.to_string())
}

/// The connect-time phase: `rounds` rounds of `per` connects per case,
/// the cases interleaved; p50 and p99 in ms per case.
fn connect_phase(
    bench: &Bench,
    cases: &[(&'static str, &str)],
    total: usize,
    label: &str,
) -> Result<BTreeMap<String, Value>, String> {
    const PER: usize = 100;
    let mut times: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut failed: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..total.div_ceil(PER) {
        for &(name, dst) in cases {
            check_stop()?;
            let (t, f) = connect_times(bench, dst, PER)?;
            times.entry(name).or_default().extend(t);
            *failed.entry(name).or_default() += f;
        }
    }
    let mut out = BTreeMap::new();
    for (name, mut t) in times {
        t.sort_by(f64::total_cmp);
        let pct = |q: f64| {
            (!t.is_empty()).then(|| t[((t.len() as f64 * q) as usize).min(t.len() - 1)] / 1000.0)
        };
        let (p50, p99) = (pct(0.5), pct(0.99));
        let f = failed.get(name).copied().unwrap_or(0);
        eprintln!(
            "connect {label}/{name}: p50 {} ms, p99 {} ms, {} connects, {f} failed",
            cell(p50, 3),
            cell(p99, 3),
            t.len()
        );
        out.insert(
            format!("{label}/{name}"),
            json!({"p50_ms": p50, "p99_ms": p99, "connects": t.len(), "failed": f}),
        );
    }
    Ok(out)
}

/// One wrk run from the client's namespace `ns` against `dst`, a new
/// connection per request.
fn wrk(ns: &str, args: &Args, dst: &str) -> Result<Wrk, String> {
    let url = format!("http://{dst}:{PORT}/");
    let out = run_in(
        ns,
        &[
            "wrk",
            "-t",
            &args.threads.to_string(),
            "-c",
            &args.connections.to_string(),
            "-d",
            &format!("{}s", args.seconds),
            "--timeout",
            "2s",
            "--latency",
            "-H",
            "Connection: close",
            &url,
        ],
        Duration::from_secs(args.seconds + 30),
    )?;
    Ok(parse_wrk(&out))
}

/// The nodes' figures a run is judged by, summed over both nodes.
#[derive(Debug, Default, Clone)]
struct NodeFigures {
    /// The held packets' wait histogram (cumulative buckets).
    wait: Vec<(f64, u64)>,
    events: u64,
    /// Events sent by kind: insert, update, refresh, delete.
    kinds: [u64; 4],
    /// UDP datagrams of the cluster link (QUIC), sent by either node.
    link_datagrams: u64,
    held: u64,
    expired: u64,
    released: u64,
    refused: u64,
    overflow: u64,
    deferred: u64,
    pulls: u64,
    /// Datagram copies of event batches sent (at once, or late).
    datagrams: u64,
    drops: u64,
}

/// The `kind` labels of the sync event counters, in [`NodeFigures::kinds`]' order.
const EVENT_KINDS: [&str; 4] = ["insert", "update", "refresh", "delete"];

fn figures(bench: &Bench) -> Result<(NodeFigures, BTreeMap<String, u64>), String> {
    let mut f = NodeFigures::default();
    let mut drops = BTreeMap::new();
    let mut waits = Vec::new();
    for i in 0..2 {
        let ep = bench.endpoint(i).map_err(|e| e.to_string())?;
        let m = ep.metrics().map_err(|e| e.to_string())?;
        let get =
            |family: &str, label: Option<(&str, &str)>| metric_sum(&m, family, label).unwrap_or(0);
        f.events += get("rampart_sync_events_sent_total", None);
        f.link_datagrams += get(
            "rampart_cluster_link_datagrams_total",
            Some(("direction", "out")),
        );
        for (n, kind) in f.kinds.iter_mut().zip(EVENT_KINDS) {
            *n += get("rampart_sync_events_sent_total", Some(("kind", kind)));
        }
        f.held += get("rampart_sync_held_packets_total", None);
        let outcome = |o: &str| get("rampart_sync_held_outcomes_total", Some(("outcome", o)));
        f.expired += outcome("expired");
        f.released += outcome("released");
        f.refused += outcome("refused");
        f.overflow += outcome("overflow");
        f.deferred += get("rampart_sync_deferred_packets_total", None);
        f.pulls += get("rampart_sync_pulls_total", Some(("event", "sent")));
        f.datagrams += get("rampart_sync_datagrams_total", Some(("event", "sent")))
            + get("rampart_sync_datagrams_total", Some(("event", "resent")));
        waits.push(histogram_buckets(&m, HELD_WAIT));
        for d in ep.counters().map_err(|e| e.to_string())?.drops {
            if d.count > 0 {
                *drops.entry(d.reason.clone()).or_insert(0) += d.count;
                f.drops += d.count;
            }
        }
    }
    f.wait = sum_buckets(waits.iter().map(Vec::as_slice));
    Ok((f, drops))
}

/// `insert 1.00 update 4.27 ...`: events of each kind per connection.
fn per_kind(kinds: &[u64; 4], conns: f64) -> String {
    EVENT_KINDS
        .iter()
        .zip(kinds)
        .map(|(k, n)| format!("{k} {:.2}", *n as f64 / conns))
        .collect::<Vec<_>>()
        .join(" ")
}

fn minus(a: &NodeFigures, b: &NodeFigures) -> NodeFigures {
    NodeFigures {
        wait: Vec::new(),
        events: a.events - b.events,
        kinds: std::array::from_fn(|i| a.kinds[i] - b.kinds[i]),
        link_datagrams: a.link_datagrams - b.link_datagrams,
        held: a.held - b.held,
        expired: a.expired - b.expired,
        released: a.released - b.released,
        refused: a.refused - b.refused,
        overflow: a.overflow - b.overflow,
        deferred: a.deferred - b.deferred,
        pulls: a.pulls - b.pulls,
        datagrams: a.datagrams - b.datagrams,
        drops: a.drops - b.drops,
    }
}

pub fn run(args: &Args) -> Result<String, String> {
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| format!("rbh{}", std::process::id() % 100_000));
    let extra = args
        .defer_ms
        .map(|d| format!("defer_ms = {d}"))
        .unwrap_or_default();
    let mut bench = Bench::new(
        &prefix,
        &args.rampart,
        BYPASS_5002_POLICY,
        BenchOpts {
            three: false,
            relay: false,
            cluster_extra: Box::leak(extra.into_boxed_str()),
            raft: false,
        },
    )
    .map_err(|e| e.to_string())?;
    for i in 0..2 {
        bench.start(i).map_err(|e| e.to_string())?;
    }
    for i in 0..2 {
        bench
            .wait_ready(i, Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
    }
    // The client's source address picks the case: the server routes
    // 198.18.10.10 back through B and 198.18.10.11 through A.
    let c = bench.lab.client.name().to_string();
    for (dst, src) in [
        ("198.18.20.20/32", "198.18.10.10"),
        ("198.18.20.21/32", "198.18.10.11"),
    ] {
        sh(&[
            "ip",
            "-n",
            &c,
            "route",
            "replace",
            dst,
            "via",
            "198.18.1.20",
            "dev",
            "ca0",
            "src",
            src,
        ])
        .map_err(|e| e.to_string())?;
    }
    // Hundreds of thousands of connections per run: every port, and a
    // client's TIME_WAIT ports reused (wrk may close first), so the
    // client's port search never limits a case; but not the lab's
    // service ports (5002 is the bypass class either way: a client on it
    // would open a bypass connection that the policy lets no reply into).
    for setting in [
        "net.ipv4.ip_local_port_range=1024 65535",
        "net.ipv4.ip_local_reserved_ports=5001-5003",
        "net.ipv4.tcp_tw_reuse=1",
    ] {
        sysctl(&c, setting).map_err(|e| e.to_string())?;
    }
    let server = Server::start(&bench)?;
    let cases = [("sym", "198.18.20.21"), ("asym", "198.18.20.20")];
    let mut connect = BTreeMap::new();
    if args.connects > 0 {
        let (before, drops0) = figures(&bench)?;
        connect.extend(connect_phase(&bench, &cases, args.connects, "rampart")?);
        let (after, drops1) = figures(&bench)?;
        let d = minus(&after, &before);
        let drops: BTreeMap<&String, u64> = drops1
            .iter()
            .map(|(r, n)| (r, n - drops0.get(r).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect();
        eprintln!(
            "connect phase: held {} (expired {}), pulls {}, drops {drops:?}",
            d.held, d.expired, d.pulls
        );
    }
    let mut runs: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut rps: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut per_conn: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut expired: BTreeMap<&str, u64> = BTreeMap::new();
    for rep in 0..args.reps {
        for k in 0..cases.len() {
            let (name, dst) = cases[(k + rep) % cases.len()];
            check_stop()?;
            let (before, drops_before) = figures(&bench)?;
            let served0 = server.served.load(Ordering::Relaxed);
            let w = wrk(&c, args, dst)?;
            // Let the last connections' closing packets settle.
            crate::sleep(Duration::from_millis(500))?;
            let (after, drops_after) = figures(&bench)?;
            let d = minus(&after, &before);
            let drops: BTreeMap<String, u64> = drops_after
                .iter()
                .map(|(r, n)| (r.clone(), n - drops_before.get(r).copied().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .collect();
            let (w50, w99) = (
                quantile_ms(&before.wait, &after.wait, 0.5),
                quantile_ms(&before.wait, &after.wait, 0.99),
            );
            let served = server.served.load(Ordering::Relaxed) - served0;
            let conns = w.requests.max(1) as f64;
            let events_per_conn = d.events as f64 / conns;
            eprintln!(
                "{name:>4} rep {rep}: {:>8.0} req/s, p50 {} ms, p99 {} ms, {} requests ({served} served), errors {} timeouts {} non-2xx {}; sync events/conn {:.2} ({}; {:.2} cluster-link packets), held {} (expired {}, released {}, refused {}, overflow {}, wait p50/p99 {}/{} ms), pulls {}, datagrams {}, deferred {}, drops {:?}",
                w.rps,
                cell(w.p50_ms, 3),
                cell(w.p99_ms, 3),
                w.requests,
                w.errors,
                w.timeouts,
                w.non_2xx,
                events_per_conn,
                per_kind(&d.kinds, conns),
                d.link_datagrams as f64 / conns,
                d.held,
                d.expired,
                d.released,
                d.refused,
                d.overflow,
                cell(w50, 2),
                cell(w99, 2),
                d.pulls,
                d.datagrams,
                d.deferred,
                drops
            );
            rps.entry(name).or_default().push(w.rps);
            per_conn.entry(name).or_default().push(events_per_conn);
            *expired.entry(name).or_default() += d.expired;
            runs.entry(name).or_default().push(json!({
                "rep": rep,
                "requests_per_s": w.rps,
                "requests": w.requests,
                "served": served,
                "latency_p50_ms": w.p50_ms,
                "latency_p99_ms": w.p99_ms,
                "socket_errors": w.errors,
                "timeouts": w.timeouts,
                "non_2xx": w.non_2xx,
                "sync_events": d.events,
                "sync_events_per_conn": events_per_conn,
                "cluster_link_datagrams_per_conn": d.link_datagrams as f64 / conns,
                "sync_events_per_conn_by_kind": EVENT_KINDS
                    .iter()
                    .zip(d.kinds)
                    .map(|(k, n)| (k.to_string(), json!(n as f64 / conns)))
                    .collect::<serde_json::Map<_, _>>(),
                "held": d.held,
                "held_expired": d.expired,
                "held_released": d.released,
                "held_refused": d.refused,
                "held_overflow": d.overflow,
                "held_wait_p50_ms": w50,
                "held_wait_p99_ms": w99,
                "deferred": d.deferred,
                "pulls_sent": d.pulls,
                "datagrams_sent": d.datagrams,
                "drops": drops,
            }));
        }
    }
    // The kernel's bridge in each node's namespace instead of the nodes:
    // the same links and routes, no state, no sync.
    let mut bridge_rps = None;
    if args.connects > 0 {
        for i in 0..2 {
            bench.stop(i).map_err(|e| e.to_string())?;
        }
        for (ns, a, b) in [
            (bench.lab.node_a.name(), "ca1", "as1"),
            (bench.lab.node_b.name(), "cb1", "bs1"),
        ] {
            for cmd in [
                vec!["ip", "-n", ns, "link", "add", "br0", "type", "bridge"],
                vec!["ip", "-n", ns, "link", "set", a, "master", "br0"],
                vec!["ip", "-n", ns, "link", "set", b, "master", "br0"],
                vec!["ip", "-n", ns, "link", "set", "br0", "up"],
            ] {
                sh(&cmd).map_err(|e| e.to_string())?;
            }
        }
        connect.extend(connect_phase(&bench, &cases, args.connects, "bridge")?);
        let w = wrk(&c, args, cases[0].1)?;
        eprintln!("bridge: {:.0} req/s, p50 {} ms", w.rps, cell(w.p50_ms, 3));
        bridge_rps = Some(w.rps);
    }
    drop(server);
    let p50 = |k: &str| connect.get(k).and_then(|v| v["p50_ms"].as_f64());
    let (b50, s50, a50) = (p50("bridge/sym"), p50("rampart/sym"), p50("rampart/asym"));
    let diff = |x: Option<f64>, y: Option<f64>| x.zip(y).map(|(x, y)| x - y);
    if args.connects > 0 {
        eprintln!(
            "connect p50: rampart sym - bridge {} ms (goal <= 0.1); asym - sym {} ms (goal <= 0.2)",
            cell(diff(s50, b50), 3),
            cell(diff(a50, s50), 3)
        );
    }
    let med = |m: &BTreeMap<&str, Vec<f64>>, k: &str| m.get(k).and_then(|v| median(v));
    let (sym, asym) = (med(&rps, "sym"), med(&rps, "asym"));
    let r = ratio(asym, sym);
    eprintln!(
        "median req/s: sym {}, asym {}; asym/sym {}; sync events per asym connection {}; held expired: sym {}, asym {}",
        cell(sym, 0),
        cell(asym, 0),
        cell(r, 3),
        cell(med(&per_conn, "asym"), 2),
        expired.get("sym").copied().unwrap_or(0),
        expired.get("asym").copied().unwrap_or(0),
    );
    let mut summary = crate::machine();
    summary["loadavg_end"] = crate::machine()["loadavg"].clone();
    Ok(json!({
        "benchmark": "http",
        "machine": summary,
        "settings": {
            "seconds": args.seconds,
            "reps": args.reps,
            "connections": args.connections,
            "threads": args.threads,
            "defer_ms": args.defer_ms,
            "new_connection_per_request": true,
        },
        "runs": runs,
        "median_requests_per_s": {"sym": sym, "asym": asym},
        "median_sync_events_per_conn": {
            "sym": med(&per_conn, "sym"),
            "asym": med(&per_conn, "asym"),
        },
        "held_expired": expired,
        "bridge_requests_per_s": bridge_rps,
        "connect": connect,
        "connect_p50_diff_ms": {
            "sym_minus_bridge": diff(s50, b50),
            "asym_minus_sym": diff(a50, s50),
        },
        "ratios": {"asym_over_sym": r},
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let out = "Running 2s test @ http://198.18.20.20:8080/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  310.11us   9.87ms   80.00%
  Latency Distribution
     50%    1.10ms
     75%    1.30ms
     90%    1.60ms
     99%  850.00us
  21402 requests in 2.00s, 17.49MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec:  10700.52
Transfer/sec:      8.74MB
";
        let w = parse_wrk(out);
        assert_eq!(w.requests, 21402);
        assert!((w.rps - 10700.52).abs() < 1e-9);
        assert_eq!(w.p50_ms, Some(1.1));
        assert!((w.p99_ms.unwrap() - 0.85).abs() < 1e-9);
        assert_eq!((w.errors, w.timeouts, w.non_2xx), (6, 4, 5));
        assert_eq!(wrk_ms("2.00s"), Some(2000.0));
    }
}
