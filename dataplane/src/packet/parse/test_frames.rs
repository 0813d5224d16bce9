//! Frames for the parser's tests, built with etherparse's packet builder
//! (independent of the code under test), and the views the tests read.

use std::net::Ipv6Addr;

use etherparse::{
    IpFragOffset, IpHeaders, IpNumber, Ipv4HeaderSlice, Ipv6Extensions, Ipv6FragmentHeader,
    Ipv6Header, Ipv6RawExtHeader, PacketBuilder, PacketBuilderStep, TcpOptionElement,
};

use super::parse;
use crate::flow::{Addr, Endpoint, Tuple};
use crate::packet::{ChecksumState, Icmp, PacketMeta, Parsed, TcpSegment, Transport};

pub(super) const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
pub(super) const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
pub(super) const V4_A: [u8; 4] = [198, 18, 0, 10];
pub(super) const V4_B: [u8; 4] = [198, 18, 1, 20];
pub(super) const V4_ROUTER: [u8; 4] = [198, 18, 9, 1];
pub(super) const UNVERIFIED: PacketMeta = PacketMeta {
    checksum: ChecksumState::Unverified,
    gso_size: 0,
    asked: crate::packet::OffloadRequest::NONE,
};
pub(super) const PARTIAL: PacketMeta = PacketMeta {
    checksum: ChecksumState::Partial,
    gso_size: 0,
    asked: crate::packet::OffloadRequest::NONE,
};
pub(super) const VERIFIED: PacketMeta = PacketMeta {
    checksum: ChecksumState::Verified,
    gso_size: 0,
    asked: crate::packet::OffloadRequest::NONE,
};
/// Where the IP header starts in an untagged frame.
pub(super) const L3: usize = 14;

pub(super) fn v6(text: &str) -> [u8; 16] {
    text.parse::<Ipv6Addr>().unwrap().octets()
}
pub(super) fn v6_a() -> [u8; 16] {
    v6("2001:db8::10")
}
pub(super) fn v6_b() -> [u8; 16] {
    v6("2001:db8:1::20")
}
pub(super) fn v6_router() -> [u8; 16] {
    v6("2001:db8:9::1")
}

pub(super) fn tuple(src: Addr, src_port: u16, dst: Addr, dst_port: u16, protocol: u8) -> Tuple {
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
        vlan: 0,
    }
}

/// The fields of a frame that must parse as IP; the test fails with the
/// drop reason otherwise.
#[derive(Debug)]
pub(super) struct Ip {
    pub(super) tuple: Tuple,
    pub(super) transport: Transport,
    /// The tuple's VLAN, for short assertions.
    pub(super) vlan: u16,
    pub(super) ip_len: u32,
    pub(super) l3: u16,
    pub(super) l4: u16,
    pub(super) ttl: u8,
    /// Whether an authentication header came before the transport.
    pub(super) ah: bool,
}

pub(super) fn ip(frame: &[u8], meta: PacketMeta) -> Ip {
    match parse(frame, meta) {
        Ok(Parsed::Ip {
            tuple,
            transport,
            ip_len,
            l3,
            l4,
            ttl,
            ah,
            ..
        }) => Ip {
            tuple,
            transport,
            vlan: tuple.vlan,
            ip_len,
            l3,
            l4,
            ttl,
            ah,
        },
        other => panic!("expected an IP packet, got {other:?}"),
    }
}

pub(super) fn tcp_of(frame: &[u8], meta: PacketMeta) -> TcpSegment {
    match ip(frame, meta).transport {
        Transport::Tcp(t) => t,
        other => panic!("expected TCP, got {other:?}"),
    }
}

pub(super) fn icmp_of(frame: &[u8]) -> (Tuple, Icmp) {
    match ip(frame, UNVERIFIED) {
        Ip {
            tuple,
            transport: Transport::Icmp(icmp),
            ..
        } => (tuple, icmp),
        other => panic!("expected ICMP, got {other:?}"),
    }
}

