//! The admin API and the metrics endpoint over real HTTP on loopback
//! (ephemeral ports), backed by the fixed engine state: reads are open,
//! changes need the token, and a refused change changes nothing.

use std::sync::Arc;
use std::time::Duration;

use rampart_ops::admin::ManualClock;
use rampart_ops::backend::Backend;
use rampart_ops::client::{Client, ClientError};
use rampart_ops::fixture;
use rampart_ops::metrics::Metrics;
use rampart_ops::metrics::text::sample;
use rampart_ops::model::NodeStatus;
use rampart_ops::server::{OpsConfig, OpsServer};
use rampart_ops::show_conn::ConnFilter;

const TOKEN: &str = "4f1d0c2b9e8a7d6c";

fn start(status: NodeStatus) -> (OpsServer, Arc<dyn Backend>) {
    start_with(Arc::new(fixture::admin(status)))
}

fn start_with(backend: Arc<dyn Backend>) -> (OpsServer, Arc<dyn Backend>) {
    let b = backend.clone();
    let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
    let cfg = OpsConfig {
        metrics: Some("127.0.0.1:0".parse().unwrap()),
        admin: Some("127.0.0.1:0".parse().unwrap()),
        token: Some(TOKEN.into()),
        ..OpsConfig::default()
    };
    (
        OpsServer::start(&cfg, backend.clone(), metrics).unwrap(),
        backend,
    )
}

