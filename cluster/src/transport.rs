//! The QUIC shell of state sync: one quinn endpoint per node, mutual TLS
//! against the cluster CA, one connection per peer pair (the lower node id
//! dials the higher), kept alive and re-established with backoff.
//!
//! On a connection each side opens one long-lived unidirectional stream
//! and writes length-prefixed frames (u32 big-endian length, then the
//! bytes) on it: ordered and reliable within a connection, which is what
//! the sync protocol assumes. The first frame on each stream is a hello
//! naming the sender's node id and the sync wire version it speaks
//! ([`crate::sync::wire::WIRE_VERSION`]); the acceptor checks that the
//! client certificate names that node, the dialer checks the server
//! certificate through TLS server-name verification, and each side refuses
//! a peer of another major version, naming both versions (logged, counted
//! in [`TransportCounters::refused_version`], and said in the close reason
//! the peer receives). Nothing from a peer reaches the protocol before
//! every check passes.
//!
//! The same connections carry request/response RPCs (Raft) on
//! bidirectional streams, one per call ([`rpc`]); they share the
//! connection's mutual TLS and identity checks.
//!
//! The members are those of the configuration plus any added with
//! [`Transport::add_peer`] (a node joining through Raft), less those
//! removed with [`Transport::remove_peer`] (`members`).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncReadExt as _, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::pki::{NodeTls, PkiError, node_dns_name};
use crate::sync::wire::{WIRE_VERSION, WireVersion};

mod accept;
mod members;
pub mod rpc;
mod wake;

pub use members::{REMOVED_CLOSE_GRACE, RemovalNotice};

pub use rpc::{
    IncomingRpc, RPC_INBOUND_BUDGET_BYTES, RPC_INBOUND_QUEUE_DEPTH, RPC_MAX_MESSAGE_BYTES,
    RPC_SERVICE_CLEAR, RPC_SERVICE_RAFT, RpcError,
};

/// ALPN of the sync protocol.
pub const ALPN_SYNC: &[u8] = b"rampart-sync/1";

/// The largest frame accepted or sent.
pub const MAX_FRAME_BYTES: usize = 4 << 20;

/// Bytes of a peer's frames read but not yet consumed by the protocol,
/// per connection: the reader waits (and QUIC's flow control holds the
/// peer) beyond it. Counted in bytes, not frames: 4,096 queued frames of
/// 4 MiB would be 16 GiB.
pub const INBOUND_BUDGET_BYTES: usize = 64 << 20;

/// Bytes of frames queued towards one peer: `send` refuses beyond it (the
/// protocol resends or resyncs), whatever the frame count.
pub const OUTBOUND_BUDGET_BYTES: usize = 64 << 20;

/// The largest frame read before the hello is checked: a hello is 8 bytes,
/// and nothing larger is allocated for a peer not yet verified.
const MAX_HELLO_FRAME_BYTES: usize = 64;

/// Hello frame: magic, the sync wire's major version, the node id (u16
/// big-endian), the minor version. This layout is kept by every version
/// (a later one may only append), so two builds can always tell each
/// other which versions they speak. Builds from before the minor was
/// announced send the first 7 bytes only, read as minor 0.
const HELLO_MAGIC: &[u8; 4] = b"RSYN";
/// Bytes of a hello.
const HELLO_BYTES: usize = 8;
/// Bytes of a hello without the minor version.
const HELLO_SHORT_BYTES: usize = 7;

/// QUIC application close codes.
const CLOSE_REPLACED: u32 = 1;
const CLOSE_REFUSED: u32 = 2;
const CLOSE_BAD_FRAME: u32 = 3;
const CLOSE_SHUTDOWN: u32 = 4;
const CLOSE_REMOVED: u32 = 5;
/// The peer speaks another major version of the sync wire.
const CLOSE_VERSION: u32 = 6;
// 7 is `wake::CLOSE_DIAL_BACK`: a wake, answered with a dial; 8 is
// `wake::CLOSE_WAKE_WITHDRAWN`: a wake given up before its hello.

/// A peer in the configuration.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    /// Node id.
    pub id: u16,
    /// Node name: its certificate must carry it (identity is the id,
    /// which the certificate's `node-<id>.rampart` name proves).
    pub name: String,
    /// Where it listens.
    pub address: SocketAddr,
}

/// Transport settings.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// This node's id.
    pub node_id: u16,
    /// Where to listen (UDP).
    pub listen: SocketAddr,
    /// The other members.
    pub peers: Vec<PeerSpec>,
    /// QUIC keep-alive interval.
    pub keep_alive: Duration,
    /// Idle time after which a peer is declared down.
    pub idle_timeout: Duration,
    /// First and largest reconnect delay.
    pub backoff_min: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// Frames queued per peer before `send` refuses.
    pub outbound_queue_frames: usize,
    /// Frames queued towards the protocol before readers wait (back
    /// pressure through QUIC flow control).
    pub inbound_queue_frames: usize,
    /// Use UDP GSO (some virtual NICs fail with it).
    pub gso: bool,
    /// The sync wire version this node announces in its hello: this
    /// build's [`WIRE_VERSION`]. Peers of another major version are
    /// refused. (Settable so that a test can stand in for another build.)
    pub wire_version: WireVersion,
}

impl TransportConfig {
    /// Defaults for a LAN.
    pub fn new(node_id: u16, listen: SocketAddr, peers: Vec<PeerSpec>) -> Self {
        TransportConfig {
            node_id,
            listen,
            peers,
            keep_alive: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(3),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            outbound_queue_frames: 65_536,
            inbound_queue_frames: 4096,
            gso: std::env::var_os("RAMPART_QUIC_NO_GSO").is_none(),
            wire_version: WIRE_VERSION,
        }
    }
}

