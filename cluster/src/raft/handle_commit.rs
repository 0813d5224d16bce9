//! Bringing one command to the leader and through the log: proposed here
//! when this node leads, else forwarded; retried while no leader is known
//! or the one asked has lost its majority, within the caller's budget. A
//! policy write and a shun change go the same way.

use std::time::Duration;

use tokio::time::Instant;

use super::super::error::{NoQuorumCause, WriteError};
use super::super::messages::{ForwardReply, ForwardRequest};
use super::super::settings::LEADER_POLL_INTERVAL;
use super::super::shuns::{ShunOp, ShunRecord, refusal};
use super::super::types::{NodeId, PolicyCmd, Version};
use super::{ForwardFail, PolicyRaft, millis};

/// Why a command did not reach a reply that ends it.
pub(super) enum Undelivered {
    /// It failed; nothing more can be learned.
    Failed(WriteError),
    /// The leader asked did not answer after it was sent: it may have
    /// proposed it. Proposing again could commit it twice.
    MaybeSent,
}

impl PolicyRaft {
    /// Propose `cmd` as the leader, or forward `request(budget_ms)` to the
    /// leader, until an answer that ends the attempt or `budget` (counted
    /// from `started`) runs out. Returns the leader asked and its answer.
    pub(super) async fn deliver(
        &self,
        cmd: PolicyCmd,
        request: &(dyn Fn(u64) -> ForwardRequest + Sync),
        started: Instant,
        budget: Duration,
    ) -> Result<(NodeId, ForwardReply), Undelivered> {
        let mut leader_seen = None;
        let mut cause = NoQuorumCause::NoLeader;
        loop {
            let elapsed = started.elapsed();
            if elapsed >= budget {
                return Err(Undelivered::Failed(WriteError::NoQuorum {
                    waited_ms: millis(elapsed),
                    leader: leader_seen,
                    cause,
                }));
            }
            let remaining = budget - elapsed;
            let view = self.view();
            if let Some(reason) = view.stopped {
                return Err(Undelivered::Failed(WriteError::Stopped { reason }));
            }
            if !view.member {
                return Err(Undelivered::Failed(WriteError::NotMember {
                    node: self.inner.id,
                }));
            }
            leader_seen = view.leader;
            let Some(leader) = view.leader else {
                cause = NoQuorumCause::NoLeader;
                tokio::time::sleep(LEADER_POLL_INTERVAL.min(remaining)).await;
                continue;
            };
            let reply = if leader == self.inner.id {
                self.propose(cmd.clone(), remaining).await
            } else {
                let req = request(millis(remaining.saturating_sub(super::FORWARD_MARGIN)));
                match self.forward(leader, req, remaining).await {
                    Ok(r) => r,
                    Err(ForwardFail::NotSent(e)) => {
                        tracing::debug!(leader, "forwarding to the leader: {e}");
                        cause = NoQuorumCause::LeaderUnreachable;
                        tokio::time::sleep(LEADER_POLL_INTERVAL.min(remaining)).await;
                        continue;
                    }
                    Err(ForwardFail::MaybeSent(e)) => {
                        tracing::warn!(leader, "no answer from the leader: {e}");
                        return Err(Undelivered::MaybeSent);
                    }
                }
            };
            match reply {
                ForwardReply::NoQuorum { pending: false, .. } => {
                    // Nothing proposed. Another leader with a majority may
                    // be elected within the budget; ask again after an
                    // election could have happened (each check costs a
                    // round of heartbeats).
                    cause = NoQuorumCause::LeaderIsolated;
                    let pause = self.inner.settings.election_timeout_min;
                    tokio::time::sleep(pause.min(remaining)).await;
                }
                ForwardReply::NotLeader { .. } => {
                    cause = NoQuorumCause::NoLeader;
                    tokio::time::sleep(LEADER_POLL_INTERVAL.min(remaining)).await;
                }
                other => return Ok((leader, other)),
            }
        }
    }

    /// Add a shun, remove one or clear them all, cluster-wide
    /// (docs/asa-behaviour.md §2.12): checked against the shuns applied
    /// here first (one already in place, the list full), then again by
    /// the leader against its own. Returns once the leader has applied
    /// it; every node applies it soon after. Not a policy write: the
    /// policy's version stays.
    pub async fn shun(&self, op: ShunOp) -> Result<(), WriteError> {
        if let Some(message) = refusal(&self.shuns(), &op) {
            return Err(WriteError::Invalid { message });
        }
        let budget = self.inner.settings.write_timeout;
        let started = Instant::now();
        let forward = |budget_ms| ForwardRequest::Shun {
            op: op.clone(),
            budget_ms,
        };
        match self
            .deliver(PolicyCmd::Shun(op.clone()), &forward, started, budget)
            .await
        {
            Ok((leader, reply)) => outcome(leader, reply, started).map(|_| ()),
            Err(Undelivered::Failed(e)) => Err(e),
            // A change that did commit is not retried blindly: an add
            // retried after a removal in between would undo the removal.
            Err(Undelivered::MaybeSent) => Err(WriteError::NoQuorum {
                waited_ms: millis(started.elapsed()),
                leader: self.view().leader,
                cause: NoQuorumCause::NotCommitted,
            }),
        }
    }

    /// On the leader: a follower's forwarded shun change, checked against
    /// the shuns applied here, then proposed within `budget`.
    pub(super) async fn serve_shun(&self, op: ShunOp, budget: Duration) -> ForwardReply {
        if let Some(message) = refusal(&self.shuns(), &op) {
            return ForwardReply::Invalid { message };
        }
        self.propose(PolicyCmd::Shun(op), budget).await
    }
}

/// The answer to a shun change that committed but could not apply:
/// another change of the list committed first (`list` is the list now).
pub(super) fn shun_conflict(list: &[ShunRecord], op: Option<&ShunOp>) -> ForwardReply {
    let why = op.and_then(|op| refusal(list, op));
    ForwardReply::Invalid {
        message: format!(
            "another change of the shun list committed first, and this one changed nothing{}",
            why.map(|w| format!(": {w}")).unwrap_or_default()
        ),
    }
}

/// What the leader's answer to a write or shun change means for its
/// caller (the answers that only ask to try again never reach here).
pub(super) fn outcome(
    leader: NodeId,
    reply: ForwardReply,
    started: Instant,
) -> Result<Version, WriteError> {
    match reply {
        ForwardReply::Committed { version } => Ok(version),
        ForwardReply::Invalid { message } => Err(WriteError::Invalid { message }),
        ForwardReply::Conflict { committed, wanted } => {
            Err(WriteError::Conflict { committed, wanted })
        }
        // Proposed but not committed: a retry could commit it twice, so
        // report it as it is.
        ForwardReply::NoQuorum { .. } => Err(WriteError::NoQuorum {
            waited_ms: millis(started.elapsed()),
            leader: Some(leader),
            cause: NoQuorumCause::NotCommitted,
        }),
        ForwardReply::NotLeader { .. } => Err(WriteError::NoQuorum {
            waited_ms: millis(started.elapsed()),
            leader: Some(leader),
            cause: NoQuorumCause::NoLeader,
        }),
        ForwardReply::Failed { message } | ForwardReply::Refused { message } => {
            Err(WriteError::LeaderFailed { leader, message })
        }
        ForwardReply::StoppedAfterProposing { message } => {
            Err(WriteError::LeaderStopped { leader, message })
        }
        ForwardReply::MembershipChanged { .. } => Err(WriteError::LeaderFailed {
            leader,
            message: "answered a write as a membership change".into(),
        }),
    }
}
