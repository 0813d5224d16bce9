//! UDP (RFC 768; RFC 8200 §8.1 for UDP over IPv6).

use etherparse::{UdpHeaderSlice, ip_number};

use super::{Family, Network, checksum_ok};
use crate::packet::Transport;
use crate::verdict::DropReason;

/// The UDP header (RFC 768).
pub(super) const UDP_HEADER_LEN: usize = 8;

#[inline]
pub(super) fn udp(net: &Network<'_>, verify: bool) -> Result<(u16, u16, Transport), DropReason> {
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
            _ => checksum_ok(&net.pseudo, ip_number::UDP, datagram),
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

#[cfg(test)]
mod tests {
    use etherparse::IpNumber;

    use crate::flow::{Addr, proto};
    use crate::packet::Transport;
    use crate::packet::parse::parse;
    use crate::packet::parse::test_frames::*;
    use crate::verdict::DropReason;

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
    fn udp_drops() {
        let udp = udp_v4(b"hello");
        let cases = [
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
        ];
        for (name, frame, want) in cases {
            assert_eq!(parse(&frame, UNVERIFIED), Err(want), "{name}");
        }
    }
}
