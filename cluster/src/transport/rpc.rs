//! Request/response RPCs on the sync transport's connections: one QUIC
//! bidirectional stream per call, so a slow or lost call never blocks the
//! sync stream or another call, and each call ends with the stream.
//!
//! A request stream carries `[RPC_VERSION, service]` then the request
//! bytes, then FIN. The reply carries one status byte then the reply
//! bytes, then FIN. Both sides read with a size limit. RPCs ride only on
//! connections that passed the transport's mutual-TLS and identity
//! checks, so the caller of a handler knows which node is asking.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::{Shared, Transport, add};

/// The service byte of Raft RPCs.
pub const RPC_SERVICE_RAFT: u8 = 1;
/// The service byte of `clear conn` sent to every peer (the operator's
/// clear is cluster-wide; bypass entries are never synced, so each node
/// must clear its own).
pub const RPC_SERVICE_CLEAR: u8 = 2;

/// The largest request or reply payload (bytes). Raft snapshots travel
/// in chunks well under this (see the Raft config); a policy is at most
/// a few MiB.
pub const RPC_MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Calls one peer may have in flight on one connection; quinn refuses
/// more streams, so the caller waits (within its timeout).
pub(super) const RPC_MAX_CONCURRENT_STREAMS: u32 = 64;

/// Bytes of requests one connection may have in memory at once, across
/// its streams: quinn bounds the streams (64), but 64 requests of 16 MiB
/// would be 1 GiB. A request counts the memory its buffer holds: the next
/// power of two of its length (three requests of 15 MiB fit, and three
/// of 8 MiB and a byte). A request that finds the budget spent is refused and
/// counted; the caller retries (Raft does on its own).
pub const RPC_INBOUND_BUDGET_BYTES: usize = 3 * RPC_MAX_MESSAGE_BYTES;

/// Incoming calls queued per service before the transport answers
/// "busy" (the caller retries; Raft does on its own).
pub const RPC_INBOUND_QUEUE_DEPTH: usize = 256;

/// Time a peer has to send a whole request once it opened a stream, so
/// a stalled peer cannot pin a task.
const RPC_REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a local handler has to answer before the caller is told it
/// failed (the caller's own timeout is usually shorter).
const RPC_HANDLER_TIMEOUT: Duration = Duration::from_secs(30);

/// Header version of a request.
const RPC_VERSION: u8 = 1;

/// Reply status bytes.
const STATUS_OK: u8 = 0;
const STATUS_NO_SERVICE: u8 = 1;
const STATUS_BUSY: u8 = 2;
const STATUS_HANDLER_FAILED: u8 = 3;
const STATUS_BAD_REQUEST: u8 = 4;

/// QUIC stream error code when a request is refused before a reply.
const STREAM_REFUSED: u32 = 1;

/// A call from a verified peer, waiting for its reply.
#[derive(Debug)]
pub struct IncomingRpc {
    /// The calling node (its certificate names it).
    pub peer: u16,
    /// The request bytes (at most [`RPC_MAX_MESSAGE_BYTES`]).
    pub request: Bytes,
    reply: oneshot::Sender<Bytes>,
}

impl IncomingRpc {
    /// Send the reply. Dropping the call instead tells the caller that
    /// the handler failed.
    pub fn reply(self, bytes: Bytes) {
        // The caller may have given up (timeout): nothing to do then.
        let _ = self.reply.send(bytes);
    }
}

/// Why an RPC failed, and whose fault it is.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RpcError {
    /// No verified connection to the peer (down, not yet connected, or
    /// unknown).
    #[error("peer {0} is not connected")]
    NotConnected(u16),
    /// The connection or stream failed during the call.
    #[error("connection to peer {peer} lost during the call: {reason}")]
    ConnectionLost {
        /// The peer.
        peer: u16,
        /// What quinn said.
        reason: String,
    },
    /// No reply within the caller's timeout.
    #[error("peer {peer} did not answer within {timeout_ms} ms")]
    Timeout {
        /// The peer.
        peer: u16,
        /// The timeout that passed.
        timeout_ms: u64,
    },
    /// The peer is up but does not serve this kind of call (yet).
    #[error("peer {peer} does not serve RPC service {service}")]
    NoService {
        /// The peer.
        peer: u16,
        /// The service byte.
        service: u8,
    },
    /// The peer's queue for the service is full.
    #[error("peer {0} is busy")]
    Busy(u16),
    /// The peer's handler dropped the call or did not answer in time.
    #[error("peer {0}'s handler failed to answer")]
    HandlerFailed(u16),
    /// The peer refused the request's header (a version mismatch).
    #[error("peer {0} refused the request header")]
    BadRequest(u16),
    /// Local: the request is larger than an RPC may be.
    #[error("request of {len} bytes exceeds the {limit}-byte RPC limit")]
    RequestTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The peer's reply is malformed or over the limit.
    #[error("peer {peer} sent a bad reply: {reason}")]
    BadReply {
        /// The peer.
        peer: u16,
        /// What is wrong with it.
        reason: String,
    },
}

