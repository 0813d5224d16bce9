//! The node's replicated policy: `rampart-cluster`'s [`PolicyRaft`] on the
//! cluster runtime and QUIC endpoint, tied to the ops side.
//!
//! - A write (`rampart configure`) is compiled here first (so it is refused
//!   with every problem's line and column before anything is proposed),
//!   then committed through the leader; the caller gets the version.
//! - Every committed policy, on every node, is compiled and swapped into
//!   the workers between two batches ([`Admin::apply_committed`]): new
//!   connections take it, existing ones keep their class decisions.
//! - The first node bootstraps the cluster from its policy file
//!   (`[cluster] bootstrap = true`, once, on a pristine store); the others
//!   start pristine and are added with `rampart cluster join`.
//! - A node restarted from disk rejoins with its log; the policy it had
//!   committed is in force again before it forwards, or, where that one
//!   cannot run here, the policy it ran last ([`crate::kept_policy`]).
//! - A signed policy is bound to the version it is signed for: it commits
//!   as that version or not at all (`PolicyCmd::SetConfigAt`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use rampart_cluster::raft::{
    InitError, MemberNode, MembershipError, PolicyRaft, PolicyStatus, RaftSettings, Role,
    Validator, WriteError,
};
use rampart_cluster::transport::Transport;
use rampart_dataplane::InterfaceConfig;
use rampart_dataplane::policy::compile::compile;
use rampart_dataplane::policy::parse::parse_config;
use rampart_ops::admin::{Admin, MembershipOps, PolicyWriter};
use rampart_ops::backend::OpsError;
use rampart_ops::model::{ConfigProblem, MemberChange, MemberResult, RaftRole, RaftStatus};

use crate::config::Peer;
use crate::control::Workers;
use crate::kept_policy::{Kept, KeptPolicy};
use crate::policy_sig::Signer;

#[path = "shun_link.rs"]
mod shun_link;
pub use shun_link::local_shun_writer;

/// How long a blocking caller (the admin API) waits for Raft beyond the
/// write's own deadline, before it answers that the cluster did not.
const CALL_MARGIN: Duration = Duration::from_secs(2);

/// The node's Raft side.
#[derive(Clone)]
pub struct RaftSide {
    raft: PolicyRaft,
    runtime: tokio::runtime::Handle,
    write_timeout: Duration,
    /// The longest a membership change (a join: the learner's catch-up
    /// and its promotion together) may take.
    membership_timeout: Duration,
    /// Committed policies that did not compile here, or (with a signer)
    /// were not signed for their version (kept the running one).
    apply_failed: Arc<AtomicU64>,
    /// The operator's policy-signing key, if policies must be signed.
    signer: Option<Signer>,
    /// Attempts to apply a committed policy that a worker refused for want
    /// of class slots (each retried every [`APPLY_RETRY`]).
    slot_waits: Arc<AtomicU64>,
    /// Set by [`RaftSide::stop`]: the end of the policy watch is then the
    /// node stopping, not Raft's core failing.
    stopping: Arc<AtomicBool>,
    /// The policy this node ran last, for a restart.
    kept: KeptPolicy,
}

impl std::fmt::Debug for RaftSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftSide").finish_non_exhaustive()
    }
}

/// What `start` needs of the node.
#[derive(Debug)]
pub struct RaftStart<'a> {
    /// This node.
    pub id: u16,
    /// Its name.
    pub name: &'a str,
    /// Its cluster address (as peers dial it).
    pub address: String,
    /// Where the store lives (`<data_dir>/raft`).
    pub dir: &'a Path,
    /// The data directory, where the policy this node ran last is kept.
    pub data_dir: &'a Path,
    /// Whether this node bootstraps the cluster (pristine store only).
    pub bootstrap: bool,
    /// The policy file's text, the cluster's first policy.
    pub policy: Option<&'a str>,
    /// The node's interfaces, to compile with.
    pub interfaces: Vec<InterfaceConfig>,
    /// The operator's policy-signing key, if policies must be signed.
    pub signer: Option<Signer>,
}

/// Parse and compile `text` for `interfaces`; the problems as text.
fn validate(text: &str, interfaces: &[InterfaceConfig]) -> Result<(), String> {
    let parsed = parse_config(text).map_err(|e| e.to_string())?;
    compile(&parsed.config, interfaces)
        .map(|_| ())
        .map_err(|e| rampart_dataplane::policy::locate::describe(text, &e))
}

