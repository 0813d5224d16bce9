//! The ASA configuration language on whole configuration texts: the seed,
//! realistic configs that must parse to the expected AST, broken variants
//! of them that must fail at the exact line and column, the exact
//! `show running-config` text, and two properties: render → parse is the
//! identity, and no input makes the parser panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use proptest::prelude::*;
use rampart_asa::ast::*;
use rampart_asa::{ParseError, parse_config, render};

/// A configuration from `dataplane/tests/configs`, where the example
/// configurations stay: the engine's tests, `rampart config check`'s tests
/// and the example node configurations read them too.
fn config(name: &str) -> String {
    let path = format!("{}/../tests/configs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> rampart_asa::Parsed {
    parse_config(&config(name)).unwrap_or_else(|e| panic!("{name}:\n{e}"))
}

fn errors(text: &str) -> Vec<(usize, usize, String)> {
    match parse_config(text) {
        Ok(p) => panic!("expected errors, parsed {:?}", p.config),
        Err(e) => {
            e.0.into_iter()
                .map(
                    |ParseError {
                         line,
                         column,
                         message,
                     }| (line, column, message),
                )
                .collect()
        }
    }
}

/// `text` with line `line` (1-based) replaced, or appended when `line` is
/// one past the end.
fn variant(text: &str, line: usize, replacement: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    if line == lines.len() + 1 {
        lines.push(replacement);
    } else {
        assert!(line >= 1 && line <= lines.len(), "line {line}");
        lines[line - 1] = replacement;
    }
    lines.join("\n")
}

fn round_trips(cfg: &Config) {
    let text = render(cfg);
    let back = parse_config(&text)
        .unwrap_or_else(|e| panic!("rendered text does not parse:\n{text}\n{e}"));
    assert_eq!(&back.config, cfg, "round trip changed the config:\n{text}");
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn ace(
    action: Action,
    protocol: ProtoSpec,
    source: AddrSpec,
    source_port: Option<PortSpec>,
    destination: AddrSpec,
    destination_port: Option<PortSpec>,
) -> AclLine {
    AclLine::Ace(Ace {
        action,
        protocol,
        source,
        source_port,
        destination,
        destination_port,
        log: false,
        inactive: false,
    })
}

fn logged(line: AclLine) -> AclLine {
    match line {
        AclLine::Ace(a) => AclLine::Ace(Ace { log: true, ..a }),
        r => r,
    }
}

const TCP: ProtoSpec = ProtoSpec::Protocol(Protocol::Number(6));
const UDP: ProtoSpec = ProtoSpec::Protocol(Protocol::Number(17));
const IP: ProtoSpec = ProtoSpec::Protocol(Protocol::Ip);

fn eq(p: u16) -> Option<PortSpec> {
    Some(PortSpec::Match(PortMatch::Eq(p)))
}

fn group(n: &str) -> AddrSpec {
    AddrSpec::Group(n.into())
}

fn object(n: &str) -> AddrSpec {
    AddrSpec::Object(n.into())
}

fn ports_group(n: &str) -> Option<PortSpec> {
    Some(PortSpec::Group(n.into()))
}

// === the seed ===

#[test]
fn seed_parses_to_one_bypass_class() {
    let p = parse("seed.cfg");
    let net = AddrSpec::V4Net(v4("198.18.2.0"), v4("255.255.255.0"));
    let expected = Config {
        access_lists: vec![AccessList {
            name: "tcp_bypass".into(),
            lines: vec![
                ace(Action::Permit, IP, AddrSpec::Any, None, net.clone(), None),
                ace(Action::Permit, IP, net, None, AddrSpec::Any, None),
            ],
        }],
        class_maps: vec![ClassMap {
            name: "tcp_bypass".into(),
            description: Some("TCP traffic test network".into()),
            matcher: Some(ClassMatch::AccessList("tcp_bypass".into())),
        }],
        policy_maps: vec![PolicyMap {
            name: "global_policy".into(),
            classes: vec![PolicyClass {
                class: "tcp_bypass".into(),
                connection: ConnectionSettings {
                    per_client_max: Some(10_000),
                    timeout_idle: Some(Duration::from_secs(15)),
                    tcp_state_bypass: true,
                    ..ConnectionSettings::default()
                },
                inspects: vec![],
            }],
        }],
        service_policies: vec![ServicePolicy {
            policy_map: "global_policy".into(),
            scope: ServiceScope::Global,
        }],
        ..Config::default()
    };
    assert_eq!(p.config, expected);
    assert!(p.ignored.is_empty());
    round_trips(&p.config);
}

#[test]
fn seed_renders_as_show_running_config() {
    assert_eq!(
        render(&parse("seed.cfg").config),
        "access-list tcp_bypass extended permit ip any 198.18.2.0 255.255.255.0
access-list tcp_bypass extended permit ip 198.18.2.0 255.255.255.0 any
class-map tcp_bypass
 description TCP traffic test network
 match access-list tcp_bypass
!
policy-map global_policy
 class tcp_bypass
  set connection per-client-max 10000
  set connection timeout idle 0:00:15
  set connection advanced-options tcp-state-bypass
!
service-policy global_policy global
"
    );
}

#[test]
fn seed_as_published_is_an_incomplete_command_twice() {
    assert_eq!(
        errors(&config("seed-as-published.cfg")),
        vec![
            (1, 37, "expected destination address".to_string()),
            (2, 37, "expected destination address".to_string()),
        ]
    );
}

// === realistic configurations ===

#[test]
fn realistic_configs_round_trip() {
    for name in [
        "seed.cfg",
        "small-office.cfg",
        "dmz-web-farm.cfg",
        "ipv6.cfg",
        "edits.cfg",
    ] {
        let cfg = parse(name).config;
        round_trips(&cfg);
        // Rendering is a fixed point: the rendered text renders to itself.
        let text = render(&cfg);
        assert_eq!(render(&parse_config(&text).unwrap().config), text, "{name}");
    }
}

#[test]
fn small_office() {
    let p = parse("small-office.cfg");
    let c = &p.config;
    assert_eq!(
        c.interfaces,
        vec![
            Interface {
                hardware: "GigabitEthernet1/1".into(),
                nameif: Some("outside".into()),
                security_level: Some(0),
            },
            Interface {
                hardware: "GigabitEthernet1/2".into(),
                nameif: Some("inside".into()),
                security_level: Some(100),
            },
            Interface {
                hardware: "Management1/1".into(),
                nameif: None,
                security_level: None,
            },
        ]
    );
    assert_eq!(
        c.objects,
        vec![
            Object::Network {
                name: "WEB01".into(),
                value: NetworkValue::Host(ip("198.18.0.10")),
            },
            Object::Network {
                name: "MAIL01".into(),
                value: NetworkValue::Host(ip("198.18.0.25")),
            },
            Object::Network {
                name: "LAN".into(),
                value: NetworkValue::V4Subnet(v4("198.18.0.0"), v4("255.255.255.0")),
            },
        ]
    );
    assert_eq!(
        c.object_groups[2],
        ObjectGroup::Service {
            name: "MAIL_PORTS".into(),
            protocol: Some(PortProtocol::Tcp),
            members: vec![
                ServiceMember::Port(PortMatch::Eq(25)),
                ServiceMember::Port(PortMatch::Eq(143)),
                ServiceMember::Port(PortMatch::Range(993, 995)),
            ],
        }
    );
    assert_eq!(
        c.access_lists[0],
        AccessList {
            name: "OUTSIDE_IN".into(),
            lines: vec![
                AclLine::Remark("published web server".into()),
                ace(
                    Action::Permit,
                    TCP,
                    AddrSpec::Any,
                    None,
                    object("WEB01"),
                    ports_group("WEB_PORTS")
                ),
                AclLine::Remark("mail".into()),
                ace(
                    Action::Permit,
                    TCP,
                    AddrSpec::Any,
                    None,
                    object("MAIL01"),
                    ports_group("MAIL_PORTS")
                ),
                logged(ace(
                    Action::Permit,
                    TCP,
                    group("ADMINS"),
                    None,
                    object("LAN"),
                    eq(22)
                )),
                ace(
                    Action::Permit,
                    ProtoSpec::Protocol(Protocol::Number(1)),
                    AddrSpec::Any,
                    None,
                    AddrSpec::Any,
                    None
                ),
                logged(ace(
                    Action::Deny,
                    IP,
                    AddrSpec::Any,
                    None,
                    AddrSpec::Any,
                    None
                )),
            ],
        }
    );
    assert_eq!(
        c.access_groups,
        vec![
            AccessGroup {
                acl: "OUTSIDE_IN".into(),
                interface: "outside".into(),
            },
            AccessGroup {
                acl: "INSIDE_IN".into(),
                interface: "inside".into(),
            },
        ]
    );
    let classes = &c.policy_maps[0].classes;
    assert_eq!(classes.len(), 2);
    assert_eq!(
        classes[0].inspects,
        vec!["dns preset_dns_map", "ftp", "esmtp", "icmp"]
    );
    assert_eq!(classes[1].class, "class-default");
    assert_eq!(classes[1].connection, ConnectionSettings::default());
    // Every line not enforced is listed, with why.
    let lines: Vec<usize> = p.ignored.iter().map(|i| i.line).collect();
    let mut expected: Vec<usize> =
        vec![6, 8, 9, 10, 11, 12, 17, 22, 25, 26, 29, 31, 32, 33, 36, 42];
    expected.extend(60..=71);
    expected.extend(74..=100);
    expected.extend(106..=110);
    expected.extend(113..=116);
    expected.push(118);
    expected.extend(121..=129);
    assert_eq!(lines, expected);
    let reason = |line: usize| {
        p.ignored
            .iter()
            .find(|i| i.line == line)
            .map(|i| i.reason)
            .unwrap()
    };
    assert_eq!(reason(8), "not enforced by Rampart");
    assert_eq!(reason(17), "interface setting not enforced by Rampart");
    assert_eq!(reason(33), "inside a block Rampart does not enforce");
    assert_eq!(reason(36), "descriptions are not kept");
    assert_eq!(
        reason(71),
        "NAT is not implemented: addresses pass untranslated"
    );
    assert_eq!(
        reason(76),
        "global timeouts come from the node configuration for now"
    );
    assert_eq!(
        reason(106),
        "inspection and management class-maps and policy-maps are not enforced"
    );
    assert_eq!(reason(113), "application inspection is not implemented");
    assert_eq!(reason(118), "class action not enforced by Rampart");
    assert_eq!(p.ignored[1].text, "hostname fw-office");
}

#[test]
fn dmz_web_farm() {
    let p = parse("dmz-web-farm.cfg");
    let c = &p.config;
    assert_eq!(
        c.object_groups[2],
        ObjectGroup::Network {
            name: "ALL_FARM".into(),
            members: vec![
                NetworkMember::Group("WEB_FARM".into()),
                NetworkMember::Object("FARM".into()),
            ],
        }
    );
    // tcp-udp service-objects stand for a tcp and a udp member.
    let svc = |protocol: u8, port: u16| {
        ServiceMember::Service(ServiceValue {
            protocol: Protocol::Number(protocol),
            source: None,
            destination: Some(PortMatch::Eq(port)),
        })
    };
    assert_eq!(
        c.object_groups[5],
        ObjectGroup::Service {
            name: "FARM_SERVICES".into(),
            protocol: None,
            members: vec![
                svc(6, 443),
                svc(6, 53),
                svc(17, 53),
                ServiceMember::Object("SYSLOG".into()),
            ],
        }
    );
    let out_in = &c.access_lists[0].lines;
    assert_eq!(
        out_in[2],
        logged(ace(
            Action::Permit,
            TCP,
            AddrSpec::Any,
            None,
            object("LB_VIP"),
            ports_group("ALT_PORTS")
        ))
    );
    assert_eq!(
        out_in[3],
        ace(
            Action::Permit,
            UDP,
            AddrSpec::Any,
            None,
            group("WEB_FARM"),
            Some(PortSpec::Match(PortMatch::Range(33434, 33534)))
        )
    );
    let dmz_in = &c.access_lists[1].lines;
    assert_eq!(
        dmz_in[0],
        ace(
            Action::Permit,
            ProtoSpec::Object("SYSLOG".into()),
            group("ALL_FARM"),
            None,
            object("LOGHOST"),
            None
        )
    );
    assert_eq!(
        dmz_in[2],
        ace(
            Action::Permit,
            ProtoSpec::Group("TCPUDP".into()),
            group("ALL_FARM"),
            None,
            AddrSpec::Any,
            eq(53)
        )
    );
    assert!(matches!(&dmz_in[3], AclLine::Ace(a) if a.inactive && a.action == Action::Deny));
    let classes = &c.policy_maps[0].classes;
    assert_eq!(
        classes
            .iter()
            .map(|k| (k.class.as_str(), k.connection))
            .collect::<Vec<_>>(),
        vec![
            (
                "WEB_LIMITS",
                ConnectionSettings {
                    conn_max: Some(50_000),
                    embryonic_conn_max: Some(2000),
                    per_client_max: Some(200),
                    per_client_embryonic_max: Some(20),
                    timeout_embryonic: Some(Duration::from_secs(20)),
                    timeout_half_closed: Some(Duration::from_secs(300)),
                    timeout_idle: Some(Duration::from_secs(1800)),
                    idle_reset: true,
                    ..ConnectionSettings::default()
                }
            ),
            (
                "BULK",
                ConnectionSettings {
                    random_sequence_number: Some(false),
                    timeout_idle: Some(Duration::from_secs(4 * 3600)),
                    ..ConnectionSettings::default()
                }
            ),
            (
                "class-default",
                ConnectionSettings {
                    timeout_idle: Some(Duration::from_secs(7200)),
                    ..ConnectionSettings::default()
                }
            ),
        ]
    );
    assert_eq!(
        c.class_maps[2].matcher,
        Some(ClassMatch::Port(PortProtocol::Udp, PortMatch::Eq(1645)))
    );
    assert!(c.policy_maps[1].classes[0].connection.tcp_state_bypass);
    assert_eq!(
        c.service_policies,
        vec![
            ServicePolicy {
                policy_map: "outside_policy".into(),
                scope: ServiceScope::Interface("outside".into()),
            },
            ServicePolicy {
                policy_map: "dmz_policy".into(),
                scope: ServiceScope::Interface("dmz".into()),
            },
        ]
    );
    assert_eq!(
        p.ignored
            .iter()
            .map(|i| (i.line, i.reason))
            .collect::<Vec<_>>(),
        vec![(2, "not enforced by Rampart")]
    );
}

#[test]
fn ipv6() {
    let p = parse("ipv6.cfg");
    let c = &p.config;
    assert_eq!(
        c.objects[0],
        Object::Network {
            name: "V6_SERVERS".into(),
            value: NetworkValue::V6Subnet(v6("2001:db8:10::"), 64),
        }
    );
    assert_eq!(
        c.objects[1],
        Object::Network {
            name: "V6_RANGE".into(),
            value: NetworkValue::Range(ip("2001:db8:20::10"), ip("2001:db8:20::1f")),
        }
    );
    let lines = &c.access_lists[0].lines;
    assert_eq!(
        lines[2],
        ace(
            Action::Permit,
            TCP,
            group("V6_ADMINS"),
            None,
            AddrSpec::Host(ip("2001:db8:10::5")),
            eq(22)
        )
    );
    assert_eq!(
        lines[6],
        ace(
            Action::Permit,
            ProtoSpec::Protocol(Protocol::Number(58)),
            AddrSpec::Any6,
            None,
            AddrSpec::Any6,
            None
        )
    );
    assert_eq!(
        lines[7],
        logged(ace(
            Action::Deny,
            IP,
            AddrSpec::Any6,
            None,
            AddrSpec::V6Net(v6("2001:db8::"), 32),
            None
        ))
    );
    assert_eq!(
        c.access_lists[1].lines[0],
        ace(
            Action::Permit,
            TCP,
            AddrSpec::V6Net(v6("2001:db8:10::"), 64),
            None,
            AddrSpec::V6Net(v6("2001:db8:40::"), 64),
            None
        )
    );
    let s = c.policy_maps[0].classes[0].connection;
    assert!(s.tcp_state_bypass);
    assert_eq!(s.timeout_idle, Some(Duration::from_secs(120)));
    // The interface's ipv6 lines and the unindented ipv6 route are ignored.
    assert_eq!(
        p.ignored
            .iter()
            .map(|i| (i.line, i.reason))
            .collect::<Vec<_>>(),
        vec![
            (4, "interface setting not enforced by Rampart"),
            (5, "interface setting not enforced by Rampart"),
            (10, "interface setting not enforced by Rampart"),
            (12, "not enforced by Rampart"),
        ]
    );
}

#[test]
fn edits_apply_in_order() {
    let p = parse("edits.cfg");
    let host = |s: &str| AddrSpec::Host(ip(s));
    let expected = Config {
        objects: vec![Object::Network {
            name: "SRV".into(),
            value: NetworkValue::Host(ip("198.18.2.11")),
        }],
        object_groups: vec![ObjectGroup::Network {
            name: "SERVERS".into(),
            members: vec![
                NetworkMember::Address(NetworkValue::Host(ip("198.18.2.1"))),
                NetworkMember::Object("SRV".into()),
            ],
        }],
        access_lists: vec![AccessList {
            name: "WEB".into(),
            lines: vec![
                AclLine::Remark("inserted first".into()),
                ace(
                    Action::Deny,
                    TCP,
                    host("203.0.113.9"),
                    None,
                    AddrSpec::Any,
                    None,
                ),
                ace(
                    Action::Permit,
                    TCP,
                    AddrSpec::Any,
                    None,
                    host("198.18.2.1"),
                    eq(80),
                ),
                ace(
                    Action::Permit,
                    TCP,
                    AddrSpec::Any,
                    None,
                    host("198.18.2.3"),
                    eq(80),
                ),
            ],
        }],
        class_maps: vec![ClassMap {
            name: "C1".into(),
            description: None,
            matcher: Some(ClassMatch::AccessList("WEB".into())),
        }],
        policy_maps: vec![PolicyMap {
            name: "P".into(),
            classes: vec![
                PolicyClass {
                    class: "C1".into(),
                    connection: ConnectionSettings {
                        conn_max: Some(200),
                        timeout_embryonic: Some(Duration::from_secs(10)),
                        ..ConnectionSettings::default()
                    },
                    inspects: vec![],
                },
                PolicyClass {
                    class: "class-default".into(),
                    connection: ConnectionSettings {
                        timeout_idle: Some(Duration::from_secs(3600)),
                        ..ConnectionSettings::default()
                    },
                    inspects: vec![],
                },
            ],
        }],
        service_policies: vec![ServicePolicy {
            policy_map: "P".into(),
            scope: ServiceScope::Global,
        }],
        ..Config::default()
    };
    assert_eq!(p.config, expected);
    assert!(p.ignored.is_empty());
}

#[test]
fn broken_variants_fail_exactly_where_they_break() {
    let cases: &[(&str, usize, &str, usize, usize, &str)] = &[
        (
            "small-office.cfg",
            44,
            " network-object 192.0.2.129 255.255.255.192",
            44,
            17,
            "address has host bits set beyond the mask",
        ),
        (
            "small-office.cfg",
            53,
            "access-list OUTSIDE_IN extended permit tcp any object WEB01 object-group WEB_PORT",
            53,
            74,
            "object-group 'WEB_PORT' is not defined",
        ),
        (
            "small-office.cfg",
            60,
            "pagr lines 24",
            60,
            1,
            "unknown command 'pagr'",
        ),
        (
            "small-office.cfg",
            72,
            "access-group OUTSIDE_IN in interface outsde",
            72,
            38,
            "no interface has nameif 'outsde'",
        ),
        (
            "small-office.cfg",
            103,
            " match default-inspection",
            103,
            8,
            "match default-inspection is not supported",
        ),
        (
            "small-office.cfg",
            120,
            "service-policy global-policy global",
            120,
            16,
            "policy-map 'global-policy' is not defined",
        ),
        (
            "dmz-web-farm.cfg",
            30,
            " group-object ALL_FARM",
            30,
            15,
            "group-object 'ALL_FARM' would make object-group 'ALL_FARM' contain itself",
        ),
        (
            "dmz-web-farm.cfg",
            35,
            " port-object range 8099 8000",
            35,
            25,
            "a port range runs from the lower port to the higher",
        ),
        (
            "dmz-web-farm.cfg",
            49,
            "access-list OUT_IN extended permit udp any object-group WEB_FARM object-group FARM_PORTS",
            49,
            79,
            "object-group 'FARM_PORTS' is a tcp port group, not a udp port group",
        ),
        (
            "dmz-web-farm.cfg",
            53,
            "access-list DMZ_IN extended permit object-group FARM_SERVICES object-group ALL_FARM any eq 53",
            53,
            89,
            "ports come from the service object-group, not the access-list line",
        ),
        (
            "dmz-web-farm.cfg",
            69,
            "  set connection conn-max 5000000 embryonic-conn-max 2000 per-client-max 200 per-client-embryonic-max 20",
            69,
            27,
            "conn-max must be 0-2000000",
        ),
        (
            "dmz-web-farm.cfg",
            70,
            "  set connection timeout embryonic 0:00:02 half-closed 0:05:00 idle 0:30:00 reset",
            70,
            36,
            "embryonic timeout must be at least 0:00:05 (or 0:00:00 for never)",
        ),
        (
            "dmz-web-farm.cfg",
            82,
            "service-policy outside_policy interface dmz",
            82,
            41,
            "interface 'dmz' already has service-policy 'dmz_policy'",
        ),
        (
            "ipv6.cfg",
            14,
            " subnet 2001:db8:10::",
            14,
            22,
            "expected mask or prefix",
        ),
        (
            "ipv6.cfg",
            16,
            " range 2001:db8:20::10 198.18.0.1",
            16,
            24,
            "the ends of a range must be of one IP family",
        ),
        (
            "ipv6.cfg",
            20,
            " network-object 2001:db8:99::1/48",
            20,
            17,
            "address has host bits set beyond the prefix length",
        ),
        (
            "ipv6.cfg",
            27,
            "access-list V6_IN extended permit tcp object-group V6_ADMINS host 2001:db8:10::5::1 eq ssh",
            27,
            67,
            "invalid IPv6 address '2001:db8:10::5::1'",
        ),
        (
            "ipv6.cfg",
            31,
            "access-list V6_IN extended permit icmp6 any6 any6 echo-request",
            31,
            51,
            "icmp types are not supported yet",
        ),
        (
            "edits.cfg",
            5,
            "no access-list WEB extended permit tcp any host 198.18.2.4 eq 80",
            5,
            20,
            "no such line in access-list 'WEB'",
        ),
        (
            // Without the line's removal, removing its object leaves a dangling reference.
            "edits.cfg",
            16,
            "!",
            15,
            43,
            "object 'GONE' is not defined",
        ),
        (
            "edits.cfg",
            33,
            "no class-map C3",
            33,
            14,
            "no such class-map 'C3'",
        ),
        (
            "edits.cfg",
            42,
            "  no set connection per-client-maximum",
            42,
            21,
            "expected connection option, found 'per-client-maximum'",
        ),
        (
            "edits.cfg",
            52,
            "no policy-map DRAFTS",
            52,
            15,
            "no such policy-map 'DRAFTS'",
        ),
        (
            "edits.cfg",
            54,
            "!",
            55,
            18,
            "only one global service-policy is allowed; 'P' is already global",
        ),
    ];
    for &(name, line, replacement, el, ec, message) in cases {
        let text = variant(&config(name), line, replacement);
        assert_eq!(
            errors(&text),
            vec![(el, ec, message.to_string())],
            "{name} with line {line} = {replacement:?}"
        );
    }
}

#[test]
fn several_broken_lines_are_all_reported() {
    let text = config("dmz-web-farm.cfg");
    let text = variant(&text, 35, " port-object range 8099 8000");
    let text = variant(&text, 49, "access-list OUT_IN extended permit udp any");
    let text = variant(&text, 72, "  set connection timeout idle 0:00:00 dcd");
    assert_eq!(
        errors(&text),
        vec![
            (
                35,
                25,
                "a port range runs from the lower port to the higher".to_string()
            ),
            (49, 43, "expected port or destination address".to_string()),
            (72, 39, "dcd is not supported yet".to_string()),
        ]
    );
}

// === rendering ===

#[test]
fn render_uses_asa_forms_and_port_names() {
    let text = "interface G0/0
 nameif outside
 security-level 0
object network H6
 host 2001:db8::1
object network N
 subnet 198.18.0.0 255.255.0.0
object network R
 range 198.18.0.1 198.18.0.9
object service S
 service udp source range 1024 65535 destination eq 514
object-group network G
 network-object 198.18.1.0 255.255.255.0
 network-object 2001:db8::/32
 network-object object N
object-group service TU tcp-udp
 port-object eq 53
 port-object eq 514
object-group service MIX
 service-object tcp-udp destination eq 80
 service-object object S
object-group protocol P
 protocol-object 50
 protocol-object 200
access-list A permit tcp any host 198.18.0.1 eq 80
access-list A permit udp any eq 53 any range 161 162
access-list A permit sctp any any eq 80
access-list A permit 47 any any log
access-list A permit object-group P any any
access-list A permit object-group MIX object-group G any
access-list A deny tcp 198.18.0.0 255.255.255.0 object N eq 750 inactive
access-group A in interface outside
class-map C
 match port udp range 1645 1646
policy-map PM
 class C
  set connection random-sequence-number enable per-client-max 7 conn-max 9
  set connection timeout idle 0:00:00 embryonic 1:00:00
 class class-default
  inspect http
service-policy PM interface outside
";
    assert_eq!(
        render(&parse_config(text).unwrap().config),
        "interface G0/0
 nameif outside
 security-level 0
!
object network H6
 host 2001:db8::1
object network N
 subnet 198.18.0.0 255.255.0.0
object network R
 range 198.18.0.1 198.18.0.9
object service S
 service udp source range 1024 65535 destination eq syslog
object-group network G
 network-object 198.18.1.0 255.255.255.0
 network-object 2001:db8::/32
 network-object object N
object-group service TU tcp-udp
 port-object eq domain
 port-object eq 514
object-group service MIX
 service-object tcp destination eq www
 service-object udp destination eq www
 service-object object S
object-group protocol P
 protocol-object esp
 protocol-object 200
access-list A extended permit tcp any host 198.18.0.1 eq www
access-list A extended permit udp any eq domain any range snmp snmptrap
access-list A extended permit sctp any any eq 80
access-list A extended permit gre any any log
access-list A extended permit object-group P any any
access-list A extended permit object-group MIX object-group G any
access-list A extended deny tcp 198.18.0.0 255.255.255.0 object N eq kerberos inactive
access-group A in interface outside
class-map C
 match port udp range radius radius-acct
!
policy-map PM
 class C
  set connection conn-max 9 per-client-max 7 random-sequence-number enable
  set connection timeout embryonic 1:00:00 idle 0:00:00
 class class-default
  inspect http
!
service-policy PM interface outside
"
    );
}

// === round-trip property ===

/// Interfaces the generated configs draw from.
const IFACES: &[(&str, &str, u8)] = &[
    ("GigabitEthernet0/0", "outside", 0),
    ("GigabitEthernet0/1", "inside", 100),
    ("GigabitEthernet0/2", "dmz", 50),
];
const NETWORK_OBJECTS: &[&str] = &["ON1", "ON2"];
const NETWORK_GROUPS: &[&str] = &["NG1", "NG2"];
/// Port groups and their protocols.
const PORT_GROUPS: &[(&str, PortProtocol)] = &[
    ("PT", PortProtocol::Tcp),
    ("PU", PortProtocol::Udp),
    ("PB", PortProtocol::TcpUdp),
];
const ACLS: &[&str] = &["ACL1", "ACL2"];
const CLASSES: &[&str] = &["C1", "C2", "C3"];
const POLICIES: &[&str] = &["P1", "P2"];
const INSPECTS: &[&str] = &["ftp", "dns preset_dns_map", "http", "icmp error"];

fn pick(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(names).prop_map(str::to_string)
}

fn port_match() -> impl Strategy<Value = PortMatch> {
    prop_oneof![
        any::<u16>().prop_map(PortMatch::Eq),
        any::<u16>().prop_map(PortMatch::Neq),
        any::<u16>().prop_map(PortMatch::Lt),
        any::<u16>().prop_map(PortMatch::Gt),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| PortMatch::Range(a.min(b), a.max(b))),
    ]
}

/// `eq` and `range` only (`port-object`, `match port`).
fn eq_or_range() -> impl Strategy<Value = PortMatch> {
    prop_oneof![
        any::<u16>().prop_map(PortMatch::Eq),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| PortMatch::Range(a.min(b), a.max(b))),
    ]
}

