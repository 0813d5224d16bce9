//! ICMP errors about a connection (docs/asa-behaviour.md §2.5): an
//! inspected error quoting a TCP segment passes only if the quoted
//! sequence number is one that segment could have had (OpenBSD pf's
//! check), and no error passes that is longer than RFC 1812 and RFC 4443
//! let one be.

use super::*;
use crate::trace::Seg;

/// A bare ACK of `from` at sequence number `seq`: all an error quotes of
/// a segment is its first 8 bytes, ports and sequence number.
fn at_seq(from: Side, seq: u32) -> Seg {
    Seg {
        from,
        seq,
        ack: 1,
        flags: TcpFlags::ACK,
        window: 1000,
        wscale: None,
        sack: Vec::new(),
        payload_len: 0,
    }
}

/// An ICMPv4 destination unreachable from the far side of `about`'s
/// receiver back to its sender, quoting `about`.
fn error_about(m: &TcpModel, about: &Seg) -> (Vec<u8>, IfaceId) {
    let (sender, receiver) = match about.from {
        Side::Client => (&m.client, &m.server),
        Side::Server => (&m.server, &m.client),
    };
    (
        icmpv4_unreachable_frame(receiver, sender, &m.frame(about)),
        receiver.iface,
    )
}

// === The quoted sequence number ===

/// An error toward either side passes when the segment it quotes lies in
/// that side's window (some 8 MB here, both sides scaling by 7), and is
/// dropped as `icmp-err-bad-seq` when it lies far ahead of what the side
/// sent or far behind it. Before, any sequence
/// number passed: anyone who knew a connection's addresses and ports
/// could send its endpoints errors about it.
#[test]
fn an_error_quoting_a_sequence_number_outside_the_window_is_dropped() {
    let mut h = Harness::inspecting_icmp();
    let mut m = model(40_020);
    for seg in m.handshake() {
        assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
    }
    let data = m.data(Side::Client, 1000);
    assert_eq!(h.tcp(&m, &data), FWD_OUT);
    let reply = m.data(Side::Server, 500);
    assert_eq!(h.tcp(&m, &reply), FWD_IN);
    for (side, sent) in [(Side::Client, data.seq), (Side::Server, reply.seq)] {
        let next = m.next_seq(side);
        for (seq, passes) in [
            (sent, true),
            (next, true),
            (next.wrapping_add(100_000_000), false),
            (next.wrapping_sub(100_000_000), false),
            (next.wrapping_add(1 << 31), false),
        ] {
            let (err, from) = error_about(&m, &at_seq(side, seq));
            let want = if passes {
                Verdict::Forward {
                    egress: m.iface(side),
                }
            } else {
                Verdict::Drop(DropReason::IcmpErrorBadSeq)
            };
            assert_eq!(h.frame(err, from), want, "{side:?} {seq}");
        }
    }
    assert_eq!(h.dropped(DropReason::IcmpErrorBadSeq), 6);
    assert_eq!(h.engine.counters().icmp_related_passed, 4);
}

/// An error about the SYN of a connection still in SYN-SENT (a port or
/// host unreachable, the usual error about a connection) passes: the
/// responder has advertised no window yet.
#[test]
fn an_error_about_the_syn_passes() {
    let mut h = Harness::inspecting_icmp();
    let mut m = model(40_021);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    let (err, from) = error_about(&m, &syn);
    assert_eq!(h.frame(err, from), FWD_IN);
    let (err, from) = error_about(&m, &at_seq(Side::Client, syn.seq.wrapping_add(1 << 20)));
    assert_eq!(
        h.frame(err, from),
        Verdict::Drop(DropReason::IcmpErrorBadSeq)
    );
}

/// With randomization the initiator's segment leaves shifted, and an
/// error from the responder's side quotes it so: that error passes (and
/// reaches the initiator with its own sequence number, `quote.rs`). The
/// initiator's own sequence number, which the far side never saw, is
/// outside the window there: an error quoting it is a guess, dropped.
#[test]
fn an_error_about_a_randomized_segment_is_judged_as_it_travelled() {
    let (mut h, mut m, delta) = randomized_established(44_020);
    assert!(
        (1 << 20..u32::MAX - (1 << 20)).contains(&delta),
        "an offset that moves the sequence number out of any window"
    );
    let data = m.data(Side::Client, 1000);
    let sent = m.frame(&data);
    let mut out = sent.clone();
    let v = h
        .engine
        .process(&mut out, PacketMeta::default(), m.client.iface, h.now);
    assert_eq!(v, FWD_OUT);
    let as_travelled = icmpv4_unreachable_frame(&m.server, &m.client, &out);
    assert_eq!(h.frame(as_travelled, m.server.iface), FWD_IN);
    let as_sent = icmpv4_unreachable_frame(&m.server, &m.client, &sent);
    assert_eq!(
        h.frame(as_sent, m.server.iface),
        Verdict::Drop(DropReason::IcmpErrorBadSeq)
    );
    // The responder's sequence numbers are never shifted.
    let reply = m.data(Side::Server, 100);
    let mut f = m.frame(&reply);
    let v = h
        .engine
        .process(&mut f, PacketMeta::default(), m.server.iface, h.now);
    assert_eq!(v, FWD_IN);
    let (err, from) = error_about(&m, &reply);
    assert_eq!(h.frame(err, from), FWD_OUT);
}

// === Size ===

/// An ICMPv4 error about a UDP flow, from the server to the client,
/// quoting `quoted` bytes of `probe`'s IP packet.
fn unreachable_quoting(
    s: &crate::trace::Host,
    c: &crate::trace::Host,
    probe: &[u8],
    quoted: usize,
) -> Vec<u8> {
    let (std::net::IpAddr::V4(src), std::net::IpAddr::V4(dst)) = (s.ip, c.ip) else {
        panic!("IPv4 hosts");
    };
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2(s.mac, c.mac)
        .ipv4(src.octets(), dst.octets(), 64)
        .icmpv4_raw(3, 3, [0; 4])
        .write(&mut out, &probe[14..14 + quoted])
        .unwrap();
    out
}

/// RFC 1812 §4.3.2.3: an ICMPv4 error's datagram is at most 576 bytes.
/// One that quotes a connection passes up to that and not a byte more:
/// before, an error quoting a live flow could carry a jumbo frame of
/// anything past a policy that denies it.
#[test]
fn an_error_longer_than_576_bytes_is_dropped() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(4444, 5555);
    let probe = udp_frame(&c, &s, &[0x55; 1400]);
    assert_eq!(h.frame(probe.clone(), c.iface), FWD_OUT);
    let most = unreachable_quoting(&s, &c, &probe, 576 - 28);
    assert_eq!(most.len() - 14, 576);
    assert_eq!(h.frame(most, s.iface), FWD_IN);
    let longer = unreachable_quoting(&s, &c, &probe, 576 - 27);
    assert_eq!(
        h.frame(longer, s.iface),
        Verdict::Drop(DropReason::IcmpErrorTooLong)
    );
    assert_eq!(h.dropped(DropReason::IcmpErrorTooLong), 1);
}
