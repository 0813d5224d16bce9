//! TCP Intercept's edges, from its first review: data on the server's
//! SYN-ACK, the fast path, a refused tuple reopening, relayed RSTs and the
//! tcp-map, `exceed-mss`, broadcast destinations, AH replacements, and
//! what was checked sound (idle RSTs, ICMP quotes, cookie binding). Each
//! comment says what went wrong before the fix.

use super::intercept::{
    CLIENT_ISN, DATA, Ends, SERVER_ISN, accept_cookie, capped, configured, cookie_ack, cookie_for,
    ends, fill_cap, first_data, limited, open_through_cookie, pass, refusal, seg, sent, syn_ack,
    to_pending, tuple, wire,
};
use super::*;

/// [`capped`], with the class's tcp-map `M` holding `map_line`.
fn capped_with_map(map_line: &str) -> Harness {
    let mut h = configured(
        "embryonic-conn-max 1",
        "  set connection advanced-options M\n",
        &format!("tcp-map M\n {map_line}\n"),
    );
    fill_cap(&mut h);
    h
}

/// Rewrite the TCP checksum of untagged IPv4 `frame` after an edit.
fn fix_checksum(frame: &mut [u8]) {
    let sum = super::mss::fresh_checksum(frame);
    frame[14 + 20 + 16..14 + 20 + 18].copy_from_slice(&sum.to_be_bytes());
}

// ---------------------------------------------------------------------
// F1: a server SYN-ACK carrying data is taken by the intercept path without
// the normalizer (`synack-data drop`, the default) and its data is
// acknowledged to the server in the client's place, though the client
// never receives it.
// ---------------------------------------------------------------------
#[test]
fn synack_data_is_dropped_and_never_acknowledged_for_the_client() {
    let mut h = capped();
    let e = ends(42_100);
    let cookie = to_pending(&mut h, &e);
    let (v, _) = e.send(&mut h, &syn_ack(SERVER_ISN, 100));
    let out = sent(&mut h);
    // What the firewall told the server the client has received.
    let acked = out.first().map(|(_, f)| wire(f).ack);
    // The general path drops a SYN-ACK with data by default (`synack-data
    // drop`, `judge`); at the very least the firewall must not acknowledge
    // bytes the client never got.
    assert!(
        v == Verdict::Drop(DropReason::TcpSynAckData) || acked == Some(SERVER_ISN + 1),
        "verdict {v:?}, firewall ACK acknowledges {acked:?} (SERVER_ISN+1 = {}); \
         the 100 bytes are acknowledged and lost",
        SERVER_ISN + 1
    );
    // (The server's next segment then reaches the client at cookie+101
    // while the client waits for cookie+1: a hole nobody retransmits.)
    let _ = cookie;
}

// ---------------------------------------------------------------------
// F3: the established fast path shifts by `seq_offset` as randomization
// does (the responder's acks), not by `seq_shift`: an intercepted
// connection never takes it; with a small shift it feeds the tracker
// wrong acknowledgements and drops the client's in-window data.
// ---------------------------------------------------------------------
#[test]
fn intercepted_connections_take_the_fast_path() {
    let mut h = limited("embryonic-conn-max 1");
    // A normal connection's data takes the fast path.
    let mut m = TcpModel::new(
        ends(42_300).client,
        ends(42_300).server,
        [10, 20],
        [29_200, 29_200],
        [None, None],
    );
    for s in m.handshake() {
        assert!(matches!(h.tcp(&m, &s), Verdict::Forward { .. }));
    }
    let before = h.engine.fast_path_frames();
    for _ in 0..4 {
        let d = m.data(Side::Client, 100);
        assert_eq!(h.tcp(&m, &d), FWD_OUT);
        let d = m.data(Side::Server, 100);
        assert_eq!(h.tcp(&m, &d), FWD_IN);
    }
    assert_eq!(h.engine.fast_path_frames() - before, 8);
    fill_cap(&mut h);
    let e = ends(42_301);
    let cookie = open_through_cookie(&mut h, &e);
    let before = h.engine.fast_path_frames();
    let (mut c, mut s) = (CLIENT_ISN + 1, SERVER_ISN + 1);
    for _ in 0..4 {
        let d = seg(
            Side::Client,
            c,
            cookie.wrapping_add(s - SERVER_ISN),
            DATA,
            100,
        );
        assert_eq!(e.send(&mut h, &d).0, FWD_OUT);
        c += 100;
        let d = seg(Side::Server, s, c, DATA, 100);
        assert_eq!(e.send(&mut h, &d).0, FWD_IN);
        s += 100;
    }
    assert_eq!(
        h.engine.fast_path_frames() - before,
        8,
        "no segment of the intercepted connection took the fast path"
    );
}

