//! What `rampart lab` reports: each traffic kind's outcome and each
//! node's counters (its exit [`Summary`]), a sample of its connection
//! table and of its metrics. A typed value, printed as text for people or
//! as JSON (`rampart lab --json`), which readers deserialise.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rampart_ops::model::{ConnList, ConnRow};
use rampart_ops::show_conn::{render_count, render_row};
use serde::{Deserialize, Serialize};

use crate::summary::Summary;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabReport {
    /// Each traffic kind.
    pub kinds: Vec<KindReport>,
    /// Each node.
    pub nodes: Vec<NodeReport>,
}

/// One traffic kind's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindReport {
    /// Its name (`tcp_asymmetric_inspected`, …).
    pub kind: String,
    /// Connections (or UDP exchanges) tried.
    pub attempted: usize,
    /// Those that carried their data intact.
    pub succeeded: usize,
    /// Those that did not.
    pub failed: usize,
    /// Bytes whose digest the other side confirmed.
    pub bytes_verified: usize,
    /// The failed ones counted by the step they failed at (`connect`,
    /// `send`, `reply`, `mismatch`, `socket`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, usize>,
}

impl KindReport {
    /// The outcome of `attempted` tries of kind `kind`.
    pub fn new(kind: &str, attempted: usize, succeeded: usize, bytes_verified: usize) -> Self {
        KindReport {
            kind: kind.to_string(),
            attempted,
            succeeded,
            failed: attempted.saturating_sub(succeeded),
            bytes_verified,
            failures: BTreeMap::new(),
        }
    }

    /// The same, with its failures counted by step.
    pub fn with_failures(mut self, failures: BTreeMap<String, usize>) -> Self {
        self.failures = failures;
        self
    }

    /// Its failures by step, `connect 1, reply 2`; empty if none.
    pub fn failures_text(&self) -> String {
        self.failures
            .iter()
            .map(|(step, n)| format!("{step} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One node's part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    /// The node's name.
    pub node: String,
    /// Frames dropped by reason (reasons with a count only).
    pub drops: BTreeMap<String, u64>,
    /// Sync events its engines emitted.
    pub sync_events_sent: u64,
    /// Sync events its engines applied.
    pub sync_events_received: u64,
    /// Packets held for a peer's state.
    pub held: u64,
    /// Held packets released when the state arrived.
    pub held_released: u64,
    /// Held packets whose deadline passed.
    pub held_expired: u64,
    /// The exit summary's lines for people, joined by ` | `.
    pub exit: String,
    /// The exit summary.
    pub summary: Summary,
    /// `show conn detail` before it stopped: the first connection of each
    /// kind (bypass, inspected TCP, UDP) and the counts.
    pub conns: ConnList,
    /// A few of its metrics before it stopped (`name{labels} value`).
    pub metrics: Vec<String>,
    /// Its place in the cluster before it stopped (`show cluster`).
    #[serde(default)]
    pub cluster: ClusterPlace,
}

/// A node's place in the cluster, from its `show cluster`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterPlace {
    /// As `show cluster` names it: `leader`, `follower`, `learner`, `not a
    /// member` or `unknown (no Raft)`.
    pub raft_role: String,
    /// The Raft term.
    pub raft_term: u64,
    /// The policy version its dataplane runs.
    pub policy_version: u64,
    /// Its workers use the cluster's sequence-randomization key.
    pub seq_key_shared: bool,
}

impl ClusterPlace {
    /// What `view` says of its node.
    pub fn of(view: &rampart_ops::model::ClusterView) -> Self {
        let s = &view.status;
        ClusterPlace {
            raft_role: rampart_ops::show_cluster::role(s.raft.as_ref(), s.node_id).to_string(),
            raft_term: s.raft.as_ref().map_or(0, |r| r.term),
            policy_version: s.policy_version,
            seq_key_shared: s.seq_key_shared,
        }
    }
}

impl NodeReport {
    /// Node `summary`'s part, with its table and metrics samples.
    pub fn new(summary: Summary, conns: ConnList, metrics: Vec<String>) -> Self {
        let sync = summary.sync.unwrap_or_default();
        NodeReport {
            node: summary.node.clone(),
            drops: summary.counters.drops.clone(),
            sync_events_sent: sync.events_out,
            sync_events_received: sync.events_in,
            held: sync.held,
            held_released: sync.released,
            held_expired: sync.expired,
            exit: summary.lines().join(" | "),
            summary,
            conns,
            metrics,
            cluster: ClusterPlace::default(),
        }
    }

    /// With its place in the cluster.
    pub fn with_cluster(self, cluster: ClusterPlace) -> Self {
        NodeReport { cluster, ..self }
    }
}

/// The metric families the report samples.
const METRIC_SAMPLE: [&str; 4] = [
    "rampart_conntrack_entries",
    "rampart_sync_events_sent_total",
    "rampart_sync_events_applied_total",
    "rampart_sync_peer_up",
];

/// The sampled series of a `/metrics` text, with a value other than 0.
pub fn metric_sample(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            METRIC_SAMPLE.iter().any(|m| {
                l.strip_prefix(m)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
        })
        .filter(|l| l.rsplit(' ').next().is_some_and(|v| v != "0"))
        .map(str::to_string)
        .collect()
}

/// The first row of each kind (bypass, inspected TCP to `inspected_to`,
/// UDP) of `list`, keeping its counts; the rest are counted as truncated.
pub fn conn_sample(list: ConnList, inspected_to: (std::net::IpAddr, u16)) -> ConnList {
    let mut shown: Vec<ConnRow> = Vec::new();
    let wants: [&dyn Fn(&ConnRow) -> bool; 3] = [
        &|r| r.flags.contains('b'),
        &|r| {
            r.protocol == "TCP"
                && !r.flags.contains('b')
                && [&r.lower, &r.higher]
                    .iter()
                    .any(|s| (s.addr, s.port) == inspected_to)
        },
        &|r| r.protocol == "UDP",
    ];
    for want in wants {
        if let Some(r) = list.conns.iter().find(|r| want(r) && !shown.contains(r)) {
            shown.push(r.clone());
        }
    }
    let left = (list.conns.len() - shown.len()) as u64 + list.truncated;
    ConnList {
        in_use: list.in_use,
        most_used: list.most_used,
        conns: shown,
        truncated: left,
    }
}

impl LabReport {
    /// As JSON, one line.
    pub fn json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self).map(|s| s + "\n")
    }

