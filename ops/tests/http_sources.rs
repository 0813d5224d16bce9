//! Whom the listeners count connections under, against floods of young
//! connections that would keep a scrape out (docs/ops.md §2): one local
//! user is one source whatever loopback address it uses, and another
//! local user is another; the addresses of one IPv6 /64 are one source.
//!
//! The floods are the one a review found: each flooding connection is
//! closed just before it is old enough to be closed to make room, and
//! opened again at once, so every slot it holds is always too young to
//! give up. Each test builds network namespaces of its own
//! (`fixmgmt-<pid>-…`, removed on drop, also when the test fails) and uses
//! their loopback or documentation addresses (RFC 3849). Needs root (the
//! namespaces, and a second uid for the flood's sockets); skipped with a
//! message otherwise.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rampart_ops::backend::Backend;
use rampart_ops::fixture;
use rampart_ops::http::MIN_EVICT_AGE_MS;
use rampart_ops::metrics::Metrics;
use rampart_ops::server::{OpsConfig, OpsServer};

/// The uid the flood's sockets are made as (no such user need exist).
const FLOOD_UID: u32 = 4242;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn sh(args: &[&str]) {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("iproute2");
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace of this test, removed on drop.
struct Ns(String);

impl Ns {
    fn new(tag: &str) -> Ns {
        let name = format!("fixmgmt-{}-{tag}", std::process::id());
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &name])
            .output();
        sh(&["ip", "netns", "add", &name]);
        let ns = Ns(name);
        sh(&["ip", "-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// Move the calling thread into this namespace (setns is per thread).
    fn enter(&self) {
        let file = std::fs::File::open(format!("/var/run/netns/{}", self.0)).expect("netns");
        // SAFETY: a valid namespace descriptor; setns changes only this
        // thread's namespace.
        let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
    }

    /// Run `f` on a thread inside this namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let name = self.0.clone();
        std::thread::spawn(move || {
            Ns(name.clone()).enter_and_forget();
            f()
        })
        .join()
        .expect("the namespace thread")
    }

    fn enter_and_forget(self) {
        self.enter();
        std::mem::forget(self);
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .output();
    }
}

/// The fixture's node serving `/metrics` at `addr`, started in `ns`.
fn metrics_server(ns: &Ns, addr: &str) -> (OpsServer, SocketAddr) {
    let addr: SocketAddr = addr.parse().unwrap();
    let srv = ns.run(move || {
        let backend: Arc<dyn Backend> = Arc::new(fixture::admin(fixture::standalone_status()));
        let b = backend.clone();
        let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
        let cfg = OpsConfig {
            metrics: Some(addr),
            ..OpsConfig::default()
        };
        OpsServer::start(&cfg, backend, metrics).expect("the metrics listener")
    });
    let bound = srv.metrics_addr.expect("bound");
    (srv, bound)
}

/// Prometheus's default `scrape_timeout`.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// One scrape from `from`: its status, or 0 without an answer within
/// Prometheus's default scrape timeout (10 s). The connect may take a SYN
/// retransmission or two: the flood fills the kernel's accept queue, which
/// drops a newcomer's SYN whatever the listener then does with it (on a
/// loaded CI machine one scrape of 20 once missed a 2 s connect timeout).
fn scrape(from: IpAddr, to: SocketAddr) -> u16 {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    s.bind(&SocketAddr::new(from, 0).into()).unwrap();
    let started = std::time::Instant::now();
    if s.connect_timeout(&to.into(), SCRAPE_TIMEOUT).is_err() {
        return 0;
    }
    let mut s: std::net::TcpStream = s.into();
    let left = SCRAPE_TIMEOUT.saturating_sub(started.elapsed());
    s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .unwrap();
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A flood from `sources` (`per_source` loops each), on a runtime whose
/// threads are in `ns` and make their sockets as [`FLOOD_UID`]: each loop
/// connects, sends one byte (so that no rule for silent connections
/// applies), and closes before [`MIN_EVICT_AGE_MS`]; a refused one tries
/// again 2 ms later. Stops on drop.
struct Flood {
    rt: Option<tokio::runtime::Runtime>,
    stop: Arc<AtomicBool>,
    /// Connections the listener kept (no answer within 30 ms).
    kept: Arc<AtomicUsize>,
    /// Connections it refused at once.
    refused: Arc<AtomicUsize>,
}

impl Flood {
    fn start(ns: &Ns, sources: Vec<IpAddr>, per_source: usize, to: SocketAddr) -> Flood {
        let name = ns.0.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .on_thread_start(move || {
                Ns(name.clone()).enter_and_forget();
                // Only this thread's: the kernel keeps the fs uid per
                // thread, and sockets are owned by it (setfsuid(2)).
                // SAFETY: setfsuid has no memory preconditions.
                unsafe { libc::setfsuid(FLOOD_UID) };
            })
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let kept = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let hold = Duration::from_millis(MIN_EVICT_AGE_MS * 84 / 100);
        for src in sources {
            for _ in 0..per_source {
                let (stop, kept, refused) = (stop.clone(), kept.clone(), refused.clone());
                rt.spawn(async move {
                    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                    while !stop.load(Ordering::Relaxed) {
                        let sock = match src {
                            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
                        }
                        .unwrap();
                        let connected = match sock.bind(SocketAddr::new(src, 0)) {
                            Ok(()) => sock.connect(to).await.ok(),
                            Err(_) => None,
                        };
                        let Some(mut s) = connected else {
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            continue;
                        };
                        let t0 = tokio::time::Instant::now();
                        let _ = s.write_all(b"G").await;
                        let mut b = [0u8; 64];
                        match tokio::time::timeout(Duration::from_millis(30), s.read(&mut b)).await
                        {
                            Ok(_) => {
                                refused.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(2)).await;
                            }
                            Err(_) => {
                                kept.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep_until(t0 + hold).await;
                            }
                        }
                    }
                });
            }
        }
        Flood {
            rt: Some(rt),
            stop,
            kept,
            refused,
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Scrape `n` times from `from`, 50 ms apart, inside `ns`; the statuses.
fn scrapes(ns: &Ns, from: IpAddr, to: SocketAddr, n: usize) -> Vec<u16> {
    ns.run(move || {
        (0..n)
            .map(|_| {
                let s = scrape(from, to);
                std::thread::sleep(Duration::from_millis(50));
                s
            })
            .collect()
    })
}

/// A local user floods the metrics listener on loopback from 127.0.0.2
/// through .5 with 40 loops; a scrape by another user (root here: the
/// node's own Prometheus, say) from 127.0.0.1 is answered every time,
/// while the flood is refused beyond its one cap. Before, every loopback
/// connection was one source, and the flood's 32 young connections
/// refused all but a few such scrapes (2 of 40 in the review).
#[test]
fn one_local_users_flood_leaves_room_for_another_users_scrapes() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, a second uid)");
        return;
    }
    let ns = Ns::new("uid");
    let (_srv, to) = metrics_server(&ns, "127.0.0.1:0");
    let lo = |last: u8| IpAddr::from([127, 0, 0, last]);
    let flood = Flood::start(&ns, (2..=5).map(lo).collect(), 10, to);
    std::thread::sleep(Duration::from_millis(1500));
    let got = scrapes(&ns, lo(1), to, 20);
    let (kept, refused) = (
        flood.kept.load(Ordering::Relaxed),
        flood.refused.load(Ordering::Relaxed),
    );
    drop(flood);
    eprintln!("flood: {kept} kept, {refused} refused; scrapes: {got:?}");
    assert!(refused > 0, "the flood never met its cap ({kept} kept)");
    assert!(got.iter().all(|&s| s == 200), "scrapes: {got:?}");
}

/// One host on another network takes nine addresses of its IPv6 /64 and
/// floods the metrics listener from all of them (64 loops each); a scrape
/// from another /64 is answered every time. Before, each address was a
/// source with a cap of its own: nine caps of 32 held every one of the
/// listener's 256 slots, and 12 of 40 such scrapes were answered.
#[test]
fn the_addresses_of_one_ipv6_64_share_one_cap() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, a second uid)");
        return;
    }
    let server = Ns::new("v6s");
    let client = Ns::new("v6c");
    let (a, b) = (
        format!("fm{}s", std::process::id()),
        format!("fm{}c", std::process::id()),
    );
    sh(&[
        "ip", "link", "add", &a, "netns", &server.0, "type", "veth", "peer", "name", &b, "netns",
        &client.0,
    ]);
    for (ns, dev, addrs) in [
        (
            &server,
            &a,
            vec![
                "2001:db8:1::1/64".to_string(),
                "2001:db8:2::1/64".to_string(),
            ],
        ),
        (
            &client,
            &b,
            (2..=10)
                .map(|i| format!("2001:db8:1::{i:x}/64"))
                .chain(["2001:db8:2::2/64".to_string()])
                .collect(),
        ),
    ] {
        for addr in &addrs {
            sh(&["ip", "-n", &ns.0, "addr", "add", addr, "dev", dev, "nodad"]);
        }
        sh(&["ip", "-n", &ns.0, "link", "set", dev, "up"]);
    }
    let (_srv, to) = metrics_server(&server, "[2001:db8:1::1]:0");
    let one_64: Vec<IpAddr> = (2..=10)
        .map(|i| format!("2001:db8:1::{i:x}").parse().unwrap())
        .collect();
    let flood = Flood::start(&client, one_64, 64, to);
    std::thread::sleep(Duration::from_millis(2000));
    let got = scrapes(&client, "2001:db8:2::2".parse().unwrap(), to, 20);
    let (kept, refused) = (
        flood.kept.load(Ordering::Relaxed),
        flood.refused.load(Ordering::Relaxed),
    );
    drop(flood);
    eprintln!("flood: {kept} kept, {refused} refused; scrapes: {got:?}");
    assert!(refused > 0, "the flood never met its cap ({kept} kept)");
    assert!(got.iter().all(|&s| s == 200), "scrapes: {got:?}");
}

