//! Each access-list of a policy as `show access-list` lists it
//! (docs/asa-behaviour.md §2.9): its lines numbered as the ASA numbers
//! them, remarks counted, each as configured (its text is what `show
//! running-config` prints for it); and [`AceRef`], how the engine names
//! the element (of an entry) that decided a packet, so that it can count
//! its hits.
//!
//! An entry over objects or object-groups has elements, as the ASA's
//! expanded entries: one per combination of the groups' members, objects
//! replaced by their values (the classifier's atoms). Each element counts
//! its own hits, and `show access-list` prints it under its entry as the
//! ASA does ([`element_text`]); the entry's count is their sum. An entry
//! without objects or groups has its elements too (`neq P` is two), which
//! are not listed.
//!
//! An entry's hit count is keyed by its list's name and the entry as
//! configured, which its text prints whole (`show running-config` reads
//! back as the same configuration): a new policy that keeps an entry
//! (wherever it now stands) keeps its count, and a changed or new entry
//! starts at 0 (`Engine::set_policy`). An element is keyed by its entry's
//! key and, for an entry over objects or groups, a hash of its content
//! (what its line prints): a group that gains a member gives the entry a
//! new element at 0 and keeps the others' counts. The text is printed when
//! it is shown, not when the policy is compiled: 20,000 entries rendered
//! took longer than the rest of their compile.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;

use super::ast::{
    AccessList, AclLine, AddrSpec, EthertypeLine, EthertypeList, IcmpSpec, PortSpec, ProtoSpec,
    Protocol,
};
use super::classifier::{AddrSpan, Atom, PortSpan};
use super::ports::{self, PortNames};
use super::render::{acl_line, ethertype_line};

/// An element of an entry of a policy's access-lists: its place among all
/// their elements, list after list in the order of
/// [`Policy::listings`](super::compile::Policy::listings) (list `l`'s
/// elements start at [`AclListing::first`], its entry `e`'s at `first +
/// e.at`). Four bytes, and `None` is free: the engine notes up to three
/// for every frame it judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AceRef(NonZeroU32);

impl AceRef {
    /// The entry at `index`, if a `u32` numbers it (the policy's budget
    /// keeps every entry far below).
    pub fn new(index: usize) -> Option<AceRef> {
        u32::try_from(index)
            .ok()
            .and_then(|i| i.checked_add(1))
            .and_then(NonZeroU32::new)
            .map(AceRef)
    }

    /// Its place among the policy's entries, from 0.
    pub fn index(self) -> usize {
        (self.0.get() - 1) as usize
    }
}

/// What kind of access-list a listing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// `access-list NAME extended …`: IP packets.
    Extended,
    /// `access-list NAME ethertype …`: frames by their EtherType
    /// (docs/asa-behaviour.md §2.7).
    Ethertype,
}

/// One access-list as `show access-list` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclListing {
    /// Its name.
    pub name: String,
    /// Extended or EtherType.
    pub kind: ListKind,
    /// The place of its first element among the policy's elements
    /// ([`AceRef::index`]); its entries' elements follow in order.
    pub first: usize,
    /// Its lines in order, remarks included.
    pub lines: Vec<ListedLine>,
    /// Each of its elements' key under its entry, in order
    /// ([`ListedEntry::key`] and this one know an element).
    pub element_keys: Vec<u64>,
}

/// One line of an access-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedLine {
    /// Its number, from 1, remarks counted (the ASA's `line N`, and
    /// [`Place::AclEntry`](super::compile::Place::AclEntry)'s).
    pub line: u32,
    /// The line as configured.
    pub content: LineContent,
    /// `None` for a remark.
    pub entry: Option<ListedEntry>,
}

/// A line of an extended or an EtherType access-list, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineContent {
    /// A line of an extended list.
    Extended(AclLine),
    /// A line of an EtherType list.
    Ethertype(EthertypeLine),
}

