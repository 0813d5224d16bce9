//! The vnet header a frame leaves with, end to end in memory: a
//! `TPACKET_V2` slot as `tpacket_rcv` writes it, read by `parse_slot` and
//! `prepare`, judged by the engine through the bridge's own `decide`, and
//! the header that would leave applied as the kernel applies it
//! (`skb_checksum_help`'s arithmetic), then parsed again.

use std::sync::Arc;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::{ChecksumState, Parsed, parse};
use rampart_dataplane::policy::compile::compile;
use rampart_dataplane::policy::parse::parse_config;
use rampart_dataplane::trace::{Host, Side, TcpModel, echo_frame, udp_frame, v4_pair};
use rampart_dataplane::{DropReason, EngineConfig};

use super::*;
use crate::frame_ring::{SLOT_BYTES, parse_slot};
use crate::ring::prepare;

/// Where `tpacket_rcv` puts a frame in a `TPACKET_V2` slot with vnet
/// headers: its header sits in the 10 bytes before.
const MAC: usize = 76;
/// Where an untagged IPv4 frame's transport header starts.
const L4: usize = 34;
/// `TP_STATUS_USER`.
const USER: u32 = 1;

const POLICY: &str = "\
access-list IN extended permit udp any any eq 53
access-list IN extended permit tcp any any eq 80
access-list IN extended permit icmp any any
access-group IN in interface inside
policy-map global_policy
 class class-default
  set connection random-sequence-number disable
service-policy global_policy global
";

fn engine() -> Engine {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    let cfg = parse_config(POLICY).expect("parses").config;
    let policy = compile(&cfg, &e.config().interfaces).expect("compiles");
    e.set_policy(Arc::new(policy)).expect("fits");
    e
}

