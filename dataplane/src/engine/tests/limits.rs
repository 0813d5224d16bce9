//! Room for new connections (docs/asa-behaviour.md §2.2): a full table
//! evicts dead and then unproven entries.

use super::*;

/// A host on interface `iface` (0 inside, 1 outside).
fn host(ip: [u8; 4], port: u16, iface: u8) -> Host {
    Host {
        mac: [2, 0, 0, 0, 0, iface + 1],
        ip: std::net::IpAddr::from(ip),
        port,
        iface: IfaceId(iface),
    }
}

/// The tuple of a UDP flow from `c` to `s`.
fn udp_tuple(c: &Host, s: &Host) -> crate::flow::Tuple {
    let ep = |h: &Host| crate::flow::Endpoint {
        addr: h.ip.into(),
        port: h.port,
    };
    crate::flow::Tuple {
        src: ep(c),
        dst: ep(s),
        proto: crate::flow::proto::UDP,
        vlan: 0,
    }
}

fn removed(h: &Harness, reason: RemoveReason) -> u64 {
    h.engine.counters().conns_removed[reason as usize]
}

fn alive(h: &Harness, m: &TcpModel) -> bool {
    h.engine.find(&m.tuple(), h.now).is_some()
}

/// Open a connection through its handshake.
fn establish(h: &mut Harness, m: &mut TcpModel) {
    for seg in m.handshake() {
        assert!(matches!(h.tcp(m, &seg), Verdict::Forward { .. }), "{seg:?}");
    }
}

/// A SYN and the initiator's own RST at its next sequence number: an entry
/// in CLOSE that no answer was needed to make.
fn syn_then_rst(h: &mut Harness, m: &mut TcpModel) {
    let syn = m.syn();
    assert_eq!(h.tcp(m, &syn), FWD_OUT);
    let rst = Seg {
        from: Side::Client,
        seq: m.next_seq(Side::Client),
        ack: 0,
        flags: TcpFlags::RST,
        window: 0,
        wscale: None,
        sack: Vec::new(),
        payload_len: 0,
    };
    assert_eq!(h.tcp(m, &rst), FWD_OUT);
}

// === a full table ===

#[test]
fn a_syn_flood_into_a_full_table_evicts_the_oldest_half_open_entries_only() {
    let mut h = Harness::with(|c| c.max_conns = 100);
    // Ten established connections.
    let mut live = Vec::new();
    for port in 0..10u16 {
        let mut m = model(30_000 + port);
        establish(&mut h, &mut m);
        live.push(m);
    }
    // A spoofed SYN flood to one permitted service: 200 SYNs into the 90
    // free slots. Each SYN past the first 90 makes room by evicting the
    // oldest half-open entry; none is refused, none established is touched.
    for port in 0..200u16 {
        let mut m = model(10_000 + port);
        let syn = m.syn();
        assert_eq!(h.tcp(&m, &syn), FWD_OUT, "SYN {port}");
    }
    assert_eq!(h.engine.table().len(), 100);
    assert_eq!(h.dropped(DropReason::ConntrackFull), 0);
    assert_eq!(removed(&h, RemoveReason::Evicted), 110);
    for m in &live {
        let e = h
            .engine
            .find(&m.tuple(), h.now)
            .expect("established survives");
        assert_eq!(e.tcp_state(), Some(TcpState::Established));
    }
    // A genuine client opening now completes its handshake mid-flood.
    let mut m = model(20_001);
    establish(&mut h, &mut m);
    assert_eq!(h.engine.table().len(), 100);

    // Embryonic timeout (ASA default 30 s): the half-open entries go, the
    // eleven established ones stay.
    h.advance(Duration::from_secs(31));
    while h.engine.expire(h.now) > 0 {}
    assert_eq!(h.engine.table().len(), 11);
    assert_eq!(removed(&h, RemoveReason::Timeout), 89);
    // A table full of established connections has nothing to evict: a new
    // connection is refused, and nothing live is sacrificed for it.
    for port in 0..89u16 {
        let mut m = model(50_000 + port);
        establish(&mut h, &mut m);
    }
    let mut m = model(60_000);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), Verdict::Drop(DropReason::ConntrackFull));
    assert_eq!(h.engine.table().len(), 100);
}

/// Spoofed UDP to a permitted service makes unreplied entries that live
/// two minutes: a flood once filled the table and every new connection,
/// TCP included, was refused (`conn-table-full`).
#[test]
fn spoofed_udp_cannot_fill_the_table_against_new_connections() {
    let mut h = Harness::with(|c| c.max_conns = 100);
    for i in 0..100u32 {
        let b = i.to_be_bytes();
        let f = udp_frame(
            &host([10, 1, b[2], b[3]], 1024 + i as u16, 0),
            &host([198, 18, 1, 53], 53, 1),
            b"q",
        );
        assert_eq!(h.frame(f, IfaceId(0)), FWD_OUT);
    }
    let mut m = model(42_000);
    establish(&mut h, &mut m);
    assert_eq!(removed(&h, RemoveReason::Evicted), 1);
    assert_eq!(h.engine.table().len(), 100);
}

