//! The node's ops side: the admin API, `/metrics` and the connection log
//! over the workers ([`Workers`], the engine pool) and the cluster's status
//! ([`crate::cluster_link::SyncStatus`]). Started by `rampart run` at the
//! `[ops]` addresses; nothing here locks an engine: every question is a
//! job the workers run between two batches.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::Context as _;
use rampart_cluster::sync::peer_stats::LAG_BUCKET_BOUNDS_US;
use rampart_ops::admin::Admin;
use rampart_ops::backend::Backend;
use rampart_ops::http::refusal::Listener;
use rampart_ops::metrics::Metrics;
use rampart_ops::model::{NodeStatus, PeerStatus, SyncTotals};
use rampart_ops::server::{OpsConfig, OpsServer};
use rampart_ops::syslog::SyslogCounters;
use rampart_ops::syslog::logger::{ConnLogger, LogPump, SyslogConfig};

use crate::cluster_link::{ClusterDetail, SyncStatus};
use crate::config::NodeConfig;
use crate::control::Workers;
use crate::kept_policy::KeptPolicy;
use crate::policy_raft::RaftSide;
use crate::token_file;
use rampart_cluster::transport::Transport;

/// The running ops side; dropping it stops the endpoints and the log.
#[derive(Debug)]
pub struct OpsSide {
    admin: Arc<Admin<Workers>>,
    time_range_failures: Arc<AtomicU64>,
    _server: Option<OpsServer>,
    _pump: Option<LogPump>,
}

impl OpsSide {
    /// The operations (for the Raft watch: [`Admin::apply_committed`]
    /// swaps each committed policy into the workers and records it).
    pub fn admin(&self) -> &Arc<Admin<Workers>> {
        &self.admin
    }

    /// Where the time-ranges thread counts its looks that panicked
    /// (`rampart_time_range_check_failures_total` when the node serves
    /// metrics).
    pub fn time_range_failures(&self) -> &Arc<AtomicU64> {
        &self.time_range_failures
    }
}

