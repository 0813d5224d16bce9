//! The `fragment` lines of a configuration text as an engine enforces them
//! (docs/asa-behaviour.md §2.8): parsed, compiled for the node's
//! interfaces, and each interface's limits applied to the fragments that
//! arrive on it.

use std::sync::Arc;
use std::time::Duration;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::engine::Effect;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::policy::compile::compile;
use rampart_dataplane::policy::parse_config;
use rampart_dataplane::trace::{Host, fragment_frame, udp_frame, v4_pair};
use rampart_dataplane::{DropReason, Engine, EngineConfig, IfaceId, Instant, Verdict};

const INSIDE: IfaceId = IfaceId(0);
const OUTSIDE: IfaceId = IfaceId(1);

fn engine(text: &str) -> Engine {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    let cfg = parse_config(text).unwrap_or_else(|e| panic!("{text}\n{e}"));
    let policy = compile(&cfg.config, &e.config().interfaces).unwrap();
    e.set_policy(Arc::new(policy)).unwrap();
    e
}

/// A UDP datagram of 3,000 bytes in 3 fragments.
fn fragments(src: &Host, dst: &Host, id: u32) -> Vec<Vec<u8>> {
    fragment_frame(&udp_frame(src, dst, &[0x5a; 3_000]), 1_480, id)
}

fn send(e: &mut Engine, frame: &[u8], ingress: IfaceId, now: Instant) -> Verdict {
    let mut f = frame.to_vec();
    e.process(&mut f, PacketMeta::default(), ingress, now)
}

fn released(e: &mut Engine, now: Instant) -> usize {
    std::iter::from_fn(|| e.poll_effect(now))
        .filter(|x| matches!(x, Effect::Release { .. }))
        .count()
}

/// `fragment chain 1 outside` (a hardening guide's line): no fragment
/// enters by the outside, while the inside keeps the ASA's 24.
#[test]
fn chain_1_on_one_interface_refuses_its_fragments_only() {
    let now = Instant::from_secs(1_700_000_000);
    let mut e = engine("fragment chain 1 outside");
    let (c, s) = v4_pair(40_000, 5_000);
    for f in &fragments(&c, &s, 7) {
        assert_eq!(send(&mut e, f, INSIDE, now), Verdict::Hold);
    }
    assert_eq!(released(&mut e, now), 3);
    let refused = Verdict::Drop(DropReason::Fragment);
    assert_eq!(
        send(&mut e, &fragments(&s, &c, 8)[0], OUTSIDE, now),
        refused
    );
}

/// A global `fragment chain 2` holds the outside to two fragments, but
/// the inside's own line wins (written before the global one): three
/// pass there; and the inside's own `fragment timeout 1`.
#[test]
fn an_interfaces_own_lines_win_over_the_global_ones() {
    let mut now = Instant::from_secs(1_700_000_000);
    let mut e = engine("fragment chain 24 inside\nfragment timeout 1 inside\nfragment chain 2");
    let (c, s) = v4_pair(40_000, 5_000);
    for f in &fragments(&c, &s, 7) {
        assert_eq!(send(&mut e, f, INSIDE, now), Verdict::Hold);
    }
    assert_eq!(released(&mut e, now), 3);
    let back = fragments(&s, &c, 8);
    assert_eq!(send(&mut e, &back[0], OUTSIDE, now), Verdict::Hold);
    assert_eq!(send(&mut e, &back[1], OUTSIDE, now), Verdict::Hold);
    assert_eq!(
        send(&mut e, &back[2], OUTSIDE, now),
        Verdict::Drop(DropReason::FragmentChainExceeded)
    );
    // The inside's timeout: a datagram still missing a fragment after a
    // second is dropped (the default would wait 5 s).
    let late = fragments(&c, &s, 9);
    assert_eq!(send(&mut e, &late[0], INSIDE, now), Verdict::Hold);
    now = now + Duration::from_millis(1_100);
    e.expire(now);
    assert_eq!(e.fragment_stats()[usize::from(INSIDE.0)].queued, 0);
    assert_eq!(e.counters().dropped(DropReason::FragmentTimeout), 1);
}
