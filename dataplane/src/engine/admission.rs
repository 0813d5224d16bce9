//! Room for a new connection (docs/asa-behaviour.md §2.2): the table's
//! bound, where a new connection displaces a dead or unproven entry.
//!
//! It costs O(1) amortised per packet, however the table is filled:
//! victims come from the fronts of queues
//! ([`evict`](crate::conntrack::evict)), never from a walk of the table.

use super::Engine;
use crate::counters::RemoveReason;

impl Engine {
    /// The table is full (or not): make room for one more entry if it is,
    /// by evicting the entry
    /// [`ConnTable::displaceable`](crate::conntrack::ConnTable::displaceable)
    /// names (counted as `evicted`). Leaves the table full only when every
    /// entry is established, answered, half-closed or bypass.
    pub(super) fn make_room(&mut self) {
        if self.table.len() < self.config.max_conns {
            return;
        }
        if let Some(victim) = self.table.displaceable() {
            self.remove(victim, RemoveReason::Evicted);
        }
    }
}
