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
