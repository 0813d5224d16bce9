//! `shun` on a Raft pair with asymmetric paths (docs/asa-behaviour.md
//! §2.12): the client's datagrams cross node A, the server's replies node
//! B. A shun of the client given on node B is committed through the
//! policy log and drops the client's datagrams on node A, its established
//! flow's included, and counts them there (`show shun statistics`);
//! datagrams *to* the client still pass. A shun naming the flow removes
//! it from both nodes' tables; `no shun` on node A lets the client
//! through again. Needs root; builds and removes its own namespaces.
#![cfg(target_os = "linux")]
// The test waits on wall-clock deadlines for processes it started.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rampart_node::lab::proc::{ScratchDir, cli_output, form_raft};
use rampart_node::lab::{
    ASYM_CLIENT, ASYM_SERVER, AsymLab, NodeProc, NodeSpec, asym_node, is_root, write_config,
};
use rampart_ops::shun::ShunList;

const NODES: [NodeSpec; 2] = [asym_node(0, 2), asym_node(1, 2)];
const PORT: u16 = 5300;
/// The longest one `rampart` command may take before it is killed by PID.
const CLI_LIMIT: Duration = Duration::from_secs(30);
/// How long a change may take to be in force on the other node.
const APPLY_LIMIT: Duration = Duration::from_secs(10);
/// Datagrams per burst.
const BURST: u64 = 10;

const POLICY: &str = "\
access-list OUT extended permit udp any any eq 5300
access-group OUT in interface outside
";

/// `rampart <args> --config <file>` in namespace `ns`, bounded by
/// `CLI_LIMIT`: its stdout, or a panic with what it said.
fn rampart(ns: &str, file: &Path, args: &[&str]) -> String {
    let exe = Path::new(env!("CARGO_BIN_EXE_rampart"));
    cli_output(ns, exe, file, args, CLI_LIMIT).unwrap_or_else(|e| panic!("{e}"))
}

fn shuns(node: &NodeProc) -> ShunList {
    node.endpoint()
        .admin(false, |c| c.shuns())
        .unwrap_or_else(|e| panic!("show shun: {e}"))
}

