//! The engine's side of state sync: which changes peers must learn, state
//! learned from peers merged into the table, and the two mechanisms that
//! close the race of an asymmetric path (docs/sync.md §4):
//!
//! - **hold**: a packet that needs state this node has not yet learned (a
//!   SYN-ACK whose SYN crossed a peer, an ACK for data a peer forwarded) is
//!   kept, up to a deadline, and run through the engine again as soon as a
//!   peer's event for its flow arrives. Strictness is unchanged: a held
//!   packet passes only if it passes the checks against the merged state;
//!   at the deadline it is judged once more, as a standalone engine would
//!   judge it on the state then held, and dropped if it still fails.
//! - **pull**: when a packet is held, the engine asks for its flow's state
//!   ([`PullOut::Want`]): the shell sends the request to the flow's director
//!   and to the peers known to hold it, and their answers arrive as
//!   ordinary state. A peer's request is answered from the table
//!   ([`Engine::serve_pull`]), or waits here until the state arrives.
//! - **defer** (pfsync's `defer`): the packet that creates a flow is kept
//!   until a peer acknowledges the insert, up to a deadline, so the reply
//!   usually finds the state already there.
//!
//! All apply only while at least one peer is up; a node alone behaves
//! exactly as a standalone firewall. Bypass flows never produce an event.
//!
//! Each entry remembers which peers hold its flow actively ([`PeerSet`]):
//! the owner and every peer that sent changes made by its own packets, or
//! pulled the state because its packets needed it. A change goes to them
//! (the shell adds the director and backups while fewer than `copies`
//! nodes hold the flow), never to every node of the cluster.

mod absorb;
mod bulk;
mod collect;
mod placed;
mod pulls;
mod release;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::classes::ClassTable;
use super::fragment::Pieces;
use super::hold::{DeferQueue, Deferred, Held, HoldLimits, HoldQueue, Refused, holdable};
use super::{Effect, Engine, Judgement, MAX_PENDING_EFFECTS};
use crate::conntrack::entry::conn_flags;
use crate::conntrack::{ConnTable, Count48, Entry, FlowId, MacRef, NodeId, ProtoState, TcpState};
use crate::counters::{RemoveReason, bump};
use crate::flow::FlowKey;
use crate::packet::{Offload, PacketMeta};
use crate::placement::{Placement, Share};
use crate::sync::{
    AnswerCopy, Confirm, FlowState, Incarnation, PeerSet, SyncEvent, SyncProto, SyncReject,
    Tombstones,
};
use crate::time::Instant;
use crate::verdict::{DropReason, IfaceId, Verdict};

/// How far past this node's clock a peer's creation and last-seen times
/// are believed (nodes of a cluster keep their clocks within milliseconds
/// of each other by NTP; this is slack, not a tolerance to rely on).
pub const MAX_PEER_CLOCK_AHEAD: Duration = Duration::from_secs(5);

/// Sync settings of an engine that is part of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// Longest a packet waits for a peer's state before it is dropped.
    pub hold_deadline: Duration,
    /// Most packets held at once (beyond: dropped at once, counted).
    pub hold_max_packets: usize,
    /// Most packets held for one flow.
    pub hold_max_per_flow: usize,
    /// Most bytes of frames held at once: GSO frames run to 64 KiB, so a
    /// packet count alone does not bound the memory.
    pub hold_max_bytes: usize,
    /// Most packets held from one source address, so that one sender (a
    /// flood of stray ACKs) cannot fill the buffer that genuine
    /// asymmetric replies need.
    pub hold_max_per_source: usize,
    /// Longest a flow-opening packet waits for a peer to acknowledge its
    /// insert; zero turns defer off. At the deadline it is sent anyway and
    /// the peer's hold (and pull) covers the race. While a sync hop costs
    /// more than the hosts' round trip, defer keeps asymmetric connects
    /// as fast as symmetric ones (docs/sync.md §4).
    pub defer_deadline: Duration,
    /// Most packets deferred at once (beyond: sent at once, counted).
    pub defer_max_packets: usize,
    /// Shortest interval between two refreshes of one flow's last-seen.
    pub refresh_min: Duration,
    /// Longest interval: a busy flow refreshes its peers at least this often
    /// (and at least four times per timeout, so no peer expires it).
    pub refresh_max: Duration,
    /// A flow whose packets still wait this long after its last pull is
    /// pulled again (an answer may have been lost with its peer, or brought
    /// state older than the packet needs).
    pub pull_retry: Duration,
    /// How long a packet held on a flow this node holds in full waits for
    /// the pushed change before it pulls: every node that changes the flow
    /// pushes to its holders, so a pull then is only the repair of a lost
    /// event (or of a holder the sender did not know of). A flow this node
    /// lacks, or holds only as a passive copy, is pulled at once.
    pub pull_after: Duration,
    /// Most peers' pulls waiting here for a state this node lacks (beyond,
    /// a pull is answered by nobody and its packet waits out its deadline
    /// at the asking node; counted).
    pub pull_park_max: usize,
    /// How long the changes of a flow whose only other copies are backups
    /// (no peer on its path) wait, merged, before they go: a backup judges
    /// no packet of the flow until a failure, so it needs the flow's state
    /// a moment late rather than every change at once. A short connection
    /// then costs its insert and one update; a failure loses at most this
    /// long of window movement, which the hosts' retransmissions repair.
    /// A flow that gains a peer on its path sends at once. Zero sends
    /// every change at once (docs/sync.md §13).
    pub backup_delay: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            hold_deadline: Duration::from_millis(200),
            hold_max_packets: 8192,
            hold_max_per_flow: 64,
            hold_max_bytes: 16 << 20,
            hold_max_per_source: 1024,
            defer_deadline: Duration::from_millis(10),
            defer_max_packets: 4096,
            refresh_min: Duration::from_millis(100),
            refresh_max: Duration::from_secs(30),
            pull_retry: Duration::from_millis(20),
            pull_after: Duration::from_millis(5),
            pull_park_max: 16_384,
            backup_delay: Duration::ZERO,
        }
    }
}

