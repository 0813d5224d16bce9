//! The chaos scenarios' traffic on the asymmetric lab (client→server via
//! node A, server→client via node B): long-lived TCP streams that echo
//! seeded chunks end to end (every echoed byte compared; at the close the
//! server sends a digest of every byte it received), inspected (port 5001) or in the tcp-state-bypass class
//! (port 5002), and short inspected connections opened at a fixed rate
//! (port 5004: a request, its echo, the server closes first); beside
//! them the datagram streams of [`super::datagrams`] (UDP requests and
//! answers, ICMP echo), each request resent until answered or lost.
//!
//! Client and server each run one single-threaded tokio runtime on a
//! thread inside their namespace. Every wait is bounded: a connect by
//! [`CONNECT_TIMEOUT`], a round trip by [`ROUND_TIMEOUT`], the whole run by
//! its plan's `limit`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::datagrams::{self, DatagramOutcome, DatagramPlan, Switches};
use crate::lab::netns::{NetnsError, NsThread};
use crate::lab::topology::{ASYM_CLIENT, ASYM_SERVER, AsymLab, SYM_CLIENT, SYM_SERVER};

/// Inspected long streams.
pub const INSPECTED_PORT: u16 = 5001;
/// Long streams in the tcp-state-bypass class.
pub const BYPASS_PORT: u16 = 5002;
/// Short inspected connections.
pub const SHORT_PORT: u16 = 5004;
/// Bytes of a short connection's request (and of its echo).
const SHORT_BYTES: usize = 512;
/// A connect gives up after this: long enough for three SYN
/// retransmissions (1 s, 2 s, 4 s) across a failover.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A round trip (or a close) gives up after this: a stream that has not
/// moved for so long is lost.
pub const ROUND_TIMEOUT: Duration = Duration::from_secs(30);

/// What traffic to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Inspected long streams.
    pub streams: usize,
    /// Bypass long streams.
    pub bypass_streams: usize,
    /// Inspected long streams on the symmetric route (both ways through
    /// node A), beside the asymmetric ones.
    pub sym_streams: usize,
    /// Bytes per round trip of a long stream.
    pub chunk: usize,
    /// Pause between two round trips of a stream.
    pub interval: Duration,
    /// Short inspected connections opened per second (0: none).
    pub new_per_s: u32,
    /// The UDP and ICMP echo streams (none: no datagram traffic).
    pub datagrams: Option<DatagramPlan>,
    /// The longest the whole run may take; then everything stops and what
    /// has not completed is lost.
    pub limit: Duration,
}

/// Live counters and switches shared with the running traffic.
#[derive(Debug)]
pub struct Control {
    began: Instant,
    finish: AtomicBool,
    pause_inspected: AtomicBool,
    pause_new: AtomicBool,
    established: AtomicU64,
    rounds: AtomicU64,
    sym_rounds: AtomicU64,
    short_started: AtomicU64,
    short_ok: AtomicU64,
    short_failed: AtomicU64,
    datagrams: Arc<Switches>,
}

/// A long stream's outcome.
#[derive(Debug, Clone, Default)]
pub struct StreamOutcome {
    /// Its server port (inspected or bypass).
    pub port: u16,
    /// It took the symmetric route (both ways through node A).
    pub symmetric: bool,
    /// Its handshake completed.
    pub established: bool,
    /// It ran until told to finish and closed cleanly, every byte intact.
    pub intact: bool,
    /// An echoed byte differed from the byte sent.
    pub corrupted: bool,
    /// Round trips completed.
    pub rounds: u64,
    /// The longest gap between two completed round trips (or between the
    /// last one and the failure).
    pub max_stall: Duration,
    /// Why it ended early.
    pub error: Option<String>,
}

/// The short connections' outcome.
#[derive(Debug, Clone, Default)]
pub struct ShortOutcome {
    /// Started.
    pub attempted: u64,
    /// Completed with their echo intact.
    pub ok: u64,
    /// Handshake never completed.
    pub failed_connect: u64,
    /// Established, then failed (timeout, reset).
    pub lost: u64,
    /// Echo differed.
    pub corrupted: u64,
    /// The longest handshake.
    pub max_connect: Duration,
    /// Why the first few lost or corrupted ones failed (connection number,
    /// seconds since the traffic began, error).
    pub errors: Vec<String>,
}

/// Failures of short connections kept for the report.
const SHORT_ERRORS_KEPT: usize = 5;

