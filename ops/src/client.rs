//! A blocking client of the admin API, for the CLI: one HTTP/1.1 request
//! per connection over a std `TcpStream` or `UnixStream`, JSON answers.
//!
//! The admin port is an unprivileged loopback port, so any local user may
//! hold it while the node does not (it binds again every 2 s,
//! docs/ops.md §1). Before a token leaves, the client asks the kernel who
//! owns the socket at the other end of its connection (`/proc/net/tcp`,
//! [`crate::sock_owner`]; on the admin socket, the peer's credentials)
//! and sends nothing to one that is not the node's.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::capture::{CaptureDone, CaptureList, CaptureQuery, CaptureView};
use crate::clear_conn::ClearRequest;
use crate::echo::{echo, echo_message};
use crate::http::percent_encode;
use crate::model::{
    AccessLists, AclClearResult, ApiError, ClearResult, ClusterView, ConfigureResult, ConnList,
    Counters, Fragments, MemberChange, MemberResult, RunningConfig, ServicePolicy,
};
use crate::show_acl::AclClearRequest;
use crate::show_conn::ConnFilter;
use crate::show_local_host::{HostFilter, LocalHosts};

/// How long the client waits to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long it waits for an answer (a `show conn` of a big table takes a while).
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer read (100,000 connections in JSON fit well within).
pub const MAX_RESPONSE_BYTES: u64 = 256 << 20;

/// Where a node's admin API is reached: its loopback address, or its Unix
/// socket (docs/ops.md §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `[ops] admin`.
    Tcp(SocketAddr),
    /// `[ops] admin_socket`.
    Unix(PathBuf),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "{a}"),
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = String;

    /// `ADDR:PORT`, or a socket's path: `unix:PATH` or an absolute path.
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err("unix: needs the socket's path".into());
            }
            return Ok(Endpoint::Unix(PathBuf::from(p)));
        }
        if s.starts_with('/') {
            return Ok(Endpoint::Unix(PathBuf::from(s)));
        }
        s.parse().map(Endpoint::Tcp).map_err(|_| {
            format!("{s:?} is neither ADDRESS:PORT nor a socket path (unix:PATH or /PATH)")
        })
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(a: SocketAddr) -> Self {
        Endpoint::Tcp(a)
    }
}

/// A connection to the admin API.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn set_timeouts(&self, t: Duration) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            Stream::Unix(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
        }
    }

    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(b),
            Stream::Unix(s) => s.write_all(b),
        }
    }

    fn read_to_end(&mut self, out: &mut Vec<u8>, limit: u64) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.take(limit).read_to_end(out),
            Stream::Unix(s) => s.take(limit).read_to_end(out),
        }
    }
}

/// Connect to the Unix socket at `path`, waiting at most [`CONNECT_TIMEOUT`]
/// (a listener whose queue is full makes a blocking connect wait, for as
/// long as the socket's send timeout).
pub(crate) fn connect_unix(path: &std::path::Path) -> std::io::Result<UnixStream> {
    let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    s.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    s.connect(&socket2::SockAddr::unix(path)?)?;
    Ok(UnixStream::from(std::os::fd::OwnedFd::from(s)))
}

