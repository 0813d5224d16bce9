//! Frame parsing: Ethernet II and 802.1Q/802.1ad by hand (two fixed-size
//! headers), IP and TCP with etherparse's strict slices (which check every
//! length field and walk IPv6 extension headers), UDP and ICMP by hand.
//! Checksums are verified here unless the I/O layer says otherwise.
//!
//! No input panics: every index is checked, and nothing is allocated.

use etherparse::{Ipv4Slice, Ipv6Slice, TcpOptionElement, TcpSlice};

use super::{ChecksumState, Icmp, PacketMeta, Parsed, TcpFlags, TcpOptions, TcpSegment, Transport};
use crate::flow::{Addr, Endpoint, Tuple, proto};
use crate::seq::SeqNumber;
use crate::verdict::DropReason;

const ETH_HEADER_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Tags we unwrap: 802.1ad outer plus 802.1Q inner.
const MAX_VLAN_TAGS: usize = 2;

/// Compute and write the TCP or UDP checksum of a frame whose checksum is
/// partial (CHECKSUM_PARTIAL from veth or loopback holds only the
/// pseudo-header sum). A frame leaving through AF_PACKET without a virtio
/// header is sent as is, so the bridge must complete it. Returns false
/// (frame unchanged) for frames that are not TCP/UDP over IP.
pub fn complete_checksum(frame: &mut [u8]) -> bool {
    let Ok(Parsed::Ip {
        tuple,
        l3,
        l4,
        ip_len,
        ..
    }) = parse(
        frame,
        PacketMeta {
            checksum: ChecksumState::Verified,
        },
    )
    else {
        return false;
    };
    let (l3, l4) = (usize::from(l3), usize::from(l4));
    let v6 = tuple.src.addr.ip().is_ipv6();
    let field = match tuple.proto {
        proto::TCP => 16,
        proto::UDP => 6,
        _ => return false,
    };
    let end = (l3 + ip_len as usize).min(frame.len());
    let (src, dst) = if v6 {
        (l3 + 8..l3 + 24, l3 + 24..l3 + 40)
    } else {
        (l3 + 12..l3 + 16, l3 + 16..l3 + 20)
    };
    if l4 + field + 2 > end {
        return false;
    }
    frame[l4 + field..l4 + field + 2].copy_from_slice(&[0, 0]);
    let mut acc = ones_sum(0, &frame[src]);
    acc = ones_sum(acc, &frame[dst]);
    acc += u64::from(tuple.proto) + (end - l4) as u64;
    let mut sum = !fold(ones_sum(acc, &frame[l4..end]));
    // RFC 768: a computed UDP checksum of zero is sent as all ones.
    if sum == 0 && tuple.proto == proto::UDP {
        sum = 0xffff;
    }
    frame[l4 + field..l4 + field + 2].copy_from_slice(&sum.to_be_bytes());
    true
}

/// Parse a frame. `Err` is the reason to drop it.
pub fn parse(frame: &[u8], meta: PacketMeta) -> Result<Parsed, DropReason> {
    let (ethertype, l3, vlan) = link(frame)?;
    let ip = &frame[l3..];
    match ethertype {
        ETHERTYPE_ARP => Ok(Parsed::Arp),
        ETHERTYPE_IPV4 => ipv4(ip, meta, vlan, l3),
        ETHERTYPE_IPV6 => ipv6(ip, meta, vlan, l3),
        _ => Err(DropReason::UnsupportedEthertype),
    }
}

/// Ethernet and VLAN headers: the inner EtherType, the offset of the
/// network header and the outermost VLAN id.
fn link(frame: &[u8]) -> Result<(u16, usize, Option<u16>), DropReason> {
    let mut ethertype = be16(frame, 12).ok_or(DropReason::L2Truncated)?;
    let mut at = ETH_HEADER_LEN;
    let mut vlan = None;
    for _ in 0..MAX_VLAN_TAGS {
        if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
            break;
        }
        let tci = be16(frame, at).ok_or(DropReason::L2Truncated)?;
        vlan.get_or_insert(tci & 0x0fff);
        ethertype = be16(frame, at + 2).ok_or(DropReason::L2Truncated)?;
        at += 4;
    }
    if at > frame.len() {
        return Err(DropReason::L2Truncated);
    }
    Ok((ethertype, at, vlan))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Where `inner`, a subslice of `outer`, starts within it.
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

