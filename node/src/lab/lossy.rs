//! A lossy, slow UDP link in user space, for kernels without `sch_netem`
//! (`tc qdisc add … netem` fails with "Specified qdisc kind is unknown"):
//! a relay that listens on one address and forwards each datagram to a
//! fixed upstream, and the upstream's replies back to the last sender,
//! dropping a share of datagrams in each direction and delaying the rest.
//! It can also cut the link (drop everything) and heal it. The loss is
//! drawn from a seeded generator, so a run can be repeated.
//!
//! The relay runs on its own thread (inside a namespace when started with
//! [`super::netns::Netns::spawn`]) until the handle is dropped;
//! every wait is bounded.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Link impairments, changeable while it runs.
#[derive(Debug)]
pub struct Impairment {
    /// Loss per direction in parts per million.
    pub loss_ppm: AtomicU32,
    /// One-way delay in microseconds.
    pub delay_us: AtomicU64,
    /// Drop everything (a cut cable).
    pub cut: AtomicBool,
}

/// Counters of the relay.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Datagrams forwarded.
    pub forwarded: AtomicU64,
    /// Datagrams dropped by the loss draw or a cut.
    pub dropped: AtomicU64,
}

/// A running relay; stops when dropped.
pub struct LossyLink {
    /// Its listening address (give this to the dialling side as the peer).
    pub addr: SocketAddr,
    /// Impairments (change at will).
    pub impairment: Arc<Impairment>,
    /// Counters.
    pub stats: Arc<LinkStats>,
    stop: Arc<AtomicBool>,
    thread: Option<Join>,
}

/// Waits for the relay thread to end (see [`LossyLink::start`]).
pub type Join = Box<dyn FnOnce() + Send>;

impl std::fmt::Debug for LossyLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LossyLink")
            .field("addr", &self.addr)
            .field("impairment", &self.impairment)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Drop for LossyLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.thread.take() {
            join();
        }
    }
}

