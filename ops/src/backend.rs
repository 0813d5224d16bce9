//! What the HTTP endpoints ask of the node. [`crate::admin::Admin`]
//! implements it over an [`crate::pool::EnginePool`]; the server holds it
//! as `Arc<dyn Backend>`. Every method blocks (it may ask the workers):
//! call them off the async runtime.

use std::net::IpAddr;

use rampart_dataplane::engine::tracer::TracePacket;

use crate::model::{
    AccessLists, AclClearResult, ClearResult, ClusterView, ConfigProblem, ConfigureResult,
    ConnList, Counters, Fragments, Health, MemberChange, MemberResult, PacketTrace, RunningConfig,
    ServicePolicy,
};
use crate::model::{CaptureDone, CaptureList, CaptureQuery, CaptureView};
use crate::show_conn::ConnFilter;
use crate::show_local_host::{HostFilter, LocalHosts};
use crate::snapshot::NodeSnapshot;

/// Why an operation failed, by whose fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsError {
    /// The workers did not answer in time (the node's state).
    #[error("the packet workers did not answer: {0}")]
    Unavailable(String),
    /// The request is malformed (the caller's fault).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request names something the node does not have (the caller's
    /// fault: `show access-list NOPE`).
    #[error("{0}")]
    NotFound(String),
    /// A configuration was refused whole; nothing changed (the config's fault).
    #[error("configuration refused ({} problem(s))", .0.len())]
    Config(Vec<ConfigProblem>),
    /// The cluster could not commit the change (no quorum, no leader): the
    /// cluster's state, not the request's; the text says what happened to
    /// the running policy.
    #[error("{0}")]
    Cluster(String),
    /// The cluster did not confirm the change in time, but it was proposed
    /// and may still take effect (its text says so): the operator must
    /// look before trying again (`rampart show cluster`).
    #[error("{0}")]
    Pending(String),
    /// Too many table walks (`show conn`, `show local-host`, `clear conn`)
    /// in a short time:
    /// each one costs the packet workers, so they are rate-limited.
    #[error("too many connection-table walks: {0}")]
    RateLimited(String),
    /// The node does one such thing at a time and is doing one (a
    /// capture's export): try again when it ends.
    #[error("{0}")]
    Busy(String),
    /// The packet workers kept the running policy: the new one's classes
    /// need more class slots than connections of earlier policies left
    /// (the node's state; `clear conn` frees them).
    #[error("the policy was not installed: {0}")]
    PolicyRefused(String),
    /// The configuration was bound to a version (signed for it) that is no
    /// longer the next: another change was committed meanwhile. Nothing
    /// changed (the writer's to resolve: look, then sign again).
    #[error("{0}")]
    Conflict(String),
    /// A node without a cluster could not save the policy for its next
    /// start (the node's fault: its data directory): it was not applied,
    /// and the running policy stays, so that a restart never brings back
    /// an older policy than the one `configure` answered for.
    #[error("the policy was not saved for a restart, so it was not applied: {0}")]
    NotSaved(String),
}

/// Who asks for a `show conn`: each has a walk budget of its own, so no
/// one spends another's (docs/ops.md §2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Caller {
    /// No token (any local user, unless a read token is set).
    #[default]
    Open,
    /// The read token (monitoring).
    ReadToken,
    /// The admin token (the operator).
    AdminToken,
    /// The admin socket without the admin token: root or the node's own
    /// user, as the kernel's credentials of the connection say
    /// (docs/ops.md §1), that is the operator. Never one with token-less
    /// callers of the port, whose walks could otherwise refuse the
    /// operator's (the CLI sends no token for reads unless a read token is
    /// configured).
    Socket,
}

impl Caller {
    /// Every kind, in the order of their budgets.
    pub const ALL: [Caller; 4] = [
        Caller::Open,
        Caller::ReadToken,
        Caller::AdminToken,
        Caller::Socket,
    ];

    /// Its place in [`Caller::ALL`].
    pub fn index(self) -> usize {
        match self {
            Caller::Open => 0,
            Caller::ReadToken => 1,
            Caller::AdminToken => 2,
            Caller::Socket => 3,
        }
    }

    /// Whether it is the operator (the admin token, or the admin socket),
    /// whose walks wait for nobody's turn and list the full row count.
    pub fn is_operator(self) -> bool {
        matches!(self, Caller::AdminToken | Caller::Socket)
    }
}

/// A `show conn` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnQuery {
    /// What to list (docs/asa-behaviour.md §2.4).
    pub filter: ConnFilter,
    /// Only the counts (`show conn count`).
    pub count_only: bool,
    /// Which token the request carried.
    pub caller: Caller,
}