/// One's-complement sum of `data` (odd length padded with zero), not folded.
fn ones_sum(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Whether a TCP or UDP segment's checksum verifies over the pseudo-header
/// (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1): the sum including the checksum
/// field is all ones.
fn transport_checksum_ok(src: &[u8], dst: &[u8], protocol: u8, segment: &[u8]) -> bool {
    let mut acc = ones_sum(0, src);
    acc = ones_sum(acc, dst);
    acc += u64::from(protocol) + segment.len() as u64;
    fold(ones_sum(acc, segment)) == 0xffff
}

fn ipv4(
    ip_bytes: &[u8],
    meta: PacketMeta,
    vlan: Option<u16>,
    l3: usize,
) -> Result<Parsed, DropReason> {
    // Bad version or IHL, a total length the frame does not hold, or an
    // authentication header that cannot be walked: all malformed.
    let slice = Ipv4Slice::from_slice(ip_bytes).map_err(|_| DropReason::Ipv4Malformed)?;
    let header = slice.header();
    if meta.checksum != ChecksumState::Verified && fold(ones_sum(0, header.slice())) != 0xffff {
        return Err(DropReason::Ipv4ChecksumBad);
    }
    if slice.is_payload_fragmented() {
        return Err(DropReason::Fragment);
    }
    let src = header.source();
    let dst = header.destination();
    let ip = IpInfo {
        raw: (&src, &dst),
        addrs: (Addr::v4(src), Addr::v4(dst)),
        ip_len: u32::from(header.total_len()),
        ttl: header.ttl(),
        v6: false,
    };
    ip.transport(
        slice.payload(),
        offset_in(ip_bytes, slice.payload().payload),
        meta,
        vlan,
        l3,
    )
}

fn ipv6(
    ip_bytes: &[u8],
    meta: PacketMeta,
    vlan: Option<u16>,
    l3: usize,
) -> Result<Parsed, DropReason> {
    use etherparse::err::ipv6::SliceError as E;
    let slice = Ipv6Slice::from_slice(ip_bytes).map_err(|e| match e {
        E::Len(l) if l.layer == etherparse::err::Layer::Ipv6Header => DropReason::Ipv6Malformed,
        E::Len(l) if l.layer == etherparse::err::Layer::Ipv6Packet => DropReason::Ipv6Malformed,
        E::Len(_) | E::Exts(_) => DropReason::Ipv6ExtensionMalformed,
        E::Header(_) => DropReason::Ipv6Malformed,
    })?;
    let header = slice.header();
    let (src, dst) = (header.source(), header.destination());
    // RFC 4291 §2.5.5.2: IPv4-mapped addresses never appear on the wire, and
    // flow keys store IPv4 as mapped IPv6, so they would alias IPv4 flows.
    let mapped = |a: &[u8; 16]| a[..10].iter().all(|&b| b == 0) && a[10] == 0xff && a[11] == 0xff;
    if mapped(&src) || mapped(&dst) {
        return Err(DropReason::Ipv6Malformed);
    }
    // A jumbogram (payload length 0 with a hop-by-hop jumbo option) is not
    // something a 1500-byte-MTU bridge forwards.
    if header.payload_length() == 0
        && slice.payload().payload.is_empty()
        && slice.extensions().is_empty()
    {
        // An empty IPv6 packet with next header "no next header" is legal.
        if slice.payload().ip_number.0 != 59 {
            return Err(DropReason::Ipv6Malformed);
        }
    }
    // An atomic fragment (offset 0, no more fragments) is a whole packet
    // (RFC 6946); etherparse reports it as not fragmented.
    if slice.is_payload_fragmented() {
        return Err(DropReason::Fragment);
    }
    let ip = IpInfo {
        raw: (&src, &dst),
        addrs: (Addr::v6(src), Addr::v6(dst)),
        ip_len: 40 + u32::from(header.payload_length()),
        ttl: header.hop_limit(),
        v6: true,
    };
    ip.transport(
        slice.payload(),
        offset_in(ip_bytes, slice.payload().payload),
        meta,
        vlan,
        l3,
    )
}

/// What the transport parser needs of the IP header, either family.
struct IpInfo<'a> {
    /// Source and destination as on the wire, for the pseudo-header.
    raw: (&'a [u8], &'a [u8]),
    addrs: (Addr, Addr),
    ip_len: u32,
    ttl: u8,
    v6: bool,
}

