//! Dead connection detection beyond the prober's own path
//! (docs/asa-behaviour.md §2.2): a three-node mesh with two copies whose
//! answers cross a node that must pull the flow; a pair whose slow
//! client's late answers cross the peer while the server is dead; the
//! owner gone before the connection idles; a live connection never reset.
//! Each failed before the second review's fixes.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::{PullOut, Source};
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::placement::Placement;
use rampart_dataplane::sync::SyncEvent;
use rampart_dataplane::trace::{Seg, Side, TcpModel, v4_pair};
use rampart_dataplane::{Engine, IfaceId, Instant, Verdict};

const A: u16 = 1;
const B: u16 = 2;
const C: u16 = 3;

fn policy(dcd: &str) -> String {
    format!(
        "class-map all\n match any\npolicy-map global_policy\n class all\n  set connection timeout idle 0:01:00 {dcd}\nservice-policy global_policy global\n"
    )
}

fn node(id: u16, members: &[u16], dcd: &str) -> Engine {
    let mut e = common::synced_node(id, Duration::ZERO, members.len() - 1);
    let text = rampart_dataplane::policy::parse::parse_config(&policy(dcd))
        .expect("parses")
        .config;
    let p = rampart_dataplane::policy::compile::compile(&text, &e.config().interfaces)
        .expect("compiles");
    e.set_policy(std::sync::Arc::new(p)).expect("fits");
    e.set_placement(Placement::new(members.iter().copied(), 2));
    e
}

struct Mesh {
    ids: Vec<u16>,
    nodes: BTreeMap<u16, Engine>,
    placement: Placement,
    /// Probes sent (node, egress).
    probes: Vec<(u16, IfaceId)>,
}

impl Mesh {
    fn new(ids: &[u16], dcd: &str) -> Mesh {
        Mesh {
            ids: ids.to_vec(),
            nodes: ids.iter().map(|&i| (i, node(i, ids, dcd))).collect(),
            placement: Placement::new(ids.iter().copied(), 2),
            probes: Vec::new(),
        }
    }

    fn get(&mut self, id: u16) -> &mut Engine {
        self.nodes.get_mut(&id).unwrap()
    }

