//! The connection table: a keyed-hash index over a chunked slab of entries.
//!
//! The index ([`FlowIndex`](super::index)) holds 8-byte buckets (a hash tag
//! and a slot number), and the entries live in fixed-size chunks that never
//! move, so growth costs neither a copy of the entries nor double the
//! memory, and a batch can prefetch both before it needs them
//! ([`prefetch_index`](ConnTable::prefetch_index),
//! [`prefetch_entry`](ConnTable::prefetch_entry)). The hash is keyed
//! (aHash with per-node seeds): an attacker who cannot learn the seeds cannot
//! aim a flood of tuples at one bucket chain.

use super::entry::{Entry, HOT_BYTES};
use super::evict::{EvictQueue, Evictable, QUEUE_SLACK};
use super::huge::{HUGE_PAGE, HugeBuf};
use super::index::FlowIndex;
use super::macs::{MacBook, Macs};
use crate::flow::FlowKey;
use crate::time::Instant;

/// Entries per small slab chunk: 1024 × 144 bytes = 144 KiB, so the last,
/// partly used chunk of a small table wastes little.
const CHUNK_ENTRIES: usize = 1024;
/// The first `SMALL_CHUNKS` chunks are small; every later one fills a huge
/// page (see [`HugeBuf`]), where a large table needs its TLB reach.
const SMALL_CHUNKS: usize = 16;
const SMALL_SLOTS: usize = SMALL_CHUNKS * CHUNK_ENTRIES;
/// Entries per big chunk: as many as one huge page holds.
const BIG_CHUNK_ENTRIES: usize = HUGE_PAGE / std::mem::size_of::<Option<Entry>>();

/// The chunk and the place in it of slot `i`.
#[inline]
fn locate(i: usize) -> (usize, usize) {
    if i < SMALL_SLOTS {
        (i / CHUNK_ENTRIES, i % CHUNK_ENTRIES)
    } else {
        let j = i - SMALL_SLOTS;
        (SMALL_CHUNKS + j / BIG_CHUNK_ENTRIES, j % BIG_CHUNK_ENTRIES)
    }
}

/// Slots in the first `chunks` chunks.
fn slots_in(chunks: usize) -> usize {
    if chunks <= SMALL_CHUNKS {
        chunks * CHUNK_ENTRIES
    } else {
        SMALL_SLOTS + (chunks - SMALL_CHUNKS) * BIG_CHUNK_ENTRIES
    }
}

/// The [`ConnTable::keyed_hasher`] purpose of the MAC book.
const MAC_BOOK_PURPOSE: u64 = 0x6d61_6373;

/// A slot in the table, valid until the entry is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowId(pub u32);

/// Kinds of entry counted as entries come, change and go: TCP by state (the
/// `TcpState` value, 0–9), bypass TCP (10), UDP replied or not (11, 12),
/// ICMP echo replied or not (13, 14), other IP protocols replied or not
/// (15, 16). Kept incrementally so that metrics read counters, never the
/// table.
pub const KIND_COUNT: usize = 17;
/// The kind of a UDP entry no reply has reached.
pub const KIND_UDP_UNREPLIED: usize = 12;
/// The kind of an ICMP echo entry no reply has reached.
pub const KIND_ECHO_UNREPLIED: usize = 14;
/// The kind of another IP protocol's entry no reply has reached.
pub const KIND_OTHER_UNREPLIED: usize = 16;

/// The kinds of entry [`Evictable`] kind `q` covers.
pub fn kinds_of(q: Evictable) -> &'static [usize] {
    use super::TcpState as S;
    const HALF_OPEN: [usize; 3] = [
        S::SynSent as usize,
        S::SynRecv as usize,
        S::SynSent2 as usize,
    ];
    match q {
        Evictable::Closed => &[S::Close as usize],
        Evictable::TimeWait => &[S::TimeWait as usize],
        Evictable::HalfOpen => &HALF_OPEN,
        Evictable::UdpUnreplied => &[KIND_UDP_UNREPLIED],
        Evictable::EchoUnreplied => &[KIND_ECHO_UNREPLIED],
        Evictable::OtherUnreplied => &[KIND_OTHER_UNREPLIED],
    }
}

