//! One simulated node: the real [`Engine`] and the real sync [`Protocol`],
//! glued as the node's cluster driver glues them (engine events into the
//! protocol, the protocol's events, acks, bulk requests and readiness into
//! the engine), with the node's own clock: simulation time plus a skew
//! fixed for the node's life, as an NTP-disciplined clock would be.

use std::sync::Arc;
use std::time::Duration;

use rampart_cluster::sync::{Output, Placement, Protocol, ProtocolConfig, Share};
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::engine::sync::{Source, SyncConfig, SyncOut};
use rampart_dataplane::engine::{Effect, Engine, EngineConfig};
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::policy::compile::Policy;
use rampart_dataplane::sync::{FlowState, SyncEvent};
use rampart_dataplane::{IfaceId, Instant, Verdict};

/// Flows a bulk dump takes from the engine per step (the real node takes
/// 4,096 between two packet batches; smaller here so that a fault can
/// strike in the middle of a dump).
const BULK_STEP_FLOWS: usize = 8;
/// Time between two bulk steps.
pub const BULK_STEP: Duration = Duration::from_millis(1);

/// What a node asks of the world.
#[derive(Debug)]
pub enum NodeOut {
    /// A stream frame for a peer (by index) on the connection the
    /// protocol meant it for.
    Send(usize, u64, bytes::Bytes),
    /// A datagram for a peer (by index) on the connection the protocol
    /// meant it for.
    Datagram(usize, u64, bytes::Bytes),
    /// A held frame leaves.
    Released(Vec<u8>),
    /// The engine produced this sync event (checked, then sent).
    Synced(SyncOut),
}

/// Totals of a node's earlier lives (before restarts).
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    /// Frames forwarded (at once or released).
    pub forwarded: u64,
    /// Frames dropped, for any reason.
    pub dropped: u64,
}

/// A node.
#[derive(Debug)]
pub struct SimNode {
    /// The dataplane.
    pub engine: Engine,
    /// The sync protocol.
    pub proto: Protocol,
    /// Its clock minus simulation time, ns.
    pub skew: i64,
    /// Running (not crashed).
    pub alive: bool,
    /// Frozen (SIGSTOP) until this simulation time.
    pub frozen_until: Option<u64>,
    /// Bulk dumps in progress: peer, request id, cursor, flows so far and
    /// the share asked for (one per peer: a new request from a peer
    /// replaces its earlier one).
    bulks: Vec<(u16, u64, usize, u64, Share)>,
    /// A rebalance walk in progress: the placements before and after, and
    /// its cursor (a new change restarts it from the start).
    rebalance: Option<(Placement, Placement, usize)>,
    /// What the protocol last told the engine: the peers up and the
    /// placement (checked against the protocol's own view after each pump).
    told: (usize, Placement),
    /// Sync events the engine refused (a peer sent a state it calls invalid).
    pub rejected: u64,
    /// Lives so far.
    pub lives: u32,
}

/// The node id of index `i`.
pub fn id_of(i: usize) -> u16 {
    u16::try_from(i + 1).expect("few nodes")
}

impl SimNode {
    /// A node (re)started at simulation time `now` with fresh memory.
    pub fn new(
        index: usize,
        n: usize,
        policy: &Arc<Policy>,
        secrets: [u64; 4],
        session: u64,
        skew: i64,
        now: u64,
    ) -> SimNode {
        let mut cfg = EngineConfig::inside_outside(NodeId(id_of(index)), secrets);
        cfg.max_conns = 4096;
        cfg.sync = Some(SyncConfig::default());
        let mut engine = Engine::new(cfg).expect("valid engine config");
        engine
            .set_policy(policy.clone())
            .expect("the policy's classes fit");
        let peers: Vec<u16> = (0..n).map(id_of).collect();
        let clock = at(now, skew);
        let proto = Protocol::new(
            id_of(index),
            session,
            &peers,
            ProtocolConfig::default(),
            clock,
        );
        let mut node = SimNode {
            engine,
            proto,
            skew,
            alive: true,
            frozen_until: None,
            bulks: Vec::new(),
            rebalance: None,
            told: (
                0,
                Placement::new([id_of(index)], ProtocolConfig::default().copies),
            ),
            rejected: 0,
            lives: 1,
        };
        if node.proto.is_ready() {
            node.engine.set_ready(true);
        }
        node
    }

