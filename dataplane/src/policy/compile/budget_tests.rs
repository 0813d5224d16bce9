//! The bounds on what a policy may cost to compile and to match: the atom
//! budget and its arithmetic.

use super::*;
use crate::policy::parse::parse_config;

fn ifaces() -> Vec<InterfaceConfig> {
    InterfaceConfig::inside_outside()
}

/// Four factors of 2^16 each: their product is 2^64, which wrapped to 0
/// and passed the budget (then the compiler tried to push 2^64 atoms; a
/// debug build panicked on the multiplication). With a range as one span
/// a text within the policy's size limit no longer reaches 2^16 members
/// per group, but a configuration built in code has no such limit.
#[test]
fn an_atom_count_past_usize_is_too_large_not_a_wrap() {
    use crate::policy::ast::*;
    let mut cfg = Config::default();
    cfg.object_groups.push(ObjectGroup::Network {
        name: "NETS".into(),
        members: (0..1u32 << 16)
            .map(|i| {
                NetworkMember::Address(NetworkValue::Host(
                    std::net::Ipv4Addr::from(0x0a00_0000 | i).into(),
                ))
            })
            .collect(),
    });
    cfg.object_groups.push(ObjectGroup::Service {
        name: "PORTS".into(),
        protocol: Some(PortProtocol::Tcp),
        members: (0..=u16::MAX)
            .map(|p| ServiceMember::Port(PortMatch::Eq(p)))
            .collect(),
    });
    cfg.access_lists.push(AccessList {
        name: "A".into(),
        lines: vec![AclLine::Ace(Ace {
            action: Action::Permit,
            protocol: ProtoSpec::Protocol(Protocol::Number(6)),
            source: AddrSpec::Group("NETS".into()),
            source_port: Some(PortSpec::Group("PORTS".into())),
            destination: AddrSpec::Group("NETS".into()),
            destination_port: Some(PortSpec::Group("PORTS".into())),
            icmp: None,
            log: AceLog::Default,
            time_range: None,
            inactive: false,
        })],
    });
    assert!(matches!(
        compile(&cfg, &ifaces()),
        Err(CompileError::TooLarge { .. })
    ));
}

/// 900 port pairs (30 ports a side) times 50 × 50 hosts: 2.25 M atoms,
/// over the budget at the one line that asks for them.
const OVER_BUDGET_LINE: &str =
    "access-list A permit tcp object-group H object-group P object-group H object-group P";

/// Host group `H` of `n` hosts and port group `P` of 30 ports.
fn groups(n: usize) -> String {
    let mut s = hosts(n) + "object-group service P tcp\n";
    for p in 0..30 {
        s += &format!(" port-object eq {}\n", 1000 + p);
    }
    s
}

fn hosts(n: usize) -> String {
    let mut s = String::from("object-group network H\n");
    for i in 0..n {
        s += &format!(" network-object host 198.18.0.{i}\n");
    }
    s
}

/// A policy over its budget names the entry that took it over, and
/// `locate` finds where that entry was written, through `line N`.
#[test]
fn too_large_names_the_entry_that_passed_the_bound() {
    let text = format!(
        "{}access-list A permit ip any host 198.18.1.1\n\
         access-list A remark big\n\
         access-list A line 2 {}\n\
         access-group A in interface outside\n",
        groups(50),
        OVER_BUDGET_LINE.trim_start_matches("access-list A ")
    );
    let cfg = parse_config(&text).expect("parses").config;
    let e = compile(&cfg, &ifaces()).expect_err("over the budget");
    assert_eq!(
        e,
        CompileError::TooLarge {
            place: Place::AclEntry {
                acl: "A".into(),
                entry: 2
            }
        }
    );
    assert_eq!(crate::policy::locate::locate(&text, &e), Some((85, 22)));
    assert_eq!(
        crate::policy::locate::describe(&text, &e),
        "line 85, column 22: access-list 'A' line 2: the policy expands to more than \
         2000000 match entries and group members (object-group cross products)"
    );
}

