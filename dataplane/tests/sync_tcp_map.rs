//! A class's tcp-map across a pair (docs/asa-behaviour.md §6.1, docs/sync.md
//! §1): nothing of the map is synced as such; the entry names its class by
//! the class's digest, which covers the map, so the node that learns the
//! connection by sync applies the same map to the segments it forwards.

mod common;
mod pair_sync;

use std::time::Duration;

use rampart_dataplane::conntrack::ProtoState;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{Seg, Side, TcpModel, tcp_option_at, v4_pair};
use rampart_dataplane::{Engine, Instant, Verdict};

/// Class-default applies tcp-map M: window scale cleared, option kind 19
/// (a TCP MD5 signature, RFC 2385) allowed; randomization off (the model
/// does not follow a randomizing middlebox).
const POLICY: &str = "tcp-map M\n tcp-options window-scale clear\n tcp-options range 19 19 allow\n\
policy-map global_policy\n class class-default\n  set connection random-sequence-number disable\n  set connection advanced-options M\n\
service-policy global_policy global\n";

/// Node `id` of a pair with `text`'s policy.
fn node(id: u16, text: &str) -> Engine {
    let mut e = common::synced_node(id, Duration::ZERO, 1);
    let cfg = rampart_dataplane::policy::parse::parse_config(text)
        .expect("parses")
        .config;
    let policy = rampart_dataplane::policy::compile::compile(&cfg, &e.config().interfaces)
        .expect("compiles");
    e.set_policy(std::sync::Arc::new(policy))
        .expect("the policy's classes fit");
    e
}

/// Send `frame` (of `seg`) through node `i`, which must forward it.
fn through(nodes: &mut [Engine; 2], i: usize, m: &TcpModel, seg: &Seg, frame: &mut [u8]) {
    let now = Instant::from_secs(1_700_000_000);
    let v = nodes[i].process(frame, PacketMeta::default(), m.iface(seg.from), now);
    assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
}

/// The one's-complement sum of an IPv4 TCP frame's pseudo-header and
/// segment, checksum field included (RFC 9293 §3.1): 0xffff when valid.
fn tcp_sum(frame: &[u8]) -> u16 {
    let l4 = 14 + 20;
    let mut sum = 0u32;
    for w in frame[14 + 12..14 + 20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    sum += 6 + (frame.len() - l4) as u32;
    for w in frame[l4..].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn checksum_ok(frame: &[u8]) -> bool {
    tcp_sum(frame) == 0xffff
}

/// Run a connection whose client crosses node 0 and server node 1;
/// returns the SYN-ACK and a server data segment with option kind 19 as
/// node 1 forwarded them, and node 1's class name for the connection.
fn run(policy_b: &str) -> (Vec<u8>, Vec<u8>, String) {
    let mut nodes = [node(1, POLICY), node(2, policy_b)];
    let now = Instant::from_secs(1_700_000_000);
    let (c, s) = v4_pair(40_100, 179);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [Some(7), Some(7)]);
    let syn = m.syn();
    let mut f = m.frame(&syn);
    through(&mut nodes, 0, &m, &syn, &mut f);
    assert_eq!(
        tcp_option_at(&f, 3),
        None,
        "node 0 clears the SYN's window scale"
    );
    pair_sync::deliver(&mut nodes, 0, now);
    let sa = m.syn_ack();
    let mut synack = m.frame(&sa);
    through(&mut nodes, 1, &m, &sa, &mut synack);
    pair_sync::deliver(&mut nodes, 1, now);
    let ack = m.ack(Side::Client);
    through(&mut nodes, 0, &m, &ack, &mut m.frame(&ack));
    pair_sync::deliver(&mut nodes, 0, now);
    // A server segment with a 10-byte option of kind 19 (a SACK block's
    // place, made one), checksum recomputed.
    let mut d = m.data(Side::Server, 100);
    d.sack = vec![(1, 2)];
    let mut data = m.frame(&d);
    let at = tcp_option_at(&data, 5).expect("a SACK block");
    data[at] = 19;
    data[14 + 20 + 16..14 + 20 + 18].fill(0);
    let sum = !tcp_sum(&data);
    data[14 + 20 + 16..14 + 20 + 18].copy_from_slice(&sum.to_be_bytes());
    assert!(checksum_ok(&data));
    through(&mut nodes, 1, &m, &d, &mut data);
    let entry = nodes[1]
        .find(&m.tuple(), now)
        .expect("node 1 has the entry");
    assert!(matches!(entry.proto, ProtoState::Tcp(_)));
    let class = nodes[1].classes().get(entry.class).name.clone();
    (synack, data, class)
}

#[test]
fn the_node_that_learns_a_connection_by_sync_applies_its_class_map() {
    let (synack, data, class) = run(POLICY);
    assert_eq!(class, "global_policy/class-default");
    // Node 1 cleared the SYN-ACK's window scale as node 0 did the SYN's
    // (so neither end scales), and passed kind 19 untouched.
    assert_eq!(tcp_option_at(&synack, 3), None);
    assert!(checksum_ok(&synack));
    let at = tcp_option_at(&data, 19).expect("kind 19 passed");
    assert_eq!(data[at + 1], 10);
    assert!(checksum_ok(&data));
}

/// The same run where node 1 runs another version of the map (kind 19
/// allowed, window scale kept): the class's digest covers the map, so node
/// 1 knows node 0's class only by the digest, with the defaults until it
/// applies that version (docs/sync.md §1), and never takes its own map
/// for a connection opened under another.
#[test]
fn a_node_with_another_version_of_the_map_does_not_apply_its_own() {
    let other = POLICY.replace(" tcp-options window-scale clear\n", "");
    let (synack, data, class) = run(&other);
    assert_ne!(class, "global_policy/class-default");
    assert!(tcp_option_at(&synack, 3).is_some());
    assert_eq!(tcp_option_at(&data, 19), None, "cleared, as by default");
    assert!(checksum_ok(&data));
}
