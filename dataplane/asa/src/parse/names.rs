//! `names`, `name A NAME [description TEXT]`, their `no` forms, and the
//! resolution of a name where an address is written: `host NAME` and
//! `NAME MASK` in an access-list entry's source and destination, and in a
//! network object-group's `network-object` (docs/asa-behaviour.md §2.1,
//! "Names").
//!
//! A name stands for one IPv4 address, with no mask of its own (Cisco,
//! "ASDM version 6.3 (ASA 8.3) display of objects and names": a name is a
//! one-to-one replacement of an address in the configuration). It is
//! resolved where it is used, so it must be defined on an earlier line,
//! as the ASA takes commands one at a time; the AST keeps the address, and
//! `show running-config` prints the name again.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ast::{NameEntry, NetworkValue};

use super::Parser;
use super::cursor::{Cur, R, Tok};
use super::values::{Net, dotted, host_ip, network_literal, v4_mask};

/// Longest name (docs/asa-behaviour.md §2.1, "Names": inferred).
const NAME_MAX_CHARS: usize = 63;

/// Words a name may not be: those the positions a name stands in (or the
/// `name` line itself) read as keywords, so that a name could be taken for
/// one and an entry read two ways. Refused rather than guessed
/// (docs/asa-behaviour.md §2.1, *inferred*).
const RESERVED: &[&str] = &[
    "any",
    "any4",
    "any6",
    "host",
    "object",
    "object-group",
    "interface",
    "eq",
    "neq",
    "lt",
    "gt",
    "range",
    "log",
    "time-range",
    "inactive",
    "description",
];

/// The names by name and by address, for the lookups while parsing (the
/// AST keeps the lines in order).
#[derive(Debug, Default)]
pub(super) struct NameTable {
    by_name: HashMap<String, Ipv4Addr>,
    by_address: HashMap<Ipv4Addr, String>,
}

/// Whether `w` is written as a name may be: a letter first, then letters,
/// digits, `-`, `_` and `.` (configurations in the field carry names such
/// as `KIT_Aeroe_212.112.132.223`), at most [`NAME_MAX_CHARS`].
fn name_shaped(w: &str) -> bool {
    w.chars().next().is_some_and(|ch| ch.is_ascii_alphabetic())
        && w.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
}

/// Why `w` cannot be defined as a name, if it cannot.
fn bad_name(w: &str) -> Option<String> {
    if w.chars().count() > NAME_MAX_CHARS {
        return Some(format!("a name is at most {NAME_MAX_CHARS} characters"));
    }
    if w.parse::<IpAddr>().is_ok() {
        return Some(format!("'{w}' is an address, not a name"));
    }
    if RESERVED.contains(&w) {
        return Some(format!(
            "'{w}' is a keyword where names are used, so it cannot be a name"
        ));
    }
    if !name_shaped(w) {
        return Some(format!(
            "invalid name '{w}': a name begins with a letter and holds letters, digits, '-', '_' and '.'"
        ));
    }
    None
}

impl Parser {
    /// `names` (`negate`: `no names`): names may be used, and are shown,
    /// or not. The `name` lines stay either way.
    pub(super) fn names_command(&mut self, c: &mut Cur<'_>, negate: bool) -> R<()> {
        c.done()?;
        self.cfg.names.enabled = !negate;
        Ok(())
    }

