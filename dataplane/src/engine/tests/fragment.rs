//! IP fragments: a datagram's fragments are kept until all are in, the
//! datagram is judged as one packet, and the fragments leave as they came
//! or are dropped together (docs/asa-behaviour.md §2.8).

use super::*;
use crate::engine::fragment::{FragmentStats, WorkerShare};
use crate::trace::{fragment_at, fragment_frame, v6_pair};

/// A UDP datagram of `len` payload bytes from `c` to `s`.
fn datagram(c: &Host, s: &Host, len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    udp_frame(c, s, &payload)
}

/// Feed `frames` on `iface`: each is kept (its datagram incomplete) until
/// the last; returns the frames released, by egress.
fn feed(h: &mut Harness, frames: &[Vec<u8>], iface: IfaceId) -> Vec<(IfaceId, Vec<u8>)> {
    for f in frames {
        assert_eq!(h.frame(f.clone(), iface), Verdict::Hold);
    }
    released(h)
}

fn released(h: &mut Harness) -> Vec<(IfaceId, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(e) = h.engine.poll_effect(h.now) {
        if let Effect::Release {
            egress,
            frame,
            offload,
            cause,
        } = e
        {
            assert_eq!(offload, Offload::NONE);
            assert_eq!(cause, ReleaseCause::Reassembled);
            out.push((egress, frame));
        }
    }
    out
}

/// `frags` as they leave by the outside, unchanged.
fn outbound(frags: &[Vec<u8>]) -> Vec<(IfaceId, Vec<u8>)> {
    frags.iter().map(|f| (IfaceId(1), f.clone())).collect()
}

fn stats(h: &Harness, iface: IfaceId) -> FragmentStats {
    h.engine.fragment_stats()[usize::from(iface.0)]
}

#[test]
fn a_fragmented_udp_datagram_passes_whole_and_its_fragmented_reply_too() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    let frags = fragment_frame(&datagram(&c, &s, 3_000), 1_480, 7);
    assert_eq!(frags.len(), 3);
    let out = feed(&mut h, &frags, c.iface);
    // Unchanged, each on its way out.
    assert_eq!(out, outbound(&frags));
    let e = h.only_entry();
    assert_eq!(e.key.proto, proto::UDP);
    assert_eq!(e.packets, [1, 0]);
    // The reply, fragments out of order.
    let mut back = fragment_frame(&datagram(&s, &c, 2_000), 1_000, 9);
    back.reverse();
    let out = feed(&mut h, &back, s.iface);
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|(egress, _)| *egress == IfaceId(0)));
    assert_eq!(h.only_entry().packets, [1, 1]);
    assert_eq!(stats(&h, c.iface).assembled, 1);
    assert_eq!(stats(&h, s.iface).assembled, 1);
    assert_eq!(h.engine.counters().forwarded_packets, 6);
}

#[test]
fn a_fragmented_datagram_the_rules_deny_is_dropped_whole() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    // From the lower-security side with no flow: denied.
    let frags = fragment_frame(&datagram(&s, &c, 3_000), 1_480, 7);
    for f in &frags {
        assert_eq!(h.frame(f.clone(), s.iface), Verdict::Hold);
    }
    assert!(released(&mut h).is_empty());
    assert_eq!(h.dropped(DropReason::AclDeny), 3);
    assert_eq!(h.engine.table().len(), 0);
}

#[test]
fn ipv6_fragments_pass_as_their_datagram() {
    let mut h = Harness::new();
    let (c, s) = v6_pair(40_000, 5_000);
    let frags = fragment_frame(&datagram(&c, &s, 3_000), 1_232, 0x0102_0304);
    assert_eq!(frags.len(), 3);
    let out = feed(&mut h, &frags, c.iface);
    assert_eq!(out, outbound(&frags));
    assert_eq!(h.only_entry().key.proto, proto::UDP);
}

