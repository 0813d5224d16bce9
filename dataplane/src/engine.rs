//! The engine: one frame in, one verdict out, time passed in
//! (docs/ARCHITECTURE.md §3). No sockets, no threads, no clock.

pub mod acl_hits;
mod admission;
mod capture;
pub mod classes;
mod clear;
pub mod connlog;
mod datagram;
mod dcd;
mod fast;
pub mod fragment;
mod hold;
mod icmp_error;
mod input;
pub mod intercept;
pub mod normalize;
mod reset;
mod segment;
mod shun;
mod spread;
pub mod sync;
pub mod tracer;

pub use self::input::{Handled, Input};

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

pub use crate::iface::InterfaceConfig;

use self::acl_hits::ClassEntries;
use self::admission::HalfOpen;
use self::classes::{ClassTable, SlotId};
use crate::policy::classifier::Probe;
use crate::policy::compile::{ConnOptions, IcmpInspection, Policy};

use self::normalize::TcpView;
use self::segment::{Floor, as_received, clamp_mss, judge, normalize_and_shift, seq_offset};
use crate::conntrack::entry::conn_flags;
use crate::conntrack::tcp::{TcpEvent, Tracked};
use crate::conntrack::{ConnTable, Entry, FlowId, NodeId, ProtoState, TcpTrack, Timeouts};
use crate::counters::{Counters, RemoveReason, VerdictKind, bump};
use crate::flow::{Direction, FlowKey, Tuple, proto};
use crate::packet::{
    ChecksumState, Icmp, Offload, PacketMeta, Parsed, TcpFlags, TcpSegment, Transport, parse,
};
use crate::policy::mss::MssClamp;
use crate::time::Instant;
use crate::verdict::{DropReason, IfaceId, Verdict};

/// Most data interfaces one engine serves (an `IfaceId` is a `u8`).
pub const MAX_INTERFACES: usize = 255;

/// Default bound on tracked connections.
pub const DEFAULT_MAX_CONNS: usize = 1_000_000;

/// Table slots the expiry sweep visits per [`Engine::expire`] call. With the
/// default [`SWEEP_INTERVAL`] a table of a million slots is swept about every
/// six seconds. Expired entries are already invisible to lookups; the sweep
/// bounds how long their memory stays taken, and how long one that no
/// eviction queue holds at its front counts against the limits
/// (docs/asa-behaviour.md §2.2).
pub const DEFAULT_SWEEP_BUDGET_SLOTS: usize = 16_384;

/// How often the shell should call [`Engine::expire`].
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// Most effects held for the shell between two [`Engine::poll_effect`]
/// calls; more are dropped and counted (`Counters::effects_dropped`).
pub const MAX_PENDING_EFFECTS: usize = 4096;
/// Frames whose memory loads [`Engine::process_batch`] starts together: a
/// core keeps some ten to twenty cache misses in flight, and a frame of an
/// unknown table position needs two or three of them (index bucket, entry
/// lines).
pub const PREFETCH_BATCH: usize = 16;

/// One frame of a batch for [`Engine::process_batch`].
#[derive(Debug)]
pub struct BatchFrame<'a> {
    /// The frame, rewritten in place where the engine changes it.
    pub frame: &'a mut [u8],
    /// What the receive path knows of it.
    pub meta: PacketMeta,
    /// Set by the engine for a frame it forwards: the checksum and
    /// segmentation offload the frame must leave with, built from the
    /// engine's parse and never the sender's header (docs/io.md §1);
    /// [`Offload::NONE`] for any other.
    pub offload: Offload,
}

impl<'a> BatchFrame<'a> {
    /// A frame as received, no offload decided yet.
    pub fn new(frame: &'a mut [u8], meta: PacketMeta) -> Self {
        BatchFrame {
            frame,
            meta,
            offload: Offload::NONE,
        }
    }
}

/// Something the engine asks its shell to do, drained with
/// [`Engine::poll_effect`]: the engine's one way out besides a frame's
/// verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a frame the engine built (the RSTs of `timeout idle … reset`).
    Transmit {
        /// Interface to send it on.
        egress: IfaceId,
        /// The whole Ethernet frame, checksums complete.
        frame: Vec<u8>,
    },
    /// A frame that waited for a peer (its verdict was
    /// [`Verdict::Hold`]) leaves now.
    Release {
        /// Interface to send it on.
        egress: IfaceId,
        /// The whole Ethernet frame, checksums complete except the one
        /// `offload` leaves to the egress device.
        frame: Vec<u8>,
        /// The checksum and segmentation offload it leaves with, built
        /// from the engine's parse (docs/io.md §1): a held super-packet
        /// stays one, its checksum partial, for the egress to cut and
        /// complete. A shell that sends without offload completes the
        /// checksum itself ([`complete_checksum`](crate::packet::complete_checksum)).
        offload: Offload,
        /// Why its wait ended.
        cause: ReleaseCause,
    },
    /// Peers must learn an inspected flow's state: its insert, an update,
    /// or a refresh of its last-seen time.
    FlowChanged(self::sync::SyncOut),
    /// Peers must learn that an inspected flow ended (not by timeout:
    /// every node expires from the merged last-seen on its own).
    FlowDeleted {
        /// The flow.
        key: FlowKey,
        /// Which incarnation of it ended.
        inc: crate::sync::Incarnation,
        /// The peers holding a whole copy (see [`SyncOut::full`](self::sync::SyncOut::full)).
        peers: crate::sync::PeerSet,
        /// The peers holding a passive copy.
        passive: crate::sync::PeerSet,
    },
    /// A pull: this node wants a flow's state from its peers, or answers
    /// a peer that wants one (docs/sync.md §4).
    Pull(self::sync::PullOut),
    /// A reassembled datagram, or a frame the kernel spread by its
    /// addresses, whose flow another worker owns (docs/io.md §9): the
    /// shell gives it to that worker's [`Engine::take_handoff`].
    HandOff {
        /// The worker ([`WorkerShare::worker_of`](self::fragment::WorkerShare)).
        worker: usize,
        /// The datagram and its fragments, or the frame.
        chain: Box<self::fragment::Handed>,
    },
}

impl Effect {
    /// The sync event for peers, for [`Effect::FlowChanged`] and
    /// [`Effect::FlowDeleted`]; `None` for a frame to send.
    pub fn into_sync(self) -> Option<self::sync::SyncOut> {
        match self {
            Effect::FlowChanged(out) => Some(out),
            Effect::FlowDeleted {
                key,
                inc,
                peers,
                passive,
            } => Some(self::sync::SyncOut {
                event: crate::sync::SyncEvent::Delete { key, inc },
                kind: self::sync::EventKind::Delete,
                want_ack: false,
                full: peers,
                passive,
            }),
            Effect::Transmit { .. }
            | Effect::Release { .. }
            | Effect::Pull(_)
            | Effect::HandOff { .. } => None,
        }
    }

