//! First-match packet classification whose cost does not grow with the
//! number of rules: tuple space search (Srinivasan, Suri, Varghese 1999),
//! as Open vSwitch's classifier applies it.
//!
//! Every rule is reduced to *atoms*: an exact protocol (or any), a source
//! and destination prefix, and source and destination port prefixes (a port
//! range becomes the few aligned blocks that cover it exactly). Atoms with
//! the same prefix lengths share a *subtable*: one hash map from the masked
//! 5-tuple to the lowest rule index among its atoms. A lookup masks the
//! packet once per subtable and probes it; subtables are visited in order of
//! the lowest rule they hold, so the search stops as soon as no remaining
//! subtable can beat the best match. The cost depends on how many distinct
//! prefix-length shapes the rules use — a handful in real ACLs — not on how
//! many rules there are.

use std::net::IpAddr;

use hashbrown::HashMap;

use crate::flow::Addr;

/// Most subtables one classifier (one access-list) may have. A lookup that
/// matches nothing probes every subtable, and that is the common case for
/// the new-connection packets of a flood; each probe costs about 15 ns
/// (13–17 ns measured per subtable on a miss), so 512 bound a miss to
/// about 8 µs. Real access-lists have a handful to a few tens of shapes
/// (the `acl_decision` benchmark: 10 for 10,000 rules); each port range
/// multiplies an entry's shapes by the block lengths that cover it (`gt
/// 1023`: 6, `neq 80`: 16), so the bound leaves room for lists that mix
/// many prefix lengths with ranges, while a policy of tens of thousands
/// (2 million at the atom budget) is refused. `rampart config check`
/// prints each access-list's count.
pub const MAX_SUBTABLES: usize = 512;

/// A prefix of a 128-bit address of one family (IPv4 as mapped IPv6, so
/// IPv4 prefix `L` is stored as `96 + L`), or of both (`any`).
///
/// The family is part of the prefix: packet addresses of both families
/// share one 128-bit space, so an IPv6 prefix such as `::/0` or
/// `::ffff:0:0/96` would otherwise also cover every IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrPrefix {
    /// Address bits (host bits zero).
    pub bits: u128,
    /// Prefix length, 0–128.
    pub len: u8,
    /// `Some(true)`: IPv6 packets only; `Some(false)`: IPv4 only; `None`:
    /// both (only `any` has no family).
    pub v6: Option<bool>,
}

impl AddrPrefix {
    /// Every address of both families.
    pub const ANY: AddrPrefix = AddrPrefix {
        bits: 0,
        len: 0,
        v6: None,
    };
    /// Every IPv4 address.
    pub const ANY4: AddrPrefix = AddrPrefix {
        bits: 0,
        len: 0,
        v6: Some(false),
    };
    /// Every IPv6 address.
    pub const ANY6: AddrPrefix = AddrPrefix {
        bits: 0,
        len: 0,
        v6: Some(true),
    };

    /// A prefix of `addr` of `len` bits of its own family (host bits cleared).
    pub fn new(addr: IpAddr, len: u8) -> AddrPrefix {
        let (bits, len) = match addr {
            IpAddr::V4(v4) => (
                u128::from_be_bytes(v4.to_ipv6_mapped().octets()),
                96 + len.min(32),
            ),
            IpAddr::V6(v6) => (u128::from_be_bytes(v6.octets()), len.min(128)),
        };
        AddrPrefix {
            bits: bits & mask128(len),
            len,
            v6: Some(addr.is_ipv6()),
        }
    }

    /// Whether the address of a packet of family `v6` lies in the prefix.
    pub fn contains(&self, v6: bool, addr: Addr) -> bool {
        self.v6.is_none_or(|f| f == v6)
            && u128::from_be_bytes(addr.0) & mask128(self.len) == self.bits
    }
}

/// The one family that satisfies every restriction, `Some(None)` when none
/// restricts, or `None` when they conflict (no packet can match).
fn merge_family(families: &[Option<bool>]) -> Option<Option<bool>> {
    let mut out = None;
    for &f in families.iter().flatten() {
        match out {
            Some(g) if g != f => return None,
            _ => out = Some(f),
        }
    }
    Some(out)
}

/// A block of ports: `value` with the top `len` of 16 bits significant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortPrefix {
    /// Port bits (low bits beyond `len` zero).
    pub value: u16,
    /// Significant bits, 0–16.
    pub len: u8,
}

