//! Conntrack state sync: what nodes tell each other about an inspected
//! flow, and the merge rule that makes every node end with the same entry
//! whatever the order, duplication or loss of those messages
//! (docs/sync.md §3).
//!
//! The merge is a join (least upper bound) per key:
//!
//! - A key's value is an *incarnation* (creation time, owner node, conn id)
//!   that is alive with some state, or deleted. A newer incarnation wins over
//!   an older one: a tuple reused after TIME_WAIT, or created on two nodes at
//!   once, ends as the same connection everywhere. For one incarnation a
//!   delete wins over any update, so a late update cannot resurrect it
//!   (a tombstone remembers the delete; see [`Tombstones`]).
//! - Two states of one incarnation join per field: TCP sequence fields by
//!   serial-arithmetic maximum (`end`, `max_end`, `max_ack`), windows by
//!   maximum, per-direction facts (SYN, FIN, FIN acknowledged, data) by
//!   union, the TCP state by progress (re-derived from the joined FIN facts
//!   once the connection is established), last-seen by maximum, lowest TTL
//!   by minimum. Each of these is commutative, associative and idempotent,
//!   so the join is too; `tests` and the cluster simulation check it.
//!
//! Fields fixed when the owner created the entry (orientation, interfaces,
//! class, sequence-randomization offset, MACs) travel with every state and
//! are never changed by a join: a peer treats the flow exactly as the
//! owner decided. One exception: the offset of a connection TCP Intercept
//! opened holds its SYN cookie until the server's SYN-ACK is seen, then
//! the shift of the server's space, and the join keeps the shift
//! (`join_offset`).

use crate::conntrack::TcpTrack;
use crate::conntrack::tcp::TrackFault;
use crate::flow::{FlowKey, proto};

/// Which incarnation of a tuple an entry is. Ordered: a later creation time
/// wins, ties broken by owner node and then conn id, so every node picks
/// the same winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Incarnation {
    /// When the owner created the entry (cluster time, nanoseconds).
    pub created_ns: u64,
    /// The node that created it.
    pub owner: u16,
    /// The owner's connection id.
    pub id: u32,
}

/// The protocol part of a synced flow. Bypass flows have no variant: they
/// are never synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncProto {
    /// TCP with its full tracking state (both halves' windows).
    Tcp(TcpTrack),
    /// UDP.
    Udp,
    /// ICMP or ICMPv6 echo, with the sequence numbers requested and answered.
    IcmpEcho(crate::conntrack::EchoSeqs),
    /// Any other IP protocol (GRE, ESP, SCTP, …; the key's protocol says
    /// which): nothing but the idle timer, as UDP.
    Other,
}

/// Everything a peer needs to treat an inspected flow as its owner does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowState {
    /// Direction-normalised key.
    pub key: FlowKey,
    /// Which incarnation of the key.
    pub inc: Incarnation,
    /// Whether the orig side is `key.lo`.
    pub orig_is_lo: bool,
    /// Connection flags ([`crate::conntrack::entry::conn_flags`], shared bits only).
    pub flags: u8,
    /// Interface index each direction arrives on (`[orig, reply]`); nodes of
    /// one cluster number their data interfaces alike.
    pub ingress: [u8; 2],
    /// Digest of the class (name and options) the owner gave the flow.
    pub class: u64,
    /// Sequence-randomization offset (0: none).
    pub seq_offset: u32,
    /// Lowest TTL seen per direction.
    pub min_ttl: [u8; 2],
    /// MACs of the opening frame (`[src, dst]`).
    pub macs: [[u8; 6]; 2],
    /// Protocol state.
    pub proto: SyncProto,
    /// Last time a packet of the flow passed, on any node (cluster time, ns).
    pub last_seen_ns: u64,
}

