//! Rampart operations: what an ASA user reads. For now the `show conn` and
//! `show asp drop` renderings over a dataplane engine; metrics, the admin API
//! and syslog arrive with the ops issue.

pub mod asp_drop;
pub mod clear_conn;
pub mod duration;
pub mod show_conn;

pub use asp_drop::render_asp_drop;
pub use clear_conn::clear_conn;
pub use show_conn::{
    ConnFilter, ConnRow, conn_rows, render_conn_count, render_rows, render_show_conn,
};
