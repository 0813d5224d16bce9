//! First-match packet classification whose cost does not grow with the
//! number of rules: tuple space search (Srinivasan, Suri, Varghese 1999),
//! as Open vSwitch's classifier applies it.
//!
//! Every rule is reduced to *atoms*: an exact protocol (or any), a source
//! and destination address span and source and destination port spans. A
//! span is a prefix (an aligned block of addresses or ports), and when the
//! operator wrote a range that is not one aligned block (`range 10.0.0.1
//! 10.0.0.254`, `gt 1023`), the smallest prefix that covers it plus the
//! range itself, checked after the prefix matched. Atoms with the same
//! prefix lengths share a *subtable*: one hash map from the masked 5-tuple
//! to the lowest rule index among its atoms or, where ranges share the
//! masked key, to the rules in order with their ranges. A lookup masks the
//! packet once per subtable and probes it; subtables are visited in order
//! of the lowest rule they hold, so the search stops as soon as no
//! remaining subtable can beat the best match. The cost depends on how
//! many distinct prefix-length shapes the rules use — a handful in real
//! ACLs — and on how many ranges share one masked key, not on how many
//! rules there are.
//!
//! Ranges are checked rather than split into the aligned blocks that cover
//! them exactly because the blocks of one range have many lengths (up to
//! 254 for an IPv6 range, 30 for a port range), each length a subtable,
//! and a single entry crossing two IPv6 ranges then needed tens of
//! thousands of subtables: an ordinary configuration was refused.

use std::net::IpAddr;

use hashbrown::HashMap;

use crate::flow::{Addr, Tuple, proto};

/// Most subtables one classifier (one access-list) may have. A lookup that
/// matches nothing probes every subtable, and that is the common case for
/// the new-connection packets of a flood; each probe costs about 15 ns
/// (13–17 ns measured per subtable on a miss), so 512 bound a miss to
/// about 8 µs. Real access-lists have a handful to a few tens of shapes
/// (the `acl_decision` benchmark: 6 for 10,000 rules), while a policy of
/// tens of thousands of distinct prefix-length pairs (2 million at the atom
/// budget) is refused. `rampart config check` prints each access-list's
/// count.
pub const MAX_SUBTABLES: usize = 512;

/// Most range checks a lookup that matches nothing may make, summed over
/// the subtables: each subtable's longest list of ranges sharing one
/// masked key, plus one for reaching a list at all (a key that hits a list
/// whose ranges all refuse does not end the search as a hit on a plain
/// rule does, and the hop costs about a check). Measured by the
/// `acl_miss_at_bounds` benchmark: a miss through 512 subtables with one
/// check each takes about 1.8 times one through 512 subtables without
/// ranges (10 µs against 5.5 µs on a shared 2-core VM). Ranges share a
/// list only when their covering prefixes and the entry's other fields
/// are alike (many `gt 1023` entries to one host, many address ranges
/// straddling one boundary), so real lists are short.
pub const MAX_RANGE_CHECKS: usize = 1024;

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

    pub(crate) fn mask(len: u8) -> u16 {
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

/// An address match: a prefix, and when the operator wrote a range that
/// is not one aligned block, that range (inclusive, as a 128-bit value of
/// the prefix's family: IPv4 as mapped IPv6), which the prefix covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrSpan {
    /// The prefix the subtable masks with.
    pub prefix: AddrPrefix,
    /// The range within the prefix, checked after the prefix matched.
    pub within: Option<(u128, u128)>,
}

impl AddrSpan {
    /// Every address of both families.
    pub const ANY: AddrSpan = AddrSpan::of(AddrPrefix::ANY);

    /// Exactly the addresses of `prefix`.
    pub const fn of(prefix: AddrPrefix) -> AddrSpan {
        AddrSpan {
            prefix,
            within: None,
        }
    }

    /// The addresses from `a` to `b` inclusive, or `None` when they are of
    /// two families or `a` lies above `b` (an empty range).
    pub fn range(a: IpAddr, b: IpAddr) -> Option<AddrSpan> {
        let (lo, hi, width) = match (a, b) {
            (IpAddr::V4(x), IpAddr::V4(y)) => {
                (u128::from(u32::from(x)), u128::from(u32::from(y)), 32u32)
            }
            (IpAddr::V6(x), IpAddr::V6(y)) => (u128::from(x), u128::from(y), 128),
            _ => return None,
        };
        if lo > hi {
            return None;
        }
        // The longest prefix both ends share covers everything between.
        let len = ((lo ^ hi).leading_zeros() - (128 - width)) as u8;
        let prefix = AddrPrefix::new(a, len);
        let host = if u32::from(len) >= width {
            0
        } else {
            u128::MAX >> (128 - (width - u32::from(len)))
        };
        let exact = lo & host == 0 && hi & host == host;
        let mapped = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => u128::from_be_bytes(v4.to_ipv6_mapped().octets()),
            IpAddr::V6(v6) => u128::from(v6),
        };
        Some(AddrSpan {
            prefix,
            within: (!exact).then(|| (mapped(a), mapped(b))),
        })
    }

    #[cfg(test)]
    fn admits(&self, addr: Addr) -> bool {
        self.within
            .is_none_or(|(lo, hi)| (lo..=hi).contains(&u128::from_be_bytes(addr.0)))
    }
}

