//! The chaos suite's harness: faults on top of the lab of `rampart_node`
//! (namespaces, real node processes, real traffic:
//! `rampart_node::lab`). The fault scenarios themselves (a node killed or
//! frozen, the sync link lossy or cut, restarts, the Raft leader killed
//! mid-write) are `rampart_node::lab::chaos`, run by `rampart lab chaos`
//! and, at CI size, by `tests/failover.rs`. Here: the user-space lossy
//! relay ([`lossy`]), shared by the real-packet tests, and the seeded
//! cluster simulator ([`sim`]).

pub mod lossy;
pub mod sim;
