//! State sync over a real QUIC link on loopback: two nodes in one process,
//! each a sync protocol and an engine driven by a tokio task, connected by
//! the real transport (mutual TLS with a cluster CA made for the run).
//!
//! Measured in one run, in this order:
//! 1. **Bulk**: node A's engine holds `FLOWS` connections (default 1M,
//!    made by processing real UDP frames); node B starts empty and joins.
//!    Time from B's connection coming up until B is ready with every flow
//!    in its engine.
//! 2. **Throughput**: A sends an update for each of the flows (their
//!    last-seen moves) as fast as the pipeline takes them; events/s until
//!    B's engine has merged them all.
//! 3. **Lag**: A sends updates at a fixed `RATE` (default 100k events/s,
//!    in 1 ms ticks) for 3 s; each carries its send time, B takes the
//!    difference when it merges it. p50/p99/max.
//! 4. **Baseline, same run**: the same updates through the same code with
//!    no network (protocol → bytes → protocol → engine in one thread), the
//!    ceiling the link is compared against.
//!
//! Output: lines on stderr and one JSON object on stdout.
//! Run: `cargo bench -p rampart-cluster --bench link` (env `FLOWS`, `RATE`).
//! `scripts/bench/sync.sh` runs it beside conntrackd.

// A benchmark measures wall time by definition.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rampart_cluster::pki::{self, NodeTls};
use rampart_cluster::sync::{Output, Protocol, ProtocolConfig};
use rampart_cluster::transport::{PeerSpec, Transport, TransportConfig, TransportEvent};
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::{SyncConfig, SyncOut};
use rampart_dataplane::packet::{ChecksumState, PacketMeta};
use rampart_dataplane::sync::SyncEvent;
use rampart_dataplane::trace::{Host, udp_frame};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant};
use tokio::sync::mpsc;

/// Engine time of the run's start.
const T0: Instant = Instant::from_secs(1_700_000_000);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Engine time now: T0 plus the wall time since `epoch`.
fn now(epoch: std::time::Instant) -> Instant {
    Instant::from_nanos(T0.as_nanos() + epoch.elapsed().as_nanos() as u64)
}

fn engine(id: u16, flows: usize) -> Engine {
    let mut cfg = EngineConfig::inside_outside(NodeId(id), [1, 2, 3, u64::from(id)]);
    cfg.max_conns = flows.max(1024) + 1024;
    cfg.sync = Some(SyncConfig::default());
    Engine::new(cfg).expect("valid config")
}

/// Engine A with `n` UDP flows from real frames; returns their states as
/// update events.
fn owner(n: usize) -> (Engine, Vec<SyncOut>) {
    let mut a = engine(1, n);
    a.set_ready(true);
    let meta = PacketMeta {
        checksum: ChecksumState::Verified,
        ..PacketMeta::default()
    };
    let server = Host {
        mac: [2, 0, 0, 0, 0, 2],
        ip: std::net::IpAddr::from([198, 19, 0, 1]),
        port: 53,
        iface: IfaceId(1),
    };
    for i in 0..n {
        let client = Host {
            mac: [2, 0, 0, 0, 0, 1],
            ip: std::net::IpAddr::from([198, 18, (i >> 8) as u8, i as u8]),
            port: 1024 + (i >> 16) as u16,
            iface: IfaceId(0),
        };
        let mut f = udp_frame(&client, &server, b"q");
        a.process(&mut f, meta, IfaceId(0), T0);
    }
    assert_eq!(a.table().len(), n, "every flow in the table");
    let out: Vec<SyncOut> = std::iter::from_fn(|| a.poll_effect(T0))
        .filter_map(Effect::into_sync)
        .collect();
    (a, out)
}

/// What the B side reports.
#[derive(Debug, Default)]
struct Stats {
    applied: AtomicU64,
    ready_ns: AtomicU64,
    up_ns: AtomicU64,
    measuring_lag: AtomicBool,
    lag_ns: std::sync::Mutex<Vec<u64>>,
}

enum Cmd {
    Push(Vec<SyncOut>),
}

