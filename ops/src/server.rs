//! The node's ops endpoints: `/metrics`, `/healthz` and `/readyz` on the
//! metrics address; the JSON admin API on the admin address (localhost),
//! where anything that changes state needs the node's token, and reads
//! need a token too when a read token is configured. The admin API
//! answers only to its own names in `Host` (DNS rebinding); the metrics
//! listener checks `Host` only when configured to (docs/ops.md §3).
//!
//! Admin API (JSON answers; errors as [`ApiError`]):
//!
//! | method | path | body | answer |
//! | --- | --- | --- | --- |
//! | GET | `/v1/conn?address=A[-B\|/LEN]&netmask=M&port=P[-Q]&protocol=P&interface=IF&state=S,…&count=1` | | [`crate::model::ConnList`] |
//! | GET | `/v1/local-host?address=A&brief=1&tcp=N[-M]&udp=N[-M]&embryonic=N[-M]` | | [`crate::show_local_host::LocalHosts`] |
//! | POST | `/v1/clear-conn` (token) | [`ClearRequest`] (`all` for every connection) | [`crate::model::ClearResult`] |
//! | GET | `/v1/service-policy` | | [`crate::model::ServicePolicy`] |
//! | GET | `/v1/cluster` | | [`crate::model::ClusterView`] |
//! | GET | `/v1/running-config` | | [`crate::model::RunningConfig`] |
//! | POST | `/v1/configure` (token) | ASA commands | [`crate::model::ConfigureResult`], 422 with problems |
//! | GET | `/v1/counters` | | [`crate::model::Counters`] |
//! | GET | `/v1/fragment` | | [`crate::model::Fragments`] |
//! | GET | `/v1/packet-tracer?input=IF&protocol=tcp&src=A&sport=P&dst=B&dport=Q` | | [`crate::model::PacketTrace`] |
//! | GET | `/v1/access-list?name=NAME` | | [`crate::model::AccessLists`], 404 for no such list |
//! | GET | `/v1/time-range` | | [`crate::show_time_range::TimeRanges`] |
//! | POST | `/v1/shun` (token) | a `shun`, `no shun` or `clear shun [statistics]` command | [`crate::shun::ShunDone`] |
//! | GET | `/v1/shuns` | | [`crate::shun::ShunList`] |
//! | POST | `/v1/clear-access-list` (token) | [`AclClearRequest`] (`all` for every list) | [`crate::model::AclClearResult`], 404 for no such list |
//! | GET, POST | `/v1/capture` (token, reads too) | a `capture` command (POST) | [`crate::capture::CaptureList`], [`crate::capture::CaptureDone`] |
//! | GET | `/v1/capture/NAME?detail&dump&count=N` (token) | | [`crate::capture::CaptureView`], 404 for no such capture |
//! | GET | `/v1/capture/NAME/pcap` (token) | | a pcap file |
//! | POST | `/v1/cluster/membership` (token) | [`crate::model::MemberChange`] | [`crate::model::MemberResult`] |
//! | GET | `/healthz`, `/readyz` | | text, [`crate::model::Health`] |
//!
//! Every GET needs the read token or the admin token when
//! [`OpsConfig::read_token`] is set; a foreign `Host` gets 421, none 400.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

use crate::backend::{Backend, Caller, ConnQuery, LocalHostQuery, OpsError};
use crate::clear_conn::ClearRequest;
use crate::echo::{echo, echo_message};
use crate::host_check::{HostCheck, HostVerdict};
use crate::http::listen::{self, ListenerStates};
use crate::http::refusal::{Listener, Refusal, RefusalCounters};
use crate::http::{
    self, Handler, Request, Response, Screen, Screened, ServeContext, ServeLimits, Service,
    query_pairs,
};
use crate::metrics::Metrics;
use crate::model::{ApiError, ConfigProblem, MemberChange, OpsListenerStatus};
use crate::show_acl::AclClearRequest;
use crate::show_local_host::HostFilter;

