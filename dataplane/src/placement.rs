//! Where a flow's state lives in a cluster of more than two nodes
//! (docs/sync.md §13): rendezvous (highest random weight) hashing of the
//! direction-normalised flow key over the live members ranks the nodes for
//! each flow. The first is the flow's *director*: it always receives the
//! flow's insert, so any node can ask it for the state (a pull). While
//! fewer than `copies` nodes hold a flow actively, the next ranked nodes
//! receive its changes as backups.
//!
//! Rendezvous hashing moves only the flows of a member that leaves or
//! joins: a flow's ranking among the other members never changes, so after
//! a failure its new director is the node ranked second before, which the
//! flow's backups already include.
//!
//! The weights use a fixed, unkeyed mix, the same on every node and build,
//! since every node must rank alike. A sender who chooses tuples can
//! therefore steer flows to one director; that node then holds more
//! copies than its share, which costs memory, not correctness.

use crate::flow::FlowKey;

/// The most nodes that may hold each flow actively (`[cluster] copies`,
/// docs/sync.md §11): a peer's bulk request asking for more is refused.
pub const MAX_COPIES: usize = 16;

/// The members a node places flows over, and how many copies it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Live members, this node included, ascending and without repeats.
    members: Vec<u16>,
    /// Nodes that hold each flow actively, the owner included.
    copies: usize,
}

/// The finalizer of SplitMix64 (Steele, Lea and Flood, "Fast splittable
/// pseudorandom number generators", OOPSLA 2014): a bijection on 64 bits
/// in which every input bit affects every output bit.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 64-bit digest of a flow key, the same on every node.
pub fn key_digest(key: &FlowKey) -> u64 {
    let mut h = 0x9e37_79b9_7f4a_7c15_u64;
    for end in [key.lo, key.hi] {
        let a = end.addr.0;
        let w0 = u64::from_le_bytes(a[..8].try_into().expect("8 bytes"));
        let w1 = u64::from_le_bytes(a[8..].try_into().expect("8 bytes"));
        h = mix(h ^ w0);
        h = mix(h ^ w1);
        h = mix(h ^ u64::from(end.port));
    }
    mix(h ^ u64::from(key.proto) ^ (u64::from(key.vlan) << 8))
}

/// The weight of `node` for a flow whose key digest is `digest`.
fn weight(digest: u64, node: u16) -> u64 {
    mix(digest ^ mix(u64::from(node).wrapping_add(0x632b_e59b_d9b4_e019)))
}

impl Placement {
    /// Placement over `members` (order and repeats do not matter), keeping
    /// `copies` (at least 1) active holders per flow.
    pub fn new(members: impl IntoIterator<Item = u16>, copies: usize) -> Placement {
        let mut members: Vec<u16> = members.into_iter().collect();
        members.sort_unstable();
        members.dedup();
        Placement {
            members,
            copies: copies.max(1),
        }
    }

    /// The live members, ascending.
    pub fn members(&self) -> &[u16] {
        &self.members
    }

    /// Copies kept per flow.
    pub fn copies(&self) -> usize {
        self.copies
    }

    /// The members of both placements (those that stayed live through
    /// two changes), with this one's copies: a walk that restarts for a
    /// newer change starts from this, so a member that left and came back
    /// in between counts as new.
    pub fn stayed(&self, other: &Placement) -> Placement {
        Placement::new(
            self.members.iter().copied().filter(|&n| other.has(n)),
            self.copies,
        )
    }

    /// Whether `node` is a live member.
    pub fn has(&self, node: u16) -> bool {
        self.members.binary_search(&node).is_ok()
    }

    /// The members ranked for the flow, highest weight first (ties, which
    /// need two equal 64-bit weights, by lower node id).
    pub fn ranked(&self, key: &FlowKey) -> Vec<u16> {
        let d = key_digest(key);
        let mut ranked: Vec<(u64, u16)> = self.members.iter().map(|&n| (weight(d, n), n)).collect();
        ranked.sort_unstable_by(|a, b| rank_order(*a, *b));
        ranked.into_iter().map(|(_, n)| n).collect()
    }

    /// The flow's director: the member ranked first.
    pub fn director(&self, key: &FlowKey) -> Option<u16> {
        let d = key_digest(key);
        self.members
            .iter()
            .map(|&n| (weight(d, n), n))
            .min_by(|a, b| rank_order(*a, *b))
            .map(|(_, n)| n)
    }

    /// The `n` members ranked first for the flow, in rank order: the head
    /// of [`ranked`](Self::ranked), found without ranking every member.
    /// It runs for every flow a bulk dump or a rebalance walk visits, on
    /// the packet thread, so its cost must not grow with the log of the
    /// members times the table (a bulk request naming thousands of
    /// members once stalled forwarding for seconds).
    pub fn first(&self, key: &FlowKey, n: usize) -> Vec<u16> {
        let m = self.members.len();
        if n >= m {
            return self.ranked(key);
        }
        if n == 0 {
            return Vec::new();
        }
        let d = key_digest(key);
        let weighed = self.members.iter().map(|&node| (weight(d, node), node));
        let mut top: Vec<(u64, u16)>;
        if n <= SMALL_TOP {
            // The best n so far, in rank order: a member that does not beat
            // the last is passed over with one comparison.
            top = Vec::with_capacity(n + 1);
            for w in weighed {
                if top.len() == n && rank_order(w, top[n - 1]).is_ge() {
                    continue;
                }
                let at = top.partition_point(|&t| rank_order(t, w).is_lt());
                top.insert(at, w);
                top.truncate(n);
            }
        } else {
            top = weighed.collect();
            top.select_nth_unstable_by(n - 1, |a, b| rank_order(*a, *b));
            top.truncate(n);
            top.sort_unstable_by(|a, b| rank_order(*a, *b));
        }
        top.into_iter().map(|(_, node)| node).collect()
    }

