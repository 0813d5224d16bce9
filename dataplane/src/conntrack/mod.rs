//! Connection tracking: entries, the table, timeouts and the TCP tracker.

pub mod echo;
pub mod entry;
pub mod evict;
mod huge;
mod index;
pub mod macs;
pub mod table;
pub mod tcp;
pub mod timeouts;

pub use echo::EchoSeqs;
pub use entry::{AsaFlags, Count48, Entry, NodeId, ProtoState};
pub use macs::{MacRef, Macs};
pub use table::{ConnTable, FlowId};
pub use tcp::{TcpState, TcpTrack};
pub use timeouts::Timeouts;
