//! Room for a new connection (docs/asa-behaviour.md §2.2): the class
//! limits, where a half-open connection at a half-open limit replaces the
//! oldest half-open one; the table's bound, where a new connection
//! displaces a dead or unproven entry; and, before either refuses, entries
//! already past their timeout that still count because the sweep has not
//! reached them.
//!
//! Every step costs O(1) amortised per packet, however the table is
//! filled: victims come from the fronts of queues
//! ([`evict`](crate::conntrack::evict)), never from a walk of the table.

use super::Engine;
use super::classes::{Admission, HalfOpenOf, SlotId};
use crate::conntrack::evict::Evictable;
use crate::conntrack::{ConnTable, FlowId};
use crate::counters::RemoveReason;
use crate::flow::Host;
use crate::time::Instant;
use crate::verdict::DropReason;

/// Expired entries one new connection removes from the fronts of the
/// eviction queues before a limit or a full table would refuse it; the
/// sweep removes the rest. Bounds the work of one packet after a quiet
/// spell has let many entries expire unswept.
pub const RECLAIM_BUDGET: usize = 64;

impl Engine {
    /// Admit a new connection of `client` into `class` at `now`, making
    /// room within the class's limits as [`ClassTable::admit`] says, or
    /// refuse it (counted against the class).
    ///
    /// [`ClassTable::admit`]: super::classes::ClassTable::admit
    pub(super) fn admit(
        &mut self,
        class: SlotId,
        client: Host,
        embryonic: bool,
        now: Instant,
    ) -> Result<(), DropReason> {
        let mut admission = self.classes.admit(class, client, embryonic);
        if admission != Admission::Admit && self.reclaim_expired(Some((class, client)), now) > 0 {
            admission = self.classes.admit(class, client, embryonic);
        }
        let refused = match admission {
            Admission::Admit => return Ok(()),
            Admission::Replace(of) => match self.oldest_half_open(class, client, of) {
                Some(victim) => {
                    self.remove(victim, RemoveReason::EmbryonicLimit);
                    return Ok(());
                }
                // Unreachable while the counts match the table: a count at
                // its limit has half-open entries behind it.
                None => of.limit(),
            },
            Admission::Refuse(reason) => reason,
        };
        self.classes.refused(class);
        Err(refused)
    }

    /// The table is full (or not): make room for one more entry if it is,
    /// by removing an expired entry from a queue's front, else by evicting
    /// the entry [`ConnTable::displaceable`] names (counted as
    /// `evicted`). Leaves the table full only when every entry is
    /// established, answered, half-closed or bypass, and unexpired at the
    /// fronts.
    pub(super) fn make_room(&mut self, now: Instant) {
        if self.table.len() < self.config.max_conns {
            return;
        }
        self.reclaim_expired(None, now);
        if self.table.len() < self.config.max_conns {
            return;
        }
        if let Some(victim) = self.table.displaceable() {
            self.remove(victim, RemoveReason::Evicted);
        }
    }

    /// Remove entries already past their timeout from the fronts of the
    /// eviction queues (first the half-open queues of `of`, a class and a
    /// client, whose counts a class limit reads), at most
    /// [`RECLAIM_BUDGET`] of them. An expired entry is invisible to
    /// lookups but counts against every limit until it leaves; a queue's
    /// front is its oldest entry, and its kind's timeout is the same for
    /// every entry of a class, so the expired ones are mostly found there.
    /// Returns how many were removed.
    fn reclaim_expired(&mut self, of: Option<(SlotId, Host)>, now: Instant) -> usize {
        let mut removed = 0;
        if let Some((class, client)) = of {
            for q in [HalfOpenOf::Client, HalfOpenOf::Class] {
                while removed < RECLAIM_BUDGET
                    && let Some(flow) = self.oldest_half_open(class, client, q)
                    && self.is_expired(self.table.get(flow), now)
                {
                    self.remove(flow, RemoveReason::Timeout);
                    removed += 1;
                }
            }
        }
        for q in Evictable::ALL {
            while removed < RECLAIM_BUDGET
                && let Some(flow) = self.table.oldest(q)
                && self.is_expired(self.table.get(flow), now)
            {
                self.remove(flow, RemoveReason::Timeout);
                removed += 1;
            }
        }
        removed
    }

    /// The oldest half-open connection of `class`, or of `client` in it.
    fn oldest_half_open(&mut self, class: SlotId, client: Host, of: HalfOpenOf) -> Option<FlowId> {
        let table = &self.table;
        let client_of = (of == HalfOpenOf::Client).then_some(client);
        self.classes
            .oldest_half_open(class, client, of, |slot, flow, id| {
                half_open_in(table, flow, id, slot, client_of)
            })
    }

    /// Queue a half-open entry just created (or learned from a peer) in its
    /// class's and client's half-open queues, after
    /// [`ClassTable::opened`](super::classes::ClassTable::opened).
    pub(super) fn note_half_open(&mut self, flow: FlowId) {
        let e = self.table.get(flow);
        let (class, client, id) = (e.class, e.initiator_host(), e.id);
        let table = &self.table;
        self.classes
            .note_half_open(class, client, flow, id, |f, i| {
                half_open_in(table, f, i, class, None)
            });
    }
}

/// Whether slot `flow` still holds connection `id`, half-open, in class
/// `class` (and opened by `client`, if given).
fn half_open_in(
    table: &ConnTable,
    flow: FlowId,
    id: u32,
    class: SlotId,
    client: Option<Host>,
) -> bool {
    table.try_get(flow).is_some_and(|e| {
        e.id == id
            && e.class == class
            && e.tcp_state().is_some_and(|s| s.is_embryonic())
            && client.is_none_or(|c| e.initiator_host() == c)
    })
}
