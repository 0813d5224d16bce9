//! The node's cluster wiring: each worker thread owns an engine and talks
//! through a [`Port`] (bounded channels plus the worker's eventfd to wake
//! it) to the sync driver, a tokio task that pumps the sans-IO
//! [`Protocol`] over the QUIC [`Transport`]. The driver sends what peers
//! say about a flow to the worker that owns the flow ([`worker_of`], the
//! same hash as the kernel's fanout), and merges the workers' bulk dumps
//! into one.
// The shell reads the clock and feeds it to the protocol as `now`.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rampart_afpacket::fanout::worker_of;
use rampart_cluster::sync::protocol::FrameError;
use rampart_cluster::sync::{Output, Protocol, Share};
use rampart_cluster::transport::{SendError, Transport, TransportEvent};
use rampart_dataplane::engine::sync::{PullOut, Source, SyncOut};
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::sync::{
    AnswerCopy, Confirm, FlowState, Incarnation, PeerSet, SyncEvent, SyncReject,
};
use rampart_dataplane::{Engine, Instant};
use tokio::sync::mpsc;

use crate::control::Wake;

mod pace;
mod warn;
pub use pace::DumpCredit;
use pace::{Dump, Outbound, PACE_RECHECK, Pace};
pub(crate) use warn::Warnings as PeerWarnings;
use warn::Warnings;
pub(crate) use warn::skipped_note;

/// Messages from the bridge to the driver; each is one batch's worth.
#[derive(Debug)]
pub enum ToCluster {
    /// The engine's changes.
    Events(Vec<SyncOut>),
    /// The engine's pulls and its answers to peers' pulls.
    Pulls(Vec<PullOut>),
    /// Flows peers must now hold, found by a rebalance walk: the peer,
    /// the state, its holders.
    States(Vec<(u16, FlowState, PeerSet)>),
    /// Part of a bulk dump for a peer.
    Bulk {
        /// The peer.
        peer: u16,
        /// Its request id.
        id: u64,
        /// Flows.
        flows: Vec<FlowState>,
        /// Whether this ends this worker's part of the dump.
        last: bool,
    },
    /// Event batches were dropped here (the outbox overflowed): peers must
    /// see a gap and resync in bulk.
    Lost,
}

/// Messages from the driver to the bridge.
#[derive(Debug)]
pub enum ToEngine {
    /// Apply peers' events.
    Apply {
        /// The peer whose message carried them.
        sender: u16,
        /// The peer, when it sent them from its own packets.
        from: Option<u16>,
        /// Passive copies.
        passive: bool,
        /// The events.
        events: Vec<SyncEvent>,
    },
    /// Apply answers to this node's pulls.
    State {
        /// The answering peer.
        from: u16,
        /// The kind of copy it answered from.
        copy: AnswerCopy,
        /// The flows, each with its other holders.
        flows: Vec<(FlowState, PeerSet)>,
    },
    /// Answer peers' pulls.
    Pull {
        /// The node whose packets wait.
        origin: u16,
        /// The flows, each with the digest of the answer of the node that
        /// passed the pull on, if it answered.
        keys: Vec<(FlowKey, Option<u64>)>,
        /// Straight from `origin`: may be passed on.
        forwardable: bool,
    },
    /// Apply brief answers to this node's pulls.
    Confirm {
        /// The answering peer, on the flows' path.
        from: u16,
        /// The brief answers.
        flows: Vec<Confirm>,
    },
    /// Release deferred packets.
    Acked(Vec<(FlowKey, Incarnation)>),
    /// Produce a bulk dump for a peer.
    BulkDump {
        /// The peer.
        peer: u16,
        /// Its request id.
        id: u64,
        /// The flows it is to get.
        share: Arc<Share>,
        /// The credit of flows its chunks take (the driver paces the
        /// dump on the peer's outbound queue).
        credit: Arc<DumpCredit>,
    },
    /// Stop producing a bulk dump (its peer's connection went).
    BulkCancel {
        /// The peer.
        peer: u16,
        /// Its request id.
        id: u64,
    },
    /// Peers up.
    PeersUp(usize),
    /// The live members, for placing flows.
    Placement(rampart_dataplane::placement::Placement),
    /// Walk the table for flows the change of members moved.
    Rebalance {
        /// The placement before.
        old: rampart_dataplane::placement::Placement,
        /// The placement now.
        new: rampart_dataplane::placement::Placement,
    },
    /// The node is ready.
    Ready,
    /// The node must stop forwarding until it is ready again (it was
    /// stopped past the protocol's `stall_after` and resyncs).
    NotReady,
}

impl ToEngine {
    /// What the message carries, counted against [`EXCHANGE_MAX_ITEMS`]
    /// (at least 1).
    fn items(&self) -> usize {
        let n = match self {
            ToEngine::Apply { events, .. } => events.len(),
            ToEngine::State { flows, .. } => flows.len(),
            ToEngine::Pull { keys, .. } => keys.len(),
            ToEngine::Confirm { flows, .. } => flows.len(),
            ToEngine::Acked(list) => list.len(),
            _ => 1,
        };
        n.max(1)
    }
}

/// Depth of each channel, in messages (a message is one batch).
const CHANNEL_DEPTH: usize = 16_384;

