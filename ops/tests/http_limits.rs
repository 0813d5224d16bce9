//! The ops listeners stay answerable under idle connections: a peer that
//! opens connections and sends nothing must not lock Prometheus or the
//! CLI out (docs/ops.md §2). Deadlines here are correctness bounds, not
//! benchmarks: each is many times what an unloaded answer takes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rampart_ops::backend::Backend;
use rampart_ops::client::{Client, RawResponse};
use rampart_ops::fixture;
use rampart_ops::http::ServeLimits;
use rampart_ops::http::admission::Caps;
use rampart_ops::metrics::Metrics;
use rampart_ops::metrics::text::sample;
use rampart_ops::server::{OpsConfig, OpsServer};

/// Idle connections opened against each listener (more than the old
/// fixed 64 slots, and more than the listen backlog on top of them).
const IDLE_CONNECTIONS: usize = 200;

/// How long a scrape may take while the idle connections are open.
const ANSWER_DEADLINE: Duration = Duration::from_secs(2);

fn start() -> OpsServer {
    start_with(ServeLimits::default())
}

fn start_with(limits: ServeLimits) -> OpsServer {
    start_with_read_token(limits, None)
}

/// A server with the admin token `t0k` and, if given, a read token.
fn start_with_read_token(limits: ServeLimits, read_token: Option<&str>) -> OpsServer {
    let backend: Arc<dyn Backend> = Arc::new(fixture::admin(fixture::standalone_status()));
    let b = backend.clone();
    let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
    let cfg = OpsConfig {
        metrics: Some("127.0.0.1:0".parse().unwrap()),
        admin: Some("127.0.0.1:0".parse().unwrap()),
        token: Some("t0k".into()),
        read_token: read_token.map(str::to_string),
        limits,
        ..OpsConfig::default()
    };
    OpsServer::start(&cfg, backend, metrics).unwrap()
}

/// Open `n` connections that never send a byte; those the listener does
/// not take within a second are given up (on unfixed code the backlog
/// fills and connects stall).
async fn idle_connections(addr: SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        tasks.push(tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
                .await
                .ok()
                .and_then(Result::ok)
        }));
    }
    let mut open = Vec::new();
    for t in tasks {
        if let Ok(Some(s)) = t.await {
            open.push(s);
        }
    }
    open
}

