//! The connection table's index: keyed hash → slot number, in one flat
//! array of 8-byte buckets with Robin Hood linear probing.
//!
//! Why not a general-purpose map: the packet path wants to start the
//! memory loads of a whole batch before it needs any of them (parse and
//! hash every frame, prefetch each one's bucket, then its entry, then
//! decide), and that needs the bucket's address from the hash alone, which
//! no map crate exposes. The layout is small enough to own:
//!
//! - A bucket is `tag << 32 | (slot + 1)`, `0` when empty. The tag is the
//!   upper 32 bits of the keyed hash, so probing compares tags and reads an
//!   entry only on a tag match (a false match costs one key comparison,
//!   about one probe in 2^(32 − log2 buckets)).
//! - The home bucket is `tag × buckets >> 32` (Lemire's multiply-shift
//!   range reduction), so any bucket count works and growth need not
//!   double: the index grows by doubling but never past what
//!   `max_entries` needs at the load limit, so a table sized for its
//!   configured maximum spends 8 × 8/7 ≈ 9.1 bytes per entry when full.
//! - Robin Hood insertion (an entry far from home displaces one nearer to
//!   its own) keeps probe sequences short and even at 7/8 load; a lookup
//!   stops as soon as it meets a bucket nearer its home than the probe has
//!   come, so misses are as short as hits. Removal shifts the following
//!   run back by one (backward-shift deletion), leaving no tombstones.
//!   Both need a bucket's home, which the tag gives without touching the
//!   entry: growth rehashes from the index alone.

use super::huge::HugeBuf;

/// Buckets at most 7/8 full.
const LOAD_NUM: usize = 7;
const LOAD_DEN: usize = 8;
/// Buckets in the first allocation.
const MIN_BUCKETS: usize = 64;

/// Keyed hash → slot index.
#[derive(Debug)]
pub(crate) struct FlowIndex {
    buckets: HugeBuf<u64>,
    len: usize,
    /// The most buckets the table's maximum can need.
    limit: usize,
}

/// The tag of a hash: its upper 32 bits.
#[inline]
fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

#[inline]
fn pack(tag: u32, slot: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(slot + 1)
}

#[inline]
fn slot_of(bucket: u64) -> u32 {
    (bucket as u32).wrapping_sub(1)
}

/// Buckets that keep `entries` at or under the load limit.
fn buckets_for(entries: usize) -> usize {
    entries
        .saturating_mul(LOAD_DEN)
        .div_ceil(LOAD_NUM)
        .saturating_add(1)
        .max(MIN_BUCKETS)
}

impl FlowIndex {
    /// An empty index for a table of at most `max_entries` entries.
    pub(crate) fn new(max_entries: usize) -> Self {
        // The slot number is stored in 32 bits (plus one), and the home
        // computation assumes at most 2^32 buckets.
        let limit = buckets_for(max_entries).min(u32::MAX as usize);
        FlowIndex {
            buckets: HugeBuf::new(0, 0),
            len: 0,
            limit,
        }
    }