/// A port match: a block, and when the operator wrote a range that is not
/// one aligned block (`gt 1023`, `range 8000 8099`), that range, which the
/// block covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortSpan {
    /// The block the subtable masks with.
    pub block: PortPrefix,
    /// The range within the block, checked after the block matched.
    pub within: Option<(u16, u16)>,
}

impl PortSpan {
    /// Any port.
    pub const ANY: PortSpan = PortSpan::of(PortPrefix::ANY);

    /// Exactly the ports of `block`.
    pub const fn of(block: PortPrefix) -> PortSpan {
        PortSpan {
            block,
            within: None,
        }
    }

    /// Exactly one port.
    pub const fn exact(port: u16) -> PortSpan {
        PortSpan::of(PortPrefix {
            value: port,
            len: 16,
        })
    }

    /// The ports from `lo` to `hi` inclusive, or `None` when empty.
    pub fn range(lo: u16, hi: u16) -> Option<PortSpan> {
        if lo > hi {
            return None;
        }
        let len = (lo ^ hi).leading_zeros() as u8;
        let mask = PortPrefix::mask(len);
        let block = PortPrefix {
            value: lo & mask,
            len,
        };
        let exact = lo & !mask == 0 && hi & !mask == !mask;
        Some(PortSpan {
            block,
            within: (!exact).then_some((lo, hi)),
        })
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
    /// Source addresses.
    pub src: AddrSpan,
    /// Destination addresses.
    pub dst: AddrSpan,
    /// Source ports.
    pub sport: PortSpan,
    /// Destination ports.
    pub dport: PortSpan,
}

impl Atom {
    /// Whether a packet can match it: its prefixes and its own
    /// restriction do not name both families.
    pub fn possible(&self) -> bool {
        merge_family(&[self.v6, self.src.prefix.v6, self.dst.prefix.v6]).is_some()
    }

    /// Whether it has ranges to check once its prefixes matched: such an
    /// atom waits in a list of its masked key, where an atom without
    /// ends the list.
    pub(crate) fn is_ranged(&self) -> bool {
        self.ranges().is_some()
    }

    /// The ranges to check once the prefixes matched, if any.
    fn ranges(&self) -> Option<Ranges> {
        let all = Ranges::ALL;
        let r = Ranges {
            src: self.src.within.unwrap_or(all.src),
            dst: self.dst.within.unwrap_or(all.dst),
            sport: self.sport.within.unwrap_or(all.sport),
            dport: self.dport.within.unwrap_or(all.dport),
        };
        (r != all).then_some(r)
    }
}

/// The ranges of an atom, checked after its masked key matched: each
/// field's inclusive bounds, the whole space where the atom has no range
/// (no branch per field on the lookup path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ranges {
    src: (u128, u128),
    dst: (u128, u128),
    sport: (u16, u16),
    dport: (u16, u16),
}

impl Ranges {
    /// What an atom without ranges admits: everything its key matched.
    const ALL: Ranges = Ranges {
        src: (0, u128::MAX),
        dst: (0, u128::MAX),
        sport: (0, u16::MAX),
        dport: (0, u16::MAX),
    };

    fn admit(&self, p: &Probe) -> bool {
        let (src, dst) = (u128::from_be_bytes(p.src.0), u128::from_be_bytes(p.dst.0));
        (self.src.0..=self.src.1).contains(&src)
            && (self.dst.0..=self.dst.1).contains(&dst)
            && (self.sport.0..=self.sport.1).contains(&p.sport)
            && (self.dport.0..=self.dport.1).contains(&p.dport)
    }
}

/// An element waiting in a list of a masked key with its ranges; one
/// with [`Ranges::ALL`] matches whatever the key matched, and ends the
/// list.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    ranges: Ranges,
    element: u32,
}

impl Candidate {
    fn ranged(&self) -> bool {
        self.ranges != Ranges::ALL
    }
}

/// A masked key's value: an element (an atom, numbered across the rules
/// in the order they were pushed: [`Classifier::first_match_element`])
/// that matches whatever the key matched (the common case, a plain
/// `u32`), or with this bit set the index of a list of [`Candidate`]s in
/// element order.
const LIST: u32 = 1 << 31;

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
    /// Source port (0 where the protocol has none); for an ICMP message
    /// of the packet's family, its type ([`Probe::of_packet`]).
    pub sport: u16,
    /// Destination port; for an ICMP message, its code.
    pub dport: u16,
}