#[test]
fn overlapping_fragments_drop_the_datagram_and_its_later_fragments() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    let whole = datagram(&c, &s, 64);
    let data = &whole[34..34 + 72];
    let first = fragment_at(&whole, 34, &data[..32], 0, true, 5);
    // Bytes 24..48 again, with other content (the ports' segment rewritten
    // by a later fragment is the attack, RFC 1858 §4).
    let overlap = fragment_at(&whole, 34, &[0xee; 24], 24, true, 5);
    let last = fragment_at(&whole, 34, &data[48..], 48, false, 5);
    assert_eq!(h.frame(first, c.iface), Verdict::Hold);
    let dropped = Verdict::Drop(DropReason::FragmentOverlap);
    assert_eq!(h.frame(overlap, c.iface), dropped);
    assert_eq!(h.frame(last, c.iface), dropped);
    assert!(released(&mut h).is_empty());
    assert_eq!(h.dropped(DropReason::FragmentOverlap), 3);
    assert_eq!(stats(&h, c.iface).failed, 1);
    assert_eq!(h.engine.table().len(), 0);
    // Forgotten at the timeout.
    h.now = h.now + Duration::from_secs(6);
    h.engine.expire(h.now);
    assert_eq!(stats(&h, c.iface).queued, 0);
    assert_eq!(h.dropped(DropReason::FragmentTimeout), 0);
}

#[test]
fn a_datagram_not_complete_within_the_timeout_is_dropped() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    let frags = fragment_frame(&datagram(&c, &s, 3_000), 1_480, 7);
    assert_eq!(h.frame(frags[0].clone(), c.iface), Verdict::Hold);
    assert_eq!(h.frame(frags[2].clone(), c.iface), Verdict::Hold);
    assert_eq!(stats(&h, c.iface).queued, 2);
    h.now = h.now + Duration::from_millis(4_900);
    h.engine.expire(h.now);
    assert_eq!(stats(&h, c.iface).queued, 2, "5 s by default");
    h.now = h.now + Duration::from_millis(200);
    h.engine.expire(h.now);
    assert_eq!(stats(&h, c.iface).queued, 0);
    assert_eq!(h.dropped(DropReason::FragmentTimeout), 2);
    assert_eq!(stats(&h, c.iface).failed, 1);
    // The missing one alone starts a datagram of its own, which waits.
    assert_eq!(h.frame(frags[1].clone(), c.iface), Verdict::Hold);
    assert!(released(&mut h).is_empty());
}

#[test]
fn more_fragments_than_the_chain_allows_drop_the_datagram() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    // 25 fragments of 8 bytes: one more than `fragment chain 24`.
    let frags = fragment_frame(&datagram(&c, &s, 192), 8, 3);
    assert_eq!(frags.len(), 25);
    for f in &frags[..24] {
        assert_eq!(h.frame(f.clone(), c.iface), Verdict::Hold);
    }
    assert_eq!(
        h.frame(frags[24].clone(), c.iface),
        Verdict::Drop(DropReason::FragmentChainExceeded)
    );
    assert_eq!(h.dropped(DropReason::FragmentChainExceeded), 25);
    // 24 pass.
    let frags = fragment_frame(&datagram(&c, &s, 184), 8, 4);
    assert_eq!(frags.len(), 24);
    assert_eq!(feed(&mut h, &frags, c.iface).len(), 24);
}

/// `fragment size` bounds the fragments waiting on an interface (the
/// ASA's "packets ... in the IP reassembly database"): 200 lone
/// fragments fill it. Where the ASA then refuses every fragment until
/// they time out, a newer datagram's fragments take the places of the
/// oldest datagrams (their fragments dropped), so a sender of lone
/// fragments cannot keep datagrams that complete out (docs/asa-behaviour.md
/// §2.8); another interface has a database of its own.
#[test]
fn a_full_fragment_database_gives_up_its_oldest_datagrams_for_newer_ones() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    let whole = datagram(&c, &s, 3_000);
    for id in 0..200 {
        let f = fragment_frame(&whole, 1_480, id);
        assert_eq!(h.frame(f[0].clone(), c.iface), Verdict::Hold);
        h.now = h.now + Duration::from_millis(1);
    }
    assert_eq!(stats(&h, c.iface).queued, 200);
    // A whole datagram passes: each of its three fragments takes the
    // place of the oldest lone one.
    let out = feed(&mut h, &fragment_frame(&whole, 1_480, 1_000), c.iface);
    assert_eq!(out.len(), 3);
    let st = stats(&h, c.iface);
    assert_eq!((st.queued, st.evicted, st.overflow), (197, 3, 0));
    assert_eq!(h.dropped(DropReason::FragmentDatabaseFull), 3);
    // The complete datagram left three places free: a later fragment of
    // datagram 0 (given up) begins it anew, and the newest lone
    // fragment's datagram, kept, completes; nothing more is given up.
    let f0 = fragment_frame(&whole, 1_480, 0);
    assert_eq!(h.frame(f0[1].clone(), c.iface), Verdict::Hold);
    let f199 = fragment_frame(&whole, 1_480, 199);
    assert_eq!(feed(&mut h, &f199[1..], c.iface).len(), 3);
    let st = stats(&h, c.iface);
    assert_eq!((st.queued, st.evicted, st.assembled), (197, 3, 2));
    // The other interface's database is its own.
    let g = fragment_frame(&datagram(&s, &c, 3_000), 1_480, 1);
    assert_eq!(h.frame(g[0].clone(), s.iface), Verdict::Hold);
    assert_eq!(stats(&h, s.iface).evicted, 0);
    h.now = h.now + Duration::from_secs(6);
    h.engine.expire(h.now);
    assert_eq!(stats(&h, c.iface).queued, 0);
}

