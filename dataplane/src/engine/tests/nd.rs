//! IPv6 neighbour discovery (RFC 4861) across the bridge
//! (docs/asa-behaviour.md §2.5): neighbour solicitation and advertisement
//! pass untracked, as ARP does; router discovery and redirects, which
//! steer the hosts' routes, are judged by the access rules.

use super::*;

use etherparse::{Icmpv6Type, PacketBuilder};

/// An ICMPv6 message of type `t` from a link-local address to all nodes,
/// hop limit 255 as RFC 4861 requires.
fn nd(t: u8) -> Vec<u8> {
    let src: std::net::Ipv6Addr = "fe80::bad".parse().unwrap();
    let dst: std::net::Ipv6Addr = "ff02::1".parse().unwrap();
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0b], [0x33, 0x33, 0, 0, 0, 1])
        .ipv6(src.octets(), dst.octets(), 255)
        .icmpv6(Icmpv6Type::Unknown {
            type_u8: t,
            code_u8: 0,
            bytes5to8: [0; 4],
        })
        .write(&mut out, &[0; 16])
        .expect("writing to a Vec cannot fail");
    out
}

const OUTSIDE: IfaceId = IfaceId(1);

/// From the outside (the lower security level) with no access rule: a
/// rogue router advertisement or redirect must not reach the inside
/// hosts; solicitations and advertisements of neighbours pass.
#[test]
fn router_discovery_and_redirects_from_outside_are_judged_by_the_rules() {
    let mut h = Harness::new();
    for t in [135, 136] {
        assert_eq!(h.frame(nd(t), OUTSIDE), FWD_IN, "type {t}");
    }
    assert_eq!(h.engine.counters().untracked_passed, 2);
    for t in [133, 134, 137] {
        assert_eq!(
            h.frame(nd(t), OUTSIDE),
            Verdict::Drop(DropReason::AclDeny),
            "type {t}"
        );
    }
    assert_eq!(h.dropped(DropReason::AclDeny), 3);
    // From the inside (higher level) they pass, as any ICMP does.
    for t in [133, 134, 137] {
        assert_eq!(h.frame(nd(t), IfaceId(0)), FWD_OUT, "type {t}");
    }
    assert!(h.engine.table().is_empty(), "none is tracked");
}

/// A deny-all access-group denies router advertisements and redirects;
/// a rule that permits ICMPv6 lets them through.
#[test]
fn an_access_rule_decides_router_advertisements() {
    let deny = "access-list OUT extended deny ip any any\naccess-group OUT in interface outside\n";
    let mut h = with_policy(&crate::policy::parse::parse_config(deny).unwrap().config);
    assert_eq!(
        h.frame(nd(134), OUTSIDE),
        Verdict::Drop(DropReason::AclDeny)
    );
    assert_eq!(
        h.frame(nd(137), OUTSIDE),
        Verdict::Drop(DropReason::AclDeny)
    );
    assert_eq!(h.frame(nd(135), OUTSIDE), FWD_IN, "IPv6's ARP");
    let permit =
        "access-list OUT extended permit icmp6 any any\naccess-group OUT in interface outside\n";
    let mut h = with_policy(&crate::policy::parse::parse_config(permit).unwrap().config);
    for t in [133, 134, 137] {
        assert_eq!(h.frame(nd(t), OUTSIDE), FWD_IN, "type {t}");
    }
}

/// A neighbour solicitation from `fe80::bad` to `dst` with hop limit
/// `hops`, for `target`, with `options` after it.
fn solicitation(dst: &str, hops: u8, target: &str, options: &[u8]) -> Vec<u8> {
    let src: std::net::Ipv6Addr = "fe80::bad".parse().unwrap();
    let dst: std::net::Ipv6Addr = dst.parse().unwrap();
    let target: std::net::Ipv6Addr = target.parse().unwrap();
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0b], [0x33, 0x33, 0xff, 0, 0, 0x0b])
        .ipv6(src.octets(), dst.octets(), hops)
        .icmpv6_raw(135, 0, [0; 4])
        .write(&mut out, &[&target.octets()[..], options].concat())
        .expect("writing to a Vec cannot fail");
    out
}

/// Under a deny-all policy neighbour discovery still passes, untracked,
/// but only what a host would accept (RFC 4861 §7.1.1) and no bigger than
/// the options a solicitation carries: before, a solicitation from off
/// the link, or one carrying a kilobyte of anyone's data, crossed a
/// policy that denies everything.
#[test]
fn under_a_deny_all_policy_only_neighbour_discovery_a_host_accepts_passes() {
    let deny = "access-list OUT extended deny ip any any\naccess-group OUT in interface outside\n";
    let mut h = with_policy(&crate::policy::parse::parse_config(deny).unwrap().config);
    // Address resolution, with the source link-layer address option.
    let slla = [1, 1, 2, 0, 0, 0, 0, 0x0b];
    assert_eq!(
        h.frame(
            solicitation("ff02::1:ff00:b", 255, "fe80::b", &slla),
            OUTSIDE
        ),
        FWD_IN
    );
    assert_eq!(h.engine.counters().untracked_passed, 1);
    let kilobyte_of_options: Vec<u8> = (0..125)
        .flat_map(|_| [200, 1, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55])
        .collect();
    let cases = [
        (
            "routed: hop limit 64",
            solicitation("fe80::b", 64, "fe80::b", &slla),
        ),
        (
            "1,000 bytes of payload",
            solicitation("fe80::b", 255, "fe80::b", &[0x55; 1000]),
        ),
        (
            "1,000 bytes of options",
            solicitation("fe80::b", 255, "fe80::b", &kilobyte_of_options),
        ),
        (
            "a multicast target",
            solicitation("fe80::b", 255, "ff02::1", &slla),
        ),
    ];
    for (name, frame) in cases {
        assert_eq!(
            h.frame(frame, OUTSIDE),
            Verdict::Drop(DropReason::NdInvalid),
            "{name}"
        );
    }
    assert_eq!(h.dropped(DropReason::NdInvalid), 4);
    assert_eq!(h.engine.counters().untracked_passed, 1);
    assert!(h.engine.table().is_empty(), "none is tracked");
}