/// splitmix64: a small, good, seeded generator (also the mesh lab's
/// choice of paths).
pub(crate) fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl LossyLink {
    /// Start a relay: `listen` ↔ `upstream`, with `loss` (0.0–1.0) in
    /// each direction and `delay` one way. `spawn` runs the relay thread
    /// (for example in a namespace) and returns what waits for its end.
    pub fn start(
        spawn: impl FnOnce(Box<dyn FnOnce() + Send>) -> Join,
        listen: SocketAddr,
        upstream: SocketAddr,
        loss: f64,
        delay: Duration,
        seed: u64,
    ) -> LossyLink {
        let impairment = Arc::new(Impairment {
            loss_ppm: AtomicU32::new((loss.clamp(0.0, 1.0) * 1e6) as u32),
            delay_us: AtomicU64::new(delay.as_micros() as u64),
            cut: AtomicBool::new(false),
        });
        let stats = Arc::new(LinkStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (imp, st, halt) = (impairment.clone(), stats.clone(), stop.clone());
        let thread = spawn(Box::new(move || {
            let down = UdpSocket::bind(listen).expect("relay listen");
            let up_bind = SocketAddr::new(listen.ip(), 0);
            let up = UdpSocket::bind(up_bind).expect("relay upstream socket");
            let _ = tx.send(down.local_addr().expect("relay address"));
            relay(&down, &up, upstream, &imp, &st, &halt, seed);
        }));
        let addr = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("relay started");
        LossyLink {
            addr,
            impairment,
            stats,
            stop,
            thread: Some(thread),
        }
    }
}

struct Pending {
    due: Instant,
    to_upstream: bool,
    data: Vec<u8>,
}

fn relay(
    down: &UdpSocket,
    up: &UdpSocket,
    upstream: SocketAddr,
    imp: &Impairment,
    stats: &LinkStats,
    stop: &AtomicBool,
    seed: u64,
) {
    for s in [down, up] {
        s.set_nonblocking(true).expect("non-blocking");
    }
    let mut rng = seed;
    let mut client: Option<SocketAddr> = None;
    let mut queue: VecDeque<Pending> = VecDeque::new();
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let mut moved = false;
        for (sock, to_upstream) in [(down, true), (up, false)] {
            // A bounded number per turn so neither side starves the other.
            for _ in 0..256 {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    break;
                };
                moved = true;
                if to_upstream {
                    client = Some(from);
                }
                let lost =
                    (next(&mut rng) % 1_000_000) < u64::from(imp.loss_ppm.load(Ordering::Relaxed));
                if lost || imp.cut.load(Ordering::Relaxed) {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let delay = Duration::from_micros(imp.delay_us.load(Ordering::Relaxed));
                queue.push_back(Pending {
                    due: Instant::now() + delay,
                    to_upstream,
                    data: buf[..n].to_vec(),
                });
            }
        }
        let now = Instant::now();
        while queue.front().is_some_and(|p| p.due <= now) {
            let Some(p) = queue.pop_front() else { break };
            let sent = if p.to_upstream {
                up.send_to(&p.data, upstream).is_ok()
            } else {
                client.is_some_and(|c| down.send_to(&p.data, c).is_ok())
            };
            if sent {
                stats.forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !moved {
            // Sleep until the next datagram is due, at most 200 µs.
            let wait = queue
                .front()
                .map_or(Duration::from_micros(200), |p| {
                    p.due.saturating_duration_since(now)
                })
                .min(Duration::from_micros(200));
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How long the relay test waits for one step before it calls the
    /// relay hung: a bound no healthy run comes near, not a timing claim.
    const HANG_GUARD: Duration = Duration::from_secs(30);

    #[test]
    fn relays_with_loss_and_delay() {
        let echo = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let echo_addr = echo.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let echo_thread = std::thread::spawn(move || {
            echo.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            let mut b = [0u8; 64];
            while !s2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = echo.recv_from(&mut b) {
                    let _ = echo.send_to(&b[..n], from);
                }
            }
        });
        let link = LossyLink::start(
            |f| {
                let t = std::thread::spawn(f);
                Box::new(move || {
                    let _ = t.join();
                })
            },
            "127.0.0.1:0".parse().expect("addr"),
            echo_addr,
            0.2,
            Duration::from_millis(5),
            7,
        );
        let c = UdpSocket::bind("127.0.0.1:0").expect("client");
        // A hang guard far above any plausible time, not a timing claim:
        // the test reads a reply only once the relay says it forwarded it.
        c.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
        // The relay's decisions, counted: each datagram it has judged is
        // forwarded or dropped, so the test waits for the counters, never
        // for a reply that may have been dropped.
        let judged = |n: u64| {
            let deadline = Instant::now() + HANG_GUARD;
            loop {
                let (f, d) = (
                    link.stats.forwarded.load(Ordering::SeqCst),
                    link.stats.dropped.load(Ordering::SeqCst),
                );
                if f + d >= n {
                    return (f, d);
                }
                assert!(
                    Instant::now() < deadline,
                    "the relay judged {} of {n}",
                    f + d
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        // The loss the seed draws, one draw per datagram in the order the
        // relay takes them: one exchange at a time, the request then its
        // echo.
        let (mut rng, mut want) = (7u64, (0u64, 0u64, 0u32));
        let mut lost = || next(&mut rng) % 1_000_000 < 200_000;
        let (mut got, mut judged_so_far) = (0u32, 0u64);
        for i in 0..200u32 {
            let t0 = Instant::now();
            c.send_to(&i.to_be_bytes(), link.addr).expect("send");
            judged_so_far += 1;
            judged(judged_so_far);
            if lost() {
                want.1 += 1;
                continue;
            }
            want.0 += 1;
            // The request went on: the echo's reply is judged next.
            judged_so_far += 1;
            judged(judged_so_far);
            if lost() {
                want.1 += 1;
                continue;
            }
            want.0 += 1;
            want.2 += 1;
            let mut b = [0u8; 4];
            c.recv(&mut b).expect("a forwarded reply arrives");
            assert_eq!(b, i.to_be_bytes(), "the reply to {i}");
            got += 1;
            // A lower bound: a loaded machine only makes it longer.
            assert!(
                t0.elapsed() >= Duration::from_millis(10),
                "round trip {i} took {:?}, less than the two 5 ms delays",
                t0.elapsed()
            );
        }
        let (forwarded, dropped) = (
            link.stats.forwarded.load(Ordering::SeqCst),
            link.stats.dropped.load(Ordering::SeqCst),
        );
        assert_eq!((forwarded, dropped, got), want, "not the seed's loss");
        // Both directions lose 20 %: about 64 % of round trips complete,
        // and about a fifth of what the relay took is dropped.
        assert!((90..=170).contains(&got), "{got} of 200 round trips");
        let share = dropped as f64 / (forwarded + dropped) as f64;
        assert!((0.12..=0.28).contains(&share), "{share} dropped");
        stop.store(true, Ordering::Relaxed);
        let _ = echo_thread.join();
    }
}