/// Where to listen and how to authorize changes.
#[derive(Debug, Clone, Default)]
pub struct OpsConfig {
    /// `/metrics`, `/healthz`, `/readyz`.
    pub metrics: Option<SocketAddr>,
    /// The admin API.
    pub admin: Option<SocketAddr>,
    /// The admin API on a Unix socket too, for the node's own operators
    /// (root and the node's user): no other local user can reach it, so
    /// none can crowd them out (docs/ops.md §1).
    pub admin_socket: Option<std::path::PathBuf>,
    /// The token that changes need (`None`: every change is refused); it
    /// authorizes reads too.
    pub token: Option<String>,
    /// The token every read of the admin API needs (`None`: reads are
    /// open to whoever reaches the loopback listener).
    pub read_token: Option<String>,
    /// Host names the admin API answers to besides its own address
    /// literal, `localhost`, `127.0.0.1` and `[::1]` (docs/ops.md §3).
    pub admin_hosts: Vec<String>,
    /// `Some`: the metrics listener checks `Host` too, against the same
    /// built-in names, its own address literal and these; `None`: it
    /// answers any `Host` (Prometheus scrapes by whatever name it likes).
    pub metrics_hosts: Option<Vec<String>>,
    /// Each listener's connection caps, timeouts and size bounds.
    pub limits: ServeLimits,
}

/// An error answer. Every message passes through [`echo_message`]: the
/// user text it may quote (a path, a parameter, a decoder's complaint
/// about a body) is escaped and bounded (docs/ops.md §5).
fn api_error(status: u16, error: impl Into<String>) -> Response {
    Response::json(
        status,
        &ApiError {
            error: echo_message(&error.into()),
            problems: Vec::new(),
            busy: false,
            pending: false,
        },
    )
}

/// Most configuration problems one answer lists (the count says how many
/// there were).
const MAX_PROBLEMS_SHOWN: usize = 100;

fn from_ops_error(e: OpsError) -> Response {
    match e {
        OpsError::Unavailable(_) | OpsError::Cluster(_) | OpsError::PolicyRefused(_) => {
            api_error(503, e.to_string())
        }
        OpsError::Pending(_) => Response::json(
            503,
            &ApiError {
                error: echo_message(&e.to_string()),
                problems: Vec::new(),
                busy: false,
                pending: true,
            },
        ),
        OpsError::BadRequest(_) => api_error(400, e.to_string()),
        OpsError::NotFound(_) => api_error(404, e.to_string()),
        OpsError::RateLimited(_) | OpsError::Busy(_) => api_error(429, e.to_string()),
        OpsError::Conflict(_) => api_error(409, e.to_string()),
        OpsError::NotSaved(_) => api_error(500, e.to_string()),
        OpsError::Config(problems) => Response::json(
            422,
            &ApiError {
                error: format!("configuration refused ({} problem(s))", problems.len()),
                // A problem may quote a name of the refused text whole.
                problems: problems
                    .into_iter()
                    .take(MAX_PROBLEMS_SHOWN)
                    .map(|p| ConfigProblem {
                        message: echo_message(&p.message),
                        ..p
                    })
                    .collect(),
                busy: false,
                pending: false,
            },
        ),
    }
}

fn answer<T: serde::Serialize>(r: Result<T, OpsError>) -> Response {
    match r {
        Ok(v) => Response::json(200, &v),
        Err(e) => from_ops_error(e),
    }
}

/// Compare without an early exit, so the time taken does not tell how
/// much of a guessed token was right.
fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

fn authorized(req: &Request, token: &Option<String>) -> bool {
    match (token, &req.bearer) {
        (Some(t), Some(b)) => !t.is_empty() && same_token(t, b),
        _ => false,
    }
}

/// Parse the filters of `show conn` from a query string (keys and values:
/// [`crate::conn_filter::ConnFilter::set_query`]), and `count`.
pub fn parse_conn_query(query: &str) -> Result<ConnQuery, OpsError> {
    let mut q = ConnQuery::default();
    for (k, v) in query_pairs(query) {
        if k == "count" {
            q.count_only = v != "0" && v != "false";
            continue;
        }
        took(&k, q.filter.set_query(&k, &v))?;
    }
    q.filter.check().map_err(OpsError::BadRequest)?;
    Ok(q)
}

/// A query parameter `k` a filter took (`Ok(true)`), does not know
/// (`Ok(false)`, refused by name) or refused (`Err`, with the reason).
fn took(k: &str, set: Result<bool, String>) -> Result<(), OpsError> {
    match set {
        Ok(true) => Ok(()),
        Ok(false) => Err(OpsError::BadRequest(format!(
            "unknown parameter '{}'",
            echo(k)
        ))),
        Err(e) => Err(OpsError::BadRequest(e)),
    }
}

/// Parse `show local-host`'s query ([`HostFilter::set_query`]).
pub fn parse_local_host_query(query: &str) -> Result<HostFilter, OpsError> {
    let mut q = HostFilter::default();
    for (k, v) in query_pairs(query) {
        took(&k, q.set_query(&k, &v))?;
    }
    Ok(q)
}

