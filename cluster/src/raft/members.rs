//! Following the membership: the transport's peers kept in step with the
//! Raft membership, and this node's own removal.
//!
//! # When a member leaves the transport
//!
//! openraft makes a membership effective as soon as it is appended, long
//! before it commits. A member that dropped a removed node's link then
//! (as this once did) cut the removal's own path: removing the leader,
//! each follower appended the new membership, dropped the leader at once
//! and lost its acknowledgement, so the leader never committed, and the
//! operator's `cluster remove` ran out its 30 s although the other two
//! committed it after an election. A node leaves the transport only once
//! no membership this node holds names it: neither the effective one nor
//! the one applied (committed). The removed node's live connection is
//! closed a grace period later still (`REMOVED_CLOSE_GRACE`), so the
//! answer to its own `cluster remove` reaches it.
//!
//! # A member's record
//!
//! A join's name and address are checked before anything is proposed
//! ([`check_node`]), and a join of a member whose record differs is
//! refused ([`record_differs`]).
//!
//! # A node that was removed
//!
//! The leader stops replicating to a removed node as soon as it appends
//! the change, so that node may never see the entry that removed it: left
//! alone it campaigned for ever (its term climbing until a later join had
//! to hold an election to get past it), dialled and woke every member
//! (each refused it), and reported no leader for good. It learns of its
//! removal from the membership it applied (a leader removing itself), or
//! from a member that refuses its link as removed (the transport's
//! `RemovalNotice`). It then stops campaigning (openraft's `elect`
//! switch), and its transport goes dormant (it dials no member and wakes
//! none, but accepts their connections), and `status()` says so
//! ([`PolicyStatus::removed_self`]). A leader that replicates to it again
//! (a `cluster join` of its id, with its old store) makes it a member
//! again: campaigning and dialling resume.
//!
//! [`PolicyStatus::removed_self`]: super::PolicyStatus::removed_self

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Weak;

use tokio::sync::watch;

use super::entry_checks::member_id_problem;
use super::error::MembershipError;
use super::handle::{Inner, PolicyRaft, core_ended};
use super::network::ensure_peer;
use super::types::{MemberNode, NodeId, Raft};
use crate::transport::{RemovalNotice, Transport};

/// Why this node takes itself for removed from the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// The membership it applied (a committed one) leaves it out.
    Applied,
    /// Member `by` refused or closed its link as removed.
    Told {
        /// The member.
        by: NodeId,
    },
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Removed::Applied => f.write_str(
                "removed from the cluster: its committed membership leaves this node out",
            ),
            Removed::Told { by } => {
                write!(f, "removed from the cluster: member node {by} says so")
            }
        }
    }
}

/// What this node learns about its own membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SelfEvent {
    /// The applied set of removed nodes changed; whether it holds this
    /// node.
    Applied {
        /// Whether this node is in it.
        removed: bool,
    },
    /// A member said this node was removed.
    Told {
        /// The member.
        by: NodeId,
    },
    /// A leader's append succeeded here: that leader counts this node a
    /// member (a leader replicates to members only).
    Replicated,
    /// Whether this node's own standing vouches that it is a member: it
    /// leads, or the last configuration of its effective membership
    /// names it a voter.
    Vouched {
        /// It does.
        vouched: bool,
    },
}

/// Whether this node was removed, from the events above. Pure: the
/// caller acts on each change it returns.
#[derive(Debug, Default)]
pub(super) struct SelfMembership {
    removed: Option<Removed>,
    /// Whether the applied removed set holds this node.
    applied: bool,
    /// Whether its own standing vouches that it is a member (see
    /// [`SelfEvent::Vouched`]).
    vouched: bool,
}

impl SelfMembership {
    /// Why this node is removed, if it is.
    pub(super) fn removed(&self) -> Option<Removed> {
        self.removed
    }

