//! Bulk sync: a node's table, or a peer's share of it, handed over a
//! chunk at a time between packet batches (docs/sync.md §6, §13).

use super::{Engine, FlowId, FlowState, Instant, PeerSet, Share};

impl Engine {
    /// Add to `out` the live inspected flows of up to `max` table slots
    /// for a bulk sync, starting at slot `*cursor` and advancing it past
    /// them. Returns `true` when the whole table has been visited. The
    /// bound is on slots visited, not flows found, as in
    /// [`rebalance_chunk`](Self::rebalance_chunk): a share that wants
    /// almost nothing would otherwise walk the whole table in one call, on
    /// the packet thread (docs/sync.md §6).
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
        let end = cursor.saturating_add(max).min(slots);
        let before = out.len();
        while *cursor < end {
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
            s.counters.bulk_flows_out = s
                .counters
                .bulk_flows_out
                .saturating_add((out.len() - before) as u64);
        }
        *cursor >= slots
    }
}

#[cfg(test)]
mod tests {
    use crate::conntrack::NodeId;
    use crate::engine::sync::SyncConfig;
    use crate::packet::PacketMeta;
    use crate::placement::{Placement, Share};
    use crate::trace::{Host, udp_frame};
    use crate::{Engine, EngineConfig, IfaceId, Instant};

    const T0: Instant = Instant::from_secs(1_700_000_000);

    fn engine_with(flows: u16) -> Engine {
        let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
        cfg.sync = Some(SyncConfig::default());
        let mut e = Engine::new(cfg).expect("valid config");
        e.set_ready(true);
        let host = |ip: [u8; 4], port, iface| Host {
            mac: [2, 0, 0, 0, 0, iface + 1],
            ip: ip.into(),
            port,
            iface: IfaceId(iface),
        };
        let server = host([198, 18, 200, 1], 53, 1);
        for i in 0..flows {
            let client = host([198, 18, 1, 1], 10_000 + i, 0);
            let mut f = udp_frame(&client, &server, b"q");
            e.process(&mut f, PacketMeta::default(), IfaceId(0), T0);
        }
        while e.poll_effect(T0).is_some() {}
        e
    }

    /// A bulk request naming thousands of members made a share that wants
    /// (almost) none of this node's flows, and one call, bounded by flows
    /// found, walked the whole table on the packet thread. A call now
    /// visits at most `max` slots whatever the share, and the walk still
    /// ends with every flow the share wants.
    #[test]
    fn one_call_visits_at_most_max_slots_whatever_the_share() {
        let mut e = engine_with(2000);
        let wants_nothing = Share {
            placement: Placement::new(0..8192u16, 1),
            node: 2,
        };
        let mut cursor = 0;
        let mut out = Vec::new();
        let last = e.bulk_chunk_for(&mut cursor, 64, T0, &mut out, &wants_nothing);
        assert!(!last, "a table of 2,000 flows is not walked in one call");
        assert!(cursor <= 64, "visited {cursor} slots");

        let whole = Share {
            placement: Placement::new([1, 2], 2),
            node: 2,
        };
        let (mut cursor, mut calls) = (0, 0);
        let mut out = Vec::new();
        while !e.bulk_chunk_for(&mut cursor, 64, T0, &mut out, &whole) {
            calls += 1;
            assert!(calls < 1_000_000, "the walk ends");
        }
        assert_eq!(out.len(), 2000, "every flow, across the calls");
    }
}