/// An entry whose other side is empty (`interface X` never matches
/// transit traffic) has no atoms, but taking a 2,000-object group for it
/// is still work: the budget counts it, so a text within the size limit
/// cannot make the compiler spend minutes on entries that match nothing.
/// The group costs 2,000 once, each entry 2,002 (its 2,000 prefixes and
/// its two port blocks): entry 999 passes 2,000,000.
#[test]
fn expanding_a_group_for_an_entry_without_atoms_is_charged() {
    let mut text = String::new();
    for i in 0..2000 {
        text += &format!("object network O{i}\n host 10.0.{}.{}\n", i >> 8, i & 255);
    }
    text += "object-group network B\n";
    for i in 0..2000 {
        text += &format!(" network-object object O{i}\n");
    }
    // A thousand entries, not one entry a thousand times (entering an ACE
    // again changes the entry already there, docs/asa-behaviour.md §2.1):
    // each names another destination port.
    for port in 1..=1000 {
        text += &format!("access-list A permit tcp object-group B interface outside eq {port}\n");
    }
    text += "access-list A permit ip any any\n";
    let cfg = parse_config(&text).expect("parses").config;
    assert_eq!(
        compile(&cfg, &ifaces()).expect_err("over the budget"),
        CompileError::TooLarge {
            place: Place::AclEntry {
                acl: "A".into(),
                entry: 999
            }
        }
    );
}

/// Each group is expanded once per compile however many entries name it
/// and however it is nested: a chain of 40 diamonds (each level's two
/// groups both hold the next level) would be 2^40 expansions unshared.
#[test]
fn each_group_is_expanded_once() {
    let mut text = hosts(200);
    text += "object-group protocol P\n";
    for i in 0..300 {
        text += &format!(" group-object P{i}\n");
    }
    for i in 0..300 {
        text += &format!("object-group protocol P{i}\n protocol-object tcp\n");
    }
    text += "object-group service PORTS tcp\n port-object eq 80\n port-object range 1000 2000\n";
    for level in 0..40 {
        for side in ["L", "R"] {
            text += &format!(
                "object-group network D{level}{side}\n network-object host 198.19.0.{level}\n"
            );
            if level < 39 {
                text += &format!(
                    " group-object D{next}L\n group-object D{next}R\n",
                    next = level + 1
                );
            }
        }
    }
    // A hundred entries of each kind, each another entry (entering an ACE
    // again changes the entry already there, docs/asa-behaviour.md §2.1):
    // other protocols, other sources.
    for i in 0..100 {
        let (proto, src) = match i {
            0 => ("ip".to_string(), "any".to_string()),
            _ => ((100 + i).to_string(), format!("host 198.20.0.{i}")),
        };
        text += &format!("access-list A permit {proto} object-group H object-group D0L\n");
        text += &format!(
            "access-list A permit object-group P {src} object-group H object-group PORTS\n"
        );
    }
    let cfg = parse_config(&text).expect("parses").config;
    let mut c = super::expand::Compiler::new(&cfg);
    let (acl, _) = c
        .acl(&cfg.access_lists[0], &Default::default())
        .expect("within the budget");
    // H, P and its 300 members, PORTS, and the diamond groups D0L reaches
    // (all but D0R).
    assert_eq!(c.groups_expanded, 1 + 301 + 1 + 79);
    let probe = |dst: [u8; 4], dport| Probe {
        v6: false,
        proto: 6,
        src: crate::flow::Addr::v4([198, 18, 0, 7]),
        dst: crate::flow::Addr::v4(dst),
        sport: 40_000,
        dport,
    };
    assert_eq!(acl.decide(&probe([198, 19, 0, 39], 9)), Some(true));
    assert_eq!(acl.decide(&probe([198, 18, 0, 9], 1500)), Some(true));
    assert_eq!(acl.decide(&probe([198, 18, 0, 9], 999)), None);
}