fn v4_net() -> impl Strategy<Value = (Ipv4Addr, Ipv4Addr)> {
    (any::<u32>(), 0u32..=32).prop_map(|(a, l)| {
        let m = if l == 0 { 0 } else { u32::MAX << (32 - l) };
        (Ipv4Addr::from(a & m), Ipv4Addr::from(m))
    })
}

fn v6_net() -> impl Strategy<Value = (Ipv6Addr, u8)> {
    (any::<u128>(), 0u8..=128).prop_map(|(a, l)| {
        let m = if l == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(l))
        };
        (Ipv6Addr::from(a & m), l)
    })
}

fn host() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn network_value(object: bool) -> BoxedStrategy<NetworkValue> {
    let mut s = vec![
        host().prop_map(NetworkValue::Host).boxed(),
        v4_net()
            .prop_map(|(a, m)| NetworkValue::V4Subnet(a, m))
            .boxed(),
        v6_net()
            .prop_map(|(a, l)| NetworkValue::V6Subnet(a, l))
            .boxed(),
    ];
    if object {
        s.push(
            prop_oneof![
                (any::<u32>(), any::<u32>()).prop_map(|(a, b)| NetworkValue::Range(
                    Ipv4Addr::from(a.min(b)).into(),
                    Ipv4Addr::from(a.max(b)).into()
                )),
                (any::<u128>(), any::<u128>()).prop_map(|(a, b)| NetworkValue::Range(
                    Ipv6Addr::from(a.min(b)).into(),
                    Ipv6Addr::from(a.max(b)).into()
                )),
            ]
            .boxed(),
        );
    }
    proptest::strategy::Union::new(s).boxed()
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Ip),
        prop_oneof![Just(1u8), Just(6), Just(17), Just(47), Just(58), Just(132)]
            .prop_map(Protocol::Number),
        any::<u8>().prop_map(Protocol::Number),
    ]
}

