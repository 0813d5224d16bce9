//! Rampart's sans-IO dataplane: packet parsing, flow keys, the conntrack
//! table and TCP tracking, driven through [`Engine::process`] with time
//! passed in. No sockets, no threads, no clock reads: the same engine runs
//! under the AF_PACKET shell, the benchmarks, the property tests and the
//! fuzz target, and a run driven with the same inputs replays exactly
//! (docs/ARCHITECTURE.md §3).

pub mod capture;
pub mod class_slot;
pub mod conntrack;
pub mod counters;
pub mod engine;
pub mod flow;
pub mod iface;
pub mod packet;
pub mod placement;
pub mod policy;
pub mod seq;
pub mod shun;
pub mod sync;
pub mod time;
pub mod trace;
pub mod verdict;

pub use engine::{BatchFrame, Engine, EngineConfig, InterfaceConfig};
pub use time::Instant;
pub use verdict::{DropReason, IfaceId, Verdict};
