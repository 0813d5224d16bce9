//! Shunning (docs/asa-behaviour.md §2.12): every packet from a shunned
//! source is dropped before anything else judges it, established
//! connections' and fragments included, on the interface or VLAN the
//! shun names; packets to it still pass; counts per shun and per
//! interface; the connection a shun names is removed.

use std::net::IpAddr;
use std::sync::Arc;

use super::spread::{behind_destination_options, by_ports_share};
use super::*;
use crate::shun::{Shun, ShunConn, ShunScope, ShunTable};
use crate::trace::{XorShift, fragment_frame, v6_pair, vlan_tagged};

const SHUNNED: Verdict = Verdict::Drop(DropReason::Shunned);

fn shun(source: IpAddr, scope: ShunScope) -> Shun {
    Shun {
        source,
        conn: None,
        scope,
    }
}

fn install(h: &mut Harness, list: Vec<Shun>) {
    h.engine.set_shuns(Arc::new(ShunTable::new(list)));
}

#[test]
fn an_established_connection_from_a_shunned_source_passes_nothing_more() {
    let mut h = Harness::new();
    let mut m = model(40_500);
    let [syn, sa, ack] = m.handshake();
    for seg in [&syn, &sa, &ack] {
        assert!(matches!(h.tcp(&m, seg), Verdict::Forward { .. }));
    }
    install(&mut h, vec![shun(m.client.ip, ShunScope::Any)]);
    // The server's segments to it pass: a shun is of the source only.
    let d = m.data(Side::Server, 100);
    assert_eq!(h.tcp(&m, &d), FWD_IN, "to the shunned client");
    let d = m.data(Side::Client, 100);
    assert_eq!(h.tcp(&m, &d), SHUNNED, "the client's data");
    // Still in the table (the ASA keeps it; it ends by its timeout).
    assert_eq!(h.engine.table().len(), 1);
    assert_eq!(h.dropped(DropReason::Shunned), 1);
    assert_eq!(h.engine.shun_hits(), [1]);
    assert_eq!(h.engine.shun_iface_drops(), [1]);
    // Its UDP and a fragment of a datagram too.
    let (c, s) = v4_pair(5353, 53);
    assert_eq!(h.frame(udp_frame(&c, &s, b"q"), c.iface), SHUNNED);
    let big = udp_frame(&c, &s, &[7u8; 64]);
    for f in fragment_frame(&big, 32, 9) {
        assert_eq!(h.frame(f, c.iface), SHUNNED, "each fragment");
    }
    assert_eq!(h.engine.shun_hits(), [5]);
    let queued: u64 = h.engine.fragment_stats().iter().map(|f| f.queued).sum();
    assert_eq!(queued, 0, "nothing kept to reassemble");
}

#[test]
fn a_shun_applies_only_on_its_interface_or_vlan() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(5000, 53);
    // The client's address, seen on the outside (as a spoofed or looped
    // packet would be): a shun on the inside only does not cover it.
    install(
        &mut h,
        vec![
            shun(c.ip, ShunScope::Interface(IfaceId(1))),
            shun(s.ip, ShunScope::Vlan(10)),
        ],
    );
    assert_eq!(h.frame(udp_frame(&c, &s, b"a"), c.iface), FWD_OUT, "inside");
    let mut outside = c;
    outside.iface = IfaceId(1);
    assert_eq!(h.frame(udp_frame(&outside, &s, b"a"), IfaceId(1)), SHUNNED);
    // The server's shun holds on VLAN 10 only.
    let reply = udp_frame(&s, &c, b"r");
    assert_eq!(h.frame(vlan_tagged(reply.clone(), 0, 10), s.iface), SHUNNED);
    assert!(matches!(
        h.frame(vlan_tagged(reply.clone(), 0, 20), s.iface),
        Verdict::Drop(DropReason::AclDeny) | Verdict::Forward { .. }
    ));
    assert_eq!(
        h.frame(reply, s.iface),
        FWD_IN,
        "untagged: the flow's reply"
    );
    assert_eq!(h.engine.shun_hits(), [1, 1]);
    assert_eq!(h.engine.shun_iface_drops(), [0, 2]);
}

#[test]
fn ipv6_sources_are_shunned_and_a_mapped_address_is_another() {
    let mut h = Harness::new();
    let (c, s) = v6_pair(6000, 53);
    install(&mut h, vec![shun(c.ip, ShunScope::Any)]);
    assert_eq!(h.frame(udp_frame(&c, &s, b"q"), c.iface), SHUNNED);
    // A shun of the IPv4-mapped form does not cover the IPv4 address.
    let (c4, s4) = v4_pair(1, 2);
    install(
        &mut h,
        vec![shun("::ffff:198.18.0.10".parse().unwrap(), ShunScope::Any)],
    );
    assert_eq!(h.frame(udp_frame(&c4, &s4, b"q"), c4.iface), FWD_OUT);
}

