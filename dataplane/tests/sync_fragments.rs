//! A fragmented datagram in a cluster (docs/asa-behaviour.md §2.8,
//! docs/sync.md §4): the datagram its fragments make waits for a peer's
//! state as one packet, and its fragments leave when it passes, as they
//! came. Events travel by hand, as in `sync_pair.rs`.

mod common;

use std::time::Duration;

use rampart_dataplane::engine::sync::Source;
use rampart_dataplane::engine::{Effect, ReleaseCause};
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{fragment_frame, udp_frame, v4_pair};
use rampart_dataplane::{Engine, IfaceId, Instant, Verdict};

/// Drain `node`'s effects: the frames it released (with why), and the
/// sync events for its peer.
fn drain(
    node: &mut Engine,
    now: Instant,
) -> (
    Vec<(Vec<u8>, ReleaseCause)>,
    Vec<rampart_dataplane::engine::sync::SyncOut>,
) {
    let (mut frames, mut events) = (Vec::new(), Vec::new());
    while let Some(effect) = node.poll_effect(now) {
        match effect {
            Effect::Release { frame, cause, .. } => frames.push((frame, cause)),
            other => events.extend(other.into_sync()),
        }
    }
    (frames, events)
}

fn send(node: &mut Engine, frame: &[u8], ingress: IfaceId, now: Instant) -> Verdict {
    let mut f = frame.to_vec();
    node.process(&mut f, PacketMeta::default(), ingress, now)
}

/// The reply's fragments reach node B before A's insert of the flow: the
/// datagram they make is held there, and when the insert lands they all
/// leave, unchanged.
#[test]
fn a_fragmented_reply_that_outruns_the_insert_waits_whole_and_leaves_in_fragments() {
    let mut a = common::synced_node(1, Duration::ZERO, 1);
    let mut b = common::synced_node(2, Duration::ZERO, 1);
    let mut now = Instant::from_secs(1_700_000_000);
    let (c, s) = v4_pair(40_000, 53);
    let query = udp_frame(&c, &s, b"a question");
    assert!(matches!(
        send(&mut a, &query, c.iface, now),
        Verdict::Forward { .. }
    ));
    let (_, inserts) = drain(&mut a, now);
    assert!(!inserts.is_empty());
    let answer = udp_frame(&s, &c, &[0x5a; 3_000]);
    let frags = fragment_frame(&answer, 1_480, 42);
    now = now + Duration::from_micros(50);
    for f in &frags {
        assert_eq!(send(&mut b, f, s.iface, now), Verdict::Hold);
    }
    let (released, _) = drain(&mut b, now);
    assert!(released.is_empty(), "held for the peer's state");
    for o in &inserts {
        b.apply_peer(&o.event, Source::batch(Some(1), false), now)
            .expect("valid state");
    }
    let (released, _) = drain(&mut b, now);
    let frames: Vec<_> = released.iter().map(|(f, _)| f.clone()).collect();
    assert_eq!(frames, frags);
    assert!(
        released
            .iter()
            .all(|(_, cause)| *cause == ReleaseCause::HeldPassed)
    );
}

/// With `defer`, the datagram that opens a flow waits for the peer's
/// acknowledgement (or the deadline) as one packet, then its fragments
/// leave.
#[test]
fn a_fragmented_opening_datagram_is_deferred_whole() {
    let mut a = common::synced_node(1, Duration::from_millis(10), 1);
    let mut now = Instant::from_secs(1_700_000_000);
    let (c, s) = v4_pair(40_000, 53);
    let frags = fragment_frame(&udp_frame(&c, &s, &[7; 2_500]), 1_480, 3);
    for f in &frags {
        assert_eq!(send(&mut a, f, c.iface, now), Verdict::Hold);
    }
    let (released, events) = drain(&mut a, now);
    assert!(released.is_empty(), "deferred");
    assert!(!events.is_empty(), "the insert goes to the peer");
    now = now + Duration::from_millis(20);
    a.expire(now);
    let (released, _) = drain(&mut a, now);
    let frames: Vec<_> = released.iter().map(|(f, _)| f.clone()).collect();
    assert_eq!(frames, frags);
    assert!(
        released
            .iter()
            .all(|(_, cause)| *cause == ReleaseCause::DeferTimedOut)
    );
}

/// A reassembled datagram that waited for a peer's state which never came
/// is dropped at its deadline: each of its fragments is counted, as
/// without a cluster (a review saw one drop counted for three).
#[test]
fn a_held_datagram_dropped_at_its_deadline_counts_every_fragment() {
    let mut b = common::synced_node(2, Duration::ZERO, 1);
    let mut now = Instant::from_secs(1_700_000_000);
    let (c, s) = v4_pair(40_000, 53);
    // A reply to a flow no node opened: held for a peer's insert.
    let frags = fragment_frame(&udp_frame(&s, &c, &[0x5a; 3_000]), 1_480, 43);
    for f in &frags {
        assert_eq!(send(&mut b, f, s.iface, now), Verdict::Hold);
    }
    let denied = rampart_dataplane::DropReason::AclDeny;
    let before = b.counters().dropped(denied);
    now = now + Duration::from_secs(1);
    b.expire(now);
    let (released, _) = drain(&mut b, now);
    assert!(released.is_empty());
    assert_eq!(b.counters().dropped(denied) - before, 3);
}
