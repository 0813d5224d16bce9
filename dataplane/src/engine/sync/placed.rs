//! Placement beyond a pair (docs/sync.md §13): which peers an event goes
//! to, whole or passive; the holders each entry remembers; pulls made,
//! answered and waiting; and the walk that re-replicates flows when the
//! live members change.

use super::{AnswerCopy, Applied, Confirm, Incarnation, PullOut, Source, SyncEvent, SyncOut, bump};
use super::{
    Effect, Engine, EventKind, FlowId, FlowKey, FlowState, Instant, Known, PeerSet, Placement,
    SyncMark,
};

/// The peers an event of flow `key` goes to (docs/sync.md §13), from this
/// node `me`, the flow's `holders` (its owner and the peers on its path)
/// and the `backups` chosen before: whole copies for the holders and as
/// many backups as bring the nodes holding the flow to `copies`; passive
/// copies for the director when `director` (the event is one it must
/// hear of) and for backups no longer needed. Returns the whole-copy
/// peers, the passive ones, and the backups to remember. A node alone, or
/// one not told the placement, keeps every holder and backup it knew.
pub(super) fn targets(
    placement: Option<&Placement>,
    me: u16,
    key: &FlowKey,
    holders: PeerSet,
    backups: PeerSet,
    director: bool,
) -> (PeerSet, PeerSet, PeerSet) {
    let mut holders = holders;
    holders.remove(me);
    let Some(p) = placement else {
        return (holders.union(backups), PeerSet::EMPTY, backups);
    };
    let live = p.members();
    let live_holders = live
        .iter()
        .filter(|&&n| n != me && holders.contains(n))
        .count();
    let mut need = p.copies().saturating_sub(1 + live_holders);
    let mut kept = PeerSet::EMPTY;
    let mut passive = PeerSet::EMPTY;
    let ranked = p.ranked(key);
    // Backups chosen before stay while needed, in rank order; new ones
    // follow the ranking.
    for pass in [true, false] {
        for &n in &ranked {
            if need == 0 {
                break;
            }
            if n == me || holders.contains(n) || kept.contains(n) {
                continue;
            }
            if !pass || backups.contains(n) {
                kept.insert(n);
                need -= 1;
            }
        }
    }
    // A backup no longer needed (or down) hears so: its copy goes passive.
    // One that is down hears it when it is back (the event waits in its
    // stream), with the flow's end: a change it got before going down
    // left it a whole copy that nobody would update (the simulator found a
    // backup cut off mid-close holding the connection open for good).
    passive = passive.union(backups.minus(kept).minus(holders));
    if director
        && let Some(&d) = ranked.first()
        && d != me
        && !holders.contains(d)
        && !kept.contains(d)
    {
        passive.insert(d);
    }
    (holders.union(kept), passive, kept)
}

/// Pulls in a row for a flow this node has no entry for (its director,
/// then every member) before it waits a hold deadline for their parked
/// pulls to answer (docs/sync.md §13).
const BLIND_PULLS: u8 = 2;

impl Engine {
    /// Note where this node's copy of `key` (incarnation `inc`, if it
    /// holds that one; `fresh` when the event just made it) came from: a
    /// peer on the flow's path, and whether the copy is passive now.
    /// Returns whether a passive copy was made whole.
    pub(super) fn note_source(
        &mut self,
        key: &FlowKey,
        inc: &Incarnation,
        source: Source,
        fresh: bool,
    ) -> bool {
        let hash = self.table.hash(key);
        let Some(id) = self.table.find(hash, key) else {
            return false;
        };
        if self.table.get(id).incarnation() != *inc {
            return false;
        }
        let mark = self.sync_mut().mark(id);
        let was_passive = mark.passive;
        mark.passive = if fresh || source.demote || !source.passive {
            source.passive || source.demote
        } else {
            was_passive
        };
        let passive_now = mark.passive;
        // A holder's change, or a path node's answer (it adds this node to
        // the flow's path): the sender pushes this node the changes from
        // now on. A passive copy is pushed nothing but the end.
        if passive_now {
            mark.pushed = false;
        } else if source.from.is_some() {
            mark.pushed = true;
        }
        if let Some(peer) = source.passive_at
            && !mark.peers.contains(peer)
        {
            mark.passive_peers.insert(peer);
        }
        let mut more = source.holders;
        if let Some(peer) = source.from {
            more.insert(peer);
        }
        self.add_holders(id, more);
        was_passive && !passive_now
    }

