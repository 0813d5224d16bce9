//! The compiled classifier against a direct reading of the parsed
//! configuration: random access-lists using every address form (any,
//! any4, any6, hosts, v4 masks, v6 prefixes, objects, ranges, nested
//! network groups, `interface`), protocols, ICMP types and codes, service
//! objects and groups,
//! protocol groups with ports, port groups, every port operator at the
//! edges of the port space, `inactive`, `time-range` (compiled with a
//! random set of ranges active) and remarks, each judged on random
//! IPv4 and IPv6 packets by `CompiledAcl::decide` and by the reference
//! below, which reads the AST as docs/asa-behaviour.md §2.1 states it. The
//! two must agree on every packet: the classifier neither over- nor
//! under-matches.
//!
//! Proptest draws a seed; the configuration and the packets come from it
//! (a small xorshift generator), so a failing seed replays exactly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rampart_dataplane::InterfaceConfig;
use rampart_dataplane::flow::Addr;
use rampart_dataplane::policy::ast::*;
use rampart_dataplane::policy::classifier::Probe;
use std::collections::BTreeSet;

use rampart_dataplane::policy::compile::compile_at;
use rampart_dataplane::policy::parse_config;

/// Packets judged per configuration.
const PROBES_PER_CONFIG: usize = 200;

/// xorshift64: the test's only source of choices after the seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
}

const V4_HOSTS: &[&str] = &[
    "10.0.0.1",
    "10.0.0.2",
    "10.0.1.1",
    "10.1.0.1",
    "192.168.0.1",
    "0.0.0.0",
    "255.255.255.255",
];
const V4_NETS: &[&str] = &[
    "10.0.0.0 255.255.255.0",
    "10.0.0.0 255.255.0.0",
    "10.0.0.0 255.0.0.0",
    "10.0.0.0 255.255.255.254",
    "0.0.0.0 0.0.0.0",
    "10.0.0.2 255.255.255.255",
    "192.168.0.0 255.255.255.128",
    "128.0.0.0 128.0.0.0",
];
const V6_HOSTS: &[&str] = &[
    "2001:db8::1",
    "2001:db8::2",
    "2001:db8:0:1::1",
    "::1",
    "::",
    "ffff::1",
];
const V6_NETS: &[&str] = &[
    "2001:db8::/64",
    "2001:db8::/32",
    "::/0",
    "2001:db8::/127",
    "2001:db8::1/128",
    "::/1",
    "8000::/1",
    "::/95",
];
const RANGES: &[&str] = &[
    "10.0.0.1 10.0.1.1",
    "10.0.0.2 10.0.0.2",
    "0.0.0.0 10.0.0.1",
    "2001:db8::1 2001:db8::ff",
    "::1 2001:db8::1",
    "10.0.0.0 255.255.255.255",
];
/// ICMP types the packets carry: each named type of both families, and
/// numbers around them.
const ICMP_TYPES: &[u8] = &[0, 1, 2, 3, 8, 11, 128, 129, 200, 255];
/// ICMP codes the entries name and the packets carry.
const ICMP_CODES: &[u8] = &[0, 1, 3, 4];

/// Ports at the edges of the space and around the usual ones.
const EDGE_PORTS: &[u16] = &[0, 1, 79, 80, 81, 443, 1023, 1024, 65534, 65535];

fn port_op(g: &mut Gen, all_ops: bool) -> String {
    let ops: &[&str] = if all_ops {
        &["eq", "neq", "lt", "gt", "range"]
    } else {
        &["eq", "range"]
    };
    match *g.pick(ops) {
        "range" => {
            let (a, b) = (*g.pick(EDGE_PORTS), *g.pick(EDGE_PORTS));
            format!("range {} {}", a.min(b), a.max(b))
        }
        "eq" if g.percent(20) => format!("eq {}", g.pick(&["www", "domain"])),
        op => format!("{op} {}", g.pick(EDGE_PORTS)),
    }
}