/// Run `fut` on the cluster runtime and wait for it from a blocking thread
/// (the admin API's), at most `limit`.
fn block<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    limit: Duration,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv_timeout(limit).ok()
}

impl RaftSide {
    /// Start Raft on `runtime` over `transport`, and bootstrap the cluster
    /// if asked and the store is pristine.
    pub fn start(
        runtime: &tokio::runtime::Runtime,
        transport: &Transport,
        s: RaftStart<'_>,
    ) -> anyhow::Result<RaftSide> {
        let interfaces = s.interfaces.clone();
        let signer = s.signer.clone();
        // With a signer, a write is refused before it is proposed unless the
        // operator signed it. A signed text is bound to the version it is
        // signed for, on a node without a signer too: it is committed as
        // that version or not at all (the state machine's compare-and-set),
        // so no node that checks the signature finds it committed as
        // another (docs/ARCHITECTURE.md §7).
        let validator: Validator = Arc::new(move |text: &str| {
            let at = match &signer {
                Some(k) => Some(k.verify(text, None)?),
                None => crate::policy_sig::signed_for(text),
            };
            validate(text, &interfaces)?;
            Ok(at)
        });
        if let (Some(k), true, Some(text)) = (&s.signer, s.bootstrap, s.policy) {
            k.verify(text, Some(1)).map_err(|e| {
                anyhow::anyhow!(
                    "the bootstrap policy must be signed for version 1 (rampart config sign \
                     --version 1): {e}"
                )
            })?;
        }
        let settings = RaftSettings::default();
        let write_timeout = settings.write_timeout;
        let membership_timeout = settings.membership_timeout;
        let raft = runtime
            .block_on(PolicyRaft::start(
                u64::from(s.id),
                s.dir,
                transport.clone(),
                validator,
                settings,
            ))
            .with_context(|| format!("starting the policy log in {}", s.dir.display()))?;
        // The store decides: a node whose store holds the cluster ignores
        // `bootstrap` (openraft refuses to initialise it again), and says so,
        // since the same file with an empty data directory would begin a
        // second cluster.
        let ignored = || {
            tracing::warn!(
                "[cluster] bootstrap = true is ignored: this node's store already holds the \
                 cluster; take it out of the node file, or a start with an empty data \
                 directory would begin a second cluster"
            );
        };
        if s.bootstrap {
            let policy = s.policy.unwrap_or("");
            let founded = if raft.status().members.is_empty() {
                let me = MemberNode {
                    name: s.name.to_string(),
                    address: s.address.clone(),
                };
                runtime.block_on(raft.initialize(me, policy))
            } else {
                Err(InitError::AlreadyInitialized)
            };
            match founded {
                Ok(v) => tracing::info!("policy log initialised here (version {v})"),
                // A first start that initialised the log and died (or
                // failed to write) before its policy committed: finish it.
                Err(InitError::AlreadyInitialized) => {
                    match runtime.block_on(raft.complete_bootstrap(policy)) {
                        Ok(Some(v)) => tracing::warn!(
                            "[cluster] bootstrap = true: this node's store holds the cluster it \
                             founded, but no policy was ever committed (the first start stopped \
                             between founding and writing it): the policy file is committed now \
                             as version {v}; take bootstrap out of the node file"
                        ),
                        Ok(None) => ignored(),
                        Err(e) => {
                            return Err(anyhow::anyhow!(
                                "committing the bootstrap policy of the cluster this node \
                                 founded: {e}"
                            ));
                        }
                    }
                }
                // The data directory was lost (or the file names a node of
                // a running cluster): founding would split the cluster.
                Err(e @ InitError::ClusterExists { .. }) => tracing::warn!("{e}"),
                Err(e) => return Err(anyhow::anyhow!("initialising the policy log: {e}")),
            }
        }
        Ok(RaftSide {
            raft,
            runtime: runtime.handle().clone(),
            write_timeout,
            membership_timeout,
            apply_failed: Arc::new(AtomicU64::new(0)),
            signer: s.signer.clone(),
            slot_waits: Arc::new(AtomicU64::new(0)),
            stopping: Arc::new(AtomicBool::new(false)),
            kept: KeptPolicy::in_data_dir(s.data_dir),
        })
    }

