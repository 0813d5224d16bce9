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
//! Placement (docs/sync.md §13). An event goes to the peers that hold its
//! flow actively (the owner, peers that sent changes of their own, peers
//! that pulled it), to the flow's director for an insert or a delete, and
//! to the next ranked nodes while fewer than `copies` nodes hold it
//! ([`Placement`]): never to every node. A node whose packets lack a flow's
//! state pulls it from the director and the known holders; a director that
//! lacks it, or holds it only as a copy off the flow's path, passes the
//! pull on.
//!
//! Readiness. A node reports ready (and forwards) after it has its share
//! of every peer's table (a bulk sync from each peer up), or when no peer
//! came up within the join timeout (it is alone). A bulk that fails is
//! asked next of the peer that failed least, and of a peer whose bulk
//! timed out or ended incomplete only after a backoff; a peer whose bulks failed
//! `bulk_peer_tries` times no longer holds readiness once another peer
//! answered. With no answer at all, bulks are tried at most
//! `bulk_max_tries` times (pfsync's `PFSYNC_MAX_BULKTRIES`), after which
//! the node goes ready and counts the failure.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rampart_dataplane::Instant;
use rampart_dataplane::engine::sync::{PullOut, SyncOut};
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::sync::{AnswerCopy, Confirm, FlowState, Incarnation, PeerSet, SyncEvent};

use super::peer_stats::PeerCounters;
use super::wire::{self, MAX_EVENTS_PER_BATCH, Message, Resume};
use bulk::BulkIn;
pub use counters::ProtocolCounters;
use rampart_dataplane::placement::{Placement, Share};
pub use refusal::{FrameError, REFUSAL_LABELS, REFUSAL_REASONS, Violation};