impl PortPrefix {
    /// Any port.
    pub const ANY: PortPrefix = PortPrefix { value: 0, len: 0 };

    /// Exactly one port.
    pub fn exact(port: u16) -> PortPrefix {
        PortPrefix {
            value: port,
            len: 16,
        }
    }

    /// The fewest aligned blocks that cover `lo..=hi` exactly (at most 30).
    pub fn cover(lo: u16, hi: u16) -> Vec<PortPrefix> {
        let mut out = Vec::new();
        let (mut lo, hi) = (u32::from(lo), u32::from(hi));
        while lo <= hi {
            // The largest aligned block starting at `lo` that stays within `hi`.
            let mut size = if lo == 0 {
                1 << 16
            } else {
                1u32 << lo.trailing_zeros().min(16)
            };
            while lo + size - 1 > hi {
                size >>= 1;
            }
            out.push(PortPrefix {
                value: lo as u16,
                len: 16 - size.trailing_zeros() as u8,
            });
            lo += size;
        }
        out
    }

    fn mask(len: u8) -> u16 {
        if len == 0 {
            0
        } else {
            u16::MAX << (16 - len.min(16))
        }
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

/// One conjunctive match condition of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Atom {
    /// `Some(true)`: IPv6 only (`any6`); `Some(false)`: IPv4 only; `None`:
    /// either (the prefixes may still restrict it).
    pub v6: Option<bool>,
    /// IP protocol, or `None` for any.
    pub proto: Option<u8>,
    /// Source prefix.
    pub src: AddrPrefix,
    /// Destination prefix.
    pub dst: AddrPrefix,
    /// Source port block.
    pub sport: PortPrefix,
    /// Destination port block.
    pub dport: PortPrefix,
}

/// What a lookup matches against: a packet's (or connection's) 5-tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Whether the packet is IPv6.
    pub v6: bool,
    /// IP protocol.
    pub proto: u8,
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port (0 where the protocol has none).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

/// The prefix lengths a subtable masks with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Shape {
    family: bool,
    proto: bool,
    src: u8,
    dst: u8,
    sport: u8,
    dport: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct MaskedKey {
    v6: bool,
    proto: u8,
    src: u128,
    dst: u128,
    sport: u16,
    dport: u16,
}

impl Shape {
    fn of(a: &Atom) -> Shape {
        Shape {
            family: a.v6.is_some(),
            proto: a.proto.is_some(),
            src: a.src.len,
            dst: a.dst.len,
            sport: a.sport.len,
            dport: a.dport.len,
        }
    }

    fn key_of_atom(&self, a: &Atom) -> MaskedKey {
        MaskedKey {
            v6: a.v6.unwrap_or(false),
            proto: a.proto.unwrap_or(0),
            src: a.src.bits,
            dst: a.dst.bits,
            sport: a.sport.value & PortPrefix::mask(self.sport),
            dport: a.dport.value & PortPrefix::mask(self.dport),
        }
    }

    fn key_of_probe(&self, p: &Probe) -> MaskedKey {
        MaskedKey {
            v6: self.family && p.v6,
            proto: if self.proto { p.proto } else { 0 },
            src: u128::from_be_bytes(p.src.0) & mask128(self.src),
            dst: u128::from_be_bytes(p.dst.0) & mask128(self.dst),
            sport: p.sport & PortPrefix::mask(self.sport),
            dport: p.dport & PortPrefix::mask(self.dport),
        }
    }
}

#[derive(Debug, Clone)]
struct Subtable {
    shape: Shape,
    /// Lowest rule index held: subtables are searched in this order.
    min_rule: u32,
    rules: HashMap<MaskedKey, u32, ahash::RandomState>,
}

/// A compiled first-match classifier over rules numbered 0, 1, 2, … in
/// priority order.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    subtables: Vec<Subtable>,
    rules: u32,
}

/// Builds a [`Classifier`].
#[derive(Debug, Default)]
pub struct ClassifierBuilder {
    subtables: std::collections::HashMap<Shape, Subtable>,
    rules: u32,
}