/// What the node knows of itself and its cluster, now.
fn status(cfg: &NodeConfig, sync: Option<&SyncStatus>) -> NodeStatus {
    let mut s = NodeStatus {
        node_id: cfg.node.id,
        node_name: cfg.node.name.clone(),
        clustered: cfg.cluster.is_some(),
        // A standalone node forwards at once.
        sync_ready: cfg.cluster.is_none(),
        ..NodeStatus::default()
    };
    let (Some(c), Some(sync)) = (&cfg.cluster, sync) else {
        return s;
    };
    let detail = sync.detail.lock().ok().and_then(|d| d.clone());
    s.sync_ready = detail.as_ref().is_some_and(ClusterDetail::ready_now);
    // The configured peers, then any the sync protocol took up beside them
    // (nodes that joined through Raft, in no configuration file: named by
    // their certificate's identity, their address in the Raft membership).
    // Once the protocol runs, its peers are the members: a configured peer
    // removed from the cluster since the start (`cluster remove`) is
    // forgotten there and left out here, not shown down for good.
    let member = |id: u16| {
        detail
            .as_ref()
            .is_none_or(|d| d.peers.iter().any(|x| x.id == id))
    };
    let configured = c
        .peers
        .iter()
        .filter(|p| member(p.id))
        .map(|p| (p.id, p.name.clone(), p.address.to_string()));
    let joined: Vec<(u16, String, String)> = detail
        .iter()
        .flat_map(|d| d.peers.iter())
        .filter(|d| !c.peers.iter().any(|p| p.id == d.id))
        .map(|d| (d.id, format!("node-{}", d.id), String::new()))
        .collect();
    s.peers = configured
        .chain(joined)
        .map(|(id, name, address)| {
            let d = detail
                .as_ref()
                .and_then(|d| d.peers.iter().find(|x| x.id == id));
            let counters = d.map(|d| d.counters.clone()).unwrap_or_default();
            PeerStatus {
                id,
                name,
                address,
                state: d.map_or("down", |d| d.phase).to_string(),
                events_sent: counters.events_sent,
                events_received: counters.events_received,
                bytes_out: counters.bytes_out,
                bytes_in: counters.bytes_in,
                lag_buckets: counters.lag.buckets.to_vec(),
                lag_bounds_us: LAG_BUCKET_BOUNDS_US.to_vec(),
                lag_sum_ns: counters.lag.sum_ns,
                unacked_events: d.map_or(0, |d| d.unacked_events as u64),
                link: d.map(|d| link_status(&d.link)).unwrap_or_default(),
            }
        })
        .collect();
    if let Some((pc, _)) = sync.snapshot.lock().ok().and_then(|s| s.clone()) {
        s.sync = Some(SyncTotals {
            bytes_out: pc.bytes_out,
            bytes_in: pc.bytes_in,
            bulk_requested: pc.bulk_requested,
            bulk_completed: pc.bulk_completed,
            bulk_failed: pc.bulk_failed,
            bulk_served: pc.bulk_served,
            bulk_flows_received: pc.bulk_flows_received,
            last_bulk_ms: u64::try_from(pc.last_bulk.as_millis()).unwrap_or(u64::MAX),
            gaps: pc.gaps,
            malformed: pc.malformed,
            batches_resent: pc.batches_resent,
            datagrams: [
                pc.datagrams_sent,
                pc.datagrams_resent,
                pc.datagrams_received,
            ],
            pulls_forwarded: pc.pulls_forwarded,
            rebalances: pc.rebalances,
            rebalance_flows_sent: pc.rebalance_flows_sent,
            events_unplaced: pc.events_unplaced,
            guards: sync
                .guards
                .lock()
                .map(|g| g.iter().map(|(k, v)| ((*k).to_string(), *v)).collect())
                .unwrap_or_default(),
            losses: sync
                .losses
                .lock()
                .map(|g| g.iter().map(|(k, v)| ((*k).to_string(), *v)).collect())
                .unwrap_or_default(),
            connects: sync
                .connects
                .lock()
                .map(|g| g.iter().map(|(k, v)| ((*k).to_string(), *v)).collect())
                .unwrap_or_default(),
            frames_refused: rampart_cluster::sync::protocol::REFUSAL_LABELS
                .iter()
                .zip(pc.refused)
                .map(|(k, v)| ((*k).to_string(), v))
                .collect(),
            states_refused: sync
                .states_refused
                .lock()
                .map(|g| g.iter().map(|(k, v)| ((*k).to_string(), *v)).collect())
                .unwrap_or_default(),
            bulk_events: vec![
                ("incomplete".to_string(), pc.bulk_incomplete),
                ("peer_skipped".to_string(), pc.bulk_peers_skipped),
                ("request_ignored".to_string(), pc.bulk_requests_ignored),
                ("backoff".to_string(), pc.bulk_backoffs),
                ("view_narrowed".to_string(), pc.bulk_views_narrowed),
            ],
        });
    }
    s
}

/// The policy the engines run as the node starts.
#[derive(Debug, Clone, Copy)]
pub enum Running<'a> {
    /// This version (the policy file as version 1, the policy `configure`
    /// saved, or a stored cluster policy), with its `show running-config`
    /// text, rendered when the node parsed it to compile (parsing a large
    /// policy again here once delayed forwarding by seconds).
    Policy(u64, &'a str),
    /// The built-in security-levels policy (no policy file).
    BuiltIn,
    /// None: the engines wait for the cluster's
    /// ([`rampart_dataplane::Engine::await_cluster_policy`]).
    AwaitingCluster,
}

