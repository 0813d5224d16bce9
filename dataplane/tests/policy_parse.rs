//! The ASA configuration language on real configuration texts: the seed,
//! realistic configs that must parse, broken variants that must fail at
//! the right line and column, and render → parse round trips.

use std::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;
use rampart_dataplane::policy::ast::*;
use rampart_dataplane::policy::parse::{ParseError, parse_config};
use rampart_dataplane::policy::render::render;

fn config(name: &str) -> String {
    let path = format!("{}/tests/configs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
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

fn round_trips(cfg: &Config) {
    let text = render(cfg);
    let back = parse_config(&text)
        .unwrap_or_else(|e| panic!("rendered text does not parse:\n{text}\n{e}"));
    assert_eq!(&back.config, cfg, "round trip changed the config:\n{text}");
}

#[test]
fn seed_parses_to_one_bypass_class() {
    let p = parse_config(&config("seed.cfg")).unwrap();
    let net = AddrSpec::V4Net(
        Ipv4Addr::new(198, 18, 2, 0),
        Ipv4Addr::new(255, 255, 255, 0),
    );
    let ace = |source: AddrSpec, destination: AddrSpec| {
        AclLine::Ace(Ace {
            action: Action::Permit,
            protocol: ProtoSpec::Protocol(Protocol::Ip),
            source,
            source_port: None,
            destination,
            destination_port: None,
            log: false,
            inactive: false,
        })
    };
    let expected = Config {
        access_lists: vec![AccessList {
            name: "tcp_bypass".into(),
            lines: vec![ace(AddrSpec::Any, net.clone()), ace(net, AddrSpec::Any)],
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
fn seed_as_published_is_an_incomplete_command_twice() {
    let e = errors(&config("seed-as-published.cfg"));
    assert_eq!(
        e,
        vec![
            (1, 37, "expected destination address".to_string()),
            (2, 37, "expected destination address".to_string()),
        ]
    );
}

#[test]
fn realistic_configs_parse_and_round_trip() {
    for name in [
        "small-office.cfg",
        "dmz-web-farm.cfg",
        "ipv6.cfg",
        "edits.cfg",
    ] {
        let p = parse_config(&config(name)).unwrap_or_else(|e| panic!("{name}:\n{e}"));
        round_trips(&p.config);
    }
}

#[test]
fn small_office_lists_what_it_ignores() {
    let p = parse_config(&config("small-office.cfg")).unwrap();
    let ignored: Vec<(usize, &str)> = p.ignored.iter().map(|i| (i.line, i.reason)).collect();
    assert!(
        ignored.contains(&(5, "not enforced by Rampart")),
        "hostname: {ignored:?}"
    );
    assert!(
        ignored.contains(&(12, "interface setting not enforced by Rampart")),
        "ip address"
    );
    assert!(
        ignored
            .iter()
            .any(|&(l, r)| l == 36 && r.starts_with("global timeouts")),
        "timeout: {ignored:?}"
    );
    assert!(
        ignored
            .iter()
            .any(|&(l, r)| l == 41 && r == "application inspection is not implemented")
    );
    assert_eq!(p.config.access_lists[0].lines.len(), 4);
    assert_eq!(
        p.config.access_groups,
        vec![AccessGroup {
            acl: "OUTSIDE_IN".into(),
            interface: "outside".into()
        }]
    );
}

#[test]
fn dmz_settings_are_all_kept() {
    let p = parse_config(&config("dmz-web-farm.cfg")).unwrap();
    let pm = &p.config.policy_maps[0];
    assert_eq!(pm.classes.len(), 3);
    let s = pm.classes[0].connection;
    assert_eq!(
        (
            s.conn_max,
            s.embryonic_conn_max,
            s.per_client_max,
            s.per_client_embryonic_max
        ),
        (Some(50_000), Some(2000), Some(200), Some(20))
    );
    assert_eq!(s.timeout_idle, Some(Duration::from_secs(1800)));
    assert!(s.idle_reset);
    assert_eq!(pm.classes[1].connection.random_sequence_number, Some(false));
    assert_eq!(pm.classes[2].class, "class-default");
}

#[test]
fn edits_apply_in_order() {
    let p = parse_config(&config("edits.cfg")).unwrap();
    let acl = &p.config.access_lists[0];
    assert_eq!(acl.lines.len(), 4);
    assert_eq!(acl.lines[0], AclLine::Remark("inserted first".into()));
    assert!(matches!(&acl.lines[1], AclLine::Ace(a) if a.action == Action::Deny));
    assert_eq!(p.config.class_maps.len(), 1);
    let s = p.config.policy_maps[0].classes[0].connection;
    assert_eq!((s.conn_max, s.per_client_max), (Some(100), None));
    assert_eq!(p.config.service_policies.len(), 1);
}

#[test]
fn broken_variants_fail_where_they_break() {
    let cases: &[(&str, usize, usize, &str)] = &[
        (
            "access-list A permit tcp any host 198.18.0.1 eq",
            1,
            48,
            "expected port",
        ),
        (
            "access-list A permit tcp any host 198.18.0.1 eq wwww",
            1,
            49,
            "invalid port 'wwww' for tcp",
        ),
        (
            "access-list A allow tcp any any",
            1,
            15,
            "expected permit or deny, found 'allow'",
        ),
        (
            "access-list A permit foo any any",
            1,
            22,
            "expected protocol, found 'foo'",
        ),
        (
            "access-list A permit ip 198.18.0.1 255.255.255.0 any",
            1,
            25,
            "address has host bits set beyond the mask",
        ),
        (
            "access-list A permit ip 198.18.0.0 255.0.255.0 any",
            1,
            36,
            "the mask is not contiguous",
        ),
        (
            "access-list A permit ip any any extra",
            1,
            33,
            "unexpected 'extra' after end of command",
        ),
        (
            "access-list A permit icmp any any eq 80",
            1,
            35,
            "port conditions apply only to tcp, udp and sctp",
        ),
        (
            "access-group NOPE in interface outside",
            1,
            14,
            "access-list 'NOPE' is not defined",
        ),
        (
            "class-map class-default",
            1,
            11,
            "class-default is reserved",
        ),
        (
            "class-map C\n match any\n match port tcp eq 80",
            3,
            2,
            "a class-map takes one match command",
        ),
        (
            "policy-map P\n class MISSING",
            2,
            8,
            "class-map 'MISSING' is not defined",
        ),
        (
            "class-map C\n match any\npolicy-map P\n class C\n  set connection timeout idle 0:61:00",
            5,
            31,
            "invalid time '0:61:00', expected H:MM:SS",
        ),
        (
            "class-map C\n match any\npolicy-map P\n class C\n  set connection conn-max 3000000",
            5,
            27,
            "limits are 0-2000000",
        ),
        (
            "class-map C\n match any\npolicy-map P\n class C\n  set connection advanced-options MYMAP",
            5,
            35,
            "tcp-map 'MYMAP' is not defined; only tcp-state-bypass is supported",
        ),
        (
            "service-policy NOPE global",
            1,
            16,
            "policy-map 'NOPE' is not defined",
        ),
        ("frobnicate all", 1, 1, "unknown command 'frobnicate'"),
        (
            "interface G0\n security-level 101",
            2,
            17,
            "security-level must be 0-100",
        ),
        (
            "no access-list A permit ip any any",
            1,
            16,
            "no such access-list 'A'",
        ),
    ];
    for &(text, line, column, message) in cases {
        let e = errors(text);
        assert_eq!(e[0], (line, column, message.to_string()), "for:\n{text}");
    }
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let e = errors(
        "access-list A permit\nbogus\naccess-list B permit ip any any\naccess-list C deny tcp any",
    );
    assert_eq!(e.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 2, 4]);
}

// === round-trip property ===

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("A".to_string()),
        Just("B".to_string()),
        Just("C".to_string())
    ]
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

fn addr() -> impl Strategy<Value = AddrSpec> {
    prop_oneof![
        Just(AddrSpec::Any),
        Just(AddrSpec::Any4),
        Just(AddrSpec::Any6),
        any::<[u8; 4]>().prop_map(|a| AddrSpec::Host(Ipv4Addr::from(a).into())),
        (any::<u32>(), 0u32..=32).prop_map(|(a, l)| {
            let m = if l == 0 { 0 } else { u32::MAX << (32 - l) };
            AddrSpec::V4Net(Ipv4Addr::from(a & m), Ipv4Addr::from(m))
        }),
        (any::<u128>(), 0u8..=128).prop_map(|(a, l)| {
            let m = if l == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(l))
            };
            AddrSpec::V6Net((a & m).into(), l)
        }),
    ]
}

fn ace() -> impl Strategy<Value = Ace> {
    (
        prop_oneof![Just(Action::Permit), Just(Action::Deny)],
        prop_oneof![Just(6u8), Just(17), Just(1), Just(47), Just(200)],
        addr(),
        proptest::option::of(port_match()),
        addr(),
        proptest::option::of(port_match()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(action, p, source, sp, destination, dp, log, inactive)| {
            let ports = matches!(p, 6 | 17);
            Ace {
                action,
                protocol: ProtoSpec::Protocol(Protocol::Number(p)),
                source,
                source_port: sp.filter(|_| ports).map(PortSpec::Match),
                destination,
                destination_port: dp.filter(|_| ports).map(PortSpec::Match),
                log,
                inactive,
            }
        })
}

fn settings() -> impl Strategy<Value = ConnectionSettings> {
    let limit = proptest::option::of(0u32..=2_000_000);
    let timeout = |min: u64| {
        proptest::option::of(
            prop_oneof![Just(0u64), min..=1193 * 3600].prop_map(Duration::from_secs),
        )
    };
    (
        limit.clone(),
        limit.clone(),
        limit.clone(),
        limit,
        proptest::option::of(any::<bool>()),
        timeout(5),
        timeout(30),
        timeout(1),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(a, b, c, d, r, te, th, ti, reset, bypass)| ConnectionSettings {
                conn_max: a,
                embryonic_conn_max: b,
                per_client_max: c,
                per_client_embryonic_max: d,
                random_sequence_number: r,
                timeout_embryonic: te,
                timeout_half_closed: th,
                idle_reset: reset && ti.is_some(),
                timeout_idle: ti,
                tcp_state_bypass: bypass,
            },
        )
}

fn config_strategy() -> impl Strategy<Value = Config> {
    (
        proptest::collection::vec(
            prop_oneof![
                ace().prop_map(AclLine::Ace),
                "[a-z][a-z ]{0,20}[a-z]".prop_map(AclLine::Remark)
            ],
            1..8,
        ),
        proptest::collection::vec(
            (
                name(),
                prop_oneof![
                    Just(ClassMatch::Any),
                    Just(ClassMatch::AccessList("ACL".into())),
                    (
                        prop_oneof![Just(PortProtocol::Tcp), Just(PortProtocol::Udp)],
                        any::<u16>()
                    )
                        .prop_map(|(p, x)| ClassMatch::Port(p, PortMatch::Eq(x))),
                ],
            ),
            0..3,
        ),
        proptest::collection::vec(settings(), 0..3),
    )
        .prop_map(|(lines, maps, class_settings)| {
            let mut class_maps: Vec<ClassMap> = Vec::new();
            for (n, m) in maps {
                if !class_maps.iter().any(|c| c.name == n) {
                    class_maps.push(ClassMap {
                        name: n,
                        description: Some("a class".into()),
                        matcher: Some(m),
                    });
                }
            }
            let classes: Vec<PolicyClass> = class_maps
                .iter()
                .map(|c| c.name.clone())
                .chain(std::iter::once("class-default".to_string()))
                .zip(class_settings)
                .map(|(class, connection)| PolicyClass {
                    class,
                    connection,
                    inspects: vec![],
                })
                .collect();
            Config {
                access_lists: vec![AccessList {
                    name: "ACL".into(),
                    lines,
                }],
                class_maps,
                policy_maps: vec![PolicyMap {
                    name: "P".into(),
                    classes,
                }],
                service_policies: vec![ServicePolicy {
                    policy_map: "P".into(),
                    scope: ServiceScope::Global,
                }],
                ..Config::default()
            }
        })
}

proptest! {
    #[test]
    fn render_then_parse_is_identity(cfg in config_strategy()) {
        let text = render(&cfg);
        let back = parse_config(&text);
        prop_assert!(back.is_ok(), "{}\n{:?}", text, back.err());
        prop_assert_eq!(back.unwrap().config, cfg);
    }

    #[test]
    fn parser_never_panics(lines in proptest::collection::vec(
        proptest::collection::vec(prop_oneof![
            Just("access-list"), Just("permit"), Just("deny"), Just("tcp"), Just("ip"), Just("any"), Just("host"),
            Just("198.18.0.1"), Just("255.255.255.0"), Just("eq"), Just("range"), Just("www"), Just("80"),
            Just("class-map"), Just("match"), Just("policy-map"), Just("class"), Just("set"), Just("connection"),
            Just("timeout"), Just("idle"), Just("0:00:15"), Just("no"), Just("object-group"), Just("object"),
            Just("network"), Just("service"), Just("group-object"), Just("line"), Just("1"), Just("x"), Just("::/0"),
        ], 0..10).prop_map(|w| w.join(" ")),
        0..12,
    )) {
        let _ = parse_config(&lines.join("\n"));
    }
}