/// Everything the traffic saw.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Each long stream.
    pub streams: Vec<StreamOutcome>,
    /// The short connections.
    pub short: ShortOutcome,
    /// The UDP request/response stream.
    pub udp: DatagramOutcome,
    /// The ICMP echo stream.
    pub icmp: DatagramOutcome,
    /// A thread of the traffic failed to run at all.
    pub harness_error: Option<String>,
}

impl Outcome {
    /// Streams of `port`: (intact, total).
    pub fn intact(&self, port: u16) -> (usize, usize) {
        let of: Vec<&StreamOutcome> = self.streams.iter().filter(|s| s.port == port).collect();
        (of.iter().filter(|s| s.intact).count(), of.len())
    }

    /// The longest stall of any stream.
    pub fn longest_stall(&self) -> Duration {
        self.streams
            .iter()
            .map(|s| s.max_stall)
            .max()
            .unwrap_or_default()
    }

    /// The longest stall of the streams on the symmetric route (none when
    /// there are none).
    pub fn longest_symmetric_stall(&self) -> Option<Duration> {
        self.streams
            .iter()
            .filter(|s| s.symmetric)
            .map(|s| s.max_stall)
            .max()
    }

    /// Connections opened (or tried).
    pub fn connections(&self) -> u64 {
        self.streams.len() as u64 + self.short.attempted
    }

    /// Established connections that did not complete.
    pub fn lost(&self) -> u64 {
        self.streams
            .iter()
            .filter(|s| s.established && !s.intact && !s.corrupted)
            .count() as u64
            + self.short.lost
    }

    /// Connections whose echo differed.
    pub fn corrupted(&self) -> u64 {
        self.streams.iter().filter(|s| s.corrupted).count() as u64 + self.short.corrupted
    }

    /// Handshakes that never completed.
    pub fn failed_connects(&self) -> u64 {
        self.streams.iter().filter(|s| !s.established).count() as u64 + self.short.failed_connect
    }

    /// The first few errors of streams and short connections, for notes
    /// (the datagram streams keep their own).
    pub fn errors(&self, most: usize) -> Vec<String> {
        self.streams
            .iter()
            .filter_map(|s| s.error.as_ref().map(|e| format!("port {}: {e}", s.port)))
            .chain(
                self.short
                    .errors
                    .iter()
                    .map(|e| format!("short connection {e}")),
            )
            .take(most)
            .collect()
    }
}

/// Running traffic; [`Traffic::finish`] ends it and returns the outcome.
#[derive(Debug)]
pub struct Traffic {
    plan: Plan,
    ctl: Arc<Control>,
    client: Option<NsThread<Outcome>>,
    server: Option<NsThread<Result<(), String>>>,
    icmp: Option<NsThread<DatagramOutcome>>,
    server_stop: Arc<AtomicBool>,
}

