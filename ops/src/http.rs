//! A small HTTP/1.1 server on hyper 1.x: each request is read whole (within
//! a size and a time limit) and handed to a blocking handler on tokio's
//! blocking pool, since every answer asks the packet workers.
//!
//! Every wait is bounded (docs/ops.md §2): hyper gets a timer, so a request
//! head that does not arrive within [`HEADER_READ_TIMEOUT_MS`] closes the
//! connection; a body gets [`BODY_READ_TIMEOUT_MS`] and
//! [`MAX_REQUEST_BYTES`]; a connection lives at most
//! [`CONNECTION_DEADLINE_MS`]; and [`admission`] caps connections per
//! source and in all, closing idle ones to make room and keeping a few
//! slots for the admin token. A [`Service`] screens each request head
//! before its body is read: refusals go out at once, and only a head with
//! a token protects its connection while the body comes. Work in flight
//! and answers held are bounded too: a slot is held until its handler
//! returns, handlers without the admin token run [`OPEN_HANDLERS`] at a
//! time, and their answers at most [`MAX_ANSWER_BYTES`] are held. Every
//! refusal is counted by [`refusal::Refusal`].

pub mod admission;
mod first_byte;
pub mod listen;
pub mod refusal;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{oneshot, watch};

use admission::{Admission, Admit, Caps, ConnId, Source};
use listen::ListenerStates;
use refusal::{Listener, Refusal, RefusalCounters};

/// Largest request body accepted (a configuration is the largest thing
/// anyone sends).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Largest request head read (hyper's read buffer; its floor is 8 KiB). A
/// bearer token and a query fit many times over.
pub const MAX_HEAD_BYTES: usize = 16 << 10;

/// Most connections a listener keeps at once.
pub const MAX_CONNECTIONS: usize = 256;

/// Most connections a listener keeps at once from one source: a local
/// user, a remote IPv4 address or IPv6 /64 ([`admission::Source`]).
pub const MAX_CONNECTIONS_PER_SOURCE: usize = 32;

/// How long a connection may take to send its request head.
pub const HEADER_READ_TIMEOUT_MS: u64 = 5_000;

/// How long a request may take to send its body, once its head is in.
pub const BODY_READ_TIMEOUT_MS: u64 = 10_000;

/// How long a connection lives, whatever it does: above the CLI's own
/// wait for an answer ([`crate::client::READ_TIMEOUT`]), so only a peer
/// that does not read its answer meets it.
pub const CONNECTION_DEADLINE_MS: u64 = 120_000;

/// Slots beyond the caps that only a request with the admin token may use:
/// the operator gets in while every other slot is inside a request
/// ([`admission`]).
pub const RESERVED_FOR_ADMIN: usize = 8;

/// Most bytes of answers a listener holds at once for requests without the
/// admin token: an answer stays in memory until its reader takes it, and a
/// reader need not read (one that leaves it unread past
/// [`ANSWER_GRACE_MS`] may lose it to make room).
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// How long an answer to a request without the admin token is left to its
/// reader before it may be closed to make room for another's answer, when
/// such answers fill [`MAX_ANSWER_BYTES`] (docs/ops.md §2).
pub const ANSWER_GRACE_MS: u64 = 1_000;

/// How long a connection is kept at least before the listener may close it
/// to make room for a newer one (docs/ops.md §2): the time a client has to
/// send its request head, the CLI's lookup of who owns the socket it
/// reached included. A newcomer that finds every idle connection younger
/// is refused.
pub const MIN_EVICT_AGE_MS: u64 = 500;

/// How long a connection that has sent no byte at all is kept at least
/// before the listener may close it to make room (docs/ops.md §2): a
/// client sends its head at once, the CLI right after its owner lookup,
/// so a connection silent this long is not one waiting to be served, and
/// a flood of them must not hold its cap for all of [`MIN_EVICT_AGE_MS`].
pub const SILENT_GRACE_MS: u64 = 200;

/// Handlers of requests without the admin token that run at once per
/// listener; the rest wait without taking a blocking thread, so the
/// operator's request finds one free and never queues behind theirs.
pub const OPEN_HANDLERS: usize = 3;

