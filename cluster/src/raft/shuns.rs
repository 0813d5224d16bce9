//! The shun list the policy log replicates (docs/asa-behaviour.md §2.12):
//! the ASA's `shun` is an exec command, not config, so it is not part of
//! the policy text and never changes the policy's version. Every node
//! applies the same operations in the same order to the same list, so
//! every node drops a shunned source alike, whichever node its packets
//! cross; a node that restarts reads the list back from its store.
//!
//! Apply never fails and is deterministic: an operation that cannot apply
//! (a shun already in place, the list full, an interface name too long to
//! be one) changes nothing on every node alike. The admin side refuses
//! those before it proposes, with the reason.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The most shuns a cluster holds. The ASA documents no figure (it says
/// 401005 when it has no room); this one keeps a snapshot's shun list
/// within [`MAX_SHUN_LIST_BYTES`].
pub const MAX_SHUNS: usize = 1024;

/// The longest interface name a shun may name (bytes): above the ASA's
/// own `nameif` limit (48).
pub const MAX_SHUN_IFACE_BYTES: usize = 64;

/// A bound on the encoded shun list (bytes): [`MAX_SHUNS`] records of the
/// largest shape (two IPv6 addresses, a full interface name, every field
/// at its widest varint) fit in it. The snapshot limit makes room for it.
pub const MAX_SHUN_LIST_BYTES: u64 = (MAX_SHUNS as u64) * 128 + 16;

/// Where a shun applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ShunScope {
    /// On every interface.
    Any,
    /// Only on the interface of this name (`nameif`).
    Interface(String),
    /// Only on this VLAN.
    Vlan(u16),
}

/// The connection a shun named when it was added (removed from every
/// node's table then; the shun itself covers every packet from the
/// source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShunConn {
    /// The connection's other end.
    pub dest: IpAddr,
    /// The shunned source's port.
    pub sport: u16,
    /// The other end's port.
    pub dport: u16,
    /// The IP protocol; 0 is any.
    pub proto: u8,
}

/// One shun as the log carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShunRecord {
    /// The shunned source address.
    pub source: IpAddr,
    /// The connection named with it, if any.
    pub conn: Option<ShunConn>,
    /// Where it applies.
    pub scope: ShunScope,
    /// When it was added: seconds since the Unix epoch on the clock of
    /// the node the operator asked (`show shun statistics`).
    pub added_unix: u64,
}

impl ShunRecord {
    /// Whether `self` is the shun of `source` in `scope` (one per pair).
    pub fn is(&self, source: &IpAddr, scope: &ShunScope) -> bool {
        self.source == *source && self.scope == *scope
    }
}

/// A change to the shun list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShunOp {
    /// `shun ...`: add one, unless that source already has one in that
    /// scope or the list is full.
    Add(ShunRecord),
    /// `no shun SOURCE [vlan ID | interface NAME]`.
    Remove {
        /// The source.
        source: IpAddr,
        /// The scope it was added with.
        scope: ShunScope,
    },
    /// `clear shun`: every shun.
    Clear,
}

/// Why an operation would change nothing on `list`, if it would.
pub fn refusal(list: &[ShunRecord], op: &ShunOp) -> Option<String> {
    match op {
        ShunOp::Add(r) => {
            if let ShunScope::Interface(name) = &r.scope
                && (name.is_empty() || name.len() > MAX_SHUN_IFACE_BYTES)
            {
                return Some(format!(
                    "an interface name is 1-{MAX_SHUN_IFACE_BYTES} bytes"
                ));
            }
            if list.iter().any(|s| s.is(&r.source, &r.scope)) {
                return Some(format!("a shun of {} is already in place", r.source));
            }
            (list.len() >= MAX_SHUNS).then(|| {
                format!(
                    "the shun list is full ({MAX_SHUNS} shuns): unable to allocate resources \
                     for {}",
                    r.source
                )
            })
        }
        ShunOp::Remove { source, scope } => (!list.iter().any(|s| s.is(source, scope)))
            .then(|| format!("no shun of {source} in that scope")),
        ShunOp::Clear => None,
    }
}

/// Why `list` is not a list the log could have built (more than
/// [`MAX_SHUNS`], an interface name out of bounds, two shuns of one source
/// and scope), if it is not: a snapshot that carries one is refused.
pub fn list_problem(list: &[ShunRecord]) -> Option<String> {
    if list.len() > MAX_SHUNS {
        return Some(format!("{} shuns, more than {MAX_SHUNS}", list.len()));
    }
    let mut built = Vec::with_capacity(list.len());
    for r in list {
        if let Some(why) = refusal(&built, &ShunOp::Add(r.clone())) {
            return Some(why);
        }
        built.push(r.clone());
    }
    None
}

