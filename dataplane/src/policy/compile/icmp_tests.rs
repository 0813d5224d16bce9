//! ICMP types and codes in access-lists (docs/asa-behaviour.md §2.1): an
//! entry that names a type matches that type of its own family only, one
//! with a code that code only, and one without a type every message.

use super::*;
use crate::flow::Addr;
use crate::policy::parse::parse_config;

fn policy(text: &str) -> Policy {
    let cfg = parse_config(text).expect("parses").config;
    compile(&cfg, &InterfaceConfig::inside_outside()).expect("compiles")
}

/// An ICMP (or, `v6`, ICMPv6) message of type `t` and code `c` from the
/// outside to the inside.
fn icmp(v6: bool, t: u8, c: u8) -> Probe {
    let (src, dst) = if v6 {
        (
            Addr::v6(
                "2001:db8:1::10"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets(),
            ),
            Addr::v6(
                "2001:db8::10"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets(),
            ),
        )
    } else {
        (Addr::v4([198, 18, 1, 10]), Addr::v4([198, 18, 0, 10]))
    };
    Probe {
        v6,
        proto: if v6 { proto::ICMPV6 } else { proto::ICMP },
        src,
        dst,
        sport: u16::from(t),
        dport: u16::from(c),
    }
}

const OUTSIDE: IfaceId = IfaceId(1);
const INSIDE: IfaceId = IfaceId(0);

#[test]
fn a_typed_entry_matches_its_type_of_its_family_only() {
    let p = policy(
        "access-list OUT extended permit icmp any any echo-reply\n\
         access-list OUT extended permit icmp any any unreachable 4\n\
         access-list OUT extended permit icmp6 any any packet-too-big\n\
         access-list OUT extended permit icmp6 any any 129\n\
         access-group OUT in interface outside\n",
    );
    let ok = |pr: Probe| p.permits(OUTSIDE, INSIDE, &pr);
    assert!(ok(icmp(false, 0, 0)), "echo-reply");
    assert!(ok(icmp(false, 0, 7)), "echo-reply names no code: any");
    assert!(!ok(icmp(false, 8, 0)), "echo request");
    assert!(ok(icmp(false, 3, 4)), "fragmentation needed");
    assert!(!ok(icmp(false, 3, 3)), "port unreachable: another code");
    assert!(!ok(icmp(false, 11, 0)));
    assert!(ok(icmp(true, 2, 0)));
    assert!(ok(icmp(true, 129, 0)));
    assert!(!ok(icmp(true, 128, 0)));
    // ICMPv6 type 0 is not ICMP's echo reply, nor ICMPv6's 2 ICMP's.
    assert!(!ok(icmp(true, 0, 0)));
    assert!(!ok(icmp(false, 2, 0)));
    // ICMP (protocol 1) inside IPv6 has no type the rules read: a typed
    // `icmp` entry is for IPv4 alone, whatever its "ports".
    let mut foreign = icmp(true, 0, 0);
    foreign.proto = proto::ICMP;
    assert!(!ok(foreign));
}

/// First match with types: a typed deny before an untyped permit takes
/// only its type away; an entry without a type still matches them all.
#[test]
fn typed_and_untyped_entries_in_order() {
    let p = policy(
        "access-list OUT extended deny icmp any any redirect\n\
         access-list OUT extended deny icmp any host 198.18.0.10 echo\n\
         access-list OUT extended permit icmp any any\n\
         access-group OUT in interface outside\n",
    );
    let ok = |pr: Probe| p.permits(OUTSIDE, INSIDE, &pr);
    assert!(!ok(icmp(false, 5, 1)));
    assert!(!ok(icmp(false, 8, 0)));
    let mut elsewhere = icmp(false, 8, 0);
    elsewhere.dst = Addr::v4([198, 18, 0, 11]);
    assert!(ok(elsewhere));
    for t in [0, 3, 11, 13, 255] {
        assert!(ok(icmp(false, t, 9)), "{t}");
    }
    assert!(
        !ok(icmp(true, 137, 0)),
        "icmp is not icmp6: the implicit deny"
    );
}

/// Class-maps match ICMP types through their access-list as the
/// access-groups do: `inspect icmp` of a class naming `echo` covers
/// echo requests, not other messages.
#[test]
fn a_class_matches_icmp_types_through_its_access_list() {
    let p = policy(
        "access-list PINGS extended permit icmp any any echo\n\
         class-map PINGS\n match access-list PINGS\n\
         policy-map global_policy\n class PINGS\n  inspect icmp\n\
         service-policy global_policy global\n",
    );
    let inspected = |pr: Probe| p.icmp_inspection(INSIDE, OUTSIDE, &pr).echo;
    assert!(inspected(icmp(false, 8, 0)));
    assert!(!inspected(icmp(false, 13, 0)));
    assert!(!inspected(icmp(true, 128, 0)), "echo of icmp, not icmp6");
}

