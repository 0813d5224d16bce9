//! `clear conn` is cluster-wide: on a synced pair with asymmetric
//! inspected and tcp-state-bypass connections open (bypass entries are on
//! each node alone, never synced), one `rampart clear conn` on node A
//! empties both nodes' tables, and a filtered one clears only what it
//! names. Needs root.
#![cfg(target_os = "linux")]
// The test waits on wall-clock deadlines for processes it started.
#![allow(clippy::disallowed_methods)]

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rampart_node::lab::proc::{ScratchDir, cli_output};
use rampart_node::lab::{
    ASYM_CLIENT, ASYM_SERVER, AsymLab, BYPASS_5002_POLICY, NodeProc, NodeSpec, asym_node, is_root,
    write_config,
};
use socket2::{Domain, Socket, Type};

/// The nodes, with their connection log (`[ops] conn_log`).
const NODES: [NodeSpec; 2] = [
    NodeSpec {
        conn_log: true,
        ..asym_node(0, 2)
    },
    NodeSpec {
        conn_log: true,
        ..asym_node(1, 1)
    },
];

/// Connections held open per port.
const PER_PORT: usize = 5;

/// The longest one `rampart clear conn` may take (it asks every node
/// over the cluster link, so a hung peer could hold it) before it is
/// killed by its PID.
const CLI_LIMIT: Duration = Duration::from_secs(30);
/// How long the deletes may take to reach the other node by sync.
const SYNC_LIMIT: Duration = Duration::from_secs(10);

/// `rampart <args> --config <file>` in namespace `ns`, bounded by
/// `CLI_LIMIT`: its stdout, or a panic with what it said.
fn rampart(ns: &str, file: &Path, args: &[&str]) -> String {
    let exe = Path::new(env!("CARGO_BIN_EXE_rampart"));
    cli_output(ns, exe, file, args, CLI_LIMIT).unwrap_or_else(|e| panic!("{e}"))
}

/// Connections in use on a node (`show conn count`, its admin API).
fn in_use(node: &NodeProc) -> u64 {
    node.conn_count()
        .unwrap_or_else(|e| panic!("show conn count: {e}"))
}

/// Open `PER_PORT` asymmetric connections to `port` and keep them open
/// (each exchanged one message, so both nodes hold its entry).
fn open(lab: &AsymLab, port: u16) -> Vec<TcpStream> {
    let server = lab
        .server
        .spawn(move || {
            let l = TcpListener::bind((ASYM_SERVER, port)).expect("listen");
            let mut kept = Vec::new();
            for _ in 0..PER_PORT {
                let (mut c, _) = l.accept().expect("accept");
                let mut b = [0u8; 5];
                c.read_exact(&mut b).expect("hello");
                c.write_all(b"olleh").expect("answer");
                kept.push(c);
            }
            // Hold them until the client side closes.
            std::thread::sleep(Duration::from_secs(8));
            drop(kept);
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(100));
    let conns = lab
        .client
        .spawn(move || {
            (0..PER_PORT)
                .map(|_| {
                    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
                    let src: Ipv4Addr = ASYM_CLIENT.parse().unwrap();
                    s.bind(&SocketAddr::from((src, 0)).into()).unwrap();
                    let dst: Ipv4Addr = ASYM_SERVER.parse().unwrap();
                    s.connect_timeout(
                        &SocketAddr::from((dst, port)).into(),
                        Duration::from_secs(5),
                    )
                    .expect("connect");
                    let mut s: TcpStream = s.into();
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    s.write_all(b"hello").unwrap();
                    let mut b = [0u8; 5];
                    s.read_exact(&mut b).expect("answer through both nodes");
                    s
                })
                .collect::<Vec<_>>()
        })
        .expect("namespace thread")
        .join()
        .unwrap();
    drop(server);
    conns
}

#[test]
fn clear_conn_on_one_node_clears_the_whole_cluster() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = AsymLab::new(&format!("rp-cl{}", std::process::id())).unwrap();
    // Declared before the nodes: dropped after they are killed.
    let scratch = ScratchDir::for_cluster("rampart-clear", BYPASS_5002_POLICY).unwrap();
    let dir = scratch.0.clone();
    let exe = Path::new(env!("CARGO_BIN_EXE_rampart"));
    let files: Vec<PathBuf> = NODES
        .iter()
        // No Raft: each node runs its own policy file.
        .map(|me| write_config(&dir, me, &NODES, "forward_before_join = true").unwrap())
        .collect();
    let mut procs: Vec<NodeProc> = [&lab.node_a, &lab.node_b]
        .iter()
        .zip(&NODES)
        .zip(&files)
        .map(|((ns, me), f)| NodeProc::start(ns, exe, f, me.name).unwrap())
        .collect();
    for p in &mut procs {
        p.wait_ready(Duration::from_secs(20)).unwrap();
    }
    let a = lab.node_a.name().to_string();

    let inspected = open(&lab, 5001);
    let bypass = open(&lab, 5002);
    let (na, nb) = (in_use(&procs[0]), in_use(&procs[1]));
    assert!(na >= 2 * PER_PORT as u64, "A holds both kinds: {na}");
    assert!(
        nb >= 2 * PER_PORT as u64,
        "B holds the synced ones and its own bypass entries: {nb}"
    );

    // A filtered clear names one port only.
    let out = rampart(&a, &files[0], &["clear", "conn", "port", "5002"]);
    let n: u64 = out.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        n >= 2 * PER_PORT as u64,
        "bypass entries of both nodes: {out}"
    );
    assert!(!out.contains("WARNING"), "{out}");
    let (ma, mb) = (in_use(&procs[0]), in_use(&procs[1]));
    assert!(
        ma <= na - PER_PORT as u64 && mb <= nb - PER_PORT as u64,
        "{na}->{ma} {nb}->{mb}"
    );
    // And only that port: the inspected connections stay on both nodes.
    assert!(
        ma >= PER_PORT as u64 && mb >= PER_PORT as u64,
        "port 5001 kept: {na}->{ma} {nb}->{mb}"
    );

    // An unfiltered clear on A empties B too.
    let out = rampart(&a, &files[0], &["cle", "conn"]);
    assert!(out.contains("connection(s) deleted."), "{out}");
    // Inspected deletes also travel by sync: wait for them, bounded.
    let t0 = Instant::now();
    let mut left = (in_use(&procs[0]), in_use(&procs[1]));
    while left != (0, 0) && t0.elapsed() < SYNC_LIMIT {
        std::thread::sleep(Duration::from_millis(50));
        left = (in_use(&procs[0]), in_use(&procs[1]));
    }
    assert_eq!(
        left,
        (0, 0),
        "connections in use on (A, B), waited for at most {SYNC_LIMIT:?} after the clear"
    );

    drop(inspected);
    drop(bypass);
    for p in procs {
        p.stop().unwrap();
    }
}
