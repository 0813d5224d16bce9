use super::*;
use crate::flow::Addr;
use crate::policy::ast::*;
use std::net::Ipv4Addr;

fn ifaces() -> Vec<InterfaceConfig> {
    InterfaceConfig::inside_outside()
}

fn ace(
    action: Action,
    protocol: Protocol,
    src: AddrSpec,
    dst: AddrSpec,
    dport: Option<PortMatch>,
) -> AclLine {
    AclLine::Ace(Ace {
        action,
        protocol: ProtoSpec::Protocol(protocol),
        source: src,
        source_port: None,
        destination: dst,
        destination_port: dport.map(PortSpec::Match),
        icmp: None,
        log: AceLog::Default,
        time_range: None,
        inactive: false,
    })
}

fn net(a: [u8; 4], m: [u8; 4]) -> AddrSpec {
    AddrSpec::V4Net(Ipv4Addr::from(a), Ipv4Addr::from(m))
}

fn probe(src: [u8; 4], dst: [u8; 4], proto: u8, dport: u16) -> Probe {
    Probe {
        v6: false,
        proto,
        src: Addr::v4(src),
        dst: Addr::v4(dst),
        sport: 40_000,
        dport,
    }
}

/// The seed policy, completed as the issue says (a bypass class for
/// 198.18.2.0/24 in both directions), parsed from its text.
pub(crate) fn seed() -> Config {
    let text = include_str!("../../../tests/configs/seed.cfg");
    crate::policy::parse::parse_config(text)
        .expect("the seed parses")
        .config
}

#[test]
fn seed_policy_classifies_both_directions_as_bypass() {
    let p = compile(&seed(), &ifaces()).unwrap();
    let (inside, outside) = (IfaceId(0), IfaceId(1));
    for pr in [
        probe([198, 18, 0, 5], [198, 18, 2, 9], 6, 445),
        probe([198, 18, 2, 9], [198, 18, 0, 5], 6, 50_000),
    ] {
        let d = p.classify(inside, outside, &pr);
        assert!(d.options.tcp_state_bypass, "{pr:?}");
        assert_eq!(d.options.per_client_max, 10_000);
        assert_eq!(d.options.timeout_idle, Some(Duration::from_secs(15)));
        assert_eq!(
            p.classes()[d.class.unwrap()].name,
            "global_policy/tcp_bypass"
        );
    }
    let other = p.classify(
        inside,
        outside,
        &probe([198, 18, 0, 5], [198, 18, 3, 9], 6, 445),
    );
    assert_eq!(
        other,
        ClassDecision {
            class: None,
            bypass_class: None,
            options: ConnOptions::default(),
            entries: [None, None],
        }
    );
}

#[test]
fn bindings_name_the_access_group_and_service_policy_classes() {
    let text = "access-list OUT_IN extended permit tcp any any eq 22\n\
                access-group OUT_IN in interface outside\n\
                class-map c1\n match any\n\
                policy-map out_pol\n class c1\n  set connection conn-max 5\n\
                service-policy out_pol interface outside\n";
    let cfg = crate::policy::parse::parse_config(text).unwrap().config;
    let p = compile(&cfg, &ifaces()).unwrap();
    assert_eq!(p.access_group(IfaceId(1)), Some("OUT_IN"));
    assert_eq!(p.access_group(IfaceId(0)), None);
    assert_eq!(p.access_group(IfaceId(9)), None);
    assert!(p.global_classes().is_empty());
    let out = p.interface_classes(IfaceId(1));
    assert_eq!(out.len(), 1);
    assert_eq!(p.classes()[out[0]].name, "out_pol/c1");
    assert!(p.interface_classes(IfaceId(0)).is_empty());
    let seed = compile(&seed(), &ifaces()).unwrap();
    assert_eq!(
        seed.global_classes()
            .iter()
            .map(|&c| seed.classes()[c].name.as_str())
            .collect::<Vec<_>>(),
        seed.classes()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
    );
}

