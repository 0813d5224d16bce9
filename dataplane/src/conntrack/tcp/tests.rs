//! TCP tracker tests, grouped by state. Segments come from the model
//! endpoint pair in `trace`, so every "valid" segment is one a correct stack
//! sends; invalid ones are made by changing one field of a valid one.

use super::*;
use crate::trace::{Seg, Side, TcpModel, v4_pair};

const ISN: [u32; 2] = [1_000, 5_000_000];

fn model() -> TcpModel {
    let (c, s) = v4_pair(40_000, 80);
    TcpModel::new(c, s, ISN, [64_240, 65_160], [Some(7), Some(7)])
}

fn dir(seg: &Seg) -> Direction {
    match seg.from {
        Side::Client => Direction::Orig,
        Side::Server => Direction::Reply,
    }
}

/// Feed a segment; return the outcome.
fn feed(t: &mut TcpTrack, seg: &Seg) -> Result<Tracked, DropReason> {
    t.track(dir(seg), &seg.segment())
}

fn pass(t: &mut TcpTrack, seg: &Seg) -> TcpState {
    match feed(t, seg) {
        Ok(Tracked::Pass { to, .. }) => to,
        other => panic!("expected a pass of {seg:?}, got {other:?}"),
    }
}

/// A tracker that has seen a full handshake.
fn established() -> (TcpModel, TcpTrack) {
    let mut m = model();
    let syn = m.syn();
    let mut t = TcpTrack::open(&syn.segment());
    assert_eq!(pass(&mut t, &m.syn_ack()), TcpState::SynRecv);
    assert_eq!(pass(&mut t, &m.ack(Side::Client)), TcpState::Established);
    (m, t)
}

// === classification ===

#[test]
fn flag_classes_follow_the_valid_list() {
    let c = |f: u8| TcpEvent::classify(TcpFlags(f));
    assert_eq!(c(TcpFlags::SYN), Some(TcpEvent::Syn));
    assert_eq!(
        c(TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR),
        Some(TcpEvent::Syn)
    );
    assert_eq!(c(TcpFlags::SYN | TcpFlags::ACK), Some(TcpEvent::SynAck));
    assert_eq!(
        c(TcpFlags::FIN | TcpFlags::ACK | TcpFlags::PSH),
        Some(TcpEvent::Fin)
    );
    assert_eq!(c(TcpFlags::RST), Some(TcpEvent::Rst));
    assert_eq!(c(TcpFlags::RST | TcpFlags::ACK), Some(TcpEvent::Rst));
    assert_eq!(c(TcpFlags::ACK | TcpFlags::URG), Some(TcpEvent::Ack));
    // Xmas, null, SYN+FIN, SYN+RST, bare FIN: no stack sends these.
    for bad in [
        0x3f,
        0x00,
        TcpFlags::SYN | TcpFlags::FIN,
        TcpFlags::SYN | TcpFlags::RST,
        TcpFlags::FIN,
        TcpFlags::PSH,
    ] {
        assert_eq!(c(bad), None, "flags {bad:#04x}");
    }
}

#[test]
fn bad_flags_are_dropped_in_any_state() {
    let (m, mut t) = established();
    let mut seg = m.sent[2].clone();
    seg.flags = TcpFlags::SYN | TcpFlags::FIN;
    assert_eq!(feed(&mut t, &seg), Err(DropReason::TcpBadFlags));
    assert_eq!(t.state, TcpState::Established);
}

// === transition table ===

/// The table rendered as text, one row per (direction, event), so a change
/// to any cell shows up in review as a change of data.
fn render_table() -> String {
    let mut out = String::from("dir    event  ");
    for s in TcpState::ALL {
        out.push_str(&format!(" {:<11}", s.name()));
    }
    out.push('\n');
    for (d, name) in [(0, "orig"), (1, "reply")] {
        for e in TcpEvent::ALL {
            out.push_str(&format!("{name:<6} {:<7}", e.name()));
            for s in TcpState::ALL {
                let cell = match TRANSITIONS[d][e as usize][s as usize] {
                    Cell::To(to) => to.name().to_string(),
                    Cell::Closing => "closing".into(),
                    Cell::Ignore => "ignore".into(),
                    Cell::Reopen => "reopen".into(),
                    Cell::Invalid(r) => format!("!{}", r.label()),
                };
                out.push_str(&format!(" {cell:<11}"));
            }
            out.push('\n');
        }
    }
    out
}

#[test]
fn transition_table_snapshot() {
    let expected = include_str!("transitions.snap");
    let actual = render_table();
    assert_eq!(
        actual, expected,
        "the TCP transition table changed; if intended, update transitions.snap:\n{actual}"
    );
}

// === NONE → SYN_SENT ===

#[test]
fn syn_opens_with_the_initiators_window_state() {
    let mut m = model();
    let syn = m.syn();
    let t = TcpTrack::open(&syn.segment());
    assert_eq!(t.state, TcpState::SynSent);
    let orig = t.half[0];
    assert_eq!(orig.end, SeqNumber(ISN[0] + 1));
    assert_eq!(orig.max_win, 64_240);
    assert_eq!(orig.scale, 7);
    assert!(orig.flags & half_flags::SYN_SEEN != 0);
    assert_eq!(t.half[1], TcpHalf::default());
}

// === SYN_SENT ===

#[test]
fn syn_retransmit_keeps_syn_sent_and_rereads_the_isn() {
    let mut m = model();
    let syn = m.syn();
    let mut t = TcpTrack::open(&syn.segment());
    assert_eq!(pass(&mut t, &syn), TcpState::SynSent, "the same ISN");
    let mut again = syn.clone();
    again.seq = 77;
    assert_eq!(feed(&mut t, &again), Ok(Tracked::Restarted));
    assert_eq!(t.state, TcpState::SynSent);
    assert_eq!(t.half[0].end, SeqNumber(78));
}

