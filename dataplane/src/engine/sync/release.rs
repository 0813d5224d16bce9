//! Frames that waited for a peer leave, or are dropped: held frames
//! judged again when a peer's state for their flow lands and once more at
//! their deadline, deferred frames on a peer's acknowledgement of their
//! flow's insert or at theirs (docs/sync.md §4).

use super::{Engine, HELD_WAIT_BOUNDS_US, holdable};
use crate::conntrack::ProtoState;
use crate::counters::bump;
use crate::engine::fragment::Pieces;
use crate::engine::hold::Deferred;
use crate::engine::{Effect, ReleaseCause};
use crate::flow::FlowKey;
use crate::packet::{Icmp, Offload, Parsed, Transport};
use crate::sync::Incarnation;
use crate::time::Instant;
use crate::verdict::{DropReason, IfaceId};

impl Engine {
    /// A peer acknowledged the insert of `inc`: send its deferred packet.
    pub fn sync_acked(&mut self, key: &FlowKey, inc: &Incarnation) {
        let Some(sync) = &mut self.sync else {
            return;
        };
        if let Some(d) = sync.defer.acked(key, inc) {
            bump(&mut sync.counters.deferred_acked);
            self.release_deferred(d, ReleaseCause::DeferAcked);
        }
    }

    /// A deferred frame's wait ended (`cause`): it leaves, unless it may
    /// not leave now ([`Engine::barred`]), or a shun added while it
    /// waited covers its source (as a held frame's, docs/asa-behaviour.md
    /// §2.12; its 401004 event at the latest time the shell gave).
    fn release_deferred(&mut self, d: Deferred, cause: ReleaseCause) {
        let frames = d.frags.as_ref().map_or(1, |p| p.len() as u64);
        let at = self.sync.as_ref().map_or(Instant::ZERO, |s| s.clock);
        if self.barred(d.ingress, frames) || self.shunned(&d.frame, d.ingress, frames, at).is_some()
        {
            return;
        }
        if let Some(pieces) = d.frags {
            self.release_pieces(&d.frame, *pieces, d.egress, cause);
            return;
        }
        self.count_forwarded(d.frame.len());
        self.push_effect(Effect::Release {
            egress: d.egress,
            frame: d.frame,
            offload: d.offload,
            cause,
        });
    }

    /// Whether a frame that waited for a peer, arrived on `ingress`, may
    /// not leave now; counted as dropped if so. It meets what a frame
    /// arriving now meets before it is judged: nothing leaves while the
    /// node is not ready, nor on or out of an interface a policy shuts
    /// (`interface-down`), nor in by one whose EtherType access-group
    /// denies all frames (`l2_acl`), which may have been installed while
    /// it waited (up to the hold deadline, 200 ms; docs/sync.md §4).
    /// (`frames`: how many it stands for, a reassembled datagram's
    /// fragments each counted.)
    fn barred(&mut self, ingress: IfaceId, frames: u64) -> bool {
        let reason = if self.not_ready().is_some() {
            DropReason::ClusterNotReady
        } else if let Some(&Some(reason)) = self.gates.get(usize::from(ingress.0)) {
            reason
        } else {
            return false;
        };
        add(&mut self.counters.drops[reason.index()], frames);
        self.count_gate(ingress, reason, frames);
        true
    }

    /// A held packet whose deadline was `deadline` passed at `now`: count
    /// how long it waited.
    fn note_held_wait(&mut self, deadline: Instant, now: Instant) {
        let Some(sync) = &mut self.sync else {
            return;
        };
        let left = deadline.saturating_since(now);
        let waited = sync.config.hold_deadline.saturating_sub(left);
        let us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        let i = HELD_WAIT_BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(HELD_WAIT_BOUNDS_US.len());
        let c = &mut sync.counters;
        bump(&mut c.held_wait[i]);
        let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        c.held_wait_sum_ns = c.held_wait_sum_ns.saturating_add(ns);
    }

