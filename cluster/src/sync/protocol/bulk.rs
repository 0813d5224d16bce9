//! Bulk resync (docs/sync.md §6): asking peers for this node's share of
//! their tables, readiness, and serving peers' requests.

use super::*;
use rampart_dataplane::placement::MAX_COPIES;

#[derive(Debug, Clone, Copy)]
pub(super) struct BulkIn {
    pub(super) peer: u16,
    id: u64,
    pub(super) started: Instant,
    flows: u64,
}

impl Protocol {
    /// Ask the next peer whose table this node needs, if none is asked now.
    pub(super) fn next_bulk(&mut self, now: Instant) {
        if self.bulk.is_some() || self.settling(now) {
            return;
        }
        // The wanted peer up that failed least, the lowest id among equals:
        // after a peer's bulk fails the others are asked before it again.
        // A peer still backing off waits (`bulk_retry_due` is the timer).
        let peer = self
            .wanted
            .iter()
            .filter(|&&id| self.is_up(id))
            .filter(|id| self.bulk_retry_at.get(id).is_none_or(|&t| t <= now))
            .min_by_key(|&&id| (self.failures(id), id))
            .copied();
        if let Some(peer) = peer {
            self.request_bulk(peer, now);
        }
    }

    /// Failed bulks of `peer` since the start (or the last stall).
    fn failures(&self, peer: u16) -> u32 {
        self.bulk_failures.get(&peer).copied().unwrap_or(0)
    }

    /// Some peer up whose table this node still waits for before it is
    /// ready: wanted, and not yet given up on (it failed fewer than
    /// `bulk_peer_tries` bulks, or no peer has answered at all).
    fn owes_table(&self) -> bool {
        self.wanted.iter().any(|&id| {
            self.is_up(id)
                && (!self.bulk_answered || self.failures(id) < self.config.bulk_peer_tries)
        })
    }

    /// The bulk under way failed (it timed out, its peer was lost, or it
    /// ended incomplete): counted against its peer, and asked again, of
    /// that peer after a backoff if `back_off`.
    pub(super) fn fail_bulk(&mut self, now: Instant, back_off: bool) {
        if let Some(b) = self.bulk.take() {
            add(&mut self.counters.bulk_failed, 1);
            let n = self.bulk_failures.entry(b.peer).or_default();
            *n = n.saturating_add(1);
            if back_off {
                // Doubled for each failure since its last completed bulk:
                // a peer whose dump keeps failing is asked at most once
                // per bulk timeout, never in a loop as fast as it fails.
                let doublings = n.saturating_sub(1).min(16);
                let delay = self
                    .config
                    .bulk_retry_after
                    .saturating_mul(1 << doublings)
                    .min(self.config.bulk_timeout);
                add(&mut self.counters.bulk_backoffs, 1);
                self.bulk_retry_at.insert(b.peer, now + delay);
            }
        }
        self.retry_bulk(now);
    }

    /// When the earliest backoff of a peer up still owed a table ends, if
    /// any peer backs off.
    pub(super) fn bulk_retry_due(&self) -> Option<Instant> {
        self.bulk_retry_at
            .iter()
            .filter(|(id, _)| self.wanted.contains(id) && self.is_up(**id))
            .map(|(_, &t)| t)
            .min()
    }

    /// The first table is not asked for yet: some known peer is still
    /// down, and the settle has not ended. This holds for a node that went
    /// ready alone (it met no peer within the join timeout, as a node does
    /// that is started long before `cluster join` admits it) just as for
    /// one that is not ready: both ask for their share once.
    fn settling(&self, now: Instant) -> bool {
        self.bulk_tries == 0 && self.peers_up() < self.peers.len() && now < self.settle_end()
    }

    /// Settling with a table to ask for from a peer that is up: the settle's
    /// end is a timer.
    pub(super) fn settle_pending(&self) -> bool {
        self.bulk.is_none()
            && self.bulk_tries == 0
            && self.peers_up() < self.peers.len()
            && self
                .wanted
                .iter()
                .any(|id| self.peers.get(id).is_some_and(|p| p.phase == PeerPhase::Up))
    }

