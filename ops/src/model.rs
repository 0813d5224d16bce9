//! What the admin API answers, as JSON (serde): the CLI renders these in
//! the ASA's formats, `--json` prints them as they are.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// One side of a connection as `show conn` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnSide {
    /// The interface's nameif.
    pub interface: String,
    /// Address.
    pub addr: IpAddr,
    /// Port (ICMP: the echo id).
    pub port: u16,
}

/// One connection, in `show conn` terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnRow {
    /// `TCP`, `UDP`, `ICMP`, `ICMP6`.
    pub protocol: String,
    /// The lower-security side (printed first, whoever initiated).
    pub lower: ConnSide,
    /// The higher-security side.
    pub higher: ConnSide,
    /// Who opened it.
    pub initiator: IpAddr,
    /// Who answered.
    pub responder: IpAddr,
    /// ASA flags (`UIO`, `b`, `-`).
    pub flags: String,
    /// Seconds since the last packet.
    pub idle_s: u64,
    /// Seconds since the first packet.
    pub uptime_s: u64,
    /// Seconds of the timer that applies now.
    pub timeout_s: u64,
    /// Bytes both ways.
    pub bytes: u64,
    /// Connection id.
    pub id: u32,
    /// The node that created the entry.
    pub owner: u16,
    /// 802.1Q VLAN id of its frames, 0 when untagged.
    #[serde(default)]
    pub vlan: u16,
    /// The worker that holds it.
    pub worker: usize,
    /// Creation time (engine nanoseconds), for ordering.
    pub created_ns: u64,
}

/// `show conn`: the counts and the matching connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnList {
    /// Connections in use (all, not only the matching ones).
    pub in_use: u64,
    /// Most used: the sum of each worker's high-water mark (exact with one
    /// worker, an upper bound with several).
    pub most_used: u64,
    /// The matching connections, oldest first (absent for `count`).
    pub conns: Vec<ConnRow>,
    /// Matching connections left out beyond the row limit.
    pub truncated: u64,
}

/// `rampart cluster join` / `rampart cluster remove`: a change to the
/// cluster's membership (Raft voters), made one at a time by the leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MemberChange {
    /// Add node `id` (learner, catch-up, then voter).
    Join {
        /// Its node id.
        id: u16,
        /// Its name (default: as in this node's `[cluster] peers`).
        name: Option<String>,
        /// Its cluster address `ip:port` (default: as in `[cluster] peers`).
        address: Option<String>,
    },
    /// Remove node `id`: it stops receiving state and policy.
    Remove {
        /// Its node id.
        id: u16,
    },
}

/// What a membership change did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberResult {
    /// One line for the operator.
    pub message: String,
    /// The voters afterwards.
    pub voters: Vec<u16>,
}

/// `clear conn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearResult {
    /// Connections removed, on this node and on every peer that answered
    /// (an inspected flow held by two nodes counts on each).
    pub deleted: u64,
    /// Peers that did not answer: their entries stay (an inspected flow's
    /// delete still reaches them by state sync when they return).
    #[serde(default)]
    pub unreachable: Vec<u16>,
}

/// Where a service-policy applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PolicyScope {
    /// `service-policy NAME global`.
    Global,
    /// `service-policy NAME interface IF`.
    Interface(String),
}

