//! Dead connection detection under load (more idle connections than the
//! effects queue holds), with a slow end, a slow sweep, and on IPv6 over a
//! VLAN (docs/asa-behaviour.md §2.2). Each failed before the review fixes.

use std::collections::HashMap;

use super::*;
use crate::counters::RemoveReason;

/// Every connection idles out after 10 s and is probed as `dcd` says.
fn policy(dcd: &str) -> String {
    format!(
        "class-map all\n match any\npolicy-map global_policy\n class all\n  set connection timeout idle 0:00:10 {dcd}\nservice-policy global_policy global\n"
    )
}

/// `n` established connections idle out at one instant under `dcd`; each
/// end of each answers every probe it receives (a live stack). After
/// `ticks` seconds none was found dead, and every one was kept.
fn all_kept_under_load(dcd: &str, n: u16, ticks: usize) {
    let mut h = Harness::new();
    h.install(
        crate::policy::parse::parse_config(&policy(dcd))
            .unwrap()
            .config,
    );
    let mut models: HashMap<u16, TcpModel> = HashMap::new();
    for i in 0..n {
        let port = 20_000 + i;
        let mut m = model(port);
        let syn = m.syn();
        assert_eq!(h.tcp(&m, &syn), FWD_OUT);
        let off = h.engine.find(&m.tuple(), h.now).unwrap().seq_offset;
        m.set_shift(off);
        for seg in [m.syn_ack(), m.ack(Side::Client)] {
            assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
        }
        models.insert(port, m);
    }
    for _ in 0..ticks {
        h.advance(Duration::from_secs(1));
        h.engine.expire(h.now);
        let sent: Vec<_> = std::iter::from_fn(|| h.engine.poll_effect(h.now)).collect();
        h.advance(Duration::from_millis(1));
        for e in sent {
            let Effect::Transmit { egress, frame } = e else {
                continue;
            };
            let Ok(Parsed::Ip { tuple, .. }) = crate::packet::parse(&frame, PacketMeta::default())
            else {
                panic!()
            };
            // The probe goes toward the end on `egress`; that end answers.
            let (side, port) = if egress == IfaceId(0) {
                (Side::Client, tuple.dst.port)
            } else {
                (Side::Server, tuple.src.port)
            };
            let m = models.get_mut(&port).unwrap();
            let ans = m.ack(side);
            assert!(matches!(h.tcp(m, &ans), Verdict::Forward { .. }));
        }
    }
    let c = h.engine.counters();
    assert_eq!(
        c.conns_removed[RemoveReason::DeadConnection as usize],
        0,
        "live connections removed as dead ({} probes deferred)",
        c.dcd.probes_deferred
    );
    assert!(c.dcd.kept >= u64::from(n), "{} kept", c.dcd.kept);
}

/// One probe per end (`dcd 0:00:02 1`): 5,000 connections idle at once,
/// every end alive and answering every probe it receives.
#[test]
fn live_connections_survive_when_probes_overflow_the_effects_queue() {
    all_kept_under_load("dcd 0:00:02 1", 5_000, 30);
}

/// The ASA's default `dcd` (15 s, 5 probes) with 16,000 connections.
#[test]
fn live_connections_survive_default_dcd_under_load() {
    all_kept_under_load("dcd", 16_000, 200);
}

/// `dcd 0:00:01 5` (five probes a second apart) with 16,000 connections
/// found idle by one sweep.
#[test]
fn live_connections_survive_five_probes_under_load() {
    all_kept_under_load("dcd 0:00:01 5", 16_000, 30);
}

/// The client answers every probe `rtt` after it left; the server is
/// dead (never answers); `dcd 0:00:01 3`, the engine's timers run every
/// 100 ms as the shell runs them. Whether the connection is gone after
/// ten minutes, and DCD's counts.
fn a_dead_server_behind_a_client_at(rtt: Duration) -> (bool, crate::counters::DcdCounters) {
    let policy = &policy("dcd 0:00:01 3");
    let mut h = Harness::new();
    h.install(crate::policy::parse::parse_config(policy).unwrap().config);
    let mut m = model(46_000);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    m.set_shift(h.only_entry().seq_offset);
    for seg in [m.syn_ack(), m.ack(Side::Client)] {
        assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
    }
    let mut pending: Vec<Instant> = Vec::new();
    for _ in 0..(10 * 600) {
        h.advance(Duration::from_millis(100));
        // The client's answers that arrive now.
        let due = pending.iter().filter(|&&t| t <= h.now).count();
        pending.retain(|&t| t > h.now);
        for _ in 0..due {
            let ans = m.ack(Side::Client);
            assert!(matches!(h.tcp(&m, &ans), Verdict::Forward { .. }));
        }
        h.engine.expire(h.now);
        while let Some(e) = h.engine.poll_effect(h.now) {
            if let Effect::Transmit { egress, .. } = e
                && egress == IfaceId(0)
            {
                pending.push(h.now + rtt);
            }
        }
    }
    (h.engine.table().is_empty(), h.engine.counters().dcd)
}