    /// A peer's demote of incarnation `inc` of `key`: the sender will no
    /// longer keep this node's copy up to date, so it turns passive as it
    /// stands (the sender is on the flow's path).
    pub(super) fn apply_demote(
        &mut self,
        key: &FlowKey,
        inc: &Incarnation,
        source: Source,
    ) -> Applied {
        let hash = self.table.hash(key);
        let Some(id) = self.table.find(hash, key) else {
            return Applied::Stale;
        };
        if self.table.get(id).incarnation() != *inc {
            return Applied::Stale;
        }
        let demote = Source {
            passive: true,
            demote: true,
            ..source
        };
        self.note_source(key, inc, demote, false);
        Applied::Demoted
    }

    /// Entry `id` has new holders: backups it no longer needs hear so at
    /// once, with a demote (they would otherwise keep a whole copy that
    /// the new holders' changes never reach). A demote, not the state: a
    /// passive copy may lag behind, as the director's does.
    pub(super) fn demote_backups(&mut self, id: FlowId) {
        let me = self.config.node.0;
        let entry = *self.table.get(id);
        if self.flow_state(&entry).is_none() {
            return;
        }
        let sync = self.sync_mut();
        let mark = *sync.mark(id);
        let (_, _, kept) = targets(
            sync.placement.as_ref(),
            me,
            &entry.key,
            mark.peers.union(PeerSet::of(entry.owner.0)),
            mark.backups,
            false,
        );
        // A backup that is now on the flow's path stays whole.
        let demoted = mark.backups.minus(kept).minus(mark.peers);
        if demoted.is_empty() {
            if mark.backups != kept {
                sync.mark(id).backups = kept;
            }
            return;
        }
        let m = sync.mark(id);
        m.backups = kept;
        m.passive_peers = m.passive_peers.union(demoted);
        bump(&mut sync.counters.events_out[EventKind::Update as usize]);
        sync.out.push_back(Effect::FlowChanged(SyncOut {
            event: SyncEvent::Demote {
                key: entry.key,
                inc: entry.incarnation(),
            },
            kind: EventKind::Update,
            want_ack: false,
            full: PeerSet::EMPTY,
            passive: demoted,
        }));
    }

    /// A peer's event ended the connection of entry `id`: the peers this
    /// node gave a passive copy, and the backups it chose, hear of it from
    /// here (the node that saw the end does not know them), so their copies
    /// do not outlive it. (A backup chosen while the peer on the path was
    /// away, and kept because this node made no change of its own since it
    /// came back, held the connection whole and open for good: the
    /// simulator found it.) So do the other holders this node knows of
    /// besides the sender `from`: the sender sent them its end too, unless
    /// it cannot reach them (two nodes on a flow's path cut off from each
    /// other, both syncing through this one); with two holders there is
    /// none, and a passive copy relays nothing.
    pub(super) fn tell_passive_peers(&mut self, id: FlowId, state: FlowState, from: Option<u16>) {
        let me = self.config.node.0;
        let owner = self.table.get(id).owner.0;
        let sync = self.sync_mut();
        let mark = *sync.mark(id);
        // Only a whole copy relays: a passive one (the director's) hears
        // from every holder anyway, and its holders list may be stale.
        let mut full = if mark.passive {
            PeerSet::EMPTY
        } else {
            mark.peers.union(PeerSet::of(owner))
        };
        full.remove(me);
        if let Some(from) = from {
            full.remove(from);
        }
        let passive = mark
            .passive_peers
            .union(mark.backups)
            .minus(mark.peers)
            .minus(full);
        if passive.is_empty() && full.is_empty() {
            return;
        }
        bump(&mut sync.counters.events_out[EventKind::Update as usize]);
        sync.out.push_back(Effect::FlowChanged(SyncOut {
            event: SyncEvent::Upsert(state),
            kind: EventKind::Update,
            want_ack: false,
            full,
            passive,
        }));
    }