    /// `name A NAME [description TEXT]` (`col`: where `name` is written).
    pub(super) fn name_command(&mut self, c: &mut Cur<'_>, col: usize) -> R<()> {
        // Names must be on first (docs/asa-behaviour.md §2.1, "Names":
        // inferred, as the ASA's running configurations print `names`
        // before the `name` lines).
        if !self.cfg.names.enabled {
            return Err(c.err_at(col, "'name' needs 'names' first: names are off"));
        }
        let (address, at) = name_address(c)?;
        let n = c.word("name")?;
        if let Some(why) = bad_name(n.text) {
            return Err(c.err_at(n.col, why));
        }
        let description = description(c)?;
        // One name an address, one address a name: a second definition is
        // refused, not taken as a rename (docs/asa-behaviour.md §2.1,
        // "Names": inferred).
        if let Some(&other) = self.names.by_name.get(n.text)
            && other != address
        {
            return Err(c.err_at(
                n.col,
                format!("name '{}' is already defined as {other}", n.text),
            ));
        }
        if let Some(other) = self.names.by_address.get(&address)
            && other != n.text
        {
            return Err(c.err_at(
                at,
                format!("{address} already has the name '{other}': an address takes one name"),
            ));
        }
        let entries = &mut self.cfg.names.entries;
        // Only an address that has a name (this one, checked above) is
        // looked for among the entries: a policy of tens of thousands of
        // `name` lines is read in linear time.
        let known = self.names.by_address.contains_key(&address);
        let found = if known {
            entries.iter_mut().find(|e| e.address == address)
        } else {
            None
        };
        match found {
            // The same line again: its description is the one written last.
            Some(e) => e.description = description,
            None => {
                entries.push(NameEntry {
                    address,
                    name: n.text.to_string(),
                    description,
                });
                self.names.by_name.insert(n.text.to_string(), address);
                self.names.by_address.insert(address, n.text.to_string());
            }
        }
        Ok(())
    }

    /// `no name A [NAME [description TEXT]]`: the address has no name
    /// any more. Lines that used it keep their address (the AST holds
    /// addresses) and are shown with it.
    pub(super) fn no_name(&mut self, c: &mut Cur<'_>) -> R<()> {
        let (address, at) = name_address(c)?;
        let Some(name) = self.names.by_address.get(&address).cloned() else {
            return Err(c.err_at(at, format!("{address} has no name")));
        };
        if let Some(n) = c.next()
            && n.text != name
        {
            return Err(c.err_at(
                n.col,
                format!("{address} is named '{name}', not '{}'", n.text),
            ));
        }
        // The description, if written, is not compared; nothing else may
        // follow the name.
        description(c)?;
        self.cfg.names.entries.retain(|e| e.address != address);
        self.names.by_name.remove(&name);
        self.names.by_address.remove(&address);
        Ok(())
    }

    /// The word after `host`: an address, or a name.
    pub(super) fn host_or_name(&self, c: &mut Cur<'_>) -> R<IpAddr> {
        let t = c.word("host address")?;
        if let Some(a) = self.named(c, t, false)? {
            return Ok(IpAddr::V4(a));
        }
        c.back();
        host_ip(c)
    }

    /// `A M`, `A/L` or `NAME M` starting at `t`; `None` when `t` is none
    /// of them.
    pub(super) fn network_or_name(&self, c: &mut Cur<'_>, t: Tok<'_>) -> R<Option<Net>> {
        if let Some(net) = network_literal(c, t)? {
            return Ok(Some(net));
        }
        let Some(a) = self.named(c, t, true)? else {
            return Ok(None);
        };
        let mask = v4_mask(c, "mask")?;
        if u32::from(a) & !u32::from(mask) != 0 {
            return Err(c.err_at(
                t.col,
                format!(
                    "name '{}' is {a}, which has host bits set beyond the mask",
                    t.text
                ),
            ));
        }
        Ok(Some(Net::V4(a, mask)))
    }

    /// A `network-object` value: `host A|NAME`, `A M`, `NAME M` or `A/L`.
    pub(super) fn group_network_value(&self, c: &mut Cur<'_>) -> R<NetworkValue> {
        let t = c.word("'host', 'object' or a network")?;
        if t.text == "host" {
            return Ok(NetworkValue::Host(self.host_or_name(c)?));
        }
        match self.network_or_name(c, t)? {
            Some(net) => Ok(net.into()),
            None => {
                c.back();
                Err(c.expected("'host', 'object' or a network"))
            }
        }
    }

