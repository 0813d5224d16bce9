//! A deterministic cluster simulator, in the manner of FoundationDB's and
//! TigerBeetle's: two to four nodes, each the real dataplane
//! [`Engine`](rampart_dataplane::Engine) and the real sync
//! [`Protocol`](rampart_cluster::sync::Protocol), over a simulated network
//! and clock, with traffic and faults all drawn from one seed. The same
//! seed replays the same run exactly.
//!
//! Faults: connection resets, partitions that heal, delay spikes, datagram
//! loss and duplication, nodes that crash (memory wiped) and restart, nodes
//! frozen and thawed, node clocks off by a fixed skew, and bulk syncs cut
//! halfway (a bulk dump advances a few flows per step, so a fault can strike
//! in its middle). Traffic: TCP (strict tracking, sequence randomization),
//! tcp-state-bypass TCP, UDP and ICMP echo flows over symmetric and
//! asymmetric paths that move between nodes mid-flow and off a failed node.
//!
//! Invariants (docs/sync.md states the promises):
//! - no node drops a correct packet of a flow that began after every
//!   fault's effects had settled (while faults last, drops are excused);
//! - every flow completes, unless a node crashed holding state of it that
//!   no live node held whole (the flow was "at risk");
//! - after the faults heal, every node reconnects and is ready, and each
//!   live flow is held whole (not as a passive copy) by `copies` nodes;
//!   the nodes on an undisturbed flow's path that hold it whole hold the
//!   merged state, and its director holds it (docs/sync.md §13);
//! - a flow ended by an RST is gone from every node;
//! - no bypass flow ever produces a sync event;
//! - the engines' forwarded and dropped counters match what the simulator
//!   saw.

mod net;
mod node;
mod traffic;
mod world;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::engine::EngineConfig;
use rampart_dataplane::policy::compile::{Policy, compile};
use rampart_dataplane::policy::parse::parse_config;
use rampart_node::lab::BYPASS_5002_POLICY;

pub use world::Fault;

/// What a run may draw from.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Nodes (inclusive range).
    pub nodes: (usize, usize),
    /// Flows (inclusive range).
    pub flows: (usize, usize),
    /// Seconds of traffic and faults (inclusive range); a healing and
    /// quiet period follows.
    pub faults_secs: (u64, u64),
    /// Inject faults.
    pub faults: bool,
    /// Largest clock skew of a node (either way).
    pub max_skew: Duration,
    /// Policy writes through the modelled Raft log (0–2 per run).
    pub policy_writes: bool,
    /// Half the restarts replace a survivor's connection as the transport
    /// does when the restarted node dials before the old one's idle
    /// timeout: the new connection up, then the old one down (off by
    /// default; CI runs it as a campaign of its own, docs/simulator.md).
    pub replaced_first: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: (2, 4),
            flows: (8, 40),
            faults_secs: (6, 16),
            faults: true,
            max_skew: Duration::from_millis(50),
            policy_writes: true,
            replaced_first: false,
        }
    }
}

/// What one run saw.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Nodes.
    pub nodes: usize,
    /// Flows started.
    pub flows: usize,
    /// Flows that completed.
    pub flows_done: usize,
    /// Flows a crash put at risk.
    pub flows_at_risk: usize,
    /// Policy writes attempted.
    pub policy_writes: u64,
    /// Of those, writes refused for want of a majority.
    pub policy_writes_failed: u64,
    /// Flows that reused a closed flow's tuple.
    pub flows_reused: usize,
    /// Of those, flows that reused it while a fault cut a node holding the
    /// old entry off from the news.
    pub flows_stale_tuple: usize,
    /// Packets sent into nodes.
    pub packets: u64,
    /// Packets held for a peer's state.
    pub held: u64,
    /// Packets dropped (all excused, or the run failed).
    pub drops: u64,
    /// Drops excused by a fault in progress.
    pub excused_drops: u64,
    /// Endpoint retransmissions.
    pub retransmits: u64,
    /// Held copies released after the endpoint had sent the segment again.
    pub late_releases: u64,
    /// Sync events the engines produced.
    pub sync_events: u64,
    /// Stream frames between nodes.
    pub sync_frames: u64,
    /// Stream frames and datagrams a node's protocol meant for a
    /// connection that a newer one had replaced, dropped as the transport
    /// drops them (docs/sync.md §5).
    pub sends_replaced: u64,
    /// Times a node found it had been stopped and resynced.
    pub stalls: u64,
    /// The faults injected.
    pub faults: Vec<String>,
}

