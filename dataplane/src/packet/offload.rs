//! Checksum and segmentation offload (docs/io.md §1): what a frame's sender
//! asked for, checked against the frame's own headers, and what a frame the
//! engine lets through asks of the device it leaves by, built from the
//! engine's parse alone.
//!
//! With `PACKET_VNET_HDR` every frame comes with a `virtio_net_hdr` and
//! leaves with one. Its `csum_start` and `csum_offset` say where the device
//! (or `skb_checksum_help`, when it offers no checksum offload) writes the
//! completed checksum; its `gso_type` how the device cuts a super-packet.
//! The sender chooses them. Forwarded as received, they let a sender aim the
//! completed checksum at bytes the engine judged (the ports, the TCP flags,
//! the ICMP type): the bytes on the wire would no longer be the bytes
//! judged. So the header that leaves is never the sender's:
//! [`Offload`] is built from the parse, and a request that disagrees with
//! the parse is dropped as [`DropReason::OffloadMismatch`] or
//! [`DropReason::OffloadUnsupported`], never repaired.

use crate::verdict::DropReason;

/// TCP's checksum field, in bytes from the start of its header (RFC 9293 §3.1).
pub const TCP_CHECKSUM_OFFSET: u16 = 16;
/// UDP's checksum field, in bytes from the start of its header (RFC 768).
pub const UDP_CHECKSUM_OFFSET: u16 = 6;
/// UDP's header, in bytes (RFC 768).
const UDP_HEADER_BYTES: u16 = 8;

/// How a device cuts a super-packet into frames (the kinds the engine
/// supports: those the Linux kernel hands a packet socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsoKind {
    /// TCP over IPv4 (`VIRTIO_NET_HDR_GSO_TCPV4`).
    TcpV4,
    /// TCP over IPv6 (`VIRTIO_NET_HDR_GSO_TCPV6`).
    TcpV6,
    /// UDP datagrams of `gso_size` payload bytes each, over either IP
    /// version (`VIRTIO_NET_HDR_GSO_UDP_L4`).
    UdpL4,
}

/// Where a partial transport checksum is completed: summed from `start`
/// (bytes from the first byte of the frame) to the frame's end, and
/// written at `start + offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsumAt {
    /// Where the sum starts (`csum_start`).
    pub start: u16,
    /// Where the result goes, from `start` (`csum_offset`).
    pub offset: u16,
}

/// The segmentation a super-packet asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gso {
    /// How it is cut.
    pub kind: GsoKind,
    /// Payload bytes per segment (`gso_size`).
    pub size: u16,
    /// The TCP CWR flag is set: only the first segment keeps it
    /// (`VIRTIO_NET_HDR_GSO_ECN`, `SKB_GSO_TCP_ECN`).
    pub ecn: bool,
}

