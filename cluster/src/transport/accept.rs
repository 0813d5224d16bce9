//! Accepting cluster connections: admission (a stateless Retry for
//! unproven sources, a bound on set-ups under way per source and for
//! strangers), the TLS handshake, and the acceptor's checks of the hello.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::io::BufReader;

use super::*;

/// Incoming connections set up at once (TLS handshake to verified hello)
/// from addresses that are no configured member's: more are refused, so a
/// flood of handshakes holds a bounded amount of memory and cryptography.
pub(super) const MAX_HANDSHAKES: usize = 64;

/// Handshakes one source address that is no member's (an IPv6 source by
/// its /64) may have under way at once: one host cannot take every slot of
/// [`MAX_HANDSHAKES`].
const MAX_HANDSHAKES_PER_SOURCE: usize = 4;

/// Source addresses members were last verified from, beyond those the
/// membership records: a member that founded the cluster listening on a
/// wildcard address, or dials from another address than it listens on,
/// comes from an address no record names, and counted as a stranger it
/// could be kept out by anyone holding the strangers' slots. Bounded; a
/// source counts only while the node it proved is still a member.
const MAX_PROVEN_SOURCES: usize = 256;

/// Where members were last verified from (see [`MAX_PROVEN_SOURCES`]).
#[derive(Default)]
pub(super) struct Proven {
    by_ip: HashMap<IpAddr, u16>,
    order: std::collections::VecDeque<IpAddr>,
}

impl Proven {
    /// `peer` completed a verified set-up from `ip`.
    fn learn(&mut self, ip: IpAddr, peer: u16) {
        if self.by_ip.insert(ip, peer).is_none() {
            self.order.push_back(ip);
            if self.order.len() > MAX_PROVEN_SOURCES
                && let Some(old) = self.order.pop_front()
            {
                self.by_ip.remove(&old);
            }
        }
    }

    /// The member last verified from `ip`, if any.
    fn node(&self, ip: IpAddr) -> Option<u16> {
        self.by_ip.get(&ip).copied()
    }
}

/// A stranger's set-up under way: its source's count and a slot of
/// [`MAX_HANDSHAKES`], both given back on drop.
struct Admitted {
    _slot: tokio::sync::OwnedSemaphorePermit,
    sources: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut m) = self.sources.lock()
            && let Some(n) = m.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Admit a set-up from `ip`: at once from a configured member's address,
/// or one a member was verified from (either passed the Retry above, so
/// the source is real), so members never wait behind strangers; from any
/// other address only within [`MAX_HANDSHAKES_PER_SOURCE`] and
/// [`MAX_HANDSHAKES`]. `Err` refuses it.
fn admit(
    shared: &Shared,
    slots: &Arc<tokio::sync::Semaphore>,
    sources: &Arc<Mutex<HashMap<IpAddr, usize>>>,
    proven: &Mutex<Proven>,
    ip: IpAddr,
) -> Result<Option<Admitted>, ()> {
    let proved = proven.lock().ok().and_then(|p| p.node(ip));
    let member = shared.members.lock().is_ok_and(|m| {
        proved.is_some_and(|id| m.contains_key(&id))
            || m.values().any(|m| m.spec.address.ip().to_canonical() == ip)
    });
    if member {
        return Ok(None);
    }
    let ip = source_of(ip);
    let mut m = sources.lock().map_err(|_| ())?;
    // Counted only once admitted: a source refused for want of a slot
    // leaves nothing behind (each refused stranger once left an entry for
    // good, so a stream of new addresses grew the map without bound).
    if m.get(&ip).is_some_and(|&n| n >= MAX_HANDSHAKES_PER_SOURCE) {
        return Err(());
    }
    let slot = slots.clone().try_acquire_owned().map_err(|_| ())?;
    *m.entry(ip).or_insert(0) += 1;
    Ok(Some(Admitted {
        _slot: slot,
        sources: sources.clone(),
        ip,
    }))
}

/// What a stranger's set-ups are counted by: its IPv4 address, or its
/// IPv6 /64, since a host forms as many addresses of its /64 as it likes
/// (RFC 4291 §2.5.1; RFC 8981, temporary addresses).
fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & (u128::MAX << 64)).into()),
    }
}

