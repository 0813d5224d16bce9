//! Every IP protocol but TCP, UDP and ICMP: a connection keyed by its
//! addresses (and SCTP's ports), opened where the access rules permit it,
//! its replies matched by it, ended by its idle timeout
//! (docs/asa-behaviour.md §2.1, §2.2).

use super::*;
use crate::trace::{ip_frame, sctp_header, v6_pair};

/// A GRE header (RFC 2784 §2: no checksum, protocol type IPv4) and the
/// first bytes of what it carries.
const GRE: [u8; 8] = [0, 0, 0x08, 0, 0x45, 0, 0, 20];
/// An ESP header (RFC 4303 §2: SPI 0x100, sequence number 1).
const ESP: [u8; 8] = [0, 0, 1, 0, 0, 0, 0, 1];

fn policy(text: &str) -> Harness {
    with_policy(&crate::policy::parse::parse_config(text).unwrap().config)
}

#[test]
fn a_gre_flow_opens_where_permitted_and_its_reply_passes() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(0, 0);
    assert_eq!(h.frame(ip_frame(&c, &s, 47, &GRE), c.iface), FWD_OUT);
    let e = h.only_entry();
    assert_eq!(e.proto, ProtoState::Other);
    assert_eq!((e.key.proto, e.key.lo.port, e.key.hi.port), (47, 0, 0));
    assert_eq!(e.flags & conn_flags::REPLIED, 0);
    assert_eq!(h.frame(ip_frame(&s, &c, 47, &GRE), s.iface), FWD_IN);
    let e = h.only_entry();
    assert_eq!(e.packets, [1, 1]);
    assert_ne!(e.flags & conn_flags::REPLIED, 0);
    assert_eq!(e.asa_flags().to_string(), "IO");
    let counters = h.engine.counters();
    assert_eq!(counters.conns_created[ConnProto::Other as usize], 1);
    assert_eq!(counters.conns_created[ConnProto::Udp as usize], 0);
    assert_eq!(counters.forwarded_packets, 2);
}