#[test]
fn synack_must_acknowledge_the_syn() {
    let mut m = model();
    let mut t = TcpTrack::open(&m.syn().segment());
    let mut sa = m.syn_ack();
    sa.ack = sa.ack.wrapping_add(1);
    // The ASA's name for it: `tcp-ack-syn-diff`.
    assert_eq!(feed(&mut t, &sa), Err(DropReason::TcpAckSynDiff));
    assert_eq!(t.state, TcpState::SynSent);
}

/// A SYN-ACK that acknowledges the SYN exactly but whose SACK block
/// acknowledges data the initiator never sent is dropped by check 3, after
/// its half was started: the responder's ISN, window and options it
/// claimed stayed in the entry, and the responder's plain segments that
/// followed were judged against them in SYN_SENT. A dropped segment
/// changes nothing.
#[test]
fn a_dropped_synack_leaves_the_responders_half_unset() {
    let mut m = model();
    let mut t = TcpTrack::open(&m.syn().segment());
    let before = t;
    let mut sa = m.syn_ack();
    sa.sack = vec![(sa.ack, sa.ack.wrapping_add(5000))];
    assert_eq!(feed(&mut t, &sa), Err(DropReason::TcpAckPastWindow));
    assert_eq!(t, before);
    // The responder's data "after" it is still a segment of a side whose
    // SYN was never seen.
    let data = m.data(Side::Server, 100);
    assert_eq!(feed(&mut t, &data), Err(DropReason::TcpInvalidState));
    assert_eq!(t, before);
}

#[test]
fn ack_or_data_from_initiator_before_synack_is_invalid() {
    let mut m = model();
    let mut t = TcpTrack::open(&m.syn().segment());
    let ack = m.ack(Side::Client);
    assert_eq!(feed(&mut t, &ack), Err(DropReason::TcpInvalidState));
}

#[test]
fn synack_from_the_initiator_is_invalid() {
    let mut m = model();
    let syn = m.syn();
    let mut t = TcpTrack::open(&syn.segment());
    let mut bogus = syn;
    bogus.flags = TcpFlags::SYN | TcpFlags::ACK;
    assert_eq!(feed(&mut t, &bogus), Err(DropReason::TcpInvalidState));
}

#[test]
fn reply_rst_must_acknowledge_the_syn() {
    let mut m = model();
    let mut t = TcpTrack::open(&m.syn().segment());
    // RFC 9293 §3.10.7.3: "If the ACK bit is set ... the RST is acceptable
    // if the ACK acknowledges the SYN".
    let mut rst = Seg {
        from: Side::Server,
        seq: 0,
        ack: ISN[0] + 2,
        flags: TcpFlags::RST | TcpFlags::ACK,
        window: 0,
        wscale: None,
        sack: vec![],
        payload_len: 0,
    };
    assert_eq!(feed(&mut t, &rst), Err(DropReason::TcpRstOutOfWindow));
    rst.ack = ISN[0] + 1;
    assert_eq!(pass(&mut t, &rst), TcpState::Close);
}

#[test]
fn challenge_ack_in_syn_sent_passes_untouched() {
    let mut m = model();
    let mut t = TcpTrack::open(&m.syn().segment());
    let challenge = Seg {
        from: Side::Server,
        seq: 9,
        ack: 12345,
        flags: TcpFlags::ACK,
        window: 100,
        wscale: None,
        sack: vec![],
        payload_len: 0,
    };
    assert_eq!(feed(&mut t, &challenge), Ok(Tracked::Ignored));
    assert_eq!(t.state, TcpState::SynSent);
    // Data from the responder before its SYN-ACK is not a challenge ACK.
    let data = Seg {
        payload_len: 100,
        ..challenge
    };
    assert_eq!(feed(&mut t, &data), Err(DropReason::TcpInvalidState));
}

/// The challenge ACK crosses one node, the initiator's reset that quotes
/// it (RFC 9293 §3.10.7.3) another: the join carries what the challenge
/// acknowledged, or the reset is dropped there and the responder's stale
/// connection is never freed.
#[test]
fn the_challenge_acks_acknowledgement_survives_a_join() {
    let mut m = model();
    let syn = m.syn().segment();
    let (mut a, mut b) = (TcpTrack::open(&syn), TcpTrack::open(&syn));
    let challenge = Seg {
        from: Side::Server,
        seq: 9,
        ack: 12_345,
        flags: TcpFlags::ACK,
        window: 100,
        wscale: None,
        sack: vec![],
        payload_len: 0,
    };
    assert_eq!(feed(&mut a, &challenge), Ok(Tracked::Ignored));
    b.join(&a);
    assert_eq!(b.check(), Ok(()));
    let rst = Seg {
        from: Side::Client,
        seq: 12_345,
        ack: 0,
        flags: TcpFlags::RST,
        ..challenge.clone()
    };
    assert_eq!(
        feed(&mut b, &rst),
        Ok(Tracked::Pass {
            from: TcpState::SynSent,
            to: TcpState::SynSent
        })
    );
    // Joined the other way, and with itself, nothing changes.
    let before = a;
    a.join(&TcpTrack::open(&syn));
    a.join(&before);
    assert_eq!(a, before);
}