pub(super) async fn accept_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    let sources = Arc::new(Mutex::new(HashMap::new()));
    let proven = Arc::new(Mutex::new(Proven::default()));
    while let Some(mut incoming) = endpoint.accept().await {
        // A source that has not proved it receives at its address (a
        // spoofed one) costs a stateless Retry packet, not a handshake.
        if !incoming.remote_address_validated() {
            match incoming.retry() {
                Ok(()) => continue,
                Err(e) => incoming = e.into_incoming(),
            }
        }
        let ip = incoming.remote_address().ip().to_canonical();
        let Ok(admitted) = admit(&shared, &slots, &sources, &proven, ip) else {
            add(&shared.counters.refused_busy, 1);
            incoming.refuse();
            continue;
        };
        let (shared, proven) = (shared.clone(), proven.clone());
        tokio::spawn(async move {
            // Bounded as a whole: the handshake, the hello each way (a peer
            // that grants no stream credit must not hold the task).
            let limit = shared.cfg.idle_timeout * 2;
            let setup = async {
                let Ok(conn) = incoming.await else {
                    add(&shared.counters.refused_tls, 1);
                    return None;
                };
                let peer = accept_verify(&shared, &conn).await?;
                Some((conn, peer))
            };
            let verified = tokio::time::timeout(limit, setup).await;
            drop(admitted);
            match verified {
                Ok(Some((conn, peer))) => {
                    if let Ok(mut p) = proven.lock() {
                        p.learn(ip, peer.0);
                    }
                    serve(shared, conn, peer.0, peer.1, peer.2).await
                }
                Ok(None) => {}
                Err(_) => add(&shared.counters.refused_bad_frame, 1),
            }
        });
    }
}