fn has_ports(p: Protocol) -> bool {
    matches!(p, Protocol::Number(6 | 17 | 132))
}

fn service_value() -> impl Strategy<Value = ServiceValue> {
    (
        protocol(),
        proptest::option::of(port_match()),
        proptest::option::of(port_match()),
    )
        .prop_map(|(protocol, source, destination)| {
            let ports = has_ports(protocol);
            ServiceValue {
                protocol,
                source: source.filter(|_| ports),
                destination: destination.filter(|_| ports),
            }
        })
}

/// Members without duplicates (the parser keeps one of identical lines).
fn dedup<T: PartialEq>(v: Vec<T>) -> Vec<T> {
    let mut out = Vec::new();
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// Objects and groups, always all defined (so references resolve); NG1
/// may include NG2 and PT may include PT2, never the reverse (no cycles).
fn objects_and_groups() -> impl Strategy<Value = (Vec<Object>, Vec<ObjectGroup>)> {
    let net_members = |with_group: bool| {
        proptest::collection::vec(
            prop_oneof![
                network_value(false).prop_map(NetworkMember::Address),
                pick(NETWORK_OBJECTS).prop_map(NetworkMember::Object),
                Just(if with_group {
                    NetworkMember::Group("NG2".into())
                } else {
                    NetworkMember::Object("ON1".into())
                }),
            ],
            0..4,
        )
        .prop_map(dedup)
    };
    let port_members = |extra: Option<&'static str>| {
        proptest::collection::vec(
            prop_oneof![
                3 => eq_or_range().prop_map(ServiceMember::Port),
                1 => Just(match extra {
                    Some(g) => ServiceMember::Group(g.into()),
                    None => ServiceMember::Port(PortMatch::Eq(1)),
                }),
            ],
            0..4,
        )
        .prop_map(dedup)
    };
    (
        network_value(true),
        network_value(true),
        service_value(),
        net_members(true),
        net_members(false),
        port_members(Some("PT2")),
        port_members(None),
        port_members(None),
        port_members(None),
        proptest::collection::vec(
            prop_oneof![
                service_value().prop_map(ServiceMember::Service),
                Just(ServiceMember::Object("OS1".into())),
            ],
            0..4,
        )
        .prop_map(dedup),
        proptest::collection::vec(protocol().prop_map(ProtocolMember::Protocol), 0..4)
            .prop_map(dedup),
    )
        .prop_map(|(on1, on2, os1, ng1, ng2, pt, pt2, pu, pb, sg, pr)| {
            let objects = vec![
                Object::Network {
                    name: "ON1".into(),
                    value: on1,
                },
                Object::Network {
                    name: "ON2".into(),
                    value: on2,
                },
                Object::Service {
                    name: "OS1".into(),
                    value: os1,
                },
            ];
            let service = |name: &str, protocol, members| ObjectGroup::Service {
                name: name.into(),
                protocol,
                members,
            };
            let groups = vec![
                ObjectGroup::Network {
                    name: "NG1".into(),
                    members: ng1,
                },
                ObjectGroup::Network {
                    name: "NG2".into(),
                    members: ng2,
                },
                service("PT", Some(PortProtocol::Tcp), pt),
                service("PT2", Some(PortProtocol::Tcp), pt2),
                service("PU", Some(PortProtocol::Udp), pu),
                service("PB", Some(PortProtocol::TcpUdp), pb),
                service("SG", None, sg),
                ObjectGroup::Protocol {
                    name: "PR".into(),
                    members: pr,
                },
            ];
            (objects, groups)
        })
}