impl Probe {
    /// A packet as the rules see it. Ports count only for TCP, UDP and
    /// SCTP, the protocols whose ports a rule can name (ICMP echo ids ride
    /// in the tuple's port fields, and are not the rules' to see). An
    /// ICMP message of the packet's family (`icmp`: its type and code,
    /// [`Transport::icmp_type_code`](crate::packet::Transport::icmp_type_code))
    /// has its type where the source port goes and its code where the
    /// destination port goes: an entry naming a type (`permit icmp any
    /// any echo-reply`) is an atom of that exact source "port", and of
    /// that exact destination "port" when it names a code, and an ICMP
    /// entry without a type has any port, as before (docs/asa-behaviour.md
    /// §2.1). Such an atom keeps to its family, so no packet without an
    /// ICMP header of that family (ICMP inside IPv6, which has its
    /// "ports" 0) is taken for type 0. A packet with an authentication
    /// header (`ah`) is protocol 51 to the rules, without ports or type,
    /// as the ASA's access rules see the IP header's protocol: a `deny
    /// ah` line denies it, and only an entry that permits AH (or all IP)
    /// lets it open a connection.
    #[inline]
    pub fn of_packet(tuple: &Tuple, ah: bool, icmp: Option<(u8, u8)>) -> Probe {
        let (sport, dport) = match icmp {
            _ if ah => (0, 0),
            Some((icmp_type, code)) => (u16::from(icmp_type), u16::from(code)),
            None if proto::has_ports(tuple.proto) => (tuple.src.port, tuple.dst.port),
            None => (0, 0),
        };
        Probe {
            v6: tuple.src.addr.ip().is_ipv6(),
            proto: if ah { proto::AH } else { tuple.proto },
            src: tuple.src.addr,
            dst: tuple.dst.addr,
            sport,
            dport,
        }
    }

    /// An ICMP echo request of family `v6` from `src` to `dst` (code 0,
    /// as RFC 792 and RFC 4443 §4.1 have stacks send it).
    pub fn echo_request(v6: bool, src: Addr, dst: Addr) -> Probe {
        Probe {
            v6,
            proto: if v6 { proto::ICMPV6 } else { proto::ICMP },
            src,
            dst,
            sport: if v6 {
                ICMP6_ECHO_REQUEST
            } else {
                ICMP_ECHO_REQUEST
            },
            dport: 0,
        }
    }

    /// The packet that opens, the other way, the connection this one
    /// would be the reply of: addresses and ports swapped. For ICMP of the
    /// packet's family only an echo reply has one, the echo request
    /// (ICMP 0 from 8, ICMPv6 129 from 128, RFC 792, RFC 4443 §4.2), with
    /// the reply's code; any other ICMP message answers nothing a rule
    /// could have let open, so it has none (`None`): swapping its type
    /// and code would ask the rules about a message no one sent.
    pub fn reversed(&self) -> Option<Probe> {
        let back = Probe {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            ..*self
        };
        if !proto::is_icmp_of(self.proto, self.v6) {
            return Some(back);
        }
        let request = match (self.v6, self.sport) {
            (false, ICMP_ECHO_REPLY) => ICMP_ECHO_REQUEST,
            (true, ICMP6_ECHO_REPLY) => ICMP6_ECHO_REQUEST,
            _ => return None,
        };
        Some(Probe {
            sport: request,
            dport: self.dport,
            ..back
        })
    }
}