/// What the transport tells the protocol driver.
#[derive(Debug)]
pub enum TransportEvent {
    /// A verified connection to `peer` is up.
    Up {
        /// The peer.
        peer: u16,
        /// This node's id for the connection (increasing).
        conn: u64,
    },
    /// The connection is gone.
    Down {
        /// The peer.
        peer: u16,
        /// Its connection id.
        conn: u64,
        /// Why.
        reason: String,
        /// The peer is no longer a member ([`Transport::remove_peer`]):
        /// it will not be dialled again.
        removed: bool,
    },
    /// A datagram arrived (unordered, may be lost or duplicated).
    Datagram {
        /// The peer.
        peer: u16,
        /// On this connection.
        conn: u64,
        /// The bytes.
        frame: Bytes,
    },
    /// A frame arrived.
    Frame {
        /// The peer.
        peer: u16,
        /// On this connection.
        conn: u64,
        /// The bytes.
        frame: Bytes,
        /// The frame's share of the connection's inbound budget, given
        /// back when the event is dropped (once the protocol took it).
        budget: FrameBudget,
    },
}

/// A received frame's share of [`INBOUND_BUDGET_BYTES`]; dropping it
/// returns the bytes to the connection's budget.
#[derive(Debug)]
pub struct FrameBudget(Option<tokio::sync::OwnedSemaphorePermit>);

impl FrameBudget {
    /// A frame outside any budget (tests, tools).
    pub fn none() -> Self {
        FrameBudget(None)
    }

    /// Bytes of budget held.
    pub fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |p| p.num_permits())
    }
}

/// Why `send` refused a frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// No connection to the peer.
    #[error("peer {0} is not connected")]
    NotConnected(u16),
    /// Its queue is full.
    #[error("queue to peer {0} is full")]
    QueueFull(u16),
    /// Larger than a frame may be.
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Meant for a connection to the peer that a newer one replaced:
    /// dropped (counted in [`TransportCounters::sends_replaced`]).
    #[error("the connection to peer {0} the frame was meant for was replaced")]
    Replaced(u16),
}

/// A peer speaks another major version of the sync wire: the two nodes
/// cannot sync, and the connection is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the peer speaks sync wire version {theirs} and this node {ours}: \
     major versions differ, so they cannot sync"
)]
pub struct VersionRefused {
    /// This node's version.
    pub ours: WireVersion,
    /// The peer's.
    pub theirs: WireVersion,
}

/// A transport start-up error.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The TLS material.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// quinn refused the TLS configuration.
    #[error("QUIC TLS configuration: {0}")]
    Quic(String),
    /// Binding the UDP socket.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A bad setting.
    #[error("{0}")]
    Config(String),
}

/// Transport counters (monotonic).
#[derive(Debug, Default)]
pub struct TransportCounters {
    /// Connections that passed every check.
    pub connections_up: AtomicU64,
    /// Verified connections that ended.
    pub connections_down: AtomicU64,
    /// Dial attempts that failed (unreachable, TLS, refused).
    pub dial_failures: AtomicU64,
    /// Lower-id peers this node woke (they dial it now).
    pub wakes_sent: AtomicU64,
    /// Wakes from higher-id peers, each answered with a dial.
    pub wakes_received: AtomicU64,
    /// Incoming handshakes that failed TLS (no certificate, unknown CA).
    pub refused_tls: AtomicU64,
    /// Incoming connections from addresses that are no member's refused
    /// because [`accept::MAX_HANDSHAKES`] were being set up already, or 4
    /// from that address.
    pub refused_busy: AtomicU64,
    /// Peers whose certificate names another node than they claim.
    pub refused_wrong_identity: AtomicU64,
    /// Peers claiming a node id not in the configuration (or dialling
    /// against the id order).
    pub refused_unknown_peer: AtomicU64,
    /// Connections closed for a bad hello or frame.
    pub refused_bad_frame: AtomicU64,
    /// Connections refused because one side speaks another major version
    /// of the sync wire: refused here, or refused by the peer (it said so
    /// when closing).
    pub refused_version: AtomicU64,
    /// Frames over the size limit (received; the connection is closed).
    pub frames_too_large: AtomicU64,
    /// Frames sent and received.
    pub frames_sent: AtomicU64,
    /// Frames received.
    pub frames_received: AtomicU64,
    /// Payload bytes sent.
    pub bytes_sent: AtomicU64,
    /// Payload bytes received.
    pub bytes_received: AtomicU64,
    /// Frames `send` refused.
    pub send_refused: AtomicU64,
    /// Of those, refused because the peer's queue held
    /// [`OUTBOUND_BUDGET_BYTES`] already.
    pub send_refused_bytes: AtomicU64,
    /// Frames and datagrams dropped because the connection they were
    /// meant for had been replaced by a newer one to the same peer (not
    /// counted in `send_refused` or `datagrams_refused`).
    pub sends_replaced: AtomicU64,
    /// Times a connection's reader waited because the protocol had
    /// [`INBOUND_BUDGET_BYTES`] of its frames unconsumed.
    pub inbound_budget_waits: AtomicU64,
    /// Datagrams sent.
    pub datagrams_sent: AtomicU64,
    /// Datagrams `send_datagram` could not send (too large, no peer).
    pub datagrams_refused: AtomicU64,
    /// Datagrams received.
    pub datagrams_received: AtomicU64,
    /// RPCs this node called.
    pub rpcs_sent: AtomicU64,
    /// RPCs that failed on this node's side (not connected, timeout,
    /// refused by the peer, bad reply).
    pub rpc_failures: AtomicU64,
    /// RPC requests received from peers.
    pub rpcs_received: AtomicU64,
    /// Incoming RPCs not answered with a reply (over the size limit,
    /// stalled, no such service, busy, handler failure).
    pub rpcs_refused: AtomicU64,
    /// Of those, refused because the connection had
    /// [`rpc::RPC_INBOUND_BUDGET_BYTES`] of requests in memory already.
    pub rpcs_refused_budget: AtomicU64,
    /// RPC reply payload bytes sent.
    pub rpc_bytes_sent: AtomicU64,
    /// RPC reply payload bytes received.
    pub rpc_bytes_received: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// State of a peer's connection as the transport sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No verified connection.
    Down,
    /// A verified connection.
    Up,
}

