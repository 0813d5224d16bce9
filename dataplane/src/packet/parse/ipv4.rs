//! IPv4 (RFC 791), with options and an authentication header (RFC 4302).

use etherparse::checksum::Sum16BitWords;
use etherparse::{IpAuthHeaderSlice, Ipv4HeaderSlice, ip_number};

use super::{Family, Network, offset};
use crate::flow::Addr;
use crate::packet::{ChecksumState, PacketMeta};
use crate::verdict::DropReason;

#[inline]
pub(super) fn ipv4(ip: &[u8], l3: u16, meta: PacketMeta) -> Result<Network<'_>, DropReason> {
    let malformed = DropReason::Ipv4Malformed;
    // Version 4, IHL of at least 5 words and the whole header present
    // (RFC 791 §3.1); options are checked below (`check_options`).
    let header = Ipv4HeaderSlice::from_slice(ip).map_err(|_| malformed)?;
    let header_len = header.slice().len();
    check_options(header.options())?;
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
        pseudo: Sum16BitWords::new().add_4bytes(src).add_4bytes(dst),
        protocol,
        segment,
        ip_len: u32::from(total_len),
        l4: offset(l3, header_len + ext_len).ok_or(malformed)?,
        ttl: header.ttl(),
        ah: ext_len != 0,
    })
}

/// Router alert (RFC 2113): option 20 with the copied bit set.
const ROUTER_ALERT: u8 = 0x94;

/// The ASA's default IP options inspection ("IP Options Inspection",
/// Cisco ASA Series Firewall CLI Configuration Guide): router alert
/// passes, end-of-list and no-operation are padding, and a packet with any
/// other option (source routes, record route, timestamps, unknown ones) is
/// dropped, as is an option list whose lengths do not add up (RFC 791
/// §3.1). Source routing would have a host the rules permit pass the
/// packet on to one they deny.
fn check_options(options: &[u8]) -> Result<(), DropReason> {
    let mut rest = options;
    while let Some((&kind, after)) = rest.split_first() {
        match kind {
            0 => return Ok(()),
            1 => rest = after,
            ROUTER_ALERT => {
                // Type, length 4, two bytes of value.
                match after.split_first() {
                    Some((4, _)) if rest.len() >= 4 => rest = &rest[4..],
                    _ => return Err(DropReason::IpOptions),
                }
            }
            _ => return Err(DropReason::IpOptions),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use etherparse::{IpAuthHeader, IpHeaders, IpNumber, Ipv4Extensions, Ipv4Header};

    use crate::flow::proto;
    use crate::packet::Transport;
    use crate::packet::parse::parse;
    use crate::packet::parse::test_frames::*;
    use crate::verdict::DropReason;

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
        assert!(p.ah, "the rules see protocol 51");
        assert!(!ip(&udp_v4(b"x"), UNVERIFIED).ah);
        // An authentication header cut short.
        let cut = edited(&f, |f| {
            f.truncate(L3 + 24 + 10);
            set_be16(f, L3 + 2, 34);
            fix_ipv4_checksum(f, L3);
        });
        assert_eq!(parse(&cut, UNVERIFIED), Err(DropReason::Ipv4Malformed));
    }

    /// The ASA's default IP options inspection: router alert and padding
    /// pass; source routes, record route, timestamps, unknown options and
    /// option lists that do not add up are dropped.
    #[test]
    fn ip_options_other_than_router_alert_are_dropped() {
        let with = |options: &[u8]| {
            let mut header = Ipv4Header::new(0, 64, IpNumber::UDP, V4_A, V4_B).unwrap();
            header.options = options.try_into().unwrap();
            let mut f = Vec::new();
            eth()
                .ip(IpHeaders::Ipv4(header, Ipv4Extensions::default()))
                .udp(4444, 53)
                .write(&mut f, b"hello")
                .unwrap();
            parse(&f, UNVERIFIED).map(|_| ())
        };
        let dropped = Err(DropReason::IpOptions);
        assert_eq!(with(&[0x94, 4, 0, 0]), Ok(()), "router alert");
        assert_eq!(with(&[1, 0x94, 4, 0, 0, 1, 1, 0]), Ok(()), "with padding");
        // After end-of-list nothing is read (RFC 791 §3.1).
        assert_eq!(with(&[0, 131, 3, 4]), Ok(()));
        // Loose and strict source routes through 198.18.0.9.
        assert_eq!(with(&[131, 7, 4, 198, 18, 0, 9, 0]), dropped);
        assert_eq!(with(&[137, 7, 4, 198, 18, 0, 9, 0]), dropped);
        assert_eq!(with(&[7, 7, 4, 0, 0, 0, 0, 0]), dropped, "record route");
        assert_eq!(with(&[68, 4, 5, 0]), dropped, "timestamp");
        assert_eq!(with(&[0x94, 8, 0, 0, 0, 0, 0, 0]), dropped, "bad length");
        assert_eq!(with(&[1, 1, 0x94, 4]), dropped, "cut short");
    }
}