    /// How this node stands toward `peer` on incarnation `inc` of `key`,
    /// from one lookup: whether the peer is new to the flow here (neither
    /// its owner nor among the holders this node sends its changes to;
    /// always so without an entry, and while this node holds a newer
    /// incarnation: it may be told to delete its own, see
    /// [`answer_newcomer`](Self::answer_newcomer)), and whether this node's last word
    /// to the peer gave it a passive copy (a director's, a backup demoted
    /// or dropped while down) and nothing whole went to it since.
    pub(super) fn peer_standing(
        &self,
        key: &FlowKey,
        inc: &Incarnation,
        peer: u16,
    ) -> (bool, bool) {
        let hash = self.table.hash(key);
        let Some(id) = self.table.find(hash, key) else {
            return (true, false);
        };
        let entry = self.table.get(id);
        if entry.incarnation() != *inc {
            // A change to an older incarnation than the one held here: the
            // peer may keep a connection this tuple's newer one ended.
            return (entry.incarnation() > *inc, false);
        }
        let mark = self.mark_of(id);
        (
            entry.owner.0 != peer && !mark.peers.contains(peer),
            mark.passive_peers.contains(peer),
        )
    }

    fn mark_of(&self, id: FlowId) -> SyncMark {
        self.sync
            .as_ref()
            .and_then(|s| s.marks.get(id.0 as usize))
            .copied()
            .unwrap_or_default()
    }

    /// A peer this node did not know on a flow's path sent a change that
    /// is behind this node's state (messages crossed while the two did
    /// not know of each other, e.g. across a partition): it hears the
    /// state (it is a holder now), or, if the connection is gone here,
    /// its delete. So it does, whether behind or not, when this node had
    /// `told_passive` the peer: this node's passive event and the peer's
    /// whole change may have crossed (a backup that lost its link to the
    /// owner sends its copy on as the owner drops it, and each takes the
    /// other's message), leaving the peer a passive copy that this node
    /// now counts whole. The simulator found idle UDP flows held whole by
    /// one node after such a link reset. A peer that sends a change to a
    /// surely older incarnation than the one held here ([`surely_newer`])
    /// hears that incarnation's delete (docs/sync.md §13, "Holders that
    /// cannot reach each other").
    pub(super) fn answer_newcomer(
        &mut self,
        theirs: &FlowState,
        peer: u16,
        told_passive: bool,
        now: Instant,
    ) {
        let hash = self.table.hash(&theirs.key);
        match self.table.find(hash, &theirs.key) {
            Some(id) if self.table.get(id).incarnation() == theirs.inc => {
                let Some(ours) = self.flow_state(self.table.get(id)) else {
                    return;
                };
                let mut joined = *theirs;
                joined.join(&ours);
                // (The peer's whole change just made this copy whole, so
                // it may push.)
                if told_passive || joined.proto != theirs.proto || joined.flags != theirs.flags {
                    self.sync_touch(id, true, now);
                }
            }
            // The peer keeps a connection a newer one ended here.
            Some(id) if surely_newer(&self.table.get(id).incarnation(), &theirs.inc) => {
                self.tell_delete(theirs, peer);
            }
            Some(_) => {}
            None => {
                if self.sync_mut().tombstones.buries(&theirs.key, &theirs.inc) {
                    self.tell_delete(theirs, peer);
                }
            }
        }
    }

    /// Send `peer` the delete of `theirs`' incarnation (the director,
    /// if another node, hears it too, as of any delete).
    fn tell_delete(&mut self, theirs: &FlowState, peer: u16) {
        self.sync_mut().deletes.push((
            theirs.key,
            theirs.inc,
            Known {
                holders: PeerSet::of(peer),
                backups: PeerSet::EMPTY,
                passive_peers: PeerSet::EMPTY,
            },
            false,
        ));
    }