/// Peers' events on their way to one worker and not yet applied: the
/// driver waits beyond it (and the transport, then QUIC's flow control,
/// hold the peer back). Counted in events, not batches: 16,384 batches of
/// 8,192 events would be over 20 GB.
const WORKER_INBOX_MAX_EVENTS: usize = 262_144;

/// Peers' events, states, keys and acknowledgements a worker takes from
/// the driver in one turn, between two packet batches: a message that
/// would pass it waits for the next turn, and the driver hands a worker
/// no message larger ([`DriverEnd::route`]), so no turn applies more. The
/// inbox budget above bounds memory, not time: the driver refills the
/// channel as the worker applies, and a peer sending valid events fast
/// enough kept one turn applying for as long as it sent (524,288 events,
/// 1.3 s in a debug build), the packets and the operator's jobs waiting
/// behind it. A review then found the bound checked only between messages,
/// while the driver merged a turn's bulk chunks into one message per
/// worker: up to 65 chunks of 8,192 flows, 532,480 states in one turn.
const EXCHANGE_MAX_ITEMS: usize = 8192;

/// Table slots a bulk dump or a rebalance walk visits between two packet
/// batches (so at most this many flows per chunk), so a walk of a million
/// flows never stalls forwarding for long, whatever share a peer asks for.
const BULK_CHUNK_SLOTS: usize = 4096;

/// Most sync events a worker keeps for the driver while the channel to it
/// is full (its batches are retried in order on every turn). Past this an
/// event batch is dropped and counted (`events_dropped`), and a
/// [`ToCluster::Lost`] marker follows in order, so the protocol leaves a gap
/// in its batch numbers and every peer resyncs in bulk.
pub const OUTBOX_MAX_EVENTS: usize = 1 << 20;

/// Counters of the link itself.
#[derive(Debug, Default)]
pub struct LinkCounters {
    /// Event batches the bridge could not hand over: the channel stayed
    /// full until the worker's outbox held [`OUTBOX_MAX_EVENTS`] (each loss
    /// makes peers resync in bulk).
    pub events_dropped: AtomicU64,
    /// Peer events the engine refused (invalid state).
    pub apply_rejected: AtomicU64,
    /// The same, by reason (indexed as [`SyncReject::index`]).
    pub states_refused: [AtomicU64; SyncReject::COUNT],
    /// Batches of pulls the bridge dropped: the outbox was full.
    pub pulls_dropped: AtomicU64,
    /// Frames the transport refused to queue (a frame for a connection
    /// since replaced is not one: the transport counts it apart).
    pub send_failed: AtomicU64,
    /// Frames refused by the protocol (malformed or out of protocol; by
    /// reason in the protocol's counters).
    pub frames_refused: AtomicU64,
    /// Times the driver waited because a worker had
    /// [`WORKER_INBOX_MAX_EVENTS`] of peers' events not yet applied.
    pub inbox_budget_waits: AtomicU64,
}

/// A cluster clock: an anchor on the monotonic clock and the Unix time
/// then, so engine time advances monotonically and is comparable between
/// nodes (to the accuracy of their NTP).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Monotonic anchor.
    pub epoch: std::time::Instant,
    /// Unix time at the anchor, in nanoseconds.
    pub base_ns: u64,
}

impl Clock {
    /// Anchor now.
    pub fn start() -> Self {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Clock {
            epoch: std::time::Instant::now(),
            base_ns: unix,
        }
    }

    /// Cluster time now.
    pub fn now(&self) -> Instant {
        let e = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Instant::from_nanos(self.base_ns.saturating_add(e))
    }

    fn to_tokio(self, at: Instant) -> tokio::time::Instant {
        let from_epoch = at.as_nanos().saturating_sub(self.base_ns);
        tokio::time::Instant::from_std(self.epoch + std::time::Duration::from_nanos(from_epoch))
    }
}

/// A worker's end.
#[derive(Debug)]
pub struct Port {
    to_cluster: mpsc::Sender<ToCluster>,
    from_cluster: mpsc::Receiver<ToEngine>,
    /// Events of `from_cluster` not yet applied, within
    /// [`WORKER_INBOX_MAX_EVENTS`]: given back as they are applied.
    inbox_budget: Arc<tokio::sync::Semaphore>,
    /// Bulk dumps in progress, one per peer (a new request from a peer
    /// replaces its earlier one; requests of different peers all run).
    bulks: Vec<BulkJob>,
    /// The rebalance walk in progress: the placement it started from, the
    /// newest one, its cursor (a new change restarts it).
    rebalance: Option<(
        rampart_dataplane::placement::Placement,
        rampart_dataplane::placement::Placement,
        usize,
    )>,
    /// Messages the channel had no room for, oldest first: retried before
    /// anything new, so the driver sees this worker's messages in order
    /// and none is lost to a full channel.
    outbox: std::collections::VecDeque<ToCluster>,
    /// Events in `outbox`.
    outbox_events: usize,
    /// Most events `outbox` keeps ([`OUTBOX_MAX_EVENTS`]).
    outbox_max: usize,
    counters: Arc<LinkCounters>,
    /// Refused peers' states warned of lately.
    warnings: Warnings,
    /// The message taken from `from_cluster` that would have passed
    /// [`EXCHANGE_MAX_ITEMS`] in its turn: the next turn's first, so the
    /// order stays the driver's.
    held: Option<ToEngine>,
}

