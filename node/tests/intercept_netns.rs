//! TCP Intercept (docs/asa-behaviour.md §2.2) on a real node between real
//! Linux TCP stacks. One class, `embryonic-conn-max 1`, on the server's
//! port; the node has one worker, so the limit counts every connection:
//!
//! - below the limit nothing is intercepted: the server's kernel answers
//!   the client's own SYN, and the options both offered (window scaling,
//!   SACK, timestamps) are in effect on both sockets;
//! - a SYN that nobody answers (a client's connect to an address with a
//!   static neighbour entry and no host behind it) takes the one half-open
//!   place; from then a client's SYN is answered by the node with a SYN
//!   cookie, and its connection reaches the server through the node's own
//!   SYN: both sockets have none of those options, the client sends by the
//!   cookie's MSS (the tcpmss clamp, 1380), and 64 KiB cross each way
//!   intact over IPv4 and IPv6, with the server's sequence numbers
//!   shifted into the cookie's space, and close cleanly;
//! - a server that answers late (its address comes 100 ms after the
//!   client connected): the client's first data is dropped as
//!   `intercept-unexpected`, its retransmission makes the node send its
//!   SYN again, and the data then crosses whole;
//! - a server with no listener on the port: its kernel resets the node's
//!   SYN, and the client, which the cookie told the connection was open,
//!   is reset (the RST reaches it in the cookie's sequence space);
//! - 2,000 SYNs from spoofed addresses (a raw socket on the client) while
//!   the place is full: the server's kernel sees none of them (a raw
//!   socket on the server counts every SYN that arrives; no connection
//!   there is ever in SYN-RECV), the node's table does not grow, every
//!   one is answered with a cookie, and genuine clients connect during
//!   and after the flood.
//!
//! The node's own count of what it intercepted is its drop reason
//! `tcp-intercept` (the SYNs it answered, the cookie ACKs it took in, the
//! server SYN-ACKs it acknowledged), and `rampart_tcp_intercept_total`
//! by event. Needs root, as CI has; builds and
//! removes its own namespaces. Takes about 3 s.
#![cfg(target_os = "linux")]
// Test threads enter namespaces and keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rampart_node::lab::netns::sh;
use rampart_node::lab::{Lab, NodeProc, Role, accept_within, is_root, tcp_info};
use rampart_ops::show_conn::ConnFilter;
use socket2::{Domain, Protocol, Socket, Type};

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 20);
/// The server's IPv6 address (`Lab::add_ipv6`).
const SERVER6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x20);
/// An address with no host: the client has a static neighbour entry for
/// it, so its SYNs leave and cross the node, and the server's kernel
/// drops them (another host's MAC address), so nobody answers.
const NOWHERE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 99);
const NOWHERE_MAC: &str = "02:00:00:00:00:99";
/// A server address that comes [`LATE_BY`] after its client connected:
/// the client has a static neighbour entry for it (the server's MAC
/// address); until the address is on `s0`, the server's kernel drops
/// what is sent to it, as a slow server that has not answered yet.
const LATE_SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 21);
/// Long enough for the client's first data to reach the node; shorter
/// than its first retransmission timeout (200 ms at the least), so that
/// one opens the connection.
const LATE_BY: Duration = Duration::from_millis(100);
/// Where the flood's source addresses are drawn from ([`Rng::spoofed`]).
const SPOOFED_NET: &str = "198.18.0.0/15";
/// The server's port, the class's.
const PORT: u16 = 5631;
/// A port of the class where the server has no listener.
const CLOSED_PORT: u16 = 5632;

/// One worker: a class's limits count per worker (docs/asa-behaviour.md
/// §2.2), so the filler's half-open place is every flow's.
const WORKERS: usize = 1;

/// The class: one half-open connection at most. Its embryonic timeout is
/// longer than the test, so the filler holds the place throughout.
const POLICY: &str = "\
hostname fw-a
access-list INTERCEPT extended permit tcp any any eq 5631
access-list INTERCEPT extended permit tcp any any eq 5632
class-map INTERCEPT
 match access-list INTERCEPT
policy-map global_policy
 class INTERCEPT
  set connection embryonic-conn-max 1
  set connection timeout embryonic 0:02:00
service-policy global_policy global
";

