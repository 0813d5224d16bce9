//! Each access-list of a policy as `show access-list` lists it
//! (docs/asa-behaviour.md §2.9): its lines numbered as the ASA numbers
//! them, remarks counted, each as configured (its text is what `show
//! running-config` prints for it); and [`AceRef`], how the engine names
//! the entry that decided a packet, so that it can count the entry's hits.
//!
//! An entry's hit count is keyed by its list's name and the entry as
//! configured, which its text prints whole (`show running-config` reads
//! back as the same configuration): a new policy that keeps an entry
//! (wherever it now stands) keeps its count, and a changed or new entry
//! starts at 0 (`Engine::set_policy`). The text is printed when it is
//! shown, not when the policy is compiled: 20,000 entries rendered took
//! longer than the rest of their compile.

use std::num::NonZeroU32;

use super::ast::{AccessList, AclLine, EthertypeLine, EthertypeList};
use super::render::{acl_line, ethertype_line};

/// An entry of a policy's access-lists: its place among all their
/// entries, remarks skipped, list after list in the order of
/// [`Policy::listings`](super::compile::Policy::listings) (list `l`'s
/// entry `r` is [`AclListing::first`] + `r`). Four bytes, and `None` is
/// free: the engine notes up to three for every frame it judges.
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
    /// The place of its first entry among the policy's entries
    /// ([`AceRef::index`]); its entries follow in order.
    pub first: usize,
    /// Its lines in order, remarks included.
    pub lines: Vec<ListedLine>,
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
    /// order (remarks skipped), its first entry at `first`.
    /// An entry whose time-range is not in `active` is listed inactive.
    pub(super) fn extended(
        acl: &AccessList,
        elements: &[u32],
        first: usize,
        active: &std::collections::BTreeSet<String>,
    ) -> AclListing {
        let mut counts = elements.iter();
        let lines = acl
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| ListedLine {
                line: line_number(i),
                content: LineContent::Extended(l.clone()),
                entry: match l {
                    AclLine::Remark(_) => None,
                    AclLine::Ace(a) => Some(ListedEntry {
                        elements: counts.next().copied().unwrap_or(0),
                        // `show access-list` marks an entry whose
                        // time-range is not active `(inactive)`, as one
                        // written `inactive` (docs/asa-behaviour.md §2.10).
                        inactive: a.inactive
                            || a.time_range.as_ref().is_some_and(|t| !active.contains(t)),
                        key: entry_key(&acl.name, a),
                    }),
                },
            })
            .collect();
        AclListing {
            name: acl.name.clone(),
            kind: ListKind::Extended,
            first,
            lines,
        }
    }

    /// An EtherType access-list's listing, its first entry at `first`.
    pub(super) fn ethertype(list: &EthertypeList, first: usize) -> AclListing {
        let lines = list
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| ListedLine {
                line: line_number(i),
                content: LineContent::Ethertype(l.clone()),
                entry: match l {
                    EthertypeLine::Remark(_) => None,
                    EthertypeLine::Ace(a) => Some(ListedEntry {
                        elements: 1,
                        inactive: false,
                        key: entry_key(&list.name, a),
                    }),
                },
            })
            .collect();
        AclListing {
            name: list.name.clone(),
            kind: ListKind::Ethertype,
            first,
            lines,
        }
    }

    /// Its entries (remarks skipped), in order: the `n`th is the policy's
    /// entry [`first`](Self::first) + `n`.
    pub fn entries(&self) -> impl Iterator<Item = &ListedLine> {
        self.lines.iter().filter(|l| l.entry.is_some())
    }

    /// How many entries it has (remarks not counted).
    pub fn entry_count(&self) -> usize {
        self.entries().count()
    }
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
}