#[derive(Debug)]
struct BulkJob {
    peer: u16,
    id: u64,
    cursor: usize,
    share: Arc<Share>,
    credit: Arc<DumpCredit>,
}

impl Port {
    /// Apply what peers sent and serve a bulk dump (the worker cleared its
    /// wake-up before calling). Takes at most [`EXCHANGE_MAX_ITEMS`] a turn
    /// (a larger message only alone; the driver sends none); returns
    /// whether it left messages for the next, when the worker must wake
    /// itself again.
    pub fn exchange(&mut self, engine: &mut Engine, now: Instant) -> bool {
        let mut taken = 0usize;
        let mut left = false;
        loop {
            if taken >= EXCHANGE_MAX_ITEMS {
                left = !self.from_cluster.is_empty();
                break;
            }
            let Some(msg) = self
                .held
                .take()
                .or_else(|| self.from_cluster.try_recv().ok())
            else {
                break;
            };
            let items = msg.items();
            if taken > 0 && taken + items > EXCHANGE_MAX_ITEMS {
                self.held = Some(msg);
                left = true;
                break;
            }
            taken += items;
            match msg {
                ToEngine::Apply {
                    sender,
                    from,
                    passive,
                    events,
                } => {
                    let source = Source::batch(from, passive);
                    for e in &events {
                        if let Err(why) = engine.apply_peer(e, source, now) {
                            self.refused(sender, why, now);
                        }
                    }
                    self.inbox_budget
                        .add_permits(budget_of(events.len()) as usize);
                }
                ToEngine::State { from, copy, flows } => {
                    for (state, holders) in &flows {
                        let source = Source::answer(from, copy, *holders);
                        if let Err(why) = engine.apply_peer(&SyncEvent::Upsert(*state), source, now)
                        {
                            self.refused(from, why, now);
                        }
                    }
                    self.inbox_budget
                        .add_permits(budget_of(flows.len()) as usize);
                }
                ToEngine::Pull {
                    origin,
                    keys,
                    forwardable,
                } => {
                    for (key, answered) in &keys {
                        engine.serve_pull(key, origin, forwardable, *answered, now);
                    }
                    self.inbox_budget
                        .add_permits(budget_of(keys.len()) as usize);
                }
                ToEngine::Confirm { from, flows } => {
                    for c in &flows {
                        engine.apply_confirm(c, from, now);
                    }
                    self.inbox_budget
                        .add_permits(budget_of(flows.len()) as usize);
                }
                ToEngine::Acked(list) => {
                    for (key, inc) in &list {
                        engine.sync_acked(key, inc);
                    }
                }
                ToEngine::BulkDump {
                    peer,
                    id,
                    share,
                    credit,
                } => {
                    self.bulks.retain(|job| job.peer != peer);
                    self.bulks.push(BulkJob {
                        peer,
                        id,
                        cursor: 0,
                        share,
                        credit,
                    });
                }
                ToEngine::BulkCancel { peer, id } => {
                    self.bulks.retain(|job| (job.peer, job.id) != (peer, id));
                }
                ToEngine::PeersUp(n) => engine.set_peers_up(n),
                ToEngine::Placement(p) => engine.set_placement(p),
                ToEngine::Rebalance { old, new } => {
                    // A walk under way restarts against the newest change,
                    // from the members that stayed live through both.
                    let old = match self.rebalance.take() {
                        Some((first, _, _)) => first.stayed(&old),
                        None => old,
                    };
                    self.rebalance = Some((old, new, 0));
                }
                ToEngine::Ready => engine.set_ready(true),
                ToEngine::NotReady => engine.set_ready(false),
            }
        }
        self.flush();
        // A chunk is taken from the engine only when nothing waits: the
        // cursor moves on with the chunk, so a chunk must never be dropped
        // (the peer would take the dump's end for the whole table).
        if !self.bulks.is_empty() && self.outbox.is_empty() {
            let mut jobs = std::mem::take(&mut self.bulks);
            jobs.retain_mut(|job| {
                // Paced (pace.rs): without a chunk's worth of credit the
                // dump skips this turn, its cursor where it was.
                let slots = BULK_CHUNK_SLOTS as u64;
                if !job.credit.reserve(slots) {
                    return true;
                }
                let mut flows = Vec::new();
                let share = job.share.clone();
                let last = engine.bulk_chunk_for(
                    &mut job.cursor,
                    BULK_CHUNK_SLOTS,
                    now,
                    &mut flows,
                    &share,
                );
                job.credit.add(slots.saturating_sub(flows.len() as u64));
                // A turn visits a bounded number of slots and may find
                // nothing the peer wants: only flows and the end travel.
                if last || !flows.is_empty() {
                    self.outbox.push_back(ToCluster::Bulk {
                        peer: job.peer,
                        id: job.id,
                        flows,
                        last,
                    });
                }
                !last
            });
            self.bulks = jobs;
            self.flush();
        }
        if self.outbox.is_empty()
            && let Some((old, new, mut cursor)) = self.rebalance.take()
        {
            let mut out = Vec::new();
            let done =
                engine.rebalance_chunk(&mut cursor, BULK_CHUNK_SLOTS, &old, &new, now, &mut out);
            if !out.is_empty() {
                self.outbox.push_back(ToCluster::States(out));
            }
            if !done {
                self.rebalance = Some((old, new, cursor));
            }
            self.flush();
        }
        left
    }

