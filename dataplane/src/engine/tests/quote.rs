//! An ICMP error quotes a randomized segment as its receiver sent it
//! (docs/asa-behaviour.md §6.2): the offset shows in no field either side
//! can compare with what it sent.

use super::*;

/// An ICMPv4 error from `src` to `dst` quoting as much of the IP packet
/// of `quoted_frame` as fits in 576 bytes, as routers quote
/// (RFC 1812 §4.3.2.3).
fn error_quoting_all(
    src: &crate::trace::Host,
    dst: &crate::trace::Host,
    quoted_frame: &[u8],
) -> Vec<u8> {
    let (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) = (src.ip, dst.ip) else {
        panic!("IPv4 hosts");
    };
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2(src.mac, dst.mac)
        .ipv4(s.octets(), d.octets(), 64)
        .icmpv4_raw(3, 4, [0, 0, 5, 0xdc])
        .write(
            &mut out,
            &quoted_frame[14..quoted_frame.len().min(14 + 576 - 28)],
        )
        .unwrap();
    out
}

/// The Internet checksum of `bytes` verifies (sums to all ones).
fn verifies(bytes: &[u8]) -> bool {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

/// A router on the initiator's side cannot deliver the responder's
/// segment (fragmentation needed) and tells the responder, quoting the
/// segment as it left the firewall: acknowledgement and SACK edges in the
/// initiator's own space. The firewall gives them back as the responder
/// sent them, with both the quoted TCP checksum and the error's checksum
/// as they should be. Before, the responder read the offset off the quote.
#[test]
fn an_error_to_the_responder_quotes_its_segment_as_it_sent_it() {
    let (mut h, mut m, _syn, _out) = randomized_syn(44_010);
    h.install(icmp_inspected());
    let delta = h.only_entry().seq_offset;
    assert_ne!(delta, 0);
    m.set_shift(delta);
    for seg in [m.syn_ack(), m.ack(Side::Client), m.data(Side::Client, 1400)] {
        let mut f = m.frame(&seg);
        let v = h
            .engine
            .process(&mut f, PacketMeta::default(), m.iface(seg.from), h.now);
        assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
    }
    // The responder acknowledges, with a SACK block (the single NOP puts
    // its edges at odd offsets), and the firewall moves both.
    let mut sacked = m.ack(Side::Server);
    let base = sacked.ack;
    sacked.sack = vec![(base.wrapping_sub(1400), base.wrapping_sub(700))];
    let sent = m.frame(&sacked);
    let mut out = sent.clone();
    let v = h
        .engine
        .process(&mut out, PacketMeta::default(), m.server.iface, h.now);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(delivered(&out).ack.0, base.wrapping_sub(delta));
    // The quote, as the responder will read it.
    let mut err = error_quoting_all(&m.client, &m.server, &out);
    let v = h
        .engine
        .process(&mut err, PacketMeta::default(), m.client.iface, h.now);
    assert_eq!(v, FWD_OUT);
    let (icmp, tcp) = (14 + 20, 14 + 20 + 8 + 20);
    let header_len = usize::from(sent[14 + 20 + 12] >> 4) * 4;
    assert_eq!(
        &err[tcp..tcp + header_len],
        &sent[14 + 20..14 + 20 + header_len],
        "the quoted TCP header is the one the responder sent, checksum included"
    );
    assert!(verifies(&err[icmp..]), "the error's checksum");
}

/// A bare RST (no ACK) of the responder carries no acknowledgement: the
/// firewall moved nothing in it, and an error quoting it keeps its zero.
/// Before, the offset was added to that zero, and the responder read the
/// offset itself off the quote.
#[test]
fn an_error_about_a_bare_rst_keeps_its_empty_acknowledgement() {
    let (mut h, m, _delta) = randomized_established(44_011);
    let rst = crate::trace::Seg {
        from: Side::Server,
        seq: m.next_seq(Side::Server),
        ack: 0,
        flags: TcpFlags::RST,
        window: 0,
        wscale: None,
        sack: Vec::new(),
        payload_len: 0,
    };
    let sent = m.frame(&rst);
    let mut out = sent.clone();
    let v = h
        .engine
        .process(&mut out, PacketMeta::default(), m.server.iface, h.now);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    let mut err = error_quoting_all(&m.client, &m.server, &out);
    let v = h
        .engine
        .process(&mut err, PacketMeta::default(), m.client.iface, h.now);
    assert_eq!(v, FWD_OUT);
    let tcp = 14 + 20 + 8 + 20;
    assert_eq!(&err[tcp..tcp + 20], &sent[14 + 20..14 + 20 + 20]);
    assert!(verifies(&err[14 + 20..]));
}

/// A router on the responder's side cannot deliver the initiator's
/// segment and tells the initiator, quoting the segment as it left the
/// firewall, shifted. The firewall gives the initiator its own sequence
/// number back with the quoted TCP checksum to match, so the quote is the
/// header the initiator sent. Before, the checksum stayed the shifted
/// segment's, and the difference told the initiator a fold of the offset.
#[test]
fn an_error_to_the_initiator_quotes_its_segment_as_it_sent_it() {
    let (mut h, mut m, _delta) = randomized_established(44_012);
    let data = m.data(Side::Client, 1400);
    let sent = m.frame(&data);
    let mut out = sent.clone();
    let v = h
        .engine
        .process(&mut out, PacketMeta::default(), m.client.iface, h.now);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_ne!(
        out[14 + 20 + 4..14 + 20 + 8],
        sent[14 + 20 + 4..14 + 20 + 8]
    );
    let mut err = error_quoting_all(&m.server, &m.client, &out);
    let v = h
        .engine
        .process(&mut err, PacketMeta::default(), m.server.iface, h.now);
    assert_eq!(v, FWD_IN);
    let (icmp, tcp) = (14 + 20, 14 + 20 + 8 + 20);
    let header_len = usize::from(sent[14 + 20 + 12] >> 4) * 4;
    assert_eq!(
        &err[tcp..tcp + header_len],
        &sent[14 + 20..14 + 20 + header_len],
        "the quoted TCP header is the one the initiator sent, checksum included"
    );
    assert!(verifies(&err[icmp..]), "the error's checksum");
}
