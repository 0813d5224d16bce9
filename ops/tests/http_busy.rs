//! The admin listener under requests in progress: requests without the
//! admin token that are in flight, whose clients hang up, or whose answers
//! are never read cannot lock the operator out, make the node queue work
//! without bound, or make it hold answers without bound; a client turned
//! away reads why (docs/ops.md §2). Deadlines here are correctness bounds,
//! not benchmarks.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rampart_ops::backend::{Backend, ConnQuery, OpsError};
use rampart_ops::client::{Client, ClientError};
use rampart_ops::fixture;
use rampart_ops::http::ServeLimits;
use rampart_ops::http::admission::Caps;
use rampart_ops::metrics::Metrics;
use rampart_ops::metrics::text::sample;
use rampart_ops::model::{
    AccessLists, AclClearResult, ClearResult, ClusterView, ConfigureResult, ConnList, Counters,
    Fragments, Health, RunningConfig, ServicePolicy,
};
use rampart_ops::server::{OpsConfig, OpsServer};
use rampart_ops::show_conn::ConnFilter;
use rampart_ops::snapshot::NodeSnapshot;

const TOKEN: &str = "t0k";

/// The fixture's node, whose `show conn` takes `slow` (a walk of a large
/// table, or workers that answer slowly) and whose running config is
/// `config_bytes` long (a large answer); counts the `show conn`s it serves.
struct Node {
    inner: rampart_ops::admin::Admin<rampart_ops::pool::LocalPool>,
    slow: Duration,
    config_bytes: usize,
    walks: Arc<AtomicUsize>,
    gate: Arc<Gate>,
}

/// Holds every `show conn` until the test opens it: a walk that is in
/// progress for as long as the test needs, whatever the machine's load.
#[derive(Default)]
struct Gate {
    shut: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
    /// Walks that went through.
    passed: AtomicUsize,
}

impl Gate {
    fn shut(&self) {
        *self.shut.lock().unwrap() = true;
    }

    fn open(&self) {
        *self.shut.lock().unwrap() = false;
        self.opened.notify_all();
    }

    /// Wait while shut (at most a minute: a hang guard, not a timing).
    fn pass(&self) {
        let g = self.shut.lock().unwrap();
        let _ = self
            .opened
            .wait_timeout_while(g, Duration::from_secs(60), |shut| *shut)
            .unwrap();
        self.passed.fetch_add(1, Ordering::SeqCst);
    }
}

impl Backend for Node {
    fn snapshot(&self) -> NodeSnapshot {
        self.inner.snapshot()
    }
    fn conns(&self, q: &ConnQuery) -> Result<ConnList, OpsError> {
        self.walks.fetch_add(1, Ordering::SeqCst);
        self.gate.pass();
        std::thread::sleep(self.slow);
        self.inner.conns(q)
    }
    fn clear_conns(&self, f: &ConnFilter) -> Result<ClearResult, OpsError> {
        self.inner.clear_conns(f)
    }
    fn service_policy(&self) -> Result<ServicePolicy, OpsError> {
        self.inner.service_policy()
    }
    fn cluster(&self) -> Result<ClusterView, OpsError> {
        self.inner.cluster()
    }
    fn running_config(&self) -> Result<RunningConfig, OpsError> {
        Ok(RunningConfig {
            version: 1,
            text: "x".repeat(self.config_bytes),
            committed_version: None,
        })
    }
    fn configure(&self, text: &str) -> Result<ConfigureResult, OpsError> {
        self.inner.configure(text)
    }
    fn counters(&self) -> Result<Counters, OpsError> {
        self.inner.counters()
    }
    fn fragments(&self) -> Result<Fragments, OpsError> {
        self.inner.fragments()
    }
    fn packet_tracer(
        &self,
        q: &rampart_ops::packet_tracer::TraceQuery,
    ) -> Result<rampart_ops::model::PacketTrace, OpsError> {
        self.inner.packet_tracer(q)
    }
    fn access_lists(&self, name: Option<&str>) -> Result<AccessLists, OpsError> {
        self.inner.access_lists(name)
    }
    fn clear_access_lists(&self, name: Option<&str>) -> Result<AclClearResult, OpsError> {
        self.inner.clear_access_lists(name)
    }
    fn health(&self) -> Health {
        self.inner.health()
    }
}

