//! Frame parsing: Ethernet II with up to two VLAN tags, IPv4 and IPv6 (with
//! extension headers), TCP, UDP, ICMP and ICMPv6, down to a [`Parsed`].
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

use std::net::Ipv6Addr;

use etherparse::checksum::Sum16BitWords;
use etherparse::{
    EtherType, Ethernet2Slice, IpAuthHeaderSlice, IpNumber, Ipv4HeaderSlice, Ipv6ExtensionSlice,
    Ipv6ExtensionsSlice, Ipv6HeaderSlice, SingleVlanSlice, TcpSlice, UdpHeaderSlice, icmpv4,
    icmpv6, ip_number,
};

use super::{ChecksumState, Icmp, PacketMeta, Parsed, TcpFlags, TcpOptions, TcpSegment, Transport};
use crate::flow::{Addr, Endpoint, Tuple};
use crate::seq::SeqNumber;
use crate::verdict::DropReason;

/// The Ethernet II header: two MAC addresses and the EtherType.
const ETH_HEADER_LEN: u16 = 14;
/// An 802.1Q or 802.1ad tag: TCI and the next EtherType.
const VLAN_TAG_LEN: u16 = 4;
/// VLAN tags unwrapped: an 802.1ad service tag and an 802.1Q customer tag.
const MAX_VLAN_TAGS: usize = 2;
/// The fixed IPv6 header (RFC 8200 §3).
const IPV6_HEADER_LEN: usize = 40;
/// The UDP header (RFC 768).
const UDP_HEADER_LEN: usize = 8;
/// The ICMP header, identifier and sequence number (or the unused/MTU word)
/// included: RFC 792 and RFC 4443 §2.1 both start every message with 8 bytes.
const ICMP_HEADER_LEN: usize = 8;
/// The quoted transport bytes an ICMP error is guaranteed to carry: "the
/// internet header plus the first 64 bits of the original datagram's data"
/// (RFC 792). Ports and echo identifiers both lie within them.
const QUOTED_TRANSPORT_LEN: usize = 8;

/// Parse an Ethernet II frame into what the engine needs. `Err` is the
/// reason to drop the frame.
///
/// Checksums are verified as [`PacketMeta::checksum`] says: the IPv4 header
/// unless [`ChecksumState::Verified`], TCP and UDP only when
/// [`ChecksumState::Unverified`]. ICMP and ICMPv6 checksums are left to the
/// receiving host.
pub fn parse(frame: &[u8], meta: PacketMeta) -> Result<Parsed, DropReason> {
    let link = link(frame)?;
    let net = match link.ether_type {
        EtherType::ARP => return Ok(Parsed::Arp),
        EtherType::IPV4 => ipv4(link.payload, link.l3, meta)?,
        EtherType::IPV6 => ipv6(link.payload, link.l3)?,
        _ => return Err(DropReason::UnsupportedEthertype),
    };
    let (src_port, dst_port, transport) = transport(&net, meta)?;
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
        },
        transport,
        vlan: link.vlan,
        ip_len: net.ip_len,
        l3: link.l3,
        l4: net.l4,
        ttl: net.ttl,
    })
}

/// Compute and write the TCP or UDP checksum of a frame whose checksum is
/// partial (CHECKSUM_PARTIAL from veth or loopback: the field holds only the
/// pseudo-header sum). A frame leaving through AF_PACKET without a virtio
/// header is sent as it is, so the bridge must complete it. Returns `false`,
/// leaving the frame unchanged, for anything but a TCP or UDP packet that
/// [`parse`] accepts, and for IPv6 with a routing header that has segments
/// left (whose pseudo-header needs the final destination, RFC 8200 §8.1).
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
    transport(&net, meta).ok()?;
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
    let pseudo = net.pseudo.as_ref()?;
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

/// The link layer, once the Ethernet and VLAN headers are read.
struct Link<'a> {
    /// EtherType of the innermost header.
    ether_type: EtherType,
    /// VLAN id of the outermost tag.
    vlan: Option<u16>,
    /// Offset of the network header in the frame.
    l3: u16,
    /// Everything after the link headers (the network packet and any
    /// Ethernet padding).
    payload: &'a [u8],
}

fn link(frame: &[u8]) -> Result<Link<'_>, DropReason> {
    // The frame handed over has no FCS: NICs strip it before the kernel sees it.
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).map_err(|_| DropReason::L2Truncated)?;
    let mut link = Link {
        ether_type: eth.ether_type(),
        vlan: None,
        l3: ETH_HEADER_LEN,
        payload: eth.payload_slice(),
    };
    for _ in 0..MAX_VLAN_TAGS {
        // 802.1ad puts a 0x88a8 service tag outside the 0x8100 customer tag,
        // but switches in the wild also stack two 0x8100 tags: accept either.
        if link.ether_type != EtherType::VLAN_TAGGED_FRAME
            && link.ether_type != EtherType::PROVIDER_BRIDGING
        {
            break;
        }
        let tag = SingleVlanSlice::from_slice(link.payload).map_err(|_| DropReason::L2Truncated)?;
        // The outermost tag names the segment the frame belongs to.
        link.vlan.get_or_insert(tag.vlan_identifier().value());
        link.ether_type = tag.ether_type();
        link.payload = tag.payload_slice();
        link.l3 += VLAN_TAG_LEN;
    }
    // A third tag leaves a VLAN EtherType here, which the caller refuses.
    Ok(link)
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
    /// Sum of the pseudo-header addresses for the transport checksum, or
    /// `None` when the addresses at hand are not the ones the sender summed.
    pseudo: Option<Sum16BitWords>,
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
}

fn ipv4(ip: &[u8], l3: u16, meta: PacketMeta) -> Result<Network<'_>, DropReason> {
    let malformed = DropReason::Ipv4Malformed;
    // Version 4, IHL of at least 5 words and the whole header present
    // (RFC 791 §3.1); options are allowed and skipped.
    let header = Ipv4HeaderSlice::from_slice(ip).map_err(|_| malformed)?;
    let header_len = header.slice().len();
    let total_len = header.total_len();
    // A total length shorter than the header contradicts itself; one longer
    // than the bytes present means the packet was cut. Bytes past the total
    // length are Ethernet padding (frames are padded to 60 bytes), not data.
    if usize::from(total_len) < header_len {
        return Err(malformed);
    }
    let packet = ip.get(..usize::from(total_len)).ok_or(malformed)?;
    // RFC 1071 §1: summing a header together with its checksum gives all
    // ones, whose complement is zero.
    if meta.checksum != ChecksumState::Verified
        && Sum16BitWords::new()
            .add_slice(header.slice())
            .ones_complement()
            != 0
    {
        return Err(DropReason::Ipv4ChecksumBad);
    }
    // RFC 791 §3.2: a packet is a fragment when More Fragments is set or the
    // offset is not zero. Rampart does not reassemble, and only the first
    // fragment carries ports.
    if header.is_fragmenting_payload() {
        return Err(DropReason::Fragment);
    }
    let mut protocol = header.protocol();
    let mut segment = packet.get(header_len..).ok_or(malformed)?;
    let mut ext_len = 0;
    // An authentication header (RFC 4302) sits between IP and transport in
    // the clear; walk it as the IPv6 path does.
    if protocol == ip_number::AUTH {
        let auth = IpAuthHeaderSlice::from_slice(segment).map_err(|_| malformed)?;
        ext_len = auth.slice().len();
        protocol = auth.next_header();
        segment = segment.get(ext_len..).ok_or(malformed)?;
    }
    let (src, dst) = (header.source(), header.destination());
    Ok(Network {
        family: Family::V4,
        src: Addr::v4(src),
        dst: Addr::v4(dst),
        pseudo: Some(Sum16BitWords::new().add_4bytes(src).add_4bytes(dst)),
        protocol,
        segment,
        ip_len: u32::from(total_len),
        l4: offset(l3, header_len + ext_len).ok_or(malformed)?,
        ttl: header.ttl(),
    })
}

