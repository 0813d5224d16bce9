//! Room for new connections (docs/asa-behaviour.md §2.2): class limits,
//! half-open limits past which TCP Intercept answers SYNs (its own tests
//! are in `intercept.rs`), a full
//! table that evicts dead and then unproven entries, and expired entries
//! that stop counting before a limit refuses.

use super::*;
use crate::conntrack::evict::Evictable;

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

// === half-open limits intercept, connection limits refuse ===

/// A harness whose one class, matching everything, sets `limits` (lines
/// of `set connection …`).
fn limited(limits: &str, tweak: impl FnOnce(&mut EngineConfig)) -> Harness {
    let mut h = Harness::with(tweak);
    let mut text = String::from("class-map all\n match any\npolicy-map p\n class all\n");
    for line in limits.lines() {
        text.push_str(&format!("  set connection {line}\n"));
    }
    text.push_str("  set connection random-sequence-number disable\nservice-policy p global\n");
    h.install(crate::policy::parse::parse_config(&text).unwrap().config);
    h
}

/// The connection of a client (spoofed or not) to `server`.
fn conn(client: Host, server: Host) -> TcpModel {
    TcpModel::new(client, server, [7, 0], [1000, 1000], [None, None])
}

/// A SYN from `client` to `server`.
fn syn_to(h: &mut Harness, client: Host, server: Host) -> Verdict {
    let mut m = conn(client, server);
    let syn = m.syn();
    h.tcp(&m, &syn)
}

/// Sources for a flood on interface `iface`: distinct addresses from `i`.
fn spoofed(i: u32, iface: u8) -> Host {
    let b = i.to_be_bytes();
    host([203, b[1], b[2], b[3]], 1024 + (i % 60_000) as u16, iface)
}

/// A server outside (the flood's target in the harness's policies).
fn server() -> Host {
    host([198, 18, 1, 10], 80, 1)
}

/// The slot of the class `limited` makes.
fn class_slot(h: &Harness) -> crate::engine::classes::SlotId {
    let (id, _) = h
        .engine
        .classes()
        .iter()
        .find(|(_, s)| s.name == "p/all")
        .expect("the class");
    id
}

/// The policy shipped as the example (`embryonic-conn-max 100000` for all
/// traffic) once let 100,000 spoofed SYNs per embryonic timeout (some
/// 3,300 a second) refuse every genuine connection: the cap was reached
/// and nothing made room. Now each SYN past the cap is answered with a
/// SYN cookie (TCP Intercept) and keeps nothing; a genuine client
/// connects mid-flood through its cookie.
#[test]
fn the_shipped_embryonic_cap_never_locks_a_genuine_client_out() {
    let mut h = Harness::new();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/examples/policy.cfg"
    ))
    .unwrap();
    h.install(crate::policy::parse::parse_config(&text).unwrap().config);
    let web = host([198, 18, 0, 10], 80, 0);
    let cap = 100_000u32;
    for i in 0..cap + 1000 {
        let expect = if i < cap {
            FWD_IN
        } else {
            Verdict::Drop(DropReason::TcpIntercepted)
        };
        assert_eq!(
            syn_to(&mut h, spoofed(i, 1), web),
            expect,
            "spoofed SYN {i}"
        );
        assert_eq!(super::intercept::sent(&mut h).len(), usize::from(i >= cap));
        h.advance(Duration::from_micros(100));
    }
    assert_eq!(h.engine.table().len(), cap as usize);
    assert_eq!(removed(&h, RemoveReason::EmbryonicLimit), 0);
    let genuine = super::intercept::Ends {
        client: host([192, 0, 2, 77], 55_555, 1),
        server: web,
    };
    super::intercept::open_through_cookie(&mut h, &genuine);
    assert_eq!(h.engine.table().len(), cap as usize + 1);
    assert_eq!(h.dropped(DropReason::EmbryonicConnLimit), 0);
    assert_eq!(h.engine.counters().intercept.syn_cookies, 1001);
}

