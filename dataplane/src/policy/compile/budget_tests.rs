//! The bounds on what a policy may cost to compile and to match: the atom
//! budget and its arithmetic.

use super::*;
use crate::policy::parse::parse_config;

fn ifaces() -> Vec<InterfaceConfig> {
    InterfaceConfig::inside_outside()
}

/// A network group of exactly 2^16 IPv6 prefixes, from 259 range objects
/// (the full range but its ends is 254 prefixes, `::1`–`::6` four).
fn nets_2_16() -> String {
    let mut s = String::new();
    for i in 0..258 {
        s += &format!("object network O{i}\n range ::1 ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe\n");
    }
    s += "object network OX\n range ::1 ::6\nobject-group network NETS\n";
    for i in 0..258 {
        s += &format!(" network-object object O{i}\n");
    }
    s + " network-object object OX\n"
}

/// A tcp port group of exactly 2^16 port blocks.
fn ports_2_16() -> String {
    let mut s = String::from("object-group service PORTS tcp\n");
    let mut left: usize = 1 << 16;
    'ranges: for a in 1u16..2000 {
        for b in (60000u16..65535).rev().step_by(7) {
            let n = PortPrefix::cover(a, b).len();
            if (20..=left).contains(&n) {
                s += &format!(" port-object range {a} {b}\n");
                left -= n;
                if left < 30 {
                    break 'ranges;
                }
            }
        }
    }
    for p in 0..left {
        s += &format!(" port-object eq {}\n", 65535 - p);
    }
    s
}

/// Four factors of 2^16 each: their product is 2^64, which wrapped to 0
/// and passed the budget (then the compiler tried to push 2^64 atoms; a
/// debug build panicked on the multiplication).
#[test]
fn an_atom_count_past_usize_is_too_large_not_a_wrap() {
    let text = format!(
        "{}{}access-list A permit tcp object-group NETS object-group PORTS \
         object-group NETS object-group PORTS\naccess-group A in interface outside\n",
        nets_2_16(),
        ports_2_16()
    );
    assert!(text.len() < 1 << 20, "within the policy's text limit");
    let cfg = parse_config(&text).expect("parses").config;
    assert!(matches!(
        compile(&cfg, &ifaces()),
        Err(CompileError::TooLarge { .. })
    ));
}

/// 900 port-block pairs (30 blocks a side) times 50 × 50 hosts: 2.25 M
/// atoms, over the budget at the one line that asks for them.
const OVER_BUDGET_LINE: &str =
    "access-list A permit tcp object-group H range 1 65534 object-group H range 1 65534";

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
        hosts(50),
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
    assert_eq!(crate::policy::locate::locate(&text, &e), Some((54, 22)));
    assert_eq!(
        crate::policy::locate::describe(&text, &e),
        "line 54, column 22: access-list 'A' line 2: the policy expands to more than \
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
    for _ in 0..1000 {
        text += "access-list A permit ip object-group B interface outside\n";
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
    for _ in 0..100 {
        text += "access-list A permit ip object-group H object-group D0L\n";
        text += "access-list A permit object-group P any object-group H object-group PORTS\n";
    }
    let cfg = parse_config(&text).expect("parses").config;
    let mut c = super::expand::Compiler::new(&cfg);
    let acl = c.acl(&cfg.access_lists[0]).expect("within the budget");
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
