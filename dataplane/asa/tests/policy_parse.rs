//! The ASA configuration language on whole configuration texts: the seed,
//! realistic configs that must parse to the expected AST, broken variants
//! of them that must fail at the exact line and column, and the exact
//! `show running-config` text. The properties (render → parse is the
//! identity, no input makes the parser panic) are in `policy_properties.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

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
        icmp: None,
        log: AceLog::Default,
        time_range: None,
        inactive: false,
    })
}

fn logged(line: AclLine) -> AclLine {
    match line {
        AclLine::Ace(a) => AclLine::Ace(Ace {
            log: AceLog::On,
            ..a
        }),
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
                tcp_map: None,
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
        "fragments.cfg",
        "icmp-types.cfg",
        "time-ranges.cfg",
        "names.cfg",
        "access-groups.cfg",
        "bgp-md5.cfg",
        "database-dcd.cfg",
    ] {
        let cfg = parse(name).config;
        round_trips(&cfg);
        // Rendering is a fixed point: the rendered text renders to itself.
        let text = render(&cfg);
        assert_eq!(render(&parse_config(&text).unwrap().config), text, "{name}");
    }
}

/// A unit whose rules are a global list beside per-interface ones and an
/// outbound list (docs/asa-behaviour.md §2.3): each binding kept as
/// written, the control-plane binding ignored and listed, the
/// per-user-override one applied and listed.
#[test]
fn access_groups_in_out_and_global() {
    let p = parse("access-groups.cfg");
    let c = &p.config;
    let groups = |v: &[AccessGroup]| {
        v.iter()
            .map(|g| (g.acl.clone(), g.interface.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        groups(&c.access_groups),
        [
            ("outside_access_in".to_string(), "outside".to_string()),
            ("inside_access_in".to_string(), "inside".to_string())
        ]
    );
    assert_eq!(
        groups(&c.access_groups_out),
        [("outside_access_out".to_string(), "outside".to_string())]
    );
    assert_eq!(c.global_access_group.as_deref(), Some("global_access"));
    let notes: Vec<&str> = p.ignored.iter().map(|i| i.text.as_str()).collect();
    assert!(notes.contains(&"access-group MGMT in interface inside control-plane"));
    assert!(notes.contains(&"access-group inside_access_in in interface inside per-user-override"));
}

/// A long-lived unit's policy written with `names` (docs/asa-behaviour.md
/// §2.1): every name resolves to its address, and `show running-config`
/// prints the names back, also for an address written as such.
#[test]
fn names() {
    let c = parse("names.cfg").config;
    assert!(c.names.enabled);
    let named: Vec<(&str, String)> = c
        .names
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.address.to_string()))
        .collect();
    assert_eq!(
        named,
        vec![
            ("legacy-server", "198.18.5.5".to_string()),
            ("lab-net", "198.18.6.0".to_string()),
            ("mail.relay", "198.18.7.10".to_string()),
            ("dns-1", "198.18.0.53".to_string()),
        ]
    );
    let inside = &c.access_lists[1];
    let AclLine::Ace(first) = &inside.lines[0] else {
        panic!("{inside:?}")
    };
    assert_eq!(
        first.source,
        AddrSpec::V4Net(
            "198.18.6.0".parse().unwrap(),
            "255.255.255.0".parse().unwrap()
        )
    );
    assert_eq!(
        first.destination,
        AddrSpec::Host("198.18.0.53".parse().unwrap())
    );
    let shown = render(&c);
    assert!(
        shown.contains("access-list INSIDE_OUT extended permit ip host legacy-server any\n"),
        "{shown}"
    );
    assert!(
        shown.contains(" network-object lab-net 255.255.255.0\n"),
        "{shown}"
    );
}

