//! Policy writes through Raft in a three-node cluster on loopback: real
//! transports with mutual TLS, a redb store per node (fsync on every
//! durable commit), the dataplane's parser and compiler as the validator.
//!
//! Measured in one run:
//! 1. **Write on the leader**: `WRITES` sequential policy writes on the
//!    leader. For each: the time until `write` returns (committed and
//!    applied on the leader) and until each follower has applied it (its
//!    watch shows the version), all from the moment `write` was called.
//! 2. **Write on a follower**: the same, written on a follower (forwarded
//!    to the leader over the RPC channel).
//! 3. **Baselines, same run, same machine**, sampled between the writes:
//!    one durable redb commit (fsync) of a policy-sized value in the same
//!    file system, and one transport RPC round trip with the policy on the
//!    same connection; and one validation (parse + compile) of the policy. A Raft write costs at
//!    least a quorum check round trip, two fsyncs in sequence (leader
//!    append, then follower append in parallel with the other) and the
//!    apply fsync; the ratios say how close it comes.
//!
//! Output: lines on stderr and one JSON object on stdout.
//! Run: `cargo bench -p rampart-cluster --bench raft` (env `WRITES`).

// A benchmark measures wall time by definition.
#![allow(clippy::disallowed_methods)]

#[path = "../tests/common/raft_lab.rs"]
mod raft_lab;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft_lab::{Lab, policy, validator};
use rampart_cluster::raft::RaftSettings;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// p50, p99 and max of `v` in microseconds.
fn pcts(v: &mut [Duration]) -> (f64, f64, f64) {
    v.sort_unstable();
    let at = |q: f64| {
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v[i].as_secs_f64() * 1e6
    };
    (at(0.5), at(0.99), at(1.0))
}

fn line(name: &str, v: &mut [Duration]) -> (f64, f64, f64) {
    let p = pcts(v);
    eprintln!(
        "{name:<44} p50 {:>9.1} µs  p99 {:>9.1} µs  max {:>9.1} µs  (n={})",
        p.0,
        p.1,
        p.2,
        v.len()
    );
    p
}

/// When each node's watch first showed each version.
type Seen = Arc<Mutex<HashMap<(u64, u64), Instant>>>;

fn watch_all(lab: &Lab, seen: &Seen) -> Vec<tokio::task::JoinHandle<()>> {
    (1..=3)
        .map(|id| {
            let mut rx = lab.node(id).subscribe();
            let seen = seen.clone();
            tokio::spawn(async move {
                while rx.changed().await.is_ok() {
                    let v = rx.borrow_and_update().version;
                    let now = Instant::now();
                    if let Ok(mut s) = seen.lock() {
                        s.entry((id, v)).or_insert(now);
                    }
                }
            })
        })
        .collect()
}

/// One write on `writer`: the time until it returned, and until each node
/// had applied it, from the call.
async fn one_write(lab: &Lab, writer: u64, text: &str, seen: &Seen) -> (Duration, [Duration; 3]) {
    let t0 = Instant::now();
    let v = lab.node(writer).write(text).await.expect("write");
    let ret = t0.elapsed();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got: Vec<Option<Instant>> = {
            let s = seen.lock().expect("seen");
            (1..=3).map(|id| s.get(&(id, v)).copied()).collect()
        };
        if let [Some(a), Some(b), Some(c)] = got[..] {
            let d = |t: Instant| t.saturating_duration_since(t0);
            return (ret, [d(a), d(b), d(c)]);
        }
        assert!(
            Instant::now() < deadline,
            "version {v} not applied everywhere"
        );
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
}

/// Samples of one mode.
#[derive(Default)]
struct Mode {
    returned: Vec<Duration>,
    applied: [Vec<Duration>; 3],
    all: Vec<Duration>,
}

/// The baselines, sampled between the writes so that they see the same
/// machine (other processes, disk queue) as the writes do.
struct Baseline {
    db: redb::Database,
    value: Vec<u8>,
    next: u64,
    fsync: Vec<Duration>,
    rtt: Vec<Duration>,
}

const BASELINE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("baseline");

impl Baseline {
    fn fsync_once(&mut self) {
        let t0 = Instant::now();
        let mut txn = self.db.begin_write().expect("txn");
        txn.set_durability(redb::Durability::Immediate)
            .expect("durability");
        txn.open_table(BASELINE)
            .expect("table")
            .insert(self.next, self.value.as_slice())
            .expect("insert");
        txn.commit().expect("commit");
        self.fsync.push(t0.elapsed());
        self.next += 1;
    }
}