/// One change peers must learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncEvent {
    /// Insert, update or refresh: the flow's whole current state. Sending
    /// the whole state (about 150 bytes) rather than a delta makes every
    /// event idempotent and lets any one of them repair an earlier loss.
    Upsert(FlowState),
    /// The incarnation ended (clear conn, reopen, peer-visible removal).
    Delete {
        /// Its key.
        key: FlowKey,
        /// The incarnation deleted; newer ones are unaffected.
        inc: Incarnation,
    },
    /// The sender will no longer keep the receiver's copy of this
    /// incarnation up to date (a backup no longer needed): the copy turns
    /// passive as it stands. Changes no state, so it is no part of the
    /// join (docs/sync.md §13).
    Demote {
        /// Its key.
        key: FlowKey,
        /// The incarnation.
        inc: Incarnation,
    },
}

impl SyncEvent {
    /// The key the event is about.
    pub fn key(&self) -> &FlowKey {
        match self {
            SyncEvent::Upsert(s) => &s.key,
            SyncEvent::Delete { key, .. } | SyncEvent::Demote { key, .. } => key,
        }
    }
}

/// What kind of copy a pull's answer comes from (docs/sync.md §13), which
/// decides whether the asking node may judge packets on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnswerCopy {
    /// A copy the holders do not keep up to date (the director's, a backup
    /// no longer needed, a bulk's): it may lag, and the asker's packets
    /// wait for an answer from the flow's path.
    Passive,
    /// The sender forwards the flow's packets: its state is current, and
    /// the asker sends its changes there from now on.
    Path,
    /// A backup: the flow's holders push the sender every change, at most
    /// `backup_delay` late, so the asker takes the copy whole (as the
    /// backup itself would judge packets on it after a failover) without
    /// waiting for the path's word.
    Backup,
}

/// A brief answer to a pull (docs/sync.md §13): a node on the flow's path
/// whose state has the digest of the copy another node already answered
/// with says so, instead of sending the same state again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirm {
    /// The flow.
    pub key: FlowKey,
    /// Its incarnation.
    pub inc: Incarnation,
    /// [`FlowState::digest`] of the sender's state.
    pub digest: u64,
    /// The sender's last-seen (cluster time, ns), which the digest leaves out.
    pub last_seen_ns: u64,
    /// The other nodes on the flow's path the sender knows of.
    pub holders: PeerSet,
}

/// The highest node id a cluster member may have: node ids are
/// `1..=MAX_NODE_ID`, each with a bit of its own in a [`PeerSet`]. The node
/// file and Raft membership changes refuse any other (docs/ops.md §5).
pub const MAX_NODE_ID: u16 = 64;

/// A set of cluster nodes, as one bit per node id modulo 64: the peers a
/// node sends a flow's changes to, the holders a flow's state names
/// (docs/sync.md §4, §13). Node ids are `1..=MAX_NODE_ID`, so no two
/// members share a bit. Two ids that did (64 apart) would be one node to
/// the set in both directions, which is not harmless: a node taking itself
/// out of a set takes the other out too (that peer stops hearing of the
/// flow), and a peer's news of its holders adds nothing when its bit is
/// this node's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PeerSet(pub u64);

impl PeerSet {
    /// The empty set.
    pub const EMPTY: PeerSet = PeerSet(0);
    /// Every node: a pull asked of every member (a repeated pull, when
    /// the holders this node knew of did not answer with what its packets
    /// need, docs/sync.md §13).
    pub const ALL: PeerSet = PeerSet(u64::MAX);

    /// The set of one node.
    pub const fn of(node: u16) -> PeerSet {
        PeerSet(1 << (node % 64))
    }

    /// Add a node.
    pub fn insert(&mut self, node: u16) {
        self.0 |= PeerSet::of(node).0;
    }

    /// Take a node out (and any node sharing its bit).
    pub fn remove(&mut self, node: u16) {
        self.0 &= !PeerSet::of(node).0;
    }

    /// Whether the set may name `node`.
    pub const fn contains(self, node: u16) -> bool {
        self.0 & PeerSet::of(node).0 != 0
    }