    /// When the settle ends: `bulk_settle` after the start, or after the
    /// first peer came up if that was later (a node that joins through
    /// Raft meets no member until the others admit it, all at about the
    /// same moment, long after its start).
    pub(super) fn settle_end(&self) -> Instant {
        self.first_up.unwrap_or(self.started).max(self.started) + self.config.bulk_settle
    }

    fn request_bulk(&mut self, peer: u16, now: Instant) {
        let id = self.next_bulk_id;
        self.next_bulk_id = self.next_bulk_id.wrapping_add(1);
        self.bulk_tries += 1;
        self.bulk = Some(BulkIn {
            peer,
            id,
            started: now,
            flows: 0,
        });
        add(&mut self.counters.bulk_requested, 1);
        let view = self.placement().members().to_vec();
        let copies = u8::try_from(self.config.copies).unwrap_or(u8::MAX);
        self.send(peer, &Message::BulkRequest { id, view, copies });
    }

    pub(super) fn retry_bulk(&mut self, now: Instant) {
        if !self.ready {
            if self.bulk_tries >= self.config.bulk_max_tries {
                // pfsync gives up after its tries too; a node that can never
                // complete a bulk still serves with what it learns live (and
                // keeps asking for the tables it lacks).
                self.become_ready();
            } else if self.bulk_answered && !self.owes_table() {
                self.ready_without_silent_peers();
            } else if !self.wanted.iter().any(|&id| self.is_up(id)) {
                // Not ready, and every peer still owing its table is down:
                // any peer's table will do.
                let up = self.up_peer_ids();
                self.wanted.extend(up);
            }
        }
        self.next_bulk(now);
    }

    /// The dump for `peer`, if one runs, is abandoned (its connection went
    /// or was replaced): the shell stops walking for it.
    pub(super) fn stop_serving(&mut self, peer: u16) {
        if let Some(id) = self.serving.remove(&peer) {
            self.outputs.push_back(Output::BulkCancel { peer, id });
        }
    }

    /// A chunk of the bulk dump requested by `peer`; `last` ends it. A
    /// chunk of a dump no longer served (the peer's connection went since
    /// it asked) is dropped: it answers a request the peer gave up with
    /// that connection.
    pub fn bulk_out(&mut self, peer: u16, id: u64, flows: Vec<FlowState>, last: bool, total: u64) {
        if self.serving.get(&peer) != Some(&id) {
            return;
        }
        if last {
            // The dump is over: the peer may ask again.
            self.serving.remove(&peer);
        }
        if !self
            .peers
            .get(&peer)
            .is_some_and(|p| p.phase == PeerPhase::Up)
        {
            return;
        }
        for chunk in flows.chunks(MAX_EVENTS_PER_BATCH) {
            self.send(
                peer,
                &Message::BulkChunk {
                    id,
                    flows: chunk.to_vec(),
                },
            );
        }
        if last {
            self.send(peer, &Message::BulkEnd { id, flows: total });
        }
    }