/// Threads of the blocking pool left for requests with the admin token
/// when every listener's [`OPEN_HANDLERS`] are busy.
pub const ADMIN_TOKEN_THREADS: usize = 4;

/// Threads of the runtime's blocking pool: every listener's (metrics,
/// admin, admin socket) [`OPEN_HANDLERS`], and [`ADMIN_TOKEN_THREADS`].
pub const BLOCKING_THREADS: usize = Listener::ALL.len() * OPEN_HANDLERS + ADMIN_TOKEN_THREADS;

/// Refused connections that linger at once per listener, so that their
/// refusal is read rather than lost to a reset; beyond, the oldest stops
/// lingering to make room for the newest.
const REFUSALS_AT_ONCE: usize = 64;

/// How long a refused connection lingers for its client to read the
/// refusal and close.
const REFUSAL_LINGER_MS: u64 = 1_000;

/// What the listener writes to a connection it refuses without reading it.
const REFUSED_ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\
Content-Type: application/json\r\nContent-Length: 54\r\n\r\n\
{\"error\":\"every connection slot is taken\",\"busy\":true}";

/// The limits of one listener (defaults: the constants above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Connection caps.
    pub caps: Caps,
    /// [`HEADER_READ_TIMEOUT_MS`].
    pub header_read_timeout_ms: u64,
    /// [`BODY_READ_TIMEOUT_MS`].
    pub body_read_timeout_ms: u64,
    /// [`MAX_REQUEST_BYTES`].
    pub max_request_bytes: usize,
    /// [`CONNECTION_DEADLINE_MS`].
    pub connection_deadline_ms: u64,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            caps: Caps {
                max_connections: MAX_CONNECTIONS,
                max_per_source: MAX_CONNECTIONS_PER_SOURCE,
                reserved: RESERVED_FOR_ADMIN,
                max_answer_bytes: MAX_ANSWER_BYTES,
                min_evict_age_ms: MIN_EVICT_AGE_MS,
                silent_grace_ms: SILENT_GRACE_MS,
                answer_grace_ms: ANSWER_GRACE_MS,
            },
            header_read_timeout_ms: HEADER_READ_TIMEOUT_MS,
            body_read_timeout_ms: BODY_READ_TIMEOUT_MS,
            max_request_bytes: MAX_REQUEST_BYTES,
            connection_deadline_ms: CONNECTION_DEADLINE_MS,
        }
    }
}

/// A request, read whole.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string (without `?`), possibly empty.
    pub query: String,
    /// The `Host` header, if sent (and text).
    pub host: Option<String>,
    /// `Authorization: Bearer …`, if sent.
    pub bearer: Option<String>,
    /// The body.
    pub body: Bytes,
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A text answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }

    /// A JSON answer.
    pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                content_type: "application/json",
                body,
            },
            Err(e) => Response::text(500, format!("cannot encode the answer: {e}\n")),
        }
    }
}

/// A blocking request handler.
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// What a listener makes of a request's head, before it reads the body.
#[derive(Debug, Clone)]
pub enum Screened {
    /// Answer this at once; the body is not read (a refusal: the `Host`,
    /// a missing token, a wrong method).
    Answer(Response),
    /// The head carries a token the listener knows: from now on nothing
    /// evicts the connection to make room.
    Trusted,
    /// Read the body; until it is in, the connection may be closed to make
    /// room, like one that has not sent its head (docs/ops.md §2).
    Open,
}

/// A listener's look at a request head (the [`Request`] has no body yet).
pub type Screen = Arc<dyn Fn(&Request) -> Screened + Send + Sync>;

/// A listener's two steps: the screen of each request head, then the
/// handler of each request that passed it, read whole.
#[derive(Clone)]
pub struct Service {
    /// Decides from the head.
    pub screen: Screen,
    /// Answers the whole request.
    pub handler: Handler,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Service")
    }
}