/// What kind of change an event carries (for counters and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// First event of a flow.
    Insert = 0,
    /// The flow's tracked state changed.
    Update = 1,
    /// Only last-seen moved (rate-limited).
    Refresh = 2,
    /// The flow ended.
    Delete = 3,
}

impl EventKind {
    /// All, in counter order.
    pub const ALL: [EventKind; 4] = [
        EventKind::Insert,
        EventKind::Update,
        EventKind::Refresh,
        EventKind::Delete,
    ];
    /// Label.
    pub const fn label(self) -> &'static str {
        match self {
            EventKind::Insert => "insert",
            EventKind::Update => "update",
            EventKind::Refresh => "refresh",
            EventKind::Delete => "delete",
        }
    }
}

/// One event for the peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOut {
    /// The event.
    pub event: SyncEvent,
    /// Its kind.
    pub kind: EventKind,
    /// A packet is deferred until a peer acknowledges this event: report the
    /// acknowledgement with [`Engine::sync_acked`].
    pub want_ack: bool,
    /// The peers that keep a whole copy of the flow and get every change
    /// of it: its owner, the peers on its path (that sent changes made by
    /// their own packets, or pulled it because their packets needed it),
    /// and backups while fewer than `copies` nodes hold it (docs/sync.md
    /// §13). The shell sends to those up, and buffers for those down.
    pub full: PeerSet,
    /// The peers that get this event as a passive copy, whose later
    /// changes they will not hear of: the flow's director for an insert,
    /// a refresh, a delete or the change that ended a TCP connection (so
    /// it can answer pulls and its copy neither expires early nor outlives
    /// the flow), and a backup no longer needed. A passive copy never
    /// judges a packet before it is refreshed by a pull.
    pub passive: PeerSet,
}

/// A pull, one way or the other (docs/sync.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullOut {
    /// Packets of this flow wait here for state this node lacks or lags
    /// on: ask `ask` (the peers known to hold it) and, with `director`,
    /// the flow's director.
    Want {
        /// The flow.
        key: FlowKey,
        /// Peers known to hold it (empty when this node has no entry).
        ask: PeerSet,
        /// Ask the director too (all but the pull that follows a brief
        /// answer this node could not use, which asks its sender alone).
        director: bool,
    },
    /// The state a peer pulled.
    Answer {
        /// The peer that asked.
        to: u16,
        /// The state here.
        state: FlowState,
        /// The kind of copy answered with: on the flow's path (the asking
        /// peer should send its changes here), a backup, or passive.
        copy: AnswerCopy,
        /// The peers known to hold the flow actively, its owner included:
        /// when this node is off the flow's path, its state may lag
        /// behind theirs, and the shell may pass the pull on to them.
        holders: PeerSet,
        /// The pull came from the peer whose packets wait (not passed on
        /// by another node): it may be passed on.
        forwardable: bool,
    },
    /// A peer's pull passed on by a node that answered it from a copy
    /// whose digest is this node's state's, this node being on the flow's
    /// path: the asker hears so briefly, not the same state again.
    Confirm {
        /// The peer that asked.
        to: u16,
        /// The brief answer.
        confirm: Confirm,
    },
    /// A peer pulled a flow this node does not hold. The pull waits here
    /// (answered if the state arrives before its deadline); the shell may
    /// pass it on to nodes more likely to hold it.
    Miss {
        /// The peer that asked.
        to: u16,
        /// The flow.
        key: FlowKey,
        /// The pull may be passed on (as in [`PullOut::Answer`]).
        forwardable: bool,
    },
}

/// Where a peer's event comes from, for [`Engine::apply_peer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Source {
    /// The peer, when the event came from its own packets (a change, or
    /// its answer to a pull as a node on the flow's path): this node sends
    /// the flow's changes there from now on.
    pub from: Option<u16>,
    /// A copy the sender will not keep up to date (a bulk, a copy for a
    /// new director or backup, a pull answer from off the flow's path):
    /// an entry it creates here is passive. A whole one (a change from a
    /// holder, the answer of a node on the flow's path) makes this node's
    /// copy whole.
    pub passive: bool,
    /// The sender will no longer keep this node's copy up to date (a
    /// backup no longer needed, the director): the copy becomes passive
    /// even if it was whole.
    pub demote: bool,
    /// Further peers on the flow's path, named by a pull's answer: this
    /// node sends them its changes too.
    pub holders: PeerSet,
    /// A backup's answer to this node's pull: the flow's holders do not
    /// know this node holds it now, so its next event goes to them even if
    /// its packets change nothing (they would otherwise never send it the
    /// flow's changes, nor its end).
    pub join: bool,
    /// The peer that answered this node's pull from a passive copy: it
    /// hears of the flow's end from here, as a passive copy this node
    /// gave would (the node that gave it that copy may be gone, and its
    /// copy would otherwise outlive the connection).
    pub passive_at: Option<u16>,
}

impl Source {
    /// The source of a batch of a peer's events: `from` the peer when it
    /// sent them from its own packets (`None` for a bulk); a passive batch
    /// from a peer demotes this node's copies, a bulk only makes new ones
    /// passive.
    pub const fn batch(from: Option<u16>, passive: bool) -> Source {
        Source {
            from,
            passive,
            demote: passive && from.is_some(),
            holders: PeerSet::EMPTY,
            join: false,
            passive_at: None,
        }
    }

    /// The source of `peer`'s answer to a pull, from a `copy` of that
    /// kind: whole from a node on the flow's path (which sends this node
    /// the flow's changes from now on) or from a backup, passive
    /// otherwise; `holders` are the other nodes on the path it knows of.
    pub const fn answer(peer: u16, copy: AnswerCopy, holders: PeerSet) -> Source {
        Source {
            from: match copy {
                AnswerCopy::Path => Some(peer),
                AnswerCopy::Passive | AnswerCopy::Backup => None,
            },
            passive: matches!(copy, AnswerCopy::Passive),
            demote: false,
            holders,
            join: matches!(copy, AnswerCopy::Backup),
            passive_at: match copy {
                AnswerCopy::Passive => Some(peer),
                AnswerCopy::Path | AnswerCopy::Backup => None,
            },
        }
    }
}

