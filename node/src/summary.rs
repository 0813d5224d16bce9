//! What a node counted, summed over its workers: the exit summary of
//! `rampart run` (and the counters of its SIGUSR1 dump). A typed value:
//! printed for people as the `stopped;`, `sync;` and `cluster;` lines, or
//! as one JSON document with `--log-format json`, which the lab's
//! harness reads back ([`crate::lab::proc::NodeProc::stop`]).

use std::collections::BTreeMap;

use rampart_dataplane::DropReason;
use serde::{Deserialize, Serialize};

/// The node's exit summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The node's name (`[node] name`).
    pub node: String,
    /// Worker threads it ran.
    pub workers: usize,
    /// Forwarding, table, drop and I/O counters.
    pub counters: Counts,
    /// The engines' sync counters (absent without a cluster).
    pub sync: Option<EngineSync>,
    /// The sync protocol, transport and link counters (absent without a
    /// cluster, or before the protocol reported anything).
    pub cluster: Option<ClusterCounts>,
    /// Committed policy versions that did not compile on this node.
    #[serde(default)]
    pub policy_versions_not_applied: u64,
    /// Each worker's packet I/O: `ring`, `mmsg` (or `ring-rx`: a receive
    /// ring and `sendmmsg`; `a/b` when its two interfaces differ).
    #[serde(default)]
    pub io_modes: Vec<String>,
}

/// Forwarding, table, drop and I/O counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Frames forwarded.
    pub forwarded: u64,
    /// Connections in use.
    pub conns_in_use: u64,
    /// The sum of the workers' high-water marks (an upper bound of the
    /// node's own peak with several workers).
    pub conns_most_used: u64,
    /// Frames dropped, all reasons.
    pub dropped: u64,
    /// Frames dropped by reason (the `show asp drop` label), reasons
    /// with a count only.
    pub drops: BTreeMap<String, u64>,
    /// The I/O layer's own counters.
    pub io: IoCounts,
}

impl Counts {
    /// Drops of reason `label` (0 when none).
    pub fn drops_of(&self, label: &str) -> u64 {
        self.drops.get(label).copied().unwrap_or(0)
    }
}

/// The I/O layer's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoCounts {
    /// Frames larger than a receive buffer.
    pub truncated: u64,
    /// Frames the kernel refused to send.
    pub send_failed: u64,
    /// GSO super-packets forwarded whole.
    pub gso_frames: u64,
    /// Frames the kernel dropped before a worker read them (socket buffer
    /// or receive ring full; `PACKET_STATISTICS`), as of the workers' last
    /// table sweep (and when they stop).
    #[serde(default)]
    pub kernel_rx_drops: u64,
    /// Receive-ring blocks whose offsets were not trusted (dropped).
    #[serde(default)]
    pub bad_blocks: u64,
    /// Frames larger than a transmit-ring slot, sent by a plain socket.
    #[serde(default)]
    pub tx_spilled: u64,
    /// Worker loop turns that polled again without sleeping.
    #[serde(default)]
    pub busy_polls: u64,
    /// Frames larger than a per-frame ring's slot, read whole from the
    /// socket's queue (docs/io.md §2a).
    #[serde(default)]
    pub rx_copied: u64,
}

/// The engines' sync counters, summed over workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSync {
    /// Events the engines emitted.
    pub events_out: u64,
    /// Events the engines applied.
    pub events_in: u64,
    /// Flows joined from a peer's event.
    pub joined: u64,
    /// Events refused.
    pub rejected: u64,
    /// Packets held for a peer's state.
    pub held: u64,
    /// Held packets released when the state arrived.
    pub released: u64,
    /// Held packets whose deadline passed.
    pub expired: u64,
    /// Opening packets deferred for the peers' acknowledgement.
    pub deferred: u64,
    /// Deferred packets sent on the acknowledgement.
    pub acked: u64,
    /// Deferred packets sent on the deadline.
    pub timed_out: u64,
    /// Flows sent to peers in bulk.
    pub bulk_flows_out: u64,
    /// Packets not held because a hold limit was reached (judged at once,
    /// against the state this node had).
    #[serde(default)]
    pub hold_overflow: u64,
    /// Held packets dropped when the state arrived and still refused them.
    #[serde(default)]
    pub refused: u64,
}

/// A peer and the protocol's phase with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPhase {
    /// The peer's node id.
    pub id: u16,
    /// `up`, `syncing`, `down`, …
    pub phase: String,
}

/// Sync protocol, transport and link counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterCounts {
    /// The peers and their phases.
    pub peers: Vec<PeerPhase>,
    /// Batches sent.
    pub batches_sent: u64,
    /// Events sent.
    pub events_sent: u64,
    /// Events received.
    pub events_received: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams sent again.
    pub datagrams_resent: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Batches resent after reconnections.
    pub resent: u64,
    /// Gaps that forced a bulk resync.
    pub gaps: u64,
    /// Malformed frames refused.
    pub malformed: u64,
    /// Bulk syncs completed.
    pub bulk_completed: u64,
    /// Flows received in bulk.
    pub bulk_flows_received: u64,
    /// Duration of the last bulk sync, milliseconds.
    pub last_bulk_ms: u64,
    /// Frames the protocol refused.
    pub frames_refused: u64,
    /// Frames the transport could not send.
    pub send_failed: u64,
    /// Events dropped between the workers and the protocol.
    pub events_dropped: u64,
    /// Connections refused in the TLS handshake.
    pub refused_tls: u64,
    /// Connections refused for a certificate naming another node.
    pub refused_identity: u64,
    /// Connections refused from a node not among the peers.
    pub refused_unknown_peer: u64,
}

