//! ICMP (RFC 792) and ICMPv6 (RFC 4443), and the packets their errors quote.

use etherparse::{
    IpAuthHeaderSlice, IpNumber, Ipv4HeaderSlice, Ipv6ExtensionsSlice, Ipv6HeaderSlice, icmpv4,
    icmpv6, ip_number,
};

use super::Family;
use super::ipv6::{IPV6_HEADER_LEN, is_v4_mapped};
use crate::flow::{Addr, Endpoint, Tuple, proto};
use crate::packet::{Icmp, Transport};
use crate::seq::SeqNumber;
use crate::verdict::DropReason;

/// The ICMP header, identifier and sequence number (or the unused/MTU word)
/// included: RFC 792 and RFC 4443 §2.1 both start every message with 8 bytes.
const ICMP_HEADER_LEN: usize = 8;
/// The quoted transport bytes an ICMP error is guaranteed to carry: "the
/// internet header plus the first 64 bits of the original datagram's data"
/// (RFC 792). Ports and echo identifiers both lie within them.
const QUOTED_TRANSPORT_LEN: usize = 8;

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
        // RFC 4861 §4.3, §4.4: neighbour solicitation and advertisement,
        // IPv6's ARP. Router solicitation and advertisement and redirect
        // (§4.1, §4.2, §4.5) steer hosts' routes: the access rules judge
        // them as any other ICMP (docs/asa-behaviour.md §2.5).
        (Family::V6, icmpv6::TYPE_NEIGHBOR_SOLICITATION | icmpv6::TYPE_NEIGHBOR_ADVERTISEMENT) => {
            IcmpKind::NeighborDiscovery
        }
        _ => IcmpKind::Other,
    }
}