/// FNV-1a continued from `h` over `data` (start from [`FNV_START`]).
fn fnv_more(h: u64, data: &[u8]) -> u64 {
    data.iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// FNV-1a's offset basis.
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// splitmix64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fill `buf` with the bytes of `seed`.
fn fill(buf: &mut [u8], seed: u64) {
    let mut s = seed;
    for c in buf.chunks_mut(8) {
        s = mix(s);
        let b = s.to_le_bytes();
        c.copy_from_slice(&b[..c.len()]);
    }
}

impl Traffic {
    /// Start the server and the client on `lab`; the long streams start
    /// connecting at once (see [`Traffic::wait_established`]).
    pub fn start(lab: &AsymLab, plan: Plan) -> Result<Traffic, NetnsError> {
        let ctl = Arc::new(Control {
            began: Instant::now(),
            finish: AtomicBool::default(),
            pause_inspected: AtomicBool::default(),
            pause_new: AtomicBool::default(),
            established: AtomicU64::default(),
            rounds: AtomicU64::default(),
            sym_rounds: AtomicU64::default(),
            short_started: AtomicU64::default(),
            short_ok: AtomicU64::default(),
            short_failed: AtomicU64::default(),
            datagrams: Arc::new(Switches::new()),
        });
        let server_stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = server_stop.clone();
        let limit = plan.limit + ROUND_TIMEOUT;
        let server = lab.server.spawn(move || serve(tx, stop, limit))?;
        // The listeners are bound before any client connects.
        let bound = rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| Err("the server did not start".into()));
        if let Err(e) = bound {
            server_stop.store(true, Ordering::Relaxed);
            let _ = server.join();
            return Err(NetnsError::Spawn {
                command: "the chaos traffic's server".into(),
                source: std::io::Error::other(e),
            });
        }
        let c = ctl.clone();
        let client = lab.client.spawn(move || run_client(plan, c))?;
        let icmp = match plan.datagrams {
            Some(d) => {
                let c = ctl.datagrams.clone();
                Some(
                    lab.client
                        .spawn(move || datagrams::icmp_client(d, c, plan.limit))?,
                )
            }
            None => None,
        };
        Ok(Traffic {
            plan,
            ctl,
            client: Some(client),
            server: Some(server),
            icmp,
            server_stop,
        })
    }

    /// Wait until every long stream is established, at most `limit`;
    /// whether they are.
    pub fn wait_established(&self, limit: Duration) -> bool {
        let want = (self.plan.streams + self.plan.bypass_streams + self.plan.sym_streams) as u64;
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if self.ctl.established.load(Ordering::Relaxed) >= want {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Stop (or resume) the inspected long streams' round trips (the
    /// connections stay open, idle) and the datagram streams' requests.
    pub fn pause_inspected(&self, on: bool) {
        self.ctl.pause_inspected.store(on, Ordering::Relaxed);
        self.ctl.datagrams.pause.store(on, Ordering::Relaxed);
    }

    /// Stop (or resume) opening short connections.
    pub fn pause_new(&self, on: bool) {
        self.ctl.pause_new.store(on, Ordering::Relaxed);
    }

    /// One line of progress: round trips, short connections, datagram
    /// requests answered.
    pub fn progress(&self) -> String {
        let c = &self.ctl;
        format!(
            "{} round trips, short connections {} started / {} ok / {} failed, UDP {} / ICMP echo {} answered",
            c.rounds.load(Ordering::Relaxed),
            c.short_started.load(Ordering::Relaxed),
            c.short_ok.load(Ordering::Relaxed),
            c.short_failed.load(Ordering::Relaxed),
            c.datagrams.udp_answered.load(Ordering::Relaxed),
            c.datagrams.icmp_answered.load(Ordering::Relaxed),
        )
    }

    /// Round trips completed so far by all long streams.
    pub fn rounds(&self) -> u64 {
        self.ctl.rounds.load(Ordering::Relaxed)
    }

    /// Round trips of the symmetric streams so far.
    pub fn sym_rounds(&self) -> u64 {
        self.ctl.sym_rounds.load(Ordering::Relaxed)
    }

    /// End the traffic: streams close, the generator stops; waits for the
    /// last connections (bounded) and returns what happened.
    pub fn finish(mut self) -> Outcome {
        self.end()
    }

    fn end(&mut self) -> Outcome {
        self.ctl.finish.store(true, Ordering::Relaxed);
        self.ctl.datagrams.finish.store(true, Ordering::Relaxed);
        let mut outcome = match self.client.take().map(NsThread::join) {
            Some(Ok(o)) => o,
            Some(Err(_)) => Outcome {
                harness_error: Some("the client thread panicked".into()),
                ..Outcome::default()
            },
            None => Outcome::default(),
        };
        match self.icmp.take().map(NsThread::join) {
            Some(Ok(o)) => outcome.icmp = o,
            Some(Err(_)) => {
                outcome.harness_error = Some("the ICMP echo thread panicked".into());
            }
            None => {}
        }
        self.server_stop.store(true, Ordering::Relaxed);
        match self.server.take().map(NsThread::join) {
            Some(Ok(Err(e))) => outcome.harness_error = Some(e),
            Some(Err(_)) => outcome.harness_error = Some("the server thread panicked".into()),
            _ => {}
        }
        outcome
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        if self.client.is_some() || self.server.is_some() || self.icmp.is_some() {
            let _ = self.end();
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

// === the server ===

fn serve(
    bound: std::sync::mpsc::Sender<Result<(), String>>,
    stop: Arc<AtomicBool>,
    limit: Duration,
) -> Result<(), String> {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = bound.send(Err(e.to_string()));
            return Err(e.to_string());
        }
    };
    rt.block_on(async move {
        let mut listeners = Vec::new();
        for port in [INSPECTED_PORT, BYPASS_PORT, SHORT_PORT] {
            // The inspected streams' port serves both server addresses
            // (asymmetric and symmetric routes).
            let addr = if port == INSPECTED_PORT {
                "0.0.0.0"
            } else {
                ASYM_SERVER
            };
            match TcpListener::bind((addr, port)).await {
                Ok(l) => listeners.push((port, l)),
                Err(e) => {
                    let e = format!("listen on {ASYM_SERVER}:{port}: {e}");
                    let _ = bound.send(Err(e.clone()));
                    return Err(e);
                }
            }
        }
        let udp = match datagrams::udp_server_bind().await {
            Ok(u) => u,
            Err(e) => {
                let _ = bound.send(Err(e.clone()));
                return Err(e);
            }
        };
        let _ = bound.send(Ok(()));
        let t0 = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let answering: Vec<_> = udp
            .into_iter()
            .map(|u| tokio::spawn(datagrams::udp_answer(u, stop.clone())))
            .collect();
        while !stop.load(Ordering::Relaxed) && t0.elapsed() < limit {
            let accepted = tokio::select! {
                a = listeners[0].1.accept() => a.map(|(s, _)| (listeners[0].0, s)),
                a = listeners[1].1.accept() => a.map(|(s, _)| (listeners[1].0, s)),
                a = listeners[2].1.accept() => a.map(|(s, _)| (listeners[2].0, s)),
                () = tokio::time::sleep(Duration::from_millis(100)) => continue,
            };
            let Ok((port, s)) = accepted else { continue };
            if port == SHORT_PORT {
                tasks.spawn(answer_short(s));
            } else {
                tasks.spawn(echo(s));
            }
            // Reap finished handlers as we go.
            while tasks.try_join_next().is_some() {}
        }
        tasks.abort_all();
        for a in answering {
            a.abort();
        }
        Ok(())
    })
}

/// Echo everything until the client closes, then send the digest of all
/// it received (8 bytes, big endian) and close.
async fn echo(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; 64 * 1024];
    let mut digest = FNV_START;
    loop {
        // An idle stream (paused) may wait long; the server is stopped
        // from outside in any case.
        let n = match tokio::time::timeout(Duration::from_secs(600), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => n,
        };
        digest = fnv_more(digest, &buf[..n]);
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    let _ = s.write_all(&digest.to_be_bytes()).await;
    let _ = s.shutdown().await;
}

/// A short connection: the request, its echo, then the server closes
/// first (so TIME_WAIT stays on the server and the client's ports free).
async fn answer_short(mut s: TcpStream) {
    let mut buf = [0u8; SHORT_BYTES];
    let read = tokio::time::timeout(ROUND_TIMEOUT, s.read_exact(&mut buf)).await;
    if !matches!(read, Ok(Ok(_))) {
        return;
    }
    if s.write_all(&buf).await.is_err() {
        return;
    }
    let _ = s.shutdown().await;
    let mut rest = [0u8; 16];
    let _ = tokio::time::timeout(ROUND_TIMEOUT, s.read(&mut rest)).await;
}

// === the client ===

fn run_client(plan: Plan, ctl: Arc<Control>) -> Outcome {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            return Outcome {
                harness_error: Some(format!("client runtime: {e}")),
                ..Outcome::default()
            };
        }
    };
    rt.block_on(async move {
        let deadline = tokio::time::Instant::now() + plan.limit;
        let mut streams = tokio::task::JoinSet::new();
        for (i, port, sym) in (0..plan.streams)
            .map(|i| (i, INSPECTED_PORT, false))
            .chain((0..plan.bypass_streams).map(|i| (i, BYPASS_PORT, false)))
            .chain((0..plan.sym_streams).map(|i| (1000 + i, INSPECTED_PORT, true)))
        {
            streams.spawn(long_stream(
                i as u64,
                port,
                sym,
                plan,
                ctl.clone(),
                deadline,
            ));
        }
        let generator = tokio::spawn(generate(plan, ctl.clone(), deadline));
        let udp = plan
            .datagrams
            .map(|d| tokio::spawn(datagrams::udp_client(d, ctl.datagrams.clone(), deadline)));
        let mut out = Outcome::default();
        while let Some(r) = streams.join_next().await {
            out.streams.push(r.unwrap_or_else(|e| StreamOutcome {
                error: Some(format!("task: {e}")),
                ..StreamOutcome::default()
            }));
        }
        // A generator that panicked made no connections: a failure of the
        // harness, never "0 attempted, 0 failed".
        match generator.await {
            Ok(short) => out.short = short,
            Err(e) => out.harness_error = Some(format!("the short-connection generator: {e}")),
        }
        if let Some(udp) = udp {
            match udp.await {
                Ok(u) => out.udp = u,
                Err(e) => out.harness_error = Some(format!("the UDP stream: {e}")),
            }
        }
        out
    })
}

async fn connect(port: u16, sym: bool) -> Result<TcpStream, String> {
    let (client, server) = if sym {
        (SYM_CLIENT, SYM_SERVER)
    } else {
        (ASYM_CLIENT, ASYM_SERVER)
    };
    let src = SocketAddr::from((client.parse::<Ipv4Addr>().map_err(|e| e.to_string())?, 0));
    let dst = SocketAddr::from((server.parse::<Ipv4Addr>().map_err(|e| e.to_string())?, port));
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    sock.bind(src).map_err(|e| format!("bind: {e}"))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, sock.connect(dst)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("connect: {e}")),
        Err(_) => Err(format!("connect: no answer in {CONNECT_TIMEOUT:?}")),
    }
}