/// A slot as `tpacket_rcv` fills it for `frame` with vnet header `vnet`:
/// the transport checksum partial (`TP_STATUS_CSUMNOTREADY`), and with
/// `vlan` the 802.1Q tag stripped into `tp_vlan_tci`. A frame larger than
/// a slot gets a larger one: the copy path hands such a frame over whole,
/// with the same header.
fn slot(frame: &[u8], vnet: [u8; VNET_HDR_BYTES], vlan: Option<u16>) -> Vec<u8> {
    let mut s = vec![0u8; (SLOT_BYTES as usize).max(MAC + frame.len())];
    let mut status = USER | libc::TP_STATUS_CSUMNOTREADY;
    if let Some(tci) = vlan {
        status |= libc::TP_STATUS_VLAN_VALID;
        s[24..26].copy_from_slice(&tci.to_ne_bytes());
    }
    s[0..4].copy_from_slice(&status.to_ne_bytes());
    s[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    s[8..12].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    s[12..14].copy_from_slice(&(MAC as u16).to_ne_bytes());
    s[MAC - VNET_HDR_BYTES..MAC].copy_from_slice(&vnet);
    s[MAC..MAC + frame.len()].copy_from_slice(frame);
    s
}

/// What the bridge does with one slot received on the inside: the frame
/// as judged, and the header it leaves with if it leaves (`None`: dropped).
fn through_bridge(
    e: &mut Engine,
    slot: &mut [u8],
) -> (Vec<u8>, Option<[u8; VNET_HDR_BYTES]>, BridgeCounters) {
    let h = parse_slot(slot, true).expect("a sound slot");
    let r = prepare(slot, &h, true).expect("room for the tag");
    let frame = &mut slot[r.start..r.end];
    let mut counters = BridgeCounters::default();
    let mut out = Vec::new();
    let mut batch = [BatchFrame::new(frame, r.meta)];
    let now = Instant::from_secs(1_000);
    decide(e, &mut batch, &[0], 0, now, true, &mut counters, &mut out);
    let judged = batch[0].frame.to_vec();
    (judged, out.first().map(|&(_, hdr)| hdr), counters)
}

/// The frame as it reaches the wire once a device without checksum
/// offload (`skb_checksum_help`) completes the checksum its vnet header
/// asks for: the folded one's-complement sum from `csum_start` to the end,
/// complemented, written at `csum_start + csum_offset` (zero sent as all
/// ones).
fn on_the_wire(frame: &[u8], hdr: &[u8; VNET_HDR_BYTES]) -> Vec<u8> {
    let mut f = frame.to_vec();
    if hdr[0] & 1 == 0 {
        return f;
    }
    let start = usize::from(u16::from_le_bytes([hdr[6], hdr[7]]));
    let at = start + usize::from(u16::from_le_bytes([hdr[8], hdr[9]]));
    let c = !fold(sum(&f[start..]));
    let c = if c == 0 { 0xffff } else { c };
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
    f
}

fn sum(b: &[u8]) -> u32 {
    b.chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The pseudo-header sum (RFC 768) a sender's stack leaves in the checksum
/// field of a partial checksum, for the device to complete.
fn pseudo_sum(frame: &[u8], proto: u8) -> u16 {
    let len = frame.len() - L4;
    let s = sum(&frame[26..34]) + u32::from(proto) + len as u32;
    fold(s)
}

fn inside(ip: [u8; 4], port: u16) -> Host {
    Host {
        mac: [2, 0, 0, 0, 0, 1],
        ip: std::net::IpAddr::from(ip),
        port,
        iface: IfaceId(0),
    }
}

fn outside(ip: [u8; 4], port: u16) -> Host {
    Host {
        mac: [2, 0, 0, 0, 0, 2],
        ip: std::net::IpAddr::from(ip),
        port,
        iface: IfaceId(1),
    }
}

/// A vnet header with NEEDS_CSUM at (`start`, `offset`) and GSO type
/// `gso` of `gso_size`.
fn needs_csum(start: u16, offset: u16, gso: u8, gso_size: u16) -> [u8; VNET_HDR_BYTES] {
    let mut v = [0u8; VNET_HDR_BYTES];
    v[0] = 1;
    v[1] = gso;
    v[4..6].copy_from_slice(&gso_size.to_le_bytes());
    v[6..8].copy_from_slice(&start.to_le_bytes());
    v[8..10].copy_from_slice(&offset.to_le_bytes());
    v
}

/// The destination port a frame's receiver sees.
fn dst_port(frame: &[u8]) -> u16 {
    u16::from_be_bytes([frame[L4 + 2], frame[L4 + 3]])
}

// === the review's case: a checksum aimed at the destination port ===

/// The review's reproduction: `permit udp any any eq 53` inside; the
/// sender's UDP to port 53 carries checksum 0 and two payload bytes chosen
/// so that the checksum summed from offset 34 is 161, and a vnet header
/// that asks for it at 34 + 2, the destination port. Forwarded with that
/// header (as it was), a device without checksum offload wrote 161 into the
/// port: UDP to port 161, which the policy denies. Now the header is
/// checked against the parse and the frame dropped.
#[test]
fn a_checksum_aimed_at_the_destination_port_does_not_leave() {
    let mut e = engine();
    let (c, s) = (
        inside([198, 18, 0, 1], 40_000),
        outside([198, 19, 0, 1], 53),
    );
    let mut frame = udp_frame(&c, &s, &[0, 0]);
    frame[L4 + 6..L4 + 8].fill(0);
    // The payload that makes the checksum from offset 34 read 161.
    let mut aimed = None;
    for p in 0..=u16::MAX {
        frame[L4 + 8..L4 + 10].copy_from_slice(&p.to_be_bytes());
        if !fold(sum(&frame[L4..])) == 161 {
            aimed = Some(frame.clone());
            break;
        }
    }
    let frame = aimed.expect("some payload sums to it");
    let mut port_161 = frame.clone();
    port_161[L4 + 2..L4 + 4].copy_from_slice(&161u16.to_be_bytes());
    let meta = PacketMeta {
        checksum: ChecksumState::Partial,
        ..PacketMeta::default()
    };
    assert_eq!(
        e.process(
            &mut port_161.clone(),
            meta,
            IfaceId(0),
            Instant::from_secs(1)
        ),
        Verdict::Drop(DropReason::AclDeny),
        "the policy denies port 161"
    );

    let mut s = slot(&frame, needs_csum(34, 2, 0, 0), None);
    let (judged, hdr, _) = through_bridge(&mut e, &mut s);
    assert_eq!(dst_port(&judged), 53);
    if let Some(hdr) = hdr {
        // Whatever leaves reaches the wire as judged: still port 53.
        assert_eq!(dst_port(&on_the_wire(&judged, &hdr)), 53);
    }
    assert_eq!(hdr, None, "dropped, not forwarded");
    assert_eq!(e.counters().dropped(DropReason::OffloadMismatch), 1);
}

#[test]
fn a_well_formed_partial_checksum_leaves_completed_at_the_parsed_field() {
    let mut e = engine();
    let (c, s) = (
        inside([198, 18, 0, 1], 40_001),
        outside([198, 19, 0, 1], 53),
    );
    let mut frame = udp_frame(&c, &s, b"query");
    let pseudo = pseudo_sum(&frame, 17);
    frame[L4 + 6..L4 + 8].copy_from_slice(&pseudo.to_be_bytes());
    // The sender's hdr_len (its skb_headlen) is a hint, not kept.
    let mut vnet = needs_csum(34, 6, 0, 0);
    vnet[2..4].copy_from_slice(&900u16.to_le_bytes());
    let mut s = slot(&frame, vnet, None);
    let (judged, hdr, _) = through_bridge(&mut e, &mut s);
    let hdr = hdr.expect("forwarded");
    assert_eq!(hdr, [1, 0, 42, 0, 0, 0, 34, 0, 6, 0]);
    let wire = on_the_wire(&judged, &hdr);
    // The device's checksum verifies, on the port the engine judged.
    let parsed = parse(&wire, PacketMeta::default()).expect("a valid checksum");
    assert_eq!(dst_port(&wire), 53);
    assert!(matches!(parsed, Parsed::Ip { .. }));
}

#[test]
fn a_vlan_tag_put_back_moves_the_checksum_place_with_it() {
    let mut e = engine();
    let (c, s) = (
        inside([198, 18, 0, 1], 40_002),
        outside([198, 19, 0, 1], 53),
    );
    let mut frame = udp_frame(&c, &s, b"query");
    let pseudo = pseudo_sum(&frame, 17);
    frame[L4 + 6..L4 + 8].copy_from_slice(&pseudo.to_be_bytes());
    // tpacket_rcv counts csum_start from the untagged frame it hands over.
    let mut s = slot(&frame, needs_csum(34, 6, 0, 0), Some(5));
    let (judged, hdr, _) = through_bridge(&mut e, &mut s);
    let hdr = hdr.expect("forwarded");
    assert_eq!(&judged[12..16], &[0x81, 0, 0, 5]);
    assert_eq!(hdr, [1, 0, 46, 0, 0, 0, 38, 0, 6, 0]);
    let wire = on_the_wire(&judged, &hdr);
    assert!(parse(&wire, PacketMeta::default()).is_ok());
    // Aimed at the untagged frame's port, the request misses the parsed
    // field once the tag is back.
    let mut s = slot(&frame, needs_csum(30, 6, 0, 0), Some(5));
    assert_eq!(through_bridge(&mut e, &mut s).1, None);
    assert_eq!(e.counters().dropped(DropReason::OffloadMismatch), 1);
}

// === each way a header can disagree with the frame ===

/// A TCP segment of `len` bytes from the inside to port 80 of an
/// established connection, partial, with vnet header `vnet`, through a
/// fresh engine: the header it leaves with, the engine, and the segment's
/// TCP header length.
fn tcp_with(vnet: [u8; VNET_HDR_BYTES], len: u32) -> (Option<[u8; VNET_HDR_BYTES]>, Engine, u16) {
    let mut e = engine();
    let (c, s) = v4_pair(40_010, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65535, 65535], [Some(7), Some(7)]);
    for seg in m.handshake() {
        let mut f = m.frame(&seg);
        let v = e.process(
            &mut f,
            PacketMeta::default(),
            m.iface(seg.from),
            Instant::from_secs(1),
        );
        assert!(matches!(v, Verdict::Forward { .. }));
    }
    let d = m.data(Side::Client, len);
    let mut frame = m.frame(&d);
    let pseudo = pseudo_sum(&frame, 6);
    frame[L4 + 16..L4 + 18].copy_from_slice(&pseudo.to_be_bytes());
    let header_len = u16::from(frame[L4 + 12] >> 4) * 4;
    let mut s = slot(&frame, vnet, None);
    let (_, hdr, _) = through_bridge(&mut e, &mut s);
    (hdr, e, header_len)
}

#[test]
fn a_tcp_super_packet_leaves_with_the_header_of_its_parse() {
    // The sender's header: NEEDS_CSUM at the TCP checksum, GSO TCPv4 of
    // 1448, and an hdr_len of its own.
    let mut vnet = needs_csum(34, 16, 1, 1448);
    vnet[2..4].copy_from_slice(&1000u16.to_le_bytes());
    let (hdr, e, header_len) = tcp_with(vnet, 10 * 1448);
    let hl = 34 + header_len;
    let mut want = needs_csum(34, 16, 1, 1448);
    want[2..4].copy_from_slice(&hl.to_le_bytes());
    assert_eq!(hdr, Some(want));
    assert_eq!(e.counters().total_dropped(), 0);
}

#[test]
fn a_header_that_disagrees_with_the_parse_is_dropped_by_reason() {
    let cases: [(&str, [u8; VNET_HDR_BYTES], DropReason); 6] = [
        // The completed checksum aimed at the TCP flags.
        (
            "tcp flags",
            needs_csum(34, 12, 0, 0),
            DropReason::OffloadMismatch,
        ),
        // The right offset from the wrong start (inside the IP header).
        (
            "ip header",
            needs_csum(24, 16, 0, 0),
            DropReason::OffloadMismatch,
        ),
        // A TCP super-packet cut as UDP, or as IPv6.
        (
            "gso udp",
            needs_csum(34, 16, 5, 1448),
            DropReason::OffloadMismatch,
        ),
        (
            "gso tcpv6",
            needs_csum(34, 16, 4, 1448),
            DropReason::OffloadMismatch,
        ),
        // A GSO type without a size.
        (
            "gso no size",
            needs_csum(34, 16, 1, 0),
            DropReason::OffloadMismatch,
        ),
        // IPv4 UDP fragmentation (UFO), which no kernel hands over now.
        (
            "ufo",
            needs_csum(34, 16, 3, 1448),
            DropReason::OffloadUnsupported,
        ),
    ];
    for (what, vnet, reason) in cases {
        let (hdr, e, _) = tcp_with(vnet, 100);
        assert_eq!(hdr, None, "{what}");
        assert_eq!(e.counters().dropped(reason), 1, "{what}");
    }
    // GSO without NEEDS_CSUM (DATA_VALID instead, so the engine does not
    // drop it for its checksum first).
    let mut vnet = [0u8; VNET_HDR_BYTES];
    vnet[0] = 2;
    vnet[1] = 1;
    vnet[4..6].copy_from_slice(&1448u16.to_le_bytes());
    let (hdr, e, _) = tcp_with(vnet, 100);
    assert_eq!(hdr, None);
    assert_eq!(e.counters().dropped(DropReason::OffloadMismatch), 1);
}

#[test]
fn a_checksum_asked_for_icmp_is_dropped_as_unsupported() {
    let mut e = engine();
    let (c, s) = (inside([198, 18, 0, 1], 7), outside([198, 19, 0, 1], 0));
    let frame = echo_frame(&c, &s, 7, 1, false);
    // Aimed at the ICMP type: an echo request would become anything.
    let mut s = slot(&frame, needs_csum(34, 0, 0, 0), None);
    assert_eq!(through_bridge(&mut e, &mut s).1, None);
    assert_eq!(e.counters().dropped(DropReason::OffloadUnsupported), 1);
}

// === released frames ===

#[test]
fn a_released_super_packet_leaves_with_its_offload_and_without_one_completed() {
    use rampart_dataplane::packet::offload::{CsumAt, Gso, GsoKind};
    let offload = Offload {
        csum: Some(CsumAt {
            start: 34,
            offset: 16,
        }),
        gso: Some(Gso {
            kind: GsoKind::TcpV4,
            size: 1448,
            ecn: false,
        }),
        hdr_len: 54,
    };
    let mut counters = BridgeCounters::default();
    let mut frame = vec![0u8; 100];
    let hdr = egress_header(&mut frame, &offload, true, &mut counters);
    assert_eq!(hdr, [1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0]);
    assert_eq!(counters.gso_frames, 1);
    assert_eq!(frame, vec![0u8; 100], "left partial for the egress");
}
