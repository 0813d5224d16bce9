//! Real traffic across the asymmetric lab: TCP connections that carry a
//! payload checked by digest, and UDP request/response, each kind counted
//! as attempted, succeeded and bytes verified, and each failure by the
//! step it failed at. Every wait is bounded in time; `stop` ends a kind
//! early (Ctrl-C). The server's sockets are bound before the client's
//! first packet, so no SYN finds the port closed.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::LabError;
use super::netns::Netns;
use super::report::KindReport;
use super::topology::{ASYM_CLIENT, ASYM_SERVER, AsymLab};

/// The UDP kind's server port.
pub(crate) const UDP_PORT: u16 = 5003;
/// How long the server side keeps serving after the client's time limit:
/// enough for the last connection's own bounded waits to end.
pub(crate) const SERVER_GRACE: Duration = Duration::from_secs(10);
/// How long either side waits for a connection's data or its digest.
pub(crate) const TCP_IO_WAIT: Duration = Duration::from_secs(5);
/// How long a client waits for its handshake: a SYN retransmitted once
/// (1 s) still makes it.
const CONNECT_WAIT: Duration = Duration::from_millis(1500);
/// How long a server loop sleeps when nothing arrived.
pub(crate) const IDLE_SLEEP: Duration = Duration::from_millis(2);
/// How long the pair lab's client waits for an echoed datagram.
const UDP_REPLY_WAIT: Duration = Duration::from_millis(300);

/// The next connection `l` takes, within `limit` (`TimedOut` past it),
/// as a blocking stream; `l` is left non-blocking.
pub fn accept_within(l: &TcpListener, limit: Duration) -> std::io::Result<TcpStream> {
    l.set_nonblocking(true)?;
    let deadline = Instant::now() + limit;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no connection within {limit:?}"),
                    ));
                }
                std::thread::sleep(IDLE_SLEEP);
            }
            Err(e) => return Err(e),
        }
    }
}

/// A TCP socket's `TCP_INFO` (tcp(7)): what its handshake agreed
/// (`tcpi_options`), the MSS it sends by, its retransmissions. Panics,
/// saying why, if the kernel refuses (not a TCP socket).
pub fn tcp_info(s: &impl std::os::fd::AsRawFd) -> libc::tcp_info {
    // SAFETY: tcp_info is plain data, zeroed; the kernel writes at most
    // `len` bytes of it for a valid TCP socket.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let r = libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        );
        assert_eq!(r, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
        info
    }
}

/// FNV-1a, to compare transferred bytes without keeping two copies.
pub fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The step a lab connection or exchange failed at, counted per kind in
/// the report so a failure says where to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// The client's socket could not be made or bound.
    Socket,
    /// The handshake did not complete (refused, reset or timed out).
    Connect,
    /// The payload could not be sent.
    Send,
    /// The server's reply (digest or echo) did not arrive.
    Reply,
    /// A reply arrived but did not match what was sent.
    Mismatch,
}

impl Failure {
    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Socket => "socket",
            Failure::Connect => "connect",
            Failure::Send => "send",
            Failure::Reply => "reply",
            Failure::Mismatch => "mismatch",
        }
    }
}

/// Failures counted by step, as a report holds them.
#[derive(Debug, Default)]
pub(crate) struct Failures(BTreeMap<String, usize>);

impl Failures {
    /// Count one.
    pub(crate) fn add(&mut self, f: Failure) {
        self.add_n(f, 1);
    }

    /// Count `n`.
    pub(crate) fn add_n(&mut self, f: Failure, n: usize) {
        *self.0.entry(f.as_str().to_string()).or_default() += n;
    }

    /// The counts.
    pub(crate) fn into_map(self) -> BTreeMap<String, usize> {
        self.0
    }
}

/// One of the lab's addresses, parsed.
fn lab_addr(a: &str) -> Result<Ipv4Addr, LabError> {
    a.parse().map_err(|e| LabError::Socket {
        what: format!("the lab address {a:?}"),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    })
}

/// A socket error of the lab's own traffic, saying what it was doing.
pub(crate) fn socket_error(what: String) -> impl FnOnce(std::io::Error) -> LabError {
    move |source| LabError::Socket { what, source }
}

/// Run `serve` in the `server` namespace and `run` in the `client` one;
/// once the client side returns, the server is told to stop (`done`) and
/// joined (it ends within one connection's bounded waits). What the
/// client side returned, or its default if it panicked.
pub(crate) fn client_against_server<T: Send + Default + 'static>(
    server: &Netns,
    client: &Netns,
    serve: impl FnOnce(&AtomicBool) + Send + 'static,
    run: impl FnOnce() -> T + Send + 'static,
) -> Result<T, LabError> {
    let done = Arc::new(AtomicBool::new(false));
    let serving = {
        let done = done.clone();
        server.spawn(move || serve(&done))?
    };
    let outcome = client.spawn(run).map(|c| c.join().unwrap_or_default());
    done.store(true, Ordering::Relaxed);
    let _ = serving.join();
    Ok(outcome?)
}

