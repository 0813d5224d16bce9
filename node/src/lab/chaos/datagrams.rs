//! The chaos scenarios' datagram traffic, beside the TCP streams of
//! [`super::traffic`]: a UDP request/response stream on port
//! [`UDP_PORT`] and an ICMP echo stream (the chaos policy has `inspect
//! icmp`: one reply per request, docs/asa-behaviour.md §2.5), each one
//! flow from the client to the server.
//!
//! Neither protocol retransmits, so the client does what an application
//! over them does: it sends request `n`, resends it every
//! [`RESEND_AFTER`] while unanswered, and counts it lost once
//! [`GIVE_UP_AFTER`] has passed without an answer. A failover that loses
//! a request or its reply costs a resend, not a loss; a path that carries
//! nothing for a second loses a request. One request is outstanding at a
//! time (stop and wait), so a late answer to an older request is told
//! apart and ignored.
//!
//! Every answer is compared with its request (the UDP server echoes the
//! datagram, the server's kernel echoes the ICMP data, RFC 792 "Echo or
//! Echo Reply Message").

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

/// The UDP request/response stream's server port.
pub const UDP_PORT: u16 = 5005;
/// An unanswered request is sent again after this.
pub const RESEND_AFTER: Duration = Duration::from_millis(200);
/// A request unanswered this long after its first send is lost.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(1);
/// Bytes of a request (and of its answer): the request number, then
/// seeded bytes.
const REQUEST_BYTES: usize = 64;
/// Failures kept for the report.
const ERRORS_KEPT: usize = 5;
/// The ICMP echo identifier of the stream (any: the client's namespace
/// pings nothing else).
const ECHO_ID: u16 = 0x7261;

/// What the datagram streams do.
#[derive(Debug, Clone, Copy)]
pub struct DatagramPlan {
    /// Pause between an answer and the next request.
    pub interval: Duration,
    /// Take the symmetric route (both ways through node A) rather than
    /// the asymmetric one.
    pub symmetric: bool,
}

/// The switches and live counters the datagram streams share with the
/// scenario (through [`super::traffic::Traffic`]).
#[derive(Debug)]
pub struct Switches {
    /// When the traffic began.
    pub began: Instant,
    /// Stop after the request under way.
    pub finish: AtomicBool,
    /// Idle: the inspected traffic is paused (the datagram flows are
    /// inspected flows too, and their sync events would move the counters
    /// a bypass window watches).
    pub pause: AtomicBool,
    /// UDP requests answered so far.
    pub udp_answered: AtomicU64,
    /// ICMP echo requests answered so far.
    pub icmp_answered: AtomicU64,
}

impl Switches {
    /// Switches of traffic that begins now: running, nothing answered.
    pub fn new() -> Switches {
        Switches {
            began: Instant::now(),
            finish: AtomicBool::default(),
            pause: AtomicBool::default(),
            udp_answered: AtomicU64::default(),
            icmp_answered: AtomicU64::default(),
        }
    }

    fn paused(&self) -> bool {
        self.pause.load(Ordering::Relaxed)
    }

    fn finished(&self) -> bool {
        self.finish.load(Ordering::Relaxed)
    }
}

impl Default for Switches {
    fn default() -> Self {
        Switches::new()
    }
}

/// One datagram stream's outcome.
#[derive(Debug, Clone, Default)]
pub struct DatagramOutcome {
    /// Requests made (each counted once, however often it was sent).
    pub requests: u64,
    /// Requests answered within [`GIVE_UP_AFTER`].
    pub answered: u64,
    /// Requests not answered within [`GIVE_UP_AFTER`].
    pub lost: u64,
    /// Answers that differed from their request.
    pub corrupted: u64,
    /// Sends beyond each request's first.
    pub resent: u64,
    /// The longest a request waited for its answer.
    pub slowest: Duration,
    /// The first few losses and corruptions (request number, seconds
    /// since the traffic began, what happened).
    pub errors: Vec<String>,
}

impl DatagramOutcome {
    fn keep_error(&mut self, e: String) {
        if self.errors.len() < ERRORS_KEPT {
            self.errors.push(e);
        }
    }
}

/// What became of one request.
enum Answer {
    /// Answered intact, after this long.
    Ok(Duration),
    /// Answered with other bytes.
    Corrupted,
    /// Not answered within [`GIVE_UP_AFTER`].
    Lost,
}

/// Tally `answer` to request `n` into `out`.
fn tally(out: &mut DatagramOutcome, ctl: &Switches, n: u64, answer: Answer, sends: u64) {
    out.requests += 1;
    out.resent += sends.saturating_sub(1);
    let at = ctl.began.elapsed().as_secs_f64();
    match answer {
        Answer::Ok(took) => {
            out.answered += 1;
            out.slowest = out.slowest.max(took);
        }
        Answer::Corrupted => {
            out.corrupted += 1;
            out.keep_error(format!("request {n} (at {at:.1} s): the answer differs"));
        }
        Answer::Lost => {
            out.lost += 1;
            out.keep_error(format!(
                "request {n} (at {at:.1} s): no answer in {GIVE_UP_AFTER:?}, {sends} sends"
            ));
        }
    }
}

