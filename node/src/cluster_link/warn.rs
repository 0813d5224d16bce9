//! Warnings about what peers send that this node refuses: at most one per
//! peer and reason in [`WARN_EVERY`], with the count of those left out
//! since, so a peer that sends a stream of bad frames or states fills
//! neither the log nor the thread that writes it. Keys are a verified
//! peer id and a reason from a fixed set, so the map stays small.

use std::collections::HashMap;
use std::time::Duration;

use rampart_dataplane::Instant;

/// The least time between two warnings for one peer and reason.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// When each (peer, reason) was last warned of, and how many refusals
/// went unreported since.
#[derive(Debug, Default)]
pub struct Warnings {
    last: HashMap<(u16, &'static str), (Instant, u64)>,
}

impl Warnings {
    /// Whether to warn now of a refusal of `reason` from `peer`: the number
    /// of such refusals left out since the last warning, or `None` to keep
    /// quiet (this one is counted among those left out).
    pub fn allow(&mut self, peer: u16, reason: &'static str, now: Instant) -> Option<u64> {
        match self.last.get_mut(&(peer, reason)) {
            Some((at, skipped)) if now < *at + WARN_EVERY => {
                *skipped = skipped.saturating_add(1);
                None
            }
            Some((at, skipped)) => {
                *at = now;
                Some(std::mem::take(skipped))
            }
            None => {
                self.last.insert((peer, reason), (now, 0));
                Some(0)
            }
        }
    }
}

/// The suffix of a warning that left others out.
pub fn skipped_note(skipped: u64) -> String {
    if skipped == 0 {
        String::new()
    } else {
        format!(" ({skipped} more since the last warning)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_peer_and_reason_in_each_interval_with_the_rest_counted() {
        let t0 = Instant::from_secs(1_700_000_000);
        let mut w = Warnings::default();
        assert_eq!(w.allow(2, "bulk_copies", t0), Some(0));
        assert_eq!(w.allow(2, "bulk_copies", t0), None);
        assert_eq!(w.allow(2, "bulk_copies", t0 + Duration::from_secs(1)), None);
        assert_eq!(w.allow(3, "bulk_copies", t0), Some(0), "another peer");
        assert_eq!(w.allow(2, "empty", t0), Some(0), "another reason");
        assert_eq!(w.allow(2, "bulk_copies", t0 + WARN_EVERY), Some(2));
        assert_eq!(w.allow(2, "bulk_copies", t0 + WARN_EVERY), None);
    }
}
