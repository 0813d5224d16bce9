//! `show service-policy` against `/metrics`: both report what a class's
//! limits count, over a policy change and over a policy-map applied in two
//! scopes. Real engines in a [`LocalPool`], real SYNs from
//! `dataplane::trace`, the policy changed by `configure`.

use std::sync::Arc;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{Side, TcpModel, v4_pair};
use rampart_dataplane::{Engine, EngineConfig, Instant};
use rampart_ops::admin::Admin;
use rampart_ops::backend::Backend;
use rampart_ops::metrics::Metrics;
use rampart_ops::metrics::text::sample;
use rampart_ops::model::{ClassStats, NodeStatus, PolicyScope};
use rampart_ops::pool::LocalPool;

const NOW: Instant = Instant::from_secs(100);

fn node() -> (Arc<LocalPool>, Arc<Admin<LocalPool>>, Metrics) {
    let engine = Engine::new(EngineConfig::inside_outside(NodeId(1), [9; 4])).expect("engine");
    let pool = Arc::new(LocalPool::new(vec![engine], || NOW));
    let admin = Arc::new(Admin::new(pool.clone(), Box::new(NodeStatus::default)));
    let a = admin.clone();
    let metrics = Metrics::new(Arc::new(move || a.snapshot()), None);
    (pool, admin, metrics)
}

/// A SYN from inside to port 80 from client port `port`.
fn syn(pool: &LocalPool, port: u16) {
    let (c, s) = v4_pair(port, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [64_240, 65_160], [Some(7), Some(7)]);
    let syn = m.syn();
    let mut f = m.frame(&syn);
    pool.with(0, |e, now| {
        e.process(&mut f, PacketMeta::default(), m.iface(Side::Client), now)
    })
    .expect("worker 0");
}

fn class(admin: &Admin<LocalPool>, scope: &PolicyScope) -> ClassStats {
    let sp = admin.service_policy().expect("service-policy");
    let b = sp
        .bindings
        .iter()
        .find(|b| b.scope == *scope)
        .unwrap_or_else(|| panic!("no {scope:?} binding in {sp:?}"));
    b.classes[0].clone()
}

fn policy(conn_max: u32, bindings: &str) -> String {
    format!(
        "class-map web\n match port tcp eq 80\npolicy-map p\n class web\n  set connection conn-max {conn_max}\n{bindings}"
    )
}

/// A class whose options change gets a new slot, and its limit goes on
/// counting the connections of the old one: `show service-policy` says so,
/// as `/metrics` does. Before, it read the new slot alone: `current conns
/// 1, drop 1, Connection hits: 1` beside `rampart_class_connections 4`.
#[test]
fn show_service_policy_counts_what_the_limit_counts_across_a_policy_change() {
    let (pool, admin, metrics) = node();
    admin
        .configure(&policy(3, "service-policy p global\n"))
        .expect("accepted");
    for port in 40_000..40_003 {
        syn(&pool, port);
    }
    admin
        .configure(&policy(4, "service-policy p global\n"))
        .expect("accepted");
    syn(&pool, 40_003);
    syn(&pool, 40_004); // the limit's fifth: refused
    let c = class(&admin, &PolicyScope::Global);
    assert_eq!(c.conn_max, 4);
    assert_eq!(
        (
            c.current_conns,
            c.current_embryonic,
            c.limit_drops,
            c.created
        ),
        (4, 4, 1, 4),
        "{c:?}"
    );
    let t = metrics.render();
    let v = |name: &str| sample(&t, name, &[("class", "p/web"), ("scope", "global")]);
    assert_eq!(v("rampart_class_connections"), Some(4.0), "{t}");
    assert_eq!(v("rampart_class_embryonic_connections"), Some(4.0));
    assert_eq!(v("rampart_class_connections_created_total"), Some(4.0));
    assert_eq!(v("rampart_class_limit_drops_total"), Some(1.0));
}
/// One policy-map applied globally and to an interface is two
/// applications, each counting its own connections against its own
/// `conn-max` (docs/asa-behaviour.md §2.3). Before, both bindings shared
/// one slot: three SYNs from inside, two admitted by the interface's
/// `conn-max 2`, and the global binding showed the same two connections.
#[test]
fn one_policy_map_in_two_scopes_counts_each_application_apart() {
    let (pool, admin, metrics) = node();
    admin
        .configure(&policy(
            2,
            "service-policy p global\nservice-policy p interface inside\n",
        ))
        .expect("accepted");
    // From inside: the interface's policy gives these their limits.
    for port in 40_000..40_003 {
        syn(&pool, port);
    }
    let inside = class(&admin, &PolicyScope::Interface("inside".into()));
    assert_eq!(
        (inside.current_conns, inside.limit_drops, inside.created),
        (2, 1, 2),
        "{inside:?}"
    );
    let global = class(&admin, &PolicyScope::Global);
    assert_eq!(
        (global.current_conns, global.limit_drops, global.created),
        (0, 0, 0),
        "{global:?}"
    );
    let t = metrics.render();
    let v = |name: &str, scope: &str| sample(&t, name, &[("class", "p/web"), ("scope", scope)]);
    assert_eq!(
        v("rampart_class_connections", "interface inside"),
        Some(2.0),
        "{t}"
    );
    assert_eq!(
        v("rampart_class_limit_drops_total", "interface inside"),
        Some(1.0)
    );
    assert_eq!(v("rampart_class_connections", "global"), Some(0.0), "{t}");
}