/// The [`Evictable`] kind an entry of kind `kind` belongs to, if any (the
/// inverse of [`kinds_of`]; a lookup, as every change of an entry's kind
/// asks it).
#[inline]
pub fn evictable(kind: usize) -> Option<Evictable> {
    use super::TcpState as S;
    const BY_KIND: [Option<Evictable>; KIND_COUNT] = {
        let mut t = [None; KIND_COUNT];
        t[S::SynSent as usize] = Some(Evictable::HalfOpen);
        t[S::SynRecv as usize] = Some(Evictable::HalfOpen);
        t[S::SynSent2 as usize] = Some(Evictable::HalfOpen);
        t[S::TimeWait as usize] = Some(Evictable::TimeWait);
        t[S::Close as usize] = Some(Evictable::Closed);
        t[KIND_UDP_UNREPLIED] = Some(Evictable::UdpUnreplied);
        t[KIND_ECHO_UNREPLIED] = Some(Evictable::EchoUnreplied);
        t[KIND_OTHER_UNREPLIED] = Some(Evictable::OtherUnreplied);
        t
    };
    BY_KIND.get(kind).copied().flatten()
}

/// The kind of an entry, an index below [`KIND_COUNT`].
pub fn kind_of(e: &Entry) -> usize {
    use super::ProtoState;
    let unreplied = usize::from(e.flags & super::entry::conn_flags::REPLIED == 0);
    match &e.proto {
        ProtoState::Tcp(t) => t.state as usize,
        ProtoState::TcpBypass => 10,
        ProtoState::Udp => KIND_UDP_UNREPLIED - 1 + unreplied,
        ProtoState::IcmpEcho(_) => KIND_ECHO_UNREPLIED - 1 + unreplied,
        ProtoState::Other => KIND_OTHER_UNREPLIED - 1 + unreplied,
    }
}

/// Mutable access to one entry; when it is dropped, the table's kind counts
/// follow whatever the entry became, and an entry that became dead or
/// unproven joins the back of that kind's eviction queue.
#[derive(Debug)]
pub struct EntryMut<'a> {
    entry: &'a mut Entry,
    kinds: &'a mut [u64; KIND_COUNT],
    evictable: &'a mut [EvictQueue<Queued>; Evictable::COUNT],
    slot: u32,
    before: usize,
}

impl std::ops::Deref for EntryMut<'_> {
    type Target = Entry;
    fn deref(&self) -> &Entry {
        self.entry
    }
}

impl std::ops::DerefMut for EntryMut<'_> {
    fn deref_mut(&mut self) -> &mut Entry {
        self.entry
    }
}

impl Drop for EntryMut<'_> {
    fn drop(&mut self) {
        let after = kind_of(self.entry);
        if after != self.before {
            self.kinds[self.before] -= 1;
            self.kinds[after] += 1;
            if let Some(q) = evictable(after)
                && evictable(self.before) != Some(q)
            {
                self.evictable[q as usize].push((
                    FlowId(self.slot),
                    self.entry.id,
                    self.entry.last_seen,
                ));
            }
        }
    }
}

/// The table refused an insert because it holds its configured maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

/// The connection table.
#[derive(Debug)]
pub struct ConnTable {
    index: FlowIndex,
    chunks: Vec<HugeBuf<Option<Entry>>>,
    free: Vec<u32>,
    len: usize,
    high_water: usize,
    max_entries: usize,
    hasher: ahash::RandomState,
    /// The entries' MAC pairs.
    macs: MacBook,
    sweep_cursor: usize,
    /// Live entries by [`kind_of`].
    kinds: [u64; KIND_COUNT],
    /// Dead and unproven entries, per kind, in the order they became so
    /// (see [`evict`](super::evict)).
    evictable: [EvictQueue<Queued>; Evictable::COUNT],
    /// Walks of the whole table begun ([`iter`](Self::iter)), so a test can
    /// tell that a reader (a metrics scrape) did not walk it.
    walks: std::sync::atomic::AtomicU64,
}

