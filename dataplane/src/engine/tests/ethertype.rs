//! EtherType access-groups and `log disable` (docs/asa-behaviour.md §2.7,
//! §4): an explicit `deny any` in an interface's EtherType access-list
//! drops IPv4, IPv6 and ARP entering it (`l2_acl`), the implicit deny at
//! the list's end does not; an entry with `log disable` denies without a
//! deny event.

use super::*;

use etherparse::PacketBuilder;

/// The inside/outside pair with `tail` after the interface blocks, and
/// sequence randomization off (the model's endpoints do not follow it).
fn policy(tail: &str) -> crate::policy::ast::Config {
    let text = format!(
        "interface G0\n nameif inside\n security-level 100\ninterface G1\n nameif outside\n security-level 0\n{tail}"
    );
    let mut cfg = crate::policy::parse::parse_config(&text)
        .unwrap_or_else(|e| panic!("{text}\n{e}"))
        .config;
    crate::policy::compile::disable_randomization(&mut cfg);
    cfg
}

/// A UDP datagram over IPv6 from `src` to `dst`.
fn udp6(src: &str, dst: &str) -> Vec<u8> {
    let ip = |a: &str| a.parse::<std::net::Ipv6Addr>().unwrap().octets();
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(ip(src), ip(dst), 64)
        .udp(50_000, 53)
        .write(&mut out, b"q")
        .expect("writing to a Vec cannot fail");
    out
}

const INSIDE: IfaceId = IfaceId(0);
const OUTSIDE: IfaceId = IfaceId(1);

#[test]
fn an_explicit_deny_any_drops_ipv4_ipv6_and_arp_entering_its_interface() {
    let deny_all = "access-list L2 remark spanning tree only\n\
                    access-list L2 ethertype permit bpdu\n\
                    access-list L2 ethertype deny any\n\
                    access-group L2 in interface inside\n";
    let mut h = with_policy(&policy(deny_all));
    let l2 = Verdict::Drop(DropReason::EthertypeDeny);
    let mut m = model(47_000);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), l2, "IPv4");
    assert_eq!(
        h.frame(udp6("2001:db8::10", "2001:db8:1::10"), INSIDE),
        l2,
        "IPv6"
    );
    assert_eq!(h.frame(arp_request(), INSIDE), l2, "ARP");
    assert_eq!(h.dropped(DropReason::EthertypeDeny), 3);
    assert!(h.engine.table().is_empty());
    // The access-group binds the inside only: the outside's frames pass.
    assert_eq!(h.frame(arp_request(), OUTSIDE), FWD_IN);

    // Without the deny, a connection opens; put back, it is cut off
    // where the frames enter (the replies still come in from outside).
    h.install(policy(
        "access-list L2 ethertype permit bpdu\naccess-group L2 in interface inside\n",
    ));
    for seg in m.handshake() {
        assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
    }
    h.install(policy(deny_all));
    let d = m.data(Side::Server, 100);
    assert_eq!(h.tcp(&m, &d), FWD_IN);
    let d = m.data(Side::Client, 100);
    assert_eq!(h.tcp(&m, &d), l2, "an established connection's packet");
    assert_eq!(h.dropped(DropReason::EthertypeDeny), 4);
}

/// The implicit deny at the end of an EtherType list does not touch IP
/// or ARP, nor does a `deny any` that a `permit any` comes before.
#[test]
fn the_implicit_deny_leaves_ip_and_arp_to_the_other_rules() {
    for (i, list) in [
        "access-list L2 ethertype permit bpdu\n",
        "access-list L2 ethertype deny bpdu\naccess-list L2 ethertype deny 8037\n",
        "access-list L2 ethertype permit any\naccess-list L2 ethertype deny any\n",
        "access-list L2 ethertype deny any\nno access-list L2 ethertype deny any\naccess-list L2 ethertype deny ipx\n",
    ]
    .into_iter()
    .enumerate()
    {
        let mut h = with_policy(&policy(&format!(
            "{list}access-group L2 in interface inside\n"
        )));
        let mut m = model(47_100 + i as u16);
        let syn = m.syn();
        assert_eq!(h.tcp(&m, &syn), FWD_OUT, "{list}");
        assert_eq!(h.frame(arp_request(), INSIDE), FWD_OUT, "{list}");
        assert_eq!(
            h.frame(udp6("2001:db8::10", "2001:db8:1::10"), INSIDE),
            FWD_OUT,
            "{list}"
        );
        assert_eq!(h.dropped(DropReason::EthertypeDeny), 0);
    }
}

/// An extended entry with `log disable` denies its packets without a
/// deny event (no 106023); a plain deny, a `log` deny and the implicit
/// deny at the end are logged.
#[test]
fn a_deny_with_log_disable_is_not_logged() {
    use connlog::ConnEvent;
    let acl = "access-list OUT extended deny udp any any eq 53 log disable\n\
               access-list OUT extended deny udp any any eq 123 log\n\
               access-list OUT extended deny udp any any eq 161\n\
               access-list OUT extended permit udp any any eq 514\n\
               access-group OUT in interface outside\n";
    let mut h = with_policy(&policy(acl));
    h.engine.set_conn_log(16);
    let deny = Verdict::Drop(DropReason::AclDeny);
    let mut logged = Vec::new();
    for port in [53, 123, 161, 69] {
        // From outside to the inside host's port `port`.
        let (c, s) = v4_pair(port, 5_000);
        assert_eq!(h.frame(udp_frame(&s, &c, b"x"), s.iface), deny, "{port}");
        let evs = events(&mut h);
        logged.push(
            evs.iter()
                .filter(|e| matches!(e, ConnEvent::Denied { reason, .. } if *reason == DropReason::AclDeny))
                .count(),
        );
    }
    assert_eq!(logged, vec![0, 1, 1, 1], "ports 53, 123, 161, 69");
    assert_eq!(h.dropped(DropReason::AclDeny), 4);
}