/// One class of a service-policy with its counters (summed over workers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassStats {
    /// The class-map name.
    pub class: String,
    /// `conn-max` (0: unlimited).
    pub conn_max: u32,
    /// `embryonic-conn-max`.
    pub embryonic_conn_max: u32,
    /// `per-client-max`.
    pub per_client_max: u32,
    /// `per-client-embryonic-max`.
    pub per_client_embryonic_max: u32,
    /// `random-sequence-number`.
    pub random_sequence_number: bool,
    /// `timeout embryonic`, seconds.
    pub timeout_embryonic_s: Option<u64>,
    /// `timeout half-closed`, seconds.
    pub timeout_half_closed_s: Option<u64>,
    /// `timeout idle`, seconds.
    pub timeout_idle_s: Option<u64>,
    /// `timeout idle … reset`.
    pub idle_reset: bool,
    /// `advanced-options tcp-state-bypass`.
    pub tcp_state_bypass: bool,
    /// Live connections.
    pub current_conns: u64,
    /// Live embryonic connections.
    pub current_embryonic: u64,
    /// Connections created in the class (hit count).
    pub created: u64,
    /// Connections refused by its limits.
    pub limit_drops: u64,
    /// `timeout dcd RETRY MAX`: the retry interval in seconds and the
    /// most probes (absent: no dead connection detection).
    #[serde(default)]
    pub dcd: Option<(u64, u8)>,
    /// Dead connection detection's probes to initiators, to responders,
    /// and the connections it removed.
    #[serde(default)]
    pub dcd_counts: [u64; 3],
}

/// A service-policy and its classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyBinding {
    /// Global or an interface.
    pub scope: PolicyScope,
    /// The policy-map name.
    pub policy_map: String,
    /// Its classes with connection settings, in order.
    pub classes: Vec<ClassStats>,
}

/// `show service-policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePolicy {
    /// Global first, then interfaces.
    pub bindings: Vec<PolicyBinding>,
}

/// One interface of `show fragment`: its reassembly limits and counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FragmentIface {
    /// The interface's nameif.
    pub interface: String,
    /// `fragment size`: fragments waiting for reassembly at once.
    pub size: u32,
    /// `fragment chain`: fragments one datagram may have.
    pub chain: u32,
    /// `fragment timeout`, in seconds.
    pub timeout_s: u64,
    /// The reassembly mode: `virtual`, Rampart's only one.
    pub reassembly: String,
    /// Fragments waiting for reassembly now, summed over workers.
    pub queued: u64,
    /// Datagrams whose fragments all arrived and were judged.
    pub assembled: u64,
    /// Datagrams whose fragments were dropped.
    pub failed: u64,
    /// Fragments dropped because the interface's database was full.
    pub overflow: u64,
}

/// `show fragment`: every interface of the node, in its order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fragments {
    /// The node's interfaces.
    pub interfaces: Vec<FragmentIface>,
}

/// One line of `show access-list`: a remark, or an entry with its hit
/// count (docs/asa-behaviour.md §2.9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclLineView {
    /// Its line number, from 1, remarks counted.
    pub line: u32,
    /// The line as `show running-config` prints it after `access-list
    /// NAME `: `remark …`, `extended permit …`, `ethertype deny any`.
    pub text: String,
    /// A remark: no count, no hash.
    pub remark: bool,
    /// Packets (or connections, or frames) the entry decided, summed over
    /// the node's workers; `None` for a remark.
    pub hitcnt: Option<u64>,
    /// `inactive`: it matches nothing.
    pub inactive: bool,
    /// The match entries it expanded to (objects and groups crossed).
    pub elements: u32,
    /// A hash of the list's name and this text, `0x` and 8 hex digits:
    /// the same on every node and after every reload (not the ASA's
    /// values); `None` for a remark.
    pub hash: Option<String>,
    /// For an entry naming objects or object-groups, its elements as the
    /// ASA lists them under it, each with its own count (`hitcnt` is
    /// their sum), in order; at most [`crate::show_acl::MAX_ELEMENTS_LISTED`]
    /// of one entry, and of one answer
    /// [`crate::show_acl::MAX_ELEMENTS_ANSWERED`]. Empty for other lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<AclElementView>,
    /// Elements of the entry not in `children` (past a limit).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub children_omitted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One element of an entry over objects or object-groups: a combination
/// of their members, objects replaced by their values (docs/asa-behaviour.md
/// §2.9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclElementView {
    /// As the ASA prints it after `access-list NAME line N `: `extended
    /// permit tcp any host 198.18.0.10 eq www`.
    pub text: String,
    /// Packets (or connections) it decided, summed over the node's workers.
    pub hitcnt: u64,
    /// A hash of the list's name and this text, as the entry's.
    pub hash: String,
}

