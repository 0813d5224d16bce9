//! The changes of a turn made into sync effects for the shell: deletes
//! first, then each changed flow's whole current state, to the peers its
//! placement names (docs/sync.md §13), a flow whose only other copies are
//! backups after `backup_delay`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use super::placed::targets;
use super::{
    ClassTable, Count48, Effect, Engine, Entry, EventKind, FlowId, Instant, Known, PeerSet,
    ProtoState, RemoveReason, SyncConfig, SyncEvent, SyncMark, SyncOut, bump, ended, flow_state_of,
};
use crate::conntrack::Timeouts;

/// How often peers hear at least of a flow that stays busy: a quarter of
/// its timeout, within [`SyncConfig::refresh_min`] and
/// [`SyncConfig::refresh_max`] (docs/sync.md §2).
pub(super) fn refresh_interval(
    config: &SyncConfig,
    timeouts: &Timeouts,
    classes: &ClassTable,
    entry: &Entry,
) -> Duration {
    let timeout = timeouts.for_entry(entry, &classes.get(entry.class).options);
    (timeout / 4).clamp(config.refresh_min, config.refresh_max)
}

/// Refreshes due at the end of their flow's refresh interval, earliest
/// first. An item whose flow left (or whose slot another flow took) is
/// skipped when it comes due; the queue is bounded, and a flow that finds
/// it full is refreshed as before, at its next packet past the interval.
#[derive(Debug, Default)]
pub(super) struct Trailing(BinaryHeap<Reverse<(Instant, u32)>>);

/// Most refreshes waiting in [`Trailing`].
const MAX_TRAILING: usize = 1 << 20;

impl Trailing {
    /// Queue a refresh of `id` at `due`; false when the queue is full.
    fn push(&mut self, due: Instant, id: FlowId) -> bool {
        if self.0.len() >= MAX_TRAILING {
            return false;
        }
        self.0.push(Reverse((due, id.0)));
        true
    }

    /// The earliest due time.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.0.peek().map(|Reverse((due, _))| *due)
    }

    /// The next flow due by `now`.
    fn pop_due(&mut self, now: Instant) -> Option<FlowId> {
        if self.next_due()? > now {
            return None;
        }
        self.0.pop().map(|Reverse((_, id))| FlowId(id))
    }
}

impl Engine {
    /// Note that a packet changed (or refreshed) an inspected entry.
    pub(crate) fn sync_touch(&mut self, id: FlowId, changed: bool, now: Instant) {
        let Some(sync) = &mut self.sync else {
            return;
        };
        let entry = self.table.get(id);
        if entry.proto == ProtoState::TcpBypass {
            return;
        }
        let mark = *sync.mark(id);
        if mark.pending {
            if changed {
                sync.mark(id).changed = true;
            }
            return;
        }
        if !changed {
            let interval =
                refresh_interval(&sync.config, &self.config.timeouts, &self.classes, entry);
            if now < mark.synced_at + interval {
                // Peers hear of it when the interval ends: otherwise a
                // peer's last-seen lags this node's by up to the interval,
                // and its copy idles out that much early (the owner's
                // too, which then resets a live connection).
                if !mark.trailing && sync.trailing.push(mark.synced_at + interval, id) {
                    sync.mark(id).trailing = true;
                }
                return;
            }
        }
        let mark = sync.mark(id);
        mark.pending = true;
        mark.changed |= changed;
        sync.dirty.push(id);
    }

