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
    assert_eq!(
        out,
        frags
            .iter()
            .map(|f| (IfaceId(1), f.clone()))
            .collect::<Vec<_>>()
    );
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
    assert_eq!(
        out,
        frags
            .iter()
            .map(|f| (IfaceId(1), f.clone()))
            .collect::<Vec<_>>()
    );
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
    assert_eq!(stats(&h, c.iface).queued, 1);
    h.now = h.now + Duration::from_millis(4_900);
    h.engine.expire(h.now);
    assert_eq!(stats(&h, c.iface).queued, 1, "5 s by default");
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

#[test]
fn a_full_fragment_database_drops_fragments_of_new_datagrams() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_000, 5_000);
    let whole = datagram(&c, &s, 3_000);
    for id in 0..200 {
        let f = fragment_frame(&whole, 1_480, id);
        assert_eq!(h.frame(f[0].clone(), c.iface), Verdict::Hold);
    }
    assert_eq!(stats(&h, c.iface).queued, 200);
    let f = fragment_frame(&whole, 1_480, 200);
    assert_eq!(
        h.frame(f[0].clone(), c.iface),
        Verdict::Drop(DropReason::FragmentDatabaseFull)
    );
    assert_eq!(stats(&h, c.iface).overflow, 1);
    // Another interface has a database of its own; a datagram already
    // in reassembly takes more fragments.
    let g = fragment_frame(&datagram(&s, &c, 3_000), 1_480, 1);
    assert_eq!(h.frame(g[0].clone(), s.iface), Verdict::Hold);
    let f = fragment_frame(&whole, 1_480, 0);
    assert_eq!(h.frame(f[1].clone(), c.iface), Verdict::Hold);
    assert_eq!(h.frame(f[2].clone(), c.iface), Verdict::Hold);
    assert_eq!(released(&mut h).len(), 3);
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
    assert_eq!(chain.fragments(), 3);
    assert_eq!(a.engine.table().len(), 0);
    b.engine.take_handoff(chain, b.now);
    let out = released(&mut b);
    assert_eq!(
        out,
        frags
            .iter()
            .map(|f| (IfaceId(1), f.clone()))
            .collect::<Vec<_>>()
    );
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