/// A branch office's policy with time-ranges (docs/asa-behaviour.md
/// §2.10): its clock, its ranges and the entries naming them, and where
/// a broken line of it fails.
#[test]
fn time_ranges() {
    let c = parse("time-ranges.cfg").config;
    assert_eq!(
        c.clock.timezone.as_ref().map(Timezone::offset_minutes),
        Some(60)
    );
    assert!(c.clock.summer_time.is_some());
    let ranges: Vec<(&str, bool, usize)> = c
        .time_ranges
        .iter()
        .map(|r| (r.name.as_str(), r.absolute.is_some(), r.periodic.len()))
        .collect();
    assert_eq!(
        ranges,
        [
            ("BACKUP-WINDOW", false, 2),
            ("OFFICE-HOURS", false, 1),
            ("PROJECT-X", true, 1),
            ("MAINTENANCE", true, 1),
        ]
    );
    let named: Vec<(&str, Option<&str>)> = c
        .access_lists
        .iter()
        .flat_map(|a| a.lines.iter().map(move |l| (a, l)))
        .filter_map(|(a, l)| match l {
            AclLine::Ace(e) => Some((a.name.as_str(), e.time_range.as_deref())),
            AclLine::Remark(_) => None,
        })
        .collect();
    assert_eq!(
        named,
        [
            ("OUTSIDE_IN", Some("BACKUP-WINDOW")),
            ("OUTSIDE_IN", None),
            ("INSIDE_OUT", Some("OFFICE-HOURS")),
            ("INSIDE_OUT", Some("PROJECT-X")),
            ("INSIDE_OUT", None),
            ("INSIDE_OUT", Some("MAINTENANCE")),
            ("INSIDE_OUT", None),
        ]
    );
    let text = config("time-ranges.cfg");
    for (line, replacement, col, message) in [
        (
            47,
            "access-list INSIDE_OUT extended permit tcp object-group CONTRACTORS object FILES eq 445 time-range OFFICE",
            100,
            "time-range 'OFFICE' is not defined",
        ),
        (
            33,
            " periodic weekdays 18:30 to 7:29",
            29,
            "end time before start time: to cross midnight name the end day (periodic DAY HH:MM to DAY HH:MM)",
        ),
        (
            36,
            " absolute start 8:00 30 February 2026",
            22,
            "day 30 is not in that month",
        ),
        (
            10,
            "clock summer-time CEST recurring last Sun Mar 2:00",
            51,
            "expected week (1-4, first or last)",
        ),
    ] {
        assert_eq!(
            errors(&variant(&text, line, replacement)),
            vec![(line, col, message.to_string())],
            "line {line}"
        );
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
                shutdown: false,
                management_only: false,
            },
            Interface {
                hardware: "GigabitEthernet1/2".into(),
                nameif: Some("inside".into()),
                security_level: Some(100),
                shutdown: false,
                management_only: false,
            },
            Interface {
                hardware: "Management1/1".into(),
                nameif: None,
                security_level: None,
                shutdown: true,
                management_only: true,
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
    // Line 11, `names`, is kept (names are on, docs/asa-behaviour.md §2.1).
    let mut expected: Vec<usize> = vec![6, 8, 9, 10, 12, 17, 22, 29, 31, 32, 33, 36, 42];
    // Lines 25 and 26, ` management-only` and ` shutdown`, are kept (the
    // port is no node interface, and passes nothing).
    expected.extend(60..=71);
    // Line 76, `timeout conn … icmp 0:00:02`, is applied (the ASA's
    // defaults, as `show running-config` prints them).
    expected.extend((74..=100).filter(|&l| l != 76));
    expected.extend(106..=110);
    // Line 116, `inspect icmp`, is enforced.
    expected.extend(113..=115);
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
    assert!(reason(75).starts_with("timeouts of features Rampart does not have"));
    assert_eq!(
        c.timeouts,
        GlobalTimeouts {
            conn: Some(Duration::from_secs(3600)),
            half_closed: Some(Duration::from_secs(600)),
            udp: Some(Duration::from_secs(120)),
            icmp: Some(Duration::from_secs(2)),
        }
    );
    assert_eq!(
        reason(106),
        "inspection and management class-maps and policy-maps are not enforced"
    );
    assert_eq!(reason(113), "application inspection is not implemented");
    assert_eq!(reason(118), "class action not enforced by Rampart");
    assert_eq!(p.ignored[1].text, "hostname fw-office");
}

/// `fragment` lines (docs/asa-behaviour.md §2.8): the global ones, an
/// interface's own winning over them, edits, and the running
/// configuration printing only what is not the ASA's default.
#[test]
fn fragments() {
    let p = parse("fragments.cfg");
    // `hostname` alone is ignored; `fragment reassembly virtual` is what
    // Rampart does.
    assert_eq!(
        p.ignored.iter().map(|i| i.line).collect::<Vec<_>>(),
        vec![3, 5]
    );
    let f = &p.config.fragment;
    let s = |size, chain, timeout| FragmentSettings {
        size,
        chain,
        timeout,
    };
    assert_eq!(
        *f,
        FragmentConfig {
            global: s(None, Some(1), None),
            interfaces: [
                ("inside".to_string(), s(None, Some(24), None)),
                ("nfs".to_string(), s(Some(2000), Some(45), Some(30))),
            ]
            .into(),
        }
    );
    assert_eq!(f.of("outside"), s(None, Some(1), None));
    let text = render(&p.config);
    assert!(
        text.ends_with(
            "access-group OUTSIDE_IN in interface outside
fragment chain 1
fragment chain 24 inside
fragment size 2000 nfs
fragment chain 45 nfs
fragment timeout 30 nfs
"
        ),
        "{text}"
    );
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
            icmp: None,
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

/// A realistic ICMP section: types by name and number, codes, `icmp6`
/// names; each type is kept as its number and printed by its name.
#[test]
fn icmp_types() {
    let p = parse("icmp-types.cfg");
    let acl = &p.config.access_lists[0];
    let typed: Vec<(Protocol, Option<IcmpSpec>)> = acl
        .lines
        .iter()
        .filter_map(|l| match l {
            AclLine::Ace(a) => match a.protocol {
                ProtoSpec::Protocol(p) => Some((p, a.icmp.clone())),
                _ => None,
            },
            AclLine::Remark(_) => None,
        })
        .collect();
    let m = |icmp_type, code| Some(IcmpSpec::Match(IcmpMatch { icmp_type, code }));
    let (icmp, icmp6, tcp) = (
        Protocol::Number(1),
        Protocol::Number(58),
        Protocol::Number(6),
    );
    assert_eq!(
        typed,
        vec![
            (icmp, m(0, None)),
            (icmp, Some(IcmpSpec::Group("ICMP-OK".into()))),
            (icmp, m(3, Some(4))),
            (icmp6, m(2, None)),
            (icmp, m(11, None)),
            (icmp, m(3, None)),
            (icmp, m(3, Some(4))),
            (icmp, m(8, None)),
            (icmp, m(14, Some(0))),
            (icmp6, m(2, None)),
            (icmp6, m(129, None)),
            (icmp6, m(3, None)),
            (icmp6, m(4, Some(1))),
            (icmp, m(5, None)),
            (icmp, None),
            (icmp6, None),
            (tcp, None),
        ]
    );
    let text = render(&p.config);
    for line in [
        "access-list outside_in extended permit icmp any any echo-reply\n",
        "access-list outside_in extended permit icmp any object WEB01 unreachable 4\n",
        "access-list outside_in extended permit icmp any any timestamp-reply 0\n",
        "access-list outside_in extended permit icmp6 any6 any6 packet-too-big\n",
        "access-list outside_in extended permit icmp6 any6 any6 parameter-problem 1\n",
        "access-list outside_in extended deny icmp any any redirect log\n",
        "object-group icmp-type ICMP-OK\n icmp-object echo-reply\n icmp-object time-exceeded\n \
         icmp-object unreachable\n",
        "object service TS-REPLY\n service icmp timestamp-reply 0\n",
        "object-group service ICMP6-DIAG\n service-object icmp6 echo-reply\n \
         service-object icmp6 time-exceeded\n service-object icmp6 parameter-problem 1\n",
        "access-list outside_in extended permit icmp any any object-group ICMP-OK\n",
        "access-list outside_in extended permit object TS-REPLY any any\n",
        "access-list outside_in extended permit object-group ICMP6-DIAG any6 any6\n",
    ] {
        assert!(text.contains(line), "{line}in\n{text}");
    }
    // The rendered text parses back to the same configuration.
    assert_eq!(parse_config(&text).expect("parses").config, p.config);
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
                    tcp_map: None,
                },
                PolicyClass {
                    class: "class-default".into(),
                    connection: ConnectionSettings {
                        timeout_idle: Some(Duration::from_secs(3600)),
                        ..ConnectionSettings::default()
                    },
                    inspects: vec![],
                    tcp_map: None,
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

/// Entering an ACE the access-list already has changes that entry where it
/// stands, as the ASA does ("Disables an ACE. To reenable it, enter the
/// entire ACE without the inactive keyword", Cisco ASA Series Command
/// Reference, `access-list extended`): `inactive` disables it and the ACE
/// without `inactive` enables it again, at its place; it never adds a copy
/// at the end, which would leave the first one deciding.
#[test]
fn reentering_an_ace_changes_it_in_place() {
    let acl = |text: &str| {
        let p = parse_config(text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        round_trips(&p.config);
        p.config.access_lists[0].lines.clone()
    };
    let ssh = |inactive: bool, log: bool| {
        AclLine::Ace(Ace {
            time_range: None,
            inactive,
            log: if log { AceLog::On } else { AceLog::Default },
            ..match ace(
                Action::Permit,
                TCP,
                AddrSpec::Any,
                None,
                AddrSpec::Host(ip("192.0.2.10")),
                eq(22),
            ) {
                AclLine::Ace(a) => a,
                r => unreachable!("{r:?}"),
            }
        })
    };
    // Disabling a permit: the one entry is now inactive.
    assert_eq!(
        acl(
            "access-list OUT extended permit tcp any host 192.0.2.10 eq 22\n\
             access-group OUT in interface outside\n\
             access-list OUT extended permit tcp any host 192.0.2.10 eq 22 inactive"
        ),
        vec![ssh(true, false)]
    );
    // Re-enabling a deny keeps it in front of the permit entered after it.
    let rdp = |inactive: bool| {
        AclLine::Ace(Ace {
            action: Action::Deny,
            inactive,
            ..match ssh(false, false) {
                AclLine::Ace(a) => Ace {
                    destination_port: eq(3389),
                    icmp: None,
                    ..a
                },
                r => unreachable!("{r:?}"),
            }
        })
    };
    let permit_all = ace(
        Action::Permit,
        TCP,
        AddrSpec::Any,
        None,
        AddrSpec::Host(ip("192.0.2.10")),
        None,
    );
    let base = "access-list OUT extended deny tcp any host 192.0.2.10 eq 3389 inactive\n\
                access-list OUT extended permit tcp any host 192.0.2.10\n";
    assert_eq!(
        acl(&format!(
            "{base}access-list OUT extended deny tcp any host 192.0.2.10 eq 3389"
        )),
        vec![rdp(false), permit_all.clone()]
    );
    // The ACE is matched by what it matches, not by its text: other
    // spellings, `extended` left out, `line N` (the entry keeps its place).
    assert_eq!(
        acl(&format!(
            "{base}access-list OUT line 2  deny  tcp any 192.0.2.10 255.255.255.255 range 3389 3389"
        )),
        vec![rdp(false), permit_all.clone()]
    );
    // Re-entered with other log options, the entry takes them; an exact
    // duplicate changes nothing; a remark is a line of its own, twice.
    assert_eq!(
        acl("access-list OUT remark ssh\n\
             access-list OUT permit tcp any host 192.0.2.10 eq ssh\n\
             access-list OUT remark ssh\n\
             access-list OUT permit tcp any host 192.0.2.10 eq ssh log 3 inactive\n\
             access-list OUT permit tcp any host 192.0.2.10 eq ssh log 3 inactive"),
        vec![
            AclLine::Remark("ssh".into()),
            ssh(true, true),
            AclLine::Remark("ssh".into())
        ]
    );
    assert_eq!(
        acl("access-list OUT permit tcp any host 192.0.2.10 eq 22 log\n\
             access-list OUT permit tcp any host 192.0.2.10 eq 22 log disable"),
        vec![AclLine::Ace(Ace {
            log: AceLog::Disable,
            ..match ssh(false, false) {
                AclLine::Ace(a) => a,
                r => unreachable!("{r:?}"),
            }
        })]
    );
    // Entries that differ in what they match stay apart.
    assert_eq!(
        acl("access-list OUT permit tcp any host 192.0.2.10 eq 22\n\
             access-list OUT permit tcp any4 host 192.0.2.10 eq 22 inactive")
        .len(),
        2
    );
    // The references of an entry entered twice are those of one line: when
    // `no access-list` removes it, its object may go.
    let c = parse_config(
        "object network SRV\n host 192.0.2.10\n\
         access-list OUT permit tcp any object SRV eq 22\n\
         access-list OUT permit tcp any object SRV eq 22 inactive\n\
         access-list OUT permit ip any any\n\
         no access-list OUT permit tcp any object SRV eq 22\n\
         no object network SRV",
    )
    .unwrap()
    .config;
    assert_eq!(c.access_lists[0].lines.len(), 1);
    assert!(c.objects.is_empty());
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
            // The ASA's name of type 128 is `echo`.
            "access-list V6_IN extended permit icmp6 any6 any6 echo-request",
            31,
            51,
            "invalid icmp6 type 'echo-request', expected an icmp6 type name or 0-255",
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
        (
            "fragments.cfg",
            26,
            "fragment chain 8201 nfs",
            26,
            16,
            "fragment chain must be 1-8200",
        ),
        (
            "fragments.cfg",
            27,
            "fragment timeout 30 nsf",
            27,
            21,
            "no interface has nameif 'nsf'",
        ),
        (
            "fragments.cfg",
            28,
            "fragment reassembly full nfs",
            28,
            21,
            "full reassembly is not supported: Rampart reassembles virtually only (a datagram \
             is judged whole and its fragments pass on as they came); remove the line, virtual \
             is the default",
        ),
        (
            "fragments.cfg",
            32,
            "no fragment timeout 10 all",
            32,
            24,
            "no interface has nameif 'all'",
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
    let text = variant(
        &text,
        72,
        "  set connection timeout idle 0:00:00 dcd 0:00:00",
    );
    assert_eq!(
        errors(&text),
        vec![
            (
                35,
                25,
                "a port range runs from the lower port to the higher".to_string()
            ),
            (49, 43, "expected port or destination address".to_string()),
            (
                72,
                43,
                "dcd retry interval must be 0:00:01-24:00:00".to_string()
            ),
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

/// The BGP MD5 example: its class lets option kind 19 through and turns
/// sequence randomization off (docs/asa-behaviour.md §6.1).
#[test]
fn bgp_md5_example_applies_its_tcp_map() {
    let c = parse("bgp-md5.cfg").config;
    assert_eq!(c.tcp_maps.len(), 1);
    assert_eq!(
        c.tcp_maps[0].ranges,
        vec![TcpOptionRange {
            lower: 19,
            upper: 19,
            action: TcpOptionAction::Allow
        }]
    );
    let class = &c.policy_maps[0].classes[0];
    assert_eq!(class.tcp_map.as_deref(), Some("BGP-MAP"));
    assert_eq!(class.connection.random_sequence_number, Some(false));
}

/// The database pool example: its class keeps idle connections 8 hours,
/// probes their ends with DCD and resets the live end of a dead one
/// (docs/asa-behaviour.md §2.2).
#[test]
fn database_example_probes_idle_pool_connections() {
    let c = parse("database-dcd.cfg").config;
    let s = &c.policy_maps[0].classes[0].connection;
    assert_eq!(
        s.timeout_idle,
        Some(std::time::Duration::from_secs(8 * 3600))
    );
    assert!(s.idle_reset);
    assert_eq!(
        s.dcd,
        Some(Dcd {
            retry_interval: std::time::Duration::from_secs(30),
            max_retries: 3
        })
    );
}