    /// The pull, for [`Effect::Pull`]; `None` otherwise.
    pub fn into_pull(self) -> Option<self::sync::PullOut> {
        match self {
            Effect::Pull(p) => Some(p),
            _ => None,
        }
    }
}

/// Why a frame that waited for a peer leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseCause {
    /// A held frame passed once a peer's state for its flow arrived.
    HeldPassed,
    /// A peer acknowledged the insert of the flow a deferred frame opened.
    DeferAcked,
    /// A deferred frame's deadline passed without an acknowledgement; the
    /// peer's hold covers the race.
    DeferTimedOut,
    /// A fragment, kept until its datagram was complete, which passed.
    Reassembled,
    /// A frame another worker handed over (an ICMP error about a flow
    /// this worker owns), which passed.
    HandedOff,
}

/// What judging one frame found, before any wait for a peer.
#[derive(Debug, Clone, Copy)]
struct Judgement {
    /// Forward to this interface, or drop for this reason.
    decision: Result<IfaceId, DropReason>,
    /// The flow the frame belongs to (for an ICMP error, the flow it
    /// quotes); `None` for a frame that is not IP or did not parse.
    flow: Option<FlowKey>,
    /// The inspected flow this frame opened, if it opened one.
    opened: Option<crate::sync::Incarnation>,
    /// The frame's source address (the hold buffer's per-source budget).
    source: Option<crate::flow::Host>,
    /// Whether a peer's state could let this dropped frame through: the
    /// policy permits a connection it could belong to (its own direction,
    /// or the reverse one it would be the reply of). A frame the policy
    /// denies both ways is never held.
    peer_could_pass: bool,
    /// The access-list entries that decided it, counted once the
    /// judgement is final ([`Engine::settle_hits`]).
    decided: self::acl_hits::Decided,
}

impl Judgement {
    fn verdict(&self) -> Verdict {
        match self.decision {
            Ok(egress) => Verdict::Forward { egress },
            Err(reason) => Verdict::Drop(reason),
        }
    }
}

/// Everything the engine is built from.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This node (recorded as the owner of entries it creates).
    pub node: NodeId,
    /// Data interfaces, indexed by `IfaceId`.
    pub interfaces: Vec<InterfaceConfig>,
    /// Bound on tracked connections.
    pub max_conns: usize,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// Secret seed of the flow hash; draw it at random per node.
    pub hash_seed: [u64; 4],
    /// Secret key of the sequence-randomization offsets (SipHash-2-4 over
    /// the flow and the initiator's ISN, as RFC 6528 builds ISNs). Draw it
    /// at random; the nodes of a cluster share one
    /// ([`Engine::set_seq_secret`], docs/sync.md §1), so any node shifts a
    /// retransmitted SYN as the node that saw the first one did.
    pub seq_secret: [u64; 2],
    /// Slots the expiry sweep visits per call.
    pub sweep_budget_slots: usize,
    /// Remove a tcp-state-bypass entry when a RST passes (the ASA's
    /// behaviour is undocumented, docs/asa-behaviour.md §1.3: default off,
    /// entries leave by idle timeout).
    pub bypass_rst_teardown: bool,
    /// State sync with peers (`None`: a standalone node). With sync, `now`
    /// must be cluster time: nanoseconds on a clock the nodes share (the
    /// node uses the Unix epoch), since entry times travel between nodes.
    pub sync: Option<self::sync::SyncConfig>,
    /// The node's workers, when it runs several engines (`None`: one).
    pub workers: Option<self::fragment::WorkerShare>,
}

impl EngineConfig {
    /// A transparent bridge between `inside` (security 100) and `outside`
    /// (security 0), the ASA transparent-mode default pair.
    pub fn inside_outside(node: NodeId, hash_seed: [u64; 4]) -> Self {
        EngineConfig {
            node,
            interfaces: InterfaceConfig::inside_outside(),
            max_conns: DEFAULT_MAX_CONNS,
            timeouts: Timeouts::default(),
            hash_seed,
            // A convenience for tests and the demo: derived from the hash
            // seed. Nodes draw both secrets independently.
            seq_secret: [
                hash_seed[0] ^ 0x5eed_5eed_5eed_5eed,
                hash_seed[1].rotate_left(17),
            ],
            sweep_budget_slots: DEFAULT_SWEEP_BUDGET_SLOTS,
            bypass_rst_teardown: false,
            sync: None,
            workers: None,
        }
    }
}

/// A configuration the engine cannot run with (a local fault: the config's).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// No interfaces, or more than [`MAX_INTERFACES`].
    #[error("an engine needs between 1 and {MAX_INTERFACES} interfaces, got {0}")]
    InterfaceCount(usize),
    /// An interface pairs with one that does not exist, or with itself.
    #[error("interface {nameif} pairs with interface index {peer}, which is not another interface")]
    BadPeer {
        /// The interface's nameif.
        nameif: String,
        /// The peer index it names.
        peer: u8,
    },
    /// A security level above 100.
    #[error("interface {nameif}: security-level {level} is outside 0-100")]
    SecurityLevel {
        /// The interface's nameif.
        nameif: String,
        /// The level given.
        level: u8,
    },
    /// `max_conns` of zero.
    #[error("max_conns must be at least 1")]
    NoCapacity,
}

/// The stateful engine.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    table: ConnTable,
    counters: Counters,
    next_conn_id: u32,
    policy: Arc<Policy>,
    classes: ClassTable,
    /// Entries removed by the last sweep, kept to reuse the allocation.
    swept: Vec<Entry>,
    /// Connections dead connection detection probes.
    dcd: dcd::Probing,
    /// Effects waiting for the shell.
    effects: std::collections::VecDeque<Effect>,
    /// State sync, for a node in a cluster.
    sync: Option<self::sync::SyncState>,
    /// Connection log events waiting for the shell.
    conn_log: self::connlog::ConnLog,
    /// Creation time of the entry a SYN just reopened: the new incarnation
    /// is created after it even if this node's clock is behind the clock
    /// that stamped it, so every node orders the two alike (docs/sync.md §3).
    reopened_after: Option<Instant>,
    /// A lenient TCP pass may happen now (the frame has waited its hold
    /// deadline for a peer's state); otherwise, with a peer up, it waits
    /// (`cluster-lenient-wait`).
    lenient_passes: bool,
    /// TCP Intercept's state of the frame being judged (`intercept::Judged`).
    intercept: intercept::Judged,
    /// Whether established TCP segments take the fast path (see
    /// [`set_fast_path`](Self::set_fast_path)).
    fast_path: bool,
    /// Frames the fast path decided.
    fast_path_frames: u64,
    /// Per ingress interface: what every frame arriving on it meets
    /// before it is judged, if anything ([`Policy::ingress_drop`]: a shut
    /// interface, an EtherType `deny any`); empty when no interface has one.
    gates: Vec<Option<DropReason>>,
    /// The shun list and its counts (docs/asa-behaviour.md §2.12).
    shunning: shun::Shunning,
    /// The timeouts the engine was built with; `config.timeouts` is these
    /// with the policy's global `timeout` values in place.
    base_timeouts: Timeouts,
    /// Nothing passes until a policy is set
    /// ([`await_cluster_policy`](Self::await_cluster_policy)).
    awaiting_policy: bool,
    /// Datagrams whose fragments are being collected.
    fragments: self::fragment::Reassembly,
    /// Hit counts of the policy's access-list entries.
    hits: self::acl_hits::AclHits,
    /// Packet captures (`capture`), `None` while there is none: then a
    /// frame costs this one test (docs/asa-behaviour.md §2.11).
    captures: Option<Box<crate::capture::Captures>>,
}

