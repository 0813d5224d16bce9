//! The `sync_frame` target: one node's sync protocol (node 1, knowing peers
//! 2 and 3) fed its peers' frames and datagrams through the wire decoder,
//! interleaved with every other input the QUIC shell gives it —
//! connections coming up and going down, the local engine's events, bulk
//! dumps it asked for, declared losses and time — so the handshake, resend,
//! gap, bulk and readiness state machines run, not just the decoder.
//!
//! Input, repeated until it ends (a truncated last body is cut to the bytes
//! present):
//!
//! ```text
//! [op: u8] [advance: u8] [len: u16 big-endian] [body: len bytes]
//! ```
//!
//! - `op` bits 0-2, the input ([`Op`]): 0 a frame from the peer
//!   (`on_frame`), 1 a datagram (`on_datagram`), 2 the peer's connection
//!   comes up (a new connection id), 3 it goes down, 4 local events: the
//!   events of `body` if it decodes as an `Events` message, pushed as the
//!   engine's, then a flush, 5 the timer (`handle_timeout`), 6 an answer to
//!   the oldest bulk dump the protocol asked for, with the flows of `body`
//!   if it decodes as a `BulkChunk` message, 7 a declared local loss.
//! - `op` bits 3-4, the peer: 0 and 3 node 2, 1 node 3, 2 node 9 (not a
//!   peer). Bit 5: the peer's previous connection id instead of its current
//!   one (a connection already replaced). Bit 6: local events want an ack;
//!   a bulk answer is the last chunk. Bit 7 unused.
//! - `advance`: the clock step before the input, as in `engine_process`
//!   (`× 50 ms`, or minutes with bit 7 set).
//!
//! Batches hold at most [`BATCH_MAX_EVENTS`] events and the resend buffer
//! [`RESEND_MAX_EVENTS`], so inputs reach chunking and overflow. The
//! protocol must never panic; refusing a frame is an answer, not a crash.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rampart_cluster::sync::protocol::FrameError;
use rampart_cluster::sync::wire::{self, Message, Resume};
use rampart_cluster::sync::{Output, Protocol, ProtocolConfig};
use rampart_dataplane::Instant;
use rampart_dataplane::engine::sync::{EventKind, SyncOut};
use rampart_dataplane::sync::{FlowState, SyncEvent};

use crate::corpus::SeedFile;
use crate::flows::sample_events;
use crate::{advance, decode_advance, encode_record, records};

/// Where the seeds live, relative to `fuzz/`.
pub const DIR: &str = "corpus/sync_frame";
/// The fuzzed node.
pub const ME: u16 = 1;
/// The node's peers.
pub const PEERS: [u16; 2] = [2, 3];
/// A node that is not a peer.
pub const STRANGER: u16 = 9;
/// The fuzzed node's session.
pub const SESSION: u64 = 0x5eed_0001;
/// The clock at the start of every input (cluster time).
pub const START: Instant = Instant::from_secs(1_700_000_000);
/// Events per batch: small, so a flush makes several.
pub const BATCH_MAX_EVENTS: usize = 4;
/// Events kept for resend per peer: small, so it overflows.
pub const RESEND_MAX_EVENTS: usize = 16;
/// Bulk dumps remembered for answers (the oldest is forgotten beyond).
pub const MAX_PENDING_DUMPS: usize = 16;

/// One input kind: `op` bits 0-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A frame from the peer.
    Frame = 0,
    /// A datagram from the peer.
    Datagram = 1,
    /// The peer's connection comes up.
    PeerUp = 2,
    /// The peer's connection goes down.
    PeerDown = 3,
    /// Local events, then a flush.
    Local = 4,
    /// The timer.
    Timer = 5,
    /// A chunk of the oldest bulk dump asked for.
    BulkAnswer = 6,
    /// A declared local loss.
    Loss = 7,
}

impl Op {
    const ALL: [Op; 8] = [
        Op::Frame,
        Op::Datagram,
        Op::PeerUp,
        Op::PeerDown,
        Op::Local,
        Op::Timer,
        Op::BulkAnswer,
        Op::Loss,
    ];
}

/// One decoded input.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// What happens.
    pub op: Op,
    /// To or from which node.
    pub peer: u16,
    /// On the peer's previous connection.
    pub stale: bool,
    /// Want an ack (local events), last chunk (bulk answer).
    pub flag: bool,
    /// How far the clock moves before it.
    pub advance: Duration,
    /// The frame, or the message carrying events or flows.
    pub body: &'a [u8],
}

