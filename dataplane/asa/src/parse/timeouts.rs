//! The global `timeout` command: `timeout conn H:MM:SS half-closed … udp
//! … icmp …` sets the idle timeouts of connections whose class sets none
//! (docs/asa-behaviour.md §2.2). `show running-config` prints several
//! timeouts on one line, most of them for features Rampart does not have
//! (`xlate`, `sunrpc`, `sip`, `uauth`, …): those words and their values
//! are accepted and the line listed as partly ignored.

use super::Parser;
use super::cursor::{Cur, R};
use super::policy_map::hms_at_least;

/// Why the other words of a `timeout` line change nothing.
pub(super) const REASON_OTHER_TIMEOUTS: &str = "timeouts of features Rampart does not have \
     (xlate, sunrpc, h323, sip, uauth, ...) change nothing; conn, half-closed, udp and icmp apply";

/// Least value of each timeout Rampart applies, in seconds, as the ASA
/// takes them (Cisco ASA Series Command Reference, `timeout`); zero means
/// never.
const CONN_MIN_SECS: u64 = 5 * 60;
const HALF_CLOSED_MIN_SECS: u64 = 30;
const UDP_MIN_SECS: u64 = 60;
const ICMP_MIN_SECS: u64 = 2;

impl Parser {
    /// `timeout NAME H:MM:SS [NAME H:MM:SS …]`. The line is taken whole or
    /// refused whole: a value of a timeout Rampart applies that is not a
    /// time, or below its least value, refuses it at that value.
    pub(super) fn timeout(&mut self, c: &mut Cur<'_>) -> R<()> {
        if c.peek().is_none() {
            return Err(c.expected("a timeout name"));
        }
        let mut t = self.cfg.timeouts;
        let mut other = false;
        while let Some(w) = c.next() {
            let (slot, min) = match w.text {
                "conn" => (&mut t.conn, CONN_MIN_SECS),
                "half-closed" => (&mut t.half_closed, HALF_CLOSED_MIN_SECS),
                "udp" => (&mut t.udp, UDP_MIN_SECS),
                "icmp" => (&mut t.icmp, ICMP_MIN_SECS),
                // Another feature's timeout, or its value.
                _ => {
                    other = true;
                    continue;
                }
            };
            let d = hms_at_least(c, &format!("timeout {}", w.text), min)?;
            *slot = Some(d);
        }
        self.cfg.timeouts = t;
        if other {
            self.ignore(c, REASON_OTHER_TIMEOUTS);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::REASON_OTHER_TIMEOUTS;
    use crate::ast::GlobalTimeouts;
    use crate::parse::test_support::*;

    #[test]
    fn the_timeouts_rampart_applies_are_taken_and_the_others_listed() {
        let p = parsed(
            "timeout xlate 3:00:00\n\
             timeout conn 2:00:00 half-closed 0:05:00 udp 0:01:00 sctp 0:02:00 icmp 0:00:05\n\
             timeout sunrpc 0:10:00 h323 0:05:00 h225 1:00:00 mgcp 0:05:00\n\
             timeout uauth 0:05:00 absolute\n\
             timeout igp stale-route 0:01:10\n",
        );
        let s = |secs| Some(Duration::from_secs(secs));
        assert_eq!(
            p.config.timeouts,
            GlobalTimeouts {
                conn: s(7200),
                half_closed: s(300),
                udp: s(60),
                icmp: s(5),
            }
        );
        let ignored: Vec<(usize, &str)> = p.ignored.iter().map(|i| (i.line, i.reason)).collect();
        assert_eq!(
            ignored,
            [1, 2, 3, 4, 5].map(|l| (l, REASON_OTHER_TIMEOUTS)).to_vec()
        );
        // A later line changes only what it names; zero means never.
        let p = parsed("timeout conn 2:00:00 udp 0:03:00\ntimeout conn 0:00:00\n");
        assert_eq!(p.config.timeouts.conn, s(0));
        assert_eq!(p.config.timeouts.udp, s(180));
        assert!(p.ignored.is_empty());
    }

    #[test]
    fn a_timeout_below_its_least_value_or_not_a_time_is_refused_at_the_value() {
        check_errors(&[
            (
                "timeout conn 0:04:59",
                1,
                14,
                "timeout conn must be at least 0:05:00 (or 0:00:00 for never)",
            ),
            (
                "timeout xlate 3:00:00 udp 0:00:30",
                1,
                27,
                "timeout udp must be at least 0:01:00 (or 0:00:00 for never)",
            ),
            (
                "timeout half-closed 0:00:10",
                1,
                21,
                "timeout half-closed must be at least 0:00:30 (or 0:00:00 for never)",
            ),
            (
                "timeout icmp 0:00:01",
                1,
                14,
                "timeout icmp must be at least 0:00:02 (or 0:00:00 for never)",
            ),
            (
                "timeout conn soon",
                1,
                14,
                "invalid time 'soon', expected H:MM:SS",
            ),
            ("timeout", 1, 8, "expected a timeout name"),
        ]);
    }
}