/// One GET through the CLI's client, bounded by [`ANSWER_DEADLINE`].
async fn get_within_deadline(addr: SocketAddr, path: &'static str) -> RawResponse {
    let ask =
        tokio::task::spawn_blocking(move || Client::new(addr, None).request("GET", path, b"", ""));
    match tokio::time::timeout(ANSWER_DEADLINE, ask).await {
        Ok(Ok(Ok(r))) => r,
        Ok(Ok(Err(e))) => panic!("GET {path} on {addr} failed: {e}"),
        Ok(Err(e)) => panic!("GET {path} on {addr}: the request task failed: {e}"),
        Err(_) => panic!(
            "GET {path} on {addr} got no answer within {ANSWER_DEADLINE:?} while {IDLE_CONNECTIONS} idle connections were open"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_do_not_lock_out_metrics_or_the_admin_api() {
    let srv = start();
    let metrics = srv.metrics_addr.unwrap();
    let admin = srv.admin_addr.unwrap();

    let idle_m = idle_connections(metrics, IDLE_CONNECTIONS).await;
    let idle_a = idle_connections(admin, IDLE_CONNECTIONS).await;
    // Held idle, as such a peer holds them: a connection is closed to make
    // room only once it is MIN_EVICT_AGE_MS old, or SILENT_GRACE_MS if it
    // has sent nothing, as these (until then a newcomer is refused
    // instead, http_busy.rs).
    tokio::time::sleep(Duration::from_millis(
        rampart_ops::http::MIN_EVICT_AGE_MS + 100,
    ))
    .await;

    let scrape = get_within_deadline(metrics, "/metrics").await;
    assert_eq!(scrape.status, 200);
    let ready = get_within_deadline(metrics, "/readyz").await;
    assert_eq!(ready.status, 200);
    let counters = get_within_deadline(admin, "/v1/counters").await;
    assert_eq!(counters.status, 200);

    // The idle connections that made room are counted, per listener.
    let text = String::from_utf8(get_within_deadline(metrics, "/metrics").await.body).unwrap();
    for listener in ["metrics", "admin"] {
        let evicted = sample(
            &text,
            "rampart_ops_http_refused_total",
            &[("listener", listener), ("reason", "idle_evicted")],
        )
        .unwrap_or(0.0);
        assert!(
            evicted > 0.0,
            "{listener}: no idle connection evicted:\n{text}"
        );
    }
    drop((idle_m, idle_a));
}

fn refused(text: &str, listener: &str, reason: &str) -> f64 {
    sample(
        text,
        "rampart_ops_http_refused_total",
        &[("listener", listener), ("reason", reason)],
    )
    .unwrap_or_else(|| panic!("no refusal series {listener}/{reason}:\n{text}"))
}

/// Read until the server closes, at most `limit`; the bytes read.
async fn read_until_closed(s: &mut tokio::net::TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            s.readable().await.ok()?;
            match s.try_read(&mut buf) {
                Ok(0) => return Some(()),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return Some(()),
            }
        }
    })
    .await
    .ok()??;
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_bodies_are_cut_and_counted() {
    let srv = start_with(ServeLimits {
        header_read_timeout_ms: 200,
        body_read_timeout_ms: 200,
        max_request_bytes: 1024,
        ..ServeLimits::default()
    });
    let admin = srv.admin_addr.unwrap();
    let metrics = srv.metrics_addr.unwrap();

    // A connection that sends half a head and then nothing is closed.
    let mut half = tokio::net::TcpStream::connect(admin).await.unwrap();
    half.try_write(b"GET /v1/counters HTTP/1.1\r\nHo").unwrap();
    assert!(
        read_until_closed(&mut half, Duration::from_secs(2))
            .await
            .is_some(),
        "a half-sent head is not cut"
    );

    // A body announced and never sent gets 408.
    let mut slow = tokio::net::TcpStream::connect(admin).await.unwrap();
    slow.try_write(
        format!(
            "POST /v1/configure HTTP/1.1\r\nHost: {admin}\r\nAuthorization: Bearer t0k\r\n\
             Content-Length: 100\r\n\r\nab"
        )
        .as_bytes(),
    )
    .unwrap();
    let answer = read_until_closed(&mut slow, Duration::from_secs(2))
        .await
        .expect("a stalled body is not cut");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // Without the token the same request is refused on its head, at once,
    // without waiting for the body; a GET announcing a body is refused too.
    for (head, status) in [
        (
            format!(
                "POST /v1/configure HTTP/1.1\r\nHost: {admin}\r\nContent-Length: 100\r\n\r\nab"
            ),
            "HTTP/1.1 401",
        ),
        (
            format!("GET /v1/counters HTTP/1.1\r\nHost: {admin}\r\nContent-Length: 100\r\n\r\n"),
            "HTTP/1.1 400",
        ),
    ] {
        let mut s = tokio::net::TcpStream::connect(admin).await.unwrap();
        s.try_write(head.as_bytes()).unwrap();
        let answer = read_until_closed(&mut s, Duration::from_millis(150))
            .await
            .expect("refused before the body timeout");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with(status), "{answer}");
    }

    // A body over the bound gets 413.
    let big = vec![b'x'; 4096];
    let r = tokio::task::spawn_blocking(move || {
        Client::new(admin, Some("t0k".into())).request("POST", "/v1/configure", &big, "text/plain")
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.status, 413);

    let text = String::from_utf8(get_within_deadline(metrics, "/metrics").await.body).unwrap();
    assert_eq!(refused(&text, "admin", "header_timeout"), 1.0);
    assert_eq!(refused(&text, "admin", "body_timeout"), 1.0);
    assert_eq!(refused(&text, "admin", "body_too_large"), 1.0);
    assert_eq!(refused(&text, "admin", "unauthorized"), 1.0);
    assert_eq!(refused(&text, "admin", "body_not_expected"), 1.0);
    assert_eq!(refused(&text, "metrics", "header_timeout"), 0.0);
}

/// Send the head of a request announcing a body and asking for
/// `100 Continue`, never the body; the connection and the head of the
/// listener's first answer (to the blank line, or all it sent before
/// closing).
async fn head_only(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (tokio::net::TcpStream, String) {
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    s.try_write(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 100\r\n\
             Expect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    tokio::time::timeout(Duration::from_secs(2), async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            s.readable().await.unwrap();
            match s.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("no answer to the head");
    (s, String::from_utf8_lossy(&got).into_owned())
}

/// A connection whose request head went in and whose body stalls: the
/// server's `100 Continue`, sent once it reads the body, is proof that the
/// head was taken.
async fn stalled_in_body(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> tokio::net::TcpStream {
    let (s, head) = head_only(addr, "POST", path, token).await;
    assert!(head.starts_with("HTTP/1.1 100"), "{head}");
    s
}

/// A local user fills the admin listener with requests whose bodies never
/// come (every local client shares 127.0.0.1), without a token or with
/// the read token, which monitoring holds: each is answered from its head
/// (401 for a change without the admin token, 405 for anything but a GET
/// to a read path), so none is taken up and none holds a slot, and the
/// operator's CLI gets in every time. Before, a POST to a read path with
/// the read token was taken up as trusted, its body awaited for 10 s, and
/// four of them locked the operator out of the source's slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_would_stall_in_their_bodies_do_not_lock_the_operator_out() {
    let srv = start_with_read_token(
        ServeLimits {
            caps: Caps {
                max_connections: 8,
                max_per_source: 4,
                ..ServeLimits::default().caps
            },
            body_read_timeout_ms: 10_000,
            ..ServeLimits::default()
        },
        Some("r34d"),
    );
    let admin = srv.admin_addr.unwrap();
    let mut held = Vec::new();
    for (method, path, token, status) in [
        ("POST", "/v1/counters", Some("r34d"), "HTTP/1.1 405"),
        ("POST", "/v1/counters", Some("r34d"), "HTTP/1.1 405"),
        ("PUT", "/v1/conn", Some("r34d"), "HTTP/1.1 405"),
        ("POST", "/v1/no-such-endpoint", None, "HTTP/1.1 405"),
        ("POST", "/v1/clear-conn", Some("r34d"), "HTTP/1.1 401"),
        ("POST", "/v1/configure", None, "HTTP/1.1 401"),
    ] {
        let (s, head) = head_only(admin, method, path, token).await;
        assert!(head.starts_with(status), "{method} {path}: {head}");
        held.push(s);
    }
    for _ in 0..3 {
        let r = tokio::time::timeout(
            ANSWER_DEADLINE,
            tokio::task::spawn_blocking(move || {
                Client::new(admin, Some("t0k".into())).request("GET", "/v1/counters", b"", "")
            }),
        )
        .await
        .expect("the CLI got no answer while the heads were held open")
        .unwrap()
        .unwrap();
        assert_eq!(r.status, 200);
    }
    let text = String::from_utf8(
        get_within_deadline(srv.metrics_addr.unwrap(), "/metrics")
            .await
            .body,
    )
    .unwrap();
    assert_eq!(refused(&text, "admin", "source_limit"), 0.0);
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_connections_beyond_the_caps_are_refused_and_counted() {
    let srv = start_with(ServeLimits {
        caps: Caps {
            max_connections: 4,
            max_per_source: 2,
            reserved: 0,
            ..ServeLimits::default().caps
        },
        body_read_timeout_ms: 5_000,
        ..ServeLimits::default()
    });
    let admin = srv.admin_addr.unwrap();
    // Two requests with the token, stuck in their bodies, hold this
    // source's two slots (taken up, so nothing can evict them).
    let mut busy = Vec::new();
    for _ in 0..2 {
        busy.push(stalled_in_body(admin, "/v1/configure", Some("t0k")).await);
    }
    let mut third = tokio::net::TcpStream::connect(admin).await.unwrap();
    let answer = read_until_closed(&mut third, Duration::from_secs(2))
        .await
        .expect("the third connection is not refused");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 503"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let text = String::from_utf8(
        get_within_deadline(srv.metrics_addr.unwrap(), "/metrics")
            .await
            .body,
    )
    .unwrap();
    assert_eq!(refused(&text, "admin", "source_limit"), 1.0);
    drop(busy);
}

/// A flood of connections refused for lack of room that never read their
/// refusals nor close fills the listener's bound of refusals lingering;
/// the client refused next, which sends its head a moment later (the CLI
/// first checks who owns the socket) and then reads, still reads why: the
/// oldest lingering refusal makes room for it. Before, the newest refusal
/// was written without waiting and the connection closed, its head met a
/// reset, and the CLI said "connection failed" instead of "busy" (a busy
/// answer it would have tried again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_read_past_a_flood_of_refusals_left_unread() {
    let srv = start_with(ServeLimits {
        caps: Caps {
            max_connections: 4,
            max_per_source: 2,
            reserved: 0,
            ..ServeLimits::default().caps
        },
        body_read_timeout_ms: 5_000,
        ..ServeLimits::default()
    });
    let admin = srv.admin_addr.unwrap();
    let mut busy = Vec::new();
    for _ in 0..2 {
        busy.push(stalled_in_body(admin, "/v1/configure", Some("t0k")).await);
    }
    // The flood and, right behind it, a client that sends its head at
    // once: it is in before the listener has taken the connection up.
    let (flood, late) = tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Write as _};
        let flood: Vec<_> = (0..100)
            .map(|_| std::net::TcpStream::connect(admin).unwrap())
            .collect();
        let mut s = std::net::TcpStream::connect(admin).unwrap();
        let _ = s.write_all(b"GET /v1/counters HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut got = Vec::new();
        let r = s.read_to_end(&mut got);
        (flood, (String::from_utf8_lossy(&got).into_owned(), r.err()))
    })
    .await
    .unwrap();
    assert!(
        late.0.starts_with("HTTP/1.1 503") && late.0.contains("\"busy\":true"),
        "the refusal was lost: {late:?}"
    );
    assert!(late.1.is_none(), "the refusal was reset: {late:?}");
    drop((busy, flood));
}

/// The metrics listener serves GETs only, so it answers anything else on
/// its head: a POST announcing a 1 MiB body is refused at once, without
/// waiting for (or holding) the body. Before, it read the body for up to
/// 10 s and then refused it with 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_refuses_anything_but_a_get_on_its_head() {
    let srv = start_with(ServeLimits {
        body_read_timeout_ms: 3_000,
        ..ServeLimits::default()
    });
    let metrics = srv.metrics_addr.unwrap();
    for (method, path, status) in [
        ("POST", "/metrics", "HTTP/1.1 405"),
        ("PUT", "/readyz", "HTTP/1.1 405"),
        ("POST", "/elsewhere", "HTTP/1.1 404"),
    ] {
        let mut s = tokio::net::TcpStream::connect(metrics).await.unwrap();
        s.try_write(
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let answer = read_until_closed(&mut s, Duration::from_secs(1))
            .await
            .expect("not answered on its head");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with(status), "{method} {path}: {answer}");
    }
}