impl ClassifierBuilder {
    /// Start an empty classifier.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the next rule (index = number of rules added before) as the
    /// disjunction of `atoms`; returns its index. A rule with no atoms
    /// never matches. An atom matches only the family its prefixes (and
    /// its own restriction) name; one whose prefixes name both families
    /// can match nothing and is left out.
    pub fn push_rule(&mut self, atoms: impl IntoIterator<Item = Atom>) -> u32 {
        let rule = self.rules;
        self.rules += 1;
        for mut atom in atoms {
            let Some(v6) = merge_family(&[atom.v6, atom.src.v6, atom.dst.v6]) else {
                continue;
            };
            atom.v6 = v6;
            let shape = Shape::of(&atom);
            let table = self.subtables.entry(shape).or_insert_with(|| Subtable {
                shape,
                min_rule: rule,
                // Fixed seeds: the keys are the operator's rules, not
                // attacker-chosen, and compiled policies must be reproducible.
                rules: HashMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4)),
            });
            table.min_rule = table.min_rule.min(rule);
            // First match: an earlier rule with the same masked key wins.
            table.rules.entry(shape.key_of_atom(&atom)).or_insert(rule);
        }
        rule
    }

    /// Subtables so far (each distinct shape of the atoms pushed).
    pub fn subtables(&self) -> usize {
        self.subtables.len()
    }

    /// Freeze into a classifier.
    pub fn build(self) -> Classifier {
        let mut subtables: Vec<Subtable> = self.subtables.into_values().collect();
        subtables.sort_by_key(|t| {
            let s = t.shape;
            (
                t.min_rule, s.family, s.proto, s.src, s.dst, s.sport, s.dport,
            )
        });
        Classifier {
            subtables,
            rules: self.rules,
        }
    }
}

impl Classifier {
    /// The lowest-numbered rule matching `probe`, if any.
    pub fn first_match(&self, probe: &Probe) -> Option<u32> {
        let mut best = u32::MAX;
        for t in &self.subtables {
            if t.min_rule >= best {
                break;
            }
            if let Some(&rule) = t.rules.get(&t.shape.key_of_probe(probe)) {
                best = best.min(rule);
            }
        }
        (best != u32::MAX).then_some(best)
    }

    /// Number of rules.
    pub fn rules(&self) -> u32 {
        self.rules
    }

