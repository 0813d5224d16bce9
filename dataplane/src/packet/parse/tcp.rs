//! TCP (RFC 9293) and the options the tracker reads.

use etherparse::{TcpSlice, ip_number};

use super::{Network, checksum_ok};
use crate::packet::{TcpFlags, TcpOptions, TcpSegment, Transport};
use crate::seq::SeqNumber;
use crate::verdict::DropReason;

#[inline]
pub(super) fn tcp(net: &Network<'_>, verify: bool) -> Result<(u16, u16, Transport), DropReason> {
    let malformed = DropReason::TcpMalformed;
    // At least 20 bytes, data offset of at least 5 words, and the whole
    // header (options included) present (RFC 9293 §3.1).
    let tcp = TcpSlice::from_slice(net.segment).map_err(|_| malformed)?;
    // Checksum before options: a corrupted option list is a corrupted segment.
    if verify && !checksum_ok(&net.pseudo, ip_number::TCP, net.segment) {
        return Err(DropReason::TcpChecksumBad);
    }
    let options = tcp_options(tcp.options(), SeqNumber(tcp.acknowledgment_number()))?;
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

/// Of two SACK right edges, the one furthest after the segment's `ack`.
/// Serial order alone is not transitive (three edges a third of the space
/// apart each follow the one before), so a fold by it could end on an edge
/// behind the ack and hide one far beyond the data sent. Measured from the
/// ack, an edge more than 2^31 ahead is behind it and loses to any edge
/// truly ahead.
pub(crate) fn furthest_after(ack: SeqNumber, a: SeqNumber, b: SeqNumber) -> SeqNumber {
    let ahead = |e: SeqNumber| {
        let d = e.0.wrapping_sub(ack.0);
        (d < 1 << 31).then_some(d)
    };
    match (ahead(a), ahead(b)) {
        (Some(da), Some(db)) => {
            if db > da {
                b
            } else {
                a
            }
        }
        (None, Some(_)) => b,
        (Some(_), None) => a,
        (None, None) => a.max(b),
    }
}

/// TCP option kinds the tracker reads (RFC 9293 §3.2, RFC 7323, RFC 2018).
mod tcp_kind {
    pub const END: u8 = 0;
    pub const NOOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Walk the option list. RFC 9293 §3.1: "A TCP implementation MUST ignore
/// without error any TCP option it does not implement, assuming that the
/// option has a length field" (MUST-6), and "MUST be prepared to handle an
/// illegal option length (e.g., zero)" (MUST-7). So unknown kinds (MPTCP,
/// Fast Open, TCP-AO, …) are skipped by their length, and a length that
/// cannot delimit an option (0, 1, or past the header) makes the segment
/// malformed: the rest of the list could not be read as the endpoint would.
#[inline]
fn tcp_options(mut rest: &[u8], ack: SeqNumber) -> Result<TcpOptions, DropReason> {
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
        o.clearable |= !matches!(
            kind,
            tcp_kind::MSS
                | tcp_kind::WINDOW_SCALE
                | tcp_kind::SACK_PERMITTED
                | tcp_kind::SACK
                | tcp_kind::TIMESTAMPS
        );
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
                        o.sack_right_edge = Some(
                            o.sack_right_edge
                                .map_or(right, |m| furthest_after(ack, m, right)),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use etherparse::{IpNumber, Ipv6Extensions};

    use crate::flow::{Addr, proto};
    use crate::packet::parse::parse;
    use crate::packet::parse::test_frames::*;
    use crate::packet::{Parsed, TcpFlags, TcpOptions, TcpSegment, Transport};
    use crate::seq::SeqNumber;
    use crate::verdict::DropReason;

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
                        clearable: false,
                    },
                    payload_len: 0,
                    header_len: 40,
                }),
                ip_len: 60,
                l3: 14,
                l4: 34,
                ttl: 64,
                ah: false,
                offload: crate::packet::Offload::NONE,
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

    #[test]
    fn tcp_drops() {
        let tcp = tcp_v4(&[], b"hello");
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
        ];
        for (name, frame, want) in cases {
            assert_eq!(parse(&frame, UNVERIFIED), Err(want), "{name}");
        }
    }
}
