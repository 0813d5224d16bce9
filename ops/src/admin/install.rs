//! Putting what is wanted on the workers: [`install_wanted`], which the
//! admin's `apply` and its retry thread call, and what `configure` says of
//! a policy not in force everywhere yet.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Applied, Wanted};
use crate::pool::EnginePool;

/// Install the wanted policy, sequence key and shun list on every worker that lacks them; what
/// kept a worker from it, if any did.
pub(super) fn install_wanted<P: EnginePool>(
    pool: &P,
    wanted: &Arc<Mutex<Wanted>>,
    timeout: Duration,
) -> Result<(), String> {
    let w = wanted.clone();
    let answers = pool
        .each(timeout, move |v| {
            let (policy, secret, shuns) = {
                let w = w.lock().ok()?;
                (w.policy.clone(), w.seq_secret, w.shuns.clone())
            };
            if let Some(s) = shuns
                && !Arc::ptr_eq(v.engine.shuns(), &s)
            {
                v.engine.set_shuns(s);
            }
            if let Some(k) = secret
                && v.engine.config().seq_secret != k
            {
                v.engine.set_seq_secret(k);
            }
            let keyed = secret.is_some_and(|k| v.engine.config().seq_secret == k);
            let refused = match policy {
                Some(p) if !Arc::ptr_eq(v.engine.policy(), &p) => v.engine.set_policy(p).err(),
                _ => None,
            };
            Some((keyed, refused, secret, v.engine.awaits_cluster_policy()))
        })
        .map_err(|e| e.0)?;
    // Every worker answered: none waits for a first policy any more if
    // none said so.
    if answers.iter().all(|a| a.as_ref().is_some_and(|a| !a.3))
        && let Ok(mut w) = wanted.lock()
    {
        w.workers_closed = false;
    }
    // Every worker answered: the key is in force if each runs the one
    // wanted now (a newer key asked for meanwhile waits for its own).
    let key = answers.first().and_then(|a| a.as_ref()).and_then(|a| a.2);
    if key.is_some()
        && answers
            .iter()
            .all(|a| a.as_ref().is_some_and(|a| a.0 && a.2 == key))
        && let Ok(mut w) = wanted.lock()
        && w.seq_secret == key
    {
        w.key_in_force = true;
    }
    match answers.into_iter().flatten().find_map(|a| a.1) {
        None => Ok(()),
        Some(e) => Err(format!("{e}; it is installed once slots are free")),
    }
}

/// What `configure` says of a policy some workers have not taken yet.
pub(super) fn pending_note(applied: Applied) -> Option<String> {
    match applied {
        Applied::Everywhere => None,
        Applied::Pending(why) => Some(format!(
            "not yet in force on every worker ({why}); each takes it as soon as it serves its \
             queue again"
        )),
    }
}
