//! A fixed engine state for golden tests of every `show` command (here, in
//! the admin API tests and in the CLI tests of the `rampart` binary): two
//! real engines fed real frames from `dataplane::trace` at fixed times, in
//! a [`LocalPool`] whose clock stands still.

use std::sync::Arc;
use std::time::Duration;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::policy::compile::compile;
use rampart_dataplane::policy::parse::parse_config;
use rampart_dataplane::trace::{Side, TcpModel, udp_frame, v4_pair};
use rampart_dataplane::{Engine, EngineConfig, Instant};

use crate::admin::Admin;
use crate::model::{LinkStatus, NodeStatus, PeerStatus, RaftRole, RaftStatus, SyncTotals};
use crate::pool::LocalPool;

/// The fixture's policy.
pub const POLICY: &str = "access-list OUT_IN extended permit tcp any any eq 22
access-list OUT_IN remark and nothing to high ports
access-list OUT_IN extended deny tcp any any gt 1023
access-group OUT_IN in interface outside
access-list byp extended permit tcp any any eq 445
class-map byp
 match access-list byp
class-map web
 match port tcp eq 80
policy-map global_policy
 class byp
  set connection per-client-max 100
  set connection timeout idle 0:05:00
  set connection advanced-options tcp-state-bypass
 class web
  set connection conn-max 1000 embryonic-conn-max 50
  set connection random-sequence-number disable
  set connection timeout dcd 0:00:30 4
service-policy global_policy global
";

/// When the traffic starts.
pub const T0: Instant = Instant::from_secs(500);

/// When the `show` commands look (the pool's clock).
pub const NOW: Instant = Instant::from_secs(526);

fn engine(node: u16) -> Engine {
    let mut eng = Engine::new(EngineConfig::inside_outside(NodeId(node), [9; 4]))
        .expect("the default engine config is valid");
    let cfg = parse_config(POLICY)
        .expect("the fixture policy parses")
        .config;
    let p = compile(&cfg, &eng.config().interfaces).expect("the fixture policy compiles");
    // As the node keeps it: `packet-tracer` prints its lines.
    let p = p.with_source(Arc::new(cfg));
    eng.set_policy(Arc::new(p))
        .expect("the policy's classes fit");
    eng
}

fn send(eng: &mut Engine, frame: Vec<u8>, iface: rampart_dataplane::IfaceId, t: Instant) {
    let mut f = frame;
    eng.process(&mut f, PacketMeta::default(), iface, t);
}

/// Worker 0: an established web connection with data both ways, an
/// embryonic connection, a bypass connection opened mid-stream, an ACL deny
/// from outside and a `tcp-not-syn`. Worker 1: a DNS exchange.
pub fn engines(node: u16) -> Vec<Engine> {
    let mut w0 = engine(node);
    let t = T0;
    let (c, s) = v4_pair(40_000, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [64_240, 65_160], [Some(7), Some(7)]);
    let mut segs = m.handshake().to_vec();
    segs.push(m.data(Side::Client, 100));
    segs.push(m.data(Side::Server, 1000));
    for seg in &segs {
        send(&mut w0, m.frame(seg), m.iface(seg.from), t);
    }
    let t5 = t + Duration::from_secs(5);
    let (ec, es) = v4_pair(40_001, 443);
    let mut m2 = TcpModel::new(ec, es, [7, 8], [1000, 1000], [None, None]);
    let syn = m2.syn();
    send(&mut w0, m2.frame(&syn), ec.iface, t5);
    let (bc, bs) = v4_pair(40_010, 445);
    let mut m3 = TcpModel::new(bc, bs, [1, 2], [64_000, 64_000], [None, None]);
    m3.handshake();
    let d = m3.data(Side::Client, 10);
    send(&mut w0, m3.frame(&d), bc.iface, t5);
    // Denied: from outside (port 23) to port 40020, the access-group's
    // deny entry.
    let (dc, ds) = v4_pair(40_020, 23);
    let mut m4 = TcpModel::new(ds, dc, [1, 2], [1000, 1000], [None, None]);
    let syn = m4.syn();
    send(&mut w0, m4.frame(&syn), ds.iface, t5);
    // tcp-not-syn: an ACK from inside with no connection.
    let mut m5 = TcpModel::new(dc, ds, [1, 2], [1000, 1000], [None, None]);
    m5.handshake();
    let ack = m5.ack(Side::Client);
    send(&mut w0, m5.frame(&ack), dc.iface, t5);

    let mut w1 = engine(node);
    let (uc, us) = v4_pair(5353, 53);
    send(&mut w1, udp_frame(&uc, &us, b"q"), uc.iface, t5);
    send(&mut w1, udp_frame(&us, &uc, b"ans"), us.iface, t5);
    vec![w0, w1]
}