    /// A peer's state the engine refused: counted, by reason, and warned
    /// of (rate-limited: this runs on the packet thread).
    fn refused(&mut self, peer: u16, why: SyncReject, now: Instant) {
        self.counters.apply_rejected.fetch_add(1, Ordering::Relaxed);
        self.counters.states_refused[why.index()].fetch_add(1, Ordering::Relaxed);
        if let Some(skipped) = self.warnings.allow(peer, why.label(), now) {
            tracing::warn!(
                "flow state from peer {peer} refused ({}): {why}{}",
                why.label(),
                skipped_note(skipped)
            );
        }
    }

    /// Hand the engine's sync events of one turn to the cluster driver.
    pub fn send_to_peers(&mut self, events: &mut Vec<SyncOut>) {
        if events.is_empty() {
            return;
        }
        let batch = std::mem::take(events);
        self.flush();
        if self.outbox_events + batch.len() > self.outbox_max {
            self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
            // One marker per run of losses, in order behind what waits.
            if !matches!(self.outbox.back(), Some(ToCluster::Lost)) {
                self.outbox.push_back(ToCluster::Lost);
            }
            return;
        }
        self.outbox_events += batch.len();
        self.outbox.push_back(ToCluster::Events(batch));
        self.flush();
    }

    /// Hand the engine's pulls and answers of one turn to the driver, in
    /// order with its events (a want is worth less than an event: past the
    /// outbox's bound it is dropped, and the held packet's next turn asks
    /// again).
    pub fn send_pulls(&mut self, pulls: &mut Vec<PullOut>) {
        if pulls.is_empty() {
            return;
        }
        let batch = std::mem::take(pulls);
        self.flush();
        if self.outbox_events + batch.len() > self.outbox_max {
            self.counters.pulls_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.outbox_events += batch.len();
        self.outbox.push_back(ToCluster::Pulls(batch));
        self.flush();
    }

    /// Send what waits, in order, while the channel has room.
    fn flush(&mut self) {
        while let Some(msg) = self.outbox.pop_front() {
            let events = match &msg {
                ToCluster::Events(batch) => batch.len(),
                ToCluster::Pulls(batch) => batch.len(),
                ToCluster::States(_) | ToCluster::Bulk { .. } | ToCluster::Lost => 0,
            };
            match self.to_cluster.try_send(msg) {
                Ok(()) => self.outbox_events -= events,
                Err(mpsc::error::TrySendError::Full(msg)) => {
                    self.outbox.push_front(msg);
                    return;
                }
                // The driver is gone: the node is stopping.
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.outbox.clear();
                    self.outbox_events = 0;
                    return;
                }
            }
        }
    }
}

/// The driver's end.
#[derive(Debug)]
pub struct DriverEnd {
    to_workers: Vec<(mpsc::Sender<ToEngine>, Wake, Arc<tokio::sync::Semaphore>)>,
    counters: Arc<LinkCounters>,
    from_bridge: mpsc::Receiver<ToCluster>,
    /// Bulk dumps in progress, by (peer, request id): the parts merged so
    /// far and the dump's credit.
    bulks: HashMap<(u16, u64), Dump>,
    /// The limits dumps are paced by.
    pace: Pace,
}

impl DriverEnd {
    async fn tell(&self, worker: usize, msg: ToEngine) {
        let (tx, wake, budget) = &self.to_workers[worker];
        let items = match &msg {
            ToEngine::Apply { events, .. } => Some(events.len()),
            ToEngine::Pull { keys, .. } => Some(keys.len()),
            ToEngine::Confirm { flows, .. } => Some(flows.len()),
            ToEngine::State { flows, .. } => Some(flows.len()),
            _ => None,
        };
        if let Some(items) = items {
            // The worker gives the permits back as it applies the events.
            let n = budget_of(items);
            let permit = match budget.try_acquire_many(n) {
                Ok(p) => Ok(p),
                Err(_) => {
                    self.counters
                        .inbox_budget_waits
                        .fetch_add(1, Ordering::Relaxed);
                    wake.wake();
                    budget.acquire_many(n).await
                }
            };
            if let Ok(p) = permit {
                p.forget();
            }
        }
        // A worker only stops at shutdown; a send error then is moot.
        let _ = tx.send(msg).await;
        wake.wake();
    }

    /// Tell every worker.
    async fn tell_all(&self, msg: impl Fn() -> ToEngine) {
        for w in 0..self.to_workers.len() {
            self.tell(w, msg()).await;
        }
    }