#[test]
fn acl_is_first_match_with_implicit_deny() {
    let mut cfg = Config::default();
    cfg.access_lists.push(AccessList {
        name: "OUTSIDE_IN".into(),
        lines: vec![
            AclLine::Remark("web servers".into()),
            ace(
                Action::Deny,
                Protocol::Number(6),
                AddrSpec::Host([203, 0, 113, 9].into()),
                AddrSpec::Any,
                None,
            ),
            ace(
                Action::Permit,
                Protocol::Number(6),
                AddrSpec::Any,
                net([198, 18, 2, 0], [255, 255, 255, 0]),
                Some(PortMatch::Eq(443)),
            ),
            ace(
                Action::Permit,
                Protocol::Number(17),
                AddrSpec::Any,
                AddrSpec::Any,
                Some(PortMatch::Range(5000, 5010)),
            ),
        ],
    });
    cfg.access_groups.push(AccessGroup {
        acl: "OUTSIDE_IN".into(),
        interface: "outside".into(),
    });
    let p = compile(&cfg, &ifaces()).unwrap();
    let (inside, outside) = (IfaceId(0), IfaceId(1));
    assert!(p.permits(
        outside,
        inside,
        &probe([1, 2, 3, 4], [198, 18, 2, 1], 6, 443)
    ));
    assert!(
        !p.permits(
            outside,
            inside,
            &probe([203, 0, 113, 9], [198, 18, 2, 1], 6, 443)
        ),
        "deny comes first"
    );
    assert!(
        !p.permits(
            outside,
            inside,
            &probe([1, 2, 3, 4], [198, 18, 2, 1], 6, 80)
        ),
        "implicit deny"
    );
    assert!(p.permits(
        outside,
        inside,
        &probe([1, 2, 3, 4], [9, 9, 9, 9], 17, 5005)
    ));
    assert!(!p.permits(
        outside,
        inside,
        &probe([1, 2, 3, 4], [9, 9, 9, 9], 17, 5011)
    ));
    // No access-group inside: security levels (100 → 0) decide.
    assert!(p.permits(
        inside,
        outside,
        &probe([198, 18, 0, 1], [1, 2, 3, 4], 6, 80)
    ));
}

#[test]
fn interface_policy_wins_over_global() {
    let mut cfg = seed();
    cfg.class_maps.push(ClassMap {
        name: "web".into(),
        description: None,
        matcher: Some(ClassMatch::Port(PortProtocol::Tcp, PortMatch::Eq(445))),
    });
    cfg.policy_maps.push(PolicyMap {
        name: "inside_policy".into(),
        classes: vec![PolicyClass {
            class: "web".into(),
            connection: ConnectionSettings {
                conn_max: Some(5),
                ..ConnectionSettings::default()
            },
            inspects: vec![],
            tcp_map: None,
        }],
    });
    cfg.service_policies.push(ServicePolicy {
        policy_map: "inside_policy".into(),
        scope: ServiceScope::Interface("inside".into()),
    });
    let p = compile(&cfg, &ifaces()).unwrap();
    let d = p.classify(
        IfaceId(0),
        IfaceId(1),
        &probe([198, 18, 0, 5], [198, 18, 2, 9], 6, 445),
    );
    // The interface class takes the limits feature whole (the global
    // class's per-client-max and idle timeout do not apply), and the
    // interface policy sets no bypass, so the global class's applies
    // ("Service Policy Guidelines", Cisco ASA configuration guide: an
    // interface policy takes precedence for a given feature).
    assert_eq!(d.options.conn_max, 5);
    assert_eq!(d.options.per_client_max, 0);
    assert_eq!(d.options.timeout_idle, None);
    assert!(d.options.tcp_state_bypass);
    assert_eq!(p.classes()[d.class.unwrap()].name, "inside_policy/web");
    // Port 22 is not in the interface class: the global class gives both.
    let d = p.classify(
        IfaceId(0),
        IfaceId(1),
        &probe([198, 18, 0, 5], [198, 18, 2, 9], 6, 22),
    );
    assert!(d.options.tcp_state_bypass);
    assert_eq!(d.options.per_client_max, 10_000);
    assert_eq!(
        p.classes()[d.class.unwrap()].name,
        "global_policy/tcp_bypass"
    );
}