/// One access-list of `show access-list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessListView {
    /// Its name.
    pub name: String,
    /// `extended` or `ethertype`.
    pub kind: String,
    /// Its entries' elements, summed.
    pub elements: u64,
    /// A hash of its name, as [`AclLineView::hash`].
    pub name_hash: String,
    /// Its lines, in order.
    pub lines: Vec<AclLineView>,
}

/// `show access-list [NAME]`: the access-lists of the policy in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLists {
    /// The lists, extended ones first, each in configuration order.
    pub lists: Vec<AccessListView>,
}

/// `clear access-list [NAME] counters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclClearResult {
    /// The lists whose counts were zeroed.
    pub cleared: Vec<String>,
}

/// One drop reason with its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCount {
    /// The metric label (ASA asp-drop name where the ASA has one).
    pub reason: String,
    /// `show asp drop`'s description.
    pub description: String,
    /// Frames dropped, summed over workers.
    pub count: u64,
}

/// `show counters` (`show asp drop`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Every reason, in counter order (zeros included).
    pub drops: Vec<DropCount>,
    /// Frames forwarded.
    pub forwarded_packets: u64,
    /// Connections in use.
    pub conns_in_use: u64,
    /// The node's ops listeners (those configured), as the admin listener
    /// answering sees them: a metrics listener that waits for its address
    /// cannot say so through itself (docs/ops.md §1). Empty from nodes
    /// before it was added.
    #[serde(default)]
    pub ops_listeners: Vec<OpsListenerStatus>,
}

/// One ops listener, as `show counters` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpsListenerStatus {
    /// `metrics` or `admin`.
    pub listener: String,
    /// Serves its address now; false while it waits for it (another
    /// socket holds it).
    pub up: bool,
    /// Failed attempts to bind it.
    pub bind_failures: u64,
    /// Bytes of answers held, not yet taken by their readers.
    pub answer_bytes_held: u64,
    /// Slots reserved for the admin token in use.
    pub reserved_slots_in_use: u64,
    /// Requests without the admin token waiting for a handler permit.
    pub handlers_waiting: u64,
}

/// This node's Raft role, as its Raft core reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaftRole {
    /// It leads.
    Leader,
    /// A voter following a leader.
    Follower,
    /// A voter campaigning.
    Candidate,
    /// It replicates without voting.
    Learner,
    /// Its Raft core has ended ([`RaftStatus::stopped`] says why).
    Stopped,
}

impl RaftRole {
    /// The role as `show cluster` names it.
    pub fn name(self) -> &'static str {
        match self {
            RaftRole::Leader => "leader",
            RaftRole::Follower => "follower",
            RaftRole::Candidate => "candidate",
            RaftRole::Learner => "learner",
            RaftRole::Stopped => "stopped",
        }
    }
}