/// An ACE whose names all resolve; `ifaces` are the interface names it
/// may refer to.
fn ace_strategy(ifaces: Vec<String>) -> impl Strategy<Value = Ace> {
    let iface = proptest::sample::select(ifaces);
    let addr = prop_oneof![
        Just(AddrSpec::Any),
        Just(AddrSpec::Any4),
        Just(AddrSpec::Any6),
        host().prop_map(AddrSpec::Host),
        v4_net().prop_map(|(a, m)| AddrSpec::V4Net(a, m)),
        v6_net().prop_map(|(a, l)| AddrSpec::V6Net(a, l)),
        pick(NETWORK_OBJECTS).prop_map(AddrSpec::Object),
        pick(NETWORK_GROUPS).prop_map(AddrSpec::Group),
        iface.prop_map(AddrSpec::Interface),
    ];
    let proto = prop_oneof![
        4 => protocol().prop_map(ProtoSpec::Protocol),
        1 => Just(ProtoSpec::Object("OS1".into())),
        1 => Just(ProtoSpec::Group("SG".into())),
        1 => Just(ProtoSpec::Group("PR".into())),
    ];
    let port = prop_oneof![
        3 => port_match().prop_map(PortSpec::Match),
        1 => proptest::sample::select(PORT_GROUPS).prop_map(|(n, p)| (n, p)).prop_map(|(n, _)| PortSpec::Group(n.into())),
    ];
    (
        any::<bool>(),
        proto,
        addr.clone(),
        proptest::option::of(port.clone()),
        addr,
        proptest::option::of(port),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                deny,
                protocol,
                source,
                source_port,
                destination,
                destination_port,
                log,
                inactive,
            )| {
                // Which port groups fit: tcp ACEs take tcp and tcp-udp
                // groups, udp ACEs udp and tcp-udp; sctp and protocol
                // groups any; service objects and groups no ports at all.
                let fits = |p: &PortSpec| -> bool {
                    let PortSpec::Group(g) = p else { return true };
                    let kind = PORT_GROUPS.iter().find(|(n, _)| n == g).map(|&(_, k)| k);
                    match &protocol {
                        ProtoSpec::Protocol(Protocol::Number(6)) => kind != Some(PortProtocol::Udp),
                        ProtoSpec::Protocol(Protocol::Number(17)) => {
                            kind != Some(PortProtocol::Tcp)
                        }
                        _ => true,
                    }
                };
                let ports = match &protocol {
                    ProtoSpec::Protocol(p) => has_ports(*p),
                    ProtoSpec::Group(g) => g == "PR",
                    ProtoSpec::Object(_) => false,
                };
                let keep = |p: Option<PortSpec>| p.filter(|p| ports && fits(p));
                Ace {
                    action: if deny { Action::Deny } else { Action::Permit },
                    protocol: protocol.clone(),
                    source,
                    source_port: keep(source_port),
                    destination,
                    destination_port: keep(destination_port),
                    log,
                    inactive,
                }
            },
        )
}