/// The fixture's pool, its clock at [`NOW`].
pub fn pool(node: u16) -> Arc<LocalPool> {
    Arc::new(LocalPool::new(engines(node), || NOW))
}

/// A status for a node in a three-node cluster with Raft, fixed.
pub fn cluster_status() -> NodeStatus {
    let mut lag_buckets = vec![0u64; 17];
    lag_buckets[2] = 90; // ≤ 250 µs
    lag_buckets[4] = 10; // ≤ 1 ms
    let bounds = vec![
        50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 10_000_000,
    ];
    NodeStatus {
        node_id: 1,
        node_name: "fw-a".into(),
        policy_loaded: true,
        policy_pending_workers: false,
        policy_refused: None,
        seq_key_shared: true,
        sync_ready: true,
        clustered: true,
        peers: vec![
            PeerStatus {
                id: 2,
                name: "fw-b".into(),
                address: "198.19.255.2:7400".into(),
                state: "up".into(),
                events_sent: 1200,
                events_received: 800,
                bytes_out: 96_000,
                bytes_in: 64_000,
                lag_buckets,
                lag_bounds_us: bounds.clone(),
                lag_sum_ns: 30_000_000,
                unacked_events: 3,
                link: LinkStatus {
                    datagrams_out: 410,
                    datagrams_in: 395,
                    bytes_out: 131_000,
                    bytes_in: 98_500,
                    lost_packets: 2,
                    congestion_events: 1,
                    rtt_us: 180,
                },
            },
            PeerStatus {
                id: 3,
                name: "fw-c".into(),
                address: "198.19.255.3:7400".into(),
                state: "down".into(),
                events_sent: 0,
                events_received: 0,
                bytes_out: 0,
                bytes_in: 0,
                lag_buckets: vec![0; 17],
                lag_bounds_us: bounds,
                lag_sum_ns: 0,
                unacked_events: 0,
                link: LinkStatus::default(),
            },
        ],
        sync: Some(SyncTotals {
            bytes_out: 96_000,
            bytes_in: 64_000,
            bulk_requested: 1,
            bulk_completed: 1,
            bulk_flows_received: 42,
            last_bulk_ms: 12,
            connects: vec![("up".into(), 2), ("wake_sent".into(), 1)],
            losses: vec![("local_losses".into(), 3)],
            frames_refused: vec![("bulk_view_unknown".into(), 1)],
            states_refused: vec![("tcp_window".into(), 2)],
            bulk_events: vec![("incomplete".into(), 1)],
            ..SyncTotals::default()
        }),
        raft: Some(RaftStatus {
            term: 4,
            leader: Some(2),
            commit_index: 17,
            applied_index: 17,
            voters: vec![1, 2, 3],
            learners: vec![],
            rpcs_refused: 0,
            policies_refused: 0,
            votes_withheld: 0,
            cluster_id: Some("5a1c0ffee0ddf00d5a1c0ffee0ddf00d".into()),
            log_complete: true,
            role: Some(RaftRole::Follower),
            stopped: None,
            policy_slot_waits: 0,
            removed: None,
        }),
        policy_version: 0,
    }
}

/// A standalone node's status.
pub fn standalone_status() -> NodeStatus {
    NodeStatus {
        node_id: 1,
        node_name: "fw-a".into(),
        policy_loaded: true,
        seq_key_shared: false,
        sync_ready: true,
        ..NodeStatus::default()
    }
}

/// The fixture's admin over [`pool`], with `status`, the policy recorded as version 1.
pub fn admin(status: NodeStatus) -> Admin<LocalPool> {
    let shared = status.seq_key_shared;
    let admin = Admin::new(pool(1), Box::new(move || status.clone())).with_policy(POLICY);
    if shared {
        admin
            .set_seq_secret([0x5eed, 0xc1a5])
            .expect("the fixture's workers answer");
    }
    admin
}
