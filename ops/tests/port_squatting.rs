//! A local user who binds the node's admin port first (it is an
//! unprivileged loopback port) neither keeps the node from starting nor
//! receives the operator's token (docs/ops.md §1).

use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_ops::backend::Backend;
use rampart_ops::client::{Client, ClientError};
use rampart_ops::fixture;
use rampart_ops::http::refusal::Listener;
use rampart_ops::metrics::Metrics;
use rampart_ops::metrics::text::sample;
use rampart_ops::server::{OpsConfig, OpsServer, StartError};

const TOKEN: &str = "real-admin-token";

fn start(admin: SocketAddr) -> OpsServer {
    let backend: Arc<dyn Backend> = Arc::new(fixture::admin(fixture::standalone_status()));
    let b = backend.clone();
    let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
    let cfg = OpsConfig {
        metrics: Some("127.0.0.1:0".parse().unwrap()),
        admin: Some(admin),
        token: Some(TOKEN.into()),
        ..OpsConfig::default()
    };
    OpsServer::start(&cfg, backend, metrics).expect("the node starts")
}

fn admin_series(metrics: SocketAddr, name: &str) -> Option<f64> {
    let r = Client::new(metrics, None)
        .request("GET", "/metrics", b"", "")
        .unwrap();
    let text = String::from_utf8(r.body).unwrap();
    sample(&text, name, &[("listener", "admin")])
}

/// Before, the bind error stopped `rampart run`, and with it forwarding.
#[test]
fn a_taken_admin_port_does_not_stop_the_node_and_is_bound_once_free() {
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = squatter.local_addr().unwrap();
    let srv = start(addr);
    assert_eq!(srv.admin_addr, Some(addr));
    assert!(srv.waiting_at_start(Listener::Admin));
    assert!(!srv.waiting_at_start(Listener::Metrics));
    let metrics = srv.metrics_addr.unwrap();
    assert_eq!(admin_series(metrics, "rampart_ops_listener_up"), Some(0.0));
    assert!(
        admin_series(metrics, "rampart_ops_listener_bind_failures_total").unwrap() >= 1.0,
        "the failure is counted"
    );
    drop(squatter);
    // The listener tries again every 2 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Client::new(addr, Some(TOKEN.into())).counters() {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "never bound: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(admin_series(metrics, "rampart_ops_listener_up"), Some(1.0));
}

/// A metrics listener that waits for its port cannot report that through
/// itself (the scrape fails): the admin API's counters (`rampart show
/// counters`) say which listener is down. Before, nothing but the log did.
#[test]
fn the_admin_api_reports_a_metrics_listener_that_waits() {
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let backend: Arc<dyn Backend> = Arc::new(fixture::admin(fixture::standalone_status()));
    let b = backend.clone();
    let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
    let cfg = OpsConfig {
        metrics: Some(squatter.local_addr().unwrap()),
        admin: Some("127.0.0.1:0".parse().unwrap()),
        token: Some(TOKEN.into()),
        ..OpsConfig::default()
    };
    let srv = OpsServer::start(&cfg, backend, metrics).unwrap();
    let c = Client::new(srv.admin_addr.unwrap(), Some(TOKEN.into()))
        .counters()
        .unwrap();
    let seen: Vec<(&str, bool)> = c
        .ops_listeners
        .iter()
        .map(|l| (l.listener.as_str(), l.up))
        .collect();
    assert_eq!(seen, [("metrics", false), ("admin", true)]);
    assert!(c.ops_listeners[0].bind_failures >= 1);
}

/// Only an address in use is waited for: one this host does not have is
/// a configuration mistake that waiting would not mend, and the node
/// refuses to start, naming it. Before, every bind error was retried
/// forever and the node started as if the listener were coming.
#[test]
fn an_address_not_on_this_host_is_refused_at_start() {
    let backend: Arc<dyn Backend> = Arc::new(fixture::admin(fixture::standalone_status()));
    let b = backend.clone();
    let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
    // TEST-NET-1 (RFC 5737): on no host.
    let cfg = OpsConfig {
        metrics: Some("192.0.2.1:9100".parse().unwrap()),
        token: Some(TOKEN.into()),
        ..OpsConfig::default()
    };
    match OpsServer::start(&cfg, backend, metrics) {
        Err(e @ StartError::Bind { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("192.0.2.1:9100") && msg.contains("metrics"),
                "{msg}"
            );
        }
        other => panic!("expected a refusal to start, got {other:?}"),
    }
}

/// Before, the CLI sent `Authorization: Bearer <token>` to whatever
/// listened on the admin address.
#[test]
fn the_cli_sends_no_token_to_a_socket_the_node_does_not_own() {
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = squatter.local_addr().unwrap();
    let seen = std::thread::spawn(move || {
        let (mut s, _) = squatter.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        got
    });
    // The squatter runs as this test's user: trust someone else only.
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let r = Client::new(addr, Some(TOKEN.into()))
        .trusting_only(vec![me.wrapping_add(1)])
        .configure("hostname x\n");
    match r {
        Err(e @ ClientError::NotTheNode { uid, .. }) => {
            assert_eq!(uid, me);
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("belongs to uid {me}")) && !msg.contains(TOKEN),
                "{msg}"
            );
        }
        other => panic!("expected a refusal before sending, got {other:?}"),
    }
    // Only the empty line the CLI sends before its owner lookup (so that
    // the node's listener does not take it for a silent connection): no
    // request, no token.
    let got = seen.join().unwrap();
    assert_eq!(
        got,
        b"\r\n",
        "the squatter got {:?}",
        String::from_utf8_lossy(&got)
    );
}

/// The node's own socket (this process's, here) gets the token as before.
#[test]
fn the_cli_sends_the_token_to_the_node_s_own_socket() {
    let srv = start("127.0.0.1:0".parse().unwrap());
    let c = Client::new(srv.admin_addr.unwrap(), Some(TOKEN.into()));
    c.configure("hostname x\n")
        .expect("the node's own listener");
}