/// Protocol settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolConfig {
    /// A node with no peer up after this long is alone and ready.
    pub join_timeout: Duration,
    /// A bulk sync not finished in this time is abandoned and retried.
    pub bulk_timeout: Duration,
    /// A node that has not asked for a table yet (not ready, or ready
    /// alone) waits up to this long (from its start, or from the stall
    /// that made it not ready; from the first peer that came up, if later)
    /// for every peer it knows to come up before it asks for its first
    /// table. A peer computes the
    /// share for the asker's view of the members: one asked for while only
    /// some peers were up gave the asker copies of flows it is not placed
    /// for, which no holder then kept up to date (the simulator found one
    /// outliving its connection).
    pub bulk_settle: Duration,
    /// Bulk attempts before the node goes ready anyway (counted); a bulk
    /// that times out, loses its peer or ends incomplete is one.
    pub bulk_max_tries: u32,
    /// Failed bulks of one peer (timed out, lost with the peer, or
    /// incomplete) after which a node that is not ready stops waiting for
    /// that peer's table, once another peer has answered: it goes ready on
    /// the tables it has (counted) and asks the silent peer again later. A
    /// peer that is up but never answers otherwise kept a starting node
    /// not ready for `bulk_max_tries` × `bulk_timeout` (docs/sync.md §6).
    pub bulk_peer_tries: u32,
    /// A peer whose bulk timed out or ended incomplete is not asked again
    /// before this long, doubled for each further failure in a row, up to
    /// `bulk_timeout`. An incomplete bulk used to be asked for again at
    /// once: a peer whose link could not carry its dump before the
    /// transport's byte budget filled then dumped its table over and over,
    /// and its full queue refused live events too (docs/sync.md §6).
    pub bulk_retry_after: Duration,
    /// Most events per batch.
    pub batch_max_events: usize,
    /// Most events kept for resend per peer; beyond, the oldest batches
    /// are dropped and the peer will resync in bulk.
    pub resend_max_events: usize,
    /// Event batches up to this many bytes also go out as datagrams (0:
    /// never). The merge is idempotent and order-free, so the copy that
    /// arrives first is applied and the other is a no-op.
    pub datagram_max_bytes: usize,
    /// A batch's first datagram copy goes with its stream copy only while
    /// the link to its peer is lossy: for this long after a batch was last
    /// left unacked past `datagram_resend`. On a healthy link the stream
    /// alone is as fast, and the second copy cost the receiver a decode
    /// and a merge per batch (docs/sync.md §5).
    pub datagram_lossy_hold: Duration,
    /// An unacked batch's (next) datagram copy is sent after this long…
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
    /// Nodes that hold each flow actively, its owner included (`[cluster]
    /// copies`): while fewer do, the flow's changes also go to the next
    /// ranked nodes. With two nodes and two copies every flow is on both.
    pub copies: usize,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig {
            join_timeout: Duration::from_secs(3),
            bulk_timeout: Duration::from_secs(30),
            bulk_settle: Duration::from_millis(100),
            bulk_max_tries: 12,
            bulk_peer_tries: 2,
            bulk_retry_after: Duration::from_secs(2),
            batch_max_events: 1024,
            resend_max_events: 1 << 20,
            datagram_max_bytes: 1100,
            datagram_lossy_hold: Duration::from_secs(10),
            datagram_resend: Duration::from_millis(20),
            datagram_copies: 4,
            stall_after: Duration::from_secs(2),
            copies: 2,
        }
    }
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a frame to a peer on connection `conn`. The shell sends it
    /// only while `conn` is still the peer's current connection, and drops
    /// it (counted) once a newer one replaced it, as [`Protocol::on_frame`]
    /// drops a frame that arrives on a replaced connection: on the new one
    /// it would come before this node's `Hello`, and the peer would refuse
    /// it (docs/sync.md §5, *Peers up and down*).
    Send {
        /// The peer.
        peer: u16,
        /// The connection the frame is meant for (the id the shell gave
        /// [`Protocol::on_peer_up`]).
        conn: u64,
        /// The frame.
        frame: bytes::Bytes,
    },
    /// Send a copy of an event batch as an unreliable datagram: the fast
    /// path that a loss on the reliable stream cannot stall (no head-of-
    /// line blocking). The shell may drop it (too large, congested), and
    /// drops it when `conn` is no longer the peer's current connection.
    Datagram {
        /// The peer.
        peer: u16,
        /// The connection the copy is meant for.
        conn: u64,
        /// The frame (an `Events` message).
        frame: bytes::Bytes,
    },
    /// Apply these events to the engine, in order.
    Apply {
        /// The peer whose message carried them (for what the engine
        /// refuses of them: counted and reported by peer).
        sender: u16,
        /// The peer that sent them from its own packets (its changes, or
        /// its answer as a node on the flows' path): the engine sends it
        /// the flows' changes from now on. `None` for copies.
        from: Option<u16>,
        /// Passive copies: the engine will not hear of these flows' later
        /// changes from the sender.
        passive: bool,
        /// The events.
        events: Vec<SyncEvent>,
    },
    /// Apply these answers to pulls: each flow's state with the other
    /// nodes on its path the answering peer knows of
    /// ([`Source`](rampart_dataplane::engine::sync::Source)), whole or
    /// passive by the kind of copy `from` answered from.
    State {
        /// The answering peer.
        from: u16,
        /// The kind of copy it answered from.
        copy: AnswerCopy,
        /// The flows and their holders.
        flows: Vec<(FlowState, PeerSet)>,
    },
    /// Answer these pulls from the engine ([`Engine::serve_pull`](rampart_dataplane::Engine::serve_pull)).
    Pull {
        /// The node whose packets wait.
        origin: u16,
        /// The flows, each with the digest of the state the node that
        /// passed the pull on answered `origin` with, if it did.
        keys: Vec<(FlowKey, Option<u64>)>,
        /// The pull came straight from `origin` and may be passed on.
        forwardable: bool,
    },
    /// Apply these brief answers to pulls
    /// ([`Engine::apply_confirm`](rampart_dataplane::Engine::apply_confirm)).
    Confirm {
        /// The answering peer, on the flows' path.
        from: u16,
        /// The brief answers.
        flows: Vec<Confirm>,
    },
    /// Peers acknowledged these inserts: release their deferred packets.
    Acked(Vec<(FlowKey, Incarnation)>),
    /// Produce a bulk dump of the peer's share of the table and hand it
    /// back in chunks through [`Protocol::bulk_out`].
    BulkDump {
        /// The peer.
        peer: u16,
        /// The request id to answer.
        id: u64,
        /// The flows to include.
        share: Share,
    },
    /// Stop producing the bulk dump for `peer` with request `id`: the
    /// peer's connection went (or a new one replaced it), so the dump's
    /// chunks would not be sent. Chunks of it still on their way to
    /// [`Protocol::bulk_out`] are dropped there.
    BulkCancel {
        /// The peer.
        peer: u16,
        /// The request id of the dump.
        id: u64,
    },
    /// The number of peers up changed.
    PeersUp(usize),
    /// The live members changed: the engine places flows over these
    /// ([`Engine::set_placement`](rampart_dataplane::Engine::set_placement)).
    Placement(Placement),
    /// The live members changed from `old` to `new`: walk the table
    /// ([`Engine::rebalance_chunk`](rampart_dataplane::Engine::rebalance_chunk))
    /// and hand what peers must now hold to [`Protocol::push_states`].
    Rebalance {
        /// The placement before.
        old: Placement,
        /// The placement now.
        new: Placement,
    },
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
    /// When its next datagram copy is due (`datagram_resend` after it was
    /// sent, then after each copy).
    copy_at: Instant,
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
    /// Until when the link counts as lossy (`ProtocolConfig::
    /// datagram_lossy_hold`): new batches send a datagram copy at once.
    lossy_until: Option<Instant>,
    /// The peer's session we receive from, and the next batch we expect.
    rx: Option<Resume>,
    /// What this link carried.
    stats: PeerCounters,
}

impl Peer {
    /// A peer not yet connected.
    fn new() -> Peer {
        Peer {
            conn: None,
            phase: PeerPhase::Down,
            tx_next: 1,
            unacked: VecDeque::new(),
            unacked_events: 0,
            dgram_live: 0,
            lossy_until: None,
            rx: None,
            stats: PeerCounters::default(),
        }
    }
}