/// Interfaces of equal security levels talk only with
/// `same-security-traffic permit inter-interface`; an access-group alone
/// does not open the way (docs/asa-behaviour.md §2.3).
#[test]
fn equal_security_levels_need_same_security_traffic() {
    let ifaces: Vec<InterfaceConfig> = ifaces()
        .into_iter()
        .map(|mut i| {
            i.security_level = 50;
            i
        })
        .collect();
    let (a, b) = (IfaceId(0), IfaceId(1));
    let web = probe([198, 18, 0, 5], [198, 18, 1, 9], 6, 80);
    let ssh = probe([198, 18, 0, 5], [198, 18, 1, 9], 6, 22);
    let acl =
        "access-list A extended permit tcp any any eq 80\naccess-group A in interface inside\n";
    let on = "same-security-traffic permit inter-interface\n";
    let permits = |text: &str, from: IfaceId, to: IfaceId, p: &Probe| {
        let cfg = crate::policy::parse::parse_config(text).unwrap().config;
        compile(&cfg, &ifaces).unwrap().permits(from, to, p)
    };
    // Without the command nothing passes, not even what the ACL permits.
    assert!(!permits(acl, a, b, &web));
    assert!(!permits("", a, b, &web));
    assert!(!Policy::security_levels_only(&ifaces).permits(a, b, &web));
    // With it, the ACL decides where there is one, and all passes where
    // there is none.
    assert!(permits(&format!("{on}{acl}"), a, b, &web));
    assert!(!permits(&format!("{on}{acl}"), a, b, &ssh));
    assert!(permits(on, a, b, &ssh));
    assert!(permits(&format!("{on}{acl}"), b, a, &ssh));
    // Different levels are not affected by it.
    let cfg = crate::policy::parse::parse_config(on).unwrap().config;
    let p = compile(&cfg, &InterfaceConfig::inside_outside()).unwrap();
    assert!(p.permits(a, b, &ssh));
    assert!(!p.permits(b, a, &ssh));
}

/// docs/asa-behaviour.md §2.3: connection limits and TCP state bypass are
/// two features; a packet takes each from the first class that matches
/// and sets it.
#[test]
fn limits_and_bypass_are_chosen_feature_by_feature() {
    let text = "access-list BYP extended permit tcp any 198.18.2.0 255.255.255.0\n\
                class-map BYPASS\n match access-list BYP\n\
                class-map WEB\n match port tcp eq 80\n\
                policy-map global_policy\n\
                \x20class BYPASS\n  set connection advanced-options tcp-state-bypass\n\
                \x20class WEB\n  set connection conn-max 7\n  set connection advanced-options tcp-state-bypass\n\
                \x20class class-default\n  set connection per-client-max 50\n\
                service-policy global_policy global\n";
    let cfg = crate::policy::parse::parse_config(text).unwrap().config;
    let p = compile(&cfg, &ifaces()).unwrap();
    let (inside, outside) = (IfaceId(0), IfaceId(1));
    let name = |d: ClassDecision| p.classes()[d.class.unwrap()].name.clone();
    let bypass_name = |d: ClassDecision| p.classes()[d.bypass_class.unwrap()].name.clone();
    // A TCP connection from inside to 198.18.NET.9, port PORT.
    let at = |net: u8, port: u16| {
        p.classify(
            inside,
            outside,
            &probe([198, 18, 0, 5], [198, 18, net, 9], 6, port),
        )
    };
    // Bypass from BYPASS, limits from class-default: the bypass class
    // sets no limits, so it does not lift class-default's.
    let d = at(2, 22);
    assert!(d.options.tcp_state_bypass);
    assert_eq!(d.options.per_client_max, 50);
    assert_eq!(name(d), "global_policy/class-default");
    assert_eq!(bypass_name(d), "global_policy/BYPASS");
    // WEB sets both features, but BYPASS took bypass first; WEB's limits
    // apply and class-default's do not.
    let d = at(2, 80);
    assert!(d.options.tcp_state_bypass);
    assert_eq!((d.options.conn_max, d.options.per_client_max), (7, 0));
    assert_eq!(name(d), "global_policy/WEB");
    assert_eq!(bypass_name(d), "global_policy/BYPASS");
    // Outside BYP on port 80: WEB gives both.
    let d = at(3, 80);
    assert!(d.options.tcp_state_bypass);
    assert_eq!(d.options.conn_max, 7);
    assert_eq!(d.bypass_class, None);
    // Neither: class-default's limits, inspected.
    let d = at(3, 22);
    assert!(!d.options.tcp_state_bypass);
    assert_eq!(d.options.per_client_max, 50);
    // A bypass-only class with nothing after it: the connection is
    // named by its bypass class, with default limits.
    let text = "class-map ALL\n match any\npolicy-map P\n class ALL\n  set connection advanced-options tcp-state-bypass\nservice-policy P global\n";
    let cfg = crate::policy::parse::parse_config(text).unwrap().config;
    let all = compile(&cfg, &ifaces()).unwrap();
    let d = all.classify(
        inside,
        outside,
        &probe([198, 18, 0, 5], [198, 18, 3, 9], 6, 22),
    );
    assert!(d.options.tcp_state_bypass);
    assert_eq!(d.options.per_client_max, 0);
    assert_eq!(all.classes()[d.class.unwrap()].name, "P/ALL");
}

