//! A node joins a running cluster through Raft alone (issue 15): A and B
//! run with files that name only each other; C's file names them as its
//! seeds. Once `rampart cluster join` on A adds C, C is admitted by every
//! member's transport (they follow the Raft membership), syncs with both,
//! receives its share of the table in bulk, and carries asymmetric
//! inspected traffic with A and with B on either side of it. Real node
//! processes in the mesh lab's namespaces (docs/sync.md §13); root only.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rampart_node::lab::mesh::traffic::{Flow, tcp_kind};
use rampart_node::lab::mesh::{MeshLab, NodeCount, mesh_node};
use rampart_node::lab::{BYPASS_5002_POLICY, NodeProc, NodeSpec, SYNC_PORT, is_root, write_config};
use rampart_ops::model::AWAITING_CLUSTER_POLICY;

/// Never set: the test's flows are bounded by count and time instead.
static STOP: AtomicBool = AtomicBool::new(false);

fn rampart(ns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_rampart")])
        .args(args)
        .output()
        .expect("run rampart")
}

/// Peers `p` sees up.
fn peers_up(p: &NodeProc) -> usize {
    p.cluster().map_or(0, |v| {
        v.status.peers.iter().filter(|s| s.state == "up").count()
    })
}

fn eventually(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    ok()
}

/// `count` connections on each of `pairs` (forward node, return node).
fn flows(pairs: &[(usize, usize)], count: usize) -> Vec<Flow> {
    (0..count)
        .flat_map(|_| pairs.iter().map(|&(fwd, ret)| Flow { fwd, ret }))
        .collect()
}

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn file(dir: &Path, me: &NodeSpec, peers: &[NodeSpec], extra: &str) -> PathBuf {
    write_config(dir, me, peers, extra).expect("node file")
}

#[test]
fn a_node_joined_through_raft_alone_gets_state_and_carries_asymmetric_traffic() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let prefix = format!("rp-j{}", std::process::id());
    let lab = MeshLab::new(&prefix, NodeCount::new(3).expect("3 nodes")).expect("mesh lab");
    let dir = Dir(std::env::temp_dir().join(format!("rampart-join-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join("policy.cfg"), BYPASS_5002_POLICY).unwrap();
    rampart_cluster::pki::init_ca(&dir.0).expect("ca");
    let specs: Vec<NodeSpec> = (0..3).map(|i| mesh_node(i, 1)).collect();
    // A and B name only each other; A starts the policy log. C names both.
    let fa = file(&dir.0, &specs[0], &specs[..2], "bootstrap = true");
    let fb = file(&dir.0, &specs[1], &specs[..2], "");
    let fc = file(&dir.0, &specs[2], &specs, "");
    for f in [&fa, &fb] {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(!text.contains("fw-c"), "A and B know nothing of C: {text}");
    }
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_rampart"));
    let mut a = NodeProc::start(&lab.nodes[0], &exe, &fa, "fw-a").expect("start A");
    let mut b = NodeProc::start(&lab.nodes[1], &exe, &fb, "fw-b").expect("start B");
    a.wait_ready(Duration::from_secs(20)).expect("A ready");
    // B forwards nothing until it is joined: it has no policy of its own.
    b.wait_joinable(Duration::from_secs(20)).expect("B up");
    let why = b.health().expect("B's /readyz").reasons;
    assert!(
        why.iter().any(|r| r.starts_with(AWAITING_CLUSTER_POLICY)),
        "B waits for the cluster's policy: {why:?}"
    );
    assert!(eventually(Duration::from_secs(10), || peers_up(&a) == 1
        && peers_up(&b) == 1));
    // B joins the policy log too (A's file names it).
    let o = rampart(
        lab.nodes[0].name(),
        &[
            "cluster",
            "join",
            "--id",
            "2",
            "--config",
            fa.to_str().unwrap(),
        ],
    );
    assert!(
        o.status.success(),
        "join B: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    b.wait_ready(Duration::from_secs(20))
        .expect("B ready once joined");

    // Connections between A and B before C exists: C's share of them must
    // reach it in bulk once it joins.
    let before = tcp_kind(
        &lab,
        "before",
        flows(&[(0, 1), (1, 0)], 60),
        5001,
        2048,
        Duration::from_secs(60),
        &STOP,
    )
    .expect("traffic before the join");
    assert_eq!(before.report.failed, 0, "{:?}", before.failed);
    assert_eq!(
        (before.report.attempted, before.report.succeeded),
        (120, 120),
        "every connection before the join"
    );

    // C starts; A and B refuse it until Raft names it. C answering its
    // admin API shows it is up and trying; the members' own view shows
    // they keep it out.
    let mut c = NodeProc::start(&lab.nodes[2], &exe, &fc, "fw-c").expect("start C");
    assert!(
        eventually(Duration::from_secs(10), || c.cluster().is_ok()),
        "C answers before the join"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(peers_up(&c), 0, "no member admits C before the join");
    assert_eq!(
        (peers_up(&a), peers_up(&b)),
        (1, 1),
        "A and B see only each other before the join"
    );
    let address = format!("{}:{SYNC_PORT}", specs[2].sync);
    let o = rampart(
        lab.nodes[0].name(),
        &[
            "cluster",
            "join",
            "--id",
            "3",
            "--name",
            "fw-c",
            "--address",
            &address,
            "--config",
            fa.to_str().unwrap(),
        ],
    );
    assert!(
        o.status.success(),
        "join: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    c.wait_ready(Duration::from_secs(30)).expect("C ready");
    assert!(
        eventually(Duration::from_secs(20), || peers_up(&c) == 2
            && peers_up(&a) == 2
            && peers_up(&b) == 2),
        "every member syncs with C: A {} B {} C {}\nB: {}\nC: {}",
        peers_up(&a),
        peers_up(&b),
        peers_up(&c),
        b.output(),
        c.output()
    );
    assert!(
        eventually(Duration::from_secs(20), || c.conn_count().unwrap_or(0) > 0),
        "C received its share of the connections made before it joined"
    );
    let received = c.conn_count().unwrap_or(0);

    // Asymmetric connections with C on one side or the other.
    let after = tcp_kind(
        &lab,
        "after",
        flows(&[(2, 0), (0, 2), (2, 1), (1, 2)], 40),
        5001,
        2048,
        Duration::from_secs(60),
        &STOP,
    )
    .expect("traffic after the join");
    eprintln!(
        "C received {received} entries in bulk; after the join {} of {} connections through C passed",
        after.report.succeeded, after.report.attempted
    );
    assert_eq!(after.report.attempted, 160);
    assert_eq!(after.report.failed, 0, "{:?}", after.failed);

    // `cluster remove` takes C out of Raft and of the sync layer: A and B
    // no longer list it among their peers at all (not even as down).
    let o = rampart(
        lab.nodes[0].name(),
        &[
            "cluster",
            "remove",
            "--id",
            "3",
            "--config",
            fa.to_str().unwrap(),
        ],
    );
    assert!(
        o.status.success(),
        "remove: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let lists_c = |p: &NodeProc| {
        p.cluster()
            .map_or(true, |v| v.status.peers.iter().any(|s| s.id == 3))
    };
    assert!(
        eventually(Duration::from_secs(20), || !lists_c(&a) && !lists_c(&b)),
        "A and B forget C: A {:?}\nB {:?}",
        a.cluster().map(|v| v.status.peers),
        b.cluster().map(|v| v.status.peers)
    );
    drop((a, b, c));
}