/// A datagram never gives up its own fragments: with `fragment size 2`,
/// the third fragment of a datagram that holds both places has nothing
/// older to take the place of, and is refused (`Overflow`).
#[test]
fn a_datagram_larger_than_the_database_is_refused() {
    let mut h = Harness::new();
    let cfg = crate::policy::parse::parse_config("fragment size 2\n")
        .unwrap()
        .config;
    h.install(cfg);
    let (c, s) = v4_pair(40_000, 5_000);
    let f = fragment_frame(&datagram(&c, &s, 3_000), 1_480, 9);
    assert_eq!(h.frame(f[0].clone(), c.iface), Verdict::Hold);
    assert_eq!(h.frame(f[1].clone(), c.iface), Verdict::Hold);
    assert_eq!(
        h.frame(f[2].clone(), c.iface),
        Verdict::Drop(DropReason::FragmentDatabaseFull)
    );
    let st = stats(&h, c.iface);
    assert_eq!((st.queued, st.evicted, st.overflow), (2, 0, 1));
}

/// The list of datagrams in arrival order stays bounded when datagrams
/// complete (their items go stale): 20,000 complete datagrams leave
/// no more than twice the database's places behind.
#[test]
fn completed_datagrams_leave_the_arrival_order_bounded() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    let whole = datagram(&c, &s, 100);
    for id in 0..20_000u32 {
        let f = fragment_frame(&whole, 48, id);
        assert_eq!(feed(&mut h, &f, c.iface).len(), f.len());
    }
    assert!(h.engine.fragment_order_len(c.iface) <= 400);
}

#[test]
fn a_first_fragment_without_the_whole_tcp_header_drops_the_datagram() {
    let mut h = Harness::new();
    let mut m = model(40_123);
    let syn = m.syn();
    let syn = m.frame(&syn);
    // The first fragment holds 8 bytes of the TCP header: ports and
    // sequence number, not the flags (RFC 1858 §3).
    let frags = fragment_frame(&syn, 8, 11);
    assert!(frags.len() >= 3);
    for f in &frags {
        assert_eq!(h.frame(f.clone(), m.client.iface), Verdict::Hold);
    }
    assert!(released(&mut h).is_empty());
    assert_eq!(h.dropped(DropReason::FragmentTiny), frags.len() as u64);
    assert_eq!(h.engine.table().len(), 0);
    // Whole, it opens the connection.
    assert_eq!(h.frame(syn, m.client.iface), FWD_OUT);
    assert_eq!(h.engine.table().len(), 1);
}

#[test]
fn malformed_fragments_are_dropped_one_by_one() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    let whole = datagram(&c, &s, 64);
    // Data not a multiple of 8 before the end.
    let odd = fragment_at(&whole, 34, &whole[34..34 + 20], 0, true, 1);
    assert_eq!(
        h.frame(odd, c.iface),
        Verdict::Drop(DropReason::FragmentMalformed)
    );
    // Past the longest datagram (the "ping of death").
    let long = fragment_at(&whole, 34, &[0; 16], 65_528, false, 2);
    assert_eq!(
        h.frame(long, c.iface),
        Verdict::Drop(DropReason::FragmentMalformed)
    );
    // A second last fragment of another end.
    let a = fragment_at(&whole, 34, &[0; 16], 16, false, 3);
    let b = fragment_at(&whole, 34, &[0; 8], 40, false, 3);
    assert_eq!(h.frame(a, c.iface), Verdict::Hold);
    assert_eq!(
        h.frame(b, c.iface),
        Verdict::Drop(DropReason::FragmentMalformed)
    );
}