#[derive(Debug)]
struct PeerSlot {
    conn: u64,
    tx: mpsc::Sender<Bytes>,
    /// Bytes in `tx`'s queue, within [`OUTBOUND_BUDGET_BYTES`].
    queued: Arc<AtomicUsize>,
    handle: quinn::Connection,
    /// When the connection passed its checks.
    since: std::time::Instant,
}

/// What the QUIC connection to one peer carried, summed over the
/// connections this node had with it (sync frames, datagrams and RPCs all
/// share it), and its path as last measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// UDP datagrams sent to the peer.
    pub datagrams_out: u64,
    /// UDP datagrams received from it.
    pub datagrams_in: u64,
    /// UDP bytes sent (QUIC headers and encryption included).
    pub bytes_out: u64,
    /// UDP bytes received.
    pub bytes_in: u64,
    /// Packets QUIC declared lost (and so sent again what they carried).
    pub lost_packets: u64,
    /// Congestion events (the sending rate cut).
    pub congestion_events: u64,
    /// Smoothed round-trip time of the live connection (zero: none).
    pub rtt: Duration,
}

impl LinkStats {
    fn of(c: &quinn::Connection) -> LinkStats {
        let s = c.stats();
        LinkStats {
            datagrams_out: s.udp_tx.datagrams,
            datagrams_in: s.udp_rx.datagrams,
            bytes_out: s.udp_tx.bytes,
            bytes_in: s.udp_rx.bytes,
            lost_packets: s.path.lost_packets,
            congestion_events: s.path.congestion_events,
            rtt: s.path.rtt,
        }
    }

    /// The sums of both; the round-trip time of `live`.
    fn plus(self, live: LinkStats) -> LinkStats {
        LinkStats {
            datagrams_out: self.datagrams_out + live.datagrams_out,
            datagrams_in: self.datagrams_in + live.datagrams_in,
            bytes_out: self.bytes_out + live.bytes_out,
            bytes_in: self.bytes_in + live.bytes_in,
            lost_packets: self.lost_packets + live.lost_packets,
            congestion_events: self.congestion_events + live.congestion_events,
            rtt: live.rtt,
        }
    }
}

/// A member this node keeps a connection with.
#[derive(Debug)]
struct Member {
    spec: PeerSpec,
    /// Set when the member is removed: its dial loop ends.
    removed: Arc<AtomicBool>,
    /// Told when the member (a higher id) asks to be dialled now.
    wake: Arc<tokio::sync::Notify>,
}

#[derive(Debug)]
struct Shared {
    me: u16,
    cfg: TransportConfig,
    tls: NodeTls,
    /// The members: configured peers plus added ones, less removed ones.
    members: Mutex<HashMap<u16, Member>>,
    peers: Mutex<HashMap<u16, PeerSlot>>,
    rpc_services: Mutex<HashMap<u8, mpsc::Sender<IncomingRpc>>>,
    next_conn: AtomicU64,
    counters: Arc<TransportCounters>,
    events: mpsc::Sender<TransportEvent>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Why the latest connection was refused, by either side.
    last_refusal: Mutex<Option<String>>,
    /// What every connection carried (see [`Transport::link_stats`]).
    links: Mutex<Links>,
    /// Members removed, this node's dormancy, and what members said of
    /// its own removal (`members`).
    membership: members::MemberState,
}

/// The connections being served, and per peer what its ended ones
/// carried: a connection moves from one to the other under one lock, so
/// the sums never go back.
#[derive(Debug, Default)]
struct Links {
    live: HashMap<u64, (u16, quinn::Connection)>,
    ended: HashMap<u16, LinkStats>,
}

/// The running transport. Dropping it does not stop it; call
/// [`Transport::shutdown`].
#[derive(Debug, Clone)]
pub struct Transport {
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
}

fn quic_transport_config(cfg: &TransportConfig) -> Result<quinn::TransportConfig, TransportError> {
    let mut t = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(cfg.idle_timeout)
        .map_err(|e| TransportError::Config(format!("idle timeout: {e}")))?;
    t.max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(cfg.keep_alive))
        .stream_receive_window(quinn::VarInt::from_u32(8 << 20))
        .receive_window(quinn::VarInt::from_u32(32 << 20))
        .send_window(32 << 20)
        .initial_rtt(Duration::from_millis(10))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(4))
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(rpc::RPC_MAX_CONCURRENT_STREAMS))
        .enable_segmentation_offload(cfg.gso)
        // The sync link must carry state through random loss. A loss-based
        // controller (quinn's default, Cubic) reads 30 % loss as congestion
        // and throttles the link to a few dozen datagrams a second; quinn's
        // BBR, in loss recovery most of the time at that rate, sometimes
        // fell to a third of the offered rate and let replication lag grow
        // to seconds (the chaos suite's lossy-link scenario, two runs in
        // four). The link is a cluster's own, dedicated as the ASA's cluster
        // control link is, and its traffic is bounded by what the nodes
        // produce: a fixed window keeps sending through loss
        // (docs/sync.md §5).
        .congestion_controller_factory(Arc::new(FixedWindow(SYNC_LINK_WINDOW)));
    Ok(t)
}

/// Bytes a cluster connection may have in flight: far above what state
/// sync produces in a round trip, so the link is limited by the nodes'
/// traffic and by flow control, never by loss.
pub const SYNC_LINK_WINDOW: u64 = 16 << 20;

/// A congestion "controller" with a constant window, for a dedicated link
/// whose offered load is bounded by the application: loss does not shrink
/// it (a lost packet is retransmitted, not read as congestion).
#[derive(Debug, Clone, Copy)]
struct FixedWindow(u64);