/// `count` TCP connections from `src` to `dst:port`, each sending `bytes`
/// and checking the server's digest of what arrived.
#[allow(clippy::too_many_arguments)]
pub fn tcp_kind(
    lab: &AsymLab,
    name: &str,
    src: &str,
    dst: &str,
    port: u16,
    count: usize,
    bytes: usize,
    stop: &'static AtomicBool,
) -> Result<KindReport, LabError> {
    let (src, dst) = (lab_addr(src)?, lab_addr(dst)?);
    let listener = lab
        .server
        .run(move || TcpListener::bind((dst, port)))?
        .map_err(socket_error(format!("listening on {dst}:{port}")))?;
    listener
        .set_nonblocking(true)
        .map_err(socket_error(format!("{dst}:{port} non-blocking")))?;
    // Each connection's waits are bounded; the server outlives them all.
    let deadline = Instant::now() + (CONNECT_WAIT + TCP_IO_WAIT * 2) * count as u32 + SERVER_GRACE;
    let serve = move |done: &AtomicBool| serve_tcp(&listener, done, deadline, stop);
    let (succeeded, verified, failures) =
        client_against_server(&lab.server, &lab.client, serve, move || {
            let payload: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
            let (mut ok, mut verified, mut failures) = (0, 0, Failures::default());
            for _ in 0..count {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match one_tcp(src, dst, port, &payload) {
                    Ok(()) => {
                        ok += 1;
                        verified += payload.len();
                    }
                    Err(f) => failures.add(f),
                }
            }
            (ok, verified, failures)
        })?;
    Ok(KindReport::new(name, count, succeeded, verified).with_failures(failures.into_map()))
}

/// One TCP connection from `src` to `dst:port` that sends `payload` and
/// checks the server's digest of what arrived; every wait is bounded.
pub(crate) fn one_tcp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    port: u16,
    payload: &[u8],
) -> Result<(), Failure> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|_| Failure::Socket)?;
    s.bind(&SocketAddr::from((src, 0)).into())
        .map_err(|_| Failure::Socket)?;
    s.connect_timeout(&SocketAddr::from((dst, port)).into(), CONNECT_WAIT)
        .map_err(|_| Failure::Connect)?;
    let mut s: TcpStream = s.into();
    let _ = s.set_read_timeout(Some(TCP_IO_WAIT));
    // A path that breaks after the handshake must not stall the sender
    // for TCP's whole retransmission budget.
    let _ = s.set_write_timeout(Some(TCP_IO_WAIT));
    s.write_all(payload).map_err(|_| Failure::Send)?;
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|_| Failure::Send)?;
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).map_err(|_| Failure::Reply)?;
    if u64::from_be_bytes(reply) == fnv(payload) {
        Ok(())
    } else {
        Err(Failure::Mismatch)
    }
}

/// Accept connections one at a time and answer each with the digest of
/// what it sent, until `done`, `stop` or `deadline`.
pub(crate) fn serve_tcp(l: &TcpListener, done: &AtomicBool, deadline: Instant, stop: &AtomicBool) {
    while !done.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
        if Instant::now() >= deadline {
            return;
        }
        match l.accept() {
            Ok((mut c, _)) => {
                let _ = c.set_nonblocking(false);
                let _ = c.set_read_timeout(Some(TCP_IO_WAIT));
                let _ = c.set_write_timeout(Some(TCP_IO_WAIT));
                let mut data = Vec::new();
                if c.read_to_end(&mut data).is_ok() {
                    let _ = c.write_all(&fnv(&data).to_be_bytes());
                }
            }
            Err(_) => std::thread::sleep(IDLE_SLEEP),
        }
    }
}

/// Echo every datagram on `sockets` until `done`, `stop` or `deadline`.
pub(crate) fn serve_udp(
    sockets: &[UdpSocket],
    done: &AtomicBool,
    deadline: Instant,
    stop: &AtomicBool,
) {
    let mut buf = [0u8; 2048];
    while !done.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
        if Instant::now() >= deadline {
            return;
        }
        let mut idle = true;
        for s in sockets {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(&buf[..n], from);
                idle = false;
            }
        }
        if idle {
            std::thread::sleep(IDLE_SLEEP);
        }
    }
}

/// `count` UDP request/response exchanges on the asymmetric path.
pub fn udp_kind(
    lab: &AsymLab,
    name: &str,
    count: usize,
    stop: &'static AtomicBool,
) -> Result<KindReport, LabError> {
    let (server_addr, client_addr) = (lab_addr(ASYM_SERVER)?, lab_addr(ASYM_CLIENT)?);
    let socket = lab
        .server
        .run(move || UdpSocket::bind((server_addr, UDP_PORT)))?
        .map_err(socket_error(format!("binding {server_addr}:{UDP_PORT}")))?;
    socket
        .set_nonblocking(true)
        .map_err(socket_error(format!("UDP port {UDP_PORT} non-blocking")))?;
    let deadline = Instant::now() + UDP_REPLY_WAIT * count as u32 + SERVER_GRACE;
    let serve = move |done: &AtomicBool| serve_udp(&[socket], done, deadline, stop);
    let (ok, verified, failures) =
        client_against_server(&lab.server, &lab.client, serve, move || {
            let (mut ok, mut verified, mut failures) = (0, 0, Failures::default());
            let Ok(s) = UdpSocket::bind((client_addr, 0)) else {
                failures.add_n(Failure::Socket, count);
                return (ok, verified, failures);
            };
            let _ = s.set_read_timeout(Some(UDP_REPLY_WAIT));
            for i in 0..count {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let msg = format!("rampart lab datagram {i}");
                if s.send_to(msg.as_bytes(), (server_addr, UDP_PORT)).is_err() {
                    failures.add(Failure::Send);
                    continue;
                }
                let mut buf = [0u8; 2048];
                match s.recv(&mut buf) {
                    Ok(n) if &buf[..n] == msg.as_bytes() => {
                        ok += 1;
                        verified += n;
                    }
                    Ok(_) => failures.add(Failure::Mismatch),
                    Err(_) => failures.add(Failure::Reply),
                }
            }
            (ok, verified, failures)
        })?;
    Ok(KindReport::new(name, count, ok, verified).with_failures(failures.into_map()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_fnv_1a() {
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