    /// Note that an inspected entry left the table for a reason its peers
    /// must learn (docs/sync.md §2: not a timeout, which each node sees on
    /// its own; not room made here for a peer's flow, which leaves here only).
    pub(crate) fn sync_removed(&mut self, id: FlowId, entry: &Entry, reason: RemoveReason) {
        let Some(sync) = &mut self.sync else {
            return;
        };
        let mark = *sync.mark(id);
        let peers = Known {
            holders: mark.peers.union(PeerSet::of(entry.owner.0)),
            backups: mark.backups,
            passive_peers: mark.passive_peers,
        };
        let kept = match reason {
            RemoveReason::Timeout | RemoveReason::Peer | RemoveReason::Superseded => true,
            RemoveReason::Evicted | RemoveReason::EmbryonicLimit => entry.owner != self.config.node,
            _ => false,
        };
        if entry.proto == ProtoState::TcpBypass || kept {
            return;
        }
        // Delete wins for this node's own deletes too (docs/sync.md §3.2):
        // a peer's update sent before it heard of the delete (their
        // events cross) must not bring the connection back here, and
        // the peer, which then applies the delete, would not send it
        // again. A reopen leaves a newer incarnation of the tuple in the
        // table, which outranks any late change of the old one (§3.1; an
        // echo flow's is absorbed into it, §3.5): no tombstone is needed.
        // The removal's own time is not known here (`clear conn` is given
        // none): the latest the shell gave, at least the entry's last
        // packet.
        if reason != RemoveReason::Reopen {
            let at = sync.clock.max(entry.last_seen).as_nanos();
            if sync.tombstones.insert(entry.key, entry.incarnation(), at) {
                bump(&mut sync.counters.tombstones_evicted);
            }
        }
        sync.deletes.push((
            entry.key,
            entry.incarnation(),
            peers,
            reason == RemoveReason::Reopen,
        ));
    }

    /// May this node send the RSTs of `set connection timeout idle …
    /// reset` for `entry`, which idled out here? Only a node whose copy is
    /// known to be current: the owner, which hears of every change its
    /// peers make; or, once the owner has left the live members, a node
    /// the flow's packets crossed. A backup or the director may lag
    /// behind the flow (a passive copy hears only of its refreshes), and
    /// its RSTs, built from its stale state, could be exact for one end
    /// and end a live connection (docs/sync.md §2).
    pub(crate) fn may_reset_on_idle(&self, entry: &Entry) -> bool {
        let Some(sync) = &self.sync else {
            return true;
        };
        if entry.owner == self.config.node {
            return true;
        }
        let owner_live = match &sync.placement {
            Some(p) => p.members().contains(&entry.owner.0),
            None => sync.active(),
        };
        !owner_live && entry.packets != [Count48::default(); 2]
    }

    /// Whether this node probes `entry`: the node that would send the idle
    /// RSTs, whose copy is current (docs/sync.md §2), for dead connection detection; or, once the owner
    /// has left the members and no live node may know the flow crossed
    /// it (an idle connection sends nothing), its director. A probe built
    /// from a copy that lags is still one below what the end expects, so
    /// the end answers it alike; only the RSTs of a dead verdict wait for
    /// a current copy (`Engine::reset_on_idle`).
    pub(crate) fn may_probe(&self, entry: &Entry) -> bool {
        if self.may_reset_on_idle(entry) {
            return true;
        }
        let Some(sync) = &self.sync else {
            return true;
        };
        match &sync.placement {
            Some(p) => {
                !p.members().contains(&entry.owner.0)
                    && p.director(&entry.key) == Some(self.config.node.0)
            }
            None => !sync.active(),
        }
    }