impl IpInfo<'_> {
    fn transport(
        &self,
        payload: &etherparse::IpPayloadSlice<'_>,
        l4_in_ip: usize,
        meta: PacketMeta,
        vlan: Option<u16>,
        l3: usize,
    ) -> Result<Parsed, DropReason> {
        let (tuple, transport) = transport(
            payload.ip_number.0,
            payload.payload,
            self.raw,
            self.addrs,
            meta,
            self.v6,
        )?;
        Ok(Parsed::Ip {
            tuple,
            transport,
            vlan,
            ip_len: self.ip_len,
            l3: l3 as u16,
            l4: (l3 + l4_in_ip) as u16,
            ttl: self.ttl,
        })
    }
}

/// The transport layer of an IP packet.
fn transport(
    protocol: u8,
    seg: &[u8],
    raw: (&[u8], &[u8]),
    (src, dst): (Addr, Addr),
    meta: PacketMeta,
    v6: bool,
) -> Result<(Tuple, Transport), DropReason> {
    let verify = meta.checksum == ChecksumState::Unverified;
    let tuple = |sp: u16, dp: u16| Tuple {
        src: Endpoint {
            addr: src,
            port: sp,
        },
        dst: Endpoint {
            addr: dst,
            port: dp,
        },
        proto: protocol,
    };
    match protocol {
        proto::TCP => {
            let tcp = TcpSlice::from_slice(seg).map_err(|_| DropReason::TcpMalformed)?;
            if verify && !transport_checksum_ok(raw.0, raw.1, protocol, seg) {
                return Err(DropReason::TcpChecksumBad);
            }
            let options = tcp_options(&tcp)?;
            let segment = TcpSegment {
                seq: SeqNumber(tcp.sequence_number()),
                ack: SeqNumber(tcp.acknowledgment_number()),
                flags: TcpFlags(seg.get(13).copied().unwrap_or(0)),
                window: tcp.window_size(),
                options,
                payload_len: tcp.payload().len() as u32,
                header_len: tcp.header_len() as u8,
            };
            Ok((
                tuple(tcp.source_port(), tcp.destination_port()),
                Transport::Tcp(segment),
            ))
        }
        proto::UDP => {
            let (sp, dp, len) = match (be16(seg, 0), be16(seg, 2), be16(seg, 4)) {
                (Some(a), Some(b), Some(c)) => (a, b, usize::from(c)),
                _ => return Err(DropReason::UdpMalformed),
            };
            if len < 8 || len > seg.len() {
                return Err(DropReason::UdpMalformed);
            }
            let datagram = &seg[..len];
            let checksum = be16(seg, 6).unwrap_or(0);
            if verify {
                // RFC 768: zero means "no checksum" over IPv4; RFC 8200 §8.1:
                // IPv6 receivers discard zero-checksum UDP.
                let ok = if checksum == 0 {
                    !v6
                } else {
                    transport_checksum_ok(raw.0, raw.1, protocol, datagram)
                };
                if !ok {
                    return Err(DropReason::UdpChecksumBad);
                }
            }
            Ok((
                tuple(sp, dp),
                Transport::Udp {
                    payload_len: (len - 8) as u32,
                },
            ))
        }
        proto::ICMP if !v6 => {
            icmp(seg, false).map(|(sp, dp, i)| (tuple(sp, dp), Transport::Icmp(i)))
        }
        proto::ICMPV6 if v6 => {
            icmp(seg, true).map(|(sp, dp, i)| (tuple(sp, dp), Transport::Icmp(i)))
        }
        _ => Err(DropReason::UnsupportedProtocol),
    }
}