/// The echo types of ICMP (RFC 792) and ICMPv6 (RFC 4443 §4.1, §4.2),
/// in the probe's type position.
const ICMP_ECHO_REQUEST: u16 = 8;
const ICMP_ECHO_REPLY: u16 = 0;
const ICMP6_ECHO_REQUEST: u16 = 128;
const ICMP6_ECHO_REPLY: u16 = 129;

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
            src: a.src.prefix.len,
            dst: a.dst.prefix.len,
            sport: a.sport.block.len,
            dport: a.dport.block.len,
        }
    }

    fn key_of_atom(&self, a: &Atom) -> MaskedKey {
        MaskedKey {
            v6: a.v6.unwrap_or(false),
            proto: a.proto.unwrap_or(0),
            src: a.src.prefix.bits,
            dst: a.dst.prefix.bits,
            sport: a.sport.block.value & PortPrefix::mask(self.sport),
            dport: a.dport.block.value & PortPrefix::mask(self.dport),
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
    /// Lowest element held: subtables are searched in this order.
    min_element: u32,
    /// An element, or (with [`LIST`] set) an index into `spans`.
    rules: HashMap<MaskedKey, u32, ahash::RandomState>,
    /// While building: each list of elements with ranges, in element
    /// order, ending at the first element without (none after it can win).
    lists: Vec<Vec<Candidate>>,
    /// Built: every list back to back in one allocation, so that reaching
    /// a list costs one more cache line rather than a pointer chase.
    arena: Vec<Candidate>,
    /// Built: each list's start and length in `arena`.
    spans: Vec<(u32, u32)>,
    /// The most range checks one probe of this subtable makes.
    longest: usize,
}

impl Subtable {
    /// The lowest element below `best` that `probe` matches here, if any.
    fn probe(&self, probe: &Probe, best: u32) -> Option<u32> {
        let &v = self.rules.get(&self.shape.key_of_probe(probe))?;
        if v & LIST == 0 {
            return Some(v);
        }
        let (start, len) = self.spans[(v & !LIST) as usize];
        self.arena[start as usize..(start + len) as usize]
            .iter()
            .take_while(|c| c.element < best)
            .find(|c| c.ranges.admit(probe))
            .map(|c| c.element)
    }

    /// Add the atom numbered `element`; elements arrive in increasing
    /// order. Returns by how much the subtable's share of
    /// [`MAX_RANGE_CHECKS`] grew.
    fn insert(&mut self, atom: &Atom, element: u32) -> usize {
        let key = self.shape.key_of_atom(atom);
        let ranges = atom.ranges();
        let before = self.cost();
        match (self.rules.get(&key).copied(), ranges) {
            // First match: an earlier element with no ranges on the same
            // masked key wins whatever this one is.
            (Some(v), _) if v & LIST == 0 => {}
            (Some(v), _) => {
                let list = &mut self.lists[(v & !LIST) as usize];
                // Until a rule without ranges ends it, every entry of a list
                // is a range check.
                if list.last().is_some_and(Candidate::ranged) {
                    list.push(Candidate {
                        ranges: ranges.unwrap_or(Ranges::ALL),
                        element,
                    });
                    if ranges.is_some() {
                        self.longest = self.longest.max(list.len());
                    }
                }
            }
            (None, None) => {
                self.rules.insert(key, element);
            }
            (None, Some(ranges)) => {
                // Fewer lists than atoms, and atoms fit in `u32` well below
                // `LIST` (the policy's atom budget).
                self.rules.insert(key, LIST | self.lists.len() as u32);
                self.lists.push(vec![Candidate { ranges, element }]);
                self.longest = self.longest.max(1);
            }
        }
        self.cost() - before
    }

    /// This subtable's share of [`MAX_RANGE_CHECKS`]: its longest list,
    /// and one more for reaching a list at all (about as dear as a check:
    /// a key that hits a list whose ranges all refuse does not end the
    /// search as a hit on a plain rule does).
    fn cost(&self) -> usize {
        if self.longest == 0 {
            0
        } else {
            self.longest + 1
        }
    }

    /// Lay the lists out in one arena.
    fn freeze(&mut self) {
        for list in std::mem::take(&mut self.lists) {
            self.spans
                .push((self.arena.len() as u32, list.len() as u32));
            self.arena.extend(list);
        }
    }
}

/// A compiled first-match classifier over rules numbered 0, 1, 2, … in
/// priority order.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    subtables: Vec<Subtable>,
    rules: u32,
    /// The rule of each element (atom), in element order: elements are
    /// numbered in the order their rules pushed them, so the lowest
    /// element that matches is of the lowest rule that matches.
    rule_of: Box<[u32]>,
    range_checks: usize,
}

/// Builds a [`Classifier`].
#[derive(Debug, Default)]
pub struct ClassifierBuilder {
    subtables: std::collections::HashMap<Shape, Subtable>,
    rules: u32,
    /// The rule of each element pushed so far.
    rule_of: Vec<u32>,
    /// Each subtable's share of [`MAX_RANGE_CHECKS`], summed as it grows.
    range_checks: usize,
}

impl ClassifierBuilder {
    /// Start an empty classifier.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the next rule (index = number of rules added before) as the
    /// disjunction of `atoms`; returns its index. Each atom is an element,
    /// numbered from [`elements`](Self::elements) on in the order given
    /// ([`Classifier::first_match_element`] names the first that
    /// matches). A rule with no atoms never matches. An atom matches only
    /// the family its prefixes (and its own restriction) name; one whose
    /// prefixes name both families can match nothing ([`Atom::possible`])
    /// and is left out, its number kept. The caller bounds the rules and
    /// atoms (the compiler charges every entry to the policy's atom
    /// budget, 2 million), far below 2^31; past that an atom is refused
    /// here (it never matches) rather than taken for a list index.
    pub fn push_rule(&mut self, atoms: impl IntoIterator<Item = Atom>) -> u32 {
        let rule = self.rules;
        self.rules = self.rules.saturating_add(1);
        for mut atom in atoms {
            let element = u32::try_from(self.rule_of.len()).unwrap_or(u32::MAX);
            self.rule_of.push(rule);
            if element >= LIST || rule >= LIST {
                continue;
            }
            let Some(v6) = merge_family(&[atom.v6, atom.src.prefix.v6, atom.dst.prefix.v6]) else {
                continue;
            };
            atom.v6 = v6;
            let shape = Shape::of(&atom);
            let table = self.subtables.entry(shape).or_insert_with(|| Subtable {
                shape,
                min_element: element,
                // Fixed seeds: the keys are the operator's rules, not
                // attacker-chosen, and compiled policies must be reproducible.
                rules: HashMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4)),
                lists: Vec::new(),
                arena: Vec::new(),
                spans: Vec::new(),
                longest: 0,
            });
            table.min_element = table.min_element.min(element);
            self.range_checks += table.insert(&atom, element);
        }
        rule
    }

    /// Add the next rule as one that matches nothing, its `elements`
    /// numbered all the same (an entry left out for its time-range keeps
    /// its elements' numbers: their counts wait for it); returns its
    /// index.
    pub fn push_rule_matching_nothing(&mut self, elements: usize) -> u32 {
        let rule = self.rules;
        self.rules = self.rules.saturating_add(1);
        self.rule_of.extend(std::iter::repeat_n(rule, elements));
        rule
    }

    /// Elements (atoms) pushed so far.
    pub fn elements(&self) -> usize {
        self.rule_of.len()
    }

    /// Subtables so far (each distinct shape of the atoms pushed).
    pub fn subtables(&self) -> usize {
        self.subtables.len()
    }

    /// The most range checks a lookup that matches nothing makes so far:
    /// each subtable's longest list, plus one for each subtable with lists
    /// (reaching one costs about a check), summed.
    pub fn range_checks(&self) -> usize {
        self.range_checks
    }

    /// Freeze into a classifier.
    pub fn build(self) -> Classifier {
        let range_checks = self.range_checks;
        let mut subtables: Vec<Subtable> = self.subtables.into_values().collect();
        subtables.iter_mut().for_each(Subtable::freeze);
        subtables.sort_by_key(|t| {
            let s = t.shape;
            (
                t.min_element,
                s.family,
                s.proto,
                s.src,
                s.dst,
                s.sport,
                s.dport,
            )
        });
        Classifier {
            subtables,
            rules: self.rules,
            rule_of: self.rule_of.into_boxed_slice(),
            range_checks,
        }
    }
}

