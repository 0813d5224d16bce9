//! Dead connection detection, `set connection timeout dcd`
//! (docs/asa-behaviour.md §2.2), on a real node between real Linux TCP
//! stacks. Seven connections through one node (two workers, so the
//! fanout spreads them), each on its own port, exchange a few bytes and
//! then stay idle for [`QUIET`], three times their idle timeout and more;
//! neither end sets `SO_KEEPALIVE`, so only the node's probes cross:
//!
//! - a connection of a DCD class whose ends live, over IPv4 and over
//!   IPv6: both kernels answer every probe, the node keeps it, and after
//!   the quiet spell data crosses both ways;
//! - the control, the same connection in a class without DCD: the idle
//!   timeout removes it, and the data sent after the quiet spell never
//!   arrives (the client's is dropped as `tcp-not-syn`);
//! - the responder dead (its address removed from its host, which then
//!   drops what is sent to it without a word) and the initiator dead,
//!   without `reset`: the node removes each as a dead connection, and
//!   the live end hears nothing;
//! - the same two with `timeout idle … reset`: the live end's socket is
//!   reset by the node (its read fails with `ECONNRESET`).
//!
//! The hosts' `TcpExt` counters over the quiet spell show the probes'
//! answers as pure ACKs (RFC 9293 §3.10.7.4), and nothing lost or
//! retransmitted. Needs root, as CI has; builds and removes its own
//! namespaces. Takes about 15 s.
#![cfg(target_os = "linux")]
// Test threads enter namespaces and keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rampart_node::lab::netns::{Netns, sh};
use rampart_node::lab::{Lab, NodeProc, Role, accept_within, is_root};
use rampart_ops::show_conn::ConnFilter;
use socket2::{Domain, Protocol, Socket, Type};

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 20);
/// The hosts' IPv6 addresses (`Lab::add_ipv6`).
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x10);
const SERVER6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x20);
/// A second client address (on `c0`), removed to kill the initiators of
/// the connections made from it.
const DOOMED_CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 11);
/// A second server address (on `s0`), removed to kill the responders of
/// the connections made to it.
const DOOMED_SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 21);

/// Both ends live, DCD on: kept.
const ALIVE: u16 = 5421;
/// Both ends live, over IPv6, DCD on: kept.
const ALIVE6: u16 = 5427;
/// Both ends live, DCD off: removed at the idle timeout.
const PLAIN: u16 = 5422;
/// The responder dies, DCD on.
const DEAD_RESPONDER: u16 = 5423;
/// The initiator dies, DCD on.
const DEAD_INITIATOR: u16 = 5424;
/// The responder dies, DCD and `reset` on: the client is reset.
const DEAD_RESPONDER_RESET: u16 = 5425;
/// The initiator dies, DCD and `reset` on: the server is reset.
const DEAD_INITIATOR_RESET: u16 = 5426;

/// Every connection: its port, client and server address.
const CONNS: [(u16, IpAddr, IpAddr); 7] = [
    (ALIVE, IpAddr::V4(CLIENT), IpAddr::V4(SERVER)),
    (ALIVE6, IpAddr::V6(CLIENT6), IpAddr::V6(SERVER6)),
    (PLAIN, IpAddr::V4(CLIENT), IpAddr::V4(SERVER)),
    (
        DEAD_RESPONDER,
        IpAddr::V4(CLIENT),
        IpAddr::V4(DOOMED_SERVER),
    ),
    (
        DEAD_INITIATOR,
        IpAddr::V4(DOOMED_CLIENT),
        IpAddr::V4(SERVER),
    ),
    (
        DEAD_RESPONDER_RESET,
        IpAddr::V4(CLIENT),
        IpAddr::V4(DOOMED_SERVER),
    ),
    (
        DEAD_INITIATOR_RESET,
        IpAddr::V4(DOOMED_CLIENT),
        IpAddr::V4(SERVER),
    ),
];

/// The connections DCD keeps.
const KEPT: [u16; 2] = [ALIVE, ALIVE6];

/// Worker threads of the node: a connection's probes and their answers
/// cross the worker the fanout gives the flow, whichever it is.
const WORKERS: usize = 2;

/// The classes: idle 3 s; DCD probes 1 s apart, two to an end.
const POLICY: &str = "\
hostname fw-a
access-list DCD extended permit tcp any any eq 5421
access-list DCD extended permit tcp any any eq 5427
access-list DCD extended permit tcp any any eq 5423
access-list DCD extended permit tcp any any eq 5424
access-list PLAIN extended permit tcp any any eq 5422
access-list DCD_RESET extended permit tcp any any eq 5425
access-list DCD_RESET extended permit tcp any any eq 5426
class-map DCD
 match access-list DCD
