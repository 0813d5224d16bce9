//! What this node made of each policy the cluster committed: it runs it
//! (every worker, or some still to take it), or it keeps the one it ran
//! before. A `configure` through the cluster answers once the write is
//! committed *and* this node has made something of it, so that it never
//! says "applied" for a policy the node it was sent to does not run
//! (docs/ARCHITECTURE.md §7).
//!
//! The node's apply task records each outcome ([`LocalApplies::record`]);
//! the writer waits for the outcome of its version, or of a later one,
//! for a bounded time ([`LocalApplies::wait`]).

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// How long `configure` waits, once its write is committed, for this
/// node to run it or refuse it: the node compiles it (a second or two near
/// the compiler's bounds) and installs it between two batches. Past it the
/// answer says the policy is not in force here yet.
pub const LOCAL_APPLY_WAIT: Duration = Duration::from_secs(10);

/// What the node made of one committed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalOutcome {
    /// It is the node's policy; `pending` says why some workers have not
    /// taken it yet (they take it as they serve again).
    Running {
        /// Why some workers do not run it yet.
        pending: Option<String>,
    },
    /// The node keeps the policy it ran before: why (not signed for its
    /// version by the operator's key, does not compile with this node's
    /// interfaces).
    Refused(String),
}

/// The last committed version the node made something of, and what.
#[derive(Debug, Default)]
pub struct LocalApplies {
    last: Mutex<Option<(u64, LocalOutcome)>>,
    changed: Condvar,
}

impl LocalApplies {
    /// Record what the node made of committed version `version`. An
    /// outcome older than the one recorded is dropped: the apply task
    /// takes versions in order, and only the newest matters to a writer.
    pub fn record(&self, version: u64, outcome: LocalOutcome) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref().is_some_and(|(v, _)| *v > version) {
            return;
        }
        *last = Some((version, outcome));
        self.changed.notify_all();
    }

    /// The newest version the node made something of, and what.
    pub fn last(&self) -> Option<(u64, LocalOutcome)> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Wait at most `limit` until the node has made something of
    /// `version` or of a later version (which replaced it before this node
    /// took it): that version and the outcome, or `None` if the wait ran
    /// out.
    pub fn wait(&self, version: u64, limit: Duration) -> Option<(u64, LocalOutcome)> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let (last, _) = self
            .changed
            .wait_timeout_while(last, limit, |l| {
                l.as_ref().is_none_or(|(v, _)| *v < version)
            })
            .unwrap_or_else(|p| p.into_inner());
        last.clone().filter(|(v, _)| *v >= version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_writer_gets_the_outcome_of_its_version_or_a_later_one() {
        let a = Arc::new(LocalApplies::default());
        assert_eq!(a.wait(1, Duration::from_millis(1)), None, "nothing yet");
        a.record(1, LocalOutcome::Running { pending: None });
        let waiter = {
            let a = a.clone();
            std::thread::spawn(move || a.wait(2, Duration::from_secs(10)))
        };
        a.record(2, LocalOutcome::Refused("not signed".into()));
        assert_eq!(
            waiter.join().unwrap(),
            Some((2, LocalOutcome::Refused("not signed".into())))
        );
        // An older outcome recorded late does not hide the newer one.
        a.record(1, LocalOutcome::Running { pending: None });
        a.record(3, LocalOutcome::Running { pending: None });
        assert_eq!(
            a.wait(2, Duration::from_millis(1)),
            Some((3, LocalOutcome::Running { pending: None }))
        );
        assert_eq!(a.wait(4, Duration::from_millis(1)), None);
    }
}