/// Start the `[ops]` endpoints and the connection log (nothing without an
/// `[ops]` table). `policy` is the policy the engines run; `raft`, once the node runs Raft, takes
/// `configure` writes (the node then applies committed policies with
/// [`OpsSide::admin`]); without a cluster, a `configure` is saved in the
/// data directory before it answers (docs/ops.md §7).
pub fn start(
    cfg: &NodeConfig,
    config_path: &Path,
    workers: &Workers,
    sync: Option<Arc<SyncStatus>>,
    policy: Running<'_>,
    raft: Option<&RaftSide>,
    cluster: Option<(tokio::runtime::Handle, Transport)>,
) -> anyhow::Result<OpsSide> {
    let pool = Arc::new(workers.clone());
    let status_cfg = cfg.clone();
    let raft_status = raft.cloned();
    let mut admin = Admin::new(
        pool.clone(),
        Box::new(move || {
            let mut s = status(&status_cfg, sync.as_deref());
            s.raft = raft_status.as_ref().map(RaftSide::status);
            s
        }),
    );
    match policy {
        Running::Policy(version, shown) => {
            admin = admin.with_running_rendered(version, shown.to_string());
        }
        Running::BuiltIn => {}
        Running::AwaitingCluster => admin = admin.awaiting_cluster_policy(),
    }
    if cfg.cluster.is_none() {
        let kept = KeptPolicy::configured_in(&cfg.data_path(config_path));
        admin = admin.with_policy_store(crate::startup_policy::store(kept));
    }
    if let Some(r) = raft {
        let peers = cfg
            .cluster
            .as_ref()
            .map(|c| c.peers.clone())
            .unwrap_or_default();
        let committed = r.clone();
        admin = admin
            .with_writer(r.writer())
            .with_committed_version(Box::new(move || committed.committed_version()))
            .with_membership(r.membership(peers))
            .with_shun_writer(r.shun_writer());
    } else {
        admin = admin.with_shun_writer(crate::policy_raft::local_shun_writer());
    }
    if let Some((rt, t)) = &cluster {
        admin = admin.with_peer_clear(crate::clear_rpc::peer_clear(rt.clone(), t.clone()));
    }
    let admin = Arc::new(admin);
    if let Some((rt, t)) = &cluster {
        crate::clear_rpc::serve(rt, t, admin.clone());
    }
    // The operations exist without endpoints too: committed policies are
    // applied through them.
    let Some(ops) = &cfg.ops else {
        return Ok(OpsSide {
            admin,
            time_range_failures: Arc::default(),
            _server: None,
            _pump: None,
        });
    };
    let backend: Arc<dyn Backend> = admin.clone();
    let syslog = Arc::new(SyslogCounters::default());
    let pump = if ops.conn_log {
        let scfg = SyslogConfig {
            max_per_sec: ops.syslog_max_per_sec,
            server: ops.syslog,
            hostname: cfg.node.name.clone(),
            ..SyslogConfig::default()
        };
        let logger = ConnLogger::new(&scfg, syslog.clone()).with_context(|| {
            format!(
                "{}: [ops] syslog: opening the UDP socket",
                config_path.display()
            )
        })?;
        Some(
            LogPump::start(pool, logger, scfg.queue_events)
                .context("starting the connection log")?,
        )
    } else {
        None
    };
    let b = backend.clone();
    let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), Some(syslog)));
    let time_range_failures = metrics.time_range_check_failures();
    let (token, read_token) = match cfg.serves_admin() {
        true => (
            Some(token_file::read_or_create(&cfg.token_path(config_path))?),
            cfg.read_token_path(config_path)
                .map(|p| token_file::read_or_create(&p))
                .transpose()?,
        ),
        false => (None, None),
    };
    // The default socket is skipped, not fatal, where its path does not
    // fit a socket address (unix(7): 107 bytes): nodes whose data
    // directory is that deep ran before the socket existed.
    let admin_socket = match cfg.admin_socket_path(config_path) {
        Some((p, false)) if p.as_os_str().len() > MAX_SOCKET_PATH => {
            tracing::warn!(
                "ops: no admin socket: {} is longer than a socket's path may be ({MAX_SOCKET_PATH} \
                 bytes); set [ops] admin_socket to a shorter path (docs/ops.md §1)",
                p.display()
            );
            None
        }
        // In the data directory, which `rampart run` made (0700) and
        // refused at start if another user may change it (docs/ops.md §4).
        Some((p, false)) => Some(p),
        other => other.map(|(p, _)| p),
    };
    let server = OpsServer::start(
        &OpsConfig {
            metrics: ops.metrics,
            admin: ops.admin,
            admin_socket,
            token,
            read_token,
            admin_hosts: ops.admin_hosts.clone(),
            metrics_hosts: ops.metrics_hosts.clone(),
            ..OpsConfig::default()
        },
        backend,
        metrics,
    )
    .with_context(|| format!("{}: [ops]", config_path.display()))?;
    // A listener whose address another socket holds is not served yet:
    // said so, not printed as if it were (docs/ops.md §1).
    let said = |addr: Option<std::net::SocketAddr>, l: Listener, path: &str| match addr {
        None => "off".to_string(),
        Some(a) if server.waiting_at_start(l) => format!("waiting for {a} (in use)"),
        Some(a) => format!("http://{a}{path}"),
    };
    let socket = server
        .admin_socket
        .as_ref()
        .map(|p| format!(" and unix:{}", p.display()))
        .unwrap_or_default();
    tracing::info!(
        "ops: metrics {}, admin API {}{socket}",
        said(server.metrics_addr, Listener::Metrics, "/metrics"),
        said(server.admin_addr, Listener::Admin, "/v1/")
    );
    Ok(OpsSide {
        admin,
        time_range_failures,
        _server: Some(server),
        _pump: pump,
    })
}

