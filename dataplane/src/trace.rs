//! Traffic models that produce real frames: a TCP endpoint pair that keeps
//! its own sequence state as a correct stack would, plus UDP and ICMP frame
//! builders. Tests, property tests, benchmarks, the fuzz corpus and the demo
//! trace all use it, so every one of them feeds the engine bytes a real host
//! could have sent.

use std::net::IpAddr;

use etherparse::{PacketBuilder, TcpOptionElement};

use crate::packet::{TcpFlags, TcpOptions, TcpSegment};
use crate::seq::SeqNumber;
use crate::verdict::IfaceId;

/// A host taking part in a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// Its MAC address.
    pub mac: [u8; 6],
    /// Its IP address.
    pub ip: IpAddr,
    /// Its port for the conversation.
    pub port: u16,
    /// The firewall interface its frames arrive on.
    pub iface: IfaceId,
}

/// One end of a TCP conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The side that sends the SYN.
    Client = 0,
    /// The side that answers.
    Server = 1,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// A segment as the model sent it: enough to build the frame or the parsed
/// [`TcpSegment`] the engine would see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg {
    /// Who sent it.
    pub from: Side,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (sent with ACK when `flags` has ACK).
    pub ack: u32,
    /// Flags byte.
    pub flags: u8,
    /// Raw window field.
    pub window: u16,
    /// Window scale option (SYNs only).
    pub wscale: Option<u8>,
    /// SACK blocks (left, right).
    pub sack: Vec<(u32, u32)>,
    /// Payload length.
    pub payload_len: u32,
}

/// A xorshift64 generator for tests that draw random operations from a
/// seed (reproducible: the seed names the run).
#[derive(Debug, Clone)]
pub struct XorShift(pub u64);

impl XorShift {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

impl Seg {
    /// A segment as a stack that negotiated no options sends it: a window
    /// of 29,200 bytes (twenty segments of 1,460), no window scale, no
    /// SACK blocks (a SYN still carries MSS 1460 and SACK-permitted, as
    /// [`tcp_frame`] builds every SYN). TCP Intercept's SYN cookie offers a
    /// client no window scaling, so its tests and seeds send these.
    pub fn plain(from: Side, seq: u32, ack: u32, flags: u8, payload_len: u32) -> Seg {
        Seg {
            from,
            seq,
            ack,
            flags,
            window: 29_200,
            wscale: None,
            sack: Vec::new(),
            payload_len,
        }
    }