    /// Number of subtables (distinct prefix shapes): the lookup cost.
    pub fn subtables(&self) -> usize {
        self.subtables.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(a: [u8; 4]) -> Addr {
        Addr::v4(a)
    }

    fn probe(src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16) -> Probe {
        Probe {
            v6: false,
            proto,
            src: v4(src),
            dst: v4(dst),
            sport,
            dport,
        }
    }

    fn atom(src: AddrPrefix, dst: AddrPrefix, proto: Option<u8>, dport: PortPrefix) -> Atom {
        Atom {
            v6: None,
            proto,
            src,
            dst,
            sport: PortPrefix::ANY,
            dport,
        }
    }

    #[test]
    fn port_cover_is_exact_and_minimal() {
        assert_eq!(
            PortPrefix::cover(0, 65535),
            vec![PortPrefix { value: 0, len: 0 }]
        );
        assert_eq!(PortPrefix::cover(80, 80), vec![PortPrefix::exact(80)]);
        assert_eq!(
            PortPrefix::cover(1024, 2047),
            vec![PortPrefix {
                value: 1024,
                len: 6
            }]
        );
        let c = PortPrefix::cover(1, 65534);
        assert_eq!(c.len(), 30);
        for p in [0u16, 1, 2, 1000, 65534, 65535] {
            let hit = c.iter().any(|b| p & PortPrefix::mask(b.len) == b.value);
            assert_eq!(hit, (1..=65534).contains(&p), "port {p}");
        }
    }

    #[test]
    fn first_match_wins_across_subtables() {
        let net = AddrPrefix::new(IpAddr::from([198, 18, 2, 0]), 24);
        let host = AddrPrefix::new(IpAddr::from([198, 18, 2, 7]), 32);
        let mut b = ClassifierBuilder::new();
        b.push_rule([atom(AddrPrefix::ANY, host, Some(6), PortPrefix::exact(22))]); // 0
        b.push_rule([atom(AddrPrefix::ANY, net, Some(6), PortPrefix::ANY)]); // 1
        b.push_rule([atom(
            AddrPrefix::ANY,
            AddrPrefix::ANY,
            None,
            PortPrefix::ANY,
        )]); // 2
        let c = b.build();
        assert_eq!(
            c.first_match(&probe([1, 1, 1, 1], [198, 18, 2, 7], 6, 999, 22)),
            Some(0)
        );
        assert_eq!(
            c.first_match(&probe([1, 1, 1, 1], [198, 18, 2, 7], 6, 999, 23)),
            Some(1)
        );
        assert_eq!(
            c.first_match(&probe([1, 1, 1, 1], [198, 18, 2, 8], 17, 999, 22)),
            Some(2)
        );
        assert_eq!(c.subtables(), 3);
    }

    #[test]
    fn any4_matches_ipv4_only() {
        let mut b = ClassifierBuilder::new();
        b.push_rule([atom(
            AddrPrefix::ANY4,
            AddrPrefix::ANY,
            None,
            PortPrefix::ANY,
        )]);
        let c = b.build();
        assert_eq!(
            c.first_match(&probe([1, 2, 3, 4], [5, 6, 7, 8], 6, 1, 2)),
            Some(0)
        );
        let v6 = Probe {
            v6: true,
            proto: 6,
            src: Addr::v6(
                "2001:db8::1"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets(),
            ),
            dst: Addr::v6(
                "2001:db8::2"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets(),
            ),
            sport: 1,
            dport: 2,
        };
        assert_eq!(c.first_match(&v6), None);
    }

    #[test]
    fn empty_rule_never_matches() {
        let mut b = ClassifierBuilder::new();
        b.push_rule([]);
        b.push_rule([atom(
            AddrPrefix::ANY,
            AddrPrefix::ANY,
            None,
            PortPrefix::ANY,
        )]);
        assert_eq!(
            b.build()
                .first_match(&probe([1, 1, 1, 1], [2, 2, 2, 2], 1, 0, 0)),
            Some(1)
        );
    }

    /// A rule for the model: (proto, src /len, dst /len, dport lo..=hi).
    type ModelRule = (Option<u8>, ([u8; 4], u8), ([u8; 4], u8), (u16, u16));

    fn model_match(rules: &[ModelRule], p: &Probe) -> Option<u32> {
        rules
            .iter()
            .position(|(proto, (s, sl), (d, dl), (lo, hi))| {
                proto.is_none_or(|x| x == p.proto)
                    && AddrPrefix::new(IpAddr::from(*s), *sl).contains(p.v6, p.src)
                    && AddrPrefix::new(IpAddr::from(*d), *dl).contains(p.v6, p.dst)
                    && (*lo..=*hi).contains(&p.dport)
            })
            .map(|i| i as u32)
    }

    fn addr() -> impl Strategy<Value = [u8; 4]> {
        (0u8..4, 0u8..4).prop_map(|(c, d)| [198, 18, c, d])
    }

    proptest! {
        /// The classifier agrees with a linear first-match scan.
        #[test]
        fn agrees_with_linear_scan(
            rules in proptest::collection::vec(
                (
                    proptest::option::of(prop_oneof![Just(6u8), Just(17u8)]),
                    (addr(), prop_oneof![Just(0u8), Just(16), Just(24), Just(32)]),
                    (addr(), prop_oneof![Just(0u8), Just(24), Just(30), Just(32)]),
                    (0u16..100, 0u16..100).prop_map(|(a, b)| (a.min(b), a.max(b))),
                ),
                0..40,
            ),
            probes in proptest::collection::vec(
                (prop_oneof![Just(6u8), Just(17u8), Just(1u8)], addr(), addr(), 0u16..100),
                1..40,
            ),
        ) {
            let mut b = ClassifierBuilder::new();
            for (proto, (s, sl), (d, dl), (lo, hi)) in &rules {
                let src = AddrPrefix::new(IpAddr::from(*s), *sl);
                let dst = AddrPrefix::new(IpAddr::from(*d), *dl);
                b.push_rule(PortPrefix::cover(*lo, *hi).into_iter().map(|dport| Atom { v6: None, proto: *proto, src, dst, sport: PortPrefix::ANY, dport }));
            }
            let c = b.build();
            for (proto, s, d, dport) in probes {
                let p = probe(s, d, proto, 1234, dport);
                prop_assert_eq!(c.first_match(&p), model_match(&rules, &p), "probe {:?}", p);
            }
        }
    }
}