/// What happened to a peer's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A flow this node did not have was created.
    Created,
    /// Joined into the same incarnation here.
    Joined,
    /// Replaced an older incarnation here.
    Superseded,
    /// The event was older than what this node has (or was deleted): no change.
    Stale,
    /// A delete removed the flow here.
    Deleted,
    /// A delete for a flow this node does not have: remembered as tombstone.
    Tombstoned,
    /// A demote: this node's copy of the incarnation is passive now.
    Demoted,
    /// Not applied: the key is a bypass flow here, the table is full, or
    /// the state has already expired. Counted.
    Ignored,
}

/// [`SyncCounters::roles`]: entries this node owns (it saw the flow's
/// first packet).
pub const ROLE_OWNER: usize = 0;
/// [`SyncCounters::roles`]: entries of flows this node directs (and does
/// not own).
pub const ROLE_DIRECTOR: usize = 1;
/// [`SyncCounters::roles`]: the other entries, copies of other nodes'
/// flows.
pub const ROLE_COPY: usize = 2;

/// Upper bounds (µs) of the buckets of [`SyncCounters::held_wait`].
pub const HELD_WAIT_BOUNDS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

/// Sync counters (all saturating).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncCounters {
    /// Events produced, by [`EventKind`].
    pub events_out: [u64; 4],
    /// Events applied, by [`EventKind`] of the incoming event (an upsert
    /// that created a flow counts as insert, others as update).
    pub events_in: [u64; 4],
    /// Peer events that joined into an existing entry.
    pub joined: u64,
    /// Peers' changes to an older incarnation of an echo flow, joined into
    /// the newer one held here (the same ping opened on two nodes).
    pub echo_absorbed: u64,
    /// Peer events that replaced an older incarnation.
    pub superseded: u64,
    /// Peer events older than the local state (or buried by a delete).
    pub stale: u64,
    /// Peer states refused by validation (the peer's fault).
    pub rejected: u64,
    /// Peer states for a key that is a bypass flow here (ignored).
    pub bypass_conflicts: u64,
    /// Peer states whose class digest matches no class here: they keep the
    /// peer's digest in a slot with default options until a policy with that
    /// class is installed here (beyond 256 such classes, the default class).
    pub unknown_class: u64,
    /// Peer states not applied because the table is full.
    pub table_full: u64,
    /// Peer states already expired on arrival.
    pub expired_on_arrival: u64,
    /// Peer events whose creation or last-seen time lay more than
    /// [`MAX_PEER_CLOCK_AHEAD`] past this node's clock, pulled back to it.
    pub clock_clamped: u64,
    /// Peer TCP states with a window beyond what its side's scale lets it
    /// advertise, pulled back to that bound (docs/sync.md §3).
    pub window_clamped: u64,
    /// Packets held for a peer's state.
    pub held: u64,
    /// Held packets that passed once the state arrived.
    pub held_released: u64,
    /// Held packets dropped: the state arrived and the packet still failed,
    /// or at the deadline the flow's state refuses it for good (a reset
    /// behind the acknowledged edge, a second echo reply), or it would
    /// have left while the node was not ready or by an interface shut
    /// while it waited (docs/sync.md §4).
    pub held_refused: u64,
    /// Held packets dropped at their deadline, the state they needed never
    /// seen.
    pub held_expired: u64,
    /// Packets not held because the hold buffer was full (dropped at once):
    /// its packets, its bytes, the flow's share or the source's share.
    pub hold_overflow: u64,
    /// Of those, refused because their source address had its share
    /// ([`SyncConfig::hold_max_per_source`]) held already (an IPv6 source
    /// counted by its /64).
    pub hold_source_capped: u64,
    /// Of those, refused because their flow has no entry here and such
    /// packets filled their half of the buffer.
    pub hold_strangers_capped: u64,
    /// Flow-opening packets deferred.
    pub deferred: u64,
    /// Deferred packets whose wait a peer's acknowledgement ended: sent,
    /// or dropped if the node stopped being ready or an interface they
    /// cross was shut meanwhile (docs/sync.md §4).
    pub deferred_acked: u64,
    /// Deferred packets whose deadline passed without an acknowledgement:
    /// sent, or dropped as those above.
    pub deferred_timed_out: u64,
    /// Packets not deferred because the defer buffer was full (sent at once).
    pub defer_overflow: u64,
    /// Tombstones forgotten early because too many were held.
    pub tombstones_evicted: u64,
    /// Deletes of a connection reopened on its tuple not sent: every peer
    /// that held it gets the new connection's insert, which supersedes it.
    pub deletes_superseded: u64,
    /// Flow states handed out for bulk syncs.
    pub bulk_flows_out: u64,
    /// Pulls sent: packets waited for a flow's state.
    pub pulls_sent: u64,
    /// Of those, pulls repeated for packets still waiting a retry
    /// interval after the last.
    pub pulls_repeated: u64,
    /// Peers' pulls answered from the table.
    pub pulls_answered: u64,
    /// Peers' pulls for a flow this node lacked (kept until the state
    /// arrives, or their deadline).
    pub pulls_missed: u64,
    /// Of those, answered once the state arrived.
    pub pulls_answered_late: u64,
    /// Peers' pulls dropped: too many waited here already.
    pub pulls_park_overflow: u64,
    /// Of the pulls answered, those answered briefly ([`PullOut::Confirm`]):
    /// passed on by a node that answered with this node's state.
    pub pulls_confirmed: u64,
    /// Brief answers received that this node's copy did not match (the
    /// copy not there yet, or another): the state is pulled from the
    /// sender.
    pub confirms_missed: u64,
    /// Entries in the table now by this node's role for them (a gauge,
    /// kept as entries come and go and recounted when the live members
    /// change): [`ROLE_OWNER`], [`ROLE_DIRECTOR`], [`ROLE_COPY`].
    pub roles: [u64; 3],
    /// How long held packets that passed had waited for their flow's
    /// state (pushed or pulled), by bucket of [`HELD_WAIT_BOUNDS_US`]; the
    /// last bucket counts the longer waits.
    pub held_wait: [u64; HELD_WAIT_BOUNDS_US.len() + 1],
    /// The sum of those waits, in nanoseconds.
    pub held_wait_sum_ns: u64,
}