/// What a frame's sender asked for in its `virtio_net_hdr`, as the I/O
/// shell read it: untrusted, only ever compared with the parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffloadRequest {
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`'s place, if the flag is set.
    pub csum: Option<CsumAt>,
    /// The GSO type asked for, if not `VIRTIO_NET_HDR_GSO_NONE` (ECN bit
    /// left out).
    pub gso: Option<GsoAsked>,
}

impl OffloadRequest {
    /// Nothing asked (no `virtio_net_hdr`, or an empty one).
    pub const NONE: OffloadRequest = OffloadRequest {
        csum: None,
        gso: None,
    };
}

/// A GSO type as a sender wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsoAsked {
    /// One the engine supports.
    Kind(GsoKind),
    /// Any other value (`VIRTIO_NET_HDR_GSO_UDP`, IPv4 UDP fragmentation,
    /// which Linux no longer does, or an unknown one): the raw type.
    Other(u8),
}

/// What a frame the engine lets through asks of the device it leaves by,
/// built from the engine's parse: the offsets point at the transport header
/// and checksum field the engine parsed, whatever the sender wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offload {
    /// Complete the TCP or UDP checksum here (the frame's checksum is
    /// partial: the field holds the pseudo-header sum).
    pub csum: Option<CsumAt>,
    /// Cut the frame into segments.
    pub gso: Option<Gso>,
    /// Bytes of the frame's headers, through its transport header (the
    /// header's `hdr_len`: how much the kernel keeps linear); 0 when
    /// nothing is offloaded.
    pub hdr_len: u16,
}

impl Offload {
    /// Nothing offloaded: checksums complete, one frame on the wire.
    pub const NONE: Offload = Offload {
        csum: None,
        gso: None,
        hdr_len: 0,
    };
}

/// The transport a frame carries, as the offload needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum L4 {
    /// TCP with its header length (options included) and its CWR flag.
    Tcp { header_len: u8, cwr: bool },
    /// UDP.
    Udp,
    /// Anything else (ICMP, ICMPv6): no checksum offload is supported.
    Other,
}

/// The offload a frame leaves with, from its parse (`l4`: where its
/// transport header starts; `v6`: its IP version; `l4_kind`: its
/// transport), its checksum state and GSO size (`partial`, `gso_size`), and
/// the check of what its sender asked for (`asked`): the frame is dropped,
/// never repaired, when the two disagree.
pub(crate) fn offload(
    l4: u16,
    v6: bool,
    l4_kind: L4,
    partial: bool,
    gso_size: u16,
    asked: &OffloadRequest,
) -> Result<Offload, DropReason> {
    let (field, header_len, kind) = match l4_kind {
        L4::Tcp { header_len, .. } => (
            TCP_CHECKSUM_OFFSET,
            u16::from(header_len),
            if v6 { GsoKind::TcpV6 } else { GsoKind::TcpV4 },
        ),
        L4::Udp => (UDP_CHECKSUM_OFFSET, UDP_HEADER_BYTES, GsoKind::UdpL4),
        L4::Other => {
            // Only TCP and UDP checksums and segmentation are offloaded: a
            // request on anything else has no place the engine could check.
            if asked.csum.is_some() || asked.gso.is_some() {
                return Err(DropReason::OffloadUnsupported);
            }
            return Ok(Offload::NONE);
        }
    };
    let at = CsumAt {
        start: l4,
        offset: field,
    };
    // The completed checksum lands in the checksum field the engine parsed,
    // or the frame does not pass.
    if asked.csum.is_some_and(|c| c != at) {
        return Err(DropReason::OffloadMismatch);
    }
    match asked.gso {
        Some(GsoAsked::Other(_)) => return Err(DropReason::OffloadUnsupported),
        // A super-packet is cut as its IP version and transport are, its
        // segments each get their checksum (Linux sends none without
        // NEEDS_CSUM), and it has a segment size.
        Some(GsoAsked::Kind(k)) if k != kind || asked.csum.is_none() || gso_size == 0 => {
            return Err(DropReason::OffloadMismatch);
        }
        Some(GsoAsked::Kind(_)) | None => {}
    }
    let csum = partial.then_some(at);
    let gso = (gso_size > 0).then_some(Gso {
        kind,
        size: gso_size,
        ecn: matches!(l4_kind, L4::Tcp { cwr: true, .. }),
    });
    let hdr_len = if csum.is_some() || gso.is_some() {
        l4.saturating_add(header_len)
    } else {
        0
    };
    Ok(Offload { csum, gso, hdr_len })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: L4 = L4::Tcp {
        header_len: 32,
        cwr: false,
    };

    fn asked(start: u16, offset: u16, gso: Option<GsoAsked>) -> OffloadRequest {
        OffloadRequest {
            csum: Some(CsumAt { start, offset }),
            gso,
        }
    }

    #[test]
    fn the_offload_is_built_from_the_parse() {
        // A partial TCP checksum over IPv4, asked for at its place.
        let o = offload(34, false, TCP, true, 0, &asked(34, 16, None)).unwrap();
        assert_eq!(
            o,
            Offload {
                csum: Some(CsumAt {
                    start: 34,
                    offset: 16
                }),
                gso: None,
                hdr_len: 66,
            }
        );
        // A TCP super-packet over IPv6 behind a VLAN tag, with CWR.
        let tcp = L4::Tcp {
            header_len: 20,
            cwr: true,
        };
        let req = asked(58, 16, Some(GsoAsked::Kind(GsoKind::TcpV6)));
        let o = offload(58, true, tcp, true, 1440, &req).unwrap();
        assert_eq!(
            o.gso,
            Some(Gso {
                kind: GsoKind::TcpV6,
                size: 1440,
                ecn: true
            })
        );
        assert_eq!(o.hdr_len, 78);
        // UDP segmentation over IPv4.
        let req = asked(34, 6, Some(GsoAsked::Kind(GsoKind::UdpL4)));
        let o = offload(34, false, L4::Udp, true, 1200, &req).unwrap();
        assert_eq!(o.gso.map(|g| g.kind), Some(GsoKind::UdpL4));
        assert_eq!(o.hdr_len, 42);
        // Nothing asked, nothing partial: nothing offloaded.
        let none = OffloadRequest::default();
        assert_eq!(offload(34, false, TCP, false, 0, &none), Ok(Offload::NONE));
        assert_eq!(
            offload(34, false, L4::Other, true, 0, &none),
            Ok(Offload::NONE)
        );
        // Partial without a header (TP_STATUS_CSUMNOTREADY): the place is
        // the parse's.
        let o = offload(38, false, L4::Udp, true, 0, &none).unwrap();
        assert_eq!(
            o.csum,
            Some(CsumAt {
                start: 38,
                offset: 6
            })
        );
    }

    #[test]
    fn a_request_that_disagrees_with_the_parse_is_dropped() {
        let mismatch = Err(DropReason::OffloadMismatch);
        let unsupported = Err(DropReason::OffloadUnsupported);
        // The checksum aimed at the destination port, or before the header.
        assert_eq!(
            offload(34, false, L4::Udp, true, 0, &asked(34, 2, None)),
            mismatch
        );
        assert_eq!(
            offload(34, false, TCP, true, 0, &asked(30, 20, None)),
            mismatch
        );
        // The TCP flags, from a start past the header.
        assert_eq!(
            offload(34, false, TCP, true, 0, &asked(36, 11, None)),
            mismatch
        );
        // A UDP checksum at TCP's place.
        assert_eq!(
            offload(34, false, L4::Udp, true, 0, &asked(34, 16, None)),
            mismatch
        );
        // A GSO type of the other IP version or transport.
        let tcp6 = Some(GsoAsked::Kind(GsoKind::TcpV6));
        assert_eq!(
            offload(34, false, TCP, true, 1448, &asked(34, 16, tcp6)),
            mismatch
        );
        let udp = Some(GsoAsked::Kind(GsoKind::UdpL4));
        assert_eq!(
            offload(34, false, TCP, true, 1448, &asked(34, 16, udp)),
            mismatch
        );
        // A GSO type without NEEDS_CSUM, or without a size.
        let tcp4 = Some(GsoAsked::Kind(GsoKind::TcpV4));
        let no_csum = OffloadRequest {
            csum: None,
            gso: tcp4,
        };
        assert_eq!(offload(34, false, TCP, false, 1448, &no_csum), mismatch);
        assert_eq!(
            offload(34, false, TCP, true, 0, &asked(34, 16, tcp4)),
            mismatch
        );
        // ICMP has no checksum offload, nor does a GSO type the engine
        // does not know.
        assert_eq!(
            offload(34, false, L4::Other, true, 0, &asked(34, 2, None)),
            unsupported
        );
        let ufo = Some(GsoAsked::Other(3));
        assert_eq!(
            offload(34, false, L4::Udp, true, 1448, &asked(34, 6, ufo)),
            unsupported
        );
    }
}
