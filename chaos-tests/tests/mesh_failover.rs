//! Issue 15's failover acceptance on real processes: a mesh of N = 4
//! nodes with `copies = 2` (the default), CONNS asymmetric inspected TCP
//! connections, each out through one node and back through another drawn
//! at random (a fixed seed), all opened and each exchanging a message: 0
//! failed, 0 SYN retransmissions; and UDP_FLOWS asymmetric UDP flows over
//! every pair of paths, each answered once. Then one node is killed with
//! SIGKILL and at the same instant both hosts' routes through it move to
//! the next node (as a router's would), and every connection exchanges a
//! message again (half of them sent just before the kill, so that it
//! lands under traffic) and every UDP flow is answered again, from the
//! same ports (its request resent every second until answered, as TCP
//! resends a lost segment, for at most 30 s): none may be lost, whether
//! the dead node was its owner, its director, a copy or on its path
//! (docs/sync.md §13).
//!
//! The node killed is drawn at random per run among all four and printed;
//! `RAMPART_MESH_FAILOVER_KILLED=N` (0 for fw-a to 3 for fw-d) replays a
//! run's choice. fw-a is the node of the lowest id: it dials every peer.
//! The nodes run no Raft (each its own policy file,
//! `forward_before_join`): the state sync alone is under test.
//!
//! CONNS is 10,000 (`RAMPART_MESH_FAILOVER_CONNS` sets another count).
//! UDP_FLOWS is 480 (`RAMPART_MESH_FAILOVER_UDP_FLOWS` sets another count,
//! 0 to 120,000: a large one fills the tables, so that the survivors
//! re-replicate a table of that size while the connections' segments
//! wait for their state, docs/sync.md §13, membership changes).
//! The echo server is `echod`, a process of its own in the server's
//! namespace: both ends of 10,000 connections in one process would pass
//! this machine's hard limit of 20,000 descriptors. Every phase has a
//! deadline: connections or flows not done by then count as failed.
//! Needs root (CI is root); skipped with a message otherwise. Namespaces
//! `rp-mf<pid>-…`, removed on exit, also on failure; the nodes and
//! `echod` are this test's children, stopped by PID.
#![cfg(target_os = "linux")]
// Tests bound their waits with the wall clock.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rampart_node::lab::mesh::topology::{MeshLab, NodeCount, mesh_node};
use rampart_node::lab::mesh::traffic::{Flow, plan};
use rampart_node::lab::proc::{NodeProc, NodeSpec, write_config};
use rampart_node::lab::{Netns, NsThread, POLICY, is_root, raise_fd_limit, sh, syn_retransmits};
use socket2::{Domain, Socket, Type};

const NODES: usize = 4;
const PORT: u16 = 5001;
const SEED: u64 = 0x15_f417;
/// Bytes of each message (and of its echo).
const MSG: usize = 32;
/// Client threads, each opening its share of the connections in turn.
const CLIENT_THREADS: usize = 4;
const READY_LIMIT: Duration = Duration::from_secs(30);
/// How long opening all connections may take together.
const OPEN_LIMIT: Duration = Duration::from_secs(300);
/// The longest one connect, or the wait for one echo while opening, may
/// take.
const STEP_LIMIT: Duration = Duration::from_secs(5);
/// How long all echoes after the kill may take together.
const AFTER_LIMIT: Duration = Duration::from_secs(30);

/// The node killed: `RAMPART_MESH_FAILOVER_KILLED`, or one drawn at
/// random (the standard library's per-process random hash keys).
fn victim() -> usize {
    match std::env::var("RAMPART_MESH_FAILOVER_KILLED") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|k| *k < NODES)
            .unwrap_or_else(|| panic!("RAMPART_MESH_FAILOVER_KILLED={v}: 0 to {}", NODES - 1)),
        Err(_) => (RandomState::new().hash_one(std::process::id()) % NODES as u64) as usize,
    }
}

// === UDP flows ===

