//! Frame parsing: Ethernet II with up to two VLAN tags, IPv4 and IPv6 (with
//! extension headers), TCP, UDP, ICMP and ICMPv6, and any other IP protocol
//! (SCTP with its ports), down to a [`Parsed`].
//!
//! The header slices come from etherparse, which checks each header's own
//! length fields; this module adds the checks a firewall needs on top of them
//! (lengths across layers, checksums, fragments, IPv4-mapped addresses) and
//! maps every failure to one [`DropReason`]. Two pieces are by hand because
//! etherparse's version does not fit: the TCP option walk (its iterator fails
//! on option kinds it does not know) and the 8-byte ICMP header (its ICMPv4
//! slice insists on exact timestamp lengths).
//!
//! No input can make [`parse`] panic: every read is a checked slice access,
//! and nothing is allocated.
//!
//! Each layer has a module of its own, its tests beside it: `link`
//! (Ethernet and VLAN tags), `ipv4`, `ipv6` (with extension headers), `tcp`
//! (with options), `udp`, `icmp` (ICMP and ICMPv6, with the packets
//! their errors quote), and `other` (every other IP protocol, SCTP's
//! ports). This module joins them, verifies transport
//! checksums, and completes partial ones. Each layer's entry point is
//! `#[inline]`: split over files, the release profile's codegen units stop
//! inlining them into [`parse`] on their own, and the `baseline/parse_only`
//! case of the engine benchmark took 40% longer without the hint.

mod frag;
mod icmp;
mod ipv4;
mod ipv6;
mod link;
mod nd;
mod other;
mod tcp;

pub use frag::{FragmentInfo, assemble, fragment_info, set_ipv4_checksum};
pub(crate) use tcp::furthest_after;
#[cfg(test)]
mod test_frames;
mod udp;

use etherparse::checksum::Sum16BitWords;
use etherparse::{EtherType, IpNumber, UdpHeaderSlice, ip_number};

use self::icmp::icmp;
use self::ipv4::ipv4;
use self::ipv6::ipv6;
use self::link::link;
use self::nd::nd_valid;
use self::other::other;
use self::tcp::tcp;
use self::udp::udp;
use super::offload::{L4, offload};
use super::{ChecksumState, Icmp, OffloadRequest, PacketMeta, Parsed, TcpFlags, Transport};
use crate::flow::{Addr, Endpoint, Tuple};
use crate::verdict::DropReason;

/// ARP for IPv4 over Ethernet (RFC 826): hardware type 1 (or 6, IEEE 802,
/// which Linux also takes on Ethernet), protocol 0x0800, address lengths 6
/// and 4, a request or a reply, and the 28 bytes that makes. Anything else
/// under the ARP EtherType is no ARP a host would answer, and not passed
/// across the bridge.
fn arp(payload: &[u8]) -> Result<Parsed, DropReason> {
    match payload.get(..8) {
        Some([0, 1 | 6, 0x08, 0x00, 6, 4, 0, 1 | 2]) if payload.len() >= 28 => Ok(Parsed::Arp),
        _ => Err(DropReason::ArpMalformed),
    }
}

/// The IP source and destination addresses of an IPv4 or IPv6 frame
/// (after at most one VLAN tag) and its VLAN id (0: untagged), read from
/// the IP header alone: a fragment has them too. `None` for any other
/// frame, or one too short to hold them.
#[inline]
pub fn ip_addrs(frame: &[u8]) -> Option<(std::net::IpAddr, std::net::IpAddr, u16)> {
    let link = link(frame).ok()?;
    let vlan = link.vlan.unwrap_or(0);
    let p = link.payload;
    match link.ether_type {
        EtherType::IPV4 if p.first()? >> 4 == 4 => {
            let src: [u8; 4] = p.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            Some((src.into(), dst.into(), vlan))
        }
        EtherType::IPV6 if p.first()? >> 4 == 6 => {
            let src: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            Some((src.into(), dst.into(), vlan))
        }
        _ => None,
    }
}

