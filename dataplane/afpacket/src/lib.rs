//! Rampart's AF_PACKET shell: the sockets that carry frames to and from the
//! sans-IO engine of `rampart-dataplane`. This crate depends on the engine,
//! never the reverse, so the engine holds no socket code.
//!
//! - [`afpacket`]: batched AF_PACKET sockets on one interface.
//! - [`frame_ring`]: AF_PACKET sockets with a per-frame `TPACKET_V2`
//!   receive ring (the low-latency default).
//! - [`ring`]: AF_PACKET sockets with a `TPACKET_V3` receive ring and a
//!   transmit ring (`io = "block-ring"`).
//! - [`io`]: any back end behind one type, as the bridge uses it.
//! - [`link`]: a data interface's link (up, down, gone) as the bridge
//!   sees it from its sockets' errors.
//! - [`tx`]: what becomes of frames on their way out, counted by reason.
//! - [`fanout`]: the symmetric flow hash, in the kernel's fanout program
//!   and in Rust, so both agree on which worker owns a flow.
//! - [`bridge`]: one thread moving frames between two interfaces through
//!   one engine.
//! - [`vnet`]: the `virtio_net_hdr` read on receive and the one written on
//!   send, from the engine's parse.

#[cfg(target_os = "linux")]
pub mod afpacket;
#[cfg(target_os = "linux")]
pub mod bridge;
#[cfg(target_os = "linux")]
pub mod fanout;
#[cfg(target_os = "linux")]
pub mod frame_ring;
#[cfg(target_os = "linux")]
pub mod io;
#[cfg(target_os = "linux")]
pub mod link;
#[cfg(target_os = "linux")]
pub mod ring;
#[cfg(target_os = "linux")]
pub mod tx;
#[cfg(target_os = "linux")]
pub mod vnet;