    /// The parsed view the engine's tracker works on.
    pub fn segment(&self) -> TcpSegment {
        TcpSegment {
            seq: SeqNumber(self.seq),
            ack: SeqNumber(self.ack),
            flags: TcpFlags(self.flags),
            window: self.window,
            options: TcpOptions {
                mss: (self.flags & TcpFlags::SYN != 0).then_some(1460),
                window_scale: self.wscale,
                sack_permitted: self.flags & TcpFlags::SYN != 0,
                // As the parser reads a frame's blocks.
                sack_right_edge: self
                    .sack
                    .iter()
                    .map(|&(_, r)| SeqNumber(r))
                    .reduce(|a, b| crate::packet::furthest_after(SeqNumber(self.ack), a, b)),
                clearable: false,
            },
            payload_len: self.payload_len,
            header_len: 20,
        }
    }
}

/// Build an Ethernet/IP/TCP frame for a segment between two hosts.
pub fn tcp_frame(src: &Host, dst: &Host, seg: &Seg) -> Vec<u8> {
    let mut options = Vec::new();
    if seg.flags & TcpFlags::SYN != 0 {
        options.push(TcpOptionElement::MaximumSegmentSize(1460));
        options.push(TcpOptionElement::SelectiveAcknowledgementPermitted);
        if let Some(ws) = seg.wscale {
            options.push(TcpOptionElement::WindowScale(ws));
        }
    }
    if let Some((&first, rest)) = seg.sack.split_first() {
        let mut more = [None; 3];
        for (slot, &block) in more.iter_mut().zip(rest) {
            *slot = Some(block);
        }
        options.push(TcpOptionElement::SelectiveAcknowledgement(first, more));
    }
    let l2 = PacketBuilder::ethernet2(src.mac, dst.mac);
    let payload = vec![0x5a; seg.payload_len as usize];
    let mut out = Vec::new();
    macro_rules! finish {
        ($ip:expr) => {{
            let mut b = $ip.tcp(src.port, dst.port, seg.seq, seg.window);
            if seg.flags & TcpFlags::SYN != 0 {
                b = b.syn();
            }
            if seg.flags & TcpFlags::ACK != 0 {
                b = b.ack(seg.ack);
            }
            if seg.flags & TcpFlags::FIN != 0 {
                b = b.fin();
            }
            if seg.flags & TcpFlags::RST != 0 {
                b = b.rst();
            }
            if seg.flags & TcpFlags::PSH != 0 {
                b = b.psh();
            }
            if seg.flags & TcpFlags::URG != 0 {
                b = b.urg(1);
            }
            let b = b.options(&options).expect("at most 40 bytes of options");
            b.write(&mut out, &payload)
                .expect("writing to a Vec cannot fail");
        }};
    }
    match (src.ip, dst.ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => finish!(l2.ipv4(s.octets(), d.octets(), 64)),
        (IpAddr::V6(s), IpAddr::V6(d)) => finish!(l2.ipv6(s.octets(), d.octets(), 64)),
        _ => panic!("hosts of one conversation share an address family"),
    }
    out
}

/// Build an Ethernet/IP/UDP frame.
pub fn udp_frame(src: &Host, dst: &Host, payload: &[u8]) -> Vec<u8> {
    let l2 = PacketBuilder::ethernet2(src.mac, dst.mac);
    let mut out = Vec::new();
    match (src.ip, dst.ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => l2
            .ipv4(s.octets(), d.octets(), 64)
            .udp(src.port, dst.port)
            .write(&mut out, payload),
        (IpAddr::V6(s), IpAddr::V6(d)) => l2
            .ipv6(s.octets(), d.octets(), 64)
            .udp(src.port, dst.port)
            .write(&mut out, payload),
        _ => panic!("hosts of one flow share an address family"),
    }
    .expect("writing to a Vec cannot fail");
    out
}

/// Build an Ethernet/IP frame of IP protocol `protocol` carrying `payload`
/// (a GRE, ESP or SCTP packet, say: the builder adds no header of its
/// own, so an SCTP payload starts with its ports).
pub fn ip_frame(src: &Host, dst: &Host, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let l2 = PacketBuilder::ethernet2(src.mac, dst.mac);
    let protocol = etherparse::IpNumber(protocol);
    let mut out = Vec::new();
    match (src.ip, dst.ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => l2
            .ipv4(s.octets(), d.octets(), 64)
            .write(&mut out, protocol, payload),
        (IpAddr::V6(s), IpAddr::V6(d)) => l2
            .ipv6(s.octets(), d.octets(), 64)
            .write(&mut out, protocol, payload),
        _ => panic!("hosts of one flow share an address family"),
    }
    .expect("writing to a Vec cannot fail");
    out
}

/// An SCTP packet's common header (RFC 9260 §3.1) from `src`'s port to
/// `dst`'s, with a made-up verification tag and no chunk, for
/// [`ip_frame`]: the firewall reads only the ports.
pub fn sctp_header(src: &Host, dst: &Host) -> Vec<u8> {
    let mut h = Vec::with_capacity(12);
    h.extend_from_slice(&src.port.to_be_bytes());
    h.extend_from_slice(&dst.port.to_be_bytes());
    h.extend_from_slice(&[0x5c, 0x7a, 0x90, 0x01, 0, 0, 0, 0]);
    h
}

/// Two IPv6 hosts on either side of an inside/outside bridge, as
/// [`v4_pair`] (2001:db8::/32, the documentation range).
pub fn v6_pair(client_port: u16, server_port: u16) -> (Host, Host) {
    let (mut c, mut s) = v4_pair(client_port, server_port);
    c.ip = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10]);
    s.ip = IpAddr::from([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10]);
    (c, s)
}

