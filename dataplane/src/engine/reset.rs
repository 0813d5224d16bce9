//! Segments the engine builds toward a connection's ends, as if from the
//! other end: the RSTs of `set connection timeout idle … reset` (one toward
//! each end of a connection that idled out, at the sequence number each
//! end expects, so both stacks drop the connection at once instead of
//! waiting on it), and the probes of dead connection detection
//! (`set connection timeout dcd`, docs/asa-behaviour.md §2.2), and the
//! handshake segments of TCP Intercept (same section).

use std::net::IpAddr;

use crate::conntrack::{Entry, TcpTrack};
use crate::flow::{Direction, Endpoint};

/// Which segment to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Built {
    /// A RST with ACK at the sequence number the end expects.
    Reset,
    /// A keep-alive (RFC 9293 §3.8.4): a bare ACK one below the sequence
    /// number the end expects, which it must answer with an ACK of its
    /// own (§3.10.7.4: an unacceptable segment is acknowledged). The
    /// answer crosses the firewall as the connection's next packet.
    Probe,
    /// A bare ACK at the sequence number the end expects, acknowledging
    /// all it sent: TCP Intercept's answer to the server's SYN-ACK, in
    /// the client's place.
    Ack,
}

/// The segment toward the `toward` side: from the other end's address and
/// MAC, with that end's next sequence number as `toward` knows it (shifted
/// as the firewall shifts that end's segments, [`Entry::seq_shift`]) and
/// acknowledging everything `toward` sent.
pub(super) fn frame(
    entry: &Entry,
    macs: crate::conntrack::Macs,
    t: &TcpTrack,
    toward: Direction,
    built: Built,
) -> Vec<u8> {
    let (initiator, responder) = (entry.initiator(), entry.responder());
    let [orig_src_mac, orig_dst_mac] = macs;
    let (orig, reply) = (&t.half[0], &t.half[1]);
    let (src, dst, src_mac, dst_mac, seq, ack, from): (Endpoint, Endpoint, _, _, u32, u32, _) =
        match toward {
            Direction::Reply => (
                initiator,
                responder,
                orig_src_mac,
                orig_dst_mac,
                orig.end.0.wrapping_add(entry.seq_shift(Direction::Orig)),
                reply.end.0,
                orig,
            ),
            Direction::Orig => (
                responder,
                initiator,
                orig_dst_mac,
                orig_src_mac,
                reply.end.0.wrapping_add(entry.seq_shift(Direction::Reply)),
                orig.end.0,
                reply,
            ),
        };
    let window = u16::try_from(from.max_win >> from.scale).unwrap_or(u16::MAX);
    let seg = match built {
        Built::Reset => Segment {
            seq,
            ack,
            window: 0,
            kind: Kind::Reset,
        },
        // What the sender itself acknowledged (not all the end sent: a
        // segment lost beyond the firewall must not look delivered), and
        // the window it last offered, as its header carries it.
        Built::Probe => Segment {
            seq: seq.wrapping_sub(1),
            ack: if from.flags & crate::conntrack::tcp::half_flags::MAXACK_SET != 0 {
                from.max_ack.0
            } else {
                ack
            },
            window,
            kind: Kind::Ack,
        },
        Built::Ack => Segment {
            seq,
            ack,
            window,
            kind: Kind::Ack,
        },
    };
    build(src, dst, [src_mac, dst_mac], entry.key.vlan, &seg)
}

/// What kind of segment [`build`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// RST with ACK.
    Reset,
    /// A bare ACK.
    Ack,
    /// A SYN (no ACK) with an MSS option.
    Syn { mss: u16 },
    /// A SYN-ACK with an MSS option.
    SynAck { mss: u16 },
}

/// The numbers of a segment [`build`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Segment {
    pub seq: u32,
    /// Ignored for a SYN.
    pub ack: u32,
    pub window: u16,
    pub kind: Kind,
}

/// An Ethernet frame holding `seg` from `src` to `dst` (`macs`: source,
/// destination), TTL or hop limit 64, checksums complete, on VLAN `vlan`
/// (0: untagged). Written from the crate's header structs, not its
/// `PacketBuilder`, whose steps copy the whole builder each: a SYN cookie
/// answers every SYN of a flood, and this is its cost.
pub(super) fn build(
    src: Endpoint,
    dst: Endpoint,
    [src_mac, dst_mac]: [[u8; 6]; 2],
    vlan: u16,
    seg: &Segment,
) -> Vec<u8> {
    use etherparse::{EtherType, Ethernet2Header, IpNumber, Ipv4Header, Ipv6Header, TcpHeader};
    let mut tcp = TcpHeader::new(src.port, dst.port, seg.seq, seg.window);
    match seg.kind {
        Kind::Reset => {
            tcp.rst = true;
            tcp.ack = true;
        }
        Kind::Ack => tcp.ack = true,
        Kind::Syn { .. } => tcp.syn = true,
        Kind::SynAck { .. } => {
            tcp.syn = true;
            tcp.ack = true;
        }
    }
    if tcp.ack {
        tcp.acknowledgment_number = seg.ack;
    }
    if let Kind::Syn { mss } | Kind::SynAck { mss } = seg.kind {
        let [hi, lo] = mss.to_be_bytes();
        // Kind 2, length 4 (RFC 9293 §3.2): one word, no padding.
        let set = tcp.set_options_raw(&[2, 4, hi, lo]);
        debug_assert!(set.is_ok());
    }
    let tcp_len = tcp.header_len_u16();
    let mut out = Vec::with_capacity(14 + 40 + usize::from(tcp_len) + 4);
    let v4 = match (src.addr.ip(), dst.addr.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Some((s.octets(), d.octets())),
        _ => None,
    };
    let ether_type = if v4.is_some() {
        EtherType::IPV4
    } else {
        EtherType::IPV6
    };
    let eth = Ethernet2Header {
        source: src_mac,
        destination: dst_mac,
        ether_type,
    };
    // Writing to a Vec cannot fail; the lengths are a header's.
    let written = eth.write(&mut out).is_ok()
        && match v4 {
            Some((s, d)) => Ipv4Header::new(tcp_len, 64, IpNumber::TCP, s, d)
                .ok()
                .is_some_and(|mut ip| {
                    ip.header_checksum = ip.calc_header_checksum();
                    tcp.checksum = tcp.calc_checksum_ipv4(&ip, &[]).unwrap_or(0);
                    ip.write(&mut out).is_ok()
                }),
            None => {
                let v6 = |a: IpAddr| match a {
                    IpAddr::V6(x) => x.octets(),
                    IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
                };
                let ip = Ipv6Header {
                    traffic_class: 0,
                    flow_label: Default::default(),
                    payload_length: tcp_len,
                    next_header: IpNumber::TCP,
                    hop_limit: 64,
                    source: v6(src.addr.ip()),
                    destination: v6(dst.addr.ip()),
                };
                tcp.checksum = tcp.calc_checksum_ipv6(&ip, &[]).unwrap_or(0);
                ip.write(&mut out).is_ok()
            }
        }
        && tcp.write(&mut out).is_ok();
    debug_assert!(written);
    // On the connection's own VLAN (docs/asa-behaviour.md §2.6): untagged,
    // the segment would reach neither end, or another VLAN's host of the
    // same address. The bridge sends a frame as it is.
    if vlan != 0 {
        crate::packet::push_vlan_tag(&mut out, 0, vlan);
    }
    out
}