    /// `t` (already read) as a name: its address, or `None` when `t` is not
    /// written as a name is. A word written as a name that names nothing
    /// is an error where it stands, after `host` always and in a network
    /// position (`need_mask`) when a mask follows it (else it is some
    /// other mistake, reported by the caller).
    fn named(&self, c: &Cur<'_>, t: Tok<'_>, need_mask: bool) -> R<Option<Ipv4Addr>> {
        if !name_shaped(t.text) || RESERVED.contains(&t.text) {
            return Ok(None);
        }
        match self.names.by_name.get(t.text) {
            Some(&a) if self.cfg.names.enabled => Ok(Some(a)),
            Some(_) => Err(c.err_at(
                t.col,
                format!(
                    "name '{}' cannot be used: names are off ('no names')",
                    t.text
                ),
            )),
            None if !need_mask || c.peek().is_some_and(dotted) => {
                Err(c.err_at(t.col, format!("name '{}' is not defined", t.text)))
            }
            None => Ok(None),
        }
    }
}

/// The address of a `name` line and its column: IPv4 only.
fn name_address(c: &mut Cur<'_>) -> R<(Ipv4Addr, usize)> {
    let t = c.word("IPv4 address")?;
    if let Ok(a) = t.text.parse::<Ipv4Addr>() {
        return Ok((a, t.col));
    }
    // No source gives the ASA's names an IPv6 form; refused rather than
    // guessed (docs/asa-behaviour.md §2.1, *inferred*).
    if t.text.parse::<Ipv6Addr>().is_ok() {
        return Err(c.err_at(
            t.col,
            "a name stands for an IPv4 address: write IPv6 addresses as they are",
        ));
    }
    Err(c.err_at(t.col, format!("invalid IPv4 address '{}'", t.text)))
}

