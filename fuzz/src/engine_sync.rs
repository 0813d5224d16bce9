//! The `engine_sync` target: one clustered engine (node 1) fed frames
//! interleaved with what its peers send it — sync messages through the
//! wire decoder, acknowledgements of the inserts it waits on — and with
//! timers and changes of the cluster's state, all through
//! `Engine::handle`. Hold (a frame waits for a peer's state), defer (an
//! opening frame waits for the peers' ack), the merge of peers' states and
//! their refusal all run against the same table as the frames.
//!
//! Input, repeated until it ends (a truncated last body is cut to the bytes
//! present):
//!
//! ```text
//! [op: u8] [advance: u8] [len: u16 big-endian] [body: len bytes]
//! ```
//!
//! - `op` bits 5-7, the input ([`Op`]): 1 a sync message from a peer: the
//!   events of `body` if it decodes (with the cluster's wire decoder) as an
//!   `Events` or `BulkChunk` message, each an `Input::Sync`; 2 a peer's
//!   acknowledgement of one of the inserts this engine asked to have
//!   acknowledged (bits 0-4 pick it, counting back from the newest); 3 the
//!   timer (`Input::Timer`); 4 the cluster's state: ready with bit 0, bits
//!   1-2 peers up; 0 and 5-7 a frame, `body`, with bits 0-3 the `control`
//!   of `engine_process` (interface, checksum knowledge, unknown
//!   interface).
//! - `advance`: the clock step before the input, as in `engine_process`.
//!
//! The engine starts ready with one peer up, so hold and defer apply; it
//! has at most [`MAX_CONNS`] entries. After each input its effects are
//! drained and its next timeout asked for. It must never panic.

use std::collections::VecDeque;
use std::time::Duration;

use rampart_cluster::sync::wire::{self, Message};
use rampart_dataplane::engine::sync::SyncOut;
use rampart_dataplane::engine::{Effect, Handled, Input};
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::sync::{FlowState, Incarnation, SyncEvent};
use rampart_dataplane::trace::{
    Side, TcpModel, echo_frame, ip_frame, sctp_header, udp_frame, v4_pair,
};
use rampart_dataplane::{Engine, IfaceId, Instant, Verdict};

use crate::corpus::SeedFile;
use crate::flows::{PeerEngine, clustered_engine};
use crate::{UNKNOWN_IFACE, advance, decode_advance, decode_control, encode_record, records};

/// Where the seeds live, relative to `fuzz/`.
pub const DIR: &str = "corpus/engine_sync";
/// The fuzzed node.
pub const ME: u16 = 1;
/// Table bound of the fuzzed engine: small, so inputs can fill it.
pub const MAX_CONNS: usize = 64;
/// The clock at the start of every input (cluster time: entry times travel
/// between nodes).
pub const START: Instant = Instant::from_secs(1_700_000_000);
/// Inserts remembered for acknowledgement (the oldest is forgotten beyond).
pub const MAX_AWAITING: usize = 32;

/// One input kind: `op` bits 5-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A frame.
    Frame,
    /// A peer's sync message.
    Sync,
    /// A peer's acknowledgement.
    Ack,
    /// The timer.
    Timer,
    /// Ready and peers up.
    Cluster,
}

/// One decoded input.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// What happens.
    pub op: Op,
    /// `op` bits 0-4: frame control, ack index, cluster state.
    pub arg: u8,
    /// How far the clock moves before it.
    pub advance: Duration,
    /// The frame or the sync message.
    pub body: &'a [u8],
}

/// Decode an input into its steps.
pub fn steps(data: &[u8]) -> impl Iterator<Item = Step<'_>> {
    records(data).map(|(op, advance, body)| {
        let kind = match op >> 5 {
            1 => Op::Sync,
            2 => Op::Ack,
            3 => Op::Timer,
            4 => Op::Cluster,
            _ => Op::Frame,
        };
        Step {
            op: kind,
            arg: op & 0x1f,
            advance: decode_advance(advance),
            body,
        }
    })
}

/// Append one step to an input.
pub fn encode_step(out: &mut Vec<u8>, op: Op, arg: u8, advance: u8, body: &[u8]) {
    let kind: u8 = match op {
        Op::Frame => 0,
        Op::Sync => 1,
        Op::Ack => 2,
        Op::Timer => 3,
        Op::Cluster => 4,
    };
    encode_record(out, kind << 5 | (arg & 0x1f), advance, body);
}

/// The `control` bits of a frame from `ingress` (checksums verified).
pub fn frame_control(ingress: IfaceId) -> u8 {
    let iface = if ingress.0 > 1 { 0x08 } else { ingress.0 };
    iface | 2 << 1
}

