//! Class slots: the connection options each live connection was given by
//! the policy in force when it opened, with the live counts that connection
//! limits are enforced against.
//!
//! As on the ASA, a policy change governs new connections only: an entry
//! keeps the slot it was created with until it is cleared, so a slot
//! outlives the policy that made it while connections still use it.

use hashbrown::HashMap;

use crate::conntrack::FlowId;
use crate::conntrack::evict::EvictQueue;
use crate::flow::Host;
use crate::policy::ast::ServiceScope;
use crate::policy::compile::{ConnOptions, Policy};
use crate::verdict::DropReason;

pub use crate::class_slot::{DEFAULT_SLOT, SlotId};

/// Stale items a class's half-open queue may hold beyond its live entries
/// (see [`EvictQueue::tidy`]).
const CLASS_QUEUE_SLACK: usize = 64;
/// Stale items a client's half-open queue may hold beyond its live
/// entries: there may be a queue per client, so it is kept small.
const CLIENT_QUEUE_SLACK: usize = 8;

/// Live connections of one client (orig source address) in one slot.
#[derive(Debug, Clone, Default)]
struct ClientCount {
    conns: u32,
    embryonic: u32,
    /// Its half-open connections in the order they opened, kept where the
    /// class has `per-client-embryonic-max`: the oldest makes room for a
    /// new one at that limit.
    half_open: EvictQueue<(FlowId, u32)>,
}

/// One class as its connections see it.
#[derive(Debug, Clone)]
pub struct ClassSlot {
    /// `policy-map/class`, or `default`.
    pub name: String,
    /// Where the class's policy-map is applied (the default slot and a
    /// peer's class not known here: global). A class is a name in a
    /// scope: one policy-map applied in two scopes is two classes.
    pub scope: ServiceScope,
    /// Options given to its connections.
    pub options: ConnOptions,
    /// Live connections.
    pub conns: u32,
    /// Live embryonic (handshake not complete) TCP connections.
    pub embryonic: u32,
    /// Connections created in this slot since it was made, and those this
    /// class made bypass while another gave them limits (`show
    /// service-policy` hits).
    pub created: u64,
    /// Connections refused by this slot's limits.
    pub limit_drops: u64,
    /// What dead connection detection did to its connections.
    pub dcd: DcdCounts,
    /// Digest of name and options: how peers name the class of a synced
    /// flow (the same policy gives the same digest on every node).
    pub digest: u64,
    /// A class known here only by a peer's digest (a peer runs a policy
    /// version this node has not applied yet, or no longer runs): default
    /// options until a policy with that class is installed here.
    pub from_peer: bool,
    per_client: HashMap<Host, ClientCount, ahash::RandomState>,
    /// Its half-open connections in the order they opened: the oldest makes
    /// room for a new one at `embryonic-conn-max`.
    half_open: EvictQueue<(FlowId, u32)>,
    /// Earlier versions of the class (the same name and scope, other
    /// options) whose connections still live: a class of the current
    /// policy counts them against its limits as its own.
    older: Vec<SlotId>,
}

impl ClassSlot {
    /// Items in its half-open queue, stale ones included (for tests of
    /// its bound).
    pub fn half_open_queued(&self) -> usize {
        self.half_open.len()
    }

    fn new(
        name: String,
        scope: ServiceScope,
        options: ConnOptions,
        hasher: &ahash::RandomState,
    ) -> Self {
        ClassSlot {
            digest: class_digest(&name, &scope, &options),
            from_peer: false,
            name,
            scope,
            options,
            conns: 0,
            embryonic: 0,
            created: 0,
            limit_drops: 0,
            dcd: DcdCounts::default(),
            per_client: HashMap::with_hasher(hasher.clone()),
            half_open: EvictQueue::default(),
            older: Vec::new(),
        }
    }

    fn tracks_clients(&self) -> bool {
        self.options.per_client_max > 0 || self.options.per_client_embryonic_max > 0
    }
}

/// A digest of a class that every node computes alike (fixed SipHash keys:
/// it names a class, it guards nothing). An interface's class hashes the
/// interface's name too; a global class hashes none, so its digest is the
/// one nodes computed before classes had scopes.
fn class_digest(name: &str, scope: &ServiceScope, o: &ConnOptions) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0x7261_6d70, 0x6172_7421);
    name.hash(&mut h);
    if let ServiceScope::Interface(nameif) = scope {
        nameif.hash(&mut h);
    }
    (
        o.conn_max,
        o.embryonic_conn_max,
        o.per_client_max,
        o.per_client_embryonic_max,
        o.random_sequence_number,
        o.timeout_embryonic,
        o.timeout_half_closed,
        o.timeout_idle,
        o.idle_reset,
        o.tcp_state_bypass,
    )
        .hash(&mut h);
    // A class without a tcp-map keeps the digest it had before maps
    // existed, so nodes of both versions name it alike.
    if o.tcp_normalizer.is_custom() {
        o.tcp_normalizer.hash(&mut h);
    }
    // Likewise a class without dead connection detection.
    if let Some(dcd) = o.dcd {
        dcd.hash(&mut h);
    }
    h.finish()
}

/// Whose oldest half-open connection a new one replaces at a half-open
/// limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfOpenOf {
    /// The class's (`embryonic-conn-max`).
    Class,
    /// The new connection's client's, within the class
    /// (`per-client-embryonic-max`).
    Client,
}

impl HalfOpenOf {
    /// The drop reason when there is none to replace.
    pub fn limit(self) -> DropReason {
        match self {
            HalfOpenOf::Class => DropReason::EmbryonicConnLimit,
            HalfOpenOf::Client => DropReason::PerClientEmbryonicLimit,
        }
    }
}

/// What a class's limits make of a new connection
/// (docs/asa-behaviour.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Within every limit.
    Admit,
    /// A half-open connection at a half-open limit: it opens in place of
    /// the oldest half-open connection of the class, or of its client in
    /// the class, which is evicted.
    Replace(HalfOpenOf),
    /// Past `conn-max` or `per-client-max`: refused.
    Refuse(DropReason),
}

/// A policy whose classes need more class slots than are free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the policy needs {needed} new class slot(s) and {free} are free: connections of earlier \
     policies hold the rest; clear them (clear conn) and apply the policy again"
)]
pub struct SlotsExhausted {
    /// Slots the policy's new classes need.
    pub needed: usize,
    /// Slot ids free.
    pub free: usize,
}

/// Most slots for classes known only by a peer's digest: a peer running
/// another policy version names a handful; a peer sending many more is
/// not to grow this table without bound.
pub const MAX_PEER_CLASSES: usize = 256;