/// A slow client (1.5 s away: a satellite or congested cellular path)
/// answers a probe after the next one left; its late answer must not
/// answer for the dead server (before the review fix it did, and the
/// connection was kept forever), as a fast client's does not.
#[test]
fn a_slow_clients_late_answer_does_not_answer_for_a_dead_server() {
    for rtt in [500, 1500] {
        let (gone, dcd) = a_dead_server_behind_a_client_at(Duration::from_millis(rtt));
        assert!(
            gone,
            "client {rtt} ms away: the dead server's connection kept: {dcd:?}"
        );
        assert_eq!(dcd.dead, 1, "{rtt} ms");
    }
}

/// A worker whose table takes longer than the grace to sweep (here one
/// slot a sweep: the ratio of a 32M-slot table at the default 16,384):
/// a live idle connection is never probed, and leaves as a timeout.
#[test]
fn a_slow_sweep_still_probes_before_the_grace_ends() {
    let policy = &policy("dcd 0:00:02 3");
    let mut h = Harness::with(|c| c.sweep_budget_slots = 1);
    h.install(crate::policy::parse::parse_config(policy).unwrap().config);
    crate::trace::fill_udp_flows(&mut h.engine, 3000, h.now);
    let mut m = model(47_000);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    m.set_shift(h.engine.find(&m.tuple(), h.now).unwrap().seq_offset);
    for seg in [m.syn_ack(), m.ack(Side::Client)] {
        assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
    }
    let mut probes = 0;
    for _ in 0..(10 * 400) {
        h.advance(Duration::from_millis(100));
        h.engine.expire(h.now);
        while let Some(e) = h.engine.poll_effect(h.now) {
            if matches!(e, Effect::Transmit { .. }) {
                probes += 1;
            }
        }
    }
    let c = h.engine.counters();
    assert!(probes > 0, "never probed; removed as {:?}", c.conns_removed);
}

/// IPv6 on VLAN 77 with randomization: the probes' addresses, VLAN and
/// sequence numbers; the answers pass.
#[test]
fn ipv6_vlan_probes() {
    let policy = &policy("dcd 0:00:02 3");
    let mut h = Harness::new();
    h.install(crate::policy::parse::parse_config(policy).unwrap().config);
    let (c, s) = crate::trace::v6_pair(48_000, 80);
    let mut m = TcpModel::new(c, s, [100, 900_000], [64_240, 65_160], [Some(7), Some(7)]);
    let send = |h: &mut Harness, m: &TcpModel, seg: &Seg| {
        h.frame(
            crate::trace::vlan_tagged(m.frame(seg), 0, 77),
            m.iface(seg.from),
        )
    };
    let syn = m.syn();
    assert!(matches!(send(&mut h, &m, &syn), Verdict::Forward { .. }));
    let off = h.only_entry().seq_offset;
    assert_ne!(off, 0);
    m.set_shift(off);
    for seg in [
        m.syn_ack(),
        m.ack(Side::Client),
        m.data(Side::Client, 10),
        m.data(Side::Server, 20),
        m.ack(Side::Client),
    ] {
        assert!(matches!(send(&mut h, &m, &seg), Verdict::Forward { .. }));
    }
    let cn = m.clone().ack(Side::Client).seq;
    let sn = m.clone().ack(Side::Server).seq;
    let mut seen = 0;
    for _ in 0..30 {
        h.advance(Duration::from_secs(1));
        h.engine.expire(h.now);
        let sent: Vec<_> = std::iter::from_fn(|| h.engine.poll_effect(h.now)).collect();
        for e in sent {
            let Effect::Transmit { egress, frame } = e else {
                continue;
            };
            let Ok(Parsed::Ip {
                tuple,
                transport: Transport::Tcp(t),
                ..
            }) = crate::packet::parse(&frame, PacketMeta::default())
            else {
                panic!()
            };
            assert_eq!(tuple.vlan, 77);
            if egress == IfaceId(0) {
                assert_eq!((t.seq.0, t.ack.0), (sn.wrapping_sub(1), cn));
                assert_eq!(&frame[0..6], &m.client.mac);
                assert_eq!(tuple.dst.port, 48_000);
                h.advance(Duration::from_millis(1));
                let a = m.ack(Side::Client);
                assert!(matches!(send(&mut h, &m, &a), Verdict::Forward { .. }));
            } else {
                assert_eq!(
                    (t.seq.0, t.ack.0),
                    (cn.wrapping_add(off).wrapping_sub(1), sn)
                );
                assert_eq!(&frame[0..6], &m.server.mac);
                h.advance(Duration::from_millis(1));
                let a = m.ack(Side::Server);
                assert!(matches!(send(&mut h, &m, &a), Verdict::Forward { .. }));
            }
            seen += 1;
        }
    }
    assert!(seen >= 4, "{seen}");
    assert_eq!(h.engine.counters().dcd.dead, 0);
    assert!(h.engine.counters().dcd.kept >= 2);
}
