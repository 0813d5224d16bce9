//! The node's side of time-ranges (docs/asa-behaviour.md §2.10): the
//! engines know no wall clock, so the node reads its own (NTP-synced, as an
//! ASA cluster unit's is), and once a second asks the operations to
//! compile and install the policy in force again if the set of active
//! time-ranges changed ([`Admin::refresh_time_ranges`]). The ASA picks an
//! end up within about a minute; here it takes effect within a second of
//! the minute's start. One look that panics is logged and counted
//! (`rampart_time_range_check_failures_total`), and the looks go on: an
//! unsupervised panic would end range changes until the node restarts.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_ops::admin::Admin;
use rampart_ops::pool::EnginePool;

/// How often the node looks at its clock for a time-range boundary.
pub const TIME_RANGE_CHECK: Duration = Duration::from_secs(1);

/// The node's wall clock: seconds since the Unix epoch, UTC; 0 if it
/// reads before 1970.
pub fn now_unix() -> i64 {
    read_clock().unwrap_or(0)
}

/// The wall clock, or `None` if it reads before 1970 (a clock never set).
fn read_clock() -> Option<i64> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// One look at `now_unix`: the policy in force compiled and installed
/// again if its set of active time-ranges is not the one of `now_unix`;
/// the new set, if so. A failure is logged and tried again at the next
/// look.
pub fn check<P: EnginePool>(admin: &Admin<P>, now_unix: i64) -> Option<BTreeSet<String>> {
    match admin.refresh_time_ranges(now_unix) {
        Ok(Some(active)) => {
            let names: Vec<&str> = active.iter().map(String::as_str).collect();
            tracing::info!(
                "time-ranges active now: [{}]; the policy in force was compiled again for them",
                names.join(", ")
            );
            Some(active)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!("time-ranges changed, but the policy could not be installed again: {e}");
            None
        }
    }
}

/// Run one look, `look`: if it panics, the panic is logged at error,
/// counted in `failures`, and `None` answered, so that the thread goes on
/// to the next look. A look that panicked while holding the policy lock
/// leaves it poisoned; the next looks then fail with that, logged.
pub fn supervised<T>(failures: &AtomicU64, look: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(look)) {
        Ok(v) => Some(v),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            let n = failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
            tracing::error!(
                "time-ranges: a look at the clock panicked ({why}); {n} so far; looking again in \
                 {} s",
                TIME_RANGE_CHECK.as_secs()
            );
            None
        }
    }
}

/// The clock to look at: it, or 0 with a warning (once, `warned`) if it
/// reads before 1970, where every range is judged as at 1970-01-01.
fn clock_for_look(reading: Option<i64>, warned: &mut bool) -> i64 {
    match reading {
        Some(now) => now,
        None => {
            if !*warned {
                tracing::warn!(
                    "time-ranges: the system clock reads before 1970; ranges are judged as at \
                     1970-01-01 00:00 UTC until it is set (docs/asa-behaviour.md §2.10)"
                );
                *warned = true;
            }
            0
        }
    }
}

/// Look every [`TIME_RANGE_CHECK`] until `stop`; a look that panics is
/// counted in `failures` and the next made all the same ([`supervised`]).
pub fn spawn<P: EnginePool>(
    admin: Arc<Admin<P>>,
    failures: Arc<AtomicU64>,
    stop: &'static AtomicBool,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("time-ranges".into())
        .spawn(move || {
            let mut warned = false;
            while !stop.load(Ordering::Relaxed) {
                let now = clock_for_look(read_clock(), &mut warned);
                supervised(&failures, || check(&admin, now));
                std::thread::sleep(TIME_RANGE_CHECK);
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::{Engine, EngineConfig, Instant};
    use rampart_ops::backend::Backend;
    use rampart_ops::model::NodeStatus;
    use rampart_ops::pool::LocalPool;

    /// A look that panics is counted and answered `None`, and the looks
    /// after it are made: one bad look does not end range changes.
    #[test]
    fn a_look_that_panics_is_counted_and_the_next_look_is_made() {
        let failures = AtomicU64::new(0);
        let mut looks = 0;
        for i in 0..4 {
            let answer = supervised(&failures, || {
                looks += 1;
                assert!(i % 2 == 1, "look {i} fails");
                i
            });
            assert_eq!(answer, (i % 2 == 1).then_some(i));
        }
        assert_eq!((looks, failures.load(Ordering::Relaxed)), (4, 2));
        // A panic with a formatted message too.
        assert_eq!(supervised(&failures, || -> u8 { panic!("{}", 7) }), None);
        assert_eq!(failures.load(Ordering::Relaxed), 3);
    }

    /// A clock before 1970 is looked at as 0, and said once.
    #[test]
    fn a_clock_before_1970_is_judged_as_1970_and_warned_of_once() {
        let mut warned = false;
        assert_eq!(
            clock_for_look(Some(1_796_947_200), &mut warned),
            1_796_947_200
        );
        assert!(!warned);
        assert_eq!(clock_for_look(None, &mut warned), 0);
        assert!(warned);
        assert_eq!(clock_for_look(None, &mut warned), 0);
        assert!(warned);
    }

    /// Friday 2026-12-11 at `hour:minute` UTC.
    fn friday(hour: i64, minute: i64) -> i64 {
        1_796_947_200 + hour * 3600 + minute * 60
    }

    /// The backup window opens at Friday 22:00 in New York (UTC-5 in
    /// December): 3:00 UTC on Saturday. A look before changes nothing, the
    /// look at it installs the policy with the range active on every
    /// worker, and it is checked without waiting for the hour.
    #[test]
    fn the_policy_is_installed_again_at_a_boundary_of_the_node_s_clock() {
        let engine = || Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
        let pool = LocalPool::new(vec![engine(), engine()], || Instant::from_secs(1));
        let at = friday(21, 0);
        let admin = Admin::new(Arc::new(pool), Box::new(NodeStatus::default))
            .with_wall_clock(Arc::new(move || at));
        admin
            .configure(
                "clock timezone EST -5\nclock summer-time EDT recurring\n\
                 time-range BACKUP\n periodic friday 22:00 to monday 6:00\n\
                 access-list IN extended permit tcp any any eq 873 time-range BACKUP\n\
                 access-group IN in interface inside\n",
            )
            .expect("configured");
        let active = |a: &Admin<LocalPool>| {
            a.pool()
                .each(Duration::from_secs(2), |w| {
                    w.engine.policy().active_time_ranges().len()
                })
                .unwrap()
        };
        assert_eq!(check(&admin, friday(23, 59)), None);
        assert_eq!(check(&admin, friday(26, 59) + 59), None);
        assert_eq!(active(&admin), [0, 0]);
        assert_eq!(
            check(&admin, friday(27, 0)),
            Some(BTreeSet::from(["BACKUP".to_string()]))
        );
        assert_eq!(active(&admin), [1, 1]);
        assert!(admin.time_ranges().unwrap().ranges[0].active);
        // Monday 6:01 EST is 11:01 UTC.
        assert_eq!(check(&admin, friday(3 * 24 + 11, 0)), None);
        assert_eq!(check(&admin, friday(3 * 24 + 11, 1)), Some(BTreeSet::new()));
        assert_eq!(active(&admin), [0, 0]);
    }
}
