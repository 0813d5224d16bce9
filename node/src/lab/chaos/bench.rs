//! The test bench of one chaos scenario: the asymmetric lab (and a third
//! node's namespace when asked), the nodes' files, their processes, the
//! lossy relay on the sync link when asked, and the faults: kill or freeze
//! a node by PID, move the hosts' routes, wipe a data directory. Dropping
//! it stops every process it started (by PID) and removes its namespaces
//! and files, also when a scenario fails half-way.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rampart_dataplane::flow::{Addr, Endpoint as FlowEnd, FlowKey};
use rampart_dataplane::placement::Placement;
use rampart_ops::model::{ClusterView, ConnRow};
use rampart_ops::show_conn::ConnFilter;

use crate::lab::lossy::LossyLink;
use crate::lab::netns::{Netns, sh};
use crate::lab::proc::{Endpoint, NodeProc, NodeSpec, SYNC_PORT, asym_node, write_config};
use crate::lab::topology::{AsymLab, SYNC_B, SYNC_HUB};
use crate::lab::{LabError, file_error};

/// How often waits poll.
const POLL: Duration = Duration::from_millis(50);

/// What a scenario's bench holds.
#[derive(Debug, Clone, Copy)]
pub struct BenchOpts {
    /// Three nodes (the third on [`AsymLab::third_node`]), Raft
    /// bootstrapped by A; else two.
    pub three: bool,
    /// Node A reaches B through the lossy relay in the hub.
    pub relay: bool,
    /// Lines for every node's `[cluster]` table.
    pub cluster_extra: &'static str,
    /// The policy replicated by Raft, as a production pair runs it: A
    /// bootstraps the log, the others join (always so with three nodes).
    pub raft: bool,
}

/// A path of the asymmetric lab: through node A or node B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Segment A (198.18.1.0/24).
    A,
    /// Segment B (198.18.2.0/24).
    B,
}

/// One scenario's lab, nodes and faults.
#[derive(Debug)]
pub struct Bench {
    /// The topology.
    pub lab: AsymLab,
    third: Option<Netns>,
    dir: PathBuf,
    exe: PathBuf,
    specs: Vec<NodeSpec>,
    files: Vec<PathBuf>,
    procs: Vec<Option<NodeProc>>,
    /// The relay on the sync link (A → relay → B), when asked for.
    pub relay: Option<LossyLink>,
}