/// Why a request failed, and whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No node answers there (is it running, is `[ops] admin` that address?).
    #[error("cannot reach the admin API at {addr}")]
    Connect {
        /// Where.
        addr: Endpoint,
        /// The OS error.
        source: std::io::Error,
    },
    /// The connection broke.
    #[error("admin API at {addr}: connection failed")]
    Io {
        /// Where.
        addr: Endpoint,
        /// The OS error.
        source: std::io::Error,
    },
    /// The listener had no room for the request (every connection slot in
    /// use, or too many answers not yet read): nothing was done; the same
    /// request may succeed shortly.
    #[error("admin API at {addr} is busy: {message}")]
    Busy {
        /// Where.
        addr: Endpoint,
        /// The node's explanation.
        message: String,
    },
    /// The node refused the request.
    #[error("{}", .error.error)]
    Refused {
        /// HTTP status.
        status: u16,
        /// The node's explanation.
        error: ApiError,
    },
    /// The socket that answers belongs to a user who may not see the
    /// token: not the node (nothing was sent).
    #[error(
        "refusing to send the token to {addr}: the socket there belongs to uid {uid}, not to \
         the node ({trusted}); another program may hold the node's admin port (docs/ops.md §1)"
    )]
    NotTheNode {
        /// Where.
        addr: Endpoint,
        /// Who holds the socket.
        uid: u32,
        /// Whose sockets the token may go to, in words.
        trusted: String,
    },
    /// The socket that answers shows as the kernel's overflow uid: its
    /// owner is not mapped into this user namespace, and every unmapped
    /// user looks alike from here, the node and a squatter too (nothing
    /// was sent).
    #[error(
        "refusing to send the token to {addr}: the socket there shows as uid {uid}, the \
         kernel's overflow uid (/proc/sys/kernel/overflowuid), which stands for every user not \
         mapped into this user namespace, so the node cannot be told from another program; run \
         the CLI in the node's user namespace (docs/ops.md §1)"
    )]
    Unmapped {
        /// Where.
        addr: Endpoint,
        /// The overflow uid.
        uid: u32,
    },
    /// Whose socket answers could not be told (nothing was sent).
    #[error("refusing to send the token to {addr}: cannot tell who holds that port ({why})")]
    OwnerUnknown {
        /// Where.
        addr: Endpoint,
        /// Why not.
        why: String,
    },
    /// The answer is not what the API sends (another service on that port?).
    #[error("admin API at {addr}: unexpected answer: {what}")]
    Protocol {
        /// Where.
        addr: Endpoint,
        /// What was wrong.
        what: String,
    },
}

/// The admin API of one node.
#[derive(Debug, Clone)]
pub struct Client {
    addr: Endpoint,
    token: Option<String>,
    /// Users whose socket may receive the token: root and this process's
    /// user (either could read the token anyway), and the token file's
    /// owner.
    trusted_uids: Vec<u32>,
    /// The token file's owner, when the token came from a file.
    file_owner: Option<u32>,
    /// The uid an owner not mapped into this user namespace shows as:
    /// never trusted.
    overflow_uid: u32,
    /// How long a request the listener had no room for is tried again.
    busy_retry: Duration,
}

/// The pause between two tries of a request the listener had no room for.
const BUSY_PAUSE: Duration = Duration::from_millis(50);

/// The overflow uid when `/proc/sys/kernel/overflowuid` cannot be read
/// (the kernel's default).
const DEFAULT_OVERFLOW_UID: u32 = 65_534;

/// The uid that a user not mapped into the caller's user namespace shows
/// as, in `/proc/net/tcp` and in a file's owner alike.
fn overflow_uid() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/overflowuid")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(DEFAULT_OVERFLOW_UID)
}

/// A raw answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Body.
    pub body: Vec<u8>,
}

fn decode_chunked(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// Parse an HTTP/1.1 response read to its end.
pub fn parse_response(raw: &[u8]) -> Result<RawResponse, String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "headers are not text")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("no status line")?;
    let mut parts = status_line.split_whitespace();
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(format!(
            "not an HTTP/1 status line: '{}'",
            echo(status_line)
        ));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status code in: '{}'", echo(status_line)))?;
    let mut chunked = false;
    let mut length = None;
    let mut content_type = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if k == "content-length" {
                length = v.parse::<usize>().ok();
            } else if k == "content-type" {
                content_type = Some(v.to_string());
            }
        }
    }
    let body = &raw[head_end + 4..];
    let body = if chunked {
        decode_chunked(body).ok_or("malformed chunked body")?
    } else if let Some(n) = length {
        body.get(..n)
            .ok_or("body shorter than its Content-Length")?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok(RawResponse {
        status,
        content_type,
        body,
    })
}