/// A tcp-map beside `tcp-state-bypass` has no effect (bypass skips the
/// normalizer, docs/asa-behaviour.md §6.1), so it must not make the bypass
/// class a class of limits: a later class's limits still hold its
/// connections, as without the map.
#[test]
fn a_tcp_map_beside_bypass_does_not_lift_a_later_class_limits() {
    let text = "class-map BYPASS\n match port tcp eq 22\n\
                tcp-map M\n urgent-flag allow\n\
                policy-map global_policy\n\
                \x20class BYPASS\n  set connection advanced-options tcp-state-bypass\n\
                \x20 set connection advanced-options M\n\
                \x20class class-default\n  set connection per-client-max 50\n\
                service-policy global_policy global\n";
    let cfg = crate::policy::parse::parse_config(text).unwrap().config;
    let p = compile(&cfg, &ifaces()).unwrap();
    let d = p.classify(
        IfaceId(0),
        IfaceId(1),
        &probe([198, 18, 0, 5], [198, 18, 2, 9], 6, 22),
    );
    assert!(d.options.tcp_state_bypass);
    assert_eq!(d.options.per_client_max, 50);
    assert_eq!(
        p.classes()[d.class.unwrap()].name,
        "global_policy/class-default"
    );
    assert_eq!(
        p.classes()[d.bypass_class.unwrap()].name,
        "global_policy/BYPASS"
    );
}

#[test]
fn unknown_interface_is_a_compile_error() {
    let mut cfg = Config::default();
    cfg.access_lists.push(AccessList {
        name: "A".into(),
        lines: vec![],
    });
    cfg.access_groups.push(AccessGroup {
        acl: "A".into(),
        interface: "dmz".into(),
    });
    assert_eq!(
        compile(&cfg, &ifaces()).unwrap_err(),
        CompileError::UnknownInterface("dmz".into())
    );
}

/// A management-only interface is no bridged interface of the node
/// (docs/asa-behaviour.md §2.7): naming one of the node's is refused at
/// its `management-only` line; naming none, its settings concern no node
/// interface (before, its `security-level` was an unknown interface).
#[test]
fn management_only_names_no_bridged_interface() {
    let text = "interface G0\n nameif inside\ninterface G1\n nameif outside\n management-only\n";
    let cfg = crate::policy::parse::parse_config(text).unwrap().config;
    let e = compile(&cfg, &ifaces()).unwrap_err();
    assert_eq!(e, CompileError::ManagementOnly("outside".into()));
    assert_eq!(crate::policy::locate::locate(text, &e), Some((5, 2)));
    let text = "interface G0\n nameif inside\ninterface G1\n nameif outside\n\
                interface Management0/0\n nameif management\n security-level 100\n management-only\n shutdown\n";
    let cfg = crate::policy::parse::parse_config(text).unwrap().config;
    let p = compile(&cfg, &ifaces()).unwrap();
    assert!(!p.is_shut(IfaceId(0)) && !p.is_shut(IfaceId(1)));
}