fn address(g: &mut Gen) -> String {
    match g.below(10) {
        0 => "any".into(),
        1 => "any4".into(),
        2 => "any6".into(),
        3 => format!("host {}", g.pick(V4_HOSTS)),
        4 => format!("host {}", g.pick(V6_HOSTS)),
        5 => g.pick(V4_NETS).to_string(),
        6 => g.pick(V6_NETS).to_string(),
        7 => format!("object N{}", g.below(4)),
        8 => format!("object-group G{}", g.below(4)),
        _ => "interface outside".into(),
    }
}

/// A configuration: objects, groups of every kind, and access-list `A`.
fn config_text(g: &mut Gen) -> String {
    // What the ranges say does not matter here: which are active is drawn.
    let mut s = String::from("time-range T0\n periodic weekdays 8:00 to 18:00\ntime-range T1\n");
    for i in 0..4 {
        let value = match g.below(5) {
            0 => format!("host {}", g.pick(V4_HOSTS)),
            1 => format!("host {}", g.pick(V6_HOSTS)),
            2 => format!("subnet {}", g.pick(V4_NETS)),
            3 => format!("subnet {}", g.pick(V6_NETS)),
            _ => format!("range {}", g.pick(RANGES)),
        };
        s += &format!("object network N{i}\n {value}\n");
    }
    for i in 0..3 {
        let proto = *g.pick(&["tcp", "udp", "icmp", "ip", "gre", "icmp6"]);
        let mut value = format!("service {proto}");
        if matches!(proto, "icmp" | "icmp6") && g.percent(60) {
            value += &icmp_argument(g, proto == "icmp6");
        }
        if matches!(proto, "tcp" | "udp") {
            if g.percent(50) {
                value += &format!(" source {}", port_op(g, true));
            }
            if g.percent(60) {
                value += &format!(" destination {}", port_op(g, true));
            }
        }
        s += &format!("object service S{i}\n {value}\n");
    }
    // Network groups; G<i> may hold only G<j> with j > i (no cycles).
    for i in 0..4 {
        s += &format!("object-group network G{i}\n");
        for _ in 0..g.below(4) {
            let member = match g.below(6) {
                0 => format!("network-object host {}", g.pick(V4_HOSTS)),
                1 => format!("network-object host {}", g.pick(V6_HOSTS)),
                2 => format!("network-object {}", g.pick(V4_NETS)),
                3 => format!("network-object {}", g.pick(V6_NETS)),
                4 => format!("network-object object N{}", g.below(4)),
                _ if i < 3 => format!("group-object G{}", i + 1 + g.below(3 - i)),
                _ => format!("network-object host {}", g.pick(V4_HOSTS)),
            };
            s += &format!(" {member}\n");
        }
    }
    for (name, kind) in [
        ("PT", "tcp"),
        ("PT2", "tcp"),
        ("PU", "udp"),
        ("PB", "tcp-udp"),
    ] {
        s += &format!("object-group service {name} {kind}\n");
        for _ in 0..1 + g.below(3) {
            s += &format!(" port-object {}\n", port_op(g, false));
        }
        if name == "PT" && g.percent(50) {
            s += " group-object PT2\n";
        }
    }
    s += "object-group protocol PR0\n protocol-object tcp\n protocol-object udp\n";
    s += "object-group protocol PR1\n protocol-object tcp\n";
    s += &format!(
        "object-group protocol PR2\n protocol-object {}\n group-object PR1\n",
        g.pick(&["icmp", "ip", "gre", "51", "tcp"])
    );
    // ICMP type groups: IT0 may hold IT1.
    for i in 0..2 {
        s += &format!("object-group icmp-type IT{i}\n");
        for _ in 0..1 + g.below(3) {
            let t = g.pick(&[
                "echo",
                "echo-reply",
                "unreachable",
                "time-exceeded",
                "0",
                "200",
            ]);
            s += &format!(" icmp-object {t}\n");
        }
        if i == 0 && g.percent(50) {
            s += " group-object IT1\n";
        }
    }
    s += "object-group service SG1\n";
    for _ in 0..1 + g.below(3) {
        let member = match g.below(5) {
            0 => format!("service-object tcp destination {}", port_op(g, true)),
            1 => format!("service-object udp source {}", port_op(g, true)),
            2 => format!(
                "service-object {}",
                g.pick(&["icmp", "ip", "tcp", "icmp6", "gre"])
            ),
            3 => {
                let v6 = g.percent(50);
                let family = if v6 { "icmp6" } else { "icmp" };
                format!("service-object {family}{}", icmp_argument(g, v6))
            }
            _ => format!("service-object tcp-udp destination {}", port_op(g, true)),
        };
        s += &format!(" {member}\n");
    }
    s += &format!(
        "object-group service SG0\n service-object object S{}\n group-object SG1\n",
        g.below(3)
    );
    for _ in 0..1 + g.below(8) {
        let action = *g.pick(&["permit", "deny"]);
        // The protocol, and which port groups may follow it.
        let (proto, port_kind): (String, Option<&str>) = match g.below(11) {
            0 => ("ip".into(), None),
            9 | 10 => (g.pick(&["icmp", "icmp6"]).to_string(), None),
            1 => ("tcp".into(), Some("tcp")),
            2 => ("udp".into(), Some("udp")),
            3 => (g.pick(&["icmp", "icmp6", "gre", "51"]).to_string(), None),
            4 => (format!("object S{}", g.below(3)), None),
            5 => ("object-group SG0".into(), None),
            6 => ("object-group PR0".into(), Some("tcp-udp")),
            7 => ("object-group PR1".into(), Some("tcp")),
            _ => ("object-group PR2".into(), None),
        };
        let src = address(g);
        let dst = address(g);
        let (mut sport, mut dport) = (String::new(), String::new());
        if let Some(kind) = port_kind {
            let ports = |g: &mut Gen| {
                if g.percent(30) {
                    let group = match kind {
                        "tcp" => *g.pick(&["PT", "PB"]),
                        "udp" => *g.pick(&["PU", "PB"]),
                        _ => "PB",
                    };
                    format!(" object-group {group}")
                } else {
                    format!(" {}", port_op(g, true))
                }
            };
            if g.percent(30) {
                sport = ports(g);
            }
            if g.percent(60) {
                dport = ports(g);
            }
        }
        // An ICMP type (by name or number) and maybe a code, after icmp
        // and icmp6 only.
        // Or, after icmp, an icmp-type group.
        let mut icmp = String::new();
        if proto == "icmp" && g.percent(25) {
            icmp = format!(" object-group IT{}", g.below(2));
        } else if matches!(proto.as_str(), "icmp" | "icmp6") && g.percent(60) {
            icmp = icmp_argument(g, proto == "icmp6");
        }
        let inactive = if g.percent(10) { " inactive" } else { "" };
        let timed = if g.percent(20) {
            format!(" time-range T{}", g.below(2))
        } else {
            String::new()
        };
        s += &format!(
            "access-list A {action} {proto} {src}{sport} {dst}{dport}{icmp}{timed}{inactive}\n"
        );
        if g.percent(10) {
            s += "access-list A remark r\n";
        }
    }
    s
}