#[test]
fn counts_survive_a_new_list_and_clear_shun_statistics_zeroes_them() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(7000, 53);
    install(&mut h, vec![shun(c.ip, ShunScope::Any)]);
    for _ in 0..3 {
        assert_eq!(h.frame(udp_frame(&c, &s, b"q"), c.iface), SHUNNED);
    }
    // Another shun added before it: its count moves with it.
    install(
        &mut h,
        vec![shun(s.ip, ShunScope::Any), shun(c.ip, ShunScope::Any)],
    );
    assert_eq!(h.engine.shun_hits(), [0, 3]);
    h.engine.clear_shun_stats();
    assert_eq!(h.engine.shun_hits(), [0, 0]);
    assert!(h.engine.shun_iface_drops().iter().all(|n| *n == 0));
    // The drop counter (show asp drop) is not the shun statistics.
    assert_eq!(h.dropped(DropReason::Shunned), 3);
    // An empty list passes everything again.
    install(&mut h, vec![]);
    assert_eq!(h.frame(udp_frame(&c, &s, b"q"), c.iface), FWD_OUT);
}

#[test]
fn the_named_connection_is_removed_either_way_round_and_only_it() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(8000, 53);
    let (c2, _) = v4_pair(8001, 53);
    for from in [&c, &c2] {
        assert_eq!(h.frame(udp_frame(from, &s, b"q"), from.iface), FWD_OUT);
    }
    assert_eq!(h.engine.table().len(), 2);
    let named = |source: &crate::trace::Host, dest: &crate::trace::Host, proto| Shun {
        source: source.ip,
        conn: Some(ShunConn {
            dest: dest.ip,
            sport: source.port,
            dport: dest.port,
            proto,
        }),
        scope: ShunScope::Any,
    };
    // Another protocol names nothing; without a connection nothing either.
    assert_eq!(h.engine.clear_shunned(&named(&c, &s, 6)), 0);
    assert_eq!(h.engine.clear_shunned(&shun(c.ip, ShunScope::Any)), 0);
    // Named from the server's side: the same connection.
    assert_eq!(h.engine.clear_shunned(&named(&s, &c, 17)), 1);
    assert_eq!(h.engine.table().len(), 1);
    assert_eq!(h.engine.clear_shunned(&named(&c2, &s, 0)), 1);
    assert_eq!(h.engine.table().len(), 0);
}

/// Random lists and frames: a frame is dropped as shunned exactly when a
/// shun of its source covers its interface and VLAN.
#[test]
fn a_frame_is_shunned_iff_a_shun_covers_it() {
    let mut rng = XorShift(0x5eed_5a17);
    let addrs: Vec<IpAddr> = (1..=6)
        .map(|i| IpAddr::from([198, 18, 0, i]))
        .chain((1..=2).map(|i| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, i])))
        .collect();
    for round in 0..200 {
        let mut h = Harness::new();
        let scopes = [
            ShunScope::Any,
            ShunScope::Interface(IfaceId(0)),
            ShunScope::Interface(IfaceId(1)),
            ShunScope::Vlan(0),
            ShunScope::Vlan(5),
        ];
        let list: Vec<Shun> = (0..rng.next_u64() % 6)
            .map(|_| {
                let a = addrs[(rng.next_u64() % addrs.len() as u64) as usize];
                shun(a, scopes[(rng.next_u64() % scopes.len() as u64) as usize])
            })
            .collect();
        install(&mut h, list.clone());
        for _ in 0..20 {
            let src = addrs[(rng.next_u64() % addrs.len() as u64) as usize];
            let iface = IfaceId((rng.next_u64() % 2) as u8);
            let vlan = [0u16, 5, 9][(rng.next_u64() % 3) as usize];
            let (mut c, mut s) = if src.is_ipv4() {
                v4_pair(9000, 53)
            } else {
                v6_pair(9000, 53)
            };
            c.ip = src;
            c.iface = iface;
            s.iface = IfaceId(1 - iface.0);
            let mut f = udp_frame(&c, &s, b"q");
            if vlan != 0 {
                f = vlan_tagged(f, 0, vlan);
            }
            let covered = list.iter().any(|sh| {
                sh.source == src
                    && match sh.scope {
                        ShunScope::Any => true,
                        ShunScope::Interface(i) => i == iface,
                        ShunScope::Vlan(v) => v == vlan,
                    }
            });
            let v = h.frame(f, iface);
            assert_eq!(
                v == SHUNNED,
                covered,
                "round {round}: {list:?} {src} {iface:?} {vlan}: {v:?}"
            );
        }
    }
}