/// Parse an Ethernet II frame into what the engine needs. `Err` is the
/// reason to drop the frame.
///
/// Checksums are verified as [`PacketMeta::checksum`] says: the IPv4 header
/// unless [`ChecksumState::Verified`], TCP and UDP only when
/// [`ChecksumState::Unverified`]. ICMP and ICMPv6 checksums are left to the
/// receiving host.
#[inline]
pub fn parse(frame: &[u8], meta: PacketMeta) -> Result<Parsed, DropReason> {
    let link = link(frame)?;
    let net = match link.ether_type {
        // ARP has no checksum to offload, nor segments.
        EtherType::ARP if meta.asked != OffloadRequest::default() => {
            return Err(DropReason::OffloadUnsupported);
        }
        EtherType::ARP => return arp(link.payload),
        EtherType::IPV4 => ipv4(link.payload, link.l3, meta)?,
        EtherType::IPV6 => ipv6(link.payload, link.l3)?,
        _ => return Err(DropReason::UnsupportedEthertype),
    };
    source_ok(&net)?;
    // Untagged and priority-tagged (VLAN id 0) frames are one domain, as
    // IEEE 802.1Q defines them.
    let vlan = link.vlan.unwrap_or(0);
    let (src_port, dst_port, transport) = transport(&net, meta, vlan)?;
    let l4_kind = match &transport {
        Transport::Tcp(seg) => L4::Tcp {
            header_len: seg.header_len,
            cwr: seg.flags.has(TcpFlags::CWR),
        },
        Transport::Udp { .. } => L4::Udp,
        Transport::Icmp(_) | Transport::Other => L4::Other,
    };
    // The offload asked for is checked against the headers just parsed
    // (and the one the frame leaves with built from them): a partial
    // checksum is never verified here, so where it is completed must be
    // the checksum field the engine parsed (docs/io.md §1).
    let offload = offload(
        net.l4,
        net.family == Family::V6,
        l4_kind,
        meta.checksum == ChecksumState::Partial,
        meta.gso_size,
        &meta.asked,
    )?;
    Ok(Parsed::Ip {
        tuple: Tuple {
            src: Endpoint {
                addr: net.src,
                port: src_port,
            },
            dst: Endpoint {
                addr: net.dst,
                port: dst_port,
            },
            proto: net.protocol.0,
            vlan,
        },
        transport,
        ip_len: net.ip_len,
        l3: link.l3,
        l4: net.l4,
        ttl: net.ttl,
        ah: net.ah,
        offload,
    })
}

/// Compute and write the TCP or UDP checksum of a frame whose checksum is
/// partial (CHECKSUM_PARTIAL from veth or loopback: the field holds only the
/// pseudo-header sum). A frame leaving through AF_PACKET without a virtio
/// header is sent as it is, so the bridge must complete it. Returns `false`,
/// leaving the frame unchanged, for anything but a TCP or UDP packet that
/// [`parse`] accepts.
pub fn complete_checksum(frame: &mut [u8]) -> bool {
    let Some((at, checksum)) = transport_checksum(frame) else {
        return false;
    };
    let Some(field) = frame.get_mut(at..at + 2) else {
        return false;
    };
    field.copy_from_slice(&checksum.to_be_bytes());
    true
}

/// Where a frame's TCP or UDP checksum field is, and the value it should hold.
fn transport_checksum(frame: &[u8]) -> Option<(usize, u16)> {
    // Parsed as verified: the partial value in the field must not be judged.
    let meta = PacketMeta {
        checksum: ChecksumState::Verified,
        ..PacketMeta::default()
    };
    let link = link(frame).ok()?;
    let net = match link.ether_type {
        EtherType::IPV4 => ipv4(link.payload, link.l3, meta).ok()?,
        EtherType::IPV6 => ipv6(link.payload, link.l3).ok()?,
        _ => return None,
    };
    // (Only the checksum's place is wanted here: the VLAN does not matter.)
    transport(&net, meta, 0).ok()?;
    // The checksum's offset in the header and the bytes it covers: the whole
    // segment for TCP, the UDP length's worth for UDP (RFC 768).
    let (field, covered) = match net.protocol {
        ip_number::TCP => (16, net.segment),
        ip_number::UDP => {
            let len = UdpHeaderSlice::from_slice(net.segment).ok()?.length();
            (6, net.segment.get(..usize::from(len))?)
        }
        _ => return None,
    };
    let pseudo = &net.pseudo;
    // Sum around the field, i.e. as if it were zero. Both offsets are even,
    // so the 16-bit words line up as in one pass.
    let (before, field_and_after) = covered.split_at_checked(field)?;
    let after = field_and_after.get(2..)?;
    let len = u32::try_from(covered.len()).ok()?;
    let sum = pseudo
        .clone()
        .add_2bytes([0, net.protocol.0])
        .add_4bytes(len.to_be_bytes())
        .add_slice(before)
        .add_slice(after)
        .ones_complement();
    // Sum16BitWords adds words in native byte order, so its result's native
    // bytes are the field's bytes.
    let mut checksum = u16::from_be_bytes(sum.to_ne_bytes());
    // RFC 768: a computed UDP checksum of zero is sent as all ones, since
    // zero means "no checksum".
    if checksum == 0 && net.protocol == ip_number::UDP {
        checksum = 0xffff;
    }
    Some((usize::from(net.l4) + field, checksum))
}