impl Classifier {
    /// The lowest-numbered rule matching `probe`, if any.
    #[inline]
    pub fn first_match(&self, probe: &Probe) -> Option<u32> {
        self.first_match_element(probe).map(|(rule, _)| rule)
    }

    /// The lowest-numbered rule matching `probe` and, of its atoms, the
    /// first that matches (the element, numbered across the rules as
    /// [`ClassifierBuilder::push_rule`] numbered them), if any: the
    /// element is the ASA's expanded entry that a packet hits
    /// (docs/asa-behaviour.md §2.9), found by the same probes.
    pub fn first_match_element(&self, probe: &Probe) -> Option<(u32, u32)> {
        let mut best = u32::MAX;
        for t in &self.subtables {
            if t.min_element >= best {
                break;
            }
            if let Some(element) = t.probe(probe, best) {
                best = best.min(element);
            }
        }
        let rule = *self.rule_of.get(best as usize)?;
        Some((rule, best))
    }

    /// Elements (atoms) of all its rules.
    pub fn elements(&self) -> usize {
        self.rule_of.len()
    }

    /// Number of rules.
    pub fn rules(&self) -> u32 {
        self.rules
    }

    /// Number of subtables (distinct prefix shapes): the lookup cost.
    pub fn subtables(&self) -> usize {
        self.subtables.len()
    }

    /// The most range checks a lookup makes (see [`MAX_RANGE_CHECKS`]).
    pub fn range_checks(&self) -> usize {
        self.range_checks
    }
}

