//! Every IP protocol but TCP, UDP and the ICMP of the packet's family: GRE,
//! ESP, SCTP, OSPF, protocol 59 (no next header), ICMP inside IPv6, … The
//! engine tracks them as the ASA does, by their addresses and an idle
//! timeout (docs/asa-behaviour.md §2.1), so their tuple's ports are 0.
//!
//! Except SCTP's: the ASA's policy language names SCTP ports
//! (`deny sctp any any eq 22`), and a rule must never match more than it
//! says, so a packet whose ports the rules can name carries them in its
//! tuple ([`proto::has_ports`]).

use super::Network;
use crate::flow::proto;
use crate::packet::Transport;
use crate::verdict::DropReason;

/// The SCTP common header: source port, destination port, verification
/// tag and checksum, 4 bytes each but the ports (RFC 9260 §3.1).
pub(super) const SCTP_COMMON_HEADER_LEN: usize = 12;

#[inline]
pub(super) fn other(net: &Network<'_>) -> Result<(u16, u16, Transport), DropReason> {
    if net.protocol.0 != proto::SCTP {
        return Ok((0, 0, Transport::Other));
    }
    // A packet cut inside the common header has no ports the rules could
    // judge. Its CRC32c checksum (RFC 9260 §6.8) is left to the receiving
    // host, as ICMP's is: the firewall judges only the ports.
    let header = net
        .segment
        .first_chunk::<SCTP_COMMON_HEADER_LEN>()
        .ok_or(DropReason::SctpMalformed)?;
    let [s0, s1, d0, d1, ..] = *header;
    Ok((
        u16::from_be_bytes([s0, s1]),
        u16::from_be_bytes([d0, d1]),
        Transport::Other,
    ))
}

#[cfg(test)]
mod tests {
    use etherparse::IpNumber;

    use super::SCTP_COMMON_HEADER_LEN;
    use crate::flow::{Addr, proto};
    use crate::packet::Transport;
    use crate::packet::parse::parse;
    use crate::packet::parse::test_frames::*;
    use crate::verdict::DropReason;

    /// An SCTP common header from port `src` to `dst` with a made-up
    /// verification tag and checksum, then `chunk`.
    fn sctp(src: u16, dst: u16, chunk: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&src.to_be_bytes());
        p.extend_from_slice(&dst.to_be_bytes());
        p.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0]);
        p.extend_from_slice(chunk);
        p
    }

    #[test]
    fn other_protocols_parse_with_ports_zero() {
        let cases = [
            (
                "GRE",
                raw_v4(IpNumber(47), &[0, 0, 0x08, 0, 0x45, 0]),
                false,
            ),
            ("ESP", raw_v4(IpNumber(50), &[0; 16]), false),
            ("OSPF", raw_v4(IpNumber(89), &[2, 1, 0, 44]), false),
            ("protocol 115", raw_v4(IpNumber(115), &[]), false),
            (
                "ICMPv6 in IPv4",
                raw_v4(IpNumber::IPV6_ICMP, &[128, 0, 0, 0]),
                false,
            ),
            ("GRE over IPv6", raw_v6(IpNumber(47), &[0; 8]), true),
            ("ESP over IPv6", raw_v6(IpNumber(50), &[0; 16]), true),
            ("no next header", raw_v6(IpNumber(59), &[]), true),
            (
                "ICMP in IPv6",
                raw_v6(IpNumber::ICMP, &[8, 0, 0, 0, 0, 1, 0, 1]),
                true,
            ),
        ];
        for (name, frame, v6) in cases {
            let p = ip(&frame, UNVERIFIED);
            let (src, dst) = if v6 {
                (Addr::v6(v6_a()), Addr::v6(v6_b()))
            } else {
                (Addr::v4(V4_A), Addr::v4(V4_B))
            };
            assert_eq!(
                p.tuple,
                tuple(src, 0, dst, 0, frame[L3 + if v6 { 6 } else { 9 }]),
                "{name}"
            );
            assert_eq!(p.transport, Transport::Other, "{name}");
            assert_eq!(usize::from(p.l4), L3 + if v6 { 40 } else { 20 }, "{name}");
            assert!(!p.ah, "{name}");
        }
    }

    #[test]
    fn other_protocols_behind_ipv6_extension_headers() {
        // Hop-by-hop options (next: destination options), destination
        // options (next: GRE), each 8 bytes with a PadN option, then GRE:
        // walked as for TCP, the transport starting after them.
        let mut payload = vec![60, 0, 1, 4, 0, 0, 0, 0, 47, 0, 1, 4, 0, 0, 0, 0];
        payload.extend_from_slice(&[0, 0, 0x08, 0]);
        // (Written as GRE, then the IPv6 header's next header made
        // hop-by-hop: the builder would walk the options itself.)
        let f = edited(&raw_v6(IpNumber(47), &payload), |f| f[L3 + 6] = 0);
        let p = ip(&f, UNVERIFIED);
        assert_eq!((p.tuple.proto, p.transport), (47, Transport::Other));
        assert_eq!(usize::from(p.l4), L3 + 40 + 16);
    }

    #[test]
    fn sctp_carries_its_ports() {
        let init = [
            1, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0, 10, 0, 10, 0, 0, 0, 1,
        ];
        let p = ip(
            &raw_v4(IpNumber(132), &sctp(40_000, 2905, &init)),
            UNVERIFIED,
        );
        assert_eq!(
            p.tuple,
            tuple(Addr::v4(V4_A), 40_000, Addr::v4(V4_B), 2905, proto::SCTP)
        );
        assert_eq!(p.transport, Transport::Other);
        let p = ip(&raw_v6(IpNumber(132), &sctp(5060, 22, &[])), UNVERIFIED);
        assert_eq!(
            p.tuple,
            tuple(Addr::v6(v6_a()), 5060, Addr::v6(v6_b()), 22, proto::SCTP)
        );
    }

    #[test]
    fn sctp_cut_inside_its_common_header_is_dropped() {
        let whole = sctp(40_000, 2905, &[]);
        for n in 0..SCTP_COMMON_HEADER_LEN {
            assert_eq!(
                parse(&raw_v4(IpNumber(132), &whole[..n]), UNVERIFIED),
                Err(DropReason::SctpMalformed),
                "{n} bytes"
            );
            assert_eq!(
                parse(&raw_v6(IpNumber(132), &whole[..n]), UNVERIFIED),
                Err(DropReason::SctpMalformed),
                "{n} bytes over IPv6"
            );
        }
        assert!(parse(&raw_v4(IpNumber(132), &whole), UNVERIFIED).is_ok());
    }
}