#[test]
fn a_small_shift_is_judged_alike_on_the_fast_path() {
    let run = |fast: bool| -> Verdict {
        let mut h = limited("embryonic-conn-max 1");
        h.engine.set_fast_path(fast);
        fill_cap(&mut h);
        let e = ends(42_302);
        let cookie = to_pending(&mut h, &e);
        // A server whose ISN lies 1000 below the cookie: shift 1000.
        let sisn = cookie.wrapping_sub(1000);
        assert_eq!(
            e.send(&mut h, &syn_ack(sisn, 0)).0,
            Verdict::Drop(DropReason::TcpIntercepted)
        );
        sent(&mut h);
        // Client 100 bytes; the server acks them with its data.
        assert_eq!(e.send(&mut h, &first_data(cookie, 100)).0, FWD_OUT);
        let r = seg(
            Side::Server,
            sisn.wrapping_add(1),
            CLIENT_ISN + 101,
            DATA,
            1000,
        );
        assert_eq!(e.send(&mut h, &r).0, FWD_IN);
        // The server's window (29200) from its ack at CLIENT_ISN+101 ends at
        // CLIENT_ISN+29301: a segment starting at +29250 is in window.
        let d = seg(
            Side::Client,
            CLIENT_ISN + 29_250,
            cookie.wrapping_add(1001),
            TcpFlags::ACK,
            50,
        );
        e.send(&mut h, &d).0
    };
    let slow = run(false);
    let fast = run(true);
    assert_eq!(slow, FWD_OUT, "general path alone");
    assert_eq!(fast, slow, "the fast path changed the verdict");
}

// ---------------------------------------------------------------------
// F4: an intercepted connection refused by the server (or reset by the
// client) before the server answered stays "pending" in CLOSE, and every
// segment of the tuple, a new SYN included, is dropped as
// intercept-unexpected until the entry expires.
// ---------------------------------------------------------------------
#[test]
fn a_refused_intercepted_tuple_reopens() {
    let mut h = capped();
    let e = ends(42_400);
    to_pending(&mut h, &e);
    assert_eq!(e.send(&mut h, &refusal()).0, FWD_IN);
    h.advance(Duration::from_secs(1));
    let (v, _) = e.send(&mut h, &seg(Side::Client, 900_000, 0, TcpFlags::SYN, 0));
    assert_ne!(
        v,
        Verdict::Drop(DropReason::InterceptUnexpected),
        "a new SYN on the refused tuple is dropped as intercept-unexpected"
    );
}

// ---------------------------------------------------------------------
// F5: RSTs relayed by the intercept path skip the class's tcp-map
// (`judge`) and the normalizer's rewrites (`normalize_and_shift`).
// ---------------------------------------------------------------------
#[test]
fn a_relayed_server_rst_meets_the_tcp_map() {
    let mut h = capped_with_map("reserved-bits drop");
    let e = ends(42_500);
    to_pending(&mut h, &e);
    let (mut f, i) = e.frame(&refusal());
    // Set a reserved bit (byte 12 of the TCP header, low nibble), fix the sum.
    f[14 + 20 + 12] |= 0x01;
    fix_checksum(&mut f);
    assert_eq!(
        pass(&mut h, f, i).0,
        Verdict::Drop(DropReason::TcpReservedSet),
        "the map's reserved-bits drop"
    );
}