    /// A held frame (its deadline `deadline`) passed its judging at
    /// `now`: it leaves by `egress` with `offload` (from that judging's
    /// parse: a super-packet stays one, a partial checksum partial, for the
    /// egress to complete, docs/io.md §1), its wait counted.
    fn release_passed(
        &mut self,
        deadline: Instant,
        offload: Offload,
        egress: IfaceId,
        frame: Vec<u8>,
        frags: Option<Box<Pieces>>,
        now: Instant,
    ) {
        bump(&mut self.sync_mut().counters.held_released);
        self.note_held_wait(deadline, now);
        if let Some(pieces) = frags {
            // A reassembled datagram: its fragments leave in its place.
            self.release_pieces(&frame, *pieces, egress, ReleaseCause::HeldPassed);
            return;
        }
        self.count_forwarded(frame.len());
        self.push_effect(Effect::Release {
            egress,
            frame,
            offload,
            cause: ReleaseCause::HeldPassed,
        });
    }

    /// A peer's state for `key` arrived: judge the frames held for it
    /// again. A frame that passes leaves as an effect; one that still
    /// lacks state waits out its deadline; one that fails for another
    /// reason is dropped and counted. A flow opened by a released frame is
    /// not deferred: the peer has just shown it knows the flow.
    pub(super) fn release_held(&mut self, key: &FlowKey, now: Instant) {
        let Some(sync) = &mut self.sync else {
            return;
        };
        let held = sync.hold.take(key);
        if held.is_empty() {
            return;
        }
        let mut keep = Vec::new();
        for mut h in held {
            if self.barred(h.ingress, h.frames())
                || self.shunned(&h.frame, h.ingress, h.frames(), now).is_some()
            {
                bump(&mut self.sync_mut().counters.held_refused);
                continue;
            }
            // Judged on a copy: a pass rewrites the frame (normalizer,
            // sequence offset), and a frame kept waiting must stay as received.
            let mut frame = h.frame.clone();
            self.lenient_passes = h.lenient && now >= h.deadline;
            self.intercept.again = true;
            let parsed = crate::packet::parse(&frame, h.meta);
            let judged = self.judge(&mut frame, h.meta, h.ingress, now, &parsed, None);
            self.lenient_passes = false;
            self.intercept.again = false;
            match judged.decision {
                Ok(egress) => {
                    self.count_decided(&judged.decided);
                    let offload = offload_of(&parsed);
                    self.release_passed(h.deadline, offload, egress, frame, h.frags, now)
                }
                // Still lacking state: more of the peer's events may be on
                // the way; wait out the deadline.
                // (A frame that waited only behind earlier ones of its flow
                // may need more of them too. A lenient pass on a peer's
                // state proves nothing yet: that state may be the first of
                // several on their way, an insert ahead of its updates; at
                // the deadline such a frame leaves if it still passes.)
                Err(reason) if (holdable(reason) || !holdable(h.reason)) && now < h.deadline => {
                    h.lenient |= reason == DropReason::LenientWait;
                    keep.push(h)
                }
                Err(reason) => {
                    self.count_decided(&judged.decided);
                    bump(&mut self.sync_mut().counters.held_refused);
                    add(&mut self.counters.drops[reason.index()], h.frames());
                    self.capture_late_drop(&h.frame, h.ingress, reason, now, &parsed);
                }
            }
        }
        self.sync_mut().hold.put_back(*key, keep);
    }