/// A frame handed to the worker that owns its flow meets that worker's
/// shun list: a shun that reached it while the frame was queued covers it.
#[test]
fn a_frame_handed_over_before_the_shun_is_dropped_by_a_worker_that_has_it() {
    let mut a = Harness::with(|cfg| cfg.workers = Some(by_ports_share(0)));
    let mut b = Harness::with(|cfg| cfg.workers = Some(by_ports_share(1)));
    let (c, s) = v6_pair(40_000, 5_000);
    let query = behind_destination_options(&udp_frame(&c, &s, b"q"));
    assert_eq!(a.frame(query, c.iface), Verdict::Hold);
    let chain = match a.engine.poll_effect(a.now) {
        Some(Effect::HandOff { chain, .. }) => chain,
        other => panic!("{other:?}"),
    };
    // The shun reaches worker b while the frame is in its queue.
    b.engine.set_shuns(Arc::new(ShunTable::new(vec![Shun {
        source: c.ip,
        conn: None,
        scope: ShunScope::Any,
    }])));
    b.engine.take_handoff(chain, b.now);
    let out = b.engine.poll_effect(b.now);
    assert!(
        !matches!(out, Some(Effect::Release { .. })),
        "a frame from the shunned source left worker b: {out:?}"
    );
    assert_eq!(b.dropped(DropReason::Shunned), 1);
    assert_eq!(b.engine.shun_hits(), [1]);
}

/// The frame that opened a flow and waits for a peer to acknowledge it
/// (deferred, docs/sync.md §4) meets a shun added meanwhile, as a held
/// frame does: it does not leave, and is counted as `shunned`.
#[test]
fn a_deferred_frame_from_a_source_shunned_while_it_waited_does_not_leave() {
    let mut h = Harness::with(|cfg| {
        cfg.sync = Some(crate::engine::sync::SyncConfig {
            defer_deadline: Duration::from_millis(10),
            ..Default::default()
        })
    });
    h.engine.set_peers_up(1);
    h.engine.set_ready(true);
    let (c, s) = v4_pair(8100, 53);
    assert_eq!(h.frame(udp_frame(&c, &s, b"q"), c.iface), Verdict::Hold);
    install(&mut h, vec![shun(c.ip, ShunScope::Any)]);
    while h.engine.poll_effect(h.now).is_some() {}
    h.advance(Duration::from_millis(20));
    h.engine.expire_sync(h.now);
    let mut released = 0;
    while let Some(e) = h.engine.poll_effect(h.now) {
        released += usize::from(matches!(e, Effect::Release { .. }));
    }
    assert_eq!(released, 0, "not sent at its deadline");
    assert_eq!(h.dropped(DropReason::Shunned), 1);
    assert_eq!(h.engine.shun_hits(), [1]);
    let c = h.engine.sync_counters().unwrap();
    assert_eq!((c.deferred, c.deferred_timed_out), (1, 1));
}

/// A protocol without ports is named with ports 0: an inspected echo
/// flow is removed by a shun of its two addresses, protocol 1 (or any)
/// and ports 0, whatever its identifier, and not by one naming its
/// identifier as a port (docs/asa-behaviour.md §2.12).
#[test]
fn a_connection_without_ports_is_named_with_ports_0() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(0, 0);
    let echo = crate::trace::echo_frame(&c, &s, 9, 1, false);
    assert_eq!(h.frame(echo.clone(), c.iface), FWD_OUT);
    assert_eq!(h.engine.table().len(), 1);
    let named = |sport, dport, proto| Shun {
        source: c.ip,
        conn: Some(ShunConn {
            dest: s.ip,
            sport,
            dport,
            proto,
        }),
        scope: ShunScope::Any,
    };
    assert_eq!(h.engine.clear_shunned(&named(9, 0, 1)), 0, "no port 9");
    assert_eq!(h.engine.clear_shunned(&named(0, 0, 6)), 0, "not TCP");
    assert_eq!(h.engine.clear_shunned(&named(0, 0, 1)), 1);
    assert_eq!(h.frame(echo, c.iface), FWD_OUT);
    assert_eq!(h.engine.clear_shunned(&named(0, 0, 0)), 1, "any protocol");
    assert!(h.engine.table().is_empty());
}