/// One node: protocol + engine, pumped by transport events, commands and
/// the protocol's timer.
async fn run_node(
    mut protocol: Protocol,
    mut engine: Engine,
    transport: Transport,
    mut events: mpsc::Receiver<TransportEvent>,
    mut cmds: mpsc::Receiver<Cmd>,
    stats: Arc<Stats>,
    epoch: std::time::Instant,
) {
    loop {
        let timer = protocol.poll_timeout();
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { return };
                let t = now(epoch);
                match ev {
                    TransportEvent::Up { peer, conn } => {
                        stats.up_ns.store(epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        protocol.on_peer_up(peer, conn, t);
                    }
                    TransportEvent::Down { peer, conn, .. } => protocol.on_peer_down(peer, conn, t),
                    TransportEvent::Frame {
                        peer, conn, frame, ..
                    } => {
                        protocol.on_frame(peer, conn, &frame, t).expect("honest frame");
                    }
                    TransportEvent::Datagram { peer, conn, frame } => {
                        protocol.on_datagram(peer, conn, &frame, t).expect("honest datagram");
                    }
                }
            }
            cmd = cmds.recv() => {
                let Some(Cmd::Push(batch)) = cmd else { return };
                protocol.push_events(&batch);
                while let Ok(Cmd::Push(more)) = cmds.try_recv() {
                    protocol.push_events(&more);
                }
                protocol.flush(now(epoch));
            }
            () = async {
                match timer {
                    Some(t) => {
                        let wait = Duration::from_nanos(t.as_nanos().saturating_sub(now(epoch).as_nanos()));
                        tokio::time::sleep(wait).await;
                    }
                    None => std::future::pending().await,
                }
            } => protocol.handle_timeout(now(epoch)),
        }
        while let Some(out) = protocol.poll_output() {
            match out {
                Output::Send { peer, conn, frame } => {
                    transport.send(peer, conn, frame).expect("queue has room");
                }
                Output::Datagram { peer, conn, frame } => {
                    let _ = transport.send_datagram(peer, conn, frame);
                }
                Output::Apply {
                    from,
                    passive,
                    events: evs,
                    ..
                } => {
                    let t = now(epoch);
                    let lag = stats.measuring_lag.load(Ordering::Relaxed);
                    let mut samples = Vec::new();
                    for e in &evs {
                        if lag && let SyncEvent::Upsert(s) = e {
                            samples.push(t.as_nanos().saturating_sub(s.last_seen_ns));
                        }
                        let source = rampart_dataplane::engine::sync::Source {
                            from,
                            passive,
                            ..Default::default()
                        };
                        engine.apply_peer(e, source, t).expect("valid event");
                    }
                    if lag && let Ok(mut v) = stats.lag_ns.lock() {
                        v.extend(samples);
                    }
                    stats.applied.fetch_add(evs.len() as u64, Ordering::Relaxed);
                }
                Output::Acked(list) => {
                    for (k, i) in &list {
                        engine.sync_acked(k, i);
                    }
                }
                Output::Pull {
                    origin,
                    keys,
                    forwardable,
                } => {
                    let t = now(epoch);
                    for (k, answered) in &keys {
                        engine.serve_pull(k, origin, forwardable, *answered, t);
                    }
                }
                Output::Confirm { from, flows } => {
                    let t = now(epoch);
                    for c in &flows {
                        engine.apply_confirm(c, from, t);
                    }
                }
                Output::BulkDump { peer, id, .. } => {
                    let t = now(epoch);
                    let mut cursor = 0;
                    let mut total = 0u64;
                    loop {
                        let mut flows = Vec::with_capacity(4096);
                        let last = engine.bulk_chunk(&mut cursor, 4096, t, &mut flows);
                        total += flows.len() as u64;
                        protocol.bulk_out(peer, id, flows, last, total);
                        if last {
                            break;
                        }
                    }
                }
                Output::PeersUp(n) => engine.set_peers_up(n),
                Output::Placement(p) => engine.set_placement(p),
                // The pair's bench runs no pulls, and measures a link
                // whose peers hold every flow from the start; its dumps
                // run whole when asked for, so none is left to cancel.
                Output::State { .. } | Output::Rebalance { .. } | Output::BulkCancel { .. } => {}
                Output::Ready => {
                    engine.set_ready(true);
                    stats
                        .ready_ns
                        .store(epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
                }
                Output::NotReady => engine.set_ready(false),
            }
        }
    }
}

fn pct(v: &mut [u64], p: usize) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    v[(v.len() * p / 100).min(v.len() - 1)] as f64 / 1e6
}