    /// Split per-flow messages by the worker that owns each flow, in
    /// pieces of at most [`EXCHANGE_MAX_ITEMS`], in order: a worker
    /// applies a message whole, and [`pump`] merges a turn's batches (up
    /// to 65 bulk chunks of 8,192) into one.
    async fn route<T>(
        &self,
        items: Vec<T>,
        key: impl Fn(&T) -> &FlowKey,
        msg: impl Fn(Vec<T>) -> ToEngine,
    ) {
        let n = self.to_workers.len();
        let parts = if n == 1 {
            vec![items]
        } else {
            let mut parts: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
            for item in items {
                parts[worker_of(key(&item), n)].push(item);
            }
            parts
        };
        for (w, part) in parts.into_iter().enumerate() {
            let mut part = part.into_iter().peekable();
            while part.peek().is_some() {
                let piece = part.by_ref().take(EXCHANGE_MAX_ITEMS).collect();
                self.tell(w, msg(piece)).await;
            }
        }
    }
}

/// The budget a batch of `n` events takes (a batch larger than the whole
/// budget takes all of it, so it can still pass alone).
fn budget_of(n: usize) -> u32 {
    n.min(WORKER_INBOX_MAX_EVENTS) as u32
}

/// Make the driver's end and one port per worker (woken by `wakes`, in
/// worker order).
pub fn link(counters: Arc<LinkCounters>, wakes: &[Wake]) -> (Vec<Port>, DriverEnd) {
    link_with_depth(counters, wakes, CHANNEL_DEPTH)
}

fn link_with_depth(
    counters: Arc<LinkCounters>,
    wakes: &[Wake],
    depth: usize,
) -> (Vec<Port>, DriverEnd) {
    let (tc_tx, tc_rx) = mpsc::channel(depth);
    let mut ports = Vec::with_capacity(wakes.len());
    let mut to_workers = Vec::with_capacity(wakes.len());
    for wake in wakes {
        let (te_tx, te_rx) = mpsc::channel(depth);
        let inbox_budget = Arc::new(tokio::sync::Semaphore::new(WORKER_INBOX_MAX_EVENTS));
        ports.push(Port {
            to_cluster: tc_tx.clone(),
            from_cluster: te_rx,
            inbox_budget: inbox_budget.clone(),
            bulks: Vec::new(),
            rebalance: None,
            outbox: std::collections::VecDeque::new(),
            outbox_events: 0,
            outbox_max: OUTBOX_MAX_EVENTS,
            counters: counters.clone(),
            warnings: Warnings::default(),
            held: None,
        });
        to_workers.push((te_tx, wake.clone(), inbox_budget));
    }
    (
        ports,
        DriverEnd {
            to_workers,
            counters,
            from_bridge: tc_rx,
            bulks: HashMap::new(),
            pace: Pace::default(),
        },
    )
}

