//! Prometheus metrics: a registry whose collectors read a node snapshot at
//! scrape time (the packet path never touches it), encoded in the text
//! exposition format.

pub mod collect;
pub mod family;
pub mod process;
pub mod specs;
pub mod text;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Encoder as _, Registry, TextEncoder};

use crate::http::listen::ListenerStates;
use crate::http::refusal::{Listener, Refusal, RefusalCounters};
use crate::snapshot::NodeSnapshot;
use crate::syslog::SyslogCounters;
use family::Families;

/// Where a scrape gets its snapshot (blocking: it asks the workers).
pub type SnapshotSource = Arc<dyn Fn() -> NodeSnapshot + Send + Sync>;

struct NodeCollector {
    source: SnapshotSource,
    syslog: Option<Arc<SyslogCounters>>,
    http: Arc<RefusalCounters>,
    listeners: Arc<ListenerStates>,
    time_range_failures: Arc<AtomicU64>,
    descs: Vec<Desc>,
}

impl Collector for NodeCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snap = (self.source)();
        let mut f = Families::default();
        collect::fill(&mut f, &snap);
        f.counter(
            &specs::TIME_RANGE_CHECK_FAILURES,
            &[],
            self.time_range_failures.load(Ordering::Relaxed),
        );
        if let Some(s) = &self.syslog {
            let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
            f.counter(&specs::SYSLOG_MESSAGES, &["logged"], get(&s.logged));
            f.counter(&specs::SYSLOG_MESSAGES, &["suppressed"], get(&s.suppressed));
            f.counter(&specs::SYSLOG_UDP_ERRORS, &[], get(&s.udp_errors));
            f.counter(&specs::SYSLOG_POLLS_LATE, &[], get(&s.polls_late));
        }
        for l in Listener::ALL {
            for r in Refusal::ALL {
                f.counter(
                    &specs::HTTP_REFUSED,
                    &[l.label(), r.label()],
                    self.http.get(l, r),
                );
            }
            // Only the listeners the node serves: an absent series is a
            // listener not configured, a 0 one that waits for its port.
            if self.listeners.configured(l) {
                let up = f64::from(u8::from(self.listeners.bound(l)));
                f.gauge(&specs::LISTENER_UP, &[l.label()], up);
                f.counter(
                    &specs::LISTENER_BIND_FAILURES,
                    &[l.label()],
                    self.listeners.bind_failures(l),
                );
                let load = self.listeners.load(l);
                f.gauge(
                    &specs::ANSWER_BYTES_HELD,
                    &[l.label()],
                    load.answer_bytes as f64,
                );
                f.gauge(
                    &specs::RESERVED_IN_USE,
                    &[l.label()],
                    load.reserved_in_use as f64,
                );
                f.gauge(
                    &specs::HANDLERS_WAITING,
                    &[l.label()],
                    load.handlers_waiting as f64,
                );
            }
        }
        f.into_vec()
    }
}

struct ProcessCollector {
    descs: Vec<Desc>,
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut f = Families::default();
        process::fill(&mut f);
        f.into_vec()
    }
}

/// The node's registry.
pub struct Metrics {
    registry: Registry,
    http: Arc<RefusalCounters>,
    listeners: Arc<ListenerStates>,
    time_range_failures: Arc<AtomicU64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry over `source`, with syslog counters if the node logs.
    pub fn new(source: SnapshotSource, syslog: Option<Arc<SyslogCounters>>) -> Self {
        let registry = Registry::new();
        let http = Arc::new(RefusalCounters::default());
        let listeners = Arc::new(ListenerStates::default());
        let time_range_failures = Arc::new(AtomicU64::new(0));
        let node = NodeCollector {
            source,
            syslog,
            http: http.clone(),
            listeners: listeners.clone(),
            time_range_failures: time_range_failures.clone(),
            descs: specs::ALL.iter().map(|s| s.desc()).collect(),
        };
        let process = ProcessCollector {
            descs: process::ALL.iter().map(|s| s.desc()).collect(),
        };
        registry
            .register(Box::new(node))
            .expect("the node families are registered once");
        registry
            .register(Box::new(process))
            .expect("the process families are registered once");
        Metrics {
            registry,
            http,
            listeners,
            time_range_failures,
        }
    }

    /// The ops listeners' refusal counters, exported as
    /// `rampart_ops_http_refused_total`.
    pub fn http_refusals(&self) -> Arc<RefusalCounters> {
        self.http.clone()
    }

    /// Whether each ops listener holds its address, exported as
    /// `rampart_ops_listener_up` and
    /// `rampart_ops_listener_bind_failures_total`.
    pub fn listener_states(&self) -> Arc<ListenerStates> {
        self.listeners.clone()
    }

    /// The count of the node's looks for a time-range boundary that
    /// panicked, exported as `rampart_time_range_check_failures_total`.
    pub fn time_range_check_failures(&self) -> Arc<AtomicU64> {
        self.time_range_failures.clone()
    }

    /// Scrape: the text exposition (content type [`prometheus::TEXT_FORMAT`]).
    /// Blocking (the snapshot asks the workers).
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec fails only on invalid families, which the
        // specs rule out; an empty answer is the fallback.
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            buf.clear();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