/// `embryonic-conn-max`: a flood of spoofed SYNs past the cap is answered
/// with SYN cookies; established connections of the class are never
/// touched, a genuine client completes its handshake mid-flood through
/// its cookie, and the class never holds more half-open connections than
/// its cap.
#[test]
fn a_syn_flood_past_the_class_cap_is_answered_with_cookies() {
    let mut h = limited("embryonic-conn-max 100", |_| {});
    let mut live = Vec::new();
    for port in 0..10u16 {
        let mut m = model(30_000 + port);
        establish(&mut h, &mut m);
        live.push(m);
    }
    let slot = class_slot(&h);
    let genuine = super::intercept::Ends {
        client: model(20_001).client,
        server: model(20_001).server,
    };
    for i in 0..1000u32 {
        let expect = if i < 100 {
            FWD_OUT
        } else {
            Verdict::Drop(DropReason::TcpIntercepted)
        };
        assert_eq!(syn_to(&mut h, spoofed(i, 0), server()), expect, "SYN {i}");
        super::intercept::sent(&mut h);
        h.advance(Duration::from_millis(1));
        if i == 500 {
            super::intercept::open_through_cookie(&mut h, &genuine);
        }
        assert!(h.engine.classes().get(slot).embryonic <= 100);
    }
    assert_eq!(removed(&h, RemoveReason::EmbryonicLimit), 0);
    assert_eq!(h.dropped(DropReason::EmbryonicConnLimit), 0);
    assert_eq!(h.dropped(DropReason::TcpIntercepted), 900 + 3);
    for m in &live {
        let e = h.engine.find(&m.tuple(), h.now).expect("established");
        assert_eq!(e.tcp_state(), Some(TcpState::Established));
    }
    // The first 100 SYNs hold the class's half-open places; the rest
    // left nothing behind.
    for i in [0, 99] {
        assert!(
            alive(&h, &conn(spoofed(i, 0), server())),
            "{i} holds a place"
        );
    }
    for i in [100, 999] {
        assert!(
            !alive(&h, &conn(spoofed(i, 0), server())),
            "{i} intercepted"
        );
    }
    assert_eq!(h.engine.table().len(), 111);
}

/// `per-client-embryonic-max`: a client at its limit is intercepted, and
/// no other client is; its half-open connections stay.
#[test]
fn a_client_at_its_half_open_limit_is_intercepted_alone() {
    let mut h = limited("per-client-embryonic-max 3", |_| {});
    let other: Vec<TcpModel> = (0..2u16)
        .map(|p| {
            let mut m = model(31_000 + p);
            m.client.ip = "198.18.0.11".parse().unwrap();
            let syn = m.syn();
            assert_eq!(h.tcp(&m, &syn), FWD_OUT);
            m
        })
        .collect();
    let mut mine = Vec::new();
    for p in 0..10u16 {
        let mut m = model(32_000 + p);
        let syn = m.syn();
        let expect = if p < 3 {
            FWD_OUT
        } else {
            Verdict::Drop(DropReason::TcpIntercepted)
        };
        assert_eq!(h.tcp(&m, &syn), expect, "SYN {p}");
        mine.push(m);
        h.advance(Duration::from_millis(1));
    }
    assert_eq!(removed(&h, RemoveReason::EmbryonicLimit), 0);
    let kept: Vec<bool> = mine.iter().map(|m| alive(&h, m)).collect();
    assert_eq!(kept, [[true; 3].as_slice(), &[false; 7]].concat());
    assert!(other.iter().all(|m| alive(&h, m)));
    // A connection past its handshake is no longer half-open: the client
    // has room for one more, and only one.
    let (sa, ack) = (mine[0].syn_ack(), mine[0].ack(Side::Client));
    assert_eq!(h.tcp(&mine[0], &sa), FWD_IN);
    assert_eq!(h.tcp(&mine[0], &ack), FWD_OUT);
    for (p, expect) in [
        (33_001, FWD_OUT),
        (33_002, Verdict::Drop(DropReason::TcpIntercepted)),
    ] {
        let mut more = model(p);
        let syn = more.syn();
        assert_eq!(h.tcp(&more, &syn), expect);
    }
    assert_eq!(h.engine.counters().intercept.syn_cookies, 8);
}