    /// Take `e`; `Some(now)` when whether the node is removed changed.
    pub(super) fn on(&mut self, e: SelfEvent) -> Option<Option<Removed>> {
        let before = self.removed;
        match e {
            // Only a change counts: the set changes again (other nodes
            // removed, entries replayed on a join) while it holds this
            // node, and a leader replicating to it since has the last say.
            SelfEvent::Applied { removed } => {
                if removed && !self.applied {
                    self.removed = Some(Removed::Applied);
                } else if !removed && self.applied && before == Some(Removed::Applied) {
                    self.removed = None;
                }
                self.applied = removed;
            }
            // The first why stays: the node acts once. A member's word
            // counts only when this node's own standing does not vouch
            // for it: a member that applied its removal and not yet its
            // join again (partitioned meanwhile) refuses its link as
            // removed, and took a leader out of the cluster so, or made a
            // follower flip at every dial (a review found both). A node
            // removed while it was away still names itself and keeps
            // campaigning, as before: the members refuse its calls.
            SelfEvent::Told { by } => {
                if !self.vouched {
                    self.removed = self.removed.or(Some(Removed::Told { by }));
                }
            }
            SelfEvent::Vouched { vouched } => {
                self.vouched = vouched;
                if vouched && matches!(before, Some(Removed::Told { .. })) {
                    self.removed = None;
                }
            }
            // A member that had not applied a join yet can tell a node
            // joined again that it was removed: the join's leader, which
            // replicates to it at every heartbeat, has the last say.
            SelfEvent::Replicated => self.removed = None,
        }
        (self.removed != before).then_some(self.removed)
    }
}