    /// The node's clock at simulation time `now`.
    pub fn clock(&self, now: u64) -> Instant {
        at(now, self.skew)
    }

    /// Simulation time of the node's clock reading `t`.
    pub fn sim_time(&self, t: Instant) -> u64 {
        (i128::from(t.as_nanos()) - i128::from(self.skew)).max(0) as u64
    }

    /// Runs (alive and not frozen).
    pub fn running(&self) -> bool {
        self.alive && self.frozen_until.is_none()
    }

    /// Ready to forward, as its `/readyz` says: the first bulk sync done
    /// and a policy of the cluster's in force (a node restarted on a
    /// wiped disk forwards nothing until replication reaches it).
    pub fn ready(&self) -> bool {
        self.engine.is_ready() && !self.engine.awaits_cluster_policy()
    }

    /// Judge a frame.
    pub fn packet(&mut self, frame: &mut [u8], ingress: IfaceId, now: u64) -> Verdict {
        let t = self.clock(now);
        self.engine.process(
            frame,
            rampart_dataplane::packet::PacketMeta::default(),
            ingress,
            t,
        )
    }

    /// Drain the engine and the protocol into `out` until both are quiet.
    pub fn pump(&mut self, now: u64, out: &mut Vec<NodeOut>) {
        let t = self.clock(now);
        loop {
            let mut events = Vec::new();
            let mut pulls = Vec::new();
            while let Some(effect) = self.engine.poll_effect(t) {
                match effect {
                    Effect::Release { frame, .. } => out.push(NodeOut::Released(frame)),
                    // Idle-timeout resets are not configured in the simulation.
                    Effect::Transmit { .. } => {}
                    Effect::Pull(p) => pulls.push(p),
                    other => {
                        if let Some(e) = other.into_sync() {
                            out.push(NodeOut::Synced(e));
                            events.push(e);
                        }
                    }
                }
            }
            self.proto.push_events(&events);
            self.proto.push_pulls(&pulls);
            self.proto.flush(t);
            let mut again = false;
            while let Some(o) = self.proto.poll_output() {
                match o {
                    Output::Send { peer, conn, frame } => {
                        out.push(NodeOut::Send(usize::from(peer) - 1, conn, frame));
                    }
                    Output::Datagram { peer, conn, frame } => {
                        out.push(NodeOut::Datagram(usize::from(peer) - 1, conn, frame));
                    }
                    Output::Apply {
                        from,
                        passive,
                        events,
                        ..
                    } => {
                        let source = Source::batch(from, passive);
                        for e in &events {
                            if self.engine.apply_peer(e, source, t).is_err() {
                                self.rejected += 1;
                            }
                        }
                        again = true;
                    }
                    Output::State { from, copy, flows } => {
                        for (state, holders) in &flows {
                            let source = Source::answer(from, copy, *holders);
                            if self
                                .engine
                                .apply_peer(&SyncEvent::Upsert(*state), source, t)
                                .is_err()
                            {
                                self.rejected += 1;
                            }
                        }
                        again = true;
                    }
                    Output::Pull {
                        origin,
                        keys,
                        forwardable,
                    } => {
                        for (key, answered) in &keys {
                            self.engine
                                .serve_pull(key, origin, forwardable, *answered, t);
                        }
                        again = true;
                    }
                    Output::Confirm { from, flows } => {
                        for c in &flows {
                            self.engine.apply_confirm(c, from, t);
                        }
                        again = true;
                    }
                    Output::Acked(list) => {
                        for (key, inc) in &list {
                            self.engine.sync_acked(key, inc);
                        }
                        again = true;
                    }
                    Output::BulkDump { peer, id, share } => {
                        self.bulks.retain(|b| b.0 != peer);
                        self.bulks.push((peer, id, 0, 0, share));
                    }
                    Output::BulkCancel { peer, id } => {
                        self.bulks.retain(|b| (b.0, b.1) != (peer, id));
                    }
                    Output::PeersUp(n) => {
                        self.told.0 = n;
                        self.engine.set_peers_up(n);
                    }
                    Output::Placement(p) => {
                        self.told.1 = p.clone();
                        self.engine.set_placement(p);
                    }
                    Output::Rebalance { old, new } => {
                        // A walk under way restarts against the newest
                        // change, from its own starting placement.
                        let old = match self.rebalance.take() {
                            Some((first, _, _)) => first.stayed(&old),
                            None => old,
                        };
                        self.rebalance = Some((old, new, 0));
                    }
                    Output::Ready => self.engine.set_ready(true),
                    Output::NotReady => self.engine.set_ready(false),
                }
            }
            if !again {
                return;
            }
        }
    }