// ---------------------------------------------------------------------
// F6: with `exceed-mss drop`, the client's segments sized to the MSS the
// firewall's cookie SYN-ACK announced are dropped against the server's
// smaller MSS, which the client never learns.
// ---------------------------------------------------------------------
#[test]
fn exceed_mss_drop_judges_the_client_by_the_offered_mss() {
    let mut h = capped_with_map("exceed-mss drop");
    let e = ends(42_600);
    let synack = cookie_for(&mut h, &e);
    let offered = synack.mss.unwrap();
    let cookie = synack.seq;
    accept_cookie(&mut h, &e, cookie);
    // The server's SYN-ACK announces 1220 (the frame builder's MSS option
    // is 1460; rewrite it).
    let (mut f, i) = e.frame(&syn_ack(SERVER_ISN, 0));
    let at = crate::trace::tcp_option_at(&f, 2).expect("MSS option");
    f[at + 2..at + 4].copy_from_slice(&1220u16.to_be_bytes());
    fix_checksum(&mut f);
    assert_eq!(
        pass(&mut h, f, i).0,
        Verdict::Drop(DropReason::TcpIntercepted)
    );
    sent(&mut h);
    // A full-sized segment by what the client was told.
    let d = Seg {
        payload_len: u32::from(offered),
        ..cookie_ack(cookie)
    };
    assert_eq!(
        e.send(&mut h, &d).0,
        FWD_OUT,
        "a segment of the MSS the firewall offered ({offered}) is dropped"
    );
}

// ---------------------------------------------------------------------
// Checked and found sound.
// ---------------------------------------------------------------------

/// Idle RSTs of an intercepted connection reach each end at the sequence
/// number it expects (the client's in the cookie's space).
#[test]
fn idle_resets_follow_the_shift() {
    let mut h = limited("embryonic-conn-max 1\ntimeout idle 0:0:10 reset");
    fill_cap(&mut h);
    let e = ends(42_700);
    let cookie = open_through_cookie(&mut h, &e);
    let d = seg(Side::Server, SERVER_ISN + 1, CLIENT_ISN + 1, DATA, 500);
    assert_eq!(e.send(&mut h, &d).0, FWD_IN);
    h.advance(Duration::from_secs(60));
    for _ in 0..50 {
        h.engine.expire(h.now);
    }
    assert!(h.engine.find(&tuple(&e), h.now).is_none());
    let out = sent(&mut h);
    let to_client: Vec<_> = out.iter().filter(|(i, _)| *i == e.client.iface).collect();
    let to_server: Vec<_> = out.iter().filter(|(i, _)| *i == e.server.iface).collect();
    assert_eq!(to_client.len(), 1, "{out:?}");
    assert_eq!(to_server.len(), 1);
    let c = wire(&to_client[0].1);
    assert_eq!(c.seq, cookie.wrapping_add(501));
    assert_eq!(c.ack, CLIENT_ISN + 1);
    let s = wire(&to_server[0].1);
    assert_eq!((s.seq, s.ack), (CLIENT_ISN + 1, SERVER_ISN + 501));
}

/// A cookie taken from one VLAN, one client port or one direction opens
/// nothing on another.
#[test]
fn a_cookie_is_bound_to_its_flow_and_direction() {
    let mut h = capped();
    let e = ends(42_800);
    let cookie = cookie_for(&mut h, &e).seq;
    // The same numbers from the server's side (the reverse direction).
    let rev = Seg {
        from: Side::Server,
        ..cookie_ack(cookie)
    };
    assert_eq!(e.send(&mut h, &rev).0, Verdict::Drop(DropReason::TcpNotSyn));
    // Tagged with a VLAN.
    let (mut f, i) = e.frame(&cookie_ack(cookie));
    crate::packet::push_vlan_tag(&mut f, 0, 10);
    let v = pass(&mut h, f, i).0;
    assert_ne!(v, Verdict::Drop(DropReason::TcpIntercepted));
    assert_eq!(h.engine.counters().intercept.accepted, 0);
}

/// Control for F4: a connection the server refused the ordinary way
/// reopens at the client's next SYN.
#[test]
fn a_refused_ordinary_tuple_reopens() {
    let mut h = limited("embryonic-conn-max 5");
    let e = ends(42_402);
    assert_eq!(
        e.send(&mut h, &seg(Side::Client, CLIENT_ISN, 0, TcpFlags::SYN, 0))
            .0,
        FWD_OUT
    );
    assert_eq!(e.send(&mut h, &refusal()).0, FWD_IN);
    h.advance(Duration::from_secs(1));
    assert_eq!(
        e.send(&mut h, &seg(Side::Client, 900_000, 0, TcpFlags::SYN, 0))
            .0,
        FWD_OUT
    );
}