/// Raft as the node sees it (absent until Raft runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftStatus {
    /// Current term.
    pub term: u64,
    /// The leader's node id, if one is known.
    pub leader: Option<u16>,
    /// Highest committed log index.
    pub commit_index: u64,
    /// Highest applied log index.
    pub applied_index: u64,
    /// Voters' node ids.
    pub voters: Vec<u16>,
    /// Learners' node ids.
    pub learners: Vec<u16>,
    /// Raft calls from members refused (undecodable, a wrong sender, a
    /// snapshot chunk past its limit, a term or index past 2^62, entries
    /// out of order, a membership no change makes), and members' replies
    /// refused (a term or log index past 2^62).
    #[serde(default)]
    pub rpcs_refused: u64,
    /// Committed policies this node did not run: they did not compile
    /// here, lacked the operator's signature for their version, or were
    /// larger than any write may be.
    #[serde(default)]
    pub policies_refused: u64,
    /// Votes this node refused because its store started empty and has
    /// not yet caught up with a leader.
    #[serde(default)]
    pub votes_withheld: u64,
    /// The cluster id its store belongs to (hex; `None` before it joins).
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// Whether its log may vote (false from an empty store until it holds
    /// its leader's entries).
    #[serde(default = "yes")]
    pub log_complete: bool,
    /// This node's role as its Raft core reports it (`None` from a node
    /// of an earlier version; `show cluster` then derives it from the
    /// leader and the voters).
    #[serde(default)]
    pub role: Option<RaftRole>,
    /// Why this node's Raft core has ended, if it has (a fatal storage
    /// error, a panic, a shutdown): the node then takes no part in the
    /// policy log until it is restarted, and forwards on the policy in
    /// force. The other fields are the core's last reading.
    #[serde(default)]
    pub stopped: Option<String>,
    /// Attempts to apply a committed policy that a worker refused for
    /// want of class slots (held by connections of earlier policies; the
    /// node tries again every 200 ms).
    #[serde(default)]
    pub policy_slot_waits: u64,
    /// Set when this node knows it was removed from the cluster (`rampart
    /// cluster remove`): why. It then neither campaigns nor dials the
    /// members, and is not ready (docs/ops.md, *Removing a node*); a
    /// `cluster join` of its id takes it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<String>,
}

fn yes() -> bool {
    true
}

/// A peer as `show cluster` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Node id.
    pub id: u16,
    /// Node name.
    pub name: String,
    /// Its cluster address.
    pub address: String,
    /// `up`, `down` or `syncing`.
    pub state: String,
    /// Events sent to it.
    pub events_sent: u64,
    /// Events received from it.
    pub events_received: u64,
    /// Bytes sent to it.
    pub bytes_out: u64,
    /// Bytes received from it.
    pub bytes_in: u64,
    /// Replication lag histogram: observations per bucket (not
    /// cumulative), bounds in [`lag_bounds_us`](Self::lag_bounds_us), the
    /// last bucket above the last bound.
    pub lag_buckets: Vec<u64>,
    /// Bucket upper bounds, microseconds.
    pub lag_bounds_us: Vec<u64>,
    /// Sum of lags, nanoseconds.
    pub lag_sum_ns: u64,
    /// Sync events waiting for its acknowledgement.
    pub unacked_events: u64,
    /// The cluster link to it (the QUIC connection that carries sync,
    /// datagrams and Raft), summed over its connections.
    #[serde(default)]
    pub link: LinkStatus,
}

/// What the QUIC connection to a peer carried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStatus {
    /// UDP datagrams sent.
    pub datagrams_out: u64,
    /// UDP datagrams received.
    pub datagrams_in: u64,
    /// UDP bytes sent.
    pub bytes_out: u64,
    /// UDP bytes received.
    pub bytes_in: u64,
    /// Packets QUIC declared lost.
    pub lost_packets: u64,
    /// Congestion events.
    pub congestion_events: u64,
    /// Smoothed round-trip time, microseconds (0: no connection up).
    pub rtt_us: u64,
}

impl PeerStatus {
    /// The bucket bound below which a fraction `q` of lags fall (`None`: no
    /// observations, or beyond the last bound).
    pub fn lag_quantile_us(&self, q: f64) -> Option<u64> {
        let count: u64 = self.lag_buckets.iter().sum();
        if count == 0 {
            return None;
        }
        let rank = ((count as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.lag_buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return self.lag_bounds_us.get(i).copied();
            }
        }
        None
    }
}