/// The list `GET /v1/access-list?name=NAME` asks for (`None`: all).
fn acl_name(query: &str) -> Result<Option<String>, OpsError> {
    let mut name = None;
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "name" => name = Some(v),
            other => {
                return Err(OpsError::BadRequest(format!(
                    "unknown parameter '{}'",
                    echo(other)
                )));
            }
        }
    }
    Ok(name)
}

fn health(backend: &dyn Backend, req: &Request) -> Option<Response> {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/healthz") => Some(Response::text(200, "ok\n")),
        ("GET", "/readyz") => {
            let h = backend.health();
            Some(Response::json(if h.ready { 200 } else { 503 }, &h))
        }
        _ => None,
    }
}

/// What a listener checks before it answers (docs/ops.md §3): the `Host`
/// header, if it checks one, and counts what it refuses.
#[derive(Debug, Clone)]
pub struct Gate {
    /// The names it answers to (`None`: any).
    pub hosts: Option<HostCheck>,
    /// Which listener, for the refusal counter.
    pub listener: Listener,
    /// The refusal counter.
    pub refusals: Arc<RefusalCounters>,
}

impl Gate {
    fn refuse(&self, reason: Refusal, r: Response) -> Response {
        self.refusals.bump(self.listener, reason);
        r
    }

    /// `Some(refusal)` unless the request's `Host` names this listener.
    fn host(&self, req: &Request) -> Option<Response> {
        let check = self.hosts.as_ref()?;
        match check.check(req.host.as_deref()) {
            HostVerdict::Ours => None,
            // The refusals do not echo the name: it is the requester's.
            HostVerdict::Missing => Some(self.refuse(
                Refusal::BadHost,
                api_error(400, "no Host header: say which listener you mean"),
            )),
            HostVerdict::Foreign => Some(self.refuse(
                Refusal::BadHost,
                api_error(
                    421,
                    "the Host header does not name this listener (its address, localhost, \
                     127.0.0.1, [::1] or a configured name)",
                ),
            )),
        }
    }
}

/// The tokens of the admin API.
#[derive(Debug, Clone, Default)]
pub struct AdminTokens {
    /// Changes need it, and it authorizes reads too (`None`: every
    /// change is refused).
    pub change: Option<String>,
    /// Reads need it or the change token (`None`: reads are open).
    pub read: Option<String>,
}

/// Whether a path of the admin API changes state (POST, admin token).
fn changes_state(path: &str) -> bool {
    matches!(
        path,
        "/v1/clear-conn"
            | "/v1/clear-access-list"
            | "/v1/configure"
            | "/v1/cluster/membership"
            | "/v1/shun"
    )
}

/// The admin API's look at a request head: the `Host`, the method and the
/// token it needs, all decided before a body is read. Only a head with the
/// admin token is trusted (docs/ops.md §2): a read-token holder (a
/// monitoring system, a local user given reads) is not to hold slots the
/// operator may need.
fn admin_screen(tokens: AdminTokens, gate: Gate) -> Screen {
    Arc::new(move |req: &Request| {
        if let Some(refused) = gate.host(req) {
            return Screened::Answer(refused);
        }
        if crate::capture::is_capture_path(&req.path) {
            // Captures show packet contents: the admin token, reads
            // included, on every listener (docs/ops.md §2).
            if !(req.method == "GET" || req.method == "POST" && req.path == "/v1/capture") {
                return Screened::Answer(api_error(
                    405,
                    "captures take GET (and POST /v1/capture)",
                ));
            }
            if !authorized(req, &tokens.change) {
                return Screened::Answer(gate.refuse(
                    Refusal::Unauthorized,
                    api_error(
                        401,
                        "captures show packet contents: send the node's admin token \
                         (Authorization: Bearer …)",
                    ),
                ));
            }
            return Screened::Trusted;
        }
        if changes_state(&req.path) {
            if req.method != "POST" {
                return Screened::Answer(api_error(405, format!("{} needs POST", echo(&req.path))));
            }
            if !authorized(req, &tokens.change) {
                return Screened::Answer(gate.refuse(
                    Refusal::Unauthorized,
                    api_error(
                        401,
                        "this changes state: send the node's admin token (Authorization: Bearer …)",
                    ),
                ));
            }
        } else if req.method != "GET" {
            // Reads are GETs: anything else is refused before its body.
            return Screened::Answer(api_error(405, format!("{} needs GET", echo(&req.path))));
        } else if tokens.read.is_some()
            && !authorized(req, &tokens.read)
            && !authorized(req, &tokens.change)
        {
            return Screened::Answer(gate.refuse(
                Refusal::Unauthorized,
                api_error(
                    401,
                    "this node's reads need a token: send its read token or admin token \
                     (Authorization: Bearer …)",
                ),
            ));
        }
        if authorized(req, &tokens.change) {
            Screened::Trusted
        } else {
            Screened::Open
        }
    })
}

