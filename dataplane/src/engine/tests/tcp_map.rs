//! A class's `tcp-map` (docs/asa-behaviour.md §6.1): each option's allow,
//! clear and drop through the engine, the checksum valid after every
//! rewrite, and the tracker judging what the receiver got (a window scale
//! cleared from the handshake means no side scales).

use super::mss::{checksum_field, fresh_checksum};
use super::*;

/// The harness's policy (randomization off, no MSS clamp) with
/// class-default applying tcp-map M of `lines` (none: no map at all).
fn with_map(lines: Option<&str>) -> crate::policy::ast::Config {
    let mut text = "sysopt connection tcpmss 0\n".to_string();
    text += "policy-map global_policy\n class class-default\n  set connection random-sequence-number disable\n";
    if let Some(lines) = lines {
        text += &format!("  set connection advanced-options M\ntcp-map M\n{lines}\n");
    }
    text += "service-policy global_policy global\n";
    crate::policy::parse::parse_config(&text)
        .unwrap_or_else(|e| panic!("{text}\n{e}"))
        .config
}

fn harness(lines: Option<&str>) -> Harness {
    let mut h = Harness::new();
    h.install(with_map(lines));
    h
}

/// `frame` with its window-scale option (3 bytes) made of kind `kind`
/// (19: a TCP MD5 signature's number, RFC 2385), checksum fixed.
fn with_kind(mut frame: Vec<u8>, kind: u8) -> Vec<u8> {
    let at = crate::trace::tcp_option_at(&frame, 3).expect("the option");
    frame[at] = kind;
    let sum = fresh_checksum(&frame);
    frame[14 + 20 + 16..14 + 20 + 18].copy_from_slice(&sum.to_be_bytes());
    frame
}

fn send(h: &mut Harness, frame: &mut [u8], iface: IfaceId) -> Verdict {
    h.engine.process(frame, PacketMeta::default(), iface, h.now)
}

fn assert_checksum_valid(frame: &[u8]) {
    assert_eq!(checksum_field(frame), fresh_checksum(frame));
}

#[test]
fn option_kind_19_is_cleared_by_default_allowed_or_dropped_by_a_range() {
    let syn = |port| {
        let mut m = model(port);
        let s = m.syn();
        with_kind(m.frame(&s), 19)
    };
    // No map, and a map that leaves kind 19 alone: cleared to NOPs.
    for lines in [None, Some(" urgent-flag allow")] {
        let mut h = harness(lines);
        let mut f = syn(42_000);
        assert_eq!(send(&mut h, &mut f, IfaceId(0)), FWD_OUT);
        let at = crate::trace::tcp_option_at(&syn(42_000), 19).expect("the option");
        assert_eq!(&f[at..at + 3], &[1, 1, 1], "{lines:?}");
        assert_checksum_valid(&f);
        assert_eq!(h.engine.counters().normalizer.options_cleared, 1);
    }
    // `tcp-options range 19 19 allow`: untouched.
    let mut h = harness(Some(" tcp-options range 19 19 allow"));
    let clean = syn(42_001);
    let mut f = clean.clone();
    assert_eq!(send(&mut h, &mut f, IfaceId(0)), FWD_OUT);
    assert_eq!(f, clean);
    assert_eq!(h.engine.counters().normalizer.options_cleared, 0);
    // The last line covering a kind decides it: drop, nothing opened.
    let mut h = harness(Some(
        " tcp-options range 19 19 allow\n tcp-options range 9 255 drop",
    ));
    let mut f = syn(42_002);
    assert_eq!(
        send(&mut h, &mut f, IfaceId(0)),
        Verdict::Drop(DropReason::TcpOptionDrop)
    );
    assert_eq!(h.dropped(DropReason::TcpOptionDrop), 1);
    assert_eq!(h.engine.table().len(), 0);
}

