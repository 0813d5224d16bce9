//! `show cluster`: this node, its peers and what it knows of Raft and the
//! policy, in the shape of the ASA's `show cluster info`. Parts the node
//! does not know are said to be unknown, never invented.

use crate::model::{ClusterView, PeerStatus, RaftRole, RaftStatus};

fn lag(p: &PeerStatus) -> String {
    let q = |q: f64| {
        p.lag_quantile_us(q).map_or_else(
            || {
                if p.lag_buckets.iter().sum::<u64>() == 0 {
                    "-".to_string()
                } else {
                    format!(
                        ">{} ms",
                        p.lag_bounds_us.last().copied().unwrap_or(0) / 1000
                    )
                }
            },
            |us| format!("≤{}", human_us(us)),
        )
    };
    if p.lag_buckets.iter().sum::<u64>() == 0 {
        return "no acknowledged batches yet".into();
    }
    format!("p50 {}, p99 {}", q(0.5), q(0.99))
}

fn human_us(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{} s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{} ms", us as f64 / 1e3)
    } else {
        format!("{us} µs")
    }
}

/// Node `id`'s Raft role as `show cluster` names it, as this node knows
/// it (from the leader and the voters). Once this node's Raft core has
/// ended it knows nothing current of the others.
pub fn role(raft: Option<&RaftStatus>, id: u16) -> &'static str {
    match raft {
        None => "unknown (no Raft)",
        Some(r) if r.stopped.is_some() => "unknown (Raft stopped on this node)",
        Some(r) if r.leader == Some(id) => "leader",
        Some(r) if r.learners.contains(&id) => "learner",
        Some(r) if r.voters.contains(&id) => "follower",
        Some(_) => "not a member",
    }
}

/// This node's own role: as its Raft core reports it (`stopped` once the
/// core has ended), else, from a node of an earlier version, as [`role`]
/// derives it.
pub fn own_role(raft: Option<&RaftStatus>, id: u16) -> &'static str {
    match raft {
        Some(r) if r.stopped.is_some() => RaftRole::Stopped.name(),
        Some(r) if r.removed.is_some() => "removed",
        Some(RaftStatus {
            role: Some(role), ..
        }) => role.name(),
        _ => role(raft, id),
    }
}

/// The text.
pub fn render_cluster(v: &ClusterView) -> String {
    let s = &v.status;
    let mut out = String::new();
    if !s.clustered {
        out.push_str("Cluster: Off (standalone node)\n");
    } else {
        out.push_str("Cluster: On\n");
    }
    let state = if s.not_ready().is_empty() {
        "READY"
    } else {
        "NOT READY"
    };
    out.push_str(&format!(
        "    This is \"{}\" (node {}) in state {state}\n",
        s.node_name, s.node_id
    ));
    let raft = s.raft.as_ref();
    if s.clustered {
        let up = s.peers.iter().filter(|p| p.state == "up").count();
        out.push_str(&format!(
            "        Sync         : {}, {up} of {} peer(s) up\n",
            if s.sync_ready {
                "bulk sync done"
            } else {
                "waiting for the first bulk sync"
            },
            s.peers.len()
        ));
        if let Some(t) = &s.sync
            && t.bulk_completed > 0
        {
            out.push_str(&format!(
                "        Last bulk    : {} ms, {} flow(s) received in all\n",
                t.last_bulk_ms, t.bulk_flows_received
            ));
        }
    }
    out.push_str(&format!(
        "        Policy       : version {}, {} swap(s)\n",
        s.policy_version, v.policy_swaps
    ));
    if s.clustered {
        out.push_str(if s.seq_key_shared {
            "        Seq. random. : the cluster's key (policy log)\n"
        } else {
            "        Seq. random. : this node's own key (no cluster key yet)\n"
        });
    }
    out.push_str(&format!(
        "        Connections  : {} in use\n",
        v.conns_in_use
    ));
    match raft {
        None => out.push_str("        Raft         : not running (policy applied locally)\n"),
        Some(r) if r.stopped.is_some() => {
            // The core's last reading would show a follower of a leader,
            // running; say plainly that it is not.
            out.push_str(&format!(
                "        Raft         : STOPPED (core ended: {}) — restart the node\n",
                r.stopped.as_deref().unwrap_or_default()
            ));
            out.push_str(&format!(
                "        Last reading : term {}, commit {}, applied {}; no policy changes here \
                 until then\n",
                r.term, r.commit_index, r.applied_index
            ));
            out.push_str(&format!(
                "        Role         : {}\n",
                own_role(raft, s.node_id)
            ));
        }
        Some(r) => {
            let leader = r.leader.map_or_else(
                || "none known".to_string(),
                |l| {
                    if l == s.node_id {
                        format!("node {l} (this node)")
                    } else {
                        let name = s
                            .peers
                            .iter()
                            .find(|p| p.id == l)
                            .map_or(String::new(), |p| format!("\"{}\" ", p.name));
                        format!("{name}node {l}")
                    }
                },
            );
            out.push_str(&format!(
                "        Raft         : term {}, leader {leader}, commit {}, applied {}\n",
                r.term, r.commit_index, r.applied_index
            ));
            out.push_str(&format!(
                "        Role         : {}\n",
                own_role(raft, s.node_id)
            ));
            if let Some(why) = &r.removed {
                out.push_str(&format!(
                    "        Removed      : {why}; it neither campaigns nor dials the members \
                     and is not ready (rampart cluster join --id {} on a member takes it \
                     back)\n",
                    s.node_id
                ));
            }
            let id = r.cluster_id.as_deref().unwrap_or("none (not joined yet)");
            let votes = if r.log_complete {
                String::new()
            } else {
                format!(
                    ", withholding its vote until its log holds the leader's ({} refused)",
                    r.votes_withheld
                )
            };
            out.push_str(&format!("        Cluster id   : {id}{votes}\n"));
        }
    }
    if s.peers.is_empty() {
        return out;
    }
    out.push_str("Other members in the cluster:\n");
    for p in &s.peers {
        out.push_str(&format!(
            "    Unit \"{}\" (node {}) in state {}\n",
            p.name, p.id, p.state
        ));
        out.push_str(&format!("        Address      : {}\n", p.address));
        if raft.is_some() {
            out.push_str(&format!("        Role         : {}\n", role(raft, p.id)));
        }
        out.push_str(&format!("        Sync lag     : {}\n", lag(p)));
        out.push_str(&format!(
            "        Events       : {} sent, {} received, {} unacked\n",
            p.events_sent, p.events_received, p.unacked_events
        ));
        out.push_str(&format!(
            "        Bytes        : {} sent, {} received\n",
            p.bytes_out, p.bytes_in
        ));
        let l = &p.link;
        let rtt = if l.rtt_us == 0 {
            "-".to_string()
        } else {
            human_us(l.rtt_us)
        };
        out.push_str(&format!(
            "        Link (QUIC)  : RTT {rtt}, {} packets sent, {} received, {} lost\n",
            l.datagrams_out, l.datagrams_in, l.lost_packets
        ));
    }
    out
}