/// Whether a request head announces a body (RFC 9112 §6.3: a
/// `Transfer-Encoding`, or a `Content-Length` other than 0).
fn announces_body(headers: &hyper::HeaderMap) -> bool {
    headers.contains_key(hyper::header::TRANSFER_ENCODING)
        || headers
            .get(hyper::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

fn to_hyper(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(Bytes::from(r.body)));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(r.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(r.content_type),
    );
    resp
}

/// One listener's serving context.
#[derive(Debug, Clone)]
pub struct ServeContext {
    /// Which listener (the metric label).
    pub listener: Listener,
    /// Its limits.
    pub limits: ServeLimits,
    /// Where refusals are counted.
    pub counters: Arc<RefusalCounters>,
    /// Where what the listener holds is published (the metrics and the
    /// admin API read it).
    pub states: Arc<ListenerStates>,
}

impl ServeContext {
    fn refused(&self, reason: Refusal) {
        self.counters.bump(self.listener, reason);
    }
}

/// The listener's connections: the admission table and, for each kept
/// connection, the way to close it if it is evicted.
#[derive(Debug)]
struct Conns {
    admission: Admission,
    evict: std::collections::HashMap<ConnId, oneshot::Sender<()>>,
}

/// What the connections of one listener share.
#[derive(Debug)]
struct Listening {
    listener: Listener,
    states: Arc<ListenerStates>,
    conns: Mutex<Conns>,
    /// [`OPEN_HANDLERS`] permits.
    open_handlers: Arc<tokio::sync::Semaphore>,
    /// Refused connections lingering, oldest first ([`REFUSALS_AT_ONCE`]).
    refusing: Mutex<std::collections::VecDeque<tokio::task::AbortHandle>>,
}

type Shared = Arc<Listening>;

impl Listening {
    /// Publish what the table holds, after a change to it.
    fn publish(&self, c: &Conns) {
        self.states.set_table(
            self.listener,
            c.admission.answer_bytes(),
            c.admission.reserved_in_use(),
        );
    }
}

/// A request waiting for a handler permit, counted while it waits (also
/// when its client hangs up and the wait is dropped).
struct Waiting<'a>(&'a Listening);

