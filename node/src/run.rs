//! `rampart run --config node.toml`: the node daemon. Loads the node
//! configuration and its bootstrap policy, opens the data interfaces and
//! bridges them through the engine until SIGINT or SIGTERM.
//!
//! With a `[cluster]` table the node also runs state sync: a tokio thread
//! drives the QUIC transport and the sync protocol, and the bridge trades
//! events with it through a [`crate::cluster_link::Port`]. The node does
//! not forward until its first bulk sync is done (or it is alone).
//!
//! SIGUSR1 writes `show conn detail` to `<data_dir>/<name>.conn` and the
//! counters to `<data_dir>/<name>.counters`.
//!
//! Today one worker bridges both interfaces; PACKET_FANOUT workers and the
//! ops endpoints come with their issues.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};
use rampart_dataplane::io::afpacket::PacketSocket;
use std::time::Duration;

use rampart_cluster::pki::NodeTls;
use rampart_cluster::sync::{Protocol, ProtocolConfig};
use rampart_cluster::transport::{PeerSpec, Transport, TransportConfig};
use rampart_dataplane::engine::sync::SyncConfig;
use rampart_dataplane::io::bridge::Bridge;
use rampart_dataplane::policy::compile::compile;
use rampart_dataplane::policy::parse::parse_config;
use rampart_dataplane::{DropReason, Engine, EngineConfig};
use rampart_ops::show_conn::{ConnFilter, render_show_conn};

use crate::cluster_link::{self, Clock, LinkCounters, Port, SyncStatus};
use crate::config::NodeConfig;

/// Set by the signal handler; the bridge checks it between batches.
static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGUSR1: dump the connection table.
static DUMP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

extern "C" fn on_usr1(_: libc::c_int) {
    DUMP.store(true, Ordering::Relaxed);
}

/// Secrets for the flow hash and sequence randomization, from the kernel.
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

/// Run the node until a signal asks it to stop.
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let cfg = NodeConfig::load(config_path)?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("rampart run needs root (AF_PACKET sockets on the data interfaces)");
    }
    let s = secrets()?;
    let mut engine_cfg = EngineConfig::inside_outside(
        rampart_dataplane::conntrack::NodeId(cfg.node.id),
        [s[0], s[1], s[2], s[3]],
    );
    engine_cfg.seq_secret = [s[4], s[5]];
    engine_cfg.interfaces = cfg.engine_interfaces();
    if let Some(c) = &cfg.cluster {
        engine_cfg.sync = Some(SyncConfig {
            hold_deadline: Duration::from_millis(c.hold_ms),
            defer_deadline: Duration::from_millis(c.defer_ms),
            ..SyncConfig::default()
        });
    }
    let mut engine = Engine::new(engine_cfg).context("building the engine")?;
    if let Some(policy) = &cfg.node.policy {
        // A relative policy path is relative to the node configuration.
        let path = config_path.parent().unwrap_or(Path::new(".")).join(policy);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading policy {}", path.display()))?;
        let parsed = parse_config(&text)
            .map_err(|e| anyhow::anyhow!("{}: policy refused:\n{e}", path.display()))?;
        let compiled = compile(&parsed.config, &engine.config().interfaces)
            .map_err(|e| anyhow::anyhow!("{}: policy refused: {e}", path.display()))?;
        engine.set_policy(Arc::new(compiled));
        eprintln!(
            "rampart: policy {} loaded ({} line(s) ignored)",
            path.display(),
            parsed.ignored.len()
        );
    }
    let clock = Clock::start();
    // The cluster first: a bad certificate or address fails before any
    // interface is touched.
    let cluster = match &cfg.cluster {
        Some(c) => Some(start_cluster(&cfg, c, config_path, clock, s[0] ^ s[5])?),
        None => None,
    };
    let inside = PacketSocket::open(&cfg.interfaces[0].name)?;
    let outside = PacketSocket::open(&cfg.interfaces[1].name)?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
    }
    eprintln!(
        "rampart: node {} (id {}) bridging {} ({}) and {} ({})",
        cfg.node.name,
        cfg.node.id,
        cfg.interfaces[0].name,
        cfg.interfaces[0].nameif,
        cfg.interfaces[1].name,
        cfg.interfaces[1].nameif
    );
    let mut bridge = Bridge::new(inside, outside, engine);
    if let Some(c) = &cluster {
        bridge = bridge.with_cluster((clock.epoch, clock.base_ns), Box::new(c.take_port()));
    }
    let data = cfg.data_path(config_path);
    let conn_path = data.join(format!("{}.conn", cfg.node.name));
    let counters_path = data.join(format!("{}.counters", cfg.node.name));
    loop {
        bridge.run_until(&STOP, &DUMP)?;
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        DUMP.store(false, Ordering::Relaxed);
        let table = render_show_conn(&bridge.engine, bridge.now(), &ConnFilter::default(), true);
        let mut counters = format!("counters; {}\n", counters_line(&bridge.engine));
        if let Some(line) = sync_line(&bridge.engine) {
            counters.push_str(&line);
            counters.push('\n');
        }
        if let Some(line) = cluster.as_ref().and_then(ClusterSide::line) {
            counters.push_str(&line);
            counters.push('\n');
        }
        for (path, text) in [(&conn_path, table), (&counters_path, counters)] {
            if let Err(e) = write_atomic(path, &text) {
                eprintln!("rampart: cannot write {}: {e}", path.display());
            }
        }
    }
    eprintln!("rampart: stopped; {}", counters_line(&bridge.engine));
    if let Some(line) = sync_line(&bridge.engine) {
        eprintln!("rampart: {line}");
    }
    if let Some(c) = cluster {
        c.stop();
    }
    Ok(())
}