fn mask(len: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
}

/// `n` entries, each of its own pair of prefix lengths: one subtable each.
fn shapes(n: usize) -> String {
    let mut s = String::from("access-list A remark shapes\n");
    for (l1, l2) in (8..=32)
        .flat_map(|a| (12..=32).map(move |b| (a, b)))
        .take(n)
    {
        s += &format!(
            "access-list A permit tcp 10.0.0.0 {} 172.16.0.0 {} eq 80\n",
            mask(l1),
            mask(l2)
        );
    }
    s
}

/// Every lookup that misses probes every subtable: an access-list with
/// more than `MAX_SUBTABLES` shapes is refused at the entry that added
/// the one too many, and one at the bound is taken.
#[test]
fn an_access_list_over_the_subtable_bound_is_refused_at_its_entry() {
    let text = shapes(MAX_SUBTABLES);
    let p = compile(&parse_config(&text).expect("parses").config, &ifaces()).expect("at the bound");
    assert_eq!(p.acls()[0].subtables(), MAX_SUBTABLES);

    let text = shapes(MAX_SUBTABLES + 1);
    let e = compile(&parse_config(&text).expect("parses").config, &ifaces())
        .expect_err("over the bound");
    // The remark is line 1: the entry that adds shape 513 is line 514.
    assert_eq!(
        e,
        CompileError::TooManySubtables {
            acl: "A".into(),
            entry: MAX_SUBTABLES + 2
        }
    );
    assert_eq!(
        crate::policy::locate::locate(&text, &e),
        Some((MAX_SUBTABLES + 2, 15))
    );
}

/// Whether a policy compiles does not depend on the time of day: entries
/// left out for an inactive time-range count towards the bounds as if
/// active, or the re-install at the range's start would be refused
/// (docs/asa-behaviour.md §2.10).
#[test]
fn the_bounds_count_entries_whose_time_range_is_inactive() {
    let text = format!(
        "time-range T\n{}",
        shapes(MAX_SUBTABLES + 1).replace(" eq 80\n", " eq 80 time-range T\n")
    );
    let cfg = parse_config(&text).expect("parses").config;
    for active in [BTreeSet::new(), BTreeSet::from(["T".to_string()])] {
        let e = compile_at(&cfg, &ifaces(), &active).expect_err("over the bound");
        assert_eq!(
            e,
            CompileError::TooManySubtables {
                acl: "A".into(),
                entry: MAX_SUBTABLES + 2
            },
            "{active:?}"
        );
    }
    // At the bound both compile; inactive, the classifier holds none of them.
    let text = format!(
        "time-range T\n{}",
        shapes(MAX_SUBTABLES).replace(" eq 80\n", " eq 80 time-range T\n")
    );
    let cfg = parse_config(&text).expect("parses").config;
    let off = compile_at(&cfg, &ifaces(), &BTreeSet::new()).expect("at the bound");
    assert_eq!(off.acls()[0].subtables(), 0);
    assert!(
        off.listings()[0]
            .entries()
            .all(|l| l.entry.unwrap().inactive)
    );
    let on = compile_at(&cfg, &ifaces(), &BTreeSet::from(["T".to_string()])).unwrap();
    assert_eq!(on.acls()[0].subtables(), MAX_SUBTABLES);
}

/// `n` entries whose port ranges share one masked key (any port to one
/// host): one list of `n` range checks, `n + 1` with reaching it.
fn ranges_on_one_key(n: usize) -> String {
    let mut s = String::from("access-list A remark ranges\n");
    for i in 0..n {
        s += &format!(
            "access-list A permit tcp any host 198.18.0.1 range {} {}\n",
            1 + i,
            65534 - i
        );
    }
    s
}