fn tcp_options(tcp: &TcpSlice<'_>) -> Result<TcpOptions, DropReason> {
    let mut o = TcpOptions::default();
    for opt in tcp.options_iterator() {
        match opt.map_err(|_| DropReason::TcpMalformed)? {
            TcpOptionElement::MaximumSegmentSize(mss) => o.mss = Some(mss),
            TcpOptionElement::WindowScale(ws) => o.window_scale = Some(ws),
            TcpOptionElement::SelectiveAcknowledgementPermitted => o.sack_permitted = true,
            TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
                let edges = std::iter::once(first)
                    .chain(rest.into_iter().flatten())
                    .map(|(_, r)| SeqNumber(r));
                for e in edges {
                    o.sack_right_edge = Some(o.sack_right_edge.map_or(e, |m| m.max(e)));
                }
            }
            TcpOptionElement::Noop | TcpOptionElement::Timestamp(..) => {}
        }
    }
    Ok(o)
}

/// ICMP and ICMPv6: the ports of the tuple and the message kind.
fn icmp(msg: &[u8], v6: bool) -> Result<(u16, u16, Icmp), DropReason> {
    if msg.len() < 8 {
        return Err(DropReason::IcmpMalformed);
    }
    let (t, code) = (msg[0], msg[1]);
    let id = be16(msg, 4).unwrap_or(0);
    let (echo_request, echo_reply, errors): (u8, u8, &[u8]) = if v6 {
        (128, 129, &[1, 2, 3, 4])
    } else {
        (8, 0, &[3, 11, 12])
    };
    Ok(match t {
        _ if t == echo_request => (id, 0, Icmp::EchoRequest),
        _ if t == echo_reply => (0, id, Icmp::EchoReply),
        _ if errors.contains(&t) => (
            0,
            0,
            Icmp::Error {
                icmp_type: t,
                code,
                quoted: quoted(&msg[8..], v6)?,
            },
        ),
        133..=137 if v6 => (0, 0, Icmp::NeighborDiscovery),
        _ => (0, 0, Icmp::Other { icmp_type: t, code }),
    })
}