class-map PLAIN
 match access-list PLAIN
class-map DCD_RESET
 match access-list DCD_RESET
policy-map global_policy
 class DCD
  set connection timeout idle 0:00:03 dcd 0:00:01 2
 class PLAIN
  set connection timeout idle 0:00:03
 class DCD_RESET
  set connection timeout idle 0:00:03 reset dcd 0:00:01 2
service-policy global_policy global
";

/// How long the connections stay idle: past the idle timeout (3 s) three
/// times over, and two rounds of probing of the live connection.
const QUIET: Duration = Duration::from_secs(10);
/// When a dead end's connection must be gone, after the last packet: the
/// idle timeout (3 s), the initiator's answer looked at (1 s), the
/// responder's two probes (2 s), and a margin for the sweep and the looks.
const DEAD_BY: Duration = Duration::from_secs(8);
/// The earliest a connection may be found dead: an end is probed from
/// the idle timeout (3 s) on and has both its probes' time (2 s) to
/// answer; its last packet came shortly before the quiet spell began.
const DEAD_NOT_BEFORE: Duration = Duration::from_millis(4_500);
/// How long data after the quiet spell has to arrive.
const ARRIVE: Duration = Duration::from_secs(2);
/// How long the control's data is waited for: several of the senders'
/// retransmissions.
const STALL: Duration = Duration::from_secs(3);
/// The longest a connect or an accept may take.
const SETUP: Duration = Duration::from_secs(3);

/// A listener on `server:port` in the server's namespace.
fn listen(lab: &Lab, server: IpAddr, port: u16) -> TcpListener {
    lab.netns(Role::Server)
        .run(move || TcpListener::bind((server, port)).expect("listen"))
        .expect("server namespace")
}

/// A connection from `client` to `server:port`, made in the client's
/// namespace (a socket stays in the namespace it was made in, whichever
/// thread uses it later).
fn connect(lab: &Lab, client: IpAddr, server: IpAddr, port: u16) -> TcpStream {
    lab.netns(Role::Client)
        .run(move || {
            let to = SocketAddr::new(server, port);
            let s =
                Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP)).unwrap();
            s.bind(&SocketAddr::new(client, 0).into()).unwrap();
            s.connect_timeout(&to.into(), SETUP)
                .unwrap_or_else(|e| panic!("connect {client} -> {to}: {e}"));
            TcpStream::from(s)
        })
        .expect("client namespace")
}

/// The connection `l` was made, within [`SETUP`].
fn accept(l: &TcpListener) -> TcpStream {
    accept_within(l, SETUP).unwrap_or_else(|e| panic!("accept: {e}"))
}

/// `want` bytes read from `s` within `limit`, or why not.
fn read_within(s: &mut TcpStream, want: usize, limit: Duration) -> std::io::Result<Vec<u8>> {
    s.set_read_timeout(Some(limit))?;
    let mut buf = vec![0; want];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

/// Whether `e` is a read timing out (`EAGAIN` on a socket with a timeout).
fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Every `TcpExt` counter of namespace `ns` (read through
/// `/proc/thread-self/net`, as `rampart_node::lab::tcp_ext`).
fn tcp_ext_all(ns: &Netns) -> BTreeMap<String, u64> {
    ns.run(|| {
        let text = std::fs::read_to_string("/proc/thread-self/net/netstat").unwrap_or_default();
        let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
        let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
            return BTreeMap::new();
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .skip(1)
            .filter_map(|(n, v)| Some((n.to_string(), v.parse().ok()?)))
            .collect()
    })
    .expect("namespace thread")
}

/// The counters that grew from `before` to `after`, by how much.
fn grown(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(n, &v)| {
            let d = v.saturating_sub(before.get(n).copied().unwrap_or(0));
            (d > 0).then(|| (n.clone(), d))
        })
        .collect()
}

/// The node's `/metrics` sample `name` with `labels` (0 when absent).
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    rampart_ops::metrics::text::sample(text, name, labels).unwrap_or(0.0) as u64
}

/// The node's connections on each of [`CONNS`]' ports.
fn conns_by_port(node: &NodeProc) -> BTreeMap<u16, usize> {
    CONNS
        .iter()
        .map(|&(port, _, _)| {
            let filter = ConnFilter::address_port(None, Some(port));
            let list = node.conns(&filter).unwrap_or_else(|e| panic!("{e}"));
            (port, list.conns.len())
        })
        .collect()
}

