//! An authentication header (RFC 4302) before the transport: the access
//! rules see protocol 51, as the ASA's see the IP header's protocol
//! (docs/asa-behaviour.md §2.1), while the connection is the transport's.

use super::*;

/// `frame` (Ethernet, IPv4 without options) with a 12-byte AH inserted
/// after its IP header. The transport checksum covers the transport alone
/// and stays valid; the IP header's length and checksum are redone.
pub(super) fn with_ah(frame: &[u8]) -> Vec<u8> {
    let (head, rest) = frame.split_at(14 + 20);
    let mut out = head.to_vec();
    let inner = out[14 + 9];
    out.extend_from_slice(&[inner, 1, 0, 0, 0, 0, 0x10, 1, 0, 0, 0, 7]);
    out.extend_from_slice(rest);
    out[14 + 9] = 51;
    let total = u16::from_be_bytes([out[16], out[17]]) + 12;
    out[16..18].copy_from_slice(&total.to_be_bytes());
    out[24..26].copy_from_slice(&[0, 0]);
    let sum = etherparse::checksum::Sum16BitWords::new()
        .add_slice(&out[14..34])
        .ones_complement()
        .to_be();
    out[24..26].copy_from_slice(&sum.to_be_bytes());
    out
}

/// A client on the outside opening a connection to port 443 inside.
fn from_outside(port: u16) -> TcpModel {
    let (inside, outside) = v4_pair(443, port);
    TcpModel::new(
        outside,
        inside,
        [7, 9],
        [64_240, 65_160],
        [Some(7), Some(7)],
    )
}

fn policy(lines: &str) -> crate::policy::ast::Config {
    let text = format!("{lines}access-group OUT in interface outside\n");
    crate::policy::parse::parse_config(&text).unwrap().config
}

#[test]
fn a_deny_ah_line_denies_what_an_authentication_header_carries() {
    let mut h = with_policy(&policy(
        "access-list OUT extended deny ah any any\naccess-list OUT extended permit tcp any any eq 443\n",
    ));
    let mut m = from_outside(40_000);
    let syn = m.syn();
    let syn = m.frame(&syn);
    assert_eq!(
        h.frame(with_ah(&syn), m.client.iface),
        Verdict::Drop(DropReason::AclDeny),
        "the first line denies AH"
    );
    assert_eq!(h.frame(syn, m.client.iface), FWD_IN, "plain TCP to 443");
}

#[test]
fn only_a_rule_permitting_ah_opens_a_connection_inside_it() {
    let mut h = with_policy(&policy("access-list OUT extended permit ah any any\n"));
    let mut m = from_outside(40_001);
    let [syn, sa, ack] = m.handshake();
    assert_eq!(
        h.frame(m.frame(&syn), m.client.iface),
        Verdict::Drop(DropReason::AclDeny),
        "plain TCP is not AH"
    );
    assert_eq!(h.frame(with_ah(&m.frame(&syn)), m.client.iface), FWD_IN);
    // The connection is the TCP one: its answer and the rest of the
    // handshake pass on its state, inside the header.
    assert_eq!(h.frame(with_ah(&m.frame(&sa)), m.server.iface), FWD_OUT);
    assert_eq!(h.frame(with_ah(&m.frame(&ack)), m.client.iface), FWD_IN);
    assert_eq!(h.only_entry().tcp_state(), Some(TcpState::Established));
    let mut h2 = with_policy(&policy(
        "access-list OUT extended permit tcp any any eq 443\n",
    ));
    let mut m = from_outside(40_002);
    let syn = m.syn();
    assert_eq!(
        h2.frame(with_ah(&m.frame(&syn)), m.client.iface),
        Verdict::Drop(DropReason::AclDeny),
        "a TCP rule does not permit AH"
    );
}

/// A rule that permits only AH must not let plain TCP ride a connection an
/// AH packet opened: one AH-wrapped SYN (which the host may discard, having
/// no security association) would otherwise open the tuple for ordinary
/// segments the rules deny.
#[test]
fn plain_tcp_does_not_ride_a_connection_an_ah_packet_opened() {
    let mut h = with_policy(&policy("access-list OUT extended permit ah any any\n"));
    let mut m = from_outside(40_010);
    let syn = m.syn();
    assert_eq!(h.frame(with_ah(&m.frame(&syn)), m.client.iface), FWD_IN);
    let refused = Verdict::Drop(DropReason::AhMismatch);
    assert_eq!(h.frame(m.frame(&syn), m.client.iface), refused, "plain SYN");
    let sa = m.syn_ack();
    assert_eq!(
        h.frame(m.frame(&sa), m.server.iface),
        refused,
        "plain SYN-ACK"
    );
    assert_eq!(h.frame(with_ah(&m.frame(&sa)), m.server.iface), FWD_OUT);
    let ack = m.ack(Side::Client);
    assert_eq!(h.frame(m.frame(&ack), m.client.iface), refused, "plain ACK");
    assert_eq!(h.frame(with_ah(&m.frame(&ack)), m.client.iface), FWD_IN);
    // Established, the fast path must refuse plain data too.
    let d = m.data(Side::Client, 100);
    assert_eq!(h.frame(m.frame(&d), m.client.iface), refused, "plain data");
    assert_eq!(h.frame(with_ah(&m.frame(&d)), m.client.iface), FWD_IN);
    assert_eq!(h.only_entry().tcp_state(), Some(TcpState::Established));
}