/// `conn-max` refuses a connection past it (`conn-limit`), a SYN past
/// the half-open cap too (no cookie); below conn-max, at
/// `embryonic-conn-max` a SYN is answered with a cookie and the half-open
/// connections stay.
#[test]
fn conn_max_refuses_and_embryonic_conn_max_intercepts() {
    let mut h = limited("conn-max 3\nembryonic-conn-max 2", |_| {});
    let [mut a, mut b, mut c, mut d, mut e, mut f] = [0, 1, 2, 3, 4, 5].map(|i| model(42_000 + i));
    for m in [&mut a, &mut b] {
        let syn = m.syn();
        assert_eq!(h.tcp(m, &syn), FWD_OUT);
        h.advance(Duration::from_millis(1));
    }
    let syn = c.syn();
    assert_eq!(h.tcp(&c, &syn), Verdict::Drop(DropReason::TcpIntercepted));
    assert!(alive(&h, &a) && !alive(&h, &c));
    let cookie = super::intercept::wire(&super::intercept::sent(&mut h)[0].1).seq;
    // Completing a handshake frees a half-open place.
    let (x, y) = (b.syn_ack(), b.ack(Side::Client));
    assert_eq!(h.tcp(&b, &x), FWD_IN);
    assert_eq!(h.tcp(&b, &y), FWD_OUT);
    let syn = d.syn();
    assert_eq!(h.tcp(&d, &syn), FWD_OUT);
    // Three connections (conn-max), two half-open (the cap): a cookie
    // would free nothing, so e's SYN meets conn-max at once (its client
    // fails fast instead of proving itself for a connection it cannot
    // have).
    super::intercept::sent(&mut h);
    let syn = e.syn();
    assert_eq!(h.tcp(&e, &syn), Verdict::Drop(DropReason::ConnLimit));
    assert!(super::intercept::sent(&mut h).is_empty(), "no cookie");
    // c's cookie, given below conn-max, proves c now: conn-max refuses it.
    let proof = super::intercept::seg(
        Side::Client,
        c.next_seq(Side::Client),
        cookie.wrapping_add(1),
        TcpFlags::ACK,
        0,
    );
    assert_eq!(
        h.frame(c.frame(&proof), c.client.iface),
        Verdict::Drop(DropReason::ConnLimit)
    );
    let (x, y) = (d.syn_ack(), d.ack(Side::Client));
    assert_eq!(h.tcp(&d, &x), FWD_IN);
    assert_eq!(h.tcp(&d, &y), FWD_OUT);
    // b and d established, a half-open: at conn-max, below the cap.
    let syn = f.syn();
    assert_eq!(h.tcp(&f, &syn), Verdict::Drop(DropReason::ConnLimit));
    assert_eq!(h.dropped(DropReason::ConnLimit), 3);
    assert_eq!(h.dropped(DropReason::EmbryonicConnLimit), 0);
    assert_eq!(removed(&h, RemoveReason::EmbryonicLimit), 0);
    let slot = class_slot(&h);
    assert_eq!(h.engine.classes().get(slot).limit_drops, 3);
    assert_eq!(h.engine.classes().get(slot).conns, 3);
}

/// The half-open queues skip stale items (connections since established
/// or gone) and stay within a small multiple of the half-open
/// connections they hold, however many went through them.
#[test]
fn half_open_queues_stay_bounded_under_churn() {
    // Limits above the half-open connections made: past them SYNs are
    // intercepted and queue nothing.
    let mut h = limited(
        "embryonic-conn-max 5000\nper-client-embryonic-max 2000",
        |_| {},
    );
    let slot = class_slot(&h);
    for i in 0..5_000u16 {
        let mut m = model(1024 + i);
        if i % 4 == 3 {
            let syn = m.syn();
            assert_eq!(h.tcp(&m, &syn), FWD_OUT);
        } else {
            establish(&mut h, &mut m);
        }
    }
    let class = h.engine.classes().get(slot);
    assert_eq!(class.embryonic, 1250);
    assert!(
        class.half_open_queued() <= 2 * 1250 + 64,
        "{}",
        class.half_open_queued()
    );
    let table = h.engine.table();
    assert!(table.queued(Evictable::HalfOpen) <= 2 * 1250 + 1024);
}

// === expired entries stop counting before a limit refuses ===

/// An expired entry counted against the class limits until the sweep
/// reached its slot (here one slot per sweep, as in a large table): a
/// client at its per-client limit stayed refused after its flows expired.
#[test]
fn expired_entries_stop_counting_before_a_limit_refuses() {
    let mut h = limited("per-client-max 1", |c| c.sweep_budget_slots = 1);
    let (c, s) = v4_pair(1000, 53);
    // Entries ahead of the client's in slot order.
    for p in 0..4u8 {
        let o = host([198, 18, 0, 200 + p], 999, 0);
        assert_eq!(h.frame(udp_frame(&o, &s, b"x"), IfaceId(0)), FWD_OUT);
    }
    assert_eq!(h.frame(udp_frame(&c, &s, b"x"), IfaceId(0)), FWD_OUT);
    let c2 = Host { port: 1001, ..c };
    assert_eq!(
        h.frame(udp_frame(&c2, &s, b"x"), IfaceId(0)),
        Verdict::Drop(DropReason::PerClientConnLimit)
    );
    h.advance(Duration::from_secs(121));
    h.engine.expire(h.now);
    assert_eq!(h.frame(udp_frame(&c2, &s, b"x"), IfaceId(0)), FWD_OUT);
    assert_eq!(removed(&h, RemoveReason::Timeout), 5);
}

