//! Hit counts of access-list entries, `show access-list`'s `hitcnt`
//! (docs/asa-behaviour.md §2.9). A hit is counted on the entry that
//! decided a packet's final judgement, once per packet judged: the permit
//! of the ingress (or global) access-group that let a packet open a
//! connection (or pass, where the rules judge each packet alone), and of
//! the egress interface's `out` access-group after it, the deny that
//! dropped one (`acl-deny`), the permit of a class's `match access-list` that put
//! a new connection in its class, the EtherType `deny any` that dropped a
//! frame (`l2_acl`). Speculative looks at the policy (could a peer's
//! state let this frame through? does the policy permit the connection
//! an ICMP error quotes?) ask [`Policy`] directly and count nothing.
//!
//! While a frame is judged, the entries that decided it are noted in
//! [`AclHits::pending`]; `judge` hands them to the frame's judgement,
//! which counts them once it is final ([`Engine::settle_hits`]): not
//! while the frame waits, held, to be judged again on a peer's state.
//!
//! The counts are plain counters of the worker's engine, one per element
//! of an entry of the policy in force ([`AceRef`]: an entry over
//! object-groups has one per combination of their members, as the ASA
//! expands it, and the entry's count is their sum): no atomics on the
//! packet path; the ops side sums the workers' (docs/ARCHITECTURE.md §8).
//! A new policy carries them over, once per install, by each entry's list
//! name and the entry as configured, which its text prints, and the
//! element's key under it ([`AclListing`]): an entry a new configuration
//! keeps (wherever it now stands) keeps its counts, as the ASA keeps the
//! `hitcnt` of entries an edit did not change, and so does each element
//! whose group members it keeps; a changed or new entry, or a new member,
//! starts at 0.

use super::{Engine, Judgement};
use crate::policy::compile::Policy;
use crate::policy::listing::{AceRef, AclListing};
use crate::verdict::{DropReason, IfaceId, Verdict};

/// The entries that decided one frame's judgement: the ingress
/// access-group's, and the class access-lists' that put the connection
/// it opened in its class (and its bypass class, when that is another).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Decided {
    /// The access-groups' entries that permitted or denied it: on the
    /// way in (the interface's or the global one) and on the way out.
    pub acl: [Option<AceRef>; 2],
    /// The class access-lists' entries, for a connection it opened.
    pub classes: ClassEntries,
}

/// The class access-list entries that put a new connection in its class
/// and its bypass class ([`ClassDecision::entries`](crate::policy::compile::ClassDecision::entries)).
pub(super) type ClassEntries = [Option<AceRef>; 2];

/// Every element's hit count on this engine.
#[derive(Debug, Default)]
pub struct AclHits {
    /// Per element of the policy in force ([`AceRef::index`]).
    counts: Vec<u64>,
    /// What decided the frame being judged now; `judge` takes it.
    pub(super) pending: Decided,
}

impl AclHits {
    /// The hit count of element `e` of the policy in force.
    pub fn get(&self, e: AceRef) -> u64 {
        self.counts.get(e.index()).copied().unwrap_or(0)
    }

    /// The hit counts of `listing`'s elements (a list of the policy in
    /// force), in order: entry `e`'s are those of
    /// [`e.range()`](crate::policy::listing::ListedEntry::range).
    pub fn of(&self, listing: &AclListing) -> &[u64] {
        let end = listing.first + listing.element_count();
        self.counts.get(listing.first..end).unwrap_or(&[])
    }

    /// Count a judgement's entries.
    fn count(&mut self, d: &Decided) {
        for e in [d.acl[0], d.acl[1], d.classes[0], d.classes[1]]
            .into_iter()
            .flatten()
        {
            self.add(e, 1);
        }
    }

    fn add(&mut self, e: AceRef, n: u64) {
        if let Some(c) = self.counts.get_mut(e.index()) {
            *c = c.saturating_add(n);
        }
    }