    /// The union.
    pub const fn union(self, other: PeerSet) -> PeerSet {
        PeerSet(self.0 | other.0)
    }

    /// The nodes of this set not in `other`.
    pub const fn minus(self, other: PeerSet) -> PeerSet {
        PeerSet(self.0 & !other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Why a peer's flow state was refused (the peer's fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyncReject {
    /// The key is not normalised (lo above hi).
    #[error("flow key not normalised")]
    KeyOrder,
    /// The protocol state does not match the key's protocol.
    #[error("protocol state does not match the key's protocol {0}")]
    ProtoMismatch(u8),
    /// An interface index this node does not have, or both the same.
    #[error("interface indexes {0}/{1} are not two of this node's interfaces")]
    Interface(u8, u8),
    /// TCP state that no tracker produces (state NONE, scale above 14).
    #[error("impossible TCP state")]
    TcpState,
    /// A TCP window larger than its side could advertise with its scale.
    #[error("TCP window beyond what its scale allows")]
    TcpWindow,
    /// A TCP right edge further past what its side sent than the other
    /// side's largest window.
    #[error("TCP window edge beyond the other side's window")]
    TcpEdge,
    /// TCP facts or state that contradict which sides' SYNs were seen.
    #[error("TCP state inconsistent with the SYNs seen")]
    TcpSynSeen,
}

impl SyncReject {
    /// How many reasons there are (for counters indexed by
    /// [`index`](Self::index)).
    pub const COUNT: usize = 7;

    /// Every reason's label, in [`index`](Self::index) order: a bounded
    /// set, fit for a metric label.
    pub const LABELS: [&'static str; Self::COUNT] = [
        "key_order",
        "proto_mismatch",
        "interface",
        "tcp_state",
        "tcp_window",
        "tcp_edge",
        "tcp_syn_seen",
    ];

    /// The reason's place in [`LABELS`](Self::LABELS).
    pub const fn index(self) -> usize {
        match self {
            SyncReject::KeyOrder => 0,
            SyncReject::ProtoMismatch(_) => 1,
            SyncReject::Interface(..) => 2,
            SyncReject::TcpState => 3,
            SyncReject::TcpWindow => 4,
            SyncReject::TcpEdge => 5,
            SyncReject::TcpSynSeen => 6,
        }
    }

    /// The reason's label (no value from the message in it).
    pub const fn label(self) -> &'static str {
        Self::LABELS[self.index()]
    }
}

/// FNV-1a (64-bit) over `bytes`, continuing from `h`: fixed by its
/// definition, so every node and build computes the same digest.
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl FlowState {
    /// A 64-bit digest of every field but last-seen (which moves with
    /// every packet and is sent only now and then): two states with one
    /// digest treat the flow's packets alike. A brief pull answer
    /// ([`Confirm`]) names the state it stands for by it.
    pub fn digest(&self) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325;
        for e in [self.key.lo, self.key.hi] {
            h = fnv1a(h, &e.addr.0);
            h = fnv1a(h, &e.port.to_le_bytes());
        }
        h = fnv1a(h, &[self.key.proto]);
        h = fnv1a(h, &self.key.vlan.to_le_bytes());
        h = fnv1a(h, &self.inc.created_ns.to_le_bytes());
        h = fnv1a(h, &self.inc.owner.to_le_bytes());
        h = fnv1a(h, &self.inc.id.to_le_bytes());
        h = fnv1a(h, &[u8::from(self.orig_is_lo), self.flags]);
        h = fnv1a(h, &self.ingress);
        h = fnv1a(h, &self.class.to_le_bytes());
        h = fnv1a(h, &self.seq_offset.to_le_bytes());
        h = fnv1a(h, &self.min_ttl);
        h = fnv1a(h, &self.macs[0]);
        h = fnv1a(h, &self.macs[1]);
        match self.proto {
            SyncProto::Tcp(t) => {
                h = fnv1a(h, &[0, t.state as u8, u8::from(t.simultaneous)]);
                for half in t.half {
                    for w in [half.end.0, half.max_end.0, half.max_win, half.max_ack.0] {
                        h = fnv1a(h, &w.to_le_bytes());
                    }
                    h = fnv1a(h, &half.mss.to_le_bytes());
                    h = fnv1a(h, &[half.scale, half.flags]);
                }
            }
            SyncProto::Udp => h = fnv1a(h, &[1]),
            SyncProto::Other => h = fnv1a(h, &[3]),
            SyncProto::IcmpEcho(e) => {
                h = fnv1a(h, &[2]);
                h = fnv1a(h, &e.newest.to_le_bytes());
                for w in e.requested.iter().chain(&e.answered) {
                    h = fnv1a(h, &w.to_le_bytes());
                }
            }
        }
        h
    }

    /// Check what a peer sent before it reaches the table.
    pub fn validate(&self, interfaces: usize) -> Result<(), SyncReject> {
        let (lo, hi) = (self.key.lo, self.key.hi);
        if lo > hi {
            return Err(SyncReject::KeyOrder);
        }
        let ok = match self.proto {
            SyncProto::Tcp(_) => self.key.proto == proto::TCP,
            SyncProto::Udp => self.key.proto == proto::UDP,
            SyncProto::IcmpEcho(_) => proto::is_icmp_of(self.key.proto, lo.addr.is_v6()),
            // What the parser makes an `other` flow of: neither TCP nor
            // UDP, nor the ICMP of the key's family, its ports 0 unless
            // the protocol has them (SCTP).
            SyncProto::Other => {
                !matches!(self.key.proto, proto::TCP | proto::UDP)
                    && !proto::is_icmp_of(self.key.proto, lo.addr.is_v6())
                    && (proto::has_ports(self.key.proto) || (lo.port, hi.port) == (0, 0))
            }
        };
        if !ok {
            return Err(SyncReject::ProtoMismatch(self.key.proto));
        }
        let [a, b] = self.ingress;
        if a == b || usize::from(a) >= interfaces || usize::from(b) >= interfaces {
            return Err(SyncReject::Interface(a, b));
        }
        if let SyncProto::Tcp(t) = &self.proto {
            // What every tracker keeps true (`TcpTrack::check`): a state
            // that breaks it would be joined into a live entry, whose
            // windows only grow, and could let any sequence number by.
            t.check().map_err(|f| match f {
                TrackFault::State => SyncReject::TcpState,
                TrackFault::Window => SyncReject::TcpWindow,
                TrackFault::Edge => SyncReject::TcpEdge,
                TrackFault::SynSeen => SyncReject::TcpSynSeen,
            })?;
        }
        Ok(())
    }

    /// Pull every TCP window back to what its side can advertise with its
    /// scale (65535 << scale, RFC 7323 §2.3); whether one was beyond.
    /// Earlier releases let the growth inferred from data past the edge
    /// exceed it, so a member running one sends such states in good faith:
    /// clamped, they are as strict as any this node makes, where refusing
    /// them would leave its flows unknown here.
    pub fn clamp_windows(&mut self) -> bool {
        let SyncProto::Tcp(t) = &mut self.proto else {
            return false;
        };
        let mut clamped = false;
        for h in &mut t.half {
            let most = crate::conntrack::tcp::max_window(h.scale);
            if h.max_win > most {
                h.max_win = most;
                clamped = true;
            }
        }
        clamped
    }

    /// Join `other`, a state of the same key and incarnation, into `self`.
    /// Commutative, associative and idempotent on the joined fields.
    pub fn join(&mut self, other: &FlowState) {
        debug_assert_eq!(self.inc, other.inc);
        // Only the flags every node shares join: a peer cannot set this
        // node's own view (the resets it saw, say) through its state.
        // TCP Intercept: the shift of the server's space, once a node saw
        // its SYN-ACK, replaces the cookie (`join_offset`).
        let answered = |s: &FlowState| match &s.proto {
            SyncProto::Tcp(t) => t.half[1].flags & crate::conntrack::tcp::half_flags::SYN_SEEN != 0,
            _ => false,
        };
        let intercepted =
            (self.flags | other.flags) & crate::conntrack::entry::conn_flags::INTERCEPTED != 0;
        if intercepted {
            self.seq_offset = join_offset(
                (answered(self), self.seq_offset),
                (answered(other), other.seq_offset),
            )
            .1;
        }
        self.flags |= other.flags & crate::conntrack::entry::conn_flags::SHARED;
        self.last_seen_ns = self.last_seen_ns.max(other.last_seen_ns);
        for d in 0..2 {
            self.min_ttl[d] = self.min_ttl[d].min(other.min_ttl[d]);
        }
        match (&mut self.proto, &other.proto) {
            (SyncProto::Tcp(a), SyncProto::Tcp(b)) => a.join(b),
            (SyncProto::IcmpEcho(a), SyncProto::IcmpEcho(b)) => a.join(b),
            _ => {}
        }
    }
}

/// The seq-offset join rule for intercepted connections
/// ([`FlowState::join`]): a state whose
/// server answered holds the shift, one whose server has not holds the
/// cookie; the shift wins. Between two of a kind (which agree on every
/// node: the cookie is fixed at creation, the shift by the server's ISN)
/// the larger, so that the join stays a join whatever it is given.
fn join_offset(a: (bool, u32), b: (bool, u32)) -> (bool, u32) {
    a.max(b)
}

/// The value of one key as the join sees it: an incarnation, alive with a
/// state or deleted. Used by tests and the cluster simulation to state
/// convergence; the engine applies the same rule to its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyValue {
    /// The incarnation lives with this state.
    Alive(FlowState),
    /// The incarnation was deleted.
    Deleted(Incarnation),
}

