//! What a peer's log entries and memberships must look like before
//! openraft sees them.
//!
//! openraft 0.9.25 trusts its leader's AppendEntries: that the entries
//! follow `prev_log_id` one index at a time, and that a membership names a
//! node record for every voter. It checks the first only with
//! `debug_assert!` and the second not at all. A member that breaks either
//! stops Raft on the node it sends to for good: entries stored after a gap
//! fail the next apply ("try to get log at index 11 but got Some(15)"), a
//! fatal storage error that every later start reads back from the store;
//! a voter without a node record makes openraft's core panic at the
//! node's next election, when it looks the voter's record up. Both are
//! refused here, whole, before anything reaches openraft.

use std::collections::BTreeSet;

use openraft::raft::AppendEntriesRequest;
use openraft::{LeaderId, Membership};

use rampart_dataplane::sync::MAX_NODE_ID;

use super::types::{LogId, MemberNode, NodeId, TypeConfig};

/// Why `id` cannot be a member's node id, if it cannot: ids are
/// `1..=MAX_NODE_ID`, the ids a flow's holder set gives a bit each
/// (docs/ops.md §5). A larger one shared a bit with the id 64 below it,
/// and the sync engine then took the two for one node.
pub fn member_id_problem(id: NodeId) -> Option<String> {
    (!(1..=u64::from(MAX_NODE_ID)).contains(&id)).then(|| {
        format!(
            "node ids are 1-{MAX_NODE_ID} (the sync engine gives each a bit of a 64-bit set), \
             not {id}"
        )
    })
}

/// Why `req`'s entries cannot extend a log as Raft's do, if they cannot.
///
/// A leader sends entries of its own log: they begin right after
/// `prev_log_id` (at index 0 when it has none, where openraft writes the
/// founding membership), follow one another one index at a time, and
/// their leaders (term, then node) never go down along the log. None was
/// written by a leader later than the one sending it, nor is `prev_log_id`
/// or the commit it reports.
pub(super) fn entries_out_of_order(req: &AppendEntriesRequest<TypeConfig>) -> Option<String> {
    let sender = req.vote.leader_id();
    let later = req
        .entries
        .iter()
        .map(|e| &e.log_id)
        .chain(&req.prev_log_id)
        .chain(&req.leader_commit)
        .find(|l| l.leader_id > *sender);
    if let Some(l) = later {
        return Some(format!(
            "log id {} names a leader later than the sender's vote ({sender})",
            show(l)
        ));
    }
    // The bounds check before this one keeps every index under 2^62.
    let mut expect = req.prev_log_id.map_or(0, |p| p.index.saturating_add(1));
    let mut leader: Option<&LeaderId<NodeId>> = req.prev_log_id.as_ref().map(|p| &p.leader_id);
    for e in &req.entries {
        if e.log_id.index != expect {
            let after = req
                .prev_log_id
                .as_ref()
                .map_or_else(|| "the start of the log".to_string(), show);
            return Some(format!(
                "entry {} is not at index {expect}: entries must follow {after} one index at a time",
                show(&e.log_id)
            ));
        }
        if leader.is_some_and(|l| e.log_id.leader_id < *l) {
            return Some(format!(
                "entry {} comes after an entry of a later leader: leaders never go down along a log",
                show(&e.log_id)
            ));
        }
        leader = Some(&e.log_id.leader_id);
        expect = expect.saturating_add(1);
    }
    None
}

/// A log id as openraft prints it: leader (term, node), then index.
fn show(l: &LogId) -> String {
    format!("T{}-N{}.{}", l.leader_id.term, l.leader_id.node_id, l.index)
}

