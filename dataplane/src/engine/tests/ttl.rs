//! `ttl-evasion-protection` (docs/asa-behaviour.md §6.1): a direction's
//! TTL may fall, never rise, and only a segment the tracker checked (or a
//! SYN that starts its direction anew) moves the floor.

use super::*;

#[test]
fn normalizer_clamps_ttl_and_drops_synack_with_data() {
    let mut h = Harness::new();
    let mut m = model(43_002);
    let syn = m.syn();
    h.tcp(&m, &syn);
    let mut sa = m.clone().syn_ack();
    sa.payload_len = 10;
    assert_eq!(h.tcp(&m, &sa), Verdict::Drop(DropReason::TcpSynAckData));
    let sa = m.syn_ack();
    assert_eq!(h.tcp(&m, &sa), FWD_IN);
    // A client packet with a lower TTL sets the minimum; a later higher one
    // is lowered to it (ttl-evasion-protection).
    let ack = m.ack(Side::Client);
    let mut f = m.frame(&ack);
    f[14 + 8] = 10; // TTL
    let c = u16::from_be_bytes([f[24], f[25]]);
    let fixed = crate::packet::rewrite::adjust16(
        c,
        u16::from_be_bytes([64, 6]),
        u16::from_be_bytes([10, 6]),
    );
    f[24..26].copy_from_slice(&fixed.to_be_bytes());
    assert_eq!(
        h.engine
            .process(&mut f, PacketMeta::default(), m.client.iface, h.now),
        FWD_OUT
    );
    let d = m.data(Side::Client, 10);
    let mut f = m.frame(&d);
    assert_eq!(
        h.engine
            .process(&mut f, PacketMeta::default(), m.client.iface, h.now),
        FWD_OUT
    );
    assert_eq!(f[14 + 8], 10, "TTL lowered to the connection minimum");
    delivered(&f);
    assert_eq!(h.engine.counters().normalizer.ttl_clamped, 1);
}

/// `frame` (Ethernet, IPv4) with its TTL set, the header checksum fixed.
fn with_ttl(mut f: Vec<u8>, ttl: u8) -> Vec<u8> {
    let old = u16::from_be_bytes([f[22], f[23]]);
    f[22] = ttl;
    let new = u16::from_be_bytes([f[22], f[23]]);
    let c = crate::packet::rewrite::adjust16(u16::from_be_bytes([f[24], f[25]]), old, new);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

/// Segments the tracker lets by without a window check (a SYN or SYN-ACK
/// inside a live connection, any sequence number) must not lower the
/// TTL floor: a blind sender who guessed the tuple would otherwise have
/// every later genuine segment of that direction leave with TTL 1 and die
/// at the first router.
#[test]
fn unchecked_segments_do_not_lower_the_ttl_floor() {
    let mut h = Harness::new();
    let mut m = model(43_010);
    for seg in m.handshake() {
        assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
    }
    let blind = |from, seq, ack, flags| crate::trace::Seg {
        from,
        seq,
        ack,
        flags,
        window: 1000,
        wscale: None,
        sack: vec![],
        payload_len: 0,
    };
    let syn = blind(Side::Client, 0xdead_beef, 0, TcpFlags::SYN);
    assert_eq!(h.frame(with_ttl(m.frame(&syn), 1), m.client.iface), FWD_OUT);
    let sa = blind(
        Side::Server,
        0x1234_5678,
        0x9abc_def0,
        TcpFlags::SYN | TcpFlags::ACK,
    );
    assert_eq!(h.frame(with_ttl(m.frame(&sa), 1), m.server.iface), FWD_IN);
    assert_eq!(h.only_entry().min_ttl, [64, 64], "the floors stand");
    for side in [Side::Client, Side::Server] {
        let d = m.data(side, 100);
        let mut f = m.frame(&d);
        let v = h
            .engine
            .process(&mut f, PacketMeta::default(), m.iface(side), h.now);
        assert!(matches!(v, Verdict::Forward { .. }), "{side:?}: {v:?}");
        assert_eq!(f[22], 64, "{side:?}: genuine data keeps its TTL");
    }
    // A checked segment still lowers it.
    let d = m.data(Side::Client, 10);
    assert_eq!(h.frame(with_ttl(m.frame(&d), 9), m.client.iface), FWD_OUT);
    assert_eq!(h.only_entry().min_ttl[0], 9);
}

/// A blind SYN in SYN_SENT restarts the initiator's sequence space (the
/// tracker takes a retransmitted SYN with a new ISN), and with it the TTL
/// floor: the initiator's own retransmission restores both, so a TTL of 1
/// does not outlive it and floor the whole connection.
#[test]
fn a_blind_syn_in_syn_sent_does_not_floor_the_connection() {
    let mut h = Harness::new();
    let mut m = model(43_011);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    let blind = crate::trace::Seg {
        seq: 0xdead_beef,
        ..syn.clone()
    };
    assert_eq!(
        h.frame(with_ttl(m.frame(&blind), 1), m.client.iface),
        FWD_OUT
    );
    assert_eq!(h.only_entry().min_ttl[0], 1);
    assert_eq!(h.tcp(&m, &syn), FWD_OUT, "the client's retransmission");
    assert_eq!(h.only_entry().min_ttl[0], 64);
    for seg in [m.syn_ack(), m.ack(Side::Client), m.data(Side::Client, 10)] {
        let mut f = m.frame(&seg);
        let v = h
            .engine
            .process(&mut f, PacketMeta::default(), m.iface(seg.from), h.now);
        assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
        assert_eq!(f[22], 64, "{seg:?} keeps its TTL");
    }
}