/// A body whose sender hangs up before it is whole is refused as broken
/// off (400, `body_unreadable`), not counted as a body over the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_broken_off_is_counted_as_unreadable_not_too_large() {
    let srv = start();
    let admin = srv.admin_addr.unwrap();
    let s = tokio::net::TcpStream::connect(admin).await.unwrap();
    s.try_write(
        format!(
            "POST /v1/configure HTTP/1.1\r\nHost: {admin}\r\nAuthorization: Bearer t0k\r\n\
             Content-Length: 100\r\n\r\nhostname x\n"
        )
        .as_bytes(),
    )
    .unwrap();
    // Only the sending side closes: the answer can still be read.
    let std = s.into_std().unwrap();
    std.shutdown(std::net::Shutdown::Write).unwrap();
    let mut s = tokio::net::TcpStream::from_std(std).unwrap();
    let answer = read_until_closed(&mut s, Duration::from_secs(2))
        .await
        .expect("a broken-off body is not refused");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let text = String::from_utf8(
        get_within_deadline(srv.metrics_addr.unwrap(), "/metrics")
            .await
            .body,
    )
    .unwrap();
    assert_eq!(refused(&text, "admin", "body_unreadable"), 1.0);
    assert_eq!(refused(&text, "admin", "body_too_large"), 0.0);
}