/// Feed every step of `data` to one engine, calling `each` with what the
/// engine made of each input (a sync message gives one per event; a change
/// of the cluster's state none). The fuzz target's whole body.
pub fn run(data: &[u8], mut each: impl FnMut(Handled)) {
    let mut driver = Driver::new();
    for step in steps(data) {
        driver.step(&step, &mut each);
    }
}

/// Node 1's engine driven step by step, as [`run`] drives it.
#[derive(Debug)]
pub struct Driver {
    engine: Engine,
    now: Instant,
    buf: Vec<u8>,
    /// Inserts the engine asked to have acknowledged, oldest first.
    awaiting: VecDeque<(FlowKey, Incarnation)>,
    /// The effects of the last step.
    effects: Vec<Effect>,
}

impl Default for Driver {
    fn default() -> Self {
        Self::new()
    }
}

impl Driver {
    /// A fresh engine at [`START`], ready, one peer up.
    pub fn new() -> Self {
        let mut engine = clustered_engine(ME, MAX_CONNS);
        engine.set_ready(true);
        engine.set_peers_up(1);
        Driver {
            engine,
            now: START,
            buf: Vec::new(),
            awaiting: VecDeque::new(),
            effects: Vec::new(),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The clock as of the last step.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// What the engine asked of its shell in the last step.
    pub fn effects(&self) -> &[Effect] {
        &self.effects
    }

    /// Advance the clock and give the engine one input; then drain its
    /// effects and ask for its next timeout.
    pub fn step(&mut self, step: &Step<'_>, mut each: impl FnMut(Handled)) {
        self.now = advance(self.now, step.advance);
        let now = self.now;
        match step.op {
            Op::Frame => {
                let (ingress, meta) = decode_control(step.arg);
                self.buf.clear();
                self.buf.extend_from_slice(step.body);
                let input = Input::Frame {
                    frame: &mut self.buf,
                    meta,
                    ingress,
                };
                each(self.engine.handle(input, now));
            }
            Op::Sync => {
                let events = match wire::decode(step.body) {
                    Ok(Message::Events { events, .. }) => events,
                    Ok(Message::BulkChunk { flows, .. }) => {
                        flows.into_iter().map(SyncEvent::Upsert).collect()
                    }
                    _ => Vec::new(),
                };
                for event in &events {
                    each(self.engine.handle(Input::Sync(event), now));
                }
            }
            Op::Ack => {
                let n = self.awaiting.len();
                if n > 0 {
                    let (key, inc) = self.awaiting[n - 1 - usize::from(step.arg) % n];
                    each(self.engine.handle(Input::Acked { key, inc }, now));
                }
            }
            Op::Timer => each(self.engine.handle(Input::Timer, now)),
            Op::Cluster => {
                self.engine.set_ready(step.arg & 1 != 0);
                self.engine.set_peers_up(usize::from((step.arg >> 1) & 3));
            }
        }
        self.effects.clear();
        while let Some(effect) = self.engine.poll_effect(now) {
            if let Effect::FlowChanged(SyncOut {
                event: SyncEvent::Upsert(s),
                want_ack: true,
                ..
            }) = &effect
            {
                if self.awaiting.len() == MAX_AWAITING {
                    self.awaiting.pop_front();
                }
                self.awaiting.push_back((s.key, s.inc));
            }
            self.effects.push(effect);
        }
        std::hint::black_box(self.engine.poll_timeout(now));
    }
}

// === seeds ===

/// One seed with what the engine made of each input as the generator drove
/// it (the expected answers are the checked-in `.expect` file, not these).
#[derive(Debug)]
pub struct Seed {
    /// The file.
    pub file: SeedFile,
    /// The engine's answers, in order.
    pub handled: Vec<Handled>,
}

/// The clock step between ordinary inputs of a seed: 50 ms.
const TICK: u8 = 1;

/// Builds one seed: the fuzzed node 1 is the driver; node 2 is a real
/// engine whose sync events become node 1's sync messages, and which
/// learns node 1's events in turn.
struct Gen {
    driver: Driver,
    peer: PeerEngine,
    input: Vec<u8>,
    handled: Vec<Handled>,
}

impl Gen {
    fn new() -> Self {
        Gen {
            driver: Driver::new(),
            peer: PeerEngine::new(START),
            input: Vec::new(),
            handled: Vec::new(),
        }
    }

    fn step(&mut self, op: Op, arg: u8, advance: u8, body: &[u8]) -> Vec<Handled> {
        encode_step(&mut self.input, op, arg, advance, body);
        let step = Step {
            op,
            arg,
            advance: decode_advance(advance),
            body,
        };
        let mut out = Vec::new();
        self.driver.step(&step, |h| out.push(h));
        self.handled.extend(out.iter().copied());
        self.peer.now = self.driver.now();
        // Node 2 learns what node 1 tells its peers.
        for effect in self.driver.effects().to_vec() {
            if let Some(o) = effect.into_sync() {
                let now = self.peer.now;
                let _ = self.peer.engine_mut().apply_sync(&o.event, now);
            }
        }
        self.peer.drain();
        out
    }

    /// A frame at node 1; its verdict.
    fn frame(&mut self, frame: &[u8], ingress: IfaceId) -> Verdict {
        match self.step(Op::Frame, frame_control(ingress), TICK, frame)[..] {
            [Handled::Verdict(v)] => v,
            ref other => panic!("a frame gets one verdict: {other:?}"),
        }
    }

    /// A frame through node 2; its sync events reach node 1 as one
    /// `Events` message. Returns the frame as node 2 forwarded it.
    fn via_peer(&mut self, frame: &[u8], ingress: IfaceId) -> Vec<u8> {
        let (out, events) = self.peer.send(frame, ingress);
        if !events.is_empty() {
            self.sync(&events);
        }
        out
    }

    /// Node 2's events, as one message to node 1.
    fn sync(&mut self, events: &[SyncOut]) {
        let body = wire::encode(&Message::Events {
            passive: false,
            seq: 1,
            events: events.iter().map(|o| o.event).collect(),
        });
        self.step(Op::Sync, 0, 0, &body);
    }

    fn done(self, name: &str) -> Seed {
        Seed {
            file: SeedFile::new(format!("seed-{name}"), self.input),
            handled: self.handled,
        }
    }
}

fn tcp_model(port: u16) -> TcpModel {
    let (c, s) = v4_pair(port, 80);
    TcpModel::new(
        c,
        s,
        [3_000, 9_000_000],
        [64_240, 65_160],
        [Some(7), Some(7)],
    )
}

/// Open `m` through node 2 (client's SYN), learning node 2's shift.
fn open_via_peer(g: &mut Gen, m: &mut TcpModel) {
    let syn = m.syn();
    g.via_peer(&m.frame(&syn), m.iface(Side::Client));
    let entry = g
        .peer
        .engine()
        .find(&m.tuple(), g.peer.now)
        .expect("the SYN opened an entry on node 2");
    m.set_shift(entry.seq_offset);
}

fn is_forward(v: Verdict) -> bool {
    matches!(v, Verdict::Forward { .. })
}

/// Every seed, built afresh.
pub fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();

    // Asymmetric routing: the client's side goes through node 2, the
    // server's through node 1, which forwards on node 2's state; node 1's
    // own updates reach node 2.
    let mut g = Gen::new();
    let mut m = tcp_model(42_000);
    open_via_peer(&mut g, &mut m);
    let sa = m.syn_ack();
    assert!(is_forward(g.frame(&m.frame(&sa), m.iface(Side::Server))));
    for seg in [
        m.ack(Side::Client),
        m.data(Side::Client, 30),
        m.data(Side::Server, 50),
        m.fin(Side::Client),
        m.fin(Side::Server),
        m.ack(Side::Client),
    ] {
        if seg.from == Side::Client {
            g.via_peer(&m.frame(&seg), m.iface(Side::Client));
        } else {
            assert!(is_forward(g.frame(&m.frame(&seg), m.iface(Side::Server))));
        }
    }
    out.push(g.done("asymmetric-tcp"));

    // The SYN-ACK arrives before node 2's state: held, then released when
    // the state comes.
    let mut g = Gen::new();
    let mut m = tcp_model(42_001);
    let syn = m.syn();
    let (_, events) = g.peer.send(&m.frame(&syn), m.iface(Side::Client));
    let entry = g.peer.engine().find(&m.tuple(), g.peer.now).expect("open");
    m.set_shift(entry.seq_offset);
    let sa = m.syn_ack();
    assert_eq!(g.frame(&m.frame(&sa), m.iface(Side::Server)), Verdict::Hold);
    g.sync(&events);
    assert!(
        g.driver
            .effects()
            .iter()
            .any(|e| matches!(e, Effect::Release { .. })),
        "released"
    );
    out.push(g.done("hold-released"));

    // Held, and the state never comes: dropped at the hold deadline.
    let mut g = Gen::new();
    let mut m = tcp_model(42_002);
    m.handshake();
    let d = m.data(Side::Server, 20);
    assert_eq!(g.frame(&m.frame(&d), m.iface(Side::Server)), Verdict::Hold);
    g.step(Op::Timer, 0, 5, &[]);
    out.push(g.done("hold-timeout"));

    // Node 1 opens a flow: its SYN waits for node 2's ack.
    let mut g = Gen::new();
    let mut m = tcp_model(42_003);
    let syn = m.syn();
    assert_eq!(
        g.frame(&m.frame(&syn), m.iface(Side::Client)),
        Verdict::Hold
    );
    g.step(Op::Ack, 0, 0, &[]);
    let mut m2 = tcp_model(42_004);
    let syn2 = m2.syn();
    assert_eq!(
        g.frame(&m2.frame(&syn2), m2.iface(Side::Client)),
        Verdict::Hold
    );
    g.step(Op::Timer, 0, TICK, &[]);
    out.push(g.done("defer"));

    // UDP and echo flows of node 2 answered at node 1; then node 2 clears
    // them (deletes), and a late answer meets no state.
    let mut g = Gen::new();
    let (uc, us) = v4_pair(5353, 53);
    g.via_peer(&udp_frame(&uc, &us, b"query"), uc.iface);
    assert!(is_forward(
        g.frame(&udp_frame(&us, &uc, b"answer"), us.iface)
    ));
    let (pc, ps) = v4_pair(0, 0);
    g.via_peer(&echo_frame(&pc, &ps, 9, 1, false), pc.iface);
    assert!(is_forward(
        g.frame(&echo_frame(&ps, &pc, 9, 1, true), ps.iface)
    ));
    g.peer.engine_mut().clear_conns(|_| true);
    let deletes = g.peer.drain();
    g.sync(&deletes);
    g.frame(&udp_frame(&us, &uc, b"late"), us.iface);
    out.push(g.done("udp-echo-delete"));

    // A GRE flow and an SCTP association of node 2 answered at node 1
    // (synced as datagram flows under their protocol's key).
    let mut g = Gen::new();
    let (oc, os) = v4_pair(40_000, 2905);
    let gre = [0, 0, 0x08, 0, 0x45, 0, 0, 20];
    g.via_peer(&ip_frame(&oc, &os, 47, &gre), oc.iface);
    assert!(is_forward(
        g.frame(&ip_frame(&os, &oc, 47, &gre), os.iface)
    ));
    g.via_peer(&ip_frame(&oc, &os, 132, &sctp_header(&oc, &os)), oc.iface);
    assert!(is_forward(g.frame(
        &ip_frame(&os, &oc, 132, &sctp_header(&os, &oc)),
        os.iface
    )));
    out.push(g.done("other-protocols"));

    // A bulk chunk of node 2's table, then traffic on it; not ready and
    // ready again; node 2's flows expire on node 1's timer.
    let mut g = Gen::new();
    let mut m = tcp_model(42_005);
    open_via_peer(&mut g, &mut m);
    let (uc, us) = v4_pair(5354, 53);
    g.peer.send(&udp_frame(&uc, &us, b"q"), uc.iface);
    let mut table: Vec<FlowState> = Vec::new();
    let mut cursor = 0;
    let now = g.peer.now;
    g.peer
        .engine_mut()
        .bulk_chunk(&mut cursor, 64, now, &mut table);
    let body = wire::encode(&Message::BulkChunk {
        id: 1,
        flows: table,
    });
    g.step(Op::Sync, 0, TICK, &body);
    g.step(Op::Cluster, 0b010, TICK, &[]);
    let sa = m.syn_ack();
    g.frame(&m.frame(&sa), m.iface(Side::Server));
    g.step(Op::Cluster, 0b011, TICK, &[]);
    g.frame(&m.frame(&sa), m.iface(Side::Server));
    g.step(Op::Timer, 0, 0x80 | 61, &[]);
    out.push(g.done("bulk-ready-expiry"));

    // Alone (no peer up): nothing waits; an unknown interface.
    let mut g = Gen::new();
    g.step(Op::Cluster, 0b001, TICK, &[]);
    let mut m = tcp_model(42_006);
    let syn = m.syn();
    assert!(is_forward(g.frame(&m.frame(&syn), m.iface(Side::Client))));
    g.frame(&syn_frame_copy(&m), UNKNOWN_IFACE);
    out.push(g.done("alone"));

    out
}

/// The model's SYN again (for a frame on an unknown interface).
fn syn_frame_copy(m: &TcpModel) -> Vec<u8> {
    let mut m = m.clone();
    let syn = m.syn();
    m.frame(&syn)
}