/// What may end a `name` line: nothing, or `description TEXT`.
fn description(c: &mut Cur<'_>) -> R<Option<String>> {
    match c.next() {
        None => Ok(None),
        Some(t) if t.text == "description" => match c.rest() {
            Some((text, _)) => Ok(Some(text.to_string())),
            None => Err(c.expected("description text")),
        },
        Some(t) => Err(c.err_at(
            t.col,
            format!(
                "expected 'description' or end of command, found '{}'",
                t.text
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::test_support::*;
    use crate::render::render;

    const NAMES: &str =
        "names\nname 198.18.5.5 legacy-server description old box\nname 198.18.6.0 lab-net\n";

    fn with_names(rest: &str) -> String {
        format!("{NAMES}{rest}")
    }

    #[test]
    fn names_stand_for_their_addresses_in_entries_and_groups() {
        let text = with_names(
            "access-list A extended permit tcp any host legacy-server eq www\n\
             access-list A extended permit tcp lab-net 255.255.255.0 any\n\
             access-list A extended deny ip host legacy-server lab-net 255.255.254.0\n\
             object-group network SERVERS\n network-object host legacy-server\n network-object lab-net 255.255.255.0",
        );
        let named = cfg(&text);
        let literal = cfg(
            "access-list A extended permit tcp any host 198.18.5.5 eq www\n\
             access-list A extended permit tcp 198.18.6.0 255.255.255.0 any\n\
             access-list A extended deny ip host 198.18.5.5 198.18.6.0 255.255.254.0\n\
             object-group network SERVERS\n network-object host 198.18.5.5\n network-object 198.18.6.0 255.255.255.0",
        );
        assert_eq!(named.access_lists, literal.access_lists);
        assert_eq!(named.object_groups, literal.object_groups);
        assert_eq!(
            named.names,
            Names {
                enabled: true,
                entries: vec![
                    NameEntry {
                        address: v4("198.18.5.5"),
                        name: "legacy-server".into(),
                        description: Some("old box".into()),
                    },
                    NameEntry {
                        address: v4("198.18.6.0"),
                        name: "lab-net".into(),
                        description: None,
                    },
                ],
            }
        );
        // `names` and `name` are kept, not listed as ignored.
        assert!(parsed(&text).ignored.is_empty());
    }

    /// A name is an IPv4 address to every later check: the family rules
    /// of a literal apply to it unchanged.
    #[test]
    fn a_named_entry_equals_the_literal_one_in_every_position() {
        for (named, literal) in [
            (
                "permit ip any4 host legacy-server",
                "permit ip any4 host 198.18.5.5",
            ),
            (
                "permit ip any6 host legacy-server",
                "permit ip any6 host 198.18.5.5",
            ),
            (
                "permit ip host legacy-server any",
                "permit ip host 198.18.5.5 any",
            ),
            (
                "permit udp lab-net 255.255.255.0 eq 53 lab-net 255.255.255.128 range 1 9",
                "permit udp 198.18.6.0 255.255.255.0 eq 53 198.18.6.0 255.255.255.128 range 1 9",
            ),
            (
                "permit icmp host legacy-server lab-net 255.255.255.0 echo",
                "permit icmp host 198.18.5.5 198.18.6.0 255.255.255.0 echo",
            ),
        ] {
            assert_eq!(
                ace(&with_names(&format!("access-list A {named}"))),
                ace(&format!("access-list A {literal}")),
                "{named}"
            );
        }
    }

    #[test]
    fn show_running_config_prints_names_where_they_stand() {
        let text = with_names(
            "object network O\n host 198.18.5.5\n\
             object-group network SERVERS\n network-object host legacy-server\n network-object 198.18.6.0 255.255.255.0\n\
             access-list A extended permit tcp any host 198.18.5.5 eq www\n\
             access-list A extended permit ip lab-net 255.255.255.0 host 198.18.0.9",
        );
        let c = cfg(&text);
        let shown = render(&c);
        assert!(
            shown.starts_with(
                "names\nname 198.18.5.5 legacy-server description old box\nname 198.18.6.0 lab-net\n!\n"
            ),
            "{shown}"
        );
        // An address with a name prints as the name, however it was
        // written; an object's value, where no name is taken, as written.
        for line in [
            " network-object host legacy-server\n",
            " network-object lab-net 255.255.255.0\n",
            "access-list A extended permit tcp any host legacy-server eq www\n",
            "access-list A extended permit ip lab-net 255.255.255.0 host 198.18.0.9\n",
            "object network O\n host 198.18.5.5\n",
        ] {
            assert!(shown.contains(line), "{line}in\n{shown}");
        }
        assert_eq!(cfg(&shown), c);
        // The text `show access-list` keys hit counts by keeps addresses.
        let AclLine::Ace(e) = &c.access_lists[0].lines[0] else {
            panic!()
        };
        assert_eq!(
            crate::render::acl_line(&AclLine::Ace(e.clone())),
            "extended permit tcp any host 198.18.5.5 eq www"
        );
    }

    #[test]
    fn no_names_turns_names_off_and_no_name_removes_one() {
        // Off: the lines stay, addresses print as addresses, and the text
        // still parses back (a `name` line needs `names` before it).
        let off = cfg(&with_names(
            "access-list A extended permit ip host legacy-server any\nno names",
        ));
        assert!(!off.names.enabled);
        assert_eq!(off.names.entries.len(), 2);
        let shown = render(&off);
        assert!(shown.contains("no names\n"), "{shown}");
        assert!(shown.contains("permit ip host 198.18.5.5 any"), "{shown}");
        assert_eq!(cfg(&shown), off);
        // `no name A [NAME …]`: the entry keeps its address.
        let text = with_names(
            "access-list A extended permit ip host legacy-server any\nno name 198.18.5.5 legacy-server description old box",
        );
        let c = cfg(&text);
        assert_eq!(c.names.entries.len(), 1);
        assert!(render(&c).contains("permit ip host 198.18.5.5 any"));
        assert_eq!(
            ace(&text),
            permit_ip(AddrSpec::Host(ip("198.18.5.5")), AddrSpec::Any)
        );
        // The same line again only updates its description.
        let again = cfg(&with_names("name 198.18.6.0 lab-net description lab"));
        assert_eq!(again.names.entries[1].description.as_deref(), Some("lab"));
        assert_eq!(again.names.entries.len(), 2);
    }

    #[test]
    fn names_are_refused_where_they_are_wrong() {
        let n = NAMES.lines().count();
        let at = |l: usize| n + l;
        let cases: Vec<(String, usize, usize, &str)> = vec![
            // Undefined, after `host` and before a mask.
            (
                with_names("access-list A permit ip host nosuch any"),
                at(1),
                30,
                "name 'nosuch' is not defined",
            ),
            (
                with_names("access-list A permit ip any nosuch 255.255.255.0"),
                at(1),
                29,
                "name 'nosuch' is not defined",
            ),
            (
                with_names("object-group network G\n network-object host nosuch"),
                at(2),
                22,
                "name 'nosuch' is not defined",
            ),
            // Used before it is defined: the ASA reads a line at a time.
            (
                "names\naccess-list A permit ip host later any\nname 198.18.0.1 later".into(),
                2,
                30,
                "name 'later' is not defined",
            ),
            // Off.
            (
                with_names("no names\naccess-list A permit ip host lab-net any"),
                at(2),
                30,
                "name 'lab-net' cannot be used: names are off ('no names')",
            ),
            (
                "name 198.18.0.1 early".into(),
                1,
                1,
                "'name' needs 'names' first: names are off",
            ),
            // Host bits beyond the mask.
            (
                with_names("access-list A permit ip legacy-server 255.255.255.0 any"),
                at(1),
                25,
                "name 'legacy-server' is 198.18.5.5, which has host bits set beyond the mask",
            ),
            (
                with_names("access-list A permit ip lab-net 255.255.0.255 any"),
                at(1),
                33,
                "mask '255.255.0.255' is not contiguous",
            ),
            (
                with_names("access-list A permit ip lab-net any"),
                at(1),
                33,
                "expected mask, found 'any'",
            ),
            // Conflicting definitions.
            (
                with_names("name 198.18.5.6 lab-net"),
                at(1),
                17,
                "name 'lab-net' is already defined as 198.18.6.0",
            ),
            (
                with_names("name 198.18.5.5 other"),
                at(1),
                6,
                "198.18.5.5 already has the name 'legacy-server': an address takes one name",
            ),
            // What a name may not be.
            (
                "names\nname 198.18.0.1 any".into(),
                2,
                17,
                "'any' is a keyword where names are used, so it cannot be a name",
            ),
            (
                "names\nname 198.18.0.1 range".into(),
                2,
                17,
                "'range' is a keyword where names are used, so it cannot be a name",
            ),
            (
                "names\nname 198.18.0.1 198.18.0.2".into(),
                2,
                17,
                "'198.18.0.2' is an address, not a name",
            ),
            (
                "names\nname 198.18.0.1 9lives".into(),
                2,
                17,
                "invalid name '9lives': a name begins with a letter and holds letters, digits, '-', '_' and '.'",
            ),
            (
                format!("names\nname 198.18.0.1 {}", "n".repeat(64)),
                2,
                17,
                "a name is at most 63 characters",
            ),
            (
                "names\nname 2001:db8::1 six".into(),
                2,
                6,
                "a name stands for an IPv4 address: write IPv6 addresses as they are",
            ),
            (
                "names\nname 198.18.0.1 srv extra".into(),
                2,
                21,
                "expected 'description' or end of command, found 'extra'",
            ),
            ("names\nname 198.18.0.1".into(), 2, 16, "expected name"),
            (
                "names x".into(),
                1,
                7,
                "unexpected 'x' after end of command",
            ),
            // Removing what is not there.
            (
                with_names("no name 198.18.0.7"),
                at(1),
                9,
                "198.18.0.7 has no name",
            ),
            (
                with_names("no name 198.18.5.5 other"),
                at(1),
                20,
                "198.18.5.5 is named 'legacy-server', not 'other'",
            ),
            (
                with_names("no name 198.18.5.5 legacy-server this is not a description"),
                at(1),
                34,
                "expected 'description' or end of command, found 'this'",
            ),
        ];
        for (text, line, col, msg) in cases {
            assert_eq!(err(&text), (line, col, msg.to_string()), "for:\n{text}");
        }
        // A word that is not written as a name keeps the address errors.
        check_errors(&[(
            "access-list A permit ip host 198.18.0.300 any",
            1,
            30,
            "invalid IPv4 address '198.18.0.300'",
        )]);
    }
}