#[cfg(test)]
mod elements_tests;

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

    fn atom(src: AddrSpan, dst: AddrSpan, proto: Option<u8>, dport: PortSpan) -> Atom {
        Atom {
            v6: None,
            proto,
            src,
            dst,
            sport: PortSpan::ANY,
            dport,
        }
    }

    fn net(a: [u8; 4], len: u8) -> AddrSpan {
        AddrSpan::of(AddrPrefix::new(IpAddr::from(a), len))
    }

    fn v6(s: &str) -> IpAddr {
        s.parse().expect("an IPv6 address")
    }

    #[test]
    fn a_port_range_is_its_covering_block_and_itself() {
        assert_eq!(PortSpan::range(0, 65535), Some(PortSpan::ANY));
        assert_eq!(PortSpan::range(80, 80), Some(PortSpan::exact(80)));
        assert_eq!(
            PortSpan::range(1024, 2047),
            Some(PortSpan::of(PortPrefix {
                value: 1024,
                len: 6
            }))
        );
        assert_eq!(
            PortSpan::range(1024, 65535),
            Some(PortSpan {
                block: PortPrefix::ANY,
                within: Some((1024, 65535))
            })
        );
        // 8000-8099 straddles 8064: the covering block is 7936-8191.
        assert_eq!(
            PortSpan::range(8000, 8099),
            Some(PortSpan {
                block: PortPrefix {
                    value: 7936,
                    len: 8
                },
                within: Some((8000, 8099))
            })
        );
        assert_eq!(PortSpan::range(2, 1), None);
    }

    #[test]
    fn an_address_range_is_its_covering_prefix_and_itself() {
        let r = AddrSpan::range([10, 0, 0, 1].into(), [10, 0, 0, 6].into()).expect("a range");
        assert_eq!(r.prefix, AddrPrefix::new([10, 0, 0, 0].into(), 29));
        let inside = |x: [u8; 4]| r.prefix.contains(false, v4(x)) && r.admits(v4(x));
        assert!((1..=6).all(|i| inside([10, 0, 0, i])));
        assert!(!inside([10, 0, 0, 0]) && !inside([10, 0, 0, 7]));
        assert_eq!(
            AddrSpan::range([0, 0, 0, 0].into(), [255, 255, 255, 255].into()),
            Some(net([0, 0, 0, 0], 0))
        );
        assert_eq!(
            AddrSpan::range([10, 0, 0, 0].into(), [10, 0, 1, 255].into()),
            Some(net([10, 0, 0, 0], 23))
        );
        assert_eq!(
            AddrSpan::range(v6("::"), v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
            Some(AddrSpan::of(AddrPrefix::ANY6))
        );
        let r6 = AddrSpan::range(v6("2001:db8::1"), v6("2001:db8::ffff:fffe")).expect("a range");
        assert_eq!(r6.prefix, AddrPrefix::new(v6("2001:db8::"), 96));
        assert_eq!(
            AddrSpan::range([10, 0, 0, 2].into(), [10, 0, 0, 1].into()),
            None
        );
        assert_eq!(AddrSpan::range([10, 0, 0, 1].into(), v6("::1")), None);
    }

    #[test]
    fn first_match_wins_across_subtables() {
        let mut b = ClassifierBuilder::new();
        b.push_rule([atom(
            AddrSpan::ANY,
            net([198, 18, 2, 7], 32),
            Some(6),
            PortSpan::exact(22),
        )]); // 0
        b.push_rule([atom(
            AddrSpan::ANY,
            net([198, 18, 2, 0], 24),
            Some(6),
            PortSpan::ANY,
        )]); // 1
        b.push_rule([atom(AddrSpan::ANY, AddrSpan::ANY, None, PortSpan::ANY)]); // 2
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
        assert_eq!(c.range_checks(), 0);
    }

    /// Ranges sharing a masked key are checked in rule order, and a rule
    /// without ranges on that key ends the list: nothing after it can win.
    #[test]
    fn ranges_on_one_key_are_checked_in_rule_order() {
        let host = net([198, 18, 0, 1], 32);
        let mut b = ClassifierBuilder::new();
        let from = |lo| PortSpan::range(lo, u16::MAX).expect("a range");
        b.push_rule([atom(AddrSpan::ANY, host, Some(6), from(5000))]); // 0
        b.push_rule([atom(AddrSpan::ANY, host, Some(6), from(1024))]); // 1
        b.push_rule([atom(AddrSpan::ANY, host, Some(6), PortSpan::ANY)]); // 2
        b.push_rule([atom(AddrSpan::ANY, host, Some(6), from(100))]); // 3: never
        let c = b.build();
        assert_eq!(c.subtables(), 1);
        // Two checks, and reaching the list.
        assert_eq!(c.range_checks(), 3);
        let to = |port| c.first_match(&probe([1, 1, 1, 1], [198, 18, 0, 1], 6, 999, port));
        assert_eq!(to(6000), Some(0));
        assert_eq!(to(2000), Some(1));
        assert_eq!(to(1024), Some(1));
        assert_eq!(to(1023), Some(2));
        assert_eq!(
            c.first_match(&probe([1, 1, 1, 1], [198, 18, 0, 2], 6, 999, 6000)),
            None
        );
    }

    /// The entry that used to need tens of thousands of subtables: two
    /// IPv6 ranges and a port range are one atom, one subtable.
    #[test]
    fn an_entry_of_two_ipv6_ranges_is_one_subtable() {
        let src = AddrSpan::range(v6("2001:db8::1"), v6("2001:db8::ffff:fffe")).unwrap();
        let dst = AddrSpan::range(v6("2001:db8:1::3"), v6("2001:db8:1::ffff:fff0")).unwrap();
        let mut b = ClassifierBuilder::new();
        b.push_rule([atom(
            src,
            dst,
            Some(6),
            PortSpan::range(1024, 65535).unwrap(),
        )]);
        let c = b.build();
        assert_eq!((c.subtables(), c.range_checks()), (1, 2));
        let p = |s: &str, d: &str, port| Probe {
            v6: true,
            proto: 6,
            src: Addr::v6(s.parse::<std::net::Ipv6Addr>().unwrap().octets()),
            dst: Addr::v6(d.parse::<std::net::Ipv6Addr>().unwrap().octets()),
            sport: 1,
            dport: port,
        };
        assert_eq!(
            c.first_match(&p("2001:db8::1", "2001:db8:1::3", 1024)),
            Some(0)
        );
        assert_eq!(
            c.first_match(&p("2001:db8::ffff:fffe", "2001:db8:1::ffff:fff0", 65535)),
            Some(0)
        );
        assert_eq!(c.first_match(&p("2001:db8::", "2001:db8:1::3", 1024)), None);
        assert_eq!(
            c.first_match(&p("2001:db8::ffff:ffff", "2001:db8:1::3", 1024)),
            None
        );
        assert_eq!(
            c.first_match(&p("2001:db8::1", "2001:db8:1::ffff:fff1", 1024)),
            None
        );
        assert_eq!(
            c.first_match(&p("2001:db8::1", "2001:db8:1::3", 1023)),
            None
        );
    }

    #[test]
    fn any4_matches_ipv4_only() {
        let mut b = ClassifierBuilder::new();
        b.push_rule([atom(
            AddrSpan::of(AddrPrefix::ANY4),
            AddrSpan::ANY,
            None,
            PortSpan::ANY,
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
        b.push_rule([atom(AddrSpan::ANY, AddrSpan::ANY, None, PortSpan::ANY)]);
        assert_eq!(
            b.build()
                .first_match(&probe([1, 1, 1, 1], [2, 2, 2, 2], 1, 0, 0)),
            Some(1)
        );
    }

    /// An address of the model: a prefix, or a range of addresses.
    #[derive(Debug, Clone, Copy)]
    enum ModelAddr {
        Net([u8; 4], u8),
        Range([u8; 4], [u8; 4]),
    }

    impl ModelAddr {
        fn contains(&self, a: Addr) -> bool {
            let x = u128::from_be_bytes(a.0);
            let m = |b: [u8; 4]| u128::from_be_bytes(Addr::v4(b).0);
            match *self {
                ModelAddr::Net(n, l) => AddrPrefix::new(IpAddr::from(n), l).contains(false, a),
                ModelAddr::Range(lo, hi) => (m(lo)..=m(hi)).contains(&x),
            }
        }

        fn span(&self) -> Option<AddrSpan> {
            match *self {
                ModelAddr::Net(n, l) => Some(AddrSpan::of(AddrPrefix::new(IpAddr::from(n), l))),
                ModelAddr::Range(lo, hi) => AddrSpan::range(lo.into(), hi.into()),
            }
        }
    }

    /// A rule for the model: (proto, src, dst, dport lo..=hi).
    type ModelRule = (Option<u8>, ModelAddr, ModelAddr, (u16, u16));

    fn model_match(rules: &[ModelRule], p: &Probe) -> Option<u32> {
        rules
            .iter()
            .position(|(proto, s, d, (lo, hi))| {
                proto.is_none_or(|x| x == p.proto)
                    && s.contains(p.src)
                    && d.contains(p.dst)
                    && (*lo..=*hi).contains(&p.dport)
            })
            .map(|i| i as u32)
    }

    fn addr() -> impl Strategy<Value = [u8; 4]> {
        (0u8..4, 0u8..4).prop_map(|(c, d)| [198, 18, c, d])
    }

    fn model_addr(lens: &'static [u8]) -> impl Strategy<Value = ModelAddr> {
        prop_oneof![
            (addr(), proptest::sample::select(lens)).prop_map(|(a, l)| ModelAddr::Net(a, l)),
            (addr(), addr()).prop_map(|(a, b)| ModelAddr::Range(a.min(b), a.max(b))),
        ]
    }

    proptest! {
        /// The classifier agrees with a linear first-match scan, prefixes
        /// and ranges mixed.
        #[test]
        fn agrees_with_linear_scan(
            rules in proptest::collection::vec(
                (
                    proptest::option::of(prop_oneof![Just(6u8), Just(17u8)]),
                    model_addr(&[0, 16, 24, 32]),
                    model_addr(&[0, 24, 30, 32]),
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
            for (proto, s, d, (lo, hi)) in &rules {
                let atom = Atom {
                    v6: None,
                    proto: *proto,
                    src: s.span().expect("ordered"),
                    dst: d.span().expect("ordered"),
                    sport: PortSpan::ANY,
                    dport: PortSpan::range(*lo, *hi).expect("ordered"),
                };
                b.push_rule([atom]);
            }
            let c = b.build();
            for (proto, s, d, dport) in probes {
                let p = probe(s, d, proto, 1234, dport);
                prop_assert_eq!(c.first_match(&p), model_match(&rules, &p), "probe {:?}", p);
            }
        }

        /// ICMP types and codes in the port positions (`Probe::of_packet`)
        /// against a linear scan: an entry of one type matches that type
        /// only, one with a code that code only, an ICMP entry without a
        /// type every message, mixed with port ranges of TCP entries.
        #[test]
        fn icmp_types_agree_with_linear_scan(
            rules in proptest::collection::vec(
                (
                    model_addr(&[0, 24, 32]),
                    prop_oneof![
                        (0u16..100, 0u16..100)
                            .prop_map(|(a, b)| ModelService::Tcp(a.min(b), a.max(b))),
                        Just(ModelService::AnyIcmp),
                        (0u8..5, proptest::option::of(0u8..4))
                            .prop_map(|(t, c)| ModelService::Icmp(t, c)),
                    ],
                ),
                0..40,
            ),
            probes in proptest::collection::vec(
                (prop_oneof![Just(6u8), Just(1u8)], addr(), 0u16..6, 0u16..6),
                1..60,
            ),
        ) {
            let mut b = ClassifierBuilder::new();
            for (d, service) in &rules {
                let (proto, sport, dport) = match *service {
                    ModelService::Tcp(lo, hi) => {
                        (6, PortSpan::ANY, PortSpan::range(lo, hi).expect("ordered"))
                    }
                    ModelService::AnyIcmp => (1, PortSpan::ANY, PortSpan::ANY),
                    ModelService::Icmp(t, c) => (
                        1,
                        PortSpan::exact(u16::from(t)),
                        c.map_or(PortSpan::ANY, |c| PortSpan::exact(u16::from(c))),
                    ),
                };
                b.push_rule([Atom {
                    v6: None,
                    proto: Some(proto),
                    src: AddrSpan::ANY,
                    dst: d.span().expect("ordered"),
                    sport,
                    dport,
                }]);
            }
            let c = b.build();
            for (proto, d, sport, dport) in probes {
                let p = probe([198, 18, 9, 9], d, proto, sport, dport);
                let want = rules
                    .iter()
                    .position(|(dst, service)| {
                        dst.contains(p.dst)
                            && match *service {
                                ModelService::Tcp(lo, hi) => {
                                    p.proto == 6 && (lo..=hi).contains(&p.dport)
                                }
                                ModelService::AnyIcmp => p.proto == 1,
                                ModelService::Icmp(t, code) => {
                                    p.proto == 1
                                        && p.sport == u16::from(t)
                                        && code.is_none_or(|c| p.dport == u16::from(c))
                                }
                            }
                    })
                    .map(|i| i as u32);
                prop_assert_eq!(c.first_match(&p), want, "probe {:?}", p);
            }
        }
    }

    /// What a rule of the ICMP model matches besides its destination.
    #[derive(Debug, Clone, Copy)]
    enum ModelService {
        /// TCP to destination ports lo..=hi.
        Tcp(u16, u16),
        /// ICMP of any type.
        AnyIcmp,
        /// ICMP of one type, and one code or any.
        Icmp(u8, Option<u8>),
    }

    fn tuple(proto: u8, sport: u16, dport: u16) -> Tuple {
        Tuple {
            src: crate::flow::Endpoint {
                addr: v4([198, 18, 0, 1]),
                port: sport,
            },
            dst: crate::flow::Endpoint {
                addr: v4([198, 18, 1, 1]),
                port: dport,
            },
            proto,
            vlan: 0,
        }
    }

    /// An ICMP message of the packet's family shows the rules its type
    /// and code where the ports go (never the echo identifier the tuple
    /// carries there); behind an authentication header it shows nothing.
    #[test]
    fn a_probe_carries_the_icmp_type_and_code() {
        let echo = tuple(proto::ICMP, 0x1234, 0);
        let p = Probe::of_packet(&echo, false, Some((8, 0)));
        assert_eq!((p.proto, p.sport, p.dport), (proto::ICMP, 8, 0));
        let p = Probe::of_packet(&tuple(proto::ICMP, 0, 0), false, Some((3, 4)));
        assert_eq!((p.sport, p.dport), (3, 4));
        let p = Probe::of_packet(&echo, true, Some((8, 0)));
        assert_eq!((p.proto, p.sport, p.dport), (proto::AH, 0, 0));
        // No ICMP message (ICMP in IPv6 is another protocol to it):
        // "ports" 0, which a typed entry keeps away from by its family.
        let p = Probe::of_packet(&echo, false, None);
        assert_eq!((p.sport, p.dport), (0, 0));
        let p = Probe::of_packet(&tuple(proto::TCP, 40_000, 443), false, None);
        assert_eq!((p.sport, p.dport), (40_000, 443));
    }

    /// The reverse of an echo reply is the request that opened its flow
    /// (ICMP 0 from 8, ICMPv6 129 from 128); other ICMP has no reverse
    /// (a swapped type and code would be a made-up message); other
    /// protocols swap their addresses and ports.
    #[test]
    fn reversed_probes() {
        let reply = probe([198, 18, 1, 1], [198, 18, 0, 1], proto::ICMP, 0, 0);
        let back = reply.reversed().expect("a request opens it");
        assert_eq!(
            (back.src, back.dst, back.sport, back.dport),
            (reply.dst, reply.src, 8, 0)
        );
        let mut reply6 = reply;
        reply6.v6 = true;
        reply6.proto = proto::ICMPV6;
        reply6.sport = 129;
        assert_eq!(reply6.reversed().map(|p| p.sport), Some(128));
        // ICMPv6 type 0 is no echo reply, ICMP type 129 none either.
        reply6.sport = 0;
        assert_eq!(reply6.reversed(), None);
        assert_eq!(
            probe([1, 1, 1, 1], [2, 2, 2, 2], proto::ICMP, 129, 0).reversed(),
            None
        );
        for (t, c) in [(8, 0), (3, 3), (11, 0), (13, 0)] {
            let p = probe([1, 1, 1, 1], [2, 2, 2, 2], proto::ICMP, t, c);
            assert_eq!(p.reversed(), None, "type {t}");
        }
        let tcp = probe([1, 1, 1, 1], [2, 2, 2, 2], proto::TCP, 40_000, 443);
        let back = tcp.reversed().expect("swapped");
        assert_eq!((back.sport, back.dport, back.src), (443, 40_000, tcp.dst));
        // ICMP in IPv6 is another protocol there: swapped like one.
        let mut foreign = tcp;
        (foreign.v6, foreign.proto, foreign.sport, foreign.dport) = (true, proto::ICMP, 0, 0);
        assert!(foreign.reversed().is_some());
    }
}
