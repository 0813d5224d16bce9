//! Fragmented UDP through `rampart run` with three workers: the kernels
//! fragment 4,000-byte datagrams over the veths' 1,500-byte MTU, the
//! node's fanout hands every fragment of a datagram to one worker (by
//! addresses), that worker's engine reassembles it and, when another
//! worker owns the flow (by ports), hands it over (docs/io.md §9). From
//! each of 48 client ports, a small query opens the flow on its owner and
//! the server answers with a large datagram (whose fragments only the
//! owner's connection lets in from the outside), then a large datagram is
//! echoed; every answer and echo must come back whole, IPv4 and IPv6.
//! Needs root, as CI has; builds and removes its own namespaces.
#![cfg(target_os = "linux")]
// Test threads enter namespaces and keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::time::{Duration, Instant};

use rampart_node::lab::{Lab, NodeProc, Role, is_root};

/// Worker threads of the node: with three, most flows' owner is not the
/// worker their fragments reach.
const WORKERS: usize = 3;
/// Datagrams sent, each from its own socket (its own source port).
const DATAGRAMS: usize = 48;
/// Bytes of each datagram: three IPv4 fragments over a 1,500-byte MTU.
const DATAGRAM_BYTES: usize = 4_000;
/// The echo port.
const PORT: u16 = 5400;
/// How long all the echoes may take.
const ECHO_WAIT: Duration = Duration::from_secs(5);

/// UDP both ways, started from the inside (the client); ICMPv6 for
/// neighbour discovery.
const POLICY: &str = "\
hostname fw-a
access-list IN extended permit udp any any
access-list IN extended permit icmp6 any6 any6
access-group IN in interface inside
";

/// Client and server addresses of one family.
#[derive(Debug, Clone, Copy)]
struct Family {
    client: &'static str,
    server: &'static str,
}

const V4: Family = Family {
    client: "198.18.0.10",
    server: "198.18.0.20",
};
/// Benchmarking addresses (RFC 5180 section 5), in this test's namespaces.
const V6: Family = Family {
    client: "2001:2::10",
    server: "2001:2::20",
};

fn at(addr: &str, port: u16) -> SocketAddr {
    SocketAddr::new(addr.parse().unwrap(), port)
}

/// Let the kernel fragment what the socket sends, and never set Don't
/// Fragment (`IP_PMTUDISC_DONT`; for IPv6, fragment at the interface MTU
/// whatever the path says).
fn fragment_freely(sock: &UdpSocket) {
    let (level, name, value) = if sock.local_addr().unwrap().is_ipv4() {
        (
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_DONT,
        )
    } else {
        (
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_DONT,
        )
    };
    // SAFETY: an int option on our own socket, from a valid int.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
}

/// Room for every large datagram at once in the server's socket: 48
/// reassembled datagrams take more than the default receive buffer (about
/// 208 KiB, each datagram's fragments counted whole), and the kernel drops
/// what does not fit before the server reads it.
fn room_for_a_burst(sock: &UdpSocket) {
    let bytes: libc::c_int = 4 << 20;
    // SAFETY: an int option on our own socket, from a valid int
    // (`SO_RCVBUFFORCE`: root may pass `rmem_max`).
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
}

/// Datagram `i`: its number, then bytes that differ per datagram and
/// position, so a fragment from another datagram or at another offset
/// shows.
fn datagram(i: usize) -> Vec<u8> {
    let mut d = (i as u32).to_be_bytes().to_vec();
    d.extend((4..DATAGRAM_BYTES).map(|k| (k * 31 + i * 7) as u8));
    d
}

/// The server: answer a query (`q` and a datagram's number, small) with
/// that datagram (large), and echo anything else, on `family`'s port until
/// it had every query and large datagram or `wait` passed with nothing
/// arriving; returns how many queries and large datagrams it had.
fn echo_server(family: Family, wait: Duration) -> impl FnOnce() -> usize + Send + 'static {
    move || {
        let sock = UdpSocket::bind(at(family.server, PORT)).expect("bind the server");
        fragment_freely(&sock);
        room_for_a_burst(&sock);
        sock.set_read_timeout(Some(wait)).unwrap();
        let mut buf = vec![0u8; 65_536];
        let (mut answered, mut large) = (0, 0);
        // Until every query and large datagram arrived, or nothing did
        // for `wait`.
        while answered < DATAGRAMS || large < DATAGRAMS {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                break;
            };
            let query = std::str::from_utf8(&buf[..n])
                .ok()
                .and_then(|q| q.strip_prefix('q')?.parse::<usize>().ok());
            match query {
                Some(i) => {
                    sock.send_to(&datagram(i), from).expect("answer");
                    answered += 1;
                }
                None => {
                    sock.send_to(&buf[..n], from).expect("echo");
                    large += usize::from(n == DATAGRAM_BYTES);
                }
            }
        }
        answered + large
    }
}