/// Sync protocol totals of the node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncTotals {
    /// Bytes of frames sent.
    pub bytes_out: u64,
    /// Bytes of frames received.
    pub bytes_in: u64,
    /// Bulk syncs requested.
    pub bulk_requested: u64,
    /// Bulk syncs completed.
    pub bulk_completed: u64,
    /// Bulk syncs abandoned.
    pub bulk_failed: u64,
    /// Bulk syncs served to peers.
    pub bulk_served: u64,
    /// Flows received in bulk.
    pub bulk_flows_received: u64,
    /// Duration of the last completed bulk sync, milliseconds.
    pub last_bulk_ms: u64,
    /// Gaps that forced a bulk resync.
    pub gaps: u64,
    /// Malformed frames refused.
    pub malformed: u64,
    /// Batches resent after reconnections.
    pub batches_resent: u64,
    /// Datagram copies of event batches: sent with the stream copy (the
    /// link lossy), sent again for batches unacked in time, received.
    #[serde(default)]
    pub datagrams: [u64; 3],
    /// Peers' pulls passed on.
    #[serde(default)]
    pub pulls_forwarded: u64,
    /// Changes of the live members.
    #[serde(default)]
    pub rebalances: u64,
    /// Flows sent to nodes that must now hold them.
    #[serde(default)]
    pub rebalance_flows_sent: u64,
    /// Events no peer was to hold.
    #[serde(default)]
    pub events_unplaced: u64,
    /// Peers' input refused, or held back, by each of the node's limits
    /// (limit, count).
    #[serde(default)]
    pub guards: Vec<(String, u64)>,
    /// The cluster links' connection events (event, count).
    #[serde(default)]
    pub connects: Vec<(String, u64)>,
    /// Sync traffic lost on this node's side, by what (what, count; a
    /// fixed set, docs/sync.md §5).
    #[serde(default)]
    pub losses: Vec<(String, u64)>,
    /// Peers' sync frames refused, by reason (reason, count; a fixed set
    /// of reasons, docs/sync.md §5).
    #[serde(default)]
    pub frames_refused: Vec<(String, u64)>,
    /// Peers' flow states the engines refused, by reason (reason, count;
    /// a fixed set, docs/sync.md §3).
    #[serde(default)]
    pub states_refused: Vec<(String, u64)>,
    /// Bulk sync events beyond runs (event, count): a bulk whose end
    /// counted other flows than arrived, a peer a node went ready without,
    /// a peer's repeated request ignored, a failed bulk's peer asked again
    /// only after a backoff, a peer's request served over the part of its
    /// view this node knows (docs/sync.md §6).
    #[serde(default)]
    pub bulk_events: Vec<(String, u64)>,
}

/// What the node knows beyond its engines: identity, readiness, cluster,
/// Raft and policy. Filled by the node; parts it does not have are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// This node's id.
    pub node_id: u16,
    /// This node's name.
    pub node_name: String,
    /// A policy was loaded (bootstrap file or configure).
    pub policy_loaded: bool,
    /// A node waiting for its cluster's policy took one, but some workers
    /// have not yet: they still forward nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub policy_pending_workers: bool,
    /// No policy loaded because this node refused the cluster's (version
    /// and why: not signed for its version, does not compile here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_refused: Option<String>,
    /// The first bulk sync is done, or the node is alone (or standalone).
    pub sync_ready: bool,
    /// Whether the node has a `[cluster]` at all.
    pub clustered: bool,
    /// The peers.
    pub peers: Vec<PeerStatus>,
    /// Protocol totals (absent without a cluster).
    pub sync: Option<SyncTotals>,
    /// Raft (absent until Raft runs).
    pub raft: Option<RaftStatus>,
    /// Running-config version (0: the built-in security-levels policy).
    pub policy_version: u64,
    /// Sequence randomization uses the cluster's key from the policy log
    /// (docs/sync.md §1), not one this node drew for itself.
    #[serde(default)]
    pub seq_key_shared: bool,
}

/// How [`NodeStatus::not_ready`] begins the reason of a clustered node
/// that waits for its cluster's policy (not joined yet).
pub const AWAITING_CLUSTER_POLICY: &str = "the cluster's policy not received";