/// The MSS the node's SYN cookie announces: the default tcpmss clamp
/// (docs/asa-behaviour.md §6.3), also the client's own 1460 (IPv4) or
/// 1440 (IPv6) clamped.
const COOKIE_MSS: u32 = 1380;
/// Bytes sent each way.
const PAYLOAD: usize = 64 * 1024;
/// Spoofed SYNs of the flood, sent in bursts of [`FLOOD_BURST`] every
/// [`FLOOD_GAP`]: about a second.
const FLOOD_SYNS: usize = 2_000;
const FLOOD_BURST: usize = 100;
const FLOOD_GAP: Duration = Duration::from_millis(50);
/// The longest the flood may take, whatever it has sent by then.
const FLOOD_LIMIT: Duration = Duration::from_secs(5);
/// When, into the flood, a genuine client connects.
const DURING: Duration = Duration::from_millis(200);
/// The longest a connect or an accept may take.
const SETUP: Duration = Duration::from_secs(3);
/// The longest one read or write may take. An intercepted client's first
/// data is dropped while the server has not answered, and resent at its
/// retransmission timeout (200 ms at the least).
const IO_LIMIT: Duration = Duration::from_secs(5);
/// How long the filler's SYN has to reach the node's table.
const FILLED_WITHIN: Duration = Duration::from_secs(2);
/// How often the server's connections are looked at during the flood.
const LOOK_EVERY: Duration = Duration::from_millis(10);

/// `tcpi_options` bits (Linux's `linux/tcp.h`): what the handshake agreed.
const TCPI_OPT_TIMESTAMPS: u8 = 1;
const TCPI_OPT_SACK: u8 = 2;
const TCPI_OPT_WSCALE: u8 = 4;
const NEGOTIATED: u8 = TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE;

/// The bytes one side sends: a pattern that tells `from`'s bytes apart.
fn pattern(from: u8) -> Vec<u8> {
    (0..PAYLOAD as u32)
        .map(|i| (i % 251) as u8 ^ from)
        .collect()
}

/// The client's and the server's patterns.
const CLIENT_MARK: u8 = 0;
const SERVER_MARK: u8 = 0x5a;

/// A listener on `addr:PORT` in the server's namespace.
fn listen(lab: &Lab, addr: IpAddr) -> TcpListener {
    lab.netns(Role::Server)
        .run(move || TcpListener::bind((addr, PORT)).expect("listen"))
        .expect("server namespace")
}

/// What one connection through the node showed.
struct Exchange {
    /// The server's address.
    to: SocketAddr,
    /// When the client's connect returned.
    connected_at: Instant,
    /// The options in effect on the client's and the server's socket
    /// (`tcpi_options` & [`NEGOTIATED`]).
    options: [u8; 2],
    /// The MSS the client sends by.
    client_mss: u32,
    /// The node's connections of this flow once the server accepted it.
    in_table: usize,
    /// What the client and the server received (to the other's FIN), or why not.
    client: Result<Vec<u8>, String>,
    server: Result<Vec<u8>, String>,
}

/// The received bytes by their count, not 64 KiB of numbers.
impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("to", &self.to)
            .field("options", &self.options)
            .field("client_mss", &self.client_mss)
            .field("in_table", &self.in_table)
            .field("client_received", &self.client.as_ref().map(Vec::len))
            .field("server_received", &self.server.as_ref().map(Vec::len))
            .finish()
    }
}

impl Exchange {
    /// Both patterns arrived whole, each ended by the other's FIN.
    fn intact(&self) -> bool {
        matches!(&self.client, Ok(got) if *got == pattern(SERVER_MARK))
            && matches!(&self.server, Ok(got) if *got == pattern(CLIENT_MARK))
    }
}