    /// This node's whole copy of incarnation `inc` of `key` came from a
    /// backup: its holders hear of this node with its next event, which
    /// goes as a change (merged with what its waiting packets change).
    pub(super) fn announce(&mut self, key: &FlowKey, inc: &Incarnation, now: Instant) {
        let hash = self.table.hash(key);
        let Some(id) = self.table.find(hash, key) else {
            return;
        };
        if self.table.get(id).incarnation() != *inc || self.passive_copy(id) {
            return;
        }
        self.sync_touch(id, true, now);
    }

    /// Answer a peer's pull for `key`: the state if this node holds the
    /// flow; otherwise the pull waits here until the state arrives or as
    /// long as the asking node holds its packets (the hold deadline), and
    /// the shell hears of the miss.
    ///
    /// `answered` is the digest of the state the node that passed the pull
    /// on answered with: when this node is on the flow's path and its
    /// state has that digest, the answer is a brief [`Confirm`].
    pub fn serve_pull(
        &mut self,
        key: &FlowKey,
        peer: u16,
        forwardable: bool,
        answered: Option<u64>,
        now: Instant,
    ) {
        if self.sync.is_none() {
            return;
        }
        let hash = self.table.hash(key);
        if let Some(id) = self.lookup(hash, key, now)
            && let Some(state) = self.flow_state(self.table.get(id))
        {
            // A peer wants the flow because a packet of it crossed there:
            // for dead connection detection, the answer of the end probed.
            self.dcd_heard(id);
            let entry = self.table.get(id);
            let owner = entry.owner.0;
            let forwarded = entry.packets != [0, 0];
            let me = self.config.node.0;
            let sync = self.sync_mut();
            let copy = sync.mark(id).answer_copy(forwarded);
            let on_path = copy == AnswerCopy::Path;
            let holders = sync.mark(id).peers.union(PeerSet::of(owner));
            bump(&mut sync.counters.pulls_answered);
            let same = answered.is_some_and(|d| d == state.digest());
            if on_path && same {
                let mut others = holders;
                others.remove(peer);
                others.remove(me);
                bump(&mut sync.counters.pulls_confirmed);
                sync.out.push_back(Effect::Pull(PullOut::Confirm {
                    to: peer,
                    confirm: Confirm {
                        key: state.key,
                        inc: state.inc,
                        digest: state.digest(),
                        last_seen_ns: state.last_seen_ns,
                        holders: others,
                    },
                }));
            } else {
                sync.out.push_back(Effect::Pull(PullOut::Answer {
                    to: peer,
                    state,
                    copy,
                    holders,
                    forwardable,
                }));
            }
            // A whole answer: a passive copy this node gave the peer
            // earlier is whole again (its whole change that may follow is
            // no crossing, see `peer_standing`).
            if copy != AnswerCopy::Passive {
                self.sync_mut().mark(id).passive_peers.remove(peer);
            }
            // It pulled because its packets needed the state: it is on the
            // flow's path, so this node's changes go there too.
            if on_path {
                self.add_holders(id, PeerSet::of(peer));
            }
            return;
        }
        let sync = self.sync_mut();
        let deadline = now + sync.config.hold_deadline;
        bump(&mut sync.counters.pulls_missed);
        if sync.parked_count >= sync.config.pull_park_max {
            bump(&mut sync.counters.pulls_park_overflow);
            return;
        }
        let waiting = sync.parked.entry(*key).or_default();
        if waiting.iter().any(|(p, _)| *p == peer) {
            return;
        }
        waiting.push((peer, deadline));
        sync.parked_count += 1;
        sync.out.push_back(Effect::Pull(PullOut::Miss {
            to: peer,
            key: *key,
            forwardable,
        }));
    }