fn text(max: usize) -> impl Strategy<Value = String> {
    // No surrounding whitespace: the parser reads the rest of the line
    // without it.
    proptest::string::string_regex(&format!("[!-~]([ -~]{{0,{}}}[!-~])?", max - 2)).unwrap()
}

fn settings() -> impl Strategy<Value = ConnectionSettings> {
    let limit = proptest::option::of(0u32..=2_000_000);
    let timeout = |min: u64| {
        proptest::option::of(
            prop_oneof![Just(0u64), min..=1193 * 3600].prop_map(Duration::from_secs),
        )
    };
    (
        (limit.clone(), limit.clone(), limit.clone(), limit),
        proptest::option::of(any::<bool>()),
        (timeout(5), timeout(30), timeout(1)),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|((a, b, c, d), r, (te, th, ti), reset, bypass)| {
            ConnectionSettings {
                conn_max: a,
                embryonic_conn_max: b,
                per_client_max: c,
                per_client_embryonic_max: d,
                random_sequence_number: r,
                timeout_embryonic: te,
                timeout_half_closed: th,
                // `reset` is an option of `timeout idle`.
                idle_reset: reset && ti.is_some(),
                timeout_idle: ti,
                tcp_state_bypass: bypass,
            }
        })
}

fn class_match(acls: Vec<String>) -> impl Strategy<Value = ClassMatch> {
    prop_oneof![
        proptest::sample::select(acls).prop_map(ClassMatch::AccessList),
        Just(ClassMatch::Any),
        Just(ClassMatch::DefaultInspectionTraffic),
        (
            prop_oneof![Just(PortProtocol::Tcp), Just(PortProtocol::Udp)],
            eq_or_range()
        )
            .prop_map(|(p, m)| ClassMatch::Port(p, m)),
    ]
}

