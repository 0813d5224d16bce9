//! TCP Intercept (docs/asa-behaviour.md §2.2): past a half-open limit a
//! SYN is answered with a SYN cookie; a client's ACK of it opens the
//! connection to the server, whose SYN-ACK the firewall acknowledges; the
//! server's sequence numbers then reach the client in the cookie's space.

use super::*;
use crate::trace::tcp_frame;

/// A segment's numbers as a frame carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Wire {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub mss: Option<u16>,
    pub options_len: usize,
    pub payload_len: usize,
    pub vlan: u16,
}

/// The TCP segment in `frame` (checksums verified).
pub(super) fn wire(frame: &[u8]) -> Wire {
    let p = etherparse::SlicedPacket::from_ethernet(frame).expect("a frame");
    let vlan = match p.link_exts.first() {
        Some(etherparse::LinkExtSlice::Vlan(v)) => v.vlan_identifier().value(),
        _ => 0,
    };
    let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP: {frame:02x?}")
    };
    let header = t.to_header();
    let sum_ok = match &p.net {
        Some(etherparse::NetSlice::Ipv4(ip)) => {
            header
                .calc_checksum_ipv4(&ip.header().to_header(), t.payload())
                .unwrap()
                == header.checksum
        }
        Some(etherparse::NetSlice::Ipv6(ip)) => {
            header
                .calc_checksum_ipv6(&ip.header().to_header(), t.payload())
                .unwrap()
                == header.checksum
        }
        _ => false,
    };
    assert!(sum_ok, "bad TCP checksum");
    let mss = header.options_iterator().find_map(|o| match o {
        Ok(etherparse::TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
        _ => None,
    });
    Wire {
        seq: header.sequence_number,
        ack: header.acknowledgment_number,
        flags: frame_flags(&header),
        window: header.window_size,
        mss,
        options_len: header.options.len(),
        payload_len: t.payload().len(),
        vlan,
    }
}

fn frame_flags(h: &etherparse::TcpHeader) -> u8 {
    let mut f = 0;
    for (on, bit) in [
        (h.fin, TcpFlags::FIN),
        (h.syn, TcpFlags::SYN),
        (h.rst, TcpFlags::RST),
        (h.psh, TcpFlags::PSH),
        (h.ack, TcpFlags::ACK),
    ] {
        if on {
            f |= bit;
        }
    }
    f
}

/// Judge `frame` arriving on `iface`: the verdict and the frame as it
/// leaves.
pub(super) fn pass(h: &mut Harness, mut frame: Vec<u8>, iface: IfaceId) -> (Verdict, Vec<u8>) {
    let v = h
        .engine
        .process(&mut frame, PacketMeta::default(), iface, h.now);
    (v, frame)
}

/// The frames the engine built since the last call, with their egress.
pub(super) fn sent(h: &mut Harness) -> Vec<(IfaceId, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(e) = h.engine.poll_effect(h.now) {
        if let Effect::Transmit { egress, frame } = e {
            out.push((egress, frame));
        }
    }
    out
}

/// A segment from `from` to `to` (a SYN offers window scale 7).
pub(super) fn seg(from: Side, seq: u32, ack: u32, flags: u8, payload_len: u32) -> Seg {
    Seg {
        wscale: (flags & TcpFlags::SYN != 0).then_some(7),
        ..Seg::plain(from, seq, ack, flags, payload_len)
    }
}

/// A client and server, and the frames of their segments.
pub(super) struct Ends {
    pub client: Host,
    pub server: Host,
}

impl Ends {
    pub fn frame(&self, s: &Seg) -> (Vec<u8>, IfaceId) {
        match s.from {
            Side::Client => (tcp_frame(&self.client, &self.server, s), self.client.iface),
            Side::Server => (tcp_frame(&self.server, &self.client, s), self.server.iface),
        }
    }

    pub fn send(&self, h: &mut Harness, s: &Seg) -> (Verdict, Vec<u8>) {
        let (f, i) = self.frame(s);
        pass(h, f, i)
    }
}

/// The client's ISN and the server's in [`open_through_cookie`].
pub(super) const CLIENT_ISN: u32 = 5_000;
pub(super) const SERVER_ISN: u32 = 3_000_000_000;