impl KeyValue {
    /// The incarnation.
    pub fn inc(&self) -> Incarnation {
        match self {
            KeyValue::Alive(s) => s.inc,
            KeyValue::Deleted(i) => *i,
        }
    }

    /// The join of two values of one key.
    pub fn join(self, other: KeyValue) -> KeyValue {
        use std::cmp::Ordering::*;
        match self.inc().cmp(&other.inc()) {
            Greater => self,
            Less => other,
            Equal => match (self, other) {
                (KeyValue::Alive(mut a), KeyValue::Alive(b)) => {
                    a.join(&b);
                    KeyValue::Alive(a)
                }
                (d @ KeyValue::Deleted(_), _) | (_, d @ KeyValue::Deleted(_)) => d,
            },
        }
    }

    /// The value after applying one event (a demote changes no value).
    pub fn apply(this: Option<KeyValue>, event: &SyncEvent) -> Option<KeyValue> {
        let incoming = match event {
            SyncEvent::Upsert(s) => KeyValue::Alive(*s),
            SyncEvent::Delete { inc, .. } => KeyValue::Deleted(*inc),
            // Who keeps a copy up to date, not the value.
            SyncEvent::Demote { .. } => return this,
        };
        Some(match this {
            Some(v) => v.join(incoming),
            None => incoming,
        })
    }
}

