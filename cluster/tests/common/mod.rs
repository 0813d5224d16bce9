pub mod raft_lab;
