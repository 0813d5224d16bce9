//! Cluster state sync over QUIC and policy replication via Raft.
//!
//! Empty until the sync issue lands: the crate exists so the workspace has its final shape.
