//! `packet-tracer` against real engines: each trace names the step that
//! decides, and its verdict is the one the engine gives the same packet
//! (the traced frame, processed after the trace).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::conntrack::NodeId;
use crate::engine::EngineConfig;
use crate::engine::fragment::WorkerShare;
use crate::policy::compile::{AclBinding, compile};
use crate::policy::parse_config;
use crate::trace::{Side, TcpModel, udp_frame, v4_pair, vlan_tagged};

const IN: IfaceId = IfaceId(0);
const OUT: IfaceId = IfaceId(1);
const NOW: Instant = Instant::from_secs(1000);

/// An access-group on `outside`: a remark, a deny, two permits for IPv4
/// and one for IPv6.
const OUT_IN: &str = "access-list OUT_IN remark ssh to the inside hosts, not the jump host
access-list OUT_IN extended deny tcp any host 198.18.0.9 eq ssh
access-list OUT_IN extended permit tcp any 198.18.0.0 255.255.255.0 eq ssh
access-list OUT_IN extended permit udp any any eq domain
access-list OUT_IN extended permit tcp any6 any6 eq https
access-group OUT_IN in interface outside
";

/// Two classes: bypass for SMB (by access-list), limits for the web.
const CLASSES: &str = "access-list byp extended deny tcp any host 198.18.1.99 eq 445
access-list byp extended permit tcp any any eq 445
class-map byp
 match access-list byp
class-map web
 match port tcp eq 80
policy-map global_policy
 class byp
  set connection per-client-max 100
  set connection timeout idle 0:05:00
  set connection advanced-options tcp-state-bypass
 class web
  set connection conn-max 1000 embryonic-conn-max 50
  set connection random-sequence-number disable
service-policy global_policy global
";

const NOT_RANDOMIZED: &str = "policy-map global_policy
 class class-default
  set connection random-sequence-number disable
service-policy global_policy global
";

fn engine_with(cfg: EngineConfig, policy: &str) -> Engine {
    let mut e = Engine::new(cfg).unwrap();
    let p = compile(
        &parse_config(policy).unwrap().config,
        &e.config().interfaces,
    )
    .unwrap();
    e.set_policy(Arc::new(p)).unwrap();
    e
}