/// What this node has told its peers about one entry: sync bookkeeping,
/// kept beside the table (by [`FlowId`]) rather than in the entry, which
/// holds only the connection's own facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SyncMark {
    /// When peers were last told about the entry (`ZERO`: never, so the
    /// next event is its insert).
    synced_at: Instant,
    /// The entry waits in the list of changes for peers.
    pending: bool,
    /// Its tracked state changed since the last event (an update, not a
    /// refresh).
    changed: bool,
    /// Peers on the flow's path, or its owner (see [`SyncOut::full`]).
    peers: PeerSet,
    /// Backups this node chose for the flow (kept while needed, so a
    /// backup is told when it is no longer needed).
    backups: PeerSet,
    /// Peers this node gave a passive copy: they hear of the flow's
    /// refreshes and its end, so their copies neither expire early nor
    /// outlive it.
    passive_peers: PeerSet,
    /// When the passive peers last heard of the flow.
    passive_at: Instant,
    /// This node's copy may miss changes (it was made passive, or came in
    /// bulk): a packet on it waits for a pull first.
    passive: bool,
    /// Its pending change waits in `later` (`backup_delay`).
    delayed: bool,
    /// A refresh waits in `trailing` for the end of the refresh interval.
    trailing: bool,
    /// A peer sends this node the flow's changes (this node is on its
    /// list: a backup, or on the path): a whole copy that is also pushed
    /// answers pulls as a backup when its packets never crossed here.
    pushed: bool,
}

impl SyncMark {
    /// The kind of copy this node answers a pull with (docs/sync.md §13):
    /// on the path when the flow's packets crossed here (`forwarded`) and
    /// the copy is whole; a backup when it is whole and a holder pushes it
    /// every change; passive otherwise (a whole copy nobody pushes may
    /// lag: this node pulled it and its packets never came).
    fn answer_copy(&self, forwarded: bool) -> AnswerCopy {
        if self.passive {
            AnswerCopy::Passive
        } else if forwarded {
            AnswerCopy::Path
        } else if self.pushed {
            AnswerCopy::Backup
        } else {
            AnswerCopy::Passive
        }
    }
}

/// The peers known to hold a flow that left the table.
#[derive(Debug, Clone, Copy)]
struct Known {
    /// Its owner and the peers on its path.
    holders: PeerSet,
    /// Backups this node chose.
    backups: PeerSet,
    /// Peers this node gave a passive copy.
    passive_peers: PeerSet,
}

/// The engine's sync state.
#[derive(Debug)]
pub(super) struct SyncState {
    pub(super) config: SyncConfig,
    pub(super) peers_up: usize,
    pub(super) ready: bool,
    /// The live members and the copies kept (this node alone until the
    /// shell says otherwise).
    placement: Option<Placement>,
    pub(super) counters: SyncCounters,
    /// Sync bookkeeping per table slot, indexed by `FlowId`.
    marks: Vec<SyncMark>,
    /// Entries with a change not yet handed to the shell.
    dirty: Vec<FlowId>,
    /// Entries whose change waits `backup_delay` (only backups hold the
    /// flow besides this node), with when it goes; in that order.
    later: VecDeque<(Instant, FlowId)>,
    /// Refreshes due when their flow's refresh interval ends: a packet
    /// that moved only last-seen within it (docs/sync.md §2).
    trailing: collect::Trailing,
    /// Delete events not yet handed to the shell, with the peers that
    /// held the flow.
    deletes: Vec<(FlowKey, Incarnation, Known, bool)>,
    /// Changes made into effects, waiting for the shell. Not bounded by
    /// [`MAX_PENDING_EFFECTS`]: a sync event is never dropped here (at most
    /// one per live entry plus the deletes since the last drain).
    out: VecDeque<Effect>,
    tombstones: Tombstones,
    /// The latest time the shell handed the sync layer (a drain of
    /// effects, a peer's event, a timer): the age of a tombstone for a
    /// removal given no time of its own, such as `clear conn`.
    clock: Instant,
    hold: HoldQueue,
    defer: DeferQueue,
    /// For each flow with held packets: when it is (next) pulled, how
    /// many pulls it has had, and how many of the last ones were made
    /// while this node had no entry for it.
    pulled: pulls::Pulls,
    /// Peers' pulls waiting for a state this node lacks: the peer and the
    /// pull's deadline.
    parked: HashMap<FlowKey, Vec<(u16, Instant)>, ahash::RandomState>,
    /// Pulls in `parked`.
    parked_count: usize,
}

impl SyncState {
    /// `hashers` key the tombstones, the hold queue, the defer queue, the
    /// pull times and the parked pulls.
    pub(super) fn new(config: SyncConfig, hashers: [ahash::RandomState; 5]) -> Self {
        let [
            tomb_hasher,
            hold_hasher,
            defer_hasher,
            pull_hasher,
            park_hasher,
        ] = hashers;
        SyncState {
            config,
            peers_up: 0,
            placement: None,
            // A node in a cluster starts not ready: its shell declares it
            // ready after the first bulk sync, or when it finds itself alone.
            ready: false,
            counters: SyncCounters::default(),
            marks: Vec::new(),
            dirty: Vec::new(),
            later: VecDeque::new(),
            trailing: collect::Trailing::default(),
            deletes: Vec::new(),
            out: VecDeque::new(),
            tombstones: Tombstones::new(tomb_hasher),
            clock: Instant::ZERO,
            hold: HoldQueue::new(
                HoldLimits {
                    packets: config.hold_max_packets,
                    per_flow: config.hold_max_per_flow,
                    bytes: config.hold_max_bytes,
                    per_source: config.hold_max_per_source,
                },
                hold_hasher,
            ),
            defer: DeferQueue::new(config.defer_max_packets, defer_hasher),
            pulled: pulls::Pulls::new(pull_hasher),
            parked: HashMap::with_hasher(park_hasher),
            parked_count: 0,
        }
    }

