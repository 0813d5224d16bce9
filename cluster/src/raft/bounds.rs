//! The bound on every Raft term and log index a peer sends, in a call or
//! in a reply, and on the vote a store holds when Raft starts.
//!
//! openraft adopts any vote higher than its own that it meets: in a
//! leader's or a candidate's call, and in a reply (an AppendEntries
//! answered `HigherVote`, seen by replication and by the quorum check
//! behind a linearizable read; an InstallSnapshot reply's vote; the vote of
//! a refused VoteResponse). It stores the vote, and its next election asks
//! for `term + 1`. A member that sent a term of `u64::MAX` therefore
//! stopped Raft's core (an overflow panic in a debug build; in a release
//! build a wrap to 0, which openraft's own vote update refuses with a
//! panic) on every node the term reached, each passing it on in its own
//! replies, and again at every start, the term being read back from the
//! store. A term grows by one per election and an index by one per entry:
//! no cluster comes near [`MAX_RAFT_NUMBER`], so a number at or past it is
//! a peer's fault, refused before openraft sees it (docs/ARCHITECTURE.md
//! §7).

use openraft::raft::AppendEntriesResponse;
use openraft::{LeaderId, LogId, Vote};

use super::messages::RaftReply;
use super::types::NodeId;

/// Highest term or log index a peer's message may carry, and a store's
/// vote may hold: 2^62.
pub const MAX_RAFT_NUMBER: u64 = 1 << 62;

/// The first term or log index among `leaders` (their terms) and `logs`
/// (their terms and indexes) at or past [`MAX_RAFT_NUMBER`].
pub(super) fn first_beyond<'a>(
    leaders: impl IntoIterator<Item = &'a LeaderId<NodeId>>,
    logs: impl IntoIterator<Item = &'a LogId<NodeId>>,
) -> Option<u64> {
    let terms = leaders.into_iter().map(LeaderId::get_term);
    let logs = logs
        .into_iter()
        .flat_map(|l| [l.leader_id.get_term(), l.index]);
    terms.chain(logs).find(|n| *n >= MAX_RAFT_NUMBER)
}

/// The first term or log index at or past [`MAX_RAFT_NUMBER`] in a peer's
/// reply, among those openraft 0.9.25 acts on: the vote and log id of an
/// AppendEntries reply, a VoteResponse's vote and last log id, an
/// InstallSnapshot reply's vote. An error reply (`RaftError`) reaches
/// openraft as a `RemoteError`, which it only logs.
pub(super) fn reply_beyond(reply: &RaftReply) -> Option<u64> {
    let none_log = None::<&LogId<NodeId>>;
    let vote = |v: &Vote<NodeId>| first_beyond([v.leader_id()], none_log);
    match reply {
        RaftReply::AppendEntries(Ok(r)) => match r {
            AppendEntriesResponse::Success | AppendEntriesResponse::Conflict => None,
            AppendEntriesResponse::PartialSuccess(log) => first_beyond([], log),
            AppendEntriesResponse::HigherVote(v) => vote(v),
        },
        RaftReply::Vote(Ok(r)) => first_beyond([r.vote.leader_id()], &r.last_log_id),
        RaftReply::InstallSnapshot(Ok(r)) => vote(&r.vote),
        RaftReply::AppendEntries(Err(_))
        | RaftReply::Vote(Err(_))
        | RaftReply::InstallSnapshot(Err(_))
        | RaftReply::Forward(_)
        | RaftReply::Hello { .. }
        | RaftReply::Refused(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use openraft::raft::{InstallSnapshotResponse, VoteResponse};
    use openraft::{CommittedLeaderId, LogId};

    use super::*;

    const HUGE: u64 = u64::MAX;
    const EDGE: u64 = MAX_RAFT_NUMBER;
    const BELOW: u64 = MAX_RAFT_NUMBER - 1;

    fn log(term: u64, index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(term, 2), index)
    }

    fn append(r: AppendEntriesResponse<NodeId>) -> RaftReply {
        RaftReply::AppendEntries(Ok(r))
    }

    fn vote_reply(vote: Vote<NodeId>, last: Option<LogId<NodeId>>) -> RaftReply {
        RaftReply::Vote(Ok(VoteResponse::new(vote, last, false)))
    }

    // --- replies a member may send ---

    #[test]
    fn replies_within_the_bound_pass() {
        let fine = [
            append(AppendEntriesResponse::Success),
            append(AppendEntriesResponse::Conflict),
            append(AppendEntriesResponse::PartialSuccess(None)),
            append(AppendEntriesResponse::PartialSuccess(Some(log(
                BELOW, BELOW,
            )))),
            append(AppendEntriesResponse::HigherVote(Vote::new(BELOW, 2))),
            vote_reply(Vote::new(BELOW, 2), Some(log(BELOW, BELOW))),
            vote_reply(Vote::new(3, 2), None),
            RaftReply::InstallSnapshot(Ok(InstallSnapshotResponse {
                vote: Vote::new_committed(BELOW, 2),
            })),
            RaftReply::Refused("no".into()),
        ];
        for r in &fine {
            assert_eq!(reply_beyond(r), None, "{r:?}");
        }
    }

    /// Every number openraft takes from a reply is checked (a review's
    /// failing case: a HigherVote and a refused vote of term `u64::MAX`
    /// stopped Raft on every node).
    #[test]
    fn a_term_or_index_at_the_bound_in_any_reply_is_found() {
        let cases = [
            (
                append(AppendEntriesResponse::HigherVote(Vote::new(HUGE, 2))),
                HUGE,
            ),
            (
                append(AppendEntriesResponse::HigherVote(Vote::new_committed(
                    EDGE, 2,
                ))),
                EDGE,
            ),
            (
                append(AppendEntriesResponse::PartialSuccess(Some(log(EDGE, 4)))),
                EDGE,
            ),
            (
                append(AppendEntriesResponse::PartialSuccess(Some(log(3, HUGE)))),
                HUGE,
            ),
            (vote_reply(Vote::new(HUGE, 2), None), HUGE),
            (vote_reply(Vote::new(3, 2), Some(log(EDGE, 4))), EDGE),
            (vote_reply(Vote::new(3, 2), Some(log(3, EDGE))), EDGE),
            (
                RaftReply::InstallSnapshot(Ok(InstallSnapshotResponse {
                    vote: Vote::new_committed(HUGE, 2),
                })),
                HUGE,
            ),
        ];
        for (r, n) in &cases {
            assert_eq!(reply_beyond(r), Some(*n), "{r:?}");
        }
    }
}
