//! When each held flow is pulled next (docs/sync.md §4, §13), in due
//! order: the shell asks for the earliest due time on every turn of its
//! loop, and with thousands of flows held (a flood of stray packets fills
//! half the hold buffer) a scan of them all on each turn cost a worker
//! more than the packets did.

use std::collections::{BTreeMap, HashMap};

use crate::flow::FlowKey;
use crate::time::Instant;

/// A flow's pull schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pull {
    /// When it is (next) pulled.
    pub due: Instant,
    /// Pulls it has had.
    pub rounds: u8,
    /// Of the last ones, how many were made while this node had no entry
    /// for it.
    pub blind: u8,
    /// Its place in the due order.
    seq: u64,
}

/// Pull schedules by flow, and the same in due order.
#[derive(Debug)]
pub(super) struct Pulls {
    by_key: HashMap<FlowKey, Pull, ahash::RandomState>,
    queue: BTreeMap<(Instant, u64), FlowKey>,
    next_seq: u64,
}

impl Pulls {
    /// No flow scheduled; `hasher` keys the map (its keys are chosen by
    /// whoever sends the packets).
    pub(super) fn new(hasher: ahash::RandomState) -> Self {
        Pulls {
            by_key: HashMap::with_hasher(hasher),
            queue: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// `key`'s schedule, if it has one (a flow whose packets no longer
    /// wait keeps its schedule until that comes due).
    pub(super) fn get(&self, key: &FlowKey) -> Option<Pull> {
        self.by_key.get(key).copied()
    }

    /// Schedule `key`'s next pull at `due`, replacing its schedule.
    pub(super) fn set(&mut self, key: FlowKey, due: Instant, rounds: u8, blind: u8) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let new = Pull {
            due,
            rounds,
            blind,
            seq,
        };
        if let Some(old) = self.by_key.insert(key, new) {
            self.queue.remove(&(old.due, old.seq));
        }
        self.queue.insert((due, seq), key);
    }

    /// Forget `key`'s schedule.
    pub(super) fn forget(&mut self, key: &FlowKey) {
        if let Some(old) = self.by_key.remove(key) {
            self.queue.remove(&(old.due, old.seq));
        }
    }

    /// The earliest due time, if any flow is scheduled.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.queue.first_key_value().map(|(&(due, _), _)| due)
    }

    /// Take the flows due at `now` out of the due order, earliest first,
    /// with whether each was pulled before. Their schedules stay, for
    /// [`set`](Self::set) or [`forget`](Self::forget) to replace.
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<(FlowKey, bool)> {
        let mut due = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            if let Some(p) = self.by_key.get(&key) {
                due.push((key, p.rounds > 0));
            }
        }
        due
    }

    /// Flows scheduled.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::hold::tests::key;
    use std::time::Duration;

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn flows_come_due_in_order_and_a_new_schedule_replaces_the_old() {
        let mut p = Pulls::new(ahash::RandomState::with_seeds(1, 2, 3, 4));
        p.set(key(1), at(20), 1, 0);
        p.set(key(2), at(5), 0, 0);
        p.set(key(3), at(10), 1, 1);
        assert_eq!(p.next_due(), Some(at(5)));
        // Rescheduled later: its earlier place is gone.
        p.set(key(2), at(30), 1, 0);
        assert_eq!(p.next_due(), Some(at(10)));
        assert_eq!(p.take_due(at(9)), []);
        assert_eq!(p.take_due(at(20)), [(key(3), true), (key(1), true)]);
        // Taken out of the order, kept until replaced or forgotten.
        assert_eq!(p.get(&key(1)).map(|s| s.rounds), Some(1));
        assert_eq!(p.next_due(), Some(at(30)));
        p.forget(&key(1));
        p.forget(&key(3));
        p.forget(&key(2));
        assert_eq!((p.len(), p.next_due()), (0, None));
    }
}
