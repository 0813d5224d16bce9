//! Idle timeouts of synced flows (docs/sync.md §2): a passive copy hears
//! of a busy flow at least once per refresh interval, whatever kind of
//! events the flow makes, so the director's copy does not idle out under
//! a live connection; and the RSTs of `set connection timeout idle …
//! reset` come only from a node whose copy is current (the owner, or once
//! the owner is gone a node the flow crossed), never from a backup or a
//! passive copy whose stale state could be exact for one end.

mod common;

use std::time::Duration;

use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::Source;
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::placement::Placement;
use rampart_dataplane::trace::{Seg, Side, TcpModel, v4_pair};
use rampart_dataplane::{Engine, Instant, Verdict};

const A: u16 = 1;
const B: u16 = 2;
const D: u16 = 3;

/// Every connection idles out after a minute, with a RST to each end.
const POLICY: &str = "class-map all\n match any\npolicy-map global_policy\n class all\n  set connection timeout idle 0:01:00 reset\nservice-policy global_policy global\n";

fn node(id: u16, members: &[u16], copies: usize) -> Engine {
    let mut e = common::synced_node(id, Duration::ZERO, members.len() - 1);
    let text = rampart_dataplane::policy::parse::parse_config(POLICY)
        .expect("parses")
        .config;
    let policy = rampart_dataplane::policy::compile::compile(&text, &e.config().interfaces)
        .expect("compiles");
    e.set_policy(std::sync::Arc::new(policy))
        .expect("the policy's classes fit");
    e.set_placement(Placement::new(members.iter().copied(), copies));
    e
}

/// A connection whose flow `members` (with `copies`) direct at `director`.
fn directed_by(director: u16, members: &[u16], copies: usize) -> (TcpModel, FlowKey) {
    let placement = Placement::new(members.iter().copied(), copies);
    (40_000..41_000)
        .map(|port| {
            let (c, s) = v4_pair(port, 80);
            let m = TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None]);
            let (key, _) = FlowKey::of(&m.tuple());
            (m, key)
        })
        .find(|(_, key)| placement.ranked(key)[0] == director)
        .expect("some port is directed so")
}

/// Send `seg` through `e`, which must forward it.
fn through(e: &mut Engine, m: &TcpModel, seg: &Seg, now: Instant) {
    let mut f = m.frame(seg);
    let v = e.process(&mut f, PacketMeta::default(), m.iface(seg.from), now);
    assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
}

/// Drain `from`'s effects: its sync events are applied by `to` as they
/// are addressed (whole or passive); returns how many RSTs `from` sent.
fn drain(from: &mut Engine, from_id: u16, to: &mut Engine, to_id: u16, now: Instant) -> usize {
    let mut resets = 0;
    while let Some(effect) = from.poll_effect(now) {
        if matches!(effect, Effect::Transmit { .. }) {
            resets += 1;
            continue;
        }
        let Some(o) = effect.into_sync() else {
            continue;
        };
        let passive = if o.full.contains(to_id) {
            false
        } else if o.passive.contains(to_id) {
            true
        } else {
            continue;
        };
        to.apply_peer(&o.event, Source::batch(Some(from_id), passive), now)
            .expect("valid state");
    }
    resets
}

/// The client's SYN through `e`, which opens the connection; the model
/// then shifts as `e` randomized it.
fn open(e: &mut Engine, m: &mut TcpModel, now: Instant) {
    let syn = m.syn();
    through(e, m, &syn, now);
    m.set_shift(e.find(&m.tuple(), now).expect("opened").seq_offset);
}

/// The connection opened through `e`, 100 bytes from the client and the
/// server's ACK of them.
fn established_with_data(e: &mut Engine, m: &mut TcpModel, now: Instant) {
    open(e, m, now);
    for seg in [
        m.syn_ack(),
        m.ack(Side::Client),
        m.data(Side::Client, 100),
        m.ack(Side::Server),
    ] {
        through(e, m, &seg, now);
    }
}