    /// The policy a restarted node must run before it forwards a packet,
    /// compiled for `interfaces`, and the cluster's sequence key: the
    /// policy its store last applied, or, when this node cannot run that
    /// one (not signed for its version where a signer is set, or not
    /// compiling here; `follow` says why and counts it), the policy it
    /// ran last ([`KeptPolicy`]), if it was committed by this cluster no
    /// later than the stored one and passes the same checks. `None` before
    /// the cluster's first policy, or with neither: the node forwards
    /// nothing until one arrives (`rampart run`; the policy file runs
    /// instead with `[cluster] forward_before_join`). A kept policy this node cannot trust
    /// (another user may change it) refuses the start, whether it is
    /// needed or not, as every trusted file does (docs/ops.md §4).
    pub fn stored_policy(&self, interfaces: &[InterfaceConfig]) -> anyhow::Result<StoredPolicy> {
        let kept = self.kept.load()?;
        let p = self.raft.subscribe().borrow().clone();
        let key = p.seq_key.map(|k| k.words());
        let committed = p.version;
        if committed == 0 {
            return Ok(StoredPolicy {
                committed,
                policy: None,
                key,
            });
        }
        let why = match self.runnable(p.version, &p.text, interfaces) {
            Ok((compiled, rendered)) => {
                return Ok(StoredPolicy {
                    committed,
                    policy: Some(RunnablePolicy {
                        version: p.version,
                        compiled,
                        rendered,
                        kept: false,
                    }),
                    key,
                });
            }
            Err(why) => why,
        };
        let cluster = self.raft.status().cluster.map(|c| c.to_string());
        let policy = match kept {
            Some(k) if k.cluster == cluster && k.version <= p.version => {
                match self.runnable(k.version, &k.text, interfaces) {
                    Ok((compiled, rendered)) => {
                        tracing::warn!(
                            "the committed policy version {} cannot run here ({why}): running \
                             version {}, the last this node ran ({})",
                            p.version,
                            k.version,
                            self.kept.path().display()
                        );
                        Some(RunnablePolicy {
                            version: k.version,
                            compiled,
                            rendered,
                            kept: true,
                        })
                    }
                    Err(e) => {
                        tracing::warn!(
                            "the committed policy version {} cannot run here ({why}), nor \
                             version {} this node ran last ({}): {e}",
                            p.version,
                            k.version,
                            self.kept.path().display()
                        );
                        None
                    }
                }
            }
            Some(k) => {
                // Another cluster's (a data directory whose store was
                // replaced), or ahead of this log: not this cluster's past.
                let id = |c: Option<&str>| c.unwrap_or("without an id").to_string();
                tracing::warn!(
                    "the committed policy version {} cannot run here ({why}); {} holds version \
                     {} of cluster {}, and this node's log is of cluster {}: not run",
                    p.version,
                    self.kept.path().display(),
                    k.version,
                    id(k.cluster.as_deref()),
                    id(cluster.as_deref())
                );
                None
            }
            None => {
                tracing::warn!(
                    "the committed policy version {} cannot run here ({why}), and this node \
                     kept no policy it ran: the policy file (or the built-in one) stays",
                    p.version
                );
                None
            }
        };
        Ok(StoredPolicy {
            committed,
            policy,
            key,
        })
    }

    /// `text`, committed as `version`, compiled for `interfaces` if this
    /// node may run it: signed for that version where a signer is set;
    /// with its `show running-config` text from the same parse.
    fn runnable(
        &self,
        version: u64,
        text: &str,
        interfaces: &[InterfaceConfig],
    ) -> Result<(Arc<rampart_dataplane::policy::compile::Policy>, String), String> {
        if let Some(k) = &self.signer {
            k.verify(text, Some(version))
                .map_err(|e| format!("not signed by the operator's key: {e}"))?;
        }
        let parsed = parse_config(text).map_err(|e| e.to_string())?;
        let config = Arc::new(parsed.config);
        // With the time-ranges active now (docs/asa-behaviour.md §2.10).
        let active =
            rampart_dataplane::policy::time::active_ranges(&config, crate::time_ranges::now_unix());
        rampart_dataplane::policy::compile::compile_at(&config, interfaces, &active)
            .map(|c| {
                let shown = rampart_dataplane::policy::render::render(&config);
                // Kept for `packet-tracer`, which prints the lines that decide.
                (Arc::new(c.with_source(config.clone())), shown)
            })
            .map_err(|e| rampart_dataplane::policy::locate::describe(text, &e))
    }