/// Deleted incarnations, remembered so that a late update of one cannot
/// bring it back. Bounded in count and age: an update older than
/// [`TOMBSTONE_TTL_NS`] has long been superseded by a refresh or a bulk
/// sync, so forgetting the tombstone then is safe.
#[derive(Debug)]
pub struct Tombstones {
    map: hashbrown::HashMap<FlowKey, (Incarnation, u64), ahash::RandomState>,
    order: std::collections::VecDeque<(u64, FlowKey)>,
}

/// How long a tombstone is kept (60 s, the longest a QUIC resend or bulk
/// sync in flight can take before the peer is declared down and resynced).
pub const TOMBSTONE_TTL_NS: u64 = 60_000_000_000;

/// Most tombstones kept; beyond it the oldest go first (counted by the caller).
pub const MAX_TOMBSTONES: usize = 262_144;

impl Default for Tombstones {
    fn default() -> Self {
        Tombstones::new(ahash::RandomState::with_seeds(1, 2, 3, 4))
    }
}

impl Tombstones {
    /// No tombstones, keyed by `hasher` (derived from the node's secret:
    /// the keys are flows a peer, and through it a sender, chose).
    pub fn new(hasher: ahash::RandomState) -> Self {
        Tombstones {
            map: hashbrown::HashMap::with_hasher(hasher),
            order: std::collections::VecDeque::new(),
        }
    }

