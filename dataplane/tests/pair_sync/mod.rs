//! What the two-node sync tests (`sync_mss.rs`, `sync_tcp_map.rs`,
//! `sync_intercept.rs`) share: handing one node's sync effects to its peer.

use rampart_dataplane::engine::Effect;
use rampart_dataplane::sync::SyncEvent;
use rampart_dataplane::{Engine, Instant};

/// Everything `from` has to say to its peer, applied by the other node
/// (inserts acknowledged, as the protocol does once a batch is applied).
/// No frame may leave meanwhile.
pub fn deliver(nodes: &mut [Engine; 2], from: usize, now: Instant) {
    for effect in exchange(nodes, from, now) {
        assert!(!matches!(effect, Effect::Transmit { .. }), "{effect:?}");
    }
}

/// [`deliver`], returning `from`'s other effects (frames it built or
/// released, pulls) in order.
pub fn exchange(nodes: &mut [Engine; 2], from: usize, now: Instant) -> Vec<Effect> {
    let mut rest = Vec::new();
    while let Some(effect) = nodes[from].poll_effect(now) {
        if !matches!(effect, Effect::FlowChanged(_) | Effect::FlowDeleted { .. }) {
            rest.push(effect);
            continue;
        }
        if let Some(o) = effect.into_sync() {
            nodes[1 - from]
                .apply_sync(&o.event, now)
                .expect("valid state");
            if o.want_ack
                && let SyncEvent::Upsert(s) = &o.event
            {
                nodes[from].sync_acked(&s.key, &s.inc);
            }
        }
    }
    rest
}
