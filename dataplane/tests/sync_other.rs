//! Flows of other IP protocols (GRE, ESP, SCTP, …) on the asymmetric path
//! of docs/sync.md §4: opened through node A, answered through node B,
//! which learns the flow from A's event (and holds a reply that outruns
//! it). Events travel by hand, as in `sync_pair.rs`.

mod common;

use std::time::Duration;

use rampart_dataplane::conntrack::ProtoState;
use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::{Source, SyncOut};
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::sync::{SyncEvent, SyncProto};
use rampart_dataplane::trace::{Host, ip_frame, sctp_header, v4_pair};
use rampart_dataplane::{Engine, IfaceId, Instant, Verdict};

fn node(id: u16) -> Engine {
    common::synced_node(id, Duration::ZERO, 1)
}

struct Pair {
    nodes: [Engine; 2],
    /// Events in flight towards node `i`.
    inbox: [Vec<SyncOut>; 2],
    now: Instant,
    released: usize,
}

impl Pair {
    fn new() -> Self {
        Pair {
            nodes: [node(1), node(2)],
            inbox: [Vec::new(), Vec::new()],
            now: Instant::from_secs(1_700_000_000),
            released: 0,
        }
    }

    fn collect(&mut self, i: usize) {
        while let Some(effect) = self.nodes[i].poll_effect(self.now) {
            match effect {
                Effect::Release { .. } => self.released += 1,
                Effect::Transmit { .. } => panic!("unexpected effect {effect:?}"),
                sync => self.inbox[1 - i].extend(sync.into_sync()),
            }
        }
    }

    fn send(&mut self, i: usize, mut frame: Vec<u8>, ingress: IfaceId) -> Verdict {
        self.now = self.now + Duration::from_micros(50);
        let v = self.nodes[i].process(&mut frame, PacketMeta::default(), ingress, self.now);
        self.collect(i);
        v
    }

    /// Everything in flight applied, each node knowing its peer.
    fn sync(&mut self) {
        for i in [0, 1, 0] {
            let from = (1 - i) as u16 + 1;
            for o in std::mem::take(&mut self.inbox[i]) {
                self.nodes[i]
                    .apply_peer(&o.event, Source::batch(Some(from), false), self.now)
                    .expect("valid state");
            }
            self.collect(i);
            self.collect(1 - i);
        }
    }
}

fn gre(from: &Host, to: &Host) -> Vec<u8> {
    ip_frame(from, to, 47, &[0, 0, 0x08, 0, 0x45, 0, 0, 20])
}

fn sctp(from: &Host, to: &Host) -> Vec<u8> {
    ip_frame(from, to, 132, &sctp_header(from, to))
}

/// A GRE flow and an SCTP association opened through A: A's insert carries
/// them as flows of their protocol, B holds the replies that outrun it
/// and releases them once it lands, and then passes the flows' packets
/// as A does.
#[test]
fn other_protocols_are_synced_and_their_replies_pass_on_the_peer() {
    let mut p = Pair::new();
    let (c, s) = v4_pair(40_000, 2905);
    for (name, there, back) in [
        ("GRE", gre(&c, &s), gre(&s, &c)),
        ("SCTP", sctp(&c, &s), sctp(&s, &c)),
    ] {
        assert!(
            matches!(p.send(0, there, c.iface), Verdict::Forward { .. }),
            "{name}"
        );
        let inserted: Vec<_> = p.inbox[1]
            .iter()
            .filter_map(|o| match &o.event {
                SyncEvent::Upsert(st) => Some((st.key.proto, st.proto, st.key.lo.port)),
                _ => None,
            })
            .collect();
        assert!(
            matches!(inserted[..], [(47 | 132, SyncProto::Other, _)]),
            "{name}: {inserted:?}"
        );
        // The reply outruns the insert: held, then released by it.
        assert_eq!(p.send(1, back.clone(), s.iface), Verdict::Hold, "{name}");
        let released = p.released;
        p.sync();
        assert_eq!(p.released, released + 1, "{name}");
        assert!(
            matches!(p.send(1, back, s.iface), Verdict::Forward { .. }),
            "{name}"
        );
    }
    p.sync();
    for i in 0..2 {
        let mut flows: Vec<(u8, u16, u16, ProtoState)> = p.nodes[i]
            .table()
            .iter()
            .map(|(_, e)| (e.key.proto, e.key.lo.port, e.key.hi.port, e.proto))
            .collect();
        flows.sort_by_key(|f| f.0);
        assert_eq!(
            flows,
            [
                (47, 0, 0, ProtoState::Other),
                (132, 40_000, 2905, ProtoState::Other)
            ],
            "node {i}"
        );
    }
}
