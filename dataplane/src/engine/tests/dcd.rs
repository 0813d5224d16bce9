//! Dead connection detection, `set connection timeout dcd`
//! (docs/asa-behaviour.md §2.2): an established connection that reaches
//! its idle timeout is probed, the initiator's end first, and kept while
//! both ends answer; an end that leaves its probes unanswered ends it.

use super::*;
use crate::counters::RemoveReason;

/// Idle 10 s, probes 2 s apart, three to an end; randomization left on so
/// that the probe toward the responder is checked in the shifted space.
const POLICY: &str = "class-map all\n match any\npolicy-map global_policy\n class all\n  set connection timeout idle 0:00:10 dcd 0:00:02 3\nservice-policy global_policy global\n";

/// An established connection with data both ways under `policy`; the
/// model shifted as the engine randomized it. Returns the offset.
fn established(policy: &str, port: u16) -> (Harness, TcpModel, u32) {
    let mut h = Harness::new();
    h.install(crate::policy::parse::parse_config(policy).unwrap().config);
    let mut m = model(port);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    let delta = h.only_entry().seq_offset;
    m.set_shift(delta);
    let segs = [
        m.syn_ack(),
        m.ack(Side::Client),
        m.data(Side::Client, 100),
        m.data(Side::Server, 300),
        m.ack(Side::Client),
    ];
    for seg in &segs {
        assert!(matches!(h.tcp(&m, seg), Verdict::Forward { .. }), "{seg:?}");
    }
    (h, m, delta)
}

/// One second later: the engine's timers run; the frames it sent.
fn tick(h: &mut Harness) -> Vec<(IfaceId, Vec<u8>)> {
    h.advance(Duration::from_secs(1));
    h.engine.expire(h.now);
    std::iter::from_fn(|| h.engine.poll_effect(h.now))
        .map(|e| match e {
            Effect::Transmit { egress, frame } => (egress, frame),
            other => panic!("DCD makes only transmits, got {other:?}"),
        })
        .collect()
}

/// The TCP header of a frame the engine built.
fn tcp_of(frame: &[u8]) -> (crate::flow::Tuple, crate::packet::TcpSegment) {
    let Ok(Parsed::Ip {
        tuple,
        transport: Transport::Tcp(t),
        ..
    }) = crate::packet::parse(frame, PacketMeta::default())
    else {
        panic!("a probe parses as TCP")
    };
    (tuple, t)
}

#[test]
fn both_ends_answering_keep_an_idle_connection() {
    let (mut h, m, delta) = established(POLICY, 45_000);
    let client_next = m.clone().ack(Side::Client).seq;
    let server_next = m.clone().ack(Side::Server).seq;
    for _ in 0..9 {
        assert_eq!(tick(&mut h), vec![], "not idle yet");
    }
    // Idle: the client is probed, as if from the server, one below the
    // server's next sequence number; the entry stays.
    let sent = tick(&mut h);
    assert_eq!(sent.len(), 1, "one probe, to the initiator first");
    let (egress, frame) = &sent[0];
    assert_eq!(*egress, m.iface(Side::Client));
    let (tuple, t) = tcp_of(frame);
    assert_eq!(tuple.dst.port, 45_000);
    assert_eq!(t.flags.0, TcpFlags::ACK, "a bare ACK");
    assert_eq!(t.payload_len, 0);
    assert_eq!(
        (t.seq.0, t.ack.0),
        (server_next.wrapping_sub(1), client_next)
    );
    assert_eq!(&frame[0..6], &m.client.mac);
    assert_eq!(h.engine.table().len(), 1, "kept while probed");
    // The client answers with its ACK; it crosses as the connection's
    // next packet, and the server is probed next.
    h.advance(Duration::from_millis(1));
    assert_eq!(h.tcp(&m, &m.clone().ack(Side::Client)), FWD_OUT);
    let sent = tick(&mut h);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (egress, frame) = &sent[0];
    assert_eq!(*egress, m.iface(Side::Server));
    let (tuple, t) = tcp_of(frame);
    assert_eq!(tuple.src.port, 45_000);
    assert_eq!(
        (t.seq.0, t.ack.0),
        (client_next.wrapping_add(delta).wrapping_sub(1), server_next),
        "from the client, in the server's (shifted) space"
    );
    assert_eq!(&frame[0..6], &m.server.mac);
    h.advance(Duration::from_millis(1));
    assert!(matches!(
        h.tcp(&m, &m.clone().ack(Side::Server)),
        Verdict::Forward { .. }
    ));
    assert_eq!(tick(&mut h), vec![]);
    let c = h.engine.counters();
    assert_eq!((c.dcd.probes_sent, c.dcd.kept, c.dcd.dead), (2, 1, 0));
    // The answers made the connection new: its idle timeout runs again
    // from the server's answer, and then probing starts over.
    for _ in 0..8 {
        assert_eq!(tick(&mut h), vec![]);
    }
    assert_eq!(h.engine.table().len(), 1);
    let sent = tick(&mut h);
    assert_eq!(sent.len(), 1, "idle again: the client is probed again");
    assert_eq!(sent[0].0, m.iface(Side::Client));
}

