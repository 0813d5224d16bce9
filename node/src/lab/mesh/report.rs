//! What `rampart lab --nodes N` reports: the run's parameters (nodes,
//! copies, seed), each traffic kind's outcome with the paths of the flows
//! that failed, and each node's table size and sync traffic, read from its
//! admin API and `/metrics`. A typed value, printed as text for people or
//! as JSON (`--json`), which readers deserialise. A number the node does
//! not export is `null`, never a guess.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::lab::report::KindReport;

/// Bytes of sync frames the node sent (the families are declared in
/// `ops/src/metrics/specs.rs`).
const SYNC_BYTES_OUT: &str = "rampart_sync_sent_bytes_total";
/// Pulls of flows' state, by event (`sent`: this node's held packets
/// asked).
const SYNC_PULLS: &str = "rampart_sync_pulls_total";
/// Replication lag of event batches, per peer (a histogram).
pub const SYNC_LAG: &str = "rampart_sync_replication_lag_seconds";
/// How long held packets waited for their flow's state (a histogram).
pub const HELD_WAIT: &str = "rampart_sync_held_wait_seconds";
/// The engines' sync events produced, by kind.
const SYNC_EVENTS_OUT: &str = "rampart_sync_events_sent_total";
/// Sync events sent, by peer (one event sent to k peers counts k times).
const SYNC_PEER_EVENTS_OUT: &str = "rampart_sync_peer_events_sent_total";
/// The family the lab reads a node's entries by cluster role from, with
/// a `role` label of [`ROLE_OWNER`], [`ROLE_DIRECTOR`] or [`ROLE_COPY`].
/// A node without it (not in a cluster) reports the roles as `null`.
pub const ROLE_ENTRIES: &str = "rampart_conntrack_role_entries";
/// Entries this node owns (it saw the flow's first packet).
pub const ROLE_OWNER: &str = "owner";
/// Entries this node keeps as the flow's director.
pub const ROLE_DIRECTOR: &str = "director";
/// Entries this node keeps as a copy of another node's.
pub const ROLE_COPY: &str = "copy";

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeshReport {
    /// Nodes in the mesh.
    pub node_count: usize,
    /// `[cluster] copies` given to every node (`null`: not set, the
    /// node's default).
    pub copies: Option<usize>,
    /// The seed of the flows' paths (`--seed` replays them).
    pub seed: u64,
    /// Flows planned per kind.
    pub flows_per_kind: usize,
    /// Each traffic kind.
    pub kinds: Vec<MeshKindReport>,
    /// Each node, `fw-a` first.
    pub nodes: Vec<MeshNodeReport>,
    /// All nodes' sync bytes sent during the traffic, over the inspected
    /// TCP connections made (symmetric and asymmetric; UDP's and the
    /// cluster's own sync traffic in the same time are in the bytes too).
    /// `null` when a node's bytes are unknown or no such connection was
    /// made.
    pub sync_bytes_per_new_flow: Option<f64>,
    /// All nodes' pulls sent during the traffic (their held packets asked
    /// for a flow's state), over the inspected TCP connections made.
    #[serde(default)]
    pub pulls_per_new_flow: Option<f64>,
    /// The 99th percentile of the replication lag of the event batches
    /// sent during the traffic, all nodes and peers together: the upper
    /// bound of the histogram bucket it falls in, in ms (`null`: no batch).
    #[serde(default)]
    pub sync_lag_p99_ms: Option<f64>,
    /// How long the packets held during the traffic waited for their
    /// flow's state (pushed or pulled), all nodes: the median and the 99th
    /// percentile, as bucket bounds in ms (`null`: none was held). The
    /// latency a pull adds to the packet that needed it.
    #[serde(default)]
    pub held_wait_p50_ms: Option<f64>,
    /// See [`MeshReport::held_wait_p50_ms`].
    #[serde(default)]
    pub held_wait_p99_ms: Option<f64>,
}