/// The same updates through protocol → bytes → protocol → engine in one
/// thread: the ceiling without a network.
fn in_memory_rate(updates: &[SyncOut], b: &mut Engine) -> f64 {
    let mut p = Protocol::new(1, 11, &[1, 2], ProtocolConfig::default(), T0);
    let mut q = Protocol::new(2, 22, &[1, 2], ProtocolConfig::default(), T0);
    p.on_peer_up(2, 1, T0);
    q.on_peer_up(1, 1, T0);
    let mut wire = [Vec::new(), Vec::new()];
    let pump = |x: &mut Protocol, to: &mut Vec<bytes::Bytes>, b: Option<&mut Engine>| {
        let mut b = b;
        while let Some(o) = x.poll_output() {
            match o {
                Output::Send { frame, .. } => to.push(frame),
                Output::Apply { events: evs, .. } => {
                    if let Some(b) = b.as_deref_mut() {
                        for e in &evs {
                            let _ = b.apply_sync(e, T0);
                        }
                    }
                }
                Output::BulkDump { peer, id, .. } => x.bulk_out(peer, id, Vec::new(), true, 0),
                _ => {}
            }
        }
    };
    // Hello and (empty) bulk both ways.
    for _ in 0..4 {
        pump(&mut p, &mut wire[1], None);
        pump(&mut q, &mut wire[0], None);
        for f in std::mem::take(&mut wire[1]) {
            q.on_frame(1, 1, &f, T0).expect("setup");
        }
        for f in std::mem::take(&mut wire[0]) {
            p.on_frame(2, 1, &f, T0).expect("setup");
        }
    }
    let t = std::time::Instant::now();
    for chunk in updates.chunks(8192) {
        p.push_events(chunk);
        p.flush(T0);
        pump(&mut p, &mut wire[1], None);
        for f in std::mem::take(&mut wire[1]) {
            q.on_frame(1, 1, &f, T0).expect("batch");
        }
        pump(&mut q, &mut wire[0], Some(b));
        for f in std::mem::take(&mut wire[0]) {
            p.on_frame(2, 1, &f, T0).expect("ack");
        }
        pump(&mut p, &mut wire[1], None);
    }
    updates.len() as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let flows = env("FLOWS", 1_000_000);
    let rate = env("RATE", 100_000);
    eprintln!("link bench: {flows} flows, lag at {rate} events/s");
    let dir = std::env::temp_dir().join(format!("rampart-link-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    pki::init_ca(&dir).expect("ca");
    let tls = |id: u16| {
        let i = pki::issue_node_cert(&dir, id, &format!("n{id}"), &dir).expect("cert");
        NodeTls::load(&dir.join(pki::CA_CERT), &i.cert, &i.key).expect("tls")
    };
    let (tls_a, tls_b) = (tls(1), tls(2));

    let t = std::time::Instant::now();
    let (engine_a, inserts) = owner(flows);
    eprintln!("  built {flows} flows in engine A in {:.2?}", t.elapsed());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let epoch = std::time::Instant::now();
    let stats = Arc::new(Stats::default());
    let (cmd_a, tx_b_unused);
    {
        let _g = rt.enter();
        let loopback = "127.0.0.1:0".parse().expect("addr");
        let (b, b_events) = Transport::start(
            TransportConfig::new(
                2,
                loopback,
                vec![PeerSpec {
                    id: 1,
                    name: "n1".into(),
                    address: loopback,
                }],
            ),
            tls_b,
        )
        .expect("start B");
        let b_addr = b.local_addr().expect("B address");
        let (a, a_events) = Transport::start(
            TransportConfig::new(
                1,
                loopback,
                vec![PeerSpec {
                    id: 2,
                    name: "n2".into(),
                    address: b_addr,
                }],
            ),
            tls_a,
        )
        .expect("start A");
        let cfg = ProtocolConfig {
            // Room to resend everything the run sends without a gap.
            resend_max_events: 4 * flows + 4 * rate,
            ..ProtocolConfig::default()
        };
        let pa = Protocol::new(1, 0xa, &[2], cfg, now(epoch));
        let pb = Protocol::new(2, 0xb, &[1], cfg, now(epoch));
        let (ca_tx, ca_rx) = mpsc::channel(1 << 16);
        let (cb_tx, cb_rx) = mpsc::channel(16);
        rt.spawn(run_node(
            pa,
            engine_a,
            a,
            a_events,
            ca_rx,
            Arc::new(Stats::default()),
            epoch,
        ));
        rt.spawn(run_node(
            pb,
            engine(2, flows),
            b,
            b_events,
            cb_rx,
            stats.clone(),
            epoch,
        ));
        cmd_a = ca_tx;
        tx_b_unused = cb_tx;
    }

    // 1. Bulk.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while stats.ready_ns.load(Ordering::Relaxed) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (up, ready) = (
        stats.up_ns.load(Ordering::Relaxed),
        stats.ready_ns.load(Ordering::Relaxed),
    );
    let bulk_applied = stats.applied.load(Ordering::Relaxed);
    assert!(ready > 0, "B never became ready");
    assert_eq!(bulk_applied as usize, flows, "B holds every flow");
    let bulk_s = (ready - up) as f64 / 1e9;
    eprintln!(
        "  bulk: {flows} flows in {bulk_s:.3} s ({:.0} flows/s)",
        flows as f64 / bulk_s
    );

    // 2. Throughput: one update per flow.
    let mut updates = inserts.clone();
    let stamp = now(epoch).as_nanos();
    for u in &mut updates {
        if let SyncEvent::Upsert(s) = &mut u.event {
            s.last_seen_ns = stamp;
        }
    }
    let base = stats.applied.load(Ordering::Relaxed);
    let t = std::time::Instant::now();
    for chunk in updates.chunks(8192) {
        cmd_a
            .blocking_send(Cmd::Push(chunk.to_vec()))
            .expect("A runs");
    }
    let want = base + updates.len() as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while stats.applied.load(Ordering::Relaxed) < want && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    let secs = t.elapsed().as_secs_f64();
    let got = stats.applied.load(Ordering::Relaxed) - base;
    assert_eq!(got, updates.len() as u64, "every update merged");
    let throughput = got as f64 / secs;
    eprintln!("  throughput: {got} events in {secs:.3} s = {throughput:.0} events/s");

    // 3. Lag at a fixed rate.
    stats.measuring_lag.store(true, Ordering::Relaxed);
    let per_ms = (rate / 1000).max(1);
    let ticks = 3000usize;
    let mut next = 0usize;
    let start = std::time::Instant::now();
    for tick in 0..ticks {
        let due = start + Duration::from_millis(tick as u64);
        if let Some(wait) = due.checked_duration_since(std::time::Instant::now()) {
            std::thread::sleep(wait);
        }
        let stamp = now(epoch).as_nanos();
        let mut batch = Vec::with_capacity(per_ms);
        for _ in 0..per_ms {
            let mut u = inserts[next % inserts.len()];
            next += 1;
            if let SyncEvent::Upsert(s) = &mut u.event {
                s.last_seen_ns = stamp;
            }
            batch.push(u);
        }
        cmd_a.blocking_send(Cmd::Push(batch)).expect("A runs");
    }
    let sent_secs = start.elapsed().as_secs_f64();
    let want = ticks * per_ms;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stats.lag_ns.lock().map(|v| v.len()).unwrap_or(0) < want
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    stats.measuring_lag.store(false, Ordering::Relaxed);
    let mut lags = stats.lag_ns.lock().map(|v| v.clone()).unwrap_or_default();
    let (p50, p99, max) = (pct(&mut lags, 50), pct(&mut lags, 99), pct(&mut lags, 100));
    let offered = want as f64 / sent_secs;
    eprintln!(
        "  lag at {offered:.0} events/s offered ({} samples): p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms",
        lags.len()
    );
    drop(tx_b_unused);
    rt.shutdown_timeout(Duration::from_millis(500));

    // 4. The same updates without a network.
    let mut b = engine(2, flows);
    b.set_ready(true);
    for u in &inserts {
        let _ = b.apply_sync(&u.event, T0);
    }
    let ceiling = in_memory_rate(&updates, &mut b);
    eprintln!(
        "  in-memory pipeline (same updates, no network): {ceiling:.0} events/s; link / in-memory = {:.2}",
        throughput / ceiling
    );
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{{\"tool\":\"rampart\",\"flows\":{flows},\"bulk_seconds\":{bulk_s:.3},\"throughput_events_per_s\":{throughput:.0},\
         \"lag_rate\":{offered:.0},\"lag_samples\":{},\"lag_ms_p50\":{p50:.3},\"lag_ms_p99\":{p99:.3},\"lag_ms_max\":{max:.3},\
         \"in_memory_events_per_s\":{ceiling:.0},\"link_over_in_memory\":{:.3}}}",
        lags.len(),
        throughput / ceiling
    );
}