/// The result of one seed.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What happened.
    pub stats: Stats,
    /// Broken invariants (empty: the seed passed).
    pub violations: Vec<String>,
    /// The last lines of the run's trace.
    pub trace: Vec<String>,
}

impl Outcome {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The address a fenced policy version denies UDP to (probes go there).
pub const FENCED: [u8; 4] = [198, 18, 1, 250];

/// The policy versions the simulated cluster's Raft log cycles through:
/// version `v` runs `policies()[v % 3]`. Version 0 is the lab's policy
/// (inside→outside by security level; TCP port 5002 in a tcp-state-bypass
/// class, both directions; ICMP inspected). Version 1 adds an inside access list that
/// denies UDP to [`FENCED`] and a class giving UDP port 53 a 5-minute idle
/// timeout; version 2 drops the fence and gives that class 4 minutes (a
/// class of the same name with other options: another class to a peer).
fn policies() -> [Arc<Policy>; 3] {
    static CELL: OnceLock<[Arc<Policy>; 3]> = OnceLock::new();
    CELL.get_or_init(|| {
        // The lab's policy with an inside access list (or none) and a UDP
        // class, written out whole: one policy-map holds both classes.
        let version = |fence: bool, minutes: u32| {
            let mut t = String::from(
                "access-list tcp_bypass extended permit tcp any any eq 5002\n\
                 access-list tcp_bypass extended permit tcp any eq 5002 any\n\
                 access-list OUTSIDE_IN extended permit tcp any eq 5002 any\n\
                 access-group OUTSIDE_IN in interface outside\n",
            );
            if fence {
                t.push_str(
                    "access-list INSIDE_IN extended deny udp any host 198.18.1.250\n\
                     access-list INSIDE_IN extended permit ip any any\n\
                     access-group INSIDE_IN in interface inside\n",
                );
            }
            t.push_str(&format!(
                "access-list udp_dns extended permit udp any any eq 53\n\
                 class-map tcp_bypass\n match access-list tcp_bypass\n\
                 class-map udp_dns\n match access-list udp_dns\n\
                 class-map inspection_default\n match default-inspection-traffic\n\
                 policy-map global_policy\n class tcp_bypass\n  \
                 set connection advanced-options tcp-state-bypass\n class udp_dns\n  \
                 set connection timeout idle 0:0{minutes}:00\n\
                 \x20class inspection_default\n  inspect icmp\n  inspect icmp error\n\
                 service-policy global_policy global\n"
            ));
            t
        };
        let texts = [
            BYPASS_5002_POLICY.to_string(),
            version(true, 5),
            version(false, 4),
        ];
        let interfaces = EngineConfig::inside_outside(NodeId(1), [0; 4]).interfaces;
        texts.map(|text| {
            let cfg = parse_config(&text)
                .unwrap_or_else(|e| panic!("the simulator's policy parses: {e:?}\n{text}"))
                .config;
            Arc::new(compile(&cfg, &interfaces).expect("the simulator's policy compiles"))
        })
    })
    .clone()
}

/// Run one seed.
pub fn run(seed: u64, cfg: &SimConfig) -> Outcome {
    world::World::new(seed, cfg, policies(), false).run()
}

/// Run one seed printing every trace line to stderr as it happens.
pub fn replay(seed: u64, cfg: &SimConfig) -> Outcome {
    world::World::new(seed, cfg, policies(), true).run()
}