/// Decode an input into its steps.
pub fn steps(data: &[u8]) -> impl Iterator<Item = Step<'_>> {
    records(data).map(|(op, advance, body)| {
        let peer = match (op >> 3) & 3 {
            1 => PEERS[1],
            2 => STRANGER,
            _ => PEERS[0],
        };
        Step {
            op: Op::ALL[usize::from(op & 7)],
            peer,
            stale: op & 0x20 != 0,
            flag: op & 0x40 != 0,
            advance: decode_advance(advance),
            body,
        }
    })
}

/// Append one step to an input.
pub fn encode_step(out: &mut Vec<u8>, step: &Step<'_>, advance: u8) {
    let peer = match step.peer {
        p if p == PEERS[1] => 1,
        STRANGER => 2,
        _ => 0,
    };
    let op = step.op as u8 | peer << 3 | u8::from(step.stale) << 5 | u8::from(step.flag) << 6;
    encode_record(out, op, advance, step.body);
}

/// What one step did: a frame's or datagram's acceptance, `None` for the
/// other inputs.
pub type Outcome = Option<Result<(), FrameError>>;

/// The protocol settings of the fuzzed node.
pub fn config() -> ProtocolConfig {
    ProtocolConfig {
        batch_max_events: BATCH_MAX_EVENTS,
        resend_max_events: RESEND_MAX_EVENTS,
        // The seeds bring up one of the two peers and expect its table at
        // once; the wait for the other (`bulk_settle`) has its own test in
        // the protocol's.
        bulk_settle: Duration::ZERO,
        ..ProtocolConfig::default()
    }
}

/// Feed every step of `data` to one protocol, calling `each` with each
/// step's outcome. The fuzz target's whole body.
pub fn run(data: &[u8], mut each: impl FnMut(Outcome)) {
    let mut driver = Driver::new();
    for step in steps(data) {
        each(driver.step(&step));
    }
}

/// Node 1's protocol driven step by step, as [`run`] drives it.
#[derive(Debug)]
pub struct Driver {
    proto: Protocol,
    now: Instant,
    /// Each peer's current connection id.
    conns: BTreeMap<u16, u64>,
    last_conn: u64,
    /// Bulk dumps asked for and not yet answered in full: (peer, id).
    dumps: VecDeque<(u16, u64)>,
    /// Flows sent so far in answer to the oldest dump.
    dumped: u64,
    /// The outputs of the last step.
    outputs: Vec<Output>,
}

impl Default for Driver {
    fn default() -> Self {
        Self::new()
    }
}