/// UDP flows by default: 40 on each of the 12 ordered pairs of paths,
/// a few seconds of the test's time.
const UDP_FLOWS: usize = 480;
/// At most: their client ports, from `UDP_BASE_PORT` up, 10,000 per
/// pair, stay below the kernel's ephemeral range (32,768 up).
const MAX_UDP_FLOWS: usize = 120_000;
/// The client port of a pair's first UDP flow.
const UDP_BASE_PORT: u16 = 20_000;
/// The server's UDP port, on each of its pair addresses.
const UDP_PORT: u16 = 5003;
/// Client sockets open at once (each flow's socket is closed after its
/// exchange and bound to the same port for the next).
const UDP_WINDOW: usize = 512;
/// How long each send waits for its echo before the request is sent
/// again: as TCP resends a segment lost on a path, a request or echo
/// lost in flight, or dropped while no survivor held the flow yet, is
/// resent.
const UDP_REPLY_WAIT: Duration = Duration::from_secs(1);
/// How long one flow may go unanswered, resent every `UDP_REPLY_WAIT`,
/// before it counts as lost: the connections' bound, `AFTER_LIMIT`.
const UDP_ANSWER_LIMIT: Duration = AFTER_LIMIT;
/// How long one exchange on every UDP flow may take in all (flows not
/// tried by then count as unanswered).
const UDP_LIMIT: Duration = Duration::from_secs(120);