    /// A brief answer from `from`, a node on the flow's path: when this
    /// node's copy is the incarnation and has the digest it names, the
    /// copy is as good as the sender's state and is taken as its answer
    /// (made whole, its waiting packets judged). Otherwise (the copy
    /// another node answered with has not arrived, or differs) the state
    /// is pulled from `from` alone, at once.
    pub fn apply_confirm(&mut self, c: &Confirm, from: u16, now: Instant) {
        if self.sync.is_none() {
            return;
        }
        let hash = self.table.hash(&c.key);
        let copy = self
            .lookup(hash, &c.key, now)
            .and_then(|id| self.flow_state(self.table.get(id)))
            .filter(|s| s.inc == c.inc && s.digest() == c.digest);
        if let Some(mut state) = copy {
            state.last_seen_ns = state.last_seen_ns.max(c.last_seen_ns);
            // The sender's own state, in all but the last-seen it brought.
            let _ = self.apply_peer(
                &SyncEvent::Upsert(state),
                Source::answer(from, AnswerCopy::Path, c.holders),
                now,
            );
            return;
        }
        let sync = self.sync_mut();
        bump(&mut sync.counters.confirms_missed);
        if !sync.hold.holds(&c.key) {
            return;
        }
        let rounds = sync.pulled.get(&c.key).map_or(0, |p| p.rounds);
        sync.pulled.set(
            c.key,
            now + sync.config.pull_retry,
            rounds.saturating_add(1),
            0,
        );
        bump(&mut sync.counters.pulls_sent);
        sync.out.push_back(Effect::Pull(PullOut::Want {
            key: c.key,
            ask: PeerSet::of(from),
            director: false,
        }));
    }

    /// The state of `key` arrived: answer the peers whose pulls waited.
    pub(super) fn answer_parked(&mut self, key: &FlowKey, now: Instant) {
        let Some(sync) = &mut self.sync else {
            return;
        };
        let Some(waiting) = sync.parked.remove(key) else {
            return;
        };
        sync.parked_count -= waiting.len();
        let hash = self.table.hash(key);
        let Some(id) = self.table.find(hash, key) else {
            return;
        };
        let Some(state) = self.flow_state(self.table.get(id)) else {
            return;
        };
        let forwarded = self.table.get(id).packets != [0, 0];
        let owner = self.table.get(id).owner.0;
        let sync = self.sync_mut();
        let copy = sync.mark(id).answer_copy(forwarded);
        let holders = sync.mark(id).peers.union(PeerSet::of(owner));
        let mut asked = PeerSet::EMPTY;
        for (peer, deadline) in waiting {
            if deadline < now {
                continue;
            }
            asked.insert(peer);
            bump(&mut sync.counters.pulls_answered_late);
            sync.out.push_back(Effect::Pull(PullOut::Answer {
                to: peer,
                state,
                copy,
                holders,
                forwardable: false,
            }));
        }
        if copy == AnswerCopy::Path {
            self.add_holders(id, asked);
        }
    }

    /// Peers `more` are on the path of entry `id`'s flow: its changes go
    /// to them, and backups no longer needed hear so.
    pub(super) fn add_holders(&mut self, id: FlowId, more: PeerSet) {
        let me = self.config.node.0;
        let mark = self.sync_mut().mark(id);
        let before = mark.peers;
        mark.peers = mark.peers.union(more);
        mark.peers.remove(me);
        let gained = mark.peers != before;
        // A change waiting for backups now has a peer on the path to
        // reach: it goes at once.
        if gained && mark.pending && mark.delayed {
            mark.delayed = false;
            self.sync_mut().dirty.push(id);
        }
        if gained && !self.sync_mut().mark(id).backups.is_empty() {
            self.demote_backups(id);
        }
    }

