//! Drop-rate monitoring as the ASA's basic threat detection does it
//! (message 733100): per category of drop reasons, the average rate over
//! a rate interval and the burst rate over a burst interval (1/30 of the
//! rate interval, at least 10 s), each against a configured maximum. The
//! monitor samples the engines' cumulative drop counters once a second.

use std::collections::VecDeque;

use rampart_dataplane::DropReason;

use super::format::Message;

/// One monitored category.
#[derive(Debug, Clone)]
pub struct RateRule {
    /// The object name the ASA prints (`ACL drop`, `Conn limit`, …).
    pub object: &'static str,
    /// Drop reasons it counts.
    pub reasons: &'static [DropReason],
    /// Rate interval, seconds (`rate-1` is the shortest the ASA keeps).
    pub interval_s: u64,
    /// Maximum average rate, per second.
    pub average_max: u64,
    /// Maximum burst rate, per second.
    pub burst_max: u64,
}

impl RateRule {
    fn burst_s(&self) -> u64 {
        (self.interval_s / 30).max(10)
    }
}

/// The ASA's default `threat-detection rate` limits for a 600 s interval,
/// mapped onto Rampart's drop reasons.
pub fn default_rules() -> Vec<RateRule> {
    use DropReason::*;
    vec![
        RateRule {
            object: "ACL drop",
            reasons: &[AclDeny],
            interval_s: 600,
            average_max: 400,
            burst_max: 800,
        },
        RateRule {
            object: "Conn limit",
            reasons: &[
                ConnLimit,
                PerClientConnLimit,
                EmbryonicConnLimit,
                PerClientEmbryonicLimit,
                ConntrackFull,
            ],
            interval_s: 600,
            average_max: 100,
            burst_max: 400,
        },
        RateRule {
            object: "Bad pkts",
            reasons: &[
                L2Truncated,
                Ipv4Malformed,
                Ipv4ChecksumBad,
                Ipv6Malformed,
                Ipv6ExtensionMalformed,
                TcpMalformed,
                TcpChecksumBad,
                UdpMalformed,
                UdpChecksumBad,
                IcmpMalformed,
                IcmpErrorTooLong,
                TcpBadFlags,
                OffloadMismatch,
                OffloadUnsupported,
            ],
            interval_s: 600,
            average_max: 100,
            burst_max: 400,
        },
        RateRule {
            object: "Firewall",
            reasons: &[
                TcpNotSyn,
                TcpInvalidState,
                Tcp3whsFailed,
                TcpAckSynDiff,
                TcpDataPastFin,
                TcpSynAckData,
                TcpSeqPastWindow,
                TcpAckPastWindow,
                TcpRstOutOfWindow,
                TcpRstSynInWindow,
                IcmpNoConnection,
                IcmpErrorBadSeq,
                InterfaceMismatch,
            ],
            interval_s: 600,
            average_max: 400,
            burst_max: 1600,
        },
    ]
}

#[derive(Debug, Clone)]
struct Track {
    rule: RateRule,
    last_total: Option<u64>,
    /// Per-second counts, newest last, at most `interval_s`.
    seconds: VecDeque<u64>,
    /// When a message was last sent (seconds), to send at most one per burst interval.
    last_sent: Option<u64>,
}

/// The monitor.
#[derive(Debug, Clone)]
pub struct ThreatMonitor {
    tracks: Vec<Track>,
    last_sample: Option<u64>,
}

impl ThreatMonitor {
    /// Monitor `rules`.
    pub fn new(rules: Vec<RateRule>) -> Self {
        ThreatMonitor {
            tracks: rules
                .into_iter()
                .map(|rule| Track {
                    rule,
                    last_total: None,
                    seconds: VecDeque::new(),
                    last_sent: None,
                })
                .collect(),
            last_sample: None,
        }
    }

