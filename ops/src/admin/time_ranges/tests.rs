use std::sync::atomic::{AtomicI64, Ordering};

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{TcpModel, v4_pair};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant, Verdict};

use super::*;
use crate::backend::Backend;
use crate::model::NodeStatus;
use crate::pool::LocalPool;
use crate::show_time_range::render_time_ranges;

const NOW: Instant = Instant::from_secs(100);

/// Monday 2026-12-07 at `hour:minute` UTC, in seconds since the epoch.
fn monday(hour: i64, minute: i64) -> i64 {
    1_796_601_600 + hour * 3600 + minute * 60
}

const POLICY: &str = "\
time-range WORK
 periodic weekdays 8:00 to 18:00
time-range NEVER
 absolute end 0:00 1 January 2020
access-list IN extended permit tcp any any eq ssh time-range WORK
access-list IN extended deny tcp any any eq www time-range NEVER
access-list IN extended permit tcp any any eq www
access-group IN in interface inside
";

/// A node of two workers whose wall clock reads `wall`.
fn node(wall: Arc<AtomicI64>) -> Admin<LocalPool> {
    let engine = || Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    let pool = LocalPool::new(vec![engine(), engine()], || NOW);
    Admin::new(Arc::new(pool), Box::new(NodeStatus::default))
        .with_wall_clock(Arc::new(move || wall.load(Ordering::Relaxed)))
}

/// A new connection's SYN to port `port` through worker 0: forwarded?
fn opens(admin: &Admin<LocalPool>, port: u16) -> bool {
    static CLIENT_PORT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(40_000);
    let client = CLIENT_PORT.fetch_add(1, Ordering::Relaxed);
    let v = admin
        .each(move |w| {
            if w.worker != 0 {
                return None;
            }
            let (c, s) = v4_pair(client, port);
            let mut m = TcpModel::new(c, s, [100, 900], [64_240, 65_160], [Some(7), Some(7)]);
            let syn = m.syn();
            Some(
                w.engine
                    .process(&mut m.frame(&syn), PacketMeta::default(), IfaceId(0), NOW),
            )
        })
        .unwrap();
    matches!(v[0], Some(Verdict::Forward { .. }))
}

/// `packet-tracer input inside tcp 198.18.0.9 41000 198.51.100.9 22`: its action.
fn traced(admin: &Admin<LocalPool>) -> String {
    let q = crate::packet_tracer::parse_query(
        "input=inside&protocol=tcp&src=198.18.0.9&sport=41000&dst=198.51.100.9&dport=22",
    )
    .unwrap();
    admin.packet_tracer(&q).unwrap().action
}

fn shown(admin: &Admin<LocalPool>) -> Vec<(String, bool)> {
    admin
        .time_ranges()
        .unwrap()
        .ranges
        .into_iter()
        .map(|r| (r.name, r.active))
        .collect()
}

/// The node compiles a policy with the ranges active by its wall clock,
/// and compiles and installs it again when the set changes: a check
/// before the boundary changes nothing, the one at it installs the policy
/// with WORK active on every worker, with its entries' hit counts.
#[test]
fn the_policy_is_installed_again_when_a_range_starts_and_ends() {
    let wall = Arc::new(AtomicI64::new(monday(7, 59)));
    let admin = node(wall.clone());
    admin.configure(POLICY).expect("configured");
    assert_eq!(
        shown(&admin),
        [("WORK".to_string(), false), ("NEVER".to_string(), false)]
    );
    assert!(!opens(&admin, 22));
    assert!(opens(&admin, 80));
    assert_eq!(traced(&admin), "drop");
    let before = admin.each(|w| w.engine.policy().clone()).unwrap();
    assert_eq!(admin.refresh_time_ranges(monday(7, 59) + 59).unwrap(), None);
    let same = admin.each(|w| w.engine.policy().clone()).unwrap();
    assert!(Arc::ptr_eq(&before[0], &same[0]), "nothing installed");

    assert_eq!(
        admin.refresh_time_ranges(monday(8, 0)).unwrap(),
        Some(BTreeSet::from(["WORK".to_string()]))
    );
    let active: Vec<Vec<String>> = admin
        .each(|w| {
            w.engine
                .policy()
                .active_time_ranges()
                .iter()
                .cloned()
                .collect()
        })
        .unwrap();
    assert_eq!(active, [vec!["WORK".to_string()], vec!["WORK".to_string()]]);
    assert_eq!(shown(&admin)[0], ("WORK".to_string(), true));
    // packet-tracer reads the policy in force: it follows the set.
    assert_eq!(traced(&admin), "allow");
    assert!(opens(&admin, 22));
    // The www permit kept its hit from before the swap.
    let acl = admin.access_lists(Some("IN")).unwrap();
    let hits: Vec<(u64, bool)> = acl.lists[0]
        .lines
        .iter()
        .map(|l| (l.hitcnt.unwrap_or(0), l.inactive))
        .collect();
    assert_eq!(hits, [(1, false), (0, true), (1, false)]);
    // Again at 8:00:30: nothing to do; at 18:01 WORK ends.
    assert_eq!(admin.refresh_time_ranges(monday(8, 0) + 30).unwrap(), None);
    assert_eq!(
        admin.refresh_time_ranges(monday(18, 1)).unwrap(),
        Some(BTreeSet::new())
    );
    assert!(!opens(&admin, 22));
    let text = render_time_ranges(&admin.time_ranges().unwrap());
    assert_eq!(
        text,
        "time-range entry: WORK (inactive)\n   periodic weekdays 8:00 to 18:00\n   used in: IP ACL entry\n\
         time-range entry: NEVER (inactive)\n   absolute end 0:00 1 January 2020\n   used in: IP ACL entry\n"
    );
}

