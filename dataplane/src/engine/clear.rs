//! `clear conn`: whole, or slot range by slot range, so that a caller can
//! spread a clear of a large table over several jobs between packet
//! batches, as `show conn` walks it (SECURITY.md, "Limits").

use std::ops::Range;

use super::Engine;
use crate::conntrack::{Entry, FlowId};
use crate::counters::RemoveReason;

impl Engine {
    /// `clear conn`: remove every connection for which `matches` holds, as
    /// the ASA does (no RST is sent; later packets of a cleared TCP
    /// connection meet `tcp-not-syn` unless their class is bypass).
    /// Returns how many were removed.
    pub fn clear_conns(&mut self, matches: impl FnMut(&Entry) -> bool) -> usize {
        self.clear_conns_in(0..self.table.slot_count(), matches)
    }

    /// [`clear_conns`](Self::clear_conns) over the table slots `slots`
    /// only (the table's slots, live or free, as
    /// `ConnTable::slot_count` counts them; a range past the end is cut).
    /// An entry never moves to another slot, so the slices of one walk
    /// visit each entry that stays in the table once.
    pub fn clear_conns_in(
        &mut self,
        slots: Range<usize>,
        mut matches: impl FnMut(&Entry) -> bool,
    ) -> usize {
        let end = slots.end.min(self.table.slot_count());
        let ids: Vec<FlowId> = (slots.start.min(end)..end)
            .filter_map(|i| u32::try_from(i).ok().map(FlowId))
            .filter(|&id| self.table.try_get(id).is_some_and(&mut matches))
            .collect();
        for &id in &ids {
            self.remove(id, RemoveReason::Cleared);
        }
        ids.len()
    }
}