    /// The version of the policy committed last, as this node's log holds
    /// it: `configure --sign-key` signs for the next.
    pub fn committed_version(&self) -> u64 {
        self.raft.applied().version
    }

    /// `configure` through the log.
    pub fn writer(&self) -> PolicyWriter {
        let me = self.clone();
        Box::new(move |text: &str| {
            let raft = me.raft.clone();
            let text = text.to_string();
            let limit = me.write_timeout + CALL_MARGIN;
            match block(&me.runtime, limit, async move { raft.write(&text).await }) {
                Some(Ok(v)) => Ok(v),
                Some(Err(e)) => Err(write_error(e)),
                None => Err(OpsError::Pending(format!(
                    "the cluster did not answer within {limit:?}; the write may still take effect"
                ))),
            }
        })
    }

    /// `rampart cluster join|remove`; a join's name and address default to
    /// the node configuration's `[cluster] peers`.
    pub fn membership(&self, peers: Vec<Peer>) -> MembershipOps {
        let me = self.clone();
        Box::new(move |change: &MemberChange| {
            let raft = me.raft.clone();
            type Change = std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<u64, MembershipError>> + Send>,
            >;
            let (what, fut): (String, Change) = match change.clone() {
                MemberChange::Join { id, name, address } => {
                    // The caller's mistake, said before the cluster is asked
                    // (the leader refuses it too).
                    if let Some(why) = rampart_cluster::raft::member_id_problem(u64::from(id)) {
                        return Err(OpsError::BadRequest(why));
                    }
                    let known = peers.iter().find(|p| p.id == id);
                    let name = name.or_else(|| known.map(|p| p.name.clone()));
                    let address = address.or_else(|| known.map(|p| p.address.to_string()));
                    let (Some(name), Some(address)) = (name, address) else {
                        return Err(OpsError::BadRequest(format!(
                            "node {id} is not in this node's [cluster] peers: give its name and address"
                        )));
                    };
                    let node = MemberNode { name, address };
                    let r = raft.clone();
                    (
                        format!("node {id} ({}) joined", node),
                        Box::pin(async move { r.join(u64::from(id), node).await }),
                    )
                }
                MemberChange::Remove { id } => {
                    let r = raft.clone();
                    (
                        format!("node {id} removed"),
                        Box::pin(async move { r.remove(u64::from(id)).await }),
                    )
                }
            };
            // Above the change's own deadline, so that its answer (the
            // learner's catch-up refusal above all) reaches the operator.
            let limit = me.membership_timeout + CALL_MARGIN;
            match block(&me.runtime, limit, fut) {
                Some(Ok(_)) => {
                    let st = raft.status();
                    Ok(MemberResult {
                        message: what,
                        voters: st.voters.iter().map(|v| *v as u16).collect(),
                    })
                }
                Some(Err(e)) if e.is_pending() => Err(OpsError::Pending(e.to_string())),
                Some(Err(e)) => Err(OpsError::Cluster(e.to_string())),
                None => Err(OpsError::Pending(format!(
                    "the membership change did not finish within {limit:?}; it may still take \
                     effect (rampart show cluster tells)"
                ))),
            }
        })
    }

    /// Raft as `show cluster` and the metrics see it.
    pub fn status(&self) -> RaftStatus {
        let mut s = raft_status(self.raft.status(), self.apply_failed());
        s.policy_slot_waits = self.slot_waits.load(Ordering::Relaxed);
        s
    }