/// `tcp-options window-scale clear`: the option leaves both SYNs as NOPs,
/// so neither end scales (RFC 7323 §2.2), and the tracker must judge
/// windows unscaled as well: data past the unscaled window is dropped,
/// data within it passes.
#[test]
fn a_cleared_window_scale_means_unscaled_windows_for_the_tracker() {
    let mut h = harness(Some(" tcp-options window-scale clear"));
    let (c, s) = v4_pair(42_100, 80);
    // The ends offer scale 7; after the firewall neither saw it: the
    // conversation goes on as between ends that never offered it.
    let mut offered = TcpModel::new(c, s, [100, 900_000], [64_240, 4_000], [Some(7), Some(7)]);
    let mut m = TcpModel::new(c, s, [100, 900_000], [64_240, 4_000], [None, None]);
    let syn = offered.syn();
    let mut f = offered.frame(&syn);
    let at = crate::trace::tcp_option_at(&f, 3).expect("the option");
    assert_eq!(send(&mut h, &mut f, IfaceId(0)), FWD_OUT);
    assert_eq!(&f[at..at + 3], &[1, 1, 1]);
    assert_checksum_valid(&f);
    let sa = offered.syn_ack();
    let mut f = offered.frame(&sa);
    assert_eq!(send(&mut h, &mut f, IfaceId(1)), FWD_IN);
    let [_, _, ack] = m.handshake();
    assert_eq!(h.tcp(&m, &ack), FWD_OUT);
    // A window the server gives after its SYN-ACK is scaled, if at all.
    let update = m.ack(Side::Server);
    assert_eq!(h.tcp(&m, &update), FWD_IN);
    // The server's window is 4000 bytes unscaled (512000 had scale 7
    // held): 3000 bytes pass; a segment starting 5000 bytes in lies past
    // it (one starting inside and ending past would pass, §6.1).
    let d = m.data(Side::Client, 3000);
    assert_eq!(h.tcp(&m, &d), FWD_OUT);
    let mut past = m.data(Side::Client, 100);
    past.seq = past.seq.wrapping_add(2000);
    assert_eq!(
        h.tcp(&m, &past),
        Verdict::Drop(DropReason::TcpSeqPastWindow)
    );
}

#[test]
fn syn_data_and_reserved_bits_and_exceed_mss_drop_under_a_map() {
    // syn-data drop.
    let mut h = harness(Some(" syn-data drop"));
    let mut m = model(42_200);
    let mut syn = m.syn();
    syn.payload_len = 10;
    assert_eq!(h.tcp(&m, &syn), Verdict::Drop(DropReason::TcpSynData));
    assert_eq!(h.engine.table().len(), 0);
    // Without the map it passes, counted.
    let mut h = harness(None);
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    assert_eq!(h.engine.counters().normalizer.syn_data_seen, 1);

    // reserved-bits drop, and clear (the checksum kept valid).
    let reserved = |port| {
        let mut m = model(port);
        let s = m.syn();
        let mut f = m.frame(&s);
        f[14 + 20 + 12] |= 0x02;
        let sum = fresh_checksum(&f);
        f[14 + 20 + 16..14 + 20 + 18].copy_from_slice(&sum.to_be_bytes());
        f
    };
    let mut h = harness(Some(" reserved-bits drop"));
    assert_eq!(
        send(&mut h, &mut reserved(42_201), IfaceId(0)),
        Verdict::Drop(DropReason::TcpReservedSet)
    );
    let mut h = harness(Some(" reserved-bits clear"));
    let mut f = reserved(42_202);
    assert_eq!(send(&mut h, &mut f, IfaceId(0)), FWD_OUT);
    assert_eq!(f[14 + 20 + 12] & 0x0f, 0);
    assert_checksum_valid(&f);
    assert_eq!(h.engine.counters().normalizer.reserved_bits_cleared, 1);

    // exceed-mss drop: the model announces 1460.
    let mut h = harness(Some(" exceed-mss drop"));
    let mut m = model(42_203);
    for s in m.handshake() {
        assert!(matches!(h.tcp(&m, &s), Verdict::Forward { .. }));
    }
    let ok = m.data(Side::Client, 1460);
    assert_eq!(h.tcp(&m, &ok), FWD_OUT);
    let big = m.data(Side::Client, 1461);
    assert_eq!(h.tcp(&m, &big), Verdict::Drop(DropReason::TcpMssExceeded));
}