impl ListedLine {
    /// The line as `show running-config` prints it after `access-list
    /// NAME `: `remark TEXT`, `extended permit tcp any any eq www`,
    /// `ethertype deny any`.
    pub fn text(&self) -> String {
        match &self.content {
            LineContent::Extended(l) => acl_line(l),
            LineContent::Ethertype(l) => ethertype_line(l),
        }
    }
}

/// What a line that is an entry (not a remark) adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedEntry {
    /// The match entries it expanded to: one per protocol, address and
    /// port block its objects and object-groups cross to (the classifier's
    /// atoms, the ASA's "elements"); 0 for an entry that matches nothing
    /// (an empty group), 1 for an inactive one, which is not expanded; 1
    /// for an EtherType entry.
    pub elements: u32,
    /// The place of its first element among its list's
    /// ([`AclListing::first`] + `at` among the policy's).
    pub at: u32,
    /// How many elements count its hits ([`elements`](Self::elements),
    /// but none for an inactive entry).
    pub counted: u32,
    /// It names an object or object-group: its elements are listed under
    /// it, as the ASA lists the entries it expands.
    pub expands: bool,
    /// `inactive`, or its time-range is not active: it matches nothing
    /// (now).
    pub inactive: bool,
    /// Who the entry is: a 128-bit hash of its list's name and the entry
    /// as configured, computed with the policy, off the packet path. A new
    /// policy finds the entries it keeps by it alone: a worker carrying
    /// 20,000 counts over hashes and compares no entry. Two different
    /// entries share a key with a chance of about 2^-128 (the same for
    /// every policy of one process; not for other processes).
    pub key: u128,
}

impl AclListing {
    /// An extended access-list's listing, given each entry's elements in
    /// order (remarks skipped), its first element at `first`. An entry
    /// whose time-range is not in `active` is listed inactive; its
    /// elements keep counting places (it counts nothing while the range
    /// is not active).
    pub(super) fn extended(
        acl: &AccessList,
        elements: &[EntryElements],
        first: usize,
        active: &std::collections::BTreeSet<String>,
    ) -> AclListing {
        let mut per_entry = elements.iter();
        let mut element_keys = Vec::new();
        let lines = acl
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| ListedLine {
                line: line_number(i),
                content: LineContent::Extended(l.clone()),
                entry: match l {
                    AclLine::Remark(_) => None,
                    AclLine::Ace(a) => {
                        let keys = per_entry.next().map_or(&[][..], |e| &e.keys[..]);
                        // The policy's budget keeps every count far below
                        // `u32::MAX`.
                        let at = u32::try_from(element_keys.len()).unwrap_or(u32::MAX);
                        let counted = u32::try_from(keys.len()).unwrap_or(u32::MAX);
                        element_keys.extend_from_slice(keys);
                        Some(ListedEntry {
                            elements: if a.inactive { 1 } else { counted },
                            at,
                            counted,
                            expands: expands(a),
                            // `show access-list` marks an entry whose
                            // time-range is not active `(inactive)`, as
                            // one written `inactive` (docs/asa-behaviour.md
                            // §2.10).
                            inactive: a.inactive
                                || a.time_range.as_ref().is_some_and(|t| !active.contains(t)),
                            key: entry_key(&acl.name, a),
                        })
                    }
                },
            })
            .collect();
        AclListing {
            name: acl.name.clone(),
            kind: ListKind::Extended,
            first,
            lines,
            element_keys,
        }
    }

    /// An EtherType access-list's listing, its first entry at `first`.
    pub(super) fn ethertype(list: &EthertypeList, first: usize) -> AclListing {
        let mut at = 0;
        let lines = list
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| ListedLine {
                line: line_number(i),
                content: LineContent::Ethertype(l.clone()),
                entry: match l {
                    EthertypeLine::Remark(_) => None,
                    EthertypeLine::Ace(a) => {
                        at += 1;
                        Some(ListedEntry {
                            elements: 1,
                            at: at - 1,
                            counted: 1,
                            expands: false,
                            inactive: false,
                            key: entry_key(&list.name, a),
                        })
                    }
                },
            })
            .collect();
        AclListing {
            name: list.name.clone(),
            kind: ListKind::Ethertype,
            first,
            lines,
            element_keys: vec![0; at as usize],
        }
    }

    /// Its entries (remarks skipped), in order.
    pub fn entries(&self) -> impl Iterator<Item = &ListedLine> {
        self.lines.iter().filter(|l| l.entry.is_some())
    }

    /// How many entries it has (remarks not counted).
    pub fn entry_count(&self) -> usize {
        self.entries().count()
    }

    /// How many elements count hits in it: the policy's elements from
    /// [`first`](Self::first) on are its.
    pub fn element_count(&self) -> usize {
        self.element_keys.len()
    }
}

