//! A named per-second limit on log messages, so that a flood cannot fill a
//! disk; what it suppressed is counted and reported once the second is over.

/// Default: ASA syslog messages logged per second at most.
pub const DEFAULT_SYSLOG_MAX_PER_SEC: u32 = 1000;

/// The limit's state.
#[derive(Debug, Clone)]
pub struct RateLimit {
    max_per_sec: u32,
    second: u64,
    used: u32,
    suppressed: u64,
}

/// The limit's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admit {
    /// Log this message.
    pub log: bool,
    /// A second with suppressed messages just ended: report this count.
    pub suppressed_before: Option<u64>,
}

impl RateLimit {
    /// At most `max_per_sec` messages per second (0: none at all).
    pub fn new(max_per_sec: u32) -> Self {
        RateLimit {
            max_per_sec,
            second: 0,
            used: 0,
            suppressed: 0,
        }
    }

    /// The limit.
    pub fn max_per_sec(&self) -> u32 {
        self.max_per_sec
    }

    /// Close the current second if `now_s` is later (called on every
    /// message and on idle ticks, so a suppression is reported even when
    /// the flood stops).
    pub fn tick(&mut self, now_s: u64) -> Option<u64> {
        if now_s == self.second {
            return None;
        }
        self.second = now_s;
        self.used = 0;
        let s = std::mem::take(&mut self.suppressed);
        (s > 0).then_some(s)
    }

    /// May a message be logged at `now_s` (seconds on a monotonic clock)?
    pub fn admit(&mut self, now_s: u64) -> Admit {
        let suppressed_before = self.tick(now_s);
        let log = self.used < self.max_per_sec;
        if log {
            self.used += 1;
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
        }
        Admit {
            log,
            suppressed_before,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_at_the_limit_and_the_rest_reported() {
        let mut r = RateLimit::new(3);
        let logged = (0..10).filter(|_| r.admit(5).log).count();
        assert_eq!(logged, 3);
        let next = r.admit(6);
        assert_eq!(
            next,
            Admit {
                log: true,
                suppressed_before: Some(7)
            }
        );
        assert_eq!(r.tick(6), None);
        // Nothing suppressed in second 6: nothing to report at 7.
        assert_eq!(r.tick(7), None);
        let mut off = RateLimit::new(0);
        assert!(!off.admit(1).log);
        assert_eq!(off.tick(2), Some(1));
    }
}
