//! Properties of the ASA configuration language over generated configs:
//! render → parse is the identity, and no input (keyword soup, mangled
//! rendered configs, arbitrary text) makes the parser panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use proptest::prelude::*;
use rampart_asa::ast::*;
use rampart_asa::parse::same_ace;
use rampart_asa::{parse_config, render};

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
const TCP_MAPS: &[&str] = &["TM1", "TM2"];

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
        // Not 0, which the parser refuses (use `ip`).
        (1u8..=u8::MAX).prop_map(Protocol::Number),
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
        proptest::option::of((any::<u8>(), proptest::option::of(any::<u8>()))),
    )
        .prop_map(|(protocol, source, destination, icmp)| {
            let ports = has_ports(protocol);
            ServiceValue {
                protocol,
                source: source.filter(|_| ports),
                destination: destination.filter(|_| ports),
                // `service icmp|icmp6 TYPE [CODE]` only.
                icmp: icmp
                    .filter(|_| matches!(protocol, Protocol::Number(1 | 58)))
                    .map(|(icmp_type, code)| IcmpMatch { icmp_type, code }),
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

/// An access-list's lines with each ACE once: entering an ACE again changes
/// the entry already there (docs/asa-behaviour.md §2.1), so a list never
/// holds two ACEs that differ only in `log` and `inactive`.
fn one_entry_per_ace(lines: Vec<AclLine>) -> Vec<AclLine> {
    let mut out: Vec<AclLine> = Vec::new();
    for l in lines {
        let again =
            |o: &AclLine| matches!((o, &l), (AclLine::Ace(a), AclLine::Ace(b)) if same_ace(a, b));
        if !out.iter().any(again) {
            out.push(l);
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
        (
            // Members that take ports, so ACEs may give ports after the
            // group: tcp and udp, which a tcp-udp port group covers.
            proptest::collection::vec(
                prop_oneof![Just(6u8), Just(17)]
                    .prop_map(|n| ProtocolMember::Protocol(Protocol::Number(n))),
                1..4,
            )
            .prop_map(dedup),
            // ICMP type groups: IT may include IT2.
            proptest::collection::vec(
                prop_oneof![
                    3 => any::<u8>().prop_map(IcmpTypeMember::Type),
                    1 => Just(IcmpTypeMember::Group("IT2".into())),
                ],
                0..4,
            )
            .prop_map(dedup),
            proptest::collection::vec(any::<u8>().prop_map(IcmpTypeMember::Type), 0..4)
                .prop_map(dedup),
        ),
    )
        .prop_map(
            |(on1, on2, os1, ng1, ng2, pt, pt2, pu, pb, sg, pr, (pp, it, it2))| {
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
                    ObjectGroup::Protocol {
                        name: "PP".into(),
                        members: pp,
                    },
                    ObjectGroup::IcmpType {
                        name: "IT".into(),
                        members: it,
                    },
                    ObjectGroup::IcmpType {
                        name: "IT2".into(),
                        members: it2,
                    },
                ];
                (objects, groups)
            },
        )
}

/// The time-ranges ACEs may name.
const TIME_RANGES: &[&str] = &["TR1", "TR2"];

/// [`TIME_RANGES`], their lines varying with `n`.
fn time_ranges(n: u64) -> Vec<TimeRange> {
    let t = |hour: u64, minute: u64| HhMm {
        hour: (hour % 24) as u8,
        minute: (minute % 60) as u8,
    };
    let at = |year: u64, month: u64, day: u64| LocalDateTime {
        year: 1993 + (year % 43) as u16,
        month: 1 + (month % 12) as u8,
        day: 1 + (day % 28) as u8,
        time: t(n, n * 7),
    };
    let days = [
        Days::Daily,
        Days::Weekdays,
        Days::Weekend,
        Days::List(vec![Weekday::Sunday, Weekday::Monday]),
    ];
    vec![
        TimeRange {
            name: "TR1".into(),
            absolute: (!n.is_multiple_of(3)).then(|| Absolute {
                start: n.is_multiple_of(2).then(|| at(0, n, n)),
                end: Some(at(42, n, n)),
            }),
            periodic: (0..n % 3)
                .map(|k| Periodic {
                    days: days[((n + k) % 4) as usize].clone(),
                    start: t(k, n),
                    end_day: None,
                    end: t(k + 12, n),
                })
                .collect(),
        },
        TimeRange {
            name: "TR2".into(),
            absolute: None,
            periodic: vec![Periodic {
                days: Days::List(vec![Weekday::from_index(n as u8)]),
                start: t(n, 0),
                end_day: Some(Weekday::from_index(n as u8 + 3)),
                end: t(n + 5, 59),
            }],
        },
    ]
}

/// A clock varying with `n`: none, a timezone, summer time of each form.
fn clock(n: u64) -> Clock {
    let zone = |hours: i8, minutes: u8| Timezone {
        zone: "Z".into(),
        negative: hours < 0,
        hours: hours.unsigned_abs(),
        minutes,
    };
    let summer = |rule, offset_minutes| SummerTime {
        zone: "S".into(),
        rule,
        offset_minutes,
    };
    let point = RecurringPoint {
        week: WeekOfMonth::Last,
        weekday: Weekday::Sunday,
        month: 3,
        time: HhMm { hour: 2, minute: 0 },
    };
    match n % 5 {
        0 => Clock::default(),
        1 => Clock {
            timezone: Some(zone(-5, 0)),
            summer_time: Some(summer(SummerRule::Recurring(None), 60)),
        },
        2 => Clock {
            timezone: Some(zone(-3, 30)),
            summer_time: None,
        },
        3 => Clock {
            timezone: Some(zone(10, 0)),
            summer_time: Some(summer(
                SummerRule::Recurring(Some((
                    RecurringPoint {
                        week: WeekOfMonth::Nth(1),
                        month: 10,
                        ..point
                    },
                    point,
                ))),
                30,
            )),
        },
        _ => Clock {
            timezone: None,
            summer_time: Some(summer(
                SummerRule::Date {
                    start: LocalDateTime {
                        year: 2026,
                        month: 3,
                        day: 1,
                        time: HhMm { hour: 2, minute: 0 },
                    },
                    end: LocalDateTime {
                        year: 2026,
                        month: 10,
                        day: 31,
                        time: HhMm { hour: 3, minute: 0 },
                    },
                },
                120,
            )),
        },
    }
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
        1 => Just(ProtoSpec::Group("PP".into())),
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
        prop_oneof![
            Just(AceLog::Default),
            Just(AceLog::On),
            Just(AceLog::Disable)
        ],
        (any::<bool>(), proptest::option::of(pick(TIME_RANGES))),
        proptest::option::of(prop_oneof![
            3 => (any::<u8>(), proptest::option::of(any::<u8>()))
                .prop_map(|(icmp_type, code)| IcmpSpec::Match(IcmpMatch { icmp_type, code })),
            1 => prop_oneof![Just("IT"), Just("IT2")].prop_map(|g| IcmpSpec::Group(g.into())),
        ]),
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
                (inactive, time_range),
                icmp,
            )| {
                // Which port groups fit: tcp ACEs take tcp and tcp-udp
                // groups, udp ACEs udp and tcp-udp, the protocol group
                // tcp-udp, sctp none; service objects and groups no ports.
                let fits = |p: &PortSpec| -> bool {
                    let PortSpec::Group(g) = p else { return true };
                    let kind = PORT_GROUPS.iter().find(|(n, _)| n == g).map(|&(_, k)| k);
                    match &protocol {
                        ProtoSpec::Protocol(Protocol::Number(6)) => kind != Some(PortProtocol::Udp),
                        ProtoSpec::Protocol(Protocol::Number(17)) => {
                            kind != Some(PortProtocol::Tcp)
                        }
                        // A port group after a protocol group must cover
                        // every member ({tcp, udp} here).
                        ProtoSpec::Group(_) => kind == Some(PortProtocol::TcpUdp),
                        // sctp ports are given on the line only.
                        ProtoSpec::Protocol(Protocol::Number(132)) => false,
                        _ => true,
                    }
                };
                let ports = match &protocol {
                    ProtoSpec::Protocol(p) => has_ports(*p),
                    ProtoSpec::Group(g) => g == "PP",
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
                    // A type (every number, printed by name where its
                    // family has one) and code after icmp and icmp6 only.
                    // An icmp-type group after icmp only.
                    icmp: icmp.filter(|i| {
                        matches!(
                            (&protocol, i),
                            (ProtoSpec::Protocol(Protocol::Number(1)), _)
                                | (
                                    ProtoSpec::Protocol(Protocol::Number(58)),
                                    IcmpSpec::Match(_)
                                )
                        )
                    }),
                    log,
                    time_range,
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
        proptest::option::of((1u64..=24 * 3600, 1u8..=255).prop_map(|(r, m)| Dcd {
            retry_interval: Duration::from_secs(r),
            max_retries: m,
        })),
    )
        .prop_map(|((a, b, c, d), r, (te, th, ti), reset, bypass, dcd)| {
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
                dcd,
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
            tcp_map: None,
        })
}

fn tcp_option_action() -> impl Strategy<Value = TcpOptionAction> {
    prop_oneof![
        Just(TcpOptionAction::Allow),
        Just(TcpOptionAction::Clear),
        Just(TcpOptionAction::Drop),
    ]
}

/// A kind `tcp-options range` may name: 6, 7, 9–255.
fn range_kind() -> impl Strategy<Value = u8> {
    prop_oneof![Just(6u8), Just(7), Just(9), Just(255), 9u8..=255]
}

/// A tcp-map named `name` with every setting drawn (its ranges distinct:
/// a range entered again is edited in place).
fn tcp_map(name: &'static str) -> impl Strategy<Value = TcpMap> {
    let range = (range_kind(), range_kind(), tcp_option_action()).prop_map(|(a, b, action)| {
        TcpOptionRange {
            lower: a.min(b),
            upper: a.max(b),
            action,
        }
    });
    (
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        proptest::option::of((1u8..=250, proptest::option::of(1u8..=20))),
        prop_oneof![
            Just(TcpOptionAction::Allow),
            Just(TcpOptionAction::Clear),
            Just(TcpOptionAction::Drop),
        ],
        any::<bool>(),
        proptest::collection::vec(range, 0..5),
    )
        .prop_map(
            move |((cv, em, sd, sa), (sack, ts, ws, ttl), queue, reserved, urg, ranges)| {
                let mut m = TcpMap::new(name);
                m.checksum_verification = cv;
                m.exceed_mss_drop = em;
                m.syn_data_drop = sd;
                m.synack_data_allow = sa;
                m.selective_ack_clear = sack;
                m.timestamp_clear = ts;
                m.window_scale_clear = ws;
                m.ttl_evasion_protection_off = ttl;
                m.queue_limit = queue.map(|(packets, timeout_secs)| QueueLimit {
                    packets,
                    timeout_secs,
                });
                m.reserved_bits = reserved;
                m.urgent_flag_allow = urg;
                for r in ranges {
                    if !m
                        .ranges
                        .iter()
                        .any(|o| (o.lower, o.upper) == (r.lower, r.upper))
                    {
                        m.ranges.push(r);
                    }
                }
                m
            },
        )
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
                        shutdown: false,
                        management_only: false,
                    })
                    .collect();
                if unnamed_extra {
                    interfaces.push(Interface {
                        hardware: "Management0/0".into(),
                        nameif: None,
                        security_level: extra_level,
                        // An unused port, shut as show run prints one.
                        shutdown: extra_level.is_none_or(|l| l % 2 == 0),
                        // A management port: no bridge group, no node
                        // interface.
                        management_only: extra_level.is_some_and(|l| l % 3 == 0),
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
                    lines: one_entry_per_ace(lines1),
                }];
                if let Some(lines) = lines2 {
                    access_lists.push(AccessList {
                        name: "ACL2".into(),
                        lines: one_entry_per_ace(lines),
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
                // Varies with the access-groups drawn: both settings occur.
                let same_security_inter_interface = access_groups.len() % 2 == 1;
                // Varies with the lists drawn: each timeout set or not, zero
                // (never) among the values.
                let n = (access_lists.len() + objects.len()) as u64;
                let at = |k: u64, min: u64| {
                    (!n.is_multiple_of(k)).then(|| {
                        std::time::Duration::from_secs(if n.is_multiple_of(5) {
                            0
                        } else {
                            min + n * 7
                        })
                    })
                };
                let timeouts = GlobalTimeouts {
                    conn: at(2, 300),
                    half_closed: at(3, 30),
                    udp: at(4, 60),
                    icmp: at(5, 2),
                };
                // Varies with the lists drawn too: each bound set or not,
                // at its bounds among the values (never at its default,
                // which reads back as no line).
                let tcpmss = TcpMss {
                    maximum: match n % 4 {
                        0 => None,
                        1 => Some(0),
                        2 => Some(48),
                        _ => Some(65535 - n as u16 % 7),
                    },
                    minimum: match n % 3 {
                        0 => None,
                        1 => Some(48 + n as u16 % 100),
                        _ => Some(65535),
                    },
                };
                // Out bindings: the in bindings' lists on the next
                // interface, when the lists drawn say so; a global binding
                // of the first list, likewise.
                let access_groups_out: Vec<AccessGroup> = if n.is_multiple_of(2) {
                    access_groups
                        .iter()
                        .zip(names.iter().cycle().skip(1))
                        .map(|(g, iface)| AccessGroup {
                            acl: g.acl.clone(),
                            interface: iface.clone(),
                        })
                        .collect()
                } else {
                    vec![]
                };
                let global_access_group = access_groups
                    .first()
                    .filter(|_| !n.is_multiple_of(3))
                    .map(|g| g.acl.clone());
                let base = Config {
                    names: Names::default(),
                    access_groups_out,
                    global_access_group,
                    time_ranges: time_ranges(n),
                    tcp_maps: vec![],
                    clock: clock(n),
                    same_security_inter_interface,
                    timeouts,
                    fragment: FragmentConfig::default(),
                    tcpmss,
                    interfaces,
                    objects,
                    object_groups: groups,
                    access_lists,
                    access_groups,
                    ethertype_lists: vec![],
                    ethertype_groups: vec![],
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
        .prop_flat_map(|cfg| (Just(cfg), ethertype_lines(), any::<bool>()))
        .prop_map(|(mut cfg, lines, bound)| {
            // A list of remarks alone would read back as an extended one:
            // an entry says its kind.
            if lines.iter().any(|l| matches!(l, EthertypeLine::Ace(_))) {
                cfg.ethertype_lists.push(EthertypeList {
                    name: "ETH".into(),
                    lines,
                });
                let iface = cfg
                    .interfaces
                    .iter()
                    .find_map(|i| i.nameif.clone())
                    .unwrap_or_else(|| IFACES[0].1.to_string());
                if bound {
                    cfg.ethertype_groups.push(AccessGroup {
                        acl: "ETH".into(),
                        interface: iface,
                    });
                }
            }
            cfg
        })
        // Boxed: the strategy's nested types otherwise make its values'
        // frames overflow a test thread's stack.
        .boxed()
        .prop_flat_map(|cfg| {
            (
                Just(cfg),
                proptest::sample::subsequence(TCP_MAPS.to_vec(), 0..=TCP_MAPS.len()),
                tcp_map(TCP_MAPS[0]),
                tcp_map(TCP_MAPS[1]),
                proptest::collection::vec(proptest::option::of(0..TCP_MAPS.len()), 8),
            )
        })
        .prop_map(|(mut cfg, names, first, second, uses)| {
            // Some of the maps, and classes applying a defined one.
            cfg.tcp_maps = [first, second]
                .into_iter()
                .filter(|m| names.contains(&m.name.as_str()))
                .collect();
            let classes = cfg.policy_maps.iter_mut().flat_map(|p| &mut p.classes);
            for (class, pick) in classes.zip(uses.into_iter().cycle()) {
                class.tcp_map = pick
                    .and_then(|i| cfg.tcp_maps.get(i))
                    .map(|m| m.name.clone());
            }
            cfg
        })
        .boxed()
        .prop_flat_map(|cfg| {
            (
                Just(cfg),
                fragment_settings(true),
                proptest::collection::vec((0..IFACES.len(), fragment_settings(false)), 0..4),
                // For the names (one step, not two: each adds to the
                // strategy's depth, and the stack is a test thread's).
                (
                    any::<u64>(),
                    proptest::collection::vec(any::<[u8; 4]>(), 0..3),
                    any::<bool>(),
                ),
            )
        })
        .prop_map(|(mut cfg, global, per_iface, (pick, spare, enabled))| {
            // With named interfaces, a line names one of them; without,
            // any name goes (the node configuration supplies them).
            let mut names: Vec<String> = cfg
                .interfaces
                .iter()
                .filter_map(|i| i.nameif.clone())
                .collect();
            if names.is_empty() {
                names = IFACES.iter().map(|&(_, n, _)| n.to_string()).collect();
            }
            cfg.fragment.global = global;
            for (i, s) in per_iface {
                if !s.is_empty() {
                    cfg.fragment
                        .interfaces
                        .insert(names[i % names.len()].clone(), s);
                }
            }
            cfg.names = names_for(&cfg, pick, spare, enabled);
            cfg
        })
}

/// `name` lines for some of the IPv4 addresses `cfg` writes where a name
/// may stand (an entry's `host A` and `A M`, a `network-object`'s), chosen
/// by the bits of `pick`, and for the `spare` ones nothing uses; on or
/// off. Rendered, the used ones print as names, which must parse back.
fn names_for(cfg: &Config, pick: u64, spare: Vec<[u8; 4]>, enabled: bool) -> Names {
    let v4 = |a: &AddrSpec| match a {
        AddrSpec::Host(IpAddr::V4(a)) | AddrSpec::V4Net(a, _) => Some(*a),
        _ => None,
    };
    let mut used: Vec<Ipv4Addr> = cfg
        .access_lists
        .iter()
        .flat_map(|l| &l.lines)
        .filter_map(|l| match l {
            AclLine::Ace(a) => Some([v4(&a.source), v4(&a.destination)]),
            AclLine::Remark(_) => None,
        })
        .flatten()
        .flatten()
        .collect();
    for g in &cfg.object_groups {
        if let ObjectGroup::Network { members, .. } = g {
            used.extend(members.iter().filter_map(|m| match m {
                NetworkMember::Address(NetworkValue::Host(IpAddr::V4(a)))
                | NetworkMember::Address(NetworkValue::V4Subnet(a, _)) => Some(*a),
                _ => None,
            }));
        }
    }
    let mut chosen: Vec<Ipv4Addr> = used
        .into_iter()
        .enumerate()
        .filter(|(i, _)| pick >> (i % 64) & 1 == 1)
        .map(|(_, a)| a)
        .chain(spare.into_iter().map(Ipv4Addr::from))
        .collect();
    // One name an address.
    let mut seen = std::collections::HashSet::new();
    chosen.retain(|a| seen.insert(*a));
    Names {
        enabled: enabled || chosen.is_empty() && pick & 1 == 1,
        entries: chosen
            .into_iter()
            .enumerate()
            .map(|(i, address)| NameEntry {
                address,
                name: format!("N{i}_host.{}", pick % 7),
                description: (i % 3 == 0).then(|| format!("box {i}")),
            })
            .collect(),
    }
}

/// One scope's `fragment` values, the bounds among them; for the lines
/// without an interface (`global`) never the ASA's default, which is no
/// line.
fn fragment_settings(global: bool) -> impl Strategy<Value = FragmentSettings> {
    let value = |max: u32, default: u32| {
        proptest::option::of(prop_oneof![Just(1), Just(max), Just(default), 1..=max])
            .prop_map(move |v| v.filter(|&v| !global || v != default))
    };
    (
        value(30_000, FRAGMENT_SIZE_DEFAULT),
        value(8_200, FRAGMENT_CHAIN_DEFAULT),
        value(30, FRAGMENT_TIMEOUT_DEFAULT_SECS),
    )
        .prop_map(|(size, chain, timeout)| FragmentSettings {
            size,
            chain,
            timeout,
        })
}

/// The lines of an EtherType access-list, each entry once.
fn ethertype_lines() -> impl Strategy<Value = Vec<EthertypeLine>> {
    let ethertype = prop_oneof![
        Just(Ethertype::Any),
        proptest::sample::select(vec![
            "bpdu",
            "ipx",
            "isis",
            "eii-ipx",
            "mpls-unicast",
            "mpls-multicast"
        ])
        .prop_map(|k| Ethertype::Keyword(k.into())),
        proptest::sample::select(vec!["bpdu", "ipx", "isis", "raw-ipx", "0x42", "ff"])
            .prop_map(|d| Ethertype::Dsap(d.into())),
        (0x0600u16..=0xffff)
            .prop_filter("not IPv4, ARP or IPv6", |n| !matches!(
                n,
                0x0800 | 0x0806 | 0x86dd
            ))
            .prop_map(Ethertype::Number),
    ];
    let line = prop_oneof![
        4 => (any::<bool>(), ethertype).prop_map(|(deny, ethertype)| {
            EthertypeLine::Ace(EthertypeAce {
                action: if deny { Action::Deny } else { Action::Permit },
                ethertype,
            })
        }),
        1 => text(100).prop_map(EthertypeLine::Remark),
    ];
    proptest::collection::vec(line, 0..6).prop_map(|lines| {
        let mut out: Vec<EthertypeLine> = Vec::new();
        for l in lines {
            if matches!(l, EthertypeLine::Remark(_)) || !out.contains(&l) {
                out.push(l);
            }
        }
        out
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
        // Only the inspect lines are listed as ignored, but for ICMP's,
        // which are enforced.
        let inspects: usize = cfg
            .policy_maps
            .iter()
            .flat_map(|p| &p.classes)
            .flat_map(|c| &c.inspects)
            .filter(|i| !matches!(i.as_str(), "icmp" | "icmp error"))
            .count();
        // And the EtherType permits, whose frames Rampart still drops.
        let permits = cfg
            .ethertype_lists
            .iter()
            .flat_map(|l| &l.lines)
            .filter(|l| matches!(l, EthertypeLine::Ace(a) if a.action == Action::Permit))
            .count();
        // And a tcp-map's checksum-verification and queue-limit lines, and
        // a map beside tcp-state-bypass (docs/asa-behaviour.md §6.1).
        let map_lines: usize = cfg
            .tcp_maps
            .iter()
            .map(|m| usize::from(m.checksum_verification) + usize::from(m.queue_limit.is_some()))
            .sum();
        let bypassed = cfg
            .policy_maps
            .iter()
            .flat_map(|p| &p.classes)
            .filter(|c| c.tcp_map.is_some() && c.connection.tcp_state_bypass)
            .count();
        prop_assert_eq!(back.ignored.len(), inspects + permits + map_lines + bypassed);
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
            "bpdu",
            "dsap",
            "8037",
            "management-only",
            "bridge-group",
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
            "echo",
            "echo-reply",
            "unreachable",
            "packet-too-big",
            "icmp-type",
            "icmp-object",
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
            "tcp-map",
            "TM1",
            "tcp-options",
            "selective-ack",
            "window-scale",
            "urgent-flag",
            "reserved-bits",
            "syn-data",
            "synack-data",
            "exceed-mss",
            "ttl-evasion-protection",
            "queue-limit",
            "allow",
            "clear",
            "drop",
            "19",
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
            "fragment",
            "size",
            "chain",
            "reassembly",
            "virtual",
            "full",
            "sysopt",
            "tcpmss",
            "minimum",
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
            "47",
            "48",
            "1380",
            "8200",
            "8201",
            "30000",
            "30001",
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