impl ListedEntry {
    /// Its counted elements' places among its list's.
    pub fn range(&self) -> std::ops::Range<usize> {
        let at = self.at as usize;
        at..at + self.counted as usize
    }
}

/// What the compiler gives `show access-list` of one entry of an
/// extended list: a key for each of its elements, in order (their count is
/// the entry's elements).
#[derive(Debug, Clone, Default)]
pub(super) struct EntryElements {
    /// For an entry over objects or groups a hash of each element (its
    /// atom, what its child line prints), else each one's place.
    pub keys: Vec<u64>,
}

/// Whether an entry names an object or object-group anywhere: the ASA
/// lists the entries it expands to under it.
pub fn expands(a: &super::ast::Ace) -> bool {
    let addr = |x: &AddrSpec| matches!(x, AddrSpec::Object(_) | AddrSpec::Group(_));
    let port = |x: &Option<PortSpec>| matches!(x, Some(PortSpec::Group(_)));
    !matches!(a.protocol, ProtoSpec::Protocol(_))
        || addr(&a.source)
        || addr(&a.destination)
        || port(&a.source_port)
        || port(&a.destination_port)
        || matches!(a.icmp, Some(IcmpSpec::Group(_)))
}

/// The text of an element of `entry` after `access-list NAME `, as the
/// ASA prints an expanded entry: the entry with each object and group
/// replaced by its value, `extended permit tcp any host 198.18.0.10 eq
/// www`. Addresses print as `host A`, `A MASK`, `A/LEN` (IPv6), `range A
/// B`, `any`, `any4`, `any6`; ports as `eq P` (by the ASA's name), `lt P`,
/// `gt P`, `range P Q`; an ICMP type by its name, then its code. A `neq
/// P` is two elements, `lt P` and `gt P`, as Rampart matches it.
pub fn element_text(entry: &super::ast::Ace, atom: &Atom) -> String {
    let mut s = String::with_capacity(80);
    s.push_str(match entry.action {
        super::ast::Action::Permit => "extended permit ",
        super::ast::Action::Deny => "extended deny ",
    });
    let icmp = matches!(atom.proto, Some(1 | 58)) && atom.sport.block.len == 16;
    let (names, icmp6) = match atom.proto {
        None => {
            s.push_str("ip");
            (PortNames::Tcp, false)
        }
        Some(n) => {
            let p = Protocol::Number(n);
            s.push_str(&ports::protocol_name(p));
            // Each element is of one protocol, whose port names it takes.
            (ports::port_names(p).unwrap_or(PortNames::Tcp), n == 58)
        }
    };
    s.push(' ');
    write_span(&mut s, &atom.src);
    if !icmp {
        write_ports(&mut s, &atom.sport, names);
    }
    s.push(' ');
    write_span(&mut s, &atom.dst);
    if icmp {
        let t = super::icmp::icmp_type_name(atom.sport.block.value as u8, icmp6);
        let _ = write!(s, " {t}");
        if atom.dport.block.len == 16 {
            let _ = write!(s, " {}", atom.dport.block.value);
        }
    } else {
        write_ports(&mut s, &atom.dport, names);
    }
    match entry.log {
        super::ast::AceLog::Default => {}
        super::ast::AceLog::On => s.push_str(" log"),
        super::ast::AceLog::Disable => s.push_str(" log disable"),
    }
    s
}

