//! VLANs: every connection belongs to the VLAN its frames carry
//! (docs/asa-behaviour.md §2.6). A bridge on a trunk carries address
//! spaces that may overlap; a connection of one VLAN must never pass a
//! packet of another.

use super::*;

use crate::trace::vlan_tagged;

fn tagged(frame: Vec<u8>, vlan: u16) -> Vec<u8> {
    vlan_tagged(frame, 0, vlan)
}

#[test]
fn a_connection_passes_only_the_packets_of_its_own_vlan() {
    let mut h = Harness::new();
    let mut m = model(40_100);
    let [syn, sa, ack] = m.handshake();
    assert_eq!(h.frame(tagged(m.frame(&syn), 10), m.client.iface), FWD_OUT);
    assert_eq!(h.frame(tagged(m.frame(&sa), 10), m.server.iface), FWD_IN);
    assert_eq!(h.frame(tagged(m.frame(&ack), 10), m.client.iface), FWD_OUT);
    assert_eq!({ h.only_entry().key.vlan }, 10);
    let d = m.data(Side::Client, 10);
    for other in [tagged(m.frame(&d), 20), m.frame(&d)] {
        assert_eq!(
            h.frame(other, m.client.iface),
            Verdict::Drop(DropReason::TcpNotSyn),
            "another VLAN, or none"
        );
    }
    assert_eq!(h.frame(tagged(m.frame(&d), 10), m.client.iface), FWD_OUT);
    let d = m.data(Side::Server, 1400);
    assert_eq!(h.frame(tagged(m.frame(&d), 10), m.server.iface), FWD_IN);
    assert_eq!(h.only_entry().packets, [3, 2]);
    assert_eq!(h.dropped(DropReason::TcpNotSyn), 2);
}

/// One tuple on two VLANs: two connections, each with its own sequence
/// space. Were the VLAN not in the key, the second SYN would meet the
/// first connection and the second conversation would never open.
#[test]
fn one_tuple_on_two_vlans_is_two_connections() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_101, 80);
    let isn = |i: u32| [100 + i * 0x7000_0000, 900_000 + i * 0x5000_0000];
    let mut m: Vec<TcpModel> = (0..2)
        .map(|i| TcpModel::new(c, s, isn(i), [64_240, 65_160], [Some(7), Some(7)]))
        .collect();
    let vlans = [10, 20];
    for (m, vlan) in m.iter_mut().zip(vlans) {
        for seg in m.handshake() {
            let v = h.frame(tagged(m.frame(&seg), vlan), m.iface(seg.from));
            assert!(matches!(v, Verdict::Forward { .. }), "{vlan}: {v:?}");
        }
    }
    assert_eq!(h.engine.table().len(), 2);
    // The second conversation's next segment, stray on the first VLAN,
    // lies past that connection's window. (Behind it, it would pass as a
    // stale retransmission does, changing nothing.)
    let d = m[1].data(Side::Server, 500);
    assert_eq!(
        h.frame(tagged(m[1].frame(&d), 10), s.iface),
        Verdict::Drop(DropReason::TcpSeqPastWindow)
    );
    assert_eq!(h.frame(tagged(m[1].frame(&d), 20), s.iface), FWD_IN);
    let d = m[0].data(Side::Server, 500);
    assert_eq!(h.frame(tagged(m[0].frame(&d), 10), s.iface), FWD_IN);
    for (_, e) in h.engine.table().iter() {
        assert_eq!(e.tcp_state(), Some(TcpState::Established));
        assert_eq!(e.packets, [2, 2], "VLAN {}", { e.key.vlan });
    }
}

/// IEEE 802.1Q: a priority-tagged frame (VLAN id 0) is untagged traffic
/// with a priority, so it belongs to the untagged connections.
#[test]
fn udp_replies_pass_on_their_request_vlan_only_and_priority_tags_are_untagged() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(5354, 53);
    assert_eq!(
        h.frame(tagged(udp_frame(&c, &s, b"query"), 10), c.iface),
        FWD_OUT
    );
    assert_eq!(
        h.frame(tagged(udp_frame(&s, &c, b"answer"), 11), s.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
    assert_eq!(
        h.frame(tagged(udp_frame(&s, &c, b"answer"), 10), s.iface),
        FWD_IN
    );
    let (c, s) = v4_pair(5355, 53);
    assert_eq!(h.frame(udp_frame(&c, &s, b"query"), c.iface), FWD_OUT);
    assert_eq!(
        h.frame(vlan_tagged(udp_frame(&s, &c, b"answer"), 5, 0), s.iface),
        FWD_IN
    );
    assert_eq!(h.engine.table().len(), 2);
}

#[test]
fn an_icmp_error_or_echo_reply_is_about_its_own_vlan() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(4445, 5556);
    let probe = udp_frame(&c, &s, b"probe");
    let unreachable = icmpv4_unreachable_frame(&s, &c, &probe);
    assert_eq!(h.frame(tagged(probe, 7), c.iface), FWD_OUT);
    assert_eq!(
        h.frame(tagged(unreachable.clone(), 8), s.iface),
        Verdict::Drop(DropReason::IcmpNoConnection)
    );
    assert_eq!(h.frame(tagged(unreachable, 7), s.iface), FWD_IN);

    let (c, s) = v4_pair(0, 0);
    assert_eq!(
        h.frame(tagged(echo_frame(&c, &s, 9, 1, false), 7), c.iface),
        FWD_OUT
    );
    assert_eq!(
        h.frame(tagged(echo_frame(&s, &c, 9, 1, true), 8), s.iface),
        Verdict::Drop(DropReason::IcmpNoConnection)
    );
    assert_eq!(
        h.frame(tagged(echo_frame(&s, &c, 9, 1, true), 7), s.iface),
        FWD_IN
    );
}