/// The admin API: its screen of request heads, then its handler, which
/// reports the node's ops listeners (`states`) with its counters. On the
/// admin socket (the gate's listener), a request without the admin token
/// is the operator's all the same ([`Caller::Socket`]).
pub fn admin_service(
    backend: Arc<dyn Backend>,
    tokens: AdminTokens,
    gate: Gate,
    states: Arc<ListenerStates>,
) -> Service {
    let on_socket = gate.listener == Listener::AdminSocket;
    Service {
        screen: admin_screen(tokens.clone(), gate),
        handler: admin_handler(backend, tokens, states, on_socket),
    }
}

/// The configured ops listeners, as `show counters` reports them.
fn listener_report(states: &ListenerStates) -> Vec<OpsListenerStatus> {
    Listener::ALL
        .into_iter()
        .filter(|&l| states.configured(l))
        .map(|l| {
            let load = states.load(l);
            OpsListenerStatus {
                listener: l.label().to_string(),
                up: states.bound(l),
                bind_failures: states.bind_failures(l),
                answer_bytes_held: load.answer_bytes,
                reserved_slots_in_use: load.reserved_in_use,
                handlers_waiting: load.handlers_waiting,
            }
        })
        .collect()
}

/// The admin API's handler, for requests its screen passed (`on_socket`:
/// those of the admin socket, whose every connection the kernel's
/// credentials showed to be root's or the node's user's).
fn admin_handler(
    backend: Arc<dyn Backend>,
    tokens: AdminTokens,
    states: Arc<ListenerStates>,
    on_socket: bool,
) -> Handler {
    Arc::new(move |req: Request| {
        // On the socket, a read without the admin token is the operator's
        // (the CLI sends none unless a read token is configured): a walk
        // budget and no turn of its own, never shared with the port's
        // token-less callers, whose walks would refuse it (docs/ops.md §2).
        let caller = if authorized(&req, &tokens.change) {
            Caller::AdminToken
        } else if on_socket {
            Caller::Socket
        } else if authorized(&req, &tokens.read) {
            Caller::ReadToken
        } else {
            Caller::Open
        };
        let changes = changes_state(&req.path);
        if let Some(r) = health(&*backend, &req) {
            return r;
        }
        if crate::capture::is_capture_path(&req.path) {
            return capture_route(&*backend, &req);
        }
        if !changes && req.method != "GET" {
            return api_error(405, format!("{} needs GET", echo(&req.path)));
        }
        match req.path.as_str() {
            "/v1/conn" => answer(
                parse_conn_query(&req.query)
                    .and_then(|q| backend.conns(&ConnQuery { caller, ..q })),
            ),
            "/v1/local-host" => answer(
                parse_local_host_query(&req.query)
                    .and_then(|hosts| backend.local_hosts(&LocalHostQuery { hosts, caller })),
            ),
            // Every connection only on `"all": true`: a misspelled key
            // or an empty body is refused, not read as the empty filter.
            "/v1/clear-conn" => match ClearRequest::parse(&req.body) {
                Ok(f) => answer(backend.clear_conns(&f)),
                Err(e) => api_error(400, e),
            },
            "/v1/service-policy" => answer(backend.service_policy()),
            "/v1/cluster" => answer(backend.cluster()),
            "/v1/running-config" => answer(backend.running_config()),
            "/v1/configure" => match std::str::from_utf8(&req.body) {
                Ok(text) => answer(backend.configure(text)),
                Err(_) => api_error(400, "the configuration is not UTF-8 text"),
            },
            "/v1/counters" => answer(backend.counters().map(|mut c| {
                c.ops_listeners = listener_report(&states);
                c
            })),
            "/v1/fragment" => answer(backend.fragments()),
            "/v1/time-range" => answer(backend.time_ranges()),
            "/v1/packet-tracer" => answer(
                crate::packet_tracer::parse_query(&req.query)
                    .and_then(|q| backend.packet_tracer(&q)),
            ),
            "/v1/access-list" => {
                answer(acl_name(&req.query).and_then(|name| backend.access_lists(name.as_deref())))
            }
            // Every list only on `"all": true`, as for `clear conn`.
            "/v1/clear-access-list" => match AclClearRequest::parse(&req.body) {
                Ok(name) => answer(backend.clear_access_lists(name.as_deref())),
                Err(e) => api_error(400, e),
            },
            "/v1/shun" => match std::str::from_utf8(&req.body) {
                Ok(line) => answer(backend.shun_command(line)),
                Err(_) => api_error(400, "the command is not UTF-8 text"),
            },
            "/v1/shuns" => answer(backend.shun_list()),
            "/v1/cluster/membership" => match serde_json::from_slice::<MemberChange>(&req.body) {
                Ok(c) => answer(backend.membership(&c)),
                Err(e) => api_error(400, format!("the body is not a membership change: {e}")),
            },
            other => api_error(404, format!("no such endpoint: {}", echo(other))),
        }
    })
}