/// An EtherType access-group on an interface the node lacks is refused as
/// an extended one is; one whose list denies IP gates its interface.
#[test]
fn ethertype_groups_bind_node_interfaces() {
    let base = "access-list E ethertype deny any\n";
    let cfg = crate::policy::parse::parse_config(&format!("{base}access-group E in interface dmz"))
        .unwrap()
        .config;
    assert_eq!(
        compile(&cfg, &ifaces()).unwrap_err(),
        CompileError::UnknownInterface("dmz".into())
    );
    let cfg =
        crate::policy::parse::parse_config(&format!("{base}access-group E in interface outside"))
            .unwrap()
            .config;
    let p = compile(&cfg, &ifaces()).unwrap();
    let (inside, outside) = (IfaceId(0), IfaceId(1));
    assert_eq!(
        p.ingress_drop(outside, inside),
        Some(crate::verdict::DropReason::EthertypeDeny)
    );
    assert_eq!(p.ingress_drop(inside, outside), None);
}

#[test]
fn object_groups_and_ranges_expand() {
    let mut cfg = Config::default();
    cfg.objects.push(Object::Network {
        name: "R".into(),
        value: NetworkValue::Range([198, 18, 5, 10].into(), [198, 18, 5, 20].into()),
    });
    cfg.object_groups.push(ObjectGroup::Network {
        name: "SERVERS".into(),
        members: vec![
            NetworkMember::Object("R".into()),
            NetworkMember::Address(NetworkValue::Host([198, 18, 6, 1].into())),
        ],
    });
    cfg.object_groups.push(ObjectGroup::Service {
        name: "WEB".into(),
        protocol: Some(PortProtocol::Tcp),
        members: vec![
            ServiceMember::Port(PortMatch::Eq(80)),
            ServiceMember::Port(PortMatch::Range(8000, 8080)),
        ],
    });
    cfg.access_lists.push(AccessList {
        name: "IN".into(),
        lines: vec![AclLine::Ace(Ace {
            action: Action::Permit,
            protocol: ProtoSpec::Protocol(Protocol::Number(6)),
            source: AddrSpec::Any,
            source_port: None,
            destination: AddrSpec::Group("SERVERS".into()),
            destination_port: Some(PortSpec::Group("WEB".into())),
            icmp: None,
            log: AceLog::Default,
            time_range: None,
            inactive: false,
        })],
    });
    cfg.access_groups.push(AccessGroup {
        acl: "IN".into(),
        interface: "outside".into(),
    });
    let p = compile(&cfg, &ifaces()).unwrap();
    let ok = |d: [u8; 4], port| p.permits(IfaceId(1), IfaceId(0), &probe([1, 1, 1, 1], d, 6, port));
    assert!(ok([198, 18, 5, 10], 80) && ok([198, 18, 5, 20], 8080) && ok([198, 18, 6, 1], 8001));
    assert!(!ok([198, 18, 5, 9], 80) && !ok([198, 18, 5, 21], 80) && !ok([198, 18, 6, 1], 8081));
}

fn probe6(src: &str, dst: &str, proto: u8, dport: u16) -> Probe {
    let a = |s: &str| Addr::v6(s.parse::<std::net::Ipv6Addr>().unwrap().octets());
    Probe {
        v6: true,
        proto,
        src: a(src),
        dst: a(dst),
        sport: 40_000,
        dport,
    }
}