/// Build an ICMP (v4) or ICMPv6 echo request (`reply == false`) or reply.
pub fn echo_frame(src: &Host, dst: &Host, id: u16, seq: u16, reply: bool) -> Vec<u8> {
    let l2 = PacketBuilder::ethernet2(src.mac, dst.mac);
    let mut out = Vec::new();
    let payload = [0u8; 32];
    match (src.ip, dst.ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ip = l2.ipv4(s.octets(), d.octets(), 64);
            if reply {
                ip.icmpv4_echo_reply(id, seq).write(&mut out, &payload)
            } else {
                ip.icmpv4_echo_request(id, seq).write(&mut out, &payload)
            }
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let ip = l2.ipv6(s.octets(), d.octets(), 64);
            if reply {
                ip.icmpv6_echo_reply(id, seq).write(&mut out, &payload)
            } else {
                ip.icmpv6_echo_request(id, seq).write(&mut out, &payload)
            }
        }
        _ => panic!("hosts of one flow share an address family"),
    }
    .expect("writing to a Vec cannot fail");
    out
}

/// `frame` with an IEEE 802.1Q tag (priority `pcp`, VLAN id `vlan`)
/// inserted after its MAC addresses.
pub fn vlan_tagged(mut frame: Vec<u8>, pcp: u8, vlan: u16) -> Vec<u8> {
    crate::packet::push_vlan_tag(&mut frame, pcp, vlan);
    frame
}

/// Build an ICMPv4 destination-unreachable (port unreachable) from `src` to
/// `dst` quoting the IP header and first 8 transport bytes of `quoted_frame`.
pub fn icmpv4_unreachable_frame(src: &Host, dst: &Host, quoted_frame: &[u8]) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip, dst.ip) else {
        panic!("ICMPv4 needs IPv4 hosts");
    };
    // Skip the 14-byte Ethernet header; quote IPv4 header (20) + 8 bytes.
    let quote_end = quoted_frame.len().min(14 + 28);
    let quote = &quoted_frame[14.min(quote_end)..quote_end];
    let mut out = Vec::new();
    PacketBuilder::ethernet2(src.mac, dst.mac)
        .ipv4(s.octets(), d.octets(), 64)
        .icmpv4_raw(3, 3, [0; 4])
        .write(&mut out, quote)
        .expect("writing to a Vec cannot fail");
    out
}

/// A TCP endpoint pair that behaves as two correct stacks on a lossless,
/// in-order path: every segment one side sends is received by the other at
/// once, and data never exceeds the peer's advertised window.
#[derive(Debug, Clone)]
pub struct TcpModel {
    /// The client host.
    pub client: Host,
    /// The server host.
    pub server: Host,
    /// Next sequence number each side sends (SND.NXT).
    snd_nxt: [u32; 2],
    /// Highest ack each side received (SND.UNA).
    snd_una: [u32; 2],
    /// What each side has received (RCV.NXT) — the ack it sends.
    rcv_nxt: [u32; 2],
    /// The window each side advertises (raw field value).
    window: [u16; 2],
    /// Window scale each side offers on its SYN.
    wscale_offer: [Option<u8>; 2],
    /// Whether scaling is in effect (both offered).
    scaling: bool,
    /// The peer's advertised window as each side last learned it, scaled.
    snd_wnd: [u32; 2],
    /// Highest right edge (ack + scaled window) each side's peer ever advertised.
    max_right_edge: [u32; 2],
    /// Every segment sent so far, for retransmissions.
    pub sent: Vec<Seg>,
    /// Sequence offset a randomizing middlebox adds to the client's
    /// sequence numbers: the server sees (and acknowledges) them shifted.
    /// The model's own state stays in the client's space; only the server's
    /// segments carry shifted acks and SACK edges on the wire.
    shift: u32,
}