/// One connection from the client to `to` through the node: the client
/// connects and at once sends [`PAYLOAD`] bytes and shuts its side (an
/// intercepted client's first data may so come before the server
/// answered), `meanwhile` runs, the server accepts, the flow is looked up
/// in the node's table, and the server reads to the end, answers with its
/// own bytes and closes. An error if it never connected.
fn exchange(
    lab: &Lab,
    node: &NodeProc,
    l: &TcpListener,
    to: SocketAddr,
    meanwhile: impl FnOnce(),
) -> Result<Exchange, String> {
    let mut c = lab
        .netns(Role::Client)
        .run(move || TcpStream::connect_timeout(&to, SETUP))
        .expect("client namespace")
        .map_err(|e| format!("connect {to}: {e}"))?;
    let connected_at = Instant::now();
    let ci = tcp_info(&c);
    let client_port = c.local_addr().map_err(|e| e.to_string())?.port();
    let client = std::thread::spawn(move || {
        c.set_read_timeout(Some(IO_LIMIT))
            .map_err(|e| e.to_string())?;
        c.set_write_timeout(Some(IO_LIMIT))
            .map_err(|e| e.to_string())?;
        c.write_all(&pattern(CLIENT_MARK))
            .map_err(|e| format!("client send: {e}"))?;
        c.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        c.read_to_end(&mut got)
            .map_err(|e| format!("client receive: {e}"))?;
        Ok(got)
    });
    meanwhile();
    let accepted = accept_within(l, SETUP).map_err(|e| format!("accept: {e}"));
    let in_table = node
        .conns(&ConnFilter::address_port(Some(to.ip()), Some(client_port)))
        .map_err(|e| e.to_string())?
        .conns
        .len();
    let server = accepted.and_then(|mut s| {
        let si = tcp_info(&s);
        s.set_read_timeout(Some(IO_LIMIT))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(IO_LIMIT))
            .map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        s.read_to_end(&mut got)
            .map_err(|e| format!("server receive: {e}"))?;
        s.write_all(&pattern(SERVER_MARK))
            .map_err(|e| format!("server send: {e}"))?;
        Ok((si, got))
    });
    let client = client.join().expect("client thread");
    let (server_options, server) = match server {
        Ok((si, got)) => (si.tcpi_options & NEGOTIATED, Ok(got)),
        Err(e) => (0, Err(e)),
    };
    Ok(Exchange {
        to,
        connected_at,
        options: [ci.tcpi_options & NEGOTIATED, server_options],
        client_mss: ci.tcpi_snd_mss,
        in_table,
        client,
        server,
    })
}

/// A client's connection to [`CLOSED_PORT`], open as far as the client
/// knows (the node's cookie answered it): how its first read ends once it
/// has sent a few bytes (the server's kernel resets the node's SYN).
fn refused(lab: &Lab) -> std::io::Result<usize> {
    lab.netns(Role::Client)
        .run(|| {
            let to = SocketAddr::from((SERVER, CLOSED_PORT));
            let mut c = TcpStream::connect_timeout(&to, SETUP)?;
            c.set_read_timeout(Some(IO_LIMIT))?;
            c.write_all(b"hello")?;
            c.read(&mut [0u8; 16])
        })
        .expect("client namespace")
}

/// A permanent neighbour entry on the client: `addr` is at `mac`.
fn static_neighbour(lab: &Lab, addr: Ipv4Addr, mac: &str) {
    let c = lab.ns(Role::Client);
    let addr = addr.to_string();
    sh(&[
        "ip",
        "-n",
        &c,
        "neigh",
        "replace",
        &addr,
        "lladdr",
        mac,
        "dev",
        "c0",
        "nud",
        "permanent",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The server's MAC address (on `s0`).
fn server_mac(lab: &Lab) -> String {
    let out = std::process::Command::new("ip")
        .args([
            "-n",
            &lab.ns(Role::Server),
            "-br",
            "link",
            "show",
            "dev",
            "s0",
        ])
        .output()
        .expect("ip link show");
    // `s0@if2  UP  02:…  <BROADCAST,…>`
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("no MAC address of s0: {out:?}"))
        .to_string()
}

/// A connect from the client to `NOWHERE:PORT` that never completes: its
/// socket, kept open so its kernel goes on resending the SYN.
fn fill_the_half_open_place(lab: &Lab) -> Socket {
    static_neighbour(lab, NOWHERE, NOWHERE_MAC);
    lab.netns(Role::Client)
        .run(|| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
            s.set_nonblocking(true).unwrap();
            let to = SocketAddr::from((NOWHERE, PORT));
            match s.connect(&to.into()) {
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => s,
                other => panic!("connect to {to}: {other:?}, not in progress"),
            }
        })
        .expect("client namespace")
}

/// The node's connections to `NOWHERE:PORT`.
fn fillers(node: &NodeProc) -> usize {
    let to_nowhere = ConnFilter::address_port(Some(IpAddr::V4(NOWHERE)), Some(PORT));
    node.conns(&to_nowhere)
        .unwrap_or_else(|e| panic!("{e}"))
        .conns
        .len()
}

/// A small deterministic generator (splitmix64) for the spoofed
/// addresses, ports and sequence numbers; the seed is printed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// An address of 198.18.0.0/15 outside the lab's own 198.18.0.0/24
    /// (and outside 198.19.255.0/24, the cluster links' range).
    fn spoofed(&mut self) -> Ipv4Addr {
        loop {
            let a = Ipv4Addr::from(
                u32::from(Ipv4Addr::new(198, 18, 0, 0)) | (self.next() as u32 & 0x1_ffff),
            );
            let [_, b, c, _] = a.octets();
            if !((b, c) == (18, 0) || (b, c) == (19, 255)) {
                return a;
            }
        }
    }
}