impl NodeStatus {
    /// Why the node is not ready to forward, if it is not (`/readyz`, the
    /// `rampart_ready` gauge and `show cluster` alike).
    pub fn not_ready(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if !self.sync_ready {
            reasons.push("first bulk sync not done".to_string());
        }
        match &self.policy_refused {
            _ if self.policy_loaded => {}
            Some(why) => reasons.push(format!(
                "the cluster's policy {why}: refused here, this node forwards nothing until it \
                 runs one the cluster commits"
            )),
            None if self.clustered => reasons.push(format!(
                "{AWAITING_CLUSTER_POLICY}: a node that has not joined forwards nothing \
                 (rampart cluster join on a member brings it in)"
            )),
            None => reasons.push("no policy loaded".to_string()),
        }
        if self.policy_pending_workers {
            reasons.push(
                "the cluster's policy is not yet in force on every worker (those forward nothing)"
                    .to_string(),
            );
        }
        // The ASA's unit that leaves the cluster stops passing traffic; a
        // router that health-checks this node moves its traffic away.
        if let Some(why) = self.raft.as_ref().and_then(|r| r.removed.as_ref()) {
            reasons.push(format!(
                "{why}: it takes no part in the cluster (rampart cluster join takes it back)"
            ));
        }
        reasons
    }
}

/// `show cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The node's status.
    pub status: NodeStatus,
    /// Policy swaps on this node's engines.
    pub policy_swaps: u64,
    /// Connections in use here.
    pub conns_in_use: u64,
}

/// `show running-config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningConfig {
    /// Version (0: nothing configured).
    pub version: u64,
    /// The configuration as ASA commands.
    pub text: String,
    /// In a Raft cluster, the version of the policy committed last (as
    /// this node's log holds it): the next write becomes this plus one, so
    /// it is the version `configure --sign-key` signs for plus one. It
    /// differs from `version` while this node has not run the last
    /// committed policy, or will not. `None` without Raft, and from nodes
    /// of earlier releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_version: Option<u64>,
}

/// A configuration error with its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigProblem {
    /// Line, from 1 (0: not tied to a line).
    pub line: usize,
    /// Column, from 1 (0: not tied to a column).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// `configure`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigureResult {
    /// The version now running.
    pub version: u64,
    /// Lines accepted without effect (unimplemented ASA features).
    pub ignored_lines: Vec<ConfigProblem>,
    /// Set when the policy is this node's (the running config shows it)
    /// but some packet workers have not taken it yet: why, and that they
    /// take it as they serve again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    /// Set when the cluster committed the policy (as `version`) but the
    /// node that took the write does not run it: why, and the version it
    /// keeps. Other nodes may run it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_here: Option<String>,
}

/// `/readyz` and `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Ready to forward.
    pub ready: bool,
    /// Why not, when not.
    pub reasons: Vec<String>,
}

/// An error of the admin API, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong.
    pub error: String,
    /// Positions, for a refused configuration.
    #[serde(default)]
    pub problems: Vec<ConfigProblem>,
    /// The listener had no room for the request (every connection slot
    /// in use, or too many answers not yet read): nothing was done, and
    /// the same request may succeed shortly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub busy: bool,
    /// The change was proposed but not confirmed: it may still take
    /// effect (a 503 of the cluster; `rampart show cluster` tells). Nodes
    /// of earlier versions say so in the text only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// One phase of `packet-tracer`, as the ASA prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracePhase {
    /// Its number, from 1.
    pub phase: u32,
    /// `Type:` (`FLOW-LOOKUP`, `ACCESS-LIST`, `CONN-SETTINGS`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// `Subtype:` (`log` for an access-list entry; often empty).
    pub subtype: String,
    /// `ALLOW` or `DROP`.
    pub result: String,
    /// `Config:`: the configuration lines that decided.
    pub config: Vec<String>,
    /// `Additional Information:`.
    pub info: Vec<String>,
    /// What `packet-tracer … detailed` adds.
    pub detail: Vec<String>,
    /// The access-list whose entry decided, if one did.
    pub access_list: Option<String>,
    /// That entry's line, as `show access-list` numbers it (remarks
    /// counted); `None` for the implicit deny.
    pub line: Option<usize>,
    /// The class (`policy-map/class`) whose connection settings apply.
    pub class: Option<String>,
    /// The connection found (`show conn`'s id).
    pub flow_id: Option<u32>,
}