impl TcpModel {
    /// A pair with the given initial sequence numbers, windows and window
    /// scale offers.
    pub fn new(
        client: Host,
        server: Host,
        isn: [u32; 2],
        window: [u16; 2],
        wscale_offer: [Option<u8>; 2],
    ) -> Self {
        TcpModel {
            client,
            server,
            snd_nxt: isn,
            snd_una: isn,
            rcv_nxt: [0, 0],
            window,
            wscale_offer,
            scaling: wscale_offer[0].is_some() && wscale_offer[1].is_some(),
            snd_wnd: [0, 0],
            max_right_edge: [0, 0],
            sent: Vec::new(),
            shift: 0,
        }
    }

    fn host(&self, side: Side) -> &Host {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// The frame of a segment, addressed from its sender to the other side.
    pub fn frame(&self, seg: &Seg) -> Vec<u8> {
        tcp_frame(self.host(seg.from), self.host(seg.from.other()), seg)
    }

    /// The tuple of the client's packets.
    pub fn tuple(&self) -> crate::flow::Tuple {
        let ep = |h: &Host| crate::flow::Endpoint {
            addr: h.ip.into(),
            port: h.port,
        };
        crate::flow::Tuple {
            src: ep(&self.client),
            dst: ep(&self.server),
            proto: crate::flow::proto::TCP,
            vlan: 0,
        }
    }

    /// The interface a segment from `side` arrives on.
    pub fn iface(&self, side: Side) -> IfaceId {
        self.host(side).iface
    }

    /// The end behind interface `iface` (the one a frame sent out of it
    /// reaches, such as a DCD probe): the client on the client's
    /// interface, else the server.
    pub fn side_behind(&self, iface: IfaceId) -> Side {
        if iface == self.iface(Side::Client) {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// The scale in effect for `side`'s window field after the handshake.
    fn scale(&self, side: Side) -> u8 {
        if self.scaling {
            self.wscale_offer[side as usize].unwrap_or(0).min(14)
        } else {
            0
        }
    }

    /// The sequence number `side` sends next, in its own space (before any
    /// middlebox offset).
    pub fn next_seq(&self, side: Side) -> u32 {
        self.snd_nxt[side as usize]
    }

    /// How many bytes `side` may send now without exceeding the peer's window.
    pub fn sendable(&self, side: Side) -> u32 {
        let s = side as usize;
        let limit = self.snd_una[s].wrapping_add(self.snd_wnd[s]);
        limit.wrapping_sub(self.snd_nxt[s]).min(1 << 30)
    }

    /// The highest sequence number the tracker may accept from `side`.
    pub fn max_right_edge(&self, side: Side) -> u32 {
        self.max_right_edge[side as usize]
    }

    /// Send a segment and let the peer receive it.
    fn send(&mut self, from: Side, flags: u8, payload_len: u32, sack: Vec<(u32, u32)>) -> Seg {
        let s = from as usize;
        let p = from.other() as usize;
        let syn = flags & TcpFlags::SYN != 0;
        let seg = Seg {
            from,
            seq: self.snd_nxt[s],
            ack: self.rcv_nxt[s],
            flags,
            window: self.window[s],
            wscale: if syn { self.wscale_offer[s] } else { None },
            sack,
            payload_len,
        };
        let len = payload_len + u32::from(syn) + u32::from(flags & TcpFlags::FIN != 0);
        self.snd_nxt[s] = self.snd_nxt[s].wrapping_add(len);
        // The peer receives it in order.
        self.rcv_nxt[p] = self.snd_nxt[s];
        if flags & TcpFlags::ACK != 0 {
            self.snd_una[p] = seg.ack;
            let win = if syn {
                u32::from(seg.window)
            } else {
                u32::from(seg.window) << self.scale(from)
            };
            self.snd_wnd[p] = win;
            let edge = seg.ack.wrapping_add(win.max(1));
            if SeqNumber(edge).after(SeqNumber(self.max_right_edge[p]))
                || self.max_right_edge[p] == 0
            {
                self.max_right_edge[p] = edge;
            }
        }
        let mut wire = seg;
        if from == Side::Server && self.shift != 0 {
            if flags & TcpFlags::ACK != 0 {
                wire.ack = wire.ack.wrapping_add(self.shift);
            }
            for (l, r) in &mut wire.sack {
                *l = l.wrapping_add(self.shift);
                *r = r.wrapping_add(self.shift);
            }
        }
        self.sent.push(wire.clone());
        wire
    }

    /// The client's SYN.
    pub fn syn(&mut self) -> Seg {
        self.send(Side::Client, TcpFlags::SYN, 0, Vec::new())
    }

    /// The server's SYN-ACK.
    pub fn syn_ack(&mut self) -> Seg {
        self.send(Side::Server, TcpFlags::SYN | TcpFlags::ACK, 0, Vec::new())
    }

    /// A pure ACK from `side`.
    pub fn ack(&mut self, side: Side) -> Seg {
        self.send(side, TcpFlags::ACK, 0, Vec::new())
    }

    /// `len` bytes of data from `side` (the caller respects [`sendable`](Self::sendable)).
    pub fn data(&mut self, side: Side, len: u32) -> Seg {
        self.send(side, TcpFlags::ACK | TcpFlags::PSH, len, Vec::new())
    }

    /// A FIN|ACK from `side`.
    pub fn fin(&mut self, side: Side) -> Seg {
        self.send(side, TcpFlags::FIN | TcpFlags::ACK, 0, Vec::new())
    }

    /// A RST|ACK from `side` at its next sequence number (an exact reset).
    pub fn rst(&mut self, side: Side) -> Seg {
        self.send(side, TcpFlags::RST | TcpFlags::ACK, 0, Vec::new())
    }

    /// Set the offset a middlebox adds to the client's sequence numbers
    /// (from the engine's entry, once the SYN has passed).
    pub fn set_shift(&mut self, shift: u32) {
        self.shift = shift;
    }

    /// Change the window `side` advertises from its next segment on.
    pub fn set_window(&mut self, side: Side, window: u16) {
        self.window[side as usize] = window;
    }

    /// Re-send the `n`-th segment sent so far unchanged (a retransmission
    /// that arrives late; the peer already has it).
    pub fn retransmit(&self, n: usize) -> Option<Seg> {
        self.sent.get(n).cloned()
    }

    /// Handshake: SYN, SYN-ACK, ACK.
    pub fn handshake(&mut self) -> [Seg; 3] {
        [self.syn(), self.syn_ack(), self.ack(Side::Client)]
    }
}

/// The offset of the first TCP option of `kind` in an untagged IPv4
/// frame without IP options (as [`tcp_frame`] builds them), if it has one.
pub fn tcp_option_at(frame: &[u8], kind: u8) -> Option<usize> {
    let l4 = 14 + 20;
    let end = l4 + usize::from(frame.get(l4 + 12)? >> 4) * 4;
    let mut at = l4 + 20;
    while at < end.min(frame.len()) {
        match frame[at] {
            0 => break,
            1 => at += 1,
            k if k == kind => return Some(at),
            _ => at += usize::from(*frame.get(at + 1)?).max(2),
        }
    }
    None
}

/// Two IPv4 hosts on either side of an inside/outside bridge: the client on
/// `inside` (interface 0), the server on `outside` (interface 1), in the
/// benchmarking range 198.18.0.0/15.
pub fn v4_pair(client_port: u16, server_port: u16) -> (Host, Host) {
    (
        Host {
            mac: [0x02, 0, 0, 0, 0, 0x01],
            ip: IpAddr::from([198, 18, 0, 10]),
            port: client_port,
            iface: IfaceId(0),
        },
        Host {
            mac: [0x02, 0, 0, 0, 0, 0x02],
            ip: IpAddr::from([198, 18, 1, 10]),
            port: server_port,
            iface: IfaceId(1),
        },
    )
}

/// `n` clients on the inside as [`v4_pair`]'s (port 1), at 198.18.0.`first`
/// and the addresses after it.
pub fn v4_clients(n: u8, first: u8) -> Vec<Host> {
    let (c, _) = v4_pair(1, 80);
    (0..n)
        .map(|i| Host {
            ip: IpAddr::from([198, 18, 0, first.wrapping_add(i)]),
            ..c
        })
        .collect()
}

/// Send `n` datagrams of distinct unreplied UDP flows from the inside
/// through `engine` at `now`: one frame whose source address (198.18.0.x)
/// and port are rewritten in place, checksums marked verified so the
/// rewrite needs no checksum update. Fills a table with a million entries
/// without a million buffers (the scrape test and benchmark).
pub fn fill_udp_flows(engine: &mut crate::Engine, n: u32, now: crate::Instant) {
    let (c, s) = v4_pair(10_000, 53);
    let frame = udp_frame(&c, &s, b"q");
    let meta = crate::packet::PacketMeta {
        checksum: crate::packet::ChecksumState::Verified,
        gso_size: 0,
        asked: crate::packet::OffloadRequest::NONE,
    };
    let mut f = frame.clone();
    for i in 0..n {
        // 198.18.0.{i / 60,000}, port 1024 + (i mod 60,000): distinct per i.
        let host = i / 60_000;
        f.copy_from_slice(&frame);
        f[28..30].copy_from_slice(&[(host >> 8) as u8, host as u8]);
        f[34..36].copy_from_slice(&(1024 + (i % 60_000) as u16).to_be_bytes());
        engine.process(&mut f, meta, c.iface, now);
    }
}

/// Cut an unfragmented IPv4 or IPv6 frame (untagged, IPv6 without
/// extension headers) into fragments of datagram `id` whose data is at
/// most `chunk` bytes (a multiple of 8), in order, as a host's IP layer
/// would (RFC 791 §3.2, RFC 8200 §4.5).
pub fn fragment_frame(frame: &[u8], chunk: usize, id: u32) -> Vec<Vec<u8>> {
    assert!(
        chunk > 0 && chunk.is_multiple_of(8),
        "fragment data is cut at 8-byte units"
    );
    let l3 = 14;
    let v6 = frame[l3] >> 4 == 6;
    let (head, data) = if v6 {
        let payload = usize::from(u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]]));
        (l3 + 40, &frame[l3 + 40..l3 + 40 + payload])
    } else {
        let ihl = usize::from(frame[l3] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]));
        (l3 + ihl, &frame[l3 + ihl..l3 + total])
    };
    data.chunks(chunk)
        .enumerate()
        .map(|(i, c)| {
            let more = (i + 1) * chunk < data.len();
            fragment_at(frame, head, c, (i * chunk) as u32, more, id)
        })
        .collect()
}

