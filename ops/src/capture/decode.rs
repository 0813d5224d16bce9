//! `show capture NAME`'s one line per frame, in the ASA's tcpdump-like
//! layout ("capture", "show capture", Cisco ASA Series Command
//! Reference):
//!
//! ```text
//!    1: 14:23:45.123456       198.18.0.1.51234 > 198.18.1.1.80: S 2839219290:2839219290(0) win 29200 <mss 1460,sackOK,nop,wscale 7>
//!    2: 14:23:45.123800       198.18.0.1.53 > 198.18.1.1.40000:  udp 40
//!    3: 14:23:45.124000       198.18.0.1 > 198.18.1.1 icmp: echo request
//! ```
//!
//! A captured frame is whatever a sender put on the wire, cut to the
//! capture's packet length: every length is checked (etherparse's lax
//! slicing, which takes a cut frame), and a frame that does not parse is
//! one `malformed` line, never a panic.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    EtherType, Icmpv4Type, Icmpv6Type, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice,
    TcpOptionElement, TransportSlice,
};

/// `HH:MM:SS.uuuuuu` (UTC) of a time in nanoseconds since the Unix epoch.
pub fn clock(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let micros = unix_ns % 1_000_000_000 / 1_000;
    format!(
        "{:02}:{:02}:{:02}.{micros:06}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// The frame as `show capture` decodes it (without number and time);
/// `detail` adds the MAC addresses, EtherType and length before it and
/// the IP header's TTL and id after it.
pub fn describe(frame: &[u8], wire_len: u32, detail: bool) -> String {
    let Ok(p) = LaxSlicedPacket::from_ethernet(frame) else {
        return format!("malformed frame ({wire_len} bytes)");
    };
    let mut out = String::new();
    if detail && let Some(LinkSlice::Ethernet2(e)) = &p.link {
        let _ = write!(
            out,
            "{} {} 0x{:04x} Length: {wire_len}\n      ",
            mac(e.source()),
            mac(e.destination()),
            e.ether_type().0
        );
    }
    for ext in &p.link_exts {
        if let LaxLinkExtSlice::Vlan(v) = ext {
            let _ = write!(
                out,
                "802.1Q vlan#{} P{} ",
                v.vlan_identifier().value(),
                v.priority_code_point().value()
            );
        }
    }
    let (src, dst, ttl_id) = match &p.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            (
                IpAddr::V4(Ipv4Addr::from(h.source())),
                IpAddr::V4(Ipv4Addr::from(h.destination())),
                format!(" (ttl {}, id {})", h.ttl(), h.identification()),
            )
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            (
                IpAddr::V6(Ipv6Addr::from(h.source())),
                IpAddr::V6(Ipv6Addr::from(h.destination())),
                format!(" (hlim {})", h.hop_limit()),
            )
        }
        Some(LaxNetSlice::Arp(arp)) => {
            out.push_str(&arp_line(arp));
            return out;
        }
        None => {
            match p.link.as_ref().and_then(ether_type) {
                Some(t) => {
                    let _ = write!(out, "ethertype 0x{:04x}, length {wire_len}", t.0);
                }
                None => out.push_str(&format!("malformed frame ({wire_len} bytes)")),
            }
            return out;
        }
    };
    match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let _ = write!(
                out,
                "{src}.{} > {dst}.{}: {}",
                t.source_port(),
                t.destination_port(),
                tcp_rest(t, tcp_payload_len(&p, t))
            );
        }
        Some(TransportSlice::Udp(u)) => {
            let _ = write!(
                out,
                "{src}.{} > {dst}.{}:  udp {}",
                u.source_port(),
                u.destination_port(),
                u.length().saturating_sub(8)
            );
        }
        Some(TransportSlice::Icmpv4(i)) => {
            let _ = write!(out, "{src} > {dst} icmp: {}", icmp4(i.icmp_type()));
        }
        Some(TransportSlice::Icmpv6(i)) => {
            let _ = write!(out, "{src} > {dst} icmp6: {}", icmp6(i.icmp_type()));
        }
        Some(TransportSlice::Igmp(_)) => {
            let _ = write!(out, "{src} > {dst}:  igmp");
        }
        None => {
            let proto = match &p.net {
                Some(LaxNetSlice::Ipv4(ip)) => ip.header().protocol().0,
                Some(LaxNetSlice::Ipv6(ip)) => ip.payload().ip_number.0,
                _ => 0,
            };
            let name = match proto {
                6 => Some("tcp"),
                17 => Some("udp"),
                1 => Some("icmp"),
                58 => Some("icmp6"),
                _ => None,
            };
            match (name, p.stop_err.is_some()) {
                // Cut inside its transport header (the packet length).
                (Some(n), true) => {
                    let _ = write!(out, "{src} > {dst}: [|{n}]");
                }
                _ => {
                    let _ = write!(out, "{src} > {dst}:  ip-proto-{proto}");
                }
            }
        }
    }
    if detail {
        out.push_str(&ttl_id);
    }
    out
}