/// `/v1/capture` (GET: `show capture`; POST: a `capture` command),
/// `/v1/capture/NAME[?detail&dump&count=N]`, `/v1/capture/NAME/pcap`;
/// the screen let only the admin token's requests by.
fn capture_route(backend: &dyn Backend, req: &Request) -> Response {
    let rest = req.path.strip_prefix("/v1/capture").unwrap_or_default();
    match (req.method.as_str(), rest) {
        ("POST", "") => match std::str::from_utf8(&req.body) {
            Ok(line) => answer(backend.capture_command(line)),
            Err(_) => api_error(400, "the command is not UTF-8 text"),
        },
        ("GET", "") => answer(backend.capture_list()),
        ("GET", r) => match r.strip_prefix('/').map(|n| n.split_once('/')) {
            Some(Some((name, "pcap"))) => match backend.capture_pcap(name) {
                Ok(body) => Response {
                    status: 200,
                    content_type: "application/vnd.tcpdump.pcap",
                    body,
                },
                Err(e) => from_ops_error(e),
            },
            Some(None) => answer(
                crate::capture::parse_query(&r[1..], &req.query)
                    .and_then(|q| backend.capture_show(&q)),
            ),
            _ => api_error(404, format!("no such endpoint: {}", echo(&req.path))),
        },
        _ => api_error(405, format!("{} needs GET", echo(&req.path))),
    }
}

/// The metrics listener: no token (Prometheus scrapes it, and it answers
/// counters, never secrets, and changes nothing); the `Host` check only if
/// the gate has one (docs/ops.md §3), on the head. It serves GETs only, so
/// anything else is refused on its head: nobody can make it wait for a
/// body, let alone hold one (docs/ops.md §2). `/healthz` is answered on
/// its head too.
pub fn metrics_service(backend: Arc<dyn Backend>, metrics: Arc<Metrics>, gate: Gate) -> Service {
    Service {
        screen: Arc::new(move |req: &Request| {
            if let Some(refused) = gate.host(req) {
                return Screened::Answer(refused);
            }
            if !matches!(req.path.as_str(), "/metrics" | "/healthz" | "/readyz") {
                return Screened::Answer(Response::text(
                    404,
                    "not found: try /metrics, /healthz, /readyz\n",
                ));
            }
            if req.method != "GET" {
                return Screened::Answer(Response::text(405, "GET only\n"));
            }
            // Liveness asks nothing of the node: answered from the head,
            // without a handler permit or a blocking thread, so probes are
            // never queued behind slow scrapes (docs/ops.md §2). Readiness
            // asks the node's state, under locks a `configure` holds while
            // it waits for the workers, so it is not answered on the
            // listeners' one thread: it waits for a handler like a scrape.
            if req.path == "/healthz" {
                return Screened::Answer(Response::text(200, "ok\n"));
            }
            Screened::Open
        }),
        handler: metrics_handler(backend, metrics),
    }
}

fn metrics_handler(backend: Arc<dyn Backend>, metrics: Arc<Metrics>) -> Handler {
    Arc::new(move |req: Request| {
        if let Some(r) = health(&*backend, &req) {
            return r;
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/metrics") => Response {
                status: 200,
                content_type: prometheus::TEXT_FORMAT,
                body: metrics.render().into_bytes(),
            },
            (_, "/metrics") => Response::text(405, "GET only\n"),
            _ => Response::text(404, "not found: try /metrics, /healthz, /readyz\n"),
        }
    })
}

