//! Why the protocol refuses a frame, as a bounded set of reasons: each is
//! counted on its own and exported as a metric label, so a label never
//! carries text from a peer's message (docs/sync.md §5).

use super::wire::WireError;

/// A well-formed message that breaks the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A frame or datagram from a node that is no peer.
    #[error("message from an unknown peer")]
    UnknownPeer,
    /// A `Hello` naming another node than the transport verified.
    #[error("Hello names another node")]
    HelloOtherNode,
    /// A message before the connection's `Hello`.
    #[error("message before Hello")]
    BeforeHello,
    /// A second `Hello` on one connection: each re-queued the whole
    /// unacknowledged buffer towards the peer.
    #[error("second Hello on one connection")]
    HelloTwice,
    /// A datagram that is not an event batch.
    #[error("datagram that is not an event batch")]
    DatagramNotEvents,
    /// A batch numbered at the end of the range.
    #[error("batch number at the end of its range")]
    BatchNumberEnd,
    /// An ack of a batch never sent.
    #[error("ack of a batch never sent")]
    AckNeverSent,
    /// A pull on behalf of a node that is no peer.
    #[error("pull for an unknown node")]
    PullUnknownOrigin,
    /// A bulk request whose view lacks the node that asks.
    #[error("bulk request whose view lacks the asker")]
    BulkViewLacksAsker,
    /// A bulk request for no copies, or more than the limit.
    #[error("bulk request for no copies, or more than the limit")]
    BulkCopies,
    /// A bulk request whose view names more nodes than a membership skew
    /// explains: longer than twice the membership this node knows.
    #[error("bulk request whose view is longer than the membership could explain")]
    BulkViewUnknown,
}

/// Why a frame was refused: nothing in it was applied; the protocol counts
/// it by [`reason`](Self::reason) (docs/sync.md §5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Malformed frame.
    #[error("malformed sync message: {0}")]
    Wire(#[from] WireError),
    /// A well-formed message that breaks the protocol.
    #[error("protocol violation: {0}")]
    Protocol(#[from] Violation),
}

/// How many reasons a frame may be refused for.
pub const REFUSAL_REASONS: usize = 21;

/// Every reason's label, in [`FrameError::reason`] order.
pub const REFUSAL_LABELS: [&str; REFUSAL_REASONS] = [
    "empty",
    "other_version",
    "too_large",
    "undecodable",
    "trailing_bytes",
    "batch_too_large",
    "state_holders_mismatch",
    "pull_digests_mismatch",
    "tcp_state_code",
    "vlan_id",
    "unknown_peer",
    "hello_other_node",
    "before_hello",
    "datagram_not_events",
    "batch_number_end",
    "ack_never_sent",
    "pull_unknown_origin",
    "bulk_view_lacks_asker",
    "bulk_copies",
    "bulk_view_unknown",
    "hello_twice",
];

impl FrameError {
    /// The reason's place in [`REFUSAL_LABELS`].
    pub const fn reason(&self) -> usize {
        match self {
            FrameError::Wire(w) => match w {
                WireError::Empty => 0,
                WireError::Version(_) => 1,
                WireError::TooLarge(_) => 2,
                WireError::Decode(_) => 3,
                WireError::Trailing(_) => 4,
                WireError::BatchTooLarge(_) => 5,
                WireError::Mismatch(..) => 6,
                WireError::Answered(..) => 7,
                WireError::TcpState(_) => 8,
                WireError::Vlan(_) => 9,
            },
            FrameError::Protocol(v) => match v {
                Violation::UnknownPeer => 10,
                Violation::HelloOtherNode => 11,
                Violation::BeforeHello => 12,
                Violation::DatagramNotEvents => 13,
                Violation::BatchNumberEnd => 14,
                Violation::AckNeverSent => 15,
                Violation::PullUnknownOrigin => 16,
                Violation::BulkViewLacksAsker => 17,
                Violation::BulkCopies => 18,
                Violation::BulkViewUnknown => 19,
                Violation::HelloTwice => 20,
            },
        }
    }

    /// The reason's label: one of a fixed set, never text from the frame.
    pub const fn label(&self) -> &'static str {
        REFUSAL_LABELS[self.reason()]
    }
}