/// Wait (bounded) until `node`'s shun list has `n` shuns.
fn wait_shuns(node: &NodeProc, n: usize) -> ShunList {
    let t0 = Instant::now();
    loop {
        let l = shuns(node);
        if l.shuns.len() == n || t0.elapsed() > APPLY_LIMIT {
            return l;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Datagrams the server sends the client unasked when told to.
const PUSHED: usize = 3;

/// Packets the server received, counted by its thread until `stop`; on
/// `push`, it sends [`PUSHED`] datagrams to the last client it heard.
fn serve(
    lab: &AsymLab,
    stop: Arc<AtomicBool>,
    push: Arc<AtomicBool>,
    got: Arc<AtomicU64>,
) -> rampart_node::lab::NsThread<()> {
    lab.server
        .spawn(move || {
            let mut last = None;
            let s = UdpSocket::bind((ASYM_SERVER, PORT)).expect("bind the server");
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut buf = [0u8; 64];
            // Bounded by the test: at most 120 s.
            let t0 = Instant::now();
            while !stop.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(120) {
                if push.swap(false, Ordering::Relaxed)
                    && let Some(to) = last
                {
                    for _ in 0..PUSHED {
                        let _ = s.send_to(b"unasked", to);
                    }
                }
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    last = Some(from);
                    got.fetch_add(1, Ordering::Relaxed);
                    // The answer goes back through node B.
                    let _ = s.send_to(&buf[..n], from);
                }
            }
        })
        .expect("namespace thread")
}

/// The client's socket (one flow: one source port).
fn client(lab: &AsymLab) -> UdpSocket {
    lab.client
        .run(|| {
            let s = UdpSocket::bind((ASYM_CLIENT, 0)).expect("bind the client");
            s.connect((ASYM_SERVER, PORT)).expect("connect");
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            s
        })
        .expect("namespace thread")
}

/// Send a burst; the answers heard within a second.
fn burst(s: &UdpSocket) -> u64 {
    for i in 0..BURST {
        s.send(&i.to_be_bytes()).expect("send");
    }
    let mut heard = 0;
    let mut buf = [0u8; 64];
    let t0 = Instant::now();
    while heard < BURST && t0.elapsed() < Duration::from_secs(1) {
        if s.recv(&mut buf).is_ok() {
            heard += 1;
        }
    }
    heard
}

#[test]
fn a_shun_given_on_one_node_drops_the_source_on_the_other() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = AsymLab::new(&format!("rp-sh{}", std::process::id())).unwrap();
    // Declared before the nodes: dropped after they are stopped.
    let scratch = ScratchDir::for_cluster("rampart-shun", POLICY).unwrap();
    let dir = scratch.0.clone();
    let exe = Path::new(env!("CARGO_BIN_EXE_rampart"));
    let files: Vec<PathBuf> = NODES
        .iter()
        .map(|me| {
            let extra = if me.id == NODES[0].id {
                "bootstrap = true"
            } else {
                ""
            };
            write_config(&dir, me, &NODES, extra).unwrap()
        })
        .collect();
    let mut procs: Vec<NodeProc> = [&lab.node_a, &lab.node_b]
        .iter()
        .zip(&NODES)
        .zip(&files)
        .map(|((ns, me), f)| NodeProc::start(ns, exe, f, me.name).unwrap())
        .collect();
    procs[0].wait_ready(Duration::from_secs(20)).unwrap();
    procs[1].wait_joinable(Duration::from_secs(20)).unwrap();
    form_raft(
        lab.node_a.name(),
        exe,
        &files[0],
        &[NODES[1].id],
        &[procs[0].endpoint(), procs[1].endpoint()],
    )
    .unwrap();
    let (a, b) = (lab.node_a.name().to_string(), lab.node_b.name().to_string());

    let stop = Arc::new(AtomicBool::new(false));
    let push = Arc::new(AtomicBool::new(false));
    let got = Arc::new(AtomicU64::new(0));
    let server = serve(&lab, stop.clone(), push.clone(), got.clone());
    let c = client(&lab);
    // Before: every datagram crosses A, every answer B.
    assert_eq!(burst(&c), BURST, "answers before the shun");
    assert_eq!(got.load(Ordering::Relaxed), BURST);

    // The shun given on B is in force on A.
    let out = rampart(&b, &files[1], &["shun", ASYM_CLIENT]);
    assert!(out.contains("Shun added"), "{out}");
    let l = wait_shuns(&procs[0], 1);
    assert_eq!(l.shuns.len(), 1, "on A: {l:?}");
    assert_eq!(burst(&c), 0, "nothing answers a shunned client");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        got.load(Ordering::Relaxed),
        BURST,
        "nothing reached the server"
    );
    let stats = rampart(&a, &files[0], &["show", "shun", "stat"]);
    let l = shuns(&procs[0]);
    assert_eq!(l.shuns[0].dropped, BURST, "A counted each: {stats}");
    assert!(stats.contains("inside=ON, cnt=10"), "{stats}");
    assert!(
        stats.contains(&format!("Shun {ASYM_CLIENT} cnt=10")),
        "{stats}"
    );
    assert!(
        rampart(&a, &files[0], &["show", "shun"])
            .contains(&format!("shun {ASYM_CLIENT} 0.0.0.0 0 0 0")),
    );

    // Datagrams *to* the client still pass (through B, on the flow).
    push.store(true, Ordering::Relaxed);
    let mut buf = [0u8; 64];
    let heard = (0..PUSHED).filter(|_| c.recv(&mut buf).is_ok()).count();
    assert_eq!(
        heard, PUSHED,
        "the server's datagrams reach the shunned client"
    );

    // A shun naming the flow removes it from both nodes.
    let flow = |p: &NodeProc| {
        p.conn_count()
            .unwrap_or_else(|e| panic!("show conn count: {e}"))
    };
    assert!(flow(&procs[0]) >= 1 && flow(&procs[1]) >= 1);
    let port = c.local_addr().unwrap().port().to_string();
    let out = rampart(
        &a,
        &files[0],
        &[
            "shun",
            ASYM_CLIENT,
            ASYM_SERVER,
            &port,
            "5300",
            "udp",
            "interface",
            "inside",
        ],
    );
    assert!(out.contains("connection(s) removed on this node"), "{out}");
    wait_shuns(&procs[1], 2);
    let t0 = Instant::now();
    while (flow(&procs[0]), flow(&procs[1])) != (0, 0) && t0.elapsed() < APPLY_LIMIT {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        (flow(&procs[0]), flow(&procs[1])),
        (0, 0),
        "the flow is gone on both"
    );

    // `no shun` of both on A: the client passes again.
    rampart(&a, &files[0], &["no", "shun", ASYM_CLIENT]);
    rampart(
        &a,
        &files[0],
        &["no", "shun", ASYM_CLIENT, "interface", "inside"],
    );
    assert!(
        wait_shuns(&procs[1], 0).shuns.is_empty(),
        "B ended them too"
    );
    assert!(wait_shuns(&procs[0], 0).shuns.is_empty());
    assert_eq!(burst(&c), BURST, "answers after no shun");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    for p in procs {
        let out = p.output();
        p.stop().unwrap_or_else(|e| panic!("{e}: {out}"));
    }
}