    /// Whether the owner of a flow this node lacks pushes its insert here
    /// whoever the owner is (docs/sync.md §13): this node is the flow's
    /// director, or among its backups even if the owner ranks before it.
    /// Its packets then wait `pull_after` for the insert instead of
    /// pulling at once (with two nodes and two copies, always).
    fn pushed_here(&self, key: &FlowKey) -> bool {
        let Some(p) = self.sync.as_ref().and_then(|s| s.placement.as_ref()) else {
            return false;
        };
        let me = self.config.node.0;
        let ranked = p.ranked(key);
        let Some(i) = ranked.iter().position(|&n| n == me) else {
            return false;
        };
        if ranked.len() < 2 {
            return false;
        }
        // Backups are the first `copies - 1` ranked nodes other than the
        // owner; the owner may rank after this node unless it is last.
        let at_worst = i.saturating_sub(usize::from(i + 1 == ranked.len()));
        i == 0 || at_worst + 2 <= p.copies()
    }

    /// Packets of `key` wait: ask for its state, unless asked within
    /// `pull_retry` (doubled after each pull, up to eight times: a repeat
    /// is a repair, and a flood of stray packets must not make every held
    /// flow ask every member every `pull_retry`); a flow held here in
    /// full, or one whose insert comes here whoever its owner is, waits
    /// `pull_after` for the pushed change first (docs/sync.md §13). A
    /// flow this node has no entry for is asked of its director, then of
    /// every member, and no more: each member that lacks it keeps the pull
    /// and answers when the state reaches it.
    pub(super) fn pull(&mut self, key: FlowKey, now: Instant) {
        let found = self.table.find(self.table.hash(&key), &key);
        self.pull_found(key, found, now);
    }

    /// [`pull`](Self::pull), for a caller that looked `key` up already
    /// (`found`: its entry here, if any).
    pub(super) fn pull_found(&mut self, key: FlowKey, found: Option<FlowId>, now: Instant) {
        // Most held packets find their flow's pull already made or
        // scheduled: nothing more to work out for them.
        let earlier = self.sync_mut().pulled.get(&key);
        if let Some(p) = earlier
            && now < p.due
            // A flow that waits out its blind pulls (below) is pulled at
            // once if it has turned up here meanwhile (a late answer made
            // a passive copy of it).
            && !(p.blind > BLIND_PULLS && found.is_some())
        {
            return;
        }
        let (rounds, blind) = earlier.map_or((0, 0), |p| (p.rounds, p.blind));
        let (ask, pushed, known) = match found {
            Some(id) => {
                let owner = self.table.get(id).owner.0;
                let passive = self.passive_copy(id);
                let ask = self.sync_mut().mark(id).peers.union(PeerSet::of(owner));
                (ask, !passive, true)
            }
            None => (
                PeerSet::EMPTY,
                earlier.is_none() && self.pushed_here(&key),
                false,
            ),
        };
        let sync = self.sync_mut();
        // A flow held in full gets its changes pushed: the first pull
        // waits `pull_after` for them.
        if earlier.is_none() && pushed && !sync.config.pull_after.is_zero() {
            sync.pulled.set(key, now + sync.config.pull_after, 0, 0);
            return;
        }
        // Its director, then every member, has been asked for a flow this
        // node had no entry for each time: a member that had none keeps
        // the pull and answers when the state reaches it, and one that had
        // some answered. Nothing more until the packets' deadline (the
        // flow is forgotten then). Pulls made while this node held an
        // entry do not count: a member that had an older incarnation of
        // the tuple answered with it, and keeps no pull for the new one.
        // After that wait, a flow still sending and still unknown here
        // is asked of every member again, twice, and so on: a member's
        // parked pull lasts a hold deadline, and an answer lost with a
        // link, or state that reached its holders late, must not leave a
        // stream that keeps sending unpulled for as long as it lasts.
        let blind = if known || blind > BLIND_PULLS {
            0
        } else {
            blind
        };
        if blind == BLIND_PULLS {
            sync.pulled.set(
                key,
                now + sync.config.hold_deadline,
                rounds,
                BLIND_PULLS + 1,
            );
            return;
        }
        // A pull that did not help asks every member: the holders this
        // node knew of may be dead, or answer from a passive copy that
        // lacks what the packets need, while a holder they did not know of
        // (a node on the flow's path) has it.
        let retry = sync.config.pull_retry * (1u32 << rounds.min(3));
        sync.pulled.set(
            key,
            now + retry,
            rounds.saturating_add(1),
            blind + u8::from(!known),
        );
        let ask = if rounds > 0 { PeerSet::ALL } else { ask };
        bump(&mut sync.counters.pulls_sent);
        sync.out.push_back(Effect::Pull(PullOut::Want {
            key,
            ask,
            director: true,
        }));
    }