/// An IPv6 prefix matches only IPv6 packets and an IPv4 one only IPv4:
/// both share one 128-bit space in flow keys (IPv4 as mapped IPv6), so
/// `::/0` once opened port 22 to all of IPv4.
#[test]
fn an_address_matches_only_packets_of_its_own_family() {
    let cases: &[(&str, bool, bool)] = &[
        // (source of `permit tcp SRC any eq 22`, IPv4 matches, IPv6 matches)
        ("::/0", false, true),
        ("::/1", false, true),
        ("::/80", false, true),
        ("::/95", false, true),
        ("0.0.0.0 0.0.0.0", true, false),
        ("any4", true, false),
        ("any6", false, true),
        ("any", true, true),
        ("host 198.18.0.1", true, false),
        ("host ::1:2:3", false, true),
    ];
    let inside = |p: &Policy, pr: &Probe| p.permits(IfaceId(1), IfaceId(0), pr);
    for &(src, v4_ok, v6_ok) in cases {
        let text = format!(
            "access-list OUTSIDE_IN extended permit tcp {src} any eq 22\n\
             access-group OUTSIDE_IN in interface outside\n"
        );
        let cfg = crate::policy::parse::parse_config(&text).unwrap().config;
        let p = compile(&cfg, &ifaces()).unwrap();
        assert_eq!(
            inside(&p, &probe([198, 18, 0, 1], [198, 18, 1, 1], 6, 22)),
            v4_ok,
            "{src} and IPv4"
        );
        assert_eq!(
            inside(&p, &probe6("::1:2:3", "2001:db8:1::1", 6, 22)),
            v6_ok,
            "{src} and IPv6"
        );
    }
    // An entry whose source and destination are of different families
    // matches nothing.
    for (src, dst) in [
        ("any4", "any6"),
        ("host 198.18.0.1", "::/0"),
        ("::/0", "0.0.0.0 0.0.0.0"),
    ] {
        let text = format!(
            "access-list OUTSIDE_IN extended permit tcp {src} {dst} eq 22\n\
             access-group OUTSIDE_IN in interface outside\n"
        );
        let cfg = crate::policy::parse::parse_config(&text).unwrap().config;
        let p = compile(&cfg, &ifaces()).unwrap();
        assert!(
            !inside(&p, &probe([198, 18, 0, 1], [198, 18, 1, 1], 6, 22)),
            "{src} {dst}"
        );
        assert!(
            !inside(&p, &probe6("2001:db8::1", "2001:db8:1::1", 6, 22)),
            "{src} {dst}"
        );
    }
}

/// A chain of 20,000 nested object-groups: the parser's cycle check
/// once took quadratic time (8.5 s at 10,000), and the compiler
/// recursed once per level, so a deep enough chain overflowed its
/// stack. Refused with a clear error at a nesting depth of
/// `MAX_GROUP_DEPTH`; shallower chains compile.
#[test]
fn deeply_nested_object_groups_are_refused_not_a_crash() {
    let chain = |depth: usize| {
        let mut t = String::from("object-group network G0\n network-object host 198.18.0.1\n");
        for i in 1..depth {
            t.push_str(&format!(
                "object-group network G{i}\n group-object G{}\n",
                i - 1
            ));
        }
        t.push_str(&format!(
            "access-list A extended permit ip object-group G{} any\n\
             access-group A in interface outside\n",
            depth - 1
        ));
        t
    };
    let cfg = crate::policy::parse::parse_config(&chain(20_000))
        .expect("the parser takes it")
        .config;
    assert!(matches!(
        compile(&cfg, &ifaces()),
        Err(CompileError::TooDeep { .. })
    ));
    let cfg = crate::policy::parse::parse_config(&chain(MAX_GROUP_DEPTH))
        .unwrap()
        .config;
    let p = compile(&cfg, &ifaces()).expect("at the limit it compiles");
    assert!(p.permits(
        IfaceId(1),
        IfaceId(0),
        &probe([198, 18, 0, 1], [1, 1, 1, 1], 6, 80)
    ));
}

