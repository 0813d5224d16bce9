//! When two ACEs are one entry of an access-list: the same action,
//! protocol, addresses and ports, whatever their `log` options,
//! `inactive` and `time-range` (which the callers compare apart). The ASA keeps one ACE of each such entry: entering it again
//! changes the one there, where it stands ("Disables an ACE. To reenable
//! it, enter the entire ACE without the inactive keyword", Cisco ASA Series
//! Command Reference, `access-list extended`), and `no access-list` names
//! it by the same match (docs/asa-behaviour.md §2.1).
//!
//! A leaf of the parser, used by `access_list` (re-entry), `no` (removal)
//! and `refs` (which references belong to a line still configured).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ast::*;

/// The ACE as the entry it is: options cleared, and each address and port
/// written the one way the ASA stores it (`host A` for a /32 or /128,
/// `any4` for `0.0.0.0 0.0.0.0`, `any6` for `::/0`, `eq P` for
/// `range P P`), so that spellings of one match are one entry. Objects,
/// groups and interfaces are compared by name.
pub(super) fn identity(ace: &Ace) -> Ace {
    #[cfg(test)]
    COMPUTED.with(|n| n.set(n.get() + 1));
    Ace {
        action: ace.action,
        protocol: ace.protocol.clone(),
        source: address(&ace.source),
        source_port: ace.source_port.as_ref().map(port),
        destination: address(&ace.destination),
        destination_port: ace.destination_port.as_ref().map(port),
        // A type and code are stored as numbers: `echo` and `8` are one.
        icmp: ace.icmp.clone(),
        log: AceLog::Default,
        // Left out so that the ACE finds its entry: a re-entry with
        // another time-range (or none vs one) is then refused, not added
        // or changed in place (`access_list`), and `no access-list` with a
        // time-range must name the entry's (`no`; docs/asa-behaviour.md
        // §2.10).
        time_range: None,
        inactive: false,
    }
}

#[cfg(test)]
thread_local! {
    /// How many identities this thread computed: the parser's tests count
    /// them to show a line costs a bounded number, not one per earlier ACE.
    static COMPUTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many identities this thread has computed so far.
#[cfg(test)]
pub(super) fn identities_computed() -> usize {
    COMPUTED.with(std::cell::Cell::get)
}

/// Whether `a` and `b` are one entry of an access-list: equal but for
/// `log`, `inactive` and `time-range`, each address and port taken as the
/// ASA stores it.
pub fn same_ace(a: &Ace, b: &Ace) -> bool {
    identity(a) == identity(b)
}

fn address(a: &AddrSpec) -> AddrSpec {
    match *a {
        AddrSpec::V4Net(n, Ipv4Addr::BROADCAST) => AddrSpec::Host(IpAddr::V4(n)),
        AddrSpec::V4Net(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED) => AddrSpec::Any4,
        AddrSpec::V6Net(n, 128) => AddrSpec::Host(IpAddr::V6(n)),
        AddrSpec::V6Net(Ipv6Addr::UNSPECIFIED, 0) => AddrSpec::Any6,
        _ => a.clone(),
    }
}

fn port(p: &PortSpec) -> PortSpec {
    match *p {
        PortSpec::Match(PortMatch::Range(lo, hi)) if lo == hi => PortSpec::Match(PortMatch::Eq(lo)),
        _ => p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::test_support::*;

    /// Spellings of one match are one entry; options do not count; any
    /// change of what the ACE matches or does makes another entry.
    #[test]
    fn one_entry_is_one_match() {
        let defs = "object network O\n host 198.18.0.1\nobject-group network G\n network-object host 198.18.0.1\n";
        let a = |rest: &str| ace(&format!("{defs}access-list A {rest}"));
        let base = a("permit tcp any host 198.18.0.1 eq 22");
        for same in [
            "extended permit tcp any host 198.18.0.1 eq ssh",
            "permit   tcp any 198.18.0.1 255.255.255.255 range 22 22",
            "permit tcp any host 198.18.0.1 eq 22 log 7 interval 60 inactive",
            "permit tcp any host 198.18.0.1 eq 22 log disable",
        ] {
            assert!(same_ace(&base, &a(same)), "{same}");
        }
        for other in [
            "deny tcp any host 198.18.0.1 eq 22",
            "permit udp any host 198.18.0.1 eq 22",
            "permit tcp any4 host 198.18.0.1 eq 22",
            "permit tcp any host 198.18.0.2 eq 22",
            "permit tcp any object O eq 22",
            "permit tcp any object-group G eq 22",
            "permit tcp any host 198.18.0.1 eq 23",
            "permit tcp any host 198.18.0.1 range 22 23",
            "permit tcp any host 198.18.0.1",
            "permit tcp any eq 22 host 198.18.0.1",
        ] {
            assert!(!same_ace(&base, &a(other)), "{other}");
        }
        assert!(same_ace(
            &a("permit ip 0.0.0.0 0.0.0.0 ::/0"),
            &a("permit ip any4 any6")
        ));
        assert!(same_ace(
            &a("permit ip host 2001:db8::1 any"),
            &a("permit ip 2001:db8::1/128 any")
        ));
        assert!(!same_ace(&a("permit ip any any"), &a("permit ip any4 any")));
    }

    /// An ICMP type is stored as its number, so its name and number are
    /// one entry; another type, a code, or no type is another entry.
    #[test]
    fn icmp_types_are_part_of_the_entry() {
        let base = ace("access-list A permit icmp any any echo-reply");
        for same in [
            "access-list A permit icmp any any 0",
            "access-list A permit icmp any any echo-reply log inactive",
        ] {
            assert!(same_ace(&base, &ace(same)), "{same}");
        }
        for other in [
            "access-list A permit icmp any any",
            "access-list A permit icmp any any echo",
            "access-list A permit icmp any any echo-reply 0",
            "access-list A permit icmp6 any any 0",
        ] {
            assert!(!same_ace(&base, &ace(other)), "{other}");
        }
        assert!(same_ace(
            &ace("access-list A permit icmp6 any any echo"),
            &ace("access-list A permit icmp6 any any 128")
        ));
        assert!(!same_ace(
            &ace("access-list A permit icmp any any unreachable 3"),
            &ace("access-list A permit icmp any any unreachable 4")
        ));
    }
}
