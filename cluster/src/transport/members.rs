//! The members a transport keeps links with, as the Raft membership
//! changes them: a node joined at run time ([`Transport::add_peer`]), a
//! member removed ([`Transport::remove_peer`]), and this node's own
//! removal, as the members tell it ([`Transport::removal_notices`]) and as
//! it then goes quiet ([`Transport::set_dormant`]).
//!
//! A member that removed a node refuses its connections saying so
//! ([`CLOSE_REMOVED`]), not as an unknown peer: the removed node may have
//! missed the entry that removed it (it stops receiving entries when the
//! change is appended), and the close is then the only way it learns.

use std::collections::BTreeSet;

use tokio::sync::watch;

use super::*;

/// How long a removed member's live connection stays open after
/// [`Transport::remove_peer`]: long enough for replies in flight to
/// reach it (the answer to its own `cluster remove`, forwarded to the
/// leader, is written as the removal applies; closed at once, the
/// connection took the answer with it and the operator was told the
/// change failed). Nothing is dialled or accepted from it meanwhile.
pub const REMOVED_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A member said this node is no longer in the cluster: it closed a link
/// with [`CLOSE_REMOVED`], or refused one so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemovalNotice {
    /// The member that said so.
    pub by: u16,
    /// Notices so far (each counts, so a watcher sees every one).
    pub count: u64,
}

/// The membership state a transport shares with its tasks.
#[derive(Debug)]
pub(super) struct MemberState {
    /// Ids removed with [`Transport::remove_peer`] and not added back:
    /// their connections are refused with [`CLOSE_REMOVED`]. Bounded by
    /// the id space (65,536 ids).
    removed: Mutex<BTreeSet<u16>>,
    /// While true, this node dials and wakes no member on its own.
    dormant: watch::Sender<bool>,
    /// The latest removal notice from a member.
    told: watch::Sender<Option<RemovalNotice>>,
}

impl Default for MemberState {
    fn default() -> Self {
        MemberState {
            removed: Mutex::new(BTreeSet::new()),
            dormant: watch::channel(false).0,
            told: watch::channel(None).0,
        }
    }
}

impl MemberState {
    /// Whether `id` was removed (and not added back).
    pub(super) fn was_removed(&self, id: u16) -> bool {
        self.removed.lock().is_ok_and(|r| r.contains(&id))
    }
}

impl Transport {
    /// Add a member not in the configuration (a node that joined through
    /// Raft). As for configured peers, the lower id dials. Returns
    /// whether it was new. A known id given another address takes it (the
    /// Raft membership is newer than a node file's seed list: a node
    /// removed and joined again at a new address would otherwise be dialled
    /// at its old one after a restart); a connection up stays up, and the
    /// next dial or wake goes to the new address.
    pub fn add_peer(&self, spec: PeerSpec) -> Result<bool, TransportError> {
        if spec.id == self.shared.me {
            return Err(TransportError::Config(format!(
                "node {} cannot be its own peer",
                spec.id
            )));
        }
        let removed = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(tokio::sync::Notify::new());
        {
            let mut members = self
                .shared
                .members
                .lock()
                .map_err(|_| TransportError::Config("member table poisoned".into()))?;
            if let Ok(mut r) = self.shared.membership.removed.lock() {
                r.remove(&spec.id);
            }
            if let Some(known) = members.get_mut(&spec.id) {
                // An address no one can dial (a wildcard `listen` the
                // member recorded when it founded the cluster) never
                // replaces one that may work.
                if known.spec.address != spec.address && dialable(&spec.address) {
                    tracing::info!(
                        peer = spec.id,
                        old = %known.spec.address,
                        new = %spec.address,
                        "cluster member moved: dialling its new address"
                    );
                    known.spec = spec;
                    // An attempt toward the old address is abandoned.
                    known.wake.notify_one();
                }
                return Ok(false);
            }
            members.insert(
                spec.id,
                Member {
                    spec: spec.clone(),
                    removed: removed.clone(),
                    wake: wake.clone(),
                },
            );
        }
        self.connect_to(spec, removed, wake);
        Ok(true)
    }