/// Why `m` is not a membership this cluster makes, if it is not: one
/// voter set (two while a change is under way, joint consensus), none of
/// them empty, every voter with a node record, and every node id a
/// member's id (1..=64, [`member_id_problem`]). openraft's own membership
/// changes hold to the first three; `join` refuses an id past the fourth.
pub(super) fn invalid_membership(m: &Membership<NodeId, MemberNode>) -> Option<String> {
    let configs = m.get_joint_config();
    if configs.is_empty() || configs.len() > 2 {
        return Some(format!(
            "a membership with {} voter sets (one, or two during a change)",
            configs.len()
        ));
    }
    if configs.iter().any(BTreeSet::is_empty) {
        return Some("a membership with an empty voter set".into());
    }
    if let Some(v) = m.voter_ids().find(|v| m.get_node(v).is_none()) {
        return Some(format!("a membership whose voter {v} has no node record"));
    }
    if let Some(why) = m.nodes().find_map(|(id, _)| member_id_problem(*id)) {
        return Some(format!("a membership naming a node it cannot have: {why}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use openraft::{CommittedLeaderId, EntryPayload, Vote};

    use super::*;
    use crate::raft::types::Entry;

    fn id(term: u64, node: NodeId, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, node), index)
    }

    fn blank(term: u64, node: NodeId, index: u64) -> Entry {
        Entry {
            log_id: id(term, node, index),
            payload: EntryPayload::Blank,
        }
    }

    /// An append from node 2 at term 5 after `prev`.
    fn append(prev: Option<LogId>, entries: Vec<Entry>) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(5, 2),
            prev_log_id: prev,
            entries,
            leader_commit: prev,
        }
    }

    // === what leaders send ===

    #[test]
    fn a_leaders_appends_pass() {
        // A heartbeat, the founding entries, a catch-up across terms.
        assert_eq!(
            entries_out_of_order(&append(Some(id(3, 1, 10)), vec![])),
            None
        );
        assert_eq!(entries_out_of_order(&append(None, vec![])), None);
        assert_eq!(
            entries_out_of_order(&append(None, vec![blank(1, 1, 0), blank(1, 1, 1)])),
            None
        );
        let catch_up = vec![blank(3, 1, 11), blank(4, 3, 12), blank(5, 2, 13)];
        assert_eq!(
            entries_out_of_order(&append(Some(id(3, 1, 10)), catch_up)),
            None
        );
    }

    // === what no leader sends ===

    #[test]
    fn entries_that_do_not_follow_prev_are_refused() {
        // The reviewer's attack: one entry five past the last.
        let gap = append(Some(id(3, 1, 10)), vec![blank(5, 2, 15)]);
        let why = entries_out_of_order(&gap).expect("a gap");
        assert_eq!(
            why,
            "entry T5-N2.15 is not at index 11: entries must follow T3-N1.10 one index at a time"
        );
        // A hole inside the batch, and a batch that restarts earlier.
        let hole = append(Some(id(3, 1, 10)), vec![blank(5, 2, 11), blank(5, 2, 13)]);
        assert!(entries_out_of_order(&hole).is_some());
        let back = append(Some(id(3, 1, 10)), vec![blank(5, 2, 10)]);
        assert!(entries_out_of_order(&back).is_some());
        // Without a previous entry the log begins at index 0.
        let late_start = append(None, vec![blank(5, 2, 1)]);
        assert!(
            entries_out_of_order(&late_start)
                .expect("refused")
                .contains("the start of the log")
        );
    }

    #[test]
    fn leaders_that_go_down_or_pass_the_vote_are_refused() {
        let down = append(Some(id(3, 1, 10)), vec![blank(4, 1, 11), blank(3, 3, 12)]);
        assert!(
            entries_out_of_order(&down)
                .expect("refused")
                .contains("leaders never go down")
        );
        let below_prev = append(Some(id(4, 1, 10)), vec![blank(3, 1, 11)]);
        assert!(entries_out_of_order(&below_prev).is_some());
        // Term 5 of node 3 is later than the sender's vote, term 5 of node 2.
        let later = append(Some(id(3, 1, 10)), vec![blank(5, 3, 11)]);
        assert!(
            entries_out_of_order(&later)
                .expect("refused")
                .contains("later than the sender's vote")
        );
        let mut commit = append(Some(id(3, 1, 10)), vec![]);
        commit.leader_commit = Some(id(6, 1, 10));
        assert!(entries_out_of_order(&commit).is_some());
    }

    // === memberships ===

    fn node(i: NodeId) -> MemberNode {
        MemberNode {
            name: format!("fw-{i}"),
            address: format!("198.18.0.{i}:7000"),
        }
    }

    /// A membership as it arrives on the wire (built through serde:
    /// `Membership::new` would add a default record for every voter).
    fn wire(configs: Vec<Vec<NodeId>>, nodes: &[NodeId]) -> Membership<NodeId, MemberNode> {
        #[derive(serde::Serialize)]
        struct Raw {
            configs: Vec<BTreeSet<NodeId>>,
            nodes: BTreeMap<NodeId, MemberNode>,
        }
        let raw = Raw {
            configs: configs
                .into_iter()
                .map(|c| c.into_iter().collect())
                .collect(),
            nodes: nodes.iter().map(|i| (*i, node(*i))).collect(),
        };
        let c = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&raw, c).expect("encode");
        bincode::serde::decode_from_slice(&bytes, c)
            .expect("decode")
            .0
    }

    #[test]
    fn memberships_the_cluster_makes_pass() {
        assert_eq!(invalid_membership(&wire(vec![vec![1]], &[1])), None);
        assert_eq!(
            invalid_membership(&wire(vec![vec![1, 2]], &[1, 2, 3])),
            None
        );
        assert_eq!(
            invalid_membership(&wire(vec![vec![1, 2], vec![1, 2, 3]], &[1, 2, 3])),
            None
        );
        assert_eq!(invalid_membership(&wire(vec![vec![64]], &[1, 64])), None);
    }

    #[test]
    fn memberships_no_change_makes_are_refused() {
        // The reviewer's: voter 9 without a record.
        assert_eq!(
            invalid_membership(&wire(vec![vec![1, 2, 3, 9]], &[1, 2, 3])).as_deref(),
            Some("a membership whose voter 9 has no node record")
        );
        assert!(invalid_membership(&wire(vec![], &[1])).is_some());
        assert!(invalid_membership(&wire(vec![vec![]], &[1])).is_some());
        assert!(invalid_membership(&wire(vec![vec![1], vec![]], &[1])).is_some());
        assert!(invalid_membership(&wire(vec![vec![1], vec![1], vec![1]], &[1])).is_some());
        assert!(
            invalid_membership(&wire(vec![vec![65536]], &[65536]))
                .expect("refused")
                .contains("node ids are 1-64")
        );
        // Node 65 shares node 1's bit of a flow's holder set: a voter or a
        // learner with it is refused, and so is node 0 (node 64's bit).
        assert_eq!(
            invalid_membership(&wire(vec![vec![1, 65]], &[1, 65])).as_deref(),
            Some(
                "a membership naming a node it cannot have: node ids are 1-64 (the sync \
                 engine gives each a bit of a 64-bit set), not 65"
            )
        );
        assert!(invalid_membership(&wire(vec![vec![1]], &[1, 65])).is_some());
        assert!(invalid_membership(&wire(vec![vec![1]], &[0, 1])).is_some());
        assert!(invalid_membership(&wire(vec![vec![1]], &[1, 1 << 40])).is_some());
    }
}
