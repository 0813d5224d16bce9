//! The connection log end to end: real engines in a pool, the log pump
//! taking their events, the rate limit, and RFC 5424 datagrams arriving at
//! a UDP listener on loopback.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant as WallClock};

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{Side, TcpModel, v4_pair};
use rampart_dataplane::{Engine, EngineConfig, Instant};
use rampart_ops::pool::LocalPool;
use rampart_ops::syslog::SyslogCounters;
use rampart_ops::syslog::logger::{ConnLogger, LogPump, SyslogConfig};

#[test]
fn denies_reach_the_syslog_server_within_the_rate_limit() {
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    listener
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let engine = Engine::new(EngineConfig::inside_outside(NodeId(1), [3; 4])).unwrap();
    let pool = Arc::new(LocalPool::new(vec![engine], || Instant::from_secs(1)));
    pool.with(0, |e, _| e.set_conn_log(4096));
    // 50 non-SYN segments from inside with no connection: 50 x 106015.
    for port in 0..50u16 {
        let (c, s) = v4_pair(41_000 + port, 80);
        let mut m = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
        m.handshake();
        let ack = m.ack(Side::Client);
        pool.with(0, |e, now| {
            e.process(&mut m.frame(&ack), PacketMeta::default(), c.iface, now)
        });
    }
    let counters = Arc::new(SyslogCounters::default());
    let cfg = SyslogConfig {
        max_per_sec: 10,
        server: Some(listener.local_addr().unwrap()),
        hostname: "fw-a".into(),
        ..SyslogConfig::default()
    };
    let logger = ConnLogger::new(&cfg, counters.clone()).unwrap();
    let pump = LogPump::start(pool.clone(), logger, 4096).unwrap();
    let mut got = Vec::new();
    let deadline = WallClock::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    while WallClock::now() < deadline {
        match listener.recv(&mut buf) {
            Ok(n) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_)
                if counters.logged.load(Ordering::Relaxed)
                    + counters.suppressed.load(Ordering::Relaxed)
                    >= 50 =>
            {
                break;
            }
            Err(_) => {}
        }
    }
    drop(pump);
    let logged = counters.logged.load(Ordering::Relaxed);
    let suppressed = counters.suppressed.load(Ordering::Relaxed);
    assert_eq!(logged + suppressed, 50);
    // All 50 were taken in one poll and emitted at once: one second's
    // worth, or two if that instant straddled a second.
    assert!((10..=20).contains(&logged), "logged {logged}");
    assert_eq!(got.len() as u64, logged);
    let first = &got[0];
    assert!(
        first.starts_with("<166>1 "),
        "facility local4, severity 6: {first}"
    );
    assert!(first.contains(" fw-a rampart "), "{first}");
    assert!(
        first.contains(" 106015 - %ASA-6-106015: Deny TCP (no connection) from 198.18.0.10/41000 to 198.18.1.10/80 flags ACK  on interface inside"),
        "{first}"
    );
    assert_eq!(counters.udp_errors.load(Ordering::Relaxed), 0);
}