fn engine(policy: &str) -> Engine {
    engine_with(EngineConfig::inside_outside(NodeId(1), [3; 4]), policy)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn req(ingress: IfaceId, src: &str, dst: &str, packet: TracePacket) -> TraceRequest {
    TraceRequest {
        ingress,
        vlan: 0,
        src: ip(src),
        dst: ip(dst),
        packet,
    }
}

fn tcp(ingress: IfaceId, src: &str, sport: u16, dst: &str, dport: u16) -> TraceRequest {
    req(ingress, src, dst, TracePacket::Tcp { sport, dport })
}

fn udp(ingress: IfaceId, src: &str, sport: u16, dst: &str, dport: u16) -> TraceRequest {
    req(ingress, src, dst, TracePacket::Udp { sport, dport })
}

fn icmp(ingress: IfaceId, src: &str, icmp_type: u8, dst: &str) -> TraceRequest {
    let packet = TracePacket::Icmp {
        icmp_type,
        code: 0,
        ident: 7,
    };
    req(ingress, src, dst, packet)
}

/// Trace `r`, then give the engine the same packet: the trace's verdict
/// must be the engine's.
fn traced(e: &mut Engine, r: &TraceRequest) -> Trace {
    let t = e.packet_trace(r, NOW).unwrap();
    let mut f = frame(r);
    let got = e.process(&mut f, PacketMeta::default(), r.ingress, NOW);
    let want = match t.verdict {
        Ok(()) => Verdict::Forward { egress: t.egress },
        Err(reason) => Verdict::Drop(reason),
    };
    assert_eq!(got, want, "{r:?}: {t:#?}");
    t
}

fn access(t: &Trace) -> Admission {
    t.steps
        .iter()
        .find_map(|s| match s {
            Step::Access(a) => Some(*a),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no access step: {t:#?}"))
}

fn settings(t: &Trace) -> Settings {
    t.steps
        .iter()
        .find_map(|s| match s {
            Step::ConnSettings(c) => Some(*c),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no settings step: {t:#?}"))
}

fn class_index(e: &Engine, name: &str) -> usize {
    e.policy()
        .classes()
        .iter()
        .position(|c| c.name == name)
        .unwrap()
}

const HIT: fn(u32, usize, bool) -> Option<AclHit> = |rule, entry, permit| {
    Some(AclHit {
        rule,
        entry,
        permit,
    })
};

// === the access rules ===

/// A SYN the access-group permits names the entry by its line (the
/// remark counted), then its settings and the connection it opens.
#[test]
fn the_permitting_entry_is_named_by_its_line() {
    let mut e = engine(OUT_IN);
    let t = traced(&mut e, &tcp(OUT, "198.18.1.10", 40_000, "198.18.0.10", 22));
    assert_eq!(t.verdict, Ok(()));
    assert_eq!((t.ingress, t.egress), (OUT, IN));
    let settings = settings(&t);
    assert_eq!(
        t.steps,
        [
            Step::FlowLookup(Lookup::NotFound),
            Step::Access(Admission::AccessGroup {
                acl: 0,
                binding: AclBinding::In,
                hit: HIT(1, 3, true),
                passed_over: None,
            }),
            Step::ConnSettings(settings),
            Step::FlowCreation(NewFlow::Inspected {
                randomized: true,
                deferred: false
            }),
        ]
    );
    assert_eq!(settings.decision.class, None);
    assert_eq!(
        settings.timeouts,
        SettingTimeouts {
            embryonic: Some(Duration::from_secs(30)),
            idle: Duration::from_secs(3600),
            half_closed: Some(Duration::from_secs(600)),
        }
    );
    // IPv6, by its own entry.
    let t = traced(
        &mut e,
        &tcp(OUT, "2001:db8:1::10", 40_000, "2001:db8::10", 443),
    );
    assert_eq!(
        access(&t),
        Admission::AccessGroup {
            acl: 0,
            binding: AclBinding::In,
            hit: HIT(3, 5, true),
            passed_over: None,
        }
    );
}

/// A deny entry and the implicit deny stop the trace at the rules,
/// `acl-drop`.
#[test]
fn a_deny_entry_or_the_implicit_deny_drops_at_the_rules() {
    let mut e = engine(OUT_IN);
    let t = traced(&mut e, &tcp(OUT, "198.18.1.10", 40_000, "198.18.0.9", 22));
    assert_eq!(t.verdict, Err(DropReason::AclDeny));
    assert_eq!(
        t.steps,
        [
            Step::FlowLookup(Lookup::NotFound),
            Step::Access(Admission::AccessGroup {
                acl: 0,
                binding: AclBinding::In,
                hit: HIT(0, 2, false),
                passed_over: None,
            }),
        ]
    );
    let t = traced(&mut e, &tcp(OUT, "198.18.1.10", 40_000, "198.18.0.10", 23));
    assert_eq!(t.verdict, Err(DropReason::AclDeny));
    assert_eq!(
        access(&t),
        Admission::AccessGroup {
            acl: 0,
            binding: AclBinding::In,
            hit: None,
            passed_over: None,
        }
    );
}

/// Without an access-group the security levels decide: higher to lower
/// only.
#[test]
fn without_an_access_group_the_security_levels_decide() {
    let mut e = engine("");
    let t = traced(&mut e, &tcp(IN, "198.18.0.10", 40_000, "198.18.1.10", 80));
    assert_eq!(
        access(&t),
        Admission::SecurityLevels {
            ingress: 100,
            egress: 0
        }
    );
    assert_eq!(t.verdict, Ok(()));
    let t = traced(&mut e, &tcp(OUT, "198.18.1.10", 40_000, "198.18.0.10", 80));
    assert_eq!(
        access(&t),
        Admission::SecurityLevels {
            ingress: 0,
            egress: 100
        }
    );
    assert_eq!(t.verdict, Err(DropReason::AclDeny));
}

/// Equal levels pass nothing without `same-security-traffic permit
/// inter-interface`, and everything with it (no access-group).
#[test]
fn equal_levels_need_same_security_traffic() {
    let equal = "interface GigabitEthernet0/1\n nameif outside\n security-level 100\n!\n";
    let mut e = engine(equal);
    let r = tcp(IN, "198.18.0.10", 40_000, "198.18.1.10", 80);
    let t = traced(&mut e, &r);
    assert_eq!(access(&t), Admission::SameSecurity { level: 100 });
    assert_eq!(t.verdict, Err(DropReason::AclDeny));
    let mut e = engine(&format!(
        "{equal}same-security-traffic permit inter-interface\n"
    ));
    let t = traced(&mut e, &r);
    assert_eq!(
        access(&t),
        Admission::SecurityLevels {
            ingress: 100,
            egress: 100
        }
    );
    assert_eq!(t.verdict, Ok(()));
}

// === before any rule ===

/// A shut interface, the packet's own or the one it would leave by,
/// drops it before anything (`interface-down`); an EtherType `deny any`
/// on the ingress interface too (`l2_acl`).
#[test]
fn a_shut_interface_or_an_ethertype_deny_drops_before_the_rules() {
    let mut e = engine("interface GigabitEthernet0/1\n nameif outside\n shutdown\n!\n");
    let t = traced(&mut e, &tcp(IN, "198.18.0.10", 40_000, "198.18.1.10", 80));
    assert_eq!(t.verdict, Err(DropReason::InterfaceDown));
    assert_eq!((t.ingress_shut, t.egress_shut), (false, true));
    assert_eq!(t.steps, []);
    let mut e = engine("access-list L2 ethertype deny any\naccess-group L2 in interface outside\n");
    let t = traced(&mut e, &udp(OUT, "198.18.1.10", 53, "198.18.0.10", 5353));
    assert_eq!(t.verdict, Err(DropReason::EthertypeDeny));
    assert_eq!(t.steps, [Step::EthertypeDeny]);
    // The other way is not gated.
    let t = traced(&mut e, &udp(IN, "198.18.0.10", 5353, "198.18.1.10", 53));
    assert_eq!(t.verdict, Ok(()));
}

/// A shunned source is dropped before anything else judges it, on the
/// interface or VLAN its shun names only (docs/asa-behaviour.md §2.12).
#[test]
fn a_shunned_source_drops_first_in_its_scope_only() {
    use crate::shun::{Shun, ShunScope, ShunTable};
    let mut e = engine(OUT_IN);
    let shun = |scope| Shun {
        source: ip("198.18.1.10"),
        conn: None,
        scope,
    };
    e.set_shuns(Arc::new(ShunTable::new(vec![
        shun(ShunScope::Interface(OUT)),
        shun(ShunScope::Vlan(12)),
    ])));
    let t = traced(&mut e, &udp(OUT, "198.18.1.10", 53, "198.18.0.10", 5353));
    assert_eq!(t.verdict, Err(DropReason::Shunned));
    assert_eq!(t.steps, [Step::Shunned]);
    // From the inside on no VLAN, another source, or to it: not shunned.
    for r in [
        udp(IN, "198.18.1.10", 53, "198.18.0.10", 5353),
        udp(OUT, "198.18.1.11", 53, "198.18.0.10", 5353),
        udp(IN, "198.18.0.10", 5353, "198.18.1.10", 53),
    ] {
        assert!(!traced(&mut e, &r).steps.contains(&Step::Shunned), "{r:?}");
    }
    let mut tagged = udp(IN, "198.18.1.10", 53, "198.18.0.10", 5353);
    tagged.vlan = 12;
    assert_eq!(e.packet_trace(&tagged, NOW).unwrap().steps, [Step::Shunned]);
}

/// A source no host sends from, or a land packet, fails the checks made
/// before any rule (`sp-security-failed`, docs/asa-behaviour.md §7.1).
#[test]
fn a_source_no_host_sends_from_fails_before_the_rules() {
    let mut e = engine("");
    for (src, dst) in [
        ("224.0.0.1", "198.18.1.10"),
        ("198.18.1.10", "198.18.1.10"),
        ("ff02::1", "2001:db8:1::10"),
    ] {
        let t = traced(&mut e, &tcp(IN, src, 40_000, dst, 80));
        assert_eq!(t.verdict, Err(DropReason::InvalidSource), "{src}");
        assert_eq!(t.steps, [Step::InputCheck(DropReason::InvalidSource)]);
    }
}

/// A node that has not joined its cluster forwards nothing.
#[test]
fn a_node_not_ready_forwards_nothing() {
    let mut e = engine("");
    e.await_cluster_policy();
    let t = traced(&mut e, &tcp(IN, "198.18.0.10", 40_000, "198.18.1.10", 80));
    assert_eq!(t.verdict, Err(DropReason::ClusterNotReady));
    assert_eq!(t.steps, [Step::NotReady]);
}

// === connection settings ===

/// The class that gives a connection its settings is named with the
/// entry of its access-list; a bypass class opens a `b` entry with its
/// idle timeout; a port class gives its limits and no randomization.
#[test]
fn the_class_that_sets_the_connection_is_named_with_its_settings() {
    let mut e = engine(CLASSES);
    let (byp, web) = (
        class_index(&e, "global_policy/byp"),
        class_index(&e, "global_policy/web"),
    );
    let t = traced(&mut e, &tcp(IN, "198.18.0.10", 40_000, "198.18.1.10", 445));
    let s = settings(&t);
    assert_eq!(s.decision.class, Some(byp));
    assert!(s.decision.options.tcp_state_bypass);
    assert_eq!(s.decision.options.per_client_max, 100);
    assert_eq!(s.class_acl, Some((0, HIT(1, 2, true))));
    assert_eq!(
        s.timeouts,
        SettingTimeouts {
            embryonic: None,
            idle: Duration::from_secs(300),
            half_closed: None,
        }
    );
    assert_eq!(t.steps.last(), Some(&Step::FlowCreation(NewFlow::Bypass)));
    // The class's deny entry leaves the host out of it.
    let t = traced(&mut e, &tcp(IN, "198.18.0.10", 40_001, "198.18.1.99", 445));
    assert_eq!(settings(&t).decision.class, None);
    let t = traced(&mut e, &tcp(IN, "198.18.0.10", 40_000, "198.18.1.10", 80));
    let s = settings(&t);
    assert_eq!((s.decision.class, s.class_acl), (Some(web), None));
    assert_eq!(
        (
            s.decision.options.conn_max,
            s.decision.options.embryonic_conn_max
        ),
        (1000, 50)
    );
    assert_eq!(
        t.steps.last(),
        Some(&Step::FlowCreation(NewFlow::Inspected {
            randomized: false,
            deferred: false
        }))
    );
}

/// A class that only makes connections bypass leaves a later class's
/// limits in force; both are named.
#[test]
fn a_bypass_class_beside_a_limits_class_is_named_too() {
    let policy = "access-list byp extended permit tcp any any eq 445
class-map byp
 match access-list byp
policy-map global_policy
 class byp
  set connection advanced-options tcp-state-bypass
 class class-default
  set connection per-client-max 5
service-policy global_policy global
";
    let mut e = engine(policy);
    let t = traced(&mut e, &tcp(IN, "198.18.0.10", 40_000, "198.18.1.10", 445));
    let s = settings(&t);
    assert_eq!(
        (s.decision.class, s.decision.bypass_class),
        (
            Some(class_index(&e, "global_policy/class-default")),
            Some(class_index(&e, "global_policy/byp"))
        )
    );
    assert_eq!(
        (s.class_acl, s.bypass_acl),
        (None, Some((0, HIT(0, 1, true))))
    );
    assert_eq!(s.decision.options.per_client_max, 5);
    assert_eq!(t.steps.last(), Some(&Step::FlowCreation(NewFlow::Bypass)));
}

// === existing connections ===

/// A SYN of an open connection finds it and uses it: the rules are not
/// asked. The wrong interface, a SYN the state refuses and a SYN on a
/// finished connection are told apart.
#[test]
fn an_existing_connection_is_found_and_used() {
    // The model's endpoints do not follow a randomizing middlebox.
    let mut e = engine(&format!("{OUT_IN}{NOT_RANDOMIZED}"));
    let (c, s) = v4_pair(40_000, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [64_240, 65_160], [None, None]);
    for seg in m.handshake() {
        let mut f = m.frame(&seg);
        e.process(&mut f, PacketMeta::default(), m.iface(seg.from), NOW);
    }
    let id = e.table().iter().next().unwrap().1.id;
    let syn = tcp(IN, "198.18.0.10", 40_000, "198.18.1.10", 80);
    let t = e.packet_trace(&syn, NOW).unwrap();
    assert_eq!(
        t.steps,
        [Step::FlowLookup(Lookup::Found {
            id,
            kind: FlowKind::Tcp(TcpState::Established),
            outcome: Existing::Uses
        })]
    );
    assert_eq!(t.verdict, Ok(()));
    // The responder's SYN: no state takes it.
    let back = traced(&mut e, &tcp(OUT, "198.18.1.10", 80, "198.18.0.10", 40_000));
    assert_eq!(
        back.steps,
        [Step::FlowLookup(Lookup::Found {
            id,
            kind: FlowKind::Tcp(TcpState::Established),
            outcome: Existing::Refused(DropReason::TcpInvalidState)
        })]
    );
    // The initiator's packets arrive on the inside.
    let wrong = traced(&mut e, &tcp(OUT, "198.18.0.10", 40_000, "198.18.1.10", 80));
    assert_eq!(wrong.verdict, Err(DropReason::InterfaceMismatch));
    assert!(matches!(
        wrong.steps[..],
        [Step::FlowLookup(Lookup::Found {
            outcome: Existing::WrongInterface { expected: IN },
            ..
        })]
    ));
    // Closed by FINs: the SYN opens a new connection, by the rules.
    for seg in [
        m.fin(Side::Client),
        m.ack(Side::Server),
        m.fin(Side::Server),
        m.ack(Side::Client),
    ] {
        let mut f = m.frame(&seg);
        e.process(&mut f, PacketMeta::default(), m.iface(seg.from), NOW);
    }
    let t = traced(&mut e, &syn);
    assert!(matches!(
        t.steps[..],
        [
            Step::FlowLookup(Lookup::Found {
                kind: FlowKind::Tcp(TcpState::TimeWait),
                outcome: Existing::Reopens,
                ..
            }),
            Step::Access(Admission::SecurityLevels { .. }),
            Step::ConnSettings(_),
            Step::FlowCreation(_),
        ]
    ));
    assert_eq!(t.verdict, Ok(()));
}

/// A reply of an open UDP flow passes on it, though the rules would deny
/// it; only in the flow's VLAN.
#[test]
fn a_datagram_of_an_open_flow_passes_on_it_in_its_vlan() {
    let mut e = engine("");
    let (c, s) = v4_pair(5353, 53);
    for vlan in [0, 10] {
        let mut f = vlan_tagged(udp_frame(&c, &s, b"q"), 0, vlan);
        if vlan == 0 {
            f = udp_frame(&c, &s, b"q");
        }
        e.process(&mut f, PacketMeta::default(), IN, NOW);
    }
    let reply = udp(OUT, "198.18.1.10", 53, "198.18.0.10", 5353);
    for vlan in [0, 10] {
        let t = traced(&mut e, &TraceRequest { vlan, ..reply });
        assert!(
            matches!(
                t.steps[..],
                [Step::FlowLookup(Lookup::Found {
                    kind: FlowKind::Udp,
                    outcome: Existing::Uses,
                    ..
                })]
            ),
            "{t:#?}"
        );
    }
    let t = traced(&mut e, &TraceRequest { vlan: 20, ..reply });
    assert_eq!(t.steps[0], Step::FlowLookup(Lookup::NotFound));
    assert_eq!(t.verdict, Err(DropReason::AclDeny));
}

// === ICMP and other protocols ===

/// Echo is stateless unless inspected: a request opens nothing and its
/// reply meets the rules; inspected, a request opens a flow its reply
/// passes on, and a reply without one is dropped. Other ICMP is never
/// tracked.
#[test]
fn icmp_follows_its_inspection() {
    let request = icmp(IN, "198.18.0.10", 8, "198.18.1.10");
    let reply = icmp(OUT, "198.18.1.10", 0, "198.18.0.10");
    let mut e = engine("");
    let t = traced(&mut e, &request);
    assert_eq!(
        t.steps,
        [
            Step::FlowLookup(Lookup::NotFound),
            Step::Inspect(IcmpInspection::default()),
            Step::Access(Admission::SecurityLevels {
                ingress: 100,
                egress: 0
            }),
        ]
    );
    let t = traced(&mut e, &reply);
    assert_eq!(t.verdict, Err(DropReason::AclDeny));
    let mut cfg = parse_config("").unwrap().config;
    crate::policy::compile::inspect_icmp(&mut cfg);
    let mut e = engine(&crate::policy::render(&cfg));
    let t = traced(&mut e, &reply);
    assert_eq!(t.verdict, Err(DropReason::IcmpNoConnection));
    let t = traced(&mut e, &request);
    assert!(matches!(
        t.steps.last(),
        Some(Step::FlowCreation(NewFlow::Inspected {
            randomized: false,
            ..
        }))
    ));
    assert_eq!(settings(&t).timeouts.idle, Duration::from_secs(2));
    let t = traced(&mut e, &reply);
    assert!(matches!(
        t.steps[..],
        [Step::FlowLookup(Lookup::Found {
            kind: FlowKind::Echo,
            outcome: Existing::Uses,
            ..
        })]
    ));
    let t = traced(&mut e, &icmp(IN, "198.18.0.10", 13, "198.18.1.10"));
    assert_eq!(t.steps[0], Step::FlowLookup(Lookup::Untracked));
    assert_eq!(t.verdict, Ok(()));
}

/// A traced ICMP message is judged with its type and code, as the engine
/// judges it (docs/asa-behaviour.md §2.1): an `echo-reply` permit lets a
/// reply (type 0) in and not a request (type 8); an entry with a code
/// only that code; `icmp6` names are ICMPv6's numbers.
#[test]
fn icmp_is_traced_with_its_type_and_code() {
    let mut e = engine(
        "access-list OUT_IN extended permit icmp any any echo-reply\n\
         access-list OUT_IN extended permit icmp any host 198.18.0.10 router-advertisement 16\n\
         access-list OUT_IN extended permit icmp6 any6 any6 echo\n\
         access-group OUT_IN in interface outside\n",
    );
    let at = |t: &Trace| match access(t) {
        Admission::AccessGroup { hit, .. } => hit.map(|h| h.entry),
        a => panic!("{a:?}"),
    };
    let typed = |src: &str, icmp_type, code, dst: &str| {
        let packet = TracePacket::Icmp {
            icmp_type,
            code,
            ident: 7,
        };
        req(OUT, src, dst, packet)
    };
    let t = traced(&mut e, &icmp(OUT, "198.18.1.10", 0, "198.18.0.10"));
    assert_eq!((t.verdict, at(&t)), (Ok(()), Some(1)));
    let t = traced(&mut e, &icmp(OUT, "198.18.1.10", 8, "198.18.0.10"));
    assert_eq!((t.verdict, at(&t)), (Err(DropReason::AclDeny), None));
    let t = traced(&mut e, &typed("198.18.1.10", 0, 5, "198.18.0.10"));
    assert_eq!(at(&t), Some(1), "echo-reply names no code: any");
    // `router-advertisement 16` is type 9 of code 16 only, to its host.
    let t = traced(&mut e, &typed("198.18.1.10", 9, 16, "198.18.0.10"));
    assert_eq!((t.verdict, at(&t)), (Ok(()), Some(2)));
    let t = traced(&mut e, &typed("198.18.1.10", 9, 0, "198.18.0.10"));
    assert_eq!((t.verdict, at(&t)), (Err(DropReason::AclDeny), None));
    let t = traced(&mut e, &typed("198.18.1.10", 9, 16, "198.18.0.11"));
    assert_eq!(at(&t), None, "another host");
    let t = traced(&mut e, &typed("198.18.1.10", 14, 0, "198.18.0.10"));
    assert_eq!(at(&t), None, "timestamp reply: no entry");
    // `icmp6 … echo` is ICMPv6 type 128, not ICMP's 8 nor its echo reply.
    let t = traced(&mut e, &typed("2001:db8:1::10", 128, 0, "2001:db8::10"));
    assert_eq!((t.verdict, at(&t)), (Ok(()), Some(3)));
    let t = traced(&mut e, &typed("2001:db8:1::10", 129, 0, "2001:db8::10"));
    assert_eq!(at(&t), None, "icmp's echo-reply is not icmp6's");
    let t = traced(&mut e, &typed("2001:db8:1::10", 0, 0, "2001:db8::10"));
    assert_eq!(at(&t), None, "ICMPv6 type 0 is no echo reply");
}

/// Other protocols are flows of their addresses (and SCTP's ports),
/// opened by the rules.
#[test]
fn other_protocols_open_flows_by_the_rules() {
    let mut e = engine("");
    let gre = |ingress, src, dst| req(ingress, src, dst, TracePacket::RawIp { protocol: 47 });
    let t = traced(&mut e, &gre(IN, "198.18.0.10", "198.18.1.10"));
    assert_eq!(t.verdict, Ok(()));
    assert_eq!(settings(&t).timeouts.idle, Duration::from_secs(120));
    let t = traced(&mut e, &gre(OUT, "198.18.1.10", "198.18.0.10"));
    assert!(matches!(
        t.steps[0],
        Step::FlowLookup(Lookup::Found {
            kind: FlowKind::Other,
            ..
        })
    ));
    let esp = req(
        IN,
        "198.18.0.10",
        "198.18.1.11",
        TracePacket::RawIp { protocol: 50 },
    );
    assert_eq!(
        settings(&traced(&mut e, &esp)).timeouts.idle,
        Duration::from_secs(30)
    );
    let sctp = |ingress, src, dst| {
        req(
            ingress,
            src,
            dst,
            TracePacket::Sctp {
                sport: 5000,
                dport: 38_412,
            },
        )
    };
    let t = traced(&mut e, &sctp(OUT, "198.18.1.10", "198.18.0.10"));
    assert_eq!(t.verdict, Err(DropReason::AclDeny));
    let t = traced(&mut e, &sctp(IN, "198.18.0.10", "198.18.1.10"));
    assert_eq!(t.verdict, Ok(()));
}

// === what cannot be traced ===

#[test]
fn what_cannot_be_traced_is_refused_with_why() {
    let e = engine("");
    let refused = |r: TraceRequest| e.packet_trace(&r, NOW).unwrap_err();
    assert_eq!(
        refused(tcp(IN, "198.18.0.10", 1, "2001:db8::1", 2)),
        TraceRefused::MixedFamilies
    );
    assert_eq!(
        refused(tcp(IfaceId(2), "198.18.0.10", 1, "198.18.1.10", 2)),
        TraceRefused::UnknownInterface(2)
    );
    assert_eq!(
        refused(TraceRequest {
            vlan: 4095,
            ..tcp(IN, "198.18.0.10", 1, "198.18.1.10", 2)
        }),
        TraceRefused::Vlan(4095)
    );
    assert_eq!(
        refused(icmp(IN, "198.18.0.10", 3, "198.18.1.10")),
        TraceRefused::IcmpError(3)
    );
    assert_eq!(
        refused(icmp(IN, "2001:db8::10", 135, "2001:db8:1::10")),
        TraceRefused::NeighbourDiscovery(135)
    );
    for (protocol, src, dst) in [
        (6, "198.18.0.10", "198.18.1.10"),
        (1, "198.18.0.10", "198.18.1.10"),
        (51, "198.18.0.10", "198.18.1.10"),
        (44, "2001:db8::10", "2001:db8:1::10"),
        // Hop-by-hop options: the frame builder once panicked on it.
        (0, "2001:db8::10", "2001:db8:1::10"),
    ] {
        let r = req(IN, src, dst, TracePacket::RawIp { protocol });
        assert_eq!(refused(r), TraceRefused::NeedsHeader(protocol));
    }
    // ICMP in IPv6 is any other protocol there.
    let r = req(
        IN,
        "2001:db8::10",
        "2001:db8:1::10",
        TracePacket::RawIp { protocol: 1 },
    );
    assert_eq!(e.packet_trace(&r, NOW).unwrap().verdict, Ok(()));
}

// === read-only, and whose table ===

/// A trace changes nothing: not the counters, the table, the effects or
/// the class counts (`packet_trace` takes `&self`; this holds the
/// engine's observable state to it).
#[test]
fn a_trace_changes_nothing() {
    let mut e = engine(CLASSES);
    let (c, s) = v4_pair(5353, 53);
    let mut f = udp_frame(&c, &s, b"q");
    e.process(&mut f, PacketMeta::default(), IN, NOW);
    let entries = |e: &Engine| e.table().iter().map(|(_, x)| *x).collect::<Vec<_>>();
    let classes = |e: &Engine| {
        e.classes()
            .iter()
            .map(|(_, s)| (s.conns, s.embryonic, s.created, s.limit_drops))
            .collect::<Vec<_>>()
    };
    let before = (e.counters().clone(), entries(&e), classes(&e));
    for r in [
        tcp(IN, "198.18.0.10", 40_000, "198.18.1.10", 445),
        tcp(IN, "198.18.0.10", 40_000, "198.18.1.10", 80),
        tcp(OUT, "198.18.1.10", 40_000, "198.18.0.10", 80),
        udp(OUT, "198.18.1.10", 53, "198.18.0.10", 5353),
        icmp(IN, "198.18.0.10", 8, "198.18.1.10"),
    ] {
        e.packet_trace(&r, NOW).unwrap();
    }
    assert_eq!((e.counters().clone(), entries(&e), classes(&e)), before);
    assert_eq!(e.poll_effect(NOW), None);
}

/// With several workers the trace says whether this engine's worker owns
/// the flow, as the fanout spreads flows.
#[test]
fn the_trace_says_whether_its_worker_owns_the_flow() {
    let share = |index| WorkerShare {
        index,
        count: 2,
        worker_of: |_, _| 1,
    };
    let r = tcp(IN, "198.18.0.10", 40_000, "198.18.1.10", 80);
    for (index, owner) in [(0, false), (1, true)] {
        let mut cfg = EngineConfig::inside_outside(NodeId(1), [3; 4]);
        cfg.workers = Some(share(index));
        let e = engine_with(cfg, "");
        assert_eq!(e.packet_trace(&r, NOW).unwrap().owner, owner);
    }
    assert!(engine("").packet_trace(&r, NOW).unwrap().owner);
}

// === any packet ===

mod any_packet {
    use proptest::prelude::*;

    use super::*;

    const POLICY: &str = "access-list OUT_IN extended permit tcp any any eq ssh
access-list OUT_IN extended permit udp any6 any6 range 1000 2000
access-list OUT_IN extended permit icmp any any echo-reply
access-list OUT_IN extended permit icmp any 198.18.0.0 255.255.255.0 echo 0
access-list OUT_IN extended deny icmp any any time-exceeded
access-list OUT_IN extended permit icmp any any 13 1
access-list OUT_IN extended permit icmp6 any6 any6 echo-reply
access-list OUT_IN extended permit icmp6 any6 any6 router-advertisement 0
access-list OUT_IN extended permit icmp6 any any 200
access-list OUT_IN extended deny icmp any any
access-list OUT_IN extended permit ip 198.18.0.0 255.254.0.0 any
access-group OUT_IN in interface outside
access-list byp extended permit tcp any any eq 445
class-map byp
 match access-list byp
class-map inspection_default
 match default-inspection-traffic
policy-map global_policy
 class byp
  set connection advanced-options tcp-state-bypass
 class inspection_default
  inspect icmp
 class class-default
  set connection timeout idle 0:10:00
service-policy global_policy global
";

    /// ICMP types on both interfaces, and `inspect icmp` of a class that
    /// matches echo requests by a typed access-list.
    const TYPED: &str = "access-list OUT_IN extended permit icmp any any echo-reply
access-list OUT_IN extended permit icmp any any router-advertisement 16
access-list OUT_IN extended permit icmp6 any6 any6 echo
access-list OUT_IN extended permit icmp6 any6 any6 130 0
access-group OUT_IN in interface outside
access-list IN_OUT extended deny icmp any any echo-reply
access-list IN_OUT extended deny icmp6 any any 9
access-list IN_OUT extended permit ip any any
access-list IN_OUT extended permit ip any6 any6
access-group IN_OUT in interface inside
access-list PINGS extended permit icmp any 198.18.1.0 255.255.255.0 echo
access-list PINGS extended permit icmp6 any6 any6 echo 0
class-map pings
 match access-list PINGS
policy-map global_policy
 class pings
  inspect icmp
service-policy global_policy global
";

    fn addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            (0u8..4, any::<u8>()).prop_map(|(c, d)| IpAddr::from([198, 18, c, d])),
            any::<[u8; 16]>().prop_map(IpAddr::from),
            (0u16..4).prop_map(|n| IpAddr::from([0x2001, 0xdb8, n, 0, 0, 0, 0, 1])),
        ]
    }

    fn packet() -> impl Strategy<Value = TracePacket> {
        let port = prop_oneof![Just(22u16), Just(445), Just(1500), any::<u16>()];
        prop_oneof![
            (port.clone(), port.clone())
                .prop_map(|(sport, dport)| TracePacket::Tcp { sport, dport }),
            (port.clone(), port.clone())
                .prop_map(|(sport, dport)| TracePacket::Udp { sport, dport }),
            (port.clone(), port).prop_map(|(sport, dport)| TracePacket::Sctp { sport, dport }),
            (any::<u8>(), any::<u8>(), any::<u16>()).prop_map(|(icmp_type, code, ident)| {
                TracePacket::Icmp {
                    icmp_type,
                    code,
                    ident,
                }
            }),
            prop_oneof![Just(0u8), Just(8), Just(128), Just(129), any::<u8>()].prop_map(
                |icmp_type| TracePacket::Icmp {
                    icmp_type,
                    code: 0,
                    ident: 3
                }
            ),
            // The types and codes the policies name, and their neighbours.
            (
                prop::sample::select(vec![0u8, 8, 9, 11, 13, 128, 129, 130, 134, 200]),
                prop_oneof![Just(0u8), Just(1), Just(16), any::<u8>()],
            )
                .prop_map(|(icmp_type, code)| TracePacket::Icmp {
                    icmp_type,
                    code,
                    ident: 3
                }),
            any::<u8>().prop_map(|protocol| TracePacket::RawIp { protocol }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any request is traced or refused, never a panic; what is
        /// traced gets the engine's own verdict for the same packet.
        #[test]
        fn any_packet_is_traced_as_the_engine_judges_it(
            ingress in 0u8..3,
            vlan in prop_oneof![Just(0u16), 1u16..5000],
            src in addr(),
            dst in addr(),
            packet in packet(),
            typed in any::<bool>(),
        ) {
            let mut cfg = EngineConfig::inside_outside(NodeId(1), [3; 4]);
            cfg.max_conns = 64;
            let mut e = engine_with(cfg, if typed { TYPED } else { POLICY });
            let r = TraceRequest { ingress: IfaceId(ingress), vlan, src, dst, packet };
            if let Ok(t) = e.packet_trace(&r, NOW) {
                let mut f = frame(&r);
                let got = e.process(&mut f, PacketMeta::default(), r.ingress, NOW);
                let want = match t.verdict {
                    Ok(()) => Verdict::Forward { egress: t.egress },
                    Err(reason) => Verdict::Drop(reason),
                };
                prop_assert_eq!(got, want, "{:?}: {:#?}", r, t);
            }
        }
    }
}
