//! Bulk dumps paced on the transport's credit (docs/sync.md §6).
//!
//! The workers walk their tables at CPU speed; the link to the asking peer
//! drains at its own. Unpaced, a share larger than the link carried before
//! the peer's outbound byte budget filled had its later chunks refused by
//! the transport, the asker failed the bulk on its count and asked again,
//! and the full queue refused live event batches as well. So a dump is
//! taken from the workers only against credit: the driver grants a window
//! of flows while that peer's queue is below [`BULK_PACE_BYTES`], and a
//! worker walks its next chunk only once it has reserved a whole chunk's
//! worth of that credit. A worker without credit skips the dump for that
//! turn (its walk is resumable, as every turn's is), and the driver wakes
//! the workers when it grants again.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rampart_cluster::transport::{OUTBOUND_BUDGET_BYTES, SendError, Transport};

use super::{BULK_CHUNK_SLOTS, DriverEnd};

/// Where the driver's frames go: the transport, or a stand-in in tests.
pub(super) trait Outbound {
    /// Queue a frame to `peer` on its connection `conn` (never waits;
    /// refuses when its queue is full, drops a frame for a connection
    /// since replaced).
    fn send(&self, peer: u16, conn: u64, frame: Bytes) -> Result<(), SendError>;
    /// Send a best-effort datagram copy on connection `conn`.
    fn send_datagram(&self, peer: u16, conn: u64, frame: Bytes) -> Result<(), SendError>;
    /// Bytes queued towards `peer` and not yet taken by its connection.
    fn queued_bytes(&self, peer: u16) -> usize;
}

impl Outbound for Transport {
    fn send(&self, peer: u16, conn: u64, frame: Bytes) -> Result<(), SendError> {
        Transport::send(self, peer, conn, frame)
    }

    fn send_datagram(&self, peer: u16, conn: u64, frame: Bytes) -> Result<(), SendError> {
        Transport::send_datagram(self, peer, conn, frame)
    }

    fn queued_bytes(&self, peer: u16) -> usize {
        Transport::queued_bytes(self, peer)
    }
}

/// Bytes queued towards a peer at or above which its bulk dump gets no
/// more credit. An eighth of the byte budget: live event batches queue
/// behind what a dump put in the queue, so the dump keeps only enough
/// there to keep the link busy between two of the driver's looks (QUIC
/// holds its own window of data in flight besides), and the rest of the
/// budget stays for live events, which are never paced.
pub(super) const BULK_PACE_BYTES: usize = OUTBOUND_BUDGET_BYTES / 8;

/// Flows of one dump granted to the workers and not yet handed to the
/// transport, at most: four chunks' worth. It bounds what a dump adds to
/// the queue above [`BULK_PACE_BYTES`] (chunks in the channel to the
/// driver, unseen by the queue's figure) to a few MiB, whatever the
/// number of workers.
pub(super) const BULK_WINDOW_FLOWS: u64 = 4 * BULK_CHUNK_SLOTS as u64;

/// How often the driver looks at a peer's queue again while a dump waits
/// for it to drain (the transport does not say when it does).
pub(super) const PACE_RECHECK: Duration = Duration::from_millis(5);

/// The pacing limits ([`BULK_PACE_BYTES`], [`BULK_WINDOW_FLOWS`]; tests
/// use smaller ones).
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    /// Queue bytes at or above which a dump gets no more credit.
    pub(super) queue_bytes: usize,
    /// Flows granted and not yet handed over, at most (at least a chunk).
    pub(super) window_flows: u64,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            queue_bytes: BULK_PACE_BYTES,
            window_flows: BULK_WINDOW_FLOWS,
        }
    }
}

/// Flows the workers may still take into one dump's chunks. The driver
/// grants; a worker reserves a whole chunk's worth before it walks (a
/// chunk holds at most [`BULK_CHUNK_SLOTS`] flows) and gives back what
/// its chunk did not use, so the credit never goes below zero.
#[derive(Debug, Default)]
pub struct DumpCredit(AtomicI64);

impl DumpCredit {
    /// Credit of `flows` to start with.
    pub(super) fn new(flows: i64) -> Self {
        DumpCredit(AtomicI64::new(flows))
    }

    /// Take `n` flows of credit; false, with nothing taken, if fewer are
    /// left.
    pub(super) fn reserve(&self, n: u64) -> bool {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c >= n).then_some(c - n)
            })
            .is_ok()
    }

    /// Give back `n` flows a reservation did not use, or grant `n` more;
    /// the credit before.
    pub(super) fn add(&self, n: u64) -> i64 {
        self.0
            .fetch_add(i64::try_from(n).unwrap_or(i64::MAX), Ordering::AcqRel)
    }
}

/// A bulk dump the driver merges from the workers' parts.
#[derive(Debug)]
pub(super) struct Dump {
    /// Workers that sent their last part.
    pub(super) done: usize,
    /// Flows the workers handed over so far.
    pub(super) flows: u64,
    /// Flows of credit granted so far.
    pub(super) granted: u64,
    /// The credit the workers take from.
    pub(super) credit: std::sync::Arc<DumpCredit>,
}

impl Dump {
    pub(super) fn new() -> Self {
        Dump {
            done: 0,
            flows: 0,
            granted: 0,
            credit: std::sync::Arc::new(DumpCredit::new(0)),
        }
    }
}

impl DriverEnd {
    /// Grant the dumps credit while their peers' queues have room (below
    /// the pace), up to the window of flows not yet handed over; wake the
    /// workers if one may have waited for it. Whether a dump waits for
    /// its peer's queue to drain (the driver then looks again after
    /// [`PACE_RECHECK`]).
    pub(super) fn pace(&mut self, out: &impl Outbound) -> bool {
        let mut waiting = false;
        let mut wake = false;
        for (&(peer, _), dump) in &mut self.bulks {
            if out.queued_bytes(peer) >= self.pace.queue_bytes {
                waiting = true;
                continue;
            }
            let in_flight = dump.granted.saturating_sub(dump.flows);
            if in_flight < self.pace.window_flows {
                let more = self.pace.window_flows - in_flight;
                dump.granted += more;
                wake |= dump.credit.add(more) < BULK_CHUNK_SLOTS as i64;
            }
        }
        if wake {
            for (_, w, _) in &self.to_workers {
                w.wake();
            }
        }
        waiting
    }
}