    /// Apply every committed policy to the workers through `admin`, the
    /// one already in the store first (a restarted node).
    pub fn follow(&self, admin: Arc<Admin<Workers>>) {
        let mut rx = self.raft.subscribe();
        let failed = self.apply_failed.clone();
        let signer = self.signer.clone();
        let stopping = self.stopping.clone();
        let slot_waits = self.slot_waits.clone();
        let (raft, kept) = (self.raft.clone(), self.kept.clone());
        self.runtime.spawn(async move {
            let mut key_in_force = None;
            loop {
                let p = rx.borrow_and_update().clone();
                if p.seq_key.is_some() && p.seq_key != key_in_force {
                    let admin = admin.clone();
                    let key = p.seq_key;
                    let words = key.map(|k| k.words()).unwrap_or_default();
                    // A worker that does not take it at once takes it from the
                    // install retry (`Admin::set_seq_secret`): no retry here.
                    let r = tokio::task::spawn_blocking(move || admin.set_seq_secret(words)).await;
                    match r {
                        Ok(Ok(())) => {
                            key_in_force = key;
                            tracing::info!("sequence randomization uses the cluster's key");
                        }
                        Ok(Err(e)) => tracing::warn!(
                            "the cluster's sequence-randomization key is not in force here \
                             (this node's own stays): {e}"
                        ),
                        Err(e) => tracing::warn!("installing the sequence key: {e}"),
                    }
                }
                // Version 0: the cluster has no policy yet; the node keeps
                // forwarding nothing (or its policy file, with
                // `forward_before_join`).
                if p.version > 0 {
                    // Every node checks the same key, so a policy committed
                    // by a member without the operator's signature (its key
                    // stolen) is refused everywhere alike.
                    let signed = signer
                        .as_ref()
                        .map_or(Ok(p.version), |k| k.verify(&p.text, Some(p.version)));
                    let r = match signed {
                        Err(e) => Err(OpsError::PolicyRefused(format!(
                            "not signed by the operator's key: {e}"
                        ))),
                        Ok(_) => {
                            let (admin, kept) = (admin.clone(), kept.clone());
                            let policy = Kept {
                                version: p.version,
                                cluster: raft.status().cluster.map(|c| c.to_string()),
                                text: p.text.to_string(),
                            };
                            apply_until_done(
                                move || apply_and_keep(&admin, &kept, &policy),
                                || rx.has_changed().unwrap_or(true),
                                APPLY_RETRY,
                                &slot_waits,
                            )
                            .await
                        }
                    };
                    match r {
                        Ok(Applied::InForce) => {
                            tracing::info!("policy version {} in force", p.version);
                        }
                        // Not refused here: the newer one is applied next.
                        Ok(Applied::Superseded) => {
                            tracing::info!(
                                "policy version {} was not on every worker yet when a newer \
                                 one was committed (or the policy log ended): not refused here",
                                p.version
                            );
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            admin.refuse_committed(p.version, &e.to_string());
                            tracing::warn!(
                                "committed policy version {} not applied here \
                                 (the running policy stays): {e}",
                                p.version
                            );
                        }
                    }
                }
                if rx.changed().await.is_err() {
                    if stopping.load(Ordering::Relaxed) {
                        break;
                    }
                    // The state machine's sender is gone, and the node is
                    // not stopping: Raft's core has ended here.
                    tracing::error!(
                        "the policy log has stopped on this node: no committed policy reaches \
                         it any more, and the policy in force stays until the node is \
                         restarted (rampart show cluster says why)"
                    );
                    break;
                }
            }
        });
    }

    /// Committed policies this node could not apply.
    pub fn apply_failed(&self) -> u64 {
        self.apply_failed.load(Ordering::Relaxed)
    }

    /// Stop Raft (before the transport).
    pub fn stop(&self, runtime: &tokio::runtime::Runtime) {
        self.stopping.store(true, Ordering::Relaxed);
        let raft = self.raft.clone();
        runtime.block_on(async move { raft.shutdown().await });
    }
}

/// Raft as `show cluster` and the metrics see it, from the log's status and
/// the committed policies this node could not apply: with the role and,
/// once Raft's core has ended, why (the rest is its last reading).
fn raft_status(s: PolicyStatus, apply_failed: u64) -> RaftStatus {
    let role = match s.role {
        Role::Leader => RaftRole::Leader,
        Role::Follower => RaftRole::Follower,
        Role::Candidate => RaftRole::Candidate,
        Role::Learner => RaftRole::Learner,
        Role::Stopped => RaftRole::Stopped,
    };
    RaftStatus {
        term: s.term,
        leader: s.leader.map(|l| l as u16),
        commit_index: s.committed_index.unwrap_or(0),
        applied_index: s.applied_index.unwrap_or(0),
        voters: s.voters.iter().map(|v| *v as u16).collect(),
        learners: s.learners.iter().map(|v| *v as u16).collect(),
        rpcs_refused: s.rpcs_refused,
        policies_refused: apply_failed.saturating_add(s.policies_oversized),
        votes_withheld: s.votes_withheld,
        cluster_id: s.cluster.map(|c| c.to_string()),
        log_complete: s.log_complete,
        role: Some(role),
        stopped: s.stopped,
        policy_slot_waits: 0,
        removed: s.removed_self.map(|r| r.to_string()),
    }
}