    /// After the live members changed from `old` to `new`, visit up to
    /// `max` table slots from `*cursor` (advancing it) and list, for each
    /// flow this node holds whole, the peers that must now hold it and
    /// may not: its director or a backup under `new` that was not one
    /// under `old`, or was not a member then (a peer back from an outage
    /// missed its changes); and, when one of the flow's holders is back
    /// from an outage, its director and backups under either that are
    /// not among its holders (the passive copies the holder left may be
    /// known to nobody now). Each comes with the flow's holders as this
    /// node knows them, itself included, so the peer can pass pulls on to
    /// them. Returns `true` when the whole table has been visited.
    /// (docs/sync.md §13: re-replication.)
    pub fn rebalance_chunk(
        &mut self,
        cursor: &mut usize,
        max: usize,
        old: &Placement,
        new: &Placement,
        now: Instant,
        out: &mut Vec<(u16, FlowState, PeerSet)>,
    ) -> bool {
        let me = self.config.node.0;
        let slots = self.table.slot_count();
        let end = cursor.saturating_add(max).min(slots);
        while *cursor < end {
            let id = FlowId(*cursor as u32);
            *cursor += 1;
            let Some(entry) = self.table.try_get(id) else {
                continue;
            };
            if self.is_expired(entry, now) {
                continue;
            }
            let Some(state) = self.flow_state(entry) else {
                continue;
            };
            let Some(sync) = &self.sync else {
                return true;
            };
            let mark = sync.marks.get(id.0 as usize).copied().unwrap_or_default();
            if mark.passive {
                continue;
            }
            let mut holders = mark.peers.union(PeerSet::of(entry.owner.0));
            holders.insert(me);
            // A holder back from an outage (not a member under `old`) may
            // have lost its copy (a restart starts empty) or missed
            // changes (a partition).
            let returned = new
                .members()
                .iter()
                .any(|&p| p != me && holders.union(mark.backups).contains(p) && !old.has(p));
            let was = old.first(&state.key, old.copies());
            let placed = new.first(&state.key, new.copies());
            let mut sent = PeerSet::of(me);
            for &p in placed.iter().chain(&was) {
                let new_place = placed.contains(&p) && (!was.contains(&p) || !old.has(p));
                // With a holder back, the flow's director and backups,
                // under `old` and `new`, hear it even if they held those
                // places before: the passive copies the holder left (its
                // director's, a backup it demoted) are known to nobody once
                // it restarted empty, and the walk for its leaving, which
                // told the nodes that took its place, may never have run.
                // A restarted node's new connection comes up before its
                // old one is seen down (docs/sync.md §5), and a walk that a
                // newer change interrupts starts again from the members
                // that stayed, which it takes to hold the flow already: the
                // simulator found the embryonic copy of a demoted backup,
                // ranked right after the owner that died, outliving the
                // connection so.
                let left_behind = returned && new.has(p) && !holders.contains(p);
                if sent.contains(p) || !(new_place || left_behind) {
                    continue;
                }
                sent.insert(p);
                out.push((p, state, holders));
                // It hears of the flow's end from here too.
                if let Some(s) = &mut self.sync {
                    s.mark(id).passive_peers.insert(p);
                }
            }
            // Fewer whole copies than `copies` under the new members (a
            // backup or a holder left): the flow's next event, made now,
            // goes whole to the backups that bring it back to `copies`.
            // Its director's passive copy does not count, and an idle flow
            // would otherwise wait for its next refresh (the simulator
            // found an idle UDP flow held whole by its owner alone after
            // its backup died).
            let (_, _, kept) = targets(Some(new), me, &state.key, holders, mark.backups, false);
            // A holder back from an outage: the next event, made now, goes
            // whole to it again. Counted as holding, it was otherwise
            // never re-sent an idle flow (the simulator found an idle UDP
            // flow held whole by one node after its path node restarted).
            if returned || !kept.minus(mark.backups).is_empty() {
                self.sync_touch(id, true, now);
            }
        }
        *cursor >= slots
    }
}

