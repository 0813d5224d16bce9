//! Conntrack state sync between nodes: the wire format, the sans-IO
//! protocol, and the driver that pumps it over the QUIC transport.

pub mod protocol;
pub mod wire;

pub use protocol::{Output, PeerPhase, Protocol, ProtocolConfig, ProtocolCounters};
