//! IPv6 (RFC 8200) and its extension headers.

use std::net::Ipv6Addr;

use etherparse::checksum::Sum16BitWords;
use etherparse::{Ipv6ExtensionSlice, Ipv6ExtensionsSlice, Ipv6HeaderSlice, ip_number};

use super::{Family, Network, offset};
use crate::flow::Addr;
use crate::verdict::DropReason;

/// The fixed IPv6 header (RFC 8200 §3).
pub(super) const IPV6_HEADER_LEN: usize = 40;

#[inline]
pub(super) fn ipv6(ip: &[u8], l3: u16) -> Result<Network<'_>, DropReason> {
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
    // A routing header with segments left (RFC 8200 §4.4) sends the packet
    // on from the address in the IPv6 header to others it lists: the rules
    // would judge a waypoint, not where the packet goes, and its transport
    // checksum covers a final destination not in the header (§8.1). It is
    // dropped, except Mobile IPv6's type 2 (RFC 6275 §6.4), whose one
    // address is the same node's home address, in the only form that
    // section allows (header length 2, one segment left, as Linux
    // requires); its transport checksum is verified against that home
    // address, the final destination (RFC 8200 §8.1). (Iterating is sound
    // only now: the walk above found no error.)
    let mut final_dst = dst;
    let mut ah = false;
    for ext in exts.into_iter() {
        ah |= matches!(ext, Ipv6ExtensionSlice::Authentication(_));
        if let Ipv6ExtensionSlice::Routing(routing) = ext
            && let [_, segments_left, ..] = routing.payload()
            && *segments_left != 0
        {
            match routing.payload() {
                [2, 1, _, _, _, _, home @ ..] if home.len() == 16 => {
                    final_dst.copy_from_slice(home);
                }
                _ => return Err(DropReason::Ipv6RoutingHeader),
            }
        }
    }
    Ok(Network {
        family: Family::V6,
        src: Addr::v6(src),
        dst: Addr::v6(dst),
        pseudo: Sum16BitWords::new().add_16bytes(src).add_16bytes(final_dst),
        protocol,
        segment,
        ip_len: IPV6_HEADER_LEN as u32 + u32::from(payload_len),
        l4: offset(l3, IPV6_HEADER_LEN + ext_len).ok_or(DropReason::Ipv6ExtensionMalformed)?,
        ttl: header.hop_limit(),
        ah,
    })
}

/// Whether an IPv6 address is IPv4-mapped (`::ffff:0:0/96`).
pub(super) fn is_v4_mapped(addr: [u8; 16]) -> bool {
    Ipv6Addr::from(addr).to_ipv4_mapped().is_some()
}

#[cfg(test)]
mod tests {
    use etherparse::{IpNumber, Ipv6Extensions, Ipv6RawExtHeader, Ipv6RoutingExtensions};

    use crate::flow::{Addr, proto};
    use crate::packet::Transport;
    use crate::packet::parse::parse;
    use crate::packet::parse::test_frames::*;
    use crate::seq::SeqNumber;
    use crate::verdict::DropReason;

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

    /// An authentication header among the extensions is noted: the access
    /// rules see protocol 51; the tuple is the transport's.
    #[test]
    fn an_authentication_header_is_noted() {
        let exts = Ipv6Extensions {
            auth: Some(etherparse::IpAuthHeader::new(IpNumber::TCP, 0x100, 1, &[0; 4]).unwrap()),
            ..Default::default()
        };
        let p = ip(&tcp_v6(exts, b"x"), UNVERIFIED);
        assert!(p.ah);
        assert_eq!(p.tuple.proto, proto::TCP);
        assert!(!ip(&tcp_v6(hop_by_hop_and_dest_opts(), b"x"), UNVERIFIED).ah);
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
        ];
        for (name, frame, want) in cases {
            assert_eq!(parse(&frame, UNVERIFIED), Err(want), "{name}");
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

    /// Segments left: the packet goes on to an address the rules never see
    /// (except type 2, Mobile IPv6's home address of the same node, in the
    /// one form RFC 6275 §6.4 allows, its checksum verified against that
    /// address).
    #[test]
    fn ipv6_routing_header_with_segments_left_is_dropped() {
        let routed = |data: &[u8], home: [u8; 16]| {
            let mut payload = data.to_vec();
            if data.len() == 6 && data[0] == 2 {
                payload.extend_from_slice(&home);
            }
            let exts = Ipv6Extensions {
                routing: Some(Ipv6RoutingExtensions {
                    routing: Ipv6RawExtHeader::new_raw(IpNumber::UDP, &payload).unwrap(),
                    final_destination_options: None,
                }),
                ..Default::default()
            };
            // The builder sums the header's destination; with `home` equal
            // to it the checksum is right for the final destination too.
            udp_v6_exts(exts, v6_a(), v6_b())
        };
        let corrupt = |f: Vec<u8>| edited(&f, |f| *f.last_mut().unwrap() ^= 1);
        assert_eq!(
            parse(&corrupt(routed(&[4, 0, 0, 0, 0, 0], v6_b())), UNVERIFIED),
            Err(DropReason::UdpChecksumBad)
        );
        for routing_type in [0, 3, 4] {
            assert_eq!(
                parse(&routed(&[routing_type, 1, 0, 0, 0, 0], v6_b()), UNVERIFIED),
                Err(DropReason::Ipv6RoutingHeader)
            );
        }
        // Mobile IPv6's type 2 names the same node's home address: it
        // passes, its checksum verified against the home address.
        assert_eq!(
            ip(&routed(&[2, 1, 0, 0, 0, 0], v6_b()), UNVERIFIED).transport,
            Transport::Udp { payload_len: 5 }
        );
        assert_eq!(
            parse(&corrupt(routed(&[2, 1, 0, 0, 0, 0], v6_b())), UNVERIFIED),
            Err(DropReason::UdpChecksumBad)
        );
        // Summed for the header's destination, not the home address: the
        // host would discard it, so the firewall does not track it.
        let mut other_home = v6_b();
        other_home[15] ^= 0x40;
        assert_eq!(
            parse(&routed(&[2, 1, 0, 0, 0, 0], other_home), UNVERIFIED),
            Err(DropReason::UdpChecksumBad)
        );
        // Any other form of type 2: more segments left, no address, or
        // more than one.
        assert_eq!(
            parse(&routed(&[2, 2, 0, 0, 0, 0], v6_b()), UNVERIFIED),
            Err(DropReason::Ipv6RoutingHeader)
        );
        let mut two = vec![2, 1, 0, 0, 0, 0];
        two.extend_from_slice(&v6_b());
        two.extend_from_slice(&v6_b());
        assert_eq!(
            parse(&routed(&two, v6_b()), UNVERIFIED),
            Err(DropReason::Ipv6RoutingHeader)
        );
    }
}
