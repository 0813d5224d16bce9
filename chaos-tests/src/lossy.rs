//! The user-space lossy relay for the sync link. It lives in the node
//! crate's lab (`rampart lab chaos` runs it too); this re-export keeps the
//! chaos suite's path for the tests that use it.

pub use rampart_node::lab::lossy::*;