fn ipv6(ip: &[u8], l3: u16) -> Result<Network<'_>, DropReason> {
    let malformed = DropReason::Ipv6Malformed;
    // Version 6 and the whole fixed header present.
    let header = Ipv6HeaderSlice::from_slice(ip).map_err(|_| malformed)?;
    let payload_len = header.payload_length();
    // RFC 2675 §3: a jumbogram has payload length 0 and its real length in a
    // hop-by-hop option. No Ethernet link carries 64 KiB frames, so treat it
    // as malformed rather than trust a length only the options know.
    if payload_len == 0 && header.next_header() == ip_number::IPV6_HOP_BY_HOP {
        return Err(malformed);
    }
    // A payload longer than the bytes present means the packet was cut;
    // bytes past it are Ethernet padding.
    let payload = ip
        .get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + usize::from(payload_len))
        .ok_or(malformed)?;
    let (src, dst) = (header.source(), header.destination());
    // RFC 4291 §2.5.5.2: IPv4-mapped addresses never appear on the wire, and
    // flow keys store IPv4 as mapped IPv6, so such a packet would alias an
    // IPv4 flow.
    if is_v4_mapped(src) || is_v4_mapped(dst) {
        return Err(malformed);
    }
    let (exts, protocol, segment, error) =
        Ipv6ExtensionsSlice::from_slice_lax(header.next_header(), payload);
    // Fragmentation is judged first: after a non-first fragment header the
    // bytes are fragment data, so a "malformed header" found there is noise.
    // etherparse counts an atomic fragment (offset 0, M = 0; RFC 6946) as
    // not fragmenting, so it passes as the whole packet it is.
    if exts.is_fragmenting_payload() {
        return Err(DropReason::Fragment);
    }
    // Truncated extension headers, or a hop-by-hop header other than first
    // (RFC 8200 §4.3).
    if error.is_some() {
        return Err(DropReason::Ipv6ExtensionMalformed);
    }
    let ext_len = exts.slice().len();
    // RFC 8200 §8.1: with a routing header the pseudo-header holds the final
    // destination, which is not in the IPv6 header while segments are left.
    // Such a checksum cannot be verified here; the final destination will.
    // (Iterating is sound only now: the walk above found no error.)
    let routed = exts.into_iter().any(|ext| match ext {
        Ipv6ExtensionSlice::Routing(routing) => {
            matches!(routing.payload(), [_routing_type, segments_left, ..] if *segments_left != 0)
        }
        _ => false,
    });
    Ok(Network {
        family: Family::V6,
        src: Addr::v6(src),
        dst: Addr::v6(dst),
        pseudo: (!routed).then(|| Sum16BitWords::new().add_16bytes(src).add_16bytes(dst)),
        protocol,
        segment,
        ip_len: IPV6_HEADER_LEN as u32 + u32::from(payload_len),
        l4: offset(l3, IPV6_HEADER_LEN + ext_len).ok_or(DropReason::Ipv6ExtensionMalformed)?,
        ttl: header.hop_limit(),
    })
}

/// `base + len` as a frame offset. Offsets are 16-bit: a transport header
/// starting beyond 64 KiB needs a frame no link delivers.
fn offset(base: u16, len: usize) -> Option<u16> {
    u16::try_from(len).ok()?.checked_add(base)
}

/// Whether an IPv6 address is IPv4-mapped (`::ffff:0:0/96`).
fn is_v4_mapped(addr: [u8; 16]) -> bool {
    Ipv6Addr::from(addr).to_ipv4_mapped().is_some()
}

