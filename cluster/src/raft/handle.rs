//! [`PolicyRaft`]: the node's handle on the policy log. It starts Raft on
//! the store and the transport, serves peers' Raft RPCs, routes writes
//! and membership changes to the leader, and publishes each committed
//! and applied policy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use openraft::ServerState;
use openraft::error::{ClientWriteError, RaftError};
use openraft::raft::ClientWriteResponse;
use openraft::{ChangeMembers, RaftMetrics};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::codec;
use super::error::{InitError, MembershipError, NoQuorumCause, StartError, WriteError};
use super::identity::{ClusterId, Identity};
use super::members::{
    Removed, SelfEvent, SelfMembership, check_node, follow_membership, record_differs,
};
use super::messages::{
    ForwardReply, ForwardRequest, RaftCall, RaftReply, RaftRequest, encode_call,
};
use super::network::{NetworkFactory, ensure_peer};
use super::service;
use super::settings::{
    CATCH_UP_REPLY_MARGIN, FORWARD_MARGIN, HELLO_TIMEOUT, LEADER_POLL_INTERVAL, MAX_POLICY_BYTES,
    REMOVAL_EVIDENCE_WAIT, RaftSettings,
};
use super::shuns::ShunRecord;
use super::store::{LogStore, STORE_FILE, StoreCounters, guarded};
use super::types::{
    AppliedPolicy, MemberNode, NodeId, PolicyCmd, Raft, SeqKey, TypeConfig, Version,
};
use crate::transport::rpc::RpcError;
use crate::transport::{RPC_SERVICE_RAFT, Transport};

#[path = "handle_commit.rs"]
mod commit;

/// Checks a config as this node would run it (parse and compile against
/// its interfaces, and its signature where the node checks one). The error
/// text names lines and columns. `Ok(Some(version))` binds the text to a
/// version (the one it is signed for): it is then committed as that
/// version or not at all (`PolicyCmd::SetConfigAt`); `Ok(None)` takes the
/// next.
pub type Validator = Arc<dyn Fn(&str) -> Result<Option<Version>, String> + Send + Sync>;

/// A node's role in the Raft cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It leads.
    Leader,
    /// A voter following a leader.
    Follower,
    /// A voter campaigning.
    Candidate,
    /// It replicates without voting (joining, or not in the voters).
    Learner,
    /// Raft has stopped here.
    Stopped,
}

/// What `show cluster` and the metrics need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStatus {
    /// This node.
    pub node: NodeId,
    /// Its role.
    pub role: Role,
    /// The current term.
    pub term: u64,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// Its last log index.
    pub last_log_index: Option<u64>,
    /// The committed index it knows.
    pub committed_index: Option<u64>,
    /// The last index its state machine applied.
    pub applied_index: Option<u64>,
    /// The last index in its snapshot.
    pub snapshot_index: Option<u64>,
    /// The last index purged from its log.
    pub purged_index: Option<u64>,
    /// Voters (in a joint config: of every config).
    pub voters: Vec<NodeId>,
    /// Learners.
    pub learners: Vec<NodeId>,
    /// Every member's name and address.
    pub members: BTreeMap<NodeId, MemberNode>,
    /// Whether a membership change is half done (joint consensus).
    pub joint: bool,
    /// Nodes the cluster removed (and did not join again): never peers.
    pub removed: Vec<NodeId>,
    /// The applied policy's version (0: none yet).
    pub version: Version,
    /// Store: durable commits (fsyncs).
    pub fsyncs: u64,
    /// Store: entries appended.
    pub entries_appended: u64,
    /// Store: snapshots built here.
    pub snapshots_built: u64,
    /// Store: snapshots installed from a leader.
    pub snapshots_installed: u64,
    /// Raft calls from members refused (undecodable, a wrong sender, a
    /// snapshot chunk past the limit, a term or index past 2^62, entries
    /// out of order, a membership no change makes), and members' replies
    /// refused (a term or index past 2^62).
    pub rpcs_refused: u64,
    /// Committed policies over the size limit, skipped here.
    pub policies_oversized: u64,
    /// Votes asked of this node while its log was not complete, refused
    /// (`identity.rs`). Calls from another cluster count as refused.
    pub votes_withheld: u64,
    /// The cluster this node's store belongs to (`None`: not joined yet).
    pub cluster: Option<ClusterId>,
    /// Whether this node's log may vote: false from a fresh store until it
    /// holds an entry of its leader's term.
    pub log_complete: bool,
    /// Why Raft stopped, if it did.
    pub stopped: Option<String>,
    /// Why this node takes itself for removed from the cluster, if it
    /// does (`members.rs`): it then neither campaigns nor dials members.
    pub removed_self: Option<Removed>,
}

/// What the routing loop needs from the metrics, read without holding
/// the watch across an await.
struct View {
    leader: Option<NodeId>,
    member: bool,
    stopped: Option<String>,
}

/// A membership change, as routed to the leader.
#[derive(Debug, Clone)]
enum MembershipOp {
    AddLearner { id: NodeId, node: MemberNode },
    Promote { id: NodeId },
    Remove { id: NodeId },
}

/// Why forwarding a request to the leader failed.
#[derive(Debug)]
enum ForwardFail {
    /// It never reached the leader (no connection, refused): retrying is safe.
    NotSent(String),
    /// It may have reached the leader, which may have acted on it.
    MaybeSent(String),
}

impl std::fmt::Display for ForwardFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForwardFail::NotSent(e) | ForwardFail::MaybeSent(e) => f.write_str(e),
        }
    }
}

