//! The chaos suite's harness: faults on top of the lab of `rampart_node`
//! (namespaces, real node processes, real traffic:
//! `rampart_node::lab`). The fault injection comes with its issue; the
//! user-space lossy relay ([`lossy`]) is already shared by the real-packet
//! tests.

pub mod lossy;
pub mod sim;
