//! The Rampart node: the `rampart` binary's library. `rampart run` (the
//! daemon, [`run`]), the operator's commands ([`cli`]), the node
//! configuration ([`config`]), and the lab ([`lab`]): network namespaces,
//! real node processes observed through their admin API, real traffic and
//! a report, used by `rampart lab` and by the real-packet tests.

mod admin;
mod clear_rpc;
pub mod cli;
mod cluster_link;
pub mod config;
pub mod config_check;
mod control;
pub mod data_lock;
pub mod demo;
mod handoff;
pub mod iface_lock;
mod kept_policy;
pub mod lab;
mod policy_raft;
pub mod policy_sig;
pub mod run;
mod startup_policy;
pub mod summary;
pub mod time_ranges;
pub mod token_file;
mod worker;
