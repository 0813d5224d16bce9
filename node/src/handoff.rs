//! Reassembled datagrams, and ICMP errors, handed from one worker to
//! another (an ICMP error goes by its own addresses, docs/io.md §9). The kernel's
//! fanout spreads IP fragments by their addresses alone (docs/io.md §9), so
//! the worker that collects a datagram's fragments is not always the one
//! that owns its flow; its engine then emits `Effect::HandOff`, the bridge
//! gives it to its port, and the port queues it here for the owner, whose
//! engine judges it (`Engine::take_handoff`) at its next turn, between two
//! batches like every request into a worker.
//!
//! One bounded queue per worker, apart from the operators' job queue
//! (`crate::control`): a burst of fragmented traffic never makes the
//! admin API's requests find a worker "busy", and a stuck worker's queue
//! of operator jobs never costs datagrams. A datagram that cannot be
//! queued (the queue full, or the worker gone) is dropped with its
//! fragments and counted by the sending worker
//! (`rampart_worker_handoff_dropped_total`); the endpoints repair the
//! loss as any lost datagram (a retransmission, or the application's).
//!
//! The queue is generic over what it carries, so its tests need no engine;
//! the node's workers carry `Box<Handed>`.

use std::sync::mpsc;

use rampart_dataplane::engine::fragment::Handed;

use crate::control::Wake;

/// Datagrams queued for one worker before more are dropped. Each holds
/// up to a reassembled datagram's fragments (at most `fragment chain`
/// of them, 64 KiB of datagram), so the bound caps the memory too; the
/// worker takes [`HANDOFFS_PER_TURN`] every turn, so the queue fills only
/// when it stops serving or every other worker hands it datagrams faster
/// than it runs.
pub const HANDOFF_QUEUE_DATAGRAMS: usize = 256;

/// Datagrams a worker judges in one turn, at most, before its packets: each
/// releases its fragments as engine effects, and the engine keeps at most
/// `MAX_PENDING_EFFECTS` (4,096) between two drains; 64 datagrams of the
/// default `fragment chain` of 24 leave room for the turn's others.
pub const HANDOFFS_PER_TURN: usize = 64;

/// Why a datagram was not queued (the sender drops it and counts it).
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum HandOffError {
    /// The worker's queue is full.
    #[error("worker {0}'s hand-off queue ({HANDOFF_QUEUE_DATAGRAMS} datagrams) is full")]
    Full(usize),
    /// The worker has stopped.
    #[error("worker {0} has stopped")]
    Stopped(usize),
    /// No such worker (an engine named one past the node's count).
    #[error("no worker {0}")]
    NoWorker(usize),
}

/// Every worker's queue, for the workers that hand datagrams to them.
#[derive(Debug)]
pub struct HandOffs<T = Box<Handed>> {
    queues: Vec<(mpsc::SyncSender<T>, Wake)>,
}

impl<T> Clone for HandOffs<T> {
    fn clone(&self) -> Self {
        HandOffs {
            queues: self.queues.clone(),
        }
    }
}

/// A worker's end of its queue.
#[derive(Debug)]
pub struct HandOffInbox<T = Box<Handed>> {
    rx: mpsc::Receiver<T>,
    /// A datagram taken from the queue past a turn's share, for the next.
    next: Option<T>,
}

/// Make the queues of workers woken by `wakes` (one per worker, in worker
/// order: the index an engine names is the fanout member's).
pub fn hand_offs<T>(wakes: &[Wake]) -> (HandOffs<T>, Vec<HandOffInbox<T>>) {
    let mut queues = Vec::with_capacity(wakes.len());
    let mut inboxes = Vec::with_capacity(wakes.len());
    for wake in wakes {
        let (tx, rx) = mpsc::sync_channel(HANDOFF_QUEUE_DATAGRAMS);
        queues.push((tx, wake.clone()));
        inboxes.push(HandOffInbox { rx, next: None });
    }
    (HandOffs { queues }, inboxes)
}

