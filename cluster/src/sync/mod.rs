//! Conntrack state sync between nodes: the wire format, the sans-IO
//! protocol, and the driver that pumps it over the QUIC transport.

pub mod peer_stats;
pub mod protocol;
pub mod wire;

pub use peer_stats::{LagHistogram, PeerCounters};
pub use protocol::{Output, PeerPhase, Protocol, ProtocolConfig, ProtocolCounters};
pub use rampart_dataplane::placement::{Placement, Share};
