//! The `virtio_net_hdr` of `PACKET_VNET_HDR` (docs/io.md §1): read from a
//! received frame into what the engine checks ([`read`]), and written for a
//! frame that leaves from the offload the engine built from its own parse
//! ([`write`]). The header a frame arrived with is never sent: its
//! `csum_start` and `csum_offset` are the sender's, and would let it aim
//! the completed checksum at bytes the engine judged.
//!
//! Layout (`<linux/virtio_net.h>`; little-endian fields, as the packet
//! socket uses them on the hosts Rampart runs on): `flags` u8, `gso_type`
//! u8, `hdr_len` u16, `gso_size` u16, `csum_start` u16, `csum_offset` u16.

use rampart_dataplane::packet::offload::{CsumAt, GsoAsked, GsoKind};
use rampart_dataplane::packet::{ChecksumState, Offload, PacketMeta};

/// `sizeof(struct virtio_net_hdr)`.
pub const VNET_HDR_BYTES: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the transport checksum is partial.
const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: checksums were verified.
const F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_NONE`.
const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_UDP_L4`.
const GSO_UDP_L4: u8 = 5;
/// `VIRTIO_NET_HDR_GSO_ECN`: a bit beside the type.
const GSO_ECN: u8 = 0x80;

/// An empty header: nothing offloaded.
pub const NONE: [u8; VNET_HDR_BYTES] = [0; VNET_HDR_BYTES];

fn u16_at(v: &[u8; VNET_HDR_BYTES], at: usize) -> u16 {
    u16::from_le_bytes([v[at], v[at + 1]])
}

/// What a received frame's header says: its checksum state, its GSO size,
/// and the offload its sender asked for, for the engine to check against
/// the frame's headers.
pub fn read(v: &[u8; VNET_HDR_BYTES]) -> PacketMeta {
    let mut meta = PacketMeta::default();
    if v[0] & F_NEEDS_CSUM != 0 {
        meta.checksum = ChecksumState::Partial;
        meta.asked.csum = Some(CsumAt {
            start: u16_at(v, 6),
            offset: u16_at(v, 8),
        });
    } else if v[0] & F_DATA_VALID != 0 {
        meta.checksum = ChecksumState::Verified;
    }
    let gso_type = v[1] & !GSO_ECN;
    if gso_type != GSO_NONE {
        meta.gso_size = u16_at(v, 4);
        meta.asked.gso = Some(match gso_type {
            GSO_TCPV4 => GsoAsked::Kind(GsoKind::TcpV4),
            GSO_TCPV6 => GsoAsked::Kind(GsoKind::TcpV6),
            GSO_UDP_L4 => GsoAsked::Kind(GsoKind::UdpL4),
            other => GsoAsked::Other(other),
        });
    }
    meta
}

/// `meta` of a frame after `by` bytes (a VLAN tag put back) were inserted
/// in front of its network header: the offsets its sender asked for count
/// from the frame's first byte.
pub fn shifted(mut meta: PacketMeta, by: u16) -> PacketMeta {
    if let Some(c) = &mut meta.asked.csum {
        c.start = c.start.saturating_add(by);
    }
    meta
}

/// The header a frame leaves with, from the offload the engine built from
/// its parse ([`Offload`]): never from the header it arrived with.
pub fn write(o: &Offload) -> [u8; VNET_HDR_BYTES] {
    let mut v = NONE;
    if let Some(c) = o.csum {
        v[0] = F_NEEDS_CSUM;
        v[6..8].copy_from_slice(&c.start.to_le_bytes());
        v[8..10].copy_from_slice(&c.offset.to_le_bytes());
    }
    if let Some(g) = o.gso {
        let kind = match g.kind {
            GsoKind::TcpV4 => GSO_TCPV4,
            GsoKind::TcpV6 => GSO_TCPV6,
            GsoKind::UdpL4 => GSO_UDP_L4,
        };
        v[1] = if g.ecn { kind | GSO_ECN } else { kind };
        v[4..6].copy_from_slice(&g.size.to_le_bytes());
    }
    if o.csum.is_some() || o.gso.is_some() {
        v[2..4].copy_from_slice(&o.hdr_len.to_le_bytes());
    }
    v
}

#[cfg(test)]
mod tests {
    use rampart_dataplane::packet::OffloadRequest;
    use rampart_dataplane::packet::offload::Gso;

    use super::*;

    #[test]
    fn a_received_header_becomes_a_request_not_an_outgoing_header() {
        // NEEDS_CSUM, GSO TCPv4 with ECN, hdr_len 54, gso_size 1448,
        // csum_start 34, csum_offset 16.
        let m = read(&[1, 0x81, 54, 0, 0xa8, 0x05, 34, 0, 16, 0]);
        assert_eq!(m.checksum, ChecksumState::Partial);
        assert_eq!(m.gso_size, 1448);
        assert_eq!(
            m.asked,
            OffloadRequest {
                csum: Some(CsumAt {
                    start: 34,
                    offset: 16
                }),
                gso: Some(GsoAsked::Kind(GsoKind::TcpV4)),
            }
        );
        assert_eq!(shifted(m, 4).asked.csum.map(|c| c.start), Some(38));
        // DATA_VALID; an unknown GSO type is kept as asked, for the engine
        // to refuse.
        let m = read(&[2, 3, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(m.checksum, ChecksumState::Verified);
        assert_eq!(m.asked.gso, Some(GsoAsked::Other(3)));
        assert_eq!(read(&NONE), PacketMeta::default());
    }

    #[test]
    fn the_outgoing_header_is_the_engines_offload() {
        let o = Offload {
            csum: Some(CsumAt {
                start: 38,
                offset: 16,
            }),
            gso: Some(Gso {
                kind: GsoKind::TcpV6,
                size: 1440,
                ecn: true,
            }),
            hdr_len: 78,
        };
        assert_eq!(write(&o), [1, 0x84, 78, 0, 0xa0, 0x05, 38, 0, 16, 0]);
        assert_eq!(write(&Offload::NONE), NONE);
        let udp = Offload {
            csum: Some(CsumAt {
                start: 34,
                offset: 6,
            }),
            gso: None,
            hdr_len: 42,
        };
        assert_eq!(write(&udp), [1, 0, 42, 0, 0, 0, 34, 0, 6, 0]);
    }
}