/// Most class names whose released slots' counts are kept (see
/// [`ClassTable::retired`]): a policy has a few hundred classes at most, so
/// this covers many policy revisions; beyond it the name updated least
/// recently goes, one without a live slot first.
pub const MAX_RETIRED_NAMES: usize = 1024;

/// What dead connection detection did to a class's connections
/// (`set connection timeout dcd`, docs/asa-behaviour.md §2.2), as `show
/// service-policy` prints it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DcdCounts {
    /// Probes sent to the initiators (the ASA's `client-probe`).
    pub client_probes: u64,
    /// Probes sent to the responders (`server-probe`).
    pub server_probes: u64,
    /// Connections removed because an end did not answer
    /// (`conn-expiration`).
    pub expired: u64,
}

impl DcdCounts {
    fn add(&mut self, o: &DcdCounts) {
        self.client_probes = self.client_probes.saturating_add(o.client_probes);
        self.server_probes = self.server_probes.saturating_add(o.server_probes);
        self.expired = self.expired.saturating_add(o.expired);
    }
}

/// What the released slots of one class name had counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetiredCounts {
    /// Their [`ClassSlot::created`], summed.
    pub created: u64,
    /// Their [`ClassSlot::limit_drops`], summed.
    pub limit_drops: u64,
    /// Their [`ClassSlot::dcd`], summed.
    pub dcd: DcdCounts,
}

/// What one class has counted, over all its versions: how `show
/// service-policy` and the class metrics describe it, from one sum
/// ([`ClassTable::counts_by_class`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassCounts {
    /// Live connections of its live slots: what its `conn-max` counts.
    pub conns: u64,
    /// Live embryonic connections of its live slots: what its
    /// `embryonic-conn-max` counts.
    pub embryonic: u64,
    /// Connections created in its slots, live and released (hits).
    pub created: u64,
    /// Connections its slots' limits refused, live and released.
    pub limit_drops: u64,
    /// Dead connection detection in its slots, live and released.
    pub dcd: DcdCounts,
}

/// All slots, and which slot each class of the current policy uses.
#[derive(Debug, Clone)]
pub struct ClassTable {
    slots: Vec<Option<ClassSlot>>,
    /// Slot of class `i` of the current policy.
    current: Vec<SlotId>,
    free: Vec<u16>,
    /// Keys the per-client maps (client addresses are the sender's to choose).
    hasher: ahash::RandomState,
    /// Counts of released slots by class (name and scope), the class
    /// updated least recently first: a class whose options change gets a new slot, and
    /// when the old one is released its counts must not leave the class's
    /// totals, or the exported counters would go down (Prometheus reads
    /// that as a restart).
    retired: Vec<(String, ServiceScope, RetiredCounts)>,
}

impl ClassTable {
    /// A table with only the default slot, its per-client maps keyed by
    /// `hasher` (derived from the node's secret).
    pub fn new(hasher: ahash::RandomState) -> Self {
        ClassTable {
            slots: vec![Some(ClassSlot::new(
                "default".into(),
                ServiceScope::Global,
                ConnOptions::default(),
                &hasher,
            ))],
            current: Vec::new(),
            free: Vec::new(),
            hasher,
            retired: Vec::new(),
        }
    }

    /// Make slots for a new policy's classes. Slots of the previous policy
    /// stay while connections use them. Refused, with nothing changed, when
    /// the new classes need more slot ids than are free: every one of the
    /// 65,536 is held by the current policy or by live connections of
    /// earlier ones (the policy language's limits keep a policy to a few
    /// hundred classes; `clear conn` frees the rest).
    pub fn install(&mut self, policy: &Policy) -> Result<(), SlotsExhausted> {
        self.fits(policy)?;
        let old = std::mem::take(&mut self.current);
        for class in policy.classes() {
            // The same class (name and scope) with the same options keeps
            // its slot, so its limits go on counting the connections it
            // already has.
            let same = self.slots.iter().position(|s| {
                s.as_ref().is_some_and(|s| {
                    s.name == class.name && s.scope == class.scope && s.options == class.options
                })
            });
            if let Some(i) = same {
                self.current.push(SlotId(i as u16));
                continue;
            }
            // A class peers' flows already named: their entries take its
            // options now, and keep the digest they share with the peers.
            let digest = class_digest(&class.name, &class.scope, &class.options);
            let named = self.slots.iter().position(|s| {
                s.as_ref()
                    .is_some_and(|s| s.from_peer && s.digest == digest)
            });
            if let Some(i) = named {
                if let Some(slot) = self.slots[i].as_mut() {
                    slot.name = class.name.clone();
                    slot.scope = class.scope.clone();
                    slot.options = class.options;
                    slot.from_peer = false;
                }
                self.current.push(SlotId(i as u16));
                continue;
            }
            let slot = ClassSlot::new(
                class.name.clone(),
                class.scope.clone(),
                class.options,
                &self.hasher,
            );
            let id = match self.free.pop() {
                Some(i) => {
                    self.slots[usize::from(i)] = Some(slot);
                    i
                }
                None => {
                    // Counted above: an id is free.
                    let i = u16::try_from(self.slots.len()).unwrap_or(u16::MAX);
                    self.slots.push(Some(slot));
                    i
                }
            };
            self.current.push(SlotId(id));
        }
        for s in old {
            self.release_if_unused(s);
        }
        self.link_versions();
        Ok(())
    }

    /// Point each class of the current policy at the live slots of its
    /// earlier versions: editing a class's options (a timeout, say) gives
    /// it a new slot, and its limits must go on counting the connections
    /// it already has (otherwise each edit admits another `conn-max`).
    fn link_versions(&mut self) {
        for c in self.current.clone() {
            let Some(Some(slot)) = self.slots.get(usize::from(c.0)) else {
                continue;
            };
            let older: Vec<SlotId> = self
                .iter()
                .filter(|(id, s)| {
                    *id != c && !s.from_peer && s.name == slot.name && s.scope == slot.scope
                })
                .map(|(id, _)| id)
                .collect();
            self.get_mut(c).older = older;
        }
    }

    /// Whether [`install`](Self::install) would take `policy`: its new
    /// classes (one slot per name and options) find free slot ids.
    pub fn fits(&self, policy: &Policy) -> Result<(), SlotsExhausted> {
        let mut new = std::collections::HashSet::new();
        for class in policy.classes() {
            if self
                .reusable(&class.name, &class.scope, &class.options)
                .is_none()
            {
                new.insert(class_digest(&class.name, &class.scope, &class.options));
            }
        }
        let needed = new.len();
        let unused_ids = (usize::from(u16::MAX) + 1).saturating_sub(self.slots.len());
        let free = self.free.len() + unused_ids;
        if needed > free {
            return Err(SlotsExhausted { needed, free });
        }
        Ok(())
    }