/// The RSTs of `timeout idle … reset` go out on the connection's VLAN:
/// untagged they would reach neither end, or another VLAN's host.
#[test]
fn idle_reset_rsts_carry_the_connections_vlan() {
    let mut h = Harness::new();
    let text = "class-map all\n match any\npolicy-map global_policy\n class all\n  set connection timeout idle 0:00:10 reset\n  set connection random-sequence-number disable\nservice-policy global_policy global\n";
    h.install(crate::policy::parse::parse_config(text).unwrap().config);
    let mut m = model(44_100);
    let [syn, sa, ack] = m.handshake();
    for seg in [syn, sa, ack] {
        let v = h.frame(tagged(m.frame(&seg), 77), m.iface(seg.from));
        assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
    }
    h.advance(Duration::from_secs(11));
    assert_eq!(h.engine.expire(h.now), 1);
    let effects: Vec<Effect> = std::iter::from_fn(|| h.engine.poll_effect(h.now)).collect();
    assert_eq!(effects.len(), 2);
    for e in effects {
        let Effect::Transmit { frame, .. } = e else {
            panic!("idle reset makes only transmits, got {e:?}")
        };
        assert_eq!(&frame[12..16], &[0x81, 0x00, 0x00, 77], "tagged");
        let Ok(crate::packet::Parsed::Ip {
            tuple,
            transport: crate::packet::Transport::Tcp(t),
            ..
        }) = crate::packet::parse(&frame, PacketMeta::default())
        else {
            panic!("RST frame does not parse")
        };
        assert_eq!(tuple.vlan, 77);
        assert!(t.flags.has(crate::packet::TcpFlags::RST));
    }
}

/// Per-client limits count a host within its VLAN: the same address on
/// two VLANs is two clients (two address spaces), each with its own
/// budget; on one VLAN the limit holds as it does untagged. At
/// `per-client-max` a new connection is refused; at
/// `per-client-embryonic-max` it replaces its own host's oldest half-open
/// connection, on its own VLAN (docs/asa-behaviour.md §2.2).
#[test]
fn per_client_limits_count_each_vlans_host_apart() {
    for embryonic_max in [false, true] {
        let mut h = Harness::new();
        let limit = if embryonic_max {
            "per-client-embryonic-max 2"
        } else {
            "per-client-max 2"
        };
        let text = format!(
            "class-map all\n match any\npolicy-map global_policy\n class all\n  set connection {limit}\n  set connection random-sequence-number disable\nservice-policy global_policy global\n"
        );
        h.install(crate::policy::parse::parse_config(&text).unwrap().config);
        let open = |h: &mut Harness, port: u16, vlan: u16| {
            let mut m = model(port);
            let syn = m.syn();
            h.frame(tagged(m.frame(&syn), vlan), m.client.iface)
        };
        let live = |h: &Harness, port: u16, vlan: u16| {
            let t = crate::flow::Tuple {
                vlan,
                ..model(port).tuple()
            };
            h.engine.find(&t, h.now).is_some()
        };
        for (port, vlan) in [(45_000, 10), (45_001, 10), (45_002, 20), (45_003, 20)] {
            assert_eq!(open(&mut h, port, vlan), FWD_OUT, "{port} on VLAN {vlan}");
        }
        for vlan in [10, 20] {
            let expect = if embryonic_max {
                Verdict::Drop(DropReason::TcpIntercepted)
            } else {
                Verdict::Drop(DropReason::PerClientConnLimit)
            };
            assert_eq!(
                open(&mut h, 45_010 + vlan, vlan),
                expect,
                "VLAN {vlan}'s host has its two"
            );
            assert!(!live(&h, 45_010 + vlan, vlan));
            // TCP Intercept's cookie goes back on the client's own VLAN.
            let out = super::intercept::sent(&mut h);
            assert_eq!(out.len(), usize::from(embryonic_max));
            for (egress, f) in out {
                assert_eq!(egress, IfaceId(0));
                assert_eq!(super::intercept::wire(&f).vlan, vlan);
            }
        }
        // Nothing was replaced.
        assert_eq!(
            [(45_000, 10), (45_001, 10), (45_002, 20), (45_003, 20)].map(|(p, v)| live(&h, p, v)),
            [true; 4]
        );
        assert_eq!(
            open(&mut h, 45_004, 0),
            FWD_OUT,
            "the untagged host is a third"
        );
        assert_eq!(h.engine.table().len(), 5);
    }
}

/// Stacked tags (Q-in-Q) are dropped and counted: keyed by the outer tag
/// alone, the customer VLANs inside one service VLAN would share
/// connections.
#[test]
fn stacked_vlan_tags_are_dropped() {
    let mut h = Harness::new();
    let mut m = model(45_100);
    let syn = m.syn();
    let qinq = tagged(tagged(m.frame(&syn), 20), 10);
    assert_eq!(
        h.frame(qinq, m.client.iface),
        Verdict::Drop(DropReason::VlanStacked)
    );
    assert_eq!(h.dropped(DropReason::VlanStacked), 1);
    assert!(h.engine.table().is_empty());
    assert_eq!(h.frame(tagged(m.frame(&syn), 10), m.client.iface), FWD_OUT);
}
