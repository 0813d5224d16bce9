//! Issue 15's failover acceptance on real processes: a mesh of N = 4
//! nodes with `copies = 2` (the default), CONNS asymmetric inspected TCP
//! connections, each out through one node and back through another drawn
//! at random (a fixed seed), all opened and each exchanging a message: 0
//! failed, 0 SYN retransmissions. Then one node is killed with SIGKILL and
//! at the same instant both hosts' routes through it move to the next
//! node (as a router's would), and every connection exchanges a message
//! again (half of them sent just before the kill, so that it lands under
//! traffic): none may be lost, whether the dead node was its owner, its
//! director, a copy or on its path (docs/sync.md §13).
//!
//! CONNS is 10,000 (`RAMPART_MESH_FAILOVER_CONNS` sets another count).
//! `RAMPART_MESH_FAILOVER_UDP_FLOWS=N` (default 0) also fills the tables
//! with N idle UDP flows over the same paths before the kill, so that the
//! survivors re-replicate a table of that size while the connections'
//! segments wait for their state (docs/sync.md §13, membership changes).
//! The echo server is `echod`, a process of its own in the server's
//! namespace: both ends of 10,000 connections in one process would pass
//! this machine's hard limit of 20,000 descriptors. Needs root (CI is
//! root); skipped with a message otherwise. Namespaces `rmf<pid>-…`,
//! removed on exit, also on failure; the nodes and `echod` are this
//! test's children, stopped by PID.
#![cfg(target_os = "linux")]
// Tests bound their waits with the wall clock.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rampart_node::lab::mesh::topology::{MeshLab, NodeCount, mesh_node};
use rampart_node::lab::mesh::traffic::{Flow, plan};
use rampart_node::lab::proc::{NodeProc, NodeSpec, write_config};
use rampart_node::lab::{Netns, POLICY, is_root, raise_fd_limit, sh, syn_retransmits};
use socket2::{Domain, Socket, Type};

const NODES: usize = 4;
/// The node killed (fw-c): neither the first nor the last.
const KILLED: usize = 2;
/// Where its paths move: the next node.
const TAKEOVER: usize = 3;
const PORT: u16 = 5001;
const SEED: u64 = 0x15_f417;
/// Bytes of each message (and of its echo).
const MSG: usize = 32;
/// Client threads, each opening its share of the connections in turn.
const CLIENT_THREADS: usize = 4;
const READY_LIMIT: Duration = Duration::from_secs(30);
/// How long all echoes after the kill may take together.
const AFTER_LIMIT: Duration = Duration::from_secs(30);

fn udp_flows() -> usize {
    std::env::var("RAMPART_MESH_FAILOVER_UDP_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// First destination port of the idle UDP flows.
const UDP_BASE_PORT: u16 = 20_000;

/// Send one datagram for each of `n` UDP flows, spread over every
/// asymmetric pair of addresses, from the client's namespace (this
/// thread is in it): each pair's flows differ by destination port. Paced
/// at about 50,000 datagrams a second so the nodes' rings keep up.
fn spray_udp(n: usize) -> usize {
    let pairs: Vec<Flow> = (0..NODES)
        .flat_map(|fwd| (0..NODES).map(move |ret| Flow { fwd, ret }))
        .filter(|f| f.fwd != f.ret)
        .collect();
    let per_pair = n
        .div_ceil(pairs.len())
        .min(usize::from(u16::MAX - UDP_BASE_PORT));
    let mut sent = 0;
    for f in pairs {
        let Ok(sock) = std::net::UdpSocket::bind(SocketAddr::from((f.client(), 0))) else {
            continue;
        };
        for k in 0..per_pair {
            let port = UDP_BASE_PORT + k as u16;
            if sock
                .send_to(b"idle", SocketAddr::from((f.server(), port)))
                .is_ok()
            {
                sent += 1;
            }
            if sent % 1000 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            if sent >= n {
                return sent;
            }
        }
    }
    sent
}

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
/// is in it) and exchange a message.
fn open(flow: Flow, i: usize) -> Result<TcpStream, String> {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| format!("socket: {e}"))?;
    sock.bind(&SocketAddr::from((flow.client(), 0)).into())
        .map_err(|e| format!("bind: {e}"))?;
    let to = SocketAddr::from((flow.server(), PORT));
    sock.connect_timeout(&to.into(), Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5)))
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
fn every_established_flow_survives_the_death_of_any_node_of_four() {
    if !is_root() {
        eprintln!("skipped: the mesh failover test needs root (namespaces, AF_PACKET)");
        return;
    }
    raise_fd_limit(conns() as u64 + 1024);
    let prefix = format!("rmf{}", std::process::id() % 100_000);
    let lab = MeshLab::new(&prefix, NodeCount::new(NODES).expect("2-6 nodes")).expect("mesh");
    let dir = std::env::temp_dir().join(format!("rampart-mesh-failover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&lab, &dir)));
    let _ = std::fs::remove_dir_all(&dir);
    drop(lab);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn run(lab: &MeshLab, dir: &std::path::Path) {
    std::fs::write(dir.join("policy.cfg"), POLICY).expect("policy");
    rampart_cluster::pki::init_ca(dir).expect("ca");
    let specs: Vec<NodeSpec> = (0..NODES).map(|i| mesh_node(i, 1)).collect();
    let exe = common::rampart_exe();
    let mut procs = Procs(Vec::new());
    for (me, ns) in specs.iter().zip(&lab.nodes) {
        let file = write_config(dir, me, &specs, "").expect("node file");
        procs.0.push(Some(
            NodeProc::start(ns, &exe, &file, me.name).expect("start node"),
        ));
    }
    for p in procs.0.iter_mut().flatten() {
        p.wait_ready(READY_LIMIT).expect("node ready");
    }
    wait_peers_up(&procs);
    let echo = Echo::start(&lab.server);

    // Open every connection, a message each way on each.
    let n = conns();
    let mut rng = SEED;
    let flows = plan(&mut rng, NodeCount::new(NODES).unwrap(), n, false);
    let retrans0 = syn_retransmits(&lab.client) + syn_retransmits(&lab.server);
    let t0 = Instant::now();
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
                        .map(|(i, f)| (i, f, open(f, i)))
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

    let idle = udp_flows();
    if idle > 0 {
        let t = Instant::now();
        let sent = lab
            .client
            .spawn(move || spray_udp(idle))
            .expect("udp thread")
            .join()
            .expect("udp thread");
        // Let the inserts reach directors and backups.
        std::thread::sleep(Duration::from_secs(3));
        eprintln!("{sent} idle UDP flows sent in {:?}", t.elapsed());
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
    let victim = procs.0[KILLED].as_ref().expect("running").pid();
    let (c, s) = (lab.client.name().to_string(), lab.server.name().to_string());
    let table = (100 + KILLED).to_string();
    let net = TAKEOVER + 1;
    let letter = ["a", "b", "c", "d"][TAKEOVER];
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
    let _ = procs.0[KILLED].take().map(NodeProc::kill);
    let through = opened
        .iter()
        .filter(|(_, f, _)| f.fwd == KILLED || f.ret == KILLED)
        .count();
    assert!(
        through > 0,
        "no connection had a path through the node killed"
    );

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
        specs[KILLED].name,
        lost.len(),
        t1.elapsed()
    );
    report_drops(&procs, &specs);
    assert!(
        lost.is_empty(),
        "connections lost to the death of {}: {:?}",
        specs[KILLED].name,
        &lost[..lost.len().min(20)]
    );
    drop(echo);
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