    /// The slot a class of a new policy would take over: the same class
    /// with the same options, or a class peers' flows already named.
    fn reusable(&self, name: &str, scope: &ServiceScope, options: &ConnOptions) -> Option<usize> {
        let digest = class_digest(name, scope, options);
        self.slots.iter().position(|s| {
            s.as_ref().is_some_and(|s| {
                (s.name == name && s.scope == *scope && s.options == *options)
                    || (s.from_peer && s.digest == digest)
            })
        })
    }

    fn release_if_unused(&mut self, id: SlotId) {
        if id == DEFAULT_SLOT || self.current.contains(&id) {
            return;
        }
        if let Some(Some(slot)) = self.slots.get(usize::from(id.0))
            && slot.conns == 0
        {
            if let Some(slot) = self.slots[usize::from(id.0)].take() {
                self.retire(&slot);
            }
            self.free.push(id.0);
            for c in self.current.clone() {
                self.get_mut(c).older.retain(|&o| o != id);
            }
        }
    }

    /// Keep a released slot's counts under its class (name and scope). A
    /// peer's class (known only by digest) has no name of the policy's to
    /// keep them under: its counts leave with it.
    fn retire(&mut self, slot: &ClassSlot) {
        if slot.from_peer || (slot.created == 0 && slot.limit_drops == 0) {
            return;
        }
        // Updated names go to the back, so a class whose options change
        // often is not the first to go for being the first retired.
        let mut counts = match self
            .retired
            .iter()
            .position(|(n, sc, _)| *n == slot.name && *sc == slot.scope)
        {
            Some(i) => self.retired.remove(i).2,
            None => {
                if self.retired.len() >= MAX_RETIRED_NAMES {
                    self.forget_a_retired_name();
                }
                RetiredCounts::default()
            }
        };
        counts.created = counts.created.saturating_add(slot.created);
        counts.limit_drops = counts.limit_drops.saturating_add(slot.limit_drops);
        counts.dcd.add(&slot.dcd);
        self.retired
            .push((slot.name.clone(), slot.scope.clone(), counts));
    }

    /// Make room for a retired class: drop the least recently updated one
    /// that no live slot is (its series only stops); only if every one
    /// is, the least recently updated (its total then goes down, which
    /// takes more than [`MAX_RETIRED_NAMES`] live classes).
    fn forget_a_retired_name(&mut self) {
        let live: std::collections::HashSet<(&str, &ServiceScope)> = self
            .iter()
            .map(|(_, s)| (s.name.as_str(), &s.scope))
            .collect();
        let i = self
            .retired
            .iter()
            .position(|(n, sc, _)| !live.contains(&(n.as_str(), sc)))
            .unwrap_or(0);
        self.retired.remove(i);
    }

    /// What released slots had counted, by class (name and scope): added
    /// to the live slots of the same class, a class's totals never go down
    /// while the engine lives (`rampart_class_connections_created_total`).
    pub fn retired(&self) -> impl Iterator<Item = (&str, &ServiceScope, RetiredCounts)> {
        self.retired.iter().map(|(n, sc, c)| (n.as_str(), sc, *c))
    }

    /// Each class's counts by name and scope: its live slots summed (the current
    /// version's and the earlier versions' whose connections still live,
    /// which are what its limits count, see [`admit`](Self::admit)) with
    /// what its released slots counted. `show service-policy` and the
    /// class metrics both read this, so they cannot disagree about a
    /// class whose options changed.
    pub fn counts_by_class(
        &self,
    ) -> std::collections::BTreeMap<(&str, &ServiceScope), ClassCounts> {
        let mut out: std::collections::BTreeMap<_, ClassCounts> = Default::default();
        for (_, s) in self.iter() {
            let c = out.entry((s.name.as_str(), &s.scope)).or_default();
            c.conns += u64::from(s.conns);
            c.embryonic += u64::from(s.embryonic);
            c.created = c.created.saturating_add(s.created);
            c.limit_drops = c.limit_drops.saturating_add(s.limit_drops);
            c.dcd.add(&s.dcd);
        }
        for (name, scope, r) in self.retired() {
            let c = out.entry((name, scope)).or_default();
            c.created = c.created.saturating_add(r.created);
            c.limit_drops = c.limit_drops.saturating_add(r.limit_drops);
            c.dcd.add(&r.dcd);
        }
        out
    }

    /// The slot of class `class` of the current policy (`None`: default).
    pub fn slot_for(&self, class: Option<usize>) -> SlotId {
        class
            .and_then(|c| self.current.get(c).copied())
            .unwrap_or(DEFAULT_SLOT)
    }

    /// The live slot with this digest (a class of a synced flow), preferring
    /// the current policy's.
    pub fn slot_by_digest(&self, digest: u64) -> Option<SlotId> {
        let live = |id: &SlotId| {
            self.slots
                .get(usize::from(id.0))
                .and_then(Option::as_ref)
                .is_some_and(|s| s.digest == digest)
        };
        if live(&DEFAULT_SLOT) {
            return Some(DEFAULT_SLOT);
        }
        self.current.iter().copied().find(live).or_else(|| {
            self.iter()
                .find(|(_, s)| s.digest == digest)
                .map(|(i, _)| i)
        })
    }

    /// The slot for a peer's flow of class `digest`: the live slot with
    /// that digest, or a new slot that keeps the digest (so this node
    /// describes the flow as its peers do) with default options until a
    /// policy with that class is installed here. `None` when
    /// [`MAX_PEER_CLASSES`] such slots exist (the flow takes the default
    /// slot).
    pub fn slot_for_peer(&mut self, digest: u64) -> Option<SlotId> {
        if let Some(id) = self.slot_by_digest(digest) {
            return Some(id);
        }
        let from_peer = self.iter().filter(|(_, s)| s.from_peer).count();
        if from_peer >= MAX_PEER_CLASSES {
            return None;
        }
        let mut slot = ClassSlot::new(
            format!("peer-class-{digest:016x}"),
            ServiceScope::Global,
            ConnOptions::default(),
            &self.hasher,
        );
        slot.digest = digest;
        slot.from_peer = true;
        let id = match self.free.pop() {
            Some(i) => {
                self.slots[usize::from(i)] = Some(slot);
                i
            }
            None => {
                let i = u16::try_from(self.slots.len()).ok()?;
                self.slots.push(Some(slot));
                i
            }
        };
        Some(SlotId(id))
    }

