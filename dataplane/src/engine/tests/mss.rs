//! `sysopt connection tcpmss` (docs/asa-behaviour.md §6.3): the MSS option
//! of every SYN and SYN-ACK that passes is lowered to the maximum (1380 by
//! default) or raised to the minimum, in place, with the TCP checksum
//! kept valid; a SYN without the option is left alone; the tracker
//! records, and `exceed-mss` compares with, the MSS the receiver got.

use super::*;
use crate::trace::v6_pair;

/// The harness's policy (randomization off) with the clamp off, for tests
/// that compare frames or count against the MSS the model announces
/// (1460) and are about something else.
pub(super) fn unclamped() -> crate::policy::ast::Config {
    let mut cfg = crate::policy::compile::randomization_off();
    cfg.tcpmss.maximum = Some(0);
    cfg
}

/// The harness's policy with these `sysopt` lines.
fn sysopt(lines: &str) -> crate::policy::ast::Config {
    let mut cfg = crate::policy::parse::parse_config(lines).unwrap().config;
    crate::policy::compile::disable_randomization(&mut cfg);
    cfg
}

/// Where the TCP header of a frame starts (Ethernet, then IPv4 without
/// options or IPv6 without extension headers, as the model builds them).
fn l4(frame: &[u8]) -> usize {
    if frame[12..14] == [0x86, 0xdd] {
        14 + 40
    } else {
        14 + 20
    }
}

/// The TCP checksum of `frame` computed from scratch (RFC 9293 §3.1,
/// RFC 8200 §8.1 for the pseudo-header): the reference the incremental
/// updates are checked against.
pub(super) fn fresh_checksum(frame: &[u8]) -> u16 {
    let at = l4(frame);
    let v6 = at == 14 + 40;
    let mut bytes = Vec::new();
    let len = (frame.len() - at) as u32;
    if v6 {
        bytes.extend_from_slice(&frame[14 + 8..14 + 40]);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 6]);
    } else {
        bytes.extend_from_slice(&frame[14 + 12..14 + 20]);
        bytes.extend_from_slice(&[0, 6]);
        bytes.extend_from_slice(&(len as u16).to_be_bytes());
    }
    let mut seg = frame[at..].to_vec();
    seg[16..18].copy_from_slice(&[0, 0]);
    bytes.extend_from_slice(&seg);
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The checksum field as it is.
pub(super) fn checksum_field(frame: &[u8]) -> u16 {
    let at = l4(frame) + 16;
    u16::from_be_bytes([frame[at], frame[at + 1]])
}

/// Set the checksum from scratch, after a test changed the header.
fn refresh_checksum(frame: &mut [u8]) {
    let sum = fresh_checksum(frame);
    let at = l4(frame) + 16;
    frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
}

/// Where the model's SYN or SYN-ACK carries its MSS option (kind 2, length 4).
fn mss_at(frame: &[u8]) -> usize {
    let at = l4(frame) + 20;
    assert_eq!(frame[at..at + 2], [2, 4], "the model writes MSS first");
    at
}

/// `frame` announcing `mss` instead (or with the option overwritten by
/// NOPs: `None`), its checksum right.
fn with_mss(mut frame: Vec<u8>, mss: Option<u16>) -> Vec<u8> {
    let at = mss_at(&frame);
    match mss {
        Some(v) => frame[at + 2..at + 4].copy_from_slice(&v.to_be_bytes()),
        None => frame[at..at + 4].copy_from_slice(&[1; 4]),
    }
    refresh_checksum(&mut frame);
    frame
}

/// The model's next SYN, as a frame.
fn syn_frame(m: &mut TcpModel) -> Vec<u8> {
    let seg = m.syn();
    m.frame(&seg)
}

/// The model's SYN-ACK, as a frame.
fn syn_ack_frame(m: &mut TcpModel) -> Vec<u8> {
    let seg = m.syn_ack();
    m.frame(&seg)
}

/// Send `frame` from `side` of `m`; returns the verdict and the frame as it
/// left.
fn pass(h: &mut Harness, m: &TcpModel, side: Side, frame: Vec<u8>) -> (Verdict, Vec<u8>) {
    let mut f = frame;
    let v = h
        .engine
        .process(&mut f, PacketMeta::default(), m.iface(side), h.now);
    (v, f)
}

