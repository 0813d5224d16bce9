//! The simulated cluster network: one link per pair of nodes, carrying a
//! QUIC-like connection — an ordered, reliable stream that dies as a whole
//! (a reset, a partition, a dead peer), plus unreliable datagrams that may
//! be lost, duplicated or reordered. Times are simulation nanoseconds.

use std::time::Duration;

/// One link between nodes `a < b`.
#[derive(Debug, Clone)]
pub struct Link {
    /// The nodes.
    pub ends: [usize; 2],
    /// The live connection, if any.
    pub conn: Option<u64>,
    /// Cut: nothing passes, no connection can be made.
    pub partitioned: bool,
    /// When the current cut heals (simulation ns).
    pub heal_at: u64,
    /// One-way delay.
    pub delay: Duration,
    /// Extra delay until `spike_until` (ns).
    pub spike: Duration,
    /// End of the delay spike (simulation ns).
    pub spike_until: u64,
    /// Share of datagrams lost.
    pub dgram_loss: f64,
    /// Share of datagrams delivered twice.
    pub dgram_dup: f64,
    /// Latest delivery time scheduled on the stream, per direction (the
    /// stream is ordered: a frame never overtakes an earlier one).
    pub last_at: [u64; 2],
    /// The connection a crashed end left behind, which the survivor still
    /// holds until it times out or the restarted end replaces it.
    pub dead_conn: Option<u64>,
    /// A connection a restarted end's new one replaces, with the end that
    /// still holds it: that end's transport reports the new connection up
    /// first and this one down just after (the restarted end re-dialled
    /// before the old connection's idle timeout, docs/simulator.md).
    pub replaced: Option<(usize, u64)>,
    /// Each end has seen the last connection go down.
    pub down_seen: [bool; 2],
}

impl Link {
    /// A healthy link.
    pub fn new(a: usize, b: usize, delay: Duration) -> Link {
        Link {
            ends: [a, b],
            conn: None,
            partitioned: false,
            heal_at: 0,
            delay,
            spike: Duration::ZERO,
            spike_until: 0,
            dgram_loss: 0.0,
            dgram_dup: 0.0,
            last_at: [0, 0],
            dead_conn: None,
            replaced: None,
            down_seen: [true, true],
        }
    }

    /// Which end `node` is (0 or 1).
    pub fn side(&self, node: usize) -> usize {
        usize::from(self.ends[1] == node)
    }

    /// A stream frame from `from` met the cut: QUIC delivers it (in order)
    /// once the cut heals. Returns its new arrival time.
    pub fn postpone(&mut self, from: usize) -> u64 {
        let dir = self.side(from);
        let at = (self.heal_at + self.delay_at(self.heal_at)).max(self.last_at[dir]);
        self.last_at[dir] = at;
        at
    }

    /// One-way delay now.
    pub fn delay_at(&self, now: u64) -> u64 {
        let base = self.delay.as_nanos() as u64;
        if now < self.spike_until {
            base + self.spike.as_nanos() as u64
        } else {
            base
        }
    }

    /// When a stream frame sent by `from` now arrives.
    pub fn stream_arrival(&mut self, from: usize, now: u64, jitter: u64) -> u64 {
        let dir = self.side(from);
        let at = (now + self.delay_at(now) + jitter).max(self.last_at[dir]);
        self.last_at[dir] = at;
        at
    }
}

/// Every link of a cluster of `n` nodes.
#[derive(Debug, Clone)]
pub struct Net {
    /// Links, by [`Net::index`].
    pub links: Vec<Link>,
    n: usize,
    next_conn: u64,
}

impl Net {
    /// A full mesh of healthy links.
    pub fn new(n: usize, delay: impl Fn(usize, usize) -> Duration) -> Net {
        let mut links = Vec::new();
        for a in 0..n {
            for b in a + 1..n {
                links.push(Link::new(a, b, delay(a, b)));
            }
        }
        Net {
            links,
            n,
            next_conn: 0,
        }
    }

    /// The index of the link between `a` and `b`.
    pub fn index(&self, a: usize, b: usize) -> usize {
        let (a, b) = (a.min(b), a.max(b));
        // Links are listed (0,1) (0,2) … (1,2) …
        a * self.n - a * (a + 1) / 2 + (b - a - 1)
    }

    /// Whether news between `a` and `b` is held up at `now`: the link is
    /// cut, its connection is down, or its delay is raised.
    pub fn cut_off(&self, a: usize, b: usize, now: u64) -> bool {
        let l = &self.links[self.index(a, b)];
        l.partitioned || l.conn.is_none() || l.spike_until > now
    }

    /// The link between `a` and `b`.
    pub fn link(&mut self, a: usize, b: usize) -> &mut Link {
        let i = self.index(a, b);
        &mut self.links[i]
    }

    /// A fresh connection id.
    pub fn new_conn(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }
}