    pub(super) fn active(&self) -> bool {
        self.peers_up > 0
    }

    fn mark(&mut self, id: FlowId) -> &mut SyncMark {
        let i = id.0 as usize;
        if i >= self.marks.len() {
            self.marks.resize(i + 1, SyncMark::default());
        }
        &mut self.marks[i]
    }

    /// A new entry took slot `id`: start its bookkeeping afresh.
    /// `synced_at` is `ZERO` for an entry peers have not heard of (its
    /// insert tells every peer), otherwise when a peer's state made it
    /// (that peer told the passive copies then).
    pub(super) fn reset_mark(&mut self, id: FlowId, synced_at: Instant) {
        *self.mark(id) = SyncMark {
            synced_at,
            passive_at: synced_at,
            ..SyncMark::default()
        };
    }
}

/// The state of an entry as peers receive it (`None` for bypass flows).
fn flow_state_of(entry: &Entry, table: &ConnTable, classes: &ClassTable) -> Option<FlowState> {
    let proto = match entry.proto {
        ProtoState::Tcp(t) => SyncProto::Tcp(t),
        ProtoState::TcpBypass => return None,
        ProtoState::Udp => SyncProto::Udp,
        ProtoState::IcmpEcho(seqs) => SyncProto::IcmpEcho(seqs),
        ProtoState::Other => SyncProto::Other,
    };
    Some(FlowState {
        key: entry.key,
        inc: entry.incarnation(),
        orig_is_lo: entry.orig_is_lo(),
        flags: entry.flags & conn_flags::SHARED,
        ingress: [entry.ingress[0].0, entry.ingress[1].0],
        class: classes.get(entry.class).digest,
        seq_offset: entry.seq_offset,
        min_ttl: entry.min_ttl,
        macs: table.macs_of(entry),
        proto,
        last_seen_ns: entry.last_seen.as_nanos(),
    })
}

/// A TCP connection that is over (its entry lingers only for stragglers).
fn ended(s: TcpState) -> bool {
    matches!(s, TcpState::TimeWait | TcpState::Close)
}

impl Entry {
    /// Which incarnation this entry is.
    pub fn incarnation(&self) -> Incarnation {
        Incarnation {
            created_ns: self.created.as_nanos(),
            owner: self.owner.0,
            id: self.id,
        }
    }
}

impl Engine {
    /// Whether this engine syncs state (it was built with a [`SyncConfig`]).
    pub fn syncs(&self) -> bool {
        self.sync.is_some()
    }

    /// Sync counters, if this engine syncs.
    pub fn sync_counters(&self) -> Option<&SyncCounters> {
        self.sync.as_ref().map(|s| &s.counters)
    }

    /// Tell the engine how many peers are up: hold and defer apply only
    /// while at least one is.
    pub fn set_peers_up(&mut self, peers: usize) {
        if let Some(s) = &mut self.sync {
            s.peers_up = peers;
        }
    }

    /// Tell the engine the live members (itself included) and the copies
    /// kept per flow: the peers its events go to follow from them
    /// (docs/sync.md §13).
    pub fn set_placement(&mut self, placement: Placement) {
        if let Some(s) = &mut self.sync {
            s.placement = Some(placement);
        }
        // Directors moved: count the roles again (once per change of
        // the live members, not per packet).
        let mut roles = [0u64; 3];
        for (_, entry) in self.table.iter() {
            roles[self.role_of(entry)] += 1;
        }
        if let Some(s) = &mut self.sync {
            s.counters.roles = roles;
        }
    }

    /// This node's role for an entry: index into [`SyncCounters::roles`].
    fn role_of(&self, entry: &Entry) -> usize {
        let me = self.config.node.0;
        if entry.owner.0 == me {
            return ROLE_OWNER;
        }
        let director = self
            .sync
            .as_ref()
            .and_then(|s| s.placement.as_ref())
            .and_then(|p| p.director(&entry.key));
        if director == Some(me) {
            ROLE_DIRECTOR
        } else {
            ROLE_COPY
        }
    }

    /// An entry came into the table (`add`) or left it: count its role.
    pub(super) fn count_role(&mut self, entry: &Entry, add: bool) {
        if self.sync.is_none() {
            return;
        }
        let role = self.role_of(entry);
        if let Some(s) = &mut self.sync {
            let n = &mut s.counters.roles[role];
            *n = if add {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            };
        }
    }

    /// Whether this node's copy of an entry may miss changes: a packet on
    /// it then waits for a pull, in a cluster with a peer up, until the
    /// hold deadline (`lenient_passes`).
    pub(super) fn passive_copy(&self, id: FlowId) -> bool {
        match &self.sync {
            Some(s) if s.active() && !self.lenient_passes => {
                s.marks.get(id.0 as usize).is_some_and(|m| m.passive)
                    // No peer sends a bypass entry's state.
                    && self.table.get(id).proto != ProtoState::TcpBypass
            }
            _ => false,
        }
    }

    /// Whether a peer could hold newer state of flow `key` than this
    /// node: it has no entry for it, its copy is passive or a peer's, or
    /// a peer has been on the flow's path. A flow this node opened that
    /// no peer has touched changes only here.
    pub(super) fn peer_may_be_ahead(&self, key: &FlowKey) -> bool {
        let Some(sync) = &self.sync else {
            return false;
        };
        let Some(id) = self.table.find(self.table.hash(key), key) else {
            return true;
        };
        let me = self.config.node.0;
        let mut others = sync.marks.get(id.0 as usize).map_or(PeerSet::ALL, |m| {
            if m.passive { PeerSet::ALL } else { m.peers }
        });
        others.insert(self.table.get(id).owner.0);
        others.remove(me);
        !others.is_empty()
    }

