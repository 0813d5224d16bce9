//! `show conn`'s filters over the admin API (real HTTP on loopback, the
//! fixed engine state of `rampart_ops::fixture`): what the client sends is
//! what the backend answers, bad filters are refused with why (400, or 404
//! for an interface the node lacks), and `clear conn` takes an address and
//! a port only.

use std::sync::Arc;

use rampart_ops::backend::{Backend, ConnQuery, OpsError};
use rampart_ops::client::{Client, ClientError};
use rampart_ops::conn_filter::ConnState;
use rampart_ops::fixture;
use rampart_ops::metrics::Metrics;
use rampart_ops::server::{OpsConfig, OpsServer};
use rampart_ops::show_conn::ConnFilter;

const TOKEN: &str = "4f1d0c2b9e8a7d6c";

fn start() -> (OpsServer, Arc<dyn Backend>) {
    let backend: Arc<dyn Backend> = Arc::new(fixture::admin(fixture::standalone_status()));
    let b = backend.clone();
    let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
    let cfg = OpsConfig {
        admin: Some("127.0.0.1:0".parse().unwrap()),
        token: Some(TOKEN.into()),
        ..OpsConfig::default()
    };
    (
        OpsServer::start(&cfg, backend.clone(), metrics).unwrap(),
        backend,
    )
}

fn refusal(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Refused { status, error } => (status, error.error),
        other => panic!("expected a refusal, got {other}"),
    }
}

/// The ports of the rows a filter lists, as the client gets them.
fn ports(c: &Client, f: &ConnFilter) -> Vec<u16> {
    let mut v: Vec<u16> = c
        .conns(f, false)
        .unwrap()
        .conns
        .iter()
        .map(|r| r.higher.port)
        .collect();
    v.sort();
    v
}

#[test]
fn filters_travel_whole_and_combine() {
    let (srv, backend) = start();
    let c = Client::new(srv.admin_addr.unwrap(), None);
    assert_eq!(
        ports(&c, &ConnFilter::default()),
        vec![5353, 40_000, 40_001, 40_010]
    );
    let tcp_range = ConnFilter {
        protocol: Some(6),
        port: Some(1),
        port_to: Some(443),
        ..ConnFilter::default()
    };
    assert_eq!(ports(&c, &tcp_range), vec![40_000, 40_001]);
    let embryonic = ConnFilter {
        states: vec![ConnState::TcpEmbryonic],
        ..ConnFilter::default()
    };
    assert_eq!(ports(&c, &embryonic), vec![40_001]);
    let inside_net = ConnFilter {
        address: Some("198.18.0.0".parse().unwrap()),
        prefix_len: Some(24),
        interface: Some("inside".into()),
        states: vec![ConnState::Up, ConnState::Dns],
        ..ConnFilter::default()
    };
    assert_eq!(ports(&c, &inside_net), vec![5353, 40_000]);
    let v6 = ConnFilter {
        address: Some("2001:db8::".parse().unwrap()),
        prefix_len: Some(32),
        ..ConnFilter::default()
    };
    assert!(ports(&c, &v6).is_empty());
    // What the client got is what the backend answers for the filter.
    let direct = backend
        .conns(&ConnQuery {
            filter: inside_net.clone(),
            ..ConnQuery::default()
        })
        .unwrap();
    assert_eq!(c.conns(&inside_net, false).unwrap(), direct);
    let count = c.conns(&inside_net, true).unwrap();
    assert_eq!((count.in_use, count.conns.len()), (4, 0));
}

#[test]
fn bad_filters_are_refused_with_why() {
    let (srv, backend) = start();
    let c = Client::new(srv.admin_addr.unwrap(), None);
    let dmz = ConnFilter {
        interface: Some("dmz".into()),
        ..ConnFilter::default()
    };
    let (status, why) = refusal(c.conns(&dmz, false).unwrap_err());
    assert_eq!((status, why.as_str()), (404, "no interface named 'dmz'"));
    let backwards = ConnFilter {
        address: Some("198.18.0.9".parse().unwrap()),
        address_to: Some("198.18.0.1".parse().unwrap()),
        ..ConnFilter::default()
    };
    let (status, why) = refusal(c.conns(&backwards, false).unwrap_err());
    assert_eq!(status, 400);
    assert!(why.contains("runs backwards"), "{why}");
    // A filter that does not fit together is refused by the backend too,
    // whoever builds it.
    let e = backend
        .conns(&ConnQuery {
            filter: backwards,
            ..ConnQuery::default()
        })
        .unwrap_err();
    assert!(matches!(e, OpsError::BadRequest(_)), "{e:?}");
    // `clear conn` carries an address and a port to every peer, no more:
    // a wider filter would clear more on the peers than asked.
    let admin = fixture::admin(fixture::standalone_status());
    let tcp = ConnFilter {
        protocol: Some(6),
        ..ConnFilter::default()
    };
    assert!(matches!(
        admin.clear_conns(&tcp),
        Err(OpsError::BadRequest(_))
    ));
    assert!(matches!(
        admin.clear_local(&tcp),
        Err(OpsError::BadRequest(_))
    ));
    let writer = Client::new(srv.admin_addr.unwrap(), Some(TOKEN.into()));
    assert_eq!(refusal(writer.clear_conns(&tcp).unwrap_err()).0, 400);
    assert_eq!(c.conns(&ConnFilter::default(), true).unwrap().in_use, 4);
}