    /// A peer asks for its share of this node's table, computed for the
    /// members it names. Each flow the dump visits is ranked over those
    /// members, so the ranking is over the nodes this node knows (its
    /// peers, up or not, and itself) only, and the copies are at most the
    /// configured limit: a forged view of thousands of members once made
    /// every worker rank thousands of nodes per flow. One dump per peer
    /// runs at a time; a repeat while it runs is ignored (counted), so a
    /// peer cannot make the workers start its dump over and over
    /// (docs/sync.md §6).
    pub(super) fn on_bulk_request(
        &mut self,
        peer: u16,
        id: u64,
        view: Vec<u16>,
        copies: u8,
    ) -> Result<(), FrameError> {
        let known = |n: &u16| *n == self.me || self.peers.contains_key(n);
        // A member the asker met and this node has not yet (one that
        // joined through Raft while its link to this node is down) is left
        // out of the ranking: a node ranked among the first `copies` of
        // the asker's view is among the first of any part of that view it
        // belongs to, so the share over the nodes this node knows holds
        // every flow of the exact one (and maybe more), and the asker
        // misses nothing. Refused, it waited for its bulk timeout and
        // could go ready without this node's table. A view over twice the
        // membership this node knows is no skew, but forged or broken.
        let members = self.peers.len() + 1;
        let refused = if !view.contains(&peer) {
            Some(Violation::BulkViewLacksAsker)
        } else if copies == 0 || usize::from(copies) > MAX_COPIES {
            Some(Violation::BulkCopies)
        } else if view.len() > 2 * members {
            Some(Violation::BulkViewUnknown)
        } else {
            None
        };
        if let Some(why) = refused {
            return Err(self.refuse(why));
        }
        if self.serving.contains_key(&peer) {
            add(&mut self.counters.bulk_requests_ignored, 1);
            return Ok(());
        }
        let named = view.len();
        let view: Vec<u16> = view.into_iter().filter(known).collect();
        if view.len() < named {
            add(&mut self.counters.bulk_views_narrowed, 1);
        }
        self.serving.insert(peer, id);
        add(&mut self.counters.bulk_served, 1);
        let share = Share {
            placement: Placement::new(view, usize::from(copies)),
            node: peer,
        };
        self.outputs.push_back(Output::BulkDump { peer, id, share });
        Ok(())
    }

    /// Part of a peer's answer to a bulk request.
    pub(super) fn on_bulk_chunk(&mut self, peer: u16, id: u64, flows: Vec<FlowState>) {
        if let Some(b) = &mut self.bulk
            && b.peer == peer
            && b.id == id
        {
            b.flows = b.flows.saturating_add(flows.len() as u64);
        }
        add(&mut self.counters.bulk_flows_received, flows.len() as u64);
        // Applied whether or not it answers our current request:
        // the merge makes any copy of a peer's state useful.
        // Passive: the sender's own copy may be one, and this node
        // may not be among those that hear of the flows' changes.
        self.outputs.push_back(Output::Apply {
            sender: peer,
            from: None,
            passive: true,
            events: flows.into_iter().map(SyncEvent::Upsert).collect(),
        });
    }

    /// The end of a peer's answer to a bulk request, with the number of
    /// flows the answer held. Fewer (or more) received means a chunk was
    /// lost on the way (the sender's transport refused it: its queue or
    /// byte budget was full), and a node made ready on it would forward on
    /// an incomplete table: the bulk fails (counted) and is asked again
    /// after a backoff.
    pub(super) fn on_bulk_end(&mut self, peer: u16, id: u64, flows: u64, now: Instant) {
        if let Some(b) = self.bulk
            && b.peer == peer
            && b.id == id
        {
            if b.flows != flows {
                add(&mut self.counters.bulk_incomplete, 1);
                self.fail_bulk(now, true);
                return;
            }
            self.bulk = None;
            self.wanted.remove(&peer);
            self.bulk_failures.remove(&peer);
            self.bulk_retry_at.remove(&peer);
            self.bulk_answered = true;
            add(&mut self.counters.bulk_completed, 1);
            self.counters.last_bulk = now.saturating_since(b.started);
            // Ready once every peer up has sent this node its share, or
            // failed to `bulk_peer_tries` times.
            if !self.ready && !self.owes_table() {
                self.ready_without_silent_peers();
            }
            self.next_bulk(now);
        }
    }

    /// Ready on the tables this node has: every peer up whose table it
    /// still wants failed `bulk_peer_tries` bulks (each is counted), and
    /// stays wanted, asked again after the peers that answer.
    fn ready_without_silent_peers(&mut self) {
        let silent = self.wanted.iter().filter(|&&id| self.is_up(id)).count() as u64;
        add(&mut self.counters.bulk_peers_skipped, silent);
        self.become_ready();
    }
}