    /// Counts for `new`'s elements, those `old` had under the same list
    /// name, entry and element key carried over. Once per install, and
    /// only the elements that were hit are looked up, by the keys the
    /// policy computed for each ([`ListedEntry::key`](crate::policy::listing::ListedEntry::key),
    /// [`AclListing::element_keys`]): nothing is hashed or compared here
    /// but integers.
    fn install(&mut self, old: &Policy, new: &Policy) {
        let had = std::mem::take(&mut self.counts);
        let total = new.listings().iter().map(AclListing::element_count).sum();
        self.counts = vec![0; total];
        if had.iter().all(|&c| c == 0) {
            return;
        }
        let hit = had.iter().filter(|&&c| c > 0).count();
        let mut by_key: hashbrown::HashMap<(u128, u64), usize, ahash::RandomState> =
            hashbrown::HashMap::with_capacity_and_hasher(
                hit,
                ahash::RandomState::with_seeds(1, 2, 3, 4),
            );
        // A list names an entry once (the parser keeps one of each,
        // docs/asa-behaviour.md §2.1); a hand-built one may repeat it, and
        // each repeat, kept aside, counts for one repeat of the new list.
        let mut aside: Vec<((u128, u64), usize)> = Vec::new();
        for listing in old.listings() {
            for e in listing.entries().filter_map(|l| l.entry) {
                for at in e.range() {
                    let i = listing.first + at;
                    let key = (e.key, listing.element_keys[at]);
                    if had.get(i).is_some_and(|&c| c > 0) && by_key.try_insert(key, i).is_err() {
                        aside.push((key, i));
                    }
                }
            }
        }
        for listing in new.listings() {
            for e in listing.entries().filter_map(|l| l.entry) {
                for at in e.range() {
                    let key = (e.key, listing.element_keys[at]);
                    let found = by_key.remove(&key).or_else(|| {
                        let at = aside.iter().position(|&(k, _)| k == key)?;
                        Some(aside.swap_remove(at).1)
                    });
                    if let Some(i) = found {
                        self.counts[listing.first + at] = had[i];
                    }
                }
            }
        }
    }

    /// Zero the counts of every list `which` picks among `listings` (the
    /// policy in force's), every element of every entry; how many lists
    /// that was.
    fn clear(&mut self, listings: &[AclListing], which: impl Fn(&AclListing) -> bool) -> usize {
        let mut n = 0;
        for listing in listings.iter().filter(|l| which(l)) {
            let end = listing.first + listing.element_count();
            if let Some(counts) = self.counts.get_mut(listing.first..end) {
                counts.fill(0);
            }
            n += 1;
        }
        n
    }
}

impl Engine {
    /// The hit counts of the access-list entries of the policy in force
    /// ([`policy().listings()`](Policy::listings) lists them).
    pub fn acl_hits(&self) -> &AclHits {
        &self.hits
    }

    /// `clear access-list [NAME] counters`: zero the hit counts of the
    /// list named `name`, or of every list; how many lists were cleared
    /// (0: the policy has no list of that name).
    pub fn clear_acl_hits(&mut self, name: Option<&str>) -> usize {
        self.hits
            .clear(self.policy.listings(), |l| name.is_none_or(|n| l.name == n))
    }

    /// A connection opened in the classes whose access-list entries are
    /// `entries`: the frame's judgement counts them.
    pub(super) fn opened_in(&mut self, entries: ClassEntries) {
        self.hits.pending.classes = entries;
    }

    /// Carry the hit counts over to a policy about to be installed.
    pub(super) fn install_hits(&mut self, new: &Policy) {
        self.hits.install(&self.policy, new);
    }

    /// A judgement became the frame's verdict: count the entries that
    /// decided it, unless the frame waits to be judged again (held for a
    /// peer's state: a frame judged a drop that is kept as
    /// [`Verdict::Hold`]). A frame deferred for a peer's acknowledgement
    /// was judged for good.
    pub(super) fn settle_hits(&mut self, judged: &Judgement, verdict: Verdict) {
        if verdict == Verdict::Hold && judged.decision.is_err() {
            return;
        }
        self.count_decided(&judged.decided);
    }

    /// Count what decided a judgement that is final.
    pub(super) fn count_decided(&mut self, d: &Decided) {
        self.hits.count(d);
    }

    /// `frames` frames arriving on `ingress` were dropped before they
    /// were judged, for `reason`: an EtherType `deny any` counts them.
    pub(super) fn count_gate(&mut self, ingress: IfaceId, reason: DropReason, frames: u64) {
        if reason != DropReason::EthertypeDeny {
            return;
        }
        if let Some(e) = self.policy.ethertype_entry(ingress) {
            self.hits.add(e, frames);
        }
    }
}