impl MembershipOp {
    fn forward(&self, budget: Duration) -> ForwardRequest {
        let budget_ms = millis(budget);
        match self.clone() {
            MembershipOp::AddLearner { id, node } => ForwardRequest::AddLearner {
                id,
                node,
                budget_ms,
            },
            MembershipOp::Promote { id } => ForwardRequest::Promote { id, budget_ms },
            MembershipOp::Remove { id } => ForwardRequest::Remove { id, budget_ms },
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(super) struct Inner {
    id: NodeId,
    raft: Raft,
    transport: Transport,
    validator: Validator,
    settings: RaftSettings,
    policy: watch::Receiver<AppliedPolicy>,
    /// The shun list, as applied (`shuns.rs`).
    shuns: watch::Receiver<Arc<Vec<ShunRecord>>>,
    /// Nodes the cluster removed, as applied (`state_machine.rs`).
    removed: watch::Receiver<BTreeSet<NodeId>>,
    /// The log index of the applied membership (`state_machine.rs`).
    applied_membership: watch::Receiver<u64>,
    counters: Arc<StoreCounters>,
    /// The cluster id and whether the log may vote (`identity.rs`).
    pub(super) identity: Arc<Identity>,
    /// Membership changes run one at a time on the leader: openraft may
    /// leave a joint config behind when two overlap.
    membership_lock: tokio::sync::Mutex<()>,
    /// Policy checks run one at a time, off the runtime (see
    /// [`PolicyRaft::check_config`]).
    check_lock: tokio::sync::Mutex<()>,
    /// Whether this node was removed from the cluster (`members.rs`).
    self_membership: Mutex<SelfMembership>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The node's handle on the replicated policy. Cheap to clone. Call
/// [`PolicyRaft::shutdown`] to stop it.
#[derive(Clone)]
pub struct PolicyRaft {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PolicyRaft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyRaft")
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

impl PolicyRaft {
    /// Open the store under `dir`, start Raft as node `id` (the
    /// transport's node id) and serve peers' Raft RPCs on `transport`.
    /// A node with a store rejoins its cluster; a pristine one waits to
    /// be initialised ([`PolicyRaft::initialize`]) or added by the leader.
    pub async fn start(
        id: NodeId,
        dir: &Path,
        transport: Transport,
        validator: Validator,
        settings: RaftSettings,
    ) -> Result<PolicyRaft, StartError> {
        if u16::try_from(id).ok() != Some(transport.node_id()) {
            return Err(StartError::IdMismatch {
                raft: id,
                transport: transport.node_id(),
            });
        }
        let config = Arc::new(settings.openraft_config()?);
        let (db, identity, sm) = super::read_at_start(dir).await?;
        let counters = db.counters.clone();
        let identity = Arc::new(identity);
        let policy = sm.subscribe();
        let shuns = sm.subscribe_shuns();
        let removed = sm.subscribe_removed();
        let applied_members = sm.subscribe_members();
        let applied_membership = sm.subscribe_membership_index();
        let log = LogStore::new(db);
        let network =
            NetworkFactory::new(transport.clone(), id, identity.clone(), counters.clone());
        // openraft reads the log and the vote back before its core runs:
        // under the same guard as the reads above.
        let raft = guarded(&dir.join(STORE_FILE), async {
            Ok(Raft::new(id, config, network, log, sm).await)
        })
        .await?
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let node = PolicyRaft {
            inner: Arc::new(Inner {
                id,
                raft: raft.clone(),
                transport: transport.clone(),
                validator,
                settings,
                policy,
                shuns,
                removed: removed.clone(),
                applied_membership,
                counters,
                identity,
                membership_lock: tokio::sync::Mutex::new(()),
                check_lock: tokio::sync::Mutex::new(()),
                self_membership: Mutex::new(SelfMembership::default()),
                tasks: Mutex::new(Vec::new()),
            }),
        };
        // A store that may have forgotten entries it acknowledged neither
        // votes for others (`service.rs`) nor campaigns (`identity.rs`).
        if !node.inner.identity.complete() {
            raft.runtime_config().elect(false);
        }
        let calls = transport.serve_rpcs(RPC_SERVICE_RAFT);
        node.spawn(service::serve(Arc::downgrade(&node.inner), calls));
        node.spawn(follow_membership(
            raft,
            removed,
            applied_members,
            transport,
            Arc::downgrade(&node.inner),
            id,
        ));
        Ok(node)
    }

    fn spawn(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        let h = tokio::spawn(f);
        if let Ok(mut t) = self.inner.tasks.lock() {
            t.push(h);
        }
    }

    pub(super) fn from_weak(w: &Weak<Inner>) -> Option<PolicyRaft> {
        w.upgrade().map(|inner| PolicyRaft { inner })
    }

    /// Count a member's call refused by the RPC service.
    pub(super) fn count_refused(&self) {
        self.inner
            .counters
            .rpcs_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The cluster id and log-complete records.
    pub(super) fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// A leader's entries were accepted: take its cluster's id if this
    /// store has none. A store error is logged; the next append retries.
    pub(super) async fn adopt_cluster(&self, id: ClusterId, pristine: bool) {
        if let Err(e) = self.inner.identity.adopt(id, pristine).await {
            tracing::warn!("cannot record the cluster id {id}: {e}");
        }
    }

    /// The log holds everything its leader committed and an entry of its
    /// leader's term: it may vote and campaign again.
    pub(super) async fn log_completed(&self) {
        match self.inner.identity.mark_complete().await {
            Ok(()) => self.set_elect(),
            Err(e) => tracing::warn!("cannot record that the log is complete: {e}"),
        }
    }

    /// Campaign only with a complete log (`identity.rs`) and as a member
    /// (`members.rs`).
    fn set_elect(&self) {
        let removed = self.removed_self().is_some();
        self.inner
            .raft
            .runtime_config()
            .elect(self.inner.identity.complete() && !removed);
    }

    /// Why this node takes itself for removed, if it does.
    fn removed_self(&self) -> Option<Removed> {
        self.inner
            .self_membership
            .lock()
            .ok()
            .and_then(|s| s.removed())
    }

    /// Learn something of this node's own membership (`members.rs`), and
    /// act on a change: a removed node stops campaigning and its
    /// transport goes dormant; a member again resumes both.
    pub(super) fn on_self_event(&self, e: SelfEvent) {
        let Some(now) = self
            .inner
            .self_membership
            .lock()
            .ok()
            .and_then(|mut s| s.on(e))
        else {
            return;
        };
        match now {
            Some(why) => tracing::error!(
                "{why}: this node no longer campaigns, dials no member and reports not                  ready; its dataplane keeps the policy in force. `rampart cluster join`                  of its id on a member takes it back (docs/ops.md)"
            ),
            None => tracing::warn!(
                "a leader replicates to this node again: it is a member once more, and                  campaigns and dials again"
            ),
        }
        self.set_elect();
        self.inner.transport.set_dormant(now.is_some());
    }

    /// Whether `candidate` says its voters are itself and this node: a
    /// pair, where every committed entry is on both nodes, so a candidate
    /// holds all of them and this node's vote cannot cost one.
    pub(super) async fn candidate_is_my_pair(&self, candidate: u16) -> bool {
        let Ok(hello) = encode_call(&RaftCall {
            cluster: self.inner.identity.cluster(),
            request: RaftRequest::Hello,
        }) else {
            return false;
        };
        let reply = self
            .inner
            .transport
            .rpc(
                candidate,
                RPC_SERVICE_RAFT,
                Bytes::from(hello),
                HELLO_TIMEOUT,
            )
            .await;
        let pair = BTreeSet::from([self.inner.id, NodeId::from(candidate)]);
        match reply.map(|r| codec::decode::<RaftReply>(&r)) {
            Ok(Ok(RaftReply::Hello { voters, .. })) => {
                voters.into_iter().collect::<BTreeSet<_>>() == pair
            }
            _ => false,
        }
    }

    /// A vote asked while the log is not complete was refused.
    pub(super) fn count_vote_withheld(&self, candidate: u16) {
        let n = self
            .inner
            .counters
            .votes_withheld
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n == 0 {
            tracing::warn!(
                candidate,
                "this node's store started empty: it withholds its vote until it holds the \
                 log of a leader (a lost data directory must not elect a leader that misses \
                 committed policy)"
            );
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// The openraft handle (for tests and metrics; the node needs none of
    /// it).
    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// The committed and applied policy, now and as it changes. A node
    /// compiles each new value and swaps it into its dataplane.
    pub fn subscribe(&self) -> watch::Receiver<AppliedPolicy> {
        self.inner.policy.clone()
    }

    /// The applied policy now.
    pub fn applied(&self) -> AppliedPolicy {
        self.inner.policy.borrow().clone()
    }

    /// A new subscription to the applied shun list.
    pub fn subscribe_shuns(&self) -> watch::Receiver<Arc<Vec<ShunRecord>>> {
        self.inner.shuns.clone()
    }

    /// The applied shun list now, in the order the shuns were added.
    pub fn shuns(&self) -> Arc<Vec<ShunRecord>> {
        self.inner.shuns.borrow().clone()
    }

    /// Stop serving peers and stop Raft. The store is closed once
    /// openraft has dropped it.
    pub async fn shutdown(&self) {
        self.inner.transport.stop_serving_rpcs(RPC_SERVICE_RAFT);
        let tasks = self
            .inner
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in tasks {
            t.abort();
        }
        let _ = self.inner.raft.shutdown().await;
    }

    /// Whether this node's log holds a membership (read without building
    /// the whole status: every Raft call asks).
    pub(super) fn has_membership(&self) -> bool {
        let m = self.inner.raft.metrics();
        let m = m.borrow();
        m.membership_config.membership().nodes().next().is_some()
    }

    fn view(&self) -> View {
        let rx = self.inner.raft.metrics();
        let stopped = core_ended(&rx);
        let m = rx.borrow();
        View {
            leader: m.current_leader,
            member: m
                .membership_config
                .membership()
                .nodes()
                .any(|(id, _)| *id == self.inner.id),
            stopped,
        }
    }

    /// Size and validator checks, before anything is proposed.
    ///
    /// The validator parses and compiles the policy: a second or two for
    /// one near the compiler's bounds (about 2 million match entries from
    /// a 94 KB text). Run inline, that stalled the runtime it was called
    /// on, which carries the node's sync links and Raft's heartbeats on
    /// one thread, so packets held for a peer's state expired while an
    /// operator's `configure` was checked. It runs on a blocking thread
    /// instead, one check at a time, so writes forwarded by members cannot
    /// run many compiles at once.
    async fn check_config(&self, text: &str) -> Result<Option<Version>, WriteError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(WriteError::TooLarge {
                len: text.len(),
                limit: MAX_POLICY_BYTES,
            });
        }
        // Its own task holds the lock until the validator ends, also when
        // a leader stops waiting for it (the write's budget ran out).
        let (inner, text) = (self.inner.clone(), text.to_owned());
        tokio::spawn(async move {
            let _one_at_a_time = inner.check_lock.lock().await;
            let validator = inner.validator.clone();
            tokio::task::spawn_blocking(move || validator(&text)).await
        })
        .await
        .unwrap_or_else(|e| Ok(Err(format!("the policy check failed: {e}"))))
        .unwrap_or_else(|e| Err(format!("the policy check failed: {e}")))
        .map_err(|message| WriteError::Invalid { message })
    }

    // === bootstrap ===

    /// Make this pristine node a one-voter cluster and commit its
    /// bootstrap policy (version 1). Further nodes join through
    /// [`PolicyRaft::join`]. An invalid policy is refused before
    /// anything is initialised.
    pub async fn initialize(&self, me: MemberNode, policy: &str) -> Result<Version, InitError> {
        self.check_config(policy).await?;
        let raft = &self.inner.raft;
        if raft
            .is_initialized()
            .await
            .map_err(|e| InitError::Raft(e.to_string()))?
        {
            return Err(InitError::AlreadyInitialized);
        }
        self.look_before_founding().await?;
        // The founder records the cluster's id first: a crash between the
        // two leaves a store that is still not initialised, and the next
        // attempt founds with the same id.
        let cluster = self.inner.identity.found().await.map_err(InitError::Raft)?;
        tracing::info!(cluster = %cluster, "founding cluster {cluster}");
        raft.runtime_config().elect(true);
        let members = BTreeMap::from([(self.inner.id, me)]);
        raft.initialize(members)
            .await
            .map_err(|e| InitError::Raft(e.to_string()))?;
        // A one-voter cluster elects itself at once; wait for it (the
        // metrics lag the call) so the write finds a leader and a member.
        let me = self.inner.id;
        raft.wait(Some(self.inner.settings.write_timeout))
            .metrics(|m| m.current_leader == Some(me), "leader after initialize")
            .await
            .map_err(|e| InitError::Raft(e.to_string()))?;
        Ok(self.write(policy).await?)
    }

    /// Finish a bootstrap that a first start began and did not complete:
    /// `initialize` made the store a one-voter cluster (durably) but the
    /// bootstrap policy was never committed, since the node died, or the
    /// write failed, between the two. Every later start would find a
    /// membership, take the store as founded and leave the cluster without
    /// a policy for good. When this node is the cluster's only voter and
    /// no policy was ever committed (applied version 0, once everything
    /// committed is applied), commit `policy` (version 1) and return its
    /// version; otherwise `None`: nothing to finish. For a node configured
    /// to bootstrap only.
    pub async fn complete_bootstrap(&self, policy: &str) -> Result<Option<Version>, InitError> {
        let me = self.inner.id;
        let alone = || {
            let m = self.inner.raft.metrics();
            let m = m.borrow();
            m.membership_config.membership().voter_ids().eq([me])
        };
        if !alone() || self.applied().version > 0 {
            return Ok(None);
        }
        self.check_config(policy).await?;
        // Version 0 may only mean that the committed entries are not
        // applied yet: lead (a one-voter cluster elects itself) and apply
        // everything committed before deciding.
        let raft = &self.inner.raft;
        let budget = self.inner.settings.write_timeout;
        let raft_err = |e: String| InitError::Raft(format!("finishing the bootstrap: {e}"));
        raft.wait(Some(budget))
            .metrics(
                |m| m.current_leader == Some(me),
                "leader of a one-voter cluster",
            )
            .await
            .map_err(|e| raft_err(e.to_string()))?;
        match tokio::time::timeout(budget, raft.ensure_linearizable()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(raft_err(e.to_string())),
            Err(_) => return Err(raft_err(format!("nothing applied within {budget:?}"))),
        }
        if !alone() || self.applied().version > 0 {
            return Ok(None);
        }
        // Proposed so that it applies only while no policy is committed:
        // a write forwarded by a learner since the check above wins, and
        // this one then changes nothing.
        let cmd = PolicyCmd::SetFirstConfig {
            text: policy.to_string(),
        };
        match self.propose(cmd, budget).await {
            ForwardReply::Committed { .. } => {
                let now = self.applied();
                Ok((now.version == 1 && now.text.as_str() == policy).then_some(1))
            }
            ForwardReply::Invalid { message } => Err(WriteError::Invalid { message }.into()),
            other => Err(raft_err(format!("{other:?}"))),
        }
    }

    /// Ask each configured peer, within [`RaftSettings::found_grace`],
    /// whether it already belongs to a cluster; stop early once every peer
    /// answered that it does not. A peer that belongs to one (with an id,
    /// or members of a cluster founded before ids), or a leader that
    /// reaches this node meanwhile, refuses the founding.
    async fn look_before_founding(&self) -> Result<(), InitError> {
        let transport = &self.inner.transport;
        let me = self.inner.id;
        let deadline = Instant::now() + self.inner.settings.found_grace;
        // An id left by a founding that failed half-way is this node's own.
        let before = self.inner.identity.cluster();
        let mut unanswered: BTreeSet<u16> = transport
            .peer_states()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let hello = encode_call(&RaftCall {
            cluster: None,
            request: RaftRequest::Hello,
        })
        .map_err(|e| InitError::Raft(e.to_string()))?;
        loop {
            let cluster = self.inner.identity.cluster();
            if cluster != before || self.has_membership() {
                return Err(InitError::ClusterExists {
                    peer: self.raft_leader().unwrap_or(me),
                    cluster,
                    member: true,
                });
            }
            if unanswered.is_empty() || Instant::now() >= deadline {
                break;
            }
            for peer in unanswered.clone() {
                // One peer that never answers must not take the others' time.
                let left = deadline.saturating_duration_since(Instant::now());
                let wait = left.min(HELLO_TIMEOUT);
                let Ok(reply) = transport
                    .rpc(peer, RPC_SERVICE_RAFT, Bytes::from(hello.clone()), wait)
                    .await
                else {
                    continue;
                };
                match codec::decode::<RaftReply>(&reply) {
                    Ok(RaftReply::Hello {
                        cluster, members, ..
                    }) if cluster.is_some() || !members.is_empty() => {
                        return Err(InitError::ClusterExists {
                            peer: NodeId::from(peer),
                            cluster,
                            member: members.contains(&me),
                        });
                    }
                    Ok(RaftReply::Hello { .. }) => {
                        unanswered.remove(&peer);
                    }
                    // An older node, or a refusal: it cannot say.
                    _ => {}
                }
            }
            tokio::time::sleep(LEADER_POLL_INTERVAL).await;
        }
        if !unanswered.is_empty() {
            tracing::info!(
                ?unanswered,
                "founding the cluster; these configured peers did not answer within {:?} \
                 and are taken to be new",
                self.inner.settings.found_grace
            );
        }
        Ok(())
    }

    fn raft_leader(&self) -> Option<NodeId> {
        self.inner.raft.metrics().borrow().current_leader
    }

    // === writes ===

    /// Replace the running config with `text` cluster-wide. It is checked
    /// here first, then proposed by the leader (this node, or the leader
    /// it forwards to, which checks it again). Returns the committed
    /// version once the leader has applied it; every node applies it soon
    /// after.
    ///
    /// A text the validator binds to a version (signed for it) commits as
    /// that version or not at all: another version committed meanwhile is
    /// [`WriteError::Conflict`], and nothing changes.
    pub async fn write(&self, text: &str) -> Result<Version, WriteError> {
        let at = self.check_config(text).await?;
        let budget = self.inner.settings.write_timeout;
        let started = Instant::now();
        let before = self.applied().version;
        let cmd = set_config(text.to_string(), at);
        let forward = |budget_ms| ForwardRequest::Write {
            text: text.to_string(),
            budget_ms,
        };
        match self.deliver(cmd, &forward, started, budget).await {
            Ok((leader, reply)) => commit::outcome(leader, reply, started),
            Err(commit::Undelivered::Failed(e)) => Err(e),
            // The leader may have proposed it before it was lost:
            // proposing again could commit it twice (the chaos suite's
            // raft-leader scenario saw versions 3 and 4 from one write).
            // See whether it commits.
            Err(commit::Undelivered::MaybeSent) => {
                self.await_outcome(text, before, started, budget).await
            }
        }
    }

    /// On the leader: confirm leadership with a majority, then propose
    /// and wait for the commit and the local apply, all within `budget`.
    /// A write bound to a version that is not the next one is refused
    /// before it is proposed; one that loses a race with another write
    /// in the log changes nothing (the state machine's check) and is
    /// answered the same.
    async fn propose(&self, cmd: PolicyCmd, budget: Duration) -> ForwardReply {
        let started = Instant::now();
        let raft = &self.inner.raft;
        // A leader cut off from the majority still believes it leads; an
        // entry it appended then would commit later, after the writer was
        // told it failed. Ask the majority first.
        let check = budget.min(self.inner.settings.quorum_check_timeout);
        match tokio::time::timeout(check, raft.ensure_linearizable()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                if let Some(f) = e.forward_to_leader() {
                    return ForwardReply::NotLeader {
                        leader: f.leader_id,
                    };
                }
                if let Some(reason) = self.view().stopped {
                    return ForwardReply::Failed { message: reason };
                }
                // openraft drops the request when the heartbeats fail.
                return ForwardReply::NoQuorum {
                    waited_ms: millis(started.elapsed()),
                    pending: false,
                };
            }
            Err(_) => {
                return ForwardReply::NoQuorum {
                    waited_ms: millis(started.elapsed()),
                    pending: false,
                };
            }
        }
        // Applied here is everything committed before the check above
        // (ensure_linearizable waits for it): the version this write gets.
        let wanted = match &cmd {
            PolicyCmd::SetConfigAt { version, .. } => Some(*version),
            _ => None,
        };
        let shun = match &cmd {
            PolicyCmd::Shun(op) => Some(op.clone()),
            _ => None,
        };
        if let Some(wanted) = wanted {
            let committed = self.applied().version;
            if committed.checked_add(1) != Some(wanted) {
                return ForwardReply::Conflict { committed, wanted };
            }
        }
        // The cluster's first policy write also commits its
        // sequence-randomization key (types::SeqKey), before the policy.
        if self.applied().seq_key.is_none() {
            let key = match SeqKey::generate() {
                Ok(k) => k,
                Err(message) => return ForwardReply::Failed { message },
            };
            let remaining = budget.saturating_sub(started.elapsed());
            let cmd = PolicyCmd::SetSeqKey { key };
            match tokio::time::timeout(remaining, raft.client_write(cmd)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return write_error_reply(&e),
                // Nothing of the policy was proposed; the key may still
                // commit, which is harmless (the first key stays).
                Err(_) => {
                    return ForwardReply::NoQuorum {
                        waited_ms: millis(started.elapsed()),
                        pending: false,
                    };
                }
            }
        }
        let remaining = budget.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, raft.client_write(cmd)).await {
            Ok(Ok(resp)) if resp.data.conflict && shun.is_some() => {
                commit::shun_conflict(&self.shuns(), shun.as_ref())
            }
            Ok(Ok(resp)) => match wanted.filter(|_| resp.data.conflict) {
                // Another write took the version between the check above
                // and this entry's place in the log.
                Some(wanted) => ForwardReply::Conflict {
                    committed: resp.data.version,
                    wanted,
                },
                None => ForwardReply::Committed {
                    version: resp.data.version,
                },
            },
            Ok(Err(e)) => proposed_write_reply(&e),
            Err(_) => ForwardReply::NoQuorum {
                waited_ms: millis(started.elapsed()),
                pending: true,
            },
        }
    }

    /// Send a request to the leader and wait for its answer.
    async fn forward(
        &self,
        leader: NodeId,
        req: ForwardRequest,
        timeout: Duration,
    ) -> Result<ForwardReply, ForwardFail> {
        let peer = u16::try_from(leader).map_err(|_| {
            ForwardFail::NotSent(format!("leader id {leader} is not a transport id"))
        })?;
        let call = RaftCall {
            cluster: self.inner.identity.cluster(),
            request: RaftRequest::Forward(req),
        };
        let bytes = encode_call(&call).map_err(|e| ForwardFail::NotSent(e.to_string()))?;
        let reply = self
            .inner
            .transport
            .rpc(peer, RPC_SERVICE_RAFT, Bytes::from(bytes), timeout)
            .await
            .map_err(|e| match e {
                RpcError::NotConnected(_) | RpcError::NoService { .. } => {
                    ForwardFail::NotSent(e.to_string())
                }
                other => ForwardFail::MaybeSent(other.to_string()),
            })?;
        match codec::decode::<RaftReply>(&reply)
            .map_err(|e| ForwardFail::MaybeSent(e.to_string()))?
        {
            RaftReply::Forward(r) => Ok(r),
            // Refused before anything was proposed.
            RaftReply::Refused(why) => Err(ForwardFail::NotSent(format!(
                "leader {leader} refused: {why}"
            ))),
            _ => Err(ForwardFail::MaybeSent(format!(
                "leader {leader} answered with another kind of reply"
            ))),
        }
    }

    /// A write whose leader was lost after it may have proposed it: wait,
    /// within the write's budget, for this node to apply a policy newer
    /// than `before` — a new leader commits every entry it inherited (Raft
    /// §5.4.2) — and say whether it is this write.
    async fn await_outcome(
        &self,
        text: &str,
        before: Version,
        started: Instant,
        budget: Duration,
    ) -> Result<Version, WriteError> {
        let mut policy = self.subscribe();
        let deadline = started + budget;
        loop {
            let now = policy.borrow_and_update().clone();
            if now.version > before {
                if now.text.as_str() == text {
                    return Ok(now.version);
                }
                return Err(WriteError::LeaderFailed {
                    leader: self.view().leader.unwrap_or(0),
                    message: format!(
                        "the leader was lost during the write and version {} (another write) was committed instead; not retried",
                        now.version
                    ),
                });
            }
            if tokio::time::timeout_at(deadline, policy.changed())
                .await
                .is_err()
            {
                return Err(WriteError::NoQuorum {
                    waited_ms: millis(started.elapsed()),
                    leader: self.view().leader,
                    cause: NoQuorumCause::NotCommitted,
                });
            }
        }
    }

    /// On the leader: serve a request a follower forwarded.
    pub(super) async fn serve_forward(&self, req: ForwardRequest) -> ForwardReply {
        let s = &self.inner.settings;
        match req {
            ForwardRequest::Write { text, budget_ms } => {
                // The leader proposes, so the leader checks too: a config
                // that this node cannot compile is never committed, and one
                // bound to a version (signed for it) is bound here as well,
                // whatever the writer's release proposed. The check counts
                // against the write's budget: a leader that answered after
                // it would be taken for lost while it went on to commit.
                let started = Instant::now();
                let budget = Duration::from_millis(budget_ms).min(s.write_timeout);
                let over = || ForwardReply::Refused {
                    message: format!(
                        "its policy check took longer than the write's budget of {} ms; \
                         nothing was proposed and the running policy is unchanged",
                        budget.as_millis()
                    ),
                };
                let at = match tokio::time::timeout(budget, self.check_config(&text)).await {
                    Err(_) => return over(),
                    Ok(Ok(at)) => at,
                    Ok(Err(e)) => {
                        return ForwardReply::Invalid {
                            message: match e {
                                WriteError::Invalid { message } => message,
                                other => other.to_string(),
                            },
                        };
                    }
                };
                let remaining = budget.saturating_sub(started.elapsed());
                if remaining.is_zero() {
                    return over();
                }
                self.propose(set_config(text, at), remaining).await
            }
            ForwardRequest::AddLearner {
                id,
                node,
                budget_ms,
            } => {
                let budget = Duration::from_millis(budget_ms).min(s.membership_timeout);
                self.lead_membership(MembershipOp::AddLearner { id, node }, budget)
                    .await
            }
            ForwardRequest::Promote { id, budget_ms } => {
                let budget = Duration::from_millis(budget_ms).min(s.membership_timeout);
                self.lead_membership(MembershipOp::Promote { id }, budget)
                    .await
            }
            ForwardRequest::Remove { id, budget_ms } => {
                let budget = Duration::from_millis(budget_ms).min(s.membership_timeout);
                self.lead_membership(MembershipOp::Remove { id }, budget)
                    .await
            }
            ForwardRequest::Shun { op, budget_ms } => {
                let budget = Duration::from_millis(budget_ms).min(s.write_timeout);
                self.serve_shun(op, budget).await
            }
        }
    }

    // === membership ===

    /// Add node `id` as a learner (it catches up in the background).
    /// Returns the membership entry's log index.
    pub async fn add_learner(&self, id: NodeId, node: MemberNode) -> Result<u64, MembershipError> {
        check_node(id, &node)?;
        let deadline = Instant::now() + self.inner.settings.membership_timeout;
        self.membership(MembershipOp::AddLearner { id, node }, deadline)
            .await
    }

    /// Make learner `id` a voter once it has caught up with the log
    /// (joint consensus, two commits).
    pub async fn promote(&self, id: NodeId) -> Result<u64, MembershipError> {
        let deadline = Instant::now() + self.inner.settings.membership_timeout;
        self.membership(MembershipOp::Promote { id }, deadline)
            .await
    }

    /// `rampart cluster join`: add `id` as a learner, then as a voter,
    /// both within one membership timeout: a caller that waits that long
    /// (the admin API waits a little more) hears how the join ended, the
    /// learner's catch-up refusal included, and no step runs on after it
    /// was told the join failed.
    pub async fn join(&self, id: NodeId, node: MemberNode) -> Result<u64, MembershipError> {
        check_node(id, &node)?;
        let deadline = Instant::now() + self.inner.settings.membership_timeout;
        self.membership(MembershipOp::AddLearner { id, node }, deadline)
            .await?;
        self.membership(MembershipOp::Promote { id }, deadline)
            .await
    }

    /// Why removing voter `id` now would leave the cluster stuck, if it
    /// would: the change commits in a joint configuration that needs a
    /// majority of the remaining voters too, so with too many of them down
    /// it could never commit, and nothing after it either (openraft refuses
    /// a second change while one is in progress). Voters count as up when
    /// this node (the leader) has a verified connection to them.
    fn remove_leaves_no_quorum(&self, id: NodeId) -> Option<String> {
        let voters: Vec<NodeId> = {
            let m = self.inner.raft.metrics();
            let m = m.borrow();
            m.membership_config.membership().voter_ids().collect()
        };
        let me = u64::from(self.inner.transport.node_id());
        let links = self.inner.transport.peer_states();
        let up = |v: NodeId| {
            v == me
                || links
                    .iter()
                    .any(|(p, s)| u64::from(*p) == v && *s == crate::transport::LinkState::Up)
        };
        let rest: Vec<NodeId> = voters.iter().copied().filter(|&v| v != id).collect();
        let rest_up = rest.iter().filter(|&&v| up(v)).count();
        if rest.is_empty() || rest_up * 2 > rest.len() {
            return None;
        }
        let down: Vec<String> = rest
            .iter()
            .filter(|&&v| !up(v))
            .map(|v| v.to_string())
            .collect();
        Some(format!(
            "removing node {id} now would leave {} voter(s), {rest_up} of them up: the change \
             could not commit and would block every change after it; bring node(s) {} back \
             first",
            rest.len(),
            down.join(", ")
        ))
    }

    /// `rampart cluster remove`: remove `id` (voter or learner) from the
    /// cluster. The members stop replicating to it and their transports
    /// drop it.
    pub async fn remove(&self, id: NodeId) -> Result<u64, MembershipError> {
        let deadline = Instant::now() + self.inner.settings.membership_timeout;
        self.membership(MembershipOp::Remove { id }, deadline).await
    }

    /// The index of the membership this node holds: openraft's (which
    /// may be appended, not yet applied), or the applied one the store
    /// held at start, which openraft's metrics may not say yet (a
    /// removal applied before a restart is then no evidence for a call
    /// made right after it, as the metrics catch up).
    fn membership_index(&self) -> u64 {
        let m = self.inner.raft.metrics();
        let effective = m.borrow().membership_config.log_id().map_or(0, |l| l.index);
        effective.max(*self.inner.applied_membership.borrow())
    }

    /// Evidence that the removal of `id` committed: this node applied it,
    /// or (`id` is this node) knows itself removed, and holds a membership
    /// newer than `since` (the one it held when the call began: a removal
    /// applied earlier, of a node joined again since whose join has not
    /// reached this node, is no evidence, a review found). The index is
    /// that of the membership this node holds.
    fn removal_committed(&self, id: NodeId, since: u64) -> Option<u64> {
        let done = self.inner.removed.borrow().contains(&id)
            || (id == self.inner.id && self.removed_self().is_some());
        let index = self.membership_index();
        (done && index > since).then_some(index)
    }

    /// Route a membership change to the leader, retrying while there is
    /// none, until `deadline`.
    async fn membership(
        &self,
        op: MembershipOp,
        deadline: Instant,
    ) -> Result<u64, MembershipError> {
        let started = Instant::now();
        let since = self.membership_index();
        let removing = match op {
            MembershipOp::Remove { id } => Some(id),
            _ => None,
        };
        // Whether a leader may have the change: a forward whose answer was
        // lost (sent, perhaps proposed). Then a timeout says it may still
        // take effect; otherwise nothing was proposed.
        let mut maybe_proposed = false;
        loop {
            // A removal whose answer was lost (the leader removing
            // itself steps down as it commits; a node removing itself
            // loses its link to the leader) is reported as it ended.
            if let Some(index) = removing.and_then(|id| self.removal_committed(id, since)) {
                return Ok(index);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(MembershipError::NoQuorum {
                    waited_ms: millis(started.elapsed()),
                    pending: maybe_proposed,
                });
            }
            let remaining = deadline - now;
            let view = self.view();
            if let Some(reason) = view.stopped {
                return Err(MembershipError::Stopped { reason });
            }
            if !view.member {
                return Err(MembershipError::NotMember {
                    node: self.inner.id,
                });
            }
            let Some(leader) = view.leader else {
                tokio::time::sleep(LEADER_POLL_INTERVAL.min(remaining)).await;
                continue;
            };
            let reply = if leader == self.inner.id {
                self.lead_membership(op.clone(), remaining).await
            } else {
                let req = op.forward(remaining.saturating_sub(FORWARD_MARGIN));
                match self.forward(leader, req, remaining).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(leader, "forwarding a membership change: {e}");
                        maybe_proposed |= matches!(e, ForwardFail::MaybeSent(_));
                        // The leader may have committed a removal and the
                        // link gone with the answer: the removed node is
                        // told within the close grace, the others apply
                        // it. Wait for that before asking again (asked
                        // again, the leader would say "not a member").
                        if let (Some(id), ForwardFail::MaybeSent(_)) = (removing, &e) {
                            let until = deadline.min(Instant::now() + REMOVAL_EVIDENCE_WAIT);
                            while Instant::now() < until
                                && self.removal_committed(id, since).is_none()
                            {
                                tokio::time::sleep(LEADER_POLL_INTERVAL).await;
                            }
                            continue;
                        }
                        tokio::time::sleep(LEADER_POLL_INTERVAL.min(remaining)).await;
                        continue;
                    }
                }
            };
            match reply {
                ForwardReply::MembershipChanged { log_index } => return Ok(log_index),
                ForwardReply::NotLeader { .. } => {
                    tokio::time::sleep(LEADER_POLL_INTERVAL.min(remaining)).await;
                }
                other => return Err(membership_error(other)),
            }
        }
    }

    /// On the leader: run one membership change at a time.
    async fn lead_membership(&self, op: MembershipOp, budget: Duration) -> ForwardReply {
        let started = Instant::now();
        let Ok(_one_at_a_time) =
            tokio::time::timeout(budget, self.inner.membership_lock.lock()).await
        else {
            return ForwardReply::NoQuorum {
                waited_ms: millis(started.elapsed()),
                pending: false,
            };
        };
        let remaining = budget.saturating_sub(started.elapsed());
        let raft = &self.inner.raft;
        let work = async {
            match op {
                MembershipOp::AddLearner { id, node } => {
                    if let Err(e) = check_node(id, &node) {
                        return Err(ForwardReply::Refused {
                            message: e.to_string(),
                        });
                    }
                    // A member keeps the address it was added with (openraft
                    // never replaces a node's record): a join that names
                    // another one would wait on the old address and time out
                    // with no word of why.
                    let known = {
                        let m = raft.metrics();
                        let m = m.borrow();
                        m.membership_config.membership().get_node(&id).cloned()
                    };
                    if let Some(message) = known.and_then(|old| record_differs(id, &old, &node)) {
                        return Err(ForwardReply::Refused { message });
                    }
                    ensure_peer(&self.inner.transport, id, &node);
                    // Not blocking: openraft's wait for the learner could
                    // take the whole budget, and the catch-up is the
                    // promotion's to wait for (with its own refusal).
                    raft.add_learner(id, node, false)
                        .await
                        .map_err(|e| proposed_write_reply(&e))
                }
                MembershipOp::Promote { id } => {
                    // openraft's wait in `add_learner` counts a learner it
                    // never reached as caught up while the log is short, and
                    // a voter that never answers can leave the cluster
                    // without a quorum for good (a pair's joint
                    // configuration needs both). Promote only a learner that
                    // holds every entry applied here, waiting for it within
                    // the budget.
                    // It ends before the change's own timeout, so that a
                    // learner that never caught up is said to be that,
                    // not "no quorum".
                    let deadline = Instant::now() + remaining.saturating_sub(CATCH_UP_REPLY_MARGIN);
                    while !learner_caught_up(raft, id) {
                        if Instant::now() >= deadline {
                            // The transport's word on a certificate that
                            // does not carry the node's name, if it said so.
                            let said = self
                                .inner
                                .transport
                                .last_refusal()
                                .filter(|r| r.starts_with(&format!("node {id}'s certificate")))
                                .map_or_else(String::new, |r| format!(" ({r})"));
                            return Err(ForwardReply::Refused {
                                message: format!(
                                    "node {id} has not caught up with the log (is it running, \
                                     and are its address and name right?){said}: not made a \
                                     voter, so the cluster keeps its quorum; it stays a learner \
                                     until removed or joined again"
                                ),
                            });
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                        .await
                        .map_err(|e| proposed_write_reply(&e))
                }
                MembershipOp::Remove { id } => {
                    let (voter, learner) = {
                        let m = raft.metrics();
                        let m = m.borrow();
                        let mem = m.membership_config.membership();
                        (
                            mem.voter_ids().any(|v| v == id),
                            mem.learner_ids().any(|l| l == id),
                        )
                    };
                    if voter && let Some(message) = self.remove_leaves_no_quorum(id) {
                        return Err(ForwardReply::Refused { message });
                    }
                    let change = if voter {
                        ChangeMembers::RemoveVoters(BTreeSet::from([id]))
                    } else if learner {
                        ChangeMembers::RemoveNodes(BTreeSet::from([id]))
                    } else {
                        return Err(ForwardReply::Refused {
                            message: format!("node {id} is not a member"),
                        });
                    };
                    // retain = false: a removed voter leaves the cluster,
                    // it does not stay on as a learner.
                    raft.change_membership(change, false)
                        .await
                        .map_err(|e| proposed_write_reply(&e))
                }
            }
        };
        let res: Result<ClientWriteResponse<TypeConfig>, ForwardReply> =
            match tokio::time::timeout(remaining, work).await {
                Ok(r) => r,
                Err(_) => {
                    return ForwardReply::NoQuorum {
                        waited_ms: millis(started.elapsed()),
                        pending: true,
                    };
                }
            };
        match res {
            Ok(r) => ForwardReply::MembershipChanged {
                log_index: r.log_id.index,
            },
            Err(reply) => reply,
        }
    }

    // === status ===

    /// Term, leader, indexes, membership and version, for metrics and
    /// `show cluster`.
    pub fn status(&self) -> PolicyStatus {
        let metrics = self.inner.raft.metrics();
        let stopped = core_ended(&metrics);
        let m = metrics.borrow().clone();
        let mem = m.membership_config.membership();
        let c = &self.inner.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let role = match m.state {
            _ if stopped.is_some() => Role::Stopped,
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Stopped,
        };
        PolicyStatus {
            node: self.inner.id,
            role,
            term: m.current_term,
            // A core that ended follows no leader: its last reading would
            // still name one.
            leader: m.current_leader.filter(|_| stopped.is_none()),
            last_log_index: m.last_log_index,
            committed_index: c.committed_index(),
            applied_index: m.last_applied.as_ref().map(|l| l.index),
            snapshot_index: m.snapshot.as_ref().map(|l| l.index),
            purged_index: m.purged.as_ref().map(|l| l.index),
            voters: mem.voter_ids().collect(),
            learners: mem.learner_ids().collect(),
            members: mem.nodes().map(|(i, n)| (*i, n.clone())).collect(),
            joint: mem.get_joint_config().len() > 1,
            removed: self.inner.removed.borrow().iter().copied().collect(),
            version: self.inner.policy.borrow().version,
            fsyncs: get(&c.fsyncs),
            entries_appended: get(&c.entries_appended),
            snapshots_built: get(&c.snapshots_built),
            snapshots_installed: get(&c.snapshots_installed),
            rpcs_refused: get(&c.rpcs_refused),
            policies_oversized: get(&c.policies_oversized),
            votes_withheld: get(&c.votes_withheld),
            cluster: self.inner.identity.cluster(),
            log_complete: self.inner.identity.complete(),
            stopped,
            removed_self: self.removed_self(),
        }
    }
}

/// Why Raft's core has ended, if it has: the error it ended on (a fatal
/// storage error, or a shutdown), or, when it reported none, that its task
/// is gone. A core that panics reports nothing: its metrics sender is
/// dropped with the last readings as they were (a follower of a leader,
/// running), so a closed channel is the only sign.
pub(super) fn core_ended(rx: &watch::Receiver<RaftMetrics<NodeId, MemberNode>>) -> Option<String> {
    if let Err(e) = &rx.borrow().running_state {
        return Some(e.to_string());
    }
    rx.has_changed()
        .is_err()
        .then(|| "its task ended without reporting why (a panic; see the node's log)".to_string())
}

/// The command that writes `text`: bound to version `at` when the
/// validator bound it (`PolicyCmd::SetConfigAt`), else the next version.
fn set_config(text: String, at: Option<Version>) -> PolicyCmd {
    match at {
        Some(version) => PolicyCmd::SetConfigAt { version, text },
        None => PolicyCmd::SetConfig { text },
    }
}

/// openraft's refusal of a write or membership change, as a reply.
fn write_error_reply(e: &RaftError<NodeId, ClientWriteError<NodeId, MemberNode>>) -> ForwardReply {
    if let Some(f) = e.forward_to_leader() {
        return ForwardReply::NotLeader {
            leader: f.leader_id,
        };
    }
    match e {
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => ForwardReply::Refused {
            message: c.to_string(),
        },
        RaftError::APIError(other) => ForwardReply::Refused {
            message: other.to_string(),
        },
        RaftError::Fatal(f) => ForwardReply::Failed {
            message: f.to_string(),
        },
    }
}

/// The error a leader's answer ends a membership change with (any answer
/// but a change made or "not the leader").
fn membership_error(reply: ForwardReply) -> MembershipError {
    match reply {
        ForwardReply::NoQuorum { waited_ms, pending } => {
            MembershipError::NoQuorum { waited_ms, pending }
        }
        ForwardReply::Refused { message } | ForwardReply::Invalid { message } => {
            MembershipError::Refused { message }
        }
        ForwardReply::Failed { message } => MembershipError::Stopped { reason: message },
        // Pending, as a policy write in the same case.
        ForwardReply::StoppedAfterProposing { message } => {
            MembershipError::LeaderStopped { message }
        }
        ForwardReply::Committed { .. }
        | ForwardReply::Conflict { .. }
        | ForwardReply::MembershipChanged { .. }
        | ForwardReply::NotLeader { .. } => MembershipError::Refused {
            message: "the leader answered a membership change as a write".into(),
        },
    }
}

/// openraft's error on a policy write or membership change it was given: a
/// fatal one may come after the entry was appended and committed (a state
/// machine that fails to apply it stops Raft), so it is never "not applied".
fn proposed_write_reply(
    e: &RaftError<NodeId, ClientWriteError<NodeId, MemberNode>>,
) -> ForwardReply {
    match write_error_reply(e) {
        ForwardReply::Failed { message } => ForwardReply::StoppedAfterProposing { message },
        other => other,
    }
}

#[cfg(test)]
#[path = "handle_tests.rs"]
mod tests;

/// Whether learner `id` holds every entry the leader has applied (its
/// replication's matched log id is at or past the leader's last applied).
fn learner_caught_up(raft: &openraft::Raft<TypeConfig>, id: NodeId) -> bool {
    let m = raft.metrics();
    let m = m.borrow();
    let matched = m
        .replication
        .as_ref()
        .and_then(|r| r.get(&id).copied().flatten())
        .map(|l| l.index);
    match (matched, m.last_applied.map(|l| l.index)) {
        (Some(matched), Some(applied)) => matched >= applied,
        (Some(_), None) => true,
        (None, _) => false,
    }
}