/// ` TYPE [CODE]` of an `icmp` (`v6` false) or `icmp6` entry or service.
fn icmp_argument(g: &mut Gen, v6: bool) -> String {
    let names: &[&str] = if v6 {
        &[
            "echo",
            "echo-reply",
            "unreachable",
            "packet-too-big",
            "128",
            "0",
            "1",
        ]
    } else {
        &[
            "echo",
            "echo-reply",
            "unreachable",
            "time-exceeded",
            "0",
            "8",
            "200",
        ]
    };
    let mut s = format!(" {}", g.pick(names));
    if g.percent(40) {
        s += &format!(" {}", g.pick(ICMP_CODES));
    }
    s
}

// === the reference: the AST read directly ===

fn in_network(v6: bool, a: Addr, net: &NetworkValue) -> bool {
    let ip = a.ip();
    match *net {
        NetworkValue::Host(h) => h == ip && h.is_ipv6() == v6,
        NetworkValue::V4Subnet(n, m) => match ip {
            IpAddr::V4(x) if !v6 => u32::from(x) & u32::from(m) == u32::from(n),
            _ => false,
        },
        NetworkValue::V6Subnet(n, len) => match ip {
            IpAddr::V6(x) if v6 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                u128::from(x) & mask == u128::from(n)
            }
            _ => false,
        },
        NetworkValue::Range(lo, hi) => match (lo, hi, ip) {
            (IpAddr::V4(lo), IpAddr::V4(hi), IpAddr::V4(x)) if !v6 => lo <= x && x <= hi,
            (IpAddr::V6(lo), IpAddr::V6(hi), IpAddr::V6(x)) if v6 => lo <= x && x <= hi,
            _ => false,
        },
    }
}