/// One fragment of the datagram of unfragmented `frame` (whose
/// fragmentable part starts at `head`): `data` at `offset`, with M set if
/// `more`: any fragment a sender could make, overlapping or not.
pub fn fragment_at(
    frame: &[u8],
    head: usize,
    data: &[u8],
    offset: u32,
    more: bool,
    id: u32,
) -> Vec<u8> {
    let l3 = 14;
    let mut f = frame[..head].to_vec();
    if frame[l3] >> 4 == 6 {
        let next = f[l3 + 6];
        f[l3 + 6] = 44;
        let word = (offset as u16 & !7) | u16::from(more);
        f.extend_from_slice(&[next, 0]);
        f.extend_from_slice(&word.to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(data);
        let payload = (f.len() - l3 - 40) as u16;
        f[l3 + 4..l3 + 6].copy_from_slice(&payload.to_be_bytes());
    } else {
        f.extend_from_slice(data);
        let total = (f.len() - l3) as u16;
        f[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
        f[l3 + 4..l3 + 6].copy_from_slice(&(id as u16).to_be_bytes());
        let word = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
        f[l3 + 6..l3 + 8].copy_from_slice(&word.to_be_bytes());
        crate::packet::set_ipv4_checksum(&mut f[l3..head]);
    }
    f
}
