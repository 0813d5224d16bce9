//! The shun list as the engine checks it (docs/asa-behaviour.md §2.12):
//! every packet whose IP source is shunned on its interface or VLAN is
//! dropped before anything else judges it, its established connections'
//! included (Cisco ASA Series Command Reference, "shun").

use std::collections::HashMap;
use std::net::IpAddr;

use crate::verdict::IfaceId;

/// Where a shun applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShunScope {
    /// On every interface.
    Any,
    /// Only on this interface.
    Interface(IfaceId),
    /// Only on this VLAN (0 is untagged).
    Vlan(u16),
}

impl ShunScope {
    fn covers(self, ingress: IfaceId, vlan: u16) -> bool {
        match self {
            ShunScope::Any => true,
            ShunScope::Interface(i) => i == ingress,
            ShunScope::Vlan(v) => v == vlan,
        }
    }
}

/// The connection named with a shun, removed when the shun is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShunConn {
    /// Its other end.
    pub dest: IpAddr,
    /// The shunned source's port.
    pub sport: u16,
    /// The other end's port.
    pub dport: u16,
    /// The IP protocol; 0 is any.
    pub proto: u8,
}

/// One shun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shun {
    /// The shunned source address, exactly as IP headers carry it (an
    /// IPv4-mapped IPv6 address is not the IPv4 address).
    pub source: IpAddr,
    /// The connection named with it.
    pub conn: Option<ShunConn>,
    /// Where it applies.
    pub scope: ShunScope,
}

/// The shuns a worker checks: one hash lookup per packet from any source
/// while any shun exists, none while none does.
#[derive(Debug, Clone, Default)]
pub struct ShunTable {
    list: Vec<Shun>,
    /// Per source, the indexes of its shuns in `list`.
    by_source: HashMap<IpAddr, Vec<u32>>,
}

impl ShunTable {
    /// The table of `list`, in its order. A second shun of the same
    /// source and scope is left out (the first stays).
    pub fn new(list: Vec<Shun>) -> Self {
        let mut t = ShunTable::default();
        for s in list {
            if t.list
                .iter()
                .any(|o| o.source == s.source && o.scope == s.scope)
            {
                continue;
            }
            let Ok(i) = u32::try_from(t.list.len()) else {
                break;
            };
            t.by_source.entry(s.source).or_default().push(i);
            t.list.push(s);
        }
        t
    }

    /// The shuns, in the table's order.
    pub fn shuns(&self) -> &[Shun] {
        &self.list
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The first shun of `source` that covers `ingress` and `vlan` (0:
    /// untagged), by its index in [`shuns`](Self::shuns).
    #[inline]
    pub fn lookup(&self, source: IpAddr, ingress: IfaceId, vlan: u16) -> Option<usize> {
        self.by_source
            .get(&source)?
            .iter()
            .map(|&i| i as usize)
            .find(|&i| self.list[i].scope.covers(ingress, vlan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shun(source: &str, scope: ShunScope) -> Shun {
        Shun {
            source: source.parse().unwrap(),
            conn: None,
            scope,
        }
    }

    #[test]
    fn a_shun_covers_its_scope_only_and_the_first_of_a_pair_stays() {
        let t = ShunTable::new(vec![
            shun("198.18.0.10", ShunScope::Interface(IfaceId(1))),
            shun("198.18.0.10", ShunScope::Vlan(7)),
            shun("2001:db8::1", ShunScope::Any),
            shun("198.18.0.10", ShunScope::Vlan(7)),
        ]);
        assert_eq!(t.shuns().len(), 3, "the duplicate is left out");
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(t.lookup(a("198.18.0.10"), IfaceId(1), 0), Some(0));
        assert_eq!(t.lookup(a("198.18.0.10"), IfaceId(0), 7), Some(1));
        assert_eq!(t.lookup(a("198.18.0.10"), IfaceId(0), 0), None);
        assert_eq!(t.lookup(a("198.18.0.11"), IfaceId(1), 0), None);
        assert_eq!(t.lookup(a("2001:db8::1"), IfaceId(0), 9), Some(2));
        // The IPv4-mapped form is another address.
        assert_eq!(t.lookup(a("::ffff:198.18.0.10"), IfaceId(1), 0), None);
        assert!(ShunTable::default().is_empty());
    }
}