impl Engine {
    /// Build an engine, checking the configuration.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        let n = config.interfaces.len();
        if n == 0 || n > MAX_INTERFACES {
            return Err(ConfigError::InterfaceCount(n));
        }
        for (i, iface) in config.interfaces.iter().enumerate() {
            if usize::from(iface.peer.0) >= n || usize::from(iface.peer.0) == i {
                return Err(ConfigError::BadPeer {
                    nameif: iface.nameif.clone(),
                    peer: iface.peer.0,
                });
            }
            if iface.security_level > 100 {
                return Err(ConfigError::SecurityLevel {
                    nameif: iface.nameif.clone(),
                    level: iface.security_level,
                });
            }
        }
        if config.max_conns == 0 {
            return Err(ConfigError::NoCapacity);
        }
        let policy = Arc::new(Policy::security_levels_only(&config.interfaces));
        let config_timeouts = config.timeouts;
        let keyed = |purpose| ConnTable::keyed_hasher(config.hash_seed, purpose);
        let mut classes = ClassTable::new(keyed(1));
        // Security levels only: no class, nothing to exhaust.
        let _ = classes.install(&policy);
        let fragments = self::fragment::Reassembly::new(n, keyed(7));
        Ok(Engine {
            table: ConnTable::new(config.max_conns, config.hash_seed),
            sync: config.sync.map(|c| {
                self::sync::SyncState::new(c, [keyed(2), keyed(3), keyed(4), keyed(5), keyed(6)])
            }),
            config,
            counters: Counters {
                ifaces: vec![Default::default(); n],
                ..Counters::default()
            },
            next_conn_id: 1,
            policy,
            classes,
            swept: Vec::new(),
            dcd: dcd::Probing::default(),
            effects: std::collections::VecDeque::new(),
            conn_log: Default::default(),
            lenient_passes: false,
            intercept: Default::default(),
            reopened_after: None,
            fast_path: true,
            fast_path_frames: 0,
            gates: Vec::new(),
            shunning: Default::default(),
            base_timeouts: config_timeouts,
            awaiting_policy: false,
            fragments,
            hits: Default::default(),
            captures: None,
        })
    }

    /// Swap in a new policy. It governs connections opened from now on;
    /// existing connections keep the class and options they were given
    /// (as on the ASA, until `clear conn`). Its global `timeout` values
    /// apply to every connection whose class sets none, existing ones too:
    /// a connection's timeout is looked up when it is judged idle.
    ///
    /// Refused, with the running policy kept, when its classes need more
    /// class slots than connections of earlier policies left free
    /// ([`classes::SlotsExhausted`]).
    pub fn set_policy(&mut self, policy: Arc<Policy>) -> Result<(), classes::SlotsExhausted> {
        self.classes.install(&policy)?;
        let gates: Vec<Option<DropReason>> = self
            .config
            .interfaces
            .iter()
            .enumerate()
            .map(|(i, iface)| policy.ingress_drop(IfaceId(i as u8), iface.peer))
            .collect();
        self.gates = if gates.iter().any(Option::is_some) {
            gates
        } else {
            Vec::new()
        };
        self.config.timeouts = self.base_timeouts.with_global(policy.global_timeouts());
        self.install_hits(&policy);
        if let Some(c) = &mut self.captures {
            c.policy_changed(&policy);
        }
        self.policy = policy;
        self.awaiting_policy = false;
        bump(&mut self.counters.policy_swaps);
        Ok(())
    }

    /// Whether [`set_policy`](Self::set_policy) would take `policy` now:
    /// a node asks every worker before it installs a policy on any, so a
    /// refusal leaves them all on the running one.
    pub fn policy_fits(&self, policy: &Policy) -> Result<(), classes::SlotsExhausted> {
        self.classes.fits(policy)
    }

    /// The live entry a packet with this tuple belongs to, if any.
    pub fn find(&self, tuple: &Tuple, now: Instant) -> Option<&Entry> {
        let (key, _) = FlowKey::of(tuple);
        let id = self.table.find(self.table.hash(&key), &key)?;
        let entry = self.table.get(id);
        (!self.is_expired(entry, now)).then_some(entry)
    }

    /// The next effect for the shell, or `None` when none waits. Frames
    /// to send come first, then the sync events for peers: the changes
    /// made since the last drain, the whole current state per flow, stamped
    /// as told to peers at `now`.
    pub fn poll_effect(&mut self, now: Instant) -> Option<Effect> {
        if let Some(effect) = self.effects.pop_front() {
            if self.captures.is_some() {
                self.capture_sent(&effect, now);
            }
            return Some(effect);
        }
        self.poll_sync_effect(now)
    }

    /// The policy in force for new connections.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// Class slots with their live counts (`show service-policy`).
    pub fn classes(&self) -> &ClassTable {
        &self.classes
    }

    /// The timeout that applies to an entry now (its class's, or the default).
    pub fn timeout_of(&self, entry: &Entry) -> Duration {
        self.config
            .timeouts
            .for_entry(entry, &self.classes.get(entry.class).options)
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Replace the sequence-randomization secret (the cluster's, once the
    /// policy log has it). Connections already open keep their offsets;
    /// new ones take theirs from this secret.
    pub fn set_seq_secret(&mut self, secret: [u64; 2]) {
        self.config.seq_secret = secret;
    }

    /// The connection table (for `show conn`).
    pub fn table(&self) -> &ConnTable {
        &self.table
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Whether an entry is past its timeout at `now` (and the time dead
    /// connection detection may keep it, `dcd::grace`). Expired entries
    /// are treated as absent even before the sweep removes them.
    pub fn is_expired(&self, entry: &Entry, now: Instant) -> bool {
        let options = &self.classes.get(entry.class).options;
        let timeout = self.config.timeouts.for_entry(entry, options);
        now >= entry.last_seen + timeout + dcd::grace(entry, options, || self.sweep_period())
    }

    /// When the shell should call [`expire`](Self::expire) next.
    pub fn poll_timeout(&self, now: Instant) -> Instant {
        let sweep = now + SWEEP_INTERVAL;
        self.sync_deadline().map_or(sweep, |d| d.min(sweep))
    }

    /// When the sync layer's timers (hold deadlines, pulls due, deferred
    /// packets) next need [`expire_sync`](Self::expire_sync); `None` when
    /// nothing waits.
    pub fn sync_timeout(&self) -> Option<Instant> {
        self.sync_deadline()
    }

    /// Run only the sync layer's timers, not the table sweep: for a shell
    /// woken by a hold deadline or a pull due between two sweeps (a sweep
    /// visits [`EngineConfig::sweep_budget_slots`] slots, far too many to
    /// run each time a held packet's timer comes due).
    pub fn expire_sync(&mut self, now: Instant) {
        self.sync_expire(now);
    }

    /// Remove expired entries from the next slice of the table, and run the
    /// sync layer's timers. Returns how many entries were removed.
    pub fn expire(&mut self, now: Instant) -> usize {
        let sweep = self.sweep_period();
        let (timeouts, classes) = (&self.config.timeouts, &self.classes);
        let mut swept = std::mem::take(&mut self.swept);
        let idle = &mut self.dcd.found;
        self.table.sweep(
            self.config.sweep_budget_slots,
            |id, e| {
                let options = &classes.get(e.class).options;
                let timeout = timeouts.for_entry(e, options);
                if Self::dcd_due(e, options, timeout, now) {
                    idle.push(id);
                }
                now >= e.last_seen + timeout + dcd::grace(e, options, || sweep)
            },
            |e| swept.push(e),
        );
        let removed = swept.len();
        for e in swept.drain(..) {
            self.forget(&e, RemoveReason::Timeout);
        }
        self.swept = swept;
        self.run_dcd(now);
        self.expire_fragments(now);
        self.sync_expire(now);
        removed
    }

    /// Decide what to do with one frame received on `ingress` at `now`.
    ///
    /// The frame may be rewritten in place (TCP normalizer, sequence
    /// randomization) with its checksums kept valid.
    pub fn process(
        &mut self,
        frame: &mut [u8],
        meta: PacketMeta,
        ingress: IfaceId,
        now: Instant,
    ) -> Verdict {
        let parsed = parse(frame, meta);
        self.process_parsed(frame, meta, ingress, now, &parsed, None)
    }

    /// Decide on a batch of frames received on `ingress` at `now`, writing
    /// each frame's verdict to `verdicts` (which must be at least as long
    /// as `batch`). The verdicts, the frames' rewrites and every counter
    /// are exactly those of [`process`](Self::process) called on each frame
    /// in order; the batch only starts the memory loads early: every
    /// frame is parsed and its key hashed first, the index bucket of each
    /// is prefetched, then each entry, and only then are they judged, so
    /// the two dependent cache misses of a large table overlap across the
    /// batch instead of stalling every packet in turn.
    pub fn process_batch(
        &mut self,
        batch: &mut [BatchFrame<'_>],
        ingress: IfaceId,
        now: Instant,
        verdicts: &mut [Verdict],
    ) {
        assert!(verdicts.len() >= batch.len(), "a verdict for every frame");
        for (chunk, verdicts) in batch
            .chunks_mut(PREFETCH_BATCH)
            .zip(verdicts.chunks_mut(PREFETCH_BATCH))
        {
            let mut parsed = [Err(DropReason::L2Truncated); PREFETCH_BATCH];
            let mut hashes = [None; PREFETCH_BATCH];
            let mut hints = [None; PREFETCH_BATCH];
            for (i, f) in chunk.iter().enumerate() {
                parsed[i] = parse(f.frame, f.meta);
                if let Ok(Parsed::Ip { tuple, .. }) = &parsed[i] {
                    let hash = self.table.hash(&FlowKey::of(tuple).0);
                    self.table.prefetch_index(hash);
                    hashes[i] = Some(hash);
                }
            }
            for (hint, hash) in hints.iter_mut().zip(&hashes).take(chunk.len()) {
                if let Some(hash) = hash {
                    *hint = self.table.prefetch_entry(*hash);
                }
            }
            for (i, f) in chunk.iter_mut().enumerate() {
                verdicts[i] = self.process_parsed(
                    f.frame,
                    f.meta,
                    ingress,
                    now,
                    &parsed[i],
                    hashes[i].map(|h| (h, hints[i])),
                );
                // The engine rewrites frames in place only: the parse's
                // offsets still hold for the frame that leaves.
                f.offload = match (&verdicts[i], &parsed[i]) {
                    (Verdict::Forward { .. }, Ok(Parsed::Ip { offload, .. })) => *offload,
                    _ => Offload::NONE,
                };
            }
        }
    }

    /// [`process`](Self::process) on a frame already parsed, with its
    /// key's hash (and the slot its entry was last seen in) if known.
    fn process_parsed(
        &mut self,
        frame: &mut [u8],
        meta: PacketMeta,
        ingress: IfaceId,
        now: Instant,
        parsed: &Result<Parsed, DropReason>,
        hash: Option<(u64, Option<FlowId>)>,
    ) -> Verdict {
        if self.captures.is_some() {
            return self.process_captured(frame, meta, ingress, now, parsed, hash);
        }
        self.process_uncaptured(frame, meta, ingress, now, parsed, hash)
    }

    /// [`process_parsed`](Self::process_parsed) without the captures.
    #[inline(always)]
    fn process_uncaptured(
        &mut self,
        frame: &mut [u8],
        meta: PacketMeta,
        ingress: IfaceId,
        now: Instant,
        parsed: &Result<Parsed, DropReason>,
        hash: Option<(u64, Option<FlowId>)>,
    ) -> Verdict {
        if let Some(verdict) = self.not_ready() {
            bump(&mut self.counters.drops[DropReason::ClusterNotReady.index()]);
            self.counters
                .count_frame(usize::from(ingress.0), VerdictKind::Drop, frame.len());
            return verdict;
        }
        // An interface the configuration shuts down passes nothing, ARP and
        // established connections included (ASA `interface-down`), nor
        // does one whose EtherType access-group denies all frames.
        if !self.gates.is_empty()
            && let Some(reason) = self.gate_drop(ingress, frame.len())
        {
            return Verdict::Drop(reason);
        }
        // A shunned source passes nothing, fragments and established
        // connections included (docs/asa-behaviour.md §2.12).
        if !self.shunning.is_empty()
            && let Some(verdict) = self.shun_drop(frame, ingress, now)
        {
            return verdict;
        }
        if let Err(DropReason::Fragment) = parsed
            && usize::from(ingress.0) < self.config.interfaces.len()
        {
            return self.fragment(frame, meta, ingress, now);
        }
        if self.config.workers.is_some()
            && let Some(verdict) = self.hand_off_foreign(frame, meta, ingress, parsed)
        {
            return verdict;
        }
        let hash = if self.fast_path {
            match self.established_fast(frame, meta, ingress, now, parsed, hash) {
                Ok(verdict) => return verdict,
                Err(hash) => hash,
            }
        } else {
            hash
        };
        let judged = self.judge(frame, meta, ingress, now, parsed, hash);
        let offload = match parsed {
            Ok(Parsed::Ip { offload, .. }) => *offload,
            _ => Offload::NONE,
        };
        let verdict = self.wait_for_peer(judged, frame, meta, offload, ingress, now, &mut None);
        self.settle_hits(&judged, verdict);
        // (The frame may have been rewritten in place: normalizer, sequence
        // randomization.)
        let kind = match verdict {
            Verdict::Forward { .. } => {
                self.count_forwarded(frame.len());
                VerdictKind::Forward
            }
            Verdict::Drop(reason) => {
                bump(&mut self.counters.drops[reason.index()]);
                self.log_denied(frame, meta, ingress, reason, now);
                VerdictKind::Drop
            }
            Verdict::Hold => VerdictKind::Hold,
        };
        self.counters
            .count_frame(usize::from(ingress.0), kind, frame.len());
        verdict
    }

    /// What a frame arriving on `ingress` meets before it is judged (a shut
    /// interface, its own or the one it would leave by; an EtherType
    /// `deny any`), counted as dropped if anything. Out of line: only a
    /// policy with such a gate calls it.
    #[cold]
    #[inline(never)]
    fn gate_drop(&mut self, ingress: IfaceId, len: usize) -> Option<DropReason> {
        let reason = (*self.gates.get(usize::from(ingress.0))?)?;
        bump(&mut self.counters.drops[reason.index()]);
        self.count_gate(ingress, reason, 1);
        self.counters
            .count_frame(usize::from(ingress.0), VerdictKind::Drop, len);
        Some(reason)
    }

    /// Count a frame that leaves (at once, or released after a wait).
    fn count_forwarded(&mut self, len: usize) {
        bump(&mut self.counters.forwarded_packets);
        self.counters.forwarded_bytes = self.counters.forwarded_bytes.saturating_add(len as u64);
    }

    /// Judge one frame against the table and the policy: the frame's own
    /// verdict, before any wait for a peer. Changes the table (entries
    /// created, state advanced) and may rewrite the frame in place.
    fn judge(
        &mut self,
        frame: &mut [u8],
        meta: PacketMeta,
        ingress: IfaceId,
        now: Instant,
        // By reference: a batch keeps its frames' parses in an array, and
        // copying one just written costs a store-forwarding stall.
        parsed: &Result<Parsed, DropReason>,
        hash: Option<(u64, Option<FlowId>)>,
    ) -> Judgement {
        self.reopened_after = None;
        self.intercept.waits = false;
        // What decides this frame is noted as it is judged (below).
        self.hits.pending = Default::default();
        let unflowed = |decision| Judgement {
            decision,
            flow: None,
            opened: None,
            source: None,
            peer_could_pass: false,
            decided: Default::default(),
        };
        let Some(iface) = self.config.interfaces.get(usize::from(ingress.0)) else {
            return unflowed(Err(DropReason::UnknownInterface));
        };
        let egress = iface.peer;
        let parsed = match parsed {
            Ok(p) => p,
            Err(reason) => return unflowed(Err(*reason)),
        };
        let (tuple, transport, ip_len, l3, l4, ah) = match parsed {
            // Transparent mode passes ARP, as the ASA does by default.
            Parsed::Arp => {
                bump(&mut self.counters.untracked_passed);
                return unflowed(Ok(egress));
            }
            Parsed::Ip {
                tuple,
                transport,
                ip_len,
                l3,
                l4,
                ah,
                ..
            } => (*tuple, *transport, *ip_len, *l3, *l4, *ah),
        };
        // The frame parsed, so it holds its Ethernet header.
        let mac = |at: usize| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&frame[at..at + 6]);
            m
        };
        let (key, src_is_lo) = FlowKey::of(&tuple);
        let pkt = Pkt {
            tuple,
            key,
            hash: hash.map_or_else(|| self.table.hash(&key), |h| h.0),
            hint: hash.and_then(|h| h.1),
            src_is_lo,
            macs: [mac(6), mac(0)],
            ingress,
            egress,
            ip_len,
            now,
            ah,
            icmp: transport.icmp_type_code(tuple.src.addr.is_v6()),
        };
        let mut flow = pkt.key;
        let mut quoted_tuple = None;
        let result = match transport {
            Transport::Tcp(seg) => {
                let view = TcpView {
                    l3: usize::from(l3),
                    l4: usize::from(l4),
                    header_len: usize::from(seg.header_len),
                    v6: pkt.tuple.src.addr.is_v6(),
                    fix_checksum: meta.checksum != ChecksumState::Partial,
                    gso_size: meta.gso_size,
                };
                self.tcp(&pkt, &seg, frame, &view)
            }
            Transport::Udp { .. } => self.datagram(&pkt, Kind::Udp),
            Transport::Icmp(Icmp::EchoRequest { seq, .. }) => {
                self.datagram(&pkt, Kind::EchoRequest(seq))
            }
            Transport::Icmp(Icmp::EchoReply { seq, .. }) => {
                self.datagram(&pkt, Kind::EchoReply(seq))
            }
            Transport::Icmp(Icmp::Error {
                quoted,
                quoted_l4,
                quoted_seq,
                ..
            }) => {
                // An error waits on, and is judged by, the flow it quotes.
                flow = FlowKey::of(&quoted).0;
                quoted_tuple = Some(quoted);
                let at = (usize::from(l4), usize::from(l4) + usize::from(quoted_l4));
                // The quote ends with the IP packet: Ethernet padding is
                // neither quoted nor covered by the error's checksum.
                let end = (usize::from(l3) + ip_len as usize).min(frame.len());
                self.icmp_error(&pkt, &quoted, quoted_seq, &mut frame[..end], at)
                    .map(|()| None)
            }
            // Neighbour discovery is link-local plumbing the bridge must pass
            // for the hosts on either side to reach each other at all.
            Transport::Icmp(Icmp::NeighborDiscovery) => {
                bump(&mut self.counters.untracked_passed);
                Ok(None)
            }
            // Other ICMP (timestamps, information requests) is not tracked:
            // it passes where a new connection could open.
            Transport::Icmp(Icmp::Other { .. }) => self.permitted(&pkt).map(|()| None),
            // Any other IP protocol: a flow by its addresses (and SCTP's
            // ports), opened where the rules permit, as UDP's
            // (docs/asa-behaviour.md §2.1).
            Transport::Other => self.datagram(&pkt, Kind::Other),
        };
        let source = Some(pkt.tuple.src_host());
        let decided = std::mem::take(&mut self.hits.pending);
        match result {
            Ok(opened) => Judgement {
                decision: Ok(egress),
                flow: Some(flow),
                opened,
                source,
                peer_could_pass: true,
                decided,
            },
            Err(reason) => Judgement {
                decision: Err(reason),
                flow: Some(flow),
                opened: None,
                source,
                decided,
                // A look at the policy that counts no hit.
                peer_could_pass: match quoted_tuple {
                    Some(quoted) if reason == DropReason::IcmpNoConnection => {
                        self.peer_could_hold_quoted(&pkt, &quoted)
                    }
                    _ => self.peer_could_pass(&pkt, reason),
                },
            },
        }
    }

    /// For a frame dropped for want of an entry: could an entry a peer
    /// holds exist for it? Only if the policy permits a connection it
    /// belongs to, as its initiator (a later packet of a connection that
    /// opened across a peer) or as the reply (the reverse direction opened
    /// it). Other drop reasons concern an entry that exists here already.
    ///
    /// A connection its reverse direction would open in a
    /// `tcp-state-bypass` class is never synced (docs/sync.md §1), so no
    /// peer's state can come for it: its packets are judged at once, not
    /// held to expire. (A connection opened in the packet's own direction
    /// in a bypass class would have been picked up here mid-stream.)
    /// Nor can it come for ICMP the access rules deny: echo is a connection
    /// only where it is inspected, and then only a request opens one, which
    /// the rules judge here as a peer would.
    fn peer_could_pass(&self, pkt: &Pkt, reason: DropReason) -> bool {
        if !self.sync.as_ref().is_some_and(|s| s.active()) {
            return false;
        }
        if reason == DropReason::AclDeny
            && proto::is_icmp_of(pkt.tuple.proto, pkt.tuple.src.addr.is_v6())
        {
            return false;
        }
        // The packet that would have opened the connection the other way:
        // for an echo reply, the request (`Probe::reversed`).
        let reverse = || {
            let p = pkt.probe();
            let Some(back) = p.reversed() else {
                return false;
            };
            self.policy.permits(pkt.egress, pkt.ingress, &back)
                && !(p.proto == proto::TCP
                    && self
                        .policy
                        .classify(pkt.egress, pkt.ingress, &back)
                        .options
                        .tcp_state_bypass)
        };
        match reason {
            DropReason::AclDeny => reverse(),
            DropReason::TcpNotSyn => {
                self.policy.permits(pkt.ingress, pkt.egress, &pkt.probe()) || reverse()
            }
            // An echo reply no flow here holds: only a request the other
            // way opens one (ICMP errors are judged by what they quote,
            // `peer_could_hold_quoted`).
            DropReason::IcmpNoConnection => reverse(),
            // A reset outside the window of a connection this node owns
            // and no peer has been on the path of (a host resetting a
            // connection it already closed): this node's state is the
            // newest there is.
            // So is a reset or SYN inside its window, not where the
            // receiver expects it: a peer on the path may have seen the
            // segments that make it exact (or a new connection's SYN).
            DropReason::TcpRstOutOfWindow | DropReason::TcpRstSynInWindow => {
                self.peer_may_be_ahead(&pkt.key)
            }
            // TCP Intercept answered it: it waits for nothing.
            DropReason::TcpIntercepted => false,
            _ => true,
        }
    }

    /// Find the live entry for a key, removing it first if it has expired.
    fn lookup(&mut self, hash: u64, key: &FlowKey, now: Instant) -> Option<FlowId> {
        self.lookup_hinted(hash, key, None, now)
    }

    /// [`lookup`](Self::lookup), trying the batch's `hint` first.
    fn lookup_hinted(
        &mut self,
        hash: u64,
        key: &FlowKey,
        hint: Option<FlowId>,
        now: Instant,
    ) -> Option<FlowId> {
        let id = self.table.find_hinted(hash, key, hint)?;
        if self.is_expired(self.table.get(id), now) {
            self.remove(id, RemoveReason::Timeout);
            return None;
        }
        Some(id)
    }

    fn remove(&mut self, id: FlowId, reason: RemoveReason) -> Entry {
        let entry = self.table.remove(id);
        self.forget(&entry, reason);
        self.sync_removed(id, &entry, reason);
        entry
    }

    /// Account for an entry that left the table.
    fn forget(&mut self, entry: &Entry, reason: RemoveReason) {
        bump(&mut self.counters.conns_removed[reason as usize]);
        self.count_role(entry, false);
        self.log_teardown(entry, reason);
        if matches!(reason, RemoveReason::Timeout | RemoveReason::DeadConnection) {
            self.reset_on_idle(entry);
        }
        let embryonic = entry.tcp_state().is_some_and(|s| s.is_embryonic());
        self.classes
            .closed(entry.class, entry.initiator_host(), embryonic);
    }

    /// `set connection timeout idle … reset`: when an established TCP
    /// connection of such a class idles out, send a RST to each end so
    /// neither keeps a dead connection (docs/asa-behaviour.md §2.2). A
    /// half-closed one expires under `timeout half-closed`, which sends no
    /// RST (the same section), nor does an embryonic or a closed one.
    fn reset_on_idle(&mut self, entry: &Entry) {
        let ProtoState::Tcp(t) = &entry.proto else {
            return;
        };
        if !self.classes.get(entry.class).options.idle_reset
            || !self.may_reset_on_idle(entry)
            || t.state.is_embryonic()
            || t.state.is_half_closed()
            || matches!(
                t.state,
                crate::conntrack::TcpState::TimeWait | crate::conntrack::TcpState::Close
            )
        {
            return;
        }
        for (dir, egress) in [
            (Direction::Reply, entry.ingress[1]),
            (Direction::Orig, entry.ingress[0]),
        ] {
            if self.policy.is_shut(egress) {
                continue;
            }
            let frame = reset::frame(
                entry,
                self.table.macs_of(entry),
                t,
                dir,
                reset::Built::Reset,
            );
            if self.effects.len() >= MAX_PENDING_EFFECTS {
                bump(&mut self.counters.effects_dropped);
                continue;
            }
            bump(&mut self.counters.idle_resets_sent);
            self.effects.push_back(Effect::Transmit { egress, frame });
        }
    }

    /// May a new connection open (or a packet the rules judge alone
    /// pass)? The access-groups, or without them the security levels (see
    /// [`Policy::permits`]). The entries that decided are the frame's to
    /// count, once its judgement is final.
    fn permitted(&mut self, pkt: &Pkt) -> Result<(), DropReason> {
        let d = self
            .policy
            .permits_by(pkt.ingress, pkt.egress, &pkt.probe());
        self.hits.pending.acl = d.hits;
        if d.permit {
            Ok(())
        } else {
            Err(DropReason::AclDeny)
        }
    }

    /// The class slot and options a new connection would get, the slot of
    /// the class that makes it bypass when that is another class, and the
    /// class access-list entries that matched it (counted by
    /// [`opened_in`](Self::opened_in) if it opens).
    fn classify(&self, pkt: &Pkt) -> (SlotId, ConnOptions, Option<SlotId>, ClassEntries) {
        let d = self.policy.classify(pkt.ingress, pkt.egress, &pkt.probe());
        let bypass = d.bypass_class.map(|c| self.classes.slot_for(Some(c)));
        (self.classes.slot_for(d.class), d.options, bypass, d.entries)
    }

    fn level(&self, iface: IfaceId) -> u8 {
        self.config.interfaces[usize::from(iface.0)].security_level
    }

    /// The incarnation of an inspected entry that `id` just created, for
    /// the judgement of the packet that opened it (only a syncing engine
    /// waits for peers on it).
    fn opened(&self, id: FlowId) -> Opened {
        let entry = self.table.get(id);
        (self.sync.is_some() && entry.proto != ProtoState::TcpBypass).then(|| entry.incarnation())
    }

    fn tcp(
        &mut self,
        pkt: &Pkt,
        seg: &TcpSegment,
        frame: &mut [u8],
        view: &TcpView,
    ) -> Result<Opened, DropReason> {
        let (key, src_is_lo, hash) = (pkt.key, pkt.src_is_lo, pkt.hash);
        // docs/asa-behaviour.md §6.3; nothing inside an authentication
        // header is rewritten (RFC 4302 §3.3.3.1, §2.1).
        let clamp = if pkt.ah {
            MssClamp::OFF
        } else {
            self.policy.mss_clamp()
        };
        if let Some(id) = self.lookup_hinted(hash, &key, pkt.hint, pkt.now) {
            // A passive copy may lag behind its connection by any number
            // of changes: the packet waits until a pull refreshes it
            // (docs/sync.md §13), and at the hold deadline is judged on it.
            if self.passive_copy(id) {
                return Err(DropReason::LenientWait);
            }
            let lenient_ok = self.lenient_passes || !self.sync.as_ref().is_some_and(|s| s.active());
            let bypass_teardown = self.config.bypass_rst_teardown;
            // The entry is changed within this block; its kind (for the
            // per-state counts) is settled when the block ends.
            let (dir, class, client, tracked, changed) = {
                let mut entry = self.table.get_mut(id);
                let dir = entry.direction(src_is_lo);
                if entry.ingress[dir.index()] != pkt.ingress {
                    return Err(DropReason::InterfaceMismatch);
                }
                // A SYN on a tuple whose connection is over opens a new
                // one, with or without the header as the rules permit it.
                let ah_reopen = entry.ah() != pkt.ah;
                if ah_reopen {
                    use crate::conntrack::TcpState::{Close, TimeWait};
                    let over = match &entry.proto {
                        ProtoState::Tcp(t) => matches!(t.state, TimeWait | Close),
                        _ => false,
                    };
                    if !over || TcpEvent::classify(seg.flags) != Some(TcpEvent::Syn) {
                        return Err(DropReason::AhMismatch);
                    }
                }
                let (class, client, offset) = (
                    entry.class,
                    entry.initiator_host(),
                    entry.seq_shift(dir.other()),
                );
                if entry.proto == ProtoState::TcpBypass {
                    // tcp-state-bypass: no state machine, window or normalizer.
                    // The flags are still checked, as the tracker checks
                    // them first: no stack sends SYN|FIN or no flags at all,
                    // scans and evasions do (docs/asa-behaviour.md §1.2).
                    if TcpEvent::classify(seg.flags).is_none() {
                        return Err(DropReason::TcpBadFlags);
                    }
                    account(&mut entry, dir, pkt.ip_len, pkt.now, true);
                    // The MSS clamp is no part of the normalizer
                    // (docs/asa-behaviour.md §1.2, §6.3).
                    clamp_mss(clamp, &mut self.counters.normalizer, seg, frame, view);
                    let reset = bypass_teardown && seg.flags.has(TcpFlags::RST);
                    if reset {
                        entry.flags |= conn_flags::reset_by(dir);
                    }
                    drop(entry);
                    if reset {
                        self.remove(id, RemoveReason::Reset);
                    }
                    return Ok(None);
                }
                if entry.intercept_pending()
                    || (entry.intercepted()
                        && dir == Direction::Reply
                        && seg.flags.has(TcpFlags::SYN))
                {
                    drop(entry);
                    return self.intercept_handshake(id, dir, pkt, seg, frame, view);
                }
                let ProtoState::Tcp(track) = &mut entry.proto else {
                    unreachable!("the flow key includes the protocol")
                };
                // The class's normalizer drops (`synack-data drop` and a tcp-map's).
                let map = &self.classes.get(class).options.tcp_normalizer;
                judge(map, track.half[dir.other().index()].mss, seg, frame, view)?;
                // An end acknowledges the other's space as shifted (by
                // randomization or TCP Intercept); the tracker works in each
                // end's own.
                let mut seen = *seg;
                as_received(&mut seen, clamp, map, pkt.ah);
                if offset != 0 {
                    seen.ack = seen.ack - offset;
                    seen.options.sack_right_edge = seen.options.sack_right_edge.map(|e| e - offset);
                }
                let before = *track;
                let tracked = if ah_reopen {
                    Tracked::Reopen
                } else {
                    track.track(dir, &seen)?
                };
                // A segment the tracker lets by without checks or a change of
                // state (a SYN or SYN-ACK in a live connection outside its
                // window, one more than a window behind, a challenge ACK), or
                // that restarts the initiator's space unchecked (a SYN with
                // another ISN in SYN_SENT), proves nothing about an entry that may lag
                // behind its connection: a peer may have seen the old
                // connection's close, or a new one's SYN, on a reused tuple.
                // In a cluster it waits, having changed nothing, for the
                // peer's state (docs/sync.md §4); at the hold deadline the
                // sync layer sets `lenient_passes` and it passes as it would
                // standalone.
                if matches!(
                    tracked,
                    Tracked::Ignored | Tracked::Stale | Tracked::Restarted
                ) && !lenient_ok
                {
                    *track = before;
                    return Err(DropReason::LenientWait);
                }
                (dir, class, client, tracked, *track != before)
            };
            match tracked {
                Tracked::Reopen => {
                    // The old entry goes only for a SYN the rules let open
                    // the new connection: a denied one changes nothing.
                    self.permitted(pkt)?;
                    self.reopened_after = Some(self.table.get(id).created);
                    self.remove(id, RemoveReason::Reopen);
                }
                outcome => {
                    let mut reset = false;
                    let refresh = match outcome {
                        Tracked::Pass { from, to } => {
                            // Who reset it, for the teardown log's
                            // `TCP Reset-I` / `TCP Reset-O`.
                            reset = to == crate::conntrack::TcpState::Close && from != to;
                            if from != to {
                                bump(
                                    &mut self.counters.tcp_transitions[from as usize][to as usize],
                                );
                                if from.is_embryonic() && !to.is_embryonic() {
                                    self.classes.established(class, client);
                                }
                            }
                            true
                        }
                        Tracked::Stale => {
                            bump(&mut self.counters.tcp_stale_passed);
                            false
                        }
                        Tracked::Ignored => {
                            bump(&mut self.counters.tcp_ignored_passed);
                            false
                        }
                        Tracked::Restarted => true,
                        Tracked::Reopen => unreachable!("matched above"),
                    };
                    // One access to the entry for the rest of the packet.
                    let mut entry = self.table.get_mut(id);
                    if reset {
                        entry.flags |= conn_flags::reset_by(dir);
                    }
                    account(&mut entry, dir, pkt.ip_len, pkt.now, refresh);
                    normalize_and_shift(
                        &mut entry,
                        &mut self.counters.normalizer,
                        dir,
                        seg,
                        frame,
                        view,
                        match outcome {
                            Tracked::Pass { .. } if seg.flags.has(TcpFlags::SYN) => Floor::Reset,
                            Tracked::Restarted => Floor::Reset,
                            Tracked::Pass { .. } => Floor::Lower,
                            _ => Floor::Keep,
                        },
                        clamp,
                        &self.classes.get(class).options.tcp_normalizer,
                    );
                    drop(entry);
                    if refresh || changed {
                        self.sync_touch(id, changed, pkt.now);
                    }
                    return Ok(None);
                }
            }
        }
        // docs/asa-behaviour.md §1.5: a bypass class takes any TCP packet the
        // access rules permit, mid-stream or reply-first; otherwise only a SYN
        // creates a connection (asp drop `tcp-not-syn`).
        // A flag combination no stack sends opens nothing, bypass or not
        // (§1.2).
        let Some(event) = TcpEvent::classify(seg.flags) else {
            return Err(DropReason::TcpBadFlags);
        };
        let (class, options, bypass_class, entries) = self.classify(pkt);
        if options.tcp_state_bypass {
            self.permitted(pkt)?;
            self.create(pkt, ProtoState::TcpBypass, class, HalfOpen::Replace)?;
            self.opened_in(entries);
            clamp_mss(clamp, &mut self.counters.normalizer, seg, frame, view);
            if let Some(b) = bypass_class {
                self.classes.hit(b);
            }
            return Ok(None);
        }
        match event {
            TcpEvent::Syn => {
                self.permitted(pkt)?;
                let map = &options.tcp_normalizer;
                judge(map, 0, seg, frame, view)?;
                let mut received = *seg;
                as_received(&mut received, clamp, map, pkt.ah);
                let track = TcpTrack::open(&received);
                // A SYN inside an authentication header cannot be answered
                // with a cookie (the firewall cannot sign it).
                let half_open = if pkt.ah {
                    HalfOpen::Replace
                } else {
                    HalfOpen::Intercept
                };
                let id = match self.create(pkt, ProtoState::Tcp(track), class, half_open) {
                    Err(DropReason::TcpIntercepted) => return self.intercept_syn(pkt, &received),
                    r => r?,
                };
                self.opened_in(entries);
                bump(&mut self.counters.tcp_transitions[0][track.state as usize]);
                // The header's integrity check covers the TCP header
                // (RFC 4302 §3.3.3.1): a connection inside one keeps its
                // sequence numbers.
                if options.random_sequence_number && !pkt.ah {
                    let mut entry = self.table.get_mut(id);
                    entry.seq_offset = seq_offset(self.config.seq_secret, &key, seg.seq.0);
                    bump(&mut self.counters.normalizer.seq_randomized_conns);
                }
                normalize_and_shift(
                    &mut self.table.get_mut(id),
                    &mut self.counters.normalizer,
                    Direction::Orig,
                    seg,
                    frame,
                    view,
                    Floor::Reset,
                    clamp,
                    map,
                );
                Ok(self.opened(id))
            }
            _ => self.intercept_accept(pkt, seg, class, &options, entries),
        }
    }

    /// The ICMP inspections that apply to a packet.
    fn icmp_inspection(&self, pkt: &Pkt) -> IcmpInspection {
        self.policy
            .icmp_inspection(pkt.ingress, pkt.egress, &pkt.probe())
    }
}

/// What the engine needs of a packet beyond its transport header.
struct Pkt {
    tuple: Tuple,
    /// The tuple's flow key, its keyed hash, and whether the sender is
    /// its `lo` side.
    key: FlowKey,
    hash: u64,
    /// Where the batch saw the entry of `key` (checked before use).
    hint: Option<FlowId>,
    src_is_lo: bool,
    /// Source and destination MAC of the frame.
    macs: [[u8; 6]; 2],
    ingress: IfaceId,
    egress: IfaceId,
    ip_len: u32,
    now: Instant,
    /// It carries an authentication header (RFC 4302).
    ah: bool,
    /// An ICMP message of its family: its type and code, which the access
    /// rules match (docs/asa-behaviour.md §2.1).
    icmp: Option<(u8, u8)>,
}

impl Pkt {
    /// The packet as the policy classifier sees it ([`Probe::of_packet`]).
    fn probe(&self) -> Probe {
        Probe::of_packet(&self.tuple, self.ah, self.icmp)
    }
}

/// The inspected flow a packet opened (its incarnation), if it opened one.
type Opened = Option<crate::sync::Incarnation>;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Udp,
    /// With its sequence number.
    EchoRequest(u16),
    /// With its sequence number.
    EchoReply(u16),
    /// Any other IP protocol.
    Other,
}

/// Count a passed packet on its entry; `refresh` moves last-seen (stale and
/// ignored TCP segments pass but do not keep a connection alive).
fn account(entry: &mut Entry, dir: Direction, ip_len: u32, now: Instant, refresh: bool) {
    let d = dir.index();
    entry.packets[d].add(1);
    entry.bytes[d].add(u64::from(ip_len));
    if refresh {
        entry.last_seen = now;
    }
}

#[cfg(test)]
mod tests;