    /// Drop held packets and send deferred ones whose deadline has passed;
    /// forget old tombstones.
    pub(in crate::engine) fn sync_expire(&mut self, now: Instant) {
        let Some(sync) = &mut self.sync else {
            return;
        };
        sync.clock = sync.clock.max(now);
        sync.tombstones.expire(now.as_nanos());
        // Peers' pulls whose deadline passed are forgotten.
        if sync.parked_count > 0 {
            let mut left = 0;
            sync.parked.retain(|_, waiting| {
                waiting.retain(|(_, deadline)| *deadline >= now);
                left += waiting.len();
                !waiting.is_empty()
            });
            sync.parked_count = left;
        }
        // Packets still waiting a retry interval after their flow's last
        // pull: the answer was lost, or brought state older than they
        // need (a node the asker did not know of changed it meanwhile).
        // (The pull times of flows no longer waiting are forgotten as they
        // come due.)
        let due = sync.pulled.take_due(now);
        let mut expired = Vec::new();
        sync.hold.expire(now, &mut expired);
        let mut sends = Vec::new();
        sync.defer.expire(now, &mut sends);
        // Every frame whose deadline passed is judged once more, as a
        // standalone engine would judge it on the state held now (lenient
        // passes allowed): one that passes leaves; one that fails is
        // dropped under the reason it fails for. That frame is refused,
        // not expired, when the flow's state refuses it for good (a reset
        // behind the acknowledged edge, a second echo reply): it waited for
        // nothing a peer could send. It waited all the same, since a new
        // incarnation of the tuple (which only a peer's state or a pull
        // can bring) may let it through.
        for mut h in expired {
            if self.barred(h.ingress, h.frames())
                || self.shunned(&h.frame, h.ingress, h.frames(), now).is_some()
            {
                bump(&mut self.sync_mut().counters.held_refused);
                continue;
            }
            self.lenient_passes = true;
            self.intercept.again = true;
            let parsed = crate::packet::parse(&h.frame, h.meta);
            let judged = self.judge(&mut h.frame, h.meta, h.ingress, now, &parsed, None);
            self.lenient_passes = false;
            self.intercept.again = false;
            // Judged for the last time.
            self.count_decided(&judged.decided);
            match judged.decision {
                Ok(egress) => {
                    let offload = offload_of(&parsed);
                    self.release_passed(h.deadline, offload, egress, h.frame, h.frags, now)
                }
                Err(reason) => {
                    let for_good = match &parsed {
                        Ok(crate::packet::Parsed::Ip {
                            tuple, transport, ..
                        }) => {
                            let (key, src_is_lo) = FlowKey::of(tuple);
                            self.refused_for_good(&key, src_is_lo, reason, transport)
                        }
                        _ => false,
                    };
                    let c = &mut self.sync_mut().counters;
                    bump(if for_good {
                        &mut c.held_refused
                    } else {
                        &mut c.held_expired
                    });
                    add(&mut self.counters.drops[reason.index()], h.frames());
                    self.capture_late_drop(&h.frame, h.ingress, reason, now, &parsed);
                }
            }
        }
        for d in sends {
            bump(&mut self.sync_mut().counters.deferred_timed_out);
            self.release_deferred(d, ReleaseCause::DeferTimedOut);
        }
        for (key, sent) in due {
            if self.sync_mut().hold.holds(&key) {
                if sent {
                    bump(&mut self.sync_mut().counters.pulls_repeated);
                }
                self.pull(key, now);
            } else {
                self.sync_mut().pulled.forget(&key);
            }
        }
    }

    /// Whether a frame refused for `reason` is refused for good by this
    /// node's entry of its flow: a TCP reset behind what its receiver has
    /// acknowledged ([`TcpTrack::rst_behind`]), or an echo reply already
    /// answered or older than the flow's window. A peer's view of this
    /// incarnation only moves these on; only another incarnation (a
    /// reused tuple the node has not heard of) could judge it otherwise.
    fn refused_for_good(
        &self,
        key: &FlowKey,
        src_is_lo: bool,
        reason: DropReason,
        transport: &Transport,
    ) -> bool {
        let Some(id) = self.table.find(self.table.hash(key), key) else {
            return false;
        };
        let entry = self.table.get(id);
        match (reason, transport, &entry.proto) {
            (DropReason::TcpRstOutOfWindow, Transport::Tcp(seg), ProtoState::Tcp(track)) => {
                track.rst_behind(entry.direction(src_is_lo), seg)
            }
            (
                DropReason::IcmpSeqMismatch,
                Transport::Icmp(Icmp::EchoReply { seq, .. }),
                ProtoState::IcmpEcho(seqs),
            ) => seqs.check_answer(*seq) == Err(crate::conntrack::echo::Unanswerable::Settled),
            _ => false,
        }
    }
}

/// The offload a held frame leaves with: its judging's parse's (the engine
/// rewrites frames in place only, so the offsets hold).
fn offload_of(parsed: &Result<Parsed, DropReason>) -> Offload {
    match parsed {
        Ok(Parsed::Ip { offload, .. }) => *offload,
        _ => Offload::NONE,
    }
}

/// Add `n` to a counter, saturating.
fn add(counter: &mut u64, n: u64) {
    *counter = counter.saturating_add(n);
}
