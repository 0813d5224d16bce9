//! ASA syslog messages for connection events (docs/asa-behaviour.md §4): formatting,
//! a rate limit so that a flood cannot fill a disk, the 733100 drop-rate
//! monitor, and RFC 5424 over UDP to a syslog server.

pub mod format;
pub mod logger;
pub mod ratelimit;
pub mod rfc5424;
pub mod threat;

use std::sync::atomic::AtomicU64;

/// What the logger did (read by the metrics collector).
#[derive(Debug, Default)]
pub struct SyslogCounters {
    /// Messages logged.
    pub logged: AtomicU64,
    /// Messages suppressed by the rate limit.
    pub suppressed: AtomicU64,
    /// RFC 5424 datagrams the socket refused.
    pub udp_errors: AtomicU64,
    /// Polls of the workers' connection events that some worker did not
    /// answer in time: its events wait in its engine for a later poll (and
    /// what a worker took for a poll that gave up on another is logged all
    /// the same).
    pub polls_late: AtomicU64,
}