#[test]
fn a_datagram_over_65535_bytes_is_refused() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    let whole = datagram(&c, &s, 64);
    // The fragmentable part ends at 65,520 + 8 = 65,528 bytes, each
    // fragment within bounds, but with the 20-byte header in front the
    // datagram would be 65,548 bytes long: none is.
    let mut frames = Vec::new();
    let mut head = whole[34..42].to_vec();
    head.resize(8_192, 0);
    let first = fragment_at(&whole, 34, &head, 0, true, 9);
    frames.push(first);
    let mut off = 8_192u32;
    while off < 65_520 {
        let len = (65_520 - off).min(8_192) as usize;
        frames.push(fragment_at(&whole, 34, &vec![0; len], off, true, 9));
        off += len as u32;
    }
    frames.push(fragment_at(&whole, 34, &[0; 8], 65_520, false, 9));
    let last = frames.pop().unwrap();
    for f in frames {
        assert_eq!(h.frame(f, c.iface), Verdict::Hold);
    }
    assert_eq!(h.frame(last, c.iface), Verdict::Hold);
    assert!(released(&mut h).is_empty());
    assert_eq!(h.dropped(DropReason::FragmentMalformed), 9);
    assert_eq!(h.engine.fragment_stats()[0].failed, 1);
}

#[test]
fn a_randomized_connections_fragmented_segment_leaves_shifted() {
    let (mut h, mut m, delta) = randomized_established(41_000);
    let seg = m.data(Side::Client, 3_000);
    let whole = m.frame(&seg);
    let frags = fragment_frame(&whole, 1_480, 77);
    let out = feed(&mut h, &frags, m.client.iface);
    assert_eq!(out.len(), frags.len());
    // The first fragment carries the TCP header, shifted by the
    // connection's offset, its checksum still right over the datagram.
    let first = &out[0].1;
    let seq = u32::from_be_bytes(first[38..42].try_into().unwrap());
    assert_eq!(seq, seg.seq.wrapping_add(delta));
    let mut joined = first[..34].to_vec();
    for (_, f) in &out {
        joined.extend_from_slice(&f[34..]);
    }
    let total = (joined.len() - 14) as u16;
    joined[16..18].copy_from_slice(&total.to_be_bytes());
    joined[20] = 0;
    joined[21] = 0;
    crate::packet::set_ipv4_checksum(&mut joined[14..34]);
    assert!(matches!(
        crate::packet::parse(&joined, PacketMeta::default()),
        Ok(Parsed::Ip { .. })
    ));
    // The other fragments leave as they came.
    for (i, (_, f)) in out.iter().enumerate().skip(1) {
        assert_eq!(f, &frags[i]);
    }
}

#[test]
fn a_datagram_whose_flow_another_worker_owns_is_handed_to_it() {
    fn worker_one(_: &FlowKey, _: usize) -> usize {
        1
    }
    let share = |index| WorkerShare {
        index,
        count: 2,
        worker_of: worker_one,
    };
    let mut a = Harness::with(|cfg| cfg.workers = Some(share(0)));
    let mut b = Harness::with(|cfg| cfg.workers = Some(share(1)));
    let (c, s) = v4_pair(40_000, 5_000);
    let frags = fragment_frame(&datagram(&c, &s, 3_000), 1_480, 7);
    for f in &frags {
        assert_eq!(a.frame(f.clone(), c.iface), Verdict::Hold);
    }
    let chain = match a.engine.poll_effect(a.now) {
        Some(Effect::HandOff { worker: 1, chain }) => chain,
        other => panic!("expected a hand-off to worker 1, got {other:?}"),
    };
    assert_eq!(chain.frames(), 3);
    assert_eq!(a.engine.table().len(), 0);
    b.engine.take_handoff(chain, b.now);
    let out = released(&mut b);
    assert_eq!(out, outbound(&frags));
    assert_eq!(b.only_entry().key.proto, proto::UDP);
    // The worker that owns the flow judges what it reassembles itself.
    for f in fragment_frame(&datagram(&s, &c, 3_000), 1_480, 8) {
        assert_eq!(b.frame(f, s.iface), Verdict::Hold);
    }
    assert_eq!(released(&mut b).len(), 3);
}

