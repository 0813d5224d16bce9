//! The simulation proper: one event queue in simulation time, the nodes,
//! the network, the flows and the faults, all drawn from one seed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rampart_dataplane::Verdict;
use rampart_dataplane::conntrack::TcpState;
use rampart_dataplane::engine::sync::SyncConfig;
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::policy::compile::Policy;
use rampart_dataplane::sync::{FlowState, SyncProto};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod faults;
mod placement_check;

use rampart_cluster::sync::{Placement, ProtocolConfig};

use super::net::Net;
use super::node::{BULK_STEP, NodeOut, SimNode, Totals, event_key, id_of};
use super::traffic::{BYPASS_PORT, Flow, Kind, key_of};
use super::{Outcome, SimConfig, Stats};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
/// How long a peer takes to see a silent connection die (the transport's
/// QUIC idle timeout).
const IDLE: u64 = 3 * SEC;
/// After a fault ends, how long its effects may last (reconnection,
/// resend, a bulk sync) before flows must pass untouched again.
const SETTLE: u64 = 2 * SEC;
/// First retransmission timeout of the endpoints (above the hold deadline,
/// so a held packet is released or dropped before it is sent again).
const RTO: u64 = 300 * MS;
/// How often each side of a broken link tries to connect again.
const DIAL_EVERY: u64 = 100 * MS;
/// How often Raft replication catches a lagging node up.
const RAFT_TICK: u64 = 50 * MS;
/// Share of inspected TCP flows closed with FINs whose tuple a new
/// connection reuses at once.
const REUSE_SHARE: f64 = 0.3;
/// The applied (and on-disk) policy version of a node whose disk was
/// wiped: none, until replication reaches it.
const NO_POLICY: u64 = u64::MAX;
/// Trace lines kept for a failure report.
const TRACE_KEEP: usize = 400;

#[derive(Debug)]
enum Ev {
    Wake(usize),
    Stream {
        from: usize,
        to: usize,
        conn: u64,
        frame: bytes::Bytes,
    },
    Dgram {
        from: usize,
        to: usize,
        conn: u64,
        frame: bytes::Bytes,
    },
    PeerUp {
        node: usize,
        peer: usize,
        conn: u64,
    },
    PeerDown {
        node: usize,
        peer: usize,
        conn: u64,
    },
    IdleClose {
        link: usize,
        conn: u64,
    },
    Dial,
    FlowStart(Kind),
    /// A new connection on a closed flow's tuple (the client reuses its port).
    FlowReuse(usize),
    FlowSend(usize),
    Rto {
        flow: usize,
        tx: u64,
    },
    Fault(Fault),
    Restart(usize),
    Thaw(usize),
    Heal(usize),
    /// An operator's policy write, through the Raft leader.
    PolicyWrite,
    /// Raft replication: nodes behind the log catch up from a node that
    /// has it, if news can pass between them.
    RaftTick,
}

/// A fault the simulator injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The node's process dies (memory lost); it restarts after the delay.
    Crash(usize, Duration),
    /// The node's process is stopped for the duration (SIGSTOP/SIGCONT).
    Freeze(usize, Duration),
    /// Nothing passes between the two nodes for the duration.
    Partition(usize, usize, Duration),
    /// The connection between two nodes is reset (a new one follows).
    Reset(usize, usize),
    /// The link's delay grows by the second duration for the first.
    Spike(usize, usize, Duration, Duration),
}

#[derive(Debug)]
struct Item {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// A node's frames in its current life, as the simulator saw them.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    forwarded: u64,
    dropped: u64,
    retired: Totals,
    seen_retired: Totals,
}

pub(super) struct World {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    heap: BinaryHeap<Reverse<Item>>,
    nodes: Vec<SimNode>,
    net: Net,
    flows: Vec<Flow>,
    by_key: HashMap<FlowKey, usize>,
    /// The policy versions (version `v` runs `policies[v % 3]`).
    policies: [Arc<Policy>; 3],
    /// The Raft log's last committed policy version.
    committed: u64,
    /// Each node's applied policy version (what its engine runs).
    applied: Vec<u64>,
    /// Each node's applied version as on its disk (survives a crash that
    /// keeps the data directory).
    disk: Vec<u64>,
    /// Fault spans: start, end (None while it lasts), what, and the
    /// nodes it struck (a bit per node index).
    spans: Vec<(u64, Option<u64>, String, u64)>,
    /// Crashes waiting for their node's readiness to close their span.
    restarting: Vec<(usize, usize)>,
    /// Flows ended by an RST (their keys are never used again).
    deleted: Vec<usize>,
    tally: Vec<Tally>,
    /// Each node's next wake-up already queued (one at a time per node).
    wake_due: Vec<Option<u64>>,
    trace: VecDeque<String>,
    full_trace: bool,
    violations: Vec<String>,
    stats: Stats,
    faults_end: u64,
    next_flow: usize,
}

