//! `clear conn` is cluster-wide: the node that takes the command clears
//! its own workers and asks every peer, over the cluster's QUIC endpoint
//! (RPC service [`RPC_SERVICE_CLEAR`], same mutual TLS), to clear the same
//! filter. Inspected flows would also leave peers through state sync (a
//! cleared entry's delete), but tcp-state-bypass entries are never synced,
//! so each node must clear its own. A peer that receives the request
//! clears locally only; it never forwards it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rampart_cluster::transport::{RPC_SERVICE_CLEAR, Transport};
use rampart_ops::admin::{Admin, PeerClear};
use rampart_ops::show_conn::ConnFilter;

use crate::cluster_link::{Clock, PeerWarnings, skipped_note};
use crate::control::Workers;

/// How long the node waits for each peer's answer.
const PEER_CLEAR_TIMEOUT: Duration = Duration::from_secs(5);
/// Format version of the request.
const CLEAR_VERSION: u8 = 1;
/// The request: version, address flag, 16 address bytes, port flag, port.
const REQUEST_BYTES: usize = 1 + 1 + 16 + 1 + 2;

/// The filter as the request carries it.
fn encode(f: &ConnFilter) -> Bytes {
    let mut b = vec![0u8; REQUEST_BYTES];
    b[0] = CLEAR_VERSION;
    if let Some(a) = f.address {
        b[1] = match a {
            IpAddr::V4(_) => 4,
            IpAddr::V6(_) => 6,
        };
        let octets = match a {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        b[2..18].copy_from_slice(&octets);
    }
    if let Some(p) = f.port {
        b[18] = 1;
        b[19..21].copy_from_slice(&p.to_be_bytes());
    }
    Bytes::from(b)
}

/// A peer's request, checked whole.
fn decode(b: &[u8]) -> Result<ConnFilter, String> {
    if b.len() != REQUEST_BYTES {
        return Err(format!("{} bytes, not {REQUEST_BYTES}", b.len()));
    }
    if b[0] != CLEAR_VERSION {
        return Err(format!("version {}", b[0]));
    }
    let octets: [u8; 16] = b[2..18].try_into().map_err(|_| "address")?;
    let v6 = std::net::Ipv6Addr::from(octets);
    let address = match b[1] {
        0 => None,
        4 => Some(IpAddr::V4(
            v6.to_ipv4_mapped().ok_or("not a v4-mapped address")?,
        )),
        6 => Some(IpAddr::V6(v6)),
        k => return Err(format!("address kind {k}")),
    };
    let port = match b[18] {
        0 => None,
        1 => Some(u16::from_be_bytes([b[19], b[20]])),
        k => return Err(format!("port flag {k}")),
    };
    Ok(ConnFilter::address_port(address, port))
}

/// Serve peers' clear requests on `transport` with this node's `admin`.
pub fn serve(runtime: &tokio::runtime::Handle, transport: &Transport, admin: Arc<Admin<Workers>>) {
    let mut calls = transport.serve_rpcs(RPC_SERVICE_CLEAR);
    runtime.spawn(async move {
        // A member's refused calls are warned of at most once per reason
        // in a while, with the count left out: one warning per call let a
        // member write thousands of log lines a second.
        let clock = Clock::start();
        let mut warnings = PeerWarnings::default();
        while let Some(call) = calls.recv().await {
            let filter = match decode(&call.request) {
                Ok(f) => f,
                Err(e) => {
                    // Dropping the call tells the peer it failed.
                    if let Some(skipped) = warnings.allow(call.peer, "malformed", clock.now()) {
                        tracing::warn!(
                            "clear conn from node {}: refused: {e}{}",
                            call.peer,
                            skipped_note(skipped)
                        );
                    }
                    continue;
                }
            };
            let admin = admin.clone();
            let peer = call.peer;
            let n = tokio::task::spawn_blocking(move || admin.clear_local(&filter)).await;
            match n {
                Ok(Ok(n)) => {
                    tracing::info!("clear conn from node {peer}: {n} connection(s) deleted");
                    call.reply(Bytes::copy_from_slice(&n.to_be_bytes()));
                }
                Ok(Err(e)) => {
                    if let Some(skipped) = warnings.allow(peer, "refused", clock.now()) {
                        tracing::warn!("clear conn from node {peer}: {e}{}", skipped_note(skipped));
                    }
                }
                Err(e) => tracing::warn!("clear conn from node {peer}: {e}"),
            }
        }
    });
}

/// Ask every peer the transport knows to clear `filter` (all at once).
pub fn peer_clear(runtime: tokio::runtime::Handle, transport: Transport) -> PeerClear {
    Box::new(move |filter: &ConnFilter| {
        let request = encode(filter);
        let peers: Vec<u16> = transport
            .peer_states()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let (tx, rx) = std::sync::mpsc::channel();
        for &p in &peers {
            let (t, req, tx) = (transport.clone(), request.clone(), tx.clone());
            runtime.spawn(async move {
                let r = t.rpc(p, RPC_SERVICE_CLEAR, req, PEER_CLEAR_TIMEOUT).await;
                let n = r
                    .ok()
                    .and_then(|b| Some(u64::from_be_bytes(b[..].try_into().ok()?)));
                let _ = tx.send((p, n));
            });
        }
        drop(tx);
        let (mut total, mut answered) = (0u64, Vec::new());
        let deadline = std::time::Instant::now() + PEER_CLEAR_TIMEOUT + Duration::from_secs(1);
        while answered.len() < peers.len() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok((p, Some(n))) => {
                    total = total.saturating_add(n);
                    answered.push(p);
                }
                Ok((_, None)) => {}
                Err(_) => break,
            }
        }
        let down = peers
            .into_iter()
            .filter(|p| !answered.contains(p))
            .collect();
        (total, down)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_round_trips_and_anything_else_is_refused() {
        for f in [
            ConnFilter::default(),
            ConnFilter::address_port(Some("198.18.0.10".parse().unwrap()), None),
            ConnFilter::address_port(Some("2001:db8::1".parse().unwrap()), Some(443)),
        ] {
            assert_eq!(decode(&encode(&f)), Ok(f.clone()));
        }
        let good = encode(&ConnFilter::default());
        assert!(decode(&good[..5]).is_err(), "short");
        let mut v = good.to_vec();
        v[0] = 9;
        assert!(decode(&v).is_err(), "version");
        let mut v = good.to_vec();
        v[1] = 5;
        assert!(decode(&v).is_err(), "address kind");
        let mut v = good.to_vec();
        v[18] = 7;
        assert!(decode(&v).is_err(), "port flag");
    }
}
