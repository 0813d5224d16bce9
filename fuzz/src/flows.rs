//! Real sync events for the seeds of `sync_frame` and `engine_sync`: a
//! peer's engine (node 2) judges real frames of the trace models and says
//! what it would tell its peers.

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::engine::sync::{SyncConfig, SyncOut};
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{Side, TcpModel, echo_frame, udp_frame, v4_pair};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant};

/// The node the sample events come from.
pub const PEER: u16 = 2;

/// A clustered engine: `node`, the inside/outside pair, sync on with its
/// default deadlines, at most `max_conns` entries.
pub fn clustered_engine(node: u16, max_conns: usize) -> Engine {
    let mut cfg = EngineConfig::inside_outside(NodeId(node), [7, 7, 7, u64::from(node)]);
    cfg.max_conns = max_conns;
    cfg.sync = Some(SyncConfig::default());
    let mut engine = Engine::new(cfg).expect("the inside/outside pair is a valid config");
    crate::inspect_icmp(&mut engine);
    engine
}

/// The engine of node [`PEER`] with nothing to wait for: ready, no peer up
/// (so it neither holds nor defers).
pub struct PeerEngine {
    engine: Engine,
    /// The clock.
    pub now: Instant,
}

impl PeerEngine {
    /// A fresh peer at `now`.
    pub fn new(now: Instant) -> Self {
        let mut engine = clustered_engine(PEER, 64);
        engine.set_ready(true);
        engine.set_peers_up(0);
        // The pair of nodes 1 and 2, keeping two copies: every event goes
        // to the other node whole.
        engine.set_placement(rampart_dataplane::placement::Placement::new([1, PEER], 2));
        PeerEngine { engine, now }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, to clear connections or apply node 1's events.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Judge `frame` (checksums verified); return it as forwarded and the
    /// sync events it caused.
    pub fn send(&mut self, frame: &[u8], ingress: IfaceId) -> (Vec<u8>, Vec<SyncOut>) {
        let mut buf = frame.to_vec();
        let meta = PacketMeta {
            checksum: rampart_dataplane::packet::ChecksumState::Verified,
            ..PacketMeta::default()
        };
        self.engine.process(&mut buf, meta, ingress, self.now);
        (buf, self.drain())
    }

    /// The sync events waiting in the engine.
    pub fn drain(&mut self) -> Vec<SyncOut> {
        let mut out = Vec::new();
        while let Some(e) = self.engine.poll_effect(self.now) {
            out.extend(e.into_sync());
        }
        out
    }
}

/// Sample events of node [`PEER`] at `now`: a TCP connection opened,
/// carrying data and closed; a UDP flow; an ICMP echo.
pub fn sample_events(now: Instant) -> Vec<SyncOut> {
    let mut peer = PeerEngine::new(now);
    let mut out = Vec::new();
    let (c, s) = v4_pair(41_000, 443);
    let mut m = TcpModel::new(c, s, [10, 20], [64_240, 65_160], [Some(7), Some(7)]);
    let syn = m.syn();
    out.extend(peer.send(&m.frame(&syn), m.iface(Side::Client)).1);
    let entry = peer
        .engine
        .find(&m.tuple(), now)
        .expect("the SYN opened an entry");
    m.set_shift(entry.seq_offset);
    for seg in [
        m.syn_ack(),
        m.ack(Side::Client),
        m.data(Side::Client, 30),
        m.fin(Side::Client),
        m.fin(Side::Server),
        m.ack(Side::Client),
    ] {
        out.extend(peer.send(&m.frame(&seg), m.iface(seg.from)).1);
    }
    let (uc, us) = v4_pair(5353, 53);
    out.extend(peer.send(&udp_frame(&uc, &us, b"query"), uc.iface).1);
    out.extend(peer.send(&udp_frame(&us, &uc, b"answer"), us.iface).1);
    let (pc, ps) = v4_pair(0, 0);
    out.extend(peer.send(&echo_frame(&pc, &ps, 9, 1, false), pc.iface).1);
    out
}
