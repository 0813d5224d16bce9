//! The sync protocol as a state machine with no I/O, in quinn-proto's shape:
//! the QUIC shell only pumps it, so its tests drive it over an in-memory
//! network with a clock they hold. Inputs: a peer's connection came up or went down,
//! a frame arrived, the local engine produced events or bulk chunks, time
//! passed. Outputs ([`Output`]): frames to send, events for the engine,
//! acknowledged inserts, bulk dumps to produce, readiness.
//!
//! Reliability. Batches are numbered per sender session and peer. The
//! transport is reliable and ordered within a connection, so loss happens
//! only when a connection dies: the sender keeps unacknowledged batches
//! (bounded), and the receiver's `Hello` on the next connection says where
//! it stands, so the sender resends exactly the missing batches. If the
//! buffer overflowed, the receiver sees a gap in the numbers and asks for
//! a bulk sync. The merge is convergent, so resent, duplicated and bulk
//! data can interleave with live events in any order.
//!
//! Readiness. A node reports ready (and forwards) after its first bulk
//! sync from a peer completes, or when no peer came up within the join
//! timeout (it is alone). A bulk that fails is retried, at most
//! `bulk_max_tries` times (pfsync's `PFSYNC_MAX_BULKTRIES`), after which
//! the node goes ready and counts the failure.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rampart_dataplane::Instant;
use rampart_dataplane::engine::sync::SyncOut;
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::sync::{FlowState, Incarnation, SyncEvent};

use super::peer_stats::PeerCounters;
use super::wire::{self, MAX_EVENTS_PER_BATCH, Message, Resume};

/// Protocol settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolConfig {
    /// A node with no peer up after this long is alone and ready.
    pub join_timeout: Duration,
    /// A bulk sync not finished in this time is abandoned and retried.
    pub bulk_timeout: Duration,
    /// Bulk attempts before the node goes ready anyway (counted).
    pub bulk_max_tries: u32,
    /// Most events per batch.
    pub batch_max_events: usize,
    /// Most events kept for resend per peer; beyond, the oldest batches
    /// are dropped and the peer will resync in bulk.
    pub resend_max_events: usize,
    /// Event batches up to this many bytes also go out as datagrams (0:
    /// never). The merge is idempotent and order-free, so the copy that
    /// arrives first is applied and the other is a no-op.
    pub datagram_max_bytes: usize,
    /// An unacked batch's datagram copy is sent again after this long…
    pub datagram_resend: Duration,
    /// …up to this many copies in all (a lost datagram is never
    /// retransmitted by QUIC, and the stream may be stalled behind a loss).
    pub datagram_copies: u8,
    /// A ready node that was itself stopped this long (SIGSTOP, a VM
    /// paused, a stalled host: no input and no timer reached it) holds
    /// state its peers moved past: it stops forwarding and resyncs in bulk
    /// before it is ready again. The shell is woken at least four times per
    /// this interval, so an idle node is never mistaken for a stopped one.
    /// Zero turns the check off.
    pub stall_after: Duration,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig {
            join_timeout: Duration::from_secs(3),
            bulk_timeout: Duration::from_secs(30),
            bulk_max_tries: 12,
            batch_max_events: 1024,
            resend_max_events: 1 << 20,
            datagram_max_bytes: 1100,
            datagram_resend: Duration::from_millis(20),
            datagram_copies: 4,
            stall_after: Duration::from_secs(2),
        }
    }
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a frame to a peer on its current connection.
    Send {
        /// The peer.
        peer: u16,
        /// The frame.
        frame: bytes::Bytes,
    },
    /// Send a copy of an event batch as an unreliable datagram: the fast
    /// path that a loss on the reliable stream cannot stall (no head-of-
    /// line blocking). The shell may drop it (too large, congested).
    Datagram {
        /// The peer.
        peer: u16,
        /// The frame (an `Events` message).
        frame: bytes::Bytes,
    },
    /// Apply these events to the engine, in order.
    Apply(Vec<SyncEvent>),
    /// Peers acknowledged these inserts: release their deferred packets.
    Acked(Vec<(FlowKey, Incarnation)>),
    /// Produce a bulk dump of the table for `peer` and hand it back in
    /// chunks through [`Protocol::bulk_out`].
    BulkDump {
        /// The peer.
        peer: u16,
        /// The request id to answer.
        id: u64,
    },
    /// The number of peers up changed.
    PeersUp(usize),
    /// The node became ready to forward.
    Ready,
    /// The node must stop forwarding: it was stopped for longer than
    /// `stall_after` and resyncs before it is ready again.
    NotReady,
}

/// A peer's state as the protocol sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerPhase {
    /// No connection.
    Down,
    /// Connected, waiting for its Hello.
    Handshake,
    /// Exchanging events.
    Up,
}

impl PeerPhase {
    /// Label for metrics and `show cluster`.
    pub const fn label(self) -> &'static str {
        match self {
            PeerPhase::Down => "down",
            PeerPhase::Handshake => "syncing",
            PeerPhase::Up => "up",
        }
    }
}

/// Protocol counters (saturating).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtocolCounters {
    /// Event batches sent (first sends).
    pub batches_sent: u64,
    /// Events sent (counted once per peer).
    pub events_sent: u64,
    /// Batches resent after a reconnection.
    pub batches_resent: u64,
    /// Event batches received and applied.
    pub batches_received: u64,
    /// Events received.
    pub events_received: u64,
    /// Batches received twice (after a resend), skipped.
    pub duplicate_batches: u64,
    /// Gaps in a peer's batch numbers (its resend buffer overflowed).
    pub gaps: u64,
    /// Batches dropped from a resend buffer because it was full.
    pub resend_overflow: u64,
    /// Losses of this node's own events before they reached the protocol
    /// (declared with [`Protocol::declare_loss`]).
    pub local_losses: u64,
    /// Frames refused as malformed (closed by the shell).
    pub malformed: u64,
    /// Frames that break the protocol (wrong node in Hello, message before Hello).
    pub protocol_errors: u64,
    /// Bulk syncs requested by this node.
    pub bulk_requested: u64,
    /// Bulk syncs this node completed receiving.
    pub bulk_completed: u64,
    /// Bulk syncs abandoned (peer lost or timeout).
    pub bulk_failed: u64,
    /// Flows received in bulk.
    pub bulk_flows_received: u64,
    /// Bulk syncs served to peers.
    pub bulk_served: u64,
    /// Duration of the last completed incoming bulk sync.
    pub last_bulk: Duration,
    /// Bytes of frames produced.
    pub bytes_out: u64,
    /// Bytes of frames received.
    pub bytes_in: u64,
    /// Event batches sent as datagrams too.
    pub datagrams_sent: u64,
    /// Event datagrams received (their events applied ahead of the stream).
    pub datagrams_received: u64,
    /// Datagram copies sent again for batches not acked in time.
    pub datagrams_resent: u64,
    /// Times this node found it had been stopped (see `stall_after`) and
    /// went back to resync before forwarding.
    pub stalls: u64,
}