/// What [`RaftSide::stored_policy`] answers.
#[derive(Debug)]
pub struct StoredPolicy {
    /// The newest policy version the store committed (0: none yet, a
    /// store that has not joined a cluster or bootstrapped one).
    pub committed: u64,
    /// The policy to run before forwarding, if any.
    pub policy: Option<RunnablePolicy>,
    /// The cluster's sequence key, if committed.
    pub key: Option<[u64; 2]>,
}

/// A committed policy this node can run.
#[derive(Debug)]
pub struct RunnablePolicy {
    /// The version it was committed as.
    pub version: u64,
    /// Compiled for this node's interfaces.
    pub compiled: Arc<rampart_dataplane::policy::compile::Policy>,
    /// Its `show running-config` text, from the same parse.
    pub rendered: String,
    /// Whether it is the policy this node ran last, not the stored one.
    pub kept: bool,
}

/// Apply committed `policy` through `admin` and, once it is this node's,
/// keep it for a restart ([`KeptPolicy`]): only a policy that passed every
/// check and is in force here is kept.
fn apply_and_keep(
    admin: &Admin<Workers>,
    kept: &KeptPolicy,
    policy: &Kept,
) -> Result<(), OpsError> {
    admin.apply_committed(policy.version, &policy.text)?;
    if let Err(e) = kept.save(policy) {
        // The node runs it all the same; a restart before the next apply
        // would start on the policy kept before (or the policy file).
        tracing::warn!(
            "cannot keep policy version {} for a restart in {}: {e}",
            policy.version,
            kept.path().display()
        );
    }
    Ok(())
}

/// How long to wait before applying a committed policy again after the
/// workers did not all take it.
const APPLY_RETRY: Duration = Duration::from_millis(200);
/// How often a committed policy that still waits for class slots is
/// logged again (the first refusal is logged at once).
const SLOT_WAIT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// How applying a committed policy ended, short of a refusal.
#[derive(Debug, PartialEq, Eq)]
enum Applied {
    /// In force on every worker.
    InForce,
    /// A newer committed policy came (or the log's watch ended) while
    /// workers were still to take this one: the newer one is applied next,
    /// and this one is neither refused nor counted (it was reported
    /// refused on this node, and counted).
    Superseded,
}

