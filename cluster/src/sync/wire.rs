//! The sync protocol's messages on the wire: a version byte, then one
//! bincode-2 message, decoded with a size limit (bincode's `standard()`
//! config has none, and a forged length prefix would otherwise allocate
//! whatever it claims, LIBRARIES.md §3).

use bincode::{Decode, Encode};
use rampart_dataplane::sync::{FlowState, SyncEvent};

/// Version of the message format; a peer speaking another is refused.
pub const WIRE_VERSION: u8 = 1;

/// Largest message accepted (and produced): a batch of
/// [`MAX_EVENTS_PER_BATCH`] events fits with room to spare.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;

/// Most events (or flows) in one message.
pub const MAX_EVENTS_PER_BATCH: usize = 8192;

/// Where a receiver stands in a sender's stream of batches, sent on
/// (re)connection so the sender can resend what was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Resume {
    /// The sender session the receiver last heard from.
    pub session: u64,
    /// The next batch sequence number it expects from that session.
    pub next: u64,
}

/// One sync message.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Message {
    /// First message on every connection, both ways.
    Hello {
        /// The sender's node id (checked against the transport's identity).
        node: u16,
        /// The sender's session: random per process start.
        session: u64,
        /// What the sender has of the receiver's stream, if anything.
        resume: Option<Resume>,
    },
    /// A batch of events, numbered per sender session and receiver.
    Events {
        /// Batch sequence number (from 1).
        seq: u64,
        /// The events.
        events: Vec<SyncEvent>,
    },
    /// Every batch up to `seq` has been applied.
    Ack {
        /// Highest batch applied, cumulative.
        seq: u64,
    },
    /// Send me your whole table.
    BulkRequest {
        /// Request id, echoed in the answer.
        id: u64,
    },
    /// Part of a bulk answer.
    BulkChunk {
        /// The request.
        id: u64,
        /// Live inspected flows.
        flows: Vec<FlowState>,
    },
    /// The bulk answer is complete.
    BulkEnd {
        /// The request.
        id: u64,
        /// Flows sent in all chunks.
        flows: u64,
    },
}

/// Why a message was refused (the peer's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Empty frame.
    #[error("empty message")]
    Empty,
    /// Another format version.
    #[error("wire version {0}, expected {WIRE_VERSION}")]
    Version(u8),
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// bincode refused it (malformed, truncated, or over the size limit).
    #[error("undecodable message: {0}")]
    Decode(String),
    /// Bytes left over after the message.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    /// A batch with more than [`MAX_EVENTS_PER_BATCH`] items.
    #[error("batch of {0} items exceeds the limit")]
    BatchTooLarge(usize),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_MESSAGE_BYTES>()
}

/// Encode a message (version byte first).
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION];
    bincode::encode_into_std_write(msg, &mut out, config())
        .expect("writing to a Vec cannot fail and our messages are within the limit");
    out
}

/// Decode a message, refusing anything malformed or oversized.
pub fn decode(frame: &[u8]) -> Result<Message, WireError> {
    let (&version, body) = frame.split_first().ok_or(WireError::Empty)?;
    if version != WIRE_VERSION {
        return Err(WireError::Version(version));
    }
    if frame.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge(frame.len()));
    }
    let (msg, used): (Message, usize) =
        bincode::decode_from_slice(body, config()).map_err(|e| WireError::Decode(e.to_string()))?;
    if used != body.len() {
        return Err(WireError::Trailing(body.len() - used));
    }
    let items = match &msg {
        Message::Events { events, .. } => events.len(),
        Message::BulkChunk { flows, .. } => flows.len(),
        _ => 0,
    };
    if items > MAX_EVENTS_PER_BATCH {
        return Err(WireError::BatchTooLarge(items));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        for m in [
            Message::Hello {
                node: 2,
                session: 99,
                resume: Some(Resume {
                    session: 7,
                    next: 12,
                }),
            },
            Message::Ack { seq: 5 },
            Message::BulkRequest { id: 1 },
            Message::BulkEnd { id: 1, flows: 10 },
            Message::Events {
                seq: 1,
                events: vec![],
            },
        ] {
            assert_eq!(decode(&encode(&m)).unwrap(), m);
        }
    }

    #[test]
    fn refuses_bad_frames() {
        assert_eq!(decode(&[]), Err(WireError::Empty));
        assert_eq!(decode(&[9, 0]), Err(WireError::Version(9)));
        let mut f = encode(&Message::Ack { seq: 5 });
        f.push(0);
        assert_eq!(decode(&f), Err(WireError::Trailing(1)));
        // An Events message claiming 2^40 events: refused, nothing allocated.
        let mut forged = vec![WIRE_VERSION, 1, 1];
        forged.extend([253]);
        forged.extend((1u64 << 40).to_le_bytes());
        assert!(matches!(decode(&forged), Err(WireError::Decode(_))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut f = vec![WIRE_VERSION];
            f.extend(bytes);
            let _ = decode(&f);
        }
    }
}
