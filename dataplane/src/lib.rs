//! Rampart's sans-IO dataplane: packet parsing, flow keys, the conntrack
//! table and TCP tracking, driven through [`Engine::process`] with time
//! passed in. No sockets, no threads, no clock reads (STYLE.md).

pub mod class_slot;
pub mod conntrack;
pub mod counters;
pub mod engine;
pub mod flow;
pub mod iface;
pub mod packet;
pub mod policy;
pub mod seq;
pub mod sync;
pub mod time;
pub mod trace;
pub mod verdict;

pub use engine::{Engine, EngineConfig, InterfaceConfig};
pub use time::Instant;
pub use verdict::{DropReason, IfaceId, Verdict};