/// `packet-tracer`: what the node would do with one packet, phase by
/// phase, and the verdict. The trace changes nothing (docs/ops.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketTrace {
    /// The packet traced (a TCP packet is a SYN).
    pub packet: String,
    /// The phases, in order.
    pub phases: Vec<TracePhase>,
    /// The interface it arrives on.
    pub input_interface: String,
    /// `up`, or `down` where the configuration shuts it.
    pub input_status: String,
    /// As `input_status`: the engine does not see the link.
    pub input_line_status: String,
    /// The interface it would leave by (the input's bridge partner).
    pub output_interface: String,
    /// `up` or `down`, as `input_status`.
    pub output_status: String,
    /// As `output_status`.
    pub output_line_status: String,
    /// `allow` or `drop`.
    pub action: String,
    /// For a drop: `(label) description`, the ASP drop reason.
    pub drop_reason: Option<String>,
    /// The packet worker whose table and policy were read.
    pub worker: usize,
}

// === capture (ops/src/capture.rs) ===

/// One capture as `show capture` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureSummary {
    /// Its name.
    pub name: String,
    /// `raw-data` or `asp-drop`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The interface of a raw-data capture.
    pub interface: Option<String>,
    /// The one drop reason of an asp-drop capture (`None`: all).
    pub drop_reason: Option<String>,
    /// `match …` or `access-list NAME`, if any.
    pub filter: Option<String>,
    /// The node's buffer, in bytes (split between the workers).
    pub buffer_bytes: u64,
    /// Bytes kept of each frame.
    pub packet_length: u32,
    /// Whether the oldest frames make room for new ones.
    pub circular: bool,
    /// `capturing`, `stopped`, or `buffer-full` (a linear buffer, of one
    /// worker at least, that stopped).
    pub state: String,
    /// Bytes of frames kept.
    pub captured_bytes: u64,
    /// Frames kept.
    pub packets: u64,
    /// Frames a circular buffer let go.
    pub overwritten: u64,
}

/// `show capture`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureList {
    /// Every capture, as added.
    pub captures: Vec<CaptureSummary>,
    /// The ASA's text.
    pub text: String,
}

/// One frame of `show capture NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedPacket {
    /// From 1, in time order.
    pub number: u64,
    /// When, in nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// The interface it entered on or left by.
    pub interface: String,
    /// `ingress`, `egress` or `dropped`.
    pub seen: String,
    /// Why it was dropped (asp-drop).
    pub drop_reason: Option<String>,
    /// Its length on the wire.
    pub wire_len: u32,
    /// The decoded line, as printed.
    pub line: String,
    /// Its bytes as `dump` prints them.
    pub dump: Option<String>,
}

/// `show capture NAME [detail] [dump] [count N]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureView {
    /// The capture.
    pub capture: CaptureSummary,
    /// Frames the capture holds.
    pub packets_captured: u64,
    /// The frames shown: the first `count`, and at most
    /// [`CAPTURE_SHOW_MAX_PACKETS`] ([`CAPTURE_DUMP_MAX_PACKETS`] with
    /// `dump`); the pcap file has them all.
    pub packets: Vec<CapturedPacket>,
}

/// What a `capture` command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureDone {
    /// The capture.
    pub name: String,
    /// `added`, `restarted`, `stopped`, `removed` or `cleared`.
    pub action: String,
}

/// A `show capture NAME` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureQuery {
    /// The capture.
    pub name: String,
    /// MAC addresses, EtherType, TTL and id too.
    pub detail: bool,
    /// Each frame's bytes too.
    pub dump: bool,
    /// The first N frames only.
    pub count: Option<usize>,
}
