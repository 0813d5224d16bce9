//! Access-list entries with a `time-range` (docs/asa-behaviour.md §2.10),
//! on real frames: compiled with the range inactive an entry matches
//! nothing and the next entry decides; active it matches. The node
//! re-installs the policy compiled for the new set at a transition: a
//! connection opened before it lives on (the ASA checks the rules when a
//! connection is created, not after), and every entry keeps its hit count.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::policy::compile::{compile, compile_at, disable_randomization};
use rampart_dataplane::policy::parse_config;
use rampart_dataplane::trace::{Side, TcpModel, v4_pair};
use rampart_dataplane::{DropReason, Engine, EngineConfig, IfaceId, Instant, Verdict};

const INSIDE: IfaceId = IfaceId(0);

const RULES: &str = "\
time-range BLOCK
 periodic weekdays 9:00 to 17:00
time-range WORK
 periodic weekdays 8:00 to 18:00
access-list IN extended deny tcp any any eq www time-range BLOCK
access-list IN extended permit tcp any any eq www
access-list IN extended permit tcp any any eq ssh time-range WORK
access-group IN in interface inside
";

/// Install `text` compiled with `active` ranges active.
fn install(e: &mut Engine, text: &str, active: &[&str]) {
    let mut cfg = parse_config(text).expect("parses").config;
    disable_randomization(&mut cfg);
    let active: BTreeSet<String> = active.iter().map(|s| s.to_string()).collect();
    let p = compile_at(&cfg, &e.config().interfaces, &active).expect("compiles");
    e.set_policy(Arc::new(p)).expect("the classes fit");
}

fn engine(active: &[&str]) -> Engine {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    install(&mut e, RULES, active);
    e
}

fn hits(e: &Engine) -> Vec<u64> {
    let listing = &e.policy().listings()[0];
    e.acl_hits().of(listing).to_vec()
}

fn model(client_port: u16, server_port: u16) -> TcpModel {
    let (c, s) = v4_pair(client_port, server_port);
    TcpModel::new(c, s, [100, 900_000], [64_240, 65_160], [Some(7), Some(7)])
}

fn syn(e: &mut Engine, m: &mut TcpModel, now: Instant) -> Verdict {
    let seg = m.syn();
    let mut f = m.frame(&seg);
    e.process(&mut f, PacketMeta::default(), INSIDE, now)
}

const T0: Instant = Instant::from_secs(1_700_000_000);

#[test]
fn an_entry_whose_range_is_inactive_matches_nothing_and_the_next_decides() {
    // BLOCK inactive: the permit after it takes port 80.
    let mut e = engine(&[]);
    assert!(matches!(
        syn(&mut e, &mut model(40_000, 80), T0),
        Verdict::Forward { .. }
    ));
    // WORK inactive: nothing permits ssh.
    assert_eq!(
        syn(&mut e, &mut model(40_001, 22), T0),
        Verdict::Drop(DropReason::AclDeny)
    );
    assert_eq!(hits(&e), [0, 1, 0]);
    // Both active: the deny takes port 80, ssh passes.
    let mut e = engine(&["BLOCK", "WORK"]);
    assert_eq!(
        syn(&mut e, &mut model(40_002, 80), T0),
        Verdict::Drop(DropReason::AclDeny)
    );
    assert!(matches!(
        syn(&mut e, &mut model(40_003, 22), T0),
        Verdict::Forward { .. }
    ));
    assert_eq!(hits(&e), [1, 0, 1]);
    // `compile` knows no clock: no range is active.
    let cfg = parse_config(RULES).unwrap().config;
    let p = compile(&cfg, &e.config().interfaces).unwrap();
    assert!(p.active_time_ranges().is_empty() && p.is_timed());
    let inactive: Vec<bool> = p.listings()[0]
        .entries()
        .map(|l| l.entry.unwrap().inactive)
        .collect();
    assert_eq!(inactive, [true, false, true]);
}