/// A `configure` at 9:00 compiles with WORK active at once, not a second
/// later: a policy is never in force with the wrong set until the next
/// check.
#[test]
fn a_configure_compiles_for_the_ranges_active_then() {
    let admin = node(Arc::new(AtomicI64::new(monday(9, 0))));
    admin.configure(POLICY).expect("configured");
    assert!(opens(&admin, 22));
    assert_eq!(admin.refresh_time_ranges(monday(9, 0)).unwrap(), None);
    // A policy without time-ranges is never compiled again.
    admin
        .configure(
            "access-list IN extended permit ip any any\naccess-group IN in interface inside\n",
        )
        .unwrap();
    assert_eq!(admin.refresh_time_ranges(monday(20, 0)).unwrap(), None);
}

/// A worker that waits for the cluster's first policy keeps waiting: a
/// range change never installs a policy there (installing one would end
/// the wait, and the node would forward before it has its cluster's
/// policy).
#[test]
fn a_node_awaiting_its_cluster_s_policy_installs_nothing() {
    let cfg = Arc::new(
        rampart_dataplane::policy::parse_config(POLICY)
            .unwrap()
            .config,
    );
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    let p = rampart_dataplane::policy::compile::compile(&cfg, &e.config().interfaces)
        .unwrap()
        .with_source(cfg.clone());
    e.set_policy(Arc::new(p)).unwrap();
    e.await_cluster_policy();
    let pool = LocalPool::new(vec![e], || NOW);
    let admin = Admin::new(Arc::new(pool), Box::new(NodeStatus::default));
    assert_eq!(admin.refresh_time_ranges(monday(9, 0)).unwrap(), None);
    assert_eq!(
        admin.each(|w| w.engine.awaits_cluster_policy()).unwrap(),
        [true]
    );
}

/// A node whose wall clock reads `before` the first time it is read and
/// `after` every time since: a range boundary falls between a policy's
/// compile (outside the policy lock) and its install (under it).
fn node_crossing(before: i64, after: i64) -> Admin<LocalPool> {
    let engine = || Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    let pool = LocalPool::new(vec![engine(), engine()], || NOW);
    let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Admin::new(Arc::new(pool), Box::new(NodeStatus::default)).with_wall_clock(Arc::new(move || {
        if reads.fetch_add(1, Ordering::Relaxed) == 0 {
            before
        } else {
            after
        }
    }))
}

/// WORK starts at 8:00 between the compile of a `configure` (at 7:59) and
/// its install: the policy installed is the one for 8:00, not the 7:59
/// one, which a refresh meanwhile could not correct (it judged the policy
/// before) and the next would correct only a second later.
#[test]
fn a_range_that_turns_during_a_configure_s_compile_is_in_force_at_install() {
    let admin = node_crossing(monday(7, 59), monday(8, 0));
    admin.configure(POLICY).expect("configured");
    assert!(opens(&admin, 22), "WORK is active at 8:00");
    assert_eq!(shown(&admin)[0], ("WORK".to_string(), true));
    assert_eq!(admin.refresh_time_ranges(monday(8, 0)).unwrap(), None);
}

/// The same for a committed policy from the replicated log.
#[test]
fn a_range_that_turns_during_a_committed_policy_s_compile_is_in_force_at_install() {
    let admin = node_crossing(monday(18, 0), monday(18, 1));
    admin.apply_committed(2, POLICY).expect("applied");
    assert!(!opens(&admin, 22), "WORK ended after 18:00");
    assert_eq!(shown(&admin)[0], ("WORK".to_string(), false));
}