#[test]
fn a_fragmented_echo_request_and_reply_pass_under_icmp_inspection() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(0, 0);
    let mut req = echo_frame(&c, &s, 9, 1, false);
    let mut rep = echo_frame(&s, &c, 9, 1, true);
    // Longer than one frame: 2,000 bytes of payload each.
    for f in [&mut req, &mut rep] {
        pad_icmp(f, 2_000);
    }
    assert_eq!(
        feed(&mut h, &fragment_frame(&req, 1_480, 1), c.iface).len(),
        2
    );
    assert_eq!(
        feed(&mut h, &fragment_frame(&rep, 1_480, 1), s.iface).len(),
        2
    );
    // A second reply is refused, as unfragmented.
    let again = fragment_frame(&rep, 1_480, 2);
    for f in &again {
        assert_eq!(h.frame(f.clone(), s.iface), Verdict::Hold);
    }
    assert!(released(&mut h).is_empty());
}

/// Grow an IPv4 ICMP echo frame's payload to `len` bytes, its lengths
/// and checksums set again.
fn pad_icmp(f: &mut Vec<u8>, len: usize) {
    f.truncate(42);
    f.extend((0..len).map(|i| i as u8));
    let total = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    crate::packet::set_ipv4_checksum(&mut f[14..34]);
    f[36] = 0;
    f[37] = 0;
    let sum = etherparse::checksum::Sum16BitWords::new()
        .add_slice(&f[34..])
        .ones_complement();
    f[36..38].copy_from_slice(&sum.to_ne_bytes());
}

/// The destination's "fragment reassembly time exceeded" (RFC 792) and a
/// router's errors quote a datagram's first fragment, which holds its
/// ports: such an error passes for the connection it names; a later
/// fragment quoted names none.
#[test]
fn an_icmp_error_quoting_a_first_fragment_passes_for_its_connection() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(40_000, 5_000);
    let frags = fragment_frame(&datagram(&c, &s, 3_000), 1_480, 7);
    assert_eq!(feed(&mut h, &frags, c.iface).len(), 3);
    let error = crate::trace::icmpv4_unreachable_frame(&s, &c, &frags[0]);
    assert_eq!(h.frame(error, s.iface), FWD_IN);
    let error = crate::trace::icmpv4_unreachable_frame(&s, &c, &frags[1]);
    assert_eq!(
        h.frame(error, s.iface),
        Verdict::Drop(DropReason::IcmpMalformed)
    );
}

/// A fragment that arrives twice (a duplicating link) is dropped the
/// second time, and the datagram completes (RFC 5722 erratum 3089);
/// IPv6 fragments naming different next headers are one datagram, of the
/// first's protocol (RFC 8200 §4.5).
#[test]
fn a_duplicate_fragment_is_dropped_alone() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    let frags = fragment_frame(&datagram(&c, &s, 3_000), 1_480, 7);
    assert_eq!(h.frame(frags[0].clone(), c.iface), Verdict::Hold);
    assert_eq!(
        h.frame(frags[0].clone(), c.iface),
        Verdict::Drop(DropReason::FragmentDuplicate)
    );
    assert_eq!(h.frame(frags[1].clone(), c.iface), Verdict::Hold);
    assert_eq!(h.frame(frags[2].clone(), c.iface), Verdict::Hold);
    assert_eq!(released(&mut h).len(), 3);
    let (c, s) = v6_pair(40_001, 5_000);
    let mut frags = fragment_frame(&datagram(&c, &s, 3_000), 1_232, 9);
    // The second fragment's header names TCP (offset 14 + 40).
    frags[1][54] = proto::TCP;
    assert_eq!(feed(&mut h, &frags, c.iface).len(), 3);
}

/// Put an IPv6 routing header (type 4, one segment left, one address)
/// in front of the fragment header of IPv6 fragment `f` (untagged, no
/// other extension header).
fn with_routing_header(f: &[u8]) -> Vec<u8> {
    let l3 = 14;
    assert_eq!(f[l3 + 6], 44);
    let mut out = f[..l3 + 40].to_vec();
    out[l3 + 6] = 43;
    out.extend_from_slice(&[44, 2, 4, 1, 0, 0, 0, 0]);
    out.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99]);
    out.extend_from_slice(&f[l3 + 40..]);
    let payload = u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]) + 24;
    out[l3 + 4..l3 + 6].copy_from_slice(&payload.to_be_bytes());
    out
}