/// Apply a committed policy until it is in force on every worker. Workers
/// that do not take the job in time (a long batch, a full control queue)
/// are asked again every `retry`, and so are those that took it (setting
/// the same policy twice changes nothing), so no worker is left on the
/// previous policy while the others run this one. A policy that does not
/// compile is refused at once, and a newer committed policy (`superseded`)
/// ends the attempts ([`Applied::Superseded`]): it is applied next. Each
/// attempt a worker refuses for want of class slots is counted in
/// `slot_waits` (such a wait lasts as long as the connections of earlier
/// policies that hold the slots), and logged at the first and then every
/// [`SLOT_WAIT_LOG_INTERVAL`].
async fn apply_until_done<F>(
    apply: F,
    superseded: impl Fn() -> bool,
    retry: Duration,
    slot_waits: &AtomicU64,
) -> Result<Applied, OpsError>
where
    F: Fn() -> Result<(), OpsError> + Send + Sync + 'static,
{
    let apply = Arc::new(apply);
    let mut warned = false;
    let log_every = (SLOT_WAIT_LOG_INTERVAL.as_millis() / retry.as_millis().max(1)).max(1);
    let mut refused: u128 = 0;
    loop {
        let f = apply.clone();
        let r = tokio::task::spawn_blocking(move || f())
            .await
            .unwrap_or_else(|e| Err(OpsError::Unavailable(format!("the apply task failed: {e}"))));
        match r {
            Ok(()) => return Ok(Applied::InForce),
            // Waiting for slots or for a worker, a newer policy came.
            Err(OpsError::PolicyRefused(_) | OpsError::Unavailable(_)) if superseded() => {
                return Ok(Applied::Superseded);
            }
            // A worker whose class slots are all held by connections of
            // earlier policies (they free as those connections end).
            Err(OpsError::PolicyRefused(e)) => {
                slot_waits.fetch_add(1, Ordering::Relaxed);
                if refused.is_multiple_of(log_every) {
                    tracing::warn!(
                        "a committed policy waits for class slots ({e}); refused {} time(s), \
                         trying again every {} ms: connections of earlier policies hold the \
                         slots until they end (clear conn frees them now)",
                        refused + 1,
                        retry.as_millis()
                    );
                }
                refused += 1;
                tokio::time::sleep(retry).await;
            }
            // A worker that did not take the job.
            Err(OpsError::Unavailable(e)) => {
                if !warned {
                    tracing::warn!(
                        "a committed policy is not in force on every worker yet ({e}); \
                         trying again every {} ms",
                        retry.as_millis()
                    );
                    warned = true;
                }
                tokio::time::sleep(retry).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One line of a refusal as the parser and `locate::describe` word it
/// (`line L, column C: …`), its place taken back out (0, 0 without one).
fn problem(m: &str) -> ConfigProblem {
    let placed = m.strip_prefix("line ").and_then(|rest| {
        let (line, rest) = rest.split_once(", column ")?;
        let (column, message) = rest.split_once(": ")?;
        Some((line.parse().ok()?, column.parse().ok()?, message))
    });
    match placed {
        Some((line, column, message)) => ConfigProblem {
            line,
            column,
            message: message.to_string(),
        },
        None => ConfigProblem {
            line: 0,
            column: 0,
            message: m.to_string(),
        },
    }
}

/// A write's error as the admin API answers it.
fn write_error(e: WriteError) -> OpsError {
    match e {
        WriteError::Invalid { message } => OpsError::Config(message.lines().map(problem).collect()),
        WriteError::TooLarge { .. } => OpsError::BadRequest(e.to_string()),
        WriteError::Conflict { .. } => OpsError::Conflict(e.to_string()),
        other => {
            // A leader's Raft that stopped says so in its own text.
            let mut text = other.to_string();
            if !other.is_pending() {
                return OpsError::Cluster(text);
            }
            if !matches!(other, WriteError::LeaderStopped { .. }) {
                text.push_str(" (the write may still take effect)");
            }
            OpsError::Pending(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A refusal from the cluster keeps each problem's place.
    #[test]
    fn a_refused_writes_problems_keep_their_places() {
        let OpsError::Config(p) = write_error(WriteError::Invalid {
            message: "line 5, column 29: interface 'dmz' is not one of this node's interfaces\n\
                      the policy expands to too much"
                .into(),
        }) else {
            panic!("a config error")
        };
        assert_eq!((p[0].line, p[0].column), (5, 29));
        assert_eq!(
            p[0].message,
            "interface 'dmz' is not one of this node's interfaces"
        );
        assert_eq!((p[1].line, p[1].column), (0, 0));
        assert_eq!(p[1].message, "the policy expands to too much");
    }

    /// A write that may still take effect is answered as pending (a flag
    /// the CLI reads, where it matched the text before); one that surely
    /// did not is the cluster's refusal.
    #[test]
    fn a_pending_write_is_flagged_pending() {
        use rampart_cluster::raft::NoQuorumCause;
        let not_committed = write_error(WriteError::NoQuorum {
            waited_ms: 5_000,
            leader: Some(2),
            cause: NoQuorumCause::NotCommitted,
        });
        let OpsError::Pending(text) = not_committed else {
            panic!("{not_committed:?}")
        };
        assert!(text.contains("may still take effect"), "{text}");
        let stopped = write_error(WriteError::LeaderStopped {
            leader: 2,
            message: "disk full".into(),
        });
        assert!(matches!(stopped, OpsError::Pending(_)), "{stopped:?}");
        let no_leader = write_error(WriteError::NoQuorum {
            waited_ms: 5_000,
            leader: None,
            cause: NoQuorumCause::NoLeader,
        });
        assert!(matches!(no_leader, OpsError::Cluster(_)), "{no_leader:?}");
    }

    /// A Raft core that ended shows as stopped, with why, and no leader,
    /// where the status once kept only the term and the last leader (a
    /// node that looked like a follower, running).
    #[test]
    fn a_stopped_raft_core_shows_in_the_status_and_in_show_cluster() {
        let mut s = PolicyStatus {
            node: 1,
            role: Role::Follower,
            term: 4,
            leader: Some(2),
            last_log_index: Some(17),
            committed_index: Some(17),
            applied_index: Some(17),
            snapshot_index: None,
            purged_index: None,
            voters: vec![1, 2, 3],
            learners: vec![],
            members: Default::default(),
            joint: false,
            removed: vec![],
            version: 3,
            fsyncs: 0,
            entries_appended: 0,
            snapshots_built: 0,
            snapshots_installed: 0,
            rpcs_refused: 0,
            policies_oversized: 1,
            votes_withheld: 0,
            cluster: None,
            log_complete: true,
            stopped: None,
            removed_self: None,
        };
        let running = raft_status(s.clone(), 2);
        assert_eq!(running.role, Some(RaftRole::Follower));
        assert_eq!(running.stopped, None);
        assert_eq!(running.policies_refused, 3);
        s.role = Role::Stopped;
        s.leader = None;
        s.stopped = Some("panicked".into());
        let stopped = raft_status(s, 0);
        assert_eq!(stopped.role, Some(RaftRole::Stopped));
        assert_eq!(stopped.stopped.as_deref(), Some("panicked"));
        assert_eq!(
            rampart_ops::show_cluster::own_role(Some(&stopped), 1),
            "stopped"
        );
    }

    #[tokio::test]
    async fn a_committed_policy_is_applied_again_until_every_worker_has_it() {
        let tries = Arc::new(AtomicUsize::new(0));
        let t = tries.clone();
        let r = apply_until_done(
            move || match t.fetch_add(1, Ordering::Relaxed) {
                0 | 1 => Err(OpsError::Unavailable("worker 1 did not answer".into())),
                _ => Ok(()),
            },
            || false,
            Duration::from_millis(1),
            &AtomicU64::new(0),
        )
        .await;
        assert_eq!(r.expect("applied"), Applied::InForce);
        assert_eq!(tries.load(Ordering::Relaxed), 3);
    }

    /// A policy refused for want of class slots is tried again until the
    /// slots free, each refusal counted (it was retried uncounted).
    #[tokio::test]
    async fn a_policy_waiting_for_class_slots_is_counted_at_each_refusal() {
        let tries = Arc::new(AtomicUsize::new(0));
        let t = tries.clone();
        let waits = AtomicU64::new(0);
        let r = apply_until_done(
            move || match t.fetch_add(1, Ordering::Relaxed) {
                0..=2 => Err(OpsError::PolicyRefused("no class slots".into())),
                3 => Err(OpsError::Unavailable("worker 1 did not answer".into())),
                _ => Ok(()),
            },
            || false,
            Duration::from_millis(1),
            &waits,
        )
        .await;
        assert_eq!(r.expect("applied"), Applied::InForce);
        assert_eq!(tries.load(Ordering::Relaxed), 5);
        assert_eq!(waits.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_policy_that_does_not_compile_or_a_newer_one_ends_the_attempts() {
        let tries = Arc::new(AtomicUsize::new(0));
        let t = tries.clone();
        let r = apply_until_done(
            move || {
                t.fetch_add(1, Ordering::Relaxed);
                Err(OpsError::Config(vec![]))
            },
            || false,
            Duration::from_millis(1),
            &AtomicU64::new(0),
        )
        .await;
        assert!(matches!(r, Err(OpsError::Config(_))));
        assert_eq!(tries.load(Ordering::Relaxed), 1);
        let t = tries.clone();
        let r = apply_until_done(
            move || {
                t.fetch_add(1, Ordering::Relaxed);
                Err(OpsError::Unavailable("busy".into()))
            },
            || true,
            Duration::from_millis(1),
            &AtomicU64::new(0),
        )
        .await;
        assert_eq!(r.expect("superseded"), Applied::Superseded);
        assert_eq!(tries.load(Ordering::Relaxed), 2);
    }

    /// A policy still waiting for class slots or for a worker when a newer
    /// one is committed ends superseded, not refused: it was counted as a
    /// refused policy and reported refused on this node (a review).
    #[tokio::test]
    async fn a_policy_overtaken_while_waiting_is_superseded_not_refused() {
        for refusal in [
            OpsError::PolicyRefused("no class slots".into()),
            OpsError::Unavailable("worker 1 did not answer".into()),
        ] {
            let tries = Arc::new(AtomicUsize::new(0));
            let t = tries.clone();
            let newer = tries.clone();
            let r = apply_until_done(
                move || {
                    t.fetch_add(1, Ordering::Relaxed);
                    Err(refusal.clone())
                },
                // The newer policy commits during the second attempt.
                move || newer.load(Ordering::Relaxed) >= 2,
                Duration::from_millis(1),
                &AtomicU64::new(0),
            )
            .await;
            assert_eq!(r.expect("superseded"), Applied::Superseded);
            assert_eq!(tries.load(Ordering::Relaxed), 2);
        }
    }
}