/// `conn-max` with connections reset (CLOSE, kept 10 s) and a SYN past
/// their time.
#[test]
fn expired_dead_entries_stop_counting_against_conn_max() {
    let mut h = limited("conn-max 2", |c| c.sweep_budget_slots = 1);
    for port in 0..2 {
        syn_then_rst(&mut h, &mut model(40_000 + port));
    }
    let mut m = model(40_002);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), Verdict::Drop(DropReason::ConnLimit));
    h.advance(Duration::from_secs(11));
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    assert_eq!(removed(&h, RemoveReason::Timeout), 2);
}

/// Half-open connections past the embryonic timeout leave as timed out,
/// not as replaced: the class's count was already theirs to give back.
#[test]
fn expired_half_open_entries_leave_by_timeout_at_the_cap() {
    let mut h = limited("embryonic-conn-max 2", |c| c.sweep_budget_slots = 1);
    for port in 0..2 {
        let mut m = model(40_000 + port);
        let syn = m.syn();
        assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    }
    h.advance(Duration::from_secs(31));
    let mut m = model(40_002);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    assert_eq!(removed(&h, RemoveReason::Timeout), 2);
    assert_eq!(removed(&h, RemoveReason::EmbryonicLimit), 0);
}

/// A full table whose oldest entries have expired: they leave as timed
/// out, and nothing is evicted.
#[test]
fn expired_entries_leave_a_full_table_before_anything_is_evicted() {
    let mut h = Harness::with(|c| {
        c.max_conns = 3;
        c.sweep_budget_slots = 1;
    });
    let (_, s) = v4_pair(0, 53);
    for p in 0..2u8 {
        let o = host([198, 18, 0, 200 + p], 999, 0);
        assert_eq!(h.frame(udp_frame(&o, &s, b"x"), IfaceId(0)), FWD_OUT);
    }
    h.advance(Duration::from_secs(100));
    let mut young = model(40_000);
    let syn = young.syn();
    assert_eq!(h.tcp(&young, &syn), FWD_OUT);
    h.advance(Duration::from_secs(21));
    let mut m = model(40_001);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    assert_eq!(removed(&h, RemoveReason::Timeout), 2);
    assert_eq!(removed(&h, RemoveReason::Evicted), 0);
    assert!(alive(&h, &young));
}

/// A full table evicts the unproven entry seen least recently, not the
/// first queued: a one-way flow that goes on sending (syslog, NetFlow)
/// outlives a spoofed packet that came once, after it. Before, the flow
/// queued first went first, however busy it was.
#[test]
fn a_full_table_evicts_the_entry_seen_least_recently() {
    let mut h = Harness::with(|c| c.max_conns = 3);
    let collector = host([198, 18, 1, 53], 514, 1);
    let senders: Vec<Host> = (0..3u8)
        .map(|i| host([198, 18, 0, 20 + i], 5140, 0))
        .collect();
    for s in &senders {
        assert_eq!(
            h.frame(udp_frame(s, &collector, b"log"), IfaceId(0)),
            FWD_OUT
        );
        h.advance(Duration::from_millis(10));
    }
    // The first keeps sending; the other two were heard from once.
    h.advance(Duration::from_secs(1));
    assert_eq!(
        h.frame(udp_frame(&senders[0], &collector, b"log"), IfaceId(0)),
        FWD_OUT
    );
    let mut m = model(42_100);
    establish(&mut h, &mut m);
    let held = |h: &Harness, s: &Host| h.engine.find(&udp_tuple(s, &collector), h.now).is_some();
    assert!(held(&h, &senders[0]), "the busy one-way flow was evicted");
    assert!(!held(&h, &senders[1]), "the least recently seen stays");
    assert!(held(&h, &senders[2]));
}
