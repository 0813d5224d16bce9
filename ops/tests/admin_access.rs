//! Who may ask the admin API (docs/ops.md §3): a `Host` header naming this
//! listener (DNS rebinding from a browser on the host is refused), and,
//! when a read token is configured, a token on every read. The metrics
//! listener checks `Host` only when configured to, and never asks for a
//! token.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use rampart_ops::backend::Backend;
use rampart_ops::client::{Client, RawResponse, parse_response};
use rampart_ops::fixture;
use rampart_ops::metrics::Metrics;
use rampart_ops::metrics::text::sample;
use rampart_ops::server::{OpsConfig, OpsServer};

const TOKEN: &str = "c0ffee-change";
const READ_TOKEN: &str = "5ca1ab1e-read";

fn start(cfg: OpsConfig) -> OpsServer {
    let backend: Arc<dyn Backend> = Arc::new(fixture::admin(fixture::standalone_status()));
    let b = backend.clone();
    let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
    let cfg = OpsConfig {
        metrics: Some("127.0.0.1:0".parse().unwrap()),
        admin: Some("127.0.0.1:0".parse().unwrap()),
        token: Some(TOKEN.into()),
        ..cfg
    };
    OpsServer::start(&cfg, backend, metrics).unwrap()
}

/// A GET with exactly these headers (`host: None` sends none, as an
/// HTTP/1.0 request may).
fn get(addr: SocketAddr, path: &str, host: Option<&str>, bearer: Option<&str>) -> RawResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    let version = if host.is_some() { "1.1" } else { "1.0" };
    let mut head = format!("GET {path} HTTP/{version}\r\nConnection: close\r\n");
    if let Some(h) = host {
        head.push_str(&format!("Host: {h}\r\n"));
    }
    if let Some(t) = bearer {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw).unwrap()
}