    /// As text for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "Rampart lab: client and server with one path through fw-a and one through fw-b\n",
        );
        out.push_str("(client->server via fw-a, server->client via fw-b for asymmetric flows)\n\n");
        let _ = writeln!(
            out,
            "{:<28} {:>9} {:>9} {:>7} {:>14}",
            "traffic", "attempted", "succeeded", "failed", "bytes verified"
        );
        for k in &self.kinds {
            let _ = writeln!(
                out,
                "{:<28} {:>9} {:>9} {:>7} {:>14}",
                k.kind, k.attempted, k.succeeded, k.failed, k.bytes_verified
            );
        }
        for k in self.kinds.iter().filter(|k| !k.failures.is_empty()) {
            let _ = writeln!(out, "  {} failed at: {}", k.kind, k.failures_text());
        }
        out.push('\n');
        for n in &self.nodes {
            let c = &n.cluster;
            let _ = writeln!(
                out,
                "{}: Raft {} (term {}), policy version {}, {} sequence-randomization key",
                n.node,
                c.raft_role,
                c.raft_term,
                c.policy_version,
                if c.seq_key_shared {
                    "the cluster's"
                } else {
                    "its own"
                }
            );
        }
        for n in &self.nodes {
            for line in n.summary.lines() {
                let _ = writeln!(out, "{}: {line}", n.node);
            }
        }
        for n in &self.nodes {
            let _ = writeln!(
                out,
                "\n{}# show conn detail   (first entries of each kind)",
                n.node
            );
            out.push_str(&render_count(&n.conns));
            for r in &n.conns.conns {
                out.push_str(&render_row(r, true));
            }
            let _ = writeln!(out, "... and {} more", n.conns.truncated);
        }
        for n in &self.nodes {
            let _ = writeln!(out, "\n{} metrics (a sample of /metrics):", n.node);
            if n.metrics.is_empty() {
                out.push_str("  (none)\n");
            }
            for m in &n.metrics {
                let _ = writeln!(out, "  {m}");
            }
        }
        out.push('\n');
        out.push_str(&self.conclusion());
        out
    }

    /// What the run showed, in words, each sentence from what it measured.
    fn conclusion(&self) -> String {
        let mut out = String::new();
        let members = self
            .nodes
            .iter()
            .all(|n| matches!(n.cluster.raft_role.as_str(), "leader" | "follower"));
        let versions: Vec<u64> = self
            .nodes
            .iter()
            .map(|n| n.cluster.policy_version)
            .collect();
        let one_policy = versions
            .first()
            .is_some_and(|&v| v > 0 && versions.iter().all(|&w| w == v));
        let one_key = self.nodes.iter().all(|n| n.cluster.seq_key_shared);
        if !self.nodes.is_empty() && members && one_policy && one_key {
            let _ = writeln!(
                out,
                "Every node is a Raft voter and runs the policy Raft committed (version {}) and the\n\
                 cluster's one sequence-randomization key.",
                versions[0]
            );
        } else {
            out.push_str(
                "The nodes do NOT all run one committed policy and key (see each node's line above).\n",
            );
        }
        let held: u64 = self.nodes.iter().map(|n| n.held).sum();
        let released: u64 = self.nodes.iter().map(|n| n.held_released).sum();
        let expired: u64 = self.nodes.iter().map(|n| n.held_expired).sum();
        if let Some(k) = self
            .kinds
            .iter()
            .find(|k| k.kind == "tcp_asymmetric_inspected")
        {
            let _ = writeln!(
                out,
                "Asymmetric inspected TCP (SYN through fw-a, replies through fw-b, state shared over\n\
                 QUIC with mutual TLS): {} of {} carried their data intact; {held} packets were held for\n\
                 a peer's state, {released} released when it came, {expired} expired.",
                k.succeeded, k.attempted
            );
        }
        let failed: usize = self.kinds.iter().map(|k| k.failed).sum();
        let _ = writeln!(
            out,
            "{}",
            if failed == 0 {
                "Every connection and exchange of every kind succeeded.".to_string()
            } else {
                format!("{failed} connection(s) or exchange(s) FAILED (see the table).")
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metric_sample_keeps_named_series_that_moved() {
        let text = "# HELP rampart_sync_peer_up up\n\
                    rampart_sync_peer_up{peer=\"2\"} 1\n\
                    rampart_sync_events_sent_total{kind=\"insert\"} 0\n\
                    rampart_sync_events_sent_total{kind=\"update\"} 12\n\
                    rampart_sync_events_sent_totally 5\n\
                    rampart_drops_total{reason=\"acl-drop\"} 3\n";
        assert_eq!(
            metric_sample(text),
            vec![
                "rampart_sync_peer_up{peer=\"2\"} 1".to_string(),
                "rampart_sync_events_sent_total{kind=\"update\"} 12".to_string(),
            ]
        );
    }

    /// Node `name`'s part of a run that saw nothing.
    fn quiet_node(name: &str) -> NodeReport {
        NodeReport::new(
            Summary {
                node: name.into(),
                ..Summary::default()
            },
            ConnList {
                in_use: 0,
                most_used: 0,
                conns: Vec::new(),
                truncated: 0,
            },
            Vec::new(),
        )
    }

    /// The closing words say what the run measured: a run whose nodes
    /// are outside Raft on keys of their own, and whose asymmetric flows
    /// failed, says so. Before, the same fixed paragraph claimed one
    /// policy, one key and working asymmetric flows whatever happened.
    #[test]
    fn the_conclusion_says_what_was_measured() {
        let node = |name: &str, role: &str, shared: bool| {
            quiet_node(name).with_cluster(ClusterPlace {
                raft_role: role.into(),
                raft_term: 1,
                policy_version: 3,
                seq_key_shared: shared,
            })
        };
        let bad = LabReport {
            kinds: vec![KindReport::new("tcp_asymmetric_inspected", 10, 0, 0)],
            nodes: vec![
                node("fw-a", "not a member", false),
                node("fw-b", "not a member", false),
            ],
        };
        let text = bad.conclusion();
        assert!(
            text.contains("do NOT all run one committed policy"),
            "{text}"
        );
        assert!(text.contains("0 of 10 carried their data"), "{text}");
        assert!(
            text.contains("10 connection(s) or exchange(s) FAILED"),
            "{text}"
        );
        let good = LabReport {
            kinds: vec![KindReport::new("tcp_asymmetric_inspected", 10, 10, 100)],
            nodes: vec![node("fw-a", "leader", true), node("fw-b", "follower", true)],
        };
        let text = good.conclusion();
        assert!(text.contains("policy Raft committed (version 3)"), "{text}");
        assert!(text.contains("10 of 10 carried"), "{text}");
        assert!(
            text.contains("Every connection and exchange of every kind succeeded"),
            "{text}"
        );
    }

    #[test]
    fn the_report_round_trips_through_json() {
        let r = LabReport {
            kinds: vec![
                KindReport::new("udp_asymmetric", 10, 9, 200)
                    .with_failures([("reply".to_string(), 1)].into()),
                KindReport::new("tcp_symmetric_inspected", 10, 10, 655_360),
            ],
            nodes: vec![quiet_node("fw-a")],
        };
        let json = r.json().unwrap();
        assert!(json.starts_with(
            "{\"kinds\":[{\"kind\":\"udp_asymmetric\",\"attempted\":10,\"succeeded\":9,\"failed\":1,\"bytes_verified\":200,\
             \"failures\":{\"reply\":1}},{\"kind\":\"tcp_symmetric_inspected\",\"attempted\":10,\
             \"succeeded\":10,\"failed\":0,\"bytes_verified\":655360}]"
        ));
        assert_eq!(serde_json::from_str::<LabReport>(&json).unwrap(), r);
        assert!(
            r.text().contains("  udp_asymmetric failed at: reply 1\n"),
            "{}",
            r.text()
        );
    }
}