/// One node's sync protocol with all its peers.
#[derive(Debug)]
pub struct Protocol {
    me: u16,
    session: u64,
    config: ProtocolConfig,
    peers: BTreeMap<u16, Peer>,
    started: Instant,
    /// When the first peer came up before this node asked for any table
    /// (since the start, or the stall that made it not ready).
    first_up: Option<Instant>,
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
    /// Failed bulks per peer since the start (or the last stall); a
    /// peer's completed bulk clears its count. The next bulk goes to the
    /// wanted peer that failed least, so a silent peer cannot keep the
    /// others from being asked.
    bulk_failures: BTreeMap<u16, u32>,
    /// Peers not to be asked for a bulk again before the time given: their
    /// last bulk timed out or ended incomplete (`bulk_retry_after`).
    bulk_retry_at: BTreeMap<u16, Instant>,
    /// Some peer completed a bulk since the start (or the last stall).
    bulk_answered: bool,
    next_bulk_id: u64,
    /// Peers whose bulk request this node is answering, with the request
    /// id: one dump per peer at a time (a repeat is ignored until the
    /// dump ends or the peer's connection goes).
    serving: BTreeMap<u16, u64>,
    pending: Vec<SyncOut>,
    pending_pulls: Vec<PullOut>,
    /// The placement last given to the engine.
    placed: Placement,
    /// The number of peers up last given to the engine (`Output::PeersUp`).
    told_up: usize,
    pending_acks: Vec<(FlowKey, Incarnation)>,
    /// Acks owed to peers (peer, batch number), sent when the shell next
    /// takes the outputs: the shell hands over every frame it has before
    /// it does, so one ack covers them all (acks are cumulative).
    acks_owed: Vec<(u16, u64)>,
    outputs: VecDeque<Output>,
    counters: ProtocolCounters,
}

