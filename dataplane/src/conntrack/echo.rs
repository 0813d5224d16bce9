//! ICMP echo under `inspect icmp`: one reply per request.
//!
//! The ASA passes "only one response for each request" and checks "that
//! the sequence number is correct" ("ICMP Inspection", Cisco ASA firewall
//! configuration guide; docs/asa-behaviour.md §2.5). A Rampart echo flow
//! is keyed by the identifier, so it remembers which sequence numbers of
//! that identifier were requested and which were answered, over a window
//! of the [`WINDOW`] newest: a reply passes once for a request the flow
//! saw, and never for a sequence number nobody asked for.
//!
//! Both sets only grow (the window slides forward with the newest request
//! and forgets what falls behind it), so two nodes' views join by union
//! after aligning their windows on the newer one: the join is commutative,
//! associative and idempotent, as docs/sync.md §3 requires of every synced
//! field.

/// Sequence numbers an echo flow remembers, ending at the newest request.
pub const WINDOW: u16 = 64;

/// Requested and answered sequence numbers of one echo flow.
///
/// Bit `i` of each set is sequence number `newest - i` (serial arithmetic
/// on 16 bits). The sets are kept as two 32-bit words each so the entry
/// keeps its 4-byte alignment (its layout is fixed, see `entry.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoSeqs {
    /// The newest sequence number requested.
    pub newest: u16,
    /// Requested, bit `i` for `newest - i` (low word first).
    pub requested: [u32; 2],
    /// Answered, aligned as `requested`; always a subset of it.
    pub answered: [u32; 2],
}

/// Why a reply does not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unanswerable {
    /// Not requested as far as this view knows: a newer view (a peer's,
    /// or one with a request still on its way) may know the request.
    NotRequested,
    /// Answered already, or older than the window: no view that joins
    /// this one can let it pass.
    Settled,
}

fn word(w: [u32; 2]) -> u64 {
    u64::from(w[0]) | (u64::from(w[1]) << 32)
}

fn words(v: u64) -> [u32; 2] {
    // Truncations intended: the low and the high half.
    [v as u32, (v >> 32) as u32]
}

/// `v` slid by `by` sequence numbers toward the newer end (older ones drop off).
fn slid(v: u64, by: u16) -> u64 {
    if by >= WINDOW { 0 } else { v << by }
}