fn refused_status(e: ClientError) -> u16 {
    match e {
        ClientError::Refused { status, .. } => status,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[test]
fn reads_are_open_and_match_the_backend() {
    let (srv, backend) = start(fixture::standalone_status());
    let c = Client::new(srv.admin_addr.unwrap(), None);
    let list = c.conns(&ConnFilter::default(), false).unwrap();
    assert_eq!(list, backend.conns(&Default::default()).unwrap());
    assert_eq!(list.conns.len(), 4);
    let count = c.conns(&ConnFilter::default(), true).unwrap();
    assert_eq!((count.in_use, count.conns.len()), (4, 0));
    let by_addr = c
        .conns(
            &ConnFilter::address_port(Some("198.18.1.10".parse().unwrap()), Some(53)),
            false,
        )
        .unwrap();
    assert_eq!(by_addr.conns.len(), 1);
    assert_eq!(by_addr.conns[0].protocol, "UDP");
    assert_eq!(c.service_policy().unwrap().bindings.len(), 1);
    assert_eq!(c.running_config().unwrap().version, 1);
    let counters = c.counters().unwrap();
    let acl = counters
        .drops
        .iter()
        .find(|d| d.reason == "acl-drop")
        .unwrap();
    assert_eq!(acl.count, 1);
    assert_eq!(c.cluster().unwrap().conns_in_use, 4);
    assert_eq!(c.fragments().unwrap(), backend.fragments().unwrap());
}

/// `show fragment` reads each interface's limits from the policy in force:
/// the interface's own `fragment` line, else the global one.
#[test]
fn show_fragment_follows_the_configured_limits() {
    let (srv, _) = start(fixture::standalone_status());
    let admin = Client::new(srv.admin_addr.unwrap(), Some(TOKEN.into()));
    let limits = |c: &Client| {
        c.fragments()
            .unwrap()
            .interfaces
            .into_iter()
            .map(|i| (i.interface, i.size, i.chain, i.timeout_s))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        limits(&admin),
        [
            ("inside".into(), 200, 24, 5),
            ("outside".into(), 200, 24, 5)
        ]
    );
    admin
        .configure("fragment chain 1\nfragment size 1000 outside\nfragment chain 45 outside\n")
        .unwrap();
    assert_eq!(
        limits(&admin),
        [
            ("inside".into(), 200, 1, 5),
            ("outside".into(), 1000, 45, 5)
        ]
    );
}

/// `show access-list` over HTTP: every list, one by `?name=`, 404 for a
/// list the policy lacks; `clear access-list` needs the admin token and
/// zeroes one list or all; a new policy keeps the counts of the entries
/// it keeps.
#[test]
fn access_list_hits_show_clear_and_survive_a_configure() {
    let (srv, backend) = start(fixture::standalone_status());
    let addr = srv.admin_addr.unwrap();
    let anon = Client::new(addr, None);
    let admin = Client::new(addr, Some(TOKEN.into()));
    let hits = |name: &str| {
        let lists = anon.access_lists(Some(name)).unwrap().lists;
        assert_eq!(lists.len(), 1);
        lists[0].lines.iter().map(|l| l.hitcnt).collect::<Vec<_>>()
    };
    let all = anon.access_lists(None).unwrap();
    assert_eq!(all, backend.access_lists(None).unwrap());
    let names = all
        .lists
        .iter()
        .map(|l| l.name.as_str())
        .collect::<Vec<_>>();
    assert_eq!(names, ["OUT_IN", "byp"]);
    let entry = &all.lists[0].lines[2];
    assert_eq!(
        (entry.line, entry.text.as_str(), entry.hitcnt, entry.remark),
        (3, "extended deny tcp any any gt 1023", Some(1), false)
    );
    assert!(
        entry.hash.as_ref().is_some_and(|h| h.len() == 10),
        "{entry:?}"
    );
    assert_eq!(hits("OUT_IN"), [Some(0), None, Some(1)]);
    assert_eq!(hits("byp"), [Some(1)]);
    assert_eq!(
        refused_status(anon.access_lists(Some("NOPE")).unwrap_err()),
        404
    );
    // Clearing is a change.
    assert_eq!(
        refused_status(anon.clear_access_lists(Some("byp")).unwrap_err()),
        401
    );
    assert_eq!(hits("byp"), [Some(1)]);
    assert_eq!(
        refused_status(admin.clear_access_lists(Some("NOPE")).unwrap_err()),
        404
    );
    assert_eq!(
        admin.clear_access_lists(Some("byp")).unwrap().cleared,
        ["byp"]
    );
    assert_eq!(hits("byp"), [Some(0)]);
    assert_eq!(hits("OUT_IN"), [Some(0), None, Some(1)]);
    // A configure that keeps the deny entry (now line 2) keeps its count.
    admin
        .configure(
            "access-list OUT_IN extended deny tcp any any gt 1023\n\
             access-list OUT_IN extended permit tcp any any eq 443\n\
             access-group OUT_IN in interface outside\n",
        )
        .unwrap();
    assert_eq!(hits("OUT_IN"), [Some(1), Some(0)]);
    assert_eq!(admin.clear_access_lists(None).unwrap().cleared, ["OUT_IN"]);
    assert_eq!(hits("OUT_IN"), [Some(0), Some(0)]);
}

#[test]
fn an_unauthenticated_change_is_refused_and_changes_nothing() {
    let (srv, _) = start(fixture::standalone_status());
    let addr = srv.admin_addr.unwrap();
    let anon = Client::new(addr, None);
    let wrong = Client::new(addr, Some("not-the-token".into()));
    for c in [&anon, &wrong] {
        assert_eq!(
            refused_status(c.clear_conns(&ConnFilter::default()).unwrap_err()),
            401
        );
        assert_eq!(
            refused_status(c.configure("class-map x\n match any\n").unwrap_err()),
            401
        );
    }
    // Nothing moved.
    assert_eq!(anon.conns(&ConnFilter::default(), true).unwrap().in_use, 4);
    assert_eq!(anon.running_config().unwrap().version, 1);
    // The right token clears.
    let admin = Client::new(addr, Some(TOKEN.into()));
    let f = ConnFilter::address_port(Some("198.18.0.10".parse().unwrap()), Some(445));
    assert_eq!(admin.clear_conns(&f).unwrap().deleted, 1);
    assert_eq!(anon.conns(&ConnFilter::default(), true).unwrap().in_use, 3);
}

#[test]
fn configure_refuses_bad_text_with_positions_and_applies_good_text() {
    let (srv, _) = start(fixture::standalone_status());
    let admin = Client::new(srv.admin_addr.unwrap(), Some(TOKEN.into()));
    let bad = "class-map c1\n match any\npolicy-map p\n class c1\n  set connection conn-max many\n";
    match admin.configure(bad).unwrap_err() {
        ClientError::Refused { status, error } => {
            assert_eq!(status, 422);
            let p = &error.problems[0];
            assert_eq!(p.line, 5, "{error:?}");
            assert!(p.column > 1, "{error:?}");
        }
        other => panic!("{other}"),
    }
    // Refused when compiled for the node's interfaces, still with a place.
    let unknown = "access-list A extended permit ip any any\naccess-group A in interface nosuch\n";
    match admin.configure(unknown).unwrap_err() {
        ClientError::Refused { status, error } => {
            assert_eq!(status, 422);
            let p = &error.problems[0];
            assert_eq!((p.line, p.column), (2, 29), "{error:?}");
            assert!(p.message.contains("'nosuch'"), "{error:?}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(admin.running_config().unwrap().version, 1);
    let good = "class-map c1\n match any\npolicy-map p\n class c1\n  set connection conn-max 7\nservice-policy p global\n";
    let r = admin.configure(good).unwrap();
    assert_eq!(r.version, 2);
    let rc = admin.running_config().unwrap();
    assert_eq!(rc.version, 2);
    assert!(rc.text.contains("set connection conn-max 7"), "{}", rc.text);
    let sp = admin.service_policy().unwrap();
    assert_eq!(sp.bindings[0].policy_map, "p");
    assert_eq!(sp.bindings[0].classes[0].conn_max, 7);
    // Existing connections keep their class (as on the ASA).
    assert_eq!(admin.conns(&ConnFilter::default(), true).unwrap().in_use, 4);
}

/// A misspelled key in a `clear conn` body, or a body naming nothing, is
/// refused and clears nothing; the CLI's `clear conn` without words still
/// clears all (it sends `{"all": true}`). Before, `{"adress": …}` was read
/// as the empty filter: 200, every connection of every node deleted.
#[test]
fn a_clear_conn_body_with_an_unknown_key_or_no_filter_clears_nothing() {
    let (srv, _) = start(fixture::standalone_status());
    let c = Client::new(srv.admin_addr.unwrap(), Some(TOKEN.into()));
    for body in [&br#"{"adress":"198.18.1.10"}"#[..], b"", b"{}"] {
        let r = c
            .request("POST", "/v1/clear-conn", body, "application/json")
            .unwrap();
        let text = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, 400, "{text}");
        assert!(
            text.contains("unknown field `adress`") || text.contains("names no connections"),
            "{text}"
        );
        assert_eq!(c.conns(&ConnFilter::default(), true).unwrap().in_use, 4);
    }
    assert_eq!(c.clear_conns(&ConnFilter::default()).unwrap().deleted, 4);
    assert_eq!(c.conns(&ConnFilter::default(), true).unwrap().in_use, 0);
}

#[test]
fn methods_paths_and_bodies_are_checked() {
    let (srv, _) = start(fixture::standalone_status());
    let c = Client::new(srv.admin_addr.unwrap(), Some(TOKEN.into()));
    assert_eq!(c.request("POST", "/v1/conn", b"", "").unwrap().status, 405);
    assert_eq!(
        c.request("GET", "/v1/configure", b"", "").unwrap().status,
        405
    );
    assert_eq!(c.request("GET", "/v1/nope", b"", "").unwrap().status, 404);
    assert_eq!(
        c.request("GET", "/v1/conn?port=http", b"", "")
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        c.request("POST", "/v1/clear-conn", b"{not json", "application/json")
            .unwrap()
            .status,
        400
    );
    let big = vec![b'!'; rampart_ops::http::MAX_REQUEST_BYTES + 1];
    assert_eq!(
        c.request("POST", "/v1/configure", &big, "text/plain")
            .unwrap()
            .status,
        413
    );
    assert_eq!(c.conns(&ConnFilter::default(), true).unwrap().in_use, 4);
}

#[test]
fn health_and_readiness() {
    let (srv, _) = start(fixture::standalone_status());
    let m = Client::new(srv.metrics_addr.unwrap(), None);
    let h = m.request("GET", "/healthz", b"", "").unwrap();
    assert_eq!((h.status, h.body.as_slice()), (200, &b"ok\n"[..]));
    assert_eq!(m.request("GET", "/readyz", b"", "").unwrap().status, 200);
    let mut waiting = fixture::standalone_status();
    waiting.clustered = true;
    waiting.sync_ready = false;
    let (srv, _) = start(waiting);
    let m = Client::new(srv.metrics_addr.unwrap(), None);
    let r = m.request("GET", "/readyz", b"", "").unwrap();
    assert_eq!(r.status, 503);
    assert!(String::from_utf8_lossy(&r.body).contains("first bulk sync not done"));
    assert_eq!(m.request("GET", "/healthz", b"", "").unwrap().status, 200);
}

#[test]
fn metrics_expose_the_fixture_state() {
    let (srv, _) = start(fixture::cluster_status());
    let m = Client::new(srv.metrics_addr.unwrap(), None);
    let r = m.request("GET", "/metrics", b"", "").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type.as_deref(), Some(prometheus::TEXT_FORMAT));
    let t = String::from_utf8(r.body).unwrap();
    let v = |name: &str, labels: &[(&str, &str)]| {
        sample(&t, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} missing"))
    };
    assert_eq!(
        v(
            "rampart_conntrack_entries",
            &[("protocol", "tcp"), ("state", "none"), ("mode", "bypass")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "rampart_conntrack_entries",
            &[
                ("protocol", "tcp"),
                ("state", "established"),
                ("mode", "inspected")
            ]
        ),
        1.0
    );
    assert_eq!(
        v(
            "rampart_conntrack_entries",
            &[("protocol", "udp"), ("state", "replied")]
        ),
        1.0
    );
    assert_eq!(v("rampart_drops_total", &[("reason", "acl-drop")]), 1.0);
    assert_eq!(v("rampart_drops_total", &[("reason", "tcp-not-syn")]), 1.0);
    assert_eq!(
        v("rampart_drops_total", &[("reason", "conn-table-full")]),
        0.0
    );
    // Worker 0 forwarded 5 + 1 + 1 frames (web, embryonic SYN, bypass);
    // worker 1 two; inside→outside are 3 + 1 + 1 + 1 of them.
    assert_eq!(
        v(
            "rampart_interface_packets_total",
            &[("interface", "inside"), ("verdict", "forward")]
        ),
        6.0
    );
    assert_eq!(
        v(
            "rampart_interface_packets_total",
            &[("interface", "outside"), ("verdict", "drop")]
        ),
        1.0
    );
    assert_eq!(
        v("rampart_worker_forwarded_packets_total", &[("worker", "1")]),
        2.0
    );
    assert_eq!(
        v(
            "rampart_class_connections_created_total",
            &[("class", "global_policy/byp")]
        ),
        1.0
    );
    assert_eq!(
        v("rampart_connections_created_total", &[("protocol", "tcp")]),
        3.0
    );
    assert_eq!(v("rampart_conntrack_capacity_entries", &[]), 2_000_000.0);
    assert_eq!(v("rampart_policy_swaps_total", &[]), 1.0);
    assert_eq!(v("rampart_ready", &[]), 1.0);
    // Cluster and Raft parts from the node's status.
    assert_eq!(v("rampart_sync_peer_up", &[("peer", "2")]), 1.0);
    let link = |d: &str| {
        v(
            "rampart_cluster_link_datagrams_total",
            &[("peer", "2"), ("direction", d)],
        )
    };
    assert_eq!((link("out"), link("in")), (410.0, 395.0));
    assert_eq!(
        v(
            "rampart_cluster_link_bytes_total",
            &[("peer", "2"), ("direction", "in")]
        ),
        98_500.0
    );
    assert_eq!(
        v("rampart_cluster_link_lost_packets_total", &[("peer", "2")]),
        2.0
    );
    assert_eq!(
        v(
            "rampart_cluster_link_congestion_events_total",
            &[("peer", "2")]
        ),
        1.0
    );
    assert!((v("rampart_cluster_link_rtt_seconds", &[("peer", "2")]) - 180e-6).abs() < 1e-12);
    assert_eq!(v("rampart_cluster_link_rtt_seconds", &[("peer", "3")]), 0.0);
    assert_eq!(
        v(
            "rampart_sync_peer_state",
            &[("peer", "3"), ("state", "down")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "rampart_sync_replication_lag_seconds_bucket",
            &[("peer", "2"), ("le", "0.00025")]
        ),
        90.0
    );
    assert_eq!(
        v(
            "rampart_sync_replication_lag_seconds_count",
            &[("peer", "2")]
        ),
        100.0
    );
    assert_eq!(v("rampart_raft_leader", &[]), 2.0);
    assert_eq!(v("rampart_raft_is_leader", &[]), 0.0);
    assert_eq!(
        v("rampart_sync_bulk_runs_total", &[("result", "completed")]),
        1.0
    );
    assert_eq!(
        v("rampart_cluster_link_connections_total", &[("event", "up")]),
        2.0
    );
    assert_eq!(
        v(
            "rampart_cluster_link_connections_total",
            &[("event", "wake_sent")]
        ),
        1.0
    );
    // Sync traffic this node lost, by what (each forces a repair).
    assert_eq!(
        v("rampart_sync_lost_total", &[("what", "local_losses")]),
        3.0
    );
    // Refusals of peers' input, by reason (a bounded label).
    assert_eq!(
        v(
            "rampart_sync_frames_refused_total",
            &[("reason", "bulk_view_unknown")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "rampart_sync_states_refused_total",
            &[("reason", "tcp_window")]
        ),
        2.0
    );
    assert_eq!(
        v("rampart_sync_bulk_events_total", &[("event", "incomplete")]),
        1.0
    );
    assert!(v("process_resident_memory_bytes", &[]) > 0.0);
    // The engines here do not sync: no engine sync series, not zeros.
    assert_eq!(
        sample(&t, "rampart_sync_events_sent_total", &[("kind", "insert")]),
        None
    );
    // Without Raft, no Raft series at all.
    let (srv, _) = start(fixture::standalone_status());
    let t = String::from_utf8(
        Client::new(srv.metrics_addr.unwrap(), None)
            .request("GET", "/metrics", b"", "")
            .unwrap()
            .body,
    )
    .unwrap();
    assert!(!t.contains("rampart_raft_"), "{t}");
    assert!(!t.contains("rampart_sync_peer"), "{t}");
}

/// `show conn` walks the connection table, on the packet workers: walks
/// are paced by the table slots they scan per second (each caller kind its
/// own budget), taken in slices of the table between packet batches, and
/// `show conn count` reads counters, never the table. The walk budgets run
/// on a [`ManualClock`], so the test asserts the waits the budgets decided
/// and the jobs the workers ran, not the machine's time (a loaded machine
/// stretches that at random: the operator's ten walks once took 1.7 s with
/// no wait at all).
#[test]
fn table_walks_are_paced_per_caller_and_counts_never_walk() {
    let clock = Arc::new(ManualClock::new());
    let admin = Arc::new(fixture::admin(fixture::standalone_status()).with_clock(clock.clone()));
    let (srv, _backend) = start_with(admin.clone());
    let c = Client::new(srv.admin_addr.unwrap(), None);
    // Counts are free: far more than any budget, none waits, and each is
    // one request of the workers (the counters), no slice of the table.
    let jobs = admin.pool().requests();
    for _ in 0..100 {
        assert_eq!(c.conns(&ConnFilter::default(), true).unwrap().in_use, 4);
    }
    assert_eq!(admin.pool().requests() - jobs, 100, "a count walked");
    assert_eq!(clock.slept(), Duration::ZERO, "a count waited");
    // Token-less walks of this small table are charged a slice's minimum
    // (8,192 slots) against 131,072 a second: 16 at once, then paced, the
    // other 24 a sixteenth of a second each (1.5 s).
    let jobs = admin.pool().requests();
    for _ in 0..40 {
        assert_eq!(
            c.conns(&ConnFilter::default(), false).unwrap().conns.len(),
            4
        );
    }
    assert_eq!(admin.pool().requests() - jobs, 40 * 2, "count + one slice");
    let paced = clock.slept();
    assert!(
        (paced.as_secs_f64() - 1.5).abs() < 1e-6,
        "not paced as budgeted: {paced:?}"
    );
    // Readers without a token spent only their own budget: the operator's
    // `show conn` and `clear conn`, with the token, each have theirs, and
    // neither waits nor is refused.
    let operator = Client::new(srv.admin_addr.unwrap(), Some(TOKEN.into()));
    for _ in 0..10 {
        assert_eq!(
            operator
                .conns(&ConnFilter::default(), false)
                .unwrap()
                .conns
                .len(),
            4
        );
        operator
            .request(
                "POST",
                "/v1/clear-conn",
                br#"{"address":"198.18.9.9","port":null}"#,
                "application/json",
            )
            .map(|r| assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body)))
            .unwrap();
    }
    assert_eq!(clock.slept(), paced, "the operator waited on a budget");
}

/// A peer's part of a cluster-wide `clear conn` has a budget of its own: a
/// member sending many clears is refused beyond it, and the operator's
/// `clear conn` still goes through (before, both drew on one budget).
#[test]
fn a_peers_clears_do_not_spend_the_operators_budget() {
    let admin = fixture::admin(fixture::standalone_status());
    let none = ConnFilter {
        address: Some("198.18.9.9".parse().unwrap()),
        ..ConnFilter::default()
    };
    let refused = (0..40)
        .filter(|_| admin.clear_local(&none).is_err())
        .count();
    assert!((15..=20).contains(&refused), "{refused} of 40 refused");
    for _ in 0..10 {
        assert!(Backend::clear_conns(&admin, &none).is_ok());
    }
}

fn trace_query(line: &str) -> rampart_ops::packet_tracer::TraceQuery {
    let words: Vec<String> = line.split_whitespace().map(String::from).collect();
    rampart_ops::packet_tracer::parse_words(&words)
        .unwrap()
        .query
}

/// `packet-tracer` over HTTP is the backend's answer, a read (the read
/// token suffices, a POST is refused), and changes nothing: the counters,
/// the table and the class counts read the same after a trace of every
/// kind.
#[test]
fn packet_tracer_is_a_read_that_changes_nothing() {
    const READ: &str = "read-0123456789abcdef";
    let backend: Arc<dyn Backend> = Arc::new(fixture::admin(fixture::standalone_status()));
    let b = backend.clone();
    let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
    let srv = OpsServer::start(
        &OpsConfig {
            admin: Some("127.0.0.1:0".parse().unwrap()),
            token: Some(TOKEN.into()),
            read_token: Some(READ.into()),
            ..OpsConfig::default()
        },
        backend.clone(),
        metrics,
    )
    .unwrap();
    let addr = srv.admin_addr.unwrap();
    let reader = Client::new(addr, Some(READ.into()));
    let seen = |c: &Client| {
        (
            c.counters().unwrap(),
            c.conns(&ConnFilter::default(), false).unwrap(),
            c.service_policy().unwrap(),
        )
    };
    let before = seen(&reader);
    for line in [
        "input outside tcp 198.18.1.10 40000 198.18.0.10 ssh",
        "input outside tcp 198.18.1.10 40000 198.18.0.10 23",
        "input inside tcp 198.18.0.10 40000 198.18.1.10 www",
        "input inside tcp 198.18.0.10 40100 198.18.1.10 445",
        "input outside udp 198.18.1.10 domain 198.18.0.10 5353",
        "input inside icmp 198.18.0.10 echo 0 198.18.1.10",
        "input inside rawip 198.18.0.10 gre 198.18.1.10",
    ] {
        let q = trace_query(line);
        let got = reader.packet_tracer(&q).unwrap();
        assert_eq!(got, backend.packet_tracer(&q).unwrap(), "{line}");
    }
    assert_eq!(seen(&reader), before);
    let q = trace_query("input outside tcp 198.18.1.10 40000 198.18.0.10 ssh");
    let acl = reader.packet_tracer(&q).unwrap().phases[1].clone();
    assert_eq!(
        (acl.kind.as_str(), acl.access_list.as_deref(), acl.line),
        ("ACCESS-LIST", Some("OUT_IN"), Some(1))
    );
    assert_eq!(
        refused_status(Client::new(addr, None).packet_tracer(&q).unwrap_err()),
        401
    );
    let path = format!("/v1/packet-tracer?{}", q.to_query());
    assert_eq!(reader.request("POST", &path, b"", "").unwrap().status, 405);
}

/// What cannot be traced is the caller's fault (400), with why: an
/// interface the node lacks, addresses of two families, an ICMP error.
#[test]
fn packet_tracer_refuses_what_it_cannot_trace() {
    let (srv, _) = start(fixture::standalone_status());
    let c = Client::new(srv.admin_addr.unwrap(), None);
    let refused = |q: &rampart_ops::packet_tracer::TraceQuery| match c.packet_tracer(q) {
        Err(ClientError::Refused { status, error }) => (status, error.error),
        other => panic!("{q:?}: {other:?}"),
    };
    let (status, why) = refused(&trace_query("input dmz tcp 198.18.0.10 1 198.18.1.10 80"));
    assert_eq!(status, 400);
    assert!(why.contains("no interface named 'dmz'"), "{why}");
    let mut mixed = trace_query("input inside tcp 198.18.0.10 1 198.18.1.10 80");
    mixed.dst = "2001:db8::1".parse().unwrap();
    let (status, why) = refused(&mixed);
    assert_eq!(status, 400);
    assert!(why.contains("must both be IPv4 or both IPv6"), "{why}");
    let (status, why) = refused(&trace_query(
        "input inside icmp 198.18.0.10 3 1 198.18.1.10",
    ));
    assert_eq!(status, 400);
    assert!(why.contains("ICMP type 3 is an error"), "{why}");
}