#[test]
fn after_the_initiator_aborts_its_connect_nothing_from_the_responder_passes() {
    let mut m = model();
    let syn = m.syn();
    let mut t = TcpTrack::open(&syn.segment());
    // The client gives up its connect: a RST at its ISN + 1 (passes).
    let abort = Seg {
        from: Side::Client,
        seq: ISN[0] + 1,
        ack: 0,
        flags: TcpFlags::RST,
        window: 0,
        wscale: None,
        sack: vec![],
        payload_len: 0,
    };
    assert_eq!(pass(&mut t, &abort), TcpState::Close);
    // The server's answer to the abandoned SYN opens nothing.
    let sa = m.syn_ack();
    assert_eq!(feed(&mut t, &sa), Err(DropReason::TcpInvalidState));
    for flags in [TcpFlags::ACK, TcpFlags::RST | TcpFlags::ACK] {
        let seg = Seg {
            from: Side::Server,
            seq: ISN[1] + 1,
            ack: ISN[0] + 1,
            flags,
            window: 100,
            wscale: None,
            sack: vec![],
            payload_len: 0,
        };
        assert_eq!(
            feed(&mut t, &seg),
            Err(DropReason::TcpInvalidState),
            "{flags:?}"
        );
    }
    // Nor does anything more from the client: it abandoned the connect,
    // and no ack of its could be checked against a server never seen.
    let mut data = abort.clone();
    data.flags = TcpFlags::ACK | TcpFlags::PSH;
    data.ack = 12_345;
    data.payload_len = 100;
    assert_eq!(feed(&mut t, &data), Err(DropReason::TcpInvalidState));
    assert_eq!(feed(&mut t, &abort), Err(DropReason::TcpInvalidState));
    assert_eq!(t.state, TcpState::Close);
}

// === SYN_SENT2 (simultaneous open) ===

#[test]
fn simultaneous_open_reaches_established() {
    let mut m = model();
    let syn_c = m.syn();
    let mut t = TcpTrack::open(&syn_c.segment());
    // Both SYNs cross: the server sends its own SYN (not a SYN-ACK).
    let syn_s = Seg {
        from: Side::Server,
        seq: ISN[1],
        ack: 0,
        flags: TcpFlags::SYN,
        window: 65_160,
        wscale: Some(7),
        sack: vec![],
        payload_len: 0,
    };
    assert_eq!(pass(&mut t, &syn_s), TcpState::SynSent2);
    assert!(t.simultaneous);
    // Each answers the other's SYN with a SYN-ACK (RFC 9293 figure 8).
    let sa_c = Seg {
        from: Side::Client,
        seq: ISN[0],
        ack: ISN[1] + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        window: 64_240,
        wscale: Some(7),
        sack: vec![],
        payload_len: 0,
    };
    assert_eq!(pass(&mut t, &sa_c), TcpState::SynRecv);
    let sa_s = Seg {
        from: Side::Server,
        seq: ISN[1],
        ack: ISN[0] + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        window: 65_160,
        wscale: Some(7),
        sack: vec![],
        payload_len: 0,
    };
    assert_eq!(pass(&mut t, &sa_s), TcpState::Established);
}

// === SYN_RECV ===

#[test]
fn final_ack_must_acknowledge_the_synack_exactly() {
    let mut m = model();
    let mut t = TcpTrack::open(&m.syn().segment());
    pass(&mut t, &m.syn_ack());
    let mut ack = m.ack(Side::Client);
    ack.ack = ack.ack.wrapping_sub(1);
    assert_eq!(feed(&mut t, &ack), Err(DropReason::Tcp3whsFailed));
    assert_eq!(t.state, TcpState::SynRecv);
}

#[test]
fn retransmitted_synack_keeps_syn_recv() {
    let mut m = model();
    let mut t = TcpTrack::open(&m.syn().segment());
    let sa = m.syn_ack();
    pass(&mut t, &sa);
    assert_eq!(pass(&mut t, &sa), TcpState::SynRecv);
}

/// In SYN_RECV of a normal open, the responder's SYN-ACK passes again only
/// as a retransmit (same ISN, acking the SYN exactly); a bare SYN from the
/// responder or a SYN-ACK from the initiator is no part of it.
#[test]
fn syn_recv_takes_only_true_retransmits_of_the_synack() {
    let mut m = model();
    let mut t = TcpTrack::open(&m.syn().segment());
    let sa = m.syn_ack();
    pass(&mut t, &sa);
    let mut other_ack = sa.clone();
    other_ack.ack = other_ack.ack.wrapping_sub(100_000);
    assert_eq!(feed(&mut t, &other_ack), Err(DropReason::TcpAckSynDiff));
    let mut other_isn = sa.clone();
    other_isn.seq = other_isn.seq.wrapping_sub(50);
    assert_eq!(feed(&mut t, &other_isn), Err(DropReason::Tcp3whsFailed));
    let mut bare_syn = sa.clone();
    bare_syn.flags = TcpFlags::SYN;
    assert_eq!(feed(&mut t, &bare_syn), Err(DropReason::TcpInvalidState));
    let mut from_client = m.ack(Side::Client);
    from_client.flags = TcpFlags::SYN | TcpFlags::ACK;
    assert_eq!(feed(&mut t, &from_client), Err(DropReason::TcpInvalidState));
    assert_eq!(t.state, TcpState::SynRecv);
    // The true retransmit still passes, and the handshake completes.
    assert_eq!(pass(&mut t, &sa), TcpState::SynRecv);
    assert_eq!(pass(&mut t, &m.ack(Side::Client)), TcpState::Established);
}

#[test]
fn fin_ack_completes_and_closes_at_once() {
    let mut m = model();
    let mut t = TcpTrack::open(&m.syn().segment());
    pass(&mut t, &m.syn_ack());
    assert_eq!(pass(&mut t, &m.fin(Side::Client)), TcpState::FinWait);
}

// === ESTABLISHED ===