    /// Remove a member: it is no longer dialled, its connections are
    /// refused saying it was removed, and its live connection is closed
    /// after [`REMOVED_CLOSE_GRACE`] (a `Down` event follows). An id that
    /// is no member (left out of the node file's peers already) is
    /// refused so too. Returns whether it was a member.
    pub fn remove_peer(&self, id: u16) -> bool {
        if let Ok(mut r) = self.shared.membership.removed.lock() {
            r.insert(id);
        }
        let Some(m) = self
            .shared
            .members
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&id))
        else {
            return false;
        };
        m.removed.store(true, Ordering::Relaxed);
        // A dial loop waiting while this node is dormant ends now.
        m.wake.notify_one();
        // Its ended connections' totals go (a live one's when it ends):
        // a member added back under the id starts from zero.
        if let Ok(mut links) = self.shared.links.lock() {
            links.ended.remove(&id);
        }
        let conn = self
            .shared
            .peers
            .lock()
            .ok()
            .and_then(|p| p.get(&id).map(|s| s.handle.clone()));
        match conn {
            Some(conn) => {
                let shared = self.shared.clone();
                self.spawn(async move {
                    tokio::time::sleep(REMOVED_CLOSE_GRACE).await;
                    // Joined again meanwhile: the link stays.
                    if !shared.members.lock().is_ok_and(|m| m.contains_key(&id)) {
                        close(&conn, CLOSE_REMOVED, "removed from the cluster");
                    }
                });
            }
            // No connection to end, so no `Down` will say it: say it here
            // (connection 0 is no connection's id). Waiting for room, not
            // `try_send`: on a full channel the removal was lost and the
            // protocol kept the member's buffers and bulk wants for good.
            None => {
                let events = self.shared.events.clone();
                self.spawn(async move {
                    let _ = events
                        .send(TransportEvent::Down {
                            peer: id,
                            conn: 0,
                            reason: "removed from the cluster".into(),
                            removed: true,
                        })
                        .await;
                });
            }
        }
        true
    }

    /// Whether this node dials and wakes its members on its own. A node
    /// the cluster removed is set dormant: it stops knocking at members
    /// that refuse it (each attempt cost them a TLS handshake), yet still
    /// accepts a member's connection and answers a member's wake with a
    /// dial, so that `cluster join` can take it back.
    pub fn set_dormant(&self, dormant: bool) {
        self.shared.membership.dormant.send_if_modified(|d| {
            let changed = *d != dormant;
            *d = dormant;
            changed
        });
    }

    /// Whether this node is dormant ([`Transport::set_dormant`]).
    pub fn is_dormant(&self) -> bool {
        *self.shared.membership.dormant.borrow()
    }

    /// The latest time a member said this node is no longer in the
    /// cluster, as it changes.
    pub fn removal_notices(&self) -> watch::Receiver<Option<RemovalNotice>> {
        self.shared.membership.told.subscribe()
    }
}

/// Whether `conn` was closed by the peer saying this node was removed.
pub(super) fn closed_as_removed(conn: &quinn::Connection) -> bool {
    matches!(
        conn.close_reason(),
        Some(quinn::ConnectionError::ApplicationClosed(c))
            if c.error_code.into_inner() == u64::from(CLOSE_REMOVED)
    )
}

/// Member `by` said this node was removed.
pub(super) fn told_removed(shared: &Shared, by: u16) {
    let count = shared
        .membership
        .told
        .borrow()
        .map_or(0, |t| t.count)
        .saturating_add(1);
    if count == 1 {
        tracing::warn!(
            by,
            "node {by} says this node was removed from the cluster (rampart cluster remove)"
        );
    }
    shared
        .membership
        .told
        .send_replace(Some(RemovalNotice { by, count }));
}

/// While this node is dormant, wait for a wake from the peer a dial loop
/// serves (`true`: dial it once) or for the dormancy to end (`false`).
/// Returns `false` at once when not dormant.
pub(super) async fn while_dormant(shared: &Shared, wake: &tokio::sync::Notify) -> bool {
    let mut rx = shared.membership.dormant.subscribe();
    if !*rx.borrow_and_update() {
        return false;
    }
    tokio::select! {
        () = wake.notified() => true,
        _ = rx.wait_for(|d| !*d) => false,
    }
}

/// While this node is dormant and `removed` is not set, wait (a wake
/// loop: a dormant node wakes no member).
pub(super) async fn until_awake(shared: &Shared, removed: &AtomicBool) {
    let mut rx = shared.membership.dormant.subscribe();
    while *rx.borrow_and_update() && !removed.load(Ordering::Relaxed) {
        tokio::select! {
            _ = rx.changed() => {}
            () = tokio::time::sleep(shared.cfg.keep_alive) => {}
        }
    }
}