/// A lookup that misses makes every range check of the longest list in
/// each subtable: an access-list past `MAX_RANGE_CHECKS` is refused at the
/// entry that passed it, and one at the bound is taken and matches.
#[test]
fn an_access_list_over_the_range_check_bound_is_refused_at_its_entry() {
    let text = ranges_on_one_key(MAX_RANGE_CHECKS - 1);
    let p = compile(&parse_config(&text).expect("parses").config, &ifaces()).expect("at the bound");
    let acl = &p.acls()[0];
    assert_eq!((acl.subtables(), acl.range_checks()), (1, MAX_RANGE_CHECKS));
    let probe = |dport| Probe {
        v6: false,
        proto: 6,
        src: crate::flow::Addr::v4([198, 18, 9, 9]),
        dst: crate::flow::Addr::v4([198, 18, 0, 1]),
        sport: 40_000,
        dport,
    };
    assert_eq!(acl.decide(&probe(1)), Some(true));
    assert_eq!(acl.decide(&probe(0)), None);
    assert_eq!(acl.decide(&probe(65535)), None);

    let text = ranges_on_one_key(MAX_RANGE_CHECKS);
    let e = compile(&parse_config(&text).expect("parses").config, &ifaces())
        .expect_err("over the bound");
    // The remark is line 1: the entry whose range passes the bound is the
    // last, line 1,025.
    assert_eq!(
        e,
        CompileError::TooManyRangeChecks {
            acl: "A".into(),
            entry: MAX_RANGE_CHECKS + 1
        }
    );
    assert_eq!(
        crate::policy::locate::locate(&text, &e),
        Some((MAX_RANGE_CHECKS + 1, 15))
    );
}

/// The range-check bound holds for every set of active time-ranges, not
/// only with all of them active: an entry without ranges ahead of ranged
/// ones on its key ends their list while its range is active, and leaves
/// them one long list while it is not. Such a list is refused whatever the
/// clock says (before, it compiled with the range inactive, and a missed
/// lookup made 1,025 range checks past the bound; the reviewer's 20,000
/// entries took 2.7 ms a lookup in a debug build). Timed ranged entries
/// count as in the list, and a list within the bound in the worst case
/// compiles at any time.
#[test]
fn the_range_check_bound_holds_whichever_time_ranges_are_active() {
    let timed_head = |n: usize| {
        format!(
            "time-range T\n periodic weekdays 8:00 to 18:00\n\
             access-list A permit tcp any host 198.18.0.1 time-range T\n{}",
            ranges_on_one_key(n).replace("access-list A remark ranges\n", "")
        )
    };
    let on = BTreeSet::from(["T".to_string()]);
    let off = BTreeSet::new();
    let text = timed_head(MAX_RANGE_CHECKS);
    let cfg = parse_config(&text).expect("parses").config;
    for active in [&on, &off] {
        let e = compile_at(&cfg, &ifaces(), active).expect_err("over the bound at some time");
        assert_eq!(
            e,
            CompileError::TooManyRangeChecks {
                acl: "A".into(),
                entry: MAX_RANGE_CHECKS + 1
            },
            "active {active:?}"
        );
    }
    let text = timed_head(MAX_RANGE_CHECKS - 1);
    let cfg = parse_config(&text).expect("parses").config;
    for active in [&on, &off] {
        let p = compile_at(&cfg, &ifaces(), active).expect("within the bound at any time");
        assert!(
            p.acls()[0].range_checks() <= MAX_RANGE_CHECKS,
            "active {active:?}"
        );
    }
    // A timed ranged entry counts even while its range is inactive.
    let mut text = String::from("time-range T\n periodic weekdays 8:00 to 18:00\n");
    for i in 0..MAX_RANGE_CHECKS {
        let timed = if i == 0 { " time-range T" } else { "" };
        text += &format!(
            "access-list A permit tcp any host 198.18.0.1 range {} {}{timed}\n",
            1 + i,
            65534 - i
        );
    }
    let cfg = parse_config(&text).expect("parses").config;
    for active in [&on, &off] {
        assert!(
            compile_at(&cfg, &ifaces(), active).is_err(),
            "active {active:?}"
        );
    }
}