async fn long_stream(
    id: u64,
    port: u16,
    sym: bool,
    plan: Plan,
    ctl: Arc<Control>,
    deadline: tokio::time::Instant,
) -> StreamOutcome {
    let mut out = StreamOutcome {
        port,
        symmetric: sym,
        ..StreamOutcome::default()
    };
    let mut s = match connect(port, sym).await {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let _ = s.set_nodelay(true);
    out.established = true;
    ctl.established.fetch_add(1, Ordering::Relaxed);
    let seed = (u64::from(port) << 32) ^ id;
    let (mut sent, mut back) = (vec![0u8; plan.chunk], vec![0u8; plan.chunk]);
    let mut digest = FNV_START;
    let mut last = Instant::now();
    let paused =
        |ctl: &Control| port == INSPECTED_PORT && ctl.pause_inspected.load(Ordering::Relaxed);
    loop {
        if ctl.finish.load(Ordering::Relaxed) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            out.error = Some("still running at the run's time limit".into());
            return out;
        }
        if paused(&ctl) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            last = Instant::now();
            continue;
        }
        fill(&mut sent, mix(seed ^ out.rounds.wrapping_mul(0x1000_0001)));
        let trip = async {
            s.write_all(&sent).await?;
            s.read_exact(&mut back).await
        };
        match tokio::time::timeout(ROUND_TIMEOUT, trip).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                out.max_stall = out.max_stall.max(last.elapsed());
                out.error = Some(format!("round {}: {e}", out.rounds));
                return out;
            }
            Err(_) => {
                out.max_stall = out.max_stall.max(last.elapsed());
                out.error = Some(format!(
                    "round {}: no echo in {ROUND_TIMEOUT:?}",
                    out.rounds
                ));
                return out;
            }
        }
        if sent != back {
            out.corrupted = true;
            out.error = Some(format!("round {}: the echo differs", out.rounds));
            return out;
        }
        digest = fnv_more(digest, &sent);
        out.rounds += 1;
        if sym {
            ctl.sym_rounds.fetch_add(1, Ordering::Relaxed);
        } else {
            ctl.rounds.fetch_add(1, Ordering::Relaxed);
        }
        out.max_stall = out.max_stall.max(last.elapsed());
        last = Instant::now();
        tokio::time::sleep(plan.interval).await;
    }
    // Close: our FIN; the server answers with the digest of every byte it
    // received, then its FIN.
    let close = async {
        s.shutdown().await?;
        let mut theirs = [0u8; 8];
        s.read_exact(&mut theirs).await?;
        let mut rest = [0u8; 64];
        let n = s.read(&mut rest).await?;
        Ok::<_, std::io::Error>((u64::from_be_bytes(theirs), n))
    };
    match tokio::time::timeout(ROUND_TIMEOUT, close).await {
        Ok(Ok((theirs, 0))) if theirs == digest => out.intact = true,
        Ok(Ok((_, 0))) => {
            out.corrupted = true;
            out.error = Some("the server's digest of the stream differs".into());
        }
        Ok(Ok(_)) => out.error = Some("bytes after the server's digest".into()),
        Ok(Err(e)) => out.error = Some(format!("close: {e}")),
        Err(_) => out.error = Some(format!("close: no digest and FIN in {ROUND_TIMEOUT:?}")),
    }
    out
}