impl Bench {
    /// Build the lab under `prefix`, write the nodes' files (policy
    /// `policy`, a CA of the bench's own) into a fresh directory; no node
    /// runs yet.
    pub fn new(prefix: &str, exe: &Path, policy: &str, opts: BenchOpts) -> Result<Bench, LabError> {
        let lab = AsymLab::new(prefix)?;
        let third = if opts.three {
            Some(lab.third_node()?)
        } else {
            None
        };
        let dir = std::env::temp_dir().join(format!("rampart-chaos-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(file_error(&dir))?;
        let mut bench = Bench {
            lab,
            third,
            dir: dir.clone(),
            exe: exe.to_path_buf(),
            specs: Vec::new(),
            files: Vec::new(),
            procs: Vec::new(),
            relay: None,
        };
        let policy_file = dir.join("policy.cfg");
        std::fs::write(&policy_file, policy).map_err(file_error(&policy_file))?;
        rampart_cluster::pki::init_ca(&dir).map_err(LabError::Ca)?;
        let n = if opts.three { 3 } else { 2 };
        let specs: Vec<NodeSpec> = (0..n).map(|i| asym_node(i, 2)).collect();
        if opts.relay {
            let hub = &bench.lab.hub;
            let addr = |a: &str| -> Result<SocketAddr, LabError> {
                format!("{a}:{SYNC_PORT}")
                    .parse()
                    .map_err(|e| LabError::Bench(format!("{a}: {e}")))
            };
            let (listen, upstream) = (addr(SYNC_HUB)?, addr(SYNC_B)?);
            // The relay's thread enters the hub: fail here, not in it.
            hub.run(|| ())?;
            bench.relay = Some(LossyLink::start(
                |f| match hub.spawn(f) {
                    Ok(t) => Box::new(move || {
                        let _ = t.join();
                    }),
                    Err(_) => Box::new(|| ()),
                },
                listen,
                upstream,
                0.0,
                Duration::ZERO,
                0x5eed,
            ));
        }
        for (i, me) in specs.iter().enumerate() {
            // Node A dials B (the lower id dials), through the relay.
            let mut seen = specs.clone();
            if opts.relay && i == 0 {
                seen[1].sync = SYNC_HUB;
            }
            let mut extra = opts.cluster_extra.to_string();
            if (opts.three || opts.raft) && i == 0 {
                extra.push_str("\nbootstrap = true");
            }
            if !(opts.three || opts.raft) {
                // No Raft: each node runs its own file (the lab's policy).
                extra.push_str("\nforward_before_join = true");
            }
            bench.files.push(write_config(&dir, me, &seen, &extra)?);
        }
        bench.procs = specs.iter().map(|_| None).collect();
        bench.specs = specs;
        Ok(bench)
    }

    /// The files' directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The number of nodes.
    pub fn nodes(&self) -> usize {
        self.specs.len()
    }

    /// Node `i`'s name.
    pub fn name(&self, i: usize) -> &'static str {
        self.specs[i].name
    }

    /// Node `i`'s namespace.
    pub fn netns(&self, i: usize) -> &Netns {
        match i {
            0 => &self.lab.node_a,
            1 => &self.lab.node_b,
            _ => self.third.as_ref().unwrap_or(&self.lab.node_b),
        }
    }

    /// Node `i`'s file.
    pub fn file(&self, i: usize) -> &Path {
        &self.files[i]
    }

    /// The `rampart` binary the bench runs.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// Start node `i` (not waiting for it).
    pub fn start(&mut self, i: usize) -> Result<(), LabError> {
        let p = NodeProc::start(self.netns(i), &self.exe, &self.files[i], self.specs[i].name)?;
        self.procs[i] = Some(p);
        Ok(())
    }

    /// Start node `i` and wait until it reports ready (at most `limit`);
    /// how long that took.
    pub fn start_ready(&mut self, i: usize, limit: Duration) -> Result<Duration, LabError> {
        let t0 = Instant::now();
        self.start(i)?;
        self.wait_ready(i, limit)?;
        Ok(t0.elapsed())
    }

    /// Wait until node `i` reports ready.
    pub fn wait_ready(&mut self, i: usize, limit: Duration) -> Result<(), LabError> {
        Ok(self.live(i)?.wait_ready(limit)?)
    }

    /// Wait until node `i` reports ready but for the cluster's policy (a
    /// node to be joined).
    pub fn wait_joinable(&mut self, i: usize, limit: Duration) -> Result<(), LabError> {
        Ok(self.live(i)?.wait_joinable(limit)?)
    }

    fn live(&mut self, i: usize) -> Result<&mut NodeProc, LabError> {
        let name = self.specs[i].name;
        self.procs[i]
            .as_mut()
            .ok_or_else(|| LabError::Bench(format!("{name} is not running")))
    }

    /// Node `i`'s process, if it runs.
    pub fn proc(&self, i: usize) -> Option<&NodeProc> {
        self.procs[i].as_ref()
    }

    /// The messages node `i` has logged so far that contain `part`.
    pub fn logged(&self, i: usize, part: &str) -> Vec<String> {
        self.procs[i]
            .as_ref()
            .map(|p| {
                p.log()
                    .into_iter()
                    .filter(|r| r.message.contains(part))
                    .map(|r| r.message)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Node `i`'s admin API (whether or not it runs).
    pub fn endpoint(&self, i: usize) -> Result<Endpoint, LabError> {
        Ok(Endpoint::of(
            self.netns(i).name(),
            &self.files[i],
            self.specs[i].name,
        )?)
    }

    /// SIGKILL node `i` by PID (a crash); what it logged.
    pub fn kill(&mut self, i: usize) -> String {
        self.procs[i].take().map(NodeProc::kill).unwrap_or_default()
    }

    /// Fail node `i` as nodes fail: SIGKILL by PID and, at the same
    /// instant, the hosts' routes around it ([`Bench::routes_around`]);
    /// then reap the process. How long the routes took after the signal.
    pub fn fail(&mut self, i: usize) -> Result<Duration, LabError> {
        // A node that died on its own before the fault would make the
        // scenario test nothing: that is a failure of its own.
        if self.procs[i].as_mut().is_none_or(NodeProc::exited) {
            return Err(LabError::Bench(format!(
                "{} had already exited before it was to be killed",
                self.specs[i].name
            )));
        }
        let t0 = Instant::now();
        if !self.signal(i, libc::SIGKILL) {
            return Err(LabError::Bench(format!(
                "SIGKILL to {} was not delivered",
                self.specs[i].name
            )));
        }
        let moved = self.routes_around(i);
        let took = t0.elapsed();
        self.kill(i);
        moved.map(|()| took)
    }

    /// SIGTERM node `i` by PID and wait for its exit summary.
    pub fn stop(&mut self, i: usize) -> Result<crate::summary::Summary, LabError> {
        match self.procs[i].take() {
            Some(p) => Ok(p.stop()?),
            None => Err(LabError::Bench(format!(
                "{} is not running",
                self.specs[i].name
            ))),
        }
    }

    /// Send `signal` to node `i` by PID (SIGSTOP, SIGCONT).
    pub fn signal(&self, i: usize, signal: libc::c_int) -> bool {
        match &self.procs[i] {
            // SAFETY: the PID of a child we started and have not reaped.
            Some(p) => unsafe { libc::kill(p.pid() as libc::pid_t, signal) == 0 },
            None => false,
        }
    }

    /// Remove node `i`'s data directory and make it again, empty.
    pub fn wipe_data(&self, i: usize) -> Result<(), LabError> {
        let data = self.dir.join(self.specs[i].name);
        std::fs::remove_dir_all(&data).map_err(file_error(&data))?;
        std::fs::create_dir_all(&data).map_err(file_error(&data))
    }

    /// Route the client's packets to the server through `via`.
    pub fn route_to_server(&self, via: Via) -> Result<(), LabError> {
        let (gw, dev) = match via {
            Via::A => ("198.18.1.20", "ca0"),
            Via::B => ("198.18.2.20", "cb0"),
        };
        route(self.lab.client.name(), "198.18.20.20/32", gw, dev)
    }

    /// Route the server's packets to the client through `via`.
    pub fn route_to_client(&self, via: Via) -> Result<(), LabError> {
        let (gw, dev) = match via {
            Via::A => ("198.18.1.10", "as0"),
            Via::B => ("198.18.2.10", "bs0"),
        };
        route(self.lab.server.name(), "198.18.10.10/32", gw, dev)
    }

    /// Both hosts' routes through the surviving path when node `i` (A or
    /// B) fails; nothing for a third node (it carries no traffic).
    pub fn routes_around(&self, i: usize) -> Result<(), LabError> {
        match i {
            0 => self.route_to_server(Via::B),
            1 => self.route_to_client(Via::A),
            _ => Ok(()),
        }
    }

    /// The asymmetric routes again: to the server via A, back via B.
    pub fn routes_asymmetric(&self) -> Result<(), LabError> {
        self.route_to_server(Via::A)?;
        self.route_to_client(Via::B)
    }

    /// `show cluster` of node `i`.
    pub fn cluster(&self, i: usize) -> Result<ClusterView, LabError> {
        Ok(self.endpoint(i)?.cluster()?)
    }

    /// Node `i`'s inspected connections (`show conn` rows without the
    /// bypass flag `b`), as comparable keys: the tuple, who opened it and
    /// which connection it is (the owner, its connection id and creation
    /// time, which every copy shares: docs/sync.md §1), each with the node
    /// id of its director among `members` (docs/sync.md §13). Two nodes
    /// that list one tuple but hold different connections on it (a stale
    /// copy of a closed one beside its successor) do not agree.
    pub fn inspected_conns(
        &self,
        i: usize,
        members: &Placement,
    ) -> Result<BTreeMap<String, Listed>, LabError> {
        let list = self.endpoint(i)?.conns(&ConnFilter::default())?;
        Ok(list
            .conns
            .iter()
            .filter(|r| !r.flags.contains('b'))
            .map(|r| {
                let row = format!(
                    "{} {}:{} {}:{} from {} #{}/{}@{}",
                    r.protocol,
                    r.lower.addr,
                    r.lower.port,
                    r.higher.addr,
                    r.higher.port,
                    r.initiator,
                    r.owner,
                    r.id,
                    r.created_ns
                );
                let how = format!(
                    "flags {}, idle {} s of {} s",
                    r.flags, r.idle_s, r.timeout_s
                );
                // Both FINs sent and acknowledged (`fFrR`): TIME_WAIT.
                let closed = ['f', 'F', 'r', 'R'].iter().all(|c| r.flags.contains(*c));
                (row, (director(r, members), how, closed))
            })
            .collect())
    }

    /// The ids of the nodes whose process runs.
    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes())
            .filter(|&i| self.procs[i].is_some())
            .collect()
    }

    /// Wait (at most `limit`) until the running nodes agree on the
    /// inspected connections; how long it took and how many connections
    /// they list, or the last disagreement in words.
    ///
    /// Agreeing is placement's claim (docs/sync.md §13): every inspected
    /// connection that a running node lists (tuple and incarnation) is
    /// listed by at least [`COPIES`] of them, its director among them. With
    /// two nodes that is every connection on both. With three, a flow
    /// whose path was one node while the other was away is kept by that
    /// node and a backup, not necessarily by the one that came back.
    ///
    /// One exception beyond a pair, reported and not failed: a connection
    /// every holder lists as closed (TIME_WAIT) may be left on fewer
    /// nodes, to its timer. With three nodes a copy of a closed
    /// connection was seen to stay on one node after its owner no longer
    /// listed it: not state lost, but a leftover (docs/sync.md §13, "A
    /// known leftover"), so each is named in the result (the third
    /// figure) for the scenario's notes.
    pub fn converge_running(
        &self,
        limit: Duration,
    ) -> Result<(Duration, usize, Vec<String>), String> {
        let running = self.running();
        if running.len() < 2 {
            return Err(format!("{} node(s) running, not two", running.len()));
        }
        let members = Placement::new(running.iter().map(|&i| self.specs[i].id), 1);
        let t0 = Instant::now();
        let mut last = String::from("no node's table could be read");
        while t0.elapsed() < limit {
            match self.disagreement(&running, &members) {
                Ok(Ok((rows, leftovers))) => return Ok((t0.elapsed(), rows, leftovers)),
                Ok(Err(d)) => last = d,
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(POLL * 4);
        }
        Err(last)
    }

    /// What the running nodes' lists disagree on, as
    /// [`Bench::converge_running`] judges them, or the number of
    /// connections they list.
    fn disagreement(
        &self,
        running: &[usize],
        members: &Placement,
    ) -> Result<Result<(usize, Vec<String>), String>, LabError> {
        let lists = running
            .iter()
            .map(|&i| self.inspected_conns(i, members))
            .collect::<Result<Vec<_>, _>>()?;
        let mut all: BTreeMap<&String, Option<u16>> = BTreeMap::new();
        for l in &lists {
            all.extend(l.iter().map(|(r, (d, _, _))| (r, *d)));
        }
        let need = COPIES.min(running.len());
        let mut short = Vec::new();
        let mut leftovers = Vec::new();
        for (row, director) in &all {
            let holders: Vec<usize> = running
                .iter()
                .zip(&lists)
                .filter(|(_, l)| l.contains_key(*row))
                .map(|(&i, _)| i)
                .collect();
            let director_holds =
                director.is_none_or(|d| holders.iter().any(|&i| self.specs[i].id == d));
            if holders.len() < need || !director_holds {
                let listed =
                    |i: usize| lists[running.iter().position(|&k| k == i).unwrap_or(0)].get(*row);
                let on: Vec<String> = holders
                    .iter()
                    .map(|&i| {
                        let how = listed(i).map_or("", |(_, h, _)| h.as_str());
                        format!("{} ({how})", self.name(i))
                    })
                    .collect();
                let said = format!("{row} on [{}]", on.join(", "));
                // Only beyond a pair: in a pair the reopen's insert reaches
                // the other node, whose stale copy is a failure as before.
                if running.len() > 2
                    && holders
                        .iter()
                        .all(|&i| listed(i).is_some_and(|(_, _, c)| *c))
                {
                    leftovers.push(said);
                } else {
                    short.push(said);
                }
            }
        }
        if short.is_empty() {
            return Ok(Ok((all.len(), leftovers)));
        }
        let per_node: Vec<String> = running
            .iter()
            .zip(&lists)
            .map(|(&i, l)| format!("{} lists {}", self.name(i), l.len()))
            .collect();
        Ok(Err(format!(
            "{} of {} connections on fewer than {need} nodes or not on their director ({}), e.g. {:?}",
            short.len(),
            all.len(),
            per_node.join(", "),
            short.iter().take(3).collect::<Vec<_>>()
        )))
    }

    /// The sum over node `i`'s peers of sync events sent and received
    /// (`show cluster`).
    pub fn sync_events(&self, i: usize) -> Result<(u64, u64), LabError> {
        let view = self.cluster(i)?;
        Ok(view.status.peers.iter().fold((0, 0), |(s, r), p| {
            (s + p.events_sent, r + p.events_received)
        }))
    }

    /// Node `i`'s state of peer `peer` (`up`, `down`, `handshake`), as
    /// its `show cluster` says.
    pub fn peer_state(&self, i: usize, peer: usize) -> Option<String> {
        self.peer(i, peer).map(|p| p.state)
    }

    /// Node `i`'s events not yet acknowledged by peer `peer`.
    pub fn unacked(&self, i: usize, peer: usize) -> Option<u64> {
        self.peer(i, peer).map(|p| p.unacked_events)
    }

    fn peer(&self, i: usize, peer: usize) -> Option<rampart_ops::model::PeerStatus> {
        let id = self.specs[peer].id;
        let view = self.cluster(i).ok()?;
        view.status.peers.into_iter().find(|p| p.id == id)
    }

    /// Drops of node `i` by reason, reasons with a count only (none when
    /// its counters cannot be read: for notes).
    pub fn drops(&self, i: usize) -> Vec<(String, u64)> {
        self.try_drops(i).unwrap_or_default()
    }

    /// Drops of node `i` by reason, reasons with a count only, or why its
    /// counters could not be read (for checks, which must not pass on
    /// counters they never saw).
    pub fn try_drops(&self, i: usize) -> Result<Vec<(String, u64)>, String> {
        self.endpoint(i)
            .and_then(|e| Ok(e.counters()?))
            .map(|c| {
                c.drops
                    .into_iter()
                    .filter(|d| d.count > 0)
                    .map(|d| (d.reason, d.count))
                    .collect()
            })
            .map_err(|e| e.to_string())
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        // Processes first (by PID: SIGKILL also ends a stopped one), then
        // the relay, then the namespaces (the lab's own drop) and files.
        for p in self.procs.iter_mut().filter_map(Option::take) {
            let _ = p.kill();
        }
        self.relay.take();
        self.third.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Point namespace `ns`'s route to `dst` at `gw` on `dev` (moved in one
/// step, as a host's route moves when a node fails).
fn route(ns: &str, dst: &str, gw: &str, dev: &str) -> Result<(), LabError> {
    Ok(sh(&[
        "ip", "-n", ns, "route", "replace", dst, "via", gw, "dev", dev,
    ])?)
}

/// Whole copies the lab's nodes keep of each flow: they leave `[cluster]
/// copies` at its default (docs/sync.md §11).
pub const COPIES: usize = 2;

/// The node id of the director among `members` of the connection `r`
/// lists (docs/sync.md §13: rendezvous hashing of its direction-normalised
/// key); none for a protocol the key cannot be built for.
fn director(r: &ConnRow, members: &Placement) -> Option<u16> {
    let proto = match r.protocol.as_str() {
        "TCP" => 6,
        "UDP" => 17,
        "ICMP" => 1,
        _ => return None,
    };
    let end = |s: &rampart_ops::model::ConnSide| FlowEnd {
        addr: Addr::from(s.addr),
        port: s.port,
    };
    let (x, y) = (end(&r.lower), end(&r.higher));
    let key = FlowKey {
        lo: x.min(y),
        hi: x.max(y),
        proto,
        vlan: r.vlan,
    };
    members.director(&key)
}

/// Drop reasons that mean "the node had no (or not enough) state" (an
/// echo reply whose request the node has not heard of among them).
pub const WANT_OF_STATE: [&str; 10] = [
    "tcp-not-syn",
    "tcp-seq-past-win",
    "tcp-invalid-ack",
    "tcp-invalid-state",
    "tcp-data-past-fin",
    "icmp-no-connection",
    "icmp-err-bad-seq",
    "inspect-icmp-seq-num-not-matched",
    "acl-drop",
    "cluster-not-ready",
];

/// The want-of-state drops among `drops`.
pub fn want_of_state(drops: &[(String, u64)]) -> Vec<(String, u64)> {
    drops
        .iter()
        .filter(|(r, _)| WANT_OF_STATE.contains(&r.as_str()))
        .cloned()
        .collect()
}

/// A connection as [`Bench::inspected_conns`] lists it: its director
/// among the members, its flags and timers in words, and whether it is
/// closed (TIME_WAIT: both FINs sent and acknowledged).
type Listed = (Option<u16>, String, bool);