/// What the spoofer sent.
#[derive(Debug)]
struct Flood {
    /// SYNs the kernel took.
    sent: usize,
    /// Refused sends, the first error.
    failed: usize,
    first_error: Option<String>,
    /// When it ended.
    ended_at: Instant,
}

/// Send [`FLOOD_SYNS`] SYNs to `SERVER:PORT` from spoofed addresses, from
/// a raw socket in the client's namespace (`IPPROTO_RAW`: the datagrams
/// are sent as built, source address and all, raw(7)).
fn flood(lab: &Lab, seed: u64) -> std::thread::JoinHandle<Flood> {
    let t = lab
        .spawn(Role::Client, move || {
            let raw = Socket::new(
                Domain::IPV4,
                Type::RAW,
                Some(Protocol::from(libc::IPPROTO_RAW)),
            )
            .expect("raw socket");
            let to = SocketAddr::from((SERVER, 0)).into();
            let mut rng = Rng(seed);
            let (mut sent, mut failed, mut first_error) = (0, 0, None);
            let t0 = Instant::now();
            while sent + failed < FLOOD_SYNS && t0.elapsed() < FLOOD_LIMIT {
                for _ in 0..FLOOD_BURST.min(FLOOD_SYNS - sent - failed) {
                    let r = rng.next();
                    let syn = etherparse::PacketBuilder::ipv4(
                        rng.spoofed().octets(),
                        SERVER.octets(),
                        64,
                    )
                    .tcp((r >> 48) as u16 | 1024, PORT, r as u32, 64_240)
                    .syn()
                    .options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)])
                    .expect("4 bytes of options");
                    let mut frame = Vec::with_capacity(syn.size(0));
                    syn.write(&mut frame, &[]).expect("a Vec takes it");
                    match raw.send_to(&frame, &to) {
                        Ok(_) => sent += 1,
                        Err(e) => {
                            failed += 1;
                            first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                std::thread::sleep(FLOOD_GAP);
            }
            Flood {
                sent,
                failed,
                first_error,
                ended_at: Instant::now(),
            }
        })
        .expect("client namespace");
    std::thread::spawn(move || t.join().expect("flood thread"))
}

/// What the server's host saw while it was watched.
#[derive(Debug, Default)]
struct ServerView {
    /// SYNs (without ACK) to `PORT` from the client's address: the node's,
    /// for intercepted connections.
    syns_from_client: usize,
    /// SYNs to `PORT` from any other address.
    syns_from_others: usize,
    /// The most connections in SYN-RECV from addresses other than the
    /// client's, at any look.
    most_syn_recv: usize,
    /// Looks at the connection list.
    looks: usize,
}

/// Connections of the namespace this thread is in that are in SYN-RECV
/// (state 03 of `/proc/net/tcp`, read through `/proc/thread-self`, the
/// thread's namespace) with a remote address other than `CLIENT`.
fn syn_recv_from_others() -> usize {
    let text = std::fs::read_to_string("/proc/thread-self/net/tcp").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // `sl local rem st ...`; the address is the `__be32` printed
            // as a number in the host's byte order.
            let remote = f
                .get(2)
                .and_then(|r| r.split(':').next())
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .map(|v| Ipv4Addr::from(v.to_ne_bytes()));
            f.get(3) == Some(&"03") && remote != Some(CLIENT)
        })
        .count()
}