    /// Take the cumulative drop counters (indexed by `DropReason::index`,
    /// summed over workers) at `now_s`; returns the 733100 messages due.
    /// Called about once a second; a second sampled twice is counted once,
    /// seconds skipped are spread over the gap.
    pub fn sample(&mut self, drops: &[u64], now_s: u64) -> Vec<Message> {
        let elapsed = match self.last_sample {
            Some(t) if now_s <= t => return Vec::new(),
            Some(t) => now_s - t,
            None => 1,
        };
        self.last_sample = Some(now_s);
        let mut out = Vec::new();
        for t in &mut self.tracks {
            let total = t
                .rule
                .reasons
                .iter()
                .map(|r| drops.get(r.index()).copied().unwrap_or(0))
                .fold(0u64, |a, b| a.saturating_add(b));
            let delta = t.last_total.map_or(0, |l| total.saturating_sub(l));
            t.last_total = Some(total);
            for i in 0..elapsed {
                let share = delta / elapsed + u64::from(i < delta % elapsed);
                t.seconds.push_back(share);
            }
            while t.seconds.len() as u64 > t.rule.interval_s {
                t.seconds.pop_front();
            }
            let burst_s = t.rule.burst_s();
            let burst: u64 = t.seconds.iter().rev().take(burst_s as usize).sum();
            let window: u64 = t.seconds.iter().sum();
            let burst_rate = burst / burst_s;
            let average_rate = window / t.rule.interval_s;
            let exceeded = burst_rate > t.rule.burst_max || average_rate > t.rule.average_max;
            let quiet = t.last_sent.is_none_or(|s| now_s >= s + burst_s);
            if exceeded && quiet {
                t.last_sent = Some(now_s);
                out.push(Message {
                    id: 733100,
                    severity: 4,
                    text: format!(
                        "[{:>10}] drop rate-1 exceeded. Current burst rate is {burst_rate} per second, max configured rate is {}; Current average rate is {average_rate} per second, max configured rate is {}; Cumulative total count is {window}",
                        t.rule.object, t.rule.burst_max, t.rule.average_max
                    ),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drops(acl: u64) -> Vec<u64> {
        let mut d = vec![0; DropReason::COUNT];
        d[DropReason::AclDeny.index()] = acl;
        d
    }

    #[test]
    fn a_burst_over_the_limit_is_reported_once_per_burst_interval() {
        let mut m = ThreatMonitor::new(default_rules());
        assert!(m.sample(&drops(0), 100).is_empty());
        // 20 s at 1,000 ACL drops a second: burst rate 1000 > 800.
        let mut msgs = Vec::new();
        for s in 1..=20 {
            msgs.extend(m.sample(&drops(s * 1000), 100 + s));
        }
        assert_eq!(msgs.len(), 1, "{msgs:#?}");
        // The burst interval of a 600 s rate interval is 20 s: after 16
        // seconds the burst rate is 16,000 / 20 = 800 (not over), after 17
        // it is 850.
        assert_eq!(
            msgs[0].line(),
            "%ASA-4-733100: [  ACL drop] drop rate-1 exceeded. Current burst rate is 850 per second, max configured rate is 800; Current average rate is 28 per second, max configured rate is 400; Cumulative total count is 17000"
        );
        // Still flooding 20 s after the first message: a second one.
        let mut more = Vec::new();
        for s in 21..=40 {
            more.extend(m.sample(&drops(s * 1000), 100 + s));
        }
        assert_eq!(more.len(), 1);
    }

    #[test]
    fn slow_drops_and_repeated_seconds_say_nothing() {
        let mut m = ThreatMonitor::new(default_rules());
        let mut n = 0;
        for s in 0..700 {
            n += 50;
            assert!(m.sample(&drops(n), s).is_empty());
            assert!(m.sample(&drops(n), s).is_empty(), "same second twice");
        }
    }

    #[test]
    fn a_gap_spreads_the_count_over_the_missed_seconds() {
        let mut m = ThreatMonitor::new(default_rules());
        m.sample(&drops(0), 0);
        // 30 seconds later, 30,000 more drops: 1,000 a second, over the burst max.
        let msgs = m.sample(&drops(30_000), 30);
        assert_eq!(msgs.len(), 1);
        assert!(
            msgs[0]
                .text
                .contains("Current burst rate is 1000 per second")
        );
    }
}
