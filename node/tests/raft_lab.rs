//! The replicated policy with three real `rampart run` processes in
//! network namespaces (issue 6): node A bootstraps the policy log from its
//! policy file, B and C join through `rampart cluster join`; a config
//! written on a follower appears on all three with one version; an
//! invalid one is refused with line and column and changes nothing;
//! killing the leader (SIGKILL) elects another and writes continue; the
//! killed node, restarted from its data directory, catches up on the two
//! writes it missed. Needs root.
#![cfg(target_os = "linux")]
// The test waits on wall-clock deadlines for processes it started.
#![allow(clippy::disallowed_methods)]
// Node i is three parallel things (namespace, node file, process): an
// index reads plainest.
#![allow(clippy::needless_range_loop)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rampart_node::lab::{AsymLab, Endpoint, NodeProc, NodeSpec, asym_node, is_root, write_config};
use rampart_ops::model::ClusterView;

/// The nodes, with their connection log (`[ops] conn_log`).
const NODES: [NodeSpec; 3] = [
    NodeSpec {
        conn_log: true,
        ..asym_node(0, 1)
    },
    NodeSpec {
        conn_log: true,
        ..asym_node(1, 1)
    },
    NodeSpec {
        conn_log: true,
        ..asym_node(2, 1)
    },
];

/// The bootstrap policy and the writes, each a whole configuration.
const V1: &str = "access-list OUT extended permit tcp any any eq 5001\n\
                  access-group OUT in interface outside\n";
const V2: &str = "access-list OUT extended permit tcp any any eq 5002\n\
                  access-group OUT in interface outside\n";
const V3: &str = "access-list OUT extended permit tcp any any eq 5003\n\
                  access-group OUT in interface outside\n";
const V4: &str = "access-list OUT extended permit tcp any any eq 5004\n\
                  access-group OUT in interface outside\n";
/// Line 2 names an access-list that does not exist.
const BAD: &str = "access-list OUT extended permit tcp any any eq 5009\n\
                   access-group NOPE in interface outside\n";