/// Apply `op` to `list`; whether it changed.
pub fn apply(list: &mut Vec<ShunRecord>, op: ShunOp) -> bool {
    if refusal(list, &op).is_some() {
        return false;
    }
    match op {
        ShunOp::Add(r) => list.push(r),
        ShunOp::Remove { source, scope } => list.retain(|s| !s.is(&source, &scope)),
        ShunOp::Clear => {
            let had = !list.is_empty();
            list.clear();
            return had;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::codec;

    fn rec(source: &str, scope: ShunScope) -> ShunRecord {
        ShunRecord {
            source: source.parse().unwrap(),
            conn: None,
            scope,
            added_unix: 1,
        }
    }

    #[test]
    fn one_shun_per_source_and_scope_and_removal_by_both() {
        let mut l = Vec::new();
        assert!(apply(
            &mut l,
            ShunOp::Add(rec("198.18.0.10", ShunScope::Any))
        ));
        // The same source and scope again: nothing changes (its time stays).
        let mut again = rec("198.18.0.10", ShunScope::Any);
        again.added_unix = 9;
        assert!(!apply(&mut l, ShunOp::Add(again.clone())));
        assert_eq!(l[0].added_unix, 1);
        assert!(refusal(&l, &ShunOp::Add(again)).is_some());
        // Another scope is another shun.
        assert!(apply(
            &mut l,
            ShunOp::Add(rec("198.18.0.10", ShunScope::Vlan(7)))
        ));
        assert!(apply(
            &mut l,
            ShunOp::Add(rec("2001:db8::1", ShunScope::Interface("outside".into())))
        ));
        assert_eq!(l.len(), 3);
        let remove = |s: &str, scope| ShunOp::Remove {
            source: s.parse().unwrap(),
            scope,
        };
        assert!(!apply(&mut l, remove("198.18.0.10", ShunScope::Vlan(8))));
        assert!(apply(&mut l, remove("198.18.0.10", ShunScope::Vlan(7))));
        assert_eq!(l.len(), 2);
        assert!(apply(&mut l, ShunOp::Clear));
        assert!(l.is_empty());
        assert!(!apply(&mut l, ShunOp::Clear));
    }

    #[test]
    fn a_full_list_and_a_bad_interface_name_change_nothing() {
        let mut l: Vec<ShunRecord> = (0..MAX_SHUNS as u32)
            .map(|i| rec(&std::net::Ipv4Addr::from(i).to_string(), ShunScope::Any))
            .collect();
        let next = rec("198.18.1.1", ShunScope::Any);
        assert!(refusal(&l, &ShunOp::Add(next.clone())).is_some_and(|w| w.contains("full")));
        assert!(!apply(&mut l, ShunOp::Add(next)));
        assert_eq!(l.len(), MAX_SHUNS);
        let mut l = Vec::new();
        for name in [String::new(), "x".repeat(MAX_SHUN_IFACE_BYTES + 1)] {
            assert!(!apply(
                &mut l,
                ShunOp::Add(rec("198.18.0.1", ShunScope::Interface(name)))
            ));
        }
        assert!(l.is_empty());
    }

    #[test]
    fn a_list_the_log_could_not_build_says_why() {
        let a = rec("198.18.0.1", ShunScope::Any);
        assert_eq!(
            list_problem(&[a.clone(), rec("198.18.0.1", ShunScope::Vlan(2))]),
            None
        );
        assert!(list_problem(&[a.clone(), a]).is_some_and(|w| w.contains("already")));
        let long = rec("198.18.0.2", ShunScope::Interface("x".repeat(65)));
        assert!(list_problem(&[long]).is_some());
        let many: Vec<ShunRecord> = (0..=MAX_SHUNS as u32)
            .map(|i| rec(&std::net::Ipv4Addr::from(i).to_string(), ShunScope::Any))
            .collect();
        assert!(list_problem(&many).is_some_and(|w| w.contains("more than")));
        assert_eq!(list_problem(&many[..MAX_SHUNS]), None);
    }

    /// The largest list encodes within the bound the snapshot limit
    /// leaves room for.
    #[test]
    fn the_largest_list_fits_its_bound() {
        let v6 = |i: u32| {
            IpAddr::from([
                0xffff_u16, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, i as u16,
            ])
        };
        let l: Vec<ShunRecord> = (0..MAX_SHUNS as u32)
            .map(|i| ShunRecord {
                source: v6(i),
                conn: Some(ShunConn {
                    dest: v6(u32::MAX),
                    sport: u16::MAX,
                    dport: u16::MAX,
                    proto: u8::MAX,
                }),
                scope: ShunScope::Interface("x".repeat(MAX_SHUN_IFACE_BYTES)),
                added_unix: u64::MAX,
            })
            .collect();
        let bytes = codec::encode(&l).unwrap();
        assert!(
            (bytes.len() as u64) <= MAX_SHUN_LIST_BYTES,
            "{} bytes",
            bytes.len()
        );
    }
}