    /// Bytes of heap held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<u64>()
    }

    #[inline]
    fn home(&self, tag: u32) -> usize {
        ((u64::from(tag) * self.buckets.len() as u64) >> 32) as usize
    }

    /// How far bucket `at`, holding `tag`, lies from its home.
    #[inline]
    fn distance(&self, tag: u32, at: usize) -> usize {
        let home = self.home(tag);
        if at >= home {
            at - home
        } else {
            at + self.buckets.len() - home
        }
    }

    #[inline]
    fn next(&self, at: usize) -> usize {
        if at + 1 == self.buckets.len() {
            0
        } else {
            at + 1
        }
    }

    /// The address of the bucket where a lookup of `hash` starts, to
    /// prefetch.
    #[inline]
    pub(crate) fn home_ptr(&self, hash: u64) -> Option<*const u64> {
        if self.buckets.is_empty() {
            return None;
        }
        Some(&raw const self.buckets[self.home(tag_of(hash))])
    }

    /// The slot whose entry `is_key` accepts, among those indexed under `hash`.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let tag = tag_of(hash);
        let mut at = self.home(tag);
        let mut probed = 0;
        loop {
            let b = self.buckets[at];
            if b == 0 {
                return None;
            }
            let t = (b >> 32) as u32;
            if t == tag {
                if is_key(slot_of(b)) {
                    return Some(slot_of(b));
                }
            } else if self.distance(t, at) < probed {
                // Robin Hood: the key would have displaced this bucket.
                return None;
            }
            at = self.next(at);
            probed += 1;
        }
    }

    /// Index `slot` under `hash`. The caller guarantees that the table holds
    /// no more than its maximum, so the index never passes its load limit.
    pub(crate) fn insert(&mut self, hash: u64, slot: u32) {
        if (self.len + 1) * LOAD_DEN > self.buckets.len() * LOAD_NUM {
            self.grow();
        }
        self.place(pack(tag_of(hash), slot));
        self.len += 1;
    }

    /// Robin Hood insertion of a packed bucket.
    fn place(&mut self, mut carry: u64) {
        let mut at = self.home((carry >> 32) as u32);
        let mut probed = 0;
        loop {
            let b = self.buckets[at];
            if b == 0 {
                self.buckets[at] = carry;
                return;
            }
            let theirs = self.distance((b >> 32) as u32, at);
            if theirs < probed {
                self.buckets[at] = carry;
                carry = b;
                probed = theirs;
            }
            at = self.next(at);
            probed += 1;
        }
    }

    /// Double the buckets (at most to the limit, at least past the load
    /// limit) and re-place every bucket by its tag.
    fn grow(&mut self) {
        let want = (self.buckets.len() * 2)
            .max(MIN_BUCKETS)
            .min(self.limit)
            .max(buckets_for(self.len + 1));
        let old = std::mem::replace(&mut self.buckets, HugeBuf::new(want, 0));
        for b in old.iter().copied().filter(|&b| b != 0) {
            self.place(b);
        }
    }

    /// Remove `slot`, indexed under `hash`. Returns whether it was there.
    pub(crate) fn remove(&mut self, hash: u64, slot: u32) -> bool {
        if self.buckets.is_empty() {
            return false;
        }
        let want = pack(tag_of(hash), slot);
        let mut at = self.home(tag_of(hash));
        loop {
            let b = self.buckets[at];
            if b == 0 {
                return false;
            }
            if b == want {
                break;
            }
            at = self.next(at);
        }
        // Backward shift: pull the rest of the run one bucket nearer home.
        loop {
            let next = self.next(at);
            let b = self.buckets[next];
            if b == 0 || self.distance((b >> 32) as u32, next) == 0 {
                self.buckets[at] = 0;
                break;
            }
            self.buckets[at] = b;
            at = next;
        }
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A deterministic stream of 64-bit hashes.
    fn hashes(seed: u64) -> impl Iterator<Item = u64> {
        let mut x = seed;
        std::iter::repeat_with(move || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
    }

    /// Inserts and removes at random against a `HashMap` model, with
    /// colliding tags forced in (several keys per hash), through growth
    /// and down again: every key is found exactly while it is present.
    #[test]
    fn agrees_with_a_map_through_growth_and_removal() {
        let max = 20_000;
        let mut index = FlowIndex::new(max);
        let mut model: HashMap<u32, u64> = HashMap::new();
        let mut next_slot = 0u32;
        let mut free: Vec<u32> = Vec::new();
        let hs: Vec<u64> = hashes(7).take(60_000).collect();
        for (step, &h) in hs.iter().enumerate() {
            // Every 7th key reuses an earlier hash: same tag, same home.
            let h = if step % 7 == 3 { hs[step / 2] } else { h };
            let remove = model.len() >= max || (step % 3 == 0 && !model.is_empty());
            if remove {
                let (&slot, &hash) = model.iter().next().expect("not empty");
                assert!(index.remove(hash, slot));
                assert!(!index.remove(hash, slot), "removed twice");
                model.remove(&slot);
                free.push(slot);
            } else {
                let slot = free.pop().unwrap_or_else(|| {
                    next_slot += 1;
                    next_slot - 1
                });
                index.insert(h, slot);
                model.insert(slot, h);
            }
            if step % 997 == 0 {
                for (&slot, &hash) in &model {
                    assert_eq!(index.find(hash, |s| s == slot), Some(slot));
                }
                assert_eq!(index.len, model.len());
            }
        }
        for (&slot, &hash) in &model {
            assert_eq!(index.find(hash, |s| s == slot), Some(slot));
        }
        // Absent keys are not found.
        for h in hashes(99).take(1_000) {
            assert_eq!(index.find(h, |s| model.get(&s) == Some(&h)), None);
        }
        let removed: Vec<(u32, u64)> = model.iter().map(|(&s, &h)| (s, h)).collect();
        for (slot, hash) in removed {
            assert!(index.remove(hash, slot));
        }
        assert_eq!(index.len, 0);
        assert!(index.buckets.iter().all(|&b| b == 0));
    }

    /// An index of `max` entries, filled to its maximum with hashes from `seed`.
    fn full(max: usize, seed: u64) -> FlowIndex {
        let mut index = FlowIndex::new(max);
        for (slot, h) in hashes(seed).take(max).enumerate() {
            index.insert(h, slot as u32);
        }
        index
    }

    /// The index never grows past what the table's maximum needs at the
    /// load limit: a full table costs about 9.1 bytes per entry.
    #[test]
    fn a_full_table_costs_nine_bytes_an_entry_in_the_index() {
        let max = 100_000;
        let index = full(max, 3);
        assert_eq!(index.buckets.len(), buckets_for(max));
        let per = index.memory_bytes() as f64 / max as f64;
        assert!(per < 9.2, "{per} bytes per entry");
    }

    /// Probe runs stay short at the load limit (Robin Hood keeps the
    /// longest one near the log of the size).
    #[test]
    fn probes_stay_short_at_the_load_limit() {
        let index = full(50_000, 11);
        let longest = index
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, b)| **b != 0)
            .map(|(at, b)| index.distance((b >> 32) as u32, at))
            .max()
            .unwrap_or(0);
        assert!(longest < 64, "longest probe {longest}");
    }
}