/// Watch the server's host until `stop`: every TCP segment that reaches
/// its IP layer (a raw socket gets a copy, raw(7)) and its connections
/// in SYN-RECV.
fn watch_server(lab: &Lab, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<ServerView> {
    let t = lab
        .spawn(Role::Server, move || {
            let raw =
                Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP)).expect("raw socket");
            raw.set_read_timeout(Some(LOOK_EVERY)).unwrap();
            let mut view = ServerView::default();
            let mut buf = vec![0u8; 65_536];
            let mut last_look = Instant::now() - LOOK_EVERY;
            let deadline = Instant::now() + FLOOD_LIMIT + 2 * SETUP + 2 * IO_LIMIT;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Ok(n) = (&raw).read(&mut buf) {
                    note_segment(&buf[..n], &mut view);
                }
                if last_look.elapsed() >= LOOK_EVERY {
                    view.most_syn_recv = view.most_syn_recv.max(syn_recv_from_others());
                    view.looks += 1;
                    last_look = Instant::now();
                }
            }
            // What arrived before the stop and is still queued.
            raw.set_nonblocking(true).unwrap();
            while let Ok(n) = (&raw).read(&mut buf) {
                note_segment(&buf[..n], &mut view);
            }
            view
        })
        .expect("server namespace");
    std::thread::spawn(move || t.join().expect("watch thread"))
}

/// Count `datagram` (an IPv4 datagram as a raw socket receives it) if it
/// is a SYN to `PORT`.
fn note_segment(datagram: &[u8], view: &mut ServerView) {
    let Ok(p) = etherparse::SlicedPacket::from_ip(datagram) else {
        return;
    };
    let (Some(etherparse::NetSlice::Ipv4(ip)), Some(etherparse::TransportSlice::Tcp(t))) =
        (&p.net, &p.transport)
    else {
        return;
    };
    if !t.syn() || t.ack() || t.destination_port() != PORT {
        return;
    }
    if ip.header().source_addr() == CLIENT {
        view.syns_from_client += 1;
    } else {
        view.syns_from_others += 1;
    }
}

/// The node's `/metrics` sample `name` with `labels` (0 when absent).
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    rampart_ops::metrics::text::sample(text, name, labels).unwrap_or(0.0) as u64
}

/// The node's drops of `reason` now.
fn drops(node: &NodeProc, reason: &str) -> u64 {
    let text = node.metrics().unwrap_or_else(|e| panic!("{e}"));
    metric(&text, "rampart_drops_total", &[("reason", reason)])
}

/// The node's `rampart_tcp_intercept_total` events now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Intercepts {
    /// SYNs answered with a cookie.
    syn_cookies: u64,
    /// Cookie ACKs taken in: SYNs sent to the server.
    accepted: u64,
    /// Servers' SYN-ACKs acknowledged.
    established: u64,
    /// SYNs sent to a silent server again.
    syn_resent: u64,
    /// Segments dropped while the server had not answered.
    unexpected: u64,
}

fn intercepts(node: &NodeProc) -> Intercepts {
    let text = node.metrics().unwrap_or_else(|e| panic!("{e}"));
    let event = |e| metric(&text, "rampart_tcp_intercept_total", &[("event", e)]);
    Intercepts {
        syn_cookies: event("syn_cookies"),
        accepted: event("accepted"),
        established: event("established"),
        syn_resent: event("syn_resent"),
        unexpected: event("unexpected"),
    }
}

