//! Hit counts of access-list entries (`show access-list`,
//! docs/asa-behaviour.md §2.9), on real frames: the entry that decided a
//! packet's final judgement counts it, once; later packets of its
//! connection, looks at the policy that only ask whether a peer's state
//! could let a frame through, and connections a peer syncs count nothing;
//! a new policy keeps the counts of the entries it keeps.

mod common;

use std::sync::Arc;
use std::time::Duration;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::policy::compile::{compile, disable_randomization};
use rampart_dataplane::policy::parse_config;
use rampart_dataplane::trace::{Side, TcpModel, udp_frame, v4_pair};
use rampart_dataplane::{DropReason, Engine, EngineConfig, IfaceId, Instant, Verdict};

const INSIDE: IfaceId = IfaceId(0);
const OUTSIDE: IfaceId = IfaceId(1);

/// Install `text` (randomization off, as the model endpoints want).
fn install(e: &mut Engine, text: &str) {
    let mut cfg = parse_config(text).expect("parses").config;
    disable_randomization(&mut cfg);
    let p = compile(&cfg, &e.config().interfaces).expect("compiles");
    e.set_policy(Arc::new(p)).expect("the classes fit");
}

fn standalone(text: &str) -> Engine {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    install(&mut e, text);
    e
}

/// The hit counts of list `name`'s entries, in order.
fn hits(e: &Engine, name: &str) -> Vec<u64> {
    let listing = e
        .policy()
        .listings()
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no list {name}"));
    e.acl_hits().of(listing).to_vec()
}

fn send(e: &mut Engine, mut frame: Vec<u8>, iface: IfaceId, now: Instant) -> Verdict {
    e.process(&mut frame, PacketMeta::default(), iface, now)
}

fn model(client_port: u16, server_port: u16) -> TcpModel {
    let (c, s) = v4_pair(client_port, server_port);
    TcpModel::new(c, s, [100, 900_000], [64_240, 65_160], [Some(7), Some(7)])
}

/// A whole connection through `e`, every segment forwarded.
fn converse(e: &mut Engine, m: &mut TcpModel, now: Instant) {
    let mut segs = m.handshake().to_vec();
    segs.push(m.data(Side::Client, 100));
    segs.push(m.data(Side::Server, 900));
    segs.push(m.fin(Side::Client));
    for seg in segs {
        let v = send(e, m.frame(&seg), m.iface(seg.from), now);
        assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
    }
}

const T0: Instant = Instant::from_secs(1_700_000_000);

const INSIDE_RULES: &str = "\
access-list IN remark no telnet
access-list IN extended deny tcp any any eq telnet
access-list IN extended permit tcp any any eq www
access-list IN extended permit udp any any
access-group IN in interface inside
";

// === standalone ===

/// The SYN that opens a connection counts on the entry that permitted
/// it; the rest of the connection's packets are not judged by the rules
/// and count nothing (as on the ASA: "the traffic does not have to be
/// checked against the access list, and the hit count does not
/// increase", Cisco ASA Series CLI Configuration Guide, "Configuring
/// Logging for Access Lists").
#[test]
fn a_connection_counts_once_on_the_entry_that_permitted_it() {
    let mut e = standalone(INSIDE_RULES);
    converse(&mut e, &mut model(40_000, 80), T0);
    assert_eq!(hits(&e, "IN"), [0, 1, 0]);
    converse(&mut e, &mut model(40_001, 80), T0);
    assert_eq!(hits(&e, "IN"), [0, 2, 0]);
    // A UDP flow: its first datagram, not its reply nor its next.
    let (c, s) = v4_pair(5353, 53);
    for (frame, iface) in [
        (udp_frame(&c, &s, b"q"), INSIDE),
        (udp_frame(&s, &c, b"answer"), OUTSIDE),
        (udp_frame(&c, &s, b"q2"), INSIDE),
    ] {
        assert!(matches!(
            send(&mut e, frame, iface, T0),
            Verdict::Forward { .. }
        ));
    }
    assert_eq!(hits(&e, "IN"), [0, 2, 1]);
}