/// The acceptor's checks: the first stream carries a hello naming a
/// configured, lower node id that the client certificate names.
async fn accept_verify(
    shared: &Shared,
    conn: &quinn::Connection,
) -> Option<(u16, BufReader<quinn::RecvStream>, quinn::SendStream)> {
    let c = &shared.counters;
    let setup = async {
        let recv = conn
            .accept_uni()
            .await
            .map_err(|e| ReadFail::Closed(e.to_string()))?;
        let mut r = BufReader::with_capacity(256 << 10, recv);
        let hello = read_frame_at_most(&mut r, MAX_HELLO_FRAME_BYTES).await?;
        Ok((hello, r))
    };
    let (hello, r) = match tokio::time::timeout(shared.cfg.idle_timeout, setup).await {
        Ok(Ok(h)) => h,
        // Refused at its length, before anything is allocated for it.
        Ok(Err(ReadFail::TooLarge(_))) => {
            add(&c.refused_bad_frame, 1);
            add(&c.frames_too_large, 1);
            close(conn, CLOSE_BAD_FRAME, "hello too large");
            return None;
        }
        // A waker that found itself connected meanwhile: nothing wrong.
        Ok(Err(ReadFail::Closed(_)))
            if matches!(
                conn.close_reason(),
                Some(quinn::ConnectionError::ApplicationClosed(a))
                    if a.error_code.into_inner() == u64::from(wake::CLOSE_WAKE_WITHDRAWN)
            ) =>
        {
            return None;
        }
        Ok(Err(ReadFail::Closed(_))) | Err(_) => {
            add(&c.refused_bad_frame, 1);
            close(conn, CLOSE_BAD_FRAME, "no hello");
            return None;
        }
    };
    let Some(Hello { node: id, version }) = parse_hello(&hello) else {
        add(&c.refused_bad_frame, 1);
        close(conn, CLOSE_BAD_FRAME, "bad hello");
        return None;
    };
    // Before the identity checks: a peer of another major version may
    // carry anything after the hello, and the operator must hear about it
    // whoever it claims to be.
    let who = format!(
        "a peer at {} claiming to be node {id}",
        conn.remote_address()
    );
    if refuse_other_major(shared, conn, &who, version) {
        return None;
    }
    let member = shared.members.lock().is_ok_and(|m| m.contains_key(&id));
    if id == shared.me || !member {
        add(&c.refused_unknown_peer, 1);
        // A node the cluster removed is told so: it may have missed the
        // entry that removed it, and then learns it only here (`members`).
        // Its certificate is checked first: only that node hears it.
        let chain = peer_chain(conn).unwrap_or_default();
        if id != shared.me
            && shared.membership.was_removed(id)
            && shared.tls.verify_peer(&chain, Some(id)).is_ok()
        {
            close(conn, CLOSE_REMOVED, "removed from the cluster");
        } else {
            close(conn, CLOSE_REFUSED, "unknown peer");
        }
        return None;
    }
    let chain = peer_chain(conn).unwrap_or_default();
    let name = shared
        .members
        .lock()
        .ok()
        .and_then(|m| m.get(&id).map(|m| m.spec.name.clone()))
        .unwrap_or_default();
    let identity = shared.tls.verify_peer(&chain, Some(id));
    if identity.is_ok() && shared.tls.verify_peer_name(&chain, &name).is_err() {
        note_refusal(shared, wrong_name(id, &name));
    }
    if identity.is_err() || shared.tls.verify_peer_name(&chain, &name).is_err() {
        add(&c.refused_wrong_identity, 1);
        close(
            conn,
            CLOSE_REFUSED,
            "certificate does not name the claimed node",
        );
        return None;
    }
    if id > shared.me {
        // A higher id dials only to wake this node (see `wake`).
        wake::on_wake(shared, conn, id);
        return None;
    }
    let send = send_hello(shared, conn).await?;
    Some((id, r, send))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{self, NodeTls};

    /// A real node 1 (nothing dials it) for `admit` to consult.
    fn node() -> (
        Transport,
        mpsc::Receiver<TransportEvent>,
        std::path::PathBuf,
    ) {
        let dir = std::env::temp_dir().join(format!("rampart-admit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        pki::init_ca(&dir).expect("ca");
        let issued = pki::issue_node_cert(&dir, 1, "fw-1", &dir).expect("issue");
        let tls = NodeTls::load(&dir.join(pki::CA_CERT), &issued.cert, &issued.key).expect("tls");
        let cfg = TransportConfig::new(1, "127.0.0.1:0".parse().expect("addr"), Vec::new());
        let (t, rx) = Transport::start(cfg, tls).expect("start");
        (t, rx, dir)
    }

    /// Strangers refused while every set-up slot is held leave nothing in
    /// the per-source table; one host's IPv6 addresses count as its /64.
    #[tokio::test]
    async fn refused_strangers_leave_no_trace_and_an_ipv6_host_counts_as_its_64() {
        let (t, _rx, dir) = node();
        let proven = Mutex::new(Proven::default());
        let sources = Arc::new(Mutex::new(HashMap::new()));
        let held = Arc::new(tokio::sync::Semaphore::new(0));
        for i in 0..1_000u128 {
            let ip = IpAddr::V6((0x2001_0db8_u128 << 96 | i << 64 | 1).into());
            assert!(admit(&t.shared, &held, &sources, &proven, ip).is_err());
        }
        assert_eq!(sources.lock().expect("lock").len(), 0, "no entry left");

        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let host = |iid: u128| IpAddr::V6((0x2001_0db8_0000_0001_u128 << 64 | iid).into());
        let mut admitted = Vec::new();
        for iid in 1..=MAX_HANDSHAKES_PER_SOURCE as u128 {
            let a = admit(&t.shared, &slots, &sources, &proven, host(iid));
            admitted.push(a.expect("within the source's share").expect("a stranger"));
        }
        assert!(
            admit(&t.shared, &slots, &sources, &proven, host(0xffff)).is_err(),
            "another address of the same /64"
        );
        let other = IpAddr::V6((0x2001_0db8_0000_0002_u128 << 64 | 1).into());
        assert!(admit(&t.shared, &slots, &sources, &proven, other).is_ok());
        drop(admitted);
        assert_eq!(sources.lock().expect("lock").len(), 0, "given back");
        t.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