#[test]
fn an_end_that_does_not_answer_ends_the_connection() {
    let (mut h, m, _) = established(POLICY, 45_001);
    for _ in 0..10 {
        tick(&mut h);
    }
    h.advance(Duration::from_millis(1));
    assert_eq!(h.tcp(&m, &m.clone().ack(Side::Client)), FWD_OUT);
    // The server is probed three times, 2 s apart, and never answers.
    let mut probes = 0;
    for _ in 0..8 {
        let sent = tick(&mut h);
        assert!(sent.iter().all(|(e, _)| *e == m.iface(Side::Server)));
        probes += sent.len();
        if h.engine.table().is_empty() {
            break;
        }
    }
    assert_eq!(probes, 3);
    assert_eq!(h.engine.table().len(), 0, "dead: removed");
    let c = h.engine.counters();
    assert_eq!((c.dcd.probes_sent, c.dcd.kept, c.dcd.dead), (4, 0, 1));
    assert_eq!(c.conns_removed[RemoveReason::DeadConnection as usize], 1);
    assert_eq!(c.idle_resets_sent, 0, "no reset without `idle … reset`");
    // `show service-policy` counts them under the class.
    let by_class = h.engine.classes().counts_by_class();
    let class = by_class
        .iter()
        .find(|((name, _), _)| *name == "global_policy/all")
        .map(|(_, c)| c.dcd);
    assert_eq!(
        class,
        Some(crate::engine::classes::DcdCounts {
            client_probes: 1,
            server_probes: 3,
            expired: 1
        })
    );
    // The server's late packet finds no connection.
    assert_eq!(
        h.tcp(&m, &m.clone().data(Side::Server, 10)),
        Verdict::Drop(DropReason::TcpNotSyn)
    );
}

#[test]
fn a_dead_initiator_ends_the_connection_with_the_idle_resets() {
    let policy = POLICY.replace("idle 0:00:10", "idle 0:00:10 reset");
    let (mut h, m, _) = established(&policy, 45_002);
    let mut sent = Vec::new();
    for _ in 0..20 {
        sent.extend(tick(&mut h));
        if h.engine.table().is_empty() {
            break;
        }
    }
    assert_eq!(h.engine.table().len(), 0);
    let probes: Vec<_> = sent
        .iter()
        .filter(|(_, f)| !tcp_of(f).1.flags.has(TcpFlags::RST))
        .collect();
    assert_eq!(probes.len(), 3, "the client alone was probed");
    assert!(probes.iter().all(|(e, _)| *e == m.iface(Side::Client)));
    assert_eq!(sent.len(), 5, "and a RST went to each end");
    assert_eq!(h.engine.counters().idle_resets_sent, 2);
}

