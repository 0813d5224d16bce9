//! The sync protocol's messages on the wire: a version byte (the wire
//! format's major version), then one message of that version's layout
//! ([`v6`]), encoded with bincode 2 and decoded with a size limit
//! (bincode's `standard()` configuration has none, and a forged length
//! prefix would otherwise allocate whatever it claims).
//!
//! The protocol speaks [`Message`], in the engine's types; the bytes are
//! those of the wire structs in [`v6`], reached only through explicit
//! conversions, so a change to an engine struct cannot change the wire.
//! Golden-byte tests pin an example of every message kind.
//!
//! Versions. [`WIRE_VERSION`] is `major.minor`. Nodes of one major version
//! read each other's messages; a minor version may only add what an older
//! peer of the same major can do without. The transport's hello carries
//! both numbers and refuses a peer of another major version, naming both,
//! so a rolling upgrade across a major version fails loudly.

use bincode::{Decode, Encode};
use rampart_dataplane::sync::{FlowState, SyncEvent};

pub mod v6;

pub use rampart_dataplane::sync::{AnswerCopy, Confirm};

#[cfg(test)]
mod golden;

/// A version of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WireVersion {
    /// Incompatible changes: peers of different majors never sync.
    pub major: u8,
    /// Compatible additions within a major.
    pub minor: u8,
}

impl std::fmt::Display for WireVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl WireVersion {
    /// Whether a peer speaking `other` can sync with this version.
    pub const fn compatible(self, other: WireVersion) -> bool {
        self.major == other.major
    }
}

/// The version this build speaks. Every message starts with its major.
pub const WIRE_VERSION: WireVersion = WireVersion { major: 8, minor: 0 };

/// Largest message accepted (and produced): a batch of
/// [`MAX_EVENTS_PER_BATCH`] events fits with room to spare.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;

/// Most events (or flows) in one message.
pub const MAX_EVENTS_PER_BATCH: usize = 8192;

/// Where a receiver stands in a sender's stream of batches, sent on
/// (re)connection so the sender can resend what was lost. A wire type
/// itself (two varints, in this order), pinned by the golden hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Resume {
    /// The sender session the receiver last heard from.
    pub session: u64,
    /// The next batch sequence number it expects from that session.
    pub next: u64,
}

/// One sync message, as the protocol sees it (on the wire: [`v6::Frame`]).
#[derive(Debug, Clone, PartialEq, Eq)]
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
        /// The receiver gets these as passive copies: it will not hear of
        /// the flows' later changes from the sender.
        passive: bool,
        /// The events.
        events: Vec<SyncEvent>,
    },
    /// Every batch up to `seq` has been applied.
    Ack {
        /// Highest batch applied, cumulative.
        seq: u64,
    },
    /// Send me my share of your table: every flow of which I am the
    /// director or a backup in `view`, or the owner.
    BulkRequest {
        /// Request id, echoed in the answer.
        id: u64,
        /// The live members as the asker will see them, itself included.
        view: Vec<u16>,
        /// Copies kept per flow.
        copies: u8,
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
    /// Send `origin` the state of these flows (`origin` is the sender, or
    /// the node a director passes the pull on for).
    Pull {
        /// The node whose packets wait.
        origin: u16,
        /// The flows.
        keys: Vec<rampart_dataplane::flow::FlowKey>,
        /// Empty, or per key the digest ([`FlowState::digest`]) of the
        /// state the sender answered `origin` with before passing the pull
        /// on: a node whose state has that digest confirms it briefly.
        answered: Vec<u64>,
    },
    /// Flow states outside the numbered batches: pull answers, and copies
    /// for a flow's new director or backup.
    State {
        /// The kind of copy the sender answers from: on the flows' path
        /// (the receiver sends it their changes), a backup, or passive.
        copy: AnswerCopy,
        /// The flows, each with the other nodes on its path the sender
        /// knows of: the receiver sends them its changes too.
        flows: Vec<(FlowState, rampart_dataplane::sync::PeerSet)>,
    },
    /// Brief answers to pulls passed on by a node that answered from its
    /// copy, from a node on the flows' path whose state is that copy's.
    Confirm {
        /// The flows.
        flows: Vec<Confirm>,
    },
}

/// Why a message was refused (the peer's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Empty frame.
    #[error("empty message")]
    Empty,
    /// Another major version of the format.
    #[error("wire major version {0}, this node speaks {WIRE_VERSION}")]
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
    /// A state message whose lists of flows and of holders differ in length.
    #[error("{0} flows but {1} holder sets")]
    Mismatch(usize, usize),
    /// A pull whose lists of keys and of answered digests differ in length.
    #[error("{0} keys but {1} answered digests")]
    Answered(usize, usize),
    /// A TCP state code no version of the format defines.
    #[error("TCP state code {0} is not defined")]
    TcpState(u8),
    /// A flow key's VLAN id above 4095 (IEEE 802.1Q ids are 12 bits).
    #[error("VLAN id {0} is not a 12-bit 802.1Q id")]
    Vlan(u16),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_MESSAGE_BYTES>()
}

/// Encode a message (version byte first).
pub fn encode(msg: &Message) -> Vec<u8> {
    encode_frame(&v6::Frame::from(msg))
}

/// Encode a wire frame as it is (version byte first); [`encode`] is the
/// protocol's way in, this one lets tests forge what a peer might send.
pub fn encode_frame(frame: &v6::Frame) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION.major];
    bincode::encode_into_std_write(frame, &mut out, config())
        .expect("writing to a Vec cannot fail and our messages are within the limit");
    out
}

/// Decode a message, refusing anything malformed or oversized.
pub fn decode(frame: &[u8]) -> Result<Message, WireError> {
    let (&version, body) = frame.split_first().ok_or(WireError::Empty)?;
    if version != WIRE_VERSION.major {
        return Err(WireError::Version(version));
    }
    if frame.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge(frame.len()));
    }
    let (msg, used): (v6::Frame, usize) =
        bincode::decode_from_slice(body, config()).map_err(|e| WireError::Decode(e.to_string()))?;
    if used != body.len() {
        return Err(WireError::Trailing(body.len() - used));
    }
    if msg.items() > MAX_EVENTS_PER_BATCH {
        return Err(WireError::BatchTooLarge(msg.items()));
    }
    Message::try_from(msg)
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
            Message::BulkRequest {
                id: 1,
                view: vec![1, 2, 3],
                copies: 2,
            },
            Message::Pull {
                origin: 3,
                keys: vec![],
                answered: vec![],
            },
            Message::Confirm { flows: vec![] },
            Message::State {
                copy: AnswerCopy::Path,
                flows: vec![],
            },
            Message::BulkEnd { id: 1, flows: 10 },
            Message::Events {
                seq: 1,
                passive: false,
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
        assert_eq!(
            WireError::Version(9).to_string(),
            "wire major version 9, this node speaks 8.0"
        );
        let mut f = encode(&Message::Ack { seq: 5 });
        f.push(0);
        assert_eq!(decode(&f), Err(WireError::Trailing(1)));
        // An Events message claiming 2^40 events: refused, nothing allocated.
        let mut forged = vec![WIRE_VERSION.major, 1, 1];
        forged.extend([253]);
        forged.extend((1u64 << 40).to_le_bytes());
        assert!(matches!(decode(&forged), Err(WireError::Decode(_))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut f = vec![WIRE_VERSION.major];
            f.extend(bytes);
            let _ = decode(&f);
        }
    }
}