/// The frame left as it came but for the MSS option's value and the TCP
/// checksum, which is the one computed from scratch.
fn only_mss_changed(before: &[u8], after: &[u8], mss: u16) {
    assert_eq!(before.len(), after.len());
    let at = mss_at(before);
    let csum = l4(before) + 16;
    for (i, (a, b)) in before.iter().zip(after).enumerate() {
        if !(at + 2..at + 4).contains(&i) && !(csum..csum + 2).contains(&i) {
            assert_eq!(a, b, "byte {i} changed");
        }
    }
    assert_eq!(after[at + 2..at + 4], mss.to_be_bytes());
    assert_eq!(checksum_field(after), fresh_checksum(after));
    assert_eq!(delivered(after).options.mss, Some(mss));
}

/// What the tracker recorded as each side's announced MSS.
fn recorded_mss(h: &Harness) -> [u16; 2] {
    match &h.only_entry().proto {
        ProtoState::Tcp(t) => [t.half[0].mss, t.half[1].mss],
        other => panic!("{other:?}"),
    }
}

// === the default: 1380 ===

#[test]
fn a_syn_announcing_1460_leaves_announcing_1380_with_a_valid_checksum() {
    let mut h = Harness::new();
    let mut m = model(44_000);
    let syn = syn_frame(&mut m);
    assert_eq!(delivered(&syn).options.mss, Some(1460));
    let (v, out) = pass(&mut h, &m, Side::Client, syn.clone());
    assert_eq!(v, FWD_OUT);
    only_mss_changed(&syn, &out, 1380);
    assert_eq!(h.engine.counters().normalizer.mss_clamped, 1);
    // The SYN-ACK, the other way, too: "either endpoint".
    let sa = syn_ack_frame(&mut m);
    let (v, out) = pass(&mut h, &m, Side::Server, sa.clone());
    assert_eq!(v, FWD_IN);
    only_mss_changed(&sa, &out, 1380);
    assert_eq!(h.engine.counters().normalizer.mss_clamped, 2);
    // What each side received is what the tracker keeps.
    assert_eq!(recorded_mss(&h), [1380, 1380]);
    // Nothing but SYNs: the handshake's ACK and data pass untouched.
    for seg in [m.ack(Side::Client), m.data(Side::Client, 100)] {
        let f = m.frame(&seg);
        assert_eq!(pass(&mut h, &m, Side::Client, f.clone()), (FWD_OUT, f));
    }
    assert_eq!(h.engine.counters().normalizer.mss_clamped, 2);
}

#[test]
fn an_mss_at_or_below_the_maximum_is_left_alone() {
    for (port, mss) in [(44_001, 1200), (44_101, 1380)] {
        let mut h = Harness::new();
        let mut m = model(port);
        let syn = with_mss(syn_frame(&mut m), Some(mss));
        let (v, out) = pass(&mut h, &m, Side::Client, syn.clone());
        assert_eq!((v, out), (FWD_OUT, syn), "MSS {mss}");
        assert_eq!(h.engine.counters().normalizer.mss_clamped, 0);
        assert_eq!(recorded_mss(&h)[0], mss);
    }
}

/// "If the host or server does not request a TCP MSS, then the ASA
/// assumes the RFC 793-default value … but does not modify the packet"
/// (General Operations CLI Configuration Guide, "About the TCP MSS"):
/// no option is added, with a minimum set too.
#[test]
fn a_syn_without_an_mss_option_is_not_given_one() {
    let mut h = Harness::new();
    h.install(sysopt("sysopt connection tcpmss minimum 536\n"));
    let mut m = model(44_002);
    let syn = with_mss(syn_frame(&mut m), None);
    assert_eq!(delivered(&syn).options.mss, None);
    let (v, out) = pass(&mut h, &m, Side::Client, syn.clone());
    assert_eq!((v, out), (FWD_OUT, syn));
    let sa = with_mss(syn_ack_frame(&mut m), None);
    assert_eq!(pass(&mut h, &m, Side::Server, sa.clone()), (FWD_IN, sa));
    assert_eq!(h.engine.counters().normalizer.mss_clamped, 0);
    assert_eq!(recorded_mss(&h), [0, 0], "none announced");
}

// === configured bounds ===

#[test]
fn the_minimum_raises_a_small_mss_and_the_maximum_still_lowers() {
    let mut h = Harness::new();
    h.install(sysopt(
        "sysopt connection tcpmss 1200\nsysopt connection tcpmss minimum 536\n",
    ));
    let mut m = model(44_003);
    let syn = with_mss(syn_frame(&mut m), Some(100));
    let (v, out) = pass(&mut h, &m, Side::Client, syn.clone());
    assert_eq!(v, FWD_OUT);
    only_mss_changed(&syn, &out, 536);
    let sa = syn_ack_frame(&mut m);
    let (v, out) = pass(&mut h, &m, Side::Server, sa.clone());
    assert_eq!(v, FWD_IN);
    only_mss_changed(&sa, &out, 1200);
    assert_eq!(recorded_mss(&h), [536, 1200]);
    assert_eq!(h.engine.counters().normalizer.mss_clamped, 2);
}