impl quinn::congestion::ControllerFactory for FixedWindow {
    fn build(
        self: Arc<Self>,
        _now: std::time::Instant,
        _current_mtu: u16,
    ) -> Box<dyn quinn::congestion::Controller> {
        Box::new(*self)
    }
}

impl quinn::congestion::Controller for FixedWindow {
    fn on_congestion_event(
        &mut self,
        _now: std::time::Instant,
        _sent: std::time::Instant,
        _is_persistent_congestion: bool,
        _lost_bytes: u64,
    ) {
    }

    fn on_mtu_update(&mut self, _new_mtu: u16) {}

    fn window(&self) -> u64 {
        self.0
    }

    fn clone_box(&self) -> Box<dyn quinn::congestion::Controller> {
        Box::new(*self)
    }

    fn initial_window(&self) -> u64 {
        self.0
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl Transport {
    /// Bind, start accepting, and dial every peer with a higher id.
    /// Must be called inside a tokio runtime.
    pub fn start(
        cfg: TransportConfig,
        tls: NodeTls,
    ) -> Result<(Transport, mpsc::Receiver<TransportEvent>), TransportError> {
        if cfg.peers.iter().any(|p| p.id == cfg.node_id) {
            return Err(TransportError::Config(format!(
                "node {} lists itself as a peer",
                cfg.node_id
            )));
        }
        let qt = Arc::new(quic_transport_config(&cfg)?);
        let server_tls = tls.server_config(&[ALPN_SYNC])?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(
            QuicServerConfig::try_from(server_tls)
                .map_err(|e| TransportError::Quic(e.to_string()))?,
        ));
        server.transport_config(qt.clone());
        let client_tls = tls.client_config(&[ALPN_SYNC])?;
        let mut client = quinn::ClientConfig::new(Arc::new(
            QuicClientConfig::try_from(client_tls)
                .map_err(|e| TransportError::Quic(e.to_string()))?,
        ));
        client.transport_config(qt);
        let mut endpoint =
            quinn::Endpoint::server(server, cfg.listen).map_err(|source| TransportError::Bind {
                addr: cfg.listen,
                source,
            })?;
        endpoint.set_default_client_config(client);

        let (etx, erx) = mpsc::channel(cfg.inbound_queue_frames.max(16));
        let members = cfg
            .peers
            .iter()
            .map(|p| {
                let m = Member {
                    spec: p.clone(),
                    removed: Arc::new(AtomicBool::new(false)),
                    wake: Arc::default(),
                };
                (p.id, m)
            })
            .collect();
        let shared = Arc::new(Shared {
            me: cfg.node_id,
            cfg,
            tls,
            members: Mutex::new(members),
            peers: Mutex::new(HashMap::new()),
            rpc_services: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            counters: Arc::new(TransportCounters::default()),
            events: etx,
            tasks: Mutex::new(Vec::new()),
            last_refusal: Mutex::new(None),
            links: Mutex::new(Links::default()),
            membership: members::MemberState::default(),
        });
        let t = Transport { shared, endpoint };
        t.spawn(accept::accept_loop(t.shared.clone(), t.endpoint.clone()));
        let members: Vec<(PeerSpec, Arc<AtomicBool>, Arc<tokio::sync::Notify>)> = t
            .shared
            .members
            .lock()
            .map(|m| {
                m.values()
                    .map(|m| (m.spec.clone(), m.removed.clone(), m.wake.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (p, removed, wake) in members {
            t.connect_to(p, removed, wake);
        }
        Ok((t, erx))
    }

    /// Dial a higher-id member and redial it whenever the connection
    /// ends; wake a lower-id one whenever there is none (see `wake`).
    fn connect_to(&self, p: PeerSpec, removed: Arc<AtomicBool>, wake: Arc<tokio::sync::Notify>) {
        let (shared, endpoint) = (self.shared.clone(), self.endpoint.clone());
        if p.id > self.shared.me {
            self.spawn(dial_loop(shared, endpoint, p, removed, wake));
        } else {
            self.spawn(wake::wake_loop(shared, endpoint, p, removed));
        }
    }

    fn spawn(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        let h = tokio::spawn(f);
        if let Ok(mut tasks) = self.shared.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(h);
        }
    }

    /// Queue a frame to `peer` on its connection `conn` (the id its
    /// [`TransportEvent::Up`] gave). Never waits: a full queue or a missing
    /// connection is an error the protocol recovers from (resend/resync).
    ///
    /// A frame for a connection that a newer one to the peer replaced is
    /// dropped, not sent on the newer one: a peer that restarted and
    /// dialled again is on the new connection before the protocol has
    /// heard of it, and what the protocol still sends for the old one
    /// would reach the peer ahead of the protocol's `Hello`, which the
    /// peer refuses (docs/sync.md §5, *Peers up and down*).
    pub fn send(&self, peer: u16, conn: u64, frame: Bytes) -> Result<(), SendError> {
        if frame.len() > MAX_FRAME_BYTES {
            add(&self.shared.counters.send_refused, 1);
            return Err(SendError::TooLarge(frame.len()));
        }
        let peers = self
            .shared
            .peers
            .lock()
            .map_err(|_| SendError::NotConnected(peer))?;
        let Some(slot) = peers.get(&peer) else {
            add(&self.shared.counters.send_refused, 1);
            return Err(SendError::NotConnected(peer));
        };
        if slot.conn != conn {
            add(&self.shared.counters.sends_replaced, 1);
            return Err(SendError::Replaced(peer));
        }
        let len = frame.len();
        if slot.queued.load(Ordering::Relaxed) + len > OUTBOUND_BUDGET_BYTES {
            add(&self.shared.counters.send_refused, 1);
            add(&self.shared.counters.send_refused_bytes, 1);
            return Err(SendError::QueueFull(peer));
        }
        slot.queued.fetch_add(len, Ordering::Relaxed);
        slot.tx.try_send(frame).map_err(|e| {
            slot.queued.fetch_sub(len, Ordering::Relaxed);
            add(&self.shared.counters.send_refused, 1);
            match e {
                mpsc::error::TrySendError::Full(_) => SendError::QueueFull(peer),
                mpsc::error::TrySendError::Closed(_) => SendError::NotConnected(peer),
            }
        })
    }

    /// Bytes of frames queued towards `peer` and not yet taken by its
    /// connection's writer (0 without a connection): what a sender that
    /// can wait (a bulk dump) paces itself on, so that its frames are not
    /// refused at [`OUTBOUND_BUDGET_BYTES`] and leave room for the rest.
    pub fn queued_bytes(&self, peer: u16) -> usize {
        self.shared
            .peers
            .lock()
            .ok()
            .and_then(|p| p.get(&peer).map(|s| s.queued.load(Ordering::Relaxed)))
            .unwrap_or(0)
    }

    /// Send an unreliable datagram to `peer` (QUIC datagram: congestion
    /// controlled, never retransmitted, the oldest dropped when the send
    /// buffer is full). For data that also travels on the stream; sent
    /// only on the connection `conn`, as [`send`](Self::send) is.
    pub fn send_datagram(&self, peer: u16, conn: u64, frame: Bytes) -> Result<(), SendError> {
        let c = &self.shared.counters;
        let slot = self
            .shared
            .peers
            .lock()
            .ok()
            .and_then(|p| p.get(&peer).map(|s| (s.conn, s.handle.clone())));
        let Some((current, handle)) = slot else {
            add(&c.datagrams_refused, 1);
            return Err(SendError::NotConnected(peer));
        };
        if current != conn {
            add(&c.sends_replaced, 1);
            return Err(SendError::Replaced(peer));
        }
        let len = frame.len();
        match handle.send_datagram(frame) {
            Ok(()) => {
                add(&c.datagrams_sent, 1);
                Ok(())
            }
            Err(_) => {
                add(&c.datagrams_refused, 1);
                Err(SendError::TooLarge(len))
            }
        }
    }

    /// Link state per member, by id.
    pub fn peer_states(&self) -> Vec<(u16, LinkState)> {
        let mut ids: Vec<u16> = self
            .shared
            .members
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        ids.sort_unstable();
        let peers = self.shared.peers.lock().ok();
        ids.into_iter()
            .map(|id| {
                let up = peers.as_ref().is_some_and(|m| m.contains_key(&id));
                (id, if up { LinkState::Up } else { LinkState::Down })
            })
            .collect()
    }

    /// This node's id.
    pub fn node_id(&self) -> u16 {
        self.shared.me
    }

    /// Counters.
    pub fn counters(&self) -> Arc<TransportCounters> {
        self.shared.counters.clone()
    }

    /// Per peer this node ever had a connection with: what the cluster
    /// link carried (every connection to it summed) and its round-trip
    /// time now (zero while no connection is up). In peer order.
    pub fn link_stats(&self) -> Vec<(u16, LinkStats)> {
        let Ok(links) = self.shared.links.lock() else {
            return Vec::new();
        };
        let mut out: BTreeMap<u16, LinkStats> = links
            .ended
            .iter()
            .map(|(p, s)| {
                (
                    *p,
                    LinkStats {
                        rtt: Duration::ZERO,
                        ..*s
                    },
                )
            })
            .collect();
        // Oldest first, so the newest connection's round-trip time stays.
        let mut live: Vec<_> = links.live.iter().collect();
        live.sort_by_key(|(id, _)| **id);
        for (_, (peer, conn)) in live {
            let e = out.entry(*peer).or_default();
            *e = e.plus(LinkStats::of(conn));
        }
        out.into_iter().collect()
    }

    /// Why the latest connection was refused (by this node or by a peer
    /// that said why when closing), for status displays.
    pub fn last_refusal(&self) -> Option<String> {
        self.shared.last_refusal.lock().ok().and_then(|r| r.clone())
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Close every connection and stop all tasks.
    pub async fn shutdown(&self) {
        self.endpoint
            .close(quinn::VarInt::from_u32(CLOSE_SHUTDOWN), b"shutdown");
        let tasks = self
            .shared
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in &tasks {
            t.abort();
        }
        if let Ok(mut p) = self.shared.peers.lock() {
            p.clear();
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), self.endpoint.wait_idle()).await;
    }
}

/// What a hello says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hello {
    /// The sender's node id (to be checked against its certificate).
    node: u16,
    /// The sync wire version it speaks.
    version: WireVersion,
}

fn hello_bytes(id: u16, version: WireVersion) -> Bytes {
    let mut v = Vec::with_capacity(HELLO_BYTES);
    v.extend_from_slice(HELLO_MAGIC);
    v.push(version.major);
    v.extend_from_slice(&id.to_be_bytes());
    v.push(version.minor);
    Bytes::from(v)
}

/// A hello of any version, or `None` if it is not one.
fn parse_hello(b: &[u8]) -> Option<Hello> {
    if b.len() < HELLO_SHORT_BYTES || &b[..4] != HELLO_MAGIC {
        return None;
    }
    Some(Hello {
        node: u16::from_be_bytes([b[5], b[6]]),
        version: WireVersion {
            major: b[4],
            minor: b.get(HELLO_SHORT_BYTES).copied().unwrap_or(0),
        },
    })
}

/// Record a refused connection: counted by the caller, logged, and kept
/// for [`Transport::last_refusal`].
fn note_refusal(shared: &Shared, text: String) {
    tracing::warn!("sync link: {text}");
    if let Ok(mut r) = shared.last_refusal.lock() {
        *r = Some(text);
    }
}

/// Refuse `conn`, whose hello says it speaks `theirs`, if that is another
/// major version than ours. Returns whether it was refused.
fn refuse_other_major(
    shared: &Shared,
    conn: &quinn::Connection,
    who: &str,
    theirs: WireVersion,
) -> bool {
    let ours = shared.cfg.wire_version;
    if ours.compatible(theirs) {
        return false;
    }
    add(&shared.counters.refused_version, 1);
    note_refusal(
        shared,
        format!("refusing {who}: {}", VersionRefused { ours, theirs }),
    );
    // The reason travels to the peer, who logs it: say it from its side.
    let why = format!(
        "sync wire version {theirs} refused by node {}, which speaks {ours} \
         (major versions differ)",
        shared.me
    );
    close(conn, CLOSE_VERSION, &why);
    true
}

/// Node `id`'s certificate proves its id but not `name`, the name its
/// member record gives it (a `cluster join` with a wrong `--name`).
fn wrong_name(id: u16, name: &str) -> String {
    format!(
        "node {id}'s certificate does not carry the name {:?} its member record gives it \
         (a join with a wrong --name: remove it and join it again with its certificate's name)",
        peer_text(name)
    )
}

/// After a dial failed during the hello exchange: if the peer closed the
/// connection with a reason, that reason is the news (a version refusal
/// is counted as such).
fn note_peer_close(shared: &Shared, conn: &quinn::Connection, peer: &PeerSpec) {
    let Some(quinn::ConnectionError::ApplicationClosed(c)) = conn.close_reason() else {
        return;
    };
    let code = c.error_code.into_inner();
    let reason = peer_text(&String::from_utf8_lossy(&c.reason));
    // Nodes built before the hello announced a minor version refuse any
    // 8-byte hello as a bad one.
    let hint = if code == u64::from(CLOSE_BAD_FRAME) && reason == "bad hello" {
        " (a peer built before sync wire versions were announced says so)"
    } else {
        ""
    };
    if code == u64::from(CLOSE_VERSION) {
        add(&shared.counters.refused_version, 1);
    }
    if code == u64::from(CLOSE_REMOVED) {
        members::told_removed(shared, peer.id);
    }
    note_refusal(
        shared,
        format!(
            "node {} at {} refused this node: {reason}{hint}",
            peer.id, peer.address
        ),
    );
}

/// Why reading a frame stopped.
#[derive(Debug)]
enum ReadFail {
    Closed(String),
    TooLarge(usize),
}

/// Read one frame of at most `max` bytes (checked before anything is
/// allocated for it).
async fn read_frame_at_most(
    r: &mut BufReader<quinn::RecvStream>,
    max: usize,
) -> Result<Bytes, ReadFail> {
    let len = read_len(r, max).await?;
    read_body(r, len).await
}

async fn read_len(r: &mut BufReader<quinn::RecvStream>, max: usize) -> Result<usize, ReadFail> {
    let len = r
        .read_u32()
        .await
        .map_err(|e| ReadFail::Closed(e.to_string()))? as usize;
    if len > max {
        return Err(ReadFail::TooLarge(len));
    }
    Ok(len)
}

async fn read_body(r: &mut BufReader<quinn::RecvStream>, len: usize) -> Result<Bytes, ReadFail> {
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)
        .await
        .map_err(|e| ReadFail::Closed(e.to_string()))?;
    Ok(Bytes::from(buf))
}

async fn write_frames(
    s: &mut quinn::SendStream,
    frames: &[Bytes],
) -> Result<(), quinn::WriteError> {
    let total: usize = frames.iter().map(|f| f.len() + 4).sum();
    let mut buf = Vec::with_capacity(total);
    for f in frames {
        // Frames are checked against MAX_FRAME_BYTES (< 4 GiB) on entry.
        buf.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_be_bytes());
        buf.extend_from_slice(f);
    }
    s.write_all(&buf).await
}

fn peer_chain(conn: &quinn::Connection) -> Option<Vec<CertificateDer<'static>>> {
    conn.peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()
        .map(|b| *b)
}

