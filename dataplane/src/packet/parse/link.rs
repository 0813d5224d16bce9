//! The link layer: Ethernet II and at most one VLAN tag (802.1Q, or an
//! 802.1ad tag alone). Stacked tags (Q-in-Q) are refused: the connection
//! key holds one VLAN id, and keyed by the outer tag alone two customer
//! VLANs inside one service VLAN, whose addresses may overlap, would share
//! connections (docs/asa-behaviour.md §2.6).

use etherparse::{EtherType, Ethernet2Slice, SingleVlanSlice};

use crate::verdict::DropReason;

/// The Ethernet II header: two MAC addresses and the EtherType.
const ETH_HEADER_LEN: u16 = 14;
/// An 802.1Q or 802.1ad tag: TCI and the next EtherType.
const VLAN_TAG_LEN: u16 = 4;

/// The link layer, once the Ethernet and VLAN headers are read.
pub(super) struct Link<'a> {
    /// EtherType of the innermost header.
    pub(super) ether_type: EtherType,
    /// VLAN id of the tag, if tagged.
    pub(super) vlan: Option<u16>,
    /// Offset of the network header in the frame.
    pub(super) l3: u16,
    /// Everything after the link headers (the network packet and any
    /// Ethernet padding).
    pub(super) payload: &'a [u8],
}

#[inline]
pub(super) fn link(frame: &[u8]) -> Result<Link<'_>, DropReason> {
    // The frame handed over has no FCS: NICs strip it before the kernel sees it.
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).map_err(|_| DropReason::L2Truncated)?;
    let mut link = Link {
        ether_type: eth.ether_type(),
        vlan: None,
        l3: ETH_HEADER_LEN,
        payload: eth.payload_slice(),
    };
    // 802.1ad puts a 0x88a8 service tag outside the 0x8100 customer tag,
    // and switches in the wild also stack two 0x8100 tags: either is a tag.
    let is_tag =
        |t: EtherType| t == EtherType::VLAN_TAGGED_FRAME || t == EtherType::PROVIDER_BRIDGING;
    if is_tag(link.ether_type) {
        let tag = SingleVlanSlice::from_slice(link.payload).map_err(|_| DropReason::L2Truncated)?;
        link.vlan = Some(tag.vlan_identifier().value());
        link.ether_type = tag.ether_type();
        link.payload = tag.payload_slice();
        link.l3 += VLAN_TAG_LEN;
        if is_tag(link.ether_type) {
            return Err(DropReason::VlanStacked);
        }
    }
    Ok(link)
}

