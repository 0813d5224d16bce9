//! Dead connection detection beyond the prober's own path
//! (docs/asa-behaviour.md §2.2): a three-node mesh with two copies whose
//! answers cross a node that must pull the flow; a pair whose slow
//! client's late answers cross the peer while the server is dead; the
//! owner gone before the connection idles; a live connection never reset.
//! Each failed before the second review's fixes.

mod common;
mod mesh;

use std::time::Duration;

use mesh::{Mesh, ranked_as};
use rampart_dataplane::placement::Placement;
use rampart_dataplane::trace::{Side, TcpModel};
use rampart_dataplane::{Engine, Instant, Verdict};

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
    let mut mesh = Mesh::new(&ids, |i| node(i, &ids, dcd));
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
    let mut mesh = Mesh::new(&ids, |i| node(i, &ids, dcd));
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
    let mut mesh = Mesh::new(&ids, |i| node(i, &ids, "dcd 0:00:05 3"));
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
    let mut mesh = Mesh::new(&ids, |i| node(i, &ids, "reset dcd 0:00:15 1"));
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