/// The client's SYN answered with a cookie, nothing kept: the firewall's
/// SYN-ACK, whose sequence number is the cookie.
pub(super) fn cookie_for(h: &mut Harness, e: &Ends) -> Wire {
    let before = h.engine.table().len();
    let (v, _) = e.send(h, &seg(Side::Client, CLIENT_ISN, 0, TcpFlags::SYN, 0));
    assert_eq!(v, Verdict::Drop(DropReason::TcpIntercepted));
    assert_eq!(h.engine.table().len(), before, "a cookie keeps nothing");
    let out = sent(h);
    assert_eq!(out.len(), 1);
    let (egress, f) = &out[0];
    assert_eq!(
        *egress, e.client.iface,
        "the cookie goes back to the client"
    );
    let synack = wire(f);
    assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(synack.ack, CLIENT_ISN + 1);
    // The policy's clamp (1380 by default) in the server's place; no
    // window scale, SACK or timestamps.
    assert_eq!(synack.mss, Some(1380));
    assert_eq!(synack.options_len, 4);
    synack
}

/// The client's ACK of `cookie` (its handshake's last segment).
pub(super) fn cookie_ack(cookie: u32) -> Seg {
    seg(
        Side::Client,
        CLIENT_ISN + 1,
        cookie.wrapping_add(1),
        TcpFlags::ACK,
        0,
    )
}

/// The flags of a segment with data.
pub(super) const DATA: u8 = TcpFlags::ACK | TcpFlags::PSH;

/// `len` bytes of the client's first data after its ACK of `cookie`.
pub(super) fn first_data(cookie: u32, len: u32) -> Seg {
    seg(
        Side::Client,
        CLIENT_ISN + 1,
        cookie.wrapping_add(1),
        DATA,
        len,
    )
}

/// The server's SYN-ACK of the firewall's SYN, from ISN `isn`, with
/// `payload_len` bytes: no window scale (the firewall's SYN offered none).
pub(super) fn syn_ack(isn: u32, payload_len: u32) -> Seg {
    let flags = TcpFlags::SYN | TcpFlags::ACK;
    Seg::plain(Side::Server, isn, CLIENT_ISN + 1, flags, payload_len)
}

/// The server's RST refusing the SYN of [`to_pending`] (or the client's).
pub(super) fn refusal() -> Seg {
    seg(
        Side::Server,
        0,
        CLIENT_ISN + 1,
        TcpFlags::RST | TcpFlags::ACK,
        0,
    )
}

/// Take a client through TCP Intercept until the server is to answer: its
/// SYN answered with a cookie, its ACK turned into the firewall's SYN.
/// Returns the cookie.
pub(super) fn to_pending(h: &mut Harness, e: &Ends) -> u32 {
    let cookie = cookie_for(h, e).seq;
    accept_cookie(h, e, cookie);
    cookie
}

/// The client's ACK of `cookie`: the firewall's SYN leaves toward the
/// server, and the connection waits for its answer.
pub(super) fn accept_cookie(h: &mut Harness, e: &Ends, cookie: u32) {
    let (v, _) = e.send(h, &cookie_ack(cookie));
    assert_eq!(v, Verdict::Drop(DropReason::TcpIntercepted));
    let out = sent(h);
    assert_eq!(out.len(), 1, "the firewall's SYN");
    let (egress, f) = &out[0];
    assert_eq!(*egress, e.server.iface);
    let syn = wire(f);
    assert_eq!(syn.flags, TcpFlags::SYN);
    assert_eq!(syn.seq, CLIENT_ISN);
    assert_eq!(syn.window, 29_200, "the client's window, unscaled");
    assert_eq!(syn.mss, Some(1380), "the client's 1460, clamped");
    assert_eq!(syn.options_len, 4);
    let entry = h.engine.find(&tuple(e), h.now).expect("the connection");
    assert!(entry.intercepted() && entry.intercept_pending());
    assert_eq!(entry.tcp_state(), Some(TcpState::SynSent));
}