fn object<'a>(c: &'a Config, name: &str) -> &'a Object {
    c.objects
        .iter()
        .find(|o| rampart_dataplane::policy::parse::object_name(o) == name)
        .expect("the parser resolved it")
}

fn group<'a>(c: &'a Config, name: &str) -> &'a ObjectGroup {
    c.object_groups
        .iter()
        .find(|g| rampart_dataplane::policy::parse::group_name(g) == name)
        .expect("the parser resolved it")
}

fn address_matches(c: &Config, spec: &AddrSpec, v6: bool, a: Addr) -> bool {
    match spec {
        AddrSpec::Any => true,
        AddrSpec::Any4 => !v6,
        AddrSpec::Any6 => v6,
        AddrSpec::Host(h) => in_network(v6, a, &NetworkValue::Host(*h)),
        AddrSpec::V4Net(n, m) => in_network(v6, a, &NetworkValue::V4Subnet(*n, *m)),
        AddrSpec::V6Net(n, l) => in_network(v6, a, &NetworkValue::V6Subnet(*n, *l)),
        AddrSpec::Object(name) => match object(c, name) {
            Object::Network { value, .. } => in_network(v6, a, value),
            Object::Service { .. } => unreachable!("a network object"),
        },
        AddrSpec::Group(name) => match group(c, name) {
            ObjectGroup::Network { members, .. } => members.iter().any(|m| match m {
                NetworkMember::Address(v) => in_network(v6, a, v),
                NetworkMember::Object(o) => address_matches(c, &AddrSpec::Object(o.clone()), v6, a),
                NetworkMember::Group(g) => address_matches(c, &AddrSpec::Group(g.clone()), v6, a),
            }),
            _ => unreachable!("a network group"),
        },
        // Transit traffic is never addressed to the bridge itself.
        AddrSpec::Interface(_) => false,
    }
}

fn port_matches(m: &PortMatch, p: u16) -> bool {
    match *m {
        PortMatch::Eq(x) => p == x,
        PortMatch::Neq(x) => p != x,
        PortMatch::Lt(x) => p < x,
        PortMatch::Gt(x) => p > x,
        PortMatch::Range(a, b) => a <= p && p <= b,
    }
}

fn port_spec_matches(c: &Config, spec: &PortSpec, p: u16) -> bool {
    match spec {
        PortSpec::Match(m) => port_matches(m, p),
        PortSpec::Group(name) => match group(c, name) {
            ObjectGroup::Service {
                members,
                protocol: Some(_),
                ..
            } => members.iter().any(|m| match m {
                ServiceMember::Port(pm) => port_matches(pm, p),
                ServiceMember::Group(g) => port_spec_matches(c, &PortSpec::Group(g.clone()), p),
                _ => false,
            }),
            _ => unreachable!("a port group"),
        },
    }
}

fn protocol_matches(p: Protocol, n: u8) -> bool {
    match p {
        Protocol::Ip => true,
        Protocol::Number(x) => x == n,
    }
}

/// The entry's own ports, after a protocol that takes them.
fn entry_ports_match(c: &Config, ace: &Ace, pr: &Probe) -> bool {
    ace.source_port
        .as_ref()
        .is_none_or(|s| port_spec_matches(c, s, pr.sport))
        && ace
            .destination_port
            .as_ref()
            .is_none_or(|s| port_spec_matches(c, s, pr.dport))
}