#[test]
fn tcpmss_0_turns_the_clamp_off() {
    let mut h = Harness::new();
    h.install(sysopt("sysopt connection tcpmss 0\n"));
    let mut m = model(44_004);
    let syn = syn_frame(&mut m);
    assert_eq!(pass(&mut h, &m, Side::Client, syn.clone()), (FWD_OUT, syn));
    assert_eq!(h.engine.counters().normalizer.mss_clamped, 0);
    assert_eq!(recorded_mss(&h)[0], 1460);
}

/// The new policy's clamp applies to the next SYN, as the ASA's does.
#[test]
fn a_new_policy_clamps_the_next_syn_with_its_own_value() {
    let mut h = Harness::new();
    h.install(sysopt("sysopt connection tcpmss 1000\n"));
    let mut m = model(44_005);
    let syn = syn_frame(&mut m);
    let (_, out) = pass(&mut h, &m, Side::Client, syn.clone());
    only_mss_changed(&syn, &out, 1000);
    h.install(sysopt("sysopt connection tcpmss 900\n"));
    let sa = syn_ack_frame(&mut m);
    let (_, out) = pass(&mut h, &m, Side::Server, sa.clone());
    only_mss_changed(&sa, &out, 900);
}

// === exceed-mss ===

/// The normalizer's `exceed-mss` compares a segment with the MSS its
/// receiver announced as the sender got it: after the clamp, 1380.
#[test]
fn exceed_mss_counts_against_the_mss_the_sender_received() {
    let mut h = Harness::new();
    let mut m = model(44_006);
    for seg in m.handshake() {
        h.tcp(&m, &seg);
    }
    let ok = m.data(Side::Client, 1380);
    assert_eq!(h.tcp(&m, &ok), FWD_OUT);
    let ok = m.data(Side::Server, 1380);
    assert_eq!(h.tcp(&m, &ok), FWD_IN);
    assert_eq!(h.engine.counters().normalizer.exceed_mss_seen, 0);
    let big = m.data(Side::Client, 1381);
    assert_eq!(h.tcp(&m, &big), FWD_OUT, "exceed-mss allow: passed");
    let big = m.data(Side::Server, 1381);
    assert_eq!(h.tcp(&m, &big), FWD_IN);
    assert_eq!(h.engine.counters().normalizer.exceed_mss_seen, 2);
}

// === with the other rewrites ===

/// Randomization shifts the SYN's sequence number and the clamp its MSS:
/// both changes in one checksum, equal to one computed from scratch; the
/// SYN-ACK's acknowledgement is shifted back and its MSS lowered alike.
#[test]
fn sequence_randomization_and_the_clamp_rewrite_one_syn() {
    let mut h = Harness::new();
    let mut cfg = crate::policy::ast::Config::default();
    cfg.tcpmss.maximum = Some(1300);
    h.install(cfg);
    let mut m = model(44_007);
    let syn = m.syn();
    let f = m.frame(&syn);
    let (v, out) = pass(&mut h, &m, Side::Client, f.clone());
    assert_eq!(v, FWD_OUT);
    let offset = h.only_entry().seq_offset;
    assert_ne!(offset, 0, "randomized");
    assert_eq!(checksum_field(&out), fresh_checksum(&out));
    let t = delivered(&out);
    assert_eq!(
        (t.seq.0, t.options.mss),
        (syn.seq.wrapping_add(offset), Some(1300))
    );
    m.set_shift(offset);
    let sa = m.syn_ack();
    let (v, out) = pass(&mut h, &m, Side::Server, m.frame(&sa));
    assert_eq!(v, FWD_IN);
    assert_eq!(checksum_field(&out), fresh_checksum(&out));
    let t = delivered(&out);
    assert_eq!(
        (t.ack.0, t.options.mss),
        (syn.seq.wrapping_add(1), Some(1300))
    );
    assert_eq!(h.engine.counters().normalizer.mss_clamped, 2);
}