/// The realistic ICMP section of `tests/configs/icmp-types.cfg` loads
/// and says what it reads as.
#[test]
fn a_realistic_icmp_section_loads() {
    let p = policy(include_str!("../../../tests/configs/icmp-types.cfg"));
    let ok = |pr: Probe| p.permits(OUTSIDE, INSIDE, &pr);
    let from_monitor = |t: u8, to: [u8; 4]| Probe {
        src: Addr::v4([192, 0, 2, 9]),
        dst: Addr::v4(to),
        ..icmp(false, t, 0)
    };
    assert!(ok(icmp(false, 0, 0)) && ok(icmp(false, 11, 1)) && ok(icmp(false, 3, 13)));
    assert!(ok(from_monitor(8, [198, 18, 0, 5])));
    assert!(
        !ok(from_monitor(8, [198, 18, 0, 6])),
        "echo to the web server only"
    );
    assert!(!ok(icmp(false, 8, 0)), "echo from anywhere else");
    assert!(ok(icmp(false, 14, 0)) && !ok(icmp(false, 14, 1)));
    assert!(!ok(icmp(false, 5, 0)) && !ok(icmp(false, 13, 0)));
    assert!(ok(icmp(true, 2, 0)) && ok(icmp(true, 129, 0)) && ok(icmp(true, 4, 1)));
    assert!(!ok(icmp(true, 4, 0)) && !ok(icmp(true, 128, 0)) && !ok(icmp(true, 134, 0)));
}

/// An `icmp-type` group after `icmp` is its types (nested groups too),
/// every code, IPv4 only; `service icmp|icmp6 TYPE [CODE]` in a service
/// object or a service group's `service-object` is that type (and code)
/// of its own family, in the protocol position.
#[test]
fn icmp_type_groups_and_typed_services() {
    let p = policy(
        "object-group icmp-type ERRORS\n icmp-object unreachable\n icmp-object time-exceeded\n\
         object-group icmp-type OK\n icmp-object echo-reply\n group-object ERRORS\n\
         object service FRAG-NEEDED\n service icmp unreachable 4\n\
         object-group service V6\n service-object icmp6 echo-reply\n \
         service-object icmp6 parameter-problem 1\n service-object object FRAG-NEEDED\n\
         access-list OUT extended permit icmp any host 198.18.0.10 object-group OK\n\
         access-list OUT extended permit object FRAG-NEEDED any any\n\
         access-list OUT extended permit object-group V6 any any\n\
         access-group OUT in interface outside\n",
    );
    let ok = |pr: Probe| p.permits(OUTSIDE, INSIDE, &pr);
    for (t, c) in [(0, 0), (3, 1), (3, 13), (11, 0), (11, 1)] {
        assert!(ok(icmp(false, t, c)), "{t} {c}");
    }
    let mut elsewhere = icmp(false, 3, 1);
    elsewhere.dst = Addr::v4([198, 18, 0, 11]);
    assert!(!ok(elsewhere), "the group's entry is to its host only");
    elsewhere.dport = 4;
    assert!(
        ok(elsewhere),
        "frag-needed, by the service object, to anyone"
    );
    assert!(!ok(icmp(false, 8, 0)) && !ok(icmp(false, 5, 0)));
    assert!(ok(icmp(true, 129, 3)) && ok(icmp(true, 4, 1)));
    assert!(!ok(icmp(true, 4, 0)), "parameter-problem 1 only");
    assert!(
        !ok(icmp(true, 0, 0)) && !ok(icmp(true, 3, 0)),
        "icmp's types are not icmp6's"
    );
    assert!(!ok(icmp(true, 128, 0)));
}

/// An `icmp-type` group's types are atoms, counted toward
/// [`MAX_POLICY_ATOMS`]: a group of 256 types crossed with enough
/// addresses is over the budget.
#[test]
fn icmp_type_group_atoms_count() {
    let mut text = String::from("object-group icmp-type ALL\n");
    for t in 0..=255 {
        text.push_str(&format!(" icmp-object {t}\n"));
    }
    text.push_str("object-group network MANY\n");
    let hosts = MAX_POLICY_ATOMS / 256 + 1;
    // Every other address: hosts apart, which no span merges.
    for h in (0..hosts).map(|h| h * 2) {
        text.push_str(&format!(
            " network-object host 10.{}.{}.{}\n",
            h >> 16 & 0xff,
            h >> 8 & 0xff,
            h & 0xff
        ));
    }
    text.push_str("access-list OUT extended permit icmp object-group MANY any object-group ALL\n");
    let cfg = parse_config(&text).expect("parses").config;
    assert!(matches!(
        compile(&cfg, &InterfaceConfig::inside_outside()),
        Err(CompileError::TooLarge { .. })
    ));
    // The same group with one source compiles: 256 atoms.
    let small = text.replace("icmp object-group MANY any", "icmp host 198.18.1.1 any");
    let cfg = parse_config(&small).expect("parses").config;
    assert!(compile(&cfg, &InterfaceConfig::inside_outside()).is_ok());
}

/// The sample of an ICMP section as production ASA configurations have
/// it (icmp-type group, types, a code, icmp6) loads, and reads as it says.
#[test]
fn the_production_sample_loads() {
    let p = policy(
        "object-group icmp-type ICMP-OK\n\
          icmp-object echo-reply\n\
          icmp-object time-exceeded\n\
          icmp-object unreachable\n\
         access-list outside_in extended permit icmp any any echo-reply\n\
         access-list outside_in extended permit icmp any any object-group ICMP-OK\n\
         access-list outside_in extended permit icmp any host 198.18.0.5 unreachable 4\n\
         access-list outside_in extended permit icmp6 any any packet-too-big\n\
         access-list outside_in extended deny icmp any any\n\
         access-group outside_in in interface outside\n",
    );
    let ok = |pr: Probe| p.permits(OUTSIDE, INSIDE, &pr);
    assert!(ok(icmp(false, 0, 0)) && ok(icmp(false, 11, 0)) && ok(icmp(false, 3, 3)));
    assert!(!ok(icmp(false, 8, 0)) && !ok(icmp(false, 13, 0)));
    assert!(ok(icmp(true, 2, 0)) && !ok(icmp(true, 129, 0)));
}