/// One traffic kind's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeshKindReport {
    /// Attempted, succeeded ("ok"), failed, bytes verified.
    #[serde(flatten)]
    pub outcome: KindReport,
    /// The paths of the flows that failed, `forward>return` (`fw-a>fw-c`),
    /// the first [`FAILED_SHOWN`] of them.
    pub failed_flows: Vec<String>,
}

/// How many failed flows a kind lists.
pub const FAILED_SHOWN: usize = 20;

/// One node's part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeshNodeReport {
    /// The node's name.
    pub node: String,
    /// Its node id.
    pub id: u16,
    /// Connections in its table after the traffic (`show conn count`).
    pub conns: Option<u64>,
    /// Bytes of sync frames it sent during the traffic.
    pub sync_bytes_out: Option<u64>,
    /// Sync events its engines produced during the traffic.
    pub sync_events_out: Option<u64>,
    /// Sync events it sent to peers during the traffic (each event
    /// counted once per peer it went to).
    pub sync_events_to_peers: Option<u64>,
    /// Pulls it sent during the traffic.
    #[serde(default)]
    pub sync_pulls_sent: Option<u64>,
    /// Its entries by cluster role after the traffic.
    pub roles: RoleCounts,
    /// Frames it dropped, by reason (from its exit summary).
    pub drops: BTreeMap<String, u64>,
    /// Its place in the Raft cluster before it stopped.
    #[serde(default)]
    pub cluster: crate::lab::report::ClusterPlace,
}

/// A node's entries by cluster role, from [`ROLE_ENTRIES`]; `null` for a
/// role the node does not export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleCounts {
    /// Entries it owns.
    pub owned: Option<u64>,
    /// Entries it keeps as director.
    pub director: Option<u64>,
    /// Entries it keeps as a copy.
    pub copy: Option<u64>,
}

impl RoleCounts {
    /// The roles of a `/metrics` text.
    pub fn of(metrics: &str) -> RoleCounts {
        let role = |r| metric_sum(metrics, ROLE_ENTRIES, Some(("role", r)));
        RoleCounts {
            owned: role(ROLE_OWNER),
            director: role(ROLE_DIRECTOR),
            copy: role(ROLE_COPY),
        }
    }
}

/// A node's sync counters at one moment (from its `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncSample {
    /// Bytes of sync frames sent.
    pub bytes_out: Option<u64>,
    /// Events produced.
    pub events_out: Option<u64>,
    /// Events sent, summed over peers.
    pub events_to_peers: Option<u64>,
    /// Pulls sent.
    pub pulls_sent: Option<u64>,
}

impl SyncSample {
    /// The counters of a `/metrics` text.
    pub fn of(metrics: &str) -> SyncSample {
        SyncSample {
            bytes_out: metric_sum(metrics, SYNC_BYTES_OUT, None),
            events_out: metric_sum(metrics, SYNC_EVENTS_OUT, None),
            events_to_peers: metric_sum(metrics, SYNC_PEER_EVENTS_OUT, None),
            pulls_sent: metric_sum(metrics, SYNC_PULLS, Some(("event", "sent"))),
        }
    }

    /// What moved from `before` to `self` (unknown if either is).
    pub fn since(self, before: SyncSample) -> SyncSample {
        let d = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
        SyncSample {
            bytes_out: d(self.bytes_out, before.bytes_out),
            events_out: d(self.events_out, before.events_out),
            events_to_peers: d(self.events_to_peers, before.events_to_peers),
            pulls_sent: d(self.pulls_sent, before.pulls_sent),
        }
    }
}

