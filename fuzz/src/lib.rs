//! The fuzz targets' input formats, their drivers and their seed corpora.
//! Each target's `fuzz_targets/<target>.rs` is one call to its driver here,
//! so `cargo test` replays the checked-in seeds through exactly the code the
//! fuzzer runs. [`corpus`] lists every target with its seeds.
//!
//! | target | module | what it feeds |
//! | --- | --- | --- |
//! | `engine_process` | this file, [`seeds`] | frames to one engine |
//! | `engine_sync` | [`engine_sync`] | frames, peers' sync messages, acks and timers to one clustered engine |
//! | `sync_frame` | [`sync_frame`] | peers' frames, connections, local events and timers to one node's sync protocol |
//! | `raft_codec` | [`raft_codec`] | bytes to the Raft RPC and log codec, with a round trip |
//! | `policy_parse` | [`policy_parse`] | ASA configuration text to the parser, then the compiler |
//! | `node_config` | [`node_config`] | TOML text to the node configuration loader |
//!
//! # `engine_process`
//!
//! Input, repeated until the input ends (a truncated last frame is cut to
//! the bytes present):
//!
//! ```text
//! [control: u8] [advance: u8] [len: u16 big-endian] [frame: len bytes]
//! ```
//!
//! - `control` bit 0: ingress interface (0 inside, 1 outside); bits 1-2:
//!   checksum knowledge (0 unverified, 1 partial, 2-3 verified); bit 3: an
//!   unknown interface (index 7) instead; bits 4-7 unused.
//! - `advance`: how far the clock moves before the frame: with bit 7 clear,
//!   `advance × 50 ms` (up to 6.35 s, around the embryonic, UDP and ICMP
//!   timeouts); with bit 7 set, `(advance & 0x7f)` minutes (up to 127 min,
//!   past the 1 h TCP idle timeout).
//!
//! All frames go to one engine (the `inside_outside` pair, sequence
//! randomization on as the ASA default, at most [`MAX_CONNS`] entries so the
//! table-full paths are reachable); after each frame the driver runs the
//! expiry sweep, drains the effects and asks for the next timeout. The
//! engine must never panic.

use std::time::Duration;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::{ChecksumState, PacketMeta};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant, Verdict};

pub mod corpus;
pub mod engine_sync;
pub mod flows;
pub mod node_config;
pub mod policy_parse;
pub mod raft_codec;
pub mod seeds;
pub mod sync_frame;

/// Table bound of the fuzzed engine: small, so inputs can fill it.
pub const MAX_CONNS: usize = 64;
/// The clock at the start of every input.
pub const START: Instant = Instant::from_secs(1);
/// Bytes before each frame: control, advance, length.
pub const STEP_HEADER_LEN: usize = 4;
/// The interface index bit 3 of `control` selects: not configured.
pub const UNKNOWN_IFACE: IfaceId = IfaceId(7);

/// One decoded frame of an input.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// The frame bytes.
    pub frame: &'a [u8],
    /// Where it arrives.
    pub ingress: IfaceId,
    /// What the I/O layer claims about its checksums.
    pub meta: PacketMeta,
    /// How far the clock moves before it.
    pub advance: Duration,
}

/// The records every target's input is made of: a control byte, an
/// `advance` byte, a big-endian 16-bit length and that many bytes of body
/// (a truncated last body is cut to the bytes present).
pub fn records(data: &[u8]) -> impl Iterator<Item = (u8, u8, &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let [control, advance, hi, lo, tail @ ..] = rest else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (body, after) = tail.split_at(len);
        rest = after;
        Some((*control, *advance, body))
    })
}

/// Decode an input into its steps.
pub fn steps(data: &[u8]) -> impl Iterator<Item = Step<'_>> {
    records(data).map(|(control, advance, frame)| {
        let (ingress, meta) = decode_control(control);
        Step {
            frame,
            ingress,
            meta,
            advance: decode_advance(advance),
        }
    })
}