struct Started {
    srv: OpsServer,
    walks: Arc<AtomicUsize>,
    gate: Arc<Gate>,
}

fn start(slow: Duration, config_bytes: usize, limits: ServeLimits) -> Started {
    let walks = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Gate::default());
    let backend: Arc<dyn Backend> = Arc::new(Node {
        inner: fixture::admin(fixture::standalone_status()),
        slow,
        config_bytes,
        walks: walks.clone(),
        gate: gate.clone(),
    });
    let b = backend.clone();
    let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
    let cfg = OpsConfig {
        metrics: Some("127.0.0.1:0".parse().unwrap()),
        admin: Some("127.0.0.1:0".parse().unwrap()),
        token: Some(TOKEN.into()),
        limits,
        ..OpsConfig::default()
    };
    Started {
        srv: OpsServer::start(&cfg, backend, metrics).unwrap(),
        walks,
        gate,
    }
}

fn refused(metrics: SocketAddr, reason: &str) -> f64 {
    let r = Client::new(metrics, None)
        .request("GET", "/metrics", b"", "")
        .unwrap();
    let text = String::from_utf8(r.body).unwrap();
    sample(
        &text,
        "rampart_ops_http_refused_total",
        &[("listener", "admin"), ("reason", reason)],
    )
    .unwrap()
}

/// The admin listener's gauge `name`.
fn gauge(metrics: SocketAddr, name: &str) -> f64 {
    let r = Client::new(metrics, None)
        .request("GET", "/metrics", b"", "")
        .unwrap();
    let text = String::from_utf8(r.body).unwrap();
    sample(&text, name, &[("listener", "admin")]).unwrap()
}

/// Every slot of the (one, loopback) source is inside a token-less `show
/// conn`: the operator's changes and reads still go through at once, on
/// the slots reserved for the admin token, and a further token-less
/// request is told the listener is busy (a JSON 503 the CLI names). Before,
/// the operator was refused with a bare 503 written before its request
/// was read, which the reset lost: the CLI said "connection failed".
#[test]
fn requests_in_flight_without_a_token_do_not_lock_the_operator_out() {
    let limits = ServeLimits {
        caps: Caps {
            max_connections: 64,
            max_per_source: 4,
            reserved: 2,
            ..ServeLimits::default().caps
        },
        ..ServeLimits::default()
    };
    let n = start(Duration::ZERO, 10, limits);
    // Their walks are in progress until the operator is done: an operator
    // queued behind them would wait for the gate, which opens only after.
    n.gate.shut();
    let addr = n.srv.admin_addr.unwrap();
    let users: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || Client::new(addr, None).conns(&ConnFilter::default(), false))
        })
        .collect();
    while n.walks.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    let op = Client::new(addr, Some(TOKEN.into()));
    op.clear_conns(&ConnFilter::default())
        .expect("the operator's clear conn");
    op.configure("hostname x\n")
        .expect("the operator's configure");
    op.counters().expect("the operator's show counters");
    assert!(
        users.iter().all(|u| !u.is_finished()),
        "the operator was answered only after a token-less walk ended"
    );
    match Client::new(addr, None).counters() {
        Err(e @ ClientError::Busy { .. }) => {
            assert!(e.to_string().contains("is busy"), "{e}");
        }
        other => panic!("expected a busy refusal, got {other:?}"),
    }
    n.gate.open();
    for u in users {
        // Walks that end together meet the one-at-a-time turn of
        // token-less walks (429): answered too.
        match u.join().unwrap() {
            Ok(_) | Err(ClientError::Refused { status: 429, .. }) => {}
            Err(e) => panic!("a token-less show conn: {e}"),
        }
    }
    assert!(refused(n.srv.metrics_addr.unwrap(), "source_limit") >= 1.0);
}