/// Behind a single NOP the option starts at an odd offset from the TCP
/// header: its value straddles the checksum's 16-bit words.
#[test]
fn an_mss_option_at_an_odd_offset_keeps_the_checksum_valid() {
    let mut h = Harness::new();
    let mut m = model(44_008);
    let mut syn = syn_frame(&mut m);
    let at = mss_at(&syn);
    // The model writes MSS, SACK permitted, window scale and padding
    // (12 bytes); put a NOP first and drop a byte of the padding.
    assert_eq!(syn[at + 4..at + 12], [4, 2, 3, 3, 7, 0, 0, 0]);
    syn[at..at + 12].copy_from_slice(&[1, 2, 4, 0x05, 0xb4, 4, 2, 3, 3, 7, 0, 0]);
    refresh_checksum(&mut syn);
    assert_eq!(delivered(&syn).options.mss, Some(1460));
    let (v, out) = pass(&mut h, &m, Side::Client, syn.clone());
    assert_eq!(v, FWD_OUT);
    assert_eq!(out[at + 3..at + 5], 1380u16.to_be_bytes());
    assert_eq!(checksum_field(&out), fresh_checksum(&out));
    assert_eq!(delivered(&out).options.mss, Some(1380));
    let mut expect = syn.clone();
    expect[at + 3..at + 5].copy_from_slice(&1380u16.to_be_bytes());
    refresh_checksum(&mut expect);
    assert_eq!(out, expect);
}

#[test]
fn ipv6_syns_and_syn_acks_are_clamped() {
    let mut h = Harness::new();
    let (c, s) = v6_pair(44_009, 80);
    let mut m = TcpModel::new(c, s, [100, 900_000], [64_240, 65_160], [Some(7), Some(7)]);
    let syn = syn_frame(&mut m);
    let (v, out) = pass(&mut h, &m, Side::Client, syn.clone());
    assert_eq!(v, FWD_OUT);
    only_mss_changed(&syn, &out, 1380);
    let sa = syn_ack_frame(&mut m);
    let (v, out) = pass(&mut h, &m, Side::Server, sa.clone());
    assert_eq!(v, FWD_IN);
    only_mss_changed(&sa, &out, 1380);
    assert_eq!(recorded_mss(&h), [1380, 1380]);
}

/// A partial checksum (the kernel fills it in later over the new bytes)
/// is left partial: only the option's value changes.
#[test]
fn a_partial_checksum_is_left_for_the_kernel() {
    let mut h = Harness::new();
    let mut m = model(44_010);
    let syn = syn_frame(&mut m);
    let mut out = syn.clone();
    let partial = PacketMeta {
        checksum: ChecksumState::Partial,
        ..PacketMeta::default()
    };
    let v = h.engine.process(&mut out, partial, m.client.iface, h.now);
    assert_eq!(v, FWD_OUT);
    assert_eq!(checksum_field(&out), checksum_field(&syn));
    let at = mss_at(&syn);
    assert_eq!(out[at + 2..at + 4], 1380u16.to_be_bytes());
}

// === bypass and AH ===

/// TCP state bypass turns the normalizer and randomization off
/// (docs/asa-behaviour.md §1.2); the clamp is a global `sysopt`, not a
/// `tcp-map` option, and no guide lists it among what bypass skips: it
/// applies (*inferred*, §6.3), to the SYN that creates the `b` entry and
/// to the SYN-ACK that passes on it.
#[test]
fn bypass_connections_are_clamped_too() {
    let mut h = with_policy(&crate::policy::compile::tests::seed());
    let mut m = bypass_model(44_011);
    let syn = syn_frame(&mut m);
    let (v, out) = pass(&mut h, &m, Side::Client, syn.clone());
    assert_eq!(v, FWD_OUT);
    assert_eq!(h.only_entry().proto, ProtoState::TcpBypass);
    only_mss_changed(&syn, &out, 1380);
    let sa = syn_ack_frame(&mut m);
    let (v, out) = pass(&mut h, &m, Side::Server, sa.clone());
    assert_eq!(v, FWD_IN);
    only_mss_changed(&sa, &out, 1380);
    assert_eq!(h.engine.counters().normalizer.mss_clamped, 2);
}

/// An authentication header's integrity check covers the TCP header (RFC
/// 4302 §3.3.3.1): a SYN inside one leaves as it came.
#[test]
fn a_syn_inside_an_authentication_header_is_not_clamped() {
    let mut h = Harness::new();
    let mut m = model(44_012);
    let syn = super::ah::with_ah(&syn_frame(&mut m));
    assert_eq!(pass(&mut h, &m, Side::Client, syn.clone()), (FWD_OUT, syn));
    assert_eq!(h.engine.counters().normalizer.mss_clamped, 0);
    assert_eq!(recorded_mss(&h)[0], 1460, "as the server gets it");
}