    /// Release a slot no connection uses and no class of the current
    /// policy names (a peer's class slot made for a flow that was then not
    /// inserted).
    pub fn release_unused(&mut self, id: SlotId) {
        self.release_if_unused(id);
    }

    /// A slot by id.
    ///
    /// # Panics
    /// If the slot was released: entries hold their slot alive.
    pub fn get(&self, id: SlotId) -> &ClassSlot {
        self.slots[usize::from(id.0)]
            .as_ref()
            .expect("slot referenced by a live entry")
    }

    /// Count what dead connection detection did to a connection of
    /// slot `id` (a slot released meanwhile counts nothing).
    pub(crate) fn count_dcd(&mut self, id: SlotId, f: impl FnOnce(&mut DcdCounts)) {
        if let Some(Some(slot)) = self.slots.get_mut(usize::from(id.0)) {
            f(&mut slot.dcd);
        }
    }

    fn get_mut(&mut self, id: SlotId) -> &mut ClassSlot {
        self.slots[usize::from(id.0)]
            .as_mut()
            .expect("slot referenced by a live entry")
    }

    /// Live slots (for `show service-policy` and metrics).
    pub fn iter(&self) -> impl Iterator<Item = (SlotId, &ClassSlot)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (SlotId(i as u16), s)))
    }

    /// What the limits of `slot` make of a new connection of `client`
    /// (docs/asa-behaviour.md §2.2: class limits count the whole class;
    /// per-client limits count per source host, an address within its
    /// VLAN; 0 = unlimited). `conn-max` and `per-client-max` refuse; a
    /// half-open connection at `per-client-embryonic-max` or
    /// `embryonic-conn-max` is `Replace`: the engine answers its SYN with a
    /// SYN cookie (TCP Intercept), or, for a SYN no cookie can answer,
    /// replaces the oldest half-open connection of its client or of the
    /// class. A replacement leaves the counts as they were, so it may be
    /// made at `conn-max` too (the engine checks a cookie against the
    /// connection limits without it). Changes nothing: the caller counts a refusal with
    /// [`refused`](Self::refused).
    pub fn admit(&self, id: SlotId, client: Host, embryonic: bool) -> Admission {
        let slot = self.get(id);
        let o = &slot.options;
        // The class's counts: this version's and its earlier versions'.
        let (mut conns, mut class_embryonic) = (0, 0);
        let (mut client_conns, mut client_embryonic) = (0, 0);
        for v in self.versions(id) {
            let s = self.get(v);
            conns += s.conns;
            class_embryonic += s.embryonic;
            if let Some(c) = s.per_client.get(&client) {
                client_conns += c.conns;
                // Only a version that queues its clients' half-open
                // connections counts them: at the limit the oldest of
                // them is replaced, and one no queue holds could not be.
                if s.options.per_client_embryonic_max > 0 {
                    client_embryonic += c.embryonic;
                }
            }
        }
        let replace = if !embryonic {
            None
        } else if o.per_client_embryonic_max > 0 && client_embryonic >= o.per_client_embryonic_max {
            Some(HalfOpenOf::Client)
        } else if o.embryonic_conn_max > 0 && class_embryonic >= o.embryonic_conn_max {
            Some(HalfOpenOf::Class)
        } else {
            None
        };
        // What the replaced connection frees: a class's may be another
        // client's.
        let freed = u32::from(replace.is_some());
        let freed_client = u32::from(replace == Some(HalfOpenOf::Client));
        if o.conn_max > 0 && conns.saturating_sub(freed) >= o.conn_max {
            Admission::Refuse(DropReason::ConnLimit)
        } else if o.per_client_max > 0
            && client_conns.saturating_sub(freed_client) >= o.per_client_max
        {
            Admission::Refuse(DropReason::PerClientConnLimit)
        } else {
            replace.map_or(Admission::Admit, Admission::Replace)
        }
    }

    /// Count a connection `slot`'s limits refused.
    pub fn refused(&mut self, id: SlotId) {
        let slot = self.get_mut(id);
        slot.limit_drops = slot.limit_drops.saturating_add(1);
    }

    /// Note a half-open connection (connection `conn` in table slot `flow`)
    /// just [`opened`](Self::opened) in `slot` by `client`, for
    /// [`oldest_half_open`](Self::oldest_half_open). `valid` says whether a
    /// queued item is still a half-open connection of the slot.
    pub fn note_half_open(
        &mut self,
        id: SlotId,
        client: Host,
        flow: FlowId,
        conn: u32,
        mut valid: impl FnMut(FlowId, u32) -> bool,
    ) {
        let slot = self.get_mut(id);
        let live = slot.embryonic as usize;
        slot.half_open.push((flow, conn));
        slot.half_open
            .tidy(live, CLASS_QUEUE_SLACK, |(f, i)| valid(f, i));
        if slot.options.per_client_embryonic_max > 0
            && let Some(c) = slot.per_client.get_mut(&client)
        {
            c.half_open.push((flow, conn));
            c.half_open
                .tidy(c.embryonic as usize, CLIENT_QUEUE_SLACK, |(f, i)| {
                    valid(f, i)
                });
        }
    }

    /// The table slot of the oldest half-open connection of `slot` (`of`
    /// the class), or of `client` in it, that `valid` still finds in the
    /// slot it names, looked for in the class's earlier versions first
    /// (their connections opened before any of this version's).
    pub fn oldest_half_open(
        &mut self,
        id: SlotId,
        client: Host,
        of: HalfOpenOf,
        mut valid: impl FnMut(SlotId, FlowId, u32) -> bool,
    ) -> Option<FlowId> {
        // By index, not a collected list: at a half-open cap every SYN of
        // a flood comes here.
        let older = self.get(id).older.len();
        for k in 0..=older {
            let v = match self.get(id).older.get(k) {
                Some(&o) => o,
                None => id,
            };
            let slot = self.get_mut(v);
            let queue = match of {
                HalfOpenOf::Class => &mut slot.half_open,
                HalfOpenOf::Client => match slot.per_client.get_mut(&client) {
                    Some(c) => &mut c.half_open,
                    None => continue,
                },
            };
            if let Some((f, _)) = queue.front(|(f, i)| valid(v, f, i)) {
                return Some(f);
            }
        }
        None
    }

    /// The slots whose connections `id`'s limits count: its class's
    /// earlier versions that still live, then itself.
    fn versions(&self, id: SlotId) -> impl Iterator<Item = SlotId> + '_ {
        self.get(id)
            .older
            .iter()
            .copied()
            .chain(std::iter::once(id))
    }

    /// Count a connection created after [`admit`](Self::admit) admitted it.
    pub fn opened(&mut self, id: SlotId, client: Host, embryonic: bool) {
        self.copied(id, client, embryonic);
        let slot = self.get_mut(id);
        slot.created = slot.created.saturating_add(1);
    }

    /// Count a copy of a peer's connection: it counts against the limits
    /// as a live connection does (docs/asa-behaviour.md §2.2), but it is
    /// no setup of the class here (`show service-policy` hits, and
    /// `rampart_class_connections_created_total`, count this node's own).
    pub fn copied(&mut self, id: SlotId, client: Host, embryonic: bool) {
        let slot = self.get_mut(id);
        slot.conns += 1;
        slot.embryonic += u32::from(embryonic);
        if slot.tracks_clients() {
            let c = slot.per_client.entry(client).or_default();
            c.conns += 1;
            c.embryonic += u32::from(embryonic);
        }
    }

    /// Count a hit of a class that made a connection bypass while another
    /// class gave it its limits (the connection lives in that other slot).
    pub fn hit(&mut self, id: SlotId) {
        let slot = self.get_mut(id);
        slot.created = slot.created.saturating_add(1);
    }

    /// An embryonic connection completed its handshake.
    pub fn established(&mut self, id: SlotId, client: Host) {
        let slot = self.get_mut(id);
        slot.embryonic = slot.embryonic.saturating_sub(1);
        if let Some(c) = slot.per_client.get_mut(&client) {
            c.embryonic = c.embryonic.saturating_sub(1);
        }
    }

    /// A connection left the table.
    pub fn closed(&mut self, id: SlotId, client: Host, embryonic: bool) {
        let slot = self.get_mut(id);
        slot.conns = slot.conns.saturating_sub(1);
        if embryonic {
            slot.embryonic = slot.embryonic.saturating_sub(1);
        }
        if let Some(c) = slot.per_client.get_mut(&client) {
            c.conns = c.conns.saturating_sub(1);
            if embryonic {
                c.embryonic = c.embryonic.saturating_sub(1);
            }
            if c.conns == 0 {
                slot.per_client.remove(&client);
            }
        }
        self.release_if_unused(id);
    }
}