/// Request `n`'s bytes: its number, then bytes that differ with it (an
/// answer from another request, or altered on the way, does not match).
fn request(n: u64) -> [u8; REQUEST_BYTES] {
    let mut r = [0u8; REQUEST_BYTES];
    r[..8].copy_from_slice(&n.to_be_bytes());
    let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes();
    for (i, b) in r[8..].iter_mut().enumerate() {
        // Truncation intended: a byte of the position.
        *b = h[i % 8] ^ i as u8;
    }
    r
}

/// The client and server addresses of a route.
fn route(symmetric: bool) -> (Ipv4Addr, Ipv4Addr) {
    use crate::lab::topology::{ASYM_CLIENT, ASYM_SERVER, SYM_CLIENT, SYM_SERVER};
    let (c, s) = if symmetric {
        (SYM_CLIENT, SYM_SERVER)
    } else {
        (ASYM_CLIENT, ASYM_SERVER)
    };
    // Constants of the topology: they parse.
    (
        c.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
        s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
    )
}

// === UDP ===

/// The UDP server's sockets: [`UDP_PORT`] on both server addresses (a
/// socket on the wildcard address would answer from whichever address the
/// route prefers, which the client's connected socket would not take);
/// [`udp_answer`] serves each.
pub async fn udp_server_bind() -> Result<Vec<UdpSocket>, String> {
    let mut socks = Vec::new();
    for symmetric in [false, true] {
        let (_, server) = route(symmetric);
        let s = UdpSocket::bind((server, UDP_PORT))
            .await
            .map_err(|e| format!("UDP bind {server}:{UDP_PORT}: {e}"))?;
        socks.push(s);
    }
    Ok(socks)
}

/// Answer every datagram on `sock` with itself until `stop`.
pub async fn udp_answer(sock: UdpSocket, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let got = tokio::time::timeout(Duration::from_millis(100), sock.recv_from(&mut buf)).await;
        let Ok(Ok((len, from))) = got else { continue };
        let _ = sock.send_to(&buf[..len], from).await;
    }
}

/// The UDP client: requests until told to finish (or `deadline`). A
/// stream that cannot start makes no request, with its error kept: the
/// scenario fails it (it checks that each stream ran).
pub async fn udp_client(
    plan: DatagramPlan,
    ctl: Arc<Switches>,
    deadline: tokio::time::Instant,
) -> DatagramOutcome {
    let mut out = DatagramOutcome::default();
    let (client, server) = route(plan.symmetric);
    let sock = match UdpSocket::bind((client, 0)).await {
        Ok(s) => s,
        Err(e) => {
            out.keep_error(format!("UDP bind {client}: {e}"));
            return out;
        }
    };
    if let Err(e) = sock.connect((server, UDP_PORT)).await {
        out.keep_error(format!("UDP connect {server}:{UDP_PORT}: {e}"));
        return out;
    }
    let mut n = 0u64;
    while !ctl.finished() && tokio::time::Instant::now() < deadline {
        if ctl.paused() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        n += 1;
        let (answer, sends) = udp_request(&sock, n).await;
        if matches!(answer, Answer::Ok(_)) {
            ctl.udp_answered.fetch_add(1, Ordering::Relaxed);
        }
        tally(&mut out, &ctl, n, answer, sends);
        tokio::time::sleep(plan.interval).await;
    }
    out
}

/// Send request `n` on `sock` until answered, resending every
/// [`RESEND_AFTER`], for at most [`GIVE_UP_AFTER`]: what became of it
/// and how many sends it took.
async fn udp_request(sock: &UdpSocket, n: u64) -> (Answer, u64) {
    let req = request(n);
    let t0 = tokio::time::Instant::now();
    let mut sends = 0u64;
    let mut buf = [0u8; 2048];
    while t0.elapsed() < GIVE_UP_AFTER {
        // A send that fails (no route for a moment) is a send lost.
        let _ = sock.send(&req).await;
        sends += 1;
        let resend_at = (t0 + RESEND_AFTER * sends as u32).min(t0 + GIVE_UP_AFTER);
        loop {
            let Ok(got) = tokio::time::timeout_at(resend_at, sock.recv(&mut buf)).await else {
                break;
            };
            // An error (an ICMP unreachable reported on the connected
            // socket) waits for the resend.
            let Ok(len) = got else { continue };
            if len < 8 || buf[..8] != n.to_be_bytes() {
                // A late answer to an earlier request.
                continue;
            }
            if buf[..len] == req {
                return (Answer::Ok(t0.elapsed()), sends);
            }
            return (Answer::Corrupted, sends);
        }
    }
    (Answer::Lost, sends)
}

// === ICMP echo ===