/// Take a client through TCP Intercept to an established connection:
/// [`to_pending`], then the server's SYN-ACK acknowledged by the firewall.
/// Returns the cookie.
pub(super) fn open_through_cookie(h: &mut Harness, e: &Ends) -> u32 {
    let cookie = to_pending(h, e);
    // The server answers; the firewall acknowledges in the client's place.
    let (v, _) = e.send(h, &syn_ack(SERVER_ISN, 0));
    assert_eq!(v, Verdict::Drop(DropReason::TcpIntercepted));
    let out = sent(h);
    assert_eq!(out.len(), 1);
    let (egress, f) = &out[0];
    assert_eq!(*egress, e.server.iface);
    let a = wire(f);
    assert_eq!(a.flags, TcpFlags::ACK);
    assert_eq!((a.seq, a.ack), (CLIENT_ISN + 1, SERVER_ISN + 1));
    let entry = h.engine.find(&tuple(e), h.now).unwrap();
    assert_eq!(entry.tcp_state(), Some(TcpState::Established));
    assert!(!entry.intercept_pending());
    assert_eq!(
        entry.seq_shift(crate::flow::Direction::Reply),
        cookie.wrapping_sub(SERVER_ISN)
    );
    assert_eq!(entry.seq_shift(crate::flow::Direction::Orig), 0);
    cookie
}

pub(super) fn tuple(e: &Ends) -> crate::flow::Tuple {
    TcpModel::new(e.client, e.server, [0, 0], [0, 0], [None, None]).tuple()
}

/// A harness whose one class sets `limits` (as `limits::limited`).
pub(super) fn limited(limits: &str) -> Harness {
    configured(limits, "", "")
}

/// [`limited`], with the class's further lines `class_lines` after its
/// limits, and `top` (a tcp-map) before the class map.
pub(super) fn configured(limits: &str, class_lines: &str, top: &str) -> Harness {
    let mut h = Harness::new();
    let mut text = String::from(top);
    text.push_str("class-map all\n match any\npolicy-map p\n class all\n");
    for line in limits.lines() {
        text.push_str(&format!("  set connection {line}\n"));
    }
    text.push_str("  set connection random-sequence-number disable\n");
    text.push_str(class_lines);
    text.push_str("service-policy p global\n");
    h.install(
        crate::policy::parse::parse_config(&text)
            .unwrap_or_else(|e| panic!("{text}\n{e}"))
            .config,
    );
    h
}

/// Fill the class's one half-open place with a SYN no one answers.
pub(super) fn fill_cap(h: &mut Harness) {
    let (c, s) = v4_pair(1, 80);
    let e = Ends {
        client: Host {
            ip: "198.18.0.99".parse().unwrap(),
            ..c
        },
        server: s,
    };
    let (v, _) = e.send(h, &seg(Side::Client, 77, 0, TcpFlags::SYN, 0));
    assert_eq!(v, FWD_OUT);
}

/// A harness whose class has one half-open place (`embryonic-conn-max 1`),
/// taken by [`fill_cap`]: the next SYN is answered with a cookie.
pub(super) fn capped() -> Harness {
    let mut h = limited("embryonic-conn-max 1");
    fill_cap(&mut h);
    h
}

/// The client on port `port` and the server on 80.
pub(super) fn ends(port: u16) -> Ends {
    let (client, server) = v4_pair(port, 80);
    Ends { client, server }
}