    /// Whether this node's copy of `key` is passive (it may miss changes,
    /// and a packet on it waits for a pull first); `None` without one.
    pub fn is_passive_copy(&self, key: &FlowKey) -> Option<bool> {
        let sync = self.sync.as_ref()?;
        let id = self.table.find(self.table.hash(key), key)?;
        Some(sync.marks.get(id.0 as usize).is_some_and(|m| m.passive))
    }

    /// Declare the node ready to forward (first bulk sync done, or alone).
    /// Until then a syncing engine drops every frame (`cluster-not-ready`).
    pub fn set_ready(&mut self, ready: bool) {
        if let Some(s) = &mut self.sync {
            s.ready = ready;
        }
    }

    /// Whether the engine forwards: always for a standalone engine.
    pub fn is_ready(&self) -> bool {
        self.sync.as_ref().is_none_or(|s| s.ready)
    }

    /// Packets held and deferred right now.
    pub fn sync_backlog(&self) -> (usize, usize) {
        self.sync
            .as_ref()
            .map_or((0, 0), |s| (s.hold.len(), s.defer.len()))
    }

    /// Tombstones held.
    pub fn tombstones(&self) -> usize {
        self.sync.as_ref().map_or(0, |s| s.tombstones.len())
    }

    /// The state of an entry as peers receive it (`None` for bypass flows).
    pub fn flow_state(&self, entry: &Entry) -> Option<FlowState> {
        flow_state_of(entry, &self.table, &self.classes)
    }

    /// The next sync effect, making the pending changes into effects when
    /// none waits.
    pub(super) fn poll_sync_effect(&mut self, now: Instant) -> Option<Effect> {
        let sync = self.sync.as_mut()?;
        sync.clock = sync.clock.max(now);
        if sync.out.is_empty() {
            self.collect_sync_effects(now);
        }
        self.sync.as_mut()?.out.pop_front()
    }

    /// Merge one event learned from a peer, then run again any packet held
    /// for its flow. The sender is not remembered as a holder: see
    /// [`apply_peer`](Self::apply_peer).
    pub fn apply_sync(&mut self, event: &SyncEvent, now: Instant) -> Result<Applied, SyncReject> {
        self.apply_peer(event, Source::default(), now)
    }

    /// Merge one event from a peer (see [`Source`]), then run again any
    /// packet held for its flow and answer any peer's pull waiting for it.
    pub fn apply_peer(
        &mut self,
        event: &SyncEvent,
        source: Source,
        now: Instant,
    ) -> Result<Applied, SyncReject> {
        let Some(sync) = &mut self.sync else {
            return Ok(Applied::Ignored);
        };
        sync.clock = sync.clock.max(now);
        // A peer's last-seen is taken up to a small skew past this node's
        // clock: beyond it (a clock running ahead, or a value such as
        // u64::MAX from a faulty member), an entry would never idle out.
        // A creation time is part of the flow's identity and is taken as
        // it is: clamped to a bound that moves with this node's clock, a
        // peer running ahead would name one connection anew at each event,
        // each superseding the last and erasing what this node learnt.
        let limit = now
            .as_nanos()
            .saturating_add(MAX_PEER_CLOCK_AHEAD.as_nanos() as u64);
        let mut clamped = false;
        let mut clamp = |ns: &mut u64| {
            if *ns > limit {
                *ns = limit;
                clamped = true;
            }
        };
        let mut event = *event;
        let mut windows = false;
        match &mut event {
            SyncEvent::Upsert(state) => {
                clamp(&mut state.last_seen_ns);
                windows = state.clamp_windows();
            }
            SyncEvent::Delete { .. } | SyncEvent::Demote { .. } => {}
        }
        if clamped {
            bump(&mut self.sync_mut().counters.clock_clamped);
        }
        if windows {
            bump(&mut self.sync_mut().counters.window_clamped);
        }
        // A holder's change from a peer this node did not count among the
        // flow's holders: if it is behind this node's state, the peer
        // hears of it below (else it never would: this node sent its
        // changes elsewhere).
        let (newcomer, told_passive) = match (&event, source.from) {
            (SyncEvent::Upsert(state), Some(peer)) if !source.passive => {
                self.peer_standing(&state.key, &state.inc, peer)
            }
            _ => (false, false),
        };
        let applied = match &event {
            SyncEvent::Upsert(state) => {
                if let Err(e) = state.validate(self.config.interfaces.len()) {
                    bump(&mut self.sync_mut().counters.rejected);
                    return Err(e);
                }
                self.apply_upsert(state, source.from, now)
            }
            SyncEvent::Delete { key, inc } => self.apply_delete(key, inc, now),
            SyncEvent::Demote { key, inc } => self.apply_demote(key, inc, source),
        };
        let c = &mut self.sync_mut().counters;
        match applied {
            Applied::Created => bump(&mut c.events_in[EventKind::Insert as usize]),
            Applied::Joined | Applied::Superseded => {
                bump(&mut c.events_in[EventKind::Update as usize])
            }
            Applied::Deleted | Applied::Tombstoned => {
                bump(&mut c.events_in[EventKind::Delete as usize])
            }
            Applied::Stale => bump(&mut c.stale),
            Applied::Ignored | Applied::Demoted => {}
        }
        let mut made_whole = false;
        if let SyncEvent::Upsert(state) = &event
            && matches!(
                applied,
                Applied::Created | Applied::Joined | Applied::Superseded | Applied::Stale
            )
        {
            let fresh = matches!(applied, Applied::Created | Applied::Superseded);
            made_whole = self.note_source(&state.key, &state.inc, source, fresh);
            // A whole copy that learned something from a copy nobody
            // pushes (a bulk, a passive answer) tells its holders: they
            // may lack it (a change that reached only a node since
            // demoted; the simulator found two whole copies that never
            // agreed after a crash and a partition).
            if source.join || (source.passive && applied == Applied::Joined) {
                self.announce(&state.key, &state.inc, now);
            }
        }
        if (newcomer || told_passive)
            && matches!(applied, Applied::Stale | Applied::Joined)
            && let SyncEvent::Upsert(state) = &event
            && let Some(peer) = source.from
        {
            self.answer_newcomer(state, peer, told_passive, now);
        }
        // A copy made whole by a pull's answer lets its waiting packets
        // be judged, even when the answer brought nothing new.
        if made_whole
            || matches!(
                applied,
                Applied::Created | Applied::Joined | Applied::Superseded
            )
        {
            self.release_held(event.key(), now);
            self.answer_parked(event.key(), now);
        }
        Ok(applied)
    }