#[test]
fn data_both_ways_moves_the_window() {
    let (mut m, mut t) = established();
    assert_eq!(
        pass(&mut t, &m.data(Side::Client, 1000)),
        TcpState::Established
    );
    assert_eq!(
        pass(&mut t, &m.data(Side::Server, 1460)),
        TcpState::Established
    );
    assert_eq!(t.half[0].end, SeqNumber(ISN[0] + 1 + 1000));
    assert_eq!(t.half[1].end, SeqNumber(ISN[1] + 1 + 1460));
    // The server acked 1000 bytes with a 65160 << 7 window.
    assert_eq!(
        t.half[0].max_end,
        SeqNumber(ISN[0] + 1 + 1000 + (65_160 << 7))
    );
    assert!(t.half[0].flags & half_flags::DATA_SEEN != 0);
    assert!(t.half[1].flags & half_flags::DATA_SEEN != 0);
}

#[test]
fn retransmission_of_acknowledged_data_passes_without_state_change() {
    let (mut m, mut t) = established();
    let n = m.sent.len();
    pass(&mut t, &m.data(Side::Client, 500));
    pass(&mut t, &m.ack(Side::Server));
    let before = t;
    let old = m.retransmit(n).unwrap();
    assert_eq!(
        feed(&mut t, &old),
        Ok(Tracked::Pass {
            from: TcpState::Established,
            to: TcpState::Established
        })
    );
    assert_eq!(t.half[0].end, before.half[0].end);
}

#[test]
fn very_old_data_is_passed_as_stale_not_dropped() {
    let (mut m, mut t) = established();
    // Move the client far ahead, more than a window beyond the first bytes.
    let first = m.sent.len();
    pass(&mut t, &m.data(Side::Client, 100));
    for _ in 0..200 {
        pass(&mut t, &m.data(Side::Client, 60_000));
        pass(&mut t, &m.ack(Side::Server));
    }
    let before = t;
    let stale = m.retransmit(first).unwrap();
    assert_eq!(feed(&mut t, &stale), Ok(Tracked::Stale));
    assert_eq!(t, before, "a stale segment must not move any state");
}

#[test]
fn data_beyond_the_window_is_dropped() {
    let (mut m, mut t) = established();
    let mut seg = m.data(Side::Client, 100);
    seg.seq = t.half[0].max_end.0 + 1;
    let before = t;
    assert_eq!(feed(&mut t, &seg), Err(DropReason::TcpSeqPastWindow));
    assert_eq!(t, before);
}

#[test]
fn ack_of_unsent_data_is_dropped() {
    let (mut m, mut t) = established();
    let mut seg = m.ack(Side::Client);
    seg.ack = t.half[1].end.0 + 10;
    assert_eq!(feed(&mut t, &seg), Err(DropReason::TcpAckPastWindow));
}

#[test]
fn sack_beyond_sent_data_is_dropped_and_valid_sack_passes() {
    let (mut m, mut t) = established();
    pass(&mut t, &m.data(Side::Server, 3000));
    let base = ISN[1] + 1;
    let mut ack = m.ack(Side::Client);
    ack.ack = base;
    ack.sack = vec![(base + 1000, base + 3000)];
    assert!(matches!(feed(&mut t, &ack), Ok(Tracked::Pass { .. })));
    ack.sack = vec![(base + 1000, base + 3001)];
    assert_eq!(feed(&mut t, &ack), Err(DropReason::TcpAckPastWindow));
}

#[test]
fn window_scaling_applies_after_the_handshake_only_if_both_offer() {
    let (c, s) = v4_pair(1, 2);
    let mut m = TcpModel::new(c, s, ISN, [1000, 1000], [Some(7), None]);
    let mut t = TcpTrack::open(&m.syn().segment());
    pass(&mut t, &m.syn_ack());
    assert_eq!((t.half[0].scale, t.half[1].scale), (0, 0));
    pass(&mut t, &m.ack(Side::Client));
    // Unscaled 1000-byte window: 1001 bytes from the server is past it.
    let mut seg = m.data(Side::Server, 10);
    seg.seq = t.half[1].max_end.0 + 1;
    assert_eq!(feed(&mut t, &seg), Err(DropReason::TcpSeqPastWindow));

    let mut m = model();
    let mut t = TcpTrack::open(&m.syn().segment());
    pass(&mut t, &m.syn_ack());
    pass(&mut t, &m.ack(Side::Client));
    assert_eq!((t.half[0].scale, t.half[1].scale), (7, 7));
    // 64240 << 7 bytes of window: data far beyond 64 KiB is in window.
    assert_eq!(
        pass(&mut t, &m.data(Side::Server, 1_000_000)),
        TcpState::Established
    );
}

#[test]
fn window_scale_is_capped_at_14() {
    let (c, s) = v4_pair(1, 2);
    let mut m = TcpModel::new(c, s, ISN, [1000, 1000], [Some(20), Some(14)]);
    let t = TcpTrack::open(&m.syn().segment());
    assert_eq!(t.half[0].scale, 14);
}

#[test]
fn sequence_numbers_wrap_around_2_pow_32() {
    let (c, s) = v4_pair(1, 2);
    let mut m = TcpModel::new(
        c,
        s,
        [u32::MAX - 1500, u32::MAX - 10],
        [65_535, 65_535],
        [None, None],
    );
    let mut t = TcpTrack::open(&m.syn().segment());
    pass(&mut t, &m.syn_ack());
    pass(&mut t, &m.ack(Side::Client));
    for _ in 0..4 {
        assert_eq!(
            pass(&mut t, &m.data(Side::Client, 1000)),
            TcpState::Established
        );
        assert_eq!(
            pass(&mut t, &m.data(Side::Server, 1000)),
            TcpState::Established
        );
    }
    assert!(
        t.half[0].end.0 < 5000,
        "orig end wrapped: {:?}",
        t.half[0].end
    );
    let mut past = m.data(Side::Client, 10);
    past.seq = t.half[0].max_end.0.wrapping_add(1);
    assert_eq!(feed(&mut t, &past), Err(DropReason::TcpSeqPastWindow));
}