/// A packet an entry denies counts there, each time; the implicit deny at
/// the end has no entry and counts nowhere.
#[test]
fn an_acl_deny_counts_on_the_deny_entry() {
    let mut e = standalone(INSIDE_RULES);
    for port in [41_000, 41_001] {
        let mut m = model(port, 23);
        let syn = m.syn();
        let v = send(&mut e, m.frame(&syn), INSIDE, T0);
        assert_eq!(v, Verdict::Drop(DropReason::AclDeny));
    }
    // Port 25: no entry matches.
    let mut m = model(41_002, 25);
    let syn = m.syn();
    let v = send(&mut e, m.frame(&syn), INSIDE, T0);
    assert_eq!(v, Verdict::Drop(DropReason::AclDeny));
    assert_eq!(hits(&e, "IN"), [2, 0, 0]);
    assert_eq!(e.counters().dropped(DropReason::AclDeny), 3);
}

/// A class's `match access-list` entry counts each connection it put in
/// the class: the class whose limits it gets, and the class that makes it
/// bypass when that is another. Its later packets do not count, nor does
/// a connection the class's list does not take.
#[test]
fn a_class_access_list_counts_the_connections_it_classed() {
    let mut e = standalone(
        "access-list LIM extended permit tcp any any eq 445
access-list BYP extended deny tcp any any eq www
access-list BYP extended permit tcp any any eq 445
class-map lim
 match access-list LIM
class-map byp
 match access-list BYP
policy-map global_policy
 class lim
  set connection conn-max 100
 class byp
  set connection advanced-options tcp-state-bypass
service-policy global_policy global
",
    );
    converse(&mut e, &mut model(42_000, 445), T0);
    converse(&mut e, &mut model(42_001, 80), T0);
    assert_eq!(hits(&e, "LIM"), [1]);
    // The deny takes port 80 out of the class: not a hit of the class's
    // list (docs/asa-behaviour.md §2.1), nor of an access-group.
    assert_eq!(hits(&e, "BYP"), [0, 1]);
}

/// EtherType `deny any` on an interface drops every frame arriving there
/// (`l2_acl`): each counts on that entry.
#[test]
fn an_ethertype_deny_any_counts_the_frames_it_drops() {
    let mut e = standalone(
        "access-list L2 ethertype permit bpdu
access-list L2 ethertype deny any
access-group L2 in interface outside
",
    );
    let (c, s) = v4_pair(5353, 53);
    for _ in 0..3 {
        let v = send(&mut e, udp_frame(&s, &c, b"x"), OUTSIDE, T0);
        assert_eq!(v, Verdict::Drop(DropReason::EthertypeDeny));
    }
    assert_eq!(hits(&e, "L2"), [0, 3]);
}

/// A new policy keeps the count of every entry it keeps, by its list and
/// text, wherever the entry now stands; an entry whose text changed, a
/// new one, and one whose list was renamed start at 0. `clear
/// access-list` zeroes one list or all.
#[test]
fn a_new_policy_keeps_the_counts_of_the_entries_it_keeps() {
    let mut e = standalone(INSIDE_RULES);
    converse(&mut e, &mut model(43_000, 80), T0);
    let (c, s) = v4_pair(5353, 53);
    send(&mut e, udp_frame(&c, &s, b"q"), INSIDE, T0);
    let mut m = model(43_001, 23);
    let syn = m.syn();
    send(&mut e, m.frame(&syn), INSIDE, T0);
    assert_eq!(hits(&e, "IN"), [1, 1, 1]);
    install(
        &mut e,
        "access-list IN extended permit tcp any any eq https
access-list IN extended permit udp any any
access-list IN remark the telnet entry logs now
access-list IN extended deny tcp any any eq telnet log
access-list IN extended permit tcp any any eq www
access-list IN2 extended deny tcp any any eq telnet
access-group IN in interface inside
",
    );
    // https new; udp moved up from line 4 to 2; telnet changed; www
    // moved down; IN2 another list, whose entry is the old telnet one.
    assert_eq!(hits(&e, "IN"), [0, 1, 0, 1]);
    assert_eq!(hits(&e, "IN2"), [0]);
    // And the policy before it, back: the entries it kept keep on.
    install(&mut e, INSIDE_RULES);
    assert_eq!(hits(&e, "IN"), [0, 1, 1]);
    assert_eq!(e.clear_acl_hits(Some("NOPE")), 0);
    assert_eq!(hits(&e, "IN"), [0, 1, 1]);
    assert_eq!(e.clear_acl_hits(Some("IN")), 1);
    assert_eq!(hits(&e, "IN"), [0, 0, 0]);
    converse(&mut e, &mut model(43_002, 80), T0);
    assert_eq!(hits(&e, "IN"), [0, 1, 0]);
    assert_eq!(e.clear_acl_hits(None), 1);
    assert_eq!(hits(&e, "IN"), [0, 0, 0]);
}