/// Forwarding, table and drop counters in one line.
fn counters_line(engine: &Engine) -> String {
    let c = engine.counters();
    let drops: Vec<String> = DropReason::ALL
        .iter()
        .filter(|r| c.dropped(**r) > 0)
        .map(|r| format!("{}={}", r.label(), c.dropped(*r)))
        .collect();
    format!(
        "forwarded {} frames, {} connections in use ({} most used), dropped {} [{}]",
        c.forwarded_packets,
        engine.table().len(),
        engine.table().high_water(),
        c.total_dropped(),
        drops.join(" ")
    )
}

/// The engine's sync counters in one line (`key=value` pairs).
fn sync_line(engine: &Engine) -> Option<String> {
    let sc = engine.sync_counters()?;
    let kinds = |a: &[u64; 4]| a.iter().sum::<u64>();
    Some(format!(
        "sync; events_out={} events_in={} joined={} rejected={} held={} released={} \
         expired={} deferred={} acked={} timed_out={} bulk_flows_out={}",
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
    ))
}

/// Write `text` to `path` through a temporary file (readers never see a
/// partial file).
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The cluster side of a node: its runtime thread and shared status.
struct ClusterSide {
    runtime: tokio::runtime::Runtime,
    transport: Transport,
    port: std::sync::Mutex<Option<Port>>,
    status: Arc<SyncStatus>,
    link: Arc<LinkCounters>,
}

impl ClusterSide {
    fn take_port(&self) -> Port {
        self.port
            .lock()
            .ok()
            .and_then(|mut p| p.take())
            .expect("the port is taken once")
    }

    /// Protocol, transport and link counters in one line.
    fn line(&self) -> Option<String> {
        let s = self.status.snapshot.lock().ok()?;
        let (pc, phases) = s.as_ref()?;
        let peers: Vec<String> = phases.iter().map(|(p, ph)| format!("{p}:{ph}")).collect();
        let tc = self.transport.counters();
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        Some(format!(
            "cluster; peers [{}] batches_sent={} events_sent={} events_received={} \
             datagrams_sent={} datagrams_resent={} datagrams_received={} resent={} gaps={} malformed={} \
             bulk_completed={} bulk_flows_received={} last_bulk_ms={} frames_refused={} \
             send_failed={} events_dropped={} refused_tls={} refused_identity={} \
             refused_unknown_peer={}",
            peers.join(" "),
            pc.batches_sent,
            pc.events_sent,
            pc.events_received,
            pc.datagrams_sent,
            pc.datagrams_resent,
            pc.datagrams_received,
            pc.batches_resent,
            pc.gaps,
            pc.malformed,
            pc.bulk_completed,
            pc.bulk_flows_received,
            pc.last_bulk.as_millis(),
            get(&self.link.frames_refused),
            get(&self.link.send_failed),
            get(&self.link.events_dropped),
            get(&tc.refused_tls),
            get(&tc.refused_wrong_identity),
            get(&tc.refused_unknown_peer),
        ))
    }

    fn stop(self) {
        if let Some(line) = self.line() {
            eprintln!("rampart: {line}");
        }
        let t = self.transport.clone();
        self.runtime.block_on(async move { t.shutdown().await });
        self.runtime.shutdown_timeout(Duration::from_millis(500));
    }
}

fn start_cluster(
    cfg: &NodeConfig,
    c: &crate::config::Cluster,
    config_path: &Path,
    clock: Clock,
    session: u64,
) -> anyhow::Result<ClusterSide> {
    let paths = cfg.tls_paths(config_path).expect("a [cluster] table");
    let tls = NodeTls::load(&paths.ca, &paths.cert, &paths.key).with_context(|| {
        format!(
            "{}: cluster TLS (create with `rampart cluster init` and `rampart cluster cert`)",
            config_path.display()
        )
    })?;
    tls.verify_peer(&tls.chain, Some(cfg.node.id))
        .map_err(|e| anyhow::anyhow!("{}: {e}", paths.cert.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rampart-cluster")
        .enable_all()
        .build()
        .context("starting the cluster runtime")?;
    let peers: Vec<PeerSpec> = c
        .peers
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
    let peer_ids: Vec<u16> = c.peers.iter().map(|p| p.id).collect();
    let pcfg = ProtocolConfig {
        join_timeout: Duration::from_millis(c.join_timeout_ms),
        ..ProtocolConfig::default()
    };
    let protocol = Protocol::new(cfg.node.id, session, &peer_ids, pcfg, clock.now());
    let link = Arc::new(LinkCounters::default());
    let (port, end) = cluster_link::link(link.clone()).context("creating the cluster link")?;
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
    eprintln!(
        "rampart: cluster endpoint on {} ({} peer(s)); not forwarding until synced",
        c.listen,
        c.peers.len()
    );
    Ok(ClusterSide {
        runtime,
        transport,
        port: std::sync::Mutex::new(Some(port)),
        status,
        link,
    })
}