fn add(c: &mut u64, n: u64) {
    *c = c.saturating_add(n);
}

#[derive(Debug)]
struct Batch {
    seq: u64,
    frame: bytes::Bytes,
    events: usize,
    acks: Vec<(FlowKey, Incarnation)>,
    /// When it was first sent.
    sent_at: Instant,
    /// Datagram copies sent so far (`u8::MAX`: not sent as datagrams).
    copies: u8,
}

/// Unacked batches looked at per timer run for datagram resends.
const RESEND_SCAN: usize = 256;

#[derive(Debug)]
struct Peer {
    conn: Option<u64>,
    phase: PeerPhase,
    /// Next batch number to assign to this peer.
    tx_next: u64,
    unacked: VecDeque<Batch>,
    unacked_events: usize,
    /// Unacked batches still due datagram copies (skips the scan when 0).
    dgram_live: usize,
    /// The peer's session we receive from, and the next batch we expect.
    rx: Option<Resume>,
    /// What this link carried.
    stats: PeerCounters,
}

#[derive(Debug, Clone, Copy)]
struct BulkIn {
    peer: u16,
    id: u64,
    started: Instant,
    flows: u64,
}

/// One node's sync protocol with all its peers.
#[derive(Debug)]
pub struct Protocol {
    me: u16,
    session: u64,
    config: ProtocolConfig,
    peers: BTreeMap<u16, Peer>,
    started: Instant,
    /// The latest time any input or timer reached the protocol.
    last_seen_time: Instant,
    ready: bool,
    bulk: Option<BulkIn>,
    /// Peers whose whole table this node still needs: every peer while it
    /// is not ready, a peer whose stream to us started afresh (it
    /// restarted, or we never heard from it), a peer whose batches were
    /// lost (a gap). One bulk runs at a time; the next follows it.
    wanted: std::collections::BTreeSet<u16>,
    bulk_tries: u32,
    next_bulk_id: u64,
    pending: Vec<SyncEvent>,
    pending_acks: Vec<(FlowKey, Incarnation)>,
    outputs: VecDeque<Output>,
    counters: ProtocolCounters,
}

/// Why a frame was refused; the shell closes that peer's connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Malformed frame.
    #[error("malformed sync message: {0}")]
    Wire(#[from] wire::WireError),
    /// A well-formed message that breaks the protocol.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
}

impl Protocol {
    /// A node `me` with a fresh random `session`, knowing `peers`, started at `now`.
    pub fn new(me: u16, session: u64, peers: &[u16], config: ProtocolConfig, now: Instant) -> Self {
        let peers = peers
            .iter()
            .filter(|&&p| p != me)
            .map(|&p| {
                (
                    p,
                    Peer {
                        conn: None,
                        phase: PeerPhase::Down,
                        tx_next: 1,
                        unacked: VecDeque::new(),
                        unacked_events: 0,
                        dgram_live: 0,
                        rx: None,
                        stats: PeerCounters::default(),
                    },
                )
            })
            .collect::<BTreeMap<_, _>>();
        let mut p = Protocol {
            me,
            session,
            config,
            peers,
            started: now,
            last_seen_time: now,
            ready: false,
            bulk: None,
            wanted: std::collections::BTreeSet::new(),
            bulk_tries: 0,
            next_bulk_id: 1,
            pending: Vec::new(),
            pending_acks: Vec::new(),
            outputs: VecDeque::new(),
            counters: ProtocolCounters::default(),
        };
        if p.peers.is_empty() {
            p.become_ready();
        }
        p
    }

    /// Whether the node is ready to forward.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Counters.
    pub fn counters(&self) -> &ProtocolCounters {
        &self.counters
    }

    /// Each peer's phase.
    pub fn peer_phases(&self) -> Vec<(u16, PeerPhase)> {
        self.peers.iter().map(|(&id, p)| (id, p.phase)).collect()
    }

    /// Each peer's link counters.
    pub fn peer_counters(&self) -> Vec<(u16, PeerCounters)> {
        self.peers
            .iter()
            .map(|(&id, p)| (id, p.stats.clone()))
            .collect()
    }

    /// Batches and events waiting for a peer's acknowledgement.
    pub fn unacked(&self, peer: u16) -> (usize, usize) {
        self.peers
            .get(&peer)
            .map_or((0, 0), |p| (p.unacked.len(), p.unacked_events))
    }

    /// Peers up.
    pub fn peers_up(&self) -> usize {
        self.peers
            .values()
            .filter(|p| p.phase == PeerPhase::Up)
            .count()
    }

