//! `rampart run --config node.toml`: the node daemon. Loads the node
//! configuration and its bootstrap policy, opens the data interfaces and
//! bridges them through the engine until SIGINT or SIGTERM.
//!
//! Today one worker bridges both interfaces; PACKET_FANOUT workers, the
//! cluster and the ops endpoints come with their issues.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};
use rampart_dataplane::io::afpacket::PacketSocket;
use rampart_dataplane::io::bridge::Bridge;
use rampart_dataplane::policy::compile::compile;
use rampart_dataplane::policy::parse::parse_config;
use rampart_dataplane::{DropReason, Engine, EngineConfig};

use crate::config::NodeConfig;

/// Set by the signal handler; the bridge checks it between batches.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
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
    let inside = PacketSocket::open(&cfg.interfaces[0].name)?;
    let outside = PacketSocket::open(&cfg.interfaces[1].name)?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
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
    bridge.run(&STOP)?;
    let c = bridge.engine.counters();
    let drops: Vec<String> = DropReason::ALL
        .iter()
        .filter(|r| c.dropped(**r) > 0)
        .map(|r| format!("{}={}", r.label(), c.dropped(*r)))
        .collect();
    eprintln!(
        "rampart: stopped; forwarded {} frames, {} connections in use ({} most used), dropped {} [{}]",
        c.forwarded_packets,
        bridge.engine.table().len(),
        bridge.engine.table().high_water(),
        c.total_dropped(),
        drops.join(" ")
    );
    Ok(())
}