impl Default for ClassTable {
    /// Fixed keys, for tests and tools; an engine keys its table from the
    /// node's secret.
    fn default() -> Self {
        Self::new(ahash::RandomState::with_seeds(7, 11, 13, 17))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::NodeId;
    use crate::engine::EngineConfig;
    use crate::flow::Addr;
    use crate::policy::compile::compile;

    /// A client host on the untagged VLAN.
    fn client() -> Host {
        Host {
            addr: Addr::v4([198, 18, 0, 1]),
            vlan: 0,
        }
    }

    /// `text` parsed and compiled for an inside and an outside interface.
    fn compiled(text: &str) -> Policy {
        let cfg = crate::policy::parse::parse_config(text).unwrap().config;
        compile(
            &cfg,
            &EngineConfig::inside_outside(NodeId(1), [0; 4]).interfaces,
        )
        .unwrap()
    }

    fn policy(conn_max: u32) -> Policy {
        compiled(&format!(
            "class-map all\n match any\npolicy-map p\n class all\n  set connection conn-max {conn_max}\nservice-policy p global\n"
        ))
    }

    #[test]
    fn an_unchanged_class_keeps_counting_across_policy_swaps() {
        let mut t = ClassTable::new(ahash::RandomState::with_seeds(7, 11, 13, 17));
        t.install(&policy(2)).expect("room");
        let a = t.slot_for(Some(0));
        let client = client();
        assert_eq!(t.admit(a, client, false), Admission::Admit);
        t.opened(a, client, false);
        assert_eq!(t.admit(a, client, false), Admission::Admit);
        t.opened(a, client, false);
        t.install(&policy(2)).expect("room");
        assert_eq!(
            t.slot_for(Some(0)),
            a,
            "same class, same options: same slot"
        );
        assert_eq!(
            t.admit(a, client, false),
            Admission::Refuse(DropReason::ConnLimit)
        );
        // A changed option gives the class a new slot for its new
        // connections' options; the old slot lives on while its
        // connections do, and the new version's limit counts them.
        t.install(&policy(3)).expect("room");
        let b = t.slot_for(Some(0));
        assert_ne!(a, b);
        assert_eq!(t.get(a).conns, 2);
        assert_eq!(t.admit(b, client, false), Admission::Admit);
        t.opened(b, client, false);
        assert_eq!(
            t.admit(b, client, false),
            Admission::Refuse(DropReason::ConnLimit),
            "2 of the old version and 1 of the new reach conn-max 3"
        );
        t.closed(a, client, false);
        assert_eq!(t.admit(b, client, false), Admission::Admit);
        t.closed(a, client, false);
        assert!(t.iter().all(|(id, _)| id != a), "released once unused");
        assert!(t.get(b).older.is_empty(), "{:?}", t.get(b).older);
    }

    /// A class's counts are what its limits count: the live connections
    /// of every live version, and what every version created and refused,
    /// released ones included.
    #[test]
    fn a_class_counts_what_its_limits_count() {
        let mut t = ClassTable::default();
        t.install(&policy(2)).expect("room");
        let a = t.slot_for(Some(0));
        let client = client();
        t.opened(a, client, true);
        t.opened(a, client, false);
        t.install(&policy(3)).expect("room");
        let b = t.slot_for(Some(0));
        t.opened(b, client, false);
        assert_eq!(
            t.admit(b, client, false),
            Admission::Refuse(DropReason::ConnLimit)
        );
        t.refused(b);
        let counts = |t: &ClassTable| t.counts_by_class()[&("p/all", &ServiceScope::Global)];
        let want = ClassCounts {
            conns: 3,
            embryonic: 1,
            created: 3,
            limit_drops: 1,
            dcd: DcdCounts::default(),
        };
        assert_eq!(counts(&t), want);
        t.closed(a, client, true);
        t.closed(a, client, false);
        assert!(t.iter().all(|(id, _)| id != a), "released once unused");
        let want = ClassCounts {
            conns: 1,
            embryonic: 0,
            ..want
        };
        assert_eq!(counts(&t), want, "the released version's counts stay");
    }

    /// One policy-map applied in two scopes is two classes of each name:
    /// each application counts its own connections against its own
    /// limits (docs/asa-behaviour.md §2.3). Before, both took one slot, so
    /// `conn-max 2` held for the two applications together, and each
    /// binding showed the other's connections.
    #[test]
    fn each_application_of_a_policy_map_counts_its_own() {
        let mut t = ClassTable::default();
        let p = compiled(
            "class-map all\n match any\npolicy-map p\n class all\n  set connection conn-max 2\n\
             service-policy p global\nservice-policy p interface inside\n\
             service-policy p interface outside\n",
        );
        t.install(&p).expect("room");
        let ids: Vec<SlotId> = (0..3).map(|c| t.slot_for(Some(c))).collect();
        assert!(
            ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
            "{ids:?}"
        );
        let digests: std::collections::HashSet<u64> =
            ids.iter().map(|&id| t.get(id).digest).collect();
        assert_eq!(digests.len(), 3, "peers tell the applications apart");
        let client = client();
        for _ in 0..2 {
            assert_eq!(t.admit(ids[1], client, false), Admission::Admit);
            t.opened(ids[1], client, false);
        }
        assert_eq!(
            t.admit(ids[1], client, false),
            Admission::Refuse(DropReason::ConnLimit)
        );
        assert_eq!(t.admit(ids[0], client, false), Admission::Admit);
        assert_eq!(t.admit(ids[2], client, false), Admission::Admit);
        let counts = t.counts_by_class();
        let of = |scope: ServiceScope| counts[&("p/all", &scope)].conns;
        assert_eq!(of(ServiceScope::Global), 0);
        assert_eq!(of(ServiceScope::Interface("inside".into())), 2);
        assert_eq!(of(ServiceScope::Interface("outside".into())), 0);
        // The same policy again keeps each application's slot.
        t.install(&p).expect("room");
        let again: Vec<SlotId> = (0..3).map(|c| t.slot_for(Some(c))).collect();
        assert_eq!(again, ids);
    }

    /// A global class's digest is the one nodes computed before classes
    /// had scopes: a node running this and one running the release before
    /// name a global class's flows alike.
    #[test]
    fn a_global_class_digest_hashes_no_scope() {
        use std::hash::{Hash, Hasher};
        let o = ConnOptions::default();
        let mut h = siphasher::sip::SipHasher13::new_with_keys(0x7261_6d70, 0x6172_7421);
        "p/all".hash(&mut h);
        (
            o.conn_max,
            o.embryonic_conn_max,
            o.per_client_max,
            o.per_client_embryonic_max,
            o.random_sequence_number,
            o.timeout_embryonic,
            o.timeout_half_closed,
            o.timeout_idle,
            o.idle_reset,
            o.tcp_state_bypass,
        )
            .hash(&mut h);
        assert_eq!(class_digest("p/all", &ServiceScope::Global, &o), h.finish());
        assert_ne!(
            class_digest("p/all", &ServiceScope::Interface("inside".into()), &o),
            h.finish()
        );
    }

    /// A peer's copy counts against the limits but is no setup of the
    /// class on this node: its hits count this node's own connections.
    #[test]
    fn a_copy_counts_against_the_limits_but_is_no_hit() {
        let mut t = ClassTable::default();
        t.install(&policy(1)).expect("room");
        let s = t.slot_for(Some(0));
        t.copied(s, client(), false);
        assert_eq!((t.get(s).conns, t.get(s).created), (1, 0));
        assert_eq!(
            t.admit(s, client(), false),
            Admission::Refuse(DropReason::ConnLimit)
        );
    }

    /// Editing any option of a class (a timeout here) used to give it a
    /// new slot whose counts started at zero: each edit admitted another
    /// `conn-max` (and `per-client-max`) worth of connections while the
    /// earlier ones lived.
    #[test]
    fn editing_a_class_keeps_its_limits_counting_the_connections_it_has() {
        let text = |idle: u32| {
            compiled(&format!(
                "class-map all\n match any\npolicy-map p\n class all\n  \
                 set connection conn-max 2 per-client-max 2\n  \
                 set connection timeout idle 0:{idle:02}:00\nservice-policy p global\n"
            ))
        };
        let mut t = ClassTable::default();
        let client = client();
        let mut open = 0;
        for idle in [5, 6, 7, 8] {
            t.install(&text(idle)).expect("room");
            let s = t.slot_for(Some(0));
            while t.admit(s, client, false) == Admission::Admit {
                t.opened(s, client, false);
                open += 1;
                assert!(open <= 2, "conn-max 2, after edits: {open} open");
            }
        }
        assert_eq!(open, 2);
    }

    /// An earlier version that kept no queue of its clients' half-open
    /// connections (it had `per-client-max` only) does not count them
    /// against a `per-client-embryonic-max` the edit added: none of them
    /// could be replaced, and the client was refused instead.
    #[test]
    fn a_per_client_half_open_limit_added_by_an_edit_replaces_and_never_refuses() {
        let v1 = compiled(
            "class-map all\n match any\npolicy-map p\n class all\n  \
             set connection per-client-max 100\nservice-policy p global\n",
        );
        let v2 = compiled(
            "class-map all\n match any\npolicy-map p\n class all\n  \
             set connection per-client-max 100 per-client-embryonic-max 2\n\
             service-policy p global\n",
        );
        let mut t = ClassTable::default();
        let client = client();
        t.install(&v1).expect("room");
        let a = t.slot_for(Some(0));
        for i in 0..2 {
            t.opened(a, client, true);
            t.note_half_open(a, client, FlowId(i), i, |_, _| true);
        }
        t.install(&v2).expect("room");
        let b = t.slot_for(Some(0));
        for i in 2..4 {
            assert_eq!(t.admit(b, client, true), Admission::Admit);
            t.opened(b, client, true);
            t.note_half_open(b, client, FlowId(i), i, |_, _| true);
        }
        assert_eq!(
            t.admit(b, client, true),
            Admission::Replace(HalfOpenOf::Client)
        );
        assert!(
            t.oldest_half_open(b, client, HalfOpenOf::Client, |_, _, _| true)
                .is_some(),
            "a replacement finds its victim"
        );
    }

    /// At a half-open limit a new SYN replaces the class's oldest
    /// half-open connection, which may be one of an earlier version.
    #[test]
    fn a_half_open_limit_replaces_the_oldest_of_any_version() {
        let text = |idle: u32| {
            compiled(&format!(
                "class-map all\n match any\npolicy-map p\n class all\n  \
                 set connection embryonic-conn-max 1\n  \
                 set connection timeout idle 0:{idle:02}:00\nservice-policy p global\n"
            ))
        };
        let mut t = ClassTable::default();
        let client = client();
        t.install(&text(5)).expect("room");
        let a = t.slot_for(Some(0));
        assert_eq!(t.admit(a, client, true), Admission::Admit);
        t.opened(a, client, true);
        t.note_half_open(a, client, FlowId(7), 70, |_, _| true);
        t.install(&text(6)).expect("room");
        let b = t.slot_for(Some(0));
        assert_ne!(a, b);
        assert_eq!(
            t.admit(b, client, true),
            Admission::Replace(HalfOpenOf::Class)
        );
        let mut asked = Vec::new();
        let victim = t.oldest_half_open(b, client, HalfOpenOf::Class, |slot, f, i| {
            asked.push(slot);
            (slot, f, i) == (a, FlowId(7), 70)
        });
        assert_eq!(victim, Some(FlowId(7)));
        assert_eq!(asked, vec![a], "the earlier version is looked at first");
    }

    /// docs/asa-behaviour.md §2.2: a half-open connection at a half-open
    /// limit replaces the oldest half-open connection of its client, or of
    /// the class; `conn-max` and `per-client-max` refuse, except that a
    /// replacement, which leaves the counts as they were, is made at
    /// `conn-max` too.
    #[test]
    fn half_open_limits_replace_and_connection_limits_refuse() {
        let mut t = ClassTable::default();
        t.install(&compiled(
            "class-map all\n match any\npolicy-map p\n class all\n  \
             set connection conn-max 5\n  set connection embryonic-conn-max 3\n  \
             set connection per-client-max 3\n  set connection per-client-embryonic-max 2\n\
             service-policy p global\n",
        ))
        .expect("room");
        let s = t.slot_for(Some(0));
        let host = |last| Host {
            addr: Addr::v4([198, 18, 0, last]),
            vlan: 0,
        };
        let (a, b, c) = (host(1), host(2), host(3));
        t.opened(s, a, true);
        t.opened(s, a, true);
        // Client a is at its half-open limit: its own oldest goes.
        assert_eq!(t.admit(s, a, true), Admission::Replace(HalfOpenOf::Client));
        // A connection that is not half-open does not count there.
        assert_eq!(t.admit(s, a, false), Admission::Admit);
        t.opened(s, b, true);
        // The class is at its half-open limit: its oldest goes, whoever's.
        assert_eq!(t.admit(s, b, true), Admission::Replace(HalfOpenOf::Class));
        t.opened(s, b, false);
        t.opened(s, b, false);
        // per-client-max holds even for a replacement (of another
        // client's connection).
        assert_eq!(
            t.admit(s, b, true),
            Admission::Refuse(DropReason::PerClientConnLimit)
        );
        // conn-max (5) is reached: a half-open connection that replaces
        // another is admitted, anything else is refused.
        assert_eq!(t.get(s).conns, 5);
        assert_eq!(t.admit(s, a, true), Admission::Replace(HalfOpenOf::Client));
        assert_eq!(t.admit(s, c, true), Admission::Replace(HalfOpenOf::Class));
        assert_eq!(
            t.admit(s, c, false),
            Admission::Refuse(DropReason::ConnLimit)
        );
        assert_eq!(t.get(s).limit_drops, 0, "admit counts nothing");
        t.refused(s);
        assert_eq!(t.get(s).limit_drops, 1);
    }

    /// The class's total over its live and released slots.
    fn total_created(t: &ClassTable, name: &str) -> u64 {
        let live: u64 = t
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s.created)
            .sum();
        let gone: u64 = t
            .retired()
            .filter(|(n, _, _)| *n == name)
            .map(|(_, _, c)| c.created)
            .sum();
        live + gone
    }