/// One user holds its cap of the metrics listener with connections that
/// send nothing: past the silent grace, a newcomer of that same source (a
/// scrape) closes one and is answered, long before the minimum age (a
/// minute here, so that only the grace can make room). Connections that
/// have sent a byte are kept: a scrape is then refused. Before, a silent
/// connection was kept as long as any other, and a flood of them, each
/// closed and opened again just under the minimum age, held its cap.
#[test]
fn silent_connections_make_room_after_the_grace() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces)");
        return;
    }
    let ns = Ns::new("silent");
    let srv = ns.run(|| {
        let backend: Arc<dyn Backend> = Arc::new(fixture::admin(fixture::standalone_status()));
        let b = backend.clone();
        let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
        let mut cfg = OpsConfig {
            metrics: Some("127.0.0.1:0".parse().unwrap()),
            ..OpsConfig::default()
        };
        cfg.limits.caps.min_evict_age_ms = 60_000;
        OpsServer::start(&cfg, backend, metrics).expect("the metrics listener")
    });
    let to = srv.metrics_addr.unwrap();
    let lo = IpAddr::from([127, 0, 0, 1]);
    let grace = Duration::from_millis(rampart_ops::http::SILENT_GRACE_MS);
    for first_byte in [None, Some(b"G")] {
        let held = ns.run(move || {
            let held: Vec<std::net::TcpStream> = (0..rampart_ops::http::MAX_CONNECTIONS_PER_SOURCE)
                .map(|_| {
                    let mut s = std::net::TcpStream::connect(to).unwrap();
                    if let Some(b) = first_byte {
                        s.write_all(b).unwrap();
                    }
                    s
                })
                .collect();
            std::thread::sleep(grace * 2);
            held
        });
        let got = scrapes(&ns, lo, to, 3);
        drop(held);
        match first_byte {
            None => assert_eq!(got, [200, 200, 200], "silent connections were kept"),
            Some(_) => assert_eq!(got, [503, 503, 503], "a connection that sent was closed"),
        }
        // The held ones are gone before the next round.
        std::thread::sleep(Duration::from_millis(200));
    }
}