    /// Remember that `inc` of `key` was deleted at `now_ns`. Returns whether
    /// an older tombstone had to be forgotten to make room.
    pub fn insert(&mut self, key: FlowKey, inc: Incarnation, now_ns: u64) -> bool {
        let keep = match self.map.get(&key) {
            Some((old, _)) if *old > inc => *old,
            _ => inc,
        };
        self.map.insert(key, (keep, now_ns));
        self.order.push_back((now_ns, key));
        let mut evicted = false;
        // The order queue holds a record per insert, so repeated deletes of
        // one key (a faulty or hostile peer's) would grow it without bound
        // while the map stays small: it is bounded too.
        while self.map.len() > MAX_TOMBSTONES || self.order.len() > 2 * MAX_TOMBSTONES {
            evicted |= self.pop_oldest();
        }
        evicted
    }

    fn pop_oldest(&mut self) -> bool {
        let Some((at, key)) = self.order.pop_front() else {
            return false;
        };
        // Only the newest record of a key removes it.
        if self.map.get(&key).is_some_and(|(_, t)| *t == at) {
            self.map.remove(&key);
            return true;
        }
        false
    }

    /// Forget tombstones older than [`TOMBSTONE_TTL_NS`].
    pub fn expire(&mut self, now_ns: u64) {
        while let Some(&(at, _)) = self.order.front() {
            if now_ns.saturating_sub(at) < TOMBSTONE_TTL_NS {
                break;
            }
            self.pop_oldest();
        }
    }

    /// Whether an upsert of `inc` is superseded by a delete.
    pub fn buries(&self, key: &FlowKey, inc: &Incarnation) -> bool {
        self.map.get(key).is_some_and(|(dead, _)| inc <= dead)
    }