    /// Take the next output.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn send(&mut self, peer: u16, msg: &Message) {
        let frame = bytes::Bytes::from(wire::encode(msg));
        add(&mut self.counters.bytes_out, frame.len() as u64);
        if let Some(p) = self.peers.get_mut(&peer) {
            add(&mut p.stats.bytes_out, frame.len() as u64);
        }
        self.outputs.push_back(Output::Send { peer, frame });
    }

    /// Note that time `now` reached the protocol; a ready node that finds
    /// it was stopped for `stall_after` or more stops forwarding and asks
    /// its peers for their tables again.
    fn tick(&mut self, now: Instant) {
        let stall = self.config.stall_after;
        if self.ready && !stall.is_zero() && now.saturating_since(self.last_seen_time) >= stall {
            add(&mut self.counters.stalls, 1);
            self.ready = false;
            self.outputs.push_back(Output::NotReady);
            // Ready again after a bulk from a peer, as at the start; a node
            // alone goes ready again at the join timeout.
            self.started = now;
            self.bulk_tries = 0;
            let up: Vec<u16> = self
                .peers
                .iter()
                .filter(|(_, p)| p.phase == PeerPhase::Up)
                .map(|(&id, _)| id)
                .collect();
            self.wanted.extend(up);
            self.next_bulk(now);
        }
        self.last_seen_time = self.last_seen_time.max(now);
    }

    fn become_ready(&mut self) {
        if !self.ready {
            self.ready = true;
            self.outputs.push_back(Output::Ready);
        }
    }

    /// A connection to `peer` came up (identity verified by the transport).
    pub fn on_peer_up(&mut self, peer: u16, conn: u64, now: Instant) {
        self.tick(now);
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.conn = Some(conn);
        p.phase = PeerPhase::Handshake;
        let hello = Message::Hello {
            node: self.me,
            session: self.session,
            resume: p.rx,
        };
        self.send(peer, &hello);
    }

    /// The connection `conn` to `peer` is gone.
    pub fn on_peer_down(&mut self, peer: u16, conn: u64, now: Instant) {
        self.tick(now);
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.conn != Some(conn) {
            return;
        }
        let was_up = p.phase == PeerPhase::Up;
        p.conn = None;
        p.phase = PeerPhase::Down;
        if was_up {
            let n = self.peers_up();
            self.outputs.push_back(Output::PeersUp(n));
        }
        if self.bulk.is_some_and(|b| b.peer == peer) {
            self.bulk = None;
            add(&mut self.counters.bulk_failed, 1);
            self.retry_bulk(now);
        }
    }

    /// A frame from `peer` on connection `conn`. An error means the shell
    /// should close that connection (the peer's fault; counted).
    pub fn on_frame(
        &mut self,
        peer: u16,
        conn: u64,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), FrameError> {
        self.tick(now);
        let Some(p) = self.peers.get_mut(&peer) else {
            add(&mut self.counters.protocol_errors, 1);
            return Err(FrameError::Protocol("frame from an unknown peer"));
        };
        if p.conn != Some(conn) {
            // A frame of a connection already replaced: its content will be
            // resent on the new one.
            return Ok(());
        }
        add(&mut self.counters.bytes_in, frame.len() as u64);
        add(&mut p.stats.bytes_in, frame.len() as u64);
        let phase = p.phase;
        let msg = match wire::decode(frame) {
            Ok(m) => m,
            Err(e) => {
                add(&mut self.counters.malformed, 1);
                return Err(e.into());
            }
        };
        match msg {
            Message::Hello {
                node,
                session,
                resume,
            } => {
                if node != peer {
                    add(&mut self.counters.protocol_errors, 1);
                    return Err(FrameError::Protocol("Hello names another node"));
                }
                self.on_hello(peer, session, resume, now);
            }
            _ if phase != PeerPhase::Up => {
                add(&mut self.counters.protocol_errors, 1);
                return Err(FrameError::Protocol("message before Hello"));
            }
            Message::Events { seq, events } => self.on_events(peer, seq, events, now),
            Message::Ack { seq } => self.on_ack(peer, seq, now),
            Message::BulkRequest { id } => {
                add(&mut self.counters.bulk_served, 1);
                self.outputs.push_back(Output::BulkDump { peer, id });
            }
            Message::BulkChunk { id, flows } => {
                if let Some(b) = &mut self.bulk
                    && b.peer == peer
                    && b.id == id
                {
                    b.flows = b.flows.saturating_add(flows.len() as u64);
                }
                add(&mut self.counters.bulk_flows_received, flows.len() as u64);
                // Applied whether or not it answers our current request:
                // the merge makes any copy of a peer's state useful.
                self.outputs.push_back(Output::Apply(
                    flows.into_iter().map(SyncEvent::Upsert).collect(),
                ));
            }
            Message::BulkEnd { id, .. } => {
                if let Some(b) = self.bulk
                    && b.peer == peer
                    && b.id == id
                {
                    self.bulk = None;
                    self.wanted.remove(&peer);
                    add(&mut self.counters.bulk_completed, 1);
                    self.counters.last_bulk = now.saturating_since(b.started);
                    self.become_ready();
                    self.next_bulk(now);
                }
            }
        }
        Ok(())
    }

    /// A datagram from `peer`: a copy of an event batch that may arrive
    /// before, after or instead of its stream copy. Its events are
    /// applied at once; sequence numbers and acks stay the stream's
    /// business. An error means the peer broke the protocol (counted).
    pub fn on_datagram(
        &mut self,
        peer: u16,
        conn: u64,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), FrameError> {
        self.tick(now);
        let Some(p) = self.peers.get(&peer) else {
            add(&mut self.counters.protocol_errors, 1);
            return Err(FrameError::Protocol("datagram from an unknown peer"));
        };
        if p.conn != Some(conn) || p.phase != PeerPhase::Up {
            return Ok(());
        }
        match wire::decode(frame) {
            Ok(Message::Events { events, .. }) => {
                add(&mut self.counters.datagrams_received, 1);
                add(&mut self.counters.bytes_in, frame.len() as u64);
                if let Some(p) = self.peers.get_mut(&peer) {
                    add(&mut p.stats.bytes_in, frame.len() as u64);
                }
                self.outputs.push_back(Output::Apply(events));
                Ok(())
            }
            Ok(_) => {
                add(&mut self.counters.protocol_errors, 1);
                Err(FrameError::Protocol("datagram that is not an event batch"))
            }
            Err(e) => {
                add(&mut self.counters.malformed, 1);
                Err(e.into())
            }
        }
    }

    fn on_hello(&mut self, peer: u16, session: u64, resume: Option<Resume>, now: Instant) {
        let me = self.session;
        let p = self.peers.get_mut(&peer).expect("checked by caller");
        // Its stream to us: a new session starts from batch 1, and what it
        // holds reaches us only in bulk (it restarted, or this node did,
        // or this node went ready alone before the two met).
        if p.rx.is_none_or(|r| r.session != session) {
            p.rx = Some(Resume { session, next: 1 });
            self.wanted.insert(peer);
        }
        // Our stream to it: drop what it has, resend the rest in order.
        match resume {
            Some(r) if r.session == me => {
                while p.unacked.front().is_some_and(|b| b.seq < r.next) {
                    let b = p.unacked.pop_front().expect("checked");
                    p.unacked_events -= b.events;
                    p.dgram_live -= usize::from(b.copies < self.config.datagram_copies);
                }
            }
            // It never heard of this session (it restarted, or we did):
            // what we buffered means nothing to it; it resyncs in bulk.
            _ => {
                p.unacked.clear();
                p.unacked_events = 0;
                p.dgram_live = 0;
            }
        }
        let resend: Vec<bytes::Bytes> = p.unacked.iter().map(|b| b.frame.clone()).collect();
        p.phase = PeerPhase::Up;
        add(&mut self.counters.batches_resent, resend.len() as u64);
        for frame in resend {
            add(&mut self.counters.bytes_out, frame.len() as u64);
            add(&mut p.stats.bytes_out, frame.len() as u64);
            self.outputs.push_back(Output::Send { peer, frame });
        }
        let n = self.peers_up();
        self.outputs.push_back(Output::PeersUp(n));
        if !self.ready {
            self.wanted.insert(peer);
        }
        self.next_bulk(now);
    }

    /// Ask the next peer whose table this node needs, if none is asked now.
    fn next_bulk(&mut self, now: Instant) {
        if self.bulk.is_some() {
            return;
        }
        let up = |id: &u16| self.peers.get(id).is_some_and(|p| p.phase == PeerPhase::Up);
        if let Some(&peer) = self.wanted.iter().find(|id| up(id)) {
            self.request_bulk(peer, now);
        }
    }

    fn request_bulk(&mut self, peer: u16, now: Instant) {
        let id = self.next_bulk_id;
        self.next_bulk_id += 1;
        self.bulk_tries += 1;
        self.bulk = Some(BulkIn {
            peer,
            id,
            started: now,
            flows: 0,
        });
        add(&mut self.counters.bulk_requested, 1);
        self.send(peer, &Message::BulkRequest { id });
    }

    fn retry_bulk(&mut self, now: Instant) {
        if !self.ready {
            if self.bulk_tries >= self.config.bulk_max_tries {
                // pfsync gives up after its tries too; a node that can never
                // complete a bulk still serves with what it learns live (and
                // keeps asking for the tables it lacks).
                self.become_ready();
            } else {
                // Not ready: any peer's table will do.
                let up: Vec<u16> = self
                    .peers
                    .iter()
                    .filter(|(_, p)| p.phase == PeerPhase::Up)
                    .map(|(&id, _)| id)
                    .collect();
                self.wanted.extend(up);
            }
        }
        self.next_bulk(now);
    }

    fn on_events(&mut self, peer: u16, seq: u64, events: Vec<SyncEvent>, now: Instant) {
        let p = self.peers.get_mut(&peer).expect("checked by caller");
        let rx = p.rx.get_or_insert(Resume {
            session: 0,
            next: 1,
        });
        if seq < rx.next {
            let upto = rx.next - 1;
            add(&mut self.counters.duplicate_batches, 1);
            self.send(peer, &Message::Ack { seq: upto });
            return;
        }
        let gap = seq > rx.next;
        // A peer numbers its batches from 1, one by one, so only a forged
        // number reaches u64::MAX: saturate instead of overflowing, and the
        // number is taken like any other far ahead (a gap, then repair).
        rx.next = seq.saturating_add(1);
        add(&mut self.counters.batches_received, 1);
        add(&mut self.counters.events_received, events.len() as u64);
        add(&mut p.stats.events_received, events.len() as u64);
        self.outputs.push_back(Output::Apply(events));
        self.send(peer, &Message::Ack { seq });
        if gap {
            // Batches were lost for good (the peer's buffer overflowed):
            // repair with its whole table.
            add(&mut self.counters.gaps, 1);
            self.wanted.insert(peer);
            self.next_bulk(now);
        }
    }

    fn on_ack(&mut self, peer: u16, seq: u64, now: Instant) {
        let p = self.peers.get_mut(&peer).expect("checked by caller");
        let mut acked = Vec::new();
        while p.unacked.front().is_some_and(|b| b.seq <= seq) {
            let b = p.unacked.pop_front().expect("checked");
            // Replication lag: from the batch's first send (or queueing,
            // for a peer that was down) to the peer's acknowledgement.
            p.stats.lag.observe(now.saturating_since(b.sent_at));
            p.unacked_events -= b.events;
            p.dgram_live -= usize::from(b.copies < self.config.datagram_copies);
            acked.extend(b.acks);
        }
        if !acked.is_empty() {
            self.outputs.push_back(Output::Acked(acked));
        }
    }

    /// Events from the local engine, to be batched by the next [`flush`](Self::flush).
    pub fn push_events(&mut self, events: &[SyncOut]) {
        for o in events {
            if o.want_ack
                && let SyncEvent::Upsert(s) = &o.event
            {
                self.pending_acks.push((s.key, s.inc));
            }
            self.pending.push(o.event);
        }
    }

    /// Some of this node's events were lost before they reached the
    /// protocol (a worker's outbox overflowed). Each peer's next batch
    /// number skips one, so every peer sees a gap and resyncs in bulk —
    /// the loss is repaired, not left for the next refresh.
    pub fn declare_loss(&mut self) {
        add(&mut self.counters.local_losses, 1);
        for p in self.peers.values_mut() {
            p.tx_next += 1;
        }
    }

    /// Events waiting for the next flush.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Batch the pending events to every peer. Peers that are down get the
    /// batches into their resend buffer, sent when they come back.
    pub fn flush(&mut self, now: Instant) {
        self.tick(now);
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let acks = std::mem::take(&mut self.pending_acks);
        let size = self.config.batch_max_events.clamp(1, MAX_EVENTS_PER_BATCH);
        let peers: Vec<u16> = self.peers.keys().copied().collect();
        let chunks: Vec<&[SyncEvent]> = pending.chunks(size).collect();
        for peer in peers {
            for (i, chunk) in chunks.iter().enumerate() {
                let p = self.peers.get_mut(&peer).expect("listed");
                let seq = p.tx_next;
                p.tx_next += 1;
                let frame = bytes::Bytes::from(wire::encode(&Message::Events {
                    seq,
                    events: chunk.to_vec(),
                }));
                // The acks ride with the last batch of this flush: it is
                // acknowledged after all the earlier ones.
                let batch_acks = if i + 1 == chunks.len() {
                    acks.clone()
                } else {
                    Vec::new()
                };
                let up = p.phase == PeerPhase::Up;
                let as_datagram = up && frame.len() <= self.config.datagram_max_bytes;
                p.unacked.push_back(Batch {
                    seq,
                    frame: frame.clone(),
                    events: chunk.len(),
                    acks: batch_acks,
                    sent_at: now,
                    copies: if as_datagram { 1 } else { u8::MAX },
                });
                p.dgram_live += usize::from(as_datagram && 1 < self.config.datagram_copies);
                p.unacked_events += chunk.len();
                let mut overflow = 0;
                while p.unacked_events > self.config.resend_max_events && p.unacked.len() > 1 {
                    let b = p.unacked.pop_front().expect("more than one");
                    p.unacked_events -= b.events;
                    p.dgram_live -= usize::from(b.copies < self.config.datagram_copies);
                    overflow += 1;
                }
                add(&mut self.counters.resend_overflow, overflow);
                if as_datagram {
                    add(&mut self.counters.datagrams_sent, 1);
                    add(&mut p.stats.bytes_out, frame.len() as u64);
                    self.outputs.push_back(Output::Datagram {
                        peer,
                        frame: frame.clone(),
                    });
                }
                if up {
                    add(&mut self.counters.batches_sent, 1);
                    add(&mut self.counters.events_sent, chunk.len() as u64);
                    add(&mut self.counters.bytes_out, frame.len() as u64);
                    add(&mut p.stats.events_sent, chunk.len() as u64);
                    add(&mut p.stats.bytes_out, frame.len() as u64);
                    self.outputs.push_back(Output::Send { peer, frame });
                }
            }
        }
    }

    /// A chunk of the bulk dump requested by `peer`; `last` ends it.
    pub fn bulk_out(&mut self, peer: u16, id: u64, flows: Vec<FlowState>, last: bool, total: u64) {
        if !self
            .peers
            .get(&peer)
            .is_some_and(|p| p.phase == PeerPhase::Up)
        {
            return;
        }
        for chunk in flows.chunks(MAX_EVENTS_PER_BATCH) {
            self.send(
                peer,
                &Message::BulkChunk {
                    id,
                    flows: chunk.to_vec(),
                },
            );
        }
        if last {
            self.send(peer, &Message::BulkEnd { id, flows: total });
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let resend = self.next_datagram_resend();
        // A heartbeat, so that a node that sat idle is not taken for one
        // that was stopped.
        let beat = (!self.config.stall_after.is_zero())
            .then(|| self.last_seen_time + self.config.stall_after / 4);
        let t = match self.bulk {
            Some(b) => Some(b.started + self.config.bulk_timeout),
            None if self.ready => None,
            None => Some(self.started + self.config.join_timeout),
        };
        [resend, beat, t].into_iter().flatten().min()
    }

    /// When an unacked batch's next datagram copy is due, if any.
    fn next_datagram_resend(&self) -> Option<Instant> {
        let every = self.config.datagram_resend;
        self.peers
            .values()
            .filter(|p| p.phase == PeerPhase::Up && p.dgram_live > 0)
            .filter_map(|p| {
                p.unacked
                    .iter()
                    .take(RESEND_SCAN)
                    .filter(|b| b.copies < self.config.datagram_copies)
                    .map(|b| b.sent_at + every * u32::from(b.copies))
                    .min()
            })
            .min()
    }

    /// Send datagram copies of batches unacked for too long again.
    fn resend_datagrams(&mut self, now: Instant) {
        let every = self.config.datagram_resend;
        let max = self.config.datagram_copies;
        for (&peer, p) in &mut self.peers {
            if p.phase != PeerPhase::Up || p.dgram_live == 0 {
                continue;
            }
            for b in p.unacked.iter_mut().take(RESEND_SCAN) {
                if b.copies < max && b.sent_at + every * u32::from(b.copies) <= now {
                    b.copies += 1;
                    p.dgram_live -= usize::from(b.copies >= max);
                    self.counters.datagrams_resent =
                        self.counters.datagrams_resent.saturating_add(1);
                    self.outputs.push_back(Output::Datagram {
                        peer,
                        frame: b.frame.clone(),
                    });
                }
            }
        }
    }

    /// Timers: the join timeout (alone → ready), the bulk timeout and the
    /// datagram copies of unacked batches.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        self.resend_datagrams(now);
        match self.bulk {
            Some(b) if now >= b.started + self.config.bulk_timeout => {
                self.bulk = None;
                add(&mut self.counters.bulk_failed, 1);
                self.retry_bulk(now);
            }
            Some(_) => {}
            None if self.ready => {}
            None if now >= self.started + self.config.join_timeout => {
                if self.peers_up() == 0 {
                    self.become_ready();
                } else {
                    self.retry_bulk(now);
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_dataplane::engine::sync::EventKind;
    use rampart_dataplane::flow::{Addr, Endpoint, proto};
    use rampart_dataplane::sync::SyncProto;

    const T0: Instant = Instant::from_secs(1_700_000_000);

    fn state(port: u16) -> FlowState {
        FlowState {
            key: FlowKey {
                lo: Endpoint {
                    addr: Addr::v4([198, 18, 0, 1]),
                    port,
                },
                hi: Endpoint {
                    addr: Addr::v4([198, 18, 1, 1]),
                    port: 53,
                },
                proto: proto::UDP,
            },
            inc: Incarnation {
                created_ns: 1,
                owner: 1,
                id: u32::from(port),
            },
            orig_is_lo: true,
            flags: 0,
            ingress: [0, 1],
            class: 0,
            seq_offset: 0,
            min_ttl: [64, 64],
            macs: [[0; 6]; 2],
            proto: SyncProto::Udp,
            last_seen_ns: 5,
        }
    }

    fn out(port: u16, want_ack: bool) -> SyncOut {
        SyncOut {
            event: SyncEvent::Upsert(state(port)),
            kind: EventKind::Insert,
            want_ack,
        }
    }

    /// Two protocols and the frames in flight between them.
    struct Net {
        p: [Protocol; 2],
        conn: u64,
        wire: [VecDeque<bytes::Bytes>; 2],
        datagrams: [VecDeque<bytes::Bytes>; 2],
        applied: [Vec<SyncEvent>; 2],
        acked: [Vec<(FlowKey, Incarnation)>; 2],
        ready: [bool; 2],
    }

    impl Net {
        fn new() -> Self {
            Net {
                p: [
                    Protocol::new(1, 111, &[1, 2], ProtocolConfig::default(), T0),
                    Protocol::new(2, 222, &[1, 2], ProtocolConfig::default(), T0),
                ],
                conn: 0,
                wire: [VecDeque::new(), VecDeque::new()],
                datagrams: [VecDeque::new(), VecDeque::new()],
                applied: [Vec::new(), Vec::new()],
                acked: [Vec::new(), Vec::new()],
                ready: [false, false],
            }
        }

        fn id(i: usize) -> u16 {
            i as u16 + 1
        }

        /// Drain node `i`'s outputs; bulk dumps are answered as empty tables.
        fn pump(&mut self, i: usize) {
            while let Some(o) = self.p[i].poll_output() {
                match o {
                    Output::Send { frame, .. } => self.wire[1 - i].push_back(frame),
                    Output::Datagram { frame, .. } => self.datagrams[1 - i].push_back(frame),
                    Output::Apply(ev) => self.applied[i].extend(ev),
                    Output::Acked(a) => self.acked[i].extend(a),
                    Output::BulkDump { peer, id } => {
                        self.p[i].bulk_out(peer, id, vec![state(9)], true, 1)
                    }
                    Output::PeersUp(_) => {}
                    Output::Ready => self.ready[i] = true,
                    Output::NotReady => self.ready[i] = false,
                }
            }
        }

        fn connect(&mut self) {
            self.conn += 1;
            for i in 0..2 {
                self.p[i].on_peer_up(Self::id(1 - i), self.conn, T0);
            }
            self.settle();
        }

        fn cut(&mut self) {
            for i in 0..2 {
                self.p[i].on_peer_down(Self::id(1 - i), self.conn, T0);
                self.wire[i].clear();
            }
            self.settle();
        }

        fn settle(&mut self) {
            for _ in 0..100 {
                self.pump(0);
                self.pump(1);
                let mut moved = false;
                for i in 0..2 {
                    while let Some(f) = self.wire[i].pop_front() {
                        moved = true;
                        self.p[i]
                            .on_frame(Self::id(1 - i), self.conn, &f, T0)
                            .expect("valid frame");
                    }
                }
                if !moved {
                    return;
                }
            }
            panic!("no quiescence");
        }
    }

    #[test]
    fn peer_counters_count_events_bytes_and_ack_lag() {
        let mut n = Net::new();
        n.connect();
        let before = n.p[0].peer_counters()[0].1.clone();
        assert_eq!(before.lag.count, 0, "bulk and hello are not event batches");
        n.p[0].push_events(&[out(1000, false), out(1001, false)]);
        n.p[0].flush(T0);
        n.pump(0);
        while let Some(f) = n.wire[1].pop_front() {
            n.p[1].on_frame(1, n.conn, &f, T0).unwrap();
        }
        n.pump(1);
        // The ack arrives 3 ms after the first send.
        let later = T0 + Duration::from_millis(3);
        while let Some(f) = n.wire[0].pop_front() {
            n.p[0].on_frame(2, n.conn, &f, later).unwrap();
        }
        let (peer, c) = n.p[0].peer_counters().remove(0);
        assert_eq!(peer, 2);
        assert_eq!(c.events_sent - before.events_sent, 2);
        assert!(c.bytes_out > before.bytes_out);
        assert_eq!(c.lag.count, 1);
        assert_eq!(c.lag.quantile(0.5), Some(Duration::from_millis(5)));
        assert_eq!(c.lag.sum_ns, 3_000_000);
        let (peer, c2) = n.p[1].peer_counters().remove(0);
        assert_eq!(peer, 1);
        assert_eq!(c2.events_received, 2);
        assert!(c2.bytes_in > 0 && c2.bytes_out > 0);
    }

    #[test]
    fn hello_bulk_then_ready_on_both_sides() {
        let mut n = Net::new();
        assert!(!n.p[0].is_ready());
        n.connect();
        assert_eq!(n.ready, [true, true]);
        assert_eq!(n.p[0].peers_up(), 1);
        // Each received the other's (one-flow) table in bulk.
        assert_eq!(n.applied[0], vec![SyncEvent::Upsert(state(9))]);
        assert_eq!(n.p[0].counters().bulk_completed, 1);
    }

    /// A batch's datagram copy is applied ahead of its stream copy (which
    /// a loss on the stream would stall); the stream copy still advances
    /// the sequence and the acks. A datagram that is not an event batch
    /// is refused and counted.
    #[test]
    fn datagram_copy_applies_ahead_of_the_stream() {
        let mut n = Net::new();
        n.connect();
        n.applied = [Vec::new(), Vec::new()];
        n.datagrams = [VecDeque::new(), VecDeque::new()];
        n.p[0].push_events(&[out(1, true)]);
        n.p[0].flush(T0);
        n.pump(0);
        assert_eq!(n.p[0].counters().datagrams_sent, 1);
        // The stream copy is "lost in flight" for now.
        let stream = n.wire[1].pop_front().expect("stream copy");
        let dgram = n.datagrams[1].pop_front().expect("datagram copy");
        n.p[1].on_datagram(1, n.conn, &dgram, T0).expect("datagram");
        n.pump(1);
        assert_eq!(n.applied[1], vec![SyncEvent::Upsert(state(1))]);
        assert!(n.acked[0].is_empty(), "acks come only with the stream");
        n.p[1]
            .on_frame(1, n.conn, &stream, T0)
            .expect("stream copy");
        n.settle();
        assert_eq!(
            n.applied[1].len(),
            2,
            "the stream copy is applied too (a no-op join)"
        );
        assert_eq!(n.acked[0], vec![(state(1).key, state(1).inc)]);
        assert_eq!(n.p[0].unacked(2), (0, 0));
        // A datagram carrying anything else breaks the protocol.
        let bad = wire::encode(&Message::Ack { seq: 1 });
        assert!(n.p[1].on_datagram(1, n.conn, &bad, T0).is_err());
        assert!(n.p[1].on_datagram(1, n.conn, b"\x01garbage", T0).is_err());
        assert_eq!(n.p[1].counters().malformed, 1);
        assert_eq!(n.p[1].counters().datagrams_received, 1);
    }

    /// Unacked batches get their datagram copy again every
    /// `datagram_resend`, up to `datagram_copies` in all; an ack stops it.
    #[test]
    fn unacked_batches_are_resent_as_datagrams_a_bounded_number_of_times() {
        let mut n = Net::new();
        // (The stall heartbeat is another timer: off here.)
        n.p[0].config.stall_after = Duration::ZERO;
        n.connect();
        n.p[0].push_events(&[out(1, false)]);
        n.p[0].flush(T0);
        n.pump(0);
        let stream = n.wire[1].pop_front().expect("stream copy");
        n.datagrams[1].clear();
        let every = ProtocolConfig::default().datagram_resend;
        assert_eq!(n.p[0].poll_timeout(), Some(T0 + every));
        let mut t = T0;
        for _ in 0..10 {
            t = t + every;
            n.p[0].handle_timeout(t);
            n.pump(0);
        }
        assert_eq!(n.datagrams[1].len(), 3, "three more copies, four in all");
        assert_eq!(n.p[0].counters().datagrams_resent, 3);
        assert_eq!(n.p[0].poll_timeout(), None);
        // A second batch acked at once never goes out again.
        n.datagrams[1].clear();
        n.p[1].on_frame(1, n.conn, &stream, t).expect("stream");
        n.p[0].push_events(&[out(2, false)]);
        n.p[0].flush(t);
        n.settle();
        n.datagrams[1].clear();
        n.p[0].handle_timeout(t + every * 10);
        n.pump(0);
        assert!(n.datagrams[1].is_empty());
        assert_eq!(n.p[0].unacked(2), (0, 0));
    }

    #[test]
    fn events_flow_and_acks_release_deferred_inserts() {
        let mut n = Net::new();
        n.connect();
        n.applied = [Vec::new(), Vec::new()];
        n.p[0].push_events(&[out(1, false), out(2, true)]);
        n.p[0].flush(T0);
        n.settle();
        assert_eq!(n.applied[1].len(), 2);
        assert_eq!(n.acked[0], vec![(state(2).key, state(2).inc)]);
        assert_eq!(n.p[0].unacked(2), (0, 0));
    }

    /// Found while writing the `sync_frame` fuzz target, and replayed
    /// through it (`fuzz/`, seed `seed-batch-u64-max`): a batch numbered
    /// u64::MAX overflowed the number expected next.
    #[test]
    fn a_batch_numbered_u64_max_is_a_gap_not_an_overflow() {
        let mut n = Net::new();
        n.connect();
        let forged = wire::encode(&Message::Events {
            seq: u64::MAX,
            events: vec![SyncEvent::Upsert(state(1))],
        });
        n.p[1]
            .on_frame(1, n.conn, &forged, T0)
            .expect("well-formed");
        assert_eq!(n.p[1].counters().gaps, 1);
        // Again: the same number, neither a gap nor an overflow.
        n.p[1]
            .on_frame(1, n.conn, &forged, T0)
            .expect("well-formed");
        assert_eq!(n.p[1].counters().gaps, 1);
        assert_eq!(n.p[1].counters().batches_received, 2);
    }

    #[test]
    fn a_lost_connection_is_repaired_by_resend_without_duplicates() {
        let mut n = Net::new();
        n.connect();
        n.applied = [Vec::new(), Vec::new()];
        n.p[0].push_events(&[out(1, false)]);
        n.p[0].flush(T0);
        n.settle();
        // Three batches sent into a connection that dies before delivery.
        for port in 2..5 {
            n.p[0].push_events(&[out(port, false)]);
            n.p[0].flush(T0);
        }
        n.pump(0);
        n.cut();
        assert_eq!(n.p[0].unacked(2).0, 3);
        // Sent while down: buffered.
        n.p[0].push_events(&[out(5, false)]);
        n.p[0].flush(T0);
        n.connect();
        let ports: Vec<u16> = n.applied[1]
            .iter()
            .map(|e| e.key().lo.port)
            .filter(|&p| p != 9)
            .collect();
        assert_eq!(ports, vec![1, 2, 3, 4, 5], "each once, in order");
        assert_eq!(n.p[0].counters().batches_resent, 4);
        assert_eq!(n.p[1].counters().gaps, 0);
    }

    #[test]
    fn a_gap_after_resend_overflow_triggers_bulk() {
        let mut n = Net::new();
        n.p[0].config.resend_max_events = 2;
        n.connect();
        n.cut();
        for port in 1..6 {
            n.p[0].push_events(&[out(port, false)]);
            n.p[0].flush(T0);
        }
        assert!(n.p[0].counters().resend_overflow >= 3);
        n.connect();
        assert_eq!(n.p[1].counters().gaps, 1);
        assert_eq!(
            n.p[1].counters().bulk_requested,
            2,
            "join bulk, then the repair"
        );
        assert_eq!(n.p[1].counters().bulk_completed, 2);
    }

    /// Found by the cluster simulator (seed 106): a node that went ready
    /// alone (its peer unreachable past the join timeout) and met the peer
    /// later never asked for the peer's table, so flows the peer held were
    /// missing on it for good. A peer whose stream starts afresh now owes a
    /// bulk, ready or not.
    #[test]
    fn a_node_ready_alone_asks_a_peer_it_meets_later_for_its_table() {
        let mut n = Net::new();
        n.p[0].handle_timeout(T0 + Duration::from_secs(3));
        n.pump(0);
        assert!(n.ready[0], "alone and ready");
        n.connect();
        assert_eq!(n.p[0].counters().bulk_completed, 1);
        assert_eq!(n.applied[0], vec![SyncEvent::Upsert(state(9))]);
        // Reconnecting to the same session needs no bulk: resend covers it.
        n.cut();
        n.connect();
        assert_eq!(n.p[0].counters().bulk_requested, 1);
    }

    /// A bulk that a ready node asked for (after a gap) and that never ends
    /// times out and is asked again, instead of blocking every later one.
    #[test]
    fn a_ready_nodes_stalled_bulk_times_out() {
        let mut n = Net::new();
        n.p[0].config.stall_after = Duration::ZERO;
        n.connect();
        assert!(n.ready[0]);
        n.p[0].wanted.insert(2);
        n.p[0].next_bulk(T0);
        n.pump(0);
        n.wire[1].clear();
        let asked = n.p[0].counters().bulk_requested;
        let late = T0 + ProtocolConfig::default().bulk_timeout;
        assert_eq!(n.p[0].poll_timeout(), Some(late));
        n.p[0].handle_timeout(late);
        assert_eq!(n.p[0].counters().bulk_failed, 1);
        assert_eq!(n.p[0].counters().bulk_requested, asked + 1);
    }

    /// Issue 13, scenario 2: a node stopped (SIGSTOP) past `stall_after`
    /// holds state its peers moved past. On its first input after it
    /// resumes it stops forwarding, asks a peer for its table, and is
    /// ready again once that bulk is in. An idle node is woken by the
    /// heartbeat and never taken for a stopped one.
    #[test]
    fn a_node_stopped_past_stall_after_resyncs_before_forwarding_again() {
        let mut n = Net::new();
        n.connect();
        assert_eq!(n.ready, [true, true]);
        let every = ProtocolConfig::default().stall_after / 4;
        // Idle but running: the heartbeat keeps it from looking stopped.
        let mut t = T0;
        for _ in 0..20 {
            let due = n.p[0].poll_timeout().expect("heartbeat");
            assert!(due <= t + every);
            t = due;
            n.p[0].handle_timeout(t);
        }
        assert_eq!(n.p[0].counters().stalls, 0);
        // Stopped for 10 s: the first timer after SIGCONT sees the gap.
        n.p[0].handle_timeout(t + Duration::from_secs(10));
        assert_eq!(n.p[0].counters().stalls, 1);
        assert!(!n.p[0].is_ready());
        let mut saw_not_ready = false;
        while let Some(o) = n.p[0].poll_output() {
            match o {
                Output::NotReady => saw_not_ready = true,
                Output::Send { frame, .. } => n.wire[1].push_back(frame),
                _ => {}
            }
        }
        assert!(saw_not_ready, "the shell is told to stop forwarding");
        let before = n.p[0].counters().bulk_completed;
        n.settle();
        assert!(n.p[0].is_ready(), "ready again after the bulk");
        assert_eq!(n.p[0].counters().bulk_completed, before + 1);
    }

    #[test]
    fn alone_after_the_join_timeout() {
        let cfg = ProtocolConfig {
            stall_after: Duration::ZERO,
            ..ProtocolConfig::default()
        };
        let mut p = Protocol::new(1, 1, &[1, 2], cfg, T0);
        assert_eq!(p.poll_timeout(), Some(T0 + Duration::from_secs(3)));
        p.handle_timeout(T0 + Duration::from_secs(2));
        assert!(!p.is_ready());
        p.handle_timeout(T0 + Duration::from_secs(3));
        assert!(p.is_ready());
        assert_eq!(p.poll_output(), Some(Output::Ready));
        // A node with no peers at all is ready at once.
        assert!(Protocol::new(1, 1, &[1], ProtocolConfig::default(), T0).is_ready());
    }

    #[test]
    fn malformed_and_out_of_protocol_frames_are_refused_and_counted() {
        let mut p = Protocol::new(1, 1, &[1, 2], ProtocolConfig::default(), T0);
        p.on_peer_up(2, 7, T0);
        assert!(matches!(
            p.on_frame(2, 7, &[1, 0xff, 0xff], T0),
            Err(FrameError::Wire(_))
        ));
        let ack = wire::encode(&Message::Ack { seq: 1 });
        assert!(matches!(
            p.on_frame(2, 7, &ack, T0),
            Err(FrameError::Protocol(_))
        ));
        let liar = wire::encode(&Message::Hello {
            node: 3,
            session: 5,
            resume: None,
        });
        assert!(p.on_frame(2, 7, &liar, T0).is_err());
        // A TCP flow in a state no version defines: the whole batch is
        // refused and counted, nothing is applied.
        let mut forged = wire::v1::Frame::from(&Message::Events {
            seq: 1,
            events: vec![SyncEvent::Upsert(state(1))],
        });
        if let wire::v1::Frame::Events { events, .. } = &mut forged
            && let Some(wire::v1::WireEvent::Upsert(f)) = events.first_mut()
        {
            let half = rampart_dataplane::conntrack::tcp::TcpHalf::default().into();
            f.proto = wire::v1::WireProto::Tcp(wire::v1::WireTcp {
                state: 10,
                simultaneous: false,
                half: [half, half],
            });
        }
        assert_eq!(
            p.on_frame(2, 7, &wire::encode_frame(&forged), T0),
            Err(FrameError::Wire(wire::WireError::TcpState(10)))
        );
        while let Some(o) = p.poll_output() {
            assert!(!matches!(o, Output::Apply(_)), "nothing of it is applied");
        }
        assert_eq!(p.counters().malformed, 2);
        assert_eq!(p.counters().protocol_errors, 2);
        assert!(p.on_frame(9, 7, &ack, T0).is_err(), "unknown peer");
    }

    #[test]
    fn a_peer_lost_mid_bulk_is_retried() {
        let mut n = Net::new();
        n.conn += 1;
        for i in 0..2 {
            n.p[i].on_peer_up(Net::id(1 - i), n.conn, T0);
        }
        // Deliver only the Hellos, then cut before the bulk answers.
        n.pump(0);
        n.pump(1);
        for i in 0..2 {
            let f = n.wire[i].pop_front().unwrap();
            n.p[i].on_frame(Net::id(1 - i), n.conn, &f, T0).unwrap();
        }
        n.cut();
        assert_eq!(n.p[0].counters().bulk_failed, 1);
        assert!(!n.p[0].is_ready());
        n.connect();
        assert_eq!(n.ready, [true, true]);
    }
}