#[test]
fn past_the_half_open_limit_clients_connect_through_syn_cookies_and_spoofed_syns_reach_no_server() {
    if !is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let lab = Lab::new(&format!("ritc{}", std::process::id())).unwrap();
    lab.add_ipv6().unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-intercept-{}", std::process::id()));
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rampart"));
    // The server routes the spoofed addresses back through the client
    // (whose kernel drops what it receives for them): were a spoofed SYN
    // to reach the server, its kernel would answer it and keep a
    // connection in SYN-RECV (without a route it would answer nothing and
    // keep nothing).
    let server_ns = lab.ns(Role::Server);
    sh(&[
        "ip",
        "-n",
        &server_ns,
        "route",
        "add",
        SPOOFED_NET,
        "via",
        &CLIENT.to_string(),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let node = lab
        .start_node(exe, &dir, POLICY, WORKERS)
        .unwrap_or_else(|e| panic!("{e}"));
    // The IPv4 listener takes every address, the late server's too.
    let listeners = [
        (
            SocketAddr::from((SERVER, PORT)),
            listen(&lab, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ),
        (
            SocketAddr::from((SERVER6, PORT)),
            listen(&lab, IpAddr::V6(SERVER6)),
        ),
    ];
    let run = |l: &(SocketAddr, TcpListener)| exchange(&lab, &node, &l.1, l.0, || ());

    // 1. Below the limit: the server's kernel answers the client's SYN.
    let plain: Vec<_> = listeners.iter().map(run).collect();
    let intercepted_below = (drops(&node, "tcp-intercept"), intercepts(&node));

    // 2. The place taken, a client's SYN meets a cookie.
    let filler = fill_the_half_open_place(&lab);
    let t0 = Instant::now();
    let filled = loop {
        let n = fillers(&node);
        if n == 1 || t0.elapsed() > FILLED_WITHIN {
            break n;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let intercepted: Vec<_> = listeners.iter().map(run).collect();
    let intercept_drops = drops(&node, "tcp-intercept") - intercepted_below.0;
    // A server that answers late: the client's data comes first.
    static_neighbour(&lab, LATE_SERVER, &server_mac(&lab));
    let unexpected_before = drops(&node, "intercept-unexpected");
    let late = exchange(
        &lab,
        &node,
        &listeners[0].1,
        SocketAddr::from((LATE_SERVER, PORT)),
        || {
            std::thread::sleep(LATE_BY);
            let (ns, addr) = (lab.ns(Role::Server), format!("{LATE_SERVER}/24"));
            sh(&["ip", "-n", &ns, "addr", "add", &addr, "dev", "s0"])
                .unwrap_or_else(|e| panic!("{e}"));
        },
    );
    let late_unexpected = drops(&node, "intercept-unexpected") - unexpected_before;
    // A server that refuses.
    let reset = refused(&lab);

    // 3. The flood, and genuine clients during and after it.
    let before = node
        .conns(&ConnFilter::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let before_flood = (drops(&node, "tcp-intercept"), intercepts(&node));
    let stop = Arc::new(AtomicBool::new(false));
    let watch = watch_server(&lab, stop.clone());
    let seed = u64::from(std::process::id()) << 32 | 0x5eed;
    let flood_started = Instant::now();
    let spoofer = flood(&lab, seed);
    std::thread::sleep(DURING);
    let during = run(&listeners[0]);
    let flood = spoofer.join().expect("flood");
    let after_flood = run(&listeners[0]);
    // The last SYNs' answers have left the node.
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let server_view = watch.join().expect("watch");
    let after = node
        .conns(&ConnFilter::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let flood_drops = drops(&node, "tcp-intercept") - before_flood.0;
    let flood_events = intercepts(&node);
    let unexpected_drops = drops(&node, "intercept-unexpected");
    let filler_kept = fillers(&node);
    drop(filler);
    let summary = node.stop().unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);

    let report = format!(
        "below the limit: {plain:?}\ntcp-intercept drops and events then: {intercepted_below:?}\n\
         filler in the table: {filled}\nintercepted: {intercepted:?}\n\
         their tcp-intercept drops: {intercept_drops}\nlate server: {late:?}, \
         intercept-unexpected drops meanwhile: {late_unexpected}\n\
         refused: {reset:?}\nflood (seed {seed:#x}): {flood:?}, \
         {:?} after it started\nduring: {during:?}\nafter: {after_flood:?}\n\
         the server saw: {server_view:?}\ntable before the flood: {} in use, {} most; \
         after: {} in use, {} most\nflood's tcp-intercept drops: {flood_drops}\n\
         events before the flood: {:?}\nevents at the end: {flood_events:?}\n\
         filler still there: {filler_kept}\n\
         node: {summary:?}",
        flood.ended_at - flood_started,
        before.in_use,
        before.most_used,
        after.in_use,
        after.most_used,
        before_flood.1,
    );
    eprintln!("{report}");

    // 1. Not intercepted: the server's kernel and the client's agreed on
    // the options each offered; nothing answered by the node.
    for x in &plain {
        let x = x.as_ref().unwrap_or_else(|e| panic!("{e}\n{report}"));
        assert_eq!(x.options, [NEGOTIATED; 2], "{report}");
        assert_eq!(x.in_table, 1, "{report}");
        assert!(x.intact(), "{report}");
    }
    assert_eq!(intercepted_below, (0, Intercepts::default()), "{report}");

    // 2. Intercepted: the client's handshake was with the node (no
    // options but the MSS, the clamp's), the server's with the node's SYN
    // (no options either); data crossed intact both ways and both ends
    // saw the other's FIN.
    assert_eq!(
        filled, 1,
        "the filler's SYN never reached the node: {report}"
    );
    for x in &intercepted {
        let x = x.as_ref().unwrap_or_else(|e| panic!("{e}\n{report}"));
        assert_eq!(x.options, [0, 0], "{report}");
        assert_eq!(x.client_mss, COOKIE_MSS, "{report}");
        assert_eq!(x.in_table, 1, "{report}");
        assert!(x.intact(), "{report}");
    }
    // Each: its SYN answered, its cookie ACK taken in, the server's
    // SYN-ACK acknowledged.
    assert!(intercept_drops >= 3 * 2, "{report}");
    // The late server's client: its data before the server answered was
    // dropped, its retransmission brought the node's SYN again, and once
    // the server answered its data crossed whole.
    let late = late.as_ref().unwrap_or_else(|e| panic!("{e}\n{report}"));
    assert_eq!(late.options, [0, 0], "{report}");
    assert!(late.intact(), "{report}");
    assert!(late_unexpected >= 1, "{report}");
    // The server's RST reached the client, at the sequence number it
    // expects (in the cookie's space), or it would have been ignored.
    assert_eq!(
        reset.as_ref().map_err(std::io::Error::kind),
        Err(std::io::ErrorKind::ConnectionReset),
        "{report}"
    );

    // 3. The flood: every spoofed SYN was sent and answered by the node,
    // none reached the server's kernel, the table did not grow by it, and
    // the genuine clients connected during and after it.
    assert_eq!(
        (flood.sent, flood.failed, flood.first_error.as_deref()),
        (FLOOD_SYNS, 0, None),
        "{report}"
    );
    assert_eq!(server_view.syns_from_others, 0, "{report}");
    assert_eq!(server_view.most_syn_recv, 0, "{report}");
    assert!(server_view.looks > 10, "{report}");
    // The watch works: it saw the node's SYNs for the genuine clients.
    assert!(server_view.syns_from_client >= 2, "{report}");
    assert!(flood_drops >= FLOOD_SYNS as u64 + 3 * 2, "{report}");
    let grown = after.in_use.saturating_sub(before.in_use);
    assert!(grown <= 2, "the table grew by {grown}: {report}");
    assert!(
        after.most_used <= before.most_used.max(before.in_use + 2),
        "{report}"
    );
    assert_eq!(filler_kept, 1, "{report}");
    for x in [&during, &after_flood] {
        let x = x.as_ref().unwrap_or_else(|e| panic!("{e}\n{report}"));
        assert_eq!(x.options, [0, 0], "{report}");
        assert!(x.intact(), "{report}");
    }
    let during = during.as_ref().unwrap();
    assert!(
        during.connected_at < flood.ended_at,
        "the genuine client connected only after the flood: {report}"
    );

    // The node's intercept events: before the flood four clients
    // accepted, three established (not the refused one), the late
    // server's SYN sent again for its client's data; in the flood every
    // spoofed SYN answered with a cookie, and the genuine clients
    // accepted and established.
    let b = before_flood.1;
    assert_eq!((b.accepted, b.established), (4, 3), "{report}");
    assert!(b.syn_cookies >= 4 && b.syn_resent >= 1, "{report}");
    let e = flood_events;
    assert!(
        e.syn_cookies - b.syn_cookies >= FLOOD_SYNS as u64 + 2,
        "{report}"
    );
    assert_eq!(
        (e.accepted - b.accepted, e.established - b.established),
        (2, 2),
        "{report}"
    );
    assert_eq!(e.unexpected, unexpected_drops, "{report}");
}