fn policy_class(class: String) -> impl Strategy<Value = PolicyClass> {
    (
        settings(),
        proptest::sample::subsequence(INSPECTS.to_vec(), 0..=2),
    )
        .prop_map(move |(connection, inspects)| PolicyClass {
            class: class.clone(),
            connection,
            inspects: inspects.into_iter().map(str::to_string).collect(),
        })
}

fn config_strategy() -> impl Strategy<Value = Config> {
    (
        0..=IFACES.len(),
        any::<bool>(),
        proptest::option::of(0..=100u8),
        objects_and_groups(),
    )
        .prop_flat_map(
            |(n_ifaces, unnamed_extra, extra_level, (objects, groups))| {
                let mut interfaces: Vec<Interface> = IFACES[..n_ifaces]
                    .iter()
                    .map(|&(hw, name, level)| Interface {
                        hardware: hw.into(),
                        nameif: Some(name.into()),
                        security_level: Some(level),
                    })
                    .collect();
                if unnamed_extra {
                    interfaces.push(Interface {
                        hardware: "Management0/0".into(),
                        nameif: None,
                        security_level: extra_level,
                    });
                }
                // With named interfaces, references must use their names;
                // without, any name goes (the node configuration supplies them).
                let names: Vec<String> = if n_ifaces == 0 {
                    IFACES.iter().map(|&(_, n, _)| n.to_string()).collect()
                } else {
                    IFACES[..n_ifaces]
                        .iter()
                        .map(|&(_, n, _)| n.to_string())
                        .collect()
                };
                let acl_lines = proptest::collection::vec(
                    prop_oneof![
                        4 => ace_strategy(names.clone()).prop_map(AclLine::Ace),
                        1 => text(100).prop_map(AclLine::Remark),
                    ],
                    1..6,
                );
                (
                    Just(interfaces),
                    Just(objects),
                    Just(groups),
                    Just(names.clone()),
                    acl_lines.clone(),
                    proptest::option::of(acl_lines),
                    proptest::collection::vec(
                        (
                            proptest::option::of(text(200)),
                            proptest::option::of(class_match(
                                ACLS.iter().map(|s| s.to_string()).collect(),
                            )),
                        ),
                        CLASSES.len(),
                    ),
                    proptest::collection::vec(any::<bool>(), CLASSES.len()),
                    proptest::collection::vec(
                        (
                            proptest::sample::subsequence(CLASSES.to_vec(), 0..=CLASSES.len())
                                .prop_shuffle(),
                            any::<bool>(),
                        ),
                        POLICIES.len(),
                    ),
                    proptest::collection::vec(proptest::option::of(pick(ACLS)), names.len()),
                    proptest::collection::vec(
                        proptest::option::of(pick(POLICIES)),
                        names.len() + 1,
                    ),
                )
            },
        )
        .prop_flat_map(
            |(
                interfaces,
                objects,
                groups,
                names,
                lines1,
                lines2,
                maps,
                map_present,
                policies,
                groups_per_iface,
                services,
            )| {
                let mut access_lists = vec![AccessList {
                    name: "ACL1".into(),
                    lines: lines1,
                }];
                if let Some(lines) = lines2 {
                    access_lists.push(AccessList {
                        name: "ACL2".into(),
                        lines,
                    });
                }
                let acl_ok = |n: &str| access_lists.iter().any(|a| a.name == n);
                let class_maps: Vec<ClassMap> = CLASSES
                    .iter()
                    .zip(maps)
                    .zip(&map_present)
                    .filter(|(_, present)| **present)
                    .map(|((name, (description, matcher)), _)| ClassMap {
                        name: name.to_string(),
                        description,
                        matcher: matcher
                            .filter(|m| !matches!(m, ClassMatch::AccessList(a) if !acl_ok(a))),
                    })
                    .collect();
                let access_groups: Vec<AccessGroup> = names
                    .iter()
                    .zip(groups_per_iface)
                    .filter_map(|(iface, acl)| {
                        let acl = acl.filter(|a| acl_ok(a))?;
                        Some(AccessGroup {
                            acl,
                            interface: iface.clone(),
                        })
                    })
                    .collect();
                let service_policies: Vec<ServicePolicy> = services
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, p)| {
                        Some(ServicePolicy {
                            policy_map: p?,
                            scope: match names.get(i) {
                                Some(n) => ServiceScope::Interface(n.clone()),
                                None => ServiceScope::Global,
                            },
                        })
                    })
                    .collect();
                // Each policy-map's classes: defined class-maps in a random
                // order, then maybe class-default (always last).
                let defined: Vec<&str> = class_maps.iter().map(|m| m.name.as_str()).collect();
                let policy_classes: Vec<_> = policies
                    .into_iter()
                    .map(|(order, default)| {
                        let mut names: Vec<String> = order
                            .into_iter()
                            .filter(|c| defined.contains(c))
                            .map(str::to_string)
                            .collect();
                        if default {
                            names.push("class-default".into());
                        }
                        names.into_iter().map(policy_class).collect::<Vec<_>>()
                    })
                    .collect();
                let base = Config {
                    interfaces,
                    objects,
                    object_groups: groups,
                    access_lists,
                    access_groups,
                    class_maps,
                    policy_maps: vec![],
                    service_policies,
                };
                (Just(base), policy_classes)
            },
        )
        .prop_map(|(mut cfg, classes)| {
            cfg.policy_maps = POLICIES
                .iter()
                .zip(classes)
                .map(|(name, classes)| PolicyMap {
                    name: name.to_string(),
                    classes,
                })
                .collect();
            cfg
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn render_then_parse_is_identity(cfg in config_strategy()) {
        let text = render(&cfg);
        let back = parse_config(&text);
        prop_assert!(back.is_ok(), "{}\n{}", text, back.unwrap_err());
        let back = back.unwrap();
        prop_assert_eq!(&back.config, &cfg, "{}", text);
        // Only the inspect lines are listed as ignored.
        let inspects: usize = cfg
            .policy_maps
            .iter()
            .flat_map(|p| &p.classes)
            .map(|c| c.inspects.len())
            .sum();
        prop_assert_eq!(back.ignored.len(), inspects);
    }

    #[test]
    fn parser_never_panics_on_keyword_soup(lines in proptest::collection::vec(
        (
            prop_oneof![Just(""), Just(" "), Just("  "), Just("\t")],
            proptest::collection::vec(word(), 0..12),
        )
            .prop_map(|(indent, words)| format!("{indent}{}", words.join(" "))),
        0..24,
    )) {
        let text = lines.join("\n");
        if let Err(e) = parse_config(&text) {
            for err in &e.0 {
                prop_assert!(err.line >= 1 && err.line <= lines.len(), "{err}");
                prop_assert!(err.column >= 1, "{err}");
            }
            let sorted = e.0.windows(2).all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column));
            prop_assert!(sorted, "{e}");
        }
    }

    #[test]
    fn parser_never_panics_on_mangled_configs(
        cfg in config_strategy(),
        cuts in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, word()), 1..6),
    ) {
        // Delete, duplicate or replace words of a valid rendered config.
        let mut words: Vec<String> = render(&cfg)
            .split(' ')
            .map(str::to_string)
            .collect();
        for (at, how, w) in cuts {
            if words.is_empty() {
                break;
            }
            let i = at.index(words.len());
            match how {
                0 => {
                    words.remove(i);
                }
                1 => {
                    let x = words[i].clone();
                    words.insert(i, x);
                }
                _ => words[i] = w.to_string(),
            }
        }
        let _ = parse_config(&words.join(" "));
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = parse_config(&text);
    }
}