/// The running endpoints; dropping it stops them.
#[derive(Debug)]
pub struct OpsServer {
    /// Where `/metrics` listens: the bound address (also for port 0), or
    /// the configured one while the listener waits to bind it.
    pub metrics_addr: Option<SocketAddr>,
    /// Where the admin API listens (the same way).
    pub admin_addr: Option<SocketAddr>,
    /// The admin API's Unix socket, if served.
    pub admin_socket: Option<std::path::PathBuf>,
    /// Whether each listener was waiting for its address at start (in use
    /// by another socket), by [`Listener::index`].
    waiting: [bool; Listener::ALL.len()],
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Why the endpoints did not start. An address another socket holds is
/// none: the listener waits for it (docs/ops.md §1).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The runtime did not start.
    #[error("cannot start the ops runtime: {0}")]
    Runtime(std::io::Error),
    /// An address that cannot be bound for another reason than its being
    /// in use: not on this host, or a port the node may not bind. Waiting
    /// would not mend the configuration.
    #[error("cannot listen on {addr} ({which}): {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// `metrics` or `admin`.
        which: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The admin socket's path cannot be bound: another node serves it,
    /// something else is there, or the directory does not allow it.
    #[error("cannot listen on the admin socket {}: {source}", path.display())]
    BindSocket {
        /// The configured path.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// One listener: bound at start, or bound later (every
/// [`listen::BIND_RETRY_MS`]) when its address was taken; then served
/// until `stop`. Its service is made once the address is known, since the
/// `Host` check names the bound port.
async fn listen(
    addr: SocketAddr,
    first: Option<std::net::TcpListener>,
    make: impl FnOnce(SocketAddr) -> Service,
    ctx: ServeContext,
    states: Arc<ListenerStates>,
    mut stop: watch::Receiver<bool>,
) {
    // Up only once the runtime serves it: a socket bound but not taken by
    // the runtime listens for nobody.
    let first = first.and_then(|l| match tokio::net::TcpListener::from_std(l) {
        Ok(l) => {
            states.set_bound(ctx.listener, true);
            Some(l)
        }
        Err(e) => {
            states.failed(ctx.listener);
            tracing::error!("ops: cannot serve {addr}: {e}; binding it again");
            None
        }
    });
    let listener = match first {
        Some(l) => l,
        None => match listen::bind_until_bound(addr, ctx.listener, &states, &mut stop).await {
            Some(l) => l,
            None => return,
        },
    };
    let bound = listener.local_addr().unwrap_or(addr);
    http::serve(http::Accepting::Tcp(listener), make(bound), ctx, stop).await;
}

impl OpsServer {
    /// Serve the configured addresses on a thread of their own. An address
    /// that cannot be bound now (another process holds the port) does not
    /// keep the node from starting: the error is logged and counted, and
    /// the listener binds it as soon as it can (docs/ops.md §1).
    pub fn start(
        cfg: &OpsConfig,
        backend: Arc<dyn Backend>,
        metrics: Arc<Metrics>,
    ) -> Result<OpsServer, StartError> {
        let states = metrics.listener_states();
        let first = |addr: Option<SocketAddr>, l: Listener| {
            addr.map(|a| match listen::bind_first(a, l, &states) {
                Ok(s) => Ok((a, s)),
                Err(source) => Err(StartError::Bind {
                    addr: a,
                    which: l.label(),
                    source,
                }),
            })
            .transpose()
        };
        let m = first(cfg.metrics, Listener::Metrics)?;
        let a = first(cfg.admin, Listener::Admin)?;
        let sock = cfg
            .admin_socket
            .as_ref()
            .map(|p| {
                listen::bind_unix(p, &states)
                    .map(|(l, f)| (p.clone(), l, f))
                    .map_err(|source| StartError::BindSocket {
                        path: p.clone(),
                        source,
                    })
            })
            .transpose()?;
        let waiting = [
            m.as_ref().is_some_and(|(_, l)| l.is_none()),
            a.as_ref().is_some_and(|(_, l)| l.is_none()),
            false,
        ];
        let local = |b: &Option<(SocketAddr, Option<std::net::TcpListener>)>| {
            b.as_ref().map(|(addr, l)| {
                l.as_ref()
                    .and_then(|l| l.local_addr().ok())
                    .unwrap_or(*addr)
            })
        };
        let (metrics_addr, admin_addr) = (local(&m), local(&a));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(http::BLOCKING_THREADS)
            .build()
            .map_err(StartError::Runtime)?;
        let (stop, rx) = watch::channel(false);
        let tokens = AdminTokens {
            change: cfg.token.clone(),
            read: cfg.read_token.clone(),
        };
        let gate = {
            let refusals = metrics.http_refusals();
            move |listener, hosts| Gate {
                hosts,
                listener,
                refusals: refusals.clone(),
            }
        };
        let make_metrics = {
            let (backend, metrics, gate) = (backend.clone(), metrics.clone(), gate.clone());
            let names = cfg.metrics_hosts.clone();
            move |bound| {
                let hosts = names.as_ref().map(|n| HostCheck::new(bound, n));
                metrics_service(backend, metrics, gate(Listener::Metrics, hosts))
            }
        };
        // No `Host` check on the socket: no browser reaches a Unix socket,
        // and that check is against pages that make a browser call the
        // loopback port (docs/ops.md §3).
        let socket_service = admin_service(
            backend.clone(),
            tokens.clone(),
            gate(Listener::AdminSocket, None),
            states.clone(),
        );
        let make_admin = {
            let names = cfg.admin_hosts.clone();
            let states = states.clone();
            move |bound| {
                let hosts = Some(HostCheck::new(bound, &names));
                admin_service(backend, tokens, gate(Listener::Admin, hosts), states)
            }
        };
        let context = |listener| {
            let mut limits = cfg.limits;
            // Nobody has an admin token for the metrics listener.
            if listener == Listener::Metrics {
                limits.caps.reserved = 0;
            }
            ServeContext {
                listener,
                limits,
                counters: metrics.http_refusals(),
                states: states.clone(),
            }
        };
        let (metrics_ctx, admin_ctx) = (context(Listener::Metrics), context(Listener::Admin));
        let socket_ctx = context(Listener::AdminSocket);
        let admin_socket = sock.as_ref().map(|(p, _, _)| p.clone());
        // Root and the node's own user: whoever can read the admin token
        // in its 0700 directory (docs/ops.md §1).
        // SAFETY: geteuid has no preconditions.
        let uids = vec![0, unsafe { libc::geteuid() }];
        let thread = std::thread::Builder::new()
            .name("rampart-ops".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut tasks = Vec::new();
                    if let Some((addr, first)) = m {
                        tasks.push(tokio::spawn(listen(
                            addr,
                            first,
                            make_metrics,
                            metrics_ctx,
                            states.clone(),
                            rx.clone(),
                        )));
                    }
                    if let Some((addr, first)) = a {
                        tasks.push(tokio::spawn(listen(
                            addr,
                            first,
                            make_admin,
                            admin_ctx,
                            states.clone(),
                            rx.clone(),
                        )));
                    }
                    let socket = sock.map(|(path, std, file)| {
                        match tokio::net::UnixListener::from_std(std) {
                            Ok(l) => {
                                states.set_bound(Listener::AdminSocket, true);
                                tasks.push(tokio::spawn(http::serve(
                                    http::Accepting::Unix { listener: l, uids },
                                    socket_service,
                                    socket_ctx,
                                    rx.clone(),
                                )));
                            }
                            Err(e) => {
                                states.failed(Listener::AdminSocket);
                                tracing::error!(
                                    "ops: cannot serve the admin socket {}: {e}",
                                    path.display()
                                );
                            }
                        }
                        (path, file)
                    });
                    for t in tasks {
                        let _ = t.await;
                    }
                    if let Some((path, file)) = socket {
                        states.set_bound(Listener::AdminSocket, false);
                        file.remove(&path);
                    }
                });
                runtime.shutdown_timeout(std::time::Duration::from_millis(500));
            })
            .map_err(StartError::Runtime)?;
        Ok(OpsServer {
            metrics_addr,
            admin_addr,
            admin_socket,
            waiting,
            stop,
            thread: Some(thread),
        })
    }
}

