//! A SYN on the tuple of a connection in LAST-ACK (both FINs sent): it
//! reopens the tuple only when the old connection has nothing left to
//! retransmit, and only when the rules let it open the new one.

use super::*;

/// A SYN from the client on the model's tuple, `ahead` past its next
/// sequence number (a blind guess when it comes from someone else).
fn syn_ahead(m: &TcpModel, ahead: u32) -> crate::trace::Seg {
    crate::trace::Seg {
        from: Side::Client,
        seq: m.next_seq(Side::Client).wrapping_add(ahead),
        ack: 0,
        flags: TcpFlags::SYN,
        window: 64_240,
        wscale: Some(7),
        sack: Vec::new(),
        payload_len: 0,
    }
}

/// The client closed first; the server's last data and its FIN are on the
/// way, unacknowledged. A spoofed SYN beyond the client's FIN must not end
/// the connection under the data still to be retransmitted (before, half
/// of all blind SYNs did; Linux ignores such a SYN).
#[test]
fn a_blind_syn_does_not_end_a_connection_with_data_unacknowledged() {
    let mut h = Harness::new();
    let mut m = model(47_000);
    for seg in m.handshake() {
        assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
    }
    let id = h.only_entry().id;
    for seg in [m.fin(Side::Client), m.ack(Side::Server)] {
        assert!(
            matches!(h.tcp(&m, &seg), Verdict::Forward { .. }),
            "{seg:?}"
        );
    }
    let tail = m.data(Side::Server, 800);
    assert_eq!(h.tcp(&m, &tail), FWD_IN);
    let fin = m.fin(Side::Server);
    assert_eq!(h.tcp(&m, &fin), FWD_IN);
    assert_eq!(h.only_entry().tcp_state(), Some(TcpState::LastAck));
    let blind = syn_ahead(&m, 0x1234_5678);
    h.tcp(&m, &blind);
    let e = h.only_entry();
    assert_eq!((e.id, e.tcp_state()), (id, Some(TcpState::LastAck)), "kept");
    // The server's retransmissions and the client's last ACK still pass.
    assert_eq!(h.tcp(&m, &tail), FWD_IN);
    assert_eq!(h.tcp(&m, &fin), FWD_IN);
    let last = m.ack(Side::Client);
    assert_eq!(h.tcp(&m, &last), FWD_OUT);
    assert_eq!(h.only_entry().tcp_state(), Some(TcpState::TimeWait));
}

/// With all the server's data acknowledged, the client's side of the old
/// connection is over: its SYN beyond its FIN opens a new connection at
/// once (the last ACK may have crossed another node) — unless the rules
/// deny that SYN, which then leaves the old connection as it was.
#[test]
fn a_syn_reopens_a_finished_connection_only_if_the_rules_permit_it() {
    let closing = |h: &mut Harness, port: u16| {
        let mut m = model(port);
        for seg in m.handshake() {
            assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
        }
        for seg in [
            m.data(Side::Server, 800),
            m.ack(Side::Client),
            m.fin(Side::Client),
            m.fin(Side::Server),
        ] {
            assert!(
                matches!(h.tcp(&m, &seg), Verdict::Forward { .. }),
                "{seg:?}"
            );
        }
        m
    };
    let mut h = Harness::new();
    let m = closing(&mut h, 47_001);
    let id = h.only_entry().id;
    assert_eq!(h.only_entry().tcp_state(), Some(TcpState::LastAck));
    let syn = syn_ahead(&m, 100_000);
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    let e = h.only_entry();
    assert_ne!(e.id, id, "a new connection");
    assert_eq!(e.tcp_state(), Some(TcpState::SynSent));

    // Opened and closed under a policy that permits it; the port is
    // denied from then on: the SYN that would reopen is refused, and the
    // old connection stays.
    let mut h = Harness::new();
    let m = closing(&mut h, 47_002);
    let id = h.only_entry().id;
    let mut deny = crate::policy::parse::parse_config(&format!(
        "access-list IN extended deny tcp any any eq {}\naccess-list IN extended permit ip any any\naccess-group IN in interface inside\n",
        m.server.port
    ))
    .unwrap()
    .config;
    crate::policy::compile::disable_randomization(&mut deny);
    h.install(deny);
    let syn = syn_ahead(&m, 100_000);
    assert_eq!(h.tcp(&m, &syn), Verdict::Drop(DropReason::AclDeny));
    let e = h.only_entry();
    assert_eq!((e.id, e.tcp_state()), (id, Some(TcpState::LastAck)));
}