/// The tuple of the packet an ICMP error quotes: its IP header and at least
/// the first 8 bytes of its transport header (RFC 792; RFC 4443 §3 quotes
/// more). Lengths in the quoted header may exceed the quote.
fn quoted(q: &[u8], v6: bool) -> Result<Tuple, DropReason> {
    let bad = DropReason::IcmpMalformed;
    let (src, dst, protocol, rest) = if v6 {
        if q.len() < 40 || q[0] >> 4 != 6 {
            return Err(bad);
        }
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s.copy_from_slice(&q[8..24]);
        d.copy_from_slice(&q[24..40]);
        // Extension headers in quotes are rare; we require the transport
        // header to follow directly.
        (Addr::v6(s), Addr::v6(d), q[6], &q[40..])
    } else {
        let ihl = usize::from(q.first().ok_or(bad)? & 0x0f) * 4;
        if q[0] >> 4 != 4 || ihl < 20 || q.len() < ihl {
            return Err(bad);
        }
        let a = |at: usize| [q[at], q[at + 1], q[at + 2], q[at + 3]];
        (Addr::v4(a(12)), Addr::v4(a(16)), q[9], &q[ihl..])
    };
    let (sp, dp) = match protocol {
        proto::TCP | proto::UDP => (be16(rest, 0).ok_or(bad)?, be16(rest, 2).ok_or(bad)?),
        proto::ICMP | proto::ICMPV6 if (protocol == proto::ICMPV6) == v6 => {
            let (t, id) = (*rest.first().ok_or(bad)?, be16(rest, 4).ok_or(bad)?);
            let (req, rep) = if v6 { (128, 129) } else { (8, 0) };
            match t {
                _ if t == req => (id, 0),
                _ if t == rep => (0, id),
                _ => return Err(bad),
            }
        }
        _ => return Err(bad),
    };
    Ok(Tuple {
        src: Endpoint {
            addr: src,
            port: sp,
        },
        dst: Endpoint {
            addr: dst,
            port: dp,
        },
        proto: protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{
        Host, Side, TcpModel, echo_frame, icmpv4_unreachable_frame, udp_frame, v4_pair,
    };
    use etherparse::PacketBuilder;

    const UNVERIFIED: PacketMeta = PacketMeta {
        checksum: ChecksumState::Unverified,
    };

    fn tcp_syn() -> Vec<u8> {
        let (c, s) = v4_pair(40_000, 80);
        let mut m = TcpModel::new(c, s, [1000, 2000], [64_240, 65_160], [Some(7), Some(7)]);
        let syn = m.syn();
        m.frame(&syn)
    }

    fn v6_hosts() -> (Host, Host) {
        let (mut c, mut s) = v4_pair(5000, 53);
        c.ip = "2001:db8::10".parse().unwrap();
        s.ip = "2001:db8:1::10".parse().unwrap();
        (c, s)
    }

    #[test]
    fn tcp_syn_with_options() {
        let Ok(Parsed::Ip {
            tuple,
            transport: Transport::Tcp(t),
            ip_len,
            l3,
            l4,
            ttl,
            vlan,
        }) = parse(&tcp_syn(), UNVERIFIED)
        else {
            panic!("not a TCP packet")
        };
        assert_eq!(
            (tuple.src.port, tuple.dst.port, tuple.proto),
            (40_000, 80, proto::TCP)
        );
        assert_eq!(tuple.src.addr, Addr::v4([198, 18, 0, 10]));
        assert_eq!(t.seq, SeqNumber(1000));
        assert!(t.flags.has(TcpFlags::SYN));
        assert_eq!(t.options.mss, Some(1460));
        assert_eq!(t.options.window_scale, Some(7));
        assert!(t.options.sack_permitted);
        assert_eq!((t.payload_len, t.header_len), (0, 32));
        assert_eq!((ip_len, l3, l4, ttl, vlan), (52, 14, 34, 64, None));
    }

    #[test]
    fn sack_right_edge_is_the_highest_in_serial_order() {
        let (c, s) = v4_pair(1, 2);
        let mut m = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
        let mut ack = m.ack(Side::Client);
        ack.sack = vec![(10, 20), (u32::MAX - 5, 5), (30, 40)];
        let Ok(Parsed::Ip {
            transport: Transport::Tcp(t),
            ..
        }) = parse(&m.frame(&ack), UNVERIFIED)
        else {
            panic!()
        };
        assert_eq!(t.options.sack_right_edge, Some(SeqNumber(40)));
    }

    #[test]
    fn vlan_tags_single_and_double() {
        for tags in [1usize, 2] {
            let mut f = tcp_syn();
            let inner_type = [f[12], f[13]];
            let mut header = Vec::new();
            for i in 0..tags {
                header.extend_from_slice(if i + 1 == tags && tags == 2 {
                    &[0x81, 0x00]
                } else if tags == 2 {
                    &[0x88, 0xa8]
                } else {
                    &[0x81, 0x00]
                });
                header.extend_from_slice(&[0x00, 100 + i as u8]);
            }
            f.splice(12..12, header);
            // The inner EtherType follows the tags.
            assert_eq!([f[12 + 4 * tags], f[13 + 4 * tags]], inner_type);
            let Ok(Parsed::Ip { vlan, l3, .. }) = parse(&f, UNVERIFIED) else {
                panic!("{tags} tags")
            };
            assert_eq!(vlan, Some(100));
            assert_eq!(usize::from(l3), 14 + 4 * tags);
        }
    }

    #[test]
    fn ipv6_with_extension_headers() {
        let (c, s) = v6_hosts();
        let mut f = udp_frame(&c, &s, b"hello");
        // Insert an 8-byte hop-by-hop header (PadN) after the IPv6 header.
        let next = f[14 + 6];
        f[14 + 6] = 0; // hop-by-hop
        let plen = u16::from_be_bytes([f[18], f[19]]) + 8;
        f[18..20].copy_from_slice(&plen.to_be_bytes());
        f.splice(54..54, [next, 0, 1, 4, 0, 0, 0, 0]);
        let Ok(Parsed::Ip {
            tuple,
            transport: Transport::Udp { payload_len },
            l4,
            ..
        }) = parse(&f, UNVERIFIED)
        else {
            panic!("{:?}", parse(&f, UNVERIFIED))
        };
        assert_eq!((tuple.proto, payload_len, l4), (proto::UDP, 5, 62));
    }

    #[test]
    fn udp_zero_checksum_is_none_on_v4_and_invalid_on_v6() {
        let (c, s) = v4_pair(1, 2);
        let mut f = udp_frame(&c, &s, b"x");
        f[40..42].copy_from_slice(&[0, 0]);
        assert!(matches!(parse(&f, UNVERIFIED), Ok(Parsed::Ip { .. })));
        let (c6, s6) = v6_hosts();
        let mut f6 = udp_frame(&c6, &s6, b"x");
        f6[60..62].copy_from_slice(&[0, 0]);
        assert_eq!(parse(&f6, UNVERIFIED), Err(DropReason::UdpChecksumBad));
    }

    #[test]
    fn checksum_knowledge_from_the_io_layer() {
        let mut f = tcp_syn();
        f[48] ^= 1; // TCP window: TCP checksum now wrong
        assert_eq!(parse(&f, UNVERIFIED), Err(DropReason::TcpChecksumBad));
        assert!(
            parse(
                &f,
                PacketMeta {
                    checksum: ChecksumState::Partial
                }
            )
            .is_ok()
        );
        f[22] ^= 1; // TTL: IPv4 header checksum now wrong too
        assert_eq!(
            parse(
                &f,
                PacketMeta {
                    checksum: ChecksumState::Partial
                }
            ),
            Err(DropReason::Ipv4ChecksumBad)
        );
        assert!(
            parse(
                &f,
                PacketMeta {
                    checksum: ChecksumState::Verified
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn each_drop_reason_from_a_real_frame() {
        let syn = tcp_syn();
        // One byte changed (at, xor mask) or a truncation, and the reason.
        let edit = |at: usize, mask: u8| {
            let mut f = syn.clone();
            f[at] ^= mask;
            f
        };
        let cases: Vec<(Vec<u8>, DropReason)> = vec![
            (syn[..10].to_vec(), DropReason::L2Truncated),
            (edit(12, 0x80 ^ 0x08), DropReason::UnsupportedEthertype), // 0x0800 -> 0x8000
            (syn[..30].to_vec(), DropReason::Ipv4Malformed),
            (edit(14, 0x45 ^ 0x65), DropReason::Ipv4Malformed), // version 6 in an IPv4 frame
            (edit(24, 0xff), DropReason::Ipv4ChecksumBad),
            (syn[..40].to_vec(), DropReason::Ipv4Malformed),
            (edit(46, 0x80 ^ 0x20), DropReason::TcpMalformed), // data offset 8 -> 2
            (edit(47, 1), DropReason::TcpChecksumBad),
        ];
        for (i, (frame, want)) in cases.iter().enumerate() {
            assert_eq!(parse(frame, UNVERIFIED), Err(*want), "case {i}");
        }
    }

    #[test]
    fn fragments_and_unsupported_protocols() {
        let (c, s) = v4_pair(1, 2);
        let mut f = udp_frame(&c, &s, b"x");
        f[20] = 0x20; // more fragments
        assert_eq!(
            parse(
                &f,
                PacketMeta {
                    checksum: ChecksumState::Verified
                }
            ),
            Err(DropReason::Fragment)
        );
        let mut gre = Vec::new();
        PacketBuilder::ethernet2(c.mac, s.mac)
            .ipv4([198, 18, 0, 1], [198, 18, 1, 1], 64)
            .write(&mut gre, etherparse::IpNumber(47), &[0; 8])
            .unwrap();
        assert_eq!(
            parse(&gre, UNVERIFIED),
            Err(DropReason::UnsupportedProtocol)
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_addresses_are_refused() {
        let (mut c, s) = v6_hosts();
        c.ip = "::ffff:198.18.0.1".parse().unwrap();
        assert_eq!(
            parse(&udp_frame(&c, &s, b"x"), UNVERIFIED),
            Err(DropReason::Ipv6Malformed)
        );
    }

    #[test]
    fn icmp_echo_and_errors() {
        let (c, s) = v4_pair(0, 0);
        let Ok(Parsed::Ip {
            tuple,
            transport: Transport::Icmp(Icmp::EchoRequest),
            ..
        }) = parse(&echo_frame(&c, &s, 7, 1, false), UNVERIFIED)
        else {
            panic!()
        };
        assert_eq!((tuple.src.port, tuple.dst.port), (7, 0));
        let Ok(Parsed::Ip {
            tuple,
            transport: Transport::Icmp(Icmp::EchoReply),
            ..
        }) = parse(&echo_frame(&s, &c, 7, 1, true), UNVERIFIED)
        else {
            panic!()
        };
        assert_eq!((tuple.src.port, tuple.dst.port), (0, 7));
        let (uc, us) = v4_pair(4444, 53);
        let probe = udp_frame(&uc, &us, b"q");
        let err = icmpv4_unreachable_frame(&us, &uc, &probe);
        let Ok(Parsed::Ip {
            transport:
                Transport::Icmp(Icmp::Error {
                    icmp_type: 3,
                    code: 3,
                    quoted,
                }),
            ..
        }) = parse(&err, UNVERIFIED)
        else {
            panic!()
        };
        assert_eq!(
            (quoted.src.port, quoted.dst.port, quoted.proto),
            (4444, 53, proto::UDP)
        );
        assert_eq!(quoted.src.addr, Addr::v4([198, 18, 0, 10]));
        let truncated = icmpv4_unreachable_frame(&us, &uc, &probe[..14 + 22]);
        assert_eq!(
            parse(&truncated, UNVERIFIED),
            Err(DropReason::IcmpMalformed)
        );
        let (c6, s6) = v6_hosts();
        let Ok(Parsed::Ip {
            transport: Transport::Icmp(Icmp::EchoRequest),
            ..
        }) = parse(&echo_frame(&c6, &s6, 9, 1, false), UNVERIFIED)
        else {
            panic!()
        };
    }

    #[test]
    fn complete_checksum_turns_a_partial_checksum_into_a_valid_one() {
        let mut f = tcp_syn();
        f[50..52].copy_from_slice(&[0x12, 0x34]); // a pseudo-header sum, say
        assert_eq!(parse(&f, UNVERIFIED), Err(DropReason::TcpChecksumBad));
        assert!(complete_checksum(&mut f));
        assert!(parse(&f, UNVERIFIED).is_ok());
        let (c, s) = v6_hosts();
        let mut u = udp_frame(&c, &s, b"partial");
        u[60..62].copy_from_slice(&[0, 1]);
        assert!(complete_checksum(&mut u));
        assert!(parse(&u, UNVERIFIED).is_ok());
    }

    #[test]
    fn truncation_at_any_length_never_panics_and_never_passes_silently() {
        let syn = tcp_syn();
        for n in 0..syn.len() {
            assert!(
                parse(&syn[..n], UNVERIFIED).is_err(),
                "truncated to {n} bytes"
            );
        }
    }
}