/// Open short connections at the plan's rate until told to finish.
async fn generate(plan: Plan, ctl: Arc<Control>, deadline: tokio::time::Instant) -> ShortOutcome {
    let mut out = ShortOutcome::default();
    if plan.new_per_s == 0 {
        return out;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1) / plan.new_per_s.max(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tasks = tokio::task::JoinSet::new();
    let mut n = 0u64;
    let stop_at = deadline - ROUND_TIMEOUT.min(plan.limit / 2);
    while !ctl.finish.load(Ordering::Relaxed) && tokio::time::Instant::now() < stop_at {
        tick.tick().await;
        if ctl.pause_new.load(Ordering::Relaxed) {
            continue;
        }
        n += 1;
        ctl.short_started.fetch_add(1, Ordering::Relaxed);
        tasks.spawn(short(n, ctl.clone()));
        while let Some(r) = tasks.try_join_next() {
            tally(&mut out, r);
        }
    }
    while let Some(r) = tasks.join_next().await {
        tally(&mut out, r);
    }
    out.attempted = n;
    out
}

#[derive(Debug)]
enum Short {
    Ok(Duration),
    FailedConnect(String),
    Lost(String),
    Corrupted(String),
}

fn tally(out: &mut ShortOutcome, r: Result<Short, tokio::task::JoinError>) {
    match r {
        Ok(Short::Ok(connect)) => {
            out.ok += 1;
            out.max_connect = out.max_connect.max(connect);
        }
        Ok(Short::FailedConnect(e)) => {
            out.failed_connect += 1;
            keep_error(out, e);
        }
        Ok(Short::Corrupted(e)) => {
            out.corrupted += 1;
            keep_error(out, e);
        }
        Ok(Short::Lost(e)) => {
            out.lost += 1;
            keep_error(out, e);
        }
        Err(e) => {
            out.lost += 1;
            keep_error(out, format!("task: {e}"));
        }
    }
}

fn keep_error(out: &mut ShortOutcome, e: String) {
    if out.errors.len() < SHORT_ERRORS_KEPT {
        out.errors.push(e);
    }
}

async fn short(n: u64, ctl: Arc<Control>) -> Short {
    let t0 = Instant::now();
    let r = match short_once(n, t0).await {
        Short::Lost(e) => Short::Lost(format!(
            "{n} (at {:.1} s): {e}",
            ctl.began.elapsed().as_secs_f64()
        )),
        Short::Corrupted(e) => Short::Corrupted(format!(
            "{n} (at {:.1} s): {e}",
            ctl.began.elapsed().as_secs_f64()
        )),
        Short::FailedConnect(e) => Short::FailedConnect(format!(
            "{n} (at {:.1} s): {e}",
            ctl.began.elapsed().as_secs_f64()
        )),
        other => other,
    };
    if matches!(r, Short::Ok(_)) {
        ctl.short_ok.fetch_add(1, Ordering::Relaxed);
    } else {
        ctl.short_failed.fetch_add(1, Ordering::Relaxed);
    }
    r
}

async fn short_once(n: u64, t0: Instant) -> Short {
    let mut s = match connect(SHORT_PORT, false).await {
        Ok(s) => s,
        Err(e) => {
            return Short::FailedConnect(format!("{e} after {} ms", t0.elapsed().as_millis()));
        }
    };
    let connected = t0.elapsed();
    let mut req = [0u8; SHORT_BYTES];
    fill(&mut req, mix(n ^ 0x5407));
    let mut back = [0u8; SHORT_BYTES];
    let trip = async {
        s.write_all(&req).await?;
        s.read_exact(&mut back).await?;
        let mut rest = [0u8; 16];
        s.read(&mut rest).await
    };
    match tokio::time::timeout(ROUND_TIMEOUT, trip).await {
        Ok(Ok(0)) if req == back => Short::Ok(connected),
        Ok(Ok(0)) => Short::Corrupted("the echo differs".into()),
        Ok(Ok(_)) => Short::Corrupted("bytes after the echo".into()),
        Ok(Err(e)) => Short::Lost(format!("{e} after {} ms", t0.elapsed().as_millis())),
        Err(_) => Short::Lost(format!("no echo and FIN in {ROUND_TIMEOUT:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_continues() {
        assert_eq!(
            fnv_more(fnv_more(FNV_START, b"ab"), b"c"),
            crate::lab::traffic::fnv(b"abc")
        );
    }

    #[test]
    fn chunks_are_seeded() {
        let (mut a, mut b, mut c) = ([0u8; 21], [0u8; 21], [0u8; 21]);
        fill(&mut a, 7);
        fill(&mut b, 7);
        fill(&mut c, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
