//! openraft's network over the cluster transport: each Raft RPC is one
//! transport RPC (one QUIC bidirectional stream) on the Raft service.
//! A peer that is down, not yet connected or not yet serving Raft is
//! reported as `Unreachable`, so openraft backs off instead of counting
//! a failure against it. So is a reply carrying a term or log index of
//! 2^62 or more (`bounds.rs`): it never reaches openraft, which would adopt
//! the term and stop at its next election, and openraft retries only after
//! its backoff (a `Network` error would have replication send again at
//! once, to a member that answers the same at once).

use std::time::Duration;

use bytes::Bytes;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::bounds::reply_beyond;
use super::codec;
use super::identity::Identity;
use super::messages::{RaftCall, RaftReply, RaftRequest, encode_call};
use super::store::StoreCounters;
use super::types::{MemberNode, NodeId, TypeConfig};
use crate::transport::{PeerSpec, RPC_SERVICE_RAFT, RpcError, Transport};

/// How long openraft waits before retrying an unreachable peer. Short,
/// so a restarted node is caught up soon after its connection returns;
/// the transport redials on its own backoff meanwhile.
pub const UNREACHABLE_BACKOFF: Duration = Duration::from_millis(200);

/// Why a call failed before a Raft reply came back.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("calling node {target} from itself")]
    SelfTarget { target: NodeId },
    #[error("node id {0} is not a transport id (0..=65535)")]
    BadId(NodeId),
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("node {target} sent an undecodable reply: {reason}")]
    BadReply { target: NodeId, reason: String },
    #[error("node {target} refused the request: {reason}")]
    Refused { target: NodeId, reason: String },
    #[error(
        "node {target} replied with a term or log index of {number}, past 2^62, which no \
         cluster reaches: the reply is ignored"
    )]
    BeyondBounds { target: NodeId, number: u64 },
    #[error("request could not be encoded: {0}")]
    Encode(String),
}

/// Make a transport peer of a Raft member so that this node can reach
/// it (a node that joined through Raft is in no configuration file).
pub(super) fn ensure_peer(transport: &Transport, id: NodeId, node: &MemberNode) {
    let (Ok(id16), Ok(address)) = (u16::try_from(id), node.address.parse()) else {
        tracing::warn!(node = id, address = %node.address, "raft member has no usable transport address");
        return;
    };
    if id16 == transport.node_id() {
        return;
    }
    let spec = PeerSpec {
        id: id16,
        name: node.name.clone(),
        address,
    };
    if let Err(e) = transport.add_peer(spec) {
        tracing::warn!(node = id, "cannot add raft member to the transport: {e}");
    }
}

// === impl NetworkFactory ===

/// Makes one [`PeerClient`] per target.
#[derive(Debug, Clone)]
pub struct NetworkFactory {
    transport: Transport,
    me: NodeId,
    identity: Arc<Identity>,
    counters: Arc<StoreCounters>,
}

impl NetworkFactory {
    pub(super) fn new(
        transport: Transport,
        me: NodeId,
        identity: Arc<Identity>,
        counters: Arc<StoreCounters>,
    ) -> Self {
        NetworkFactory {
            transport,
            me,
            identity,
            counters,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &MemberNode) -> PeerClient {
        if target != self.me {
            ensure_peer(&self.transport, target, node);
        }
        PeerClient {
            transport: self.transport.clone(),
            me: self.me,
            target,
            identity: self.identity.clone(),
            counters: self.counters.clone(),
        }
    }
}

// === impl PeerClient ===

/// The Raft RPCs to one peer.
#[derive(Debug)]
pub struct PeerClient {
    transport: Transport,
    me: NodeId,
    target: NodeId,
    identity: Arc<Identity>,
    /// Where a reply past the bound is counted (`rpcs_refused`).
    counters: Arc<StoreCounters>,
}

impl PeerClient {
    async fn call(&self, request: RaftRequest, ttl: Duration) -> Result<RaftReply, CallError> {
        // openraft asserts it never talks to itself; a membership entry
        // naming this node's id with another address must not make it.
        if self.target == self.me {
            return Err(CallError::SelfTarget {
                target: self.target,
            });
        }
        let peer = u16::try_from(self.target).map_err(|_| CallError::BadId(self.target))?;
        let call = RaftCall {
            cluster: self.identity.cluster(),
            request,
        };
        let bytes = encode_call(&call).map_err(|e| CallError::Encode(e.to_string()))?;
        let reply = self
            .transport
            .rpc(peer, RPC_SERVICE_RAFT, Bytes::from(bytes), ttl)
            .await?;
        let reply: RaftReply = codec::decode(&reply).map_err(|e| CallError::BadReply {
            target: self.target,
            reason: e.to_string(),
        })?;
        if let RaftReply::Refused(reason) = reply {
            return Err(CallError::Refused {
                target: self.target,
                reason,
            });
        }
        if let Some(number) = reply_beyond(&reply) {
            // Counted with the calls refused: the same fault, a member's.
            self.counters.rpcs_refused.fetch_add(1, Ordering::Relaxed);
            return Err(CallError::BeyondBounds {
                target: self.target,
                number,
            });
        }
        Ok(reply)
    }

    fn rpc_error<E: std::error::Error>(
        &self,
        e: CallError,
        action: RPCTypes,
        ttl: Duration,
    ) -> RPCError<NodeId, MemberNode, E> {
        match e {
            CallError::Rpc(RpcError::Timeout { .. }) => RPCError::Timeout(Timeout {
                action,
                id: self.me,
                target: self.target,
                timeout: ttl,
            }),
            CallError::Rpc(r) if r.is_unreachable() => RPCError::Unreachable(Unreachable::new(&r)),
            CallError::SelfTarget { .. } | CallError::BadId(_) | CallError::BeyondBounds { .. } => {
                RPCError::Unreachable(Unreachable::new(&e))
            }
            other => RPCError::Network(NetworkError::new(&other)),
        }
    }

    fn unexpected<E: std::error::Error>(&self, what: &str) -> RPCError<NodeId, MemberNode, E> {
        let e = CallError::BadReply {
            target: self.target,
            reason: format!("a reply of another kind to {what}"),
        };
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, MemberNode, RaftError<NodeId>>>
    {
        let ttl = option.hard_ttl();
        match self.call(RaftRequest::AppendEntries(rpc), ttl).await {
            Ok(RaftReply::AppendEntries(Ok(r))) => Ok(r),
            Ok(RaftReply::AppendEntries(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected("append-entries")),
            Err(e) => Err(self.rpc_error(e, RPCTypes::AppendEntries, ttl)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, MemberNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let ttl = option.hard_ttl();
        match self.call(RaftRequest::InstallSnapshot(rpc), ttl).await {
            Ok(RaftReply::InstallSnapshot(Ok(r))) => Ok(r),
            Ok(RaftReply::InstallSnapshot(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected("install-snapshot")),
            Err(e) => Err(self.rpc_error(e, RPCTypes::InstallSnapshot, ttl)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, MemberNode, RaftError<NodeId>>> {
        let ttl = option.hard_ttl();
        match self.call(RaftRequest::Vote(rpc), ttl).await {
            Ok(RaftReply::Vote(Ok(r))) => Ok(r),
            Ok(RaftReply::Vote(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected("vote")),
            Err(e) => Err(self.rpc_error(e, RPCTypes::Vote, ttl)),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(UNREACHABLE_BACKOFF))
    }
}