/// Words the soup is made of: every keyword the parser knows, addresses,
/// numbers and junk.
fn word() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        proptest::sample::select(vec![
            "interface",
            "nameif",
            "security-level",
            "object",
            "object-group",
            "network",
            "service",
            "protocol",
            "host",
            "subnet",
            "range",
            "network-object",
            "port-object",
            "service-object",
            "protocol-object",
            "group-object",
            "description",
            "access-list",
            "access-group",
            "extended",
            "standard",
            "ethertype",
            "remark",
            "line",
            "permit",
            "deny",
            "ip",
            "tcp",
            "udp",
            "tcp-udp",
            "icmp",
            "icmp6",
            "sctp",
            "any",
            "any4",
            "any6",
            "source",
            "destination",
            "eq",
            "neq",
            "lt",
            "gt",
            "log",
            "inactive",
            "time-range",
            "in",
            "out",
            "global",
            "class-map",
            "class-default",
            "match",
            "port",
            "policy-map",
            "type",
            "inspect",
            "class",
            "set",
            "connection",
            "conn-max",
            "per-client-max",
            "embryonic-conn-max",
            "per-client-embryonic-max",
            "random-sequence-number",
            "enable",
            "disable",
            "timeout",
            "idle",
            "embryonic",
            "half-closed",
            "dcd",
            "reset",
            "advanced-options",
            "tcp-state-bypass",
            "decrement-ttl",
            "service-policy",
            "no",
            "hostname",
            "crypto",
            "call-home",
            "nat",
            "www",
            "https",
            "domain",
            "syslog",
        ]),
        proptest::sample::select(vec![
            "A",
            "B",
            "C",
            "0",
            "1",
            "7",
            "80",
            "65535",
            "65536",
            "2000000",
            "2000001",
            "0:00:15",
            "0:0:0",
            "1193:00:00",
            "99:99:99",
            "198.18.0.1",
            "198.18.0.0",
            "255.255.255.0",
            "255.0.255.0",
            "0.0.0.0",
            "::",
            "2001:db8::/32",
            "2001:db8::1/64",
            "::/129",
            "10.0.0.0/8",
            "x",
            "!",
            ":",
            "-",
            "é",
            "∞",
            "\u{0}",
        ]),
    ]
}