fn close(conn: &quinn::Connection, code: u32, why: &str) {
    conn.close(quinn::VarInt::from_u32(code), why.as_bytes());
}

async fn dial_loop(
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    peer: PeerSpec,
    removed: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
) {
    let mut delay = shared.cfg.backoff_min;
    // A wake abandons an attempt under way (its QUIC Initial may wait
    // seconds for its next retransmission) for a new one, which no wake
    // abandons: a stream of wakes cannot keep every dial from finishing.
    let mut abandonable = true;
    while !removed.load(Ordering::Relaxed) {
        // A node the cluster removed dials only when woken (`members`).
        members::while_dormant(&shared, &wake).await;
        if removed.load(Ordering::Relaxed) {
            break;
        }
        let peer = current_spec(&shared, &peer);
        let attempt = dial(&shared, &endpoint, &peer);
        let dialled = if abandonable {
            tokio::select! {
                d = attempt => Some(d),
                () = wake.notified() => None,
            }
        } else {
            Some(attempt.await)
        };
        abandonable = dialled.is_some();
        match dialled {
            None => continue,
            Some(Some((r, s, conn))) => {
                delay = shared.cfg.backoff_min;
                serve(shared.clone(), conn, peer.id, r, s).await;
            }
            Some(None) => {
                add(&shared.counters.dial_failures, 1);
                delay = (delay * 2).min(shared.cfg.backoff_max);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = wake.notified() => {}
        }
    }
}

/// Whether a peer can be dialled at `addr`: not a wildcard address, not
/// port 0.
fn dialable(addr: &SocketAddr) -> bool {
    !addr.ip().is_unspecified() && addr.port() != 0
}

/// `peer` as the member table holds it now (its address may have moved
/// since the loop that dials or wakes it started).
fn current_spec(shared: &Shared, peer: &PeerSpec) -> PeerSpec {
    shared
        .members
        .lock()
        .ok()
        .and_then(|m| m.get(&peer.id).map(|m| m.spec.clone()))
        .unwrap_or_else(|| peer.clone())
}

/// Connect to `peer`; TLS verifies that the server's certificate names
/// the node called.
async fn connect(endpoint: &quinn::Endpoint, peer: &PeerSpec) -> Option<quinn::Connection> {
    endpoint
        .connect(peer.address, &node_dns_name(peer.id))
        .ok()?
        .await
        .ok()
}

/// Open this node's stream on `conn` and say who it is on it.
async fn send_hello(shared: &Shared, conn: &quinn::Connection) -> Option<quinn::SendStream> {
    let mut send = conn.open_uni().await.ok()?;
    write_frames(
        &mut send,
        &[hello_bytes(shared.me, shared.cfg.wire_version)],
    )
    .await
    .ok()?;
    Some(send)
}

async fn dial(
    shared: &Shared,
    endpoint: &quinn::Endpoint,
    peer: &PeerSpec,
) -> Option<(
    BufReader<quinn::RecvStream>,
    quinn::SendStream,
    quinn::Connection,
)> {
    let attempt = async {
        let conn = connect(endpoint, peer).await?;
        let exchange = async {
            let send = send_hello(shared, &conn).await?;
            let recv = conn.accept_uni().await.ok()?;
            let mut r = BufReader::with_capacity(256 << 10, recv);
            let hello = read_frame_at_most(&mut r, MAX_HELLO_FRAME_BYTES)
                .await
                .ok()?;
            Some((hello, r, send))
        };
        let Some((hello, r, send)) = exchange.await else {
            note_peer_close(shared, &conn, peer);
            return None;
        };
        let said = parse_hello(&hello);
        if let Some(h) = said {
            let who = format!("node {} at {}", peer.id, peer.address);
            if refuse_other_major(shared, &conn, &who, h.version) {
                return None;
            }
        }
        if said.map(|h| h.node) != Some(peer.id) {
            add(&shared.counters.refused_wrong_identity, 1);
            close(&conn, CLOSE_REFUSED, "wrong hello");
            return None;
        }
        // TLS checked that the certificate names the node dialled; it must
        // name no other node, and carry the peer's configured name.
        let chain = peer_chain(&conn).unwrap_or_default();
        let identity = shared.tls.verify_peer(&chain, Some(peer.id));
        if identity.is_ok() && shared.tls.verify_peer_name(&chain, &peer.name).is_err() {
            note_refusal(shared, wrong_name(peer.id, &peer.name));
        }
        if identity.is_err() || shared.tls.verify_peer_name(&chain, &peer.name).is_err() {
            add(&shared.counters.refused_wrong_identity, 1);
            close(
                &conn,
                CLOSE_REFUSED,
                "certificate does not name the node dialled",
            );
            return None;
        }
        Some((r, send, conn))
    };
    tokio::time::timeout(shared.cfg.idle_timeout * 2, attempt)
        .await
        .ok()
        .flatten()
}

/// Run a verified connection until it ends.
async fn serve(
    shared: Arc<Shared>,
    conn: quinn::Connection,
    peer: u16,
    mut recv: BufReader<quinn::RecvStream>,
    mut send: quinn::SendStream,
) {
    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Bytes>(shared.cfg.outbound_queue_frames.max(16));
    let queued = Arc::new(AtomicUsize::new(0));
    let old = shared.peers.lock().ok().and_then(|mut p| {
        p.insert(
            peer,
            PeerSlot {
                conn: id,
                tx,
                queued: queued.clone(),
                handle: conn.clone(),
                since: std::time::Instant::now(),
            },
        )
    });
    if let Some(old) = old {
        // A peer that restarted reconnects before its old connection
        // times out: the new one wins.
        close(&old.handle, CLOSE_REPLACED, "replaced");
    }
    // A member removed while this connection was being set up: the
    // removal looked for the slot before it existed, so close here.
    if !shared.members.lock().is_ok_and(|m| m.contains_key(&peer)) {
        close(&conn, CLOSE_REMOVED, "removed from the cluster");
    }
    add(&shared.counters.connections_up, 1);
    if shared
        .events
        .send(TransportEvent::Up { peer, conn: id })
        .await
        .is_err()
    {
        return;
    }
    // Counted from here until it ends (below): `Transport::link_stats`.
    if let Ok(mut links) = shared.links.lock() {
        links.live.insert(id, (peer, conn.clone()));
    }

    let counters = shared.counters.clone();
    let writer = async {
        let mut batch = Vec::with_capacity(256);
        while let Some(f) = rx.recv().await {
            batch.push(f);
            let mut bytes = batch[0].len();
            while bytes < (1 << 20) {
                match rx.try_recv() {
                    Ok(f) => {
                        bytes += f.len();
                        batch.push(f);
                    }
                    Err(_) => break,
                }
            }
            queued.fetch_sub(batch.iter().map(Bytes::len).sum(), Ordering::Relaxed);
            if write_frames(&mut send, &batch).await.is_err() {
                return "send stream closed".to_string();
            }
            add(&counters.frames_sent, batch.len() as u64);
            add(
                &counters.bytes_sent,
                batch.iter().map(|f| f.len() as u64).sum(),
            );
            batch.clear();
        }
        "queue closed".to_string()
    };
    let budget = Arc::new(tokio::sync::Semaphore::new(INBOUND_BUDGET_BYTES));
    let reader = async {
        loop {
            // The frame's bytes come out of the connection's budget before
            // anything is allocated for them; the reader waits while the
            // protocol has the whole budget unconsumed.
            let read = match read_len(&mut recv, MAX_FRAME_BYTES).await {
                Ok(len) => {
                    let n = u32::try_from(len).unwrap_or(u32::MAX);
                    let permit = match budget.clone().try_acquire_many_owned(n) {
                        Ok(p) => Ok(p),
                        Err(_) => {
                            add(&counters.inbound_budget_waits, 1);
                            budget.clone().acquire_many_owned(n).await
                        }
                    };
                    let Ok(permit) = permit else {
                        return "transport stopped".to_string();
                    };
                    read_body(&mut recv, len).await.map(|f| (f, permit))
                }
                Err(e) => Err(e),
            };
            match read {
                Ok((frame, permit)) => {
                    add(&counters.frames_received, 1);
                    add(&counters.bytes_received, frame.len() as u64);
                    let ev = TransportEvent::Frame {
                        peer,
                        conn: id,
                        frame,
                        budget: FrameBudget(Some(permit)),
                    };
                    if shared.events.send(ev).await.is_err() {
                        return "transport stopped".to_string();
                    }
                }
                Err(ReadFail::TooLarge(n)) => {
                    add(&counters.frames_too_large, 1);
                    close(&conn, CLOSE_BAD_FRAME, "frame too large");
                    return format!("peer sent a frame of {n} bytes");
                }
                Err(ReadFail::Closed(e)) => return e,
            }
        }
    };
    let rpcs = rpc::accept_rpcs(shared.clone(), conn.clone(), peer);
    let datagrams = async {
        loop {
            match conn.read_datagram().await {
                Ok(frame) => {
                    add(&counters.datagrams_received, 1);
                    let ev = TransportEvent::Datagram {
                        peer,
                        conn: id,
                        frame,
                    };
                    if shared.events.send(ev).await.is_err() {
                        return "transport stopped".to_string();
                    }
                }
                Err(e) => return e.to_string(),
            }
        }
    };
    let reason = tokio::select! {
        r = writer => r,
        r = reader => r,
        r = datagrams => r,
        r = rpcs => r,
        e = conn.closed() => e.to_string(),
    };
    if members::closed_as_removed(&conn) {
        members::told_removed(&shared, peer);
    }
    close(&conn, CLOSE_SHUTDOWN, "connection ended");
    let removed = !shared.members.lock().is_ok_and(|m| m.contains_key(&peer));
    if let Ok(mut links) = shared.links.lock() {
        links.live.remove(&id);
        // A removed member's totals go with it (`remove_peer`): kept, they
        // would come back under its id if it joined again, and its
        // counters would jump from zero to the old totals.
        if removed {
            links.ended.remove(&peer);
        } else {
            let e = links.ended.entry(peer).or_default();
            *e = e.plus(LinkStats::of(&conn));
        }
    }
    if let Ok(mut p) = shared.peers.lock()
        && p.get(&peer).is_some_and(|s| s.conn == id)
    {
        p.remove(&peer);
    }
    add(&shared.counters.connections_down, 1);
    let _ = shared
        .events
        .send(TransportEvent::Down {
            peer,
            conn: id,
            reason: peer_text(&reason),
            removed,
        })
        .await;
}

/// Most characters of a peer's words (a close reason) that a log line or
/// `show cluster` shows.
const MAX_PEER_TEXT_CHARS: usize = 256;

/// Text a peer chose (a QUIC close reason travels from it, up to a
/// datagram long), made safe for one log line: control characters and
/// anything but printable ASCII escaped (a newline would forge a line),
/// and cut to [`MAX_PEER_TEXT_CHARS`].
fn peer_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let shown: String = match c {
            ' '..='~' => c.to_string(),
            _ => c.escape_default().collect(),
        };
        if out.len() + shown.len() > MAX_PEER_TEXT_CHARS {
            out.push_str("...");
            break;
        }
        out.push_str(&shown);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_carries_node_and_both_version_numbers() {
        let v = WireVersion { major: 3, minor: 9 };
        let b = hello_bytes(0x0102, v);
        assert_eq!(&b[..], b"RSYN\x03\x01\x02\x09");
        assert_eq!(
            parse_hello(&b),
            Some(Hello {
                node: 0x0102,
                version: v
            })
        );
    }

    #[test]
    fn a_short_hello_is_minor_zero_and_anything_else_is_not_a_hello() {
        assert_eq!(
            parse_hello(b"RSYN\x01\x00\x07"),
            Some(Hello {
                node: 7,
                version: WireVersion { major: 1, minor: 0 }
            })
        );
        // A later minor may append; what follows is not ours to read.
        assert_eq!(
            parse_hello(b"RSYN\x01\x00\x07\x02more").map(|h| h.version),
            Some(WireVersion { major: 1, minor: 2 })
        );
        assert_eq!(parse_hello(b"RSYN\x01\x00"), None, "short");
        assert_eq!(parse_hello(b"RSYX\x01\x00\x07\x00"), None, "magic");
        assert_eq!(parse_hello(b""), None);
    }

    #[test]
    fn a_peers_words_are_escaped_and_bounded_for_one_log_line() {
        assert_eq!(peer_text("replaced (code 1)"), "replaced (code 1)");
        assert_eq!(
            peer_text("x\nWARN forged\u{1b}[2J\u{202e}"),
            "x\\nWARN forged\\u{1b}[2J\\u{202e}"
        );
        let long = peer_text(&"a".repeat(1000));
        assert_eq!(long.len(), MAX_PEER_TEXT_CHARS + 3);
        assert!(long.ends_with("..."));
    }

    #[test]
    fn a_version_refusal_names_both_versions() {
        let e = VersionRefused {
            ours: WireVersion { major: 1, minor: 0 },
            theirs: WireVersion { major: 2, minor: 3 },
        };
        assert_eq!(
            e.to_string(),
            "the peer speaks sync wire version 2.3 and this node 1.0: \
             major versions differ, so they cannot sync"
        );
        assert!(e.ours.compatible(WireVersion { major: 1, minor: 7 }));
        assert!(!e.ours.compatible(e.theirs));
    }
}