fn ether_type(l: &LinkSlice<'_>) -> Option<EtherType> {
    match l {
        LinkSlice::Ethernet2(e) => Some(e.ether_type()),
        _ => None,
    }
}

/// A MAC address as the ASA writes one: `0050.56a5.1234`.
fn mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}{:02x}.{:02x}{:02x}.{:02x}{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

fn arp_line(arp: &etherparse::ArpPacketSlice<'_>) -> String {
    let ip = |b: &[u8]| -> String {
        <[u8; 4]>::try_from(b).map_or_else(|_| "?".into(), |a| Ipv4Addr::from(a).to_string())
    };
    let hw = |b: &[u8]| -> String { <[u8; 6]>::try_from(b).map_or_else(|_| "?".into(), mac) };
    match arp.operation().0 {
        1 => format!(
            "arp who-has {} tell {}",
            ip(arp.target_protocol_addr()),
            ip(arp.sender_protocol_addr())
        ),
        2 => format!(
            "arp reply {} is-at {}",
            ip(arp.sender_protocol_addr()),
            hw(arp.sender_hw_addr())
        ),
        op => format!("arp op {op}"),
    }
}

/// The TCP payload's length, from the IP header's length where the
/// frame was cut short.
fn tcp_payload_len(p: &LaxSlicedPacket<'_>, t: &etherparse::TcpSlice<'_>) -> u32 {
    let l4 = match &p.net {
        Some(LaxNetSlice::Ipv4(ip)) if ip.payload().incomplete => {
            let h = ip.header();
            u32::from(h.total_len()).saturating_sub(h.slice().len() as u32)
        }
        // The payload length counts the extension headers too (RFC 8200
        // §3): what follows them is the TCP segment.
        Some(LaxNetSlice::Ipv6(ip)) if ip.payload().incomplete => {
            u32::from(ip.header().payload_length())
                .saturating_sub(ip.extensions().slice().len() as u32)
        }
        Some(LaxNetSlice::Ipv4(ip)) => ip.payload().payload.len() as u32,
        Some(LaxNetSlice::Ipv6(ip)) => ip.payload().payload.len() as u32,
        _ => 0,
    };
    l4.saturating_sub(t.header_len() as u32)
}

/// After the ports: flags, sequence range, ack, window, options.
fn tcp_rest(t: &etherparse::TcpSlice<'_>, len: u32) -> String {
    let mut flags = String::new();
    for (on, ch) in [
        (t.syn(), 'S'),
        (t.fin(), 'F'),
        (t.rst(), 'R'),
        (t.psh(), 'P'),
        (t.urg(), 'U'),
        (t.ece(), 'E'),
        (t.cwr(), 'W'),
    ] {
        if on {
            flags.push(ch);
        }
    }
    if flags.is_empty() {
        flags.push('.');
    }
    let mut s = flags;
    let seq = t.sequence_number();
    if len > 0 || t.syn() || t.fin() || t.rst() {
        let _ = write!(s, " {seq}:{}({len})", seq.wrapping_add(len));
    }
    if t.ack() {
        let _ = write!(s, " ack {}", t.acknowledgment_number());
    }
    let _ = write!(s, " win {}", t.window_size());
    let opts: Vec<String> = t
        .options_iterator()
        .map(|o| match o {
            Ok(TcpOptionElement::MaximumSegmentSize(m)) => format!("mss {m}"),
            Ok(TcpOptionElement::WindowScale(w)) => format!("wscale {w}"),
            Ok(TcpOptionElement::SelectiveAcknowledgementPermitted) => "sackOK".into(),
            Ok(TcpOptionElement::SelectiveAcknowledgement(first, rest)) => {
                let mut b = format!("sack {}:{}", first.0, first.1);
                for (l, r) in rest.iter().flatten() {
                    let _ = write!(b, " {l}:{r}");
                }
                b
            }
            Ok(TcpOptionElement::Timestamp(a, b)) => format!("timestamp {a} {b}"),
            Ok(TcpOptionElement::Noop) => "nop".into(),
            Err(_) => "[bad opt]".into(),
        })
        .collect();
    if !opts.is_empty() {
        let _ = write!(s, " <{}>", opts.join(","));
    }
    s
}

fn icmp4(t: Icmpv4Type) -> String {
    match t {
        Icmpv4Type::EchoRequest(_) => "echo request".into(),
        Icmpv4Type::EchoReply(_) => "echo reply".into(),
        Icmpv4Type::DestinationUnreachable(_) => "unreachable".into(),
        Icmpv4Type::TimeExceeded(_) => "time exceeded".into(),
        Icmpv4Type::ParameterProblem(_) => "parameter problem".into(),
        Icmpv4Type::Redirect(_) => "redirect".into(),
        Icmpv4Type::Unknown {
            type_u8, code_u8, ..
        } => format!("type {type_u8} code {code_u8}"),
        Icmpv4Type::TimestampRequest(_) => "timestamp request".into(),
        Icmpv4Type::TimestampReply(_) => "timestamp reply".into(),
    }
}

fn icmp6(t: Icmpv6Type) -> String {
    match t {
        Icmpv6Type::EchoRequest(_) => "echo request".into(),
        Icmpv6Type::EchoReply(_) => "echo reply".into(),
        Icmpv6Type::DestinationUnreachable(_) => "unreachable".into(),
        Icmpv6Type::PacketTooBig { mtu } => format!("packet too big, mtu {mtu}"),
        Icmpv6Type::TimeExceeded(_) => "time exceeded".into(),
        Icmpv6Type::ParameterProblem(_) => "parameter problem".into(),
        Icmpv6Type::Unknown {
            type_u8, code_u8, ..
        } => format!("type {type_u8} code {code_u8}"),
        other => format!("type {}", other.type_u8()),
    }
}

/// `dump`: the frame's bytes, 16 a line, as hex words and as text.
pub fn hex_dump(frame: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in frame.chunks(16).enumerate() {
        let _ = write!(out, "0x{:04x}\t ", i * 16);
        let mut hex = String::new();
        for pair in chunk.chunks(2) {
            for b in pair {
                let _ = write!(hex, "{b:02x}");
            }
            hex.push(' ');
        }
        let text: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        let _ = writeln!(out, "{hex:<40}\t{text}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_clock_is_utc_to_the_microsecond() {
        // 2026-12-07 14:23:45.123456789 UTC.
        let t = 1_796_653_425u64 * 1_000_000_000 + 123_456_789;
        assert_eq!(clock(t), "14:23:45.123456");
    }

    #[test]
    fn a_frame_that_is_not_ethernet_is_malformed() {
        assert_eq!(describe(&[1, 2, 3], 3, false), "malformed frame (3 bytes)");
        assert_eq!(describe(&[], 0, true), "malformed frame (0 bytes)");
    }

    #[test]
    fn goldens_of_the_other_kinds() {
        use rampart_dataplane::trace::{
            echo_frame, ip_frame, udp_frame, v4_pair, v6_pair, vlan_tagged,
        };
        let (c6, s6) = v6_pair(40_000, 80);
        let echo6 = echo_frame(&c6, &s6, 9, 1, false);
        assert_eq!(
            describe(&echo6, echo6.len() as u32, false),
            "2001:db8::10 > 2001:db8:1::10 icmp6: echo request"
        );
        let (c, s) = v4_pair(40_000, 53);
        let tagged = vlan_tagged(udp_frame(&c, &s, &[0; 12]), 3, 42);
        assert_eq!(
            describe(&tagged, tagged.len() as u32, false),
            "802.1Q vlan#42 P3 198.18.0.10.40000 > 198.18.1.10.53:  udp 12"
        );
        let gre = ip_frame(&c, &s, 47, &[0; 8]);
        assert_eq!(
            describe(&gre, gre.len() as u32, false),
            "198.18.0.10 > 198.18.1.10:  ip-proto-47"
        );
        // An ARP request from the client for the server.
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&c.mac);
        arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        arp.extend_from_slice(&c.mac);
        arp.extend_from_slice(&[198, 18, 0, 10]);
        arp.extend_from_slice(&[0; 6]);
        arp.extend_from_slice(&[198, 18, 1, 10]);
        assert_eq!(
            describe(&arp, arp.len() as u32, false),
            "arp who-has 198.18.1.10 tell 198.18.0.10"
        );
        // Cut inside the UDP header.
        let udp = udp_frame(&c, &s, &[0; 12]);
        assert_eq!(
            describe(&udp[..38], udp.len() as u32, false),
            "198.18.0.10 > 198.18.1.10: [|udp]"
        );
        assert_eq!(
            hex_dump(&udp[..18]),
            "0x0000\t 0200 0000 0002 0200 0000 0001 0800 4500 \t..............E.\n\
             0x0010\t 0028                                    \t.(\n"
        );
    }

    proptest! {
        /// Any bytes, cut anywhere: a line, never a panic.
        #[test]
        fn any_bytes_decode_to_a_line(bytes in prop::collection::vec(any::<u8>(), 0..200), detail: bool) {
            let line = describe(&bytes, bytes.len() as u32, detail);
            prop_assert!(!line.is_empty());
            let _ = hex_dump(&bytes);
        }

        /// Real headers with random bytes after them.
        #[test]
        fn mutated_ip_frames_decode_to_a_line(
            tail in prop::collection::vec(any::<u8>(), 0..80),
            ethertype in prop::sample::select(vec![0x0800u16, 0x86dd, 0x0806, 0x8100]),
            first in any::<u8>(),
        ) {
            let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
            f.extend_from_slice(&ethertype.to_be_bytes());
            f.push(first);
            f.extend_from_slice(&tail);
            let _ = describe(&f, f.len() as u32, true);
        }
    }
}
