//! `names` (docs/asa-behaviour.md §2.1, "Names"): an access-list written
//! with names permits exactly what the same list written with the
//! addresses permits. Random names for random addresses, entries using
//! them in every position a name takes (`host NAME`, `NAME MASK`, source
//! and destination, and through a network object-group's `network-object
//! host NAME` and `network-object NAME MASK`), compiled both ways and
//! judged on packets to, from and beside the named addresses.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use rampart_dataplane::InterfaceConfig;
use rampart_dataplane::flow::Addr;
use rampart_dataplane::policy::classifier::Probe;
use rampart_dataplane::policy::compile::compile_at;
use rampart_dataplane::policy::parse_config;
use std::collections::BTreeSet;

/// Names the generated configurations give (the characters a name may
/// hold: letters, digits, `-`, `_`, `.`).
const NAMES: &[&str] = &["web", "lab-net", "db_1", "old.box", "Legacy-Server-2", "n9"];

/// A named address and a prefix length that leaves none of its host bits
/// set, so `NAME MASK` is valid for it.
#[derive(Debug, Clone)]
struct Named {
    name: &'static str,
    address: Ipv4Addr,
    len: u32,
}

fn mask(len: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
}

fn named() -> impl Strategy<Value = Vec<Named>> {
    proptest::collection::vec((any::<u32>(), 8u32..=32), 1..=NAMES.len()).prop_map(|v| {
        let mut seen = BTreeSet::new();
        v.into_iter()
            .zip(NAMES)
            .filter_map(|((a, len), name)| {
                let address = Ipv4Addr::from(a & u32::from(mask(len)));
                seen.insert(address).then_some(Named { name, address, len })
            })
            .collect()
    })
}

/// One address position: the text with names and the text without.
#[derive(Debug, Clone)]
enum Position {
    Any,
    Host(usize),
    Net(usize, u32),
    Group,
}

fn position() -> impl Strategy<Value = Position> {
    prop_oneof![
        Just(Position::Any),
        any::<usize>().prop_map(Position::Host),
        (any::<usize>(), 0u32..=32).prop_map(|(i, l)| Position::Net(i, l)),
        Just(Position::Group),
    ]
}

/// `Net(i, l)` as a mask of at least `l` bits: a named
/// address takes a mask that leaves its host bits clear.
fn write(p: &Position, names: &[Named], by_name: bool) -> String {
    let pick = |i: usize| &names[i % names.len()];
    let a = |n: &Named| {
        if by_name {
            n.name.to_string()
        } else {
            n.address.to_string()
        }
    };
    match p {
        Position::Any => "any".into(),
        Position::Host(i) => format!("host {}", a(pick(*i))),
        Position::Net(i, l) => {
            let n = pick(*i);
            format!("{} {}", a(n), mask((*l).max(n.len)))
        }
        Position::Group => "object-group G".into(),
    }
}

fn text(
    names: &[Named],
    members: &[Position],
    entries: &[(bool, &str, Position, Position)],
    by_name: bool,
) -> String {
    let mut t = String::new();
    if by_name {
        t.push_str("names\n");
        for n in names {
            t.push_str(&format!("name {} {} description d\n", n.address, n.name));
        }
    }
    t.push_str("object-group network G\n network-object host 198.19.255.1\n");
    for m in members {
        if matches!(m, Position::Host(_) | Position::Net(..)) {
            t.push_str(&format!(" network-object {}\n", write(m, names, by_name)));
        }
    }
    for (permit, proto, s, d) in entries {
        t.push_str(&format!(
            "access-list A extended {} {proto} {} {}\n",
            if *permit { "permit" } else { "deny" },
            write(s, names, by_name),
            write(d, names, by_name)
        ));
    }
    t
}

/// Probe addresses: the named ones, their neighbours, and random ones.
fn probe_address(names: &[Named], pick: u64) -> Addr {
    let n = &names[(pick >> 8) as usize % names.len()];
    let a = u32::from(n.address);
    let ip = match pick % 4 {
        0 | 1 => a,
        2 => a.wrapping_add(1 + (pick >> 16) as u32 % 300),
        _ => (pick >> 32) as u32,
    };
    Addr::v4(Ipv4Addr::from(ip).octets())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn an_access_list_with_names_permits_what_it_does_with_addresses(
        names in named(),
        members in proptest::collection::vec(position(), 0..4),
        entries in proptest::collection::vec(
            (any::<bool>(), prop::sample::select(vec!["ip", "tcp", "udp", "icmp"]), position(), position()),
            1..8,
        ),
        probes in proptest::collection::vec((any::<u64>(), any::<u64>(), 0usize..4, any::<u16>()), 64),
    ) {
        let named_text = text(&names, &members, &entries, true);
        let literal_text = text(&names, &members, &entries, false);
        let named_cfg = parse_config(&named_text)
            .unwrap_or_else(|e| panic!("{named_text}\n{e}"))
            .config;
        let literal_cfg = parse_config(&literal_text)
            .unwrap_or_else(|e| panic!("{literal_text}\n{e}"))
            .config;
        // The same entries and members, address for address.
        prop_assert_eq!(&named_cfg.access_lists, &literal_cfg.access_lists);
        prop_assert_eq!(&named_cfg.object_groups, &literal_cfg.object_groups);
        let ifaces = InterfaceConfig::inside_outside();
        let none = BTreeSet::new();
        let named_policy = compile_at(&named_cfg, &ifaces, &none).expect("compiles");
        let literal_policy = compile_at(&literal_cfg, &ifaces, &none).expect("compiles");
        let with_names = named_policy.acls().iter().find(|a| a.name == "A").expect("compiled");
        let with_addresses = literal_policy.acls().iter().find(|a| a.name == "A").expect("compiled");
        for (s, d, proto, port) in probes {
            let proto = [6u8, 17, 1, 58][proto];
            let pr = Probe {
                v6: false,
                proto,
                src: probe_address(&names, s),
                dst: probe_address(&names, d),
                sport: port,
                dport: port.rotate_left(3),
            };
            // The same entry decides, the same way.
            prop_assert_eq!(
                with_names.decide_rule(&pr),
                with_addresses.decide_rule(&pr),
                "{:?} ({} -> {})\n{}",
                pr,
                pr.src.ip(),
                pr.dst.ip(),
                named_text
            );
        }
    }
}
