//! Cluster state sync over QUIC and policy replication via Raft.

pub mod bounded_read;
pub mod pki;
pub mod private_files;
pub mod raft;
pub mod sync;
pub mod transport;