#[test]
fn syn_in_established_is_passed_untouched_for_the_challenge_ack() {
    let (m, mut t) = established();
    let before = t;
    let mut syn = m.sent[0].clone();
    syn.seq = 0xdead_beef;
    assert_eq!(feed(&mut t, &syn), Ok(Tracked::Ignored));
    assert_eq!(t, before);
}

/// The ASA's `tcp-rst-syn-in-win`: a SYN (or SYN-ACK) inside the
/// receiver's window of a live connection is dropped, in every live and
/// closing state; an RFC 793 stack would reset the connection on it. The
/// handshake's own segments, retransmitted late, lie behind the window
/// and still pass, as does a SYN with a new ISN outside it (a client that
/// lost its state; the endpoint's challenge ACK sorts it out).
#[test]
fn a_syn_or_synack_inside_the_window_of_a_live_connection_is_dropped() {
    let (mut m, mut t) = established();
    pass(&mut t, &m.data(Side::Client, 100));
    pass(&mut t, &m.ack(Side::Server));
    let before = t;
    let in_window = |m: &TcpModel, from: Side, at: u32| {
        let mut seg = if from == Side::Client {
            m.sent[0].clone()
        } else {
            m.sent[1].clone()
        };
        seg.seq = m.next_seq(from).wrapping_add(at);
        seg
    };
    for at in [0, 1, 1000, 60_000] {
        let syn = in_window(&m, Side::Client, at);
        assert_eq!(
            feed(&mut t, &syn),
            Err(DropReason::TcpRstSynInWindow),
            "{at}"
        );
        let synack = in_window(&m, Side::Server, at);
        assert_eq!(
            feed(&mut t, &synack),
            Err(DropReason::TcpRstSynInWindow),
            "{at}"
        );
        assert_eq!(t, before);
    }
    // The handshake's SYN and SYN-ACK, late duplicates: behind the window.
    assert_eq!(feed(&mut t, &m.sent[0].clone()), Ok(Tracked::Ignored));
    assert_eq!(feed(&mut t, &m.sent[1].clone()), Ok(Tracked::Ignored));
    // Past the right edge: outside.
    let far = in_window(&m, Side::Client, 0x4000_0000);
    assert_eq!(feed(&mut t, &far), Ok(Tracked::Ignored));
    assert_eq!(t, before);
    // Half-closed too.
    assert_eq!(pass(&mut t, &m.fin(Side::Server)), TcpState::FinWait);
    let syn = in_window(&m, Side::Client, 10);
    assert_eq!(feed(&mut t, &syn), Err(DropReason::TcpRstSynInWindow));
}

/// Only the initiator may draw a challenge ACK or reopen: the responder's
/// side of the tuple is a listening port, so its SYN inside a live or
/// closing connection is never legitimate.
#[test]
fn a_responders_syn_in_a_live_or_closing_connection_is_dropped() {
    let (mut m, mut t) = established();
    let syn_from_server = |m: &TcpModel| Seg {
        from: Side::Server,
        seq: m.next_seq(Side::Server).wrapping_add(99),
        ..client_syn(0)
    };
    let before = t;
    assert_eq!(
        feed(&mut t, &syn_from_server(&m)),
        Err(DropReason::TcpInvalidState)
    );
    assert_eq!(t, before);
    let closing = pass(&mut t, &m.fin(Side::Client));
    assert_ne!(closing, TcpState::Established);
    assert_eq!(
        feed(&mut t, &syn_from_server(&m)),
        Err(DropReason::TcpInvalidState)
    );
    pass(&mut t, &m.ack(Side::Server));
    // The initiator's SYN in the same states still takes the challenge path.
    let syn = client_syn(0xdead_beef);
    assert_eq!(feed(&mut t, &syn), Ok(Tracked::Ignored));
}

/// Counted under the ASA's name for it, `tcp-data-past-fin`.
#[test]
fn data_after_fin_is_invalid() {
    let (mut m, mut t) = established();
    pass(&mut t, &m.fin(Side::Client));
    let more = m.data(Side::Client, 10);
    assert_eq!(feed(&mut t, &more), Err(DropReason::TcpDataPastFin));
}

/// A FIN ending before data its sender already sent (spoofed, in window)
/// changes nothing: the sender's real data still passes after it.
#[test]
fn a_fin_behind_data_already_sent_does_not_end_the_stream() {
    let (mut m, mut t) = established();
    pass(&mut t, &m.data(Side::Client, 1000));
    pass(&mut t, &m.ack(Side::Server));
    // Made from the client's next ACK (the model's stream does not end).
    let mut spoofed = m.ack(Side::Client);
    spoofed.flags = TcpFlags::FIN | TcpFlags::ACK;
    spoofed.seq -= 500;
    assert_eq!(feed(&mut t, &spoofed), Ok(Tracked::Stale));
    assert_eq!(t.state, TcpState::Established);
    assert!(!t.half[0].has(half_flags::FIN_SEEN));
    let more = m.data(Side::Client, 100);
    assert!(
        matches!(feed(&mut t, &more), Ok(Tracked::Pass { .. })),
        "real data after the spoofed FIN"
    );
}

// === RST (RFC 5961) ===

#[test]
fn exact_rst_closes() {
    let (mut m, mut t) = established();
    pass(&mut t, &m.data(Side::Client, 100));
    assert_eq!(pass(&mut t, &m.rst(Side::Server)), TcpState::Close);
}