/// The nodes' files and running processes, stopped and removed on drop.
struct Cluster {
    dir: PathBuf,
    files: Vec<PathBuf>,
    procs: Vec<Option<NodeProc>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().filter_map(Option::take) {
            let _ = p.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `rampart config sign` of `file` for `version` with `key`, in `ns`;
/// the signed text is its standard output.
fn sign(ns: &str, key: &Path, version: u64, file: &Path) -> Output {
    let version = version.to_string();
    let o = rampart(
        ns,
        &[
            "config",
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--version",
            &version,
            file.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    o
}

fn rampart(ns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_rampart")])
        .args(args)
        .output()
        .expect("run rampart")
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A node's running-config (its admin API): (version, text).
fn running(ns: &str, file: &Path) -> Option<(u64, String)> {
    let r = Endpoint::of(ns, file, ns).ok()?.running_config().ok()?;
    Some((r.version, r.text))
}

/// The version a node's log says was committed last.
fn committed(ns: &str, file: &Path) -> Option<u64> {
    Endpoint::of(ns, file, ns)
        .ok()?
        .running_config()
        .ok()?
        .committed_version
}

/// `rampart configure FILE` through node file `node_file` in namespace
/// `ns`, with `extra` options.
fn configure(ns: &str, node_file: &str, extra: &[&str], file: &Path) -> Output {
    let mut args = vec!["configure", "--config", node_file];
    args.extend_from_slice(extra);
    args.push(file.to_str().expect("a UTF-8 path"));
    rampart(ns, &args)
}

/// Wait until `ok` holds, at most `limit`.
fn eventually(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn policy_is_replicated_across_three_node_processes() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = AsymLab::new(&format!("rp-rf{}", std::process::id())).unwrap();
    let third = lab.third_node().unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-raftlab-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    rampart_cluster::pki::init_ca(&dir).expect("ca");
    std::fs::write(dir.join("policy.cfg"), V1).unwrap();
    let names = [
        lab.node_a.name().to_string(),
        lab.node_b.name().to_string(),
        third.name().to_string(),
    ];
    let files: Vec<PathBuf> = NODES
        .iter()
        .map(|me| {
            let extra = if me.id == 1 { "bootstrap = true" } else { "" };
            write_config(&dir, me, &NODES, extra).expect("node config")
        })
        .collect();
    for (n, f) in ["a.cfg", "b.cfg", "c.cfg", "d.cfg", "bad.cfg"]
        .iter()
        .zip([V2, V3, V4, V1, BAD])
    {
        std::fs::write(dir.join(n), f).unwrap();
    }
    let exe = Path::new(env!("CARGO_BIN_EXE_rampart"));
    let nss = [&lab.node_a, &lab.node_b, &third];
    let start = |i: usize| -> NodeProc {
        let mut p = NodeProc::start(nss[i], exe, &files[i], NODES[i].name).expect("start");
        // Ready, or (B and C before their join) waiting for the
        // cluster's policy.
        p.wait_joinable(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}"));
        p
    };
    let mut c = Cluster {
        dir: dir.clone(),
        files: files.clone(),
        procs: (0..3).map(|i| Some(start(i))).collect(),
    };
    let f = |i: usize| c.files[i].to_str().unwrap().to_string();

    // A holds version 1 (its policy file); B and C join through A.
    assert!(
        eventually(Duration::from_secs(10), || running(&names[0], &c.files[0])
            .is_some_and(|(v, _)| v == 1)),
        "A bootstrapped version 1"
    );
    for id in ["2", "3"] {
        let o = rampart(
            &names[0],
            &["cluster", "join", "--id", id, "--config", &f(0)],
        );
        assert!(o.status.success(), "join {id}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("joined"),
            "{}",
            text(&o)
        );
    }
    for i in 1..3 {
        assert!(
            eventually(Duration::from_secs(10), || running(&names[i], &c.files[i])
                .is_some_and(|(v, _)| v == 1)),
            "node {} caught up to version 1",
            i + 1
        );
    }

    // A write on a follower (C) reaches all three with one version.
    let o = configure(&names[2], &f(2), &[], &dir.join("a.cfg"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("version 2"),
        "{}",
        text(&o)
    );
    for i in 0..3 {
        assert!(
            eventually(Duration::from_secs(10), || running(&names[i], &c.files[i])
                .is_some_and(|(v, t)| v == 2 && t.contains("eq 5002"))),
            "node {} runs version 2",
            i + 1
        );
    }

    // An invalid config is refused with line and column; nobody moves.
    let o = configure(&names[1], &f(1), &[], &dir.join("bad.cfg"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.cfg:2:"), "line and column: {err}");
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..3 {
        assert_eq!(running(&names[i], &c.files[i]).map(|r| r.0), Some(2));
    }

    // Kill the leader; another is elected and writes continue.
    let o = rampart(&names[0], &["show", "cluster", "--json", "--config", &f(0)]);
    let view: ClusterView = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("show cluster --json: {e}: {}", text(&o)));
    let leader = usize::from(view.status.raft.and_then(|r| r.leader).expect("a leader"));
    assert!((1..=3).contains(&leader), "{}", text(&o));
    let dead = leader - 1;
    let _ = c.procs[dead].take().expect("running").kill();
    let alive: Vec<usize> = (0..3).filter(|&i| i != dead).collect();
    let t0 = Instant::now();
    let mut wrote = false;
    while !wrote && t0.elapsed() < Duration::from_secs(20) {
        let i = alive[0];
        let o = configure(&names[i], &f(i), &[], &dir.join("b.cfg"));
        wrote = o.status.success();
        if !wrote {
            // No leader yet: the cluster's state, exit 2.
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    assert!(wrote, "a write succeeds after the leader died");
    let i = alive[1];
    let o = configure(&names[i], &f(i), &[], &dir.join("c.cfg"));
    assert!(o.status.success(), "{}", text(&o));
    for &i in &alive {
        assert!(
            eventually(Duration::from_secs(10), || running(&names[i], &c.files[i])
                .is_some_and(|(v, t)| v == 4 && t.contains("eq 5004"))),
            "survivor {} runs version 4",
            i + 1
        );
    }

    // The killed node restarts from its data directory and catches up on
    // the two writes it missed.
    c.procs[dead] = Some(start(dead));
    assert!(
        eventually(Duration::from_secs(15), || running(
            &names[dead],
            &c.files[dead]
        )
        .is_some_and(|(v, t)| v == 4 && t.contains("eq 5004"))),
        "the restarted node caught up to version 4"
    );
    // Before it forwarded anything it ran the version its store had
    // committed, not its policy file.
    let log = c.procs[dead].as_ref().expect("restarted").log();
    assert!(
        log.iter().any(|r| r
            .message
            .contains("from the store in force before forwarding")),
        "{log:?}"
    );
    // Node 1's file keeps `bootstrap = true`: restarted on its store, it
    // ignores it, and says to take it out.
    assert_eq!(
        log.iter()
            .any(|r| r.message.contains("bootstrap = true is ignored")),
        dead == 0,
        "{log:?}"
    );
    // And the cluster still takes writes with all three.
    let o = configure(&names[dead], &f(dead), &[], &dir.join("d.cfg"));
    assert!(o.status.success(), "{}", text(&o));
    for i in 0..3 {
        assert!(
            eventually(Duration::from_secs(10), || running(&names[i], &c.files[i])
                .is_some_and(|(v, _)| v == 5)),
            "node {} runs version 5",
            i + 1
        );
    }
    drop(c);
    drop(third);
    drop(lab);
}

/// With `[cluster] policy_signer`, a node runs only policies the operator
/// signed for their version. Node A plays a member whose key was stolen
/// (its file names no signer, so it takes and commits anything); node B
/// names the operator's key. A signed write reaches both; an unsigned one
/// that A commits is refused by B, which keeps the signed policy; an
/// unsigned write through B is refused before it is proposed.
///
/// Then B runs an older version than the log's last: the operator's next
/// `configure --sign-key` through B is signed for the log's next version
/// and runs on B; a policy signed for a version another write took is
/// refused with the committed version, and nothing changes. And B,
/// killed while it refuses the log's last policy, starts again on the
/// policy it ran, not on its policy file.
#[test]
fn a_member_without_the_operators_signature_cannot_rewrite_the_policy() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = AsymLab::new(&format!("rp-sg{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-signlab-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    rampart_cluster::pki::init_ca(&dir).expect("ca");
    let names = [lab.node_a.name().to_string(), lab.node_b.name().to_string()];
    // The operator's key, and the bootstrap policy signed for version 1.
    let o = rampart(
        &names[0],
        &[
            "cluster",
            "policy-key",
            "--out",
            dir.join("op").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let key = dir.join("op/policy-signer.key");
    std::fs::write(dir.join("v1.cfg"), V1).unwrap();
    let o = sign(&names[0], &key, 1, &dir.join("v1.cfg"));
    std::fs::write(dir.join("policy.cfg"), &o.stdout).unwrap();
    std::fs::write(dir.join("a.cfg"), V2).unwrap();
    std::fs::write(dir.join("b.cfg"), V3).unwrap();
    std::fs::write(dir.join("c.cfg"), V4).unwrap();
    std::fs::write(dir.join("d.cfg"), BAD.replace("NOPE", "OUT")).unwrap();
    let nodes = &NODES[..2];
    let files: Vec<PathBuf> = nodes
        .iter()
        .map(|me| {
            let extra = if me.id == 1 {
                "bootstrap = true"
            } else {
                "policy_signer = \"op/policy-signer.pub\""
            };
            write_config(&dir, me, nodes, extra).expect("node config")
        })
        .collect();
    let exe = Path::new(env!("CARGO_BIN_EXE_rampart"));
    let nss = [&lab.node_a, &lab.node_b];
    let start = |i: usize| -> NodeProc {
        let mut p = NodeProc::start(nss[i], exe, &files[i], nodes[i].name).expect("start");
        // Ready, or (B and C before their join) waiting for the
        // cluster's policy.
        p.wait_joinable(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}"));
        p
    };
    let mut c = Cluster {
        dir: dir.clone(),
        files: files.clone(),
        procs: (0..2).map(|i| Some(start(i))).collect(),
    };
    let f = |i: usize| files[i].to_str().unwrap().to_string();
    assert!(eventually(Duration::from_secs(10), || running(
        &names[0],
        &c.files[0]
    )
    .is_some_and(|(v, _)| v == 1)));
    let o = rampart(
        &names[0],
        &["cluster", "join", "--id", "2", "--config", &f(0)],
    );
    assert!(o.status.success(), "join: {}", text(&o));
    assert!(
        eventually(Duration::from_secs(10), || running(&names[1], &c.files[1])
            .is_some_and(|(v, _)| v == 1)),
        "B runs the signed version 1"
    );

    // The operator's signed write (through B) reaches both.
    let o = configure(
        &names[1],
        &f(1),
        &["--sign-key", key.to_str().unwrap()],
        &dir.join("a.cfg"),
    );
    assert!(o.status.success(), "{}", text(&o));
    for i in 0..2 {
        assert!(
            eventually(Duration::from_secs(10), || running(&names[i], &c.files[i])
                .is_some_and(|(v, t)| v == 2 && t.contains("eq 5002"))),
            "node {} runs signed version 2",
            i + 1
        );
    }
    // Unsigned through B: refused before anything is proposed.
    let o = configure(&names[1], &f(1), &[], &dir.join("b.cfg"));
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("not signed"), "{}", text(&o));
    // Unsigned through A, the member whose key was stolen: A commits it
    // (version 3) and runs it itself; B refuses it and keeps version 2.
    let o = configure(&names[0], &f(0), &[], &dir.join("b.cfg"));
    assert!(
        o.status.success(),
        "A commits what it is given: {}",
        text(&o)
    );
    assert!(
        eventually(Duration::from_secs(10), || running(&names[0], &c.files[0])
            .is_some_and(|(v, _)| v == 3)),
        "A runs version 3"
    );
    std::thread::sleep(Duration::from_secs(1));
    let (v, t) = running(&names[1], &c.files[1]).expect("B answers");
    assert_eq!(v, 2, "B keeps the signed policy: {t}");
    assert!(t.contains("eq 5002") && !t.contains("eq 5003"), "{t}");
    assert_eq!(
        committed(&names[1], &c.files[1]),
        Some(3),
        "B's log is at 3"
    );

    // The operator signs through B, which runs version 2 while the log is
    // at 3: signed for 4, committed as 4, and B runs it.
    let o = configure(
        &names[1],
        &f(1),
        &["--sign-key", key.to_str().unwrap()],
        &dir.join("c.cfg"),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Configuration applied: version 4"),
        "{}",
        text(&o)
    );
    for i in 0..2 {
        assert!(
            eventually(Duration::from_secs(10), || running(&names[i], &c.files[i])
                .is_some_and(|(v, t)| v == 4 && t.contains("eq 5004"))),
            "node {} runs signed version 4: {:?}",
            i + 1,
            running(&names[i], &c.files[i])
        );
    }
    // A policy signed for version 4, which another write took: refused
    // with the committed version; nothing is committed.
    let o = sign(&names[0], &key, 4, &dir.join("d.cfg"));
    std::fs::write(dir.join("stale.cfg"), &o.stdout).unwrap();
    for i in 0..2 {
        let o = configure(&names[i], &f(i), &[], &dir.join("stale.cfg"));
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("signed for version 4, but the committed version is 4"),
            "{err}"
        );
        assert!(err.contains("sign it for version 5"), "{err}");
    }
    for i in 0..2 {
        assert_eq!(committed(&names[i], &c.files[i]), Some(4));
        assert!(running(&names[i], &c.files[i]).is_some_and(|(v, _)| v == 4));
    }

    // A commits an unsigned version 5 again, which B refuses; B is killed
    // and started again: it runs version 4, the policy it ran, not its
    // policy file (version 1) nor the refused one.
    let o = configure(&names[0], &f(0), &[], &dir.join("b.cfg"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        eventually(Duration::from_secs(10), || committed(
            &names[1],
            &c.files[1]
        ) == Some(5)),
        "B's log holds version 5"
    );
    let kept = dir.join(nodes[1].name).join("applied-policy.cfg");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&kept)
            .expect("B keeps the policy it runs")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read_to_string(&kept).unwrap().contains("eq 5004"));
    let _ = c.procs[1].take().expect("running").kill();
    c.procs[1] = Some(start(1));
    let (v, t) = running(&names[1], &c.files[1]).expect("B answers");
    assert_eq!(v, 4, "B runs the policy it ran before the crash: {t}");
    assert!(t.contains("eq 5004"), "{t}");
    assert_eq!(committed(&names[1], &c.files[1]), Some(5));
    let log = c.procs[1].as_ref().expect("restarted").log();
    assert!(
        log.iter().any(|r| r
            .message
            .contains("version 4 (the last this node ran) in force before forwarding")),
        "{log:?}"
    );
    // And the operator's next signed write goes through B as before.
    let o = configure(
        &names[1],
        &f(1),
        &["--sign-key", key.to_str().unwrap()],
        &dir.join("a.cfg"),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        eventually(Duration::from_secs(10), || running(&names[1], &c.files[1])
            .is_some_and(|(v, t)| v == 6 && t.contains("eq 5002"))),
        "B runs signed version 6"
    );
    drop(c);
}
