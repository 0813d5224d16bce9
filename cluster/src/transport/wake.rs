//! Waking a lower-id peer so that it dials now (docs/sync.md §8).
//!
//! The lower id always dials, so a node that starts, restarts or comes
//! back from a partition could only wait for its lower-id peers to try
//! again: their dial loops back off to `backoff_max` (2 s by default)
//! while it was away, and an attempt already under way retransmits its
//! QUIC Initial on its own, growing timer. The outage to repair after a
//! restart then lasts seconds for no reason, and a joining node that
//! meets its peers one by one asks for its share of the table with a
//! partial view of the cluster.
//!
//! So the higher id, while it has no connection to a lower-id member,
//! dials it too — not to keep that connection, but to say "dial me". The
//! lower id checks the caller exactly as any other (mutual TLS, a hello
//! of its own major version, a member whose certificate names it), then
//! closes the connection with [`CLOSE_DIAL_BACK`] and tells its dial loop
//! for that peer to give up its sleep or its stalled attempt and dial at
//! once. If it still holds a connection to the caller that is not new,
//! that connection is a leftover of the caller's previous life (a
//! restarted endpoint's stateless resets cannot match the old
//! connection's tokens, so it would otherwise linger until the idle
//! timeout): it is closed. A build without wakes refuses the call as an
//! unknown peer, which the caller counts and backs off from.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{CLOSE_REPLACED, PeerSpec, Shared, add, close, connect, note_peer_close, send_hello};

/// QUIC application close code: "this was a wake; I dial you now".
pub(super) const CLOSE_DIAL_BACK: u32 = 7;

/// QUIC application close code: the waker, its handshake done, found
/// itself connected to the peer meanwhile and withdrew before its hello.
pub(super) const CLOSE_WAKE_WITHDRAWN: u32 = 8;

/// A connection younger than this is taken for the one that the wake
/// itself asked for (the two crossed), not a leftover: it is kept.
const FRESH: Duration = Duration::from_secs(1);

/// The higher id's side: while this node has no connection to `peer` (a
/// lower id), wake it, backing off as the dial loops do. After a wake
/// the peer was told, the next one waits an idle timeout: the peer's
/// dial should be in by then, and a second wake would make it abandon
/// that dial for a new one.
pub(super) async fn wake_loop(
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    peer: PeerSpec,
    removed: Arc<AtomicBool>,
) {
    let mut delay = shared.cfg.backoff_min;
    while !removed.load(Ordering::Relaxed) {
        // A node the cluster removed wakes no member (`members`).
        super::members::until_awake(&shared, &removed).await;
        if removed.load(Ordering::Relaxed) {
            break;
        }
        if connected(&shared, peer.id) {
            delay = shared.cfg.backoff_min;
            tokio::time::sleep(shared.cfg.keep_alive).await;
            continue;
        }
        let peer = super::current_spec(&shared, &peer);
        if wake(&shared, &endpoint, &peer).await {
            add(&shared.counters.wakes_sent, 1);
            delay = shared.cfg.backoff_min;
            tokio::time::sleep(shared.cfg.idle_timeout).await;
        } else {
            delay = (delay * 2).min(shared.cfg.backoff_max);
            tokio::time::sleep(delay).await;
        }
    }
}

fn connected(shared: &Shared, peer: u16) -> bool {
    shared.peers.lock().is_ok_and(|p| p.contains_key(&peer))
}

/// One wake: connect, say who this node is, and wait for the peer to
/// close with [`CLOSE_DIAL_BACK`]. Returns whether it did.
async fn wake(shared: &Shared, endpoint: &quinn::Endpoint, peer: &PeerSpec) -> bool {
    let attempt = async {
        let conn = connect(endpoint, peer).await?;
        // The peer may have dialled this node while the handshake ran (a
        // slow one, on a loaded machine). A wake now would reach it with a
        // connection to this node that is more than `FRESH` old, which it
        // would take for a leftover and close: the live connection, its
        // frames in flight with it.
        if connected(shared, peer.id) {
            close(&conn, CLOSE_WAKE_WITHDRAWN, "connected meanwhile");
            return Some(false);
        }
        // Kept open until the peer closes the connection.
        let said = send_hello(shared, &conn).await;
        if said.is_none() {
            note_peer_close(shared, &conn, peer);
            return None;
        }
        conn.closed().await;
        let woke = matches!(
            conn.close_reason(),
            Some(quinn::ConnectionError::ApplicationClosed(c))
                if c.error_code.into_inner() == u64::from(CLOSE_DIAL_BACK)
        );
        if !woke {
            note_peer_close(shared, &conn, peer);
        }
        Some(woke)
    };
    tokio::time::timeout(shared.cfg.idle_timeout * 2, attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// The lower id's side, for a caller `id` (higher than this node's) that
/// passed every check: close a leftover connection to it, have the dial
/// loop dial it now, and close this one saying so.
pub(super) fn on_wake(shared: &Shared, conn: &quinn::Connection, id: u16) {
    add(&shared.counters.wakes_received, 1);
    let leftover = shared.peers.lock().ok().and_then(|p| {
        p.get(&id)
            .filter(|s| s.since.elapsed() >= FRESH)
            .map(|s| s.handle.clone())
    });
    if let Some(old) = leftover {
        close(
            &old,
            CLOSE_REPLACED,
            "the peer has no connection to this one",
        );
    }
    if let Ok(m) = shared.members.lock()
        && let Some(m) = m.get(&id)
    {
        m.wake.notify_one();
    }
    close(conn, CLOSE_DIAL_BACK, "dialling back");
}