impl Client {
    /// A client of the API at `addr`, with the token for changes if known.
    /// The token goes only to a socket of root or of this process's user;
    /// [`trusting_uid`](Self::trusting_uid) adds the token file's owner.
    pub fn new(addr: impl Into<Endpoint>, token: Option<String>) -> Self {
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        Client {
            addr: addr.into(),
            token,
            trusted_uids: vec![0, me],
            file_owner: None,
            overflow_uid: overflow_uid(),
            busy_retry: Duration::ZERO,
        }
    }

    /// Try a request the listener had no room for (busy: nothing was done)
    /// again for up to `patience`. Under a flood of connections, the
    /// listener refuses newcomers while every idle connection is young
    /// (docs/ops.md §2): a try lands when one is old enough to make room,
    /// and one that got in is kept.
    pub fn retrying_busy(mut self, patience: Duration) -> Self {
        self.busy_retry = patience;
        self
    }

    /// Also trust a socket of `uid` with the token: the owner of the token
    /// file it was read from (the node created it, and its owner can read
    /// it anyway).
    pub fn trusting_uid(mut self, uid: u32) -> Self {
        self.trusted_uids.push(uid);
        self.file_owner = Some(uid);
        self
    }

    /// Trust exactly these users' sockets with the token.
    pub fn trusting_only(mut self, uids: Vec<u32>) -> Self {
        self.trusted_uids = uids;
        self.file_owner = None;
        self
    }

    /// Whose sockets the token may go to, in words, for a refusal.
    fn trusted_words(&self) -> String {
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        let mut who: Vec<String> = Vec::new();
        for &uid in &self.trusted_uids {
            let word = match uid {
                0 => "root (uid 0)".to_string(),
                u if u == me => format!("this user (uid {u})"),
                u if Some(u) == self.file_owner => format!("the token file's owner (uid {u})"),
                u => format!("uid {u}"),
            };
            if !who.contains(&word) {
                who.push(word);
            }
        }
        let mut words = match who.split_last() {
            None => "nobody".to_string(),
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        };
        if self.file_owner.is_none() {
            words.push_str("; the token came from no file, so no file's owner is trusted");
        }
        words
    }

    /// Whether the token may go to a server socket owned by `uid` (`None`:
    /// no such socket on this host) at `there` (`None`: the Unix socket).
    fn judge(&self, uid: Option<u32>, there: Option<SocketAddr>) -> Result<(), ClientError> {
        let addr = self.addr.clone();
        match uid {
            // Checked first: root's or this user's own uid shows as the
            // overflow uid only if it is not mapped here, and then so does
            // everyone else's.
            Some(uid) if uid == self.overflow_uid => Err(ClientError::Unmapped { addr, uid }),
            Some(uid) if self.trusted_uids.contains(&uid) => Ok(()),
            Some(uid) => Err(ClientError::NotTheNode {
                addr,
                uid,
                trusted: self.trusted_words(),
            }),
            None => match there {
                Some(t) if !t.ip().to_canonical().is_loopback() => Ok(()),
                Some(t) => Err(ClientError::OwnerUnknown {
                    addr,
                    why: format!(
                        "no socket for {t} in this network namespace's /proc/net/tcp or tcp6"
                    ),
                }),
                None => Err(ClientError::OwnerUnknown {
                    addr,
                    why: "the socket's peer credentials are unknown".into(),
                }),
            },
        }
    }

    /// Refuse to go on unless the socket at the other end of `s` is one the
    /// token may go to. A peer not on this host (no such socket here) is
    /// the operator's choice of address; one on loopback must be found.
    fn check_owner(&self, s: &Stream) -> Result<(), ClientError> {
        let unknown = |why: String| ClientError::OwnerUnknown {
            addr: self.addr.clone(),
            why,
        };
        let s = match s {
            // The listener's credentials, as the kernel took them when it
            // listened (socket(7): SO_PEERCRED).
            Stream::Unix(s) => {
                return match crate::sock_owner::unix_peer_uid(s) {
                    Ok(uid) => self.judge(Some(uid), None),
                    Err(e) => Err(unknown(e.to_string())),
                };
            }
            Stream::Tcp(s) => s,
        };
        let (here, there) = match (s.local_addr(), s.peer_addr()) {
            (Ok(h), Ok(t)) => (h, t),
            (Err(e), _) | (_, Err(e)) => return Err(unknown(e.to_string())),
        };
        match crate::sock_owner::server_uid(here, there) {
            Ok(uid) => self.judge(uid, Some(there)),
            Err(e) => Err(unknown(e.to_string())),
        }
    }