/// `urgent-flag allow` keeps URG and its pointer; the default clears them.
#[test]
fn urgent_flag_allow_keeps_the_urgent_pointer() {
    for (lines, kept) in [(None, false), (Some(" urgent-flag allow"), true)] {
        let mut h = harness(lines);
        let mut m = model(42_300);
        for s in m.handshake() {
            assert!(matches!(h.tcp(&m, &s), Verdict::Forward { .. }));
        }
        let mut d = m.data(Side::Client, 10);
        d.flags |= TcpFlags::URG;
        let mut f = m.frame(&d);
        assert_eq!(send(&mut h, &mut f, IfaceId(0)), FWD_OUT);
        assert_eq!(f[14 + 20 + 13] & 0x20 != 0, kept, "{lines:?}");
        assert_checksum_valid(&f);
    }
}

/// The frame of `seg` with its TTL set to `ttl` (the IPv4 header checksum
/// fixed; the TCP checksum does not cover the TTL).
fn with_ttl(m: &TcpModel, seg: &Seg, ttl: u8) -> Vec<u8> {
    let mut f = m.frame(seg);
    f[14 + 8] = ttl;
    f[14 + 10..14 + 12].fill(0);
    let mut sum = 0u32;
    for w in f[14..14 + 20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[14 + 10..14 + 12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f
}

/// `synack-data allow`: a SYN-ACK carrying data passes, the tracker counts
/// its data in the responder's sequence space (the initiator acknowledges
/// it), and the responder's retransmission of it passes too. The default
/// drops it.
#[test]
fn synack_data_allow_passes_it_and_the_tracker_counts_its_data() {
    let mut h = harness(None);
    let mut m = model(42_400);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    let mut sa = m.syn_ack();
    sa.payload_len = 10;
    assert_eq!(h.tcp(&m, &sa), Verdict::Drop(DropReason::TcpSynAckData));

    let mut h = harness(Some(" synack-data allow"));
    let (c, s) = v4_pair(42_401, 80);
    let mut m = TcpModel::new(c, s, [100, 900_000], [64_240, 65_160], [Some(7), Some(7)]);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    // The model's server sends its SYN-ACK with 10 bytes: the client then
    // acknowledges 900_000 + 1 + 10.
    let mut sa = m.syn_ack();
    sa.payload_len = 10;
    let mut f = m.frame(&sa);
    assert_eq!(send(&mut h, &mut f, IfaceId(1)), FWD_IN);
    // Its retransmission, before the client's ACK.
    let mut f = m.frame(&sa);
    assert_eq!(send(&mut h, &mut f, IfaceId(1)), FWD_IN);
    let mut ack = m.ack(Side::Client);
    ack.ack = 900_000 + 1 + 10;
    assert_eq!(h.tcp(&m, &ack), FWD_OUT);
    let ProtoState::Tcp(t) = h.only_entry().proto else {
        panic!("a tracked connection")
    };
    assert_eq!(t.state, TcpState::Established);
    // An acknowledgement beyond the data the SYN-ACK carried is refused.
    let mut beyond = m.ack(Side::Client);
    beyond.ack = 900_000 + 1 + 10 + 5000;
    assert!(matches!(h.tcp(&m, &beyond), Verdict::Drop(_)));
}

/// `tcp-options selective-ack clear`: SACK-permitted leaves the SYN as
/// NOPs and SACK blocks leave data segments as NOPs (checksums valid);
/// the tracker, as the receiver, never sees them. The default passes both.
#[test]
fn selective_ack_clear_nops_sack_permitted_and_sack_blocks() {
    for (lines, cleared) in [
        (None, false),
        (Some(" tcp-options selective-ack clear"), true),
    ] {
        let mut h = harness(lines);
        let mut m = model(42_500);
        let syn = m.syn();
        let clean = m.frame(&syn);
        let mut f = clean.clone();
        let at = crate::trace::tcp_option_at(&clean, 4).expect("the option");
        assert_eq!(send(&mut h, &mut f, IfaceId(0)), FWD_OUT);
        assert_eq!(f[at..at + 2] == [1, 1], cleared, "{lines:?}");
        assert_checksum_valid(&f);
        for s in [m.syn_ack(), m.ack(Side::Client)] {
            assert!(matches!(h.tcp(&m, &s), Verdict::Forward { .. }));
        }
        let d = m.data(Side::Client, 1000);
        assert_eq!(h.tcp(&m, &d), FWD_OUT);
        let mut a = m.ack(Side::Server);
        a.sack = vec![(100 + 1 + 200, 100 + 1 + 400)];
        let clean = m.frame(&a);
        let mut f = clean.clone();
        let at = crate::trace::tcp_option_at(&clean, 5).expect("the option");
        assert_eq!(send(&mut h, &mut f, IfaceId(1)), FWD_IN);
        assert_eq!(f[at..at + 10] == [1; 10], cleared, "{lines:?}");
        assert_checksum_valid(&f);
        // SACK-permitted of both SYNs, and the block.
        assert_eq!(
            h.engine.counters().normalizer.options_cleared,
            if cleared { 3 } else { 0 }
        );
    }
}

/// `tcp-options timestamp clear`: the timestamps option (kind 8, RFC 7323
/// §3) leaves as NOPs, the checksum valid; the default passes it.
#[test]
fn timestamp_clear_nops_the_timestamps_option() {
    for (lines, cleared) in [(None, false), (Some(" tcp-options timestamp clear"), true)] {
        let mut h = harness(lines);
        let mut m = model(42_600);
        for s in m.handshake() {
            assert!(matches!(h.tcp(&m, &s), Verdict::Forward { .. }));
        }
        // A SACK option of one block is as long as timestamps: make it one.
        let mut d = m.data(Side::Client, 100);
        d.sack = vec![(1, 2)];
        let mut f = m.frame(&d);
        let at = crate::trace::tcp_option_at(&f, 5).expect("the option");
        f[at] = 8;
        f[at + 2..at + 10].copy_from_slice(&[0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78]);
        let sum = fresh_checksum(&f);
        f[14 + 20 + 16..14 + 20 + 18].copy_from_slice(&sum.to_be_bytes());
        let clean = f.clone();
        assert_eq!(send(&mut h, &mut f, IfaceId(0)), FWD_OUT);
        if cleared {
            assert_eq!(&f[at..at + 10], &[1; 10]);
        } else {
            assert_eq!(f, clean);
        }
        assert_checksum_valid(&f);
    }
}

/// `no ttl-evasion-protection`: a packet with a higher TTL than the
/// connection's earlier ones leaves with its own; the default lowers it to
/// the direction's floor.
#[test]
fn no_ttl_evasion_protection_leaves_the_ttl_alone() {
    for (lines, clamped) in [(None, true), (Some(" no ttl-evasion-protection"), false)] {
        let mut h = harness(lines);
        let mut m = model(42_700);
        let syn = m.syn();
        let mut f = with_ttl(&m, &syn, 30);
        assert_eq!(send(&mut h, &mut f, IfaceId(0)), FWD_OUT);
        for s in [m.syn_ack(), m.ack(Side::Client)] {
            assert!(matches!(h.tcp(&m, &s), Verdict::Forward { .. }));
        }
        let d = m.data(Side::Client, 10);
        let mut f = with_ttl(&m, &d, 64);
        assert_eq!(send(&mut h, &mut f, IfaceId(0)), FWD_OUT);
        assert_eq!(f[14 + 8], if clamped { 30 } else { 64 }, "{lines:?}");
        assert_eq!(h.engine.counters().normalizer.ttl_clamped > 0, clamped);
    }
}

/// A class with limits and no map before the class with the map: the ASA
/// gives a connection matching both the first class's limits and the
/// second's map (docs/asa-behaviour.md §2.3); Rampart takes both from the
/// first class, so the connection has the default normalizer and a kind
/// the map drops is cleared and forwarded (a difference from the ASA,
/// §6.1, of which `config check` warns).
#[test]
fn a_limits_class_before_a_map_class_hides_the_maps_drop() {
    let text = "sysopt connection tcpmss 0\nclass-map WEB\n match port tcp eq 80\ntcp-map M\n tcp-options range 19 19 drop\npolicy-map global_policy\n class WEB\n  set connection conn-max 1000\n  set connection random-sequence-number disable\n class class-default\n  set connection random-sequence-number disable\n  set connection advanced-options M\nservice-policy global_policy global\n";
    let mut h = Harness::new();
    h.install(
        crate::policy::parse::parse_config(text)
            .unwrap_or_else(|e| panic!("{text}\n{e}"))
            .config,
    );
    let mut m = model(43_100);
    let s = m.syn();
    let clean = with_kind(m.frame(&s), 19);
    let mut f = clean.clone();
    assert_eq!(send(&mut h, &mut f, IfaceId(0)), FWD_OUT);
    let at = crate::trace::tcp_option_at(&clean, 19).expect("the option");
    assert_eq!(&f[at..at + 3], &[1, 1, 1]);
    assert_eq!(h.engine.counters().normalizer.options_cleared, 1);
}

/// `synack-data allow` and an initiator that discards the SYN-ACK's data
/// (Linux does, in SYN-SENT): its ACK acknowledges the SYN only. The
/// handshake completes; the data stays unacknowledged, the responder
/// retransmits it, and the initiator's ACK of it passes. An ACK before the
/// SYN's acknowledgement or past the data's end still drops.
#[test]
fn synack_data_allow_and_an_initiator_that_acks_the_syn_only() {
    let start = |port| {
        let mut h = harness(Some(" synack-data allow"));
        let (c, s) = v4_pair(port, 80);
        let mut m = TcpModel::new(c, s, [100, 900_000], [64_240, 65_160], [Some(7), Some(7)]);
        let syn = m.syn();
        assert_eq!(h.tcp(&m, &syn), FWD_OUT);
        let mut sa = m.syn_ack();
        sa.payload_len = 10;
        assert_eq!(h.tcp(&m, &sa), FWD_IN);
        (h, m)
    };
    // Acknowledging the SYN only (the model's client did not take the data).
    let (mut h, mut m) = start(42_410);
    let ack = m.ack(Side::Client);
    assert_eq!(ack.ack, 900_001);
    assert_eq!(h.tcp(&m, &ack), FWD_OUT);
    let ProtoState::Tcp(t) = h.only_entry().proto else {
        panic!("a tracked connection")
    };
    assert_eq!(t.state, TcpState::Established);
    assert_eq!(t.synack_data, 0);
    // The data counts as sent: the client's ACK of it is no ACK of unsent
    // data.
    assert_eq!(t.half[1].end.0, 900_000 + 1 + 10);
    let d = m.data(Side::Client, 100);
    assert_eq!(h.tcp(&m, &d), FWD_OUT);
    // The server retransmits the 10 bytes; the client acknowledges them.
    let again = m.data(Side::Server, 10);
    assert_eq!(again.seq, 900_001);
    assert_eq!(h.tcp(&m, &again), FWD_IN);
    let a = m.ack(Side::Client);
    assert_eq!(a.ack, 900_000 + 1 + 10);
    assert_eq!(h.tcp(&m, &a), FWD_OUT);
    // Part of the data, within the range, passes too.
    let (mut h, mut m) = start(42_411);
    let mut part = m.ack(Side::Client);
    part.ack = 900_000 + 1 + 4;
    assert_eq!(h.tcp(&m, &part), FWD_OUT);
    // Before the SYN's acknowledgement, or past the data's end: dropped,
    // and the handshake stays open.
    for bad in [900_000, 900_000 + 1 + 10 + 1] {
        let (mut h, mut m) = start(42_412);
        let mut ack = m.ack(Side::Client);
        ack.ack = bad;
        assert_eq!(
            h.tcp(&m, &ack),
            Verdict::Drop(DropReason::Tcp3whsFailed),
            "{bad}"
        );
        let ProtoState::Tcp(t) = h.only_entry().proto else {
            panic!("a tracked connection")
        };
        assert_eq!((t.state, t.synack_data), (TcpState::SynRecv, 10), "{bad}");
    }
}