/// 160 token-less requests whose clients hang up at once (five times the
/// per-source cap): the operator's `show counters` does not wait behind
/// them, and the node does not run more of their handlers than the caps
/// hold slots for. Before, each hung-up request freed its slot while its
/// handler stayed queued on the blocking pool: all 160 ran, and the
/// operator waited 9 s behind them.
#[test]
fn requests_whose_clients_hang_up_queue_no_work_beyond_the_caps() {
    let n = start(Duration::from_millis(500), 10, ServeLimits::default());
    // Their handlers stay in progress until the operator is answered.
    n.gate.shut();
    let addr = n.srv.admin_addr.unwrap();
    for _ in 0..160 {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /v1/conn HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        drop(s);
    }
    // Answered while every handler taken up is held at the gate: had the
    // operator's request queued behind theirs, it would wait for the gate.
    Client::new(addr, Some(TOKEN.into()))
        .counters()
        .expect("the operator's show counters");
    assert_eq!(
        n.gate.passed.load(Ordering::SeqCst),
        0,
        "the operator was answered only after a token-less handler ran"
    );
    n.gate.open();
    std::thread::sleep(Duration::from_secs(3));
    let ran = n.walks.load(Ordering::SeqCst);
    assert!(
        ran <= rampart_ops::http::MAX_CONNECTIONS_PER_SOURCE,
        "{ran} handlers of hung-up requests ran"
    );
}

/// A token-less request whose answer is never read: a socket that reads
/// nothing, with a small receive buffer.
fn unread_request(addr: SocketAddr, path: &str) -> std::net::TcpStream {
    use std::os::fd::FromRawFd as _;
    // SAFETY: a fresh socket; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0);
    // SAFETY: fd is ours, and ownership moves to the stream.
    let s = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    let small: libc::c_int = 4096;
    // SAFETY: setting an int option from a valid pointer and length.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const small).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        )
    };
    assert!(connect_fd(fd, addr), "connect failed");
    let mut s = s;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .unwrap();
    s
}

/// connect(2) on `fd` (options set before connecting apply to the
/// handshake's window).
fn connect_fd(fd: libc::c_int, addr: SocketAddr) -> bool {
    let SocketAddr::V4(a) = addr else {
        return false;
    };
    // SAFETY: an all-zero sockaddr_in is valid; its fields are set below.
    let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    to.sin_family = libc::AF_INET as libc::sa_family_t;
    to.sin_port = a.port().to_be();
    to.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
    // SAFETY: a valid sockaddr_in and its length.
    unsafe {
        libc::connect(
            fd,
            (&raw const to).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        ) == 0
    }
}

/// Answers that their token-less readers never read are held only up to
/// the listener's bound: beyond it, while they are younger than the grace,
/// such a request is refused (busy, `answers_held`) and the operator is
/// still answered; past the grace, the oldest unread answer is closed to
/// make room and reads are answered again. Before the bound, 60 unread
/// answers of 100k rows took the node from 19 MB to 1.5 GB; before the
/// grace, two unread answers refused everyone else's reads (monitoring's
/// included) until they met the connection deadline, 120 s later.
///
/// Two listeners, so no step races the grace: one whose grace no run
/// reaches (the refusal), one whose grace the test waits out (the
/// eviction). Where the grace ends exactly is the admission's unit tests'
/// (`ops/src/http/admission.rs`, on an injected clock).
#[test]
fn unread_answers_are_held_only_up_to_the_bound() {
    const ANSWER: usize = 8 << 20;
    let with_grace = |answer_grace_ms| ServeLimits {
        caps: Caps {
            max_answer_bytes: 20 << 20,
            answer_grace_ms,
            ..ServeLimits::default().caps
        },
        ..ServeLimits::default()
    };
    // Younger than the grace: refused, and the operator answered. An hour
    // is a grace no run of this test reaches, not a timing claim.
    let n = start(Duration::ZERO, ANSWER, with_grace(3_600_000));
    let (addr, metrics) = (n.srv.admin_addr.unwrap(), n.srv.metrics_addr.unwrap());
    let held = hold_unread_answers(addr, metrics, ANSWER);
    match Client::new(addr, None).running_config() {
        Err(ClientError::Busy { message, .. }) => {
            assert!(message.contains("answers not yet read"), "{message}");
        }
        other => panic!(
            "expected a busy refusal, got {:?}",
            other.map(|r| r.version)
        ),
    }
    assert_eq!(refused(metrics, "answers_held"), 1.0);
    assert_eq!(refused(metrics, "answer_evicted"), 0.0);
    let op = Client::new(addr, Some(TOKEN.into()))
        .running_config()
        .expect("the operator is answered");
    assert_eq!(op.text.len(), ANSWER);
    drop(held);
    // Past the grace: the oldest unread answer is closed to make room, and
    // the read is answered at once, not refused. The wait is a lower bound
    // (a slow machine only waits longer), so no load can make it fail.
    const GRACE_MS: u64 = 300;
    let n = start(Duration::ZERO, ANSWER, with_grace(GRACE_MS));
    let (addr, metrics) = (n.srv.admin_addr.unwrap(), n.srv.metrics_addr.unwrap());
    let held = hold_unread_answers(addr, metrics, ANSWER);
    std::thread::sleep(Duration::from_millis(GRACE_MS));
    let r = Client::new(addr, None)
        .running_config()
        .expect("answered past the grace");
    assert_eq!(r.text.len(), ANSWER);
    assert_eq!(refused(metrics, "answer_evicted"), 1.0);
    assert_eq!(refused(metrics, "answers_held"), 0.0);
    drop(held);
}