    /// One request, its answer whatever the status.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<RawResponse, ClientError> {
        let addr = &self.addr;
        let io = |source| ClientError::Io {
            addr: addr.clone(),
            source,
        };
        let connect = |source| ClientError::Connect {
            addr: addr.clone(),
            source,
        };
        let mut s = match addr {
            Endpoint::Tcp(a) => {
                Stream::Tcp(TcpStream::connect_timeout(a, CONNECT_TIMEOUT).map_err(connect)?)
            }
            Endpoint::Unix(p) => Stream::Unix(connect_unix(p).map_err(connect)?),
        };
        s.set_timeouts(READ_TIMEOUT).map_err(io)?;
        if self.token.is_some() {
            // A byte at once, before the owner lookup (which reads the
            // host's socket tables and may take a while): the listener
            // spares a connection that has sent nothing only a short grace
            // when it needs room (docs/ops.md §2). An empty line, which a
            // server should ignore before a request line (RFC 9112 §2.2),
            // and which tells whoever holds the port nothing. Only then:
            // not every server ignores it (Prometheus's answers 400), and
            // without the lookup the request line follows at once.
            // A connection already closed shows in the request's own write
            // and read below.
            let _ = s.write_all(b"\r\n");
            self.check_owner(&s)?;
        }
        // The socket has no address to name: `localhost`, which no `Host`
        // check refuses (the socket has none).
        let host = match addr {
            Endpoint::Tcp(a) => a.to_string(),
            Endpoint::Unix(_) => "localhost".to_string(),
        };
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !body.is_empty() {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if let Some(t) = &self.token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        // A node that refuses a request on its head (a missing token, a
        // wrong `Host`) answers and closes without reading the body: the
        // write may then fail while the answer waits to be read. The
        // answer is what the operator needs; the write's error only when
        // there is none.
        let written = s.write_all(&request);
        let mut raw = Vec::new();
        let read = s.read_to_end(&mut raw, MAX_RESPONSE_BYTES);
        // Closed (or reset) before a byte of an answer: a listener out of
        // room cuts such connections under a flood of them (docs/ops.md
        // §2). A read did nothing whatever happened, so it is busy, and
        // tried again as such; a change may have been made, and is not.
        // A read that timed out waited its whole time: not busy (its
        // retry window has passed), and said as what it is below.
        let timed_out = matches!(
            &read,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)
        );
        if raw.is_empty() && method == "GET" && !timed_out {
            let why = match (&written, &read) {
                (Err(e), _) | (_, Err(e)) => e.to_string(),
                _ => "closed".to_string(),
            };
            return Err(ClientError::Busy {
                addr: addr.clone(),
                message: format!(
                    "the connection ended before any answer ({why}); the listener may be out of \
                     room"
                ),
            });
        }
        match (written, read) {
            (Ok(()), Err(e)) if raw.is_empty() => return Err(io(e)),
            (Err(e), _) if raw.is_empty() => return Err(io(e)),
            _ => {}
        }
        parse_response(&raw).map_err(|what| ClientError::Protocol {
            addr: addr.clone(),
            what,
        })
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<T, ClientError> {
        let until = std::time::Instant::now() + self.busy_retry;
        loop {
            match self.call_once(method, path, body, content_type) {
                Err(ClientError::Busy { .. }) if std::time::Instant::now() < until => {
                    std::thread::sleep(BUSY_PAUSE);
                }
                r => return r,
            }
        }
    }

