//! Segments the engine builds toward a connection's ends, as if from the
//! other end: the RSTs of `set connection timeout idle … reset` (one toward
//! each end of a connection that idled out, at the sequence number each
//! end expects, so both stacks drop the connection at once instead of
//! waiting on it), and the probes of dead connection detection
//! (`set connection timeout dcd`, docs/asa-behaviour.md §2.2).

use std::net::IpAddr;

use etherparse::PacketBuilder;

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
}

/// The segment toward the `toward` side: from the other end's address and
/// MAC, with that end's next sequence number as `toward` knows it (the
/// initiator's is shifted by the randomization offset on the responder's
/// side) and acknowledging everything `toward` sent.
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
                orig.end.0.wrapping_add(entry.seq_offset),
                reply.end.0,
                orig,
            ),
            Direction::Orig => (
                responder,
                initiator,
                orig_dst_mac,
                orig_src_mac,
                reply.end.0,
                orig.end.0,
                reply,
            ),
        };
    let (seq, ack, window) = match built {
        Built::Reset => (seq, ack, 0),
        // What the sender itself acknowledged (not all the end sent: a
        // segment lost beyond the firewall must not look delivered), and
        // the window it last offered, as its header carries it.
        Built::Probe => (
            seq.wrapping_sub(1),
            if from.flags & crate::conntrack::tcp::half_flags::MAXACK_SET != 0 {
                from.max_ack.0
            } else {
                ack
            },
            u16::try_from(from.max_win >> from.scale).unwrap_or(u16::MAX),
        ),
    };
    let mut out = Vec::with_capacity(74);
    let l2 = PacketBuilder::ethernet2(src_mac, dst_mac);
    let written = match (src.addr.ip(), dst.addr.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let tcp = l2
                .ipv4(s.octets(), d.octets(), 64)
                .tcp(src.port, dst.port, seq, window);
            match built {
                Built::Reset => tcp.rst().ack(ack).write(&mut out, &[]),
                Built::Probe => tcp.ack(ack).write(&mut out, &[]),
            }
        }
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V6(x) => x.octets(),
                IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
            };
            let tcp = l2
                .ipv6(v6(s), v6(d), 64)
                .tcp(src.port, dst.port, seq, window);
            match built {
                Built::Reset => tcp.rst().ack(ack).write(&mut out, &[]),
                Built::Probe => tcp.ack(ack).write(&mut out, &[]),
            }
        }
    };
    // Writing headers to a Vec fails only on payloads beyond 64 KiB.
    debug_assert!(written.is_ok());
    // On the connection's own VLAN (docs/asa-behaviour.md §2.6): untagged,
    // the segment would reach neither end, or another VLAN's host of the
    // same address. The bridge sends a frame as it is.
    let vlan = entry.key.vlan;
    if vlan != 0 {
        crate::packet::push_vlan_tag(&mut out, 0, vlan);
    }
    out
}