#[test]
fn a_swap_at_a_transition_keeps_live_connections_and_hit_counts() {
    let mut e = engine(&["WORK"]);
    let mut m = model(41_000, 22);
    let mut segs = m.handshake().to_vec();
    segs.push(m.data(Side::Client, 100));
    for seg in &segs {
        let v = e.process(
            &mut m.frame(seg),
            PacketMeta::default(),
            m.iface(seg.from),
            T0,
        );
        assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
    }
    assert_eq!(hits(&e), [0, 0, 1]);
    // 18:01: WORK ends, and the node installs the policy compiled so.
    install(&mut e, RULES, &[]);
    let later = T0 + std::time::Duration::from_secs(1);
    for seg in [
        m.data(Side::Server, 900),
        m.data(Side::Client, 10),
        m.fin(Side::Client),
    ] {
        let v = e.process(
            &mut m.frame(&seg),
            PacketMeta::default(),
            m.iface(seg.from),
            later,
        );
        assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
    }
    // A new ssh connection is refused now; the entry keeps its count and
    // is listed inactive.
    assert_eq!(
        syn(&mut e, &mut model(41_001, 22), later),
        Verdict::Drop(DropReason::AclDeny)
    );
    assert_eq!(hits(&e), [0, 0, 1]);
    let entry = e.policy().listings()[0]
        .entries()
        .nth(2)
        .unwrap()
        .entry
        .unwrap();
    assert!(entry.inactive);
    // And back on the next morning, still counting on.
    install(&mut e, RULES, &["WORK"]);
    assert!(matches!(
        syn(&mut e, &mut model(41_002, 22), later),
        Verdict::Forward { .. }
    ));
    assert_eq!(hits(&e), [0, 0, 2]);
}

// === a cluster at a boundary ===

/// Two nodes whose clocks put a boundary on either side of a connection's
/// opening: node A (range active) passes the client's SYN; node B (range
/// already inactive) gets the server's SYN-ACK before A's state. B does
/// not hold it for A's state, as it would were the range active there
/// too: by its own rules nobody could have opened the connection, so it
/// drops it at once, and passes nothing of its own accord. Once A's state
/// arrives, the server's retransmission passes: a transition costs a
/// retransmission at most, and lets nothing through that neither node's
/// rules allow (docs/asa-behaviour.md §2.10).
#[test]
fn two_nodes_disagreeing_at_a_boundary_drop_at_most_and_pass_nothing_new() {
    for b_active in [true, false] {
        let mut a = common::synced_node(1, std::time::Duration::ZERO, 1);
        let mut b = common::synced_node(2, std::time::Duration::ZERO, 1);
        install(&mut a, RULES, &["WORK"]);
        install(&mut b, RULES, if b_active { &["WORK"] } else { &[] });
        let mut m = model(42_000, 22);
        assert!(matches!(syn(&mut a, &mut m, T0), Verdict::Forward { .. }));
        let synack = m.syn_ack();
        let v = b.process(
            &mut m.frame(&synack),
            PacketMeta::default(),
            m.iface(Side::Server),
            T0,
        );
        if b_active {
            assert_eq!(v, Verdict::Hold, "held for the peer's state");
        } else {
            assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
        }
        // A's state reaches B; a held frame leaves with it.
        let mut released = 0;
        while let Some(effect) = a.poll_effect(T0) {
            if let Some(out) = effect.into_sync() {
                b.apply_sync(&out.event, T0).expect("valid state");
            }
        }
        while let Some(effect) = b.poll_effect(T0) {
            if matches!(effect, rampart_dataplane::engine::Effect::Release { .. }) {
                released += 1;
            }
        }
        assert_eq!(released, usize::from(b_active));
        if !b_active {
            let v = b.process(
                &mut m.frame(&synack),
                PacketMeta::default(),
                m.iface(Side::Server),
                T0,
            );
            assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        }
    }
}
