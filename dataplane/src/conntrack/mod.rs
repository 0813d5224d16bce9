//! Connection tracking: entries, the table, timeouts and the TCP tracker.

pub mod entry;
pub mod table;
pub mod tcp;
pub mod timeouts;

pub use entry::{AsaFlags, Entry, NodeId, ProtoState};
pub use table::{ConnTable, FlowId};
pub use tcp::{TcpState, TcpTrack};
pub use timeouts::Timeouts;