impl OpsServer {
    /// Whether listener `l` was waiting for its address at start, another
    /// socket holding it (it binds it as soon as it is free).
    pub fn waiting_at_start(&self, l: Listener) -> bool {
        self.waiting[l.index()]
    }
}

impl Drop for OpsServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change the cluster may still make is a 503 flagged `pending`,
    /// which the CLI reads ("not confirmed", not "not applied"); the
    /// cluster's other refusals are 503s without it.
    #[test]
    fn a_pending_change_is_a_503_flagged_pending() {
        let r = from_ops_error(OpsError::Pending("may still take effect".into()));
        assert_eq!(r.status, 503);
        let e: ApiError = serde_json::from_slice(&r.body).unwrap();
        assert!(e.pending, "{e:?}");
        let r = from_ops_error(OpsError::Cluster("no quorum".into()));
        assert_eq!(r.status, 503);
        let e: ApiError = serde_json::from_slice(&r.body).unwrap();
        assert!(!e.pending, "{e:?}");
        assert!(!String::from_utf8_lossy(&r.body).contains("pending"));
    }

    /// A listener bound at start that the runtime then cannot serve (its
    /// registration fails) is not exported as up while it binds again.
    /// Before, `bind_first` marked it up and nothing cleared it:
    /// `rampart_ops_listener_up` said 1 with nothing listening.
    #[test]
    fn a_listener_the_runtime_cannot_serve_is_not_up() {
        use std::os::fd::{FromRawFd as _, IntoRawFd as _};
        let states = Arc::new(ListenerStates::default());
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        // Bound: it keeps holding the address, so binding again fails.
        let real = listen::bind_first(addr, Listener::Admin, &states)
            .unwrap()
            .expect("a free port");
        let addr = real.local_addr().unwrap();
        // What the runtime is handed instead: not a socket, which epoll
        // refuses.
        let null = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: the descriptor is open, and the listener owns it from
        // here on.
        let bogus = unsafe { std::net::TcpListener::from_raw_fd(null.into_raw_fd()) };
        bogus.set_nonblocking(true).unwrap();
        let service = Service {
            screen: Arc::new(|_: &Request| Screened::Open),
            handler: Arc::new(|_| Response::text(200, "")),
        };
        let ctx = ServeContext {
            listener: Listener::Admin,
            limits: ServeLimits::default(),
            counters: Arc::new(RefusalCounters::default()),
            states: states.clone(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (stop, rx) = watch::channel(false);
        runtime.block_on(async {
            let task = tokio::spawn(listen(
                addr,
                Some(bogus),
                move |_| service,
                ctx,
                states.clone(),
                rx,
            ));
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            assert!(!states.bound(Listener::Admin), "exported as up");
            assert_eq!(states.bind_failures(Listener::Admin), 1);
            stop.send(true).unwrap();
            task.await.unwrap();
        });
        drop(real);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
        assert!(!same_token("", "x"));
        let req = |b: Option<&str>| Request {
            method: "POST".into(),
            path: "/v1/configure".into(),
            query: String::new(),
            host: None,
            bearer: b.map(String::from),
            body: Default::default(),
        };
        assert!(authorized(&req(Some("t0k")), &Some("t0k".into())));
        assert!(!authorized(&req(None), &Some("t0k".into())));
        assert!(!authorized(&req(Some("")), &Some(String::new())));
        assert!(!authorized(&req(Some("t0k")), &None));
    }

    #[test]
    fn local_host_queries_parse_and_refuse_garbage() {
        let q = parse_local_host_query("address=198.18.0.1&brief=1&embryonic=100").unwrap();
        assert_eq!(q.address, Some("198.18.0.1".parse().unwrap()));
        assert!(q.brief && q.by_counts());
        for bad in [
            "bogus=1",
            "tcp=x",
            "udp=9-1",
            "address=nowhere",
            "tcp=1&tcp=2",
        ] {
            let e = parse_local_host_query(bad).expect_err(bad);
            assert!(matches!(e, OpsError::BadRequest(_)), "{bad}: {e:?}");
        }
    }

    #[test]
    fn conn_queries_parse_and_refuse_garbage() {
        let q = parse_conn_query("address=198.18.0.1&port=80").unwrap();
        assert_eq!(q.filter.address, Some("198.18.0.1".parse().unwrap()));
        assert_eq!(q.filter.port, Some(80));
        assert!(!q.count_only);
        assert!(parse_conn_query("count=1").unwrap().count_only);
        assert!(matches!(
            parse_conn_query("port=99999"),
            Err(OpsError::BadRequest(_))
        ));
        assert!(matches!(
            parse_conn_query("address=nope"),
            Err(OpsError::BadRequest(_))
        ));
        assert!(matches!(
            parse_conn_query("bogus=1"),
            Err(OpsError::BadRequest(_))
        ));
        let q = parse_conn_query(
            "address=198.18.0.0&netmask=255.255.255.0&port=1-1023&protocol=tcp&interface=inside\
             &state=up,conn_inbound",
        )
        .unwrap();
        assert_eq!(q.filter.prefix_len, Some(24));
        assert_eq!((q.filter.port, q.filter.port_to), (Some(1), Some(1023)));
        assert_eq!(q.filter.protocol, Some(6));
        assert_eq!(q.filter.interface.as_deref(), Some("inside"));
        assert_eq!(q.filter.states.len(), 2);
        for bad in [
            "address=198.18.0.9-198.18.0.1",
            "address=198.18.0.1&address=198.18.0.2",
            "netmask=255.255.255.0",
            "port=90-80",
            "protocol=ipx",
            "state=sip",
            "interface=",
        ] {
            let e = parse_conn_query(bad).expect_err(bad);
            assert!(matches!(e, OpsError::BadRequest(_)), "{bad}: {e:?}");
        }
    }
}