/// Two token-less requests for `answer` bytes whose answers are never
/// read, returned once the listener holds both answers.
fn hold_unread_answers(
    addr: SocketAddr,
    metrics: SocketAddr,
    answer: usize,
) -> Vec<std::net::TcpStream> {
    let held: Vec<_> = (0..2)
        .map(|_| unread_request(addr, "/v1/running-config"))
        .collect();
    // A hang guard far above any plausible time, not a timing claim.
    let deadline = Instant::now() + Duration::from_secs(60);
    while gauge(metrics, "rampart_ops_answer_bytes_held") < (2 * answer) as f64 {
        assert!(Instant::now() < deadline, "the two answers were never held");
        std::thread::sleep(Duration::from_millis(10));
    }
    held
}

/// A local user keeps every ordinary slot of loopback inside token-less
/// requests (waiting for the handlers' permits) and opens connections in
/// a loop, holding the latest. The operator's connection, idle until its
/// head is in, sending an empty line at once and its head 300 ms late (as
/// the CLI does: it looks up who owns the socket first, and that lookup
/// reads the host's socket tables), is not closed under it, though past
/// the grace of a silent connection; and the CLI's requests meanwhile are answered or told
/// the listener is busy, never cut. Before, each new connection closed the
/// oldest idle one, reserved slots included, and the flood closed the
/// operator's before its head arrived.
#[test]
fn a_connection_flood_does_not_close_the_operator_s_connection() {
    use std::io::Read as _;
    let n = start(Duration::from_secs(5), 10, ServeLimits::default());
    let addr = n.srv.admin_addr.unwrap();
    // Their threads end with the server, when the test does.
    for _ in 0..rampart_ops::http::MAX_CONNECTIONS_PER_SOURCE {
        std::thread::spawn(move || Client::new(addr, None).conns(&ConnFilter::default(), false));
    }
    // Three run; the rest wait for a permit, and the gauge says so.
    let metrics = n.srv.metrics_addr.unwrap();
    let waiting = rampart_ops::http::MAX_CONNECTIONS_PER_SOURCE - rampart_ops::http::OPEN_HANDLERS;
    let deadline = Instant::now() + Duration::from_secs(3);
    while gauge(metrics, "rampart_ops_handlers_waiting") != waiting as f64 {
        assert!(Instant::now() < deadline, "never {waiting} waiting");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(gauge(metrics, "rampart_ops_reserved_slots_in_use"), 0.0);
    let mut operator = std::net::TcpStream::connect(addr).unwrap();
    operator.write_all(b"\r\n").unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Holding what it opens, the flood keeps its refusals lingering unread:
    // past the listener's bound of those, the operator's must still be
    // read, not reset away.
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut held = std::collections::VecDeque::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(s) = std::net::TcpStream::connect(addr) {
                    held.push_back(s);
                }
                if held.len() > 64 {
                    held.pop_front();
                }
                // Within the listen backlog, so every connect is taken.
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    operator
        .write_all(
            format!(
                "GET /v1/counters HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    operator
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = operator.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the operator's connection was cut: {answer:?}"
    );
    // The CLI tries a busy request again (for 5 s): it gets through.
    for _ in 0..10 {
        match Client::new(addr, Some(TOKEN.into()))
            .retrying_busy(Duration::from_secs(5))
            .counters()
        {
            Ok(_) => {}
            Err(e) => panic!("the operator's request failed under the flood: {e}"),
        }
    }
    assert!(gauge(metrics, "rampart_ops_reserved_slots_in_use") >= 1.0);
    stop.store(true, Ordering::Relaxed);
    flood.join().unwrap();
    assert!(refused(metrics, "source_limit") >= 1.0);
}