#[test]
fn a_proven_client_reaches_the_server_and_talks_in_the_cookies_space() {
    let mut h = capped();
    let e = ends(41_000);
    let cookie = open_through_cookie(&mut h, &e);
    // The client's data: its acknowledgement leaves in the server's space.
    let (v, f) = e.send(&mut h, &first_data(cookie, 100));
    assert_eq!(v, FWD_OUT);
    let w = wire(&f);
    assert_eq!((w.seq, w.ack), (CLIENT_ISN + 1, SERVER_ISN + 1));
    // The server's answer reaches the client in the cookie's space.
    let r = seg(Side::Server, SERVER_ISN + 1, CLIENT_ISN + 101, DATA, 1000);
    let (v, f) = e.send(&mut h, &r);
    assert_eq!(v, FWD_IN);
    let w = wire(&f);
    assert_eq!((w.seq, w.ack), (cookie.wrapping_add(1), CLIENT_ISN + 101));
    // Both close.
    let fin = seg(
        Side::Client,
        CLIENT_ISN + 101,
        cookie.wrapping_add(1001),
        TcpFlags::FIN | TcpFlags::ACK,
        0,
    );
    assert_eq!(e.send(&mut h, &fin).0, FWD_OUT);
    let fin = seg(
        Side::Server,
        SERVER_ISN + 1001,
        CLIENT_ISN + 102,
        TcpFlags::FIN | TcpFlags::ACK,
        0,
    );
    let (v, f) = e.send(&mut h, &fin);
    assert_eq!(v, FWD_IN);
    assert_eq!(wire(&f).seq, cookie.wrapping_add(1001));
    let last = seg(
        Side::Client,
        CLIENT_ISN + 102,
        cookie.wrapping_add(1002),
        TcpFlags::ACK,
        0,
    );
    assert_eq!(e.send(&mut h, &last).0, FWD_OUT);
    let entry = h.engine.find(&tuple(&e), h.now).unwrap();
    assert_eq!(entry.tcp_state(), Some(TcpState::TimeWait));
    let c = h.engine.counters().intercept;
    assert_eq!((c.syn_cookies, c.accepted, c.established), (1, 1, 1));
    assert_eq!(h.dropped(DropReason::TcpIntercepted), 3);
    // The class counts it established, not half-open.
    let slot = h
        .engine
        .classes()
        .iter()
        .find(|(_, s)| s.name == "p/all")
        .unwrap()
        .0;
    assert_eq!(h.engine.classes().get(slot).embryonic, 1, "the filler only");
}

#[test]
fn an_ack_that_is_no_valid_cookie_opens_nothing() {
    let mut h = capped();
    let e = ends(41_001);
    let cookie = cookie_for(&mut h, &e).seq;
    let try_ack = |h: &mut Harness, seq: u32, ack: u32| {
        e.send(h, &seg(Side::Client, seq, ack, TcpFlags::ACK, 0)).0
    };
    // Another acknowledgement, another ISN, another client port.
    assert_eq!(
        try_ack(&mut h, CLIENT_ISN + 1, cookie.wrapping_add(2)),
        Verdict::Drop(DropReason::TcpNotSyn)
    );
    assert_eq!(
        try_ack(&mut h, CLIENT_ISN + 2, cookie.wrapping_add(1)),
        Verdict::Drop(DropReason::TcpNotSyn)
    );
    assert_eq!(
        ends(41_002).send(&mut h, &cookie_ack(cookie)).0,
        Verdict::Drop(DropReason::TcpNotSyn)
    );
    // Too late: the cookie's slot and the next have passed.
    h.advance(Duration::from_secs(200));
    assert_eq!(
        try_ack(&mut h, CLIENT_ISN + 1, cookie.wrapping_add(1)),
        Verdict::Drop(DropReason::TcpNotSyn)
    );
    assert!(sent(&mut h).is_empty());
    assert_eq!(h.engine.table().len(), 1, "the filler only");
    assert_eq!(h.engine.counters().intercept.accepted, 0);
}

#[test]
fn without_a_half_open_limit_an_ack_is_never_taken_for_a_cookie() {
    let mut h = limited("conn-max 10");
    let e = ends(41_003);
    let (v, _) = e.send(&mut h, &seg(Side::Client, 9, 123, TcpFlags::ACK, 0));
    assert_eq!(v, Verdict::Drop(DropReason::TcpNotSyn));
}

#[test]
fn client_data_before_the_server_answers_is_dropped_and_the_syn_sent_again() {
    let mut h = capped();
    let e = ends(41_004);
    let cookie = to_pending(&mut h, &e);
    let (v, _) = e.send(&mut h, &first_data(cookie, 50));
    assert_eq!(v, Verdict::Drop(DropReason::InterceptUnexpected));
    let out = sent(&mut h);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, e.server.iface);
    assert_eq!(wire(&out[0].1).flags, TcpFlags::SYN);
    assert_eq!(wire(&out[0].1).seq, CLIENT_ISN);
    // The rest of the client's first flight sends no more SYNs; its
    // retransmission of the first segment does.
    for (seq, resent) in [
        (CLIENT_ISN + 51, 0),
        (CLIENT_ISN + 101, 0),
        (CLIENT_ISN + 1, 1),
    ] {
        let d = Seg {
            seq,
            ..first_data(cookie, 50)
        };
        assert_eq!(
            e.send(&mut h, &d).0,
            Verdict::Drop(DropReason::InterceptUnexpected)
        );
        assert_eq!(sent(&mut h).len(), resent, "segment at {seq}");
    }
    // A bare SYN from the server is no answer to the firewall's.
    let (v, _) = e.send(&mut h, &seg(Side::Server, SERVER_ISN, 0, TcpFlags::SYN, 0));
    assert_eq!(v, Verdict::Drop(DropReason::InterceptUnexpected));
    let c = h.engine.counters().intercept;
    assert_eq!((c.syn_resent, c.unexpected), (2, 5));
}