/// The sum of the series of family `family` in a Prometheus text (those
/// with label `label`, if given); `None` when there is no such series.
pub fn metric_sum(text: &str, family: &str, label: Option<(&str, &str)>) -> Option<u64> {
    let mut sum: Option<u64> = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.trim().rsplit_once(' ') else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if name != family {
            continue;
        }
        if let Some((key, want)) = label {
            let pair = format!("{key}=\"{want}\"");
            if !labels.split(',').any(|l| l.trim() == pair) {
                continue;
            }
        }
        let v = match value.parse::<u64>() {
            Ok(v) => v,
            // Counters are whole; a float form is read as such.
            Err(_) => match value.parse::<f64>() {
                Ok(f) if f.is_finite() && f >= 0.0 => f as u64,
                _ => continue,
            },
        };
        sum = Some(sum.unwrap_or(0).saturating_add(v));
    }
    sum
}

/// The cumulative buckets of histogram `family` in a Prometheus text,
/// summed over its series: (upper bound in seconds, count), by bound;
/// `+Inf` is `f64::INFINITY`.
pub fn histogram_buckets(text: &str, family: &str) -> Vec<(f64, u64)> {
    let name = format!("{family}_bucket{{");
    let mut sums: Vec<(f64, u64)> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(&name)) {
        let Some((series, value)) = line.trim().rsplit_once(' ') else {
            continue;
        };
        let Some(le) = series
            .split(['{', ',', '}'])
            .find_map(|l| l.trim().strip_prefix("le=\""))
            .map(|v| v.trim_end_matches('"'))
        else {
            continue;
        };
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            match le.parse::<f64>() {
                Ok(b) => b,
                Err(_) => continue,
            }
        };
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        match sums.iter_mut().find(|(b, _)| *b == bound) {
            Some((_, n)) => *n += v as u64,
            None => sums.push((bound, v as u64)),
        }
    }
    sums.sort_by(|a, b| a.0.total_cmp(&b.0));
    sums
}

/// The upper bound (ms) of the bucket holding the `q` quantile of what was
/// added to a histogram between `before` and `after` (cumulative buckets
/// of [`histogram_buckets`], summed over any number of nodes); `None`
/// when nothing was added. A quantile in the `+Inf` bucket is infinite.
pub fn quantile_ms(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> Option<f64> {
    let added: Vec<(f64, u64)> = after
        .iter()
        .map(|&(b, n)| {
            let was = before
                .iter()
                .find(|(bb, _)| *bb == b)
                .map_or(0, |(_, m)| *m);
            (b, n.saturating_sub(was))
        })
        .collect();
    let total = added.last()?.1;
    if total == 0 {
        return None;
    }
    let want = (q * total as f64).ceil() as u64;
    added
        .iter()
        .find(|(_, n)| *n >= want)
        .map(|(b, _)| b * 1000.0)
}

/// Buckets of several histograms summed by bound.
pub fn sum_buckets<'a>(all: impl IntoIterator<Item = &'a [(f64, u64)]>) -> Vec<(f64, u64)> {
    let mut sums: Vec<(f64, u64)> = Vec::new();
    for buckets in all {
        for &(b, n) in buckets {
            match sums.iter_mut().find(|(bb, _)| *bb == b) {
                Some((_, m)) => *m += n,
                None => sums.push((b, n)),
            }
        }
    }
    sums.sort_by(|a, b| a.0.total_cmp(&b.0));
    sums
}

/// All nodes' pulls over the inspected TCP connections made.
pub fn pulls_per_new_flow(nodes: &[MeshNodeReport], kinds: &[MeshKindReport]) -> Option<f64> {
    let pulls: u64 = nodes
        .iter()
        .map(|n| n.sync_pulls_sent)
        .sum::<Option<u64>>()?;
    let made = inspected_made(kinds);
    (made > 0).then(|| pulls as f64 / made as f64)
}

fn inspected_made(kinds: &[MeshKindReport]) -> usize {
    kinds
        .iter()
        .filter(|k| INSPECTED_TCP.contains(&k.outcome.kind.as_str()))
        .map(|k| k.outcome.succeeded)
        .sum()
}