/// Where a frame arrives and what its checksums are said to be, from a
/// control byte (bit 0: interface, bits 1-2: checksum state, bit 3: an
/// unconfigured interface).
pub fn decode_control(control: u8) -> (IfaceId, PacketMeta) {
    let ingress = if control & 0x08 != 0 {
        UNKNOWN_IFACE
    } else {
        IfaceId(control & 1)
    };
    let checksum = match (control >> 1) & 3 {
        0 => ChecksumState::Unverified,
        1 => ChecksumState::Partial,
        _ => ChecksumState::Verified,
    };
    let meta = PacketMeta {
        checksum,
        ..PacketMeta::default()
    };
    (ingress, meta)
}

/// The clock step an `advance` byte encodes.
pub fn decode_advance(advance: u8) -> Duration {
    if advance & 0x80 == 0 {
        Duration::from_millis(u64::from(advance) * 50)
    } else {
        Duration::from_secs(u64::from(advance & 0x7f) * 60)
    }
}

/// Append one step to an input.
pub fn encode_step(
    out: &mut Vec<u8>,
    frame: &[u8],
    ingress: IfaceId,
    checksum: ChecksumState,
    advance: u8,
) {
    let control = if ingress.0 > 1 { 0x08 } else { ingress.0 }
        | match checksum {
            ChecksumState::Unverified => 0,
            ChecksumState::Partial => 1 << 1,
            ChecksumState::Verified => 2 << 1,
        };
    encode_record(out, control, advance, frame);
}

/// Append one record (see [`records`]).
pub fn encode_record(out: &mut Vec<u8>, control: u8, advance: u8, body: &[u8]) {
    let len = u16::try_from(body.len()).expect("a body fits the length field");
    out.extend_from_slice(&[control, advance]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
}

/// The engine every input runs against.
pub fn engine() -> Engine {
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    cfg.max_conns = MAX_CONNS;
    let mut engine = Engine::new(cfg).expect("the inside/outside pair is a valid config");
    inspect_icmp(&mut engine);
    engine
}

/// Give `engine` the policy of `inspect icmp` and `inspect icmp error`
/// (the ASA's default ICMP handling is stateless): the stateful ICMP code
/// is then reached, as on most sites.
pub fn inspect_icmp(engine: &mut Engine) {
    use rampart_dataplane::policy::compile;
    let mut cfg = rampart_dataplane::policy::ast::Config::default();
    compile::inspect_icmp(&mut cfg);
    let policy = compile::compile(&cfg, &engine.config().interfaces)
        .expect("an ICMP inspection policy compiles");
    engine
        .set_policy(std::sync::Arc::new(policy))
        .expect("the policy's classes fit");
}

/// Feed every step of `data` to one engine, calling `each` with each
/// verdict. The fuzz target's whole body.
pub fn run(data: &[u8], mut each: impl FnMut(Verdict)) {
    let mut driver = Driver::new();
    for step in steps(data) {
        each(driver.step(&step));
    }
}

/// One engine driven step by step, exactly as [`run`] drives it; the seed
/// generator uses it to learn what the engine did with each frame.
#[derive(Debug)]
pub struct Driver {
    engine: Engine,
    now: Instant,
    buf: Vec<u8>,
}

impl Default for Driver {
    fn default() -> Self {
        Self::new()
    }
}

impl Driver {
    /// A fresh engine at [`START`].
    pub fn new() -> Self {
        Driver {
            engine: engine(),
            now: START,
            buf: Vec::new(),
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

    /// The last frame as the engine left it (rewritten in place when it
    /// was forwarded with a sequence shift or normalization).
    pub fn last_frame(&self) -> &[u8] {
        &self.buf
    }

    /// Advance the clock, process the frame, then sweep expired entries,
    /// drain the effects and ask for the next timeout.
    pub fn step(&mut self, step: &Step<'_>) -> Verdict {
        self.now = advance(self.now, step.advance);
        self.buf.clear();
        self.buf.extend_from_slice(step.frame);
        let verdict = self
            .engine
            .process(&mut self.buf, step.meta, step.ingress, self.now);
        self.engine.expire(self.now);
        while let Some(effect) = self.engine.poll_effect(self.now) {
            std::hint::black_box(effect);
        }
        std::hint::black_box(self.engine.poll_timeout(self.now));
        verdict
    }
}

/// `now` moved on by `by`.
pub fn advance(now: Instant, by: Duration) -> Instant {
    let nanos = u64::try_from(by.as_nanos()).expect("at most 127 minutes");
    Instant::from_nanos(now.as_nanos().saturating_add(nanos))
}
