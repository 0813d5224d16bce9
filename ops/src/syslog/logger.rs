//! The connection logger: takes the engines' connection events between
//! batches, formats them as ASA messages, applies the rate limit, and logs
//! them through `tracing` (target `rampart::asa`) and optionally to a
//! syslog server. A thread of its own polls the workers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_dataplane::engine::connlog::{ConnEvent, DEFAULT_CONN_EVENTS_MAX};
use rampart_dataplane::{DropReason, IfaceId, InterfaceConfig};

use super::SyslogCounters;
use super::format::{Context, Message, format_event};
use super::ratelimit::{DEFAULT_SYSLOG_MAX_PER_SEC, RateLimit};
use super::rfc5424::UdpSink;
use super::threat::{ThreatMonitor, default_rules};
use crate::pool::EnginePool;

/// How often the logger takes the workers' events. With the default queue
/// of 4096 events per worker this keeps up with about 40,000 connection
/// events per second per worker; beyond, events are counted as dropped.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The logger's settings.
#[derive(Debug, Clone)]
pub struct SyslogConfig {
    /// Messages per second at most (the rest are counted and reported).
    pub max_per_sec: u32,
    /// A syslog server for RFC 5424 over UDP.
    pub server: Option<SocketAddr>,
    /// This node's name in RFC 5424 messages.
    pub hostname: String,
    /// Events each engine queues between two polls.
    pub queue_events: usize,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            max_per_sec: DEFAULT_SYSLOG_MAX_PER_SEC,
            server: None,
            hostname: "rampart".into(),
            queue_events: DEFAULT_CONN_EVENTS_MAX,
        }
    }
}

/// Formats, limits and writes messages.
#[derive(Debug)]
pub struct ConnLogger {
    limit: RateLimit,
    udp: Option<UdpSink>,
    counters: Arc<SyslogCounters>,
    threat: ThreatMonitor,
    started: std::time::Instant,
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl ConnLogger {
    /// A logger (opens the UDP socket if a server is configured).
    pub fn new(cfg: &SyslogConfig, counters: Arc<SyslogCounters>) -> std::io::Result<Self> {
        let udp = cfg
            .server
            .map(|s| UdpSink::new(s, &cfg.hostname))
            .transpose()?;
        Ok(ConnLogger {
            limit: RateLimit::new(cfg.max_per_sec),
            udp,
            counters,
            threat: ThreatMonitor::new(default_rules()),
            started: std::time::Instant::now(),
        })
    }

    fn now_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn report_suppressed(&self, n: u64) {
        tracing::warn!(
            target: "rampart::asa",
            suppressed = n,
            "{n} syslog message(s) suppressed by the rate limit ({} per second)",
            self.limit.max_per_sec()
        );
    }

    /// Log one message, within the limit.
    pub fn emit(&mut self, msg: &Message) {
        let admit = self.limit.admit(self.now_s());
        if let Some(n) = admit.suppressed_before {
            self.report_suppressed(n);
        }
        if !admit.log {
            self.counters.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.counters.logged.fetch_add(1, Ordering::Relaxed);
        let line = msg.line();
        match msg.severity {
            0..=3 => tracing::error!(target: "rampart::asa", asa_id = msg.id, "{line}"),
            4 => tracing::warn!(target: "rampart::asa", asa_id = msg.id, "{line}"),
            5 | 6 => tracing::info!(target: "rampart::asa", asa_id = msg.id, "{line}"),
            _ => tracing::debug!(target: "rampart::asa", asa_id = msg.id, "{line}"),
        }
        if let Some(u) = &self.udp
            && u.send(msg, unix_ns()).is_err()
        {
            self.counters.udp_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Log a worker's events.
    pub fn events(&mut self, ctx: &Context<'_>, events: &[ConnEvent]) {
        for ev in events {
            if let Some(m) = format_event(ctx, ev) {
                self.emit(&m);
            }
        }
    }

    /// Feed the drop counters (summed over workers) to the rate monitor,
    /// and report a suppression whose second has ended.
    pub fn tick(&mut self, drops: &[u64]) {
        let now = self.now_s();
        if let Some(n) = self.limit.tick(now) {
            self.report_suppressed(n);
        }
        for m in self.threat.sample(drops, now) {
            self.emit(&m);
        }
    }
}

/// What one poll takes from a worker.
struct Taken {
    events: Vec<ConnEvent>,
    interfaces: Vec<InterfaceConfig>,
    access_groups: Vec<Option<String>>,
    drops: [u64; DropReason::COUNT],
}

/// The polling thread; dropping it stops it.
#[derive(Debug)]
pub struct LogPump {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LogPump {
    /// Turn the engines' connection log on and poll them every
    /// [`POLL_INTERVAL`] until dropped.
    pub fn start<P: EnginePool>(
        pool: Arc<P>,
        mut logger: ConnLogger,
        queue_events: usize,
    ) -> std::io::Result<LogPump> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("rampart-connlog".into())
            .spawn(move || {
                let mut enabled = false;
                while !flag.load(Ordering::Relaxed) {
                    if !enabled {
                        enabled = pool
                            .each(POLL_INTERVAL * 10, move |w| {
                                w.engine.set_conn_log(queue_events)
                            })
                            .is_ok();
                    }
                    let taken = pool.each(POLL_INTERVAL * 10, |w| {
                        let mut events = Vec::new();
                        w.engine.take_conn_events(&mut events);
                        let n = w.engine.config().interfaces.len();
                        Taken {
                            events,
                            interfaces: w.engine.config().interfaces.clone(),
                            access_groups: (0..n)
                                .map(|i| {
                                    w.engine
                                        .policy()
                                        .access_group(IfaceId(i as u8))
                                        .map(String::from)
                                })
                                .collect(),
                            drops: w.engine.counters().drops,
                        }
                    });
                    if let Ok(taken) = taken {
                        let mut drops = [0u64; DropReason::COUNT];
                        for t in &taken {
                            for (d, x) in drops.iter_mut().zip(t.drops) {
                                *d = d.saturating_add(x);
                            }
                            let ctx = Context {
                                interfaces: &t.interfaces,
                                access_groups: &t.access_groups,
                            };
                            logger.events(&ctx, &t.events);
                        }
                        logger.tick(&drops);
                    }
                    std::thread::sleep(POLL_INTERVAL);
                }
            })?;
        Ok(LogPump {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for LogPump {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