/// A routing header with segments left would send a packet on to an
/// address the rules never saw. In the first fragment it is judged with
/// the datagram (dropped); in a later one it is not judged, so it does
/// not leave: every IPv6 fragment leaves with the headers the datagram
/// was judged with (a review found the later fragment's header left).
#[test]
fn ipv6_fragments_leave_with_the_headers_their_datagram_was_judged_with() {
    let (c, s) = v6_pair(40_000, 5_000);
    let frags = fragment_frame(&datagram(&c, &s, 3_000), 1_232, 0x0a0b_0c0d);
    let mut h = Harness::new();
    let mut first = frags.clone();
    first[0] = with_routing_header(&frags[0]);
    for f in &first {
        assert_eq!(h.frame(f.clone(), c.iface), Verdict::Hold);
    }
    assert!(released(&mut h).is_empty());
    assert_eq!(h.dropped(DropReason::Ipv6RoutingHeader), 3);
    let mut h = Harness::new();
    let mut later = frags.clone();
    later[1] = with_routing_header(&frags[1]);
    let out = feed(&mut h, &later, c.iface);
    // The datagram passes; its second fragment leaves as the first's
    // headers and its own fragment header and data: as sent without the
    // routing header.
    assert_eq!(out, outbound(&frags));
}

/// A datagram leaves whole or not at all: when the effect queue cannot
/// take all its fragments, none is released, and none is counted
/// forwarded (a review saw a datagram leave in part, counted whole).
#[test]
fn a_datagram_never_leaves_in_part() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    // Datagrams of 24 fragments of 8 bytes, more than the queue takes.
    let whole = datagram(&c, &s, 184);
    for id in 0..172u32 {
        for f in fragment_frame(&whole, 8, id) {
            assert_eq!(h.frame(f, c.iface), Verdict::Hold);
        }
    }
    let out = released(&mut h);
    assert_eq!(out.len() % 24, 0, "{} fragments left", out.len());
    assert!(out.len() < 172 * 24);
    assert_eq!(h.engine.counters().forwarded_packets, out.len() as u64);
    assert_eq!(
        h.engine.counters().effects_dropped,
        (172 * 24 - out.len()) as u64
    );
}

/// With `fragment chain 8200` (and `fragment size` to hold it), a datagram of more fragments than the
/// effect queue's bound still leaves whole, and its fragments are kept in
/// order without a scan per fragment.
#[test]
fn a_datagram_of_thousands_of_fragments_leaves_whole() {
    let cfg =
        crate::policy::parse::parse_config("fragment size 10000\nfragment chain 8200\n").unwrap();
    let mut h = with_policy(&cfg.config);
    let (c, s) = v4_pair(40_000, 5_000);
    let frags = fragment_frame(&datagram(&c, &s, 33_592), 8, 5);
    assert_eq!(frags.len(), 4_200);
    let mut shuffled = frags.clone();
    shuffled.reverse();
    shuffled.swap(10, 3_000);
    let out = feed(&mut h, &shuffled, c.iface);
    assert_eq!(out.len(), 4_200);
    let mut sent: Vec<_> = out.into_iter().map(|(_, f)| f).collect();
    sent.sort();
    let mut want = frags;
    want.sort();
    assert_eq!(sent, want);
}

/// IPv4 options in the first fragment only, and Ethernet padding past a
/// last fragment's total length: the datagram is the fragments' data (the
/// padding not in it), and all leave unchanged.
#[test]
fn options_and_padding_are_no_part_of_the_datagram() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    let whole = datagram(&c, &s, 100);
    // A header with router alert: IHL 6.
    let mut with_ra = whole[..34].to_vec();
    with_ra.extend_from_slice(&[0x94, 4, 0, 0]);
    with_ra.extend_from_slice(&whole[34..]);
    with_ra[14] = 0x46;
    let total = (with_ra.len() - 14) as u16;
    with_ra[16..18].copy_from_slice(&total.to_be_bytes());
    crate::packet::set_ipv4_checksum(&mut with_ra[14..38]);
    let data = &whole[34..];
    let first = fragment_at(&with_ra, 38, &data[..64], 0, true, 5);
    let mut last = fragment_at(&whole, 34, &data[64..], 64, false, 5);
    last.extend_from_slice(&[0xff; 30]);
    let out = feed(&mut h, &[first.clone(), last.clone()], c.iface);
    assert_eq!(out, vec![(IfaceId(1), first), (IfaceId(1), last)]);
}