fn udp_flow_count() -> usize {
    let n = std::env::var("RAMPART_MESH_FAILOVER_UDP_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(UDP_FLOWS);
    assert!(
        n <= MAX_UDP_FLOWS,
        "RAMPART_MESH_FAILOVER_UDP_FLOWS={n}: at most {MAX_UDP_FLOWS}"
    );
    n
}

/// A UDP flow: its pair of paths and its client port (the server's is
/// `UDP_PORT`).
#[derive(Debug, Clone, Copy)]
struct UdpFlow {
    id: usize,
    flow: Flow,
    port: u16,
}

/// `n` UDP flows spread over every ordered pair of distinct nodes: each
/// pair's flows differ by client port.
fn udp_flows(n: usize) -> Vec<UdpFlow> {
    let pairs: Vec<Flow> = (0..NODES)
        .flat_map(|fwd| (0..NODES).map(move |ret| Flow { fwd, ret }))
        .filter(|f| f.fwd != f.ret)
        .collect();
    (0..n)
        .map(|id| UdpFlow {
            id,
            flow: pairs[id % pairs.len()],
            port: UDP_BASE_PORT + (id / pairs.len()) as u16,
        })
        .collect()
}

/// What one exchange on every UDP flow found.
#[derive(Debug, Default)]
struct UdpOutcome {
    /// Flows not answered within `UDP_ANSWER_LIMIT` or by the deadline.
    unanswered: Vec<UdpFlow>,
    /// Flows answered only after a resend.
    resent: usize,
    /// The longest any answered flow took, from its first send.
    slowest: Duration,
}

/// One request tagged `tag` and its echo on each of `flows`, from the
/// client's namespace (this thread is in it), `UDP_WINDOW` flows at a
/// time, the request resent every `UDP_REPLY_WAIT` until answered, for
/// at most `UDP_ANSWER_LIMIT` and all by `deadline`. A client port that
/// cannot be bound is an error: the flow would not be the one the nodes
/// hold.
fn exchange_udp(flows: &[UdpFlow], tag: &str, deadline: Instant) -> Result<UdpOutcome, String> {
    let mut out = UdpOutcome::default();
    for window in flows.chunks(UDP_WINDOW) {
        let socks = window
            .iter()
            .map(|f| {
                let s = UdpSocket::bind((f.flow.client(), f.port))
                    .map_err(|e| format!("binding {}:{}: {e}", f.flow.client(), f.port))?;
                s.connect((f.flow.server(), UDP_PORT))
                    .and_then(|()| s.set_nonblocking(true))
                    .map_err(|e| format!("UDP socket of {f:?}: {e}"))?;
                Ok(s)
            })
            .collect::<Result<Vec<_>, String>>()?;
        let msg = |w: usize| message(&format!("{tag} udp {}", window[w].id));
        let mut pending: Vec<usize> = (0..window.len()).collect();
        let t0 = Instant::now();
        let give_up = (t0 + UDP_ANSWER_LIMIT).min(deadline);
        let mut sends = 0;
        while !pending.is_empty() && Instant::now() < give_up {
            let waiting = pending.len();
            for &w in &pending {
                // A failed send stays pending, to be sent again.
                let _ = socks[w].send(&msg(w));
            }
            sends += 1;
            let until = (Instant::now() + UDP_REPLY_WAIT).min(give_up);
            while !pending.is_empty() && Instant::now() < until {
                let before = pending.len();
                let mut buf = [0u8; 2 * MSG];
                // Any send's echo answers the flow (they are alike); an
                // error or a foreign datagram leaves it pending.
                pending.retain(
                    |&w| !matches!(socks[w].recv(&mut buf), Ok(n) if buf[..n] == msg(w)[..]),
                );
                if pending.len() < before {
                    out.slowest = out.slowest.max(t0.elapsed());
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            if sends > 1 {
                out.resent += waiting - pending.len();
            }
        }
        out.unanswered.extend(pending.iter().map(|&w| window[w]));
    }
    Ok(out)
}

/// A UDP echo server in the server's namespace: one socket on
/// `UDP_PORT` of each of its pair addresses (so an echo leaves from the
/// address the client sent to, and the server's source rule picks the
/// flow's return node). Stopped and joined on drop.
struct UdpEcho {
    stop: Arc<AtomicBool>,
    thread: Option<NsThread<()>>,
}

impl UdpEcho {
    fn start(ns: &Netns, flows: &[UdpFlow]) -> UdpEcho {
        let addrs: std::collections::BTreeSet<std::net::Ipv4Addr> =
            flows.iter().map(|f| f.flow.server()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&stop);
        let (bound, ready) = std::sync::mpsc::channel();
        let thread = ns
            .spawn(move || {
                let socks: Result<Vec<UdpSocket>, String> = addrs
                    .iter()
                    .map(|a| {
                        let s = UdpSocket::bind((*a, UDP_PORT))
                            .map_err(|e| format!("binding {a}:{UDP_PORT}: {e}"))?;
                        s.set_nonblocking(true).map_err(|e| e.to_string())?;
                        Ok(s)
                    })
                    .collect();
                let socks = match socks {
                    Ok(s) => {
                        let _ = bound.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = bound.send(Err(e));
                        return;
                    }
                };
                let mut buf = [0u8; 2048];
                while !done.load(Ordering::Relaxed) {
                    let mut idle = true;
                    for s in &socks {
                        while let Ok((n, from)) = s.recv_from(&mut buf) {
                            idle = false;
                            let _ = s.send_to(&buf[..n], from);
                        }
                    }
                    if idle {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
            .expect("namespace thread");
        let echo = UdpEcho {
            stop,
            thread: Some(thread),
        };
        match ready.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => echo,
            Ok(Err(e)) => panic!("UDP echo server: {e}"),
            Err(_) => panic!("UDP echo server: not bound within 10 s"),
        }
    }
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// === TCP connections ===

fn conns() -> usize {
    std::env::var("RAMPART_MESH_FAILOVER_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// The echo server process in the server's namespace; stopped (stdin
/// closed, then SIGKILL by PID) on drop.
struct Echo(Option<std::process::Child>);

impl Echo {
    fn start(ns: &Netns) -> Echo {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new("ip")
            .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_echod")])
            .args(["--port", &PORT.to_string(), "--conns", &conns().to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("echo server process");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if line == "listening" {
                    let _ = tx.send(());
                }
            }
        });
        let echo = Echo(Some(child));
        rx.recv_timeout(Duration::from_secs(20))
            .expect("echo server listening");
        echo
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            drop(c.stdin.take());
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(5) {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A message of `MSG` bytes naming `tag`.
fn message(tag: &str) -> Vec<u8> {
    let mut msg = format!("{tag:<width$}", width = MSG).into_bytes();
    msg.truncate(MSG);
    msg
}

/// One message and its echo on `s`.
fn exchange(s: &mut TcpStream, tag: &str) -> bool {
    let msg = message(tag);
    if s.write_all(&msg).is_err() {
        return false;
    }
    let mut back = [0u8; MSG];
    s.read_exact(&mut back).is_ok() && back[..] == msg[..]
}

/// Open a connection of `flow` from the client's namespace (this thread
/// is in it) and exchange a message, each step within `STEP_LIMIT` and
/// all by `deadline`.
fn open(flow: Flow, i: usize, deadline: Instant) -> Result<TcpStream, String> {
    // What is left of the phase, capped at a step's limit (a zero timeout
    // is an error to the socket calls).
    let left = || {
        Some(
            deadline
                .saturating_duration_since(Instant::now())
                .min(STEP_LIMIT),
        )
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("not done when the open phase's {OPEN_LIMIT:?} ran out"))
    };
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| format!("socket: {e}"))?;
    sock.bind(&SocketAddr::from((flow.client(), 0)).into())
        .map_err(|e| format!("bind: {e}"))?;
    let to = SocketAddr::from((flow.server(), PORT));
    sock.connect_timeout(&to.into(), left()?)
        .map_err(|e| format!("connect: {e}"))?;
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(left()?))
        .map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    if exchange(&mut s, &format!("open {i}")) {
        Ok(s)
    } else {
        Err("no echo".into())
    }
}

/// The nodes, killed by PID when dropped (a failed test leaves none).
struct Procs(Vec<Option<NodeProc>>);

impl Drop for Procs {
    fn drop(&mut self) {
        for p in self.0.iter_mut().filter_map(Option::take) {
            let _ = p.kill();
        }
    }
}

#[test]
fn every_established_flow_survives_the_death_of_a_node_drawn_from_four() {
    if !is_root() {
        eprintln!("skipped: the mesh failover test needs root (namespaces, AF_PACKET)");
        return;
    }
    raise_fd_limit(conns() as u64 + 1024);
    let killed = victim();
    eprintln!(
        "killing node {killed} (fw-{}); RAMPART_MESH_FAILOVER_KILLED={killed} replays this choice",
        ["a", "b", "c", "d"][killed]
    );
    let prefix = format!("rp-mf{}", std::process::id());
    let lab = MeshLab::new(&prefix, NodeCount::new(NODES).expect("2-6 nodes")).expect("mesh");
    let dir = std::env::temp_dir().join(format!("rampart-mesh-failover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&lab, &dir, killed)));
    let _ = std::fs::remove_dir_all(&dir);
    drop(lab);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// The run with node `killed` killed, its paths moved to the next node.
fn run(lab: &MeshLab, dir: &std::path::Path, killed: usize) {
    let takeover = (killed + 1) % NODES;
    std::fs::write(dir.join("policy.cfg"), POLICY).expect("policy");
    rampart_cluster::pki::init_ca(dir).expect("ca");
    let specs: Vec<NodeSpec> = (0..NODES).map(|i| mesh_node(i, 1)).collect();
    let exe = common::rampart_exe();
    let mut procs = Procs(Vec::new());
    for (me, ns) in specs.iter().zip(&lab.nodes) {
        // No Raft: each node runs its own policy file.
        let file = write_config(dir, me, &specs, "forward_before_join = true").expect("node file");
        procs.0.push(Some(
            NodeProc::start(ns, &exe, &file, me.name).expect("start node"),
        ));
    }
    for p in procs.0.iter_mut().flatten() {
        p.wait_ready(READY_LIMIT).expect("node ready");
    }
    wait_peers_up(&procs);
    let echo = Echo::start(&lab.server);
    let udp = udp_flows(udp_flow_count());
    let udp_echo = UdpEcho::start(&lab.server, &udp);

    // Open every connection, a message each way on each.
    let n = conns();
    let mut rng = SEED;
    let flows = plan(&mut rng, NodeCount::new(NODES).unwrap(), n, false);
    let retrans0 = syn_retransmits(&lab.client) + syn_retransmits(&lab.server);
    let t0 = Instant::now();
    let deadline = t0 + OPEN_LIMIT;
    let mut threads = Vec::new();
    for t in 0..CLIENT_THREADS {
        let mine: Vec<(usize, Flow)> = flows
            .iter()
            .copied()
            .enumerate()
            .filter(|(i, _)| i % CLIENT_THREADS == t)
            .collect();
        threads.push(
            lab.client
                .spawn(move || {
                    mine.into_iter()
                        .map(|(i, f)| (i, f, open(f, i, deadline)))
                        .collect::<Vec<_>>()
                })
                .expect("client thread"),
        );
    }
    let mut opened: Vec<(usize, Flow, Result<TcpStream, String>)> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect();
    let took = t0.elapsed();
    let retrans = syn_retransmits(&lab.client) + syn_retransmits(&lab.server) - retrans0;
    let failed: Vec<(usize, Flow, String)> = opened
        .iter()
        .filter_map(|(i, f, s)| s.as_ref().err().map(|e| (*i, *f, e.clone())))
        .collect();
    eprintln!(
        "{n} asymmetric connections over {NODES} nodes in {took:?}: {} failed, {retrans} SYN retransmissions",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "connections that failed: {:?}",
        &failed[..failed.len().min(20)]
    );
    assert_eq!(retrans, 0, "SYN retransmissions");

    // Every UDP flow answered once: its state on the nodes before the
    // kill (a flow that fails here is not lost to the kill).
    let t = Instant::now();
    let before_udp = udp_outcome(exchange_on(lab, &udp, "before"));
    eprintln!(
        "{} UDP flows answered in {:?}, {} after a resend (slowest {:?})",
        udp.len() - before_udp.unanswered.len(),
        t.elapsed(),
        before_udp.resent,
        before_udp.slowest
    );
    assert!(
        before_udp.unanswered.is_empty(),
        "UDP flows not answered before the kill: {} of {}, {:?}",
        before_udp.unanswered.len(),
        udp.len(),
        &before_udp.unanswered[..before_udp.unanswered.len().min(20)]
    );
    if !udp.is_empty() {
        // Let the inserts reach directors and backups.
        std::thread::sleep(Duration::from_secs(3));
        report_drops(&procs, &specs);
    }

    // Half the connections send their next message now, so that the kill
    // lands under traffic: their segments and echoes are on the wire, some
    // through the node about to die (lost there, resent by TCP on the new
    // path). The other half send once the routes have moved.
    let mut sent_before = Vec::new();
    for (i, _, s) in opened.iter_mut().filter(|(i, _, _)| i % 2 == 0) {
        let msg = message(&format!("after {i}"));
        let wrote = s
            .as_mut()
            .map(|s| s.write_all(&msg).is_ok())
            .unwrap_or(false);
        sent_before.push((*i, wrote));
    }

    // Kill one node; move both hosts' routes through it at once.
    let victim = procs.0[killed].as_ref().expect("running").pid();
    let (c, s) = (lab.client.name().to_string(), lab.server.name().to_string());
    let table = (100 + killed).to_string();
    let net = takeover + 1;
    let letter = ["a", "b", "c", "d"][takeover];
    let t_kill = Instant::now();
    // SAFETY: the PID of our own child, not yet reaped.
    assert_eq!(
        unsafe { libc::kill(victim as libc::pid_t, libc::SIGKILL) },
        0
    );
    sh(&[
        "ip",
        "-n",
        &c,
        "route",
        "replace",
        "198.18.20.0/24",
        "via",
        &format!("198.18.{net}.20"),
        "dev",
        &format!("c{letter}0"),
        "table",
        &table,
    ])
    .expect("move the client's route");
    sh(&[
        "ip",
        "-n",
        &s,
        "route",
        "replace",
        "198.18.10.0/24",
        "via",
        &format!("198.18.{net}.10"),
        "dev",
        &format!("{letter}s0"),
        "table",
        &table,
    ])
    .expect("move the server's route");
    let moved_in = t_kill.elapsed();
    let _ = procs.0[killed].take().map(NodeProc::kill);
    let through = opened
        .iter()
        .filter(|(_, f, _)| f.fwd == killed || f.ret == killed)
        .count();
    assert!(
        through > 0,
        "no connection had a path through the node killed"
    );

    // Every UDP flow is answered again, from the same ports, while the
    // connections below exchange their messages.
    let udp_after = exchange_on(lab, &udp, "after");
    // Every connection exchanges a message again: all messages first,
    // then every echo, within one bound for all.
    let t1 = Instant::now();
    let deadline = t1 + AFTER_LIMIT;
    let mut lost = Vec::new();
    let mut waiting = Vec::new();
    let before: std::collections::HashMap<usize, bool> = sent_before.into_iter().collect();
    for (i, f, s) in &mut opened {
        let mut s = std::mem::replace(s, Err(String::new())).expect("open");
        let msg = message(&format!("after {i}"));
        let wrote = match before.get(i) {
            Some(&wrote) => wrote,
            None => s.write_all(&msg).is_ok(),
        };
        if wrote {
            waiting.push((*i, *f, msg, s));
        } else {
            lost.push((*i, *f));
        }
    }
    for (i, f, msg, mut s) in waiting {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let mut back = [0u8; MSG];
        let ok = s.set_read_timeout(Some(left)).is_ok()
            && s.read_exact(&mut back).is_ok()
            && back[..] == msg[..];
        if !ok {
            lost.push((i, f));
        }
    }
    eprintln!(
        "{} killed (routes moved {moved_in:?} after the signal); {through} connections had a path through it; after: {} of {n} lost, checked in {:?}",
        specs[killed].name,
        lost.len(),
        t1.elapsed()
    );

    let after_udp = udp_outcome(udp_after);
    let udp_through = udp
        .iter()
        .filter(|f| f.flow.fwd == killed || f.flow.ret == killed)
        .count();
    eprintln!(
        "UDP: {udp_through} of {} flows had a path through {}; after: {} unanswered within {UDP_ANSWER_LIMIT:?}, {} answered after a resend (slowest {:?})",
        udp.len(),
        specs[killed].name,
        after_udp.unanswered.len(),
        after_udp.resent,
        after_udp.slowest
    );
    report_drops(&procs, &specs);
    assert!(
        lost.is_empty(),
        "connections lost to the death of {}: {:?}",
        specs[killed].name,
        &lost[..lost.len().min(20)]
    );
    assert!(
        after_udp.unanswered.is_empty(),
        "UDP flows lost to the death of {}: {} of {}, {:?}",
        specs[killed].name,
        after_udp.unanswered.len(),
        udp.len(),
        &after_udp.unanswered[..after_udp.unanswered.len().min(20)]
    );
    assert!(
        udp.is_empty() || udp_through > 0,
        "no UDP flow had a path through the node killed"
    );
    drop(udp_echo);
    drop(echo);
}

/// [`exchange_udp`] on `flows` in a thread in the client's namespace,
/// within `UDP_LIMIT`.
fn exchange_on(
    lab: &MeshLab,
    flows: &[UdpFlow],
    tag: &'static str,
) -> NsThread<Result<UdpOutcome, String>> {
    let flows = flows.to_vec();
    let deadline = Instant::now() + UDP_LIMIT;
    lab.client
        .spawn(move || exchange_udp(&flows, tag, deadline))
        .expect("udp thread")
}

/// The outcome of [`exchange_on`]; panics if a client port could not be
/// bound.
fn udp_outcome(t: NsThread<Result<UdpOutcome, String>>) -> UdpOutcome {
    t.join()
        .expect("udp thread")
        .unwrap_or_else(|e| panic!("UDP flows: {e}"))
}

/// Wait until every running node sees every other up.
fn wait_peers_up(procs: &Procs) {
    let t0 = Instant::now();
    for p in procs.0.iter().flatten() {
        loop {
            let up = p
                .cluster()
                .map(|v| v.status.peers.iter().filter(|s| s.state == "up").count())
                .unwrap_or(0);
            if up == NODES - 1 {
                break;
            }
            assert!(t0.elapsed() < READY_LIMIT, "{}: peers not up", p.name());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Each running node's non-zero drop and hold counters, on stderr.
fn report_drops(procs: &Procs, specs: &[NodeSpec]) {
    for (k, p) in procs.0.iter().enumerate() {
        if let Some(p) = p {
            let m = p.metrics().unwrap_or_default();
            let lines: Vec<&str> = m
                .lines()
                .filter(|l| {
                    !l.starts_with('#')
                        && (l.starts_with("rampart_drops_total")
                            || l.starts_with("rampart_sync_held")
                            || l.starts_with("rampart_sync_pulls")
                            || l.starts_with("rampart_sync_gaps")
                            || l.starts_with("rampart_sync_bulk_requested")
                            || l.starts_with("rampart_sync_rebalance")
                            || l.starts_with("rampart_sync_events_dropped")
                            || l.starts_with("rampart_cluster_link_connections")
                            || l.contains("refused")
                            || l.starts_with("rampart_conntrack_entries"))
                        && !l.ends_with(" 0")
                })
                .collect();
            eprintln!("{}: {lines:?}", specs[k].name);
        }
    }
}