    /// Tombstones held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_join_of_offsets_prefers_the_shift_and_is_a_join() {
        let vals = [(false, 5), (false, 9), (true, 1), (true, 7)];
        for a in vals {
            assert_eq!(join_offset(a, a), a);
            for b in vals {
                assert_eq!(join_offset(a, b), join_offset(b, a));
                for c in vals {
                    assert_eq!(
                        join_offset(join_offset(a, b), c),
                        join_offset(a, join_offset(b, c))
                    );
                }
            }
        }
        assert_eq!(join_offset((false, 9), (true, 1)), (true, 1));
    }

    use super::*;
    use crate::conntrack::TcpState;
    use crate::conntrack::tcp::{TcpHalf, half_flags};
    use crate::flow::{Addr, Direction, Endpoint};
    use crate::seq::SeqNumber;
    use proptest::prelude::*;

    fn key() -> FlowKey {
        FlowKey {
            lo: Endpoint {
                addr: Addr::v4([198, 18, 0, 1]),
                port: 1000,
            },
            hi: Endpoint {
                addr: Addr::v4([198, 18, 1, 1]),
                port: 80,
            },
            proto: proto::TCP,
            vlan: 0,
        }
    }

    /// Every node id a member may have has a bit of its own: taking this
    /// node out of a set never takes another member out with it.
    #[test]
    fn node_ids_1_to_64_each_have_a_bit_of_their_own() {
        let mut all = PeerSet::EMPTY;
        for id in 1..=MAX_NODE_ID {
            assert!(!all.contains(id), "node {id} shares a bit");
            all.insert(id);
        }
        assert_eq!(all, PeerSet::ALL);
        for id in 1..=MAX_NODE_ID {
            let mut others = all;
            others.remove(id);
            assert_eq!(others.0.count_ones(), 63, "removing node {id}");
        }
    }

    /// A peer that deletes one key over and over (within the 60 s a
    /// tombstone lives) once grew the order queue by a record per delete.
    #[test]
    fn repeated_deletes_of_one_key_keep_the_tombstone_queue_bounded() {
        let mut t = Tombstones::default();
        let inc = |n: u64| Incarnation {
            created_ns: n,
            owner: 1,
            id: 1,
        };
        for n in 0..(3 * MAX_TOMBSTONES as u64) {
            t.insert(key(), inc(n), 1_000 + n);
        }
        assert_eq!(t.len(), 1);
        assert!(t.order.len() <= 2 * MAX_TOMBSTONES, "{}", t.order.len());
        // The newest delete still buries what it should.
        let last = 3 * MAX_TOMBSTONES as u64 - 1;
        assert!(t.buries(&key(), &inc(last)));
        assert!(!t.buries(&key(), &inc(last + 1)));
    }

    /// Views of one connection as different nodes could hold them: all
    /// sequence values within a window of one base, so serial order is a
    /// total order among them (as it is for any real connection).
    fn half(base: u32) -> impl Strategy<Value = TcpHalf> {
        (
            0u32..100_000,
            0u32..100_000,
            1u32..1 << 20,
            0u32..100_000,
            any::<u8>(),
            any::<bool>(),
        )
            .prop_map(move |(e, me, w, a, flags, init)| {
                if !init {
                    return TcpHalf::default();
                }
                // Whether the SYN offered scaling is a fact of the SYN, the
                // same in every node's view.
                let flags = (flags & !half_flags::WSCALE)
                    | if base & 0x100 != 0 {
                        half_flags::WSCALE
                    } else {
                        0
                    };
                TcpHalf {
                    end: SeqNumber(base.wrapping_add(e)),
                    max_end: SeqNumber(base.wrapping_add(me)),
                    max_win: w,
                    max_ack: SeqNumber(base.wrapping_add(a)),
                    mss: 1460,
                    // Every node saw the same SYN: the offer is one value.
                    scale: if flags & half_flags::WSCALE != 0 {
                        7
                    } else {
                        0
                    },
                    flags: flags | half_flags::SYN_SEEN,
                }
            })
    }

    fn state(base: u32) -> impl Strategy<Value = FlowState> {
        (
            half(base),
            half(base.wrapping_add(7_777_777)),
            0usize..10,
            any::<u64>(),
            any::<[u8; 2]>(),
            0u8..8,
        )
            .prop_map(|(mut h0, mut h1, st, seen, ttl, flags)| {
                // As the tracker leaves it: scaling only if both SYNs offered it.
                let both = |h: &TcpHalf| h.max_win != 0 && h.flags & half_flags::WSCALE != 0;
                if h0.max_win != 0 && h1.max_win != 0 && !(both(&h0) && both(&h1)) {
                    h0.scale = 0;
                    h1.scale = 0;
                }
                FlowState {
                    key: key(),
                    inc: Incarnation {
                        created_ns: 5,
                        owner: 1,
                        id: 9,
                    },
                    orig_is_lo: true,
                    flags,
                    ingress: [0, 1],
                    class: 42,
                    seq_offset: 0,
                    min_ttl: ttl,
                    macs: [[0; 6]; 2],
                    proto: SyncProto::Tcp(TcpTrack {
                        state: TcpState::ALL[st.max(1)],
                        simultaneous: false,
                        half: [h0, h1],
                        synack_data: 0,
                    }),
                    last_seen_ns: seen >> 1,
                }
            })
            .prop_map(|mut s| {
                // The state a tracker holds always agrees with its FIN facts;
                // a join with itself derives it.
                let copy = s;
                s.join(&copy);
                s
            })
    }

    fn joined(a: &FlowState, b: &FlowState) -> FlowState {
        let mut x = *a;
        x.join(b);
        x
    }

    proptest! {
        /// A peer's state sets only the flags nodes share: the resets this
        /// node saw are its own (they name the teardown it logs).
        #[test]
        fn a_peers_own_view_flags_do_not_join(a in state(7), extra in any::<u8>()) {
            let mut peer = a;
            peer.flags |= extra;
            let j = joined(&a, &peer);
            prop_assert_eq!(j.flags, a.flags | (extra & crate::conntrack::entry::conn_flags::SHARED));
        }

        #[test]
        fn join_is_commutative_associative_and_idempotent(
            base in any::<u32>(),
            (a, b, c) in any::<u32>().prop_flat_map(|b| (state(b), state(b), state(b))),
        ) {
            let _ = base;
            prop_assert_eq!(joined(&a, &b), joined(&b, &a));
            prop_assert_eq!(joined(&joined(&a, &b), &c), joined(&a, &joined(&b, &c)));
            let ab = joined(&a, &b);
            prop_assert_eq!(joined(&ab, &ab), ab);
            prop_assert_eq!(joined(&ab, &a), ab, "absorbs what it joined");
        }

        /// A reset a node refuses as behind the acknowledged edge stays
        /// behind it in any join short of the close: a held one still
        /// refused at its deadline is counted refused, not expired.
        #[test]
        fn a_reset_behind_the_acknowledged_edge_stays_behind_in_any_join(
            (a, b, off) in any::<u32>().prop_flat_map(|b| (state(b), state(b), 0u32..100_000)),
            reply in any::<bool>(),
        ) {
            let track = |s: &FlowState| match s.proto {
                SyncProto::Tcp(t) => t,
                _ => unreachable!("TCP states only"),
            };
            let dir = if reply { Direction::Reply } else { Direction::Orig };
            let sender = track(&a).half[dir.index()];
            let rst = crate::packet::TcpSegment {
                seq: SeqNumber(sender.end.0.wrapping_sub(50_000).wrapping_add(off)),
                ack: SeqNumber(0),
                flags: crate::packet::TcpFlags(crate::packet::TcpFlags::RST),
                window: 0,
                options: crate::packet::TcpOptions::default(),
                payload_len: 0,
                header_len: 20,
            };
            // Short of the close (a peer that saw the exact reset), where
            // stragglers pass.
            let j = track(&joined(&a, &b));
            if track(&a).rst_behind(dir, &rst) && j.state != TcpState::Close {
                prop_assert!(j.rst_behind(dir, &rst));
                prop_assert_eq!(track(&joined(&b, &a)), j);
            }
        }

        #[test]
        fn key_values_converge_in_any_order(
            events in any::<u32>().prop_flat_map(|b| proptest::collection::vec(
                (state(b), 0u64..3, any::<bool>()), 1..8)),
            seed in any::<u64>(),
        ) {
            let evs: Vec<SyncEvent> = events
                .iter()
                .map(|(s, generation, del)| {
                    let mut s = *s;
                    s.inc.created_ns += generation;
                    if *del {
                        SyncEvent::Delete { key: s.key, inc: s.inc }
                    } else {
                        SyncEvent::Upsert(s)
                    }
                })
                .collect();
            let fold = |order: &[usize]| {
                order.iter().fold(None, |v, &i| KeyValue::apply(v, &evs[i]))
            };
            let forward: Vec<usize> = (0..evs.len()).collect();
            let mut shuffled = forward.clone();
            let mut r = seed;
            for i in (1..shuffled.len()).rev() {
                r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (r >> 33) as usize % (i + 1));
            }
            // Duplicates change nothing either.
            let mut dup = shuffled.clone();
            dup.extend(forward.iter().rev());
            prop_assert_eq!(fold(&forward), fold(&shuffled));
            prop_assert_eq!(fold(&forward), fold(&dup));
        }
    }
}
