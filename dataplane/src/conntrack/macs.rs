//! The MAC addresses of connections' opening frames, interned: an entry
//! keeps a 4-byte reference instead of 12 bytes of addresses.
//!
//! A bridge sees few distinct (source, destination) MAC pairs — between two
//! routers, one per direction — while it tracks up to millions of
//! connections, and the addresses are read only to address the RSTs of
//! `timeout idle … reset` and to share an entry with peers. Pairs are
//! reference-counted and their numbers reused once free, so a node whose
//! neighbours change does not accumulate them; an attacker who varies its
//! source MAC per connection gets at most one pair per entry, which the
//! table's maximum already bounds. The map is keyed by the node's secret
//! like every other packet-keyed map.

use std::collections::HashMap;

/// A (source, destination) MAC pair, as the opening frame carried it.
pub type Macs = [[u8; 6]; 2];

/// An entry's reference to its interned MAC pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MacRef(pub u32);

/// Interned MAC pairs with reference counts.
#[derive(Debug)]
pub(crate) struct MacBook {
    /// Each pair and the entries that refer to it (0: free).
    pairs: Vec<(Macs, u32)>,
    free: Vec<u32>,
    by_pair: HashMap<Macs, u32, ahash::RandomState>,
    /// The pair interned last: nearly every new connection repeats it.
    last: Option<(Macs, u32)>,
}

impl MacBook {
    pub(crate) fn new(hasher: ahash::RandomState) -> Self {
        MacBook {
            pairs: Vec::new(),
            free: Vec::new(),
            by_pair: HashMap::with_hasher(hasher),
            last: None,
        }
    }

    /// A reference to `macs` for one more entry.
    pub(crate) fn intern(&mut self, macs: Macs) -> MacRef {
        let live = |p: &(Macs, u32)| p.0 == macs && p.1 > 0;
        let at = match self.last {
            Some((_, at)) if live(&self.pairs[at as usize]) => at,
            // The map holds only pairs some entry refers to.
            _ => match self.by_pair.get(&macs) {
                Some(&at) => at,
                None => {
                    let at = match self.free.pop() {
                        Some(at) => {
                            self.pairs[at as usize] = (macs, 0);
                            at
                        }
                        None => {
                            self.pairs.push((macs, 0));
                            (self.pairs.len() - 1) as u32
                        }
                    };
                    self.by_pair.insert(macs, at);
                    at
                }
            },
        };
        self.pairs[at as usize].1 += 1;
        self.last = Some((macs, at));
        MacRef(at)
    }

    /// One entry fewer refers to `r`. A pair no entry refers to keeps its
    /// addresses (readable with [`get`](Self::get)) until the next
    /// [`intern`](Self::intern) reuses its number.
    pub(crate) fn release(&mut self, r: MacRef) {
        let Some(p) = self.pairs.get_mut(r.0 as usize) else {
            return;
        };
        if p.1 == 0 {
            return;
        }
        p.1 -= 1;
        if p.1 == 0 {
            let macs = p.0;
            self.by_pair.remove(&macs);
            self.free.push(r.0);
        }
    }

    /// The addresses behind `r` (zeros for a reference the book never gave).
    pub(crate) fn get(&self, r: MacRef) -> Macs {
        self.pairs.get(r.0 as usize).map_or([[0; 6]; 2], |p| p.0)
    }

    /// Pairs referred to by at least one entry.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.pairs.len() - self.free.len()
    }

    /// Bytes of heap held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.pairs.capacity() * std::mem::size_of::<(Macs, u32)>()
            + self.free.capacity() * 4
            // A hash map entry: key, value and a control byte.
            + self.by_pair.capacity() * (std::mem::size_of::<(Macs, u32)>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(i: u8) -> Macs {
        [[2, 0, 0, 0, 0, i], [2, 0, 0, 0, 1, i]]
    }

    #[test]
    fn pairs_are_shared_counted_and_reused_once_free() {
        let mut b = MacBook::new(ahash::RandomState::with_seeds(1, 2, 3, 4));
        let a1 = b.intern(pair(1));
        let a2 = b.intern(pair(1));
        let c = b.intern(pair(2));
        assert_eq!(a1, a2);
        assert_ne!(a1, c);
        assert_eq!(b.get(a1), pair(1));
        assert_eq!(b.get(c), pair(2));
        assert_eq!(b.live(), 2);
        b.release(a1);
        assert_eq!(b.live(), 2, "still referred to once");
        b.release(a2);
        assert_eq!(b.live(), 1);
        // Freed, but readable until the number is reused.
        assert_eq!(b.get(a1), pair(1));
        let d = b.intern(pair(3));
        assert_eq!(d, a1, "the free number is reused");
        assert_eq!(b.get(d), pair(3));
        // The old pair is no longer found under its addresses: interning
        // it again makes a new number.
        let e = b.intern(pair(1));
        assert_ne!(e, d);
        assert_eq!(b.get(e), pair(1));
        assert_eq!(b.get(c), pair(2));
        // The last-used shortcut does not hand out a freed pair.
        b.release(e);
        let f = b.intern(pair(1));
        assert_eq!(b.get(f), pair(1));
        assert_eq!(b.live(), 3);
        // A release of a reference the book never gave changes nothing.
        b.release(MacRef(999));
        b.release(f);
        b.release(f);
        assert_eq!(b.live(), 2);
    }
}