impl Summary {
    /// Forwarding, table and drop counters in one line (drops in the
    /// engine's reason order).
    pub fn counters_line(&self) -> String {
        let c = &self.counters;
        let drops: Vec<String> = DropReason::ALL
            .iter()
            .filter_map(|r| {
                let n = c.drops_of(r.label());
                (n > 0).then(|| format!("{}={n}", r.label()))
            })
            .collect();
        format!(
            "forwarded {} frames, {} connections in use ({} most used), dropped {} [{}], \
             io truncated={} send_failed={} gso_frames={} rx_kernel_drops={} bad_blocks={} \
             tx_spilled={} rx_copied={} busy_polls={} mode={}",
            c.forwarded,
            c.conns_in_use,
            c.conns_most_used,
            c.dropped,
            drops.join(" "),
            c.io.truncated,
            c.io.send_failed,
            c.io.gso_frames,
            c.io.kernel_rx_drops,
            c.io.bad_blocks,
            c.io.tx_spilled,
            c.io.rx_copied,
            c.io.busy_polls,
            if self.io_modes.is_empty() {
                "-".to_string()
            } else {
                self.io_modes.join(",")
            },
        )
    }

    /// The engines' sync counters in one line (`key=value` pairs).
    pub fn sync_line(&self) -> Option<String> {
        let v = self.sync?;
        Some(format!(
            "sync; events_out={} events_in={} joined={} rejected={} held={} released={} \
             expired={} refused={} hold_overflow={} deferred={} acked={} timed_out={} \
             bulk_flows_out={}",
            v.events_out,
            v.events_in,
            v.joined,
            v.rejected,
            v.held,
            v.released,
            v.expired,
            v.refused,
            v.hold_overflow,
            v.deferred,
            v.acked,
            v.timed_out,
            v.bulk_flows_out,
        ))
    }

    /// Protocol, transport and link counters in one line.
    pub fn cluster_line(&self) -> Option<String> {
        let c = self.cluster.as_ref()?;
        let peers: Vec<String> = c
            .peers
            .iter()
            .map(|p| format!("{}:{}", p.id, p.phase))
            .collect();
        Some(format!(
            "cluster; peers [{}] batches_sent={} events_sent={} events_received={} \
             datagrams_sent={} datagrams_resent={} datagrams_received={} resent={} gaps={} malformed={} \
             bulk_completed={} bulk_flows_received={} last_bulk_ms={} frames_refused={} \
             send_failed={} events_dropped={} refused_tls={} refused_identity={} \
             refused_unknown_peer={}",
            peers.join(" "),
            c.batches_sent,
            c.events_sent,
            c.events_received,
            c.datagrams_sent,
            c.datagrams_resent,
            c.datagrams_received,
            c.resent,
            c.gaps,
            c.malformed,
            c.bulk_completed,
            c.bulk_flows_received,
            c.last_bulk_ms,
            c.frames_refused,
            c.send_failed,
            c.events_dropped,
            c.refused_tls,
            c.refused_identity,
            c.refused_unknown_peer,
        ))
    }

    /// The summary for people: `stopped; …`, then `sync; …`, `cluster; …`
    /// and the policy versions not applied, when there are any.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("stopped; {}", self.counters_line())];
        out.extend(self.sync_line());
        out.extend(self.cluster_line());
        if self.policy_versions_not_applied > 0 {
            out.push(format!(
                "{} committed policy version(s) did not compile here",
                self.policy_versions_not_applied
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Summary {
        Summary {
            node: "fw-a".into(),
            workers: 2,
            counters: Counts {
                forwarded: 10,
                conns_in_use: 2,
                conns_most_used: 3,
                dropped: 5,
                drops: [("acl-drop".to_string(), 4), ("tcp-not-syn".to_string(), 1)]
                    .into_iter()
                    .collect(),
                io: IoCounts {
                    truncated: 0,
                    send_failed: 1,
                    gso_frames: 7,
                    kernel_rx_drops: 3,
                    ..IoCounts::default()
                },
            },
            sync: Some(EngineSync {
                events_out: 3,
                ..EngineSync::default()
            }),
            cluster: Some(ClusterCounts {
                peers: vec![PeerPhase {
                    id: 2,
                    phase: "up".into(),
                }],
                ..ClusterCounts::default()
            }),
            policy_versions_not_applied: 0,
            io_modes: vec!["ring".into(), "mmsg".into()],
        }
    }

    #[test]
    fn the_summary_reads_as_the_exit_lines() {
        let s = sample();
        let lines = s.lines();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with(
            "stopped; forwarded 10 frames, 2 connections in use (3 most used), dropped 5 ["
        ));
        assert!(lines[0].contains("acl-drop=4"), "{}", lines[0]);
        assert!(lines[0].contains("tcp-not-syn=1"), "{}", lines[0]);
        assert!(
            lines[0].ends_with(
                "io truncated=0 send_failed=1 gso_frames=7 rx_kernel_drops=3 bad_blocks=0 \
                 tx_spilled=0 rx_copied=0 busy_polls=0 mode=ring,mmsg"
            ),
            "{}",
            lines[0]
        );
        assert!(lines[1].starts_with("sync; events_out=3 events_in=0"));
        assert!(lines[2].starts_with("cluster; peers [2:up] batches_sent=0"));
    }

    #[test]
    fn the_summary_round_trips_through_json() {
        let s = sample();
        let json = serde_json::to_string(&s).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.counters.drops_of("acl-drop"), 4);
        assert_eq!(back.counters.drops_of("tcp-seq-past-win"), 0);
    }
}
