//! Structured attacker frames through `show capture`'s decoder: VLAN
//! stacks, IPv4 options, IPv6 extension chains, TCP data offsets and
//! options of any length, ICMP errors quoting garbage, any cut point and
//! any claimed wire length; and the TCP length a cut frame shows.

use proptest::prelude::*;
use rampart_ops::capture::{describe, hex_dump};

fn frame() -> impl Strategy<Value = (Vec<u8>, usize, u32)> {
    (
        0usize..3,     // VLAN tags
        any::<bool>(), // v6
        prop::collection::vec(
            (
                prop::sample::select(vec![0u8, 43, 44, 60, 51, 50, 135, 139, 140, 253]),
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 0..24),
            ),
            0..5,
        ), // ext chain
        prop::sample::select(vec![6u8, 17, 1, 58, 132, 2, 47, 59]), // transport
        any::<u8>(),   // ipv4 ihl/ver byte low nibble
        any::<u16>(),  // ip length
        any::<u8>(),   // tcp data offset byte
        prop::collection::vec(any::<u8>(), 0..80), // options / payload
        any::<usize>(), // cut
        prop::sample::select(vec![0u32, 1, 13, 60, 1518, 65_535, u32::MAX]),
    )
        .prop_map(
            |(vlans, v6, exts, proto, ihl, iplen, doff, tail, cut, wire)| {
                let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
                for _ in 0..vlans {
                    f.extend_from_slice(&[0x81, 0x00, 0x00, 0x2a]);
                }
                let first_next = exts.first().map_or(proto, |e| e.0);
                if v6 {
                    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
                    f.extend_from_slice(&iplen.to_be_bytes());
                    f.push(first_next);
                    f.push(64);
                    f.extend_from_slice(&[
                        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                    ]);
                    f.extend_from_slice(&[
                        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
                    ]);
                    for (i, (_, len, body)) in exts.iter().enumerate() {
                        let next = exts.get(i + 1).map_or(proto, |e| e.0);
                        f.push(next);
                        f.push(*len);
                        f.extend_from_slice(body);
                    }
                } else {
                    f.extend_from_slice(&[0x08, 0x00, 0x40 | (ihl & 0x0f), 0]);
                    f.extend_from_slice(&iplen.to_be_bytes());
                    f.extend_from_slice(&[
                        0, 1, 0, 0, 64, proto, 0, 0, 198, 18, 0, 10, 198, 18, 1, 10,
                    ]);
                    f.extend_from_slice(&tail[..tail.len().min(8)]);
                }
                match proto {
                    6 => {
                        f.extend_from_slice(&[
                            0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, doff, 0x12, 0xff, 0xff, 0,
                            0, 0, 0,
                        ]);
                        f.extend_from_slice(&tail);
                    }
                    1 | 58 => {
                        f.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0]);
                        f.extend_from_slice(&[0x45, 0, 0xff, 0xff]);
                        f.extend_from_slice(&tail);
                    }
                    _ => {
                        f.extend_from_slice(&[0x9c, 0x40, 0, 53]);
                        f.extend_from_slice(&iplen.to_be_bytes());
                        f.extend_from_slice(&tail);
                    }
                }
                let cut = cut % (f.len() + 1);
                (f, cut, wire)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]
    #[test]
    fn structured_frames_decode_to_a_line((f, cut, wire) in frame(), detail: bool) {
        for frame in [&f[..], &f[..cut]] {
            let line = describe(frame, wire, detail);
            prop_assert!(!line.is_empty());
            prop_assert!(!line.chars().any(|c| c.is_control() && c != '\n'), "{line:?}");
            let _ = hex_dump(frame);
        }
    }
}

/// An IPv6 TCP segment of 100 payload bytes behind an 8-byte hop-by-hop
/// header, cut by the packet length: the shown length is the segment's
/// payload, without the extension header the IPv6 payload length counts.
#[test]
fn a_cut_ipv6_segment_with_an_extension_header_shows_its_payload_length() {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(8u16 + 20 + 100).to_be_bytes());
    f.extend_from_slice(&[0, 64]); // next: hop-by-hop
    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // HBH: next TCP, PadN
    f.extend_from_slice(&[
        0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    f.extend_from_slice(&[0x61; 100]);
    let whole = describe(&f, f.len() as u32, false);
    assert!(whole.contains("1:101(100)"), "{whole}");
    let cut = describe(&f[..120], f.len() as u32, false);
    assert!(cut.contains("1:101(100)"), "{cut}");
}