async fn run_mode(
    lab: &Lab,
    writer: u64,
    n: usize,
    first_port: u16,
    seen: &Seen,
    base: &mut Baseline,
    rpc: &(rampart_cluster::transport::Transport, u16),
) -> Mode {
    let mut m = Mode::default();
    for i in 0..n {
        let text = policy(first_port + i as u16);
        let (ret, applied) = one_write(lab, writer, &text, seen).await;
        m.returned.push(ret);
        for (k, a) in applied.iter().enumerate() {
            m.applied[k].push(*a);
        }
        m.all.push(applied.into_iter().max().unwrap_or_default());
        base.fsync_once();
        let t0 = Instant::now();
        rpc.0
            .rpc(rpc.1, ECHO, Bytes::from(text), Duration::from_secs(2))
            .await
            .expect("rpc");
        base.rtt.push(t0.elapsed());
    }
    m
}

/// The echo service of the RPC baseline.
const ECHO: u8 = 42;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let writes = env("WRITES", 300);
    let mut lab = Lab::new("bench", 3, RaftSettings::default());
    lab.form(&policy(1)).await;
    let leader = lab.wait_leader().await;
    let follower = (1..=3).find(|i| *i != leader).expect("follower");
    let seen: Seen = Arc::new(Mutex::new(HashMap::new()));
    let watchers = watch_all(&lab, &seen);

    let bdir = lab.dir.join("baseline");
    std::fs::create_dir_all(&bdir).expect("dir");
    let mut base = Baseline {
        db: redb::Database::create(bdir.join("baseline.redb")).expect("db"),
        value: vec![7u8; policy(9).len() + 64],
        next: 0,
        fsync: Vec::new(),
        rtt: Vec::new(),
    };
    let mut calls = lab.transport(follower).serve_rpcs(ECHO);
    let echo = tokio::spawn(async move {
        while let Some(c) = calls.recv().await {
            let r = c.request.clone();
            c.reply(r);
        }
    });
    let rpc = (
        lab.transport(leader).clone(),
        u16::try_from(follower).expect("id"),
    );

    // Warm-up: connections, caches, allocator.
    run_mode(&lab, leader, 20, 100, &seen, &mut base, &rpc).await;
    base.fsync.clear();
    base.rtt.clear();

    eprintln!("raft policy writes, 3 nodes on loopback, leader {leader}, {writes} writes per mode");
    let mut lm = run_mode(&lab, leader, writes, 2000, &seen, &mut base, &rpc).await;
    let mut fm = run_mode(&lab, follower, writes, 20000, &seen, &mut base, &rpc).await;
    for w in watchers {
        w.abort();
    }
    echo.abort();

    let l_ret = line(
        "write on leader: returned (leader applied)",
        &mut lm.returned,
    );
    let mut l_follow = Vec::new();
    for (i, v) in lm.applied.iter_mut().enumerate() {
        let id = i as u64 + 1;
        let p = line(&format!("write on leader: applied on node {id}"), v);
        if id != leader {
            l_follow.push(p);
        }
    }
    let l_all = line("write on leader: applied on all three", &mut lm.all);
    let f_ret = line(
        &format!("write on follower {follower}: returned"),
        &mut fm.returned,
    );
    let f_all = line(
        &format!("write on follower {follower}: applied on all"),
        &mut fm.all,
    );
    let b_fsync = line("baseline: one durable redb commit", &mut base.fsync);
    let b_rtt = line("baseline: one transport RPC round trip", &mut base.rtt);
    let text = policy(9);
    let v = validator();
    let mut val: Vec<Duration> = (0..writes)
        .map(|_| {
            let t0 = Instant::now();
            v(&text).expect("valid");
            t0.elapsed()
        })
        .collect();
    let b_val = line("baseline: one validation (parse + compile)", &mut val);

    // The floor of a write applied everywhere: the quorum check round
    // trip, the leader's append fsync, the replication round trip with a
    // follower's append fsync, and the apply fsync.
    let floor = 2.0 * b_rtt.0 + 3.0 * b_fsync.0;
    eprintln!(
        "ratios (p50): leader write / fsync = {:.1}; applied on all / (2 rtt + 3 fsync) = {:.2}; \
         follower write / leader write = {:.2}",
        l_ret.0 / b_fsync.0,
        l_all.0 / floor,
        f_ret.0 / l_ret.0
    );
    let p = |x: (f64, f64, f64)| format!("{{\"p50\":{:.1},\"p99\":{:.1}}}", x.0, x.1);
    println!(
        "{{\"writes\":{writes},\"leader_write_us\":{},\"leader_write_applied_all_us\":{},\
         \"leader_write_applied_followers_us\":[{}],\"follower_write_us\":{},\
         \"follower_write_applied_all_us\":{},\"baseline_fsync_us\":{},\
         \"baseline_rpc_rtt_us\":{},\"baseline_validate_us\":{}}}",
        p(l_ret),
        p(l_all),
        l_follow.iter().map(|x| p(*x)).collect::<Vec<_>>().join(","),
        p(f_ret),
        p(f_all),
        p(b_fsync),
        p(b_rtt),
        p(b_val)
    );
    lab.shutdown().await;
}