/// An ICMP error about the server's segment, from the client's side,
/// passes the quoted-sequence check and reaches the server with the
/// server's own sequence number (unshifted out of the cookie's space).
#[test]
fn icmp_error_quotes_follow_the_shift() {
    let mut h = configured("embryonic-conn-max 1", "  inspect icmp error\n", "");
    fill_cap(&mut h);
    let e = ends(42_900);
    let cookie = open_through_cookie(&mut h, &e);
    let d = seg(Side::Server, SERVER_ISN + 1, CLIENT_ISN + 1, DATA, 500);
    let (v, f) = e.send(&mut h, &d);
    assert_eq!(v, FWD_IN);
    assert_eq!(wire(&f).seq, cookie.wrapping_add(1));
    let router = Host {
        ip: "198.18.0.1".parse().unwrap(),
        ..e.client
    };
    let err = crate::trace::icmpv4_unreachable_frame(&router, &e.server, &f);
    let (v, out) = pass(&mut h, err, e.client.iface);
    assert_eq!(v, FWD_OUT);
    let at = 14 + 20 + 8 + 20 + 4;
    let q = u32::from_be_bytes(out[at..at + 4].try_into().unwrap());
    assert_eq!(q, SERVER_ISN + 1);
    // A quote outside the server's window is refused.
    let mut bad = f.clone();
    bad[14 + 20 + 4..14 + 20 + 8]
        .copy_from_slice(&(cookie.wrapping_add(0x4000_0000)).to_be_bytes());
    let err = crate::trace::icmpv4_unreachable_frame(&router, &e.server, &bad);
    assert_eq!(
        pass(&mut h, err, e.client.iface).0,
        Verdict::Drop(DropReason::IcmpErrorBadSeq)
    );
}

/// F9: a SYN to a multicast or broadcast destination past the cap is
/// answered by the firewall with a SYN-ACK *from* that address (a source
/// the firewall's own parser refuses as `invalid-source`).
#[test]
fn a_syn_to_a_broadcast_address_is_never_answered() {
    let mut h = capped();
    let e = Ends {
        client: ends(42_950).client,
        server: Host {
            ip: "255.255.255.255".parse().unwrap(),
            ..ends(42_950).server
        },
    };
    let (v, _) = e.send(&mut h, &seg(Side::Client, CLIENT_ISN, 0, TcpFlags::SYN, 0));
    let out = sent(&mut h);
    let srcs: Vec<_> = out
        .iter()
        .map(|(_, f)| {
            let p = etherparse::SlicedPacket::from_ethernet(f).unwrap();
            match p.net {
                Some(etherparse::NetSlice::Ipv4(ip)) => ip.header().source_addr(),
                _ => panic!(),
            }
        })
        .collect();
    assert!(
        srcs.is_empty(),
        "verdict {v:?}; the firewall sent SYN-ACKs from {srcs:?}"
    );
}

/// F12: SYNs inside an authentication header, which replace the oldest
/// half-open connection, evict a proven client's connection that TCP
/// Intercept opened (still waiting for the server) as readily as a
/// spoofed SYN's.
#[test]
fn ah_syns_never_evict_a_proven_clients_connection() {
    let mut h = capped();
    let e = ends(42_970);
    to_pending(&mut h, &e);
    h.advance(Duration::from_millis(1));
    for port in [42_971u16, 42_972] {
        let a = ends(port);
        let (f, i) = a.frame(&seg(Side::Client, 1, 0, TcpFlags::SYN, 0));
        let f = super::ah::with_ah(&f);
        assert_eq!(pass(&mut h, f, i).0, FWD_OUT);
        h.advance(Duration::from_millis(1));
    }
    assert!(
        h.engine.find(&tuple(&e), h.now).is_some(),
        "the proven client's connection was evicted by unproven AH SYNs"
    );
}
