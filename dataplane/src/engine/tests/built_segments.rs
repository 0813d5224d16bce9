//! `reset::build` (header structs) against an etherparse `PacketBuilder`
//! oracle (how it was built before), byte for byte, for every Kind,
//! IPv4, IPv6, mixed (v4-mapped), VLAN 0 and tagged.

use super::super::reset::{Kind, Segment, build};
use crate::flow::{Addr, Endpoint};
use std::net::IpAddr;

fn old_build(
    src: Endpoint,
    dst: Endpoint,
    [src_mac, dst_mac]: [[u8; 6]; 2],
    vlan: u16,
    seg: &Segment,
) -> Vec<u8> {
    use etherparse::PacketBuilder;
    use etherparse::TcpOptionElement::MaximumSegmentSize;
    let mut out = Vec::with_capacity(78);
    let l2 = PacketBuilder::ethernet2(src_mac, dst_mac);
    let ip = match (src.addr.ip(), dst.addr.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => l2.ipv4(s.octets(), d.octets(), 64),
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V6(x) => x.octets(),
                IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
            };
            l2.ipv6(v6(s), v6(d), 64)
        }
    };
    let tcp = ip.tcp(src.port, dst.port, seg.seq, seg.window);
    let written = match seg.kind {
        Kind::Reset => tcp.rst().ack(seg.ack).write(&mut out, &[]).is_ok(),
        Kind::Ack => tcp.ack(seg.ack).write(&mut out, &[]).is_ok(),
        Kind::Syn { mss } => tcp
            .syn()
            .options(&[MaximumSegmentSize(mss)])
            .is_ok_and(|t| t.write(&mut out, &[]).is_ok()),
        Kind::SynAck { mss } => tcp
            .syn()
            .ack(seg.ack)
            .options(&[MaximumSegmentSize(mss)])
            .is_ok_and(|t| t.write(&mut out, &[]).is_ok()),
    };
    assert!(written);
    if vlan != 0 {
        crate::packet::push_vlan_tag(&mut out, 0, vlan);
    }
    out
}

#[test]
fn build_matches_the_packetbuilder_it_replaced() {
    let addrs: [(Addr, Addr); 3] = [
        (Addr::v4([198, 18, 0, 10]), Addr::v4([198, 19, 255, 7])),
        (
            Addr::from("2001:db8::10".parse::<IpAddr>().unwrap()),
            Addr::from("2001:db8:1::10".parse::<IpAddr>().unwrap()),
        ),
        (
            Addr::v4([198, 18, 0, 10]),
            Addr::from("2001:db8:1::10".parse::<IpAddr>().unwrap()),
        ),
    ];
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut n = 0;
    for (a, b) in addrs {
        for vlan in [0u16, 1, 42, 4095] {
            for k in 0..4 {
                for _ in 0..200 {
                    let r = rnd();
                    let mss = (r >> 48) as u16;
                    let kind = match k {
                        0 => Kind::Reset,
                        1 => Kind::Ack,
                        2 => Kind::Syn { mss },
                        _ => Kind::SynAck { mss },
                    };
                    let seg = Segment {
                        seq: r as u32,
                        ack: (r >> 32) as u32,
                        window: (r >> 16) as u16,
                        kind,
                    };
                    let src = Endpoint {
                        addr: a,
                        port: (r >> 3) as u16,
                    };
                    let dst = Endpoint {
                        addr: b,
                        port: (r >> 21) as u16,
                    };
                    let macs = [
                        [2, 0, 0, 0, 0, (r >> 5) as u8],
                        [2, 0, 0, 0, 1, (r >> 9) as u8],
                    ];
                    let new = build(src, dst, macs, vlan, &seg);
                    let old = old_build(src, dst, macs, vlan, &seg);
                    assert_eq!(new, old, "{kind:?} vlan {vlan} {a:?}->{b:?}");
                    // And the engine's own parser takes it, checksums complete.
                    let p = crate::packet::parse(&new, crate::packet::PacketMeta::default());
                    assert!(
                        p.is_ok() || a.is_v6() != b.is_v6(),
                        "{p:?} {kind:?} vlan {vlan} {a:?}->{b:?} ports {} {}",
                        src.port,
                        dst.port
                    );
                    n += 1;
                }
            }
        }
    }
    assert_eq!(n, 3 * 4 * 4 * 200);
}
