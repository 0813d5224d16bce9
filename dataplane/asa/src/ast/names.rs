//! `names` and `name A NAME [description TEXT]`: text names for IPv4
//! addresses (docs/asa-behaviour.md §2.1, "Names"). The parser resolves a
//! name where it is used, so the rest of the AST holds addresses only;
//! `show running-config` prints the name again for an address that has one
//! while `names` is on.

use std::net::Ipv4Addr;

/// The `names` switch and the `name` entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Names {
    /// `names` (on) or `no names` (off): whether names may be used and are
    /// shown.
    pub enabled: bool,
    /// `name` lines, in the order first defined.
    pub entries: Vec<NameEntry>,
}

/// One `name A NAME [description TEXT]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameEntry {
    /// The address named.
    pub address: Ipv4Addr,
    /// The name.
    pub name: String,
    /// `description TEXT`, as written.
    pub description: Option<String>,
}