/// Scrapes whose rendering is slow hold every handler of the metrics
/// listener: `/healthz` is answered all the same, from its head, without
/// a handler; `/readyz`, which asks the node's state, waits for one like
/// a scrape and is answered once they return. Before, a liveness probe
/// waited behind the scrapes too, and a prober that gives up after a
/// second or two took the node for dead.
#[test]
fn healthz_is_answered_while_scrapes_hold_every_handler() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex};
    let backend: Arc<dyn Backend> = Arc::new(fixture::admin(fixture::standalone_status()));
    let gate = Arc::new((Mutex::new(true), Condvar::new()));
    let rendering = Arc::new(AtomicUsize::new(0));
    let metrics = {
        let (b, gate, rendering) = (backend.clone(), gate.clone(), rendering.clone());
        Arc::new(Metrics::new(
            Arc::new(move || {
                rendering.fetch_add(1, Ordering::SeqCst);
                let shut = gate.0.lock().unwrap();
                // At most a minute: a hang guard, not a timing.
                let _ = gate
                    .1
                    .wait_timeout_while(shut, Duration::from_secs(60), |s| *s)
                    .unwrap();
                b.snapshot()
            }),
            None,
        ))
    };
    let cfg = OpsConfig {
        metrics: Some("127.0.0.1:0".parse().unwrap()),
        ..OpsConfig::default()
    };
    let srv = OpsServer::start(&cfg, backend, metrics).unwrap();
    let addr = srv.metrics_addr.unwrap();
    let get = move |path: &'static str| {
        std::thread::spawn(move || Client::new(addr, None).request("GET", path, b"", ""))
    };
    let scrapes: Vec<_> = (0..=rampart_ops::http::OPEN_HANDLERS)
        .map(|_| get("/metrics"))
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rendering.load(Ordering::SeqCst) < rampart_ops::http::OPEN_HANDLERS {
        assert!(
            std::time::Instant::now() < deadline,
            "the scrapes never ran"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let ready = get("/readyz");
    let live = get("/healthz");
    let t0 = std::time::Instant::now();
    while !live.is_finished() {
        assert!(
            t0.elapsed() < ANSWER_DEADLINE,
            "/healthz waited behind the scrapes"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let live = live.join().unwrap().expect("/healthz");
    assert_eq!((live.status, live.body.as_slice()), (200, &b"ok\n"[..]));
    assert!(!ready.is_finished(), "/readyz did not wait for a handler");
    *gate.0.lock().unwrap() = false;
    gate.1.notify_all();
    assert_eq!(ready.join().unwrap().expect("/readyz").status, 200);
    for s in scrapes {
        assert_eq!(s.join().unwrap().expect("a scrape").status, 200);
    }
}