    /// Make the changes since the last call into effects for the shell,
    /// the whole current state per flow (many packets of one flow between
    /// two drains make one event), deletes first.
    pub(super) fn collect_sync_effects(&mut self, now: Instant) {
        let Engine {
            sync: Some(sync),
            table,
            classes,
            ..
        } = self
        else {
            return;
        };
        let me = self.config.node.0;
        for (key, inc, peers, reopened) in sync.deletes.drain(..) {
            let (full, passive, _) = targets(
                sync.placement.as_ref(),
                me,
                &key,
                peers.holders,
                peers.backups,
                true,
            );
            let mut passive = passive.union(peers.passive_peers).minus(full);
            let mut full = full;
            // A connection reopened on the tuple: the peers its insert
            // reaches replace their copy of the old one with it (a newer
            // incarnation supersedes), so only the others need the delete.
            if reopened
                && let Some(p) = sync.placement.as_ref()
                && let Some(id) = table.find(table.hash(&key), &key)
                && let new = table.get(id)
                && new.proto != ProtoState::TcpBypass
                && new.incarnation() > inc
            {
                let (to, to_passive, _) =
                    targets(Some(p), me, &key, PeerSet::of(me), PeerSet::EMPTY, true);
                let covered = to.union(to_passive);
                full = full.minus(covered);
                passive = passive.minus(covered);
                if full.is_empty() && passive.is_empty() {
                    bump(&mut sync.counters.deletes_superseded);
                    continue;
                }
            }
            bump(&mut sync.counters.events_out[EventKind::Delete as usize]);
            sync.out.push_back(Effect::FlowDeleted {
                key,
                inc,
                peers: full,
                passive,
            });
        }
        while let Some(id) = sync.trailing.pop_due(now) {
            let mark = sync.mark(id);
            if !std::mem::take(&mut mark.trailing) || mark.pending {
                continue;
            }
            let synced_at = mark.synced_at;
            // A packet judged in the instant the entry was synced (a held
            // packet released by a pull's answer) is news to the peers too:
            // the state they hold was sent before it.
            if table.try_get(id).is_some_and(|e| e.last_seen >= synced_at) {
                let mark = sync.mark(id);
                mark.pending = true;
                sync.dirty.push(id);
            }
        }
        while let Some(&(due, id)) = sync.later.front() {
            if due > now {
                break;
            }
            sync.later.pop_front();
            sync.dirty.push(id);
        }
        let delay = sync.config.backup_delay;
        let mut dirty = std::mem::take(&mut sync.dirty);
        for id in dirty.drain(..) {
            let Some(entry) = table.try_get(id) else {
                continue;
            };
            let mark = *sync.mark(id);
            if !mark.pending {
                continue;
            }
            let Some(state) = flow_state_of(entry, table, classes) else {
                continue;
            };
            let kind = if mark.synced_at == Instant::ZERO {
                EventKind::Insert
            } else if mark.changed {
                EventKind::Update
            } else {
                EventKind::Refresh
            };
            let want_ack = sync.defer.waits_for(&state.key, &state.inc);
            if !mark.delayed && kind != EventKind::Insert && !want_ack && !delay.is_zero() {
                // Only backups besides this node: they can wait.
                let mut on_path = mark.peers.union(PeerSet::of(entry.owner.0));
                on_path.remove(me);
                if on_path.is_empty() && !mark.passive {
                    sync.mark(id).delayed = true;
                    sync.later.push_back((now + delay, id));
                    continue;
                }
            }
            let ended = entry.tcp_state().is_some_and(ended);
            // Passive copies hear of inserts, refreshes and the end, and of
            // an update when they have heard nothing for a refresh
            // interval: a flow whose every packet changes its state (any
            // data) makes only updates, and the director's copy would
            // otherwise idle out under it.
            let interval = refresh_interval(&sync.config, &self.config.timeouts, classes, entry);
            let director = kind != EventKind::Update || ended || now >= mark.passive_at + interval;
            let (full, mut passive, backups) = targets(
                sync.placement.as_ref(),
                me,
                &state.key,
                mark.peers.union(PeerSet::of(entry.owner.0)),
                mark.backups,
                director,
            );
            let passive_peers = mark.passive_peers.union(passive).minus(full);
            if director {
                passive = passive_peers;
            }
            *sync.mark(id) = SyncMark {
                synced_at: now.max(Instant::from_nanos(1)),
                passive_at: if director { now } else { mark.passive_at },
                pending: false,
                changed: false,
                delayed: false,
                backups,
                passive_peers,
                ..mark
            };
            bump(&mut sync.counters.events_out[kind as usize]);
            sync.out.push_back(Effect::FlowChanged(SyncOut {
                event: SyncEvent::Upsert(state),
                kind,
                want_ack,
                full,
                passive,
            }));
        }
        // Keep the allocation for the next turn.
        sync.dirty = dirty;
    }
}