    /// Deliver every node's effects until none is left.
    fn pump(&mut self, now: Instant) -> Vec<(u16, IfaceId)> {
        let mut probes = Vec::new();
        for _round in 0..20 {
            let mut any = false;
            for from in self.ids.clone() {
                let effects: Vec<Effect> =
                    std::iter::from_fn(|| self.get(from).poll_effect(now)).collect();
                for e in effects {
                    any = true;
                    match e {
                        Effect::Transmit { egress, .. } => probes.push((from, egress)),
                        Effect::Release { .. } | Effect::HandOff { .. } => {}
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
        self.probes.extend(probes.iter().copied());
        probes
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

    fn tick(&mut self, now: Instant) -> Vec<(u16, IfaceId)> {
        for id in self.ids.clone() {
            self.get(id).expire(now);
        }
        self.pump(now)
    }

    /// `seg` enters node `at` on its side's interface.
    fn send(&mut self, at: u16, m: &TcpModel, seg: &Seg, now: Instant) -> Verdict {
        let mut f = m.frame(seg);
        self.get(at)
            .process(&mut f, PacketMeta::default(), m.iface(seg.from), now)
    }
}

/// A connection whose flow the nodes rank as `order`.
fn ranked_as(members: &[u16], order: &[u16]) -> (TcpModel, FlowKey) {
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

/// Open a connection symmetrically through `at`.
fn open(mesh: &mut Mesh, at: u16, m: &mut TcpModel, now: Instant) {
    let syn = m.syn();
    assert!(matches!(
        mesh.send(at, m, &syn, now),
        Verdict::Forward { .. }
    ));
    let off = mesh.get(at).find(&m.tuple(), now).unwrap().seq_offset;
    m.set_shift(off);
    for seg in [
        m.syn_ack(),
        m.ack(Side::Client),
        m.data(Side::Client, 100),
        m.data(Side::Server, 100),
        m.ack(Side::Client),
    ] {
        let v = mesh.send(at, m, &seg, now);
        assert!(matches!(v, Verdict::Forward { .. }), "{seg:?} {v:?}");
    }
    mesh.pump(now);
}

/// Owner A, director A, backup B; C holds nothing. Both ends alive; every
/// answer to a probe crosses C (the path moved). Runs `secs` seconds;
/// returns (A's dead count, A's kept count).
fn answers_through_c(dcd: &str, secs: u32) -> (u64, u64, bool) {
    let ids = [A, B, C];
    let (mut m, _key) = ranked_as(&ids, &[A, B, C]);
    let mut mesh = Mesh::new(&ids, dcd);
    let mut now = Instant::from_secs(1_700_000_000);
    open(&mut mesh, A, &mut m, now);
    assert!(mesh.get(B).find(&m.tuple(), now).is_some(), "B backs A up");
    assert!(
        mesh.get(C).find(&m.tuple(), now).is_none(),
        "C holds nothing"
    );
    for _ in 0..secs * 10 {
        now = now + Duration::from_millis(100);
        let sent = mesh.tick(now);
        for (at, egress) in sent {
            assert_eq!(at, A, "only the owner probes");
            let end = m.side_behind(egress);
            let t = now + Duration::from_millis(1);
            let ack = m.clone().ack(end);
            mesh.send(C, &m, &ack, t);
            mesh.pump(t);
        }
    }
    verdict(&mut mesh, &m, now)
}

/// What the prober A made of the connection: (dead, kept, still held).
fn verdict(mesh: &mut Mesh, m: &TcpModel, now: Instant) -> (u64, u64, bool) {
    let a = mesh.get(A);
    (
        a.counters().dcd.dead,
        a.counters().dcd.kept,
        a.find(&m.tuple(), now).is_some(),
    )
}

#[test]
fn mesh_answers_through_a_third_node_one_probe() {
    let r = answers_through_c("dcd 0:00:15 1", 150);
    assert_eq!(r.0, 0, "a live connection was removed as dead: {r:?}");
}

#[test]
fn mesh_answers_through_a_third_node_three_probes() {
    let r = answers_through_c("dcd 0:00:01 3", 150);
    assert_eq!(r.0, 0, "a live connection was removed as dead: {r:?}");
}

#[test]
fn mesh_answers_through_a_third_node_defaults() {
    let r = answers_through_c("dcd", 250);
    assert_eq!(r.0, 0, "a live connection was removed as dead: {r:?}");
}

/// A pair; A owns the connection (opened through A). Each probe's answer
/// (when its end lives) enters node `via[end]` `delay[end]` after the
/// probe left. Runs `secs` seconds; returns (dead, kept, present at A).
fn pair_run(
    dcd: &str,
    secs: u32,
    alive: [bool; 2],
    via: [u16; 2],
    delay: [Duration; 2],
) -> (u64, u64, bool) {
    let ids = [A, B];
    let (mut m, _key) = ranked_as(&ids, &[A, B]);
    let mut mesh = Mesh::new(&ids, dcd);
    let mut now = Instant::from_secs(1_700_000_000);
    open(&mut mesh, A, &mut m, now);
    let mut pending: Vec<(Instant, Side)> = Vec::new();
    for _ in 0..secs * 10 {
        now = now + Duration::from_millis(100);
        let sent = mesh.tick(now);
        for (_, egress) in sent {
            let end = m.side_behind(egress);
            let i = end as usize;
            if alive[i] {
                pending.push((now + delay[i], end));
            }
        }
        pending.sort_by_key(|p| p.0);
        let next = now + Duration::from_millis(100);
        while pending.first().is_some_and(|p| p.0 < next) {
            let (t, end) = pending.remove(0);
            if mesh.get(A).find(&m.tuple(), t).is_none() {
                continue;
            }
            let ack = m.clone().ack(end);
            mesh.send(via[end as usize], &m, &ack, t);
            mesh.pump(t);
        }
    }
    verdict(&mut mesh, &m, now)
}

/// A live client 1.2 s away whose answers cross B, and a dead server:
/// the client's answer to the second probe (sent before B's word of the
/// first reached A) reaches A as B's trailing refresh during the server's
/// probing, and answers for the dead server, every round.
#[test]
fn pair_slow_client_through_peer_dead_server_is_found_dead() {
    let r = pair_run(
        "dcd 0:00:01 3",
        900,
        [true, false],
        [B, B],
        [Duration::from_millis(1200), Duration::ZERO],
    );
    assert_eq!(
        r.0, 1,
        "the dead server was never found dead in 15 minutes: {r:?}"
    );
}

/// Control: the same client answering within 100 ms: found dead.
#[test]
fn pair_fast_client_through_peer_dead_server_is_found_dead() {
    let r = pair_run(
        "dcd 0:00:01 3",
        900,
        [true, false],
        [B, B],
        [Duration::from_millis(100), Duration::ZERO],
    );
    assert_eq!(r.0, 1, "{r:?}");
}

/// A pair; the connection opened symmetrically through its owner A, B
/// holds A's copy. A dies (B's members are B alone); afterwards every
/// packet of the connection crosses B. Both ends live and answer any
/// probe through B. Returns (B's probes, B's dead, B's kept, present on B
/// after `secs`).
fn owner_gone(secs: u32) -> (usize, u64, u64, bool) {
    let ids = [A, B];
    let (mut m, _key) = ranked_as(&ids, &[A, B]);
    let mut mesh = Mesh::new(&ids, "dcd 0:00:05 3");
    let mut now = Instant::from_secs(1_700_000_000);
    open(&mut mesh, A, &mut m, now);
    assert!(mesh.get(B).find(&m.tuple(), now).is_some());
    // A dies.
    mesh.ids = vec![B];
    let b = mesh.get(B);
    b.set_placement(Placement::new([B], 2));
    b.set_peers_up(0);
    let mut probes = 0;
    for _ in 0..secs * 10 {
        now = now + Duration::from_millis(100);
        let sent = mesh.tick(now);
        for (_, egress) in sent {
            probes += 1;
            let end = m.side_behind(egress);
            let t = now + Duration::from_millis(1);
            let ack = m.clone().ack(end);
            mesh.send(B, &m, &ack, t);
            mesh.pump(t);
        }
    }
    let b = mesh.get(B);
    (
        probes,
        b.counters().dcd.dead,
        b.counters().dcd.kept,
        b.find(&m.tuple(), now).is_some(),
    )
}

#[test]
fn owner_gone_live_idle_connection_is_probed_and_kept() {
    let r = owner_gone(400);
    assert!(
        r.3,
        "the live idle connection was removed after its owner left: {r:?}"
    );
}

/// As `mesh_answers_through_a_third_node_one_probe`, with `reset`: the
/// live ends are sent the idle RSTs.
#[test]
fn mesh_one_probe_with_reset_resets_live_ends() {
    let ids = [A, B, C];
    let (mut m, _key) = ranked_as(&ids, &[A, B, C]);
    let mut mesh = Mesh::new(&ids, "reset dcd 0:00:15 1");
    let mut now = Instant::from_secs(1_700_000_000);
    open(&mut mesh, A, &mut m, now);
    let mut frames = 0;
    for _ in 0..1500 {
        now = now + Duration::from_millis(100);
        let sent = mesh.tick(now);
        for (_, egress) in sent {
            frames += 1;
            let end = m.side_behind(egress);
            if mesh.get(A).find(&m.tuple(), now).is_none() {
                continue;
            }
            let t = now + Duration::from_millis(1);
            let ack = m.clone().ack(end);
            mesh.send(C, &m, &ack, t);
            mesh.pump(t);
        }
    }
    let dead = mesh.get(A).counters().dcd.dead;
    assert_eq!(dead, 0, "live ends reset: {frames} frames");
}