    /// A changed option gives the class a new slot; when the old one is
    /// released, its counts stay in the class's totals (they once left
    /// with it, and `rampart_class_connections_created_total` went down).
    #[test]
    fn a_class_total_survives_the_release_of_its_old_slot() {
        let mut t = ClassTable::default();
        t.install(&policy(1)).expect("room");
        let a = t.slot_for(Some(0));
        let client = client();
        assert_eq!(t.admit(a, client, false), Admission::Admit);
        t.opened(a, client, false);
        assert_eq!(
            t.admit(a, client, false),
            Admission::Refuse(DropReason::ConnLimit)
        );
        t.refused(a);
        let name = t.get(a).name.clone();
        assert_eq!(total_created(&t, &name), 1);
        t.install(&policy(5)).expect("room");
        let b = t.slot_for(Some(0));
        t.opened(b, client, false);
        assert_eq!(total_created(&t, &name), 2);
        t.closed(a, client, false);
        assert!(t.iter().all(|(id, _)| id != a), "released once unused");
        assert_eq!(total_created(&t, &name), 2);
        let drops: u64 = t.retired().map(|(_, _, c)| c.limit_drops).sum();
        assert_eq!(drops, 1);
        // A slot released at install (no connection held it) keeps its
        // counts too.
        t.closed(b, client, false);
        t.install(&policy(6)).expect("room");
        assert!(t.iter().all(|(id, _)| id != b));
        assert_eq!(total_created(&t, &name), 2);
    }