/// Protocol counters and peer phases at one moment.
pub type StatusSnapshot = (
    rampart_cluster::sync::ProtocolCounters,
    Vec<(u16, &'static str)>,
);

/// One peer as the protocol sees it, for `show cluster` and metrics.
#[derive(Debug, Clone)]
pub struct PeerDetail {
    /// Node id.
    pub id: u16,
    /// Phase label (`up`, `down`, `syncing`).
    pub phase: &'static str,
    /// Events, bytes and replication lag of the link.
    pub counters: rampart_cluster::sync::PeerCounters,
    /// Events waiting for the peer's acknowledgement.
    pub unacked_events: usize,
    /// What the QUIC connection to it carried, and its round-trip time.
    pub link: rampart_cluster::transport::LinkStats,
}

/// Readiness and per-peer detail at one moment.
#[derive(Debug, Clone, Default)]
pub struct ClusterDetail {
    /// The first bulk sync is done (or the node is alone).
    pub ready: bool,
    /// The peers.
    pub peers: Vec<PeerDetail>,
    /// When the driver wrote this (it does at least every quarter of the
    /// protocol's `stall_after` while it runs).
    pub at: Option<std::time::Instant>,
}

impl ClusterDetail {
    /// Ready, and written recently: a detail older than the protocol's
    /// stall limit comes from before the node was stopped (SIGSTOP), and
    /// the driver has not yet seen that it must resync.
    pub fn ready_now(&self) -> bool {
        let stall = rampart_cluster::sync::ProtocolConfig::default().stall_after;
        self.ready && self.at.is_some_and(|t| t.elapsed() < stall)
    }
}

/// Shared view of the protocol for status lines, `show cluster` and metrics.
#[derive(Debug, Default)]
pub struct SyncStatus {
    /// Latest protocol counters and peer phases, refreshed by the driver.
    pub snapshot: std::sync::Mutex<Option<StatusSnapshot>>,
    /// What peers' input met of the node's limits, by limit: refusals and
    /// waits, refreshed by the driver.
    pub guards: std::sync::Mutex<Vec<(&'static str, u64)>>,
    /// The cluster links' connection events, by event, refreshed by the
    /// driver.
    pub connects: std::sync::Mutex<Vec<(&'static str, u64)>>,
    /// Peers' flow states the workers refused, by reason, refreshed by the
    /// driver.
    pub states_refused: std::sync::Mutex<Vec<(&'static str, u64)>>,
    /// Latest readiness and peer detail, refreshed by the driver.
    pub detail: std::sync::Mutex<Option<ClusterDetail>>,
    /// Sync traffic lost on this node's side, by what was lost, refreshed
    /// by the driver.
    pub losses: std::sync::Mutex<Vec<(&'static str, u64)>>,
}

/// What this node's side of the sync lost, each loss repaired by a bulk
/// resync or a pull (docs/sync.md §5): event batches and pulls the bridge
/// could not hand over (its outbox full), frames the transport refused to
/// queue, events the protocol could not keep for a peer, batches it could
/// no longer resend, and peers it found stalled.
fn losses(protocol: &Protocol, link: &LinkCounters) -> Vec<(&'static str, u64)> {
    let p = protocol.counters();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    vec![
        ("events_dropped", get(&link.events_dropped)),
        ("pulls_dropped", get(&link.pulls_dropped)),
        ("send_failed", get(&link.send_failed)),
        ("local_losses", p.local_losses),
        ("resend_overflow", p.resend_overflow),
        ("stalls", p.stalls),
    ]
}

/// Peers' input refused, or held back, by each of the node's limits.
fn guards(
    protocol: &Protocol,
    transport: &Transport,
    link: &LinkCounters,
) -> Vec<(&'static str, u64)> {
    let t = transport.counters();
    let p = protocol.counters();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    vec![
        ("sync_malformed", p.malformed),
        ("sync_protocol_error", p.protocol_errors),
        ("frame_too_large", get(&t.frames_too_large)),
        ("bad_hello_or_frame", get(&t.refused_bad_frame)),
        ("wrong_identity", get(&t.refused_wrong_identity)),
        ("unknown_peer", get(&t.refused_unknown_peer)),
        ("tls_refused", get(&t.refused_tls)),
        ("other_version", get(&t.refused_version)),
        ("handshakes_busy", get(&t.refused_busy)),
        ("inbound_budget_wait", get(&t.inbound_budget_waits)),
        ("outbound_budget_refused", get(&t.send_refused_bytes)),
        ("rpc_refused", get(&t.rpcs_refused)),
        ("rpc_budget_refused", get(&t.rpcs_refused_budget)),
        ("worker_inbox_wait", get(&link.inbox_budget_waits)),
        ("peer_event_rejected", get(&link.apply_rejected)),
    ]
}

/// The cluster links' connection events: connections made and ended,
/// dials that failed, wakes (docs/sync.md §8), and frames and datagrams
/// dropped because the connection they were meant for had been replaced
/// (docs/sync.md §5).
fn connects(transport: &Transport) -> Vec<(&'static str, u64)> {
    let t = transport.counters();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    vec![
        ("up", get(&t.connections_up)),
        ("down", get(&t.connections_down)),
        ("dial_failed", get(&t.dial_failures)),
        ("wake_sent", get(&t.wakes_sent)),
        ("wake_received", get(&t.wakes_received)),
        ("replaced_send_dropped", get(&t.sends_replaced)),
        ("rpc_failed", get(&t.rpc_failures)),
    ]
}

/// Pump the protocol until the transport's event channel closes or the
/// bridge hangs up.
pub async fn drive(
    mut protocol: Protocol,
    transport: Transport,
    mut events: mpsc::Receiver<TransportEvent>,
    mut end: DriverEnd,
    clock: Clock,
    counters: Arc<LinkCounters>,
    status: Arc<SyncStatus>,
) {
    // Deliver the protocol's first outputs (a node alone is ready at once).
    pump(&mut protocol, &transport, &mut end, &counters).await;
    let mut paced = end.pace(&transport);
    publish_status(
        &protocol,
        &transport,
        &counters,
        &status,
        std::time::Instant::now(),
    );
    let mut status_at = std::time::Instant::now();
    let mut status_stale = false;
    let mut warnings = Warnings::default();
    loop {
        let timer = protocol.poll_timeout().map(|t| clock.to_tokio(t));
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                let now = clock.now();
                on_transport(&mut protocol, ev, now, &counters, &mut warnings);
                // Take what else the transport has (bounded, so the
                // workers' messages are not starved), then pump once: one
                // ack covers every batch taken.
                for _ in 0..TRANSPORT_DRAIN {
                    match events.try_recv() {
                        Ok(ev) => on_transport(&mut protocol, ev, now, &counters, &mut warnings),
                        Err(_) => break,
                    }
                }
            }
            msg = end.from_bridge.recv() => {
                let Some(msg) = msg else { break };
                handle_bridge(&mut protocol, &mut end, msg);
                // Take whatever else is queued, then flush once: batches
                // grow under load and stay small (fast) when idle.
                while let Ok(msg) = end.from_bridge.try_recv() {
                    handle_bridge(&mut protocol, &mut end, msg);
                }
                protocol.flush(clock.now());
            }
            () = async {
                match timer {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            } => protocol.handle_timeout(clock.now()),
            // A status held back (below) is published once the link goes
            // quiet.
            () = tokio::time::sleep(STATUS_EVERY), if status_stale => {}
            // A dump waits for its peer's queue to drain: look again.
            () = tokio::time::sleep(PACE_RECHECK), if paced => {}
        }
        // The time the readiness published below holds at: read before the
        // protocol sees the time. A SIGSTOP that lands between the two
        // leaves the readiness dated before the stop (stale to `/readyz`)
        // rather than stamped fresh when the process resumes (the chaos
        // freeze scenario caught a "ready" 4 ms after SIGCONT).
        let seen = std::time::Instant::now();
        protocol.observe(clock.now());
        pump(&mut protocol, &transport, &mut end, &counters).await;
        paced = end.pace(&transport);
        // The status (for `show cluster` and /metrics) is a copy of the
        // protocol's counters and per-peer figures: taken at most every
        // STATUS_EVERY, not per frame (it cost allocations and clones on
        // every event batch), and once more when the link goes quiet.
        if status_at.elapsed() >= STATUS_EVERY {
            publish_status(&protocol, &transport, &counters, &status, seen);
            status_at = std::time::Instant::now();
            status_stale = false;
        } else {
            status_stale = true;
        }
    }
}

/// How often the driver copies the protocol's figures into the status.
const STATUS_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

/// Copy the protocol's counters, the peers' phases and figures and the
/// guards into `status`; the readiness holds as of `seen`, a moment no
/// later than when the protocol last saw the time.
fn publish_status(
    protocol: &Protocol,
    transport: &Transport,
    counters: &LinkCounters,
    status: &SyncStatus,
    seen: std::time::Instant,
) {
    if let Ok(mut s) = status.snapshot.try_lock() {
        let phases = protocol
            .peer_phases()
            .into_iter()
            .map(|(p, ph)| (p, ph.label()))
            .collect();
        *s = Some((protocol.counters().clone(), phases));
    }
    if let Ok(mut g) = status.guards.try_lock() {
        *g = guards(protocol, transport, counters);
    }
    if let Ok(mut c) = status.connects.try_lock() {
        *c = connects(transport);
    }
    if let Ok(mut l) = status.losses.try_lock() {
        *l = losses(protocol, counters);
    }
    if let Ok(mut r) = status.states_refused.try_lock() {
        *r = SyncReject::LABELS
            .iter()
            .zip(&counters.states_refused)
            .map(|(&l, n)| (l, n.load(Ordering::Relaxed)))
            .collect();
    }
    if let Ok(mut d) = status.detail.try_lock() {
        let phases = protocol.peer_phases();
        let links = transport.link_stats();
        let peers = protocol
            .peer_counters()
            .into_iter()
            .map(|(id, counters)| PeerDetail {
                id,
                phase: phases
                    .iter()
                    .find(|(p, _)| *p == id)
                    .map_or("down", |(_, ph)| ph.label()),
                counters,
                unacked_events: protocol.unacked(id).1,
                link: links
                    .iter()
                    .find(|(p, _)| *p == id)
                    .map(|(_, l)| *l)
                    .unwrap_or_default(),
            })
            .collect();
        *d = Some(ClusterDetail {
            ready: protocol.is_ready(),
            peers,
            at: Some(seen),
        });
    }
}

/// Transport events taken in one turn of the driver after the first.
const TRANSPORT_DRAIN: usize = 64;

/// Give the protocol one transport event.
fn on_transport(
    protocol: &mut Protocol,
    ev: TransportEvent,
    now: Instant,
    counters: &LinkCounters,
    warnings: &mut Warnings,
) {
    // A refused frame is counted by the protocol, by reason; the peer and
    // the reason are also logged, rate-limited (docs/sync.md §5).
    let mut refused = |peer: u16, what: &str, e: FrameError| {
        counters.frames_refused.fetch_add(1, Ordering::Relaxed);
        if let Some(skipped) = warnings.allow(peer, e.label(), now) {
            tracing::warn!(
                "sync {what} from peer {peer} refused ({}): {e}{}",
                e.label(),
                skipped_note(skipped)
            );
        }
    };
    match ev {
        TransportEvent::Up { peer, conn } => {
            tracing::info!("peer {peer} up (connection {conn})");
            protocol.on_peer_up(peer, conn, now);
        }
        TransportEvent::Down {
            peer,
            conn,
            reason,
            removed,
        } => {
            tracing::warn!("peer {peer} down (connection {conn}): {reason}");
            protocol.on_peer_down(peer, conn, now);
            if removed {
                tracing::info!("peer {peer} left the cluster: no longer synced with");
                protocol.forget_peer(peer, now);
            }
        }
        TransportEvent::Datagram { peer, conn, frame } => {
            if let Err(e) = protocol.on_datagram(peer, conn, &frame, now) {
                refused(peer, "datagram", e);
            }
        }
        TransportEvent::Frame {
            peer, conn, frame, ..
        } => {
            if let Err(e) = protocol.on_frame(peer, conn, &frame, now) {
                refused(peer, "frame", e);
            }
        }
    }
}

fn handle_bridge(protocol: &mut Protocol, end: &mut DriverEnd, msg: ToCluster) {
    match msg {
        ToCluster::Events(events) => protocol.push_events(&events),
        ToCluster::Pulls(pulls) => protocol.push_pulls(&pulls),
        ToCluster::States(states) => protocol.push_states(states),
        ToCluster::Lost => {
            tracing::warn!("sync events lost in this node's outbox: peers will resync in bulk");
            protocol.declare_loss();
        }
        ToCluster::Bulk {
            peer,
            id,
            flows,
            last,
        } => {
            // A part of a dump the driver no longer merges (its peer
            // went, or a newer request replaced it) is dropped.
            let Some(dump) = end.bulks.get_mut(&(peer, id)) else {
                return;
            };
            // The dump ends when every worker has sent its last part.
            dump.flows += flows.len() as u64;
            dump.done += usize::from(last);
            let (all, total) = (dump.done == end.to_workers.len(), dump.flows);
            if all {
                end.bulks.remove(&(peer, id));
            }
            protocol.bulk_out(peer, id, flows, all, total);
        }
    }
}

async fn pump(
    protocol: &mut Protocol,
    transport: &impl Outbound,
    end: &mut DriverEnd,
    counters: &LinkCounters,
) {
    // Consecutive batches to apply with the same origin go to the workers
    // as one message each (one hand-off and one wake-up, not one per
    // batch), cut into pieces a worker's turn can take (`route`).
    let mut apply: Option<Apply> = None;
    while let Some(out) = protocol.poll_output() {
        if let Output::Apply {
            sender,
            from,
            passive,
            events,
        } = out
        {
            match &mut apply {
                Some((s, f, p, pending)) if *s == sender && *f == from && *p == passive => {
                    pending.extend(events)
                }
                _ => {
                    if let Some(a) = apply.replace((sender, from, passive, events)) {
                        route_apply(end, a).await;
                    }
                }
            }
            continue;
        }
        // Everything else keeps its order after what came before it.
        if let Some(a) = apply.take() {
            route_apply(end, a).await;
        }
        match out {
            Output::Send { peer, conn, frame } => match transport.send(peer, conn, frame) {
                // A frame for a connection since replaced is dropped as
                // the protocol meant (counted by the transport): the
                // protocol has yet to hear of the new one, and sends its
                // Hello on it first (docs/sync.md §5).
                Ok(()) | Err(SendError::Replaced(_)) => {}
                Err(_) => {
                    counters.send_failed.fetch_add(1, Ordering::Relaxed);
                }
            },
            Output::Datagram { peer, conn, frame } => {
                // Best effort: the stream carries the same batch.
                let _ = transport.send_datagram(peer, conn, frame);
            }
            Output::Apply { .. } => unreachable!("taken above"),
            Output::State { from, copy, flows } => {
                end.route(
                    flows,
                    |(s, _)| &s.key,
                    |flows| ToEngine::State { from, copy, flows },
                )
                .await
            }
            Output::Pull {
                origin,
                keys,
                forwardable,
            } => {
                end.route(
                    keys,
                    |(k, _)| k,
                    |keys| ToEngine::Pull {
                        origin,
                        keys,
                        forwardable,
                    },
                )
                .await
            }
            Output::Confirm { from, flows } => {
                end.route(flows, |c| &c.key, |flows| ToEngine::Confirm { from, flows })
                    .await
            }
            Output::Acked(list) => end.route(list, |(k, _)| k, ToEngine::Acked).await,
            Output::BulkDump { peer, id, share } => {
                // A new request from a peer replaces its earlier ones. The
                // dump starts without credit: the driver grants it once
                // the outputs are pumped (`DriverEnd::pace`).
                end.bulks.retain(|(p, _), _| *p != peer);
                let dump = Dump::new();
                let credit = dump.credit.clone();
                end.bulks.insert((peer, id), dump);
                let share = Arc::new(share);
                end.tell_all(|| ToEngine::BulkDump {
                    peer,
                    id,
                    share: share.clone(),
                    credit: credit.clone(),
                })
                .await;
            }
            Output::BulkCancel { peer, id } => {
                // Parts of it still on their way to the driver are dropped
                // there (no dump to merge them into), and the workers stop
                // walking for it.
                end.bulks.remove(&(peer, id));
                end.tell_all(|| ToEngine::BulkCancel { peer, id }).await;
            }
            Output::PeersUp(n) => end.tell_all(|| ToEngine::PeersUp(n)).await,
            Output::Placement(p) => end.tell_all(|| ToEngine::Placement(p.clone())).await,
            Output::Rebalance { old, new } => {
                end.tell_all(|| ToEngine::Rebalance {
                    old: old.clone(),
                    new: new.clone(),
                })
                .await
            }
            Output::Ready => {
                let c = protocol.counters();
                tracing::info!(
                    "cluster ready to forward ({} flows received in bulk, {} peer(s) up)",
                    c.bulk_flows_received,
                    protocol.peers_up()
                );
                end.tell_all(|| ToEngine::Ready).await;
            }
            Output::NotReady => {
                tracing::warn!(
                    "this node was stopped longer than the stall limit: not forwarding until it has resynced with its peers"
                );
                end.tell_all(|| ToEngine::NotReady).await;
            }
        }
    }
    if let Some(a) = apply {
        route_apply(end, a).await;
    }
}

/// Hand batches to apply to the workers that own their flows.
/// Events to apply: the peer whose message carried them, the peer that
/// sent them from its own packets, whether they are passive copies.
type Apply = (u16, Option<u16>, bool, Vec<SyncEvent>);

async fn route_apply(end: &DriverEnd, (sender, from, passive, events): Apply) {
    end.route(events, SyncEvent::key, |events| ToEngine::Apply {
        sender,
        from,
        passive,
        events,
    })
    .await
}

#[cfg(test)]
mod tests;