#[test]
fn a_server_refusal_reaches_the_client_at_the_sequence_number_it_expects() {
    let mut h = capped();
    let e = ends(41_005);
    let cookie = to_pending(&mut h, &e);
    // A RST that does not answer the SYN is refused.
    let bad = Seg {
        ack: CLIENT_ISN + 7,
        ..refusal()
    };
    assert_ne!(e.send(&mut h, &bad).0, FWD_IN);
    let (v, f) = e.send(&mut h, &refusal());
    assert_eq!(v, FWD_IN);
    let w = wire(&f);
    assert_eq!(w.seq, cookie.wrapping_add(1));
    assert_eq!(w.flags & TcpFlags::RST, TcpFlags::RST);
    let entry = h.engine.find(&tuple(&e), h.now).unwrap();
    assert_eq!(entry.tcp_state(), Some(TcpState::Close));
}

#[test]
fn a_retransmitted_syn_ack_is_acknowledged_again_and_never_reaches_the_client() {
    let mut h = capped();
    let e = ends(41_006);
    open_through_cookie(&mut h, &e);
    let (v, _) = e.send(&mut h, &syn_ack(SERVER_ISN, 0));
    assert_eq!(v, Verdict::Drop(DropReason::TcpIntercepted));
    let out = sent(&mut h);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (wire(&out[0].1).seq, wire(&out[0].1).ack),
        (CLIENT_ISN + 1, SERVER_ISN + 1)
    );
    // Another SYN-ACK (another ISN) is not the server's answer.
    assert_eq!(
        e.send(&mut h, &syn_ack(17, 0)).0,
        Verdict::Drop(DropReason::InterceptUnexpected)
    );
}

#[test]
fn the_client_resetting_an_unanswered_connection_resets_the_server_too() {
    let mut h = limited("per-client-embryonic-max 1");
    // The client's own first connection fills its place.
    let e0 = ends(41_007);
    assert_eq!(
        e0.send(&mut h, &seg(Side::Client, 1, 0, TcpFlags::SYN, 0))
            .0,
        FWD_OUT
    );
    let e = ends(41_008);
    to_pending(&mut h, &e);
    let rst = seg(Side::Client, CLIENT_ISN + 1, 0, TcpFlags::RST, 0);
    assert_eq!(e.send(&mut h, &rst).0, FWD_OUT);
    let entry = h.engine.find(&tuple(&e), h.now).unwrap();
    assert_eq!(entry.tcp_state(), Some(TcpState::Close));
    // Another client is not held to this one's place.
    let other = Ends {
        client: Host {
            ip: "198.18.0.12".parse().unwrap(),
            ..e.client
        },
        server: e.server,
    };
    assert_eq!(
        other
            .send(&mut h, &seg(Side::Client, 1, 0, TcpFlags::SYN, 0))
            .0,
        FWD_OUT
    );
}

#[test]
fn a_syn_inside_an_authentication_header_replaces_the_oldest_instead() {
    // A cookie cannot be signed: the oldest half-open connection makes room.
    let mut h = capped();
    assert_eq!(h.engine.table().len(), 1);
    let e = ends(41_009);
    let (f, i) = e.frame(&seg(Side::Client, CLIENT_ISN, 0, TcpFlags::SYN, 0));
    let f = super::ah::with_ah(&f);
    let (v, _) = pass(&mut h, f, i);
    assert_eq!(v, FWD_OUT);
    assert_eq!(h.engine.table().len(), 1);
    assert_eq!(
        h.engine.counters().conns_removed[RemoveReason::EmbryonicLimit as usize],
        1
    );
    assert!(sent(&mut h).is_empty());
}