    fn call_once<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<T, ClientError> {
        let r = self.request(method, path, body, content_type)?;
        if r.status != 200 {
            let parsed = serde_json::from_slice::<ApiError>(&r.body).ok();
            // A 503 without the API's JSON is a listener out of room too
            // (nodes before the `busy` flag answered a bare 503).
            if r.status == 503 && parsed.as_ref().is_none_or(|e| e.busy) {
                return Err(ClientError::Busy {
                    addr: self.addr.clone(),
                    message: echo_message(
                        parsed
                            .as_ref()
                            .map_or("every connection slot is taken; try again shortly", |e| {
                                e.error.as_str()
                            }),
                    ),
                });
            }
            let mut error = parsed.unwrap_or_else(|| ApiError {
                error: format!(
                    "HTTP {}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body).trim()
                ),
                problems: Vec::new(),
                busy: false,
                pending: false,
            });
            // The CLI prints these to a terminal: whatever answers on that
            // port, its text is shown escaped and bounded (docs/ops.md §5).
            error.error = echo_message(&error.error);
            for p in &mut error.problems {
                p.message = echo_message(&p.message);
            }
            return Err(ClientError::Refused {
                status: r.status,
                error,
            });
        }
        serde_json::from_slice(&r.body).map_err(|e| ClientError::Protocol {
            addr: self.addr.clone(),
            what: format!("{e}"),
        })
    }