/// Which IP version a packet (or a quoted packet) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// The network layer, once its lengths, checksum and fragmentation are checked.
struct Network<'a> {
    family: Family,
    src: Addr,
    dst: Addr,
    /// Sum of the pseudo-header addresses for the transport checksum (for
    /// IPv6 with a type 2 routing header, the final destination's).
    pseudo: Sum16BitWords,
    /// Transport protocol (for IPv6, after the extension headers).
    protocol: IpNumber,
    /// The transport segment: IP payload after any extension headers, with
    /// Ethernet padding cut off.
    segment: &'a [u8],
    /// IP header plus payload, in bytes.
    ip_len: u32,
    /// Offset of the transport header in the frame.
    l4: u16,
    /// TTL or hop limit.
    ttl: u8,
    /// An authentication header (RFC 4302) came before the transport.
    ah: bool,
}

/// The ASA's slow path security checks on a packet's addresses
/// (docs/asa-behaviour.md §7.1): a source no host sends from, or one equal
/// to the destination (a land attack, which makes a host answer itself),
/// is dropped before any rule sees it. RFC 1122 §3.2.1.3: no packet is sent
/// from a multicast, broadcast, class E or loopback address, and `0.0.0.0`
/// only by a host learning its address (DHCP's client messages, which
/// pass); RFC 4291 §2.5.2, §2.5.3, §2.7: no IPv6 packet comes from a
/// multicast address or `::1`, and `::` only while a host checks its
/// address (solicitations and MLD reports to a multicast group).
/// An address no host sends from: IPv4 `0.0.0.0/8`, loopback, multicast,
/// class E and the limited broadcast; IPv6 multicast, `::1` and `::`
/// (docs/asa-behaviour.md §7.1). The firewall does not answer from one
/// either (TCP Intercept's SYN cookie).
pub(crate) fn no_host_sends_from(addr: crate::flow::Addr) -> bool {
    let o = addr.0;
    if addr.is_v6() {
        o[0] == 0xff || o == std::net::Ipv6Addr::LOCALHOST.octets() || o == [0; 16]
    } else {
        let a = o[12];
        a == 0 || a == 127 || a >= 224
    }
}

#[inline]
fn source_ok(net: &Network<'_>) -> Result<(), DropReason> {
    let bad = net.src == net.dst
        || (no_host_sends_from(net.src)
            && !match net.family {
                // `0.0.0.0` of a DHCP client, `::` of an address check.
                Family::V4 => net.src.0[12..] == [0; 4] && dhcp_request(net),
                Family::V6 => net.src.0 == [0; 16] && address_check(net),
            });
    if bad {
        Err(DropReason::InvalidSource)
    } else {
        Ok(())
    }
}

/// A DHCP client's message (UDP from port 68 to 67, RFC 2131 §4.1): the
/// one thing sent from `0.0.0.0`.
fn dhcp_request(net: &Network<'_>) -> bool {
    net.protocol == ip_number::UDP && net.segment.get(..4) == Some(&[0, 68, 0, 67])
}