/// An ICMP message of a frame on `vlan` (an error is about a packet of
/// its own VLAN, docs/asa-behaviour.md §2.6).
#[inline]
pub(super) fn icmp(
    message: &[u8],
    family: Family,
    vlan: u16,
) -> Result<(u16, u16, Transport), DropReason> {
    let (header, body) = message
        .split_first_chunk::<ICMP_HEADER_LEN>()
        .ok_or(DropReason::IcmpMalformed)?;
    let [icmp_type, code, _, _, id_hi, id_lo, seq_hi, seq_lo] = *header;
    let id = u16::from_be_bytes([id_hi, id_lo]);
    let seq = u16::from_be_bytes([seq_hi, seq_lo]);
    // The requester's "port" is the echo identifier and the responder's 0,
    // so a request and its reply share a flow key.
    let (src_port, dst_port, icmp) = match icmp_kind(family, icmp_type) {
        IcmpKind::EchoRequest => (id, 0, Icmp::EchoRequest { seq, code }),
        IcmpKind::EchoReply => (0, id, Icmp::EchoReply { seq, code }),
        IcmpKind::Error => {
            let (mut quoted, at, quoted_seq) = quoted(body, family)?;
            quoted.vlan = vlan;
            // The quote fits in a frame, so its offsets fit in 16 bits.
            let quoted_l4 =
                u16::try_from(ICMP_HEADER_LEN + at).map_err(|_| DropReason::IcmpMalformed)?;
            (
                0,
                0,
                Icmp::Error {
                    icmp_type,
                    code,
                    quoted,
                    quoted_l4,
                    quoted_seq,
                },
            )
        }
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
/// reach 8 bytes past its IP headers (into a TCP, UDP, SCTP or echo
/// header, or any other protocol's first 8 bytes; an error about an ICMP
/// error or other ICMP than echo names no connection); anything else gives
/// no tuple to look up and is [`DropReason::IcmpMalformed`]. Also returns
/// where the quoted transport header starts within `quote`, and for a
/// quoted TCP segment its sequence number (within the 8 bytes).
fn quoted(quote: &[u8], family: Family) -> Result<(Tuple, usize, Option<SeqNumber>), DropReason> {
    let bad = DropReason::IcmpMalformed;
    let (src, dst, protocol, transport) = match family {
        Family::V4 => {
            let header = Ipv4HeaderSlice::from_slice(quote).map_err(|_| bad)?;
            // A quoted first fragment holds the ports of the datagram's
            // connection (a router's error about it, the destination's
            // reassembly timeout, RFC 792); a later one holds none.
            if header.fragments_offset().value() != 0 {
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
            // As for IPv4: only a first fragment names a connection.
            let later_fragment = exts.clone().into_iter().any(|e| {
                matches!(e, etherparse::Ipv6ExtensionSlice::Fragment(f) if f.fragment_offset().value() != 0)
            });
            if error.is_some() || later_fragment {
                return Err(bad);
            }
            (Addr::v6(src), Addr::v6(dst), protocol, rest)
        }
    };
    let head = transport.first_chunk::<QUOTED_TRANSPORT_LEN>().ok_or(bad)?;
    let [b0, b1, b2, b3, b4, b5, b6, b7] = *head;
    let mut seq = None;
    let (src_port, dst_port) = match (protocol, family) {
        // SCTP's ports lead its common header as TCP's and UDP's do
        // (RFC 9260 §3.1).
        (ip_number::TCP | ip_number::UDP, _) | (IpNumber(proto::SCTP), _) => {
            if protocol == ip_number::TCP {
                seq = Some(SeqNumber(u32::from_be_bytes([b4, b5, b6, b7])));
            }
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
        // Any other protocol's connection is keyed by its addresses alone
        // (`other`): an error about a GRE or ESP packet (a tunnel's path
        // MTU, say) names its connection as well as one about UDP does.
        _ => (0, 0),
    };
    let tuple = Tuple {
        src: Endpoint {
            addr: src,
            port: src_port,
        },
        dst: Endpoint {
            addr: dst,
            port: dst_port,
        },
        proto: protocol.0,
        // Set by `icmp`, which knows the frame's VLAN.
        vlan: 0,
    };
    Ok((tuple, quote.len() - transport.len(), seq))
}

#[cfg(test)]
mod tests {
    use etherparse::{IpNumber, Ipv6Extensions};

    use crate::flow::{Addr, proto};
    use crate::packet::Icmp;
    use crate::packet::parse::parse;
    use crate::packet::parse::test_frames::*;
    use crate::seq::SeqNumber;
    use crate::verdict::DropReason;

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
                Icmp::EchoRequest { seq: 1, code: 0 }
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
                Icmp::EchoReply { seq: 1, code: 0 }
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
                Icmp::EchoRequest { seq: 1, code: 0 }
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
                Icmp::EchoReply { seq: 1, code: 0 }
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
                    quoted_l4: 28,
                    quoted_seq: Some(SeqNumber(1000)),
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
                quoted_l4: 28,
                quoted_seq: None,
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
                quoted_l4: 28,
                quoted_seq: None,
            }
        );
    }

    /// A tunnel's path MTU: an error about a GRE or ESP packet names its
    /// connection by addresses, one about SCTP by its ports too.
    #[test]
    fn icmp_errors_quoting_other_protocols() {
        let gre = raw_v4(IpNumber(47), &[0, 0, 0x08, 0, 0x45, 0, 5, 0xdc, 0, 0]);
        let err = icmpv4(3, 4, [0, 0, 5, 0xdc], &gre[L3..L3 + 28]);
        assert_eq!(
            icmp_of(&err).1,
            Icmp::Error {
                icmp_type: 3,
                code: 4,
                quoted: tuple(Addr::v4(V4_A), 0, Addr::v4(V4_B), 0, 47),
                quoted_l4: 28,
                quoted_seq: None,
            }
        );
        let sctp = raw_v6(
            IpNumber(132),
            &[0x9c, 0x40, 0x0b, 0x59, 0, 0, 0, 1, 0, 0, 0, 0],
        );
        let err = icmpv6(1, 4, [0; 4], &sctp[L3..]);
        assert_eq!(
            icmp_of(&err).1,
            Icmp::Error {
                icmp_type: 1,
                code: 4,
                quoted: tuple(
                    Addr::v6(v6_a()),
                    40_000,
                    Addr::v6(v6_b()),
                    2905,
                    proto::SCTP
                ),
                quoted_l4: 48,
                quoted_seq: None,
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
                "GRE quoted with less than 8 bytes",
                icmpv4(3, 2, [0; 4], &raw_v4(IpNumber(47), &[0; 7])[L3..]),
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
                "quoted later fragment",
                icmpv4(11, 1, [0; 4], &edited(&syn, |f| f[L3 + 7] = 1)[L3..L3 + 28]),
            ),
            ("v6 quote cut", icmpv6(1, 4, [0; 4], &udp_v6()[L3..L3 + 47])),
            ("v4 inside icmpv6", icmpv6(1, 4, [0; 4], &syn[L3..])),
            (
                "quoted later v6 fragment",
                icmpv6(
                    2,
                    0,
                    [0; 4],
                    &udp_v6_exts(fragment(1, true), v6_a(), v6_b())[L3..],
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
                    quoted_l4: 48,
                    quoted_seq: Some(SeqNumber(7)),
                }
            )
        );
    }

    #[test]
    fn icmpv6_error_quoting_past_extension_headers() {
        let segment = tcp_v6(hop_by_hop_and_dest_opts(), &[]);
        // IPv6 header, two 8-byte extension headers, 8 bytes of TCP.
        let err = icmpv6(1, 4, [0; 4], &segment[L3..L3 + 64]);
        let Icmp::Error {
            quoted, quoted_l4, ..
        } = icmp_of(&err).1
        else {
            panic!()
        };
        assert_eq!(
            quoted,
            tuple(Addr::v6(v6_a()), 5000, Addr::v6(v6_b()), 443, proto::TCP)
        );
        // ICMPv6 header, IPv6 header, the two extension headers.
        assert_eq!(quoted_l4, 8 + 40 + 16);
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
        assert_eq!(
            icmp_of(&icmpv6(136, 0, [0; 4], &v6_b())).1,
            Icmp::NeighborDiscovery
        );
        // Router solicitation and advertisement and redirect are ICMP the
        // access rules judge.
        for t in [133, 134, 137] {
            assert!(matches!(
                icmp_of(&icmpv6(t, 0, [0; 4], &[])).1,
                Icmp::Other { .. }
            ));
        }
        // From off the link (a hop limit below 255), or with a code other
        // than 0: a host discards it, and it does not cross the bridge
        // (the other checks of RFC 4861 §7.1 are `nd`'s tests).
        let routed = edited(&ns, |f| f[L3 + 7] = 254);
        assert_eq!(parse(&routed, UNVERIFIED), Err(DropReason::NdInvalid));
        let coded = icmpv6(135, 1, [0; 4], &v6_b());
        assert_eq!(parse(&coded, UNVERIFIED), Err(DropReason::NdInvalid));
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

    /// RFC 1812 §4.3.2.3 and RFC 4443 §2.4(c): an ICMPv4 error is at most
    /// 576 bytes, an ICMPv6 error at most 1280, IP header included. The
    /// quote's own length fields are not read, so the tail is any bytes.
    #[test]
    fn icmp_errors_longer_than_576_or_1280_bytes() {
        let syn = tcp_v4_syn();
        let v4 = |len: usize| {
            let quote = [&syn[L3..], &vec![0; len - 28 - (syn.len() - L3)]].concat();
            icmpv4(3, 4, [0; 4], &quote)
        };
        assert_eq!(v4(576).len() - L3, 576);
        assert!(matches!(icmp_of(&v4(576)).1, Icmp::Error { .. }));
        assert_eq!(
            parse(&v4(577), UNVERIFIED),
            Err(DropReason::IcmpErrorTooLong)
        );
        let udp6 = udp_v6();
        let v6 = |len: usize| {
            let quote = [&udp6[L3..], &vec![0; len - 48 - (udp6.len() - L3)]].concat();
            icmpv6(2, 0, 1280u32.to_be_bytes(), &quote)
        };
        assert_eq!(v6(1280).len() - L3, 1280);
        assert!(matches!(icmp_of(&v6(1280)).1, Icmp::Error { .. }));
        assert_eq!(
            parse(&v6(1281), UNVERIFIED),
            Err(DropReason::IcmpErrorTooLong)
        );
        // Other ICMP is not an error: the access rules judge it, any size.
        let echo = icmpv4(8, 0, [0, 1, 0, 1], &[0; 1400]);
        assert!(parse(&echo, UNVERIFIED).is_ok());
    }

    #[test]
    fn icmp_drops() {
        let cases = [
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
}