    /// `show conn`.
    pub fn conns(&self, filter: &ConnFilter, count_only: bool) -> Result<ConnList, ClientError> {
        let mut q: Vec<String> = filter
            .query_pairs()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(&v)))
            .collect();
        if count_only {
            q.push("count=1".into());
        }
        let path = if q.is_empty() {
            "/v1/conn".to_string()
        } else {
            format!("/v1/conn?{}", q.join("&"))
        };
        self.call("GET", &path, b"", "")
    }

    /// `show local-host`.
    pub fn local_hosts(&self, q: &HostFilter) -> Result<LocalHosts, ClientError> {
        let q: Vec<String> = q
            .query_pairs()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(&v)))
            .collect();
        let path = if q.is_empty() {
            "/v1/local-host".to_string()
        } else {
            format!("/v1/local-host?{}", q.join("&"))
        };
        self.call("GET", &path, b"", "")
    }

    /// `clear conn`; the empty filter clears every connection, and the
    /// body says so (`{"all": true}`).
    /// A filter of more than an address and a port is refused here, as
    /// the node would refuse it: the body carries no more.
    pub fn clear_conns(&self, filter: &ConnFilter) -> Result<ClearResult, ClientError> {
        if !filter.is_address_port() {
            return Err(ClientError::Refused {
                status: 400,
                error: ApiError {
                    error: "clear conn takes an address and a port only".into(),
                    problems: Vec::new(),
                    busy: false,
                    pending: false,
                },
            });
        }
        let body = serde_json::to_vec(&ClearRequest::of(filter)).unwrap_or_default();
        self.call("POST", "/v1/clear-conn", &body, "application/json")
    }

    /// `show service-policy`.
    pub fn service_policy(&self) -> Result<ServicePolicy, ClientError> {
        self.call("GET", "/v1/service-policy", b"", "")
    }

    /// `show cluster`.
    pub fn cluster(&self) -> Result<ClusterView, ClientError> {
        self.call("GET", "/v1/cluster", b"", "")
    }

    /// `show running-config`.
    pub fn running_config(&self) -> Result<RunningConfig, ClientError> {
        self.call("GET", "/v1/running-config", b"", "")
    }

    /// `rampart cluster join|remove`.
    pub fn membership(&self, change: &MemberChange) -> Result<MemberResult, ClientError> {
        let body = serde_json::to_vec(change).map_err(|e| ClientError::Protocol {
            addr: self.addr.clone(),
            what: e.to_string(),
        })?;
        self.call("POST", "/v1/cluster/membership", &body, "application/json")
    }

    /// `configure`.
    pub fn configure(&self, text: &str) -> Result<ConfigureResult, ClientError> {
        self.call(
            "POST",
            "/v1/configure",
            text.as_bytes(),
            "text/plain; charset=utf-8",
        )
    }

    /// `show counters`.
    pub fn counters(&self) -> Result<Counters, ClientError> {
        self.call("GET", "/v1/counters", b"", "")
    }

    /// `show fragment`.
    pub fn fragments(&self) -> Result<Fragments, ClientError> {
        self.call("GET", "/v1/fragment", b"", "")
    }

    /// `packet-tracer`.
    pub fn packet_tracer(
        &self,
        q: &crate::backend::TraceQuery,
    ) -> Result<crate::model::PacketTrace, ClientError> {
        self.call(
            "GET",
            &format!("/v1/packet-tracer?{}", q.to_query()),
            b"",
            "",
        )
    }

    /// `show time-range`.
    pub fn time_ranges(&self) -> Result<crate::show_time_range::TimeRanges, ClientError> {
        self.call("GET", "/v1/time-range", b"", "")
    }

    /// `show access-list [NAME]`.
    pub fn access_lists(&self, name: Option<&str>) -> Result<AccessLists, ClientError> {
        let path = match name {
            Some(n) => format!("/v1/access-list?name={}", percent_encode(n)),
            None => "/v1/access-list".to_string(),
        };
        self.call("GET", &path, b"", "")
    }

    /// `clear access-list [NAME] counters`; without a name every list,
    /// and the body says so (`{"all": true}`).
    pub fn clear_access_lists(&self, name: Option<&str>) -> Result<AclClearResult, ClientError> {
        let body = serde_json::to_vec(&AclClearRequest::of(name)).unwrap_or_default();
        self.call("POST", "/v1/clear-access-list", &body, "application/json")
    }

    /// `shun …`, `no shun …`, `clear shun [statistics]` (the admin token).
    pub fn shun_command(&self, line: &str) -> Result<crate::shun::ShunDone, ClientError> {
        let ct = "text/plain; charset=utf-8";
        self.call("POST", "/v1/shun", line.as_bytes(), ct)
    }

    /// `show shun [statistics]`.
    pub fn shuns(&self) -> Result<crate::shun::ShunList, ClientError> {
        self.call("GET", "/v1/shuns", b"", "")
    }

    /// `capture …`, `capture NAME stop`, `no capture NAME`, `clear
    /// capture NAME` (the admin token).
    pub fn capture_command(&self, line: &str) -> Result<CaptureDone, ClientError> {
        let ct = "text/plain; charset=utf-8";
        self.call("POST", "/v1/capture", line.as_bytes(), ct)
    }

    /// `show capture`.
    pub fn captures(&self) -> Result<CaptureList, ClientError> {
        self.call("GET", "/v1/capture", b"", "")
    }

    /// `show capture NAME [detail] [dump] [count N]`.
    pub fn capture(&self, q: &CaptureQuery) -> Result<CaptureView, ClientError> {
        let mut opts = Vec::new();
        if q.detail {
            opts.push("detail".to_string());
        }
        if q.dump {
            opts.push("dump".to_string());
        }
        if let Some(n) = q.count {
            opts.push(format!("count={n}"));
        }
        let path = format!("/v1/capture/{}?{}", percent_encode(&q.name), opts.join("&"));
        self.call("GET", path.trim_end_matches('?'), b"", "")
    }

    /// `copy /pcap capture:NAME`: the pcap file's bytes.
    pub fn capture_pcap(&self, name: &str) -> Result<Vec<u8>, ClientError> {
        let path = format!("/v1/capture/{}/pcap", percent_encode(name));
        let r = self.request("GET", &path, b"", "")?;
        if r.status == 200 {
            return Ok(r.body);
        }
        let mut error = serde_json::from_slice::<ApiError>(&r.body).unwrap_or_else(|_| ApiError {
            error: format!("HTTP {}", r.status),
            problems: Vec::new(),
            busy: false,
            pending: false,
        });
        error.error = echo_message(&error.error);
        Err(ClientError::Refused {
            status: r.status,
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a user namespace, a socket or a token file whose owner is not
    /// mapped there shows as the overflow uid, the node's and a squatter's
    /// alike: never trusted, even as the token file's owner. Before, a
    /// token file owned by an unmapped node made the CLI hand the token to
    /// any unmapped user's socket.
    #[test]
    fn the_overflow_uid_is_never_trusted() {
        let addr: SocketAddr = "127.0.0.1:9461".parse().unwrap();
        let mut c = Client::new(addr, Some("t".into())).trusting_uid(65_534);
        c.overflow_uid = 65_534;
        let e = c.judge(Some(65_534), Some(addr)).unwrap_err();
        assert!(
            matches!(e, ClientError::Unmapped { uid: 65_534, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("overflow uid"), "{e}");
        c.trusted_uids = vec![7];
        assert!(c.judge(Some(7), Some(addr)).is_ok());
        assert!(c.judge(Some(65_534), Some(addr)).is_err());
    }

    /// The refusal names whom the token may go to: the token file's owner
    /// only when the token came from a file (from RAMPART_ADMIN_TOKEN, it
    /// once claimed a file's owner all the same).
    #[test]
    fn a_refusal_names_whom_the_token_may_go_to() {
        let addr: SocketAddr = "127.0.0.1:9461".parse().unwrap();
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        let other = me.wrapping_add(1).max(1);
        let from_env = Client::new(addr, Some("t".into()));
        let msg = from_env
            .judge(Some(other), Some(addr))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(&format!("belongs to uid {other}")), "{msg}");
        assert!(msg.contains("root (uid 0)"), "{msg}");
        assert!(msg.contains("came from no file"), "{msg}");
        assert!(!msg.contains("token file's owner"), "{msg}");
        let owner = other.wrapping_add(1).max(1);
        let from_file = Client::new(addr, Some("t".into())).trusting_uid(owner);
        let msg = from_file
            .judge(Some(other), Some(addr))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(&format!("the token file's owner (uid {owner})")),
            "{msg}"
        );
        assert!(!msg.contains("came from no file"), "{msg}");
    }

    /// A listener that closes a connection before a byte of an answer
    /// (one out of room, cutting refusals short under a flood): a read is
    /// told busy and tried again within the busy retry, and gets its
    /// answer; a change is not tried again. Before, both failed at once
    /// ("no end of headers", "connection failed"), which the CLI does not
    /// retry.
    #[test]
    fn a_read_closed_before_any_answer_is_tried_again_a_change_is_not() {
        use std::os::unix::net::UnixListener;
        let dir = std::env::temp_dir().join(format!("rampart-client-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("admin.sock");
        let listener = UnixListener::bind(&path).unwrap();
        // Cuts three connections, answers the fourth, cuts the fifth (the
        // change), then tells whether a sixth came.
        let server = std::thread::spawn(move || {
            for _ in 0..3 {
                drop(listener.accept().unwrap());
            }
            let (mut s, _) = listener.accept().unwrap();
            let mut head = [0u8; 4096];
            let _ = s.read(&mut head);
            let body = r#"{"drops":[],"forwarded_packets":0,"conns_in_use":0}"#;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            drop(s);
            drop(listener.accept().unwrap());
            listener.set_nonblocking(true).unwrap();
            std::thread::sleep(BUSY_PAUSE * 4);
            listener.accept().is_ok()
        });
        let c =
            Client::new(Endpoint::Unix(path.clone()), None).retrying_busy(Duration::from_secs(5));
        c.counters().expect("a read is tried again");
        let e = c.configure("hostname x\n").unwrap_err();
        assert!(
            matches!(e, ClientError::Io { .. } | ClientError::Protocol { .. }),
            "{e}"
        );
        assert!(!server.join().unwrap(), "the change was sent again");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn responses_parse_by_length_chunks_or_close() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let r = parse_response(
            b"HTTP/1.1 401 Unauthorized\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (401, &b"abcde"[..]));
        let r = parse_response(b"HTTP/1.0 503 x\r\n\r\nbody").unwrap();
        assert_eq!(r.body, b"body");
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
