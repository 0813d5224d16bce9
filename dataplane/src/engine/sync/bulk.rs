//! Bulk sync: a node's table, or a peer's share of it, handed over a
//! chunk at a time between packet batches (docs/sync.md §6, §13).

use super::{Engine, FlowId, FlowState, Instant, PeerSet, Share};

impl Engine {
    /// Fill `out` with up to `max` live inspected flows for a bulk sync,
    /// starting at table slot `*cursor` and advancing it. Returns `true`
    /// when the whole table has been visited.
    pub fn bulk_chunk(
        &mut self,
        cursor: &mut usize,
        max: usize,
        now: Instant,
        out: &mut Vec<FlowState>,
    ) -> bool {
        self.bulk_chunk_of(cursor, max, now, out, None)
    }

    /// [`bulk_chunk`](Self::bulk_chunk) of a node's share of the table
    /// (a bulk it asked for). The node is remembered as one this node gave
    /// passive copies, so it hears of their flows' end.
    pub fn bulk_chunk_for(
        &mut self,
        cursor: &mut usize,
        max: usize,
        now: Instant,
        out: &mut Vec<FlowState>,
        share: &Share,
    ) -> bool {
        self.bulk_chunk_of(cursor, max, now, out, Some(share))
    }

    fn bulk_chunk_of(
        &mut self,
        cursor: &mut usize,
        max: usize,
        now: Instant,
        out: &mut Vec<FlowState>,
        share: Option<&Share>,
    ) -> bool {
        let slots = self.table.slot_count();
        while *cursor < slots && out.len() < max {
            let i = *cursor;
            *cursor += 1;
            let Some(entry) = self.table.try_get(FlowId(i as u32)) else {
                continue;
            };
            if self.is_expired(entry, now) {
                continue;
            }
            let Some(state) = self.flow_state(entry) else {
                continue;
            };
            let Some(share) = share else {
                out.push(state);
                continue;
            };
            let owner = entry.owner.0;
            let wanted = share.wants(&state);
            if wanted {
                out.push(state);
            }
            if let Some(s) = &mut self.sync
                && i < s.marks.len()
            {
                let mark = s.marks[i];
                // A node this node pushes the flow's changes to asked for
                // a bulk (it restarted, or lost a batch): the bulk makes
                // no copy whole, so its next event, made now, goes whole
                // to it again (else a backup or a path node left with a
                // passive copy, or none, stays counted whole here; the
                // simulator found idle flows so after a lost batch). A
                // passive copy here pushes nothing: it may lag.
                if !mark.passive
                    && mark
                        .peers
                        .union(mark.backups)
                        .union(PeerSet::of(owner))
                        .contains(share.node)
                {
                    self.sync_touch(FlowId(i as u32), true, now);
                } else if wanted {
                    s.marks[i].passive_peers.insert(share.node);
                }
            }
        }
        if let Some(s) = &mut self.sync {
            s.counters.bulk_flows_out = s.counters.bulk_flows_out.saturating_add(out.len() as u64);
        }
        *cursor >= slots
    }
}