pub(super) fn eth() -> PacketBuilderStep<etherparse::Ethernet2Header> {
    PacketBuilder::ethernet2(MAC_A, MAC_B)
}

/// A copy of `frame` with `edit` applied.
pub(super) fn edited(frame: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut f = frame.to_vec();
    edit(&mut f);
    f
}

/// Recompute the IPv4 header checksum after an edit (with etherparse's
/// own calculation, independent of the code under test).
pub(super) fn fix_ipv4_checksum(frame: &mut [u8], l3: usize) {
    let header = Ipv4HeaderSlice::from_slice(&frame[l3..])
        .unwrap()
        .to_header();
    let sum = header.calc_header_checksum();
    frame[l3 + 10..l3 + 12].copy_from_slice(&sum.to_be_bytes());
}

pub(super) fn set_be16(frame: &mut [u8], at: usize, value: u16) {
    frame[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// A TCP/IPv4 segment 198.18.0.10:40000 -> 198.18.1.20:80, ACK 2000,
/// with raw option bytes and a payload.
pub(super) fn tcp_v4(options: &[u8], payload: &[u8]) -> Vec<u8> {
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

pub(super) fn tcp_v4_syn() -> Vec<u8> {
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
pub(super) fn tcp_v6(exts: Ipv6Extensions, payload: &[u8]) -> Vec<u8> {
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

pub(super) fn padn(next: IpNumber) -> Ipv6RawExtHeader {
    // One PadN option filling the 6 bytes after next header and length.
    Ipv6RawExtHeader::new_raw(next, &[1, 4, 0, 0, 0, 0]).unwrap()
}

pub(super) fn hop_by_hop_and_dest_opts() -> Ipv6Extensions {
    Ipv6Extensions {
        hop_by_hop_options: Some(padn(IpNumber::TCP)),
        destination_options: Some(padn(IpNumber::TCP)),
        ..Default::default()
    }
}

pub(super) fn udp_v4(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    eth()
        .ipv4(V4_A, V4_B, 64)
        .udp(4444, 53)
        .write(&mut f, payload)
        .unwrap();
    f
}

pub(super) fn udp_v6_exts(exts: Ipv6Extensions, src: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
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

pub(super) fn udp_v6() -> Vec<u8> {
    udp_v6_exts(Ipv6Extensions::default(), v6_a(), v6_b())
}

/// An IPv4 packet of any protocol with a raw payload.
pub(super) fn raw_v4(protocol: IpNumber, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    eth()
        .ipv4(V4_A, V4_B, 64)
        .write(&mut f, protocol, payload)
        .unwrap();
    f
}

pub(super) fn raw_v6(protocol: IpNumber, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    eth()
        .ipv6(v6_a(), v6_b(), 64)
        .write(&mut f, protocol, payload)
        .unwrap();
    f
}

/// An ICMPv4 message from a router to 198.18.0.10.
pub(super) fn icmpv4(icmp_type: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    eth()
        .ipv4(V4_ROUTER, V4_A, 64)
        .icmpv4_raw(icmp_type, code, rest)
        .write(&mut f, body)
        .unwrap();
    f
}

pub(super) fn icmpv6(icmp_type: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    // Neighbour discovery is sent with hop limit 255 (RFC 4861).
    let hops = if (133..=137).contains(&icmp_type) {
        255
    } else {
        64
    };
    let mut f = Vec::new();
    eth()
        .ipv6(v6_router(), v6_a(), hops)
        .icmpv6_raw(icmp_type, code, rest)
        .write(&mut f, body)
        .unwrap();
    f
}

/// A SACK option with the given (left, right) blocks, NOP-aligned.
pub(super) fn sack(blocks: &[(u32, u32)]) -> Vec<u8> {
    let mut o = vec![1, 1, 5, 2 + 8 * blocks.len() as u8];
    for (l, r) in blocks {
        o.extend_from_slice(&l.to_be_bytes());
        o.extend_from_slice(&r.to_be_bytes());
    }
    o
}

pub(super) fn fragment(offset: u16, more: bool) -> Ipv6Extensions {
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