/// The ASA's `tcp-rst-syn-in-win` (Linux conntrack passes it instead, for
/// the endpoint's challenge ACK, RFC 5961 §3.2).
#[test]
fn rst_in_window_but_not_exact_is_dropped_and_state_stays() {
    let (mut m, mut t) = established();
    pass(&mut t, &m.data(Side::Client, 100));
    let mut rst = m.rst(Side::Server);
    rst.seq += 5000;
    assert_eq!(feed(&mut t, &rst), Err(DropReason::TcpRstSynInWindow));
    assert_eq!(t.state, TcpState::Established);
    // A real reset is exact, and closes.
    let mut exact = rst.clone();
    exact.seq -= 5000;
    assert_eq!(pass(&mut t, &exact), TcpState::Close);
}

/// A blind RST that lands among the bytes in flight (after what the
/// receiver acknowledged, before what the sender sent) is dropped and does
/// not close: an endpoint older than RFC 5961 would have taken it.
/// The sender's own RST after its last byte, and one at the receiver's
/// last ack, do close.
#[test]
fn a_rst_among_the_bytes_in_flight_does_not_close() {
    let (mut m, mut t) = established();
    pass(&mut t, &m.data(Side::Server, 1000));
    pass(&mut t, &m.ack(Side::Client));
    pass(&mut t, &m.data(Side::Server, 1000));
    pass(&mut t, &m.data(Side::Server, 1000));
    // The client acknowledged the first 1,000 bytes; 2,000 are in flight.
    let mut blind = m.rst(Side::Server);
    blind.seq -= 1500;
    assert_eq!(feed(&mut t, &blind), Err(DropReason::TcpRstSynInWindow));
    assert_eq!(t.state, TcpState::Established);
    // At the client's last ack: exact.
    let mut at_ack = m.rst(Side::Server);
    at_ack.seq -= 2000;
    let mut t2 = t;
    assert_eq!(pass(&mut t2, &at_ack), TcpState::Close);
    // After the server's last byte: exact.
    assert_eq!(pass(&mut t, &m.rst(Side::Server)), TcpState::Close);
}

#[test]
fn rst_outside_the_window_is_dropped() {
    let (mut m, mut t) = established();
    let mut rst = m.rst(Side::Server);
    rst.seq = rst.seq.wrapping_add(0x4000_0000);
    assert_eq!(feed(&mut t, &rst), Err(DropReason::TcpRstOutOfWindow));
    let mut old = m.rst(Side::Client);
    old.seq = old.seq.wrapping_sub(10);
    assert_eq!(feed(&mut t, &old), Err(DropReason::TcpRstOutOfWindow));
    assert_eq!(t.state, TcpState::Established);
}

// === FIN_WAIT … TIME_WAIT ===

#[test]
fn fin_both_ways_reaches_time_wait() {
    let (mut m, mut t) = established();
    assert_eq!(pass(&mut t, &m.fin(Side::Client)), TcpState::FinWait);
    assert_eq!(pass(&mut t, &m.ack(Side::Server)), TcpState::CloseWait);
    // Half-closed: the server may still send.
    assert_eq!(
        pass(&mut t, &m.data(Side::Server, 200)),
        TcpState::CloseWait
    );
    assert_eq!(pass(&mut t, &m.fin(Side::Server)), TcpState::LastAck);
    assert_eq!(pass(&mut t, &m.ack(Side::Client)), TcpState::TimeWait);
}

#[test]
fn crossing_fins_reach_time_wait() {
    let (mut m, mut t) = established();
    let fin_c = m.fin(Side::Client);
    let fin_s = m.fin(Side::Server); // acks the client's FIN too
    assert_eq!(pass(&mut t, &fin_c), TcpState::FinWait);
    assert_eq!(pass(&mut t, &fin_s), TcpState::LastAck);
    assert_eq!(pass(&mut t, &m.ack(Side::Client)), TcpState::TimeWait);
}

#[test]
fn fin_retransmit_keeps_state() {
    let (mut m, mut t) = established();
    let fin = m.fin(Side::Client);
    pass(&mut t, &fin);
    assert_eq!(pass(&mut t, &fin), TcpState::FinWait);
}

// === TIME_WAIT / CLOSE: reopen ===

/// A bare SYN from the client at `seq` (a new connection on the tuple).
fn client_syn(seq: u32) -> Seg {
    Seg {
        from: Side::Client,
        seq,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 100,
        wscale: None,
        sack: vec![],
        payload_len: 0,
    }
}

#[test]
fn syn_on_a_closed_tuple_reopens() {
    let (mut m, mut t) = established();
    pass(&mut t, &m.rst(Side::Client));
    assert_eq!(t.state, TcpState::Close);
    let syn = client_syn(42);
    assert_eq!(feed(&mut t, &syn), Ok(Tracked::Reopen));
    let syn_back = Seg {
        from: Side::Server,
        ..syn
    };
    assert_eq!(feed(&mut t, &syn_back), Ok(Tracked::Reopen));
}

#[test]
fn a_syn_beyond_the_initiators_fin_in_last_ack_reopens() {
    let (mut m, mut t) = established();
    pass(&mut t, &m.fin(Side::Server));
    pass(&mut t, &m.ack(Side::Client));
    assert_eq!(pass(&mut t, &m.fin(Side::Client)), TcpState::LastAck);
    // The server's last ACK crossed another node; the client reuses its port.
    let fin_end = m.next_seq(Side::Client);
    let syn = client_syn;
    // Within the old connection's window: a blind SYN, dropped.
    assert_eq!(
        feed(&mut t, &syn(fin_end.wrapping_sub(1))),
        Err(DropReason::TcpRstSynInWindow)
    );
    // Behind it: the challenge-ACK path.
    assert_eq!(
        feed(&mut t, &syn(fin_end.wrapping_sub(200_000))),
        Ok(Tracked::Ignored)
    );
    assert_eq!(t.state, TcpState::LastAck);
    assert_eq!(
        feed(&mut t, &syn(fin_end.wrapping_add(70_000))),
        Ok(Tracked::Reopen)
    );
    // The responder's SYN in LAST-ACK is not read as a reuse: it is dropped.
    let back = Seg {
        from: Side::Server,
        ..syn(m.next_seq(Side::Server).wrapping_add(70_000))
    };
    assert_eq!(feed(&mut t, &back), Err(DropReason::TcpInvalidState));
}