impl<'a> Waiting<'a> {
    fn new(l: &'a Listening) -> Self {
        l.states.handler_waiting(l.listener, true);
        Waiting(l)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.states.handler_waiting(self.0.listener, false);
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Conns> {
    // The table stays consistent under a panic elsewhere: every update is
    // a few map operations with no unwind point between them.
    shared
        .conns
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A connection's slot: freed when the last holder lets go, that is when
/// the connection has ended *and* its handler has returned. A request
/// whose client hangs up keeps its slot while its handler runs, so the caps
/// bound the work in flight, not only the connections.
struct Slot(Shared, ConnId);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = lock(&self.0);
        c.admission.on_closed(self.1);
        c.evict.remove(&self.1);
        self.0.publish(&c);
    }
}

/// A refusal for lack of room: JSON with `busy`, so the CLI can tell it
/// from a refusal of the request itself.
fn busy_answer(why: &str) -> Response {
    Response::json(
        503,
        &crate::model::ApiError {
            error: why.to_string(),
            problems: Vec::new(),
            busy: true,
            pending: false,
        },
    )
}

async fn handle(
    req: hyper::Request<Incoming>,
    service: Service,
    ctx: ServeContext,
    shared: Shared,
    slot: Arc<Slot>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let id = slot.1;
    let (parts, body) = req.into_parts();
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
    };
    let bearer = header(hyper::header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let mut request = Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        // An absolute-form target's authority stands in for Host (RFC
        // 9112 §3.2.2).
        host: parts
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| header(hyper::header::HOST).map(str::to_string)),
        bearer,
        body: Bytes::new(),
    };
    // Nothing this server answers to a GET reads a body: one announced is
    // refused before anyone waits for it.
    if matches!(parts.method, hyper::Method::GET | hyper::Method::HEAD)
        && announces_body(&parts.headers)
    {
        ctx.refused(Refusal::BodyNotExpected);
        return Ok(to_hyper(Response::text(
            400,
            format!("a {} carries no body\n", parts.method),
        )));
    }
    // The head decides first: a refusal is answered without reading the
    // body, and only a head with a token makes the connection one that
    // nothing evicts. A body from anyone else is read while the connection
    // can still be closed to make room, so requests stalled in their
    // bodies cannot hold the listener's slots against the operator.
    let trusted = match (service.screen)(&request) {
        Screened::Answer(r) => return Ok(to_hyper(r)),
        Screened::Trusted => true,
        Screened::Open => false,
    };
    // A reserved slot is the admin token's (docs/ops.md §2): anyone else
    // is told the listener is busy, from the head, and the slot is free
    // again as soon as the answer is written.
    if !trusted && let Some(cap) = lock(&shared).admission.reserved_for(id) {
        ctx.refused(cap);
        return Ok(to_hyper(busy_answer(
            "every connection slot is taken by requests in progress; try again shortly",
        )));
    }
    if trusted && !lock(&shared).admission.on_request(id) {
        return Ok(to_hyper(evicted_answer()));
    }
    let limit = ctx.limits.max_request_bytes;
    let read = Limited::new(body, limit).collect();
    request.body =
        match tokio::time::timeout(Duration::from_millis(ctx.limits.body_read_timeout_ms), read)
            .await
        {
            Ok(Ok(b)) => b.to_bytes(),
            // Over the bound (announced or sent), or broken off: each is
            // counted as what it is, so the counter says which happened.
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                ctx.refused(Refusal::BodyTooLarge);
                return Ok(to_hyper(Response::text(
                    413,
                    format!("request body over {limit} bytes\n"),
                )));
            }
            Ok(Err(_)) => {
                ctx.refused(Refusal::BodyUnreadable);
                return Ok(to_hyper(Response::text(
                    400,
                    "request body broken off or malformed\n",
                )));
            }
            Err(_) => {
                ctx.refused(Refusal::BodyTimeout);
                return Ok(to_hyper(Response::text(
                    408,
                    format!(
                        "request body not received within {} ms\n",
                        ctx.limits.body_read_timeout_ms
                    ),
                )));
            }
        };
    if !trusted {
        let mut c = lock(&shared);
        if !c.admission.on_request(id) {
            return Ok(to_hyper(evicted_answer()));
        }
        // Answers not yet read fill the bound, and none can be closed yet
        // to make room: refused before any work.
        let now = std::time::Instant::now();
        if c.admission.answers_full(now) {
            c.admission.on_answered(id, now);
            drop(c);
            return Ok(to_hyper(answers_held(&ctx)));
        }
    }
    // The admin token's handler runs at once; others wait for one of
    // OPEN_HANDLERS permits without a blocking thread, so theirs never
    // queue in front of it, and a client that hangs up while it waits
    // leaves nothing behind. The handler holds the slot until it returns.
    let permit = if trusted {
        None
    } else {
        let _waiting = Waiting::new(&shared);
        match shared.open_handlers.clone().acquire_owned().await {
            Ok(p) => Some(p),
            Err(_) => return Ok(to_hyper(Response::text(503, "shutting down\n"))),
        }
    };
    let handler = service.handler;
    let held = slot.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let (_slot, _permit) = (held, permit);
        handler(request)
    })
    .await
    .unwrap_or_else(|_| Response::text(500, "the handler failed\n"));
    let mut c = lock(&shared);
    let now = std::time::Instant::now();
    let held = c
        .admission
        .hold_answer(id, answer.body.len(), !trusted, now);
    // Unread answers closed to make room for this one.
    for old in held.iter().flatten() {
        ctx.refused(Refusal::AnswerEvicted);
        if let Some(close) = c.evict.remove(old) {
            let _ = close.send(());
        }
    }
    shared.publish(&c);
    // Without a token, the connection is owed only the writing of its
    // answer from now on: one whose reader does not read a large answer
    // must not hold its slot against the operator.
    if !trusted {
        c.admission.on_answered(id, now);
        if held.is_none() {
            drop(c);
            return Ok(to_hyper(answers_held(&ctx)));
        }
    }
    Ok(to_hyper(answer))
}

/// For a request whose connection was evicted a moment before it was
/// taken up: the close is on its way.
fn evicted_answer() -> Response {
    busy_answer("connection closed to make room; try again")
}