impl Driver {
    /// A fresh node at [`START`], no peer connected.
    pub fn new() -> Self {
        let mut nodes = vec![ME];
        nodes.extend(PEERS);
        Driver {
            proto: Protocol::new(ME, SESSION, &nodes, config(), START),
            now: START,
            conns: BTreeMap::new(),
            last_conn: 0,
            dumps: VecDeque::new(),
            dumped: 0,
            outputs: Vec::new(),
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> &Protocol {
        &self.proto
    }

    /// The clock as of the last step.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// `peer`'s current connection id (0: it never had one).
    pub fn conn(&self, peer: u16) -> u64 {
        self.conns.get(&peer).copied().unwrap_or(0)
    }

    /// What the protocol asked for in the last step.
    pub fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    /// Advance the clock and give the protocol one input; then drain its
    /// outputs and ask for its next timeout.
    pub fn step(&mut self, step: &Step<'_>) -> Outcome {
        self.now = advance(self.now, step.advance);
        let now = self.now;
        let current = self.conn(step.peer);
        let conn = if step.stale {
            current.saturating_sub(1)
        } else {
            current
        };
        let outcome = match step.op {
            Op::Frame => Some(self.proto.on_frame(step.peer, conn, step.body, now)),
            Op::Datagram => Some(self.proto.on_datagram(step.peer, conn, step.body, now)),
            Op::PeerUp => {
                self.last_conn += 1;
                self.conns.insert(step.peer, self.last_conn);
                self.proto.on_peer_up(step.peer, self.last_conn, now);
                None
            }
            Op::PeerDown => {
                self.proto.on_peer_down(step.peer, conn, now);
                None
            }
            Op::Local => {
                if let Ok(Message::Events { events, .. }) = wire::decode(step.body) {
                    let local: Vec<SyncOut> = events
                        .into_iter()
                        .map(|event| local_event(event, step.flag))
                        .collect();
                    self.proto.push_events(&local);
                }
                self.proto.flush(now);
                None
            }
            Op::Timer => {
                self.proto.handle_timeout(now);
                None
            }
            Op::BulkAnswer => {
                if let Some(&(peer, id)) = self.dumps.front() {
                    let flows = match wire::decode(step.body) {
                        Ok(Message::BulkChunk { flows, .. }) => flows,
                        _ => Vec::new(),
                    };
                    self.dumped = self.dumped.saturating_add(flows.len() as u64);
                    self.proto.bulk_out(peer, id, flows, step.flag, self.dumped);
                    if step.flag {
                        self.dumps.pop_front();
                        self.dumped = 0;
                    }
                }
                None
            }
            Op::Loss => {
                self.proto.declare_loss();
                None
            }
        };
        self.outputs.clear();
        while let Some(o) = self.proto.poll_output() {
            if let Output::BulkDump { peer, id, .. } = o {
                if self.dumps.len() == MAX_PENDING_DUMPS {
                    self.dumps.pop_front();
                    self.dumped = 0;
                }
                self.dumps.push_back((peer, id));
            }
            self.outputs.push(o);
        }
        std::hint::black_box(self.proto.poll_timeout());
        std::hint::black_box(self.proto.counters());
        outcome
    }
}

/// An event as the local engine would hand it over.
fn local_event(event: SyncEvent, want_ack: bool) -> SyncOut {
    let (kind, want_ack) = match event {
        SyncEvent::Upsert(_) => (EventKind::Insert, want_ack),
        SyncEvent::Delete { .. } => (EventKind::Delete, false),
        SyncEvent::Demote { .. } => (EventKind::Update, false),
    };
    SyncOut {
        event,
        kind,
        want_ack,
        // The fuzzed pair: every event goes to the other node whole.
        full: rampart_dataplane::sync::PeerSet(0b110),
        passive: rampart_dataplane::sync::PeerSet::EMPTY,
    }
}

// === seeds ===

/// One seed with the outcome of each step as the generator drove the
/// protocol (the expected outcomes are the checked-in `.expect` file, not
/// these).
#[derive(Debug)]
pub struct Seed {
    /// The file.
    pub file: SeedFile,
    /// Each step's outcome.
    pub outcomes: Vec<Outcome>,
}

/// The clock step between ordinary inputs of a seed: 50 ms.
const TICK: u8 = 1;

/// Builds one seed: the fuzzed node 1 is the driver; node 2 is a real
/// protocol whose frames become the input, answered by what node 1 sends.
struct Gen {
    driver: Driver,
    peer: Protocol,
    /// Node 2's table, answered to its bulk dumps.
    table: Vec<FlowState>,
    input: Vec<u8>,
    outcomes: Vec<Outcome>,
    /// Frames and datagrams node 2 sent, not yet delivered.
    in_flight: VecDeque<(Op, bytes::Bytes)>,
}

impl Gen {
    fn new() -> Self {
        Self::with_peer_config(config())
    }

    fn with_peer_config(cfg: ProtocolConfig) -> Self {
        let table = sample_events(START)
            .into_iter()
            .filter_map(|o| match o.event {
                SyncEvent::Upsert(s) => Some(s),
                SyncEvent::Delete { .. } | SyncEvent::Demote { .. } => None,
            })
            .collect();
        Gen {
            driver: Driver::new(),
            peer: Protocol::new(PEERS[0], 0x5eed_0002, &[ME, PEERS[0]], cfg, START),
            table,
            input: Vec::new(),
            outcomes: Vec::new(),
            in_flight: VecDeque::new(),
        }
    }

    /// One step of node 1, its outputs for node 2 delivered at once.
    fn step(&mut self, op: Op, peer: u16, flag: bool, advance: u8, body: &[u8]) -> Outcome {
        let step = Step {
            op,
            peer,
            stale: false,
            flag,
            advance: decode_advance(advance),
            body,
        };
        encode_step(&mut self.input, &step, advance);
        let outcome = self.driver.step(&step);
        self.outcomes.push(outcome.clone());
        let now = self.driver.now();
        let conn = self.driver.conn(PEERS[0]);
        // As the transport does: only what is meant for the current
        // connection is sent on it (docs/sync.md §5).
        for o in self.driver.outputs().to_vec() {
            match o {
                Output::Send { peer, conn: c, frame } if peer == PEERS[0] && c == conn => {
                    self.peer
                        .on_frame(ME, conn, &frame, now)
                        .expect("node 2 accepts node 1's frames");
                }
                Output::Datagram { peer, conn: c, frame } if peer == PEERS[0] && c == conn => {
                    self.peer
                        .on_datagram(ME, conn, &frame, now)
                        .expect("node 2 accepts node 1's datagrams");
                }
                _ => {}
            }
        }
        self.pump_peer();
        outcome
    }

    /// Node 2's outputs: frames in flight to node 1, dumps answered.
    fn pump_peer(&mut self) {
        while let Some(o) = self.peer.poll_output() {
            match o {
                Output::Send { frame, .. } => self.in_flight.push_back((Op::Frame, frame)),
                Output::Datagram { frame, .. } => self.in_flight.push_back((Op::Datagram, frame)),
                Output::BulkDump { peer, id, .. } => {
                    let n = self.table.len() as u64;
                    self.peer.bulk_out(peer, id, self.table.clone(), true, n);
                }
                _ => {}
            }
        }
    }

    /// Deliver node 2's frames (datagrams too unless `datagrams` is off),
    /// answer node 1's bulk dumps with node 1's own small table, until
    /// nothing moves.
    fn settle(&mut self, datagrams: bool) {
        for _ in 0..100 {
            let mut moved = false;
            while let Some((op, frame)) = self.in_flight.pop_front() {
                if op == Op::Datagram && !datagrams {
                    continue;
                }
                moved = true;
                let outcome = self.step(op, PEERS[0], false, 0, &frame);
                assert_eq!(outcome, Some(Ok(())), "node 1 accepts node 2's {op:?}");
            }
            if !self.driver.dumps.is_empty() {
                moved = true;
                let chunk = wire::encode(&Message::BulkChunk {
                    id: 0,
                    flows: self.table[..1].to_vec(),
                });
                self.step(Op::BulkAnswer, PEERS[0], true, 0, &chunk);
            }
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// Both ends of a new connection come up (node 2's first, so that it
    /// hears node 1's Hello), then everything settles.
    fn connect(&mut self) {
        let conn = self.driver.last_conn + 1;
        self.peer.on_peer_up(ME, conn, self.driver.now());
        self.pump_peer();
        self.step(Op::PeerUp, PEERS[0], false, 0, &[]);
        self.settle(true);
    }

    fn cut(&mut self) {
        self.step(Op::PeerDown, PEERS[0], false, TICK, &[]);
        let conn = self.driver.conn(PEERS[0]);
        self.peer.on_peer_down(ME, conn, self.driver.now());
        self.in_flight.clear();
        self.pump_peer();
    }

    /// Node 2's engine reports `events`; flushed to node 1.
    fn peer_events(&mut self, events: &[SyncOut]) {
        self.peer.push_events(events);
        self.peer.flush(self.driver.now());
        self.pump_peer();
    }

    /// Node 1's engine reports events (as an `Events` message body).
    fn local_events(&mut self, events: &[SyncOut], want_ack: bool) {
        let body = wire::encode(&Message::Events {
            passive: false,
            seq: 0,
            events: events.iter().map(|o| o.event).collect(),
        });
        self.step(Op::Local, ME, want_ack, TICK, &body);
    }

    fn done(self, name: &str) -> Seed {
        Seed {
            file: SeedFile::new(format!("seed-{name}"), self.input),
            outcomes: self.outcomes,
        }
    }
}

/// Every seed, built afresh.
pub fn seeds() -> Vec<Seed> {
    let events = sample_events(START);
    let mut out = Vec::new();

    // Hello both ways, each side's table in bulk, ready.
    let mut g = Gen::new();
    g.connect();
    assert!(g.driver.protocol().is_ready(), "ready after the bulk");
    out.push(g.done("join"));

    // Events both ways, as stream frames and datagrams; acks release the
    // inserts that wait for them.
    let mut g = Gen::new();
    g.connect();
    g.peer_events(&events);
    g.settle(true);
    g.local_events(&events[..3], true);
    g.settle(true);
    out.push(g.done("events"));

    // Only the stream copies: no datagram arrives.
    let mut g = Gen::new();
    g.connect();
    g.peer_events(&events[..2]);
    g.settle(false);
    out.push(g.done("events-stream-only"));

    // The connection dies with batches in flight; the next one resends
    // them, and what node 1 sent while down.
    let mut g = Gen::new();
    g.connect();
    g.peer_events(&events[..2]);
    g.local_events(&events[2..4], false);
    g.cut();
    g.local_events(&events[4..5], false);
    g.connect();
    out.push(g.done("reconnect-resend"));

    // Node 2's resend buffer overflows while down: node 1 sees a gap and
    // asks for node 2's table.
    let mut g = Gen::with_peer_config(ProtocolConfig {
        resend_max_events: 2,
        batch_max_events: 1,
        ..config()
    });
    g.connect();
    g.cut();
    g.peer_events(&events);
    g.connect();
    assert!(g.driver.protocol().counters().gaps > 0, "a gap");
    out.push(g.done("gap-bulk"));

    // Node 1's own loss: node 2 sees the gap in node 1's numbers.
    let mut g = Gen::new();
    g.connect();
    g.step(Op::Loss, ME, false, TICK, &[]);
    g.local_events(&events[..1], false);
    g.settle(true);
    out.push(g.done("local-loss"));

    // Alone past the join timeout (3 s), then the peer comes.
    let mut g = Gen::new();
    g.step(Op::Timer, ME, false, 61, &[]);
    assert!(g.driver.protocol().is_ready(), "ready alone");
    g.connect();
    out.push(g.done("alone-then-join"));

    // Stopped past `stall_after` (6.35 s): not ready, bulk, ready again.
    let mut g = Gen::new();
    g.connect();
    g.step(Op::Timer, ME, false, 127, &[]);
    g.settle(true);
    assert!(g.driver.protocol().counters().stalls > 0, "a stall");
    out.push(g.done("stall"));

    // A bulk that is never answered times out (30 s) and is asked again;
    // datagram copies of an unacked batch go out again meanwhile.
    let mut g = Gen::new();
    g.step(Op::PeerUp, PEERS[0], false, TICK, &[]);
    let hello = wire::encode(&Message::Hello {
        node: PEERS[0],
        session: 0x5eed_0002,
        resume: None,
    });
    g.step(Op::Frame, PEERS[0], false, TICK, &hello);
    g.local_events(&events[..1], true);
    for _ in 0..3 {
        g.step(Op::Timer, ME, false, TICK, &[]);
    }
    g.step(Op::Timer, ME, false, 0x80 | 1, &[]);
    out.push(g.done("bulk-timeout"));

    // Node 3 too: a hello resuming a stream node 1 never had, then gone.
    let mut g = Gen::new();
    g.connect();
    g.step(Op::PeerUp, PEERS[1], false, TICK, &[]);
    let hello3 = wire::encode(&Message::Hello {
        node: PEERS[1],
        session: 0x5eed_0003,
        resume: Some(Resume {
            session: SESSION,
            next: 4,
        }),
    });
    g.step(Op::Frame, PEERS[1], false, TICK, &hello3);
    g.step(Op::PeerDown, PEERS[1], false, TICK, &[]);
    out.push(g.done("second-peer"));

    // The least that reaches a batch numbered u64::MAX (only a forged one
    // gets there), which once overflowed the number expected next: the
    // connection, node 2's Hello, the batch (now refused: the peer is
    // dropped).
    let mut g = Gen::new();
    g.step(Op::PeerUp, PEERS[0], false, 0, &[]);
    g.step(Op::Frame, PEERS[0], false, 0, &hello);
    let forged = wire::encode(&Message::Events {
        passive: false,
        seq: u64::MAX,
        events: vec![events[0].event],
    });
    g.step(Op::Frame, PEERS[0], false, 0, &forged);
    out.push(g.done("batch-u64-max"));

    // Refusals: garbage, another wire version, a message before Hello, a
    // Hello naming another node, a stranger, a datagram that is no batch.
    let mut g = Gen::new();
    g.step(Op::PeerUp, PEERS[0], false, TICK, &[]);
    let ack = wire::encode(&Message::Ack { seq: 1 });
    g.step(Op::Frame, PEERS[0], false, TICK, b"\x01\xff\xff");
    g.step(Op::Frame, PEERS[0], false, TICK, b"\x02\x00");
    g.step(Op::Frame, PEERS[0], false, TICK, &ack);
    g.step(Op::Frame, PEERS[0], false, TICK, &hello3);
    g.step(Op::Frame, STRANGER, false, TICK, &ack);
    g.step(Op::Frame, PEERS[0], false, TICK, &hello);
    g.step(Op::Datagram, PEERS[0], false, TICK, &ack);
    out.push(g.done("refused"));

    out
}