/// Send `what(i)` from each socket at once and wait, up to [`ECHO_WAIT`],
/// for each socket's answer to be `datagram(i)` byte for byte; how many
/// were, and a note on the others.
fn exchange(
    socks: &[UdpSocket],
    server: SocketAddr,
    what: impl Fn(usize) -> Vec<u8>,
) -> (usize, String) {
    for (i, s) in socks.iter().enumerate() {
        let d = what(i);
        assert_eq!(s.send_to(&d, server).expect("send"), d.len());
    }
    let mut buf = vec![0u8; 65_536];
    let mut whole = [false; DATAGRAMS];
    let mut wrong = Vec::new();
    let deadline = Instant::now() + ECHO_WAIT;
    while whole.iter().any(|w| !w) && Instant::now() < deadline {
        let mut any = false;
        for (i, s) in socks.iter().enumerate() {
            if let Ok(n) = s.recv(&mut buf) {
                any = true;
                if buf[..n] == datagram(i) {
                    whole[i] = true;
                } else {
                    wrong.push((i, n));
                }
            }
        }
        if !any {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let missing: Vec<usize> = (0..DATAGRAMS).filter(|&i| !whole[i]).collect();
    (
        whole.iter().filter(|&&w| w).count(),
        format!("missing {missing:?}; wrong (datagram, bytes) {wrong:?}"),
    )
}

/// The client: one small datagram first and its echo (neighbours
/// resolved, the path open); then from each of [`DATAGRAMS`] sockets (each
/// its own source port, its own flow) at once, a small query whose answer
/// is large (the flow opened by a whole packet, on the worker that owns
/// it; its fragments come back from the outside, where only that
/// worker's connection lets them in), then a large datagram the server
/// echoes (fragmented both ways). Returns how many answers and how many
/// echoes came back whole, and a note.
fn client(family: Family) -> impl FnOnce() -> (usize, usize, String) + Send + 'static {
    move || {
        let server = at(family.server, PORT);
        let warm = UdpSocket::bind(at(family.client, 0)).expect("bind");
        warm.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 64];
        let warmed = (0..10).any(|_| {
            warm.send_to(b"hello", server).expect("send");
            warm.recv(&mut buf).is_ok_and(|n| buf[..n] == *b"hello")
        });
        if !warmed {
            return (
                0,
                0,
                "no echo of a small datagram: the path is closed".into(),
            );
        }
        let socks: Vec<UdpSocket> = (0..DATAGRAMS)
            .map(|_| {
                let s = UdpSocket::bind(at(family.client, 0)).expect("bind");
                fragment_freely(&s);
                s.set_nonblocking(true).unwrap();
                s
            })
            .collect();
        let (answers, a) = exchange(&socks, server, |i| format!("q{i}").into_bytes());
        let (echoes, e) = exchange(&socks, server, datagram);
        (answers, echoes, format!("answers: {a}; echoes: {e}"))
    }
}

/// The node's `/metrics` sample `name` (0 when absent).
fn metric(node: &NodeProc, name: &str) -> f64 {
    node.metrics()
        .ok()
        .and_then(|t| rampart_ops::metrics::text::sample(&t, name, &[]))
        .unwrap_or(0.0)
}

#[test]
fn fragmented_udp_crosses_three_workers_and_every_echo_comes_back_whole() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-frg{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-frg-{}", std::process::id()));
    lab.add_ipv6().unwrap();
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rampart"));
    let node = lab
        .start_node(exe, &dir, POLICY, WORKERS)
        .unwrap_or_else(|e| panic!("{e}"));

    let mut results = Vec::new();
    for (name, family) in [("IPv4", V4), ("IPv6", V6)] {
        let server = lab
            .spawn(Role::Server, echo_server(family, ECHO_WAIT * 2))
            .expect("namespace thread");
        std::thread::sleep(Duration::from_millis(100));
        let (answers, echoes, note) = lab
            .spawn(Role::Client, client(family))
            .expect("namespace thread")
            .join()
            .unwrap();
        let answered = server.join().unwrap();
        results.push((name, answers, echoes, answered, note));
    }
    let handed = metric(&node, "rampart_worker_handoffs_total");
    let dropped = metric(&node, "rampart_worker_handoff_dropped_total");
    let summary = node.stop().unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(&dir).ok();
    let err = format!("{results:?}\nhand-offs {handed} (dropped {dropped})\n{summary:?}");
    for (name, answers, echoes, _, _) in &results {
        assert_eq!(
            *answers, DATAGRAMS,
            "{name}: every answer came back whole: {err}"
        );
        assert_eq!(
            *echoes, DATAGRAMS,
            "{name}: every echo came back whole: {err}"
        );
    }
    assert_eq!(summary.workers, WORKERS, "{err}");
    assert_eq!(summary.counters.drops_of("ip-fragment"), 0, "{err}");
    assert_eq!(dropped, 0.0, "{err}");
    // Of 96 flows over three workers, many are owned by a worker other
    // than the one their fragments reach: the hand-off ran.
    assert!(handed > 0.0, "{err}");
}
