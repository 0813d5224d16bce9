//! Shunning across a pair (docs/asa-behaviour.md §2.12): a packet held for
//! a peer's state meets the shun list again before it is judged after its
//! wait, so a shun added while it waited covers it too.

mod common;
mod pair_sync;

use std::sync::Arc;
use std::time::Duration;

use rampart_dataplane::engine::Effect;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::shun::{Shun, ShunScope, ShunTable};
use rampart_dataplane::trace::{TcpModel, v4_pair};
use rampart_dataplane::{DropReason, Engine, Instant, Verdict};

fn node(id: u16) -> Engine {
    let mut e = common::synced_node(id, Duration::ZERO, 1);
    let cfg = rampart_dataplane::policy::compile::randomization_off();
    let policy = rampart_dataplane::policy::compile::compile(&cfg, &e.config().interfaces)
        .expect("compiles");
    e.set_policy(Arc::new(policy))
        .expect("the policy's classes fit");
    e
}

#[test]
fn a_held_packet_from_a_source_shunned_while_it_waited_is_dropped_as_shunned() {
    for released_by in ["the peer's state", "its deadline"] {
        let mut nodes = [node(1), node(2)];
        let now = Instant::from_secs(1_700_000_000);
        let (c, s) = v4_pair(40_000, 80);
        let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
        let syn = m.syn();
        let mut f = m.frame(&syn);
        let v = nodes[0].process(&mut f, PacketMeta::default(), m.iface(syn.from), now);
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        // The SYN-ACK reaches node 1 before the SYN's state: it waits.
        let sa = m.syn_ack();
        let mut f = m.frame(&sa);
        let v = nodes[1].process(&mut f, PacketMeta::default(), m.iface(sa.from), now);
        assert_eq!(v, Verdict::Hold);
        nodes[1].set_shuns(Arc::new(ShunTable::new(vec![Shun {
            source: s.ip,
            conn: None,
            scope: ShunScope::Any,
        }])));
        let later = match released_by {
            "the peer's state" => {
                pair_sync::deliver(&mut nodes, 0, now);
                now
            }
            _ => {
                let t = now + Duration::from_secs(1);
                nodes[1].expire(t);
                t
            }
        };
        let left: Vec<Effect> = std::iter::from_fn(|| nodes[1].poll_effect(later))
            .filter(|e| matches!(e, Effect::Release { .. } | Effect::Transmit { .. }))
            .collect();
        assert!(left.is_empty(), "{released_by}: {left:?}");
        assert_eq!(
            nodes[1].counters().dropped(DropReason::Shunned),
            1,
            "{released_by}"
        );
        assert_eq!(nodes[1].shun_hits(), [1], "{released_by}");
    }
}
