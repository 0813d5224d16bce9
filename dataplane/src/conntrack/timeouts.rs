//! Connection timeouts, with the ASA's defaults (docs/asa-behaviour.md §2.2).

use std::time::Duration;

use super::entry::{Entry, ProtoState};
use super::tcp::TcpState;
use crate::flow::proto;
use crate::policy::ast::GlobalTimeouts;
use crate::policy::compile::ConnOptions;

/// How long a connection may stay idle in each phase before it is removed.
/// `Duration::MAX` means never (the ASA's `0:00:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Handshake not completed (ASA `timeout embryonic`, default 0:00:30).
    pub tcp_embryonic: Duration,
    /// Established and idle (ASA `timeout conn` / class `idle`, default 1:00:00).
    pub tcp_idle: Duration,
    /// One side closed (ASA `timeout half-closed`, default 0:10:00).
    pub tcp_half_closed: Duration,
    /// Both FINs acknowledged: kept briefly so retransmitted final ACKs and
    /// FINs still match (the ASA frees such slots within about a minute).
    pub tcp_time_wait: Duration,
    /// After a RST: kept briefly so in-flight stragglers do not count as attacks.
    pub tcp_closed: Duration,
    /// UDP idle (ASA `timeout udp`, default 0:02:00).
    pub udp_idle: Duration,
    /// ICMP echo idle (ASA `timeout icmp`, default 0:00:02).
    pub icmp_idle: Duration,
    /// ESP idle: 0:00:30, the ASA's default idle timeout for ESP
    /// connections (docs/asa-behaviour.md §2.2).
    pub esp_idle: Duration,
    /// Any other IP protocol's idle (GRE, SCTP, OSPF, …; not ESP):
    /// 0:02:00, the ASA's default idle timeout for every protocol it has
    /// no other default for (docs/asa-behaviour.md §2.2). No global
    /// `timeout` sets these two: `timeout conn` is TCP's.
    pub other_idle: Duration,
    /// tcp-state-bypass idle: 0:02:00, as the TCP State Bypass section of the
    /// Cisco ASA Series Firewall CLI Configuration Guide gives it
    /// (docs/asa-behaviour.md §1.3).
    pub bypass_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_embryonic: Duration::from_secs(30),
            tcp_idle: Duration::from_secs(3600),
            tcp_half_closed: Duration::from_secs(600),
            tcp_time_wait: Duration::from_secs(30),
            tcp_closed: Duration::from_secs(10),
            udp_idle: Duration::from_secs(120),
            icmp_idle: Duration::from_secs(2),
            esp_idle: Duration::from_secs(30),
            other_idle: Duration::from_secs(120),
            bypass_idle: Duration::from_secs(120),
        }
    }
}

impl Timeouts {
    /// These timeouts with a policy's global `timeout` values in place of
    /// the defaults they name (zero: never). The phases the ASA has no
    /// global timeout for (embryonic, closing, tcp-state-bypass, other
    /// protocols) stay.
    pub fn with_global(&self, g: &GlobalTimeouts) -> Timeouts {
        Timeouts {
            tcp_idle: or_default(g.conn, self.tcp_idle),
            tcp_half_closed: or_default(g.half_closed, self.tcp_half_closed),
            udp_idle: or_default(g.udp, self.udp_idle),
            icmp_idle: or_default(g.icmp, self.icmp_idle),
            ..*self
        }
    }

    /// The timeout that applies to `entry` in its current state, where the
    /// entry's class `options` override the defaults. A class timeout of
    /// zero means never (the ASA's `0:00:00`).
    pub fn for_entry(&self, entry: &Entry, options: &ConnOptions) -> Duration {
        match &entry.proto {
            ProtoState::Tcp(t) => match t.state {
                s if s.is_embryonic() => or_default(options.timeout_embryonic, self.tcp_embryonic),
                s if s.is_half_closed() => {
                    or_default(options.timeout_half_closed, self.tcp_half_closed)
                }
                TcpState::TimeWait => self.tcp_time_wait,
                TcpState::Close => self.tcp_closed,
                _ => or_default(options.timeout_idle, self.tcp_idle),
            },
            ProtoState::TcpBypass => or_default(options.timeout_idle, self.bypass_idle),
            ProtoState::Udp => or_default(options.timeout_idle, self.udp_idle),
            ProtoState::IcmpEcho(_) => or_default(options.timeout_idle, self.icmp_idle),
            ProtoState::Other if entry.key.proto == proto::ESP => {
                or_default(options.timeout_idle, self.esp_idle)
            }
            ProtoState::Other => or_default(options.timeout_idle, self.other_idle),
        }
    }
}

/// A configured timeout (zero: never, the ASA's `0:00:00`), or `default`
/// where none is configured: the rule for class and global timeouts alike.
fn or_default(configured: Option<Duration>, default: Duration) -> Duration {
    match configured {
        Some(d) if d.is_zero() => Duration::MAX,
        Some(d) => d,
        None => default,
    }
}