/// The longest path a Unix socket address holds (unix(7): `sun_path` is
/// 108 bytes with its terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The model's view of a peer's link.
fn link_status(l: &rampart_cluster::transport::LinkStats) -> rampart_ops::model::LinkStatus {
    rampart_ops::model::LinkStatus {
        datagrams_out: l.datagrams_out,
        datagrams_in: l.datagrams_in,
        bytes_out: l.bytes_out,
        bytes_in: l.bytes_in,
        lost_packets: l.lost_packets,
        congestion_events: l.congestion_events,
        rtt_us: u64::try_from(l.rtt.as_micros()).unwrap_or(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_link::PeerDetail;

    fn detail(peers: &[(u16, &'static str)]) -> ClusterDetail {
        ClusterDetail {
            ready: true,
            peers: peers
                .iter()
                .map(|&(id, phase)| PeerDetail {
                    id,
                    phase,
                    counters: Default::default(),
                    unacked_events: 0,
                    link: Default::default(),
                })
                .collect(),
            at: Some(std::time::Instant::now()),
        }
    }

    fn ids_and_states(s: &NodeStatus) -> Vec<(u16, String)> {
        s.peers.iter().map(|p| (p.id, p.state.clone())).collect()
    }

    #[test]
    fn a_configured_peer_removed_from_the_cluster_is_no_longer_listed() {
        let text = include_str!("../../examples/node-a.toml");
        let cfg = NodeConfig::parse("node-a.toml", text).expect("the example parses");
        let configured: Vec<u16> = cfg
            .cluster
            .as_ref()
            .expect("[cluster]")
            .peers
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(configured, [2], "the example names one peer");
        let sync = SyncStatus::default();
        // Before the protocol runs: the configured peer, down.
        assert_eq!(
            ids_and_states(&status(&cfg, Some(&sync))),
            [(2, "down".to_string())]
        );
        // A member the protocol knows: listed with its phase, and a peer
        // that joined through Raft beside it.
        *sync.detail.lock().unwrap() = Some(detail(&[(2, "up"), (5, "syncing")]));
        assert_eq!(
            ids_and_states(&status(&cfg, Some(&sync))),
            [(2, "up".to_string()), (5, "syncing".to_string())]
        );
        // Down but still a member: listed down.
        *sync.detail.lock().unwrap() = Some(detail(&[(2, "down")]));
        assert_eq!(
            ids_and_states(&status(&cfg, Some(&sync))),
            [(2, "down".to_string())]
        );
        // Removed (`cluster remove`: the protocol forgot it): not listed,
        // so neither `show cluster` nor `rampart_sync_peer_up` calls it down.
        *sync.detail.lock().unwrap() = Some(detail(&[]));
        assert!(status(&cfg, Some(&sync)).peers.is_empty());
    }
}