/// Keep the transport's members in step with the Raft membership (see
/// the module's text): every member is a transport peer (a node that
/// joined is in no configuration file), and a node that no membership
/// held here names any more is dropped, so it stops receiving state and
/// policy. So is every node the cluster removed (`removed`: applied from
/// the log and kept in the store), from the start: a node file that still
/// lists one does not bring it back after a restart. The transport's
/// `Down` for a dropped peer says it was removed, and the sync protocol
/// forgets it too. A removed node comes back only through `rampart
/// cluster join`, whose membership entry names it again (and takes it out
/// of `removed` once applied). Also feeds this node's own removal
/// ([`SelfEvent`]) to `node`.
pub(super) async fn follow_membership(
    raft: Raft,
    removed: watch::Receiver<BTreeSet<NodeId>>,
    applied: watch::Receiver<BTreeSet<NodeId>>,
    transport: Transport,
    node: Weak<Inner>,
    me: NodeId,
) {
    let mut rx = raft.metrics();
    let mut told = transport.removal_notices();
    told.mark_unchanged();
    let mut told = Some(told);
    // `None` once the state machine is gone (Raft stopping).
    let mut removed = Some(removed);
    let mut applied = Some(applied);
    // Every node a membership here named since it was last dropped.
    let mut seen: BTreeSet<NodeId> = BTreeSet::new();
    let mut last = None;
    let mut applied_changed = true;
    let mut vouched = None;
    loop {
        let (mem, leading) = {
            let m = rx.borrow_and_update();
            (m.membership_config.clone(), m.current_leader == Some(me))
        };
        let named = mem
            .membership()
            .get_joint_config()
            .last()
            .is_some_and(|voters| voters.contains(&me));
        if vouched != Some(leading || named) {
            vouched = Some(leading || named);
            if let Some(n) = PolicyRaft::from_weak(&node) {
                n.on_self_event(SelfEvent::Vouched {
                    vouched: leading || named,
                });
            }
        }
        let moved = last.as_ref() != Some(mem.log_id());
        if moved || applied_changed {
            last = Some(*mem.log_id());
            let now: BTreeMap<NodeId, MemberNode> = mem
                .membership()
                .nodes()
                .map(|(i, n)| (*i, n.clone()))
                .collect();
            if moved {
                for (id, node) in &now {
                    if *id != me {
                        ensure_peer(&transport, *id, node);
                    }
                }
            }
            let gone: BTreeSet<NodeId> = removed
                .as_mut()
                .map(|r| r.borrow_and_update().clone())
                .unwrap_or_default();
            let committed: BTreeSet<NodeId> = applied
                .as_mut()
                .map(|a| a.borrow_and_update().clone())
                .unwrap_or_default();
            seen.extend(now.keys());
            let dropped: Vec<NodeId> = seen
                .iter()
                .chain(&gone)
                .copied()
                .filter(|id| !now.contains_key(id) && !committed.contains(id))
                .collect();
            for id in dropped {
                seen.remove(&id);
                if id != me
                    && let Ok(id16) = u16::try_from(id)
                {
                    transport.remove_peer(id16);
                }
            }
            if applied_changed && let Some(n) = PolicyRaft::from_weak(&node) {
                n.on_self_event(SelfEvent::Applied {
                    removed: gone.contains(&me),
                });
            }
        }
        applied_changed = false;
        let removal = async {
            match removed.as_mut() {
                Some(r) => r.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let commit = async {
            match applied.as_mut() {
                Some(a) => a.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let notice = async {
            match told.as_mut() {
                Some(t) => t.changed().await.ok().map(|()| *t.borrow_and_update()),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = rx.changed() => {
                if r.is_err() {
                    // Not on a shutdown: `PolicyRaft::shutdown` ends this
                    // task before it stops the core.
                    let why = core_ended(&rx).unwrap_or_default();
                    tracing::error!(
                        "Raft's core has ended on this node ({why}): it takes no part in \
                         the cluster and applies no new policy until the node is restarted; \
                         the dataplane keeps forwarding on the policy in force"
                    );
                    return;
                }
            }
            alive = removal => {
                if alive {
                    applied_changed = true;
                } else {
                    removed = None;
                }
            }
            alive = commit => {
                if alive {
                    applied_changed = true;
                } else {
                    applied = None;
                }
            }
            n = notice => match n {
                None => told = None,
                Some(Some(RemovalNotice { by, .. })) => {
                    if let Some(node) = PolicyRaft::from_weak(&node) {
                        node.on_self_event(SelfEvent::Told { by: NodeId::from(by) });
                    }
                }
                Some(None) => {}
            },
        }
    }
}

// === a member's record ===

/// A node that can be a member: a transport id, a name its certificate
/// can carry (the transport checks it there), and an address its peers
/// can dial.
pub(super) fn check_node(id: NodeId, node: &MemberNode) -> Result<(), MembershipError> {
    let bad = |reason: String| Err(MembershipError::BadNode { id, reason });
    if let Some(reason) = member_id_problem(id) {
        return bad(reason);
    }
    if !crate::pki::valid_node_name(&node.name) {
        return bad(format!(
            "name {} is not a cluster node name: one DNS label of 1-63 A-Z a-z 0-9 -, not \
             starting or ending with -, and not 'rampart' (it is in the node's certificate)",
            shown(&node.name)
        ));
    }
    match node.address.parse::<std::net::SocketAddr>() {
        Err(_) => bad(format!("address {} is not ip:port", shown(&node.address))),
        Ok(a) if a.ip().is_unspecified() => bad(format!(
            "address {a} is a wildcard, which no peer can dial: give the address the node \
             listens on as its peers reach it"
        )),
        Ok(a) if a.port() == 0 => bad(format!("address {a} has port 0, which no peer can dial")),
        Ok(_) => Ok(()),
    }
}

/// Most characters of an operator's text shown back in an error.
const MAX_SHOWN_CHARS: usize = 64;

/// `text` quoted for an error, cut to [`MAX_SHOWN_CHARS`].
fn shown(text: &str) -> String {
    let cut: String = text.chars().take(MAX_SHOWN_CHARS).collect();
    let more = if cut.len() < text.len() { "..." } else { "" };
    format!("{cut:?}{more}")
}

/// Why a join of member `id` as `new` is refused when the membership
/// already holds `old` for it: openraft never replaces a node's record,
/// so a join naming another address would wait on the old one, and one
/// naming another name would leave the name the transport checks the
/// certificate against wrong, each timing out with no word of why.
pub(super) fn record_differs(id: NodeId, old: &MemberNode, new: &MemberNode) -> Option<String> {
    let what = if old.address != new.address {
        format!("at {}", old.address)
    } else if old.name != new.name {
        format!("named {}", old.name)
    } else {
        return None;
    };
    let asked = if old.address != new.address {
        format!("at {}", new.address)
    } else {
        format!("as {}", new.name)
    };
    Some(format!(
        "node {id} is already a member {what}: remove it first (rampart cluster remove --id \
         {id}) to join it {asked}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, address: &str) -> MemberNode {
        MemberNode {
            name: name.into(),
            address: address.into(),
        }
    }

    fn refused(name: &str, address: &str) -> String {
        match check_node(4, &node(name, address)) {
            Err(MembershipError::BadNode { id: 4, reason }) => reason,
            other => panic!("{name} {address}: {other:?}"),
        }
    }

    /// A join names an address its peers can dial and a name its
    /// certificate can carry; a wildcard or port 0 was taken, and the node
    /// never reached (a review's finding).
    #[test]
    fn a_join_needs_a_dialable_address_and_a_certificate_name() {
        assert!(check_node(4, &node("fw-4", "192.0.2.4:7000")).is_ok());
        assert!(check_node(4, &node("fw-4", "[2001:db8::4]:7000")).is_ok());
        assert!(refused("fw-4", "0.0.0.0:7000").contains("wildcard"));
        assert!(refused("fw-4", "[::]:7000").contains("wildcard"));
        assert!(refused("fw-4", "192.0.2.4:0").contains("port 0"));
        assert!(refused("fw-4", "fw-4:7000").contains("not ip:port"));
        for bad in ["fw.4", "-fw", "", "rampart", "node-4.rampart"] {
            assert!(refused(bad, "192.0.2.4:7000").contains("not a cluster node name"));
        }
        let long = refused(&"a".repeat(10_000), "192.0.2.4:7000");
        assert!(long.len() < 400, "{long}");
    }

    /// openraft never replaces a member's record: a join that differs
    /// from it in address or name is refused, saying which (a join with
    /// the right name after a wrong one was silently ignored).
    #[test]
    fn a_join_that_differs_from_the_members_record_is_refused() {
        let old = node("fw-x", "192.0.2.4:7000");
        assert_eq!(record_differs(4, &old, &old), None);
        let name = record_differs(4, &old, &node("fw-4", "192.0.2.4:7000"));
        assert_eq!(
            name.as_deref(),
            Some(
                "node 4 is already a member named fw-x: remove it first (rampart cluster remove \
                 --id 4) to join it as fw-4"
            )
        );
        let address = record_differs(4, &old, &node("fw-x", "192.0.2.5:7000"));
        assert!(
            address.is_some_and(|m| m.contains("at 192.0.2.4:7000") && m.contains("at 192.0.2.5"))
        );
    }

    fn run(events: &[SelfEvent]) -> (Vec<Option<Option<Removed>>>, Option<Removed>) {
        let mut s = SelfMembership::default();
        let changes = events.iter().map(|e| s.on(*e)).collect();
        (changes, s.removed())
    }

    const TOLD: SelfEvent = SelfEvent::Told { by: 3 };
    const IN: SelfEvent = SelfEvent::Applied { removed: true };
    const OUT: SelfEvent = SelfEvent::Applied { removed: false };

    #[test]
    fn a_member_saying_so_removes_a_node_until_a_leader_replicates_to_it() {
        let told = Some(Removed::Told { by: 3 });
        assert_eq!(
            run(&[SelfEvent::Replicated, TOLD, TOLD, SelfEvent::Replicated]),
            (vec![None, Some(told), None, Some(None)], None)
        );
        // A second member's word changes nothing: the node acted once.
        let (_, now) = run(&[TOLD, SelfEvent::Told { by: 1 }]);
        assert_eq!(now, told);
    }

    /// A member that applied this node's removal and not yet its join
    /// (partitioned meanwhile) refuses its link as removed: that word
    /// does not take out a node that leads, or whose own membership names
    /// it a voter, and a Told node that comes to lead is a member again.
    #[test]
    fn a_members_word_does_not_remove_a_node_its_own_standing_vouches_for() {
        const VOUCHED: SelfEvent = SelfEvent::Vouched { vouched: true };
        const NOT: SelfEvent = SelfEvent::Vouched { vouched: false };
        assert_eq!(run(&[VOUCHED, TOLD, TOLD]), (vec![None, None, None], None));
        let told = Some(Removed::Told { by: 3 });
        assert_eq!(
            run(&[VOUCHED, TOLD, NOT, TOLD, VOUCHED]),
            (vec![None, None, None, Some(told), Some(None)], None)
        );
        // Its applied removal is not a member's word: standing does not
        // undo it (a leader steps down when its removal commits).
        let applied = Some(Removed::Applied);
        assert_eq!(run(&[IN, VOUCHED]), (vec![Some(applied), None], applied));
    }

    #[test]
    fn the_applied_membership_removes_a_node_on_its_change_only() {
        let applied = Some(Removed::Applied);
        // Removed, then other changes while it is: one change.
        assert_eq!(
            run(&[OUT, IN, IN, OUT]),
            (vec![None, Some(applied), None, Some(None)], None)
        );
        // Joined again: the leader's append clears it, the join's apply
        // then changes nothing, and a replayed entry that still holds it
        // does not remove it again.
        assert_eq!(
            run(&[IN, SelfEvent::Replicated, IN, OUT]),
            (vec![Some(applied), Some(None), None, None], None)
        );
        // A member's word after the join applied removes it again (the
        // leader's next append clears that); the applied removal takes
        // over from a member's word, and the join's apply ends both.
        let told = Some(Removed::Told { by: 3 });
        assert_eq!(run(&[IN, OUT, TOLD]).1, told);
        assert_eq!(run(&[TOLD, IN, OUT]).1, None);
    }
}
