//! Rampart operations: what an operator reads and asks.
//!
//! - [`metrics`]: the Prometheus registry, filled at scrape time from a
//!   [`snapshot`] of each worker's plain counters;
//! - [`server`]: `/metrics`, `/healthz`, `/readyz` and the JSON admin API
//!   (hyper), over a [`backend::Backend`] that [`admin::Admin`] implements
//!   on an [`pool::EnginePool`] ([`local_apply`]: what the node made of
//!   each policy the cluster committed); [`client`] is the CLI's side; [`http`]
//!   bounds every wait and caps connections, [`host_check`] keeps DNS
//!   rebinding out, [`echo`] shows user text in errors escaped and
//!   bounded, [`sock_owner`] keeps the client's token from a listener
//!   that is not the node's (docs/ops.md);
//! - ASA renderings: [`show_conn`] (its filters: [`conn_filter`]),
//!   [`show_local_host`], [`clear_conn`], [`service_policy`],
//!   [`show_cluster`], [`asp_drop`], [`show_fragment`], [`packet_tracer`],
//!   [`show_acl`];
//! - [`syslog`]: ASA syslog lines for connection events, rate-limited,
//!   optionally RFC 5424 over UDP; [`logging`] sets up `tracing`.

pub mod admin;
pub mod asp_drop;
pub mod backend;
pub mod capture;
pub mod clear_conn;
pub mod client;
pub mod conn_filter;
pub mod duration;
pub mod echo;
#[cfg(feature = "fixture")]
pub mod fixture;
pub mod host_check;
pub mod http;
pub mod local_apply;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod packet_tracer;
pub mod pool;
pub mod server;
pub mod service_policy;
pub mod show_acl;
pub mod show_cluster;
pub mod show_conn;
pub mod show_fragment;
pub mod show_local_host;
pub mod show_time_range;
pub mod shun;
pub mod snapshot;
pub mod sock_diag;
pub mod sock_owner;
pub mod syslog;

pub use asp_drop::render_asp_drop;
pub use clear_conn::clear_conn;
pub use show_conn::{
    ConnFilter, ConnRow, conn_rows, render_conn_count, render_rows, render_show_conn,
};