    /// Where what the engine was told of the peers up (their number, the
    /// placement over them) differs from the protocol's own view, after a
    /// pump: a description. An engine that keeps a lost peer live never
    /// re-replicates the flows it shared with it (docs/sync.md §5).
    pub fn told_differs(&self) -> Option<String> {
        let now = (self.proto.peers_up(), self.proto.placement());
        (self.told != now).then(|| {
            format!(
                "the engine holds {} peers up over {:?}, the protocol sees {} over {:?}",
                self.told.0,
                self.told.1.members(),
                now.0,
                now.1.members()
            )
        })
    }

    /// Take the next step of every bulk dump in progress; whether any remains.
    pub fn bulk_step(&mut self, now: u64) -> bool {
        let t = self.clock(now);
        for (peer, id, cursor, total, share) in std::mem::take(&mut self.bulks) {
            let mut cursor = cursor;
            let mut flows = Vec::new();
            let last =
                self.engine
                    .bulk_chunk_for(&mut cursor, BULK_STEP_FLOWS, t, &mut flows, &share);
            let total = total + flows.len() as u64;
            if !last {
                self.bulks.push((peer, id, cursor, total, share));
            }
            self.proto.bulk_out(peer, id, flows, last, total);
        }
        if let Some((old, new, mut cursor)) = self.rebalance.take() {
            let mut out = Vec::new();
            let done =
                self.engine
                    .rebalance_chunk(&mut cursor, BULK_STEP_FLOWS, &old, &new, t, &mut out);
            self.proto.push_states(out);
            if !done {
                self.rebalance = Some((old, new, cursor));
            }
        }
        !self.bulks.is_empty() || self.rebalance.is_some()
    }

    /// When the node next needs to run, in simulation time.
    pub fn wake_at(&self, now: u64) -> u64 {
        let t = self.clock(now);
        let mut next = self.engine.poll_timeout(t);
        if let Some(p) = self.proto.poll_timeout() {
            next = next.min(p);
        }
        if !self.bulks.is_empty() || self.rebalance.is_some() {
            next = next.min(t + BULK_STEP);
        }
        self.sim_time(next).max(now + 1)
    }

    /// Run the engine's and the protocol's timers.
    pub fn timers(&mut self, now: u64) {
        let t = self.clock(now);
        self.engine.expire(t);
        self.proto.handle_timeout(t);
    }

    /// The live inspected flows, as a peer would receive them in bulk.
    pub fn table(&mut self, now: u64) -> Vec<FlowState> {
        let t = self.clock(now);
        let mut cursor = 0;
        let mut all = Vec::new();
        while !self.engine.bulk_chunk(&mut cursor, 1024, t, &mut all) {}
        all
    }

    /// The live inspected flows, each with how long it has left here
    /// before it expires and its timeout (ns).
    pub fn table_with_expiry(&mut self, now: u64) -> Vec<(FlowState, u64, u64)> {
        let t = self.clock(now);
        self.table(now)
            .into_iter()
            .filter_map(|s| {
                let tuple = rampart_dataplane::flow::Tuple {
                    src: s.key.lo,
                    dst: s.key.hi,
                    proto: s.key.proto,
                    vlan: s.key.vlan,
                };
                let e = self.engine.find(&tuple, t)?;
                let timeout = self.engine.timeout_of(e);
                let left = (e.last_seen + timeout).saturating_since(t);
                Some((s, left.as_nanos() as u64, timeout.as_nanos() as u64))
            })
            .collect()
    }

    /// This node's state of one flow, if it holds it.
    pub fn state_of(&mut self, key: &FlowKey, now: u64) -> Option<FlowState> {
        self.table(now).into_iter().find(|s| &s.key == key)
    }

    /// Frames forwarded and dropped by this life of the engine.
    pub fn totals(&self) -> Totals {
        let c = self.engine.counters();
        Totals {
            forwarded: c.forwarded_packets,
            dropped: c.total_dropped(),
        }
    }
}

/// A sync event's flow key.
pub fn event_key(e: &SyncEvent) -> FlowKey {
    *e.key()
}

fn at(now: u64, skew: i64) -> Instant {
    Instant::from_nanos((i128::from(now) + i128::from(skew)).max(0) as u64)
}
