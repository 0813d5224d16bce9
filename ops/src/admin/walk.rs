//! The walk of every worker's connection table that `show conn` and `show
//! local-host` share (docs/ops.md §2): in slices of [`WALK_SLICE_SLOTS`]
//! table slots, one job per slice on each worker, paced by the budget of
//! the caller's kind, one walk at a time per kind the operator does not
//! control.

use std::ops::Range;
use std::sync::{Mutex, MutexGuard};

use super::{Admin, MIN_SLICE_CHARGE, WALK_SLICE_SLOTS};
use crate::backend::{Caller, OpsError};
use crate::model::ConnRow;
use crate::pool::EnginePool;
use crate::show_conn::{SHOW_CONN_MAX_ROWS, SHOW_CONN_MAX_ROWS_OPEN};
use crate::show_local_host::{LOCAL_HOST_MAX_HOSTS, LOCAL_HOST_MAX_HOSTS_OPEN};

/// Connection rows gathered slice by slice, the oldest kept.
#[derive(Debug, Default)]
pub(super) struct Rows {
    pub(super) conns: Vec<ConnRow>,
    pub(super) truncated: u64,
}

impl Rows {
    /// Add one worker's rows of a slice, and the matching ones it left out.
    pub(super) fn add(&mut self, rows: Vec<ConnRow>, left_out: u64) {
        self.conns.extend(rows);
        self.truncated += left_out;
    }

    /// Keep the oldest `max` rows only (slice by slice: memory stays
    /// bounded by a slice's rows beyond `max`).
    pub(super) fn keep(&mut self, max: usize) {
        self.conns.sort_by_key(|r| (r.created_ns, r.worker, r.id));
        if self.conns.len() > max {
            self.truncated += (self.conns.len() - max) as u64;
            self.conns.truncate(max);
        }
    }
}

/// Most hosts a `show local-host` for `caller` lists.
pub(super) fn max_hosts(caller: Caller) -> usize {
    if caller == Caller::Open {
        LOCAL_HOST_MAX_HOSTS_OPEN
    } else {
        LOCAL_HOST_MAX_HOSTS
    }
}

/// Most connection rows a walk for `caller` answers: a caller without a
/// token holds a smaller answer (docs/ops.md §2).
pub(super) fn max_rows(caller: Caller) -> usize {
    if caller == Caller::Open {
        SHOW_CONN_MAX_ROWS_OPEN
    } else {
        SHOW_CONN_MAX_ROWS
    }
}

impl<P: EnginePool> Admin<P> {
    /// Walk the first `slots` table slots of every worker for `caller`
    /// (`what` names the command in a refusal): `slice` is called with each
    /// slice's slots once its budget allows, and runs the slice's jobs.
    /// Refused (429) while another walk of the same kind of caller runs,
    /// unless the caller is the operator.
    pub(super) fn table_walk(
        &self,
        caller: Caller,
        what: &str,
        slots: usize,
        slice: impl FnMut(Range<usize>) -> Result<(), OpsError>,
    ) -> Result<(), OpsError> {
        let _turn = self.walk_turn(caller, what)?;
        self.paced_slices(caller, slots, slice)
    }

    /// The turn of `caller`'s kind to walk, held until dropped (none for
    /// the operator, whose walks wait for nobody's turn), or a refusal
    /// (429) while another walk of the kind runs.
    pub(super) fn walk_turn(
        &self,
        caller: Caller,
        what: &str,
    ) -> Result<Option<MutexGuard<'_, ()>>, OpsError> {
        match self.reads[caller.index()]
            .turn
            .as_ref()
            .map(Mutex::try_lock)
        {
            None => Ok(None),
            Some(Ok(t)) => Ok(Some(t)),
            // A poisoned turn is still a turn.
            Some(Err(std::sync::TryLockError::Poisoned(p))) => Ok(Some(p.into_inner())),
            Some(Err(std::sync::TryLockError::WouldBlock)) => Err(OpsError::RateLimited(format!(
                "another {what} of the same kind is walking the table; one at a time, \
                 try again shortly"
            ))),
        }
    }

    /// Call `slice` with each slice of the first `slots` table slots once
    /// `caller`'s budget allows (the caller holds its turn).
    pub(super) fn paced_slices(
        &self,
        caller: Caller,
        slots: usize,
        mut slice: impl FnMut(Range<usize>) -> Result<(), OpsError>,
    ) -> Result<(), OpsError> {
        let walks = &self.reads[caller.index()];
        for start in (0..slots).step_by(WALK_SLICE_SLOTS) {
            walks.pace(
                (slots - start).clamp(MIN_SLICE_CHARGE, WALK_SLICE_SLOTS),
                &*self.clock,
            );
            slice(start..start + WALK_SLICE_SLOTS)?;
        }
        Ok(())
    }
}

/// Whether `engine` has an interface named `nameif` (none asked: yes).
pub(super) fn has_interface(engine: &rampart_dataplane::Engine, nameif: Option<&str>) -> bool {
    nameif.is_none_or(|n| engine.config().interfaces.iter().any(|i| i.nameif == n))
}

/// Refuse (404) an interface some worker does not have.
pub(super) fn interface_found(
    nameif: Option<&str>,
    mut found: impl Iterator<Item = bool>,
) -> Result<(), OpsError> {
    match nameif {
        Some(name) if !found.all(|f| f) => Err(OpsError::NotFound(format!(
            "no interface named '{}'",
            crate::echo::echo(name)
        ))),
        _ => Ok(()),
    }
}