impl ConnTable {
    /// An empty table that holds at most `max_entries`, hashing with the
    /// secret `seed`.
    pub fn new(max_entries: usize, seed: [u64; 4]) -> Self {
        ConnTable {
            index: FlowIndex::new(max_entries),
            chunks: Vec::new(),
            free: Vec::new(),
            len: 0,
            high_water: 0,
            max_entries,
            hasher: ahash::RandomState::with_seeds(seed[0], seed[1], seed[2], seed[3]),
            macs: MacBook::new(Self::keyed_hasher(seed, MAC_BOOK_PURPOSE)),
            sweep_cursor: 0,
            kinds: [0; KIND_COUNT],
            evictable: Default::default(),
            walks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A hasher for another packet-keyed map of this node (held frames,
    /// tombstones, per-client counts), keyed by the same secret as the
    /// table but distinct per `purpose`: an attacker who cannot learn the
    /// secret cannot aim packets at one bucket of any of them.
    pub fn keyed_hasher(seed: [u64; 4], purpose: u64) -> ahash::RandomState {
        // Distinct per purpose: mix the purpose into every word (a 64-bit
        // odd constant spreads it over all bits).
        let m = |w: u64, i: u64| w ^ purpose.wrapping_add(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ahash::RandomState::with_seeds(m(seed[0], 1), m(seed[1], 2), m(seed[2], 3), m(seed[3], 4))
    }

    /// The keyed hash of a flow key; compute once per packet and pass it to
    /// [`find`](Self::find) and [`insert`](Self::insert).
    pub fn hash(&self, key: &FlowKey) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most entries held at once since creation (the ASA's "most used").
    pub fn high_water(&self) -> usize {
        self.high_water
    }

    /// The configured maximum.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Bytes of heap the table holds (index, slab chunks, free list).
    pub fn memory_bytes(&self) -> usize {
        let slab = slots_in(self.chunks.len()) * std::mem::size_of::<Option<Entry>>();
        self.index.memory_bytes() + self.macs.memory_bytes() + slab + self.free.capacity() * 4
    }

    fn slot(&self, i: u32) -> Option<&Entry> {
        let (c, o) = locate(i as usize);
        self.chunks.get(c)?.get(o)?.as_ref()
    }

    /// Slots in the table (live or free), for a walk with [`try_get`](Self::try_get).
    pub fn slot_count(&self) -> usize {
        slots_in(self.chunks.len())
    }

    /// The entry in a slot, if the slot is live.
    pub fn try_get(&self, id: FlowId) -> Option<&Entry> {
        self.slot(id.0)
    }

    /// The entry with this key, if any.
    pub fn find(&self, hash: u64, key: &FlowKey) -> Option<FlowId> {
        let chunks = &self.chunks;
        self.index
            .find(hash, |i| {
                let (c, o) = locate(i as usize);
                matches!(&chunks[c][o], Some(e) if e.key == *key)
            })
            .map(FlowId)
    }

    /// Start loading the index bucket where a lookup of `hash` begins, so
    /// that a batch can hash every frame first and find them after.
    #[inline]
    pub fn prefetch_index(&self, hash: u64) {
        if let Some(p) = self.index.home_ptr(hash) {
            prefetch(p);
        }
    }

    /// Find the entry indexed under `hash` (its bucket should be loaded by now,
    /// see [`prefetch_index`](Self::prefetch_index)) and start loading the
    /// entry's cache lines. Returns the slot, a hint for
    /// [`find_hinted`](Self::find_hinted).
    #[inline]
    pub fn prefetch_entry(&self, hash: u64) -> Option<FlowId> {
        // The index holds slot numbers; comparing tags alone picks the
        // slot without touching an entry (a rare tag collision prefetches
        // one entry too many, which is harmless).
        if let Some(i) = self.index.find(hash, |_| true) {
            let (c, o) = locate(i as usize);
            if let Some(e) = self.chunks.get(c).and_then(|c| c.get(o)) {
                // The lines of the part a packet touches (the entry's
                // first HOT_BYTES, wherever they start in a line).
                let p: *const Option<Entry> = e;
                let p = p.cast::<u8>();
                prefetch(p);
                prefetch(p.wrapping_add(64));
                prefetch(p.wrapping_add(HOT_BYTES - 1));
            }
            return Some(FlowId(i));
        }
        None
    }

    /// [`find`](Self::find), trying `hint` first: the slot found for the
    /// same hash a moment ago, which still holds the key unless the entry
    /// left (or a tag collision picked another), in which case the index
    /// is searched as usual. Keys are unique in the table, so a slot whose
    /// entry has the key is the answer.
    #[inline]
    pub fn find_hinted(&self, hash: u64, key: &FlowKey, hint: Option<FlowId>) -> Option<FlowId> {
        if let Some(id) = hint
            && self.try_get(id).is_some_and(|e| e.key == *key)
        {
            return Some(id);
        }
        self.find(hash, key)
    }

    /// The entry in a slot returned by `find` or `insert`.
    ///
    /// # Panics
    /// If the slot is free: ids are only valid until `remove`.
    pub fn get(&self, id: FlowId) -> &Entry {
        self.slot(id.0).expect("FlowId used after remove")
    }

    /// Mutable access to an entry. The key must not be changed.
    ///
    /// # Panics
    /// If the slot is free.
    pub fn get_mut(&mut self, id: FlowId) -> EntryMut<'_> {
        let (c, o) = locate(id.0 as usize);
        let entry = self.chunks[c][o]
            .as_mut()
            .expect("FlowId used after remove");
        EntryMut {
            before: kind_of(entry),
            entry,
            kinds: &mut self.kinds,
            evictable: &mut self.evictable,
            slot: id.0,
        }
    }

    /// Mutable access to an entry for a change that leaves its kind
    /// ([`kind_of`]) as it was, so the kind counts need no update (the
    /// established-TCP fast path, which checks the kind is kept).
    ///
    /// # Panics
    /// If the slot is free.
    #[inline]
    pub(crate) fn get_mut_same_kind(&mut self, id: FlowId) -> &mut Entry {
        let (c, o) = locate(id.0 as usize);
        self.chunks[c][o]
            .as_mut()
            .expect("FlowId used after remove")
    }

    /// Live entries by kind ([`kind_of`]), kept as entries come, change and
    /// go: reading them costs nothing per entry.
    pub fn kind_counts(&self) -> &[u64; KIND_COUNT] {
        &self.kinds
    }

    /// Insert a new entry whose key is not yet in the table, opened by a
    /// frame from MAC `macs[0]` to `macs[1]` (`entry.macs` is set here).
    pub fn insert(&mut self, hash: u64, mut entry: Entry, macs: Macs) -> Result<FlowId, TableFull> {
        if self.len >= self.max_entries {
            return Err(TableFull);
        }
        entry.macs = self.macs.intern(macs);
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                let next = slots_in(self.chunks.len());
                let size = slots_in(self.chunks.len() + 1) - next;
                self.chunks.push(HugeBuf::new(size, None));
                // Slots of the new chunk beyond the first go to the free list,
                // highest first so they are handed out in order.
                self.free
                    .extend((next as u32 + 1..(next + size) as u32).rev());
                next as u32
            }
        };
        self.index.insert(hash, i);
        let kind = kind_of(&entry);
        self.kinds[kind] += 1;
        let (c, o) = locate(i as usize);
        self.chunks[c][o] = Some(entry);
        self.len += 1;
        self.high_water = self.high_water.max(self.len);
        if let Some(q) = evictable(kind) {
            self.evictable[q as usize].push((FlowId(i), entry.id, entry.last_seen));
        }
        for q in Evictable::ALL {
            self.tidy(q);
        }
        Ok(FlowId(i))
    }

    /// Keep `q`'s queue within a small multiple of its live entries.
    fn tidy(&mut self, q: Evictable) {
        let live: u64 = kinds_of(q).iter().map(|&k| self.kinds[k]).sum();
        let chunks = &self.chunks;
        self.evictable[q as usize].tidy(live as usize, QUEUE_SLACK, |(flow, id, _)| {
            holds(chunks, flow, id, q)
        });
    }

    /// The entry that has been of kind `q` longest (by the order entries
    /// became so), if any.
    pub fn oldest(&mut self, q: Evictable) -> Option<FlowId> {
        let chunks = &self.chunks;
        let queue = &mut self.evictable[q as usize];
        // An entry seen since it was queued (a one-way flow that goes on
        // sending) goes to the back with the time it was seen, so the
        // front is the least recently seen, not the first queued; a few
        // at a time, to keep each look O(1).
        for _ in 0..REQUEUE_PER_LOOK {
            let (flow, id, at) = queue.front(|(flow, id, _)| holds(chunks, flow, id, q))?;
            let seen = entry_at(chunks, flow).map_or(at, |e| e.last_seen);
            if seen <= at {
                return Some(flow);
            }
            queue.pop_front();
            queue.push((flow, id, seen));
        }
        queue
            .front(|(flow, id, _)| holds(chunks, flow, id, q))
            .map(|(flow, _, _)| flow)
    }

    /// The entry a new connection displaces when the table is full: a dead
    /// one if any, else an unproven one (docs/asa-behaviour.md §2.2). Of
    /// the oldest of each kind, the one seen least recently. `None` when
    /// every entry is established, answered, half-closed or bypass.
    pub fn displaceable(&mut self) -> Option<FlowId> {
        for kinds in [&Evictable::DEAD[..], &Evictable::UNPROVEN[..]] {
            let mut oldest: Option<FlowId> = None;
            for &q in kinds {
                if let Some(flow) = self.oldest(q)
                    && oldest.is_none_or(|o| self.get(flow).last_seen < self.get(o).last_seen)
                {
                    oldest = Some(flow);
                }
            }
            if oldest.is_some() {
                return oldest;
            }
        }
        None
    }

    /// Items in `q`'s queue, stale ones included (for tests of its bound).
    pub fn queued(&self, q: Evictable) -> usize {
        self.evictable[q as usize].len()
    }

    /// Remove an entry, returning it.
    ///
    /// # Panics
    /// If the slot is already free.
    pub fn remove(&mut self, id: FlowId) -> Entry {
        let i = id.0 as usize;
        let (c, o) = locate(i);
        let entry = self.chunks[c][o].take().expect("FlowId used after remove");
        let hash = self.hasher.hash_one(entry.key);
        let indexed = self.index.remove(hash, id.0);
        debug_assert!(indexed, "live entry {i} missing from the index");
        self.macs.release(entry.macs);
        self.free.push(id.0);
        self.len -= 1;
        self.kinds[kind_of(&entry)] -= 1;
        entry
    }

    /// The MAC addresses of an entry's opening frame (source,
    /// destination). For an entry just removed, valid until the next
    /// insert.
    pub fn macs_of(&self, entry: &Entry) -> Macs {
        self.macs.get(entry.macs)
    }

    /// Walks of the whole table begun so far.
    pub fn walks(&self) -> u64 {
        self.walks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// All live entries, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (FlowId, &Entry)> {
        self.walks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk
                .iter()
                .enumerate()
                .filter_map(move |(o, e)| e.as_ref().map(|e| (FlowId((slots_in(c) + o) as u32), e)))
        })
    }