/// All nodes' bytes over the inspected TCP connections made (see
/// [`MeshReport::sync_bytes_per_new_flow`]).
pub fn bytes_per_new_flow(nodes: &[MeshNodeReport], kinds: &[MeshKindReport]) -> Option<f64> {
    let bytes: u64 = nodes
        .iter()
        .map(|n| n.sync_bytes_out)
        .sum::<Option<u64>>()?;
    let made = inspected_made(kinds);
    (made > 0).then(|| bytes as f64 / made as f64)
}

/// The kinds whose connections are new inspected flows.
pub const INSPECTED_TCP: [&str; 2] = ["tcp_symmetric_inspected", "tcp_asymmetric_inspected"];

fn or_dash(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

impl MeshReport {
    /// As JSON, one line.
    pub fn json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self).map(|s| s + "\n")
    }

    /// As text for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let names: Vec<&str> = self.nodes.iter().map(|n| n.node.as_str()).collect();
        let _ = writeln!(
            out,
            "Rampart lab: client and server with one path through each of {} nodes ({})",
            self.node_count,
            names.join(", ")
        );
        let copies = self
            .copies
            .map_or_else(|| "not set (node default)".to_string(), |k| k.to_string());
        let _ = writeln!(
            out,
            "each flow out through one node and back through another (symmetric: the same),\n\
             drawn at random: seed {} (--seed {} replays it), {} flows per kind, copies {copies}\n",
            self.seed, self.seed, self.flows_per_kind
        );
        let _ = writeln!(
            out,
            "{:<28} {:>9} {:>9} {:>7} {:>14}",
            "traffic", "attempted", "ok", "failed", "bytes verified"
        );
        for k in &self.kinds {
            let o = &k.outcome;
            let _ = writeln!(
                out,
                "{:<28} {:>9} {:>9} {:>7} {:>14}",
                o.kind, o.attempted, o.succeeded, o.failed, o.bytes_verified
            );
        }
        for k in self.kinds.iter().filter(|k| !k.failed_flows.is_empty()) {
            let _ = writeln!(
                out,
                "  failed {} (out>back): {} (at: {})",
                k.outcome.kind,
                k.failed_flows.join(" "),
                k.outcome.failures_text()
            );
        }
        let _ = writeln!(
            out,
            "\n{:<6} {:>3} {:>6} {:>15} {:>16} {:>16} {:>6} {:>9} {:>6}",
            "node",
            "id",
            "conns",
            "sync bytes out",
            "sync events out",
            "events to peers",
            "owned",
            "director",
            "copy"
        );
        for n in &self.nodes {
            let _ = writeln!(
                out,
                "{:<6} {:>3} {:>6} {:>15} {:>16} {:>16} {:>6} {:>9} {:>6}",
                n.node,
                n.id,
                or_dash(n.conns),
                or_dash(n.sync_bytes_out),
                or_dash(n.sync_events_out),
                or_dash(n.sync_events_to_peers),
                or_dash(n.roles.owned),
                or_dash(n.roles.director),
                or_dash(n.roles.copy),
            );
        }
        out.push_str("(sync counters over the traffic only; `-`: the node does not export it)\n");
        let leader = self
            .nodes
            .iter()
            .find(|n| n.cluster.raft_role == "leader")
            .map_or("none", |n| n.node.as_str());
        let keyed = self
            .nodes
            .iter()
            .filter(|n| n.cluster.seq_key_shared)
            .count();
        let _ = writeln!(
            out,
            "Raft: leader {leader}; {keyed} of {} nodes use the cluster's sequence-randomization key",
            self.nodes.len()
        );
        for n in self.nodes.iter().filter(|n| !n.drops.is_empty()) {
            let drops: Vec<String> = n.drops.iter().map(|(r, c)| format!("{r}={c}")).collect();
            let _ = writeln!(out, "{} dropped: {}", n.node, drops.join(" "));
        }
        match self.sync_bytes_per_new_flow {
            Some(b) => {
                let _ = writeln!(
                    out,
                    "\nsync bytes per new inspected TCP flow: {b:.0} (all nodes' sync bytes out / \
                     inspected TCP connections made)"
                );
            }
            None => out.push_str("\nsync bytes per new inspected TCP flow: unknown\n"),
        }
        let f =
            |v: Option<f64>, d: usize| v.map_or_else(|| "unknown".into(), |v| format!("{v:.d$}"));
        let _ = writeln!(
            out,
            "pulls per new inspected TCP flow: {}; replication lag p99 (bucket bound): {} ms; \
             held packets' wait p50/p99 (bucket bounds): {}/{} ms",
            f(self.pulls_per_new_flow, 2),
            f(self.sync_lag_p99_ms, 2),
            f(self.held_wait_p50_ms, 2),
            f(self.held_wait_p99_ms, 2)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "# HELP rampart_sync_sent_bytes_total Bytes.\n\
        # TYPE rampart_sync_sent_bytes_total counter\n\
        rampart_sync_sent_bytes_total 4096\n\
        rampart_sync_events_sent_total{kind=\"insert\"} 10\n\
        rampart_sync_events_sent_total{kind=\"update\"} 5\n\
        rampart_sync_events_sent_totally 99\n\
        rampart_sync_peer_events_sent_total{peer=\"2\"} 15\n\
        rampart_sync_peer_events_sent_total{peer=\"3\"} 15\n\
        rampart_sync_pulls_total{event=\"sent\"} 4\n\
        rampart_sync_pulls_total{event=\"answered\"} 9\n";

    #[test]
    fn the_sync_sample_sums_each_family_and_nothing_else() {
        let s = SyncSample::of(METRICS);
        assert_eq!(
            s,
            SyncSample {
                bytes_out: Some(4096),
                events_out: Some(15),
                events_to_peers: Some(30),
                pulls_sent: Some(4),
            }
        );
        let before = SyncSample {
            bytes_out: Some(1000),
            events_out: None,
            events_to_peers: Some(30),
            pulls_sent: Some(1),
        };
        assert_eq!(
            s.since(before),
            SyncSample {
                bytes_out: Some(3096),
                events_out: None,
                events_to_peers: Some(0),
                pulls_sent: Some(3),
            }
        );
    }

    #[test]
    fn roles_absent_from_the_metrics_are_null_not_zero() {
        assert_eq!(RoleCounts::of(METRICS), RoleCounts::default());
        let with = format!(
            "{METRICS}{ROLE_ENTRIES}{{role=\"owner\",protocol=\"tcp\"}} 7\n\
             {ROLE_ENTRIES}{{role=\"owner\",protocol=\"udp\"}} 2\n\
             {ROLE_ENTRIES}{{role=\"copy\"}} 0\n"
        );
        assert_eq!(
            RoleCounts::of(&with),
            RoleCounts {
                owned: Some(9),
                director: None,
                copy: Some(0),
            }
        );
    }

    fn kind(name: &str, ok: usize) -> MeshKindReport {
        MeshKindReport {
            outcome: KindReport::new(name, ok, ok, 0),
            failed_flows: Vec::new(),
        }
    }

    fn node(bytes: Option<u64>) -> MeshNodeReport {
        MeshNodeReport {
            node: "fw-a".into(),
            id: 1,
            conns: Some(3),
            sync_bytes_out: bytes,
            sync_events_out: None,
            sync_events_to_peers: None,
            sync_pulls_sent: bytes.map(|b| b / 100),
            roles: RoleCounts::default(),
            drops: BTreeMap::new(),
            cluster: Default::default(),
        }
    }

    #[test]
    fn bytes_per_flow_counts_inspected_tcp_connections_only() {
        let kinds = [
            kind("tcp_symmetric_inspected", 4),
            kind("tcp_asymmetric_inspected", 6),
            kind("tcp_asymmetric_bypass", 10),
            kind("udp_asymmetric", 10),
        ];
        let nodes = [node(Some(600)), node(Some(400))];
        assert_eq!(bytes_per_new_flow(&nodes, &kinds), Some(100.0));
        assert_eq!(
            bytes_per_new_flow(&[node(Some(1)), node(None)], &kinds),
            None
        );
        assert_eq!(bytes_per_new_flow(&nodes, &kinds[2..]), None);
        assert_eq!(pulls_per_new_flow(&nodes, &kinds), Some(1.0));
    }

    #[test]
    fn the_lag_quantile_is_the_bound_of_its_bucket_over_what_was_added() {
        let lag = |a: u64, b: u64, c: u64| {
            format!(
                "# TYPE {SYNC_LAG} histogram\n\
                 {SYNC_LAG}_bucket{{peer=\"2\",le=\"0.0005\"}} {a}\n\
                 {SYNC_LAG}_bucket{{peer=\"2\",le=\"0.001\"}} {b}\n\
                 {SYNC_LAG}_bucket{{peer=\"2\",le=\"+Inf\"}} {c}\n\
                 {SYNC_LAG}_bucket{{peer=\"3\",le=\"0.0005\"}} 0\n\
                 {SYNC_LAG}_bucket{{peer=\"3\",le=\"0.001\"}} 0\n\
                 {SYNC_LAG}_bucket{{peer=\"3\",le=\"+Inf\"}} 1\n\
                 {SYNC_LAG}_sum{{peer=\"2\"}} 0.5\n"
            )
        };
        let before = histogram_buckets(&lag(10, 10, 10), SYNC_LAG);
        assert_eq!(before, vec![(0.0005, 10), (0.001, 10), (f64::INFINITY, 11)]);
        // 100 batches added: 98 within 0.5 ms, 1 within 1 ms, 1 beyond.
        let after = histogram_buckets(&lag(108, 109, 110), SYNC_LAG);
        assert_eq!(quantile_ms(&before, &after, 0.98), Some(0.5));
        assert_eq!(quantile_ms(&before, &after, 0.99), Some(1.0));
        assert_eq!(quantile_ms(&before, &after, 1.0), Some(f64::INFINITY));
        assert_eq!(quantile_ms(&after, &after, 0.99), None, "nothing added");
        let two = sum_buckets([before.as_slice(), after.as_slice()]);
        assert_eq!(two, vec![(0.0005, 118), (0.001, 119), (f64::INFINITY, 122)]);
    }

    #[test]
    fn the_report_round_trips_through_json_with_nulls_for_unknowns() {
        let r = MeshReport {
            node_count: 2,
            copies: None,
            seed: 9,
            flows_per_kind: 4,
            kinds: vec![MeshKindReport {
                outcome: KindReport::new("udp_asymmetric", 4, 3, 90)
                    .with_failures([("reply".to_string(), 1)].into()),
                failed_flows: vec!["fw-a>fw-b".into()],
            }],
            nodes: vec![node(None)],
            sync_bytes_per_new_flow: None,
            pulls_per_new_flow: None,
            sync_lag_p99_ms: Some(2.5),
            held_wait_p50_ms: None,
            held_wait_p99_ms: Some(0.25),
        };
        let json = r.json().unwrap();
        assert!(json.contains(
            "\"kinds\":[{\"kind\":\"udp_asymmetric\",\"attempted\":4,\"succeeded\":3,\"failed\":1,\
             \"bytes_verified\":90,\"failures\":{\"reply\":1},\"failed_flows\":[\"fw-a>fw-b\"]}]"
        ));
        assert!(json.contains("\"roles\":{\"owned\":null,\"director\":null,\"copy\":null}"));
        assert_eq!(serde_json::from_str::<MeshReport>(&json).unwrap(), r);
        let text = r.text();
        assert!(text.contains("seed 9 (--seed 9 replays it)"), "{text}");
        assert!(
            text.contains("failed udp_asymmetric (out>back): fw-a>fw-b (at: reply 1)"),
            "{text}"
        );
    }
}
