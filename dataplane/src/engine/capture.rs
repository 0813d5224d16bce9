//! The engine's side of packet capture (`crate::capture`,
//! docs/asa-behaviour.md §2.11): the frame path while captures exist, the
//! frames the engine sends on its own, and the operator's requests.
//!
//! With no capture the engine tests one `Option` per frame and goes on
//! (`process_parsed`). With captures, a frame is looked at on arrival
//! (the raw-data captures of its interface keep it as it came; the
//! asp-drop captures that select it keep its bytes aside), judged exactly
//! as without, then kept as it leaves (after the rewrites) or as it
//! arrived with its drop reason (a frame that waited for a peer's state
//! and is dropped at its deadline: as it waited, `sync/release.rs`). A
//! capture never changes a verdict.

use super::{Effect, Engine, FlowId};
use crate::capture::{AddError, Captures, Spec};
use crate::packet::{PacketMeta, Parsed, parse};
use crate::time::Instant;
use crate::verdict::{DropReason, IfaceId, Verdict};

impl Engine {
    /// `process_parsed` while captures exist. Not `#[cold]`: the judgement
    /// inlined here is the whole frame path, which a cold function would
    /// have compiled for size.
    #[inline(never)]
    pub(super) fn process_captured(
        &mut self,
        frame: &mut [u8],
        meta: PacketMeta,
        ingress: IfaceId,
        now: Instant,
        parsed: &Result<Parsed, DropReason>,
        hash: Option<(u64, Option<FlowId>)>,
    ) -> Verdict {
        // The captures stay in place while the frame is judged: a datagram
        // this frame completes may be judged (and dropped) now, its drop
        // kept by `capture_late_drop`.
        let Some(caps) = self.captures.as_deref_mut() else {
            return self.process_uncaptured(frame, meta, ingress, now, parsed, hash);
        };
        let arrived_len = frame.len();
        let sel = caps.arrive(frame, ingress, now, &self.policy, parsed.as_ref().ok());
        let verdict = self.process_uncaptured(frame, meta, ingress, now, parsed, hash);
        if let Some(caps) = self.captures.as_deref_mut() {
            match verdict {
                Verdict::Forward { egress } => caps.leave(sel, frame, egress, now),
                Verdict::Drop(reason) => caps.dropped(sel, ingress, reason, arrived_len, now),
                Verdict::Hold => {}
            }
        }
        verdict
    }

    /// A frame the engine sends (made, or released after a wait) leaves:
    /// the raw-data captures of its interface that select it keep it.
    #[cold]
    #[inline(never)]
    pub(super) fn capture_sent(&mut self, effect: &Effect, now: Instant) {
        let (egress, frame) = match effect {
            Effect::Transmit { egress, frame } | Effect::Release { egress, frame, .. } => {
                (*egress, frame)
            }
            _ => return,
        };
        let Some(caps) = self.captures.as_deref_mut() else {
            return;
        };
        let parsed = parse(frame, PacketMeta::default());
        caps.sent(frame, egress, now, &self.policy, parsed.as_ref().ok());
    }

    /// A frame judged after a wait (held for a peer's state, or handed
    /// over by another worker) was dropped for `reason`: the asp-drop
    /// captures that select it keep it, as it waited.
    pub(super) fn capture_late_drop(
        &mut self,
        frame: &[u8],
        ingress: IfaceId,
        reason: DropReason,
        now: Instant,
        parsed: &Result<Parsed, DropReason>,
    ) {
        if let Some(caps) = self.captures.as_deref_mut() {
            caps.dropped_late(
                frame,
                ingress,
                reason,
                now,
                &self.policy,
                parsed.as_ref().ok(),
            );
        }
    }

    /// Fragments the engine dropped while they waited for their
    /// datagram's others (it did not come whole in time, or could not be
    /// rebuilt): each kept, as it arrived, by the asp-drop captures that
    /// select it.
    #[cold]
    #[inline(never)]
    pub(super) fn capture_late_drops<'a>(
        &mut self,
        frames: impl IntoIterator<Item = &'a [u8]>,
        ingress: IfaceId,
        reason: DropReason,
        now: Instant,
    ) {
        if self.captures.is_none() {
            return;
        }
        for frame in frames {
            let parsed = parse(frame, PacketMeta::default());
            self.capture_late_drop(frame, ingress, reason, now, &parsed);
        }
    }

    /// Add a capture. The engine keeps its frames from the next one on.
    pub fn capture_add(&mut self, spec: Spec) -> Result<(), AddError> {
        let caps = self.captures.get_or_insert_with(Default::default);
        let r = caps.add(spec, &self.policy);
        if caps.is_empty() {
            self.captures = None;
        }
        r
    }

    /// Remove a capture and its frames; whether it existed. The last one
    /// gone, the engine is back to its one test per frame.
    pub fn capture_remove(&mut self, name: &str) -> bool {
        let Some(caps) = &mut self.captures else {
            return false;
        };
        let found = caps.remove(name);
        if caps.is_empty() {
            self.captures = None;
        }
        found
    }

    /// Empty a capture's buffer; whether it exists.
    pub fn capture_clear(&mut self, name: &str) -> bool {
        self.captures.as_mut().is_some_and(|c| c.clear(name))
    }

    /// Stop (`false`) or restart (`true`) a capture; whether it exists.
    pub fn capture_run(&mut self, name: &str, on: bool) -> bool {
        self.captures.as_mut().is_some_and(|c| c.run(name, on))
    }

    /// The captures, if any.
    pub fn captures(&self) -> Option<&Captures> {
        self.captures.as_deref()
    }
}