#[test]
fn stragglers_after_rst_pass_without_change() {
    let (mut m, mut t) = established();
    let data = m.data(Side::Client, 10);
    pass(&mut t, &m.rst(Side::Server));
    assert_eq!(feed(&mut t, &data), Ok(Tracked::Ignored));
    assert_eq!(t.state, TcpState::Close);
}

#[test]
fn closing_state_is_derived_from_fins() {
    use TcpState::*;
    let cases = [
        ([false, false], [false, false], Established),
        ([true, false], [false, false], FinWait),
        ([false, true], [false, false], FinWait),
        ([true, false], [true, false], CloseWait),
        ([false, true], [false, true], CloseWait),
        ([true, true], [false, false], LastAck),
        ([true, true], [true, false], LastAck),
        ([true, true], [true, true], TimeWait),
    ];
    for (seen, acked, want) in cases {
        assert_eq!(
            closing_state(seen, acked),
            want,
            "seen {seen:?} acked {acked:?}"
        );
    }
}

// === what a peer's state may hold (`TcpTrack::check`) ===

mod checked {
    use super::*;
    use proptest::prelude::*;

    /// One step of a conversation seen by two nodes of a cluster.
    #[derive(Debug, Clone)]
    enum Step {
        /// Data from a side (clipped to the peer's window), or an ACK.
        Data(Side, u32),
        /// A late copy of a segment sent earlier.
        Retransmit(usize),
        /// A side changes the window it advertises.
        Window(Side, u16),
        /// One node's state reaches the other (a sync event): joined.
        Sync(bool),
    }

    fn side() -> impl Strategy<Value = Side> {
        prop_oneof![Just(Side::Client), Just(Side::Server)]
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (side(), 0u32..=3000).prop_map(|(s, n)| Step::Data(s, n)),
            2 => any::<usize>().prop_map(Step::Retransmit),
            2 => (side(), any::<u16>()).prop_map(|(s, w)| Step::Window(s, w)),
            2 => any::<bool>().prop_map(Step::Sync),
        ]
    }

    /// Feed `seg` to the nodes `route` names (bit 0: the first, bit 1:
    /// the second; a segment crosses one node, or both when the test says
    /// so), whatever they make of it.
    fn cross(nodes: &mut [TcpTrack; 2], route: u8, seg: &Seg) {
        for (i, t) in nodes.iter_mut().enumerate() {
            if route & (1 << i) != 0 {
                let _ = feed(t, seg);
            }
        }
    }

    fn all_pass(nodes: &[TcpTrack; 2]) -> Result<(), TestCaseError> {
        for t in nodes {
            prop_assert_eq!(t.check(), Ok(()), "{:?}", t);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A peer's state that `check` refuses is dropped, never joined:
        /// so no state a correct tracker produces may fail it. Two nodes
        /// each see some segments of a conversation between two correct
        /// stacks (any ISNs, windows and scales, retransmissions, window
        /// changes, either ending) and join each other's state now and
        /// then, as sync does; every state either holds, after every
        /// segment and join, passes.
        #[test]
        fn every_state_trackers_and_their_joins_produce_passes_the_check(
            isn in any::<[u32; 2]>(),
            window in any::<[u16; 2]>(),
            wscale in [proptest::option::of(0u8..=16), proptest::option::of(0u8..=16)],
            steps in proptest::collection::vec((step(), 1u8..=3), 0..80),
            end in 0u8..4,
            end_route in 1u8..=3,
        ) {
            let (c, s) = v4_pair(40_000, 443);
            let mut m = TcpModel::new(c, s, isn, window, wscale);
            // The owner saw the SYN; the other node got its insert.
            let syn = m.syn();
            let first = TcpTrack::open(&syn.segment());
            let mut nodes = [first, first];
            all_pass(&nodes)?;
            let mut route_of = steps.iter().map(|(_, r)| *r).cycle();
            for seg in [m.syn_ack(), m.ack(Side::Client)] {
                cross(&mut nodes, route_of.next().unwrap_or(3), &seg);
                all_pass(&nodes)?;
            }
            for (st, route) in &steps {
                match *st {
                    Step::Data(side, len) => {
                        let n = len.min(m.sendable(side));
                        let seg = if n == 0 { m.ack(side) } else { m.data(side, n) };
                        cross(&mut nodes, *route, &seg);
                    }
                    Step::Retransmit(i) => {
                        let seg = m.retransmit(i % m.sent.len()).expect("in range");
                        cross(&mut nodes, *route, &seg);
                    }
                    Step::Window(side, w) => m.set_window(side, w),
                    Step::Sync(to_second) => {
                        let (from, to) = if to_second { (0, 1) } else { (1, 0) };
                        let other = nodes[from];
                        nodes[to].join(&other);
                    }
                }
                all_pass(&nodes)?;
            }
            let closing: Vec<Seg> = match end {
                0 => Vec::new(),
                1 => vec![m.fin(Side::Client), m.ack(Side::Server), m.fin(Side::Server), m.ack(Side::Client)],
                2 => vec![m.rst(Side::Client)],
                _ => vec![m.rst(Side::Server)],
            };
            for seg in &closing {
                cross(&mut nodes, end_route, seg);
                all_pass(&nodes)?;
            }
            let [a, b] = nodes;
            let mut ab = a;
            ab.join(&b);
            let mut ba = b;
            ba.join(&a);
            all_pass(&[ab, ba])?;
        }
    }

    /// What the check refuses, one field at a time from a state a tracker
    /// holds.
    #[test]
    fn the_check_refuses_windows_edges_and_facts_no_tracker_produces() {
        let (_, t) = established();
        assert_eq!(t.check(), Ok(()));
        let broken = |f: &dyn Fn(&mut TcpTrack)| {
            let mut x = t;
            f(&mut x);
            x.check()
        };
        // A window wider than the scale allows (the reviewer's u32::MAX).
        assert_eq!(
            broken(&|x| x.half[0].max_win = u32::MAX),
            Err(TrackFault::Window)
        );
        assert_eq!(
            broken(&|x| x.half[1].max_win = max_window(x.half[1].scale) + 1),
            Err(TrackFault::Window)
        );
        // A right edge far past what the side sent: any sequence passes.
        assert_eq!(
            broken(&|x| x.half[0].max_end = x.half[0].end + (x.half[1].max_win + 1)),
            Err(TrackFault::Edge)
        );
        assert_eq!(broken(&|x| x.half[0].scale = 15), Err(TrackFault::State));
        assert_eq!(
            broken(&|x| x.state = TcpState::None),
            Err(TrackFault::State)
        );
        // Established without the responder's SYN; a SYN fact on a side
        // never initialised; facts on a side whose SYN was not seen.
        assert_eq!(
            broken(&|x| x.half[1] = TcpHalf::default()),
            Err(TrackFault::SynSeen)
        );
        assert_eq!(
            broken(&|x| x.half[1].flags &= !half_flags::SYN_SEEN),
            Err(TrackFault::SynSeen)
        );
        let mut syn_sent = TcpTrack::open(&model().syn().segment());
        assert_eq!(syn_sent.check(), Ok(()));
        syn_sent.half[1].flags = half_flags::FIN_SEEN;
        assert_eq!(syn_sent.check(), Err(TrackFault::SynSeen));
    }
}