/// An entry crossing two IPv6 ranges with a port range matches exactly
/// what it says, in one subtable (split into aligned blocks it needed
/// tens of thousands, and was refused).
#[test]
fn ipv6_ranges_and_port_ranges_match_exactly_in_one_subtable() {
    let text = "object network R6\n range 2001:db8::1 2001:db8::ffff:fffe\n\
                object network R6B\n range 2001:db8:1::3 2001:db8:1::ffff:fff0\n\
                access-list A extended permit tcp object R6 object R6B gt 1023\n\
                access-group A in interface outside\n";
    let cfg = crate::policy::parse::parse_config(text).unwrap().config;
    let p = compile(&cfg, &ifaces()).expect("an ordinary entry compiles");
    // One range check, and reaching its list.
    assert_eq!(
        (p.acls()[0].subtables(), p.acls()[0].range_checks()),
        (1, 2)
    );
    let permits = |s, d, port| p.permits(IfaceId(1), IfaceId(0), &probe6(s, d, 6, port));
    assert!(permits("2001:db8::1", "2001:db8:1::3", 1024));
    assert!(permits(
        "2001:db8::ffff:fffe",
        "2001:db8:1::ffff:fff0",
        65535
    ));
    assert!(!permits("2001:db8::", "2001:db8:1::3", 1024));
    assert!(!permits("2001:db8::ffff:ffff", "2001:db8:1::3", 1024));
    assert!(!permits("2001:db8::1", "2001:db8:1::2", 1024));
    assert!(!permits("2001:db8::1", "2001:db8:1::ffff:fff1", 1024));
    assert!(!permits("2001:db8::1", "2001:db8:1::3", 1023));
}

/// An ACE entered again changes the entry where it stands, as on the ASA
/// ("Disables an ACE. To reenable it, enter the entire ACE without the
/// inactive keyword", Cisco ASA Series Command Reference, `access-list
/// extended`; docs/asa-behaviour.md §2.1): disabling a permit denies what
/// it permitted, and re-enabling a deny denies again ahead of a permit
/// entered after it. Appended as new lines, both would still permit.
#[test]
fn reentered_ace_disables_and_reenables_in_place() {
    let (inside, outside) = (IfaceId(0), IfaceId(1));
    let to_server = |dport| probe([203, 0, 113, 7], [192, 0, 2, 10], 6, dport);
    let policy = |text: &str| {
        let cfg = crate::policy::parse::parse_config(text)
            .unwrap_or_else(|e| panic!("{text}\n{e}"))
            .config;
        compile(&cfg, &ifaces()).unwrap()
    };
    let ssh = "access-list OUT extended permit tcp any host 192.0.2.10 eq 22\n\
               access-group OUT in interface outside\n";
    assert!(policy(ssh).permits(outside, inside, &to_server(22)));
    let disabled = policy(&format!(
        "{ssh}access-list OUT extended permit tcp any host 192.0.2.10 eq 22 inactive"
    ));
    assert!(
        !disabled.permits(outside, inside, &to_server(22)),
        "the disabled permit no longer permits SSH"
    );
    let rdp = "access-list OUT extended deny tcp any host 192.0.2.10 eq 3389 inactive\n\
               access-list OUT extended permit tcp any host 192.0.2.10\n\
               access-group OUT in interface outside\n";
    assert!(policy(rdp).permits(outside, inside, &to_server(3389)));
    let reenabled = policy(&format!(
        "{rdp}access-list OUT extended deny tcp any host 192.0.2.10 eq 3389"
    ));
    assert!(
        !reenabled.permits(outside, inside, &to_server(3389)),
        "the re-enabled deny is back at line 1"
    );
    assert!(reenabled.permits(outside, inside, &to_server(443)));
}

