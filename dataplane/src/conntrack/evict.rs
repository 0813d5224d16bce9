//! The entries a new connection may displace, and queues that find the
//! oldest of them in O(1) (docs/asa-behaviour.md §2.2).
//!
//! Two sorts of entry may go before their timeout: *dead* ones, TCP
//! connections already over (reset, CLOSE; closed by FINs, TIME_WAIT), kept
//! only so their stragglers match; and *unproven* ones, which nothing but
//! their initiator's packets vouch for (a TCP handshake not completed, a
//! UDP, ICMP echo or other protocol's flow that no reply has reached). Spoofed packets make
//! only these: an established connection or an answered flow needed the
//! other end. Each kind has a queue of its entries in the order they
//! became that kind; its front is the one that has been so longest, and
//! since one kind's entries share a timeout (within a class), usually the
//! first to expire too.
//!
//! An item names an entry's slot and the connection id it held (an
//! [`EvictQueue`] holds any such pair). Items are never
//! removed when their entry leaves or changes kind: such a stale item is
//! skipped when it reaches the front, and a queue grown past twice its
//! live entries drops all of its stale items at once, so each push costs
//! O(1) amortised.

use std::collections::VecDeque;

/// A kind of entry a new connection may displace, each with its queue
/// (which table kinds it covers: [`table::evictable`](super::table::evictable)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evictable {
    /// TCP reset (CLOSE): dead.
    Closed = 0,
    /// TCP closed by FINs both ways (TIME_WAIT): dead.
    TimeWait = 1,
    /// TCP handshake not completed (SYN_SENT, SYN_RECV, SYN_SENT2).
    HalfOpen = 2,
    /// UDP that no reply has reached.
    UdpUnreplied = 3,
    /// ICMP echo that no reply has reached.
    EchoUnreplied = 4,
    /// Another IP protocol's flow (GRE, ESP, …) that no reply has reached.
    OtherUnreplied = 5,
}

impl Evictable {
    /// Every kind, in queue order.
    pub const ALL: [Evictable; 6] = [
        Evictable::Closed,
        Evictable::TimeWait,
        Evictable::HalfOpen,
        Evictable::UdpUnreplied,
        Evictable::EchoUnreplied,
        Evictable::OtherUnreplied,
    ];
    /// The dead kinds, displaced before any unproven one.
    pub const DEAD: [Evictable; 2] = [Evictable::Closed, Evictable::TimeWait];
    /// The unproven kinds.
    pub const UNPROVEN: [Evictable; 4] = [
        Evictable::HalfOpen,
        Evictable::UdpUnreplied,
        Evictable::EchoUnreplied,
        Evictable::OtherUnreplied,
    ];
    /// Number of kinds.
    pub const COUNT: usize = Self::ALL.len();
}

/// Stale items a table's queue may hold beyond its live entries before it
/// is tidied, whatever its size: a small queue is not walked at every
/// push.
pub const QUEUE_SLACK: usize = 1024;

/// Items (an entry's slot and connection id) in the order they were
/// noted; stale ones, of entries since gone or changed, are skipped
/// lazily.
#[derive(Debug, Clone)]
pub struct EvictQueue<T> {
    items: VecDeque<T>,
}

impl<T> Default for EvictQueue<T> {
    fn default() -> Self {
        EvictQueue {
            items: VecDeque::new(),
        }
    }
}

impl<T: Copy> EvictQueue<T> {
    /// Note `item` at the back.
    #[inline]
    pub fn push(&mut self, item: T) {
        self.items.push_back(item);
    }

    /// The oldest item that still holds (`valid`), dropping the stale
    /// items before it; it stays queued until its entry goes.
    pub fn front(&mut self, mut valid: impl FnMut(T) -> bool) -> Option<T> {
        while let Some(&item) = self.items.front() {
            if valid(item) {
                return Some(item);
            }
            self.items.pop_front();
        }
        None
    }

    /// Past twice `live` (the entries the queue should hold) plus `slack`
    /// items, drop every stale one: each walk removes at least half of
    /// what it visits, which keeps a push O(1) amortised and the queue
    /// within a small multiple of its live entries.
    pub fn tidy(&mut self, live: usize, slack: usize, mut valid: impl FnMut(T) -> bool) {
        if self.items.len() > live.saturating_mul(2).saturating_add(slack) {
            self.items.retain(|&item| valid(item));
        }
    }

    /// Take the front item off (to queue it again at the back).
    pub fn pop_front(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    /// Items queued, stale ones included.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no item is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_items_are_skipped_at_the_front_and_dropped_past_the_bound() {
        let mut q = EvictQueue::default();
        for i in 0..10u32 {
            q.push(i);
        }
        let live = |i: u32| i % 2 == 1;
        assert_eq!(q.front(live), Some(1));
        assert_eq!(q.len(), 9, "the stale front item went");
        q.tidy(5, 0, live);
        assert_eq!(q.len(), 9, "within twice the live entries");
        q.tidy(4, 0, live);
        assert_eq!(q.len(), 5);
        assert_eq!(q.front(|_| false), None);
        assert!(q.is_empty());
    }
}
