//! `names` and the `name` lines, and the names `show running-config`
//! prints in place of addresses (docs/asa-behaviour.md §2.1, "Names").

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use crate::ast::Names;

/// The names `show running-config` prints for addresses: those of the
/// `name` lines while `names` is on, none while it is off. Only where the
/// parser takes a name (an entry's `host` and `NAME MASK`, a
/// `network-object`'s), so the text parses back to the same configuration.
#[derive(Debug, Default)]
pub(super) struct Shown<'a>(HashMap<Ipv4Addr, &'a str>);

impl<'a> Shown<'a> {
    pub(super) fn of(names: &'a Names) -> Self {
        if !names.enabled {
            return Self::default();
        }
        Self(
            names
                .entries
                .iter()
                .map(|e| (e.address, e.name.as_str()))
                .collect(),
        )
    }

    /// The name to print for `a`, if it has one.
    pub(super) fn v4(&self, a: Ipv4Addr) -> Option<&'a str> {
        self.0.get(&a).copied()
    }

    /// The name to print for `a`, if it has one.
    pub(super) fn ip(&self, a: IpAddr) -> Option<&'a str> {
        match a {
            IpAddr::V4(a) => self.v4(a),
            IpAddr::V6(_) => None,
        }
    }
}

/// `names` and each `name` line, at the top as the ASA prints them. Names
/// defined while off are printed as `names`, the lines, `no names`, since
/// a `name` line needs `names` before it.
pub(super) fn lines(out: &mut String, names: &Names) {
    if !names.enabled && names.entries.is_empty() {
        return;
    }
    out.push_str("names\n");
    for e in &names.entries {
        let _ = write!(out, "name {} {}", e.address, e.name);
        if let Some(d) = &e.description {
            let _ = write!(out, " description {d}");
        }
        out.push('\n');
    }
    if !names.enabled {
        out.push_str("no names\n");
    }
    out.push_str("!\n");
}