#[cfg(test)]
mod tests {
    use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, VlanId};

    use super::*;
    use crate::packet::Parsed;
    use crate::packet::parse::parse;
    use crate::packet::parse::test_frames::*;

    #[test]
    fn vlan_single_and_double_tag() {
        let mut single = Vec::new();
        eth()
            .single_vlan(VlanId::try_new(100).unwrap())
            .ipv4(V4_A, V4_B, 64)
            .udp(1, 2)
            .write(&mut single, b"x")
            .unwrap();
        let p = ip(&single, UNVERIFIED);
        assert_eq!((p.vlan, p.l3, p.l4), (100, 18, 38));
        assert_eq!(p.tuple.dst.port, 2);

        // An 802.1ad tag alone is a tag like any other.
        let ad = edited(&single, |f| f[12..14].copy_from_slice(&[0x88, 0xa8]));
        assert_eq!(ip(&ad, UNVERIFIED).vlan, 100);

        // Stacked tags are refused, however they are stacked: 802.1ad
        // outside 802.1Q, two 802.1Q tags (as some switches stack them), a
        // priority tag outside a VLAN tag, three tags.
        let mut double = Vec::new();
        eth()
            .double_vlan(VlanId::try_new(200).unwrap(), VlanId::try_new(100).unwrap())
            .ipv6(v6_a(), v6_b(), 64)
            .udp(1, 2)
            .write(&mut double, b"x")
            .unwrap();
        assert_eq!(
            (&double[12..14], &double[16..18]),
            (&[0x88, 0xa8][..], &[0x81, 0x00][..])
        );
        let qq = edited(&single, |f| {
            f.splice(12..12, [0x81, 0x00, 0x0f, 0xff]);
        });
        let priority = edited(&single, |f| {
            f.splice(12..12, [0x81, 0x00, 0xe0, 0x00]);
        });
        let triple = edited(&double, |f| {
            f.splice(12..12, [0x88, 0xa8, 0x00, 0x05]);
        });
        for f in [double, qq, priority, triple] {
            assert_eq!(parse(&f, UNVERIFIED), Err(DropReason::VlanStacked));
        }
    }

    #[test]
    fn vlan_priority_bits_are_not_the_id() {
        let mut f = Vec::new();
        eth()
            .single_vlan(VlanId::try_new(42).unwrap())
            .ipv4(V4_A, V4_B, 64)
            .udp(1, 2)
            .write(&mut f, b"x")
            .unwrap();
        f[14] |= 0xf0; // PCP 7, DEI set
        assert_eq!(ip(&f, UNVERIFIED).vlan, 42);
    }

    #[test]
    fn arp_passes_as_arp() {
        let mut f = Vec::new();
        eth()
            .arp(
                ArpPacket::new(
                    ArpHardwareId::ETHERNET,
                    EtherType::IPV4,
                    ArpOperation::REQUEST,
                    &MAC_A,
                    &V4_A,
                    &[0; 6],
                    &V4_B,
                )
                .unwrap(),
            )
            .write(&mut f)
            .unwrap();
        assert_eq!(parse(&f, UNVERIFIED), Ok(Parsed::Arp));
        // Under the ARP EtherType, only an Ethernet/IPv4 request or reply
        // passes (RFC 826): not a bare header, other bytes, or other kinds.
        let arp_at = f.len() - 28;
        let bad = DropReason::ArpMalformed;
        assert_eq!(parse(&f[..arp_at], UNVERIFIED), Err(bad), "no ARP at all");
        assert_eq!(parse(&f[..f.len() - 1], UNVERIFIED), Err(bad), "cut short");
        for (at, value) in [(1, 7), (3, 0xdd), (4, 8), (5, 16), (7, 3)] {
            let other = edited(&f, |f| f[arp_at + at] = value);
            assert_eq!(parse(&other, UNVERIFIED), Err(bad), "byte {at} = {value}");
        }
        let reply = edited(&f, |f| f[arp_at + 7] = 2);
        assert_eq!(parse(&reply, UNVERIFIED), Ok(Parsed::Arp));
        let ieee802 = edited(&f, |f| f[arp_at + 1] = 6);
        assert_eq!(parse(&ieee802, UNVERIFIED), Ok(Parsed::Arp));
    }

    #[test]
    fn ethernet_padding_after_the_ip_packet_is_ignored() {
        for frame in [udp_v4(b"hi"), udp_v6(), tcp_v4(&[], &[])] {
            let padded = edited(&frame, |f| f.resize(frame.len().max(60) + 4, 0xee));
            assert_eq!(parse(&padded, UNVERIFIED), parse(&frame, UNVERIFIED));
            assert!(parse(&padded, UNVERIFIED).is_ok());
        }
    }

    #[test]
    fn link_layer_drops() {
        let vlan_tagged = |len: usize| {
            let mut f = vec![0; len];
            f[12..14].copy_from_slice(&[0x81, 0x00]);
            if len >= 18 {
                f[16..18].copy_from_slice(&[0x81, 0x00]);
            }
            f
        };
        let cases = [
            ("empty", vec![], DropReason::L2Truncated),
            ("no ethertype", vec![0; 13], DropReason::L2Truncated),
            ("tag cut", vlan_tagged(17), DropReason::L2Truncated),
            // A second tag is refused as a second tag, whole or not.
            ("second tag cut", vlan_tagged(21), DropReason::VlanStacked),
            (
                "LLDP",
                edited(&udp_v4(b"x"), |f| set_be16(f, 12, 0x88cc)),
                DropReason::UnsupportedEthertype,
            ),
            (
                "802.3 length field",
                edited(&udp_v4(b"x"), |f| set_be16(f, 12, 0x0040)),
                DropReason::UnsupportedEthertype,
            ),
            (
                "IPX",
                edited(&udp_v4(b"x"), |f| set_be16(f, 12, 0x8137)),
                DropReason::UnsupportedEthertype,
            ),
        ];
        for (name, frame, want) in cases {
            assert_eq!(parse(&frame, UNVERIFIED), Err(want), "{name}");
        }
        // A whole tag with nothing after it is not an L2 problem: the IP
        // header is what is missing.
        let mut tag_only = vlan_tagged(18);
        tag_only[16..18].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(parse(&tag_only, UNVERIFIED), Err(DropReason::Ipv4Malformed));
    }
}