/// `secs` seconds of silence, a second at a time: both nodes run their
/// timers and exchange what they produce. Returns the RSTs each sent.
fn idle(
    (x, x_id): (&mut Engine, u16),
    (y, y_id): (&mut Engine, u16),
    now: &mut Instant,
    secs: u32,
) -> (usize, usize) {
    let (mut x_resets, mut y_resets) = (0, 0);
    for _ in 0..secs {
        *now = *now + Duration::from_secs(1);
        x.expire(*now);
        y.expire(*now);
        x_resets += drain(x, x_id, y, y_id, *now);
        y_resets += drain(y, y_id, x, x_id, *now);
    }
    (x_resets, y_resets)
}

/// A client uploading 100 bytes a second for 90 s through the flow's
/// owner A, each segment ACKed: every packet changes the tracked state, so
/// A makes updates only. The director D holds a passive copy (one copy
/// per flow); before the fix it heard of the insert alone, idled out at
/// one minute under the live connection and sent RSTs built from the
/// handshake's state, the one to the client exact.
#[test]
fn a_passive_director_copy_lives_as_long_as_a_busy_flow_and_never_resets() {
    let members = [A, B, D];
    let (mut m, key) = directed_by(D, &members, 1);
    let (mut a, mut d) = (node(A, &members, 1), node(D, &members, 1));
    let mut now = Instant::from_secs(1_700_000_000);
    open(&mut a, &mut m, now);
    for seg in [m.syn_ack(), m.ack(Side::Client)] {
        through(&mut a, &m, &seg, now);
    }
    assert_eq!(drain(&mut a, A, &mut d, D, now), 0);
    assert_eq!(d.is_passive_copy(&key), Some(true), "D directs passively");
    let (mut a_resets, mut d_resets) = (0, 0);
    for _ in 0..90 {
        now = now + Duration::from_secs(1);
        for seg in [m.data(Side::Client, 100), m.ack(Side::Server)] {
            through(&mut a, &m, &seg, now);
        }
        a.expire(now);
        d.expire(now);
        a_resets += drain(&mut a, A, &mut d, D, now);
        d_resets += drain(&mut d, D, &mut a, A, now);
    }
    assert_eq!((a_resets, d_resets), (0, 0));
    assert!(
        d.find(&m.tuple(), now).is_some(),
        "the director's copy lives while the flow does"
    );
    // The flow falls silent: both copies idle out within a refresh
    // interval (15 s) of each other; only the owner resets the ends.
    let resets = idle((&mut a, A), (&mut d, D), &mut now, 80);
    assert!(a.find(&m.tuple(), now).is_none());
    assert!(d.find(&m.tuple(), now).is_none());
    assert_eq!(resets, (2, 0), "a RST to each end, from A");
}

/// A pair: the backup B heard of the owner's last change at t = 0; a
/// duplicate ACK at 10 s changes nothing and is within the refresh
/// interval, so B hears of it only when the interval ends (before that
/// was queued, not until a later packet, and B's copy idled out ten
/// seconds before A's and reset the connection A still held open). Only
/// A, the owner, resets it when its copy idles out.
#[test]
fn a_backup_that_idles_out_first_leaves_the_resets_to_the_owner() {
    let members = [A, B];
    let (mut m, _) = directed_by(A, &members, 2);
    let (mut a, mut b) = (node(A, &members, 2), node(B, &members, 2));
    let mut now = Instant::from_secs(1_700_000_000);
    established_with_data(&mut a, &mut m, now);
    // Past the backup delay, the last change reaches B.
    now = now + Duration::from_millis(10);
    a.expire(now);
    assert_eq!(drain(&mut a, A, &mut b, B, now), 0);
    assert!(b.find(&m.tuple(), now).is_some(), "B holds a copy");
    now = now + Duration::from_secs(10);
    let dup = m.ack(Side::Server);
    through(&mut a, &m, &dup, now);
    let resets = idle((&mut a, A), (&mut b, B), &mut now, 75);
    assert!(a.find(&m.tuple(), now).is_none());
    assert!(b.find(&m.tuple(), now).is_none());
    assert_eq!(resets, (2, 0), "a RST to each end, from A");
}