/// What a host sends from `::` while it checks its address: a router or
/// neighbour solicitation (RFC 4861 §4.1, §4.3; RFC 4862 §5.4.2) or an MLD
/// report (RFC 2710 §3, RFC 3810 §5.2, RFC 3590), to a multicast group.
fn address_check(net: &Network<'_>) -> bool {
    net.protocol == ip_number::IPV6_ICMP
        && net.dst.0[0] == 0xff
        && matches!(net.segment.first(), Some(131 | 133 | 135 | 143))
}

/// `base + len` as a frame offset. Offsets are 16-bit: a transport header
/// starting beyond 64 KiB needs a frame no link delivers.
fn offset(base: u16, len: usize) -> Option<u16> {
    u16::try_from(len).ok()?.checked_add(base)
}

/// The transport layer of a frame on `vlan`: the tuple's ports and the
/// transport details.
#[inline]
fn transport(
    net: &Network<'_>,
    meta: PacketMeta,
    vlan: u16,
) -> Result<(u16, u16, Transport), DropReason> {
    let verify = meta.checksum == ChecksumState::Unverified;
    match (net.protocol, net.family) {
        (ip_number::TCP, _) => tcp(net, verify),
        (ip_number::UDP, _) => udp(net, verify),
        (ip_number::ICMP, Family::V4) | (ip_number::IPV6_ICMP, Family::V6) => {
            let parsed = icmp(net.segment, net.family, vlan)?;
            match parsed.2 {
                // Passed untracked under any policy, neighbour discovery
                // must be what a host accepts, not a channel past the rules.
                Transport::Icmp(Icmp::NeighborDiscovery) => nd_valid(net, verify)?,
                // No sender makes a longer error; one that quotes a
                // connection must not carry more than a quote.
                Transport::Icmp(Icmp::Error { .. })
                    if net.ip_len > icmp_error_max_len(net.family) =>
                {
                    return Err(DropReason::IcmpErrorTooLong);
                }
                _ => {}
            }
            Ok(parsed)
        }
        // Any other protocol (ICMPv6 in IPv4 or ICMP in IPv6 among them:
        // as foreign to the packet as any) is tracked by its addresses, and
        // SCTP by its ports too (docs/asa-behaviour.md §2.1).
        _ => other(net),
    }
}

/// The longest IP packet an ICMP error may be. RFC 1812 §4.3.2.3: "the
/// ICMP datagram SHOULD contain as much of the original datagram as
/// possible without the length of the ICMP datagram exceeding 576 bytes"
/// (Linux and the BSDs stop there). RFC 4443 §2.4(c): as much of the
/// invoking packet "as possible without the ICMPv6 packet exceeding the
/// minimum IPv6 MTU", 1280 bytes (RFC 8200 §5).
const fn icmp_error_max_len(family: Family) -> u32 {
    match family {
        Family::V4 => 576,
        Family::V6 => 1280,
    }
}

/// Whether a TCP or UDP checksum verifies over the pseudo-header
/// (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1): summed with its checksum in
/// place, the segment gives all ones (RFC 1071 §1). Unlike recomputing and
/// comparing, this also accepts 0xffff for a computed 0, the other
/// one's-complement zero.
fn checksum_ok(pseudo: &Sum16BitWords, protocol: IpNumber, segment: &[u8]) -> bool {
    // The IPv4 pseudo-header's 16-bit length and zero byte sum the same as
    // IPv6's 32-bit length, so one form serves both.
    let Ok(len) = u32::try_from(segment.len()) else {
        return false;
    };
    pseudo
        .clone()
        .add_2bytes([0, protocol.0])
        .add_4bytes(len.to_be_bytes())
        .add_slice(segment)
        .ones_complement()
        == 0
}