/// Whether `a` comes after `b` in 16-bit serial arithmetic (RFC 1982).
fn after(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

impl EchoSeqs {
    /// The sets of a flow opened by request `seq`.
    pub fn opened(seq: u16) -> EchoSeqs {
        EchoSeqs {
            newest: seq,
            requested: [1, 0],
            answered: [0, 0],
        }
    }

    /// A view from its newest request and its requested and answered
    /// sets (bit `i` for `newest - i`); what was never requested cannot
    /// have been answered, so the answered set is kept within the other.
    pub fn from_sets(newest: u16, requested: u64, answered: u64) -> EchoSeqs {
        EchoSeqs {
            newest,
            requested: words(requested),
            answered: words(answered & requested),
        }
    }

    /// The requested and answered sets, bit `i` for `newest - i`.
    pub fn sets(&self) -> (u64, u64) {
        (word(self.requested), word(self.answered))
    }

    /// The bit of `seq`, if it lies within the window.
    fn bit(&self, seq: u16) -> Option<u64> {
        let back = self.newest.wrapping_sub(seq);
        (back < WINDOW).then(|| 1u64 << back)
    }

    /// Record request `seq`. `Some(changed)` if recorded (`Some(true)`
    /// for a sequence number not requested before, which the engine judges
    /// by the rules in force before it keeps the result, as the ASA opens
    /// a connection per request; docs/asa-behaviour.md §2.5); `None` if it
    /// lies behind the window (or half the sequence space ahead), or asks
    /// again for a sequence number already answered: the identifier's
    /// numbering starts anew (a new `ping` on the same identifier, a probe
    /// that always sends one sequence number). The ASA's connection per
    /// request ends with its reply, so a request asked again opens a new
    /// one there; here the caller replaces the flow (a new incarnation)
    /// rather than forget what was answered, which a join could not undo.
    pub fn request(&mut self, seq: u16) -> Option<bool> {
        if after(seq, self.newest) {
            let by = seq.wrapping_sub(self.newest);
            self.newest = seq;
            self.requested = words(slid(word(self.requested), by) | 1);
            self.answered = words(slid(word(self.answered), by));
            return Some(true);
        }
        let bit = self.bit(seq)?;
        if word(self.answered) & bit != 0 {
            return None;
        }
        let requested = word(self.requested);
        self.requested = words(requested | bit);
        Some(requested & bit == 0)
    }

    /// Whether a reply to `seq` would pass, without recording it.
    pub fn check_answer(&self, seq: u16) -> Result<u64, Unanswerable> {
        if after(seq, self.newest) {
            return Err(Unanswerable::NotRequested);
        }
        let bit = self.bit(seq).ok_or(Unanswerable::Settled)?;
        if word(self.answered) & bit != 0 {
            return Err(Unanswerable::Settled);
        }
        if word(self.requested) & bit == 0 {
            return Err(Unanswerable::NotRequested);
        }
        Ok(bit)
    }

    /// Record the reply to `seq` if it may pass (once per request).
    pub fn answer(&mut self, seq: u16) -> Result<(), Unanswerable> {
        let bit = self.check_answer(seq)?;
        self.answered = words(word(self.answered) | bit);
        Ok(())
    }

    /// Join another node's view of the same flow into this one. Views of
    /// one flow lie within half the 16-bit space of each other (a request
    /// further off opens a new incarnation), where serial order is a
    /// total order; exactly half apart, the larger raw value wins, so the
    /// join stays commutative even there.
    pub fn join(&mut self, other: &EchoSeqs) {
        let tie = other.newest.wrapping_sub(self.newest) == 0x8000;
        let newest = if after(other.newest, self.newest) || (tie && other.newest > self.newest) {
            other.newest
        } else {
            self.newest
        };
        let align = |s: &EchoSeqs, v: [u32; 2]| slid(word(v), newest.wrapping_sub(s.newest));
        let requested = align(self, self.requested) | align(other, other.requested);
        let answered = align(self, self.answered) | align(other, other.answered);
        *self = EchoSeqs::from_sets(newest, requested, answered);
    }

    /// Whether two views number their requests alike: their windows
    /// overlap. A flow whose numbering started anew (a new `ping` on the
    /// same identifier) does not overlap the old one.
    pub fn overlaps(&self, other: &EchoSeqs) -> bool {
        self.newest.wrapping_sub(other.newest) < WINDOW
            || other.newest.wrapping_sub(self.newest) < WINDOW
    }

    /// Requests in the window not answered yet (for `show conn`).
    pub fn outstanding(&self) -> u32 {
        (word(self.requested) & !word(self.answered)).count_ones()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_reply_per_request() {
        let mut e = EchoSeqs::opened(1);
        assert_eq!(e.answer(1), Ok(()));
        assert_eq!(e.answer(1), Err(Unanswerable::Settled));
        assert_eq!(e.answer(2), Err(Unanswerable::NotRequested));
        assert_eq!(e.request(2), Some(true));
        assert_eq!(e.request(2), Some(false), "asked again before its reply");
        assert_eq!(e.answer(2), Ok(()));
        assert_eq!(e.outstanding(), 0);
        assert_eq!(e.request(2), None, "asked again after its reply: anew");
    }

    #[test]
    fn views_half_the_space_apart_join_alike_either_way() {
        let (a, b) = (EchoSeqs::opened(0), EchoSeqs::opened(0x8000));
        assert_eq!(joined(&a, &b), joined(&b, &a));
    }

    #[test]
    fn the_window_slides_and_forgets_what_falls_behind() {
        let mut e = EchoSeqs::opened(65_530);
        // Across the wrap of the 16-bit space.
        assert_eq!(e.request(3), Some(true));
        assert_eq!(e.newest, 3);
        assert_eq!(e.answer(65_530), Ok(()));
        assert_eq!(e.answer(65_531), Err(Unanswerable::NotRequested));
        assert_eq!(e.request(3 + WINDOW - 1), Some(true));
        // 3 is still the oldest in the window, 65,530 has dropped off.
        assert_eq!(e.answer(3), Ok(()));
        assert_eq!(e.answer(65_530), Err(Unanswerable::Settled));
        assert_eq!(e.request(2), None);
        assert_eq!(e.request(3 + WINDOW - 1 + 0x8000), None);
        // Late requests within the window are recorded.
        assert_eq!(e.request(10), Some(true));
        assert_eq!(e.answer(10), Ok(()));
    }

    /// A view of a flow opened at `base`: requests and replies within
    /// 200 sequence numbers of it, in any order.
    fn view(base: u16) -> impl Strategy<Value = EchoSeqs> {
        proptest::collection::vec((0u16..200, any::<bool>()), 1..40).prop_map(move |ops| {
            let mut e = EchoSeqs::opened(base);
            for (d, answer) in ops {
                let seq = base.wrapping_add(d);
                if answer {
                    let _ = e.answer(seq);
                } else {
                    let _ = e.request(seq);
                }
            }
            e
        })
    }

    fn joined(a: &EchoSeqs, b: &EchoSeqs) -> EchoSeqs {
        let mut x = *a;
        x.join(b);
        x
    }

    proptest! {
        #[test]
        fn join_is_commutative_associative_and_idempotent(
            (a, b, c) in any::<u16>().prop_flat_map(|b| (view(b), view(b), view(b))),
        ) {
            prop_assert_eq!(joined(&a, &b), joined(&b, &a));
            prop_assert_eq!(joined(&joined(&a, &b), &c), joined(&a, &joined(&b, &c)));
            let ab = joined(&a, &b);
            prop_assert_eq!(joined(&ab, &ab), ab);
            prop_assert_eq!(joined(&ab, &a), ab, "absorbs what it joined");
        }

        /// A reply refused as settled stays refused in any join: the
        /// engine drops it at once instead of holding it for a peer.
        #[test]
        fn a_settled_refusal_survives_any_join(
            (a, b) in any::<u16>().prop_flat_map(|b| (view(b), view(b))),
            d in 0u16..300,
        ) {
            let seq = a.newest.wrapping_sub(d);
            if a.check_answer(seq) == Err(Unanswerable::Settled) {
                prop_assert_eq!(joined(&a, &b).check_answer(seq), Err(Unanswerable::Settled));
            }
        }
    }
}
