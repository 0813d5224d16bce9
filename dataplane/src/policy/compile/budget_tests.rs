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
         2000000 match entries (object-group cross products)"
    );
}