    fn sync_mut(&mut self) -> &mut SyncState {
        self.sync.as_mut().expect("only called on a syncing engine")
    }

    fn apply_upsert(&mut self, state: &FlowState, from: Option<u16>, now: Instant) -> Applied {
        let hash = self.table.hash(&state.key);
        if let Some(id) = self.lookup(hash, &state.key, now) {
            let entry = self.table.get(id);
            if entry.proto == ProtoState::TcpBypass {
                bump(&mut self.sync_mut().counters.bypass_conflicts);
                return Applied::Ignored;
            }
            let local = entry.incarnation();
            match state.inc.cmp(&local) {
                std::cmp::Ordering::Less => return self.absorb_older_echo(id, state, from, now),
                std::cmp::Ordering::Equal => {
                    if from.is_some() {
                        self.dcd_heard(id);
                    }
                    let entry = self.table.get(id);
                    let Some(mut merged) = self.flow_state(entry) else {
                        return Applied::Ignored;
                    };
                    let before = merged;
                    merged.join(state);
                    if merged == before {
                        return Applied::Stale;
                    }
                    let (class, client) = (entry.class, entry.initiator_host());
                    let was_embryonic = entry.tcp_state().is_some_and(|s| s.is_embryonic());
                    let was_ended = entry.tcp_state().is_some_and(ended);
                    let mut e = self.table.get_mut(id);
                    e.flags |= merged.flags;
                    e.seq_offset = merged.seq_offset;
                    e.min_ttl = merged.min_ttl;
                    e.last_seen = Instant::from_nanos(merged.last_seen_ns);
                    match (merged.proto, &mut e.proto) {
                        (SyncProto::Tcp(m), ProtoState::Tcp(t)) => *t = m,
                        (SyncProto::IcmpEcho(m), ProtoState::IcmpEcho(t)) => *t = m,
                        _ => {}
                    }
                    let now_embryonic = e.tcp_state().is_some_and(|s| s.is_embryonic());
                    let now_ended = e.tcp_state().is_some_and(ended);
                    drop(e);
                    if was_embryonic && !now_embryonic {
                        self.classes.established(class, client);
                    }
                    if now_ended && !was_ended {
                        self.tell_passive_peers(id, merged, from);
                    }
                    bump(&mut self.sync_mut().counters.joined);
                    return Applied::Joined;
                }
                std::cmp::Ordering::Greater => {
                    self.remove(id, RemoveReason::Superseded);
                    bump(&mut self.sync_mut().counters.superseded);
                    return match self.insert_synced(hash, state, now) {
                        Applied::Created => Applied::Superseded,
                        other => other,
                    };
                }
            }
        }
        if self.sync_mut().tombstones.buries(&state.key, &state.inc) {
            return Applied::Stale;
        }
        self.insert_synced(hash, state, now)
    }

    fn insert_synced(&mut self, hash: u64, state: &FlowState, now: Instant) -> Applied {
        let class = match self.classes.slot_for_peer(state.class) {
            Some(slot) => {
                if self.classes.get(slot).from_peer {
                    bump(&mut self.sync_mut().counters.unknown_class);
                }
                slot
            }
            None => {
                bump(&mut self.sync_mut().counters.unknown_class);
                super::classes::DEFAULT_SLOT
            }
        };
        let proto = match state.proto {
            SyncProto::Tcp(t) => ProtoState::Tcp(t),
            SyncProto::Udp => ProtoState::Udp,
            SyncProto::IcmpEcho(seqs) => ProtoState::IcmpEcho(seqs),
            SyncProto::Other => ProtoState::Other,
        };
        let entry = Entry {
            key: state.key,
            flags: (state.flags & conn_flags::SHARED) | conn_flags::orig_is_lo(state.orig_is_lo),
            ingress: [IfaceId(state.ingress[0]), IfaceId(state.ingress[1])],
            owner: NodeId(state.inc.owner),
            class,
            id: state.inc.id,
            seq_offset: state.seq_offset,
            min_ttl: state.min_ttl,
            macs: MacRef::default(),
            proto,
            packets: [Count48::default(); 2],
            bytes: [Count48::default(); 2],
            created: Instant::from_nanos(state.inc.created_ns),
            last_seen: Instant::from_nanos(state.last_seen_ns),
        };
        if self.is_expired(&entry, now) {
            bump(&mut self.sync_mut().counters.expired_on_arrival);
            self.classes.release_unused(class);
            return Applied::Ignored;
        }
        let mut entry = entry;
        if self.table.len() >= self.config.max_conns {
            self.make_room(now);
            // The entry that made room may have been the last of this
            // peer's class slot, which then went free: find (or make) it
            // again.
            entry.class = self
                .classes
                .slot_for_peer(state.class)
                .unwrap_or(super::classes::DEFAULT_SLOT);
        }
        let class = entry.class;
        let Ok(id) = self.table.insert(hash, entry, state.macs) else {
            bump(&mut self.sync_mut().counters.table_full);
            self.classes.release_unused(class);
            return Applied::Ignored;
        };
        self.count_role(&entry, true);
        // Learned, not to be echoed back: counts as synced now.
        self.sync_mut()
            .reset_mark(id, now.max(Instant::from_nanos(1)));
        let embryonic = entry.tcp_state().is_some_and(|s| s.is_embryonic());
        self.classes
            .copied(class, entry.initiator_host(), embryonic);
        if embryonic {
            self.note_half_open(id);
        }
        Applied::Created
    }