#[test]
fn gre_with_no_flow_and_no_permit_is_denied() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(0, 0);
    // From the lower-security side, nothing permits it and nothing holds it.
    assert_eq!(
        h.frame(ip_frame(&s, &c, 47, &GRE), s.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
    assert_eq!(h.engine.table().len(), 0);
    // An access-group that names GRE lets it open; one that names
    // another protocol does not.
    let mut h = policy(
        "access-list OUT extended permit esp any any\naccess-group OUT in interface outside\n",
    );
    assert_eq!(
        h.frame(ip_frame(&s, &c, 47, &GRE), s.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
    assert_eq!(h.frame(ip_frame(&s, &c, 50, &ESP), s.iface), FWD_IN);
    let mut h = policy(
        "access-list OUT extended permit gre any host 198.18.0.10\naccess-group OUT in interface outside\n",
    );
    assert_eq!(h.frame(ip_frame(&s, &c, 47, &GRE), s.iface), FWD_IN);
    assert_eq!(h.only_entry().asa_flags().to_string(), "IB");
    assert_eq!(h.frame(ip_frame(&c, &s, 47, &GRE), c.iface), FWD_OUT);
}

/// The ASA's default idle timeouts: ESP 0:00:30, every other protocol
/// 0:02:00; the global `timeout conn` is TCP's and changes neither.
/// Expired, the flow matches nothing: the outside's packet is judged
/// anew, and denied.
#[test]
fn flows_expire_after_their_protocols_idle_timeout() {
    let mut h = policy("timeout conn 5:00:00\n");
    let (c, s) = v4_pair(0, 0);
    assert_eq!(h.frame(ip_frame(&c, &s, 47, &GRE), c.iface), FWD_OUT);
    assert_eq!(h.frame(ip_frame(&c, &s, 50, &ESP), c.iface), FWD_OUT);
    h.advance(Duration::from_secs(29));
    assert_eq!(h.frame(ip_frame(&s, &c, 50, &ESP), s.iface), FWD_IN);
    h.advance(Duration::from_secs(29));
    assert_eq!(h.engine.expire(h.now), 0, "ESP, 29 s since its reply");
    h.advance(Duration::from_secs(2));
    assert_eq!(h.engine.expire(h.now), 1, "ESP, 31 s idle");
    assert_eq!(
        h.frame(ip_frame(&s, &c, 50, &ESP), s.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
    // GRE, 60 s idle, answered; then 119 s idle, still there; 121, gone.
    assert_eq!(h.frame(ip_frame(&s, &c, 47, &GRE), s.iface), FWD_IN);
    h.advance(Duration::from_secs(119));
    assert_eq!(h.engine.expire(h.now), 0);
    h.advance(Duration::from_secs(2));
    assert_eq!(
        h.frame(ip_frame(&s, &c, 47, &GRE), s.iface),
        Verdict::Drop(DropReason::AclDeny),
        "GRE, 2 minutes idle"
    );
    assert_eq!(h.engine.table().len(), 0);
    assert_eq!(
        h.engine.counters().conns_removed[RemoveReason::Timeout as usize],
        2
    );
}

/// A class's `set connection timeout idle` applies to every protocol.
#[test]
fn a_class_idle_timeout_applies_to_other_protocols() {
    let mut h = policy(
        "access-list TUN extended permit gre any any\n\
         class-map tun\n match access-list TUN\n\
         policy-map global_policy\n class tun\n  set connection timeout idle 4:00:00\n\
         service-policy global_policy global\n",
    );
    let (c, s) = v4_pair(0, 0);
    assert_eq!(h.frame(ip_frame(&c, &s, 47, &GRE), c.iface), FWD_OUT);
    h.advance(Duration::from_secs(3 * 3600));
    assert_eq!(h.engine.expire(h.now), 0);
    assert_eq!(h.frame(ip_frame(&s, &c, 47, &GRE), s.iface), FWD_IN);
}

/// SCTP carries its ports in the tuple, so a rule naming SCTP ports
/// matches them, and one SCTP association is one flow of its own: a
/// second on other ports is judged by the rules again.
#[test]
fn sctp_ports_are_matched_by_rules_naming_them() {
    let mut h = policy(
        "access-list OUT extended permit sctp any host 198.18.0.10 eq 2905\n\
         access-group OUT in interface outside\n\
         access-list IN extended deny sctp any any range 20 22\n\
         access-list IN extended permit ip any any\n\
         access-group IN in interface inside\n",
    );
    let (inside, outside) = v4_pair(2905, 40_000);
    let sctp = |from: &Host, to: &Host| ip_frame(from, to, 132, &sctp_header(from, to));
    assert_eq!(h.frame(sctp(&outside, &inside), outside.iface), FWD_IN);
    let e = h.only_entry();
    assert_eq!((e.key.proto, e.proto), (132, ProtoState::Other));
    assert_eq!([e.initiator().port, e.responder().port], [40_000, 2905]);
    assert_eq!(h.frame(sctp(&inside, &outside), inside.iface), FWD_OUT);
    // The same hosts on another port: no flow, no permit.
    let (inside2, outside2) = v4_pair(2906, 40_000);
    assert_eq!(
        h.frame(sctp(&outside2, &inside2), outside2.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
    // From inside, ports 20-22 are denied, 23 permitted.
    let (c, s) = v4_pair(40_001, 22);
    assert_eq!(
        h.frame(sctp(&c, &s), c.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
    let (c, s) = v4_pair(40_001, 23);
    assert_eq!(h.frame(sctp(&c, &s), c.iface), FWD_OUT);
    assert_eq!(h.engine.table().len(), 2);
}

/// IPv6 too, and ICMP in IPv6 (or ICMPv6 in IPv4) is as foreign to its
/// packet as GRE: a flow of addresses, never an echo flow.
#[test]
fn other_protocols_over_ipv6_and_the_other_familys_icmp() {
    let mut h = Harness::new();
    let (c, s) = v6_pair(0, 0);
    assert_eq!(h.frame(ip_frame(&c, &s, 50, &ESP), c.iface), FWD_OUT);
    assert_eq!(h.frame(ip_frame(&s, &c, 50, &ESP), s.iface), FWD_IN);
    let echo = [8, 0, 0xf7, 0xfe, 0, 1, 0, 0];
    assert_eq!(h.frame(ip_frame(&c, &s, 1, &echo), c.iface), FWD_OUT);
    let (c4, s4) = v4_pair(0, 0);
    assert_eq!(h.frame(ip_frame(&c4, &s4, 58, &echo), c4.iface), FWD_OUT);
    let protos: Vec<(u8, ProtoState)> = h
        .engine
        .table()
        .iter()
        .map(|(_, e)| (e.key.proto, e.proto))
        .collect();
    assert_eq!(protos.len(), 3);
    assert!(
        protos.iter().all(|&(_, p)| p == ProtoState::Other),
        "{protos:?}"
    );
}

/// A tunnel's path MTU: an ICMP error quoting a GRE packet names the GRE
/// connection, and under `inspect icmp error` passes as its error.
#[test]
fn an_icmp_error_about_a_gre_packet_matches_its_flow() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(0, 0);
    let gre = ip_frame(&c, &s, 47, &GRE);
    assert_eq!(h.frame(gre.clone(), c.iface), FWD_OUT);
    let router = Host {
        ip: "198.18.1.1".parse().unwrap(),
        ..s
    };
    let passed = h.engine.counters().icmp_related_passed;
    assert_eq!(
        h.frame(icmpv4_unreachable_frame(&router, &c, &gre), s.iface),
        FWD_IN
    );
    assert_eq!(h.engine.counters().icmp_related_passed, passed + 1);
    // About a GRE packet no flow holds: no connection to pass it with.
    let (c2, s2) = (
        Host {
            ip: "198.18.0.11".parse().unwrap(),
            ..c
        },
        s,
    );
    let stray = ip_frame(&c2, &s2, 47, &GRE);
    assert_eq!(
        h.frame(icmpv4_unreachable_frame(&router, &c2, &stray), s.iface),
        Verdict::Drop(DropReason::IcmpNoConnection)
    );
}

/// A full table makes room by evicting an unanswered flow of another
/// protocol (a spoofed GRE flood costs only its own kind), never an
/// answered one: a table of answered flows refuses (§2.2).
#[test]
fn a_full_table_evicts_unanswered_flows_of_other_protocols_only() {
    let mut h = Harness::with(|c| c.max_conns = 2);
    let (c, s) = v4_pair(0, 0);
    let host = |last: u8| Host {
        ip: std::net::Ipv4Addr::new(198, 18, 0, last).into(),
        ..c
    };
    let (answered, unanswered, next, last) = (host(21), host(22), host(23), host(24));
    assert_eq!(h.frame(ip_frame(&answered, &s, 47, &GRE), c.iface), FWD_OUT);
    assert_eq!(h.frame(ip_frame(&s, &answered, 47, &GRE), s.iface), FWD_IN);
    h.advance(Duration::from_millis(10));
    assert_eq!(
        h.frame(ip_frame(&unanswered, &s, 47, &GRE), c.iface),
        FWD_OUT
    );
    let kinds = h.engine.table().kind_counts();
    assert_eq!(kinds[crate::conntrack::table::KIND_OTHER_UNREPLIED], 1);
    assert_eq!(kinds[crate::conntrack::table::KIND_OTHER_UNREPLIED - 1], 1);
    h.advance(Duration::from_millis(10));
    assert_eq!(h.frame(ip_frame(&next, &s, 50, &ESP), c.iface), FWD_OUT);
    assert_eq!(
        h.engine.counters().conns_removed[RemoveReason::Evicted as usize],
        1
    );
    let alive = |h: &Harness, from: &Host| {
        let frame = ip_frame(from, &s, 47, &GRE);
        match crate::packet::parse(&frame, PacketMeta::default()) {
            Ok(crate::packet::Parsed::Ip { tuple, .. }) => h.engine.find(&tuple, h.now).is_some(),
            other => panic!("GRE parses: {other:?}"),
        }
    };
    assert!(alive(&h, &answered));
    assert!(!alive(&h, &unanswered), "the unanswered GRE flow made room");
    assert_eq!(h.frame(ip_frame(&s, &next, 50, &ESP), s.iface), FWD_IN);
    // Both answered now: nothing may go.
    assert_eq!(
        h.frame(ip_frame(&last, &s, 47, &GRE), c.iface),
        Verdict::Drop(DropReason::ConntrackFull)
    );
}
