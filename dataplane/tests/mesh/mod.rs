//! A mesh of synced engines for the tests whose flows cross more nodes
//! than the one that opened them (`sync_dcd_mesh.rs`,
//! `sync_intercept.rs`): every node's sync events reach the peers the
//! sender addressed, whole or passive copies, and pulls are served by the
//! nodes asked and the flow's director (docs/sync.md §13), all at once and
//! in memory.

use std::collections::BTreeMap;

use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::{PullOut, Source};
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::placement::Placement;
use rampart_dataplane::sync::SyncEvent;
use rampart_dataplane::trace::{Seg, TcpModel, v4_pair};
use rampart_dataplane::{Engine, IfaceId, Instant, Verdict};

/// A frame a node built itself (a probe, a reset, TCP Intercept's
/// segments) or let go after it waited for a peer.
#[derive(Debug, Clone)]
#[allow(
    dead_code,
    reason = "each test binary compiles this module apart; the DCD tests read only what `pump` returns"
)]
pub struct Out {
    /// The node it left.
    pub node: u16,
    /// Where it left.
    pub egress: IfaceId,
    /// The frame.
    pub frame: Vec<u8>,
    /// Whether it is a held frame released (else one the node built).
    pub released: bool,
}

/// The nodes, by id, and the placement they share.
pub struct Mesh {
    /// The live members.
    pub ids: Vec<u16>,
    nodes: BTreeMap<u16, Engine>,
    placement: Placement,
    /// Every frame the nodes built or released, in order.
    pub out: Vec<Out>,
}

impl Mesh {
    /// Members `ids`, each built by `node` (which sets its placement).
    pub fn new(ids: &[u16], mut node: impl FnMut(u16) -> Engine) -> Mesh {
        Mesh {
            ids: ids.to_vec(),
            nodes: ids.iter().map(|&i| (i, node(i))).collect(),
            placement: Placement::new(ids.iter().copied(), 2),
            out: Vec::new(),
        }
    }

    /// Node `id`.
    pub fn get(&mut self, id: u16) -> &mut Engine {
        self.nodes.get_mut(&id).unwrap()
    }

    /// Deliver every node's effects until none is left; returns the
    /// frames the nodes built meanwhile, by node and egress.
    pub fn pump(&mut self, now: Instant) -> Vec<(u16, IfaceId)> {
        let mut built = Vec::new();
        for _round in 0..20 {
            let mut any = false;
            for from in self.ids.clone() {
                let effects: Vec<Effect> =
                    std::iter::from_fn(|| self.get(from).poll_effect(now)).collect();
                for e in effects {
                    any = true;
                    match e {
                        Effect::Transmit { egress, frame } => {
                            built.push((from, egress));
                            self.out.push(Out {
                                node: from,
                                egress,
                                frame,
                                released: false,
                            });
                        }
                        Effect::Release { egress, frame, .. } => self.out.push(Out {
                            node: from,
                            egress,
                            frame,
                            released: true,
                        }),
                        Effect::HandOff { .. } => {}
                        Effect::Pull(p) => self.pull(from, p, now),
                        other => {
                            let o = other.into_sync().unwrap();
                            for to in self.ids.clone() {
                                if to == from {
                                    continue;
                                }
                                let passive = if o.full.contains(to) {
                                    false
                                } else if o.passive.contains(to) {
                                    true
                                } else {
                                    continue;
                                };
                                let _ = self.get(to).apply_peer(
                                    &o.event,
                                    Source::batch(Some(from), passive),
                                    now,
                                );
                            }
                        }
                    }
                }
            }
            if !any {
                break;
            }
        }
        built
    }

    fn pull(&mut self, from: u16, p: PullOut, now: Instant) {
        match p {
            PullOut::Want { key, ask, director } => {
                let d = self.placement.director(&key).filter(|_| director);
                for to in self.ids.clone() {
                    if to != from && (ask.contains(to) || d == Some(to)) {
                        self.get(to).serve_pull(&key, from, true, None, now);
                    }
                }
            }
            PullOut::Answer {
                to,
                state,
                copy,
                holders,
                ..
            } => {
                let mut others = holders;
                others.remove(to);
                others.remove(from);
                let _ = self.get(to).apply_peer(
                    &SyncEvent::Upsert(state),
                    Source::answer(from, copy, others),
                    now,
                );
            }
            PullOut::Confirm { to, confirm } => self.get(to).apply_confirm(&confirm, from, now),
            PullOut::Miss { .. } => {}
        }
    }

    /// Run every node's timers at `now`, then [`pump`](Self::pump).
    pub fn tick(&mut self, now: Instant) -> Vec<(u16, IfaceId)> {
        for id in self.ids.clone() {
            self.get(id).expire(now);
        }
        self.pump(now)
    }

    /// `seg` enters node `at` on its side's interface.
    pub fn send(&mut self, at: u16, m: &TcpModel, seg: &Seg, now: Instant) -> Verdict {
        self.send_frame(at, m, seg, now).0
    }

    /// [`send`](Self::send), with the frame as it leaves (when it does).
    pub fn send_frame(
        &mut self,
        at: u16,
        m: &TcpModel,
        seg: &Seg,
        now: Instant,
    ) -> (Verdict, Vec<u8>) {
        let mut f = m.frame(seg);
        let v = self
            .get(at)
            .process(&mut f, PacketMeta::default(), m.iface(seg.from), now);
        (v, f)
    }
}

/// A connection whose flow the nodes `members` rank as `order`.
pub fn ranked_as(members: &[u16], order: &[u16]) -> (TcpModel, FlowKey) {
    let p = Placement::new(members.iter().copied(), 2);
    (40_000..45_000)
        .map(|port| {
            let (c, s) = v4_pair(port, 80);
            let m = TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None]);
            let (key, _) = FlowKey::of(&m.tuple());
            (m, key)
        })
        .find(|(_, key)| p.ranked(key) == order)
        .expect("some port")
}
