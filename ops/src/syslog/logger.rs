//! The connection logger: takes the engines' connection events between
//! batches, formats them as ASA messages, applies the rate limit, and logs
//! them through `tracing` (target `rampart::asa`) and optionally to a
//! syslog server. A thread of its own polls the workers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_dataplane::engine::connlog::{ConnEvent, DEFAULT_CONN_EVENTS_MAX};
use rampart_dataplane::{DropReason, InterfaceConfig};

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
    worker: usize,
    events: Vec<ConnEvent>,
    interfaces: Vec<InterfaceConfig>,
    drops: [u64; DropReason::COUNT],
}

/// One pass of the pump over the workers, without the thread: a test
/// drives it poll by poll.
///
/// A worker's events are gone from its engine once its job took them, so
/// the job hands them to a channel this poller owns for its whole life,
/// not to the answer of `each`: when one worker misses the deadline,
/// `each` fails and drops the answers it collected, and a job that runs
/// after its caller gave up answers nobody; either way the events still
/// reach the log, at this poll or the next (SECURITY.md: nothing is
/// dropped silently). A worker that missed a poll keeps its events for the
/// next one; each such poll is counted (`polls_late`).
struct Poller {
    queue_events: usize,
    enabled: bool,
    sink: mpsc::Sender<Taken>,
    taken: mpsc::Receiver<Taken>,
    /// The drop counters each worker answered last (they are cumulative):
    /// their sum feeds the threat monitor, so a worker that missed a poll
    /// shows its last counts, not none.
    drops: Vec<[u64; DropReason::COUNT]>,
    counters: Arc<SyslogCounters>,
}

impl Poller {
    fn new(queue_events: usize, counters: Arc<SyslogCounters>) -> Self {
        let (sink, taken) = mpsc::channel();
        Poller {
            queue_events,
            enabled: false,
            sink,
            taken,
            drops: Vec::new(),
            counters,
        }
    }

    /// Turn the workers' connection log on (until every worker took it),
    /// take their events and log them.
    fn poll<P: EnginePool>(&mut self, pool: &P, logger: &mut ConnLogger) {
        if !self.enabled {
            let queue_events = self.queue_events;
            self.enabled = pool
                .each(POLL_INTERVAL * 10, move |w| {
                    w.engine.set_conn_log(queue_events)
                })
                .is_ok();
        }
        let sink = self.sink.clone();
        let answered = pool.each(POLL_INTERVAL * 10, move |w| {
            let mut events = Vec::new();
            w.engine.take_conn_events(&mut events);
            // The poller holds the receiver as long as it lives.
            let _ = sink.send(Taken {
                worker: w.worker,
                events,
                interfaces: w.engine.config().interfaces.clone(),
                drops: w.engine.counters().drops,
            });
        });
        if answered.is_err() {
            self.counters.polls_late.fetch_add(1, Ordering::Relaxed);
        }
        for t in self.taken.try_iter() {
            if self.drops.len() <= t.worker {
                self.drops.resize(t.worker + 1, [0; DropReason::COUNT]);
            }
            self.drops[t.worker] = t.drops;
            let ctx = Context {
                interfaces: &t.interfaces,
            };
            logger.events(&ctx, &t.events);
        }
        let mut drops = [0u64; DropReason::COUNT];
        for w in &self.drops {
            for (d, x) in drops.iter_mut().zip(w) {
                *d = d.saturating_add(*x);
            }
        }
        logger.tick(&drops);
    }
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
        let mut poller = Poller::new(queue_events, logger.counters.clone());
        let thread = std::thread::Builder::new()
            .name("rampart-connlog".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    poller.poll(&*pool, &mut logger);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{LocalPool, PoolError, WorkerView};
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::packet::PacketMeta;
    use rampart_dataplane::trace::{Side, TcpModel, v4_pair};
    use rampart_dataplane::{Engine, EngineConfig, Instant};

    /// Engines whose `each` runs every job, then, while `late` is set,
    /// fails as the node's pool does when one worker misses the deadline
    /// after the others answered.
    struct LatePool {
        inner: LocalPool,
        late: AtomicBool,
    }

    impl EnginePool for LatePool {
        fn workers(&self) -> usize {
            self.inner.workers()
        }

        fn each<R: Send + 'static>(
            &self,
            timeout: Duration,
            f: impl Fn(&mut WorkerView<'_>) -> R + Send + Sync + 'static,
        ) -> Result<Vec<R>, PoolError> {
            let answers = self.inner.each(timeout, f)?;
            match self.late.load(Ordering::Relaxed) {
                true => Err(PoolError("worker 1 did not answer in 1 s".into())),
                false => Ok(answers),
            }
        }
    }

    /// `n` non-SYN segments from inside with no connection on worker `w`:
    /// `n` connection-log events (106015).
    fn denies(pool: &LatePool, w: usize, n: u16) {
        for port in 0..n {
            let (c, s) = v4_pair(41_000 + port, 80);
            let mut m = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
            m.handshake();
            let ack = m.ack(Side::Client);
            pool.inner.with(w, |e, now| {
                e.process(&mut m.frame(&ack), PacketMeta::default(), c.iface, now)
            });
        }
    }

    /// The events the workers that answered gave up are logged although
    /// another worker missed the poll, and the late poll is counted.
    /// Before, `each` failing dropped them: taken from the engines, logged
    /// nowhere, counted nowhere.
    #[test]
    fn events_taken_in_a_poll_a_worker_missed_are_logged() {
        let engines = (0..2)
            .map(|_| Engine::new(EngineConfig::inside_outside(NodeId(1), [3; 4])).unwrap())
            .collect();
        let pool = LatePool {
            inner: LocalPool::new(engines, || Instant::from_secs(1)),
            late: AtomicBool::new(false),
        };
        let counters = Arc::new(SyslogCounters::default());
        let mut logger = ConnLogger::new(&SyslogConfig::default(), counters.clone()).unwrap();
        let mut poller = Poller::new(64, counters.clone());
        poller.poll(&pool, &mut logger);
        assert_eq!(counters.logged.load(Ordering::Relaxed), 0, "nothing yet");
        denies(&pool, 0, 3);
        denies(&pool, 1, 2);
        pool.late.store(true, Ordering::Relaxed);
        poller.poll(&pool, &mut logger);
        assert_eq!(counters.logged.load(Ordering::Relaxed), 5);
        assert_eq!(counters.polls_late.load(Ordering::Relaxed), 1);
    }
}