/// How far apart two nodes' clocks may be for the creation times they
/// stamp to order their connections: the cluster runs on NTP
/// (docs/sync.md §3), and the simulator draws clocks up to 50 ms either way.
const CLOCK_MARGIN_NS: u64 = 100_000_000;

/// Whether incarnation `ours` surely supersedes `theirs`, another
/// connection on the tuple: the same owner's later one (one clock stamped
/// both), or another node's created more than [`CLOCK_MARGIN_NS`] later.
/// Closer than that, the order may be the clocks' (a new connection opened
/// where the old one was unknown, stamped by a clock behind); and the same
/// owner's same connection with another creation time is one an earlier
/// release clamped from the far future (it clamped creation times to its
/// clock plus 5 s, docs/sync.md §3), not an older one.
fn surely_newer(ours: &Incarnation, theirs: &Incarnation) -> bool {
    if ours <= theirs {
        return false;
    }
    if ours.owner == theirs.owner {
        return ours.id != theirs.id;
    }
    ours.created_ns.saturating_sub(theirs.created_ns) > CLOCK_MARGIN_NS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Addr, Endpoint, proto};

    /// The older-incarnation delete (docs/sync.md §13) never answers a
    /// change whose order may be the clocks', nor the same connection.
    #[test]
    fn only_a_surely_older_connection_is_told_to_delete_itself() {
        let inc = |ms: u64, owner: u16, id: u32| Incarnation {
            created_ns: 1_700_000_000_000_000_000 + ms * 1_000_000,
            owner,
            id,
        };
        // The same owner's earlier connection, however close in time.
        assert!(surely_newer(&inc(1, 1, 8), &inc(0, 1, 7)));
        // The same connection, its time clamped by an earlier release.
        assert!(!surely_newer(&inc(9_000, 1, 7), &inc(5_000, 1, 7)));
        // Another owner's: only beyond the clocks' margin.
        assert!(surely_newer(&inc(234, 2, 2), &inc(0, 1, 3)));
        assert!(!surely_newer(&inc(100, 2, 2), &inc(0, 1, 3)));
        // Never the newer one, nor itself.
        assert!(!surely_newer(&inc(0, 1, 3), &inc(234, 2, 2)));
        assert!(!surely_newer(&inc(5, 1, 3), &inc(5, 1, 3)));
    }

    fn key() -> FlowKey {
        let ep = |a: [u8; 4], port: u16| Endpoint {
            addr: Addr::v4(a),
            port,
        };
        FlowKey {
            lo: ep([198, 18, 0, 1], 40_000),
            hi: ep([198, 18, 1, 1], 80),
            proto: proto::TCP,
            vlan: 0,
        }
    }

    #[test]
    fn a_backup_that_went_down_is_told_passive_for_when_it_returns() {
        // Node 1 owns a flow backed up on node 3; node 3 goes down, so
        // node 2 becomes the backup. Node 3's copy (whole when it left)
        // must hear it is passive now: the event waits in its stream.
        let live = Placement::new([1, 2], 2);
        let (full, passive, kept) = targets(
            Some(&live),
            1,
            &key(),
            PeerSet::of(1),
            PeerSet::of(3),
            false,
        );
        assert_eq!(kept, PeerSet::of(2));
        assert_eq!(full, PeerSet::of(2));
        assert!(passive.contains(3), "{passive:?}");
        // A backup still up and still needed stays whole and is not told.
        let all = Placement::new([1, 2, 3], 2);
        let (full, passive, kept) =
            targets(Some(&all), 1, &key(), PeerSet::of(1), PeerSet::of(3), false);
        assert_eq!((full, kept), (PeerSet::of(3), PeerSet::of(3)));
        assert!(!passive.contains(3));
    }
}