impl RpcError {
    /// Whether the peer is simply not reachable now (down, connecting,
    /// not serving yet): callers back off rather than report a fault.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            RpcError::NotConnected(_)
                | RpcError::ConnectionLost { .. }
                | RpcError::NoService { .. }
        )
    }
}

// === impl Transport ===

impl Transport {
    /// Call `service` on `peer` with `request` and wait up to `timeout`
    /// for the reply. Never targets this node itself.
    pub async fn rpc(
        &self,
        peer: u16,
        service: u8,
        request: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, RpcError> {
        let c = &self.shared.counters;
        if request.len() > RPC_MAX_MESSAGE_BYTES {
            add(&c.rpc_failures, 1);
            return Err(RpcError::RequestTooLarge {
                len: request.len(),
                limit: RPC_MAX_MESSAGE_BYTES,
            });
        }
        let conn = self
            .shared
            .peers
            .lock()
            .ok()
            .and_then(|p| p.get(&peer).map(|s| s.handle.clone()));
        let Some(conn) = conn else {
            add(&c.rpc_failures, 1);
            return Err(RpcError::NotConnected(peer));
        };
        add(&c.rpcs_sent, 1);
        let lost = |e: &dyn std::fmt::Display| RpcError::ConnectionLost {
            peer,
            reason: e.to_string(),
        };
        let call = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| lost(&e))?;
            send.write_all(&[RPC_VERSION, service])
                .await
                .map_err(|e| lost(&e))?;
            send.write_all(&request).await.map_err(|e| lost(&e))?;
            send.finish().map_err(|e| lost(&e))?;
            let reply = recv
                .read_to_end(RPC_MAX_MESSAGE_BYTES + 1)
                .await
                .map_err(|e| match e {
                    quinn::ReadToEndError::TooLong => RpcError::BadReply {
                        peer,
                        reason: format!("over the {RPC_MAX_MESSAGE_BYTES}-byte limit"),
                    },
                    quinn::ReadToEndError::Read(e) => lost(&e),
                })?;
            let Some((&status, body)) = reply.split_first() else {
                return Err(RpcError::BadReply {
                    peer,
                    reason: "empty reply".into(),
                });
            };
            match status {
                STATUS_OK => {
                    add(&c.rpc_bytes_received, body.len() as u64);
                    Ok(Bytes::copy_from_slice(body))
                }
                STATUS_NO_SERVICE => Err(RpcError::NoService { peer, service }),
                STATUS_BUSY => Err(RpcError::Busy(peer)),
                STATUS_HANDLER_FAILED => Err(RpcError::HandlerFailed(peer)),
                STATUS_BAD_REQUEST => Err(RpcError::BadRequest(peer)),
                other => Err(RpcError::BadReply {
                    peer,
                    reason: format!("unknown status {other}"),
                }),
            }
        };
        let out = match tokio::time::timeout(timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(RpcError::Timeout {
                peer,
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
        };
        if out.is_err() {
            add(&c.rpc_failures, 1);
        }
        out
    }

    /// Receive the calls for `service` from every verified peer. A later
    /// call for the same service replaces the earlier receiver (a
    /// restarted Raft on a running transport). Until a service is
    /// served, callers get [`RpcError::NoService`].
    pub fn serve_rpcs(&self, service: u8) -> mpsc::Receiver<IncomingRpc> {
        let (tx, rx) = mpsc::channel(RPC_INBOUND_QUEUE_DEPTH);
        if let Ok(mut s) = self.shared.rpc_services.lock() {
            s.insert(service, tx);
        }
        rx
    }

    /// Stop serving `service`: callers get [`RpcError::NoService`].
    pub fn stop_serving_rpcs(&self, service: u8) {
        if let Ok(mut s) = self.shared.rpc_services.lock() {
            s.remove(&service);
        }
    }
}

/// Accept RPC streams on a verified connection until it ends.
pub(super) async fn accept_rpcs(
    shared: std::sync::Arc<Shared>,
    conn: quinn::Connection,
    peer: u16,
) -> String {
    let budget = std::sync::Arc::new(tokio::sync::Semaphore::new(RPC_INBOUND_BUDGET_BYTES));
    loop {
        match conn.accept_bi().await {
            // quinn bounds the streams in flight per connection
            // (RPC_MAX_CONCURRENT_STREAMS) and each task ends within the
            // read and handler timeouts, so the spawns are bounded.
            Ok((send, recv)) => {
                tokio::spawn(serve_rpc(shared.clone(), peer, send, recv, budget.clone()));
            }
            Err(e) => return e.to_string(),
        }
    }
}

/// Why a request was not read whole.
enum ReadRefused {
    /// Over the size limit, or the connection's budget is spent.
    TooLarge,
    /// The caller went away.
    Gone,
}

/// Read a request to its end. The memory the buffer will hold is taken
/// from the connection's `budget` before the buffer grows to it: its
/// capacity, not only the bytes in it (a growing `Vec` may hold up to
/// twice what it has read). The permits are held until the request is
/// answered.
async fn read_request(
    recv: &mut quinn::RecvStream,
    budget: &std::sync::Arc<tokio::sync::Semaphore>,
    refused_budget: &std::sync::atomic::AtomicU64,
) -> Result<(Vec<u8>, Vec<tokio::sync::OwnedSemaphorePermit>), ReadRefused> {
    let mut buf: Vec<u8> = Vec::new();
    let mut permits = Vec::new();
    let mut held = 0usize;
    loop {
        match recv.read_chunk(64 << 10, true).await {
            Ok(Some(chunk)) => {
                let need = buf.len() + chunk.bytes.len();
                if need > RPC_MAX_MESSAGE_BYTES + 2 {
                    return Err(ReadRefused::TooLarge);
                }
                if need > held {
                    // Grow to the next power of two (amortized copies, as
                    // a Vec grows), never past the largest request, and
                    // pay for it first.
                    let grow_to = need
                        .next_power_of_two()
                        .min(RPC_MAX_MESSAGE_BYTES)
                        .max(need);
                    let n = u32::try_from(grow_to - held).unwrap_or(u32::MAX);
                    let Ok(p) = budget.clone().try_acquire_many_owned(n) else {
                        add(refused_budget, 1);
                        return Err(ReadRefused::TooLarge);
                    };
                    permits.push(p);
                    buf.reserve_exact(grow_to - buf.len());
                    held = grow_to;
                }
                buf.extend_from_slice(&chunk.bytes);
            }
            Ok(None) => return Ok((buf, permits)),
            Err(_) => return Err(ReadRefused::Gone),
        }
    }
}

async fn serve_rpc(
    shared: std::sync::Arc<Shared>,
    peer: u16,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    budget: std::sync::Arc<tokio::sync::Semaphore>,
) {
    let c = &shared.counters;
    let read = tokio::time::timeout(
        RPC_REQUEST_READ_TIMEOUT,
        read_request(&mut recv, &budget, &c.rpcs_refused_budget),
    )
    .await;
    let (request, held) = match read {
        Ok(Ok(b)) => b,
        Ok(Err(ReadRefused::TooLarge)) => {
            add(&c.rpcs_refused, 1);
            let _ = recv.stop(quinn::VarInt::from_u32(STREAM_REFUSED));
            let _ = send.reset(quinn::VarInt::from_u32(STREAM_REFUSED));
            return;
        }
        // The caller went away, or stalled past the read timeout.
        Ok(Err(ReadRefused::Gone)) | Err(_) => {
            add(&c.rpcs_refused, 1);
            let _ = send.reset(quinn::VarInt::from_u32(STREAM_REFUSED));
            return;
        }
    };
    c.rpcs_received.fetch_add(1, Ordering::Relaxed);
    let (status, body) = dispatch(&shared, peer, request).await;
    // The request's buffer went to its handler, which has answered: the
    // budget is free again before the reply leaves, so a caller that has
    // the reply finds it free (held until the reply was acknowledged, a
    // call sent at once on the answer could find it spent and be refused).
    drop(held);
    if status != STATUS_OK {
        add(&c.rpcs_refused, 1);
    }
    if send.write_all(&[status]).await.is_ok() && send.write_all(&body).await.is_ok() {
        let _ = send.finish();
        // Let the reply drain before the stream is dropped.
        let _ = tokio::time::timeout(RPC_REQUEST_READ_TIMEOUT, send.stopped()).await;
    }
}

/// Hand a request to its service and wait for the reply.
async fn dispatch(shared: &Shared, peer: u16, request: Vec<u8>) -> (u8, Bytes) {
    let empty = Bytes::new();
    if request.len() < 2 || request[0] != RPC_VERSION {
        return (STATUS_BAD_REQUEST, empty);
    }
    let service = request[1];
    let tx = shared
        .rpc_services
        .lock()
        .ok()
        .and_then(|s| s.get(&service).cloned());
    let Some(tx) = tx else {
        return (STATUS_NO_SERVICE, empty);
    };
    let (rtx, rrx) = oneshot::channel();
    let call = IncomingRpc {
        peer,
        request: Bytes::from(request).slice(2..),
        reply: rtx,
    };
    match tx.try_send(call) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => return (STATUS_BUSY, empty),
        Err(mpsc::error::TrySendError::Closed(_)) => return (STATUS_NO_SERVICE, empty),
    }
    match tokio::time::timeout(RPC_HANDLER_TIMEOUT, rrx).await {
        Ok(Ok(reply)) if reply.len() <= RPC_MAX_MESSAGE_BYTES => {
            add(&shared.counters.rpc_bytes_sent, reply.len() as u64);
            (STATUS_OK, reply)
        }
        _ => (STATUS_HANDLER_FAILED, empty),
    }
}
