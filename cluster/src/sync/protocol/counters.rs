//! The protocol's counters.

use std::time::Duration;

use super::refusal::REFUSAL_REASONS;

/// Protocol counters (saturating).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtocolCounters {
    /// Event batches sent (first sends).
    pub batches_sent: u64,
    /// Events sent (counted once per peer).
    pub events_sent: u64,
    /// Batches resent after a reconnection.
    pub batches_resent: u64,
    /// Event batches received and applied.
    pub batches_received: u64,
    /// Events received.
    pub events_received: u64,
    /// Batches received twice (after a resend), skipped.
    pub duplicate_batches: u64,
    /// Gaps in a peer's batch numbers (its resend buffer overflowed).
    pub gaps: u64,
    /// Batches dropped from a resend buffer because it was full.
    pub resend_overflow: u64,
    /// Losses of this node's own events before they reached the protocol
    /// (declared with [`Protocol::declare_loss`]).
    pub local_losses: u64,
    /// Frames refused as malformed (the connection stays: docs/sync.md §5).
    pub malformed: u64,
    /// Frames that break the protocol (wrong node in Hello, message before
    /// Hello, a bulk request for what no peer may ask, ...).
    pub protocol_errors: u64,
    /// Frames refused, by reason (indexed as [`REFUSAL_LABELS`](super::REFUSAL_LABELS)): the two
    /// counts above, apart.
    pub refused: [u64; REFUSAL_REASONS],
    /// Bulk syncs requested by this node.
    pub bulk_requested: u64,
    /// Bulk syncs this node completed receiving.
    pub bulk_completed: u64,
    /// Bulk syncs abandoned (peer lost, timeout, or incomplete).
    pub bulk_failed: u64,
    /// Bulk syncs whose end announced another number of flows than their
    /// chunks carried (a chunk was lost): failed, and asked again.
    pub bulk_incomplete: u64,
    /// Peers a node went ready without: up, but their bulks failed
    /// `bulk_peer_tries` times while another peer answered.
    pub bulk_peers_skipped: u64,
    /// Flows received in bulk.
    pub bulk_flows_received: u64,
    /// Bulk syncs served to peers.
    pub bulk_served: u64,
    /// Peers' bulk requests ignored: a dump for that peer was running.
    pub bulk_requests_ignored: u64,
    /// Failed bulks (timed out or incomplete) after which their peer is
    /// asked again only after a backoff (`bulk_retry_after`).
    pub bulk_backoffs: u64,
    /// Peers' bulk requests served over part of their view: it named
    /// members this node has not met (a membership skew), left out of
    /// the ranking.
    pub bulk_views_narrowed: u64,
    /// Duration of the last completed incoming bulk sync.
    pub last_bulk: Duration,
    /// Bytes of frames produced.
    pub bytes_out: u64,
    /// Bytes of frames received.
    pub bytes_in: u64,
    /// Event batches sent as datagrams too.
    pub datagrams_sent: u64,
    /// Event datagrams received (their events applied ahead of the stream).
    pub datagrams_received: u64,
    /// Datagram copies sent again for batches not acked in time.
    pub datagrams_resent: u64,
    /// Times this node found it had been stopped (see `stall_after`) and
    /// went back to resync before forwarding.
    pub stalls: u64,
    /// Events the engine made that no peer up should hold (every node
    /// that would is down).
    pub events_unplaced: u64,
    /// Peers removed from the cluster whose records were dropped.
    pub peers_forgotten: u64,
    /// Flows asked for in pulls sent (this node's and passed-on ones).
    pub pulls_sent: u64,
    /// Flows asked for in pulls received.
    pub pulls_received: u64,
    /// Pulls this node passed on to nodes more likely to hold the flow.
    pub pulls_forwarded: u64,
    /// Flow states sent outside batches (pull answers, copies).
    pub states_sent: u64,
    /// Flow states received outside batches.
    pub states_received: u64,
    /// Brief pull answers sent (a node on the path confirming the state
    /// another node answered with).
    pub confirms_sent: u64,
    /// Brief pull answers received.
    pub confirms_received: u64,
    /// Changes of the live members (each starts a rebalance walk).
    pub rebalances: u64,
    /// Flow states sent to a peer that must now hold them.
    pub rebalance_flows_sent: u64,
}
