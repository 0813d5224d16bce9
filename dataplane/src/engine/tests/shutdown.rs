//! `shutdown` in an interface block (docs/asa-behaviour.md §2.1): the
//! interface passes nothing, in or out, until `no shutdown`.

use super::*;

fn policy(outside: &str) -> crate::policy::ast::Config {
    let text = format!(
        "interface G0\n nameif inside\n security-level 100\ninterface G1\n nameif outside\n security-level 0\n{outside}"
    );
    let mut cfg = crate::policy::parse::parse_config(&text).unwrap().config;
    crate::policy::compile::disable_randomization(&mut cfg);
    cfg
}

#[test]
fn a_shut_interface_passes_nothing_until_no_shutdown() {
    let mut h = with_policy(&policy(" shutdown\n"));
    let mut m = model(46_000);
    let syn = m.syn();
    let down = Verdict::Drop(DropReason::InterfaceDown);
    assert_eq!(h.tcp(&m, &syn), down, "leaving by the shut interface");
    let (c, s) = v4_pair(5355, 53);
    assert_eq!(
        h.frame(udp_frame(&s, &c, b"q"), s.iface),
        down,
        "arriving on it"
    );
    let arp = arp_request();
    assert_eq!(h.frame(arp.clone(), IfaceId(0)), down, "ARP too");
    assert_eq!(h.dropped(DropReason::InterfaceDown), 3);
    assert!(h.engine.table().is_empty());

    // `no shutdown`: traffic passes again, and a connection opened then is
    // cut off (its packets dropped) when the interface is shut again.
    h.install(policy(" no shutdown\n"));
    assert_eq!(h.frame(arp, IfaceId(0)), FWD_OUT);
    let [syn, sa, ack] = m.handshake();
    for seg in [syn, sa, ack] {
        assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
    }
    h.install(policy(" shutdown\n"));
    let d = m.data(Side::Client, 100);
    assert_eq!(h.tcp(&m, &d), down);
    let d = m.data(Side::Server, 100);
    assert_eq!(h.tcp(&m, &d), down);
}

/// Shutting an interface the node does not have is refused, as any other
/// reference to an unknown interface; an unnamed shut port is no node
/// interface and changes nothing.
#[test]
fn shutdown_of_an_unknown_or_unnamed_interface() {
    let text = "interface G9\n nameif dmz\n shutdown\n";
    let cfg = crate::policy::parse::parse_config(text).unwrap().config;
    assert!(
        crate::policy::compile::compile(&cfg, &crate::iface::InterfaceConfig::inside_outside())
            .is_err()
    );
    let text = "interface Management0/0\n shutdown\n no nameif\n";
    let mut h = with_policy(&crate::policy::parse::parse_config(text).unwrap().config);
    let mut m = model(46_001);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
}