    /// Visit up to `budget` slots from where the last sweep stopped, wrapping
    /// around, and remove the live entries for which `expired` holds, passing
    /// each removed entry to `removed`. Returns the number of slots visited.
    pub fn sweep(
        &mut self,
        budget: usize,
        mut expired: impl FnMut(FlowId, &Entry) -> bool,
        mut removed: impl FnMut(Entry),
    ) -> usize {
        let slots = slots_in(self.chunks.len());
        if slots == 0 {
            return 0;
        }
        let visits = budget.min(slots);
        for _ in 0..visits {
            let i = self.sweep_cursor % slots;
            self.sweep_cursor = (i + 1) % slots;
            if self
                .slot(i as u32)
                .is_some_and(|e| expired(FlowId(i as u32), e))
            {
                removed(self.remove(FlowId(i as u32)));
            }
        }
        visits
    }
}

/// Whether slot `flow` still holds connection `id`, and it is of kind `q`.
/// A queued entry: its slot, its connection id, and when it was last seen
/// as it was queued.
type Queued = (FlowId, u32, Instant);

/// Entries seen since they were queued moved to the back in one look at a
/// queue's front, at most ([`ConnTable::oldest`]).
const REQUEUE_PER_LOOK: usize = 8;

/// The entry in slot `flow`, if any.
fn entry_at(chunks: &[HugeBuf<Option<Entry>>], flow: FlowId) -> Option<&Entry> {
    let (c, o) = locate(flow.0 as usize);
    chunks
        .get(c)
        .and_then(|chunk| chunk.get(o))
        .and_then(Option::as_ref)
}