#[cfg(test)]
mod tests {
    use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, VlanId};
    use proptest::prelude::*;

    use super::*;
    use crate::packet::parse::test_frames::*;

    /// A UDP packet from `src` to `dst` (IPv4).
    fn udp4_between(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut f = Vec::new();
        eth()
            .ipv4(src, dst, 64)
            .udp(68, 67)
            .write(&mut f, b"x")
            .unwrap();
        f
    }

    /// The ASA's slow path security checks (docs/asa-behaviour.md §7.1): no
    /// packet from a source no host sends from, or from its own
    /// destination, reaches the rules; DHCP's `0.0.0.0` and neighbour
    /// discovery's `::` still pass. Before, a rule of `any` opened
    /// connections from multicast, broadcast and loopback sources, and a
    /// land packet's two directions were one.
    /// What the parser refuses as a source, TCP Intercept never answers
    /// from: a fuzzed SYN to `0.0.0.64` past a half-open cap had the engine
    /// build a SYN-ACK from it, which its own parser refused.
    #[test]
    fn no_host_sends_from_is_what_the_parser_refuses_as_a_source() {
        let bad = [
            "0.0.0.0",
            "0.0.0.64",
            "0.1.2.3",
            "127.0.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "ff02::1",
            "ff05::1:3",
            "::1",
            "::",
        ];
        for a in bad {
            let addr: std::net::IpAddr = a.parse().unwrap();
            assert!(no_host_sends_from(addr.into()), "{a}");
        }
        for a in [
            "198.18.0.1",
            "1.0.0.0",
            "126.255.255.255",
            "223.255.255.254",
            "2001:db8::1",
            "fe80::1",
        ] {
            let addr: std::net::IpAddr = a.parse().unwrap();
            assert!(!no_host_sends_from(addr.into()), "{a}");
        }
    }

    #[test]
    fn sources_no_host_sends_from_are_dropped() {
        let bad4: [[u8; 4]; 7] = [
            [224, 0, 0, 1],
            [239, 255, 255, 250],
            [240, 0, 0, 1],
            [255, 255, 255, 255],
            [127, 0, 0, 1],
            [0, 1, 2, 3],
            V4_B,
        ];
        for src in bad4 {
            assert_eq!(
                parse(&udp4_between(src, V4_B), UNVERIFIED).unwrap_err(),
                DropReason::InvalidSource,
                "{src:?}"
            );
        }
        for src in [[0, 0, 0, 0], V4_A, [223, 255, 255, 254], [126, 0, 0, 1]] {
            assert!(parse(&udp4_between(src, [255, 255, 255, 255]), UNVERIFIED).is_ok());
        }
        // `0.0.0.0` is a DHCP client's source, nobody else's: a SYN from
        // it would open a connection under `permit ip any any`.
        let syn_from_nowhere = edited(&tcp_v4_syn(), |f| {
            f[L3 + 12..L3 + 16].copy_from_slice(&[0, 0, 0, 0]);
            fix_ipv4_checksum(f, L3);
        });
        assert_eq!(
            parse(&syn_from_nowhere, VERIFIED).unwrap_err(),
            DropReason::InvalidSource
        );
        let land = edited(&tcp_v4_syn(), |f| {
            f[L3 + 16..L3 + 20].copy_from_slice(&V4_A);
            fix_ipv4_checksum(f, L3);
        });
        assert_eq!(
            parse(&land, VERIFIED).unwrap_err(),
            DropReason::InvalidSource
        );
        let none = [0u8; 16];
        for src in [v6("ff02::1"), v6("ff05::1:3"), v6("::1"), v6_b(), none] {
            let f = udp_v6_exts(etherparse::Ipv6Extensions::default(), src, v6_b());
            assert_eq!(
                parse(&f, VERIFIED).unwrap_err(),
                DropReason::InvalidSource,
                "{src:?}"
            );
        }
        // Duplicate address detection: a neighbour solicitation from `::`.
        let mut dad = Vec::new();
        eth()
            .ipv6(none, v6("ff02::1:ff00:a"), 255)
            .icmpv6_raw(135, 0, [0; 4])
            .write(&mut dad, &v6_a())
            .unwrap();
        assert!(parse(&dad, UNVERIFIED).is_ok());
        assert!(parse(&udp_v6(), VERIFIED).is_ok());
        // An echo request from `::` is no address check: dropped.
        let mut echo = Vec::new();
        eth()
            .ipv6(none, v6_b(), 64)
            .icmpv6_raw(128, 0, [0, 1, 0, 1])
            .write(&mut echo, b"ping")
            .unwrap();
        assert_eq!(
            parse(&echo, UNVERIFIED).unwrap_err(),
            DropReason::InvalidSource
        );
    }

    #[test]
    fn partial_skips_transport_checksums_but_not_the_ipv4_header() {
        let tcp = tcp_v4(&[], b"data");
        let bad_tcp = edited(&tcp, |f| *f.last_mut().unwrap() ^= 1);
        let bad_udp = edited(&udp_v4(b"hello"), |f| *f.last_mut().unwrap() ^= 1);
        assert_eq!(parse(&bad_tcp, UNVERIFIED), Err(DropReason::TcpChecksumBad));
        assert_eq!(parse(&bad_udp, UNVERIFIED), Err(DropReason::UdpChecksumBad));
        assert!(parse(&bad_tcp, PARTIAL).is_ok());
        assert!(parse(&bad_udp, PARTIAL).is_ok());
        let bad_header = edited(&bad_tcp, |f| f[L3 + 8] ^= 1); // TTL
        assert_eq!(
            parse(&bad_header, PARTIAL),
            Err(DropReason::Ipv4ChecksumBad)
        );
    }

    #[test]
    fn verified_skips_every_checksum() {
        let f = edited(&tcp_v4(&[], b"data"), |f| {
            *f.last_mut().unwrap() ^= 1;
            f[L3 + 8] ^= 1;
        });
        assert_eq!(parse(&f, UNVERIFIED), Err(DropReason::Ipv4ChecksumBad));
        assert_eq!(ip(&f, VERIFIED).ttl, 65);
    }

    #[test]
    fn every_parse_drop_reason_is_covered() {
        // The reasons above, gathered once more from one frame each: if the
        // parser stops producing one of them, this fails.
        let tcp = tcp_v4(&[], b"hello");
        let udp = udp_v4(b"hello");
        let frames = [
            vec![0; 10],
            edited(&udp, |f| set_be16(f, 12, 0x88cc)),
            udp[..L3 + 19].to_vec(),
            edited(&udp, |f| f[L3 + 11] ^= 0x40),
            udp_v6()[..L3 + 39].to_vec(),
            edited(&tcp_v6(hop_by_hop_and_dest_opts(), &[]), |f| f[L3 + 41] = 5),
            udp_v6_exts(fragment(0, true), v6_a(), v6_b()),
            edited(&tcp, |f| f[L3 + 32] = 0x40),
            edited(&tcp, |f| f[L3 + 24] ^= 0x80),
            edited(&udp, |f| set_be16(f, L3 + 24, 7)),
            edited(&udp, |f| f[L3 + 28] ^= 1),
            raw_v4(IpNumber::ICMP, &[8, 0, 0]),
            raw_v4(IpNumber(132), &[0; 11]),
        ];
        let got: std::collections::BTreeSet<_> = frames
            .iter()
            .filter_map(|f| parse(f, UNVERIFIED).err())
            .collect();
        let want: std::collections::BTreeSet<_> = [
            DropReason::L2Truncated,
            DropReason::UnsupportedEthertype,
            DropReason::Ipv4Malformed,
            DropReason::Ipv4ChecksumBad,
            DropReason::Ipv6Malformed,
            DropReason::Ipv6ExtensionMalformed,
            DropReason::Fragment,
            DropReason::TcpMalformed,
            DropReason::TcpChecksumBad,
            DropReason::UdpMalformed,
            DropReason::UdpChecksumBad,
            DropReason::IcmpMalformed,
            DropReason::SctpMalformed,
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn complete_checksum_turns_a_partial_checksum_into_the_right_one() {
        let cases = [
            (tcp_v4_syn(), L3 + 20 + 16),
            (tcp_v6(hop_by_hop_and_dest_opts(), b"odd"), L3 + 56 + 16),
            (udp_v4(b"partial"), L3 + 20 + 6),
            (udp_v6(), L3 + 40 + 6),
        ];
        for (good, at) in cases {
            // A pseudo-header sum, say, where the checksum belongs.
            let mut f = edited(&good, |f| set_be16(f, at, 0x1234));
            assert!(parse(&f, UNVERIFIED).is_err());
            assert!(complete_checksum(&mut f));
            // Byte for byte what etherparse computed when building the frame.
            assert_eq!(f, good);
        }
    }

    #[test]
    fn complete_checksum_sends_a_zero_udp_sum_as_all_ones() {
        // etherparse writes such a sum as 0xffff too; find a payload giving one.
        let good = (0..=u16::MAX)
            .map(|n| udp_v4(&n.to_be_bytes()))
            .find(|f| f[L3 + 26..L3 + 28] == [0xff, 0xff])
            .unwrap();
        let mut f = edited(&good, |f| set_be16(f, L3 + 26, 0));
        assert!(complete_checksum(&mut f));
        assert_eq!(f, good);
    }

    #[test]
    fn complete_checksum_covers_the_udp_length_only() {
        let good = udp_v4(b"hello");
        // Three trailing bytes inside the IP payload, outside the datagram.
        let trailing = edited(&good, |f| set_be16(f, L3 + 24, 10));
        let mut f = trailing.clone();
        assert!(complete_checksum(&mut f));
        assert!(parse(&f, UNVERIFIED).is_ok());
        assert_ne!(f, trailing);
    }

    #[test]
    fn complete_checksum_leaves_other_frames_alone() {
        let mut arp = Vec::new();
        eth()
            .arp(
                ArpPacket::new(
                    ArpHardwareId::ETHERNET,
                    EtherType::IPV4,
                    ArpOperation::REPLY,
                    &MAC_A,
                    &V4_A,
                    &MAC_B,
                    &V4_B,
                )
                .unwrap(),
            )
            .write(&mut arp)
            .unwrap();
        let mut ping = Vec::new();
        eth()
            .ipv4(V4_A, V4_B, 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut ping, b"x")
            .unwrap();
        let short_tcp = raw_v4(IpNumber::TCP, &[0; 12]);
        let cut = tcp_v4_syn()[..40].to_vec();
        for frame in [arp, ping, short_tcp, cut] {
            let mut f = frame.clone();
            assert!(!complete_checksum(&mut f));
            assert_eq!(f, frame);
        }
    }

    // ---- properties ----

    fn checksum_state() -> impl Strategy<Value = ChecksumState> {
        prop_oneof![
            Just(ChecksumState::Unverified),
            Just(ChecksumState::Partial),
            Just(ChecksumState::Verified),
        ]
    }

    /// Valid frames of every shape the parser knows, to mutate.
    fn corpus() -> Vec<Vec<u8>> {
        let syn = tcp_v4_syn();
        let udp6 = udp_v6();
        let mut tagged = Vec::new();
        eth()
            .single_vlan(VlanId::try_new(7).unwrap())
            .ipv4(V4_A, V4_B, 64)
            .tcp(1, 2, 3, 4)
            .options_raw(&sack(&[(1, 2), (3, 4)]))
            .unwrap()
            .write(&mut tagged, b"payload")
            .unwrap();
        vec![
            syn.clone(),
            tagged,
            tcp_v6(hop_by_hop_and_dest_opts(), b"hello"),
            udp_v4(b"hello"),
            udp6.clone(),
            udp_v6_exts(fragment(0, false), v6_a(), v6_b()),
            icmpv4(3, 1, [0; 4], &syn[L3..]),
            icmpv6(2, 0, [0, 0, 5, 0], &udp6[L3..]),
            icmpv6(1, 4, [0; 4], &tcp_v6(hop_by_hop_and_dest_opts(), &[])[L3..]),
            icmpv6(135, 0, [0; 4], &v6_b()),
            raw_v4(IpNumber(47), &[0, 0, 0x08, 0, 0x45, 0, 0, 20]),
            raw_v4(
                IpNumber(132),
                &[0x9c, 0x40, 0x0b, 0x59, 1, 2, 3, 4, 0, 0, 0, 0],
            ),
            raw_v6(IpNumber(50), &[0, 0, 1, 0, 0, 0, 0, 7]),
        ]
    }

    /// What the engine relies on in an accepted frame: the IP packet and
    /// the fixed part of its transport header lie inside the frame.
    fn assert_offsets_inside(frame: &[u8], parsed: &Parsed) {
        if let Parsed::Ip {
            tuple,
            l3,
            l4,
            ip_len,
            transport,
            ..
        } = parsed
        {
            let fixed = match transport {
                Transport::Tcp(t) => usize::from(t.header_len),
                Transport::Udp { .. } | Transport::Icmp(_) => 8,
                // SCTP's common header; nothing for the others.
                Transport::Other if tuple.proto == crate::flow::proto::SCTP => 12,
                Transport::Other => 0,
            };
            assert!(l3 < l4);
            assert!(usize::from(*l3) + *ip_len as usize <= frame.len());
            assert!(usize::from(*l4) + fixed <= usize::from(*l3) + *ip_len as usize);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            frame in proptest::collection::vec(any::<u8>(), 0..200),
            checksum in checksum_state(),
        ) {
            if let Ok(parsed) = parse(&frame, PacketMeta { checksum, ..PacketMeta::default() }) {
                assert_offsets_inside(&frame, &parsed);
            }
        }

        #[test]
        fn mutated_valid_frames_never_panic(
            which in any::<prop::sample::Index>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..8),
            cut in any::<prop::sample::Index>(),
            checksum in checksum_state(),
        ) {
            let corpus = corpus();
            let mut frame = which.get(&corpus).clone();
            for (at, mask) in flips {
                let i = at.index(frame.len());
                frame[i] ^= mask;
            }
            frame.truncate(cut.index(frame.len() + 1));
            if let Ok(parsed) = parse(&frame, PacketMeta { checksum, ..PacketMeta::default() }) {
                assert_offsets_inside(&frame, &parsed);
            }
            // Completing a checksum never breaks a frame the parser accepts.
            let accepted = parse(&frame, VERIFIED);
            if complete_checksum(&mut frame) {
                prop_assert_eq!(parse(&frame, VERIFIED), accepted);
                // With the transport checksum now right, verifying it
                // changes nothing but the offload a partial one leaves
                // with (the kernel is asked to complete it).
                let judged = |meta| {
                    parse(&frame, meta).map(|mut p| {
                        if let Parsed::Ip { offload, .. } = &mut p {
                            *offload = Default::default();
                        }
                        p
                    })
                };
                prop_assert_eq!(judged(UNVERIFIED), judged(PARTIAL));
            }
        }

        #[test]
        fn truncated_tcp_frames_are_refused_unless_only_padding_is_lost(
            which in 0..3usize,
            cut in any::<prop::sample::Index>(),
            checksum in checksum_state(),
        ) {
            // An ACK small enough to be padded to the 60-byte minimum, a SYN
            // with options, and TCP/IPv6 behind extension headers.
            let ack = tcp_v4(&[], &[]);
            let frames = [
                (edited(&ack, |f| f.resize(60, 0)), ack.len()),
                (tcp_v4_syn(), tcp_v4_syn().len()),
                (tcp_v6(hop_by_hop_and_dest_opts(), b"data"), 14 + 40 + 16 + 20 + 4),
            ];
            let (frame, unpadded) = &frames[which];
            let meta = PacketMeta { checksum, ..PacketMeta::default() };
            let whole = parse(frame, meta);
            prop_assert!(whole.is_ok());
            let n = cut.index(frame.len());
            let got = parse(&frame[..n], meta);
            if n >= *unpadded {
                prop_assert_eq!(got, whole);
            } else {
                prop_assert!(got.is_err(), "{} of {} bytes: {:?}", n, unpadded, got);
            }
        }
    }

    #[test]
    fn truncating_a_tcp_frame_at_every_length() {
        // The exhaustive companion of the property above, with the reason
        // expected at each cut.
        let f = tcp_v4_syn();
        for n in 0..f.len() {
            let want = match n {
                0..14 => DropReason::L2Truncated,
                _ => DropReason::Ipv4Malformed,
            };
            assert_eq!(parse(&f[..n], UNVERIFIED), Err(want), "{n} bytes");
        }
        let f = tcp_v6(hop_by_hop_and_dest_opts(), b"data");
        for n in 0..f.len() {
            let want = match n {
                0..14 => DropReason::L2Truncated,
                _ => DropReason::Ipv6Malformed,
            };
            assert_eq!(parse(&f[..n], UNVERIFIED), Err(want), "{n} bytes");
        }
    }
}
