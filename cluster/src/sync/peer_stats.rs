//! Per-peer sync statistics for metrics and `show cluster`: events and
//! bytes each way, and the replication lag of event batches (first send to
//! the peer's acknowledgement) as a fixed-bucket histogram, so the
//! protocol keeps no samples and a scrape reads a copy.

use std::time::Duration;

/// Upper bounds of the lag buckets, in microseconds (the last bucket is
/// everything above). From a LAN round trip (tens of µs) to a peer that
/// was down for seconds.
pub const LAG_BUCKET_BOUNDS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

/// A histogram of replication lags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LagHistogram {
    /// Observations per bucket (not cumulative); index 16 is above the last bound.
    pub buckets: [u64; LAG_BUCKET_BOUNDS_US.len() + 1],
    /// Observations.
    pub count: u64,
    /// Sum of the observed lags, in nanoseconds (saturating).
    pub sum_ns: u64,
}

impl LagHistogram {
    /// Record one lag.
    pub fn observe(&mut self, lag: Duration) {
        let us = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        let i = LAG_BUCKET_BOUNDS_US.partition_point(|&b| b < us);
        self.buckets[i] = self.buckets[i].saturating_add(1);
        self.count = self.count.saturating_add(1);
        let ns = u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    /// The lag below which a fraction `q` (0–1) of observations fall, as
    /// the upper bound of the bucket that holds it (`None`: no
    /// observations; `Duration::MAX`: beyond the last bound).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen = seen.saturating_add(n);
            if seen >= rank {
                return Some(
                    LAG_BUCKET_BOUNDS_US
                        .get(i)
                        .map_or(Duration::MAX, |&us| Duration::from_micros(us)),
                );
            }
        }
        Some(Duration::MAX)
    }
}

/// What one peer link carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerCounters {
    /// Events sent to the peer (first sends of batches).
    pub events_sent: u64,
    /// Events received from the peer on the stream.
    pub events_received: u64,
    /// Bytes of frames sent to the peer (stream and datagrams).
    pub bytes_out: u64,
    /// Bytes of frames received from the peer (stream and datagrams).
    pub bytes_in: u64,
    /// Event batches acknowledged, by lag from first send to ack.
    pub lag: LagHistogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_quantiles() {
        let mut h = LagHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        for us in [10, 50, 51, 400, 2_000] {
            h.observe(Duration::from_micros(us));
        }
        h.observe(Duration::from_secs(60));
        assert_eq!(h.buckets[0], 2, "≤ 50 µs, bounds are inclusive");
        assert_eq!(h.buckets[1], 1);
        assert_eq!(h.buckets[3], 1);
        assert_eq!(h.buckets[5], 1);
        assert_eq!(h.buckets[16], 1);
        assert_eq!(h.count, 6);
        assert_eq!(h.quantile(0.5), Some(Duration::from_micros(100)));
        assert_eq!(h.quantile(0.0), Some(Duration::from_micros(50)));
        assert_eq!(h.quantile(1.0), Some(Duration::MAX));
        assert_eq!(
            h.sum_ns,
            (10 + 50 + 51 + 400 + 2_000) * 1_000 + 60_000_000_000
        );
    }
}