/// Once the owner has left the live members, a node the flow crossed
/// resets the ends when its copy idles out (the owner cannot); a node the
/// flow never crossed (a copy only) does not.
#[test]
fn without_its_owner_a_node_on_the_path_resets_and_a_copy_does_not() {
    let members = [A, B, D];
    let (mut m, _) = directed_by(D, &members, 2);
    let (mut a, mut b, mut d) = (
        node(A, &members, 2),
        node(B, &members, 2),
        node(D, &members, 2),
    );
    let mut now = Instant::from_secs(1_700_000_000);
    established_with_data(&mut a, &mut m, now);
    now = now + Duration::from_millis(10);
    a.expire(now);
    // A's events reach D and B as whole copies (as if B had pulled the
    // flow); B then forwards the flow's packets after a route moved.
    let events: Vec<_> = std::iter::from_fn(|| a.poll_effect(now))
        .filter_map(Effect::into_sync)
        .collect();
    for o in &events {
        for e in [&mut b, &mut d] {
            e.apply_peer(&o.event, Source::batch(Some(A), false), now)
                .expect("valid");
        }
    }
    assert!(d.find(&m.tuple(), now).is_some(), "D holds a copy");
    // A dies; B and D learn it.
    for e in [&mut b, &mut d] {
        e.set_peers_up(1);
        e.set_placement(Placement::new([B, D], 2));
    }
    now = now + Duration::from_secs(1);
    let keepalive = m.ack(Side::Client);
    through(&mut b, &m, &keepalive, now);
    let resets = idle((&mut b, B), (&mut d, D), &mut now, 90);
    assert!(b.find(&m.tuple(), now).is_none());
    assert!(d.find(&m.tuple(), now).is_none());
    assert_eq!(resets, (2, 0), "a RST to each end, from B");
}

/// The flow's server side crosses B, the owner A holds the client side:
/// a duplicate ACK through B 14 s after B last told A anything changes
/// nothing and falls within B's refresh interval (15 s), so B tells A
/// when the interval ends. A then idles the connection out a minute
/// after that ACK, not a minute after B's last event: before, A's
/// last-seen lagged B's by up to the interval, and A, the one node that
/// resets, reset the connection after 46 s of silence.
#[test]
fn a_refresh_the_interval_held_back_reaches_the_owner_when_it_ends() {
    let members = [A, B];
    let (mut m, _) = directed_by(A, &members, 2);
    let (mut a, mut b) = (node(A, &members, 2), node(B, &members, 2));
    let t0 = Instant::from_secs(1_700_000_000);
    let mut now = t0;
    open(&mut a, &mut m, now);
    for seg in [m.syn_ack(), m.ack(Side::Client), m.data(Side::Client, 100)] {
        through(&mut a, &m, &seg, now);
    }
    now = now + Duration::from_millis(10);
    a.expire(now);
    assert_eq!(drain(&mut a, A, &mut b, B, now), 0);
    let ack = m.ack(Side::Server);
    through(&mut b, &m, &ack, now);
    assert_eq!(drain(&mut b, B, &mut a, A, now), 0);
    let dup_at = now + Duration::from_secs(14);
    let mut resets_at = None;
    let mut b_resets = 0;
    while now < t0 + Duration::from_secs(100) {
        now = now + Duration::from_millis(500);
        if now == dup_at {
            let dup = m.ack(Side::Server);
            through(&mut b, &m, &dup, now);
        }
        a.expire(now);
        b.expire(now);
        b_resets += drain(&mut b, B, &mut a, A, now);
        if drain(&mut a, A, &mut b, B, now) > 0 && resets_at.is_none() {
            resets_at = Some(now);
        }
    }
    let resets_at = resets_at.expect("A resets the connection");
    assert!(
        resets_at >= dup_at + Duration::from_secs(60),
        "A reset {:?} after the last packet",
        resets_at.saturating_since(dup_at)
    );
    assert_eq!(b_resets, 0);
}