/// For a request without the admin token while the listener holds its
/// bound of answers not yet read, all younger than the grace.
fn answers_held(ctx: &ServeContext) -> Response {
    ctx.refused(Refusal::AnswersHeld);
    busy_answer(&format!(
        "this listener holds {} MiB of answers not yet read by their clients; try again \
         shortly (requests with the admin token are answered)",
        ctx.limits.caps.max_answer_bytes >> 20
    ))
}

/// Serve one accepted connection until it closes, is evicted or meets a
/// limit; its slot in the table is freed however it ends.
async fn connection<S>(
    stream: S,
    id: ConnId,
    evicted: oneshot::Receiver<()>,
    service: Service,
    ctx: ServeContext,
    shared: Shared,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let slot = Arc::new(Slot(shared.clone(), id));
    // Its first byte spares it more than the silent grace.
    let heard = {
        let shared = shared.clone();
        move || lock(&shared).admission.on_heard(id)
    };
    let stream = first_byte::FirstByte::new(stream, Box::new(heard));
    let svc_ctx = ctx.clone();
    let svc = service_fn(move |req| {
        handle(
            req,
            service.clone(),
            svc_ctx.clone(),
            shared.clone(),
            slot.clone(),
        )
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(ctx.limits.header_read_timeout_ms))
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    let deadline = Duration::from_millis(ctx.limits.connection_deadline_ms);
    tokio::select! {
        r = tokio::time::timeout(deadline, conn) => match r {
            Err(_) => ctx.refused(Refusal::ConnectionDeadline),
            Ok(Err(e)) if e.is_timeout() => ctx.refused(Refusal::HeaderTimeout),
            Ok(Err(e)) if e.is_parse_too_large() => ctx.refused(Refusal::HeadTooLarge),
            // A client that hangs up mid-request is its own business.
            Ok(_) => {}
        },
        // Counted where the eviction was decided.
        _ = evicted => {}
    }
}

/// A stream the listener can write to without waiting: a refusal goes out
/// before its connection is handed to a task.
trait TryWrite {
    fn try_write(&self, b: &[u8]) -> std::io::Result<usize>;
}

impl TryWrite for TcpStream {
    fn try_write(&self, b: &[u8]) -> std::io::Result<usize> {
        TcpStream::try_write(self, b)
    }
}

impl TryWrite for UnixStream {
    fn try_write(&self, b: &[u8]) -> std::io::Result<usize> {
        UnixStream::try_write(self, b)
    }
}

/// Answer a connection refused for lack of room so that its client reads
/// why: the refusal is written at once, with one write that does not wait
/// (a new connection's send buffer holds it whole), before the connection
/// is handed to a task; the task writes whatever that write left, shuts
/// the sending side, then reads and drops whatever the client sends (its
/// request) until it closes, for at most [`REFUSAL_LINGER_MS`]. Closing
/// with its request unread would reset the connection, and a reset can
/// lose the answer before the client reads it. At most
/// [`REFUSALS_AT_ONCE`] linger; beyond, the oldest is cut short: it has
/// had the longest to be read, and under a flood of connections that hold
/// their refusals unread, the newest (the operator's, perhaps) is the one
/// to keep. The write comes first because a burst of refusals (many
/// connections waiting in the backlog, taken one after another without
/// the loop yielding) cuts short tasks that have not run yet: when the
/// task wrote the refusal, such a connection was closed without a byte,
/// and the CLI said "no end of headers" instead of "busy".
fn refuse<S>(mut stream: S, shared: &Shared)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + TryWrite + Unpin + Send + 'static,
{
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let written = stream.try_write(REFUSED_ANSWER).unwrap_or(0);
    let mut lingering = shared
        .refusing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    lingering.retain(|t| !t.is_finished());
    if lingering.len() >= REFUSALS_AT_ONCE
        && let Some(oldest) = lingering.pop_front()
    {
        oldest.abort();
    }
    let task = tokio::spawn(async move {
        let linger = async move {
            stream.write_all(&REFUSED_ANSWER[written..]).await?;
            // Only the sending side: the request is still read below.
            stream.shutdown().await?;
            let mut buf = [0u8; 4096];
            let mut read = 0;
            while read <= MAX_HEAD_BYTES {
                match stream.read(&mut buf).await? {
                    0 => break,
                    n => read += n,
                }
            }
            Ok::<(), std::io::Error>(())
        };
        let _ = tokio::time::timeout(Duration::from_millis(REFUSAL_LINGER_MS), linger).await;
    });
    lingering.push_back(task.abort_handle());
}

/// Where a listener takes its connections from.
#[derive(Debug)]
pub enum Accepting {
    /// A TCP address; its connections' sources are their addresses.
    Tcp(TcpListener),
    /// The admin API's Unix socket (docs/ops.md §1): only connections of
    /// these users (by the kernel's peer credentials) are kept; any other
    /// is closed at once, before it takes a slot. Each user's connections
    /// are one source, as on loopback.
    Unix {
        /// The socket.
        listener: UnixListener,
        /// The users let in.
        uids: Vec<u32>,
    },
}

/// A connection just accepted.
enum Accepted {
    Tcp(TcpStream, std::net::SocketAddr),
    /// With the uid its credentials name.
    Unix(UnixStream, u32),
    /// Not let in (counted, already closed).
    Refused,
}

impl Accepting {
    async fn accept(&self, ctx: &ServeContext) -> std::io::Result<Accepted> {
        match self {
            Accepting::Tcp(l) => l.accept().await.map(|(s, peer)| Accepted::Tcp(s, peer)),
            Accepting::Unix { listener, uids } => {
                let (s, _) = listener.accept().await?;
                match s.peer_cred() {
                    Ok(c) if uids.contains(&c.uid()) => Ok(Accepted::Unix(s, c.uid())),
                    _ => {
                        ctx.refused(Refusal::PeerUid);
                        Ok(Accepted::Refused)
                    }
                }
            }
        }
    }
}

/// Whom a TCP connection from `peer` counts under (docs/ops.md §2): if
/// its socket is on this host, the user that owns it, as the kernel says
/// (`crate::sock_diag`); else its address. A lookup that fails (a kernel
/// without socket diagnostics) leaves a loopback peer in the one loopback
/// source, as before owners were told apart; it is logged once per
/// listener (`warned`).
fn tcp_source(
    s: &TcpStream,
    peer: std::net::SocketAddr,
    listener: Listener,
    warned: &mut bool,
) -> Source {
    let owner = match s.local_addr() {
        Ok(here) => crate::sock_diag::tcp_owner(peer, here),
        Err(e) => Err(e),
    };
    match owner {
        Ok(owner) => Source::of(peer.ip(), owner),
        Err(e) => {
            if !*warned {
                *warned = true;
                tracing::warn!(
                    "ops listener {}: cannot tell which local user a connection is from \
                     ({e}); every loopback connection whose owner is unknown counts as one \
                     source",
                    listener.label()
                );
            }
            Source::of(peer.ip(), None)
        }
    }
}

/// Serve `listener` until `stop` turns true.
pub async fn serve(
    listener: Accepting,
    service: Service,
    ctx: ServeContext,
    mut stop: watch::Receiver<bool>,
) {
    let shared: Shared = Arc::new(Listening {
        listener: ctx.listener,
        states: ctx.states.clone(),
        conns: Mutex::new(Conns {
            admission: Admission::new(ctx.limits.caps),
            evict: std::collections::HashMap::new(),
        }),
        open_handlers: Arc::new(tokio::sync::Semaphore::new(OPEN_HANDLERS)),
        refusing: Mutex::new(std::collections::VecDeque::new()),
    });
    let mut warned = false;
    loop {
        let accepted = tokio::select! {
            a = listener.accept(&ctx) => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("ops listener: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let source = match &accepted {
            Accepted::Tcp(s, peer) => tcp_source(s, *peer, ctx.listener, &mut warned),
            Accepted::Unix(_, uid) => Source::LocalUser(*uid),
            Accepted::Refused => continue,
        };
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut c = lock(&shared);
            match c.admission.on_accept(source, std::time::Instant::now()) {
                Admit::No(reason) => {
                    drop(c);
                    ctx.refused(reason);
                    match accepted {
                        Accepted::Tcp(s, _) => refuse(s, &shared),
                        Accepted::Unix(s, _) => refuse(s, &shared),
                        Accepted::Refused => {}
                    }
                    continue;
                }
                Admit::Yes { id, evict } => {
                    if let Some(e) = evict {
                        ctx.refused(Refusal::IdleEvicted);
                        if let Some(close) = c.evict.remove(&e) {
                            let _ = close.send(());
                        }
                    }
                    c.evict.insert(id, tx);
                    shared.publish(&c);
                    id
                }
            }
        };
        let (service, ctx, shared) = (service.clone(), ctx.clone(), shared.clone());
        match accepted {
            Accepted::Tcp(s, _) => {
                tokio::spawn(connection(s, id, rx, service, ctx, shared));
            }
            Accepted::Unix(s, _) => {
                tokio::spawn(connection(s, id, rx, service, ctx, shared));
            }
            Accepted::Refused => {}
        }
    }
}

/// Split a query string into decoded `(key, value)` pairs.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encode a query value (everything but unreserved characters).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal written without reading the request is whole HTTP, and
    /// says `busy` as the JSON refusals do, so the CLI tells it apart.
    #[test]
    fn the_refusal_written_at_once_is_a_busy_json_answer() {
        let r = crate::client::parse_response(REFUSED_ANSWER).unwrap();
        assert_eq!(r.status, 503);
        let e: crate::model::ApiError = serde_json::from_slice(&r.body).unwrap();
        assert!(e.busy);
        assert!(REFUSED_ANSWER.ends_with(&r.body));
    }

    /// More refusals than linger at once, handed to [`refuse`] one after
    /// another before any of their tasks runs (as the accept loop does
    /// with a backlog of connections): every client reads the whole
    /// refusal, also those whose lingering was cut short. Before, a task
    /// cut short before it ran closed its connection without a byte.
    #[tokio::test(flavor = "current_thread")]
    async fn every_refusal_of_a_burst_is_written() {
        use tokio::io::AsyncReadExt as _;
        let shared: Shared = Arc::new(Listening {
            listener: Listener::Admin,
            states: Arc::new(ListenerStates::default()),
            conns: Mutex::new(Conns {
                admission: Admission::new(ServeLimits::default().caps),
                evict: std::collections::HashMap::new(),
            }),
            open_handlers: Arc::new(tokio::sync::Semaphore::new(OPEN_HANDLERS)),
            refusing: Mutex::new(std::collections::VecDeque::new()),
        });
        let mut clients = Vec::new();
        for _ in 0..REFUSALS_AT_ONCE * 2 {
            let (client, server) = UnixStream::pair().unwrap();
            refuse(server, &shared);
            clients.push(client);
        }
        for (i, mut c) in clients.into_iter().enumerate() {
            let mut got = Vec::new();
            tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut got))
                .await
                .expect("the refusal's connection was not closed")
                .unwrap();
            assert_eq!(got, REFUSED_ANSWER, "refusal {i}");
        }
    }

    /// The open handlers of all three listeners at once leave the admin
    /// token its threads. Before, the pool counted two listeners' and
    /// left one thread.
    #[test]
    fn the_blocking_pool_leaves_threads_for_the_admin_token() {
        assert_eq!(Listener::ALL.len(), 3);
        assert_eq!(
            BLOCKING_THREADS - Listener::ALL.len() * OPEN_HANDLERS,
            ADMIN_TOKEN_THREADS
        );
        assert_eq!(BLOCKING_THREADS, 13);
    }

    #[test]
    fn queries_decode() {
        assert_eq!(
            query_pairs("address=2001%3Adb8%3A%3A1&port=80&count"),
            vec![
                ("address".into(), "2001:db8::1".into()),
                ("port".into(), "80".into()),
                ("count".into(), "".into())
            ]
        );
        assert_eq!(query_pairs(""), vec![]);
        assert_eq!(query_pairs("a=%zz%4"), vec![("a".into(), "%zz%4".into())]);
        assert_eq!(percent_encode("2001:db8::1"), "2001%3Adb8%3A%3A1");
        let round = query_pairs(&format!("x={}", percent_encode("a b&c=d/é")));
        assert_eq!(round[0].1, "a b&c=d/é");
    }
}
