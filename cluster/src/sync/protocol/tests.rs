//! The protocol over an in-memory network with a clock the tests hold.

use super::*;
use rampart_dataplane::engine::sync::EventKind;
use rampart_dataplane::flow::{Addr, Endpoint, proto};
use rampart_dataplane::sync::SyncProto;

const T0: Instant = Instant::from_secs(1_700_000_000);

fn state(port: u16) -> FlowState {
    FlowState {
        key: FlowKey {
            lo: Endpoint {
                addr: Addr::v4([198, 18, 0, 1]),
                port,
            },
            hi: Endpoint {
                addr: Addr::v4([198, 18, 1, 1]),
                port: 53,
            },
            proto: proto::UDP,
            vlan: 0,
        },
        inc: Incarnation {
            created_ns: 1,
            owner: 1,
            id: u32::from(port),
        },
        orig_is_lo: true,
        flags: 0,
        ingress: [0, 1],
        class: 0,
        seq_offset: 0,
        min_ttl: [64, 64],
        macs: [[0; 6]; 2],
        proto: SyncProto::Udp,
        last_seen_ns: 5,
    }
}

fn out(port: u16, want_ack: bool) -> SyncOut {
    SyncOut {
        event: SyncEvent::Upsert(state(port)),
        kind: EventKind::Insert,
        want_ack,
        // Both nodes of the test pair hold every flow.
        full: rampart_dataplane::sync::PeerSet(0b110),
        passive: rampart_dataplane::sync::PeerSet::EMPTY,
    }
}

/// Two protocols and the frames in flight between them.
struct Net {
    p: [Protocol; 2],
    conn: u64,
    wire: [VecDeque<bytes::Bytes>; 2],
    datagrams: [VecDeque<bytes::Bytes>; 2],
    applied: [Vec<SyncEvent>; 2],
    acked: [Vec<(FlowKey, Incarnation)>; 2],
    ready: [bool; 2],
}

impl Net {
    fn new() -> Self {
        Net {
            p: [
                Protocol::new(1, 111, &[1, 2], ProtocolConfig::default(), T0),
                Protocol::new(2, 222, &[1, 2], ProtocolConfig::default(), T0),
            ],
            conn: 0,
            wire: [VecDeque::new(), VecDeque::new()],
            datagrams: [VecDeque::new(), VecDeque::new()],
            applied: [Vec::new(), Vec::new()],
            acked: [Vec::new(), Vec::new()],
            ready: [false, false],
        }
    }

    fn id(i: usize) -> u16 {
        i as u16 + 1
    }

    /// Drain node `i`'s outputs; bulk dumps are answered as empty tables.
    fn pump(&mut self, i: usize) {
        while let Some(o) = self.p[i].poll_output() {
            match o {
                Output::Send { frame, .. } => self.wire[1 - i].push_back(frame),
                Output::Datagram { frame, .. } => self.datagrams[1 - i].push_back(frame),
                Output::Apply { events, .. } => self.applied[i].extend(events),
                Output::Pull { .. }
                | Output::Confirm { .. }
                | Output::Placement(_)
                | Output::State { .. }
                | Output::Rebalance { .. } => {}
                Output::Acked(a) => self.acked[i].extend(a),
                Output::BulkDump { peer, id, .. } => {
                    self.p[i].bulk_out(peer, id, vec![state(9)], true, 1)
                }
                Output::BulkCancel { .. } => {}
                Output::PeersUp(_) => {}
                Output::Ready => self.ready[i] = true,
                Output::NotReady => self.ready[i] = false,
            }
        }
    }

    fn connect(&mut self) {
        self.conn += 1;
        for i in 0..2 {
            self.p[i].on_peer_up(Self::id(1 - i), self.conn, T0);
        }
        self.settle();
    }

    fn cut(&mut self) {
        for i in 0..2 {
            self.p[i].on_peer_down(Self::id(1 - i), self.conn, T0);
            self.wire[i].clear();
        }
        self.settle();
    }