    #[test]
    fn retired_names_are_bounded() {
        let mut t = ClassTable::default();
        let client = client();
        for i in 0..MAX_RETIRED_NAMES as u32 + 10 {
            t.install(&compiled(&format!(
                "class-map c{i}\n match any\npolicy-map p\n class c{i}\n  set connection conn-max 9\nservice-policy p global\n"
            )))
            .expect("room");
            let s = t.slot_for(Some(0));
            t.opened(s, client, false);
            t.closed(s, client, false);
        }
        assert_eq!(t.retired().count(), MAX_RETIRED_NAMES);
    }

    /// A policy of class `keep` (limit `keep_max`) and class `c{i}`.
    fn keep_and(i: u32, keep_max: u32) -> Policy {
        compiled(&format!(
            "class-map keep\n match any\nclass-map c{i}\n match any\npolicy-map p\n class keep\n  \
             set connection conn-max {keep_max}\n class c{i}\n  set connection conn-max 9\n\
             service-policy p global\n"
        ))
    }

    /// Install `p` and open and close a connection in each of its classes.
    fn churn(t: &mut ClassTable, p: &Policy) {
        t.install(p).expect("room");
        for c in 0..p.classes().len() {
            let s = t.slot_for(Some(c));
            t.opened(s, client(), false);
            t.closed(s, client(), false);
        }
    }