impl<T> HandOffs<T> {
    /// Queue `item` for `worker` and wake it; never blocks.
    pub fn send(&self, worker: usize, item: T) -> Result<(), HandOffError> {
        let (queue, wake) = self
            .queues
            .get(worker)
            .ok_or(HandOffError::NoWorker(worker))?;
        queue.try_send(item).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => HandOffError::Full(worker),
            mpsc::TrySendError::Disconnected(_) => HandOffError::Stopped(worker),
        })?;
        wake.wake();
        Ok(())
    }
}

impl<T> HandOffInbox<T> {
    /// Give `take` the queued items, [`HANDOFFS_PER_TURN`] at most, in the
    /// order they were queued; whether some are left for the next turn
    /// (the caller wakes itself, so that an idle worker does not sleep on
    /// them).
    pub fn serve(&mut self, mut take: impl FnMut(T)) -> bool {
        for _ in 0..HANDOFFS_PER_TURN {
            match self.next.take().or_else(|| self.rx.try_recv().ok()) {
                Some(item) => take(item),
                None => return false,
            }
        }
        self.next = self.rx.try_recv().ok();
        self.next.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the wake-up is set; clears it.
    fn woken(wake: &Wake) -> bool {
        let mut buf = [0u8; 8];
        // SAFETY: reading 8 bytes into a valid buffer from our eventfd
        // (non-blocking: -1 when it is not set).
        unsafe { libc::read(wake.fd(), buf.as_mut_ptr().cast(), 8) == 8 }
    }

    fn three() -> (Vec<Wake>, HandOffs<u32>, Vec<HandOffInbox<u32>>) {
        let wakes: Vec<Wake> = (0..3).map(|_| Wake::new().unwrap()).collect();
        let (h, inboxes) = hand_offs(&wakes);
        (wakes, h, inboxes)
    }

    /// A datagram reaches the worker it is meant for, and only it, and
    /// wakes it (an idle worker sleeps in poll(2) on its eventfd).
    #[test]
    fn a_hand_off_reaches_its_worker_and_wakes_it() {
        let (wakes, h, mut inboxes) = three();
        // Another worker's clone: every worker holds one.
        h.clone().send(2, 7).unwrap();
        assert!(woken(&wakes[2]));
        assert!(!woken(&wakes[0]) && !woken(&wakes[1]));
        let mut got = Vec::new();
        for inbox in &mut inboxes {
            assert!(!inbox.serve(|x| got.push(x)));
        }
        assert_eq!(got, vec![7]);
    }

    /// Past a turn's share the rest wait, in order, for the next turns.
    #[test]
    fn a_worker_takes_a_turns_share_and_the_rest_next_turn_in_order() {
        let (_wakes, h, mut inboxes) = three();
        let n = HANDOFFS_PER_TURN as u32 * 2 + 5;
        for i in 0..n {
            h.send(1, i).unwrap();
        }
        let mut got = Vec::new();
        assert!(inboxes[1].serve(|x| got.push(x)), "some left");
        assert_eq!(got.len(), HANDOFFS_PER_TURN);
        assert!(inboxes[1].serve(|x| got.push(x)), "some left");
        assert!(!inboxes[1].serve(|x| got.push(x)), "none left");
        assert_eq!(got, (0..n).collect::<Vec<_>>());
        assert!(!inboxes[1].serve(|x| got.push(x)));
    }

    /// A full queue, a stopped worker and a worker past the count refuse,
    /// without blocking the sender; the queue takes again once served.
    #[test]
    fn a_full_queue_or_a_stopped_worker_refuses_without_blocking() {
        let (_wakes, h, mut inboxes) = three();
        for i in 0..HANDOFF_QUEUE_DATAGRAMS as u32 {
            h.send(0, i).unwrap();
        }
        assert_eq!(h.send(0, 9999), Err(HandOffError::Full(0)));
        assert_eq!(h.send(3, 1), Err(HandOffError::NoWorker(3)));
        let mut got = 0;
        inboxes[0].serve(|_| got += 1);
        assert_eq!(got, HANDOFFS_PER_TURN);
        assert_eq!(h.send(0, 1), Ok(()));
        inboxes.pop();
        assert_eq!(h.send(2, 1), Err(HandOffError::Stopped(2)));
    }
}