/// A `show local-host` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalHostQuery {
    /// Which hosts (docs/asa-behaviour.md §3.5).
    pub hosts: HostFilter,
    /// Which token the request carried.
    pub caller: Caller,
}

/// A `packet-tracer` request (its query string: [`crate::packet_tracer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceQuery {
    /// The input interface, by nameif.
    pub input: String,
    /// The VLAN id; 0: untagged.
    pub vlan: u16,
    /// The source address.
    pub src: IpAddr,
    /// The destination address.
    pub dst: IpAddr,
    /// What the packet carries.
    pub packet: TracePacket,
}

/// The node as the endpoints see it.
pub trait Backend: Send + Sync + 'static {
    /// Everything the metrics export.
    fn snapshot(&self) -> NodeSnapshot;
    /// `show conn`.
    fn conns(&self, q: &ConnQuery) -> Result<ConnList, OpsError>;
    /// `clear conn`.
    fn clear_conns(&self, filter: &ConnFilter) -> Result<ClearResult, OpsError>;
    /// `show local-host`.
    fn local_hosts(&self, q: &LocalHostQuery) -> Result<LocalHosts, OpsError> {
        let _ = q;
        Err(OpsError::BadRequest(
            "this node has no connection table".into(),
        ))
    }
    /// `show service-policy`.
    fn service_policy(&self) -> Result<ServicePolicy, OpsError>;
    /// `show cluster`.
    fn cluster(&self) -> Result<ClusterView, OpsError>;
    /// `show running-config`.
    fn running_config(&self) -> Result<RunningConfig, OpsError>;
    /// `configure`: apply a whole configuration, or refuse it and change nothing.
    fn configure(&self, text: &str) -> Result<ConfigureResult, OpsError>;
    /// `show counters`.
    fn counters(&self) -> Result<Counters, OpsError>;
    /// `show fragment`.
    fn fragments(&self) -> Result<Fragments, OpsError>;
    /// `packet-tracer`: what the node would do with one packet (reads only).
    fn packet_tracer(&self, q: &TraceQuery) -> Result<PacketTrace, OpsError>;
    /// `show access-list [NAME]` (`None`: every list).
    fn access_lists(&self, name: Option<&str>) -> Result<AccessLists, OpsError>;
    /// `show time-range`.
    fn time_ranges(&self) -> Result<crate::show_time_range::TimeRanges, OpsError> {
        Ok(crate::show_time_range::TimeRanges { ranges: Vec::new() })
    }
    /// `clear access-list [NAME] counters` (`None`: every list).
    fn clear_access_lists(&self, name: Option<&str>) -> Result<AclClearResult, OpsError>;
    /// Readiness (cheap: no worker round trip).
    fn health(&self) -> Health;
    /// `capture …`, `capture NAME stop`, `no capture NAME`, `clear capture NAME`.
    fn capture_command(&self, line: &str) -> Result<CaptureDone, OpsError> {
        let _ = line;
        Err(no_capture())
    }
    /// `show capture`.
    fn capture_list(&self) -> Result<CaptureList, OpsError> {
        Err(no_capture())
    }
    /// `show capture NAME …`.
    fn capture_show(&self, q: &CaptureQuery) -> Result<CaptureView, OpsError> {
        let _ = q;
        Err(no_capture())
    }
    /// `copy /pcap capture:NAME`: a pcap file.
    fn capture_pcap(&self, name: &str) -> Result<Vec<u8>, OpsError> {
        let _ = name;
        Err(no_capture())
    }
    /// `shun …`, `no shun …`, `clear shun [statistics]`
    /// (docs/asa-behaviour.md §2.12).
    fn shun_command(&self, line: &str) -> Result<crate::shun::ShunDone, OpsError> {
        let _ = line;
        Err(OpsError::BadRequest("this node keeps no shun list".into()))
    }
    /// `show shun [statistics]`.
    fn shun_list(&self) -> Result<crate::shun::ShunList, OpsError> {
        Ok(crate::shun::ShunList::default())
    }
    /// `rampart cluster join|remove`.
    fn membership(&self, change: &MemberChange) -> Result<MemberResult, OpsError> {
        let _ = change;
        Err(OpsError::BadRequest(
            "this node replicates no policy (no Raft cluster)".into(),
        ))
    }
}

/// A backend without packet workers has no capture.
fn no_capture() -> OpsError {
    OpsError::BadRequest("this node has no packet capture".into())
}