/// An address span as an entry prints it.
fn write_span(out: &mut String, a: &AddrSpan) {
    let p = a.prefix;
    let ip = |bits: u128| -> IpAddr {
        match p.v6 {
            Some(true) => IpAddr::V6(Ipv6Addr::from(bits)),
            // IPv4 as mapped IPv6: the low 32 bits.
            _ => IpAddr::V4(Ipv4Addr::from(bits as u32)),
        }
    };
    let _ = match (a.within, p.v6) {
        (Some((lo, hi)), _) => write!(out, "range {} {}", ip(lo), ip(hi)),
        (None, None) => write!(out, "any"),
        (None, Some(false)) if p.len <= 96 => write!(out, "any4"),
        (None, Some(true)) if p.len == 0 => write!(out, "any6"),
        (None, Some(false)) if p.len == 128 => write!(out, "host {}", ip(p.bits)),
        (None, Some(false)) => {
            let mask = u32::MAX.checked_shl(u32::from(128 - p.len)).unwrap_or(0);
            write!(out, "{} {}", ip(p.bits), Ipv4Addr::from(mask))
        }
        (None, Some(true)) if p.len == 128 => write!(out, "host {}", ip(p.bits)),
        (None, Some(true)) => write!(out, "{}/{}", ip(p.bits), p.len),
    };
}

/// A port span as an entry prints it after its address (nothing for any).
fn write_ports(out: &mut String, p: &PortSpan, names: PortNames) {
    let (lo, hi) = p.within.unwrap_or_else(|| {
        let mask = super::classifier::PortPrefix::mask(p.block.len);
        (p.block.value & mask, p.block.value | !mask)
    });
    let n = |x: u16| ports::port_name(x, names);
    let _ = match (lo, hi) {
        (0, u16::MAX) => Ok(()),
        _ if lo == hi => write!(out, " eq {}", n(lo)),
        (0, _) => write!(out, " lt {}", n(hi + 1)),
        (_, u16::MAX) => write!(out, " gt {}", n(lo - 1)),
        _ => write!(out, " range {} {}", n(lo), n(hi)),
    };
}

/// [`ListedEntry::key`] of an entry of list `name`: two 64-bit hashes
/// with seeds of their own.
fn entry_key(name: &str, entry: &impl std::hash::Hash) -> u128 {
    // Fixed seeds: the keys of two policies compiled apart must agree.
    let hi = ahash::RandomState::with_seeds(0x5eed, 1, 2, 3).hash_one((name, entry));
    let lo = ahash::RandomState::with_seeds(4, 5, 6, 0xacce).hash_one((name, entry));
    u128::from(hi) << 64 | u128::from(lo)
}

