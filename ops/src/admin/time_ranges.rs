//! Time-ranges on a running node (docs/asa-behaviour.md §2.10): the
//! policy in force is compiled for the set of time-ranges active now, and
//! compiled again and installed, as any new policy is, when that set
//! changes ([`Admin::refresh_time_ranges`], which the node calls every
//! second with its clock); and the workers' part of `show time-range`
//! (`crate::show_time_range`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rampart_dataplane::policy::ast::{AclLine, Config};
use rampart_dataplane::policy::compile::{Policy, compile_at};
use rampart_dataplane::policy::render::{absolute, periodic};
use rampart_dataplane::policy::time::active_ranges;

use super::Admin;
use crate::backend::OpsError;
use crate::pool::EnginePool;
use crate::show_time_range::{TimeRangeView, TimeRanges};

/// The wall clock the time-ranges are evaluated by: seconds since the
/// Unix epoch, UTC (the node's, NTP-synced; a test's own).
pub type WallClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The machine's wall clock.
pub fn system_wall_clock() -> WallClock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    })
}

impl<P: EnginePool> Admin<P> {
    /// The time-ranges of `config` active now, by the admin's wall clock.
    pub(super) fn active_now(&self, config: &Config) -> BTreeSet<String> {
        active_ranges(config, (self.wall)())
    }

    /// `policy`, compiled from `config` outside the policy lock, for the
    /// time-ranges active now; the caller holds the lock. A range that
    /// turned between that compile and the lock would otherwise be undone
    /// by installing it: a refresh meanwhile judged the policy before it,
    /// and the next refresh comes a second later (plus a compile). So the
    /// set is checked again under the lock, where no refresh can come
    /// between the check and the install, and only if it changed is the
    /// policy compiled again there. Compiling every policy under the lock
    /// would hold it (and every refresh and `configure` behind it) for a
    /// large policy's whole compile each time; this holds it so only when
    /// a range boundary fell within the compile, as a refresh does.
    pub(super) fn for_ranges_active_now(
        &self,
        policy: Policy,
        config: &Arc<Config>,
    ) -> Result<Policy, OpsError> {
        let active = self.active_now(config);
        if active == *policy.active_time_ranges() {
            return Ok(policy);
        }
        let interfaces = self
            .each(|w| w.engine.config().interfaces.clone())?
            .into_iter()
            .next()
            .ok_or_else(|| OpsError::Unavailable("no packet workers".into()))?;
        // It compiled with another set, and whether it compiles does not
        // depend on the set (`compile_at`).
        Ok(compile_at(config, &interfaces, &active)
            .map_err(|e| OpsError::PolicyRefused(e.to_string()))?
            .with_source(config.clone()))
    }

    /// The policy the workers are to run: the last one applied, else the
    /// one the first worker runs (the policy the node started with);
    /// none while a worker waits for the cluster's first policy, which
    /// only the cluster's policy may end (installing any policy would).
    fn current_policy(&self) -> Result<Option<Arc<Policy>>, OpsError> {
        if let Some(p) = self.wanted.lock().ok().and_then(|w| w.policy.clone()) {
            return Ok(Some(p));
        }
        let running =
            self.each(|w| (w.engine.policy().clone(), w.engine.awaits_cluster_policy()))?;
        if running.iter().any(|(_, awaiting)| *awaiting) {
            return Ok(None);
        }
        Ok(running.into_iter().next().map(|(p, _)| p))
    }

    /// Compile the policy in force again if the set of time-ranges active
    /// at `now_unix` (seconds since the Unix epoch) is not the one it was
    /// compiled for, and install it as any new policy is: connections,
    /// hit counts and everything else carry over as through a `configure`.
    /// Answers the new set, or `None` when nothing changed. Holds the
    /// policy lock throughout, so a `configure` or a committed policy
    /// applied meanwhile is never overwritten by a range change of the
    /// policy before it.
    pub fn refresh_time_ranges(&self, now_unix: i64) -> Result<Option<BTreeSet<String>>, OpsError> {
        let _serial = self
            .policy
            .lock()
            .map_err(|_| OpsError::Unavailable("policy state poisoned".into()))?;
        let Some(policy) = self.current_policy()? else {
            return Ok(None);
        };
        let Some(config) = policy.shared_source().filter(|_| policy.is_timed()) else {
            return Ok(None);
        };
        let active = active_ranges(config, now_unix);
        if active == *policy.active_time_ranges() {
            return Ok(None);
        }
        let interfaces = self
            .each(|w| w.engine.config().interfaces.clone())?
            .into_iter()
            .next()
            .ok_or_else(|| OpsError::Unavailable("no packet workers".into()))?;
        // It compiled before with another set, and whether it compiles
        // does not depend on the set (`compile_at`).
        let next = compile_at(config, &interfaces, &active)
            .map_err(|e| OpsError::PolicyRefused(e.to_string()))?
            .with_source(config.clone());
        self.apply(Arc::new(next))?;
        Ok(Some(active))
    }

    /// `show time-range` of the policy the first worker runs.
    pub(super) fn time_range_view(&self) -> Result<TimeRanges, OpsError> {
        let policy = self.each(|w| w.engine.policy().clone())?.into_iter().next();
        let Some((policy, config)) = policy.as_ref().and_then(|p| p.source().map(|c| (p, c)))
        else {
            return Ok(TimeRanges { ranges: Vec::new() });
        };
        let used: BTreeSet<&str> = config
            .access_lists
            .iter()
            .flat_map(|a| &a.lines)
            .filter_map(|l| match l {
                AclLine::Ace(a) => a.time_range.as_deref(),
                AclLine::Remark(_) => None,
            })
            .collect();
        let ranges = config
            .time_ranges
            .iter()
            .map(|r| TimeRangeView {
                name: r.name.clone(),
                active: policy.active_time_ranges().contains(&r.name),
                lines: r
                    .absolute
                    .iter()
                    .map(|a| format!("absolute{}", absolute(a)))
                    .chain(
                        r.periodic
                            .iter()
                            .map(|p| format!("periodic {}", periodic(p))),
                    )
                    .collect(),
                used: used.contains(r.name.as_str()),
            })
            .collect();
        Ok(TimeRanges { ranges })
    }
}

#[cfg(test)]
mod tests;