impl World {
    pub(super) fn new(
        seed: u64,
        cfg: &SimConfig,
        policies: [Arc<Policy>; 3],
        full_trace: bool,
    ) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = rng.random_range(cfg.nodes.0..=cfg.nodes.1);
        let t0 = 1_700_000_000 * SEC;
        let mut delays = Vec::new();
        for _ in 0..n * n {
            delays.push(Duration::from_micros(rng.random_range(50..=3_000)));
        }
        let mut net = Net::new(n, |a, b| delays[a * n + b]);
        for link in &mut net.links {
            link.dgram_loss = [0.0, 0.0, 0.1, 0.3][rng.random_range(0..4)];
            link.dgram_dup = [0.0, 0.05][rng.random_range(0..2)];
        }
        let max_skew = cfg.max_skew.as_nanos() as i64;
        let nodes = (0..n)
            .map(|i| {
                let skew = if max_skew > 0 {
                    rng.random_range(-max_skew..=max_skew)
                } else {
                    0
                };
                SimNode::new(i, n, &policies[0], rng.random(), rng.random(), skew, t0)
            })
            .collect();
        let faults_end = t0 + rng.random_range(cfg.faults_secs.0..=cfg.faults_secs.1) * SEC;
        let mut w = World {
            cfg: cfg.clone(),
            rng,
            now: t0,
            seq: 0,
            heap: BinaryHeap::new(),
            nodes,
            net,
            flows: Vec::new(),
            by_key: HashMap::new(),
            policies,
            committed: 0,
            applied: vec![0; n],
            disk: vec![0; n],
            spans: Vec::new(),
            restarting: Vec::new(),
            deleted: Vec::new(),
            tally: vec![Tally::default(); n],
            wake_due: vec![None; n],
            trace: VecDeque::new(),
            full_trace,
            violations: Vec::new(),
            stats: Stats {
                nodes: n,
                ..Stats::default()
            },
            faults_end,
            next_flow: 0,
        };
        w.schedule_traffic_and_faults(t0);
        w
    }

    fn schedule_traffic_and_faults(&mut self, t0: u64) {
        let n = self.nodes.len();
        let flows = self.rng.random_range(self.cfg.flows.0..=self.cfg.flows.1);
        let start = t0 + SEC;
        for _ in 0..flows {
            let at = self.rng.random_range(start..self.faults_end);
            let kind = match self.rng.random_range(0..100) {
                0..50 => Kind::Tcp,
                50..65 => Kind::Bypass,
                65..85 => Kind::Udp,
                _ => Kind::Icmp,
            };
            self.push(at, Ev::FlowStart(kind));
        }
        let faults = if self.cfg.faults {
            self.rng.random_range(0..=4)
        } else {
            0
        };
        for _ in 0..faults {
            let at = self.rng.random_range(start..self.faults_end - SEC);
            let a = self.rng.random_range(0..n);
            let b = (a + self.rng.random_range(1..n)) % n;
            let ms = |r: &mut ChaCha8Rng, lo: u64, hi: u64| {
                Duration::from_millis(r.random_range(lo..=hi))
            };
            let fault = match self.rng.random_range(0..100) {
                0..25 => Fault::Crash(a, ms(&mut self.rng, 200, 4_000)),
                25..40 => Fault::Freeze(a, ms(&mut self.rng, 100, 5_000)),
                40..65 => Fault::Partition(a, b, ms(&mut self.rng, 50, 5_000)),
                65..80 => Fault::Reset(a, b),
                _ => Fault::Spike(
                    a,
                    b,
                    ms(&mut self.rng, 50, 2_000),
                    ms(&mut self.rng, 20, 400),
                ),
            };
            self.push(at, Ev::Fault(fault));
        }
        if self.cfg.policy_writes {
            for _ in 0..self.rng.random_range(0..=2) {
                let at = self.rng.random_range(start..self.faults_end);
                self.push(at, Ev::PolicyWrite);
            }
        }
        self.push(t0 + RAFT_TICK, Ev::RaftTick);
        self.push(t0, Ev::Dial);
        for i in 0..n {
            self.wake_at(i, t0);
        }
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse(Item {
            at,
            seq: self.seq,
            ev,
        }));
    }

    fn log(&mut self, line: String) {
        let t = self.now % (100_000 * SEC);
        let line = format!("{:>6}.{:03} {line}", t / SEC % 100_000, t % SEC / MS);
        if self.full_trace {
            eprintln!("{line}");
        }
        self.trace.push_back(line);
        if self.trace.len() > TRACE_KEEP {
            self.trace.pop_front();
        }
    }

    fn violation(&mut self, what: String) {
        self.log(format!("VIOLATION {what}"));
        if self.violations.len() < 20 {
            self.violations.push(what);
        }
    }

    /// Run to the end and check everything.
    pub(super) fn run(mut self) -> Outcome {
        let settled = self.faults_end + 3 * SEC;
        self.run_until(self.faults_end + 20 * SEC, |w| {
            w.now > settled && w.quiescent()
        });
        // A quiet period for the last events and refreshes to land.
        let quiet = self.now + 3 * SEC;
        self.run_until(quiet, |_| false);
        if self.violations.is_empty() {
            self.final_checks();
        }
        self.stats.flows = self.flows.len();
        self.stats.flows_done = self.flows.iter().filter(|f| f.done).count();
        self.stats.flows_at_risk = self.flows.iter().filter(|f| f.at_risk).count();
        self.stats.flows_stale_tuple = self.flows.iter().filter(|f| f.stale_tuple).count();
        Outcome {
            stats: self.stats,
            violations: self.violations,
            trace: self.trace.into_iter().collect(),
        }
    }

    /// Step through events up to `end`, or until a violation or `done`.
    fn run_until(&mut self, end: u64, done: impl Fn(&World) -> bool) {
        while let Some(Reverse(item)) = self.heap.pop() {
            if item.at > end || !self.violations.is_empty() {
                break;
            }
            self.now = item.at;
            self.step(item.ev);
            if done(self) {
                break;
            }
        }
    }

    fn quiescent(&self) -> bool {
        self.flows.iter().all(|f| f.done || f.excused())
            && self.nodes.iter().all(|n| n.running() && n.ready())
            && self.net.links.iter().all(|l| l.conn.is_some())
            && self.applied.iter().all(|&v| v == self.committed)
    }

    fn step(&mut self, ev: Ev) {
        // Anything addressed to a frozen node waits for it to thaw, in order.
        if let Some(node) = target(&ev)
            && let Some(thaw) = self.nodes[node].frozen_until
            && self.nodes[node].alive
        {
            self.push(thaw, ev);
            return;
        }
        match ev {
            Ev::Wake(i) => {
                // Only the latest wake-up queued for a node counts.
                if self.wake_due[i] == Some(self.now) {
                    self.wake_due[i] = None;
                    self.wake(i);
                }
            }
            Ev::Stream {
                from,
                to,
                conn,
                frame,
            } => self.stream(from, to, conn, frame),
            Ev::Dgram {
                from,
                to,
                conn,
                frame,
            } => {
                let l = self.net.link(from, to);
                if l.conn == Some(conn) && !l.partitioned && self.nodes[to].alive {
                    let t = self.nodes[to].clock(self.now);
                    if self.nodes[to]
                        .proto
                        .on_datagram(id_of(from), conn, &frame, t)
                        .is_err()
                    {
                        self.violation(format!("node {to} refused a datagram from {from}"));
                    }
                    self.pump(to);
                }
            }
            Ev::PeerUp { node, peer, conn } => {
                if self.nodes[node].alive && self.net.link(node, peer).conn == Some(conn) {
                    let t = self.nodes[node].clock(self.now);
                    self.nodes[node].proto.on_peer_up(id_of(peer), conn, t);
                    self.log(format!("n{node} sees n{peer} up (conn {conn})"));
                    self.pump(node);
                }
            }
            Ev::PeerDown { node, peer, conn } => {
                if self.nodes[node].alive {
                    let t = self.nodes[node].clock(self.now);
                    self.nodes[node].proto.on_peer_down(id_of(peer), conn, t);
                    let l = self.net.link(node, peer);
                    let side = l.side(node);
                    if l.conn.is_none() {
                        l.down_seen[side] = true;
                    }
                    self.log(format!("n{node} sees n{peer} down (conn {conn})"));
                    self.pump(node);
                }
            }
            Ev::IdleClose { link, conn } => {
                // Silent for the idle timeout: still cut off, or an end
                // still stopped.
                let [a, b] = self.net.links[link].ends;
                let silent = self.net.links[link].partitioned
                    || self.nodes[a].frozen_until.is_some()
                    || self.nodes[b].frozen_until.is_some();
                if self.net.links[link].conn == Some(conn) && silent {
                    self.close_link(link);
                }
            }
            Ev::Dial => self.dial(),
            Ev::FlowStart(kind) => self.flow_start(kind),
            Ev::FlowReuse(f) => self.flow_reuse(f),
            Ev::FlowSend(f) => self.flow_send(f),
            Ev::Rto { flow, tx } => self.rto(flow, tx),
            Ev::Fault(fault) => self.fault(fault),
            Ev::Restart(i) => self.restart(i),
            Ev::Thaw(i) => {
                self.nodes[i].frozen_until = None;
                self.log(format!("n{i} thaws"));
                self.wake_due[i] = None;
                self.wake(i);
            }
            Ev::PolicyWrite => self.policy_write(),
            Ev::RaftTick => {
                self.raft_tick();
                self.push(self.now + RAFT_TICK, Ev::RaftTick);
            }
            Ev::Heal(link) => {
                if self.now < self.net.links[link].heal_at {
                    return;
                }
                self.net.links[link].partitioned = false;
                let [a, b] = self.net.links[link].ends;
                self.log(format!("partition n{a}-n{b} heals"));
            }
        }
    }

    /// A policy write: the Raft leader (the lowest running node) commits
    /// it if a majority of nodes is running and reachable from it, and
    /// applies it at once; the others apply it as replication reaches
    /// them. Without a majority the write fails, as an operator is told.
    fn policy_write(&mut self) {
        let n = self.nodes.len();
        let Some(leader) = (0..n).find(|&i| self.nodes[i].running()) else {
            return;
        };
        let now = self.now;
        let voters: Vec<usize> = (0..n)
            .filter(|&j| {
                self.nodes[j].running() && (j == leader || !self.net.cut_off(leader, j, now))
            })
            .collect();
        let votes = voters.len();
        self.stats.policy_writes += 1;
        if 2 * votes <= n {
            self.stats.policy_writes_failed += 1;
            self.log(format!(
                "policy write refused: n{leader} reaches {votes} of {n} nodes"
            ));
            return;
        }
        // The leader may itself be behind (it just won an election): it
        // holds the whole log once elected.
        self.committed += 1;
        let v = self.committed;
        // The entry is in the log on every voter's disk; each applies it
        // when replication tells it the entry is committed.
        for &j in &voters {
            self.disk[j] = v;
        }
        self.log(format!(
            "policy version {v} committed by n{leader} with {voters:?}"
        ));
        self.apply_policy(leader, v);
    }

    /// Nodes behind apply the last committed version: from their own log
    /// if it holds the entry, or once a running node whose log holds it
    /// reaches them.
    fn raft_tick(&mut self) {
        let now = self.now;
        for i in 0..self.nodes.len() {
            if !self.nodes[i].running() || self.applied[i] == self.committed {
                continue;
            }
            let reached = self.disk[i] == self.committed
                || (0..self.nodes.len()).any(|j| {
                    j != i
                        && self.nodes[j].running()
                        && self.disk[j] == self.committed
                        && !self.net.cut_off(i, j, now)
                });
            if reached {
                self.apply_policy(i, self.committed);
            }
        }
    }

    fn apply_policy(&mut self, i: usize, v: u64) {
        let policy = self.policies[(v % 3) as usize].clone();
        self.nodes[i]
            .engine
            .set_policy(policy)
            .expect("the policy's classes fit");
        self.applied[i] = v;
        self.disk[i] = v;
        self.log(format!("n{i} runs policy version {v}"));
        self.pump(i);
    }

    fn wake(&mut self, i: usize) {
        if !self.nodes[i].alive {
            return;
        }
        self.nodes[i].timers(self.now);
        if self.nodes[i].bulk_step(self.now) {
            self.wake_at(i, self.now + BULK_STEP.as_nanos() as u64);
        }
        self.pump(i);
    }

    fn stream(&mut self, from: usize, to: usize, conn: u64, frame: bytes::Bytes) {
        let l = self.net.link(from, to);
        if l.conn != Some(conn) || !self.nodes[to].alive {
            return;
        }
        if l.partitioned {
            // The connection lives on (QUIC retransmits): the frame
            // arrives after the partition heals, unless the connection
            // dies of idleness first.
            let at = l.postpone(from);
            self.push(
                at,
                Ev::Stream {
                    from,
                    to,
                    conn,
                    frame,
                },
            );
            return;
        }
        let t = self.nodes[to].clock(self.now);
        if let Err(e) = self.nodes[to].proto.on_frame(id_of(from), conn, &frame, t) {
            self.violation(format!("node {to} refused a frame from {from}: {e}"));
        }
        self.pump(to);
    }

    fn dial(&mut self) {
        for li in 0..self.net.links.len() {
            let l = &self.net.links[li];
            let [a, b] = l.ends;
            if l.conn.is_none()
                && !l.partitioned
                && l.down_seen == [true, true]
                && self.nodes[a].running()
                && self.nodes[b].running()
            {
                let conn = self.net.new_conn();
                let l = &mut self.net.links[li];
                l.conn = Some(conn);
                l.down_seen = [false, false];
                let rtt = 2 * l.delay.as_nanos() as u64;
                if let Some((node, old)) = l.replaced.take() {
                    let peer = if node == a { b } else { a };
                    self.push(
                        self.now + rtt + 1,
                        Ev::PeerDown {
                            node,
                            peer,
                            conn: old,
                        },
                    );
                }
                self.push(
                    self.now + rtt,
                    Ev::PeerUp {
                        node: a,
                        peer: b,
                        conn,
                    },
                );
                self.push(
                    self.now + rtt,
                    Ev::PeerUp {
                        node: b,
                        peer: a,
                        conn,
                    },
                );
            }
        }
        self.push(self.now + DIAL_EVERY, Ev::Dial);
    }

    /// Let node `i` run what it has to and route what it produced.
    fn pump(&mut self, i: usize) {
        if !self.nodes[i].running() {
            return;
        }
        let was_ready = self.nodes[i].ready();
        let mut out = Vec::new();
        self.nodes[i].pump(self.now, &mut out);
        if let Some(what) = self.nodes[i].told_differs() {
            self.violation(format!("n{i}: {what}"));
        }
        for o in out {
            match o {
                NodeOut::Send(peer, conn, frame) => {
                    self.stats.sync_frames += 1;
                    let l = self.net.link(i, peer);
                    match l.conn {
                        Some(c) if c == conn => {
                            let jitter = 0;
                            let at = l.stream_arrival(i, self.now, jitter);
                            self.push(
                                at,
                                Ev::Stream {
                                    from: i,
                                    to: peer,
                                    conn,
                                    frame,
                                },
                            );
                        }
                        // As the transport does: a frame for a connection
                        // a newer one replaced is dropped, never sent on
                        // the new one ahead of the Hello (docs/sync.md §5).
                        Some(_) => self.stats.sends_replaced += 1,
                        None => {}
                    }
                }
                NodeOut::Datagram(peer, conn, frame) => self.datagram(i, peer, conn, frame),
                NodeOut::Released(frame) => self.released(i, frame),
                NodeOut::Synced(e) => {
                    self.stats.sync_events += 1;
                    let key = event_key(&e.event);
                    if key.lo.port == BYPASS_PORT || key.hi.port == BYPASS_PORT {
                        self.violation(format!(
                            "n{i} produced a sync event for a bypass flow: {:?}",
                            e.event
                        ));
                    }
                }
            }
        }
        if was_ready && !self.nodes[i].ready() {
            self.log(format!(
                "n{i} found it was stopped: not ready until it resyncs"
            ));
            self.stats.stalls += 1;
        }
        if !was_ready && self.nodes[i].ready() {
            self.log(format!("n{i} ready"));
            let now = self.now;
            self.restarting.retain(|&(node, span)| {
                if node == i {
                    self.spans[span].1 = Some(now + SETTLE);
                }
                node != i
            });
        }
        let at = self.nodes[i].wake_at(self.now);
        self.wake_at(i, at);
    }

    /// Make sure node `i` wakes at `at` (or earlier).
    fn wake_at(&mut self, i: usize, at: u64) {
        if self.wake_due[i].is_none_or(|due| at < due || due < self.now) {
            self.wake_due[i] = Some(at);
            self.push(at, Ev::Wake(i));
        }
    }

    fn datagram(&mut self, from: usize, to: usize, conn: u64, frame: bytes::Bytes) {
        let l = self.net.link(from, to);
        match l.conn {
            Some(c) if c == conn => {}
            Some(_) => {
                // For a connection since replaced: dropped, as a frame is.
                self.stats.sends_replaced += 1;
                return;
            }
            None => return,
        }
        let (loss, dup) = (l.dgram_loss, l.dgram_dup);
        let delay = l.delay_at(self.now);
        if l.partitioned || self.rng.random_bool(loss) {
            return;
        }
        let copies = if self.rng.random_bool(dup) { 2 } else { 1 };
        for _ in 0..copies {
            // Datagrams may overtake each other and the stream.
            let jitter = self.rng.random_range(0..=delay);
            self.push(
                self.now + delay / 2 + jitter,
                Ev::Dgram {
                    from,
                    to,
                    conn,
                    frame: frame.clone(),
                },
            );
        }
    }

    /// The link's connection ends now; both ends learn it at once.
    fn close_link(&mut self, link: usize) {
        let l = &mut self.net.links[link];
        if let Some(conn) = l.conn.take() {
            let [a, b] = l.ends;
            for (node, peer) in [(a, b), (b, a)] {
                self.push(self.now, Ev::PeerDown { node, peer, conn });
            }
        }
    }

    /// Nodes a new or moved path may use.
    fn usable(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].running() && self.nodes[i].ready())
            .collect()
    }

    fn flow_start(&mut self, kind: Kind) {
        let usable = self.usable();
        if usable.is_empty() {
            return;
        }
        let a = usable[self.rng.random_range(0..usable.len())];
        let b = if self.rng.random_bool(0.4) {
            a
        } else {
            usable[self.rng.random_range(0..usable.len())]
        };
        let id = self.next_flow;
        self.next_flow += 1;
        let flow = Flow::new(id, kind, [a, b], self.now, &mut self.rng);
        self.by_key.insert(flow.key, id);
        self.log(format!("flow {id} {kind:?} starts via n{a}/n{b}"));
        self.flows.push(flow);
        self.flow_send(id);
    }

    fn flow_reuse(&mut self, old: usize) {
        let path = self.flows[old].path;
        if path
            .iter()
            .any(|&n| !self.nodes[n].running() || !self.nodes[n].ready())
        {
            return;
        }
        let id = self.next_flow;
        let Some(mut flow) = self.flows[old].reuse(id, self.now, &mut self.rng) else {
            return;
        };
        self.next_flow += 1;
        self.stats.flows_reused += 1;
        // While a fault cuts a node off from the node the new SYN crosses,
        // it may hold (or receive) the old connection's entry and not hear
        // of the new connection before the path moves onto it: judged
        // against the old entry, the new connection's segments pass only leniently
        // (unrecorded) or not at all, and the tuple may stay blocked until
        // that entry expires (docs/sync.md §4), as on a standalone firewall
        // that missed the close.
        let now = self.now;
        let faulted = self
            .spans
            .iter()
            .any(|(s, e, _, _)| *s <= now && e.is_none_or(|e| e >= now));
        let first = path[0];
        // (A node cut off now may hold no entry yet and receive the old
        // connection's state after the new one's segments reach it.)
        let stale: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| {
                n != first
                    && self.nodes[n].alive
                    && (self.nodes[n].frozen_until.is_some()
                        || self.nodes[first].frozen_until.is_some()
                        || self.net.cut_off(n, first, now))
            })
            .collect();
        if faulted && !stale.is_empty() {
            self.log(format!(
                "flow {id}: nodes {stale:?} are cut off from n{first} as it reuses flow {old}'s tuple"
            ));
            flow.cut_off = stale;
            let key = flow.key;
            for n in 0..self.nodes.len() {
                if self.nodes[n].alive
                    && let Some(st) = self.nodes[n].state_of(&key, now)
                    && !flow.old_incs.contains(&st.inc)
                {
                    flow.old_incs.push(st.inc);
                }
            }
        }
        self.by_key.insert(flow.key, id);
        self.log(format!(
            "flow {id} reuses flow {old}'s tuple via n{}/n{}",
            path[0], path[1]
        ));
        self.flows.push(flow);
        self.flow_send(id);
    }

    fn flow_send(&mut self, f: usize) {
        if self.flows[f].outstanding.is_some() {
            return;
        }
        let seg = self.flows[f].next_segment(&mut self.rng);
        match seg {
            None => {
                let key = self.flows[f].key;
                let now = self.now;
                let states: Vec<String> = (0..self.nodes.len())
                    .map(|i| match self.nodes[i].state_of(&key, now) {
                        _ if !self.nodes[i].running() => format!("n{i}:stopped"),
                        Some(s) => match s.proto {
                            SyncProto::Tcp(t) => format!("n{i}:{:?}", t.state),
                            other => format!("n{i}:{other:?}"),
                        },
                        None => format!("n{i}:-"),
                    })
                    .collect();
                self.log(format!("flow {f} done; states {}", states.join(" ")));
                // Clients reuse ports: now and then a new connection on the
                // same tuple follows within milliseconds, while a node may
                // still hold the old one's close as its peer saw it.
                if self.flows[f].kind == Kind::Tcp && self.rng.random_bool(REUSE_SHARE) {
                    let think = self.rng.random_range(MS / 10..=20 * MS);
                    self.push(self.now + think, Ev::FlowReuse(f));
                }
            }
            Some(seg) => {
                self.flows[f].outstanding = Some(seg);
                self.transmit(f);
            }
        }
    }

    fn transmit(&mut self, f: usize) {
        let flow = &mut self.flows[f];
        let Some(out) = &mut flow.outstanding else {
            return;
        };
        out.attempts += 1;
        let attempt = out.attempts;
        self.seq += 1;
        out.tx = self.seq;
        let tx = out.tx;
        let from = out.from;
        let mut frame = out.frame.clone();
        let syn = out.syn;
        let node = flow.path[from as usize];
        let ingress = flow.ingress(from);
        // A reused tuple's segment reaches a node that was cut off from the
        // new connection's first node and holds the old connection's entry
        // (or none): the stale entry there may block the tuple.
        if !flow.stale_tuple && flow.cut_off.contains(&node) {
            let key = flow.key;
            let now = self.now;
            if self.stale_here(f, node, &key, now) {
                self.flows[f].stale_tuple = true;
                self.log(format!(
                    "flow {f} reaches n{node}, cut off when it reused the tuple, on a stale entry: it may stay blocked"
                ));
            }
        }
        let flow = &mut self.flows[f];
        let backoff = RTO << (attempt - 1).min(3);
        if !flow.seen.contains(&node) && self.nodes[node].running() {
            flow.seen.push(node);
        }
        self.push(self.now + backoff, Ev::Rto { flow: f, tx });
        if !self.nodes[node].running() {
            return;
        }
        self.stats.packets += 1;
        let verdict = self.nodes[node].packet(&mut frame, ingress, self.now);
        self.log(format!(
            "flow {f} {from:?} segment (try {attempt}) at n{node}: {verdict:?}"
        ));
        match verdict {
            Verdict::Forward { .. } => {
                self.tally[node].forwarded += 1;
                self.delivered(f, node, syn);
            }
            Verdict::Hold => {
                self.stats.held += 1;
                let life = self.nodes[node].lives;
                let now = self.now;
                if let Some(o) = &mut self.flows[f].outstanding {
                    o.at = Some((node, true, life));
                    o.held_at = now;
                }
            }
            Verdict::Drop(reason) => {
                self.tally[node].dropped += 1;
                self.dropped(f, node, reason.label(), (self.now, self.now));
            }
        }
        self.pump(node);
    }

    /// Whether `node` holds the old connection's entry of a reused tuple
    /// (or none).
    fn stale_here(&mut self, f: usize, node: usize, key: &FlowKey, now: u64) -> bool {
        match self.nodes[node].state_of(key, now) {
            None => true,
            Some(s) => self.flows[f].old_incs.contains(&s.inc),
        }
    }

    fn delivered(&mut self, f: usize, node: usize, syn: bool) {
        let now = self.now;
        let key = self.flows[f].key;
        // The SYN of a tuple reused while nodes were cut off left on the old
        // entry: it waited for news a cut-off node could not send, and
        // passed at its deadline as a standalone engine passes it.
        if syn
            && !self.flows[f].cut_off.is_empty()
            && !self.flows[f].stale_tuple
            && self.stale_here(f, node, &key, now)
        {
            self.flows[f].stale_tuple = true;
            self.log(format!(
                "flow {f}'s SYN left n{node} on the old entry while nodes were cut off: it may stay blocked"
            ));
        }
        let flow = &mut self.flows[f];
        flow.delivered += 1;
        if flow.outstanding.take().is_some_and(|o| o.rst) {
            // Only an exact RST closes the entry; one beyond the last
            // acknowledgement the node saw passes as a challenge and the
            // state stays (RFC 5961 §3.2, docs/asa-behaviour.md).
            let closed = self.nodes[node]
                .state_of(&key, now)
                .is_none_or(|s| matches!(s.proto, SyncProto::Tcp(t) if t.state == TcpState::Close));
            if closed {
                self.deleted.push(f);
            }
        }
        let flow = &mut self.flows[f];
        if syn {
            let t = self.nodes[node].clock(now);
            let shift = self.nodes[node]
                .engine
                .find(&flow.tuple(), t)
                .map_or(0, |e| e.seq_offset);
            flow.set_shift(shift);
        }
        // Now and then a path moves to another node mid-flow.
        if self.rng.random_bool(0.03) {
            let usable = self.usable();
            let dir = self.rng.random_range(0..2);
            let to = usable[self.rng.random_range(0..usable.len())];
            self.flows[f].path[dir] = to;
            self.log(format!("flow {f} direction {dir} moves to n{to}"));
        }
        let think = self.rng.random_range(MS / 10..=30 * MS);
        self.push(now + think, Ev::FlowSend(f));
    }

    fn released(&mut self, node: usize, frame: Vec<u8>) {
        self.tally[node].forwarded += 1;
        let Some(f) = key_of(&frame).and_then(|k| self.by_key.get(&k).copied()) else {
            self.violation(format!("n{node} released a frame of no flow"));
            return;
        };
        let life = self.nodes[node].lives;
        let flow = &mut self.flows[f];
        let current = flow
            .outstanding
            .as_ref()
            .is_some_and(|o| o.at == Some((node, true, life)));
        if !current {
            // A copy held before a retransmission went elsewhere.
            self.stats.late_releases += 1;
            if let Some(p) = flow
                .presumed_dropped
                .iter()
                .position(|&x| x == (node, life))
            {
                flow.presumed_dropped.swap_remove(p);
                self.tally[node].dropped -= 1;
            }
            return;
        }
        let Some(out) = &flow.outstanding else {
            return;
        };
        let line = format!("flow {f} {:?} segment released by n{node}", out.from);
        let syn = out.syn;
        self.log(line);
        self.delivered(f, node, syn);
    }

    /// A packet of flow `f` was dropped at `node` for `reason`, between the
    /// times `when` (a held packet never released went between its holding
    /// and its hold deadline, before its sender's timer noticed; any other
    /// drop is at once).
    fn dropped(&mut self, f: usize, node: usize, reason: &str, when: (u64, u64)) {
        self.stats.drops += 1;
        let key = self.flows[f].key;
        if self.nodes[node].alive {
            let state = self.nodes[node].state_of(&key, self.now);
            self.log(format!(
                "flow {f} dropped at n{node} ({reason}); its state there: {:?}",
                state.map(|s| (s.inc, s.proto))
            ));
            // And every other live node's copy: a lost packet is usually
            // two nodes holding different incarnations or states.
            for i in 0..self.nodes.len() {
                if self.nodes[i].alive && i != node {
                    let now = self.now;
                    let st = self.nodes[i].state_of(&key, now);
                    self.log(format!("  n{i} holds: {:?}", st.map(|s| (s.inc, s.proto))));
                }
            }
        }
        let flow = &self.flows[f];
        let kind = flow.kind;
        let path = flow.path;
        let life = self.nodes[node].lives;
        if let Some(o) = &mut self.flows[f].outstanding {
            o.at = Some((node, false, life));
        }
        if self.flows[f].excused() {
            return;
        }
        // Only a fault that struck a node the flow involves excuses the
        // drop: one of its paths, or one its key ranks among its director
        // and copies (with one more, the node that takes over when one of
        // them leaves).
        let involved = self.involved(f);
        let disturbed = self.spans.iter().any(|(s, e, _, struck)| {
            *s <= when.1 && e.is_none_or(|e| e >= when.0) && struck & involved != 0
        });
        if disturbed {
            self.stats.excused_drops += 1;
            self.log(format!(
                "flow {f} packet dropped at n{node} ({reason}), excused by a fault"
            ));
            return;
        }
        self.violation(format!(
            "n{node} dropped a packet of flow {f} ({kind:?}, path n{}/n{}) for {reason}, with no fault on its nodes since it began",
            path[0], path[1]
        ));
    }

    fn rto(&mut self, f: usize, tx: u64) {
        let Some(out) = &self.flows[f].outstanding else {
            return;
        };
        if out.tx != tx {
            return;
        }
        let held_at = out.held_at;
        if let Some((node, true, life)) = out.at {
            // Held and never released: dropped at its deadline (by this
            // life of the node; a crash took it with the node).
            if self.nodes[node].lives == life && self.nodes[node].alive {
                self.tally[node].dropped += 1;
                self.flows[f].presumed_dropped.push((node, life));
            }
            // It went at its deadline, unless the node went first (a
            // crash or a freeze ends its holding).
            let deadline = SyncConfig::default().hold_deadline.as_nanos() as u64;
            let gone = (held_at + deadline).min(self.now);
            self.dropped(f, node, "hold-expired", (held_at, gone));
        }
        self.flows[f].retransmits += 1;
        self.stats.retransmits += 1;
        if self.flows[f].lost() {
            self.flow_send(f);
        } else {
            if self.flows[f].peer_resends() {
                self.log(format!(
                    "flow {f}: the other side sends its unacknowledged segment again"
                ));
            }
            self.transmit(f);
        }
    }

    fn move_paths_off(&mut self, i: usize) {
        let usable: Vec<usize> = self.usable().into_iter().filter(|&j| j != i).collect();
        if usable.is_empty() {
            return;
        }
        let to = usable[self.rng.random_range(0..usable.len())];
        for flow in &mut self.flows {
            for dir in 0..2 {
                if flow.path[dir] == i {
                    flow.path[dir] = to;
                }
            }
        }
        self.log(format!("paths via n{i} move to n{to}"));
    }

    fn restart(&mut self, i: usize) {
        let n = self.nodes.len();
        let max_skew = self.cfg.max_skew.as_nanos() as i64;
        let skew = if max_skew > 0 {
            self.rng.random_range(-max_skew..=max_skew)
        } else {
            0
        };
        let lives = self.nodes[i].lives;
        // Half the restarts find their data directory (the Raft log and the
        // applied policy) as it was; the others find it wiped and forward
        // nothing until replication brings them the cluster's policy
        // (docs/ops.md §1, *A node not yet joined*).
        // (A disk holding the only copy of the committed log is kept: Raft
        // survives the loss of a minority's disks, not of every copy.)
        let copies = (0..n)
            .filter(|&j| j != i && self.disk[j] == self.committed)
            .count();
        let keeps_disk = self.rng.random_bool(0.5) || copies == 0;
        if !keeps_disk {
            self.disk[i] = NO_POLICY;
        }
        self.applied[i] = self.disk[i];
        let mut node = SimNode::new(
            i,
            n,
            &self.policies[(self.applied[i] % 3) as usize],
            self.rng.random(),
            self.rng.random(),
            skew,
            self.now,
        );
        if !keeps_disk {
            node.engine.await_cluster_policy();
        }
        node.lives = lives + 1;
        self.nodes[i] = node;
        self.log(format!(
            "n{i} restarts with empty memory, its disk {}",
            if keeps_disk {
                format!("kept (policy version {})", self.applied[i])
            } else {
                "wiped (no policy until replication reaches it)".to_string()
            },
        ));
        // Its new connections replace the dead ones at once (the transport
        // closes a peer's old connection when the peer dials anew). The
        // survivor hears of the old connection's end before the new one
        // comes up, or, with `replaced_first`, as the transport reports a
        // replaced connection: just after (docs/sync.md §5, *Peers up and
        // down*).
        for j in (0..n).filter(|&j| j != i) {
            if let Some(conn) = self.net.link(i, j).dead_conn.take() {
                if self.cfg.replaced_first && self.rng.random_bool(0.5) {
                    let l = self.net.link(i, j);
                    let side = l.side(j);
                    l.down_seen[side] = true;
                    l.replaced = Some((j, conn));
                    continue;
                }
                self.push(
                    self.now,
                    Ev::PeerDown {
                        node: j,
                        peer: i,
                        conn,
                    },
                );
            }
        }
        self.wake_due[i] = None;
        self.wake_at(i, self.now);
    }

    /// The placement every node uses once all are up.
    fn placement(&self) -> Placement {
        Placement::new(
            (0..self.nodes.len()).map(id_of),
            ProtocolConfig::default().copies,
        )
    }

    fn final_checks(&mut self) {
        let now = self.now;
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.running() || !node.ready() {
                self.violations
                    .push(format!("n{i} is not running and ready at the end"));
            }
        }
        // Every dataplane runs the last committed policy version, and no
        // committed version was lost.
        for (i, node) in self.nodes.iter().enumerate() {
            let want = &self.policies[(self.committed % 3) as usize];
            if self.applied[i] != self.committed || !Arc::ptr_eq(node.engine.policy(), want) {
                self.violations.push(format!(
                    "n{i} runs policy version {} at the end; the log committed {}",
                    self.applied[i], self.committed
                ));
            }
        }
        // The per-kind entry counts the metrics read are kept as entries
        // come, change and go: they must equal a walk of the table.
        for (i, node) in self.nodes.iter().enumerate() {
            let table = node.engine.table();
            let mut walked = [0u64; rampart_dataplane::conntrack::table::KIND_COUNT];
            for (_, e) in table.iter() {
                walked[rampart_dataplane::conntrack::table::kind_of(e)] += 1;
            }
            if &walked != table.kind_counts() {
                self.violations.push(format!(
                    "n{i} counts entries by kind as {:?}; its table holds {walked:?}",
                    table.kind_counts()
                ));
            }
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if node.rejected > 0 {
                self.violations.push(format!(
                    "n{i} refused {} sync events from correct peers",
                    node.rejected
                ));
            }
        }
        for l in &self.net.links {
            if l.conn.is_none() {
                self.violations.push(format!(
                    "link n{}-n{} did not reconnect after every fault healed",
                    l.ends[0], l.ends[1]
                ));
            }
        }
        for f in &self.flows {
            if !f.done && !f.excused() {
                self.violations.push(format!(
                    "flow {} ({:?}, path n{}/n{}) never completed ({} segments delivered, {} retransmits)",
                    f.id, f.kind, f.path[0], f.path[1], f.delivered, f.retransmits
                ));
            }
        }
        // Every live node holds the same table, but for flows about to
        // expire: a peer's copy of an idle flow may expire up to a quarter
        // of its timeout before the owner's (refreshes are rate-limited to
        // four per timeout), plus clock skew.
        let tables: Vec<BTreeMap<Ordered, (FlowState, u64, u64)>> = (0..self.nodes.len())
            .map(|i| {
                self.nodes[i]
                    .table_with_expiry(now)
                    .into_iter()
                    .map(|(s, left, timeout)| (Ordered::of(&s.key), (masked(&s), left, timeout)))
                    .collect()
            })
            .collect();
        // Flows whose state died with a node before every live node had it
        // are not repaired among the survivors (a node learns a flow from
        // the nodes that change it; issue 15's directors pull on a miss).
        let at_risk: Vec<Ordered> = self
            .flows
            .iter()
            .filter(|f| f.at_risk)
            .map(|f| Ordered::of(&f.key))
            .collect();
        let settled = |k: &Ordered| {
            !at_risk.contains(k)
                && tables.iter().all(|t| {
                    t.get(k)
                        .is_none_or(|&(_, left, timeout)| left > timeout / 4 + SEC)
                })
        };
        self.check_placement(&tables, settled);
        let tables: Vec<BTreeMap<Ordered, FlowState>> = tables
            .into_iter()
            .map(|t| t.into_iter().map(|(k, (s, _, _))| (k, s)).collect())
            .collect();
        // A flow ended by an RST is closed everywhere (kept in CLOSE only
        // for stragglers) and never comes back to life: on every node that
        // holds it, not only its path and director (they were all that was
        // checked until 2026-12-06; every node held it closed all along).
        for &f in &self.deleted {
            if self.flows[f].at_risk {
                continue;
            }
            let key = self.flows[f].key;
            for (i, t) in tables.iter().enumerate() {
                if let Some(s) = t.get(&Ordered::of(&key))
                    && !matches!(s.proto, SyncProto::Tcp(tcp) if matches!(tcp.state, TcpState::Close | TcpState::TimeWait))
                {
                    self.violations.push(format!(
                        "flow {f} was reset but n{i} holds it alive: {:?}",
                        s.proto
                    ));
                }
            }
        }
        // The engines' counters agree with what the simulator saw.
        for (i, node) in self.nodes.iter().enumerate() {
            let c = node.totals();
            let mut t = self.tally[i];
            // Segments still waiting here when the run ended: those the
            // engine no longer holds were dropped at their deadline.
            let waiting = self
                .flows
                .iter()
                .filter(|f| {
                    f.outstanding
                        .as_ref()
                        .is_some_and(|o| o.at == Some((i, true, node.lives)))
                })
                .count() as u64;
            t.dropped += waiting.saturating_sub(node.engine.sync_backlog().0 as u64);
            if (c.forwarded, c.dropped) != (t.forwarded, t.dropped) {
                self.violations.push(format!(
                    "n{i} counts {} forwarded and {} dropped; the simulator saw {} and {}",
                    c.forwarded, c.dropped, t.forwarded, t.dropped
                ));
            }
        }
        if !self.violations.is_empty() {
            let v = self.violations.clone();
            for line in v {
                self.log(format!("VIOLATION {line}"));
            }
        }
    }
}

/// The node an event is addressed to, if any.
fn target(ev: &Ev) -> Option<usize> {
    match ev {
        Ev::Wake(i) => Some(*i),
        Ev::Stream { to, .. } | Ev::Dgram { to, .. } => Some(*to),
        Ev::PeerUp { node, .. } | Ev::PeerDown { node, .. } => Some(*node),
        _ => None,
    }
}

/// A flow's state without the fields each node keeps for itself (its
/// last-seen refresh is rate-limited per node).
fn masked(s: &FlowState) -> FlowState {
    let mut s = *s;
    s.last_seen_ns = 0;
    s
}

fn same(a: &FlowState, b: &FlowState) -> bool {
    masked(a) == masked(b)
}

/// A flow key in a total order (address bytes, ports, protocol, VLAN), for
/// tables compared in the same order on every replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ordered([u8; 16], u16, [u8; 16], u16, u8, u16);

impl Ordered {
    fn of(k: &FlowKey) -> Ordered {
        Ordered(
            k.lo.addr.0,
            k.lo.port,
            k.hi.addr.0,
            k.hi.port,
            k.proto,
            k.vlan,
        )
    }
}