    fn apply_delete(&mut self, key: &FlowKey, inc: &Incarnation, now: Instant) -> Applied {
        let now_ns = now.as_nanos();
        let sync = self.sync_mut();
        if sync.tombstones.insert(*key, *inc, now_ns) {
            bump(&mut sync.counters.tombstones_evicted);
        }
        let hash = self.table.hash(key);
        if let Some(id) = self.table.find(hash, key) {
            let entry = self.table.get(id);
            if entry.proto != ProtoState::TcpBypass && entry.incarnation() <= *inc {
                self.remove(id, RemoveReason::Peer);
                return Applied::Deleted;
            }
            return Applied::Stale;
        }
        Applied::Tombstoned
    }

    pub(super) fn push_effect(&mut self, effect: Effect) {
        if self.effects.len() >= MAX_PENDING_EFFECTS {
            bump(&mut self.counters.effects_dropped);
            return;
        }
        self.effects.push_back(effect);
    }

    /// After judging a frame: hold a frame a peer's state could let
    /// through, or defer the frame that just opened an inspected flow until
    /// a peer acknowledges it (with `offload`, the offload it leaves
    /// with). Returns the verdict to give.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn wait_for_peer(
        &mut self,
        judged: Judgement,
        frame: &[u8],
        meta: PacketMeta,
        offload: Offload,
        ingress: IfaceId,
        now: Instant,
        frags: &mut Option<Pieces>,
    ) -> Verdict {
        let verdict = judged.verdict();
        let Some(sync) = &mut self.sync else {
            return verdict;
        };
        if !sync.active() {
            return verdict;
        }
        let Some(key) = judged.flow else {
            return verdict;
        };
        match judged.decision {
            // A frame that lacks state waits for it; so does any frame that
            // fails while earlier frames of its flow wait: it was judged
            // against the state they are waiting to see change.
            Err(reason)
                if (holdable(reason) && judged.peer_could_pass) || sync.hold.holds(&key) =>
            {
                let found = self.table.find(self.table.hash(&key), &key);
                let known = found.is_some();
                let Some(sync) = &mut self.sync else {
                    return verdict;
                };
                let held = Held {
                    known,
                    frame: frame.to_vec(),
                    meta,
                    ingress,
                    source: judged.source.unwrap_or(crate::flow::Host {
                        addr: crate::flow::Addr([0; 16]),
                        vlan: 0,
                    }),
                    deadline: now + sync.config.hold_deadline,
                    reason,
                    // A lenient pass leaves at its deadline if it still
                    // passes as a standalone engine passes it.
                    lenient: reason == DropReason::LenientWait,
                    frags: frags.take().map(Box::new),
                };
                if let Err(refused) = sync.hold.push(key, held) {
                    // Counted under its own reason, not the stale state's.
                    bump(&mut sync.counters.hold_overflow);
                    match refused {
                        Refused::SourceFull => bump(&mut sync.counters.hold_source_capped),
                        Refused::StrangersFull => {
                            bump(&mut sync.counters.hold_strangers_capped);
                        }
                        Refused::Full | Refused::Busy => {}
                    }
                    // The flow's state is still repaired: a passive copy
                    // is pulled all the same, so the packets its hosts
                    // retransmit find it whole (a whole copy is pushed its
                    // changes anyway; its pull waits for them, and is
                    // forgotten with no packet left waiting).
                    if known {
                        self.pull_found(key, found, now);
                    }
                    // TCP Intercept's own wait (a cookie's data segment on
                    // a node without its connection): with no room to wait,
                    // it opens the connection now, as at its deadline,
                    // rather than leave a proven client to a flood that
                    // fills the buffer.
                    if self.intercept.waits {
                        return self.intercept_without_waiting(frame, meta, ingress, now);
                    }
                    return Verdict::Drop(DropReason::HoldOverflow);
                }
                bump(&mut sync.counters.held);
                self.pull_found(key, found, now);
                Verdict::Hold
            }
            Ok(egress) => {
                let Some(inc) = judged.opened else {
                    return verdict;
                };
                if sync.config.defer_deadline.is_zero() {
                    return verdict;
                }
                if sync.defer.room_for(&key).is_err() {
                    bump(&mut sync.counters.defer_overflow);
                    return verdict;
                }
                // The frame leaves later from a copy, with the offload it
                // would have left with now: a super-packet stays one.
                let d = Deferred {
                    frame: frame.to_vec(),
                    offload,
                    ingress,
                    egress,
                    deadline: now + sync.config.defer_deadline,
                    inc,
                    frags: frags.take().map(Box::new),
                };
                // (Room was checked: this takes it.)
                let _ = sync.defer.push(key, d);
                bump(&mut sync.counters.deferred);
                Verdict::Hold
            }
            Err(_) => verdict,
        }
    }

    /// The earliest hold or defer deadline, if any.
    pub(super) fn sync_deadline(&self) -> Option<Instant> {
        let s = self.sync.as_ref()?;
        let repull = s.pulled.next_due();
        let later = s.later.front().map(|&(due, _)| due);
        [
            s.hold.next_deadline(),
            s.defer.next_deadline(),
            repull,
            later,
            s.trailing.next_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Pass nothing until the next [`set_policy`](Engine::set_policy): every
    /// frame, ARP and held frames included, is dropped as
    /// `cluster-not-ready`, while sync events are still taken. For a node
    /// of a cluster that has not received the cluster's policy yet (a new
    /// or wiped node before its join): it runs no policy of its own, as an
    /// ASA unit passes no traffic until it has joined its cluster and
    /// replicated the control unit's configuration (docs/ops.md).
    pub fn await_cluster_policy(&mut self) {
        self.awaiting_policy = true;
    }

    /// Whether the engine passes nothing until a policy is set
    /// ([`await_cluster_policy`](Self::await_cluster_policy)).
    pub fn awaits_cluster_policy(&self) -> bool {
        self.awaiting_policy
    }

    /// The drop for a frame that arrives while the node is not ready: its
    /// first bulk sync is not done, or it waits for its cluster's policy
    /// ([`await_cluster_policy`](Self::await_cluster_policy)).
    pub(super) fn not_ready(&self) -> Option<Verdict> {
        let ready = self.sync.as_ref().is_none_or(|s| s.ready);
        (self.awaiting_policy || !ready).then_some(Verdict::Drop(DropReason::ClusterNotReady))
    }
}