/// A connection probed past its idle timeout still carries traffic: the
/// packets pass (the entry is not expired), and each end's own packets
/// are its answer; the other end's are not (the server's data while the
/// client is probed leaves the client unanswered until it ACKs them).
#[test]
fn traffic_during_probing_passes_and_keeps_the_connection() {
    let (mut h, mut m, _) = established(POLICY, 45_003);
    for _ in 0..10 {
        tick(&mut h);
    }
    h.advance(Duration::from_millis(1));
    let data = m.data(Side::Server, 50);
    assert!(matches!(h.tcp(&m, &data), Verdict::Forward { .. }));
    assert_eq!(tick(&mut h), vec![], "the client has not answered yet");
    let ack = m.ack(Side::Client);
    assert_eq!(h.tcp(&m, &ack), FWD_OUT);
    // The client's ACK answered for it; the server is probed and answers.
    let sent = tick(&mut h);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, m.iface(Side::Server));
    h.advance(Duration::from_millis(1));
    assert!(matches!(
        h.tcp(&m, &m.clone().ack(Side::Server)),
        Verdict::Forward { .. }
    ));
    tick(&mut h);
    assert_eq!(h.engine.counters().dcd.kept, 1);
}

/// Half-closed connections are not affected by DCD (the ASA's guide):
/// they expire under `timeout half-closed`, unprobed.
#[test]
fn a_half_closed_connection_is_not_probed() {
    let policy = POLICY.replace("dcd", "half-closed 0:00:30 dcd");
    let (mut h, m, _) = established(&policy, 45_004);
    for seg in [m.clone().fin(Side::Client), {
        let mut m2 = m.clone();
        m2.fin(Side::Client);
        m2.ack(Side::Server)
    }] {
        assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
    }
    let mut sent = 0;
    for _ in 0..31 {
        sent += tick(&mut h).len();
    }
    assert_eq!(sent, 0);
    assert_eq!(h.engine.table().len(), 0, "expired under half-closed");
    assert_eq!(h.engine.counters().dcd.probes_sent, 0);
}

/// Without `dcd` the connection idles out at its timeout, as before.
#[test]
fn without_dcd_an_idle_connection_leaves_at_its_timeout() {
    let policy = POLICY.replace(" dcd 0:00:02 3", "");
    let (mut h, _, _) = established(&policy, 45_005);
    let mut sent = 0;
    for _ in 0..11 {
        sent += tick(&mut h).len();
    }
    assert_eq!(sent, 0);
    assert_eq!(h.engine.table().len(), 0);
}

/// A class whose tcp-map lets TCP MD5 signatures through (BGP's, RFC
/// 2385): its ends drop an unsigned probe, so DCD leaves its connections
/// alone and they idle out as without it (a review finding: a live
/// signed session would have been found dead).
#[test]
fn a_class_passing_md5_signatures_is_not_probed() {
    let policy = POLICY.replace(
        "  set connection timeout",
        "  set connection advanced-options M\n  set connection timeout",
    ) + "tcp-map M\n tcp-options range 19 19 allow\n";
    let (mut h, _, _) = established(&policy, 45_006);
    let mut sent = 0;
    for _ in 0..11 {
        sent += tick(&mut h).len();
    }
    assert_eq!(sent, 0, "no probe");
    assert_eq!(h.engine.table().len(), 0, "idled out at its timeout");
}

/// The probe acknowledges what its sender acknowledged, not all the end
/// sent: data the firewall passed but the other end never acknowledged
/// (lost beyond it) must not look delivered to its sender (a review
/// finding).
#[test]
fn a_probe_acknowledges_only_what_its_sender_acknowledged() {
    let (mut h, mut m, _) = established(POLICY, 45_007);
    let acked = m.clone().ack(Side::Client).seq;
    // 200 bytes from the client cross, and the server never ACKs them.
    let lost = m.data(Side::Client, 200);
    assert_eq!(h.tcp(&m, &lost), FWD_OUT);
    let mut sent = Vec::new();
    for _ in 0..11 {
        sent.extend(tick(&mut h));
    }
    let (egress, frame) = sent.first().expect("the client is probed");
    assert_eq!(*egress, m.iface(Side::Client));
    let (_, t) = tcp_of(frame);
    assert_eq!(t.ack.0, acked, "the server's own acknowledgement");
}