#[test]
fn the_admin_api_answers_only_to_its_own_names() {
    let srv = start(OpsConfig {
        admin_hosts: vec!["fw-a.mgmt.example".into()],
        ..OpsConfig::default()
    });
    let a = srv.admin_addr.unwrap();
    let port = a.port();
    for ok in [
        a.to_string(),
        "127.0.0.1".to_string(),
        format!("localhost:{port}"),
        "LOCALHOST".to_string(),
        format!("[::1]:{port}"),
        format!("fw-a.mgmt.example:{port}"),
    ] {
        let r = get(a, "/v1/counters", Some(&ok), None);
        assert_eq!(r.status, 200, "Host: {ok}");
    }
    for bad in [
        format!("attacker.example:{port}"),
        "attacker.example".to_string(),
        format!("localhost.attacker.example:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        format!("localhost:{port}:{port}"),
        "[::1".to_string(),
        String::new(),
    ] {
        let r = get(a, "/v1/counters", Some(&bad), None);
        assert_eq!(r.status, 421, "Host: {bad:?}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("attacker"),
            "the refusal does not echo the name"
        );
    }
    // A change from a foreign name is refused before its token is looked at.
    let c = Client::new(a, Some(TOKEN.into()));
    assert_eq!(
        c.request("GET", "/v1/counters", b"", "").unwrap().status,
        200
    );
    let mut s = TcpStream::connect(a).unwrap();
    write!(
        s,
        "POST /v1/clear-conn HTTP/1.1\r\nHost: rebound.example:{port}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    assert_eq!(parse_response(&raw).unwrap().status, 421);
    // HTTP/1.0 without a Host is refused too (RFC 9112 §3.2 asks a 400 of
    // HTTP/1.1; a name is what the check needs either way).
    assert_eq!(get(a, "/v1/counters", None, None).status, 400);

    let m = srv.metrics_addr.unwrap();
    let r = get(m, "/metrics", Some("10.1.2.3:9460"), None);
    assert_eq!(
        r.status, 200,
        "without metrics_hosts the metrics listener takes any Host"
    );
    let text = String::from_utf8(r.body).unwrap();
    let bad_host = sample(
        &text,
        "rampart_ops_http_refused_total",
        &[("listener", "admin"), ("reason", "bad_host")],
    );
    assert_eq!(bad_host, Some(9.0));
}

#[test]
fn the_metrics_listener_checks_host_when_configured() {
    let srv = start(OpsConfig {
        metrics_hosts: Some(vec!["prom-target.example".into()]),
        ..OpsConfig::default()
    });
    let m = srv.metrics_addr.unwrap();
    let port = m.port();
    assert_eq!(get(m, "/metrics", Some(&m.to_string()), None).status, 200);
    assert_eq!(
        get(
            m,
            "/readyz",
            Some(&format!("prom-target.example:{port}")),
            None
        )
        .status,
        200
    );
    assert_eq!(
        get(m, "/healthz", Some("attacker.example"), None).status,
        421
    );
    assert_eq!(
        get(
            m,
            "/metrics",
            Some(&format!("attacker.example:{port}")),
            None
        )
        .status,
        421
    );
}

#[test]
fn with_a_read_token_every_admin_read_needs_a_token() {
    let srv = start(OpsConfig {
        read_token: Some(READ_TOKEN.into()),
        ..OpsConfig::default()
    });
    let a = srv.admin_addr.unwrap();
    let host = a.to_string();
    for path in [
        "/v1/counters",
        "/v1/conn",
        "/v1/running-config",
        "/readyz",
        "/v1/nope",
    ] {
        assert_eq!(
            get(a, path, Some(&host), None).status,
            401,
            "{path} without a token"
        );
        assert_eq!(
            get(a, path, Some(&host), Some("not-it")).status,
            401,
            "{path} with a wrong token"
        );
    }
    assert_eq!(
        get(a, "/v1/counters", Some(&host), Some(READ_TOKEN)).status,
        200
    );
    assert_eq!(
        get(a, "/v1/counters", Some(&host), Some(TOKEN)).status,
        200,
        "the change token reads too"
    );
    // The read token does not authorize a change.
    let reader = Client::new(a, Some(READ_TOKEN.into()));
    assert_eq!(
        reader
            .request("POST", "/v1/clear-conn", b"", "")
            .unwrap()
            .status,
        401
    );
    // The metrics listener never asks for one.
    let m = srv.metrics_addr.unwrap();
    assert_eq!(get(m, "/metrics", Some(&m.to_string()), None).status, 200);
    assert_eq!(get(m, "/readyz", Some(&m.to_string()), None).status, 200);
}

#[test]
fn without_a_read_token_reads_stay_open() {
    let srv = start(OpsConfig::default());
    let a = srv.admin_addr.unwrap();
    assert_eq!(
        get(a, "/v1/counters", Some(&a.to_string()), None).status,
        200
    );
}

#[test]
fn error_answers_echo_user_text_escaped_and_bounded() {
    let srv = start(OpsConfig::default());
    let a = srv.admin_addr.unwrap();
    let host = a.to_string();
    let huge = "A".repeat(512 << 10);
    // Bounds the answer: an echo of at most a few hundred bytes.
    let small = |r: &RawResponse| {
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(body.len() < 600, "{} bytes: {}…", body.len(), &body[..200]);
        body
    };

    // A query value, decoded from %-escapes into control characters.
    let r = get(a, "/v1/conn?address=%1b%5b2J%00evil", Some(&host), None);
    assert_eq!(r.status, 400);
    let body = small(&r);
    assert!(body.contains(r"\\u{1b}[2J\\u{0}evil"), "{body}");
    let r = get(
        a,
        &format!("/v1/conn?{}=1", "p".repeat(8000)),
        Some(&host),
        None,
    );
    assert_eq!(r.status, 400);
    let body = small(&r);
    assert!(body.contains("... (8000 bytes in all)"), "{body}");

    // A path.
    let r = get(a, &format!("/v1/{}", "x".repeat(8000)), Some(&host), None);
    assert_eq!(r.status, 404);
    assert!(small(&r).contains("... (8004 bytes in all)"));

    // A JSON body whose error quotes a megabyte string.
    let c = Client::new(a, Some(TOKEN.into()));
    let body = format!("{{\"port\": \"{huge}\"}}");
    let r = c
        .request(
            "POST",
            "/v1/clear-conn",
            body.as_bytes(),
            "application/json",
        )
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(small(&r).contains("bytes in all)"));

    // A configuration whose problems quote a megabyte name.
    let text = format!("\x1b[2J{huge}\n");
    let r = c
        .request("POST", "/v1/configure", text.as_bytes(), "text/plain")
        .unwrap();
    assert_eq!(r.status, 422);
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.len() < 8192, "{} bytes", body.len());
    // The parser stops at the control character; nothing of it is echoed.
    assert!(
        body.contains("control character U+001B is not allowed"),
        "{body:.400}"
    );
    assert!(!body.contains('\x1b'));
    // A megabyte word is refused without being quoted.
    let r = c
        .request(
            "POST",
            "/v1/configure",
            format!("{huge}\n").as_bytes(),
            "text/plain",
        )
        .unwrap();
    assert_eq!(r.status, 422);
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.len() < 8192, "{} bytes", body.len());

    // A 100 kB token is refused with the head, never echoed.
    let r = get(a, "/v1/counters", Some(&host), Some(&"t".repeat(100_000)));
    assert_eq!(r.status, 431);
    assert!(!String::from_utf8_lossy(&r.body).contains("ttttt"));
}
