//! Golden tests of every `show` rendering on the fixed engine state of
//! `rampart_ops::fixture` (two real engines fed real frames, a clock that
//! stands still), through the same backend the admin API serves.
//! `RAMPART_UPDATE_GOLDEN=1 cargo test -p rampart-ops --test golden`
//! rewrites the files; review the diff before committing it.

use std::path::PathBuf;

use rampart_ops::backend::LocalHostQuery;
use rampart_ops::backend::{Backend, ConnQuery};
use rampart_ops::conn_filter::ConnState;
use rampart_ops::metrics::Metrics;
use rampart_ops::model::RaftRole;
use rampart_ops::show_conn::{
    ConnFilter, ConnFormat, render_conn_list, render_conn_list_as, render_count,
};
use rampart_ops::show_local_host::{CountRange, HostFilter, render_local_hosts};
use rampart_ops::{asp_drop, fixture, service_policy, show_acl, show_cluster, show_fragment};

fn check(name: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("RAMPART_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with RAMPART_UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(got, want, "{name} differs from {}", path.display());
}

#[test]
fn show_conn_plain_detail_count_and_filters() {
    let a = fixture::admin(fixture::standalone_status());
    let all = a.conns(&ConnQuery::default()).unwrap();
    check("show_conn.txt", &render_conn_list(&all, false));
    check("show_conn_detail.txt", &render_conn_list(&all, true));
    let count = a
        .conns(&ConnQuery {
            count_only: true,
            ..ConnQuery::default()
        })
        .unwrap();
    assert!(count.conns.is_empty());
    assert_eq!(render_count(&count), "4 in use, 4 most used\n");
    let port = a
        .conns(&ConnQuery {
            filter: ConnFilter::address_port(None, Some(445)),
            count_only: false,
            caller: Default::default(),
        })
        .unwrap();
    check("show_conn_port_445.txt", &render_conn_list(&port, false));
    let none = a
        .conns(&ConnQuery {
            filter: ConnFilter::address_port(Some("198.18.9.9".parse().unwrap()), None),
            count_only: false,
            caller: Default::default(),
        })
        .unwrap();
    assert_eq!(render_conn_list(&none, false), "4 in use, 4 most used\n\n");
}

/// `show conn long`, and the ASA's filters combined: `protocol tcp port
/// 1-443 long` lists the web and the embryonic connection; `state
/// tcp_embryonic` the embryonic one; `address 198.18.1.0 netmask
/// 255.255.255.0 interface outside state dns` the DNS exchange of the
/// other worker.
#[test]
fn show_conn_long_and_filters() {
    let a = fixture::admin(fixture::standalone_status());
    let all = a.conns(&ConnQuery::default()).unwrap();
    check(
        "show_conn_long.txt",
        &render_conn_list_as(&all, ConnFormat::Long),
    );
    let q = |filter: ConnFilter| {
        a.conns(&ConnQuery {
            filter,
            ..ConnQuery::default()
        })
        .unwrap()
    };
    let web = q(ConnFilter {
        protocol: Some(6),
        port: Some(1),
        port_to: Some(443),
        ..ConnFilter::default()
    });
    check(
        "show_conn_tcp_ports_long.txt",
        &render_conn_list_as(&web, ConnFormat::Long),
    );
    let embryonic = q(ConnFilter {
        states: vec![ConnState::TcpEmbryonic],
        ..ConnFilter::default()
    });
    check(
        "show_conn_state_tcp_embryonic.txt",
        &render_conn_list(&embryonic, false),
    );
    let dns = q(ConnFilter {
        address: Some("198.18.1.0".parse().unwrap()),
        prefix_len: Some(24),
        interface: Some("outside".into()),
        states: vec![ConnState::Dns],
        ..ConnFilter::default()
    });
    assert_eq!(dns.conns.len(), 1);
    assert_eq!(
        (dns.conns[0].protocol.as_str(), dns.conns[0].worker),
        ("UDP", 1)
    );
    let none = q(ConnFilter {
        address: Some("198.18.1.11".parse().unwrap()),
        address_to: Some("198.18.1.255".parse().unwrap()),
        ..ConnFilter::default()
    });
    assert!(none.conns.is_empty());
}

/// `show local-host`: every host of both workers' tables by interface,
/// its counts, the per-client limit of `byp` that counts the inside host,
/// its connections (plain and `detail`); `brief`; one address; and hosts
/// chosen by a count (`connection embryonic 1`: the server a SYN waits on),
/// whose connections a second walk takes.
#[test]
fn show_local_host() {
    let a = fixture::admin(fixture::standalone_status());
    let q = |hosts: HostFilter| {
        a.local_hosts(&LocalHostQuery {
            hosts,
            ..LocalHostQuery::default()
        })
        .unwrap()
    };
    let all = q(HostFilter::default());
    check("show_local_host.txt", &render_local_hosts(&all, false));
    check(
        "show_local_host_detail.txt",
        &render_local_hosts(&all, true),
    );
    let brief = q(HostFilter {
        brief: true,
        ..HostFilter::default()
    });
    assert!(brief.conns.is_empty());
    check(
        "show_local_host_brief.txt",
        &render_local_hosts(&brief, false),
    );
    let server = q(HostFilter {
        address: Some("198.18.1.10".parse().unwrap()),
        ..HostFilter::default()
    });
    let hosts: Vec<usize> = server.interfaces.iter().map(|i| i.hosts.len()).collect();
    assert_eq!(hosts, [0, 1]);
    assert_eq!(server.conns, all.conns, "every connection is the server's");
    let waited_on = q(HostFilter {
        embryonic: Some(CountRange { min: 1, max: None }),
        ..HostFilter::default()
    });
    check(
        "show_local_host_embryonic.txt",
        &render_local_hosts(&waited_on, false),
    );
}

#[test]
fn show_service_policy() {
    let a = fixture::admin(fixture::standalone_status());
    check(
        "show_service_policy.txt",
        &service_policy::render_service_policy(&a.service_policy().unwrap()),
    );
}

#[test]
fn show_cluster_standalone_and_clustered() {
    let a = fixture::admin(fixture::standalone_status());
    check(
        "show_cluster_standalone.txt",
        &show_cluster::render_cluster(&a.cluster().unwrap()),
    );
    let b = fixture::admin(fixture::cluster_status());
    check(
        "show_cluster.txt",
        &show_cluster::render_cluster(&b.cluster().unwrap()),
    );
}

/// A node whose Raft core ended: `show cluster` says so plainly (its
/// last reading would show a follower), peers' roles are unknown, and the
/// metrics say it (`rampart_raft_running` 0, no leader).
#[test]
fn show_cluster_and_metrics_when_raft_has_stopped() {
    let mut status = fixture::cluster_status();
    let raft = status.raft.as_mut().expect("raft");
    raft.role = Some(RaftRole::Stopped);
    raft.leader = None;
    raft.stopped = Some("panicked".into());
    let b = std::sync::Arc::new(fixture::admin(status));
    check(
        "show_cluster_raft_stopped.txt",
        &show_cluster::render_cluster(&b.cluster().unwrap()),
    );
    let backend: std::sync::Arc<dyn Backend> = b;
    let text = Metrics::new(std::sync::Arc::new(move || backend.snapshot()), None).render();
    for line in ["rampart_raft_running 0", "rampart_raft_has_leader 0"] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    let running = Metrics::new(
        std::sync::Arc::new(|| fixture::admin(fixture::cluster_status()).snapshot()),
        None,
    )
    .render();
    assert!(running.lines().any(|l| l == "rampart_raft_running 1"));
}

/// A node that knows it was removed from the cluster: `show cluster`
/// says so, `/readyz` is not ready with the reason (an ASA unit that
/// leaves its cluster stops passing traffic), and the metrics say it
/// (`rampart_raft_removed` 1, `rampart_ready` 0), where it once reported
/// ready for good, and only "no leader".
#[test]
fn show_cluster_health_and_metrics_of_a_removed_node() {
    let mut status = fixture::cluster_status();
    let raft = status.raft.as_mut().expect("raft");
    raft.role = Some(RaftRole::Learner);
    raft.leader = None;
    raft.removed = Some("removed from the cluster: member node 2 says so".into());
    let b = std::sync::Arc::new(fixture::admin(status));
    check(
        "show_cluster_removed.txt",
        &show_cluster::render_cluster(&b.cluster().unwrap()),
    );
    let health = b.health();
    assert!(!health.ready);
    assert!(
        health
            .reasons
            .iter()
            .any(|r| r.starts_with("removed from the cluster: member node 2 says so")),
        "{health:?}"
    );
    let backend: std::sync::Arc<dyn Backend> = b;
    let text = Metrics::new(std::sync::Arc::new(move || backend.snapshot()), None).render();
    for line in ["rampart_raft_removed 1", "rampart_ready 0"] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    let member = fixture::admin(fixture::cluster_status());
    assert!(member.health().ready, "{:?}", member.health());
}

#[test]
fn show_counters_and_running_config() {
    let a = fixture::admin(fixture::standalone_status());
    check(
        "show_counters.txt",
        &asp_drop::render_counters(&a.counters().unwrap()),
    );
    let rc = a.running_config().unwrap();
    assert_eq!(rc.version, 1);
    check("show_running_config.txt", &rc.text);
}

/// `show fragment`: the fixture's policy has no `fragment` line, so each
/// interface has the ASA's defaults; the counters are both workers'.
#[test]
fn show_fragment() {
    let a = fixture::admin(fixture::standalone_status());
    check(
        "show_fragment.txt",
        &show_fragment::render_fragments(&a.fragments().unwrap()),
    );
}

/// `show access-list`: the outside's denied SYN to port 23 on its deny
/// entry, the bypass connection on its class's list; the open web and
/// DNS connections match no list (no access-group on the inside).
#[test]
fn show_access_list() {
    let a = fixture::admin(fixture::standalone_status());
    check(
        "show_access_list.txt",
        &show_acl::render_access_lists(&a.access_lists(None).unwrap()),
    );
}

#[test]
fn clear_conn_by_address_then_all() {
    let a = fixture::admin(fixture::standalone_status());
    let f = ConnFilter::address_port(None, Some(53));
    assert_eq!(
        rampart_ops::clear_conn::render_clear(&a.clear_conns(&f).unwrap()),
        "1 connection(s) deleted.\n"
    );
    assert_eq!(
        rampart_ops::clear_conn::render_clear(&a.clear_conns(&ConnFilter::default()).unwrap()),
        "3 connection(s) deleted.\n"
    );
    assert_eq!(a.conns(&ConnQuery::default()).unwrap().in_use, 0);
}

/// `packet-tracer` on the fixture: an access-list entry named with its
/// line, the implicit deny, a connection found on the worker that holds
/// it (both workers' tables are read), a class's settings with its lines,
/// a bypass class in detail, and the XML form.
#[test]
fn packet_tracer() {
    use rampart_ops::packet_tracer::{parse_words, render_text, render_xml};
    let a = fixture::admin(fixture::standalone_status());
    let trace = |line: &str| {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        let w = parse_words(&words).unwrap();
        let t = a.packet_tracer(&w.query).unwrap();
        if w.xml {
            render_xml(&t, w.detailed)
        } else {
            render_text(&t, w.detailed)
        }
    };
    for (file, line) in [
        (
            "packet_tracer_permit.txt",
            "input outside tcp 198.18.1.10 40000 198.18.0.10 ssh",
        ),
        (
            "packet_tracer_implicit_deny.txt",
            "input outside tcp 198.18.1.10 40000 198.18.0.10 23",
        ),
        (
            "packet_tracer_existing_tcp.txt",
            "input inside tcp 198.18.0.10 40000 198.18.1.10 www",
        ),
        (
            "packet_tracer_existing_udp.txt",
            "input outside udp 198.18.1.10 domain 198.18.0.10 5353",
        ),
        (
            "packet_tracer_class.txt",
            "input inside tcp 198.18.0.10 40100 198.18.1.10 www",
        ),
        (
            "packet_tracer_bypass_detailed.txt",
            "input inside tcp 198.18.0.10 40100 198.18.1.10 445 detailed",
        ),
        (
            "packet_tracer_permit.xml",
            "input outside tcp 198.18.1.10 40000 198.18.0.10 ssh xml",
        ),
    ] {
        check(file, &trace(line));
    }
}