/// The ICMP echo client, on a raw socket in the client's namespace (a
/// blocking thread of its own): echo requests until told to finish or
/// `limit` has passed. Each send carries a new sequence number (the
/// firewall passes one reply per request); an answer to any send of the
/// current request answers it.
pub fn icmp_client(plan: DatagramPlan, ctl: Arc<Switches>, limit: Duration) -> DatagramOutcome {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let mut out = DatagramOutcome::default();
    let (client, server) = route(plan.symmetric);
    let sock = match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).and_then(|s| {
        s.bind(&SockAddr::from(SocketAddrV4::new(client, 0)))?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => {
            out.keep_error(format!("raw ICMP socket on {client}: {e}"));
            return out;
        }
    };
    let to = SockAddr::from(SocketAddr::from((server, 0)));
    let t_end = Instant::now() + limit;
    let (mut n, mut seq) = (0u64, 0u16);
    while !ctl.finished() && Instant::now() < t_end {
        if ctl.paused() {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        n += 1;
        let (answer, sends) = echo_request(&sock, &to, server, n, &mut seq);
        if matches!(answer, Answer::Ok(_)) {
            ctl.icmp_answered.fetch_add(1, Ordering::Relaxed);
        }
        tally(&mut out, &ctl, n, answer, sends);
        std::thread::sleep(plan.interval);
    }
    out
}

/// Echo request `n` to `server`, a new sequence number (from `seq`) per
/// send, resent every [`RESEND_AFTER`] for at most [`GIVE_UP_AFTER`].
fn echo_request(
    sock: &socket2::Socket,
    to: &socket2::SockAddr,
    server: Ipv4Addr,
    n: u64,
    seq: &mut u16,
) -> (Answer, u64) {
    use std::io::Read as _;
    let data = request(n);
    let t0 = Instant::now();
    let first = seq.wrapping_add(1);
    let mut sends = 0u64;
    let mut buf = [0u8; 2048];
    while t0.elapsed() < GIVE_UP_AFTER {
        *seq = seq.wrapping_add(1);
        let _ = sock.send_to(&echo(ECHO_ID, *seq, &data), to);
        sends += 1;
        let resend_at = (t0 + RESEND_AFTER * sends as u32).min(t0 + GIVE_UP_AFTER);
        loop {
            let left = resend_at.saturating_duration_since(Instant::now());
            if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
                break;
            }
            let Ok(len) = (&*sock).read(&mut buf) else {
                continue;
            };
            let Some((from, id, got_seq, got)) = echo_reply(&buf[..len]) else {
                continue;
            };
            // This request's sends are `first..=seq` (serial arithmetic);
            // anything else is someone else's or an earlier request's.
            if from != server
                || id != ECHO_ID
                || got_seq.wrapping_sub(first) > seq.wrapping_sub(first)
            {
                continue;
            }
            if got == data {
                return (Answer::Ok(t0.elapsed()), sends);
            }
            return (Answer::Corrupted, sends);
        }
    }
    (Answer::Lost, sends)
}

/// An ICMP echo request (RFC 792): type 8, code 0, its checksum,
/// identifier `id`, sequence number `seq`, then `data`.
fn echo(id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + data.len());
    p.extend_from_slice(&[8, 0, 0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(data);
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The echo reply in `packet` (an IPv4 datagram as a raw socket reads it):
/// its source, identifier, sequence number and data; `None` for anything
/// else.
fn echo_reply(packet: &[u8]) -> Option<(Ipv4Addr, u16, u16, &[u8])> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    if packet.len() < ihl + 8 || ihl < 20 || packet[9] != 1 {
        return None;
    }
    let from = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let icmp = &packet[ihl..];
    if icmp[0] != 0 || icmp[1] != 0 {
        return None;
    }
    let id = u16::from_be_bytes([icmp[4], icmp[5]]);
    let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
    Some((from, id, seq, &icmp[8..]))
}

/// The Internet checksum of `data` (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_checksums_to_zero() {
        let p = echo(ECHO_ID, 7, &request(3));
        assert_eq!(checksum(&p), 0);
        assert_eq!(&p[4..8], &[0x72, 0x61, 0, 7]);
    }

    #[test]
    fn an_echo_reply_is_read_past_its_ip_header() {
        let mut reply = echo(ECHO_ID, 9, b"abc");
        reply[0] = 0;
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 20, 20, 198, 18, 10, 10,
        ];
        ip.extend_from_slice(&reply);
        assert_eq!(
            echo_reply(&ip),
            Some((Ipv4Addr::new(198, 18, 20, 20), ECHO_ID, 9, &b"abc"[..]))
        );
        // A request (type 8) is not a reply.
        ip[20] = 8;
        assert_eq!(echo_reply(&ip), None);
        assert_eq!(echo_reply(&ip[..24]), None);
    }

    #[test]
    fn requests_carry_their_number() {
        assert_eq!(request(5)[..8], 5u64.to_be_bytes());
        assert_ne!(request(5), request(6));
    }
}