/// Read `s` until the quiet spell ends: when (after `t0`) the read
/// ended, and how.
fn watch_reset(mut s: TcpStream, t0: Instant) -> std::thread::JoinHandle<(Duration, String)> {
    std::thread::spawn(move || {
        let limit = (t0 + QUIET).saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(limit.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 16];
        let how = match s.read(&mut buf) {
            Ok(0) => "end of stream".to_string(),
            Ok(n) => format!("{n} bytes"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => "reset".to_string(),
            Err(e) => format!("{:?}: {e}", e.kind()),
        };
        (t0.elapsed(), how)
    })
}

/// What a read of `s` finds now, without waiting: `WouldBlock` when
/// nothing came.
fn pending(s: &TcpStream) -> std::io::Result<usize> {
    s.set_nonblocking(true)?;
    let mut buf = [0u8; 16];
    (&*s).read(&mut buf)
}

/// Remove `addr/24` from `dev` in `ns`: its host keeps its sockets but
/// drops whatever is sent to the address (not forwarding, it sends no
/// ICMP error either), as a host that died would.
fn kill_address(ns: &str, addr: Ipv4Addr, dev: &str) {
    sh(&[
        "ip",
        "-n",
        ns,
        "addr",
        "del",
        &format!("{addr}/24"),
        "dev",
        dev,
    ])
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_real_node_keeps_live_idle_connections_and_ends_dead_ones() {
    if !is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let lab = Lab::new(&format!("rdcd{}", std::process::id())).unwrap();
    lab.add_ipv6().unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-dcd-{}", std::process::id()));
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rampart"));
    let (c, s) = (lab.ns(Role::Client), lab.ns(Role::Server));
    for (ns, addr, dev) in [(&c, DOOMED_CLIENT, "c0"), (&s, DOOMED_SERVER, "s0")] {
        sh(&[
            "ip",
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            dev,
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let node = lab
        .start_node(exe, &dir, POLICY, WORKERS)
        .unwrap_or_else(|e| panic!("{e}"));

    // Connect each pair and exchange a few bytes each way.
    let mut pairs: BTreeMap<u16, (TcpStream, TcpStream)> = BTreeMap::new();
    for &(port, client, server) in &CONNS {
        let l = listen(&lab, server, port);
        let mut cs = connect(&lab, client, server, port);
        let mut ss = accept(&l);
        for sock in [&cs, &ss] {
            let keepalive = socket2::SockRef::from(sock).keepalive().unwrap();
            assert!(!keepalive, "port {port}: SO_KEEPALIVE is set");
        }
        cs.write_all(b"hello").unwrap();
        assert_eq!(read_within(&mut ss, 5, ARRIVE).unwrap(), b"hello");
        ss.write_all(b"hi!").unwrap();
        assert_eq!(read_within(&mut cs, 3, ARRIVE).unwrap(), b"hi!");
        pairs.insert(port, (cs, ss));
    }
    let before = [
        tcp_ext_all(lab.netns(Role::Client)),
        tcp_ext_all(lab.netns(Role::Server)),
    ];
    // The doomed ends die without a word; the quiet spell begins.
    let t0 = Instant::now();
    kill_address(&c, DOOMED_CLIENT, "c0");
    kill_address(&s, DOOMED_SERVER, "s0");
    let (reset_client, reset_server) = {
        let client = pairs[&DEAD_RESPONDER_RESET].0.try_clone().unwrap();
        let server = pairs[&DEAD_INITIATOR_RESET].1.try_clone().unwrap();
        (watch_reset(client, t0), watch_reset(server, t0))
    };

    std::thread::sleep((t0 + DEAD_BY).saturating_duration_since(Instant::now()));
    let at_dead_by = conns_by_port(&node);
    let metrics_dead_by = node.metrics().unwrap_or_else(|e| panic!("{e}"));

    std::thread::sleep((t0 + QUIET).saturating_duration_since(Instant::now()));
    let quiet = t0.elapsed();
    let after = [
        tcp_ext_all(lab.netns(Role::Client)),
        tcp_ext_all(lab.netns(Role::Server)),
    ];
    let idle_grew = [grown(&before[0], &after[0]), grown(&before[1], &after[1])];
    let at_quiet_end = conns_by_port(&node);

    // Data both ways on the live connections: through DCD's, not through
    // the control's.
    let mut sent = |port: u16| {
        let (cs, ss) = pairs.get_mut(&port).unwrap();
        cs.write_all(b"ping").unwrap();
        ss.write_all(b"pong").unwrap();
    };
    for port in [ALIVE, ALIVE6, PLAIN] {
        sent(port);
    }
    let alive: Vec<[std::io::Result<Vec<u8>>; 2]> = KEPT
        .iter()
        .map(|port| {
            let (cs, ss) = pairs.get_mut(port).unwrap();
            [read_within(ss, 4, ARRIVE), read_within(cs, 4, ARRIVE)]
        })
        .collect();
    let (cs, ss) = pairs.get_mut(&PLAIN).unwrap();
    let plain = [
        read_within(ss, 4, STALL),
        // The server's data had the same time to arrive meanwhile.
        read_within(cs, 4, Duration::from_millis(100)),
    ];
    let resets = [
        reset_client.join().expect("watcher"),
        reset_server.join().expect("watcher"),
    ];
    // Without `reset`, the live ends of the dead connections heard nothing.
    let unreset = [
        pending(&pairs[&DEAD_RESPONDER].0),
        pending(&pairs[&DEAD_INITIATOR].1),
    ];
    let metrics = node.metrics().unwrap_or_else(|e| panic!("{e}"));
    let summary = node.stop().unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);

    let dcd = |event| metric(&metrics, "rampart_dcd_total", &[("event", event)]);
    let removed = |reason| {
        metric(
            &metrics,
            "rampart_connections_removed_total",
            &[("reason", reason)],
        )
    };
    let report = format!(
        "quiet spell {quiet:?}\nconns at {DEAD_BY:?}: {at_dead_by:?}\nconns at {QUIET:?}: \
         {at_quiet_end:?}\nalive: {alive:?}\nplain: {plain:?}\nresets: {resets:?}\nwithout reset: {unreset:?}\n\
         dcd: probes_sent {} kept {} dead {} deferred {}\nremoved: timeout {} dead_connection {}\n\
         TcpExt grown while idle: client {:?}\n  server {:?}\nnode: {summary:?}",
        dcd("probes_sent"),
        dcd("kept"),
        dcd("dead"),
        dcd("deferred"),
        removed("timeout"),
        removed("dead_connection"),
        idle_grew[0],
        idle_grew[1],
    );
    eprintln!("{report}");

    // The live DCD connection survived the quiet spell; the control did
    // not, and the dead ends' connections were removed.
    let want: BTreeMap<u16, usize> = CONNS
        .iter()
        .map(|&(port, _, _)| (port, usize::from(KEPT.contains(&port))))
        .collect();
    assert_eq!(at_dead_by, want, "{report}");
    assert_eq!(at_quiet_end, want, "{report}");
    for got in &alive {
        assert!(
            matches!(got, [Ok(a), Ok(b)] if a == b"ping" && b == b"pong"),
            "{report}"
        );
    }
    assert!(
        plain.iter().all(|r| r.as_ref().is_err_and(timed_out)),
        "the control's data crossed after its idle timeout: {report}"
    );
    assert!(summary.counters.drops_of("tcp-not-syn") >= 1, "{report}");
    // The removals, by reason: the control by its idle timeout, the four
    // dead ends' connections by DCD, none of them before the idle timeout.
    assert_eq!(
        metric(&metrics_dead_by, "rampart_dcd_total", &[("event", "dead")]),
        4,
        "{report}"
    );
    assert_eq!(dcd("dead"), 4, "{report}");
    assert_eq!(removed("dead_connection"), 4, "{report}");
    assert_eq!(removed("timeout"), 1, "{report}");
    // Each live connection was kept twice in the quiet spell (idle at 3 s
    // and about 7 s); each round probes both ends once. The dead
    // initiators had two probes each; the dead responders' initiators one
    // and the responders two.
    assert!(dcd("kept") >= 2 * KEPT.len() as u64, "{report}");
    assert!(
        dcd("probes_sent") >= 2 * 2 * KEPT.len() as u64 + 2 * 2 + 2 * 3,
        "{report}"
    );
    assert_eq!(dcd("deferred"), 0, "{report}");
    // With `reset`, the live end of each dead connection is reset, after
    // its probing, not before.
    for (who, (at, how)) in ["client", "server"].iter().zip(&resets) {
        assert_eq!(how, "reset", "{who}: {report}");
        assert!(
            (DEAD_NOT_BEFORE..DEAD_BY).contains(at),
            "{who} reset at {at:?}: {report}"
        );
    }
    for how in &unreset {
        assert!(how.as_ref().is_err_and(timed_out), "{report}");
    }
    // The probes reach the live hosts' stacks as old segments, which each
    // answers with an ACK; the answer crosses to the other end as a pure
    // ACK, one a round for each live connection. Nothing was retransmitted
    // or lost meanwhile.
    for (host, grew) in ["client", "server"].iter().zip(&idle_grew) {
        assert!(
            grew.get("TCPPureAcks").copied().unwrap_or(0) >= 2 * KEPT.len() as u64,
            "{host}: {report}"
        );
        for quiet_counter in ["TCPTimeouts", "TCPLossProbes", "TCPLostRetransmit"] {
            assert_eq!(grew.get(quiet_counter), None, "{host}: {report}");
        }
    }
}