    /// Whether `node` is a member ranked among the first `n` for the flow
    /// (`first(key, n).contains(&node)`, counting the members that rank
    /// before it instead of listing them).
    pub fn ranks_within(&self, key: &FlowKey, node: u16, n: usize) -> bool {
        if !self.has(node) {
            return false;
        }
        let d = key_digest(key);
        let own = (weight(d, node), node);
        let before = self
            .members
            .iter()
            .filter(|&&m| rank_order((weight(d, m), m), own).is_lt())
            .count();
        before < n
    }
}

/// Above this many, [`Placement::first`] selects with a partition instead
/// of keeping its best ones in order (callers ask for `copies`, at most
/// 16, or one more).
const SMALL_TOP: usize = 32;

/// The ranking's order of two (weight, node) pairs: higher weight first,
/// then the lower node id.
fn rank_order(a: (u64, u16), b: (u64, u16)) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then(a.1.cmp(&b.1))
}

/// A node's share of a peer's table: what a bulk sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The placement as the asking node will see the cluster.
    pub placement: Placement,
    /// The asking node.
    pub node: u16,
}

impl Share {
    /// Whether `node` should hold the flow: it is the flow's director or
    /// among the backups ranked next (`copies` in all), or its owner.
    pub fn wants(&self, state: &crate::sync::FlowState) -> bool {
        state.inc.owner == self.node
            || self
                .placement
                .ranks_within(&state.key, self.node, self.placement.copies())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Addr, Endpoint, proto};

    fn key(i: u32) -> FlowKey {
        let mut a = [0u8; 16];
        a[10] = 0xff;
        a[11] = 0xff;
        a[12..].copy_from_slice(&[198, 18, (i >> 8) as u8, i as u8]);
        let mut b = a;
        b[12..].copy_from_slice(&[198, 19, 0, 20]);
        FlowKey {
            lo: Endpoint {
                addr: Addr(a),
                port: 40_000 + (i % 20_000) as u16,
            },
            hi: Endpoint {
                addr: Addr(b),
                port: 443,
            },
            proto: proto::TCP,
            vlan: 0,
        }
    }

    #[test]
    fn every_node_ranks_alike_whatever_the_order_it_lists_members_in() {
        let a = Placement::new([4, 1, 3, 2], 2);
        let b = Placement::new([1, 2, 3, 4, 2], 2);
        for i in 0..1000 {
            assert_eq!(a.ranked(&key(i)), b.ranked(&key(i)));
            assert_eq!(a.director(&key(i)), Some(a.ranked(&key(i))[0]));
        }
    }

    #[test]
    fn directors_spread_evenly() {
        let p = Placement::new(1..=6, 2);
        let mut count = [0u32; 7];
        let n = 60_000;
        for i in 0..n {
            count[usize::from(p.director(&key(i)).expect("members"))] += 1;
        }
        for c in &count[1..] {
            // 10,000 expected each; five standard deviations is about 460.
            assert!((9_500..=10_500).contains(c), "uneven: {count:?}");
        }
    }

    #[test]
    fn a_member_leaving_moves_only_its_own_flows_and_the_second_takes_over() {
        let before = Placement::new(1..=5, 2);
        let after = Placement::new([1, 2, 4, 5], 2);
        let mut moved = 0;
        for i in 0..10_000 {
            let r = before.ranked(&key(i));
            let d = after.director(&key(i)).expect("members");
            if r[0] == 3 {
                moved += 1;
                assert_eq!(d, r[1], "the second-ranked node takes over");
            } else {
                assert_eq!(d, r[0], "a flow not directed by the leaver stays");
            }
            // The ranking among the others is unchanged.
            let mut rest = r.clone();
            rest.retain(|&n| n != 3);
            assert_eq!(after.ranked(&key(i)), rest);
        }
        assert!((1_700..=2_300).contains(&moved), "{moved}");
    }

    proptest::proptest! {
        /// `first` and `ranks_within` select without sorting every member:
        /// they must agree with the full ranking, on any members (ids
        /// spread over the whole range, so ties of weight never decide),
        /// for small and large `n`.
        #[test]
        fn the_first_ranked_are_the_head_of_the_full_ranking(
            members in proptest::collection::vec(proptest::prelude::any::<u16>(), 0..120),
            n in 0usize..80,
            copies in 1usize..17,
            flow in proptest::prelude::any::<u32>(),
            node in proptest::prelude::any::<u16>(),
        ) {
            let p = Placement::new(members.iter().copied(), copies);
            let k = key(flow);
            let mut head = p.ranked(&k);
            head.truncate(n);
            proptest::prop_assert_eq!(p.first(&k, n), head.clone());
            let asked = members.first().copied().unwrap_or(node);
            for who in [asked, node] {
                proptest::prop_assert_eq!(p.ranks_within(&k, who, n), head.contains(&who));
            }
        }
    }

    #[test]
    fn the_digest_is_pinned() {
        // Every node of a cluster must compute the same digest: a change
        // here is a change of the wire protocol (docs/sync.md §7).
        assert_eq!(key_digest(&key(7)), 0xef26_4fff_0370_67d7);
        assert_eq!(Placement::new(1..=4, 2).ranked(&key(7)), vec![2, 1, 3, 4]);
    }
}