impl Protocol {
    /// A node `me` with a fresh random `session`, knowing `peers`, started at `now`.
    pub fn new(me: u16, session: u64, peers: &[u16], config: ProtocolConfig, now: Instant) -> Self {
        let peers = peers
            .iter()
            .filter(|&&p| p != me)
            .map(|&p| (p, Peer::new()))
            .collect::<BTreeMap<_, _>>();
        let mut p = Protocol {
            me,
            session,
            config,
            peers,
            started: now,
            first_up: None,
            last_seen_time: now,
            ready: false,
            bulk: None,
            wanted: std::collections::BTreeSet::new(),
            bulk_tries: 0,
            bulk_failures: BTreeMap::new(),
            bulk_retry_at: BTreeMap::new(),
            bulk_answered: false,
            next_bulk_id: first_bulk_id(session),
            serving: BTreeMap::new(),
            pending: Vec::new(),
            pending_pulls: Vec::new(),
            placed: Placement::new([me], config.copies),
            told_up: 0,
            pending_acks: Vec::new(),
            acks_owed: Vec::new(),
            outputs: VecDeque::new(),
            counters: ProtocolCounters::default(),
        };
        p.outputs.push_back(Output::Placement(p.placed.clone()));
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

    /// The placement over this node and the peers up.
    pub fn placement(&self) -> Placement {
        let up = self
            .peers
            .iter()
            .filter(|(_, p)| p.phase == PeerPhase::Up)
            .map(|(&id, _)| id);
        Placement::new(up.chain([self.me]), self.config.copies)
    }

    /// A peer's phase changed: tell the engine what it was not told yet of
    /// the peers up, their number and the placement over them, and have it
    /// re-replicate what moved. Called after every change of phase, so
    /// what the engine holds always matches the peers up here, whatever
    /// order connections come and go in (docs/sync.md §5, *Peers up and
    /// down*).
    fn peers_changed(&mut self) {
        let n = self.peers_up();
        if n != self.told_up {
            self.told_up = n;
            self.outputs.push_back(Output::PeersUp(n));
        }
        self.replace();
    }

    /// Tell the engine the placement over the peers up, if it changed, and
    /// have it re-replicate what moved.
    fn replace(&mut self) {
        let new = self.placement();
        if new == self.placed {
            return;
        }
        let old = std::mem::replace(&mut self.placed, new.clone());
        self.outputs.push_back(Output::Placement(new.clone()));
        add(&mut self.counters.rebalances, 1);
        self.outputs.push_back(Output::Rebalance { old, new });
    }

    /// Flow states a rebalance walk found that peers must now hold: sent
    /// as passive copies with their holders (peers not up are skipped:
    /// they get theirs when they come back).
    pub fn push_states(&mut self, items: Vec<(u16, FlowState, PeerSet)>) {
        let mut per_peer: BTreeMap<u16, Vec<(FlowState, PeerSet)>> = BTreeMap::new();
        for (peer, state, holders) in items {
            let mut holders = holders;
            holders.remove(peer);
            per_peer.entry(peer).or_default().push((state, holders));
        }
        for (peer, flows) in per_peer {
            if !self.is_up(peer) {
                continue;
            }
            for chunk in flows.chunks(MAX_EVENTS_PER_BATCH) {
                add(&mut self.counters.rebalance_flows_sent, chunk.len() as u64);
                self.send(
                    peer,
                    &Message::State {
                        copy: AnswerCopy::Passive,
                        flows: chunk.to_vec(),
                    },
                );
            }
        }
    }

    /// The ids of the peers up.
    fn up_peer_ids(&self) -> Vec<u16> {
        self.peers
            .iter()
            .filter(|(_, p)| p.phase == PeerPhase::Up)
            .map(|(&id, _)| id)
            .collect()
    }

    fn is_up(&self, peer: u16) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|p| p.phase == PeerPhase::Up)
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
        if !self.acks_owed.is_empty() {
            for (peer, seq) in std::mem::take(&mut self.acks_owed) {
                self.send(peer, &Message::Ack { seq });
            }
        }
        self.outputs.pop_front()
    }

    /// Owe `peer` an ack of batches up to `seq`.
    fn owe_ack(&mut self, peer: u16, seq: u64) {
        match self.acks_owed.iter_mut().find(|(p, _)| *p == peer) {
            Some((_, s)) => *s = (*s).max(seq),
            None => self.acks_owed.push((peer, seq)),
        }
    }

    /// Send `msg` to `peer` on its current connection, tagged with it.
    fn send(&mut self, peer: u16, msg: &Message) {
        // Every caller sends to a peer with a connection: its Hello on a
        // new one, an ack of a frame that came on it, or anything to a peer
        // up. A frame for no connection would be refused by the transport.
        let Some((p, conn)) = self
            .peers
            .get_mut(&peer)
            .and_then(|p| p.conn.map(|c| (p, c)))
        else {
            debug_assert!(false, "a frame for peer {peer}, which has no connection");
            return;
        };
        let frame = bytes::Bytes::from(wire::encode(msg));
        add(&mut self.counters.bytes_out, frame.len() as u64);
        add(&mut p.stats.bytes_out, frame.len() as u64);
        self.outputs.push_back(Output::Send { peer, conn, frame });
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
            self.first_up = None;
            self.bulk_tries = 0;
            self.bulk_failures.clear();
            self.bulk_retry_at.clear();
            self.bulk_answered = false;
            let up = self.up_peer_ids();
            self.wanted.extend(up);
            self.next_bulk(now);
        }
        self.last_seen_time = self.last_seen_time.max(now);
    }

    /// Let the protocol see the time without other input: a node that
    /// finds it was stopped turns not ready before its readiness is read
    /// again (the shell publishes readiness on a timer of its own, which
    /// may fire first when the process resumes).
    pub fn observe(&mut self, now: Instant) {
        self.tick(now);
    }

    fn become_ready(&mut self) {
        if !self.ready {
            self.ready = true;
            self.outputs.push_back(Output::Ready);
        }
    }

    /// A connection to `peer` came up (identity verified by the transport).
    /// A peer the configuration did not name is a member the transport
    /// admitted (one that joined through Raft): it becomes a sync peer too.
    pub fn on_peer_up(&mut self, peer: u16, conn: u64, now: Instant) {
        self.tick(now);
        if peer == self.me {
            return;
        }
        // A connection that replaces one not yet reported down: the peer
        // re-dialled before its old connection's idle timeout (it
        // restarted), and the transport reports the new connection up
        // before the old one down, whose Down is then ignored here. The old
        // connection is lost now: the peer is not up until its Hello on
        // this one, a bulk it was answering fails, and the engine is told.
        // Had the peer stayed up for the engine, and this connection died
        // before its Hello, nothing would ever have told the engine it left.
        // (Losing a connection also drops the acks owed on it and the dump
        // asked for on it: they mean nothing on this one.)
        if let Some(old) = self.peers.get(&peer).and_then(|p| p.conn) {
            self.lose_conn(peer, old, now);
        }
        let p = self.peers.entry(peer).or_insert_with(Peer::new);
        p.conn = Some(conn);
        p.phase = PeerPhase::Handshake;
        let hello = Message::Hello {
            node: self.me,
            session: self.session,
            resume: p.rx,
        };
        self.send(peer, &hello);
    }

    /// The connection `conn` to `peer` is gone. A connection already
    /// replaced by a newer one is ignored: it was lost when the newer one
    /// came up.
    pub fn on_peer_down(&mut self, peer: u16, conn: u64, now: Instant) {
        self.tick(now);
        self.lose_conn(peer, conn, now);
    }

    /// `peer`'s current connection `conn` is gone (a Down, or a newer
    /// connection that replaced it): the peer is down until its next
    /// connection's Hello.
    fn lose_conn(&mut self, peer: u16, conn: u64, now: Instant) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.conn != Some(conn) {
            return;
        }
        p.conn = None;
        p.phase = PeerPhase::Down;
        // A dump for it stops; the request it makes on its next
        // connection starts another.
        self.stop_serving(peer);
        // Acks owed on that connection mean nothing on the next one.
        self.acks_owed.retain(|(q, _)| *q != peer);
        self.peers_changed();
        if self.bulk.is_some_and(|b| b.peer == peer) {
            // Asked again once it is back: its new connection, which the
            // transport paces, is the wait (no backoff).
            self.fail_bulk(now, false);
        }
    }

    /// `peer` left the cluster (removed from the membership, not merely
    /// down): its record goes, with the events buffered for it, so it is
    /// neither shown as down nor counted among the members a flow may be
    /// placed on. A later `on_peer_up` takes it in again as any joiner.
    pub fn forget_peer(&mut self, peer: u16, now: Instant) {
        self.tick(now);
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        if p.conn.is_some() {
            // Its connection's Down comes first; a record with a
            // connection is a newer one of a peer added back.
            return;
        }
        self.peers.remove(&peer);
        add(&mut self.counters.peers_forgotten, 1);
        self.stop_serving(peer);
        self.bulk_failures.remove(&peer);
        self.bulk_retry_at.remove(&peer);
        if self.bulk.is_some_and(|b| b.peer == peer) {
            self.bulk = None;
            self.retry_bulk(now);
        }
    }

    /// Count a refused frame, by kind and by reason, and give back why.
    fn refuse(&mut self, e: impl Into<FrameError>) -> FrameError {
        let e = e.into();
        match e {
            FrameError::Wire(_) => add(&mut self.counters.malformed, 1),
            FrameError::Protocol(_) => add(&mut self.counters.protocol_errors, 1),
        }
        add(&mut self.counters.refused[e.reason()], 1);
        e
    }

    /// A frame from `peer` on connection `conn`. An error means the frame
    /// was refused whole (the peer's fault; counted by reason); the
    /// connection stays (docs/sync.md §5), and the shell may log it.
    pub fn on_frame(
        &mut self,
        peer: u16,
        conn: u64,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), FrameError> {
        self.tick(now);
        let Some(p) = self.peers.get_mut(&peer) else {
            return Err(self.refuse(Violation::UnknownPeer));
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
            Err(e) => return Err(self.refuse(e)),
        };
        match msg {
            Message::Hello {
                node,
                session,
                resume,
            } => {
                if node != peer {
                    return Err(self.refuse(Violation::HelloOtherNode));
                }
                // One per connection (the connection's first message).
                if phase == PeerPhase::Up {
                    return Err(self.refuse(Violation::HelloTwice));
                }
                self.on_hello(peer, conn, session, resume, now);
            }
            _ if phase != PeerPhase::Up => {
                return Err(self.refuse(Violation::BeforeHello));
            }
            Message::Events {
                seq,
                passive,
                events,
            } => self.on_events(peer, seq, passive, events, now)?,
            Message::Ack { seq } => self.on_ack(peer, seq, now)?,
            Message::BulkRequest { id, view, copies } => {
                self.on_bulk_request(peer, id, view, copies)?
            }
            Message::Pull {
                origin,
                keys,
                answered,
            } => {
                if origin != peer && !self.peers.contains_key(&origin) {
                    return Err(self.refuse(Violation::PullUnknownOrigin));
                }
                add(&mut self.counters.pulls_received, keys.len() as u64);
                // Only a pull passed on by another node carries what that
                // node answered with.
                let keys = if answered.is_empty() || origin == peer {
                    keys.into_iter().map(|k| (k, None)).collect()
                } else {
                    keys.into_iter()
                        .zip(answered.into_iter().map(Some))
                        .collect()
                };
                self.outputs.push_back(Output::Pull {
                    origin,
                    keys,
                    forwardable: origin == peer,
                });
            }
            Message::Confirm { flows } => {
                add(&mut self.counters.confirms_received, flows.len() as u64);
                self.outputs
                    .push_back(Output::Confirm { from: peer, flows });
            }
            Message::State { copy, flows } => {
                add(&mut self.counters.states_received, flows.len() as u64);
                self.outputs.push_back(Output::State {
                    from: peer,
                    copy,
                    flows,
                });
            }
            Message::BulkChunk { id, flows } => self.on_bulk_chunk(peer, id, flows),
            Message::BulkEnd { id, flows } => self.on_bulk_end(peer, id, flows, now),
        }
        Ok(())
    }

    /// A datagram from `peer`: a copy of an event batch that may arrive
    /// before, after or instead of its stream copy. Its events are
    /// applied at once; sequence numbers and acks stay the stream's
    /// business. An error means the datagram was refused (the peer's
    /// fault; counted by reason).
    pub fn on_datagram(
        &mut self,
        peer: u16,
        conn: u64,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), FrameError> {
        self.tick(now);
        let Some(p) = self.peers.get(&peer) else {
            return Err(self.refuse(Violation::UnknownPeer));
        };
        if p.conn != Some(conn) || p.phase != PeerPhase::Up {
            return Ok(());
        }
        match wire::decode(frame) {
            Ok(Message::Events {
                passive, events, ..
            }) => {
                add(&mut self.counters.datagrams_received, 1);
                add(&mut self.counters.bytes_in, frame.len() as u64);
                if let Some(p) = self.peers.get_mut(&peer) {
                    add(&mut p.stats.bytes_in, frame.len() as u64);
                }
                self.outputs.push_back(Output::Apply {
                    sender: peer,
                    from: Some(peer),
                    passive,
                    events,
                });
                Ok(())
            }
            Ok(_) => Err(self.refuse(Violation::DatagramNotEvents)),
            Err(e) => Err(self.refuse(e)),
        }
    }

    /// `peer`'s Hello on its current connection `conn`.
    fn on_hello(
        &mut self,
        peer: u16,
        conn: u64,
        session: u64,
        resume: Option<Resume>,
        now: Instant,
    ) {
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
            self.outputs.push_back(Output::Send { peer, conn, frame });
        }
        self.peers_changed();
        if !self.ready {
            self.wanted.insert(peer);
        }
        if self.bulk_tries == 0 {
            self.first_up.get_or_insert(now);
        }
        self.next_bulk(now);
    }

    fn on_events(
        &mut self,
        peer: u16,
        seq: u64,
        passive: bool,
        events: Vec<SyncEvent>,
        now: Instant,
    ) -> Result<(), FrameError> {
        let p = self.peers.get_mut(&peer).expect("checked by caller");
        let rx = p.rx.get_or_insert(Resume {
            session: 0,
            next: 1,
        });
        if seq < rx.next {
            let upto = rx.next.saturating_sub(1);
            add(&mut self.counters.duplicate_batches, 1);
            self.owe_ack(peer, upto);
            return Ok(());
        }
        // Batch numbers start at 1 and count up by one per batch (or per
        // declared loss): the last number of the range can never be
        // reached, and the one after it does not exist.
        let Some(next) = seq.checked_add(1) else {
            return Err(self.refuse(Violation::BatchNumberEnd));
        };
        let gap = seq > rx.next;
        rx.next = next;
        add(&mut self.counters.batches_received, 1);
        add(&mut self.counters.events_received, events.len() as u64);
        add(&mut p.stats.events_received, events.len() as u64);
        self.outputs.push_back(Output::Apply {
            sender: peer,
            from: Some(peer),
            passive,
            events,
        });
        self.send(peer, &Message::Ack { seq });
        if gap {
            // Batches were lost for good (the peer's buffer overflowed):
            // repair with its whole table.
            add(&mut self.counters.gaps, 1);
            self.wanted.insert(peer);
            self.next_bulk(now);
        }
        Ok(())
    }

    fn on_ack(&mut self, peer: u16, seq: u64, now: Instant) -> Result<(), FrameError> {
        let p = self.peers.get_mut(&peer).expect("checked by caller");
        if seq >= p.tx_next {
            return Err(self.refuse(Violation::AckNeverSent));
        }
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
        Ok(())
    }

    /// Events from the local engine, to be batched by the next [`flush`](Self::flush).
    pub fn push_events(&mut self, events: &[SyncOut]) {
        for o in events {
            if o.want_ack
                && let SyncEvent::Upsert(s) = &o.event
            {
                self.pending_acks.push((s.key, s.inc));
            }
            self.pending.push(*o);
        }
    }

    /// Pulls from the local engine (its wants, its answers to peers), sent
    /// by the next [`flush`](Self::flush).
    pub fn push_pulls(&mut self, pulls: &[PullOut]) {
        self.pending_pulls.extend_from_slice(pulls);
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

    /// Events and pulls waiting for the next flush.
    pub fn pending(&self) -> usize {
        self.pending.len() + self.pending_pulls.len()
    }

    /// Batch the pending events to the peers the engine named for each,
    /// whole and passive copies apart, and send the pending pulls and
    /// answers. A peer down that was up in this session gets its batches
    /// into its resend buffer, so a short outage is repaired by resend,
    /// not by a bulk.
    pub fn flush(&mut self, now: Instant) {
        self.tick(now);
        if !self.pending_pulls.is_empty() {
            self.flush_pulls();
        }
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let acks = std::mem::take(&mut self.pending_acks);
        // (peer, passive) → events.
        let mut per_peer: BTreeMap<(u16, bool), Vec<SyncEvent>> = BTreeMap::new();
        for o in &pending {
            let mut placed = false;
            for (&id, p) in &self.peers {
                let reachable = p.phase == PeerPhase::Up || p.rx.is_some();
                for (set, passive) in [(o.full, false), (o.passive, true)] {
                    if set.contains(id) && reachable {
                        per_peer.entry((id, passive)).or_default().push(o.event);
                        placed = true;
                    }
                }
            }
            if !placed {
                add(&mut self.counters.events_unplaced, 1);
            }
        }
        if per_peer.is_empty() && !acks.is_empty() {
            // No peer to wait for: the deferred packets leave now.
            self.outputs.push_back(Output::Acked(acks));
            return;
        }
        let size = self.config.batch_max_events.clamp(1, MAX_EVENTS_PER_BATCH);
        for ((peer, passive), events) in per_peer {
            let chunks: Vec<&[SyncEvent]> = events.chunks(size).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                // The acks ride with each peer's last batch of this flush:
                // the first peer to acknowledge releases the packets.
                let batch_acks = if i + 1 == chunks.len() && !passive {
                    acks.clone()
                } else {
                    Vec::new()
                };
                self.send_batch(peer, passive, chunk, batch_acks, now);
            }
        }
    }

    /// Number, buffer and send one batch of events to a peer (one that is
    /// down gets it at its next connection).
    fn send_batch(
        &mut self,
        peer: u16,
        passive: bool,
        chunk: &[SyncEvent],
        acks: Vec<(FlowKey, Incarnation)>,
        now: Instant,
    ) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let seq = p.tx_next;
        p.tx_next += 1;
        let frame = bytes::Bytes::from(wire::encode(&Message::Events {
            seq,
            passive,
            events: chunk.to_vec(),
        }));
        // A peer down (or waiting for its Hello) gets the batch on its next
        // connection, resent after the Hello.
        let conn = p.conn.filter(|_| p.phase == PeerPhase::Up);
        let up = conn.is_some();
        // Small batches get datagram copies: the first with the stream
        // copy while the link is lossy, else only if unacked in time.
        let copied = up && frame.len() <= self.config.datagram_max_bytes;
        let as_datagram = copied && p.lossy_until.is_some_and(|t| now < t);
        let copies = match (copied, as_datagram) {
            (false, _) => u8::MAX,
            (true, sent) => u8::from(sent),
        };
        p.unacked.push_back(Batch {
            seq,
            frame: frame.clone(),
            events: chunk.len(),
            acks,
            sent_at: now,
            copies,
            copy_at: now + self.config.datagram_resend,
        });
        p.dgram_live += usize::from(copies < self.config.datagram_copies);
        p.unacked_events += chunk.len();
        let mut overflow = 0;
        while p.unacked_events > self.config.resend_max_events && p.unacked.len() > 1 {
            let b = p.unacked.pop_front().expect("more than one");
            p.unacked_events -= b.events;
            p.dgram_live -= usize::from(b.copies < self.config.datagram_copies);
            overflow += 1;
        }
        add(&mut self.counters.resend_overflow, overflow);
        let Some(conn) = conn else {
            return;
        };
        if as_datagram {
            add(&mut self.counters.datagrams_sent, 1);
            add(&mut p.stats.bytes_out, frame.len() as u64);
            self.outputs.push_back(Output::Datagram {
                peer,
                conn,
                frame: frame.clone(),
            });
        }
        add(&mut self.counters.batches_sent, 1);
        add(&mut self.counters.events_sent, chunk.len() as u64);
        add(&mut self.counters.bytes_out, frame.len() as u64);
        add(&mut p.stats.events_sent, chunk.len() as u64);
        add(&mut p.stats.bytes_out, frame.len() as u64);
        self.outputs.push_back(Output::Send { peer, conn, frame });
    }

    /// Send the engine's pulls and answers: a want to the flow's director
    /// and known holders; an answer to the node that asked; a pull passed
    /// on when this node answered off the flow's path (to the holders) or
    /// lacked the flow as its director (to the next ranked nodes); an
    /// answer's pull passed on to the other holders the answering node
    /// knows of.
    fn flush_pulls(&mut self) {
        let placement = self.placement();
        // (target, origin, passed on by a node that answered) → keys, with
        // the digest of that answer; (target, copy) → states; target →
        // brief answers.
        let mut pulls: BTreeMap<(u16, u16, bool), Vec<(FlowKey, u64)>> = BTreeMap::new();
        let mut states: BTreeMap<(u16, AnswerCopy), Vec<(FlowState, PeerSet)>> = BTreeMap::new();
        let mut confirms: BTreeMap<u16, Vec<Confirm>> = BTreeMap::new();
        let me = self.me;
        for pull in std::mem::take(&mut self.pending_pulls) {
            match pull {
                PullOut::Want {
                    key,
                    ask,
                    director: with_director,
                } => {
                    let director = placement.director(&key).filter(|_| with_director);
                    for (&id, p) in &self.peers {
                        if p.phase == PeerPhase::Up && (ask.contains(id) || director == Some(id)) {
                            pulls.entry((id, me, false)).or_default().push((key, 0));
                        }
                    }
                }
                PullOut::Confirm { to, confirm } => {
                    confirms.entry(to).or_default().push(confirm);
                }
                PullOut::Answer {
                    to,
                    state,
                    copy,
                    holders,
                    forwardable,
                } => {
                    let mut others = holders;
                    others.remove(to);
                    others.remove(me);
                    states.entry((to, copy)).or_default().push((state, others));
                    // Passed on to the other holders this node knows of,
                    // so each answers with its own state and hears of the
                    // new node on the flow's path (it would otherwise not
                    // send that node its changes). This node answers too,
                    // even off the path: a holder it counts as up may have
                    // died without the link noticing yet (the idle
                    // timeout), and its copy is then the best there is.
                    // The pull passed on names the digest of this answer:
                    // a holder whose state is the same confirms it briefly
                    // instead of sending it again. A backup's answer is
                    // not passed on: the asker takes it whole, and the
                    // holders hear of the new node on the path from its
                    // first change (or, if it makes none, from its pull
                    // when its copy falls behind: docs/sync.md §13).
                    if forwardable && copy != AnswerCopy::Backup {
                        let digest = state.digest();
                        for (&id, p) in &self.peers {
                            if p.phase == PeerPhase::Up && id != to && holders.contains(id) {
                                add(&mut self.counters.pulls_forwarded, 1);
                                pulls
                                    .entry((id, to, true))
                                    .or_default()
                                    .push((state.key, digest));
                            }
                        }
                    }
                }
                PullOut::Miss {
                    to,
                    key,
                    forwardable,
                } => {
                    if !forwardable || placement.director(&key) != Some(me) {
                        continue;
                    }
                    let next = placement.first(&key, self.config.copies.max(1) + 1);
                    for id in next {
                        if id != me && id != to && self.is_up(id) {
                            add(&mut self.counters.pulls_forwarded, 1);
                            pulls.entry((id, to, false)).or_default().push((key, 0));
                        }
                    }
                }
            }
        }
        for ((peer, origin, answered), keys) in pulls {
            if !self.is_up(peer) {
                continue;
            }
            for chunk in keys.chunks(MAX_EVENTS_PER_BATCH) {
                add(&mut self.counters.pulls_sent, chunk.len() as u64);
                self.send(
                    peer,
                    &Message::Pull {
                        origin,
                        keys: chunk.iter().map(|&(k, _)| k).collect(),
                        answered: if answered {
                            chunk.iter().map(|&(_, d)| d).collect()
                        } else {
                            Vec::new()
                        },
                    },
                );
            }
        }
        for (peer, flows) in confirms {
            if !self.is_up(peer) {
                continue;
            }
            for chunk in flows.chunks(MAX_EVENTS_PER_BATCH) {
                add(&mut self.counters.confirms_sent, chunk.len() as u64);
                self.send(
                    peer,
                    &Message::Confirm {
                        flows: chunk.to_vec(),
                    },
                );
            }
        }
        for ((peer, copy), flows) in states {
            if !self.is_up(peer) {
                continue;
            }
            for chunk in flows.chunks(MAX_EVENTS_PER_BATCH) {
                add(&mut self.counters.states_sent, chunk.len() as u64);
                self.send(
                    peer,
                    &Message::State {
                        copy,
                        flows: chunk.to_vec(),
                    },
                );
            }
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
            // Settling: the first table is asked for when the settle ends.
            None if self.settle_pending() => Some(self.settle_end()),
            // A peer owed a table waits out its backoff.
            None if self.ready => self.bulk_retry_due(),
            None => {
                let join = self.started + self.config.join_timeout;
                match self.bulk_retry_due() {
                    // Past the join timeout with peers up, only the
                    // backoff's end can change anything: waking at the
                    // (past) join timeout would spin.
                    Some(r) if self.peers_up() > 0 && join <= self.last_seen_time => Some(r),
                    Some(r) => Some(r.min(join)),
                    None => Some(join),
                }
            }
        };
        [resend, beat, t].into_iter().flatten().min()
    }

    /// When an unacked batch's next datagram copy is due, if any.
    fn next_datagram_resend(&self) -> Option<Instant> {
        self.peers
            .values()
            .filter(|p| p.phase == PeerPhase::Up && p.dgram_live > 0)
            .filter_map(|p| {
                p.unacked
                    .iter()
                    .take(RESEND_SCAN)
                    .filter(|b| b.copies < self.config.datagram_copies)
                    .map(|b| b.copy_at)
                    .min()
            })
            .min()
    }

    /// Send datagram copies of batches unacked for too long again.
    fn resend_datagrams(&mut self, now: Instant) {
        let every = self.config.datagram_resend;
        let max = self.config.datagram_copies;
        let hold = self.config.datagram_lossy_hold;
        for (&peer, p) in &mut self.peers {
            let Some(conn) = p.conn.filter(|_| p.phase == PeerPhase::Up) else {
                continue;
            };
            if p.dgram_live == 0 {
                continue;
            }
            for b in p.unacked.iter_mut().take(RESEND_SCAN) {
                if b.copies < max && b.copy_at <= now {
                    // A batch unacked this long: the link loses or stalls.
                    p.lossy_until = Some(now + hold);
                    b.copies += 1;
                    b.copy_at = b.copy_at + every;
                    p.dgram_live -= usize::from(b.copies >= max);
                    self.counters.datagrams_resent =
                        self.counters.datagrams_resent.saturating_add(1);
                    self.outputs.push_back(Output::Datagram {
                        peer,
                        conn,
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
            Some(b) if now >= b.started + self.config.bulk_timeout => self.fail_bulk(now, true),
            Some(_) => {}
            // A node that went ready alone may have settled.
            None if self.ready => self.next_bulk(now),
            None if now >= self.started + self.config.join_timeout => {
                if self.peers_up() == 0 {
                    self.become_ready();
                } else {
                    self.retry_bulk(now);
                }
            }
            // The settle may have passed: ask the peers up now.
            None => self.next_bulk(now),
        }
    }
}

/// The first bulk request id of a process session. Ids count up from a
/// point drawn from the session (random per process start) rather than
/// from 1: a peer keeps dumping for a request of this node's previous
/// life for a while, and chunks of that dump that arrive after this life
/// asked with the same id were once counted into its answer, whose end
/// could then come early with a short table. Multiplying by an odd
/// constant maps distinct sessions to distinct starts, and neighbouring
/// ones (tests number sessions 1, 2, ...) to far-apart ones.
fn first_bulk_id(session: u64) -> u64 {
    session.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

mod bulk;
mod counters;
mod refusal;
#[cfg(test)]
mod tests;
