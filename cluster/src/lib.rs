//! Cluster state sync over QUIC and policy replication via Raft.

pub mod sync;