/// The transport layer: the tuple's ports and the transport details.
fn transport(net: &Network<'_>, meta: PacketMeta) -> Result<(u16, u16, Transport), DropReason> {
    let verify = meta.checksum == ChecksumState::Unverified;
    match (net.protocol, net.family) {
        (ip_number::TCP, _) => tcp(net, verify),
        (ip_number::UDP, _) => udp(net, verify),
        (ip_number::ICMP, Family::V4) | (ip_number::IPV6_ICMP, Family::V6) => {
            icmp(net.segment, net.family)
        }
        // ICMPv6 in IPv4 or ICMP in IPv6 is as foreign as any other protocol.
        _ => Err(DropReason::UnsupportedProtocol),
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

fn tcp(net: &Network<'_>, verify: bool) -> Result<(u16, u16, Transport), DropReason> {
    let malformed = DropReason::TcpMalformed;
    // At least 20 bytes, data offset of at least 5 words, and the whole
    // header (options included) present (RFC 9293 §3.1).
    let tcp = TcpSlice::from_slice(net.segment).map_err(|_| malformed)?;
    // Checksum before options: a corrupted option list is a corrupted segment.
    if verify
        && let Some(pseudo) = &net.pseudo
        && !checksum_ok(pseudo, ip_number::TCP, net.segment)
    {
        return Err(DropReason::TcpChecksumBad);
    }
    let options = tcp_options(tcp.options())?;
    let flags = [
        (tcp.fin(), TcpFlags::FIN),
        (tcp.syn(), TcpFlags::SYN),
        (tcp.rst(), TcpFlags::RST),
        (tcp.psh(), TcpFlags::PSH),
        (tcp.ack(), TcpFlags::ACK),
        (tcp.urg(), TcpFlags::URG),
        (tcp.ece(), TcpFlags::ECE),
        (tcp.cwr(), TcpFlags::CWR),
    ]
    .into_iter()
    .filter(|&(set, _)| set)
    .fold(0, |acc, (_, bit)| acc | bit);
    let segment = TcpSegment {
        seq: SeqNumber(tcp.sequence_number()),
        ack: SeqNumber(tcp.acknowledgment_number()),
        flags: TcpFlags(flags),
        window: tcp.window_size(),
        options,
        // The segment is bounded by a 16-bit IP length, so this always fits.
        payload_len: u32::try_from(tcp.payload().len()).map_err(|_| malformed)?,
        // Data offset is 4 bits of 32-bit words: at most 60 bytes.
        header_len: tcp.data_offset() * 4,
    };
    Ok((
        tcp.source_port(),
        tcp.destination_port(),
        Transport::Tcp(segment),
    ))
}

/// TCP option kinds the tracker reads (RFC 9293 §3.2, RFC 7323, RFC 2018).
mod tcp_kind {
    pub const END: u8 = 0;
    pub const NOOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
}

/// Walk the option list. RFC 9293 §3.1: "A TCP implementation MUST ignore
/// without error any TCP option it does not implement, assuming that the
/// option has a length field" (MUST-6), and "MUST be prepared to handle an
/// illegal option length (e.g., zero)" (MUST-7). So unknown kinds (MPTCP,
/// Fast Open, TCP-AO, …) are skipped by their length, and a length that
/// cannot delimit an option (0, 1, or past the header) makes the segment
/// malformed: the rest of the list could not be read as the endpoint would.
fn tcp_options(mut rest: &[u8]) -> Result<TcpOptions, DropReason> {
    let mut o = TcpOptions::default();
    while let Some((&kind, after_kind)) = rest.split_first() {
        match kind {
            // What follows End of Option List is padding, not options.
            tcp_kind::END => break,
            tcp_kind::NOOP => {
                rest = after_kind;
                continue;
            }
            _ => {}
        }
        let (&len, after_len) = after_kind.split_first().ok_or(DropReason::TcpMalformed)?;
        // The length counts the kind and length bytes themselves.
        let (data, after) = usize::from(len)
            .checked_sub(2)
            .and_then(|data_len| after_len.split_at_checked(data_len))
            .ok_or(DropReason::TcpMalformed)?;
        rest = after;
        // A known kind with the wrong length is ignored, as Linux's
        // tcp_parse_options does: the endpoint will not act on it either.
        match (kind, data) {
            (tcp_kind::MSS, &[hi, lo]) => o.mss = Some(u16::from_be_bytes([hi, lo])),
            (tcp_kind::WINDOW_SCALE, &[shift]) => o.window_scale = Some(shift),
            (tcp_kind::SACK_PERMITTED, []) => o.sack_permitted = true,
            // RFC 2018 §3: 8-byte blocks of (left edge, right edge).
            (tcp_kind::SACK, blocks) if !blocks.is_empty() && blocks.len() % 8 == 0 => {
                for block in blocks.chunks_exact(8) {
                    if let Some(&right) = block.last_chunk::<4>() {
                        let right = SeqNumber(u32::from_be_bytes(right));
                        // Highest in serial order, so edges across the 2^32
                        // wrap compare as the sequence space does.
                        o.sack_right_edge = Some(o.sack_right_edge.map_or(right, |m| m.max(right)));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(o)
}

fn udp(net: &Network<'_>, verify: bool) -> Result<(u16, u16, Transport), DropReason> {
    let malformed = DropReason::UdpMalformed;
    let header = UdpHeaderSlice::from_slice(net.segment).map_err(|_| malformed)?;
    // RFC 768: the length counts header and data, so it is at least 8; one
    // beyond the IP payload claims bytes that are not there. (A shorter one
    // leaves trailing bytes inside the IP payload, which receivers ignore.)
    let len = usize::from(header.length());
    let datagram = net
        .segment
        .get(..len)
        .filter(|_| len >= UDP_HEADER_LEN)
        .ok_or(malformed)?;
    if verify {
        let ok = match (header.checksum(), net.family) {
            // RFC 768: "An all zero transmitted checksum value means that the
            // transmitter generated no checksum".
            (0, Family::V4) => true,
            // RFC 8200 §8.1: "IPv6 receivers must discard UDP packets
            // containing a zero checksum".
            (0, Family::V6) => false,
            _ => net
                .pseudo
                .as_ref()
                .is_none_or(|pseudo| checksum_ok(pseudo, ip_number::UDP, datagram)),
        };
        if !ok {
            return Err(DropReason::UdpChecksumBad);
        }
    }
    Ok((
        header.source_port(),
        header.destination_port(),
        Transport::Udp {
            payload_len: u32::from(header.length()) - UDP_HEADER_LEN as u32,
        },
    ))
}

/// What an ICMP or ICMPv6 type means to the engine.
enum IcmpKind {
    EchoRequest,
    EchoReply,
    Error,
    NeighborDiscovery,
    Other,
}

fn icmp_kind(family: Family, icmp_type: u8) -> IcmpKind {
    match (family, icmp_type) {
        (Family::V4, icmpv4::TYPE_ECHO_REQUEST) | (Family::V6, icmpv6::TYPE_ECHO_REQUEST) => {
            IcmpKind::EchoRequest
        }
        (Family::V4, icmpv4::TYPE_ECHO_REPLY) | (Family::V6, icmpv6::TYPE_ECHO_REPLY) => {
            IcmpKind::EchoReply
        }
        // The errors that quote the packet they are about (RFC 792,
        // RFC 4443 §3). Redirect and source quench quote too, but are not
        // errors about a connection the engine would relate them to.
        (
            Family::V4,
            icmpv4::TYPE_DEST_UNREACH | icmpv4::TYPE_TIME_EXCEEDED | icmpv4::TYPE_PARAMETER_PROBLEM,
        )
        | (
            Family::V6,
            icmpv6::TYPE_DST_UNREACH
            | icmpv6::TYPE_PACKET_TOO_BIG
            | icmpv6::TYPE_TIME_EXCEEDED
            | icmpv6::TYPE_PARAMETER_PROBLEM,
        ) => IcmpKind::Error,
        // RFC 4861 §4: router and neighbour solicitation/advertisement, redirect.
        (Family::V6, icmpv6::TYPE_ROUTER_SOLICITATION..=icmpv6::TYPE_REDIRECT_MESSAGE) => {
            IcmpKind::NeighborDiscovery
        }
        _ => IcmpKind::Other,
    }
}

fn icmp(message: &[u8], family: Family) -> Result<(u16, u16, Transport), DropReason> {
    let (header, body) = message
        .split_first_chunk::<ICMP_HEADER_LEN>()
        .ok_or(DropReason::IcmpMalformed)?;
    let [icmp_type, code, _, _, id_hi, id_lo, _, _] = *header;
    let id = u16::from_be_bytes([id_hi, id_lo]);
    // The requester's "port" is the echo identifier and the responder's 0,
    // so a request and its reply share a flow key.
    let (src_port, dst_port, icmp) = match icmp_kind(family, icmp_type) {
        IcmpKind::EchoRequest => (id, 0, Icmp::EchoRequest),
        IcmpKind::EchoReply => (0, id, Icmp::EchoReply),
        IcmpKind::Error => (
            0,
            0,
            Icmp::Error {
                icmp_type,
                code,
                quoted: quoted(body, family)?,
            },
        ),
        IcmpKind::NeighborDiscovery => (0, 0, Icmp::NeighborDiscovery),
        IcmpKind::Other => (0, 0, Icmp::Other { icmp_type, code }),
    };
    Ok((src_port, dst_port, Transport::Icmp(icmp)))
}

/// The tuple of the packet an ICMP error quotes, as that packet travelled.
///
/// The quote is usually cut short (RFC 792 promises only the IP header and
/// 8 bytes; RFC 4443 §2.4(c) "as much of invoking packet as possible"), so its
/// length fields are not checked against the bytes present, and nothing in
/// it is checksummed. It must be the outer packet's IP version, and must
/// reach 8 bytes into a TCP, UDP or echo header; anything else gives no
/// tuple to look up and is [`DropReason::IcmpMalformed`].
fn quoted(quote: &[u8], family: Family) -> Result<Tuple, DropReason> {
    let bad = DropReason::IcmpMalformed;
    let (src, dst, protocol, transport) = match family {
        Family::V4 => {
            let header = Ipv4HeaderSlice::from_slice(quote).map_err(|_| bad)?;
            // Rampart drops fragments, so no connection matches a quoted
            // one; a non-first fragment would not even hold ports.
            if header.is_fragmenting_payload() {
                return Err(bad);
            }
            let mut protocol = header.protocol();
            let mut rest = quote.get(header.slice().len()..).ok_or(bad)?;
            if protocol == ip_number::AUTH {
                let auth = IpAuthHeaderSlice::from_slice(rest).map_err(|_| bad)?;
                protocol = auth.next_header();
                rest = rest.get(auth.slice().len()..).ok_or(bad)?;
            }
            (
                Addr::v4(header.source()),
                Addr::v4(header.destination()),
                protocol,
                rest,
            )
        }
        Family::V6 => {
            let header = Ipv6HeaderSlice::from_slice(quote).map_err(|_| bad)?;
            let (src, dst) = (header.source(), header.destination());
            // Such a packet was never passed (see `ipv6`), and its tuple
            // would alias an IPv4 flow.
            if is_v4_mapped(src) || is_v4_mapped(dst) {
                return Err(bad);
            }
            let rest = quote.get(IPV6_HEADER_LEN..).ok_or(bad)?;
            let (exts, protocol, rest, error) =
                Ipv6ExtensionsSlice::from_slice_lax(header.next_header(), rest);
            if error.is_some() || exts.is_fragmenting_payload() {
                return Err(bad);
            }
            (Addr::v6(src), Addr::v6(dst), protocol, rest)
        }
    };
    let head = transport.first_chunk::<QUOTED_TRANSPORT_LEN>().ok_or(bad)?;
    let [b0, b1, b2, b3, b4, b5, _, _] = *head;
    let (src_port, dst_port) = match (protocol, family) {
        (ip_number::TCP | ip_number::UDP, _) => {
            (u16::from_be_bytes([b0, b1]), u16::from_be_bytes([b2, b3]))
        }
        (ip_number::ICMP, Family::V4) | (ip_number::IPV6_ICMP, Family::V6) => {
            // Only echo has a flow of its own; an error about an error is
            // never sent (RFC 1122 §3.2.2, RFC 4443 §2.4(e)).
            let id = u16::from_be_bytes([b4, b5]);
            match icmp_kind(family, b0) {
                IcmpKind::EchoRequest => (id, 0),
                IcmpKind::EchoReply => (0, id),
                _ => return Err(bad),
            }
        }
        _ => return Err(bad),
    };
    Ok(Tuple {
        src: Endpoint {
            addr: src,
            port: src_port,
        },
        dst: Endpoint {
            addr: dst,
            port: dst_port,
        },
        proto: protocol.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::proto;
    use etherparse::{
        ArpHardwareId, ArpOperation, ArpPacket, IpAuthHeader, IpFragOffset, IpHeaders,
        Ipv4Extensions, Ipv4Header, Ipv6Extensions, Ipv6FragmentHeader, Ipv6Header,
        Ipv6RawExtHeader, Ipv6RoutingExtensions, PacketBuilder, PacketBuilderStep,
        TcpOptionElement, VlanId,
    };
    use proptest::prelude::*;

    const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
    const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
    const V4_A: [u8; 4] = [198, 18, 0, 10];
    const V4_B: [u8; 4] = [198, 18, 1, 20];
    const V4_ROUTER: [u8; 4] = [198, 18, 9, 1];
    const UNVERIFIED: PacketMeta = PacketMeta {
        checksum: ChecksumState::Unverified,
        gso_size: 0,
    };
    const PARTIAL: PacketMeta = PacketMeta {
        checksum: ChecksumState::Partial,
        gso_size: 0,
    };
    const VERIFIED: PacketMeta = PacketMeta {
        checksum: ChecksumState::Verified,
        gso_size: 0,
    };
    /// Where the IP header starts in an untagged frame.
    const L3: usize = 14;

    fn v6(text: &str) -> [u8; 16] {
        text.parse::<Ipv6Addr>().unwrap().octets()
    }
    fn v6_a() -> [u8; 16] {
        v6("2001:db8::10")
    }
    fn v6_b() -> [u8; 16] {
        v6("2001:db8:1::20")
    }
    fn v6_router() -> [u8; 16] {
        v6("2001:db8:9::1")
    }

    fn tuple(src: Addr, src_port: u16, dst: Addr, dst_port: u16, protocol: u8) -> Tuple {
        Tuple {
            src: Endpoint {
                addr: src,
                port: src_port,
            },
            dst: Endpoint {
                addr: dst,
                port: dst_port,
            },
            proto: protocol,
        }
    }

    /// The fields of a frame that must parse as IP; the test fails with the
    /// drop reason otherwise.
    #[derive(Debug)]
    struct Ip {
        tuple: Tuple,
        transport: Transport,
        vlan: Option<u16>,
        ip_len: u32,
        l3: u16,
        l4: u16,
        ttl: u8,
    }

    fn ip(frame: &[u8], meta: PacketMeta) -> Ip {
        match parse(frame, meta) {
            Ok(Parsed::Ip {
                tuple,
                transport,
                vlan,
                ip_len,
                l3,
                l4,
                ttl,
            }) => Ip {
                tuple,
                transport,
                vlan,
                ip_len,
                l3,
                l4,
                ttl,
            },
            other => panic!("expected an IP packet, got {other:?}"),
        }
    }

    fn tcp_of(frame: &[u8], meta: PacketMeta) -> TcpSegment {
        match ip(frame, meta).transport {
            Transport::Tcp(t) => t,
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    fn icmp_of(frame: &[u8]) -> (Tuple, Icmp) {
        match ip(frame, UNVERIFIED) {
            Ip {
                tuple,
                transport: Transport::Icmp(icmp),
                ..
            } => (tuple, icmp),
            other => panic!("expected ICMP, got {other:?}"),
        }
    }

    fn eth() -> PacketBuilderStep<etherparse::Ethernet2Header> {
        PacketBuilder::ethernet2(MAC_A, MAC_B)
    }

    /// A copy of `frame` with `edit` applied.
    fn edited(frame: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut f = frame.to_vec();
        edit(&mut f);
        f
    }

    /// Recompute the IPv4 header checksum after an edit (with etherparse's
    /// own calculation, independent of the code under test).
    fn fix_ipv4_checksum(frame: &mut [u8], l3: usize) {
        let header = Ipv4HeaderSlice::from_slice(&frame[l3..])
            .unwrap()
            .to_header();
        let sum = header.calc_header_checksum();
        frame[l3 + 10..l3 + 12].copy_from_slice(&sum.to_be_bytes());
    }

    fn set_be16(frame: &mut [u8], at: usize, value: u16) {
        frame[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }

    /// A TCP/IPv4 segment 198.18.0.10:40000 -> 198.18.1.20:80, ACK 2000,
    /// with raw option bytes and a payload.
    fn tcp_v4(options: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        eth()
            .ipv4(V4_A, V4_B, 64)
            .tcp(40_000, 80, 1000, 501)
            .ack(2000)
            .options_raw(options)
            .unwrap()
            .write(&mut f, payload)
            .unwrap();
        f
    }

    fn tcp_v4_syn() -> Vec<u8> {
        let mut f = Vec::new();
        eth()
            .ipv4(V4_A, V4_B, 64)
            .tcp(40_000, 80, 1000, 64_240)
            .syn()
            .options(&[
                TcpOptionElement::MaximumSegmentSize(1460),
                TcpOptionElement::SelectiveAcknowledgementPermitted,
                TcpOptionElement::Timestamp(1, 0),
                TcpOptionElement::Noop,
                TcpOptionElement::WindowScale(7),
            ])
            .unwrap()
            .write(&mut f, &[])
            .unwrap();
        f
    }

    /// An IPv6 packet with the given extension headers, TCP 5000 -> 443.
    fn tcp_v6(exts: Ipv6Extensions, payload: &[u8]) -> Vec<u8> {
        let header = Ipv6Header {
            hop_limit: 50,
            source: v6_a(),
            destination: v6_b(),
            ..Default::default()
        };
        let mut f = Vec::new();
        eth()
            .ip(IpHeaders::Ipv6(header, exts))
            .tcp(5000, 443, 7, 1000)
            .ack(9)
            .write(&mut f, payload)
            .unwrap();
        f
    }

    fn padn(next: IpNumber) -> Ipv6RawExtHeader {
        // One PadN option filling the 6 bytes after next header and length.
        Ipv6RawExtHeader::new_raw(next, &[1, 4, 0, 0, 0, 0]).unwrap()
    }

    fn hop_by_hop_and_dest_opts() -> Ipv6Extensions {
        Ipv6Extensions {
            hop_by_hop_options: Some(padn(IpNumber::TCP)),
            destination_options: Some(padn(IpNumber::TCP)),
            ..Default::default()
        }
    }

    fn udp_v4(payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        eth()
            .ipv4(V4_A, V4_B, 64)
            .udp(4444, 53)
            .write(&mut f, payload)
            .unwrap();
        f
    }

    fn udp_v6_exts(exts: Ipv6Extensions, src: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
        let header = Ipv6Header {
            hop_limit: 64,
            source: src,
            destination: dst,
            ..Default::default()
        };
        let mut f = Vec::new();
        eth()
            .ip(IpHeaders::Ipv6(header, exts))
            .udp(4444, 53)
            .write(&mut f, b"hello")
            .unwrap();
        f
    }

    fn udp_v6() -> Vec<u8> {
        udp_v6_exts(Ipv6Extensions::default(), v6_a(), v6_b())
    }

    /// An IPv4 packet of any protocol with a raw payload.
    fn raw_v4(protocol: IpNumber, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        eth()
            .ipv4(V4_A, V4_B, 64)
            .write(&mut f, protocol, payload)
            .unwrap();
        f
    }

    fn raw_v6(protocol: IpNumber, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        eth()
            .ipv6(v6_a(), v6_b(), 64)
            .write(&mut f, protocol, payload)
            .unwrap();
        f
    }

    /// An ICMPv4 message from a router to 198.18.0.10.
    fn icmpv4(icmp_type: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        eth()
            .ipv4(V4_ROUTER, V4_A, 64)
            .icmpv4_raw(icmp_type, code, rest)
            .write(&mut f, body)
            .unwrap();
        f
    }

    fn icmpv6(icmp_type: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        eth()
            .ipv6(v6_router(), v6_a(), 64)
            .icmpv6_raw(icmp_type, code, rest)
            .write(&mut f, body)
            .unwrap();
        f
    }

    // ---- TCP ----

    #[test]
    fn tcp_v4_syn_with_mss_window_scale_and_sack_permitted() {
        assert_eq!(
            parse(&tcp_v4_syn(), UNVERIFIED),
            Ok(Parsed::Ip {
                tuple: tuple(Addr::v4(V4_A), 40_000, Addr::v4(V4_B), 80, proto::TCP),
                transport: Transport::Tcp(TcpSegment {
                    seq: SeqNumber(1000),
                    ack: SeqNumber(0),
                    flags: TcpFlags(TcpFlags::SYN),
                    window: 64_240,
                    options: TcpOptions {
                        mss: Some(1460),
                        window_scale: Some(7),
                        sack_permitted: true,
                        sack_right_edge: None,
                    },
                    payload_len: 0,
                    header_len: 40,
                }),
                vlan: None,
                ip_len: 60,
                l3: 14,
                l4: 34,
                ttl: 64,
            })
        );
    }

    #[test]
    fn tcp_flags_and_payload_length() {
        let mut f = Vec::new();
        eth()
            .ipv4(V4_A, V4_B, 64)
            .tcp(1, 2, 3, 4)
            .fin()
            .psh()
            .urg(0)
            .ece()
            .cwr()
            .ack(5)
            .write(&mut f, &[0xaa; 100])
            .unwrap();
        let t = tcp_of(&f, UNVERIFIED);
        assert_eq!(
            t.flags,
            TcpFlags(
                TcpFlags::FIN
                    | TcpFlags::PSH
                    | TcpFlags::URG
                    | TcpFlags::ECE
                    | TcpFlags::CWR
                    | TcpFlags::ACK
            )
        );
        assert_eq!(
            (t.payload_len, t.header_len, t.ack),
            (100, 20, SeqNumber(5))
        );
        assert_eq!(ip(&f, UNVERIFIED).ip_len, 140);
    }

    #[test]
    fn tcp_v6_behind_hop_by_hop_and_destination_options() {
        let f = tcp_v6(hop_by_hop_and_dest_opts(), b"hello");
        // The builder chains the next-header fields: 0 (HBH) -> 60 -> 6.
        assert_eq!((f[L3 + 6], f[L3 + 40], f[L3 + 48]), (0, 60, 6));
        let p = ip(&f, UNVERIFIED);
        assert_eq!(
            p.tuple,
            tuple(Addr::v6(v6_a()), 5000, Addr::v6(v6_b()), 443, proto::TCP)
        );
        assert_eq!(
            (p.l3, p.l4, p.ip_len, p.ttl),
            (14, 70, 40 + 16 + 20 + 5, 50)
        );
        let Transport::Tcp(t) = p.transport else {
            panic!("{:?}", p.transport)
        };
        assert_eq!(
            (t.seq, t.ack, t.payload_len),
            (SeqNumber(7), SeqNumber(9), 5)
        );
    }

    /// A SACK option with the given (left, right) blocks, NOP-aligned.
    fn sack(blocks: &[(u32, u32)]) -> Vec<u8> {
        let mut o = vec![1, 1, 5, 2 + 8 * blocks.len() as u8];
        for (l, r) in blocks {
            o.extend_from_slice(&l.to_be_bytes());
            o.extend_from_slice(&r.to_be_bytes());
        }
        o
    }

    #[test]
    fn sack_right_edge_is_the_highest_in_serial_order() {
        let edge = |blocks: &[(u32, u32)]| {
            tcp_of(&tcp_v4(&sack(blocks), &[]), UNVERIFIED)
                .options
                .sack_right_edge
        };
        assert_eq!(edge(&[(10, 20), (1, 5), (30, 40)]), Some(SeqNumber(40)));
        // Across the wrap, 5 is 16 after u32::MAX - 10: numerically smaller
        // but later.
        assert_eq!(
            edge(&[
                (u32::MAX - 20, u32::MAX - 10),
                (u32::MAX - 2, 5),
                (u32::MAX - 200, u32::MAX - 100)
            ]),
            Some(SeqNumber(5))
        );
        // Four blocks: the most a 40-byte option space holds (RFC 2018 §3).
        assert_eq!(
            edge(&[(1, 2), (3, 4), (5, 900), (6, 7)]),
            Some(SeqNumber(900))
        );
        assert_eq!(edge(&[(100, 200)]), Some(SeqNumber(200)));
        assert_eq!(
            tcp_of(&tcp_v4(&[], &[]), UNVERIFIED)
                .options
                .sack_right_edge,
            None
        );
    }

    #[test]
    fn unknown_options_are_skipped_by_their_length() {
        let options = [
            30, 4, 0x00, 0x81, // MPTCP (RFC 8684)
            34, 10, 1, 2, 3, 4, 5, 6, 7, 8, // Fast Open cookie (RFC 7413)
            2, 4, 0x05, 0xb4, // MSS 1460
            3, 3, 9, // window scale 9
        ];
        let o = tcp_of(&tcp_v4(&options, &[]), UNVERIFIED).options;
        assert_eq!((o.mss, o.window_scale), (Some(1460), Some(9)));
    }

    #[test]
    fn known_options_of_the_wrong_length_are_ignored() {
        let options = [
            2, 6, 0, 1, 0, 2, // MSS with 4 data bytes
            3, 4, 7, 0, // window scale with 2
            4, 3, 0, // SACK permitted with 1
            5, 7, 0, 0, 0, 0, 0, // SACK with 5 (not whole blocks)
            1,
        ];
        assert_eq!(
            tcp_of(&tcp_v4(&options, &[]), UNVERIFIED).options,
            TcpOptions::default()
        );
    }

    #[test]
    fn options_after_end_of_list_are_padding() {
        // Kind 2 with length 0 after EOL would be malformed if it were read.
        let o = tcp_of(&tcp_v4(&[3, 3, 6, 0, 2, 0, 0, 0], &[]), UNVERIFIED).options;
        assert_eq!((o.window_scale, o.mss), (Some(6), None));
    }

    #[test]
    fn malformed_option_lists() {
        for options in [
            &[8, 0, 0, 0][..],                      // length 0
            &[8, 1, 0, 0],                          // length 1
            &[1, 1, 8, 10],                         // runs past the header
            &[1, 1, 1, 2],                          // kind without a length byte
            &[1, 1, 5, 34, 0, 0, 0, 0, 0, 0, 0, 0], // SACK longer than the options
        ] {
            let f = tcp_v4(options, &[]);
            assert_eq!(
                parse(&f, UNVERIFIED),
                Err(DropReason::TcpMalformed),
                "{options:?}"
            );
        }
    }

    // ---- UDP ----

    #[test]
    fn udp_v4_and_v6() {
        let p = ip(&udp_v4(b"hello"), UNVERIFIED);
        assert_eq!(
            p.tuple,
            tuple(Addr::v4(V4_A), 4444, Addr::v4(V4_B), 53, proto::UDP)
        );
        assert_eq!(p.transport, Transport::Udp { payload_len: 5 });
        assert_eq!((p.ip_len, p.l4), (33, 34));

        let p = ip(&udp_v6(), UNVERIFIED);
        assert_eq!(
            p.tuple,
            tuple(Addr::v6(v6_a()), 4444, Addr::v6(v6_b()), 53, proto::UDP)
        );
        assert_eq!(p.transport, Transport::Udp { payload_len: 5 });
        assert_eq!((p.ip_len, p.l4, p.ttl), (53, 54, 64));
    }

    #[test]
    fn udp_zero_checksum_means_none_on_v4_and_is_invalid_on_v6() {
        let v4 = edited(&udp_v4(b"hello"), |f| set_be16(f, L3 + 20 + 6, 0));
        assert_eq!(
            ip(&v4, UNVERIFIED).transport,
            Transport::Udp { payload_len: 5 }
        );
        let v6 = edited(&udp_v6(), |f| set_be16(f, L3 + 40 + 6, 0));
        assert_eq!(parse(&v6, UNVERIFIED), Err(DropReason::UdpChecksumBad));
        // Not verifying means not judging the zero either.
        assert!(parse(&v6, PARTIAL).is_ok());
    }

    #[test]
    fn udp_length_shorter_than_the_ip_payload_leaves_trailing_bytes() {
        // RFC 768 length 10 inside 13 bytes of IP payload: 2 bytes of data.
        let f = edited(&udp_v4(b"hello"), |f| set_be16(f, L3 + 20 + 4, 10));
        assert_eq!(
            ip(&f, VERIFIED).transport,
            Transport::Udp { payload_len: 2 }
        );
        // The checksum covers the 10 bytes only, so the builder's no longer fits.
        assert_eq!(parse(&f, UNVERIFIED), Err(DropReason::UdpChecksumBad));
    }

    #[test]
    fn ethernet_padding_after_the_ip_packet_is_ignored() {
        for frame in [udp_v4(b"hi"), udp_v6(), tcp_v4(&[], &[])] {
            let padded = edited(&frame, |f| f.resize(frame.len().max(60) + 4, 0xee));
            assert_eq!(parse(&padded, UNVERIFIED), parse(&frame, UNVERIFIED));
            assert!(parse(&padded, UNVERIFIED).is_ok());
        }
    }

    // ---- link layer ----

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
        assert_eq!((p.vlan, p.l3, p.l4), (Some(100), 18, 38));
        assert_eq!(p.tuple.dst.port, 2);

        let mut double = Vec::new();
        eth()
            .double_vlan(VlanId::try_new(200).unwrap(), VlanId::try_new(100).unwrap())
            .ipv6(v6_a(), v6_b(), 64)
            .udp(1, 2)
            .write(&mut double, b"x")
            .unwrap();
        // 802.1ad outside, 802.1Q inside.
        assert_eq!(
            (&double[12..14], &double[16..18]),
            (&[0x88, 0xa8][..], &[0x81, 0x00][..])
        );
        let p = ip(&double, UNVERIFIED);
        assert_eq!((p.vlan, p.l3, p.l4), (Some(200), 22, 62));

        // Two 802.1Q tags, as some switches stack them.
        let qq = edited(&single, |f| {
            f.splice(12..12, [0x81, 0x00, 0x0f, 0xff]);
        });
        let p = ip(&qq, UNVERIFIED);
        assert_eq!((p.vlan, p.l3), (Some(0xfff), 22));

        // A third tag is past what we unwrap.
        let triple = edited(&double, |f| {
            f.splice(12..12, [0x88, 0xa8, 0x00, 0x05]);
        });
        assert_eq!(
            parse(&triple, UNVERIFIED),
            Err(DropReason::UnsupportedEthertype)
        );
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
        assert_eq!(ip(&f, UNVERIFIED).vlan, Some(42));
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
    }

    // ---- checksum knowledge ----

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
    fn checksum_field_of_all_ones_stands_for_zero() {
        // Find a payload whose TCP checksum computes to 0, then send it as
        // 0xffff, the other one's-complement zero: both must verify.
        let (frame, at) = (0..=u16::MAX)
            .map(|n| (tcp_v4(&[], &n.to_be_bytes()), L3 + 20 + 16))
            .find(|(f, at)| f[*at..*at + 2] == [0, 0])
            .unwrap();
        assert!(parse(&frame, UNVERIFIED).is_ok());
        let ones = edited(&frame, |f| set_be16(f, at, 0xffff));
        assert!(parse(&ones, UNVERIFIED).is_ok());
    }

    // ---- ICMP ----

    #[test]
    fn icmp_echo_ports_are_the_identifier() {
        let mut req = Vec::new();
        eth()
            .ipv4(V4_A, V4_B, 64)
            .icmpv4_echo_request(0x1234, 1)
            .write(&mut req, b"ping")
            .unwrap();
        assert_eq!(
            icmp_of(&req),
            (
                tuple(Addr::v4(V4_A), 0x1234, Addr::v4(V4_B), 0, proto::ICMP),
                Icmp::EchoRequest
            )
        );
        let mut rep = Vec::new();
        eth()
            .ipv4(V4_B, V4_A, 64)
            .icmpv4_echo_reply(0x1234, 1)
            .write(&mut rep, b"ping")
            .unwrap();
        assert_eq!(
            icmp_of(&rep),
            (
                tuple(Addr::v4(V4_B), 0, Addr::v4(V4_A), 0x1234, proto::ICMP),
                Icmp::EchoReply
            )
        );
        let mut req6 = Vec::new();
        eth()
            .ipv6(v6_a(), v6_b(), 64)
            .icmpv6_echo_request(77, 1)
            .write(&mut req6, b"ping")
            .unwrap();
        assert_eq!(
            icmp_of(&req6),
            (
                tuple(Addr::v6(v6_a()), 77, Addr::v6(v6_b()), 0, proto::ICMPV6),
                Icmp::EchoRequest
            )
        );
        let mut rep6 = Vec::new();
        eth()
            .ipv6(v6_b(), v6_a(), 64)
            .icmpv6_echo_reply(77, 1)
            .write(&mut rep6, b"ping")
            .unwrap();
        assert_eq!(
            icmp_of(&rep6),
            (
                tuple(Addr::v6(v6_b()), 0, Addr::v6(v6_a()), 77, proto::ICMPV6),
                Icmp::EchoReply
            )
        );
    }

    #[test]
    fn icmp_dest_unreachable_quoting_tcp() {
        let syn = tcp_v4_syn();
        let err = icmpv4(3, 1, [0; 4], &syn[L3..]);
        assert_eq!(
            icmp_of(&err),
            (
                tuple(Addr::v4(V4_ROUTER), 0, Addr::v4(V4_A), 0, proto::ICMP),
                Icmp::Error {
                    icmp_type: 3,
                    code: 1,
                    quoted: tuple(Addr::v4(V4_A), 40_000, Addr::v4(V4_B), 80, proto::TCP),
                }
            )
        );
    }

    #[test]
    fn icmp_dest_unreachable_quoting_a_truncated_udp_datagram() {
        // RFC 792's minimum: the IP header and 8 bytes. The quoted total
        // length (33) exceeds the 28 bytes quoted, which is normal.
        let probe = udp_v4(b"hello");
        let err = icmpv4(3, 3, [0; 4], &probe[L3..L3 + 28]);
        let (_, icmp) = icmp_of(&err);
        assert_eq!(
            icmp,
            Icmp::Error {
                icmp_type: 3,
                code: 3,
                quoted: tuple(Addr::v4(V4_A), 4444, Addr::v4(V4_B), 53, proto::UDP),
            }
        );
        // One byte less and the 8 transport bytes are not all there.
        let short = icmpv4(3, 3, [0; 4], &probe[L3..L3 + 27]);
        assert_eq!(parse(&short, UNVERIFIED), Err(DropReason::IcmpMalformed));
    }

    #[test]
    fn icmp_time_exceeded_quoting_an_echo_request() {
        let mut ping = Vec::new();
        eth()
            .ipv4(V4_A, V4_B, 1)
            .icmpv4_echo_request(9, 3)
            .write(&mut ping, &[0; 16])
            .unwrap();
        let err = icmpv4(11, 0, [0; 4], &ping[L3..L3 + 28]);
        assert_eq!(
            icmp_of(&err).1,
            Icmp::Error {
                icmp_type: 11,
                code: 0,
                quoted: tuple(Addr::v4(V4_A), 9, Addr::v4(V4_B), 0, proto::ICMP),
            }
        );
    }

    #[test]
    fn icmp_quotes_that_give_no_tuple() {
        let syn = tcp_v4_syn();
        let cases = [
            // Quoting an IPv6 packet inside ICMPv4.
            ("wrong family", icmpv4(3, 1, [0; 4], &udp_v6()[L3..])),
            (
                "unsupported protocol",
                icmpv4(3, 2, [0; 4], &raw_v4(IpNumber(47), &[0; 8])[L3..]),
            ),
            ("ip header cut", icmpv4(3, 1, [0; 4], &syn[L3..L3 + 19])),
            ("no quote", icmpv4(3, 1, [0; 4], &[])),
            (
                "error about an error",
                icmpv4(
                    3,
                    3,
                    [0; 4],
                    &icmpv4(3, 3, [0; 4], &syn[L3..L3 + 28])[L3..L3 + 28],
                ),
            ),
            (
                "quoted fragment",
                icmpv4(
                    11,
                    1,
                    [0; 4],
                    &edited(&syn, |f| f[L3 + 6] |= 0x20)[L3..L3 + 28],
                ),
            ),
            ("v6 quote cut", icmpv6(1, 4, [0; 4], &udp_v6()[L3..L3 + 47])),
            ("v4 inside icmpv6", icmpv6(1, 4, [0; 4], &syn[L3..])),
            (
                "quoted v6 fragment",
                icmpv6(
                    2,
                    0,
                    [0; 4],
                    &udp_v6_exts(fragment(0, true), v6_a(), v6_b())[L3..],
                ),
            ),
        ];
        for (name, frame) in cases {
            assert_eq!(
                parse(&frame, UNVERIFIED),
                Err(DropReason::IcmpMalformed),
                "{name}"
            );
        }
    }

    #[test]
    fn icmpv6_packet_too_big_quoting_tcp() {
        let segment = tcp_v6(Ipv6Extensions::default(), &[0x55; 64]);
        let err = icmpv6(2, 0, 1280u32.to_be_bytes(), &segment[L3..]);
        assert_eq!(
            icmp_of(&err),
            (
                tuple(Addr::v6(v6_router()), 0, Addr::v6(v6_a()), 0, proto::ICMPV6),
                Icmp::Error {
                    icmp_type: 2,
                    code: 0,
                    quoted: tuple(Addr::v6(v6_a()), 5000, Addr::v6(v6_b()), 443, proto::TCP),
                }
            )
        );
    }

    #[test]
    fn icmpv6_error_quoting_past_extension_headers() {
        let segment = tcp_v6(hop_by_hop_and_dest_opts(), &[]);
        // IPv6 header, two 8-byte extension headers, 8 bytes of TCP.
        let err = icmpv6(1, 4, [0; 4], &segment[L3..L3 + 64]);
        let Icmp::Error { quoted, .. } = icmp_of(&err).1 else {
            panic!()
        };
        assert_eq!(
            quoted,
            tuple(Addr::v6(v6_a()), 5000, Addr::v6(v6_b()), 443, proto::TCP)
        );
    }

    #[test]
    fn icmpv6_neighbour_discovery_and_other_types() {
        // Neighbour solicitation: reserved word, then the target address.
        let ns = icmpv6(135, 0, [0; 4], &v6_b());
        assert_eq!(
            icmp_of(&ns),
            (
                tuple(Addr::v6(v6_router()), 0, Addr::v6(v6_a()), 0, proto::ICMPV6),
                Icmp::NeighborDiscovery
            )
        );
        for t in 133..=137 {
            assert_eq!(
                icmp_of(&icmpv6(t, 0, [0; 4], &[])).1,
                Icmp::NeighborDiscovery
            );
        }
        // MLD query; and echo's v4 type numbers mean nothing in ICMPv6.
        for t in [130, 8, 0] {
            assert_eq!(
                icmp_of(&icmpv6(t, 0, [0; 4], &[])).1,
                Icmp::Other {
                    icmp_type: t,
                    code: 0
                }
            );
        }
        // Timestamp, and ICMPv6 numbers in ICMPv4.
        for t in [13, 128, 135] {
            assert_eq!(
                icmp_of(&icmpv4(t, 0, [0; 4], &[0; 12])).1,
                Icmp::Other {
                    icmp_type: t,
                    code: 0
                }
            );
        }
    }

    // ---- each drop reason from a frame that triggers exactly it ----

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
            ("second tag cut", vlan_tagged(21), DropReason::L2Truncated),
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

    #[test]
    fn ipv4_drops() {
        let udp = udp_v4(b"hello");
        let with_fixed_checksum = |edit: fn(&mut Vec<u8>)| {
            edited(&udp, |f| {
                edit(f);
                fix_ipv4_checksum(f, L3);
            })
        };
        let cases = [
            (
                "header cut",
                udp[..L3 + 19].to_vec(),
                DropReason::Ipv4Malformed,
            ),
            ("no header", udp[..L3].to_vec(), DropReason::Ipv4Malformed),
            (
                "version 6",
                edited(&udp, |f| f[L3] = 0x65),
                DropReason::Ipv4Malformed,
            ),
            (
                "IHL 4",
                edited(&udp, |f| f[L3] = 0x44),
                DropReason::Ipv4Malformed,
            ),
            (
                "IHL past the bytes",
                edited(&udp, |f| f[L3] = 0x4f),
                DropReason::Ipv4Malformed,
            ),
            (
                "total length below header",
                with_fixed_checksum(|f| set_be16(f, L3 + 2, 19)),
                DropReason::Ipv4Malformed,
            ),
            (
                // Lengths are judged before the checksum (left stale here).
                "total length below header, checksum stale",
                edited(&udp, |f| set_be16(f, L3 + 2, 19)),
                DropReason::Ipv4Malformed,
            ),
            (
                "total length past the frame",
                udp[..udp.len() - 1].to_vec(),
                DropReason::Ipv4Malformed,
            ),
            (
                "checksum",
                edited(&udp, |f| f[L3 + 11] ^= 0x40),
                DropReason::Ipv4ChecksumBad,
            ),
            (
                "more fragments",
                with_fixed_checksum(|f| f[L3 + 6] |= 0x20),
                DropReason::Fragment,
            ),
            (
                "last fragment",
                with_fixed_checksum(|f| set_be16(f, L3 + 6, 0x00b9)),
                DropReason::Fragment,
            ),
            (
                "GRE",
                raw_v4(IpNumber(47), &[0; 8]),
                DropReason::UnsupportedProtocol,
            ),
            (
                "ICMPv6 in IPv4",
                raw_v4(IpNumber::IPV6_ICMP, &[128, 0, 0, 0, 0, 1, 0, 1]),
                DropReason::UnsupportedProtocol,
            ),
            (
                "ESP",
                raw_v4(IpNumber(50), &[0; 16]),
                DropReason::UnsupportedProtocol,
            ),
        ];
        for (name, frame, want) in cases {
            assert_eq!(parse(&frame, UNVERIFIED), Err(want), "{name}");
        }
        // Don't Fragment alone is no fragment.
        let df = with_fixed_checksum(|f| f[L3 + 6] = 0x40);
        assert!(parse(&df, UNVERIFIED).is_ok());
    }

    #[test]
    fn ipv4_options_and_authentication_header() {
        let mut header = Ipv4Header::new(0, 64, IpNumber::UDP, V4_A, V4_B).unwrap();
        header.options = [1, 1, 1, 0][..].try_into().unwrap(); // NOPs and EOL
        let auth = IpAuthHeader::new(IpNumber::UDP, 0x100, 1, &[0; 12]).unwrap();
        let mut f = Vec::new();
        eth()
            .ip(IpHeaders::Ipv4(header, Ipv4Extensions { auth: Some(auth) }))
            .udp(4444, 53)
            .write(&mut f, b"hello")
            .unwrap();
        assert_eq!(f[L3] & 0x0f, 6);
        let p = ip(&f, UNVERIFIED);
        // 24-byte IP header, 24-byte authentication header.
        assert_eq!(
            (p.l4, p.tuple.proto, p.ip_len),
            (14 + 24 + 24, proto::UDP, 24 + 24 + 13)
        );
        assert_eq!(p.transport, Transport::Udp { payload_len: 5 });
        // An authentication header cut short.
        let cut = edited(&f, |f| {
            f.truncate(L3 + 24 + 10);
            set_be16(f, L3 + 2, 34);
            fix_ipv4_checksum(f, L3);
        });
        assert_eq!(parse(&cut, UNVERIFIED), Err(DropReason::Ipv4Malformed));
    }

    #[test]
    fn ipv6_drops() {
        let udp = udp_v6();
        let mapped = v6("::ffff:198.18.0.10");
        let hbh = tcp_v6(hop_by_hop_and_dest_opts(), &[]);
        let cases = [
            (
                "header cut",
                udp[..L3 + 39].to_vec(),
                DropReason::Ipv6Malformed,
            ),
            (
                "version 4",
                edited(&udp, |f| f[L3] = 0x40),
                DropReason::Ipv6Malformed,
            ),
            (
                "payload length past the frame",
                udp[..udp.len() - 1].to_vec(),
                DropReason::Ipv6Malformed,
            ),
            (
                "mapped source",
                udp_v6_exts(Ipv6Extensions::default(), mapped, v6_b()),
                DropReason::Ipv6Malformed,
            ),
            (
                "mapped destination",
                udp_v6_exts(Ipv6Extensions::default(), v6_a(), mapped),
                DropReason::Ipv6Malformed,
            ),
            (
                "jumbogram",
                edited(&hbh, |f| set_be16(f, L3 + 4, 0)),
                DropReason::Ipv6Malformed,
            ),
            (
                "extension header past the payload",
                edited(&hbh, |f| f[L3 + 41] = 5),
                DropReason::Ipv6ExtensionMalformed,
            ),
            (
                "extension headers cut by the payload length",
                edited(&hbh, |f| set_be16(f, L3 + 4, 12)),
                DropReason::Ipv6ExtensionMalformed,
            ),
            (
                "hop-by-hop not first",
                edited(&hbh, |f| {
                    f[L3 + 6] = 60;
                    f[L3 + 40] = 0;
                    f[L3 + 48] = 6;
                }),
                DropReason::Ipv6ExtensionMalformed,
            ),
            (
                "ICMP in IPv6",
                raw_v6(IpNumber::ICMP, &[8, 0, 0, 0, 0, 1, 0, 1]),
                DropReason::UnsupportedProtocol,
            ),
            (
                "ESP",
                raw_v6(IpNumber(50), &[0; 16]),
                DropReason::UnsupportedProtocol,
            ),
            (
                "no next header",
                raw_v6(IpNumber(59), &[]),
                DropReason::UnsupportedProtocol,
            ),
        ];
        for (name, frame, want) in cases {
            assert_eq!(parse(&frame, UNVERIFIED), Err(want), "{name}");
        }
    }

    fn fragment(offset: u16, more: bool) -> Ipv6Extensions {
        Ipv6Extensions {
            fragment: Some(Ipv6FragmentHeader::new(
                IpNumber::UDP,
                IpFragOffset::try_new(offset).unwrap(),
                more,
                0xdead,
            )),
            ..Default::default()
        }
    }

    #[test]
    fn ipv6_fragments_but_not_atomic_fragments() {
        let first = udp_v6_exts(fragment(0, true), v6_a(), v6_b());
        let last = udp_v6_exts(fragment(100, false), v6_a(), v6_b());
        assert_eq!(parse(&first, UNVERIFIED), Err(DropReason::Fragment));
        assert_eq!(parse(&last, UNVERIFIED), Err(DropReason::Fragment));
        // RFC 6946: offset 0 and M = 0 is the whole packet.
        let atomic = udp_v6_exts(fragment(0, false), v6_a(), v6_b());
        let p = ip(&atomic, UNVERIFIED);
        assert_eq!(
            (p.tuple.proto, p.tuple.dst.port, p.l4),
            (proto::UDP, 53, 62)
        );
        assert_eq!(p.transport, Transport::Udp { payload_len: 5 });
        // A non-first fragment whose data happens to look like a broken
        // extension header is still a fragment.
        let noise = edited(&last, |f| f[L3 + 40] = 60);
        assert_eq!(parse(&noise, UNVERIFIED), Err(DropReason::Fragment));
    }

    #[test]
    fn ipv6_routing_header_with_segments_left_skips_the_transport_checksum() {
        let routed = |segments_left: u8| {
            let exts = Ipv6Extensions {
                routing: Some(Ipv6RoutingExtensions {
                    routing: Ipv6RawExtHeader::new_raw(
                        IpNumber::UDP,
                        &[4, segments_left, 0, 0, 0, 0],
                    )
                    .unwrap(),
                    final_destination_options: None,
                }),
                ..Default::default()
            };
            // Corrupt the UDP payload: only verification can notice.
            edited(&udp_v6_exts(exts, v6_a(), v6_b()), |f| {
                *f.last_mut().unwrap() ^= 1
            })
        };
        assert_eq!(
            parse(&routed(0), UNVERIFIED),
            Err(DropReason::UdpChecksumBad)
        );
        assert_eq!(
            ip(&routed(1), UNVERIFIED).transport,
            Transport::Udp { payload_len: 5 }
        );
    }

    #[test]
    fn transport_drops() {
        let tcp = tcp_v4(&[], b"hello");
        let udp = udp_v4(b"hello");
        let tcp_v6_frame = tcp_v6(Ipv6Extensions::default(), b"hello");
        let cases = [
            (
                "TCP shorter than 20",
                raw_v4(IpNumber::TCP, &tcp[L3 + 20..L3 + 39]),
                DropReason::TcpMalformed,
            ),
            (
                "TCP data offset 4",
                edited(&tcp, |f| f[L3 + 32] = 0x40),
                DropReason::TcpMalformed,
            ),
            (
                "TCP data offset past the segment",
                edited(&tcp, |f| f[L3 + 32] = 0x70),
                DropReason::TcpMalformed,
            ),
            (
                "TCP bad option list",
                tcp_v4(&[1, 1, 2, 0], b""),
                DropReason::TcpMalformed,
            ),
            (
                "TCP checksum",
                edited(&tcp, |f| f[L3 + 4 + 20] ^= 0x80),
                DropReason::TcpChecksumBad,
            ),
            (
                "TCP/IPv6 checksum",
                edited(&tcp_v6_frame, |f| f[L3 + 40 + 4] ^= 0x80),
                DropReason::TcpChecksumBad,
            ),
            (
                "UDP shorter than 8",
                raw_v4(IpNumber::UDP, &udp[L3 + 20..L3 + 27]),
                DropReason::UdpMalformed,
            ),
            (
                "UDP length 7",
                edited(&udp, |f| set_be16(f, L3 + 24, 7)),
                DropReason::UdpMalformed,
            ),
            (
                "UDP length 0",
                edited(&udp, |f| set_be16(f, L3 + 24, 0)),
                DropReason::UdpMalformed,
            ),
            (
                "UDP length past the IP payload",
                edited(&udp, |f| set_be16(f, L3 + 24, 14)),
                DropReason::UdpMalformed,
            ),
            (
                "UDP checksum",
                edited(&udp, |f| f[L3 + 28] ^= 1),
                DropReason::UdpChecksumBad,
            ),
            (
                "UDP/IPv6 checksum",
                edited(&udp_v6(), |f| f[L3 + 48] ^= 1),
                DropReason::UdpChecksumBad,
            ),
            (
                "ICMP shorter than 8",
                raw_v4(IpNumber::ICMP, &[8, 0, 0, 0, 0, 1, 0]),
                DropReason::IcmpMalformed,
            ),
            (
                "ICMPv6 shorter than 8",
                raw_v6(IpNumber::IPV6_ICMP, &[128, 0, 0, 0]),
                DropReason::IcmpMalformed,
            ),
        ];
        for (name, frame, want) in cases {
            assert_eq!(parse(&frame, UNVERIFIED), Err(want), "{name}");
        }
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
            raw_v4(IpNumber(47), &[0; 8]),
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
            DropReason::UnsupportedProtocol,
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want);
    }

    // ---- completing partial checksums ----

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
            .double_vlan(VlanId::try_new(7).unwrap(), VlanId::try_new(8).unwrap())
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
        ]
    }

    /// What the engine relies on in an accepted frame: the IP packet and
    /// the fixed part of its transport header lie inside the frame.
    fn assert_offsets_inside(frame: &[u8], parsed: &Parsed) {
        if let Parsed::Ip {
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
                // changes nothing.
                prop_assert_eq!(parse(&frame, UNVERIFIED), parse(&frame, PARTIAL));
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