/// A type and code of ICMP (`v6` false) or ICMPv6: the probe is a
/// message of that family, of the type, and of the code if one is named.
fn icmp_match_matches(m: &IcmpMatch, v6: bool, pr: &Probe) -> bool {
    pr.v6 == v6
        && pr.sport == u16::from(m.icmp_type)
        && m.code.is_none_or(|c| pr.dport == u16::from(c))
}

/// The types of an icmp-type group, nested groups included.
fn group_has_type(c: &Config, name: &str, t: u16) -> bool {
    let ObjectGroup::IcmpType { members, .. } = group(c, name) else {
        unreachable!("an icmp-type group");
    };
    members.iter().any(|m| match m {
        IcmpTypeMember::Type(x) => u16::from(*x) == t,
        IcmpTypeMember::Group(g) => group_has_type(c, g, t),
    })
}

fn service_matches(v: &ServiceValue, pr: &Probe) -> bool {
    if let Some(m) = &v.icmp {
        let v6 = v.protocol == Protocol::Number(58);
        return protocol_matches(v.protocol, pr.proto) && icmp_match_matches(m, v6, pr);
    }
    protocol_matches(v.protocol, pr.proto)
        && v.source.as_ref().is_none_or(|m| port_matches(m, pr.sport))
        && v.destination
            .as_ref()
            .is_none_or(|m| port_matches(m, pr.dport))
}

fn group_service_matches(c: &Config, name: &str, ace: &Ace, pr: &Probe) -> bool {
    match group(c, name) {
        ObjectGroup::Protocol { members, .. } => members.iter().any(|m| match m {
            ProtocolMember::Protocol(p) => {
                protocol_matches(*p, pr.proto) && entry_ports_match(c, ace, pr)
            }
            ProtocolMember::Group(g) => group_service_matches(c, g, ace, pr),
        }),
        ObjectGroup::Service {
            members,
            protocol: None,
            ..
        } => members.iter().any(|m| match m {
            ServiceMember::Service(v) => service_matches(v, pr),
            ServiceMember::Object(o) => match object(c, o) {
                Object::Service { value, .. } => service_matches(value, pr),
                Object::Network { .. } => false,
            },
            ServiceMember::Group(g) => group_service_matches(c, g, ace, pr),
            ServiceMember::Port(_) => false,
        }),
        _ => unreachable!("a protocol or service group"),
    }
}

/// An ICMP type condition: the message is ICMP of the entry's own family
/// (`icmp` IPv4, `icmp6` IPv6; a packet without an ICMP header of its
/// family has no type), of the type, and of the code if one is named.
fn icmp_matches(c: &Config, ace: &Ace, pr: &Probe) -> bool {
    let Some(spec) = &ace.icmp else {
        return true;
    };
    let family = match ace.protocol {
        ProtoSpec::Protocol(Protocol::Number(1)) => false,
        ProtoSpec::Protocol(Protocol::Number(58)) => true,
        _ => unreachable!("types follow icmp or icmp6 only"),
    };
    match spec {
        IcmpSpec::Match(m) => icmp_match_matches(m, family, pr),
        // An icmp-type group: ICMP (IPv4) of one of its types, any code.
        IcmpSpec::Group(g) => !pr.v6 && group_has_type(c, g, pr.sport),
    }
}

fn entry_matches(c: &Config, active: &BTreeSet<String>, ace: &Ace, pr: &Probe) -> bool {
    // An entry whose time-range is not active matches nothing
    // (docs/asa-behaviour.md §2.10).
    let timed_out = ace.time_range.as_ref().is_some_and(|t| !active.contains(t));
    if ace.inactive || timed_out || !icmp_matches(c, ace, pr) {
        return false;
    }
    let service = match &ace.protocol {
        ProtoSpec::Protocol(p) => protocol_matches(*p, pr.proto) && entry_ports_match(c, ace, pr),
        ProtoSpec::Object(o) => match object(c, o) {
            Object::Service { value, .. } => service_matches(value, pr),
            Object::Network { .. } => unreachable!("a service object"),
        },
        ProtoSpec::Group(g) => group_service_matches(c, g, ace, pr),
    };
    service
        && address_matches(c, &ace.source, pr.v6, pr.src)
        && address_matches(c, &ace.destination, pr.v6, pr.dst)
}