    fn settle(&mut self) {
        for _ in 0..100 {
            self.pump(0);
            self.pump(1);
            let mut moved = false;
            for i in 0..2 {
                while let Some(f) = self.wire[i].pop_front() {
                    moved = true;
                    self.p[i]
                        .on_frame(Self::id(1 - i), self.conn, &f, T0)
                        .expect("valid frame");
                }
            }
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }
}

#[test]
fn peer_counters_count_events_bytes_and_ack_lag() {
    let mut n = Net::new();
    n.connect();
    let before = n.p[0].peer_counters()[0].1.clone();
    assert_eq!(before.lag.count, 0, "bulk and hello are not event batches");
    n.p[0].push_events(&[out(1000, false), out(1001, false)]);
    n.p[0].flush(T0);
    n.pump(0);
    while let Some(f) = n.wire[1].pop_front() {
        n.p[1].on_frame(1, n.conn, &f, T0).unwrap();
    }
    n.pump(1);
    // The ack arrives 3 ms after the first send.
    let later = T0 + Duration::from_millis(3);
    while let Some(f) = n.wire[0].pop_front() {
        n.p[0].on_frame(2, n.conn, &f, later).unwrap();
    }
    let (peer, c) = n.p[0].peer_counters().remove(0);
    assert_eq!(peer, 2);
    assert_eq!(c.events_sent - before.events_sent, 2);
    assert!(c.bytes_out > before.bytes_out);
    assert_eq!(c.lag.count, 1);
    assert_eq!(c.lag.quantile(0.5), Some(Duration::from_millis(5)));
    assert_eq!(c.lag.sum_ns, 3_000_000);
    let (peer, c2) = n.p[1].peer_counters().remove(0);
    assert_eq!(peer, 1);
    assert_eq!(c2.events_received, 2);
    assert!(c2.bytes_in > 0 && c2.bytes_out > 0);
}

/// A batch numbered `u64::MAX` once wrapped the receive sequence (in
/// release builds: endless resyncs; in debug: a panic), and an ack of
/// a batch never sent was taken as real: both break the protocol now,
/// are counted, and nothing in them is applied.
#[test]
fn a_batch_at_the_end_of_the_range_or_an_ack_from_the_future_drops_the_peer() {
    let mut n = Net::new();
    n.connect();
    let errors = n.p[1].counters().protocol_errors;
    let last = wire::encode(&Message::Events {
        passive: false,
        seq: u64::MAX,
        events: vec![SyncEvent::Upsert(state(5))],
    });
    assert!(matches!(
        n.p[1].on_frame(1, n.conn, &last, T0),
        Err(FrameError::Protocol(_))
    ));
    assert_eq!(n.p[1].counters().protocol_errors, errors + 1);
    // Nothing of it was applied or acknowledged.
    n.pump(1);
    assert!(n.wire[0].is_empty(), "no ack for it");
    assert!(!n.applied[1].contains(&SyncEvent::Upsert(state(5))));

    let future = wire::encode(&Message::Ack { seq: 1_000 });
    assert!(matches!(
        n.p[0].on_frame(2, n.conn, &future, T0),
        Err(FrameError::Protocol(_))
    ));
    assert_eq!(n.p[0].counters().protocol_errors, 1);
}

#[test]
fn hello_bulk_then_ready_on_both_sides() {
    let mut n = Net::new();
    assert!(!n.p[0].is_ready());
    n.connect();
    assert_eq!(n.ready, [true, true]);
    assert_eq!(n.p[0].peers_up(), 1);
    // Each received the other's (one-flow) table in bulk.
    assert_eq!(n.applied[0], vec![SyncEvent::Upsert(state(9))]);
    assert_eq!(n.p[0].counters().bulk_completed, 1);
}

/// On a healthy link a batch goes on the stream alone. One left unacked
/// past `datagram_resend` gets a datagram copy and marks the link lossy:
/// from then on, for `datagram_lossy_hold`, each batch's datagram copy
/// goes with its stream copy and is applied ahead of it (a loss on the
/// stream would stall it); the stream copy still advances the sequence
/// and the acks. A datagram that is not an event batch is refused and
/// counted.
#[test]
fn datagram_copy_applies_ahead_of_the_stream() {
    let mut n = Net::new();
    n.p[0].config.stall_after = Duration::ZERO;
    n.connect();
    n.applied = [Vec::new(), Vec::new()];
    n.datagrams = [VecDeque::new(), VecDeque::new()];
    n.p[0].push_events(&[out(7, true)]);
    n.p[0].flush(T0);
    n.pump(0);
    assert!(
        n.datagrams[1].is_empty(),
        "a healthy link: the stream alone"
    );
    assert_eq!(n.p[0].counters().datagrams_sent, 0);
    // Its stream copy is late: the datagram copy goes after
    // datagram_resend, and the link counts as lossy.
    let late = n.wire[1].pop_front().expect("stream copy");
    let every = ProtocolConfig::default().datagram_resend;
    n.p[0].handle_timeout(T0 + every);
    n.pump(0);
    assert_eq!(n.datagrams[1].len(), 1);
    assert_eq!(n.p[0].counters().datagrams_resent, 1);
    n.p[1]
        .on_frame(1, n.conn, &late, T0 + every)
        .expect("stream copy");
    n.settle();
    n.applied = [Vec::new(), Vec::new()];
    n.acked = [Vec::new(), Vec::new()];
    n.datagrams = [VecDeque::new(), VecDeque::new()];
    let t = T0 + every;
    n.p[0].push_events(&[out(1, true)]);
    n.p[0].flush(t);
    n.pump(0);
    assert_eq!(n.p[0].counters().datagrams_sent, 1);
    // The stream copy is "lost in flight" for now.
    let stream = n.wire[1].pop_front().expect("stream copy");
    let dgram = n.datagrams[1].pop_front().expect("datagram copy");
    n.p[1].on_datagram(1, n.conn, &dgram, T0).expect("datagram");
    n.pump(1);
    assert_eq!(n.applied[1], vec![SyncEvent::Upsert(state(1))]);
    assert!(n.acked[0].is_empty(), "acks come only with the stream");
    n.p[1]
        .on_frame(1, n.conn, &stream, T0)
        .expect("stream copy");
    n.settle();
    assert_eq!(
        n.applied[1].len(),
        2,
        "the stream copy is applied too (a no-op join)"
    );
    assert_eq!(n.acked[0], vec![(state(1).key, state(1).inc)]);
    assert_eq!(n.p[0].unacked(2), (0, 0));
    // A datagram carrying anything else breaks the protocol.
    let bad = wire::encode(&Message::Ack { seq: 1 });
    assert!(n.p[1].on_datagram(1, n.conn, &bad, T0).is_err());
    assert!(n.p[1].on_datagram(1, n.conn, b"\x01garbage", T0).is_err());
    assert_eq!(n.p[1].counters().malformed, 1);
    assert_eq!(n.p[1].counters().datagrams_received, 1);
    // Once the link has been healthy for the hold, the stream alone again.
    n.datagrams = [VecDeque::new(), VecDeque::new()];
    let later = t + ProtocolConfig::default().datagram_lossy_hold;
    n.p[0].push_events(&[out(2, true)]);
    n.p[0].flush(later);
    n.pump(0);
    assert!(n.datagrams[1].is_empty());
}

/// Unacked batches get a datagram copy every `datagram_resend`, up to
/// `datagram_copies` in all; an ack stops it.
#[test]
fn unacked_batches_are_resent_as_datagrams_a_bounded_number_of_times() {
    let mut n = Net::new();
    // (The stall heartbeat is another timer: off here.)
    n.p[0].config.stall_after = Duration::ZERO;
    n.connect();
    n.p[0].push_events(&[out(1, false)]);
    n.p[0].flush(T0);
    n.pump(0);
    let stream = n.wire[1].pop_front().expect("stream copy");
    assert!(
        n.datagrams[1].is_empty(),
        "a healthy link: the stream alone"
    );
    let every = ProtocolConfig::default().datagram_resend;
    assert_eq!(n.p[0].poll_timeout(), Some(T0 + every));
    let mut t = T0;
    for _ in 0..10 {
        t = t + every;
        n.p[0].handle_timeout(t);
        n.pump(0);
    }
    assert_eq!(n.datagrams[1].len(), 4, "four copies in all");
    assert_eq!(n.p[0].counters().datagrams_resent, 4);
    assert_eq!(n.p[0].poll_timeout(), None);
    // A second batch acked at once never goes out again.
    n.datagrams[1].clear();
    n.p[1].on_frame(1, n.conn, &stream, t).expect("stream");
    n.p[0].push_events(&[out(2, false)]);
    n.p[0].flush(t);
    n.settle();
    n.datagrams[1].clear();
    n.p[0].handle_timeout(t + every * 10);
    n.pump(0);
    assert!(n.datagrams[1].is_empty());
    assert_eq!(n.p[0].unacked(2), (0, 0));
}

#[test]
fn events_flow_and_acks_release_deferred_inserts() {
    let mut n = Net::new();
    n.connect();
    n.applied = [Vec::new(), Vec::new()];
    n.p[0].push_events(&[out(1, false), out(2, true)]);
    n.p[0].flush(T0);
    n.settle();
    assert_eq!(n.applied[1].len(), 2);
    assert_eq!(n.acked[0], vec![(state(2).key, state(2).inc)]);
    assert_eq!(n.p[0].unacked(2), (0, 0));
}

#[test]
fn a_lost_connection_is_repaired_by_resend_without_duplicates() {
    let mut n = Net::new();
    n.connect();
    n.applied = [Vec::new(), Vec::new()];
    n.p[0].push_events(&[out(1, false)]);
    n.p[0].flush(T0);
    n.settle();
    // Three batches sent into a connection that dies before delivery.
    for port in 2..5 {
        n.p[0].push_events(&[out(port, false)]);
        n.p[0].flush(T0);
    }
    n.pump(0);
    n.cut();
    assert_eq!(n.p[0].unacked(2).0, 3);
    // Sent while down: buffered.
    n.p[0].push_events(&[out(5, false)]);
    n.p[0].flush(T0);
    n.connect();
    let ports: Vec<u16> = n.applied[1]
        .iter()
        .map(|e| e.key().lo.port)
        .filter(|&p| p != 9)
        .collect();
    assert_eq!(ports, vec![1, 2, 3, 4, 5], "each once, in order");
    assert_eq!(n.p[0].counters().batches_resent, 4);
    assert_eq!(n.p[1].counters().gaps, 0);
}

/// A second Hello on one connection re-queued the whole unacknowledged
/// buffer towards its sender each time (a review's case: a peer that
/// never acks and repeats Hello fills the outbound budget). It is refused
/// and counted; nothing is resent.
#[test]
fn a_second_hello_on_a_connection_is_refused_and_resends_nothing() {
    let mut n = Net::new();
    n.connect();
    // Three batches node 2 never acknowledges.
    for port in 2..5 {
        n.p[0].push_events(&[out(port, false)]);
        n.p[0].flush(T0);
    }
    n.pump(0);
    n.wire[1].clear();
    assert_eq!(n.p[0].unacked(2).0, 3);
    let again = wire::encode(&Message::Hello {
        node: 2,
        session: 222,
        resume: None,
    });
    let sent_before = n.p[0].counters().batches_resent;
    for _ in 0..3 {
        assert_eq!(
            n.p[0].on_frame(2, n.conn, &again, T0),
            Err(FrameError::Protocol(Violation::HelloTwice))
        );
    }
    n.pump(0);
    assert!(n.wire[1].is_empty(), "nothing resent");
    assert_eq!(n.p[0].counters().batches_resent, sent_before);
    let i = REFUSAL_LABELS
        .iter()
        .position(|&l| l == "hello_twice")
        .expect("a label");
    assert_eq!(n.p[0].counters().refused[i], 3);
}

#[test]
fn a_gap_after_resend_overflow_triggers_bulk() {
    let mut n = Net::new();
    n.p[0].config.resend_max_events = 2;
    n.connect();
    n.cut();
    for port in 1..6 {
        n.p[0].push_events(&[out(port, false)]);
        n.p[0].flush(T0);
    }
    assert!(n.p[0].counters().resend_overflow >= 3);
    n.connect();
    assert_eq!(n.p[1].counters().gaps, 1);
    assert_eq!(
        n.p[1].counters().bulk_requested,
        2,
        "join bulk, then the repair"
    );
    assert_eq!(n.p[1].counters().bulk_completed, 2);
}

/// Found by the cluster simulator (seed 106): a node that went ready
/// alone (its peer unreachable past the join timeout) and met the peer
/// later never asked for the peer's table, so flows the peer held were
/// missing on it for good. A peer whose stream starts afresh now owes a
/// bulk, ready or not.
#[test]
fn a_node_ready_alone_asks_a_peer_it_meets_later_for_its_table() {
    let mut n = Net::new();
    n.p[0].handle_timeout(T0 + Duration::from_secs(3));
    n.pump(0);
    assert!(n.ready[0], "alone and ready");
    n.connect();
    assert_eq!(n.p[0].counters().bulk_completed, 1);
    assert_eq!(n.applied[0], vec![SyncEvent::Upsert(state(9))]);
    // Reconnecting to the same session needs no bulk: resend covers it.
    n.cut();
    n.connect();
    assert_eq!(n.p[0].counters().bulk_requested, 1);
}

/// A bulk that a ready node asked for (after a gap) and that never ends
/// times out and is asked again after the backoff, instead of blocking
/// every later one.
#[test]
fn a_ready_nodes_stalled_bulk_times_out() {
    let mut n = Net::new();
    n.p[0].config.stall_after = Duration::ZERO;
    n.connect();
    assert!(n.ready[0]);
    n.p[0].wanted.insert(2);
    n.p[0].next_bulk(T0);
    n.pump(0);
    n.wire[1].clear();
    let asked = n.p[0].counters().bulk_requested;
    let cfg = ProtocolConfig::default();
    let late = T0 + cfg.bulk_timeout;
    assert_eq!(n.p[0].poll_timeout(), Some(late));
    n.p[0].handle_timeout(late);
    assert_eq!(n.p[0].counters().bulk_failed, 1);
    assert_eq!(n.p[0].counters().bulk_requested, asked);
    let retry = late + cfg.bulk_retry_after;
    assert_eq!(n.p[0].poll_timeout(), Some(retry));
    n.p[0].handle_timeout(retry);
    assert_eq!(n.p[0].counters().bulk_requested, asked + 1);
}

/// Issue 13, scenario 2: a node stopped (SIGSTOP) past `stall_after`
/// holds state its peers moved past. On its first input after it
/// resumes it stops forwarding, asks a peer for its table, and is
/// ready again once that bulk is in. An idle node is woken by the
/// heartbeat and never taken for a stopped one.
#[test]
fn a_node_stopped_past_stall_after_resyncs_before_forwarding_again() {
    let mut n = Net::new();
    n.connect();
    assert_eq!(n.ready, [true, true]);
    let every = ProtocolConfig::default().stall_after / 4;
    // Idle but running: the heartbeat keeps it from looking stopped.
    let mut t = T0;
    for _ in 0..20 {
        let due = n.p[0].poll_timeout().expect("heartbeat");
        assert!(due <= t + every);
        t = due;
        n.p[0].handle_timeout(t);
    }
    assert_eq!(n.p[0].counters().stalls, 0);
    // Stopped for 10 s: the first timer after SIGCONT sees the gap.
    n.p[0].handle_timeout(t + Duration::from_secs(10));
    assert_eq!(n.p[0].counters().stalls, 1);
    assert!(!n.p[0].is_ready());
    let mut saw_not_ready = false;
    while let Some(o) = n.p[0].poll_output() {
        match o {
            Output::NotReady => saw_not_ready = true,
            Output::Send { frame, .. } => n.wire[1].push_back(frame),
            _ => {}
        }
    }
    assert!(saw_not_ready, "the shell is told to stop forwarding");
    let before = n.p[0].counters().bulk_completed;
    n.settle();
    assert!(n.p[0].is_ready(), "ready again after the bulk");
    assert_eq!(n.p[0].counters().bulk_completed, before + 1);
}

#[test]
fn alone_after_the_join_timeout() {
    let cfg = ProtocolConfig {
        stall_after: Duration::ZERO,
        ..ProtocolConfig::default()
    };
    let mut p = Protocol::new(1, 1, &[1, 2], cfg, T0);
    // Flows are placed on this node alone until a peer comes up.
    assert_eq!(
        p.poll_output(),
        Some(Output::Placement(Placement::new([1], 2)))
    );
    assert_eq!(p.poll_timeout(), Some(T0 + Duration::from_secs(3)));
    p.handle_timeout(T0 + Duration::from_secs(2));
    assert!(!p.is_ready());
    p.handle_timeout(T0 + Duration::from_secs(3));
    assert!(p.is_ready());
    assert_eq!(p.poll_output(), Some(Output::Ready));
    // A node with no peers at all is ready at once.
    assert!(Protocol::new(1, 1, &[1], ProtocolConfig::default(), T0).is_ready());
}

#[test]
fn malformed_and_out_of_protocol_frames_are_refused_and_counted() {
    let mut p = Protocol::new(1, 1, &[1, 2], ProtocolConfig::default(), T0);
    p.on_peer_up(2, 7, T0);
    assert!(matches!(
        p.on_frame(2, 7, &[1, 0xff, 0xff], T0),
        Err(FrameError::Wire(_))
    ));
    let ack = wire::encode(&Message::Ack { seq: 1 });
    assert!(matches!(
        p.on_frame(2, 7, &ack, T0),
        Err(FrameError::Protocol(_))
    ));
    let liar = wire::encode(&Message::Hello {
        node: 3,
        session: 5,
        resume: None,
    });
    assert!(p.on_frame(2, 7, &liar, T0).is_err());
    // A TCP flow in a state no version defines: the whole batch is
    // refused and counted, nothing is applied.
    let mut forged = wire::v6::Frame::from(&Message::Events {
        passive: false,
        seq: 1,
        events: vec![SyncEvent::Upsert(state(1))],
    });
    if let wire::v6::Frame::Events { events, .. } = &mut forged
        && let Some(wire::v6::WireEvent::Upsert(f)) = events.first_mut()
    {
        let half = rampart_dataplane::conntrack::tcp::TcpHalf::default().into();
        f.proto = wire::v6::WireProto::Tcp(wire::v6::WireTcp {
            state: 10,
            simultaneous: false,
            half: [half, half],
        });
    }
    assert_eq!(
        p.on_frame(2, 7, &wire::encode_frame(&forged), T0),
        Err(FrameError::Wire(wire::WireError::TcpState(10)))
    );
    while let Some(o) = p.poll_output() {
        assert!(
            !matches!(o, Output::Apply { .. }),
            "nothing of it is applied"
        );
    }
    assert_eq!(p.counters().malformed, 2);
    assert_eq!(p.counters().protocol_errors, 2);
    assert!(p.on_frame(9, 7, &ack, T0).is_err(), "unknown peer");
    // Each counted by its reason too, a label from a fixed set.
    let by = |label: &str| {
        let i = REFUSAL_LABELS
            .iter()
            .position(|&l| l == label)
            .expect(label);
        p.counters().refused[i]
    };
    assert_eq!(by("other_version"), 1, "a major version byte of 1");
    assert_eq!(by("tcp_state_code"), 1);
    assert_eq!(by("before_hello"), 1);
    assert_eq!(by("hello_other_node"), 1);
    assert_eq!(by("unknown_peer"), 1);
    assert_eq!(p.counters().refused.iter().sum::<u64>(), 5);
}

/// Every refusal has its own label, and no two share one.
#[test]
fn refusal_reasons_have_distinct_labels() {
    let mut labels = REFUSAL_LABELS.to_vec();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels.len(), REFUSAL_REASONS);
    assert!(
        labels
            .iter()
            .all(|l| l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    );
}

#[test]
fn a_peer_lost_mid_bulk_is_retried() {
    let mut n = Net::new();
    n.conn += 1;
    for i in 0..2 {
        n.p[i].on_peer_up(Net::id(1 - i), n.conn, T0);
    }
    // Deliver only the Hellos, then cut before the bulk answers.
    n.pump(0);
    n.pump(1);
    for i in 0..2 {
        let f = n.wire[i].pop_front().unwrap();
        n.p[i].on_frame(Net::id(1 - i), n.conn, &f, T0).unwrap();
    }
    n.cut();
    assert_eq!(n.p[0].counters().bulk_failed, 1);
    assert!(!n.p[0].is_ready());
    n.connect();
    assert_eq!(n.ready, [true, true]);
}

/// A node that joined through Raft is in no configuration file: once the
/// transport admits it (it checked its certificate against the Raft
/// membership), it becomes a sync peer like a configured one — it gets a
/// hello, a share of the table, and a place in the placement.
#[test]
fn a_peer_the_configuration_does_not_name_is_synced_with_once_up() {
    let cfg = ProtocolConfig::default();
    let mut a = Protocol::new(1, 11, &[1, 2], cfg, T0);
    let mut c = Protocol::new(3, 33, &[1, 3], cfg, T0);
    a.on_peer_up(3, 7, T0);
    c.on_peer_up(1, 7, T0);
    for _ in 0..20 {
        let mut frames = [Vec::new(), Vec::new()];
        for (i, p) in [&mut a, &mut c].into_iter().enumerate() {
            while let Some(o) = p.poll_output() {
                match o {
                    Output::Send { frame, .. } => frames[i].push(frame),
                    Output::BulkDump { peer, id, .. } => {
                        p.bulk_out(peer, id, vec![state(40)], true, 1)
                    }
                    _ => {}
                }
            }
        }
        if frames.iter().all(Vec::is_empty) {
            break;
        }
        for f in &frames[0] {
            c.on_frame(1, 7, f, T0).expect("valid frame");
        }
        for f in &frames[1] {
            a.on_frame(3, 7, f, T0).expect("valid frame");
        }
    }
    assert_eq!(a.peers_up(), 1);
    assert_eq!(a.placement().members(), &[1, 3]);
    assert!(c.is_ready(), "the new node has its share and is ready");
    assert_eq!(a.counters().bulk_served, 1);
    assert_eq!(c.counters().bulk_flows_received, 1);
}

/// A peer removed from the cluster is forgotten once its connection is
/// down (not kept as a member that is down), and only then: a record up
/// (a newer connection of a peer added back) stays.
#[test]
fn a_removed_peer_is_forgotten_once_down() {
    let cfg = ProtocolConfig::default();
    let mut a = Protocol::new(1, 11, &[1, 2, 3], cfg, T0);
    a.on_peer_up(3, 7, T0);
    a.forget_peer(3, T0);
    assert!(
        a.peer_phases().iter().any(|(p, _)| *p == 3),
        "connected: not forgotten"
    );
    a.on_peer_down(3, 7, T0);
    a.forget_peer(3, T0);
    a.forget_peer(2, T0);
    let left: Vec<u16> = a.peer_phases().iter().map(|(p, _)| *p).collect();
    assert_eq!(left, Vec::<u16>::new(), "both forgotten");
    assert_eq!(a.counters().peers_forgotten, 2);
    assert_eq!(a.placement().members(), &[1]);
    // Added back: it is taken in again as any joiner.
    a.on_peer_up(3, 8, T0);
    assert!(a.peer_phases().iter().any(|(p, _)| *p == 3));
}

/// Three protocols, every frame delivered at once; bulk dumps answered as
/// empty tables.
fn three_up() -> (Vec<Protocol>, Vec<Vec<Output>>) {
    let ids = [1u16, 2, 3];
    let mut p: Vec<Protocol> = ids
        .iter()
        .map(|&id| Protocol::new(id, u64::from(id) * 111, &ids, ProtocolConfig::default(), T0))
        .collect();
    for (i, &a) in ids.iter().enumerate() {
        for &b in &ids {
            if a != b {
                p[i].on_peer_up(b, 1, T0);
            }
        }
    }
    let mut kept: Vec<Vec<Output>> = vec![Vec::new(), Vec::new(), Vec::new()];
    deliver(&mut p, &mut kept);
    (p, kept)
}

/// Run the three protocols until no frame moves; keep what else they
/// output.
fn deliver(p: &mut [Protocol], kept: &mut [Vec<Output>]) {
    for _ in 0..100 {
        let mut frames = Vec::new();
        for (i, proto) in p.iter_mut().enumerate() {
            while let Some(o) = proto.poll_output() {
                match o {
                    Output::Send { peer, frame, .. } => frames.push((i as u16 + 1, peer, frame)),
                    Output::BulkDump { peer, id, .. } => proto.bulk_out(peer, id, vec![], true, 0),
                    other => kept[i].push(other),
                }
            }
        }
        if frames.is_empty() {
            return;
        }
        for (from, to, frame) in frames {
            p[usize::from(to) - 1]
                .on_frame(from, 1, &frame, T0)
                .expect("valid frame");
        }
    }
    panic!("no quiescence");
}

/// A node whose copy is off a flow's path (a director's passive copy)
/// passes a pull on to the holders on the path and answers from its copy
/// as well: a holder the link still counts as up may have died unnoticed
/// (the idle timeout), and the off-path copy is then the best the asker
/// gets. (Leaving the answer to the path saved bytes at six nodes, but
/// a chaos scenario lost a connection to it while the owner's death was
/// not yet noticed.)
#[test]
fn an_answer_from_off_the_path_is_given_and_passed_on_to_the_path() {
    let (mut p, mut kept) = three_up();
    let answer = || PullOut::Answer {
        to: 3,
        state: state(7),
        copy: AnswerCopy::Passive,
        holders: rampart_dataplane::sync::PeerSet::of(1),
        forwardable: true,
    };
    // Node 2 (index 1) answers node 3's pull; node 1 holds the flow.
    p[1].push_pulls(&[answer()]);
    p[1].flush(T0);
    deliver(&mut p, &mut kept);
    let c = p[1].counters();
    assert_eq!((c.pulls_forwarded, c.states_sent), (1, 1));
    let pulled_at_1 = kept[0]
        .iter()
        .any(|o| matches!(o, Output::Pull { origin: 3, .. }));
    assert!(
        pulled_at_1,
        "node 1 is asked on node 3's behalf: {:?}",
        kept[0]
    );
    let answered_at_3 = kept[2].iter().any(|o| {
        matches!(
            o,
            Output::State {
                from: 2,
                copy: AnswerCopy::Passive,
                ..
            }
        )
    });
    assert!(
        answered_at_3,
        "node 3 has node 2's passive copy: {:?}",
        kept[2]
    );

    // Node 1 is down: node 2 answers and passes nothing on.
    p[1].on_peer_down(1, 1, T0);
    p[1].push_pulls(&[answer()]);
    p[1].flush(T0);
    deliver(&mut p, &mut kept);
    let c = p[1].counters();
    assert_eq!((c.pulls_forwarded, c.states_sent), (1, 2));
}

/// A backup's answer (a copy the holders push every change) is taken
/// whole by the asker and is not passed on: no second answer, no confirm.
#[test]
fn a_backups_answer_is_not_passed_on() {
    let (mut p, mut kept) = three_up();
    p[1].push_pulls(&[PullOut::Answer {
        to: 3,
        state: state(7),
        copy: AnswerCopy::Backup,
        holders: PeerSet::of(1),
        forwardable: true,
    }]);
    p[1].flush(T0);
    deliver(&mut p, &mut kept);
    let c = p[1].counters();
    assert_eq!((c.pulls_forwarded, c.states_sent), (0, 1));
    assert!(!kept[0].iter().any(|o| matches!(o, Output::Pull { .. })));
    assert!(kept[2].contains(&Output::State {
        from: 2,
        copy: AnswerCopy::Backup,
        flows: vec![(state(7), PeerSet::of(1))],
    }));
}

/// The pull passed on names the digest of the answer the passing node
/// gave; a node on the path whose state has it confirms briefly, and the
/// asker gets the confirm with its sender. A pull the asker sends after a
/// confirm it could not use goes to that sender alone, not the director.
#[test]
fn a_pull_passed_on_carries_the_answers_digest_and_a_confirm_reaches_the_asker() {
    let (mut p, mut kept) = three_up();
    // A flow node 2 directs: the pull below must pass it by.
    let s = (1..1000)
        .map(state)
        .find(|s| Placement::new([1, 2, 3], 2).director(&s.key) == Some(2))
        .expect("some flow directed by node 2");
    p[1].push_pulls(&[PullOut::Answer {
        to: 3,
        state: s,
        copy: AnswerCopy::Passive,
        holders: PeerSet::of(1),
        forwardable: true,
    }]);
    p[1].flush(T0);
    deliver(&mut p, &mut kept);
    let passed: Vec<&Output> = kept[0]
        .iter()
        .filter(|o| matches!(o, Output::Pull { .. }))
        .collect();
    assert_eq!(
        passed,
        vec![&Output::Pull {
            origin: 3,
            keys: vec![(s.key, Some(s.digest()))],
            forwardable: false,
        }]
    );
    let confirm = Confirm {
        key: s.key,
        inc: s.inc,
        digest: s.digest(),
        last_seen_ns: 9,
        holders: PeerSet::EMPTY,
    };
    p[0].push_pulls(&[PullOut::Confirm { to: 3, confirm }]);
    p[0].flush(T0);
    deliver(&mut p, &mut kept);
    assert_eq!(p[0].counters().confirms_sent, 1);
    assert_eq!(p[2].counters().confirms_received, 1);
    assert!(kept[2].contains(&Output::Confirm {
        from: 1,
        flows: vec![confirm],
    }));
    // Node 3 asks node 1 alone: node 2, the director, hears nothing.
    let before: Vec<u64> = p.iter().map(|x| x.counters().pulls_received).collect();
    p[2].push_pulls(&[PullOut::Want {
        key: s.key,
        ask: PeerSet::of(1),
        director: false,
    }]);
    p[2].flush(T0);
    deliver(&mut p, &mut kept);
    let after: Vec<u64> = p.iter().map(|x| x.counters().pulls_received).collect();
    assert_eq!(
        [after[0] - before[0], after[1] - before[1]],
        [1, 0],
        "only node 1 is asked"
    );
}

/// A starting node asks for its first table only when every peer it knows
/// is up, or when `bulk_settle` has passed: a share is computed for the
/// asker's view, and one asked for with a partial view gives it copies of
/// flows it is not placed for.
#[test]
fn the_first_table_waits_for_the_known_peers_or_the_settle() {
    let ids = [1u16, 2, 3];
    let settle = ProtocolConfig::default().bulk_settle;
    let bulk_requests = |p: &mut Protocol| {
        let mut n = 0;
        while let Some(o) = p.poll_output() {
            if let Output::Send { frame, .. } = o
                && matches!(wire::decode(&frame), Ok(Message::BulkRequest { .. }))
            {
                n += 1;
            }
        }
        n
    };
    let hello_from = |p: &mut Protocol, peer: u16, conn: u64, now: Instant| {
        p.on_peer_up(peer, conn, now);
        let hello = wire::encode(&Message::Hello {
            node: peer,
            session: u64::from(peer) * 7,
            resume: None,
        });
        p.on_frame(peer, conn, &hello, now).expect("hello");
    };
    // Node 1 meets node 2 only: no request until the settle has passed.
    let mut p = Protocol::new(1, 111, &ids, ProtocolConfig::default(), T0);
    hello_from(&mut p, 2, 1, T0);
    assert_eq!(bulk_requests(&mut p), 0);
    assert_eq!(p.poll_timeout(), Some(T0 + settle));
    p.handle_timeout(T0 + settle);
    assert_eq!(bulk_requests(&mut p), 1);
    // Node 1 meets both: the first request goes at once.
    let mut p = Protocol::new(1, 111, &ids, ProtocolConfig::default(), T0);
    hello_from(&mut p, 2, 1, T0);
    hello_from(&mut p, 3, 2, T0);
    assert_eq!(bulk_requests(&mut p), 1);
    // A node that meets its first peer long after its start (it joined
    // through Raft: no member admitted it before) still waits the settle
    // for the others, from that first meeting.
    let late = T0 + Duration::from_secs(1);
    let mut p = Protocol::new(1, 111, &ids, ProtocolConfig::default(), T0);
    hello_from(&mut p, 2, 1, late);
    assert_eq!(bulk_requests(&mut p), 0);
    assert_eq!(p.poll_timeout(), Some(late + settle));
    hello_from(&mut p, 3, 2, late + settle / 2);
    assert_eq!(bulk_requests(&mut p), 1, "asked once both were up");
    // A node that met nobody within the join timeout went ready alone (it
    // was started long before `cluster join` admitted it); meeting its
    // peers later, it settles the same way before it asks for its share,
    // and asks when the settle ends if one never comes.
    let join = ProtocolConfig::default().join_timeout;
    let mut p = Protocol::new(1, 111, &ids, ProtocolConfig::default(), T0);
    p.handle_timeout(T0 + join);
    assert!(p.is_ready(), "alone, ready");
    // Heartbeats keep it from taking the wait for a stop.
    let later = T0 + join + Duration::from_secs(5);
    while let Some(t) = p.poll_timeout().filter(|&t| t < later) {
        p.handle_timeout(t);
    }
    hello_from(&mut p, 2, 1, later);
    assert!(p.is_ready(), "still ready: no stall");
    assert_eq!(bulk_requests(&mut p), 0, "settling");
    assert_eq!(p.poll_timeout(), Some(later + settle));
    p.handle_timeout(later + settle);
    assert_eq!(bulk_requests(&mut p), 1, "asked at the settle's end");
}

mod bulk;
mod peers;

/// A batch that comes again (its ack was lost, and the sender resent it)
/// is acknowledged again: the ack owed for a duplicate was put back on the
/// owed list each time the shell took outputs, and never sent, so the
/// sender kept the batch, and any packet deferred on it, unacknowledged
/// until a later batch's ack covered it.
#[test]
fn a_duplicate_batch_is_acknowledged_again() {
    let mut n = Net::new();
    n.connect();
    n.p[0].push_events(&[out(7, true)]);
    n.p[0].flush(T0);
    n.pump(0);
    let batch = n.wire[1].pop_front().expect("the batch");
    n.p[1].on_frame(1, n.conn, &batch, T0).expect("batch");
    n.pump(1);
    // Its ack is lost on the way.
    n.wire[0].clear();
    assert_eq!(n.p[0].unacked(2).0, 1);
    // The batch again: counted as a duplicate, not applied twice, and
    // acknowledged.
    n.p[1].on_frame(1, n.conn, &batch, T0).expect("again");
    assert_eq!(n.p[1].counters().duplicate_batches, 1);
    n.settle();
    assert_eq!(n.p[0].unacked(2), (0, 0), "acknowledged");
    assert_eq!(n.acked[0], vec![(state(7).key, state(7).inc)]);
    let applied = n.applied[1].iter().filter(|e| e.key().lo.port == 7).count();
    assert_eq!(applied, 1, "applied once");
}