fn holds(chunks: &[HugeBuf<Option<Entry>>], flow: FlowId, id: u32, q: Evictable) -> bool {
    let (c, o) = locate(flow.0 as usize);
    chunks
        .get(c)
        .and_then(|chunk| chunk.get(o))
        .and_then(Option::as_ref)
        .is_some_and(|e| e.id == id && evictable(kind_of(e)) == Some(q))
}

/// A hint to load the cache line at `p`; it never faults, whatever `p` is.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch is only a
    // hint: it reads nothing and cannot fault on any address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::{NodeId, ProtoState};
    use crate::flow::{Addr, Endpoint, Tuple, proto};
    use crate::time::Instant;
    use crate::verdict::IfaceId;

    /// The maps packets key besides the table (held frames, tombstones,
    /// per-client counts) once used seeds fixed in the source, so anyone
    /// could aim a flood at one bucket: they are keyed from the node's
    /// secret, distinct per map.
    #[test]
    fn packet_keyed_hashers_follow_the_node_secret_and_differ_per_map() {
        let key = entry(4242).key;
        let h = |seed: [u64; 4], purpose| ConnTable::keyed_hasher(seed, purpose).hash_one(key);
        assert_eq!(
            h([1, 2, 3, 4], 1),
            h([1, 2, 3, 4], 1),
            "deterministic per secret"
        );
        assert_ne!(
            h([1, 2, 3, 4], 1),
            h([5, 6, 7, 8], 1),
            "another node, another hash"
        );
        assert_ne!(
            h([1, 2, 3, 4], 1),
            h([1, 2, 3, 4], 2),
            "another map, another hash"
        );
        let fixed = ahash::RandomState::with_seeds(3, 5, 7, 9).hash_one(key);
        assert_ne!(h([1, 2, 3, 4], 3), fixed);
    }

    fn entry(port: u16) -> Entry {
        let t = Tuple {
            src: Endpoint {
                addr: Addr::v4([198, 18, 0, 1]),
                port,
            },
            dst: Endpoint {
                addr: Addr::v4([198, 18, 1, 1]),
                port: 53,
            },
            proto: proto::UDP,
            vlan: 0,
        };
        let (key, orig_is_lo) = FlowKey::of(&t);
        Entry {
            key,
            flags: crate::conntrack::entry::conn_flags::orig_is_lo(orig_is_lo),
            ingress: [IfaceId(0), IfaceId(1)],
            owner: NodeId(1),
            class: crate::class_slot::DEFAULT_SLOT,
            id: u32::from(port),
            seq_offset: 0,
            min_ttl: [64, 64],
            macs: crate::conntrack::MacRef::default(),
            proto: ProtoState::Udp,
            packets: [1.into(), 0.into()],
            bytes: [64.into(), 0.into()],
            created: Instant::ZERO,
            last_seen: Instant::from_secs(u64::from(port)),
        }
    }

    fn add(t: &mut ConnTable, port: u16) -> Result<FlowId, TableFull> {
        let e = entry(port);
        let h = t.hash(&e.key);
        t.insert(
            h,
            e,
            [[2, 0, 0, 0, 0, (port % 3) as u8], [2, 0, 0, 0, 1, 0]],
        )
    }

    #[test]
    fn every_evictable_kind_maps_to_its_entry_kinds_and_back() {
        for kind in 0..KIND_COUNT {
            if let Some(q) = evictable(kind) {
                assert!(kinds_of(q).contains(&kind), "{kind}");
            }
        }
        for q in Evictable::ALL {
            for &k in kinds_of(q) {
                assert_eq!(evictable(k), Some(q));
            }
        }
        let established = crate::conntrack::TcpState::Established as usize;
        assert_eq!(evictable(established), None);
    }

    #[test]
    fn insert_find_remove_reuses_slots() {
        let mut t = ConnTable::new(10_000, [1, 2, 3, 4]);
        let ids: Vec<FlowId> = (0..5000).map(|p| add(&mut t, p).unwrap()).collect();
        assert_eq!(t.len(), 5000);
        for p in (0..5000).step_by(2) {
            let k = entry(p).key;
            let id = t.find(t.hash(&k), &k).unwrap();
            assert_eq!(id, ids[usize::from(p)]);
            assert_eq!(t.remove(id).id, u32::from(p));
        }
        assert_eq!(t.len(), 2500);
        assert_eq!(t.high_water(), 5000);
        let k = entry(2).key;
        assert_eq!(t.find(t.hash(&k), &k), None);
        let k = entry(3).key;
        assert_eq!(t.get(t.find(t.hash(&k), &k).unwrap()).id, 3);
        // Freed slots are reused before a new chunk is allocated.
        let chunks = t.chunks.len();
        for p in 5000..7500 {
            add(&mut t, p).unwrap();
        }
        assert_eq!(t.chunks.len(), chunks);
        assert_eq!(t.iter().count(), 5000);
    }

    /// Entries share their MAC pair (`add` gives three), each pair is freed
    /// with its last entry, and an entry just removed still reads its
    /// addresses (the idle-timeout RSTs are built after the removal).
    #[test]
    fn mac_pairs_are_shared_and_freed_with_their_last_entry() {
        let mut t = ConnTable::new(10_000, [1, 2, 3, 4]);
        let ids: Vec<FlowId> = (0..300).map(|p| add(&mut t, p).unwrap()).collect();
        assert_eq!(t.macs.live(), 3);
        let e = *t.get(ids[4]);
        assert_eq!(t.macs_of(&e), [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 1, 0]]);
        for &id in &ids[..299] {
            t.remove(id);
        }
        assert_eq!(t.macs.live(), 1);
        let last = t.remove(ids[299]);
        assert_eq!(t.macs.live(), 0);
        assert_eq!(t.macs_of(&last), [[2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 1, 0]]);
    }

    /// Past the small chunks, slots live in chunks of one huge page each:
    /// every entry is found where it was put, walks and sweeps see them all.
    #[test]
    fn slots_past_the_small_chunks_live_in_huge_page_chunks() {
        let n = SMALL_SLOTS + BIG_CHUNK_ENTRIES + 100;
        let mut t = ConnTable::new(n, [5, 6, 7, 8]);
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let mut e = entry((i % 60_000) as u16);
            e.key.hi.port = (i / 60_000) as u16;
            e.id = i as u32;
            let h = t.hash(&e.key);
            ids.push((t.insert(h, e, [[0; 6]; 2]).unwrap(), e.key));
        }
        assert_eq!(t.chunks.len(), SMALL_CHUNKS + 2);
        assert_eq!(t.slot_count(), SMALL_SLOTS + 2 * BIG_CHUNK_ENTRIES);
        for (i, (id, key)) in ids.iter().enumerate().step_by(97) {
            assert_eq!(t.find(t.hash(key), key), Some(*id));
            assert_eq!(t.get(*id).id, i as u32);
        }
        assert_eq!(t.iter().count(), n);
        assert_eq!(
            t.iter()
                .map(|(id, e)| (id.0, e.id))
                .filter(|(a, b)| a != b)
                .count(),
            0
        );
        let mut swept = 0;
        t.sweep(t.slot_count(), |_, e| e.id % 2 == 0, |_| swept += 1);
        assert_eq!(swept, n.div_ceil(2));
        assert_eq!(t.len(), n / 2);
    }

    #[test]
    fn refuses_inserts_beyond_the_maximum() {
        let mut t = ConnTable::new(3, [0; 4]);
        for p in 0..3 {
            add(&mut t, p).unwrap();
        }
        assert_eq!(add(&mut t, 3), Err(TableFull));
    }

    #[test]
    fn sweep_visits_a_bounded_slice_and_wraps() {
        let mut t = ConnTable::new(100_000, [0; 4]);
        for p in 0..100 {
            add(&mut t, p).unwrap();
        }
        let mut gone = Vec::new();
        // Entries with last_seen < 50 s are "expired".
        let visited = t.sweep(
            64,
            |_, e| e.last_seen < Instant::from_secs(50),
            |e| gone.push(e.id),
        );
        assert_eq!(visited, 64);
        assert_eq!(gone, (0..50).collect::<Vec<_>>());
        let mut more = 0;
        for _ in 0..(CHUNK_ENTRIES / 64 + 1) {
            t.sweep(64, |_, _| true, |_| more += 1);
        }
        assert_eq!(more, 50);
        assert!(t.is_empty());
    }

    #[test]
    fn keyed_hash_depends_on_the_seed() {
        let k = entry(1).key;
        let a = ConnTable::new(1, [1, 2, 3, 4]).hash(&k);
        let b = ConnTable::new(1, [1, 2, 3, 5]).hash(&k);
        assert_ne!(a, b);
    }

    #[test]
    fn memory_per_entry_is_reported() {
        let mut t = ConnTable::new(100_000, [0; 4]);
        for p in 0..CHUNK_ENTRIES as u16 {
            add(&mut t, p).unwrap();
        }
        let per = t.memory_bytes() / t.len();
        assert!(per >= std::mem::size_of::<Entry>(), "{per}");
        assert!(per < 2 * std::mem::size_of::<Entry>() + 64, "{per}");
    }
}