/// Line `i` of a list (from 0) as the ASA numbers it, from 1; a list has
/// far fewer lines than `u32` counts (the policy's budget bounds it).
fn line_number(i: usize) -> u32 {
    u32::try_from(i + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::compile::compile;
    use crate::policy::parse_config;

    /// Lines are numbered with remarks counted, each entry's text is the
    /// running configuration's, and an entry crossing an object-group has
    /// an element per member; EtherType lists follow the extended ones.
    #[test]
    fn lists_number_their_lines_as_the_asa_does() {
        let text = "object-group network SRV\n network-object host 198.18.0.10\n \
                    network-object host 198.18.0.11\n\
                    access-list OUT remark web servers\n\
                    access-list OUT extended permit tcp any object-group SRV eq 80\n\
                    access-list OUT extended deny ip any any inactive\n\
                    access-list L2 ethertype permit bpdu\n\
                    access-list L2 ethertype deny any\n";
        let cfg = parse_config(text).unwrap().config;
        let p = compile(&cfg, &crate::iface::InterfaceConfig::inside_outside()).unwrap();
        type Shown = (u32, String, Option<(u32, bool)>);
        let shown: Vec<(&str, Vec<Shown>)> = p
            .listings()
            .iter()
            .map(|l| {
                let lines = l
                    .lines
                    .iter()
                    .map(|x| {
                        let e = x.entry.map(|e| (e.elements, e.inactive));
                        (x.line, x.text(), e)
                    })
                    .collect();
                (l.name.as_str(), lines)
            })
            .collect();
        let entry = |elements, inactive| Some((elements, inactive));
        assert_eq!(
            shown,
            [
                (
                    "OUT",
                    vec![
                        (1, "remark web servers".to_string(), None),
                        (
                            2,
                            "extended permit tcp any object-group SRV eq www".to_string(),
                            entry(2, false)
                        ),
                        (
                            3,
                            "extended deny ip any any inactive".to_string(),
                            entry(1, true)
                        ),
                    ]
                ),
                (
                    "L2",
                    vec![
                        (1, "ethertype permit bpdu".to_string(), entry(1, false)),
                        (2, "ethertype deny any".to_string(), entry(1, false)),
                    ]
                ),
            ]
        );
        assert_eq!(p.listings()[0].kind, ListKind::Extended);
        assert_eq!(p.listings()[1].kind, ListKind::Ethertype);
        assert_eq!(p.listings()[0].entry_count(), 2);
        assert_eq!((p.listings()[0].first, p.listings()[1].first), (0, 2));
        assert_eq!(AceRef::new(2).map(AceRef::index), Some(2));
        assert_eq!(AceRef::new(u32::MAX as usize), None);
        // Each entry's key is its list's name and the entry, apart.
        let l2 = &p.listings()[1].lines[1];
        let LineContent::Ethertype(EthertypeLine::Ace(deny)) = &l2.content else {
            panic!("{l2:?}");
        };
        assert_eq!(l2.entry.map(|e| e.key), Some(entry_key("L2", deny)));
        assert_ne!(entry_key("L3", deny), entry_key("L2", deny));
    }

    /// The forms an element prints in: IPv6 hosts and prefixes, `any6`,
    /// port ranges open at either end, `neq` as its two blocks, ICMPv6
    /// types with a code; an IPv4 member crossed with an IPv6 one is no
    /// element.
    #[test]
    fn elements_print_as_entries_do() {
        let text = "object-group network V6\n network-object host 2001:db8::1\n \
                    network-object 2001:db8:1::/64\n network-object host 198.18.0.1\n\
                    object-group service HI\n service-object tcp destination gt 1023\n \
                    service-object tcp source range 1 1024 destination neq 25\n\
                    object-group service ERR\n service-object icmp6 parameter-problem 1\n\
                    access-list X extended deny object-group HI any6 object-group V6\n\
                    access-list X extended permit object-group ERR any6 any6 log disable\n";
        let cfg = parse_config(text).unwrap().config;
        let p = compile(&cfg, &crate::iface::InterfaceConfig::inside_outside()).unwrap();
        let mut x = p.expander();
        let shown: Vec<Vec<String>> = p.listings()[0]
            .lines
            .iter()
            .map(|l| {
                let LineContent::Extended(AclLine::Ace(a)) = &l.content else {
                    panic!("{l:?}")
                };
                let atoms = x.elements(l, usize::MAX);
                assert_eq!(atoms.len(), l.entry.unwrap().elements as usize);
                atoms.iter().map(|e| element_text(a, e)).collect()
            })
            .collect();
        let deny = |rest: &str| format!("extended deny tcp {rest}");
        assert_eq!(
            shown,
            [
                vec![
                    deny("any6 host 2001:db8::1 gt 1023"),
                    deny("any6 2001:db8:1::/64 gt 1023"),
                    deny("any6 range 1 1024 host 2001:db8::1 lt smtp"),
                    deny("any6 range 1 1024 2001:db8:1::/64 lt smtp"),
                    deny("any6 range 1 1024 host 2001:db8::1 gt smtp"),
                    deny("any6 range 1 1024 2001:db8:1::/64 gt smtp"),
                ],
                vec!["extended permit icmp6 any6 any6 parameter-problem 1 log disable".to_string()],
            ]
        );
        // A limit lists the first elements only.
        assert_eq!(x.elements(&p.listings()[0].lines[0], 2).len(), 2);
    }
}