// === a dropped segment changes nothing ===

mod dropped {
    use super::*;
    use proptest::prelude::*;

    /// Step `i` of a correct conversation, from the model (which moves on
    /// only as far as the steps taken, so wild segments are made near the
    /// numbers of the state reached).
    fn step(m: &mut TcpModel, i: usize, rst: bool) -> Seg {
        match i {
            0 => m.syn_ack(),
            1 | 4 => m.ack(Side::Client),
            2 => m.data(Side::Client, 300),
            3 => m.data(Side::Server, 1200),
            5 if rst => m.rst(Side::Server),
            5 => m.fin(Side::Client),
            6 => m.ack(Side::Server),
            7 => m.fin(Side::Server),
            _ => m.ack(Side::Client),
        }
    }

    /// A segment near the conversation's numbers (or anywhere), with any
    /// flags, data and SACK block.
    #[derive(Debug, Clone)]
    struct Wild {
        server: bool,
        seq: i32,
        ack: i32,
        flags: u8,
        len: u32,
        sack: Option<(i32, u32)>,
    }

    fn wild() -> impl Strategy<Value = Wild> {
        let near = prop_oneof![3 => -70_000i32..70_000, 1 => any::<i32>(), 2 => Just(0)];
        let flags = prop_oneof![
            3 => prop::sample::select(vec![
                TcpFlags::SYN,
                TcpFlags::SYN | TcpFlags::ACK,
                TcpFlags::ACK,
                TcpFlags::ACK | TcpFlags::PSH,
                TcpFlags::FIN | TcpFlags::ACK,
                TcpFlags::RST,
                TcpFlags::RST | TcpFlags::ACK,
            ]),
            1 => any::<u8>(),
        ];
        (
            any::<bool>(),
            near.clone(),
            near.clone(),
            flags,
            prop_oneof![0u32..2000, Just(0)],
            proptest::option::of((near, 1u32..100_000)),
        )
            .prop_map(|(server, seq, ack, flags, len, sack)| Wild {
                server,
                seq,
                ack,
                flags,
                len,
                sack,
            })
    }

    impl Wild {
        fn seg(&self, m: &TcpModel) -> Seg {
            let from = if self.server {
                Side::Server
            } else {
                Side::Client
            };
            let ack = m.next_seq(from.other()).wrapping_add_signed(self.ack);
            Seg {
                from,
                seq: m.next_seq(from).wrapping_add_signed(self.seq),
                ack,
                flags: self.flags,
                window: 1000,
                wscale: None,
                sack: self
                    .sack
                    .map(|(at, len)| {
                        let left = ack.wrapping_add_signed(at);
                        vec![(left, left.wrapping_add(len))]
                    })
                    .unwrap_or_default(),
                payload_len: self.len,
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// In every state a conversation reaches (any ISNs, windows and
        /// scales, a FIN or RST close), segments of any flags, numbers,
        /// data and SACK block either pass or leave the tracker as it was.
        #[test]
        fn a_refused_segment_leaves_the_tracker_as_it_was(
            isn in any::<[u32; 2]>(),
            window in any::<[u16; 2]>(),
            wscale in [proptest::option::of(0u8..=14), proptest::option::of(0u8..=14)],
            rst in any::<bool>(),
            upto in 0usize..10,
            wilds in proptest::collection::vec(wild(), 1..24),
        ) {
            let (c, s) = v4_pair(40_000, 443);
            let mut m = TcpModel::new(c, s, isn, window, wscale);
            let mut t = TcpTrack::open(&m.syn().segment());
            for i in 0..upto.min(if rst { 6 } else { 9 }) {
                let seg = step(&mut m, i, rst);
                let _ = feed(&mut t, &seg);
            }
            for w in &wilds {
                let before = t;
                if let Err(reason) = feed(&mut t, &w.seg(&m)) {
                    prop_assert_eq!(t, before, "{:?} changed the tracker", reason);
                }
            }
        }
    }
}