/// The reverse: an AH packet does not ride a plain connection, which a
/// rule for TCP opened and which no rule for AH would have.
#[test]
fn an_ah_packet_does_not_ride_a_plain_connection() {
    let mut h = with_policy(&policy(
        "access-list OUT extended permit tcp any any eq 443\n",
    ));
    let mut m = from_outside(40_012);
    for seg in m.handshake() {
        assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
    }
    let d = m.data(Side::Client, 10);
    assert_eq!(
        h.frame(with_ah(&m.frame(&d)), m.client.iface),
        Verdict::Drop(DropReason::AhMismatch)
    );
}

/// The same for UDP: one AH datagram opens its flow, plain datagrams stay
/// denied.
#[test]
fn plain_udp_does_not_ride_a_flow_an_ah_datagram_opened() {
    let mut h = with_policy(&policy("access-list OUT extended permit ah any any\n"));
    let (inside, outside) = v4_pair(53, 40_020);
    let plain = udp_frame(&outside, &inside, b"query");
    assert_eq!(
        h.frame(plain.clone(), outside.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
    assert_eq!(h.frame(with_ah(&plain), outside.iface), FWD_IN);
    assert_eq!(
        h.frame(plain, outside.iface),
        Verdict::Drop(DropReason::AhMismatch)
    );
    let answer = udp_frame(&inside, &outside, b"answer");
    assert_eq!(h.frame(with_ah(&answer), inside.iface), FWD_OUT);
}

/// The header's integrity check covers the TCP header (RFC 4302
/// §3.3.3.1): with randomization on (the ASA default) and the urgent
/// flag the normalizer clears, a segment inside AH still leaves with its
/// TCP header exactly as sent; only the TTL, mutable and outside the
/// check, may be clamped.
#[test]
fn tcp_inside_ah_is_never_rewritten() {
    let cfg = EngineConfig::inside_outside(NodeId(7), [1, 2, 3, 4]);
    let mut h = Harness {
        engine: Engine::new(cfg).unwrap(),
        now: Instant::from_secs(1000),
    };
    h.install(policy("access-list OUT extended permit ah any any\n"));
    let mut m = from_outside(40_030);
    let syn = m.syn();
    let sent = with_ah(&m.frame(&syn));
    let mut f = sent.clone();
    let v = h
        .engine
        .process(&mut f, PacketMeta::default(), m.client.iface, h.now);
    assert_eq!(v, FWD_IN);
    assert_eq!(h.only_entry().seq_offset, 0, "not randomized");
    assert_eq!(f, sent, "the SYN leaves as sent");
    let sa = m.syn_ack();
    assert_eq!(h.frame(with_ah(&m.frame(&sa)), m.server.iface), FWD_OUT);
    let ack = m.ack(Side::Client);
    assert_eq!(h.frame(with_ah(&m.frame(&ack)), m.client.iface), FWD_IN);
    // Data with URG set and an urgent pointer: the normalizer's
    // `urgent-flag clear` would rewrite both.
    let mut d = m.data(Side::Client, 20);
    d.flags |= TcpFlags::URG;
    let sent = with_ah(&m.frame(&d));
    let mut f = sent.clone();
    let v = h
        .engine
        .process(&mut f, PacketMeta::default(), m.client.iface, h.now);
    assert_eq!(v, FWD_IN);
    assert_eq!(f, sent, "data inside AH leaves as sent");
}

/// A tuple whose connection is over takes a new one with or without the
/// header: a SYN inside AH reopens a finished plain connection (the rules
/// permitting AH), where a segment of the old connection could not pass.
#[test]
fn a_finished_plain_connection_is_reopened_by_an_ah_syn() {
    let mut h = with_policy(&policy(
        "access-list OUT extended permit ah any any\naccess-list OUT extended permit tcp any any eq 443\n",
    ));
    let mut m = from_outside(40_040);
    for seg in m.handshake() {
        assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
    }
    let d = m.data(Side::Client, 10);
    assert_eq!(
        h.frame(with_ah(&m.frame(&d)), m.client.iface),
        Verdict::Drop(DropReason::AhMismatch),
        "live: the header must match"
    );
    for seg in [
        m.fin(Side::Client),
        m.ack(Side::Server),
        m.fin(Side::Server),
        m.ack(Side::Client),
    ] {
        assert!(
            matches!(h.tcp(&m, &seg), Verdict::Forward { .. }),
            "{seg:?}"
        );
    }
    assert_eq!(h.only_entry().tcp_state(), Some(TcpState::TimeWait));
    let old = h.only_entry().id;
    let mut again = TcpModel::new(
        m.client,
        m.server,
        [900_000, 77],
        [64_240, 65_160],
        [Some(7), Some(7)],
    );
    let syn = again.syn();
    assert_eq!(
        h.frame(with_ah(&again.frame(&syn)), again.client.iface),
        FWD_IN
    );
    let entry = h.only_entry();
    assert_ne!(entry.id, old, "a new connection");
    assert!(entry.ah());
    assert_eq!(entry.tcp_state(), Some(TcpState::SynSent));
}