/// A SYN and the initiator's own RST, both forgeable blind, leave an entry
/// in CLOSE for 10 s, neither half-open nor evicted: pairs of them once
/// filled the table past the half-open eviction.
#[test]
fn syn_and_rst_pairs_cannot_fill_the_table_against_new_connections() {
    let mut h = Harness::with(|c| c.max_conns = 100);
    for port in 0..100u16 {
        syn_then_rst(&mut h, &mut model(10_000 + port));
    }
    let mut m = model(50_000);
    establish(&mut h, &mut m);
    assert_eq!(removed(&h, RemoveReason::Evicted), 1);
}

/// A full table evicts dead entries (TIME_WAIT, CLOSE) first, then
/// unproven ones (half-open TCP, UDP and echo without a reply), each the
/// one seen least recently; established, half-closed and answered entries
/// never, so a table of only those refuses.
#[test]
fn a_full_table_evicts_dead_then_unproven_entries_and_nothing_else() {
    let mut h = Harness::with(|c| c.max_conns = 8);
    let mut cfg = crate::policy::compile::randomization_off();
    crate::policy::compile::inspect_icmp(&mut cfg);
    h.install(cfg);
    let step = Duration::from_millis(10);
    let mut established = model(1);
    establish(&mut h, &mut established);
    h.advance(step);
    let (c, s) = v4_pair(2, 53);
    assert_eq!(h.frame(udp_frame(&c, &s, b"q"), c.iface), FWD_OUT);
    assert_eq!(h.frame(udp_frame(&s, &c, b"a"), s.iface), FWD_IN);
    let answered = udp_tuple(&c, &s);
    h.advance(step);
    let mut half_open = model(3);
    let syn = half_open.syn();
    assert_eq!(h.tcp(&half_open, &syn), FWD_OUT);
    h.advance(step);
    let (c, s) = v4_pair(4, 53);
    assert_eq!(h.frame(udp_frame(&c, &s, b"q"), c.iface), FWD_OUT);
    let unreplied_udp = udp_tuple(&c, &s);
    h.advance(step);
    let mut time_wait = model(5);
    establish(&mut h, &mut time_wait);
    for seg in [
        time_wait.fin(Side::Client),
        time_wait.fin(Side::Server),
        time_wait.ack(Side::Client),
    ] {
        assert!(matches!(h.tcp(&time_wait, &seg), Verdict::Forward { .. }));
    }
    h.advance(step);
    let mut closed = model(6);
    syn_then_rst(&mut h, &mut closed);
    h.advance(step);
    let (c, s) = v4_pair(0, 0);
    assert_eq!(h.frame(echo_frame(&c, &s, 7, 1, false), c.iface), FWD_OUT);
    h.advance(step);
    let mut half_closed = model(8);
    establish(&mut h, &mut half_closed);
    let fin = half_closed.fin(Side::Client);
    assert_eq!(h.tcp(&half_closed, &fin), FWD_OUT);
    assert_eq!(h.engine.table().len(), 8);
    // The kinds as counted: one of each.
    let kinds = h.engine.table().kind_counts();
    assert_eq!(kinds[TcpState::TimeWait as usize], 1);
    assert_eq!(kinds[TcpState::Close as usize], 1);

    // New connections, each established at once (so none is evictable).
    let mut port = 100;
    let mut open = |h: &mut Harness| {
        port += 1;
        let mut m = model(port);
        let syn = m.syn();
        let v = h.tcp(&m, &syn);
        if v == FWD_OUT {
            for seg in [m.syn_ack(), m.ack(Side::Client)] {
                assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
            }
        }
        h.advance(step);
        v
    };
    let present = |h: &Harness| {
        [
            alive(h, &time_wait),
            alive(h, &closed),
            alive(h, &half_open),
            h.engine.find(&unreplied_udp, h.now).is_some(),
            h.engine.table().kind_counts()[crate::conntrack::table::KIND_ECHO_UNREPLIED] == 1,
        ]
    };
    assert_eq!(present(&h), [true; 5]);
    // Dead first (TIME_WAIT was seen before CLOSE), then unproven, least
    // recently seen first: half-open, UDP, echo.
    for gone in 1..=5 {
        assert_eq!(open(&mut h), FWD_OUT);
        let mut expect = [true; 5];
        expect[..gone].fill(false);
        assert_eq!(present(&h), expect, "after {gone}");
    }
    assert_eq!(removed(&h, RemoveReason::Evicted), 5);
    assert_eq!(open(&mut h), Verdict::Drop(DropReason::ConntrackFull));
    for m in [&established, &half_closed] {
        assert!(alive(&h, m));
    }
    assert!(
        h.engine.find(&answered, h.now).is_some(),
        "the answered flow"
    );
}