// === in a cluster ===

/// The rules of the cluster tests: the inside may open TCP and UDP, the
/// outside's UDP is denied by an entry of its own.
const CLUSTER_RULES: &str = "\
access-list IN extended permit tcp any any
access-list IN extended permit udp any any
access-group IN in interface inside
access-list OUT extended deny udp any any
access-group OUT in interface outside
";

fn cluster_node(id: u16) -> Engine {
    let mut e = common::synced_node(id, Duration::ZERO, 1);
    install(&mut e, CLUSTER_RULES);
    e
}

/// Past every hold deadline of a packet sent at `T0`.
fn after_hold() -> Instant {
    T0 + Duration::from_secs(1)
}

/// A node of a cluster meets a segment of a connection it has no entry
/// for: whether a peer's state could let it through is asked of the
/// rules (would they permit the connection?), and that question counts
/// no hit, neither while the segment waits nor when it is dropped at its
/// deadline.
#[test]
fn asking_whether_a_peer_could_pass_a_frame_counts_nothing() {
    let mut e = cluster_node(1);
    let mut m = model(44_000, 80);
    m.handshake();
    let ack = m.ack(Side::Client);
    assert_eq!(send(&mut e, m.frame(&ack), INSIDE, T0), Verdict::Hold);
    assert_eq!(hits(&e, "IN"), [0, 0]);
    e.expire(after_hold());
    assert_eq!(e.counters().dropped(DropReason::TcpNotSyn), 1);
    assert_eq!(hits(&e, "IN"), [0, 0]);
    // Nor does the reverse question, for a reply no flow here holds: the
    // inside's list is asked whether the reply's connection could have
    // opened from there.
    let (c, s) = v4_pair(5353, 53);
    assert_eq!(
        send(&mut e, udp_frame(&s, &c, b"a"), OUTSIDE, T0),
        Verdict::Hold
    );
    assert_eq!(hits(&e, "IN"), [0, 0]);
}

/// A denied reply that waits for a peer's state (its connection may have
/// opened through the peer) is judged again at its deadline: its deny
/// entry counts once, when it is dropped, not when it was held.
#[test]
fn a_held_packet_counts_once_when_finally_judged() {
    let mut e = cluster_node(1);
    let (c, s) = v4_pair(5353, 53);
    assert_eq!(
        send(&mut e, udp_frame(&s, &c, b"a"), OUTSIDE, T0),
        Verdict::Hold
    );
    assert_eq!(hits(&e, "OUT"), [0]);
    e.expire(after_hold());
    assert_eq!(e.counters().dropped(DropReason::AclDeny), 1);
    assert_eq!(hits(&e, "OUT"), [1]);
}

/// The reply crosses node 2 while its connection opened through node 1:
/// held on node 2, it passes once node 1's state arrives, and counts
/// nothing there (its connection was not judged by node 2's rules); node
/// 1's permit counted the connection once.
#[test]
fn a_connection_a_peer_synced_counts_nowhere_here() {
    let mut a = cluster_node(1);
    let mut b = cluster_node(2);
    let (c, s) = v4_pair(5353, 53);
    assert!(matches!(
        send(&mut a, udp_frame(&c, &s, b"q"), INSIDE, T0),
        Verdict::Forward { .. }
    ));
    let later = T0 + Duration::from_millis(1);
    assert_eq!(
        send(&mut b, udp_frame(&s, &c, b"a"), OUTSIDE, later),
        Verdict::Hold
    );
    let mut released = 0;
    while let Some(effect) = a.poll_effect(later) {
        if let Some(out) = effect.into_sync() {
            b.apply_sync(&out.event, later).expect("valid state");
        }
    }
    while let Some(effect) = b.poll_effect(later) {
        released += usize::from(matches!(
            effect,
            rampart_dataplane::engine::Effect::Release { .. }
        ));
    }
    assert_eq!(released, 1, "the reply left on node 1's state");
    assert_eq!(hits(&a, "IN"), [0, 1]);
    assert_eq!(hits(&b, "IN"), [0, 0]);
    assert_eq!(hits(&b, "OUT"), [0]);
}