/// `match default-inspection-traffic` matches the default ports of every
/// inspection in the ASA's table of default inspections (Cisco ASA Series
/// Firewall CLI Configuration Guide, "Default Inspections and NAT
/// Limitations"; docs/asa-behaviour.md §2.3), NetBIOS's as source ports,
/// Sun RPC's on UDP only, and all ICMP; other ports are not in the class.
#[test]
fn default_inspection_traffic_matches_every_default_inspection_port() {
    let text = "class-map inspection_default\n match default-inspection-traffic\n\
                policy-map global_policy\n class inspection_default\n  set connection conn-max 7\n\
                service-policy global_policy global\n";
    let cfg = crate::policy::parse::parse_config(text).unwrap().config;
    let p = compile(&cfg, &ifaces()).unwrap();
    let (inside, outside) = (IfaceId(0), IfaceId(1));
    let with_ports = |proto, sport, dport| Probe {
        sport,
        ..probe([198, 18, 0, 5], [203, 0, 113, 9], proto, dport)
    };
    let classed = |pr: &Probe| p.classify(inside, outside, pr).class.is_some();
    let (tcp, udp) = (6, 17);
    for (proto, dport, what) in [
        (tcp, 21, "ftp"),
        (tcp, 25, "esmtp"),
        (tcp, 80, "http"),
        (tcp, 135, "dcerpc"),
        (tcp, 389, "ils"),
        (tcp, 514, "rsh"),
        (tcp, 554, "rtsp"),
        (tcp, 1521, "sqlnet"),
        (tcp, 1720, "h323 h225"),
        (tcp, 1723, "pptp"),
        (tcp, 2000, "skinny"),
        (tcp, 2748, "ctiqbe"),
        (tcp, 5060, "sip"),
        (tcp, 5443, "mmp"),
        (udp, 53, "dns"),
        (udp, 69, "tftp"),
        (udp, 111, "sunrpc"),
        (udp, 161, "snmp"),
        (udp, 162, "snmp trap"),
        (udp, 177, "xdmcp"),
        (udp, 500, "ipsec-pass-thru"),
        (udp, 1646, "radius-accounting"),
        (udp, 1718, "h323 ras"),
        (udp, 1719, "h323 ras"),
        (udp, 2123, "gtp"),
        (udp, 2427, "mgcp"),
        (udp, 2727, "mgcp"),
        (udp, 3386, "gtp"),
        (udp, 5060, "sip"),
    ] {
        assert!(classed(&with_ports(proto, 40_000, dport)), "{what}");
    }
    for sport in [137, 138] {
        assert!(classed(&with_ports(udp, sport, 40_000)), "netbios {sport}");
    }
    assert!(classed(&with_ports(1, 0, 0)), "icmp");
    assert!(classed(&with_ports(58, 0, 0)), "icmp6");
    for (proto, sport, dport, what) in [
        (
            tcp,
            40_000,
            111,
            "sunrpc over TCP is not in the default rule",
        ),
        (udp, 40_000, 137, "netbios's ports are source ports"),
        (tcp, 40_000, 8080, "not an inspection port"),
        (udp, 40_000, 80, "http is TCP"),
        (tcp, 80, 40_000, "http's port is the destination"),
    ] {
        assert!(!classed(&with_ports(proto, sport, dport)), "{what}");
    }
}

/// A class whose only setting is a tcp-map takes part in the policy: its
/// connections get the map (and, with it, the default limits).
#[test]
fn a_class_with_only_a_tcp_map_applies_it() {
    let text = "class-map BGP\n match port tcp eq 179\n\
                tcp-map M\n tcp-options range 19 19 allow\n\
                policy-map global_policy\n\
                \x20class BGP\n  set connection advanced-options M\n\
                service-policy global_policy global\n";
    let cfg = crate::policy::parse::parse_config(text).unwrap().config;
    let p = compile(&cfg, &ifaces()).unwrap();
    let d = p.classify(
        IfaceId(0),
        IfaceId(1),
        &probe([198, 18, 0, 5], [198, 18, 2, 9], 6, 179),
    );
    assert_eq!(p.classes()[d.class.unwrap()].name, "global_policy/BGP");
    assert!(d.options.tcp_normalizer.is_custom());
    assert_eq!(
        d.options.tcp_normalizer.option(19),
        crate::policy::tcp_map::Action::Allow
    );
}