/// Fragments of one datagram on two VLANs are two datagrams, neither
/// complete; an IPv6 header chain split across fragments (RFC 7112) is a
/// tiny first fragment.
#[test]
fn vlans_part_datagrams_and_a_split_ipv6_header_chain_is_tiny() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    let frags = fragment_frame(&datagram(&c, &s, 3_000), 1_480, 7);
    let tag = |f: &Vec<u8>, vlan: u8| {
        let mut t = f.clone();
        t.splice(12..12, [0x81, 0x00, 0x00, vlan]);
        t
    };
    assert_eq!(h.frame(tag(&frags[0], 10), c.iface), Verdict::Hold);
    assert_eq!(h.frame(tag(&frags[1], 20), c.iface), Verdict::Hold);
    assert_eq!(h.frame(tag(&frags[2], 10), c.iface), Verdict::Hold);
    assert!(released(&mut h).is_empty());
    // A destination options header of 8 bytes fills the first fragment;
    // the UDP header is in the second.
    let (c, s) = v6_pair(40_000, 5_000);
    let whole = datagram(&c, &s, 64);
    let mut part = vec![17u8, 0, 1, 4, 0, 0, 0, 0];
    part.extend_from_slice(&whole[54..]);
    let mut d = whole[..54].to_vec();
    d[14 + 6] = 60;
    d.extend_from_slice(&part);
    let first = fragment_at(&d, 54, &part[..8], 0, true, 77);
    let last = fragment_at(&d, 54, &part[8..], 8, false, 77);
    assert_eq!(h.frame(first, c.iface), Verdict::Hold);
    assert_eq!(h.frame(last, c.iface), Verdict::Hold);
    assert!(released(&mut h).is_empty());
    assert_eq!(h.dropped(DropReason::FragmentTiny), 2);
    assert_eq!(h.engine.table().len(), 0);
}

/// Whole datagrams cut at random 8-byte multiples, shuffled, a fragment
/// sometimes duplicated, damaged or padded, on IPv4 and IPv6: no panic,
/// and every datagram that leaves leaves whole.
#[test]
fn randomly_cut_datagrams_never_panic_and_leave_whole() {
    let mut rng = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut h = Harness::inspecting_icmp();
    let (c4, s4) = v4_pair(40_000, 5_000);
    let (c6, s6) = v6_pair(40_000, 5_000);
    let mut m = model(41_000);
    let syn = m.syn();
    let bases = [
        datagram(&c4, &s4, 700),
        datagram(&c6, &s6, 700),
        datagram(&s4, &c4, 300),
        m.frame(&syn),
        echo_frame(&c4, &s4, 1, 1, false),
    ];
    for round in 0..3_000u32 {
        let base = &bases[(next() % bases.len() as u64) as usize];
        let head = if base[14] >> 4 == 6 { 54 } else { 34 };
        let data = &base[head..];
        let mut cuts = vec![0usize];
        while *cuts.last().unwrap() < data.len() {
            let step = (1 + next() % 12) as usize * 8;
            cuts.push((cuts.last().unwrap() + step).min(data.len()));
        }
        let mut frags: Vec<Vec<u8>> = cuts
            .windows(2)
            .map(|w| {
                let more = w[1] < data.len();
                fragment_at(base, head, &data[w[0]..w[1]], w[0] as u32, more, round)
            })
            .collect();
        match next() % 6 {
            0 => {
                let k = (next() as usize) % frags.len();
                frags.push(frags[k].clone());
            }
            1 => {
                let k = (next() as usize) % frags.len();
                let at = 14 + (next() as usize) % (frags[k].len() - 14);
                frags[k][at] ^= 1 << (next() % 8);
            }
            2 => {
                let k = (next() as usize) % frags.len();
                frags[k].extend_from_slice(&[0xaa; 17]);
            }
            _ => {}
        }
        for i in (1..frags.len()).rev() {
            let j = (next() as usize) % (i + 1);
            frags.swap(i, j);
        }
        let iface = if base[6..12] == c4.mac {
            c4.iface
        } else {
            s4.iface
        };
        let fed = frags.len();
        for f in frags {
            let _ = h.frame(f, iface);
        }
        let out = released(&mut h);
        assert!(
            out.is_empty() || out.len() + 1 >= fed,
            "round {round}: a datagram left in part"
        );
        if round % 500 == 0 {
            h.now = h.now + Duration::from_secs(6);
            h.engine.expire(h.now);
        }
    }
}