/// The firewall lost an established connection (cleared here) that the
/// server still holds, and the client reuses the tuple. Its SYN draws the
/// server's challenge ACK (RFC 5961 §4), which passes untouched; the
/// client answers it with the reset RFC 9293 §3.10.7.3 prescribes,
/// <SEQ=SEG.ACK><CTL=RST>, and that reset must pass: it is what frees the
/// server's stale state so the client's next SYN can open. With sequence
/// randomization on, the numbers meet in the server's space too.
#[test]
fn the_reset_that_answers_a_challenge_ack_in_syn_sent_passes() {
    for randomized in [false, true] {
        let mut h = if randomized {
            Harness {
                engine: Engine::new(EngineConfig::inside_outside(NodeId(7), [1, 2, 3, 4])).unwrap(),
                now: Instant::from_secs(1000),
            }
        } else {
            Harness::new()
        };
        let mut old = model(47_900);
        let syn = old.syn();
        assert_eq!(h.tcp(&old, &syn), FWD_OUT);
        old.set_shift(h.only_entry().seq_offset);
        for seg in [
            old.syn_ack(),
            old.ack(Side::Client),
            old.data(Side::Client, 100),
        ] {
            assert!(matches!(h.tcp(&old, &seg), Verdict::Forward { .. }));
        }
        assert_eq!(h.engine.clear_conns(|_| true), 1);
        // What the server still expects and sends (in its own space).
        let (server_rcv_nxt, server_snd_nxt) =
            (old.next_seq(Side::Client), old.next_seq(Side::Server));
        let (c, s) = v4_pair(47_900, 80);
        let mut new = TcpModel::new(c, s, [3_000_000_000, 0], [64_240, 65_160], [Some(7), None]);
        let syn = new.syn();
        assert_eq!(h.tcp(&new, &syn), FWD_OUT);
        let challenge = seg(Side::Server, server_snd_nxt, server_rcv_nxt, TcpFlags::ACK);
        let mut f = new.frame(&challenge);
        let v = h
            .engine
            .process(&mut f, PacketMeta::default(), s.iface, h.now);
        assert_eq!(v, FWD_IN, "randomized {randomized}: the challenge ACK");
        let seen_ack = delivered(&f).ack.0;
        // What the entry now holds is a state peers accept.
        let check = |h: &Harness| match h.only_entry().proto {
            ProtoState::Tcp(t) => t.check(),
            other => panic!("{other:?}"),
        };
        assert_eq!(check(&h), Ok(()), "after the challenge ACK");
        // The client quotes the ack it received.
        let rst = seg(Side::Client, seen_ack, 0, TcpFlags::RST);
        let mut f = new.frame(&rst);
        let v = h
            .engine
            .process(&mut f, PacketMeta::default(), c.iface, h.now);
        assert_eq!(v, FWD_OUT, "randomized {randomized}: <SEQ=SEG.ACK><RST>");
        assert_eq!(check(&h), Ok(()), "after the reset");
        assert_eq!(delivered(&f).seq.0, server_rcv_nxt, "in the server's space");
        // Any other sequence number is still refused.
        let mut h2 = Harness::new();
        let mut other = model(47_901);
        let syn = other.syn();
        assert_eq!(h2.tcp(&other, &syn), FWD_OUT);
        let blind = seg(Side::Client, 12_345, 0, TcpFlags::RST);
        assert_eq!(
            h2.tcp(&other, &blind),
            Verdict::Drop(DropReason::TcpRstOutOfWindow)
        );
    }
}

/// One spoofed bare ACK from the server's side while the handshake is
/// under way: the client's stack answers it with <SEQ=SEG.ACK><CTL=RST>
/// and stays in SYN-SENT (RFC 9293 §3.10.7.3). That reset passes, and the
/// server's genuine SYN-ACK and the rest of the connection still do: the
/// attempt stays open. It used to close on the reset, so one spoofed
/// packet per SYN retransmission kept the connection from ever opening.
#[test]
fn a_spoofed_ack_and_the_clients_answer_to_it_do_not_end_the_handshake() {
    let mut h = Harness::new();
    let mut m = model(47_902);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    let spoofed = seg(Side::Server, 777, 0x1234_5678, TcpFlags::ACK);
    assert_eq!(h.tcp(&m, &spoofed), FWD_IN);
    let answer = seg(Side::Client, 0x1234_5678, 0, TcpFlags::RST);
    assert_eq!(h.tcp(&m, &answer), FWD_OUT);
    assert_eq!(h.only_entry().tcp_state(), Some(TcpState::SynSent));
    for seg in [
        m.syn_ack(),
        m.ack(Side::Client),
        m.data(Side::Client, 100),
        m.ack(Side::Server),
    ] {
        assert!(
            matches!(h.tcp(&m, &seg), Verdict::Forward { .. }),
            "{seg:?}"
        );
    }
    assert_eq!(h.only_entry().tcp_state(), Some(TcpState::Established));
}

/// A segment without payload or options, as a stack's control segments
/// (a challenge ACK, a reset) are.
fn seg(from: Side, seq: u32, ack: u32, flags: u8) -> crate::trace::Seg {
    crate::trace::Seg {
        from,
        seq,
        ack,
        flags,
        window: 500,
        wscale: None,
        sack: vec![],
        payload_len: 0,
    }
}