/// First match: `Some(true)` permit, `Some(false)` deny, `None` no entry.
fn reference(c: &Config, active: &BTreeSet<String>, acl: &AccessList, pr: &Probe) -> Option<bool> {
    acl.lines.iter().find_map(|l| match l {
        AclLine::Ace(a) if entry_matches(c, active, a, pr) => Some(a.action == Action::Permit),
        _ => None,
    })
}

fn packet(g: &mut Gen) -> Probe {
    let v6 = g.percent(50);
    let address = |g: &mut Gen| -> Addr {
        if v6 {
            let ip: Ipv6Addr = if g.percent(70) {
                g.pick(V6_HOSTS).parse().expect("literal")
            } else {
                Ipv6Addr::from(u128::from(g.next()) << 64 | u128::from(g.next()))
            };
            // IPv4-mapped addresses are dropped on the wire before any rule.
            let ip = if ip.to_ipv4_mapped().is_some() {
                Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9)
            } else {
                ip
            };
            Addr::v6(ip.octets())
        } else {
            let ip: Ipv4Addr = if g.percent(70) {
                g.pick(V4_HOSTS).parse().expect("literal")
            } else {
                Ipv4Addr::from(g.next() as u32)
            };
            Addr::v4(ip.octets())
        }
    };
    let proto = *g.pick(&[6u8, 17, 1, 58, 47, 51, 6, 17, 1, 58]);
    // An ICMP message of the packet's family shows its type and code
    // where the ports go (`Probe::of_packet`); ICMP of the other family
    // is a protocol without ports there.
    let icmp = matches!((proto, v6), (1, false) | (58, true));
    let (t, code) = (*g.pick(ICMP_TYPES), *g.pick(ICMP_CODES));
    let mut icmp_field = [u16::from(t), u16::from(code)].into_iter();
    let mut port = |g: &mut Gen| -> u16 {
        if icmp {
            icmp_field.next().expect("two fields")
        } else if !matches!(proto, 6 | 17) {
            0
        } else if g.percent(80) {
            *g.pick(&[0u16, 1, 53, 79, 80, 81, 443, 1023, 1024, 65534, 65535])
        } else {
            g.next() as u16
        }
    };
    Probe {
        v6,
        proto,
        src: address(g),
        dst: address(g),
        sport: port(g),
        dport: port(g),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The compiled access-list decides every packet as the reference does.
    #[test]
    fn the_classifier_agrees_with_the_configuration(seed in any::<u64>()) {
        // xorshift never leaves 0.
        let mut g = Gen(seed | 1);
        let text = config_text(&mut g);
        // Some random configurations are refused (a port group of the
        // wrong protocol after a protocol group, …): nothing to compare.
        let Ok(parsed) = parse_config(&text) else { return Ok(()) };
        let cfg = parsed.config;
        let Some(acl) = cfg.access_lists.iter().find(|a| a.name == "A") else {
            return Ok(());
        };
        // Every generated configuration is within the bounds (a range is
        // one span, not the blocks that cover it): a refusal is a failure.
        let active: BTreeSet<String> =
            ["T0", "T1"].into_iter().filter(|_| g.percent(50)).map(str::to_string).collect();
        let policy = match compile_at(&cfg, &InterfaceConfig::inside_outside(), &active) {
            Ok(policy) => policy,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n{text}"))),
        };
        let compiled = policy.acls().iter().find(|a| a.name == "A").expect("compiled");
        for _ in 0..PROBES_PER_CONFIG {
            let pr = packet(&mut g);
            prop_assert_eq!(
                compiled.decide(&pr),
                reference(&cfg, &active, acl, &pr),
                "packet {:?} ({} -> {})\n{}",
                pr,
                pr.src.ip(),
                pr.dst.ip(),
                text
            );
        }
    }
}