    /// A class whose options change at every policy, among more retired
    /// names than are kept: its total never goes down. Before, names went
    /// in the order they were first retired, and the class retired first
    /// (and most often) was the first dropped.
    #[test]
    fn an_often_changed_class_keeps_its_total() {
        let mut t = ClassTable::default();
        let n = MAX_RETIRED_NAMES as u32 + 10;
        for i in 0..n {
            churn(&mut t, &keep_and(i, 1 + i % 2));
            assert_eq!(total_created(&t, "p/keep"), u64::from(i) + 1, "at {i}");
        }
        assert_eq!(t.retired().count(), MAX_RETIRED_NAMES);
    }

    /// A class retired once and living on in its new slot keeps its
    /// released slot's counts while other names come and go: a name no
    /// live slot bears goes first.
    #[test]
    fn a_live_class_keeps_its_retired_counts() {
        let mut t = ClassTable::default();
        churn(&mut t, &keep_and(0, 1));
        churn(&mut t, &keep_and(1, 2));
        let n = MAX_RETIRED_NAMES as u32 + 10;
        for i in 2..n {
            churn(&mut t, &keep_and(i, 2));
            assert_eq!(total_created(&t, "p/keep"), u64::from(i) + 1, "at {i}");
        }
    }

    /// A peer on a newer policy version syncs a flow of a class this node
    /// does not have yet: the flow keeps the peer's digest (so both nodes
    /// describe it alike) and takes the class's options once this node
    /// installs that version (the simulator found tables that never
    /// converged: the flow fell into the default class for good).
    #[test]
    fn a_peers_class_keeps_its_digest_and_gets_its_options_on_install() {
        let mut t = ClassTable::new(ahash::RandomState::with_seeds(7, 11, 13, 17));
        t.install(&policy(2)).expect("room");
        let mut newer = ClassTable::new(ahash::RandomState::with_seeds(7, 11, 13, 17));
        newer.install(&policy(3)).expect("room");
        let digest = newer.get(newer.slot_for(Some(0))).digest;
        let id = t.slot_for_peer(digest).expect("room for a peer's class");
        assert_ne!(id, DEFAULT_SLOT);
        assert!(t.get(id).from_peer);
        assert_eq!(t.get(id).digest, digest);
        assert_eq!(t.get(id).options, ConnOptions::default());
        let client = client();
        t.opened(id, client, false);
        assert_eq!(t.slot_for_peer(digest), Some(id), "one slot per digest");
        t.install(&policy(3)).expect("room");
        assert_eq!(t.slot_for(Some(0)), id, "the class takes the peer's slot");
        assert!(!t.get(id).from_peer);
        assert_eq!(t.get(id).options.conn_max, 3);
        assert_eq!(t.get(id).digest, digest);
    }

    #[test]
    fn peers_cannot_grow_the_class_table_without_bound() {
        let mut t = ClassTable::new(ahash::RandomState::with_seeds(7, 11, 13, 17));
        for d in 0..MAX_PEER_CLASSES as u64 {
            let id = t.slot_for_peer(d + 1).expect("within the bound");
            t.opened(id, client(), false);
        }
        assert_eq!(t.slot_for_peer(u64::MAX), None);
        // One made for a flow that was then not inserted is released.
        let mut u = ClassTable::new(ahash::RandomState::with_seeds(7, 11, 13, 17));
        let id = u.slot_for_peer(5).unwrap();
        u.release_unused(id);
        assert!(u.iter().all(|(s, _)| s != id));
    }

    /// A policy of `n` classes, each with its own limit.
    fn policy_of(n: u32) -> Policy {
        policy_on(n, "service-policy p global\n")
    }

    /// [`policy_of`]'s policy-map bound by `bind` (one or more lines).
    fn policy_on(n: u32, bind: &str) -> Policy {
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!("class-map c{i}\n match any\n"));
        }
        text.push_str("policy-map p\n");
        for i in 0..n {
            text.push_str(&format!(
                " class c{i}\n  set connection conn-max {}\n",
                i + 1
            ));
        }
        text.push_str(bind);
        compiled(&text)
    }

    /// Slot ids are 16 bits. With nearly all of them held by connections of
    /// earlier policies, a policy whose classes still fit gets one distinct
    /// slot per class; one that does not fit is refused whole and the
    /// running classes stay (before, the ids past 65,535 all became 65,535:
    /// several classes shared one slot's options and counts).
    #[test]
    fn a_policy_is_refused_whole_when_its_classes_find_no_free_slot() {
        let mut t = ClassTable::default();
        t.install(&policy(2)).expect("room");
        let running = t.slot_for(Some(0));
        // Earlier policies' classes, each pinned by a live connection.
        let client = client();
        while t.slots.len() < usize::from(u16::MAX) + 1 - 5 {
            let mut slot = ClassSlot::new(
                format!("old/{}", t.slots.len()),
                ServiceScope::Global,
                ConnOptions::default(),
                &t.hasher,
            );
            slot.conns = 1;
            t.slots.push(Some(slot));
        }
        let refused = t.install(&policy_of(7));
        assert_eq!(refused, Err(SlotsExhausted { needed: 7, free: 5 }));
        assert_eq!(t.slot_for(Some(0)), running, "the running classes stay");
        assert_eq!(t.slots.len(), usize::from(u16::MAX) + 1 - 5);

        // Five fit, in five distinct slots; one policy-map bound twice is
        // two applications, each class a slot of its own in each.
        let twice = policy_on(
            5,
            "service-policy p global\nservice-policy p interface inside\n",
        );
        assert_eq!(twice.classes().len(), 10);
        assert_eq!(
            t.fits(&twice),
            Err(SlotsExhausted {
                needed: 10,
                free: 5
            })
        );
        assert_eq!(
            t.fits(&policy_of(6)),
            Err(SlotsExhausted { needed: 6, free: 5 })
        );
        t.install(&policy_of(5)).expect("five slots are free");
        let ids: std::collections::BTreeSet<u16> = (0..5).map(|c| t.slot_for(Some(c)).0).collect();
        assert_eq!(ids.len(), 5, "one slot per class: {ids:?}");
        for c in 0..5u32 {
            let id = t.slot_for(Some(c as usize));
            assert_eq!(t.get(id).options.conn_max, c + 1);
        }
        // The old policy's slot, unused, was freed: one more class fits.
        t.install(&policy_of(6))
            .expect("the freed slot takes the sixth");
        // Connections of an earlier policy end: their slots serve again.
        for id in 100..110u16 {
            t.closed(SlotId(id), client, false);
        }
        t.install(&policy_of(16)).expect("ten slots were freed");
    }
}
