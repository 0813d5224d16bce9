//! The fuzz targets' input formats, their drivers and their seed corpora.
//! Each target's `fuzz_targets/<target>.rs` is one call to its driver here,
//! so `cargo test` replays the checked-in seeds through exactly the code the
//! fuzzer runs. [`corpus`] lists every target with its seeds.
//!
//! | target | module | what it feeds |
//! | --- | --- | --- |
//! | `engine_process` | this file, [`setup`], [`oracle`], [`seeds`] | frames to one engine, under one of several policies, one by one or in batches |
//! | `engine_sync` | [`engine_sync`] | frames, peers' sync messages, acks and timers to one clustered engine |
//! | `sync_frame` | [`sync_frame`] | peers' frames, connections, local events and timers to one node's sync protocol |
//! | `raft_codec` | [`raft_codec`] | bytes to the Raft RPC and log codec, with a round trip |
//! | `policy_parse` | [`policy_parse`] | ASA configuration text to the parser, then the compiler |
//! | `node_config` | [`node_config`] | TOML text to the node configuration loader |
//! | `capture` | [`capture`] | `capture` command lines to their parser; frames to `show capture`'s decoder and the pcap writer |
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
//!   unknown interface (index 7) instead. Bits 4-7 of the *first* record
//!   choose the [`Setup`] of the whole input (ignored in later records):
//!   bits 4-5 the policy (0 the security levels with `inspect icmp`, as
//!   before the choice existed; 1 [`setup::ACL_CLASSES`]: access lists,
//!   a bypass class, small limits and the idle reset; 2
//!   [`setup::NO_RANDOMIZATION`]; 3 the policy of 1 with the engine's
//!   bypass RST teardown), bit 6 batch mode, bit 7 the fast path off.
//! - Bits 4-6 of the *second* record add [`Captures`] (ignored in every
//!   other record; clear in every seed written before they existed, so
//!   those keep their meaning): bit 4 a `raw-data` capture with `match ip
//!   any any` on the inside (bit 6: the outside) in a small circular
//!   buffer, bit 5 an `asp-drop all` capture in a small linear one.
//! - Bits 4-7 of the *third* record put a shun table in force
//!   ([`shuns`]; ignored in every other record, clear in every seed
//!   written before they existed): each bit adds shuns of the seeds'
//!   hosts, of every interface, of the outside, of VLAN 100, and an
//!   IPv4-mapped source with a duplicate.
//! - `advance`: how far the clock moves before the frame: with bit 7 clear,
//!   `advance × 50 ms` (up to 6.35 s, around the embryonic, UDP and ICMP
//!   timeouts and the 10 s idle timeouts of policies 1-3); with bit 7
//!   set, `(advance & 0x7f)` minutes (up to 127 min, past the 1 h TCP idle
//!   timeout).
//!
//! All frames go to one engine (the `inside_outside` pair, sequence
//! randomization on as the ASA default unless the policy turns it off, at
//! most [`MAX_CONNS`] entries so the table-full paths are reachable). One
//! by one, each frame goes to `Engine::process`. In batch mode, as the
//! AF_PACKET bridge hands frames over, consecutive frames go together to
//! `Engine::process_batch`: a frame starts a new batch when its `advance`
//! is not zero (a batch is judged at one instant), when it arrives on
//! another interface than the batch's (a batch comes from one), or when
//! the batch holds [`MAX_BATCH_FRAMES`]. After each frame or batch the
//! driver runs the expiry sweep, drains the effects and asks for the next
//! timeout.
//!
//! The engine must never panic, and [`oracle`] holds it to its checksums:
//! a forwarded frame whose checksums were valid keeps them valid, and a
//! frame the engine builds (an idle reset's RST) has valid ones. With
//! captures, a twin engine of the same setup without them judges the same
//! frames: verdicts, forwarded bytes and the frames sent of their own must
//! be the same, and every frame kept is held to what the engine saw and
//! decoded as `show capture` shows it ([`captures`]).

use std::time::Duration;

use rampart_dataplane::engine::Effect;
use rampart_dataplane::packet::{ChecksumState, PacketMeta};
use rampart_dataplane::{BatchFrame, Engine, IfaceId, Instant, Verdict};

pub use captures::Captures;
pub use setup::{PolicyChoice, Setup};

pub mod capture;
pub mod captures;
pub mod corpus;
pub mod engine_sync;
pub mod flows;
pub mod node_config;
pub mod oracle;
pub mod policy_parse;
pub mod raft_codec;
pub mod seeds;
pub mod setup;
pub mod shuns;
pub mod sync_frame;

/// Table bound of the fuzzed engine: small, so inputs can fill it.
pub const MAX_CONNS: usize = 64;
/// The clock at the start of every input.
pub const START: Instant = Instant::from_secs(1);
/// Bytes before each frame: control, advance, length.
pub const STEP_HEADER_LEN: usize = 4;
/// The interface index bit 3 of `control` selects: not configured.
pub const UNKNOWN_IFACE: IfaceId = IfaceId(7);
/// Most frames in one batch of batch mode: past the engine's prefetch
/// chunk, so a batch can span two chunks (the bridge hands over at most
/// one chunk, but `process_batch` takes any length).
pub const MAX_BATCH_FRAMES: usize = rampart_dataplane::engine::PREFETCH_BATCH + 4;

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

/// What the engine made of an input, in order: a verdict for each frame,
/// and after each frame (or batch) the frames it sent of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The verdict on a frame.
    Verdict(Verdict),
    /// A frame the engine built went out on this interface (an idle
    /// reset's RST).
    Transmit(IfaceId),
}

impl std::fmt::Display for Outcome {
    /// One line of an `.expect` file: a verdict as `Debug` prints it (the
    /// lines of the files written before transmits were recorded), a
    /// transmit as `Transmit(IfaceId(n))`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Verdict(v) => write!(f, "{v:?}"),
            Outcome::Transmit(egress) => write!(f, "Transmit({egress:?})"),
        }
    }
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
/// unconfigured interface; the other bits are not the frame's).
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

/// The control byte of a frame arriving on `ingress` with `checksum`
/// (bits 0-3; a first record also carries its [`Setup`]'s bits).
pub fn step_control(ingress: IfaceId, checksum: ChecksumState) -> u8 {
    (if ingress.0 > 1 { 0x08 } else { ingress.0 })
        | match checksum {
            ChecksumState::Unverified => 0,
            ChecksumState::Partial => 1 << 1,
            ChecksumState::Verified => 2 << 1,
        }
}

/// Append one record (see [`records`]).
pub fn encode_record(out: &mut Vec<u8>, control: u8, advance: u8, body: &[u8]) {
    let len = u16::try_from(body.len()).expect("a body fits the length field");
    out.extend_from_slice(&[control, advance]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
}

/// Give `engine` the policy of `inspect icmp` and `inspect icmp error`
/// (the ASA's default ICMP handling is stateless): the stateful ICMP code
/// is then reached, as on most sites.
pub fn inspect_icmp(engine: &mut Engine) {
    engine
        .set_policy(setup::policy(PolicyChoice::Levels))
        .expect("the policy's classes fit");
}

/// Feed every step of `data` to one engine in the [`Setup`] its first
/// byte chooses, calling `each` with each verdict and each frame the
/// engine sent of its own. The fuzz target's whole body.
pub fn run(data: &[u8], each: impl FnMut(Outcome)) {
    drive(data, each);
}

/// [`run`], returning the driver as the input left it (for the tests to
/// read the engine's counters).
pub fn drive(data: &[u8], mut each: impl FnMut(Outcome)) -> Driver {
    let mut driver = Driver::with_captures(Setup::of_input(data), Captures::of_input(data));
    if let Some(table) = shuns::table(shuns::of_input(data)) {
        driver.set_shuns(table);
    }
    let mut report = |driver: &mut Driver, verdicts: &[Verdict]| {
        for &v in verdicts {
            each(Outcome::Verdict(v));
        }
        for egress in driver.transmitted.drain(..) {
            each(Outcome::Transmit(egress));
        }
    };
    if !driver.setup.batch {
        for step in steps(data) {
            let verdict = driver.step(&step);
            report(&mut driver, &[verdict]);
        }
        driver.check_captures(data);
        return driver;
    }
    let mut batch: Vec<Step<'_>> = Vec::with_capacity(MAX_BATCH_FRAMES);
    for step in steps(data) {
        if batch
            .first()
            .is_some_and(|first| !joins(first, batch.len(), &step))
        {
            let verdicts = driver.step_batch(&batch);
            report(&mut driver, &verdicts);
            batch.clear();
        }
        batch.push(step);
    }
    if !batch.is_empty() {
        let verdicts = driver.step_batch(&batch);
        report(&mut driver, &verdicts);
    }
    driver.check_captures(data);
    driver
}

/// Whether `step` joins the batch that `first` opened and that holds `len`
/// frames: it comes at the same instant, on the same interface, and the
/// batch has room.
pub fn joins(first: &Step<'_>, len: usize, step: &Step<'_>) -> bool {
    step.advance.is_zero() && step.ingress == first.ingress && len < MAX_BATCH_FRAMES
}

/// One engine driven step by step (or batch by batch), exactly as [`run`]
/// drives it; the seed generator uses it to learn what the engine did
/// with each frame. Every step is held to the [`oracle`].
#[derive(Debug)]
pub struct Driver {
    engine: Engine,
    setup: Setup,
    now: Instant,
    /// The frames of the last step or batch, as the engine left them.
    bufs: Vec<Vec<u8>>,
    /// Interfaces of the frames the engine sent of its own since the
    /// caller last took them.
    transmitted: Vec<IfaceId>,
    /// The last frame the engine built (seeds read a SYN cookie from it).
    last_built: Vec<u8>,
    /// The most frames handed to `process_batch` at once.
    largest_batch: usize,
    /// With captures: the same setup without them, judging the same
    /// frames, and its frames of the last step or batch.
    twin: Option<(Engine, Vec<Vec<u8>>)>,
    /// With captures: every frame forwarded, released after a wait or
    /// sent of its own, as it left.
    left: Vec<Vec<u8>>,
}

impl Default for Driver {
    fn default() -> Self {
        Self::new(Setup::default())
    }
}

impl Driver {
    /// A fresh engine in `setup` at [`START`].
    pub fn new(setup: Setup) -> Self {
        Self::with_captures(setup, Captures::default())
    }

    /// A fresh engine in `setup` with `captures` at [`START`], and its
    /// twin without them if there are any.
    pub fn with_captures(setup: Setup, captures: Captures) -> Self {
        let mut engine = setup.engine();
        captures.add_to(&mut engine);
        Driver {
            engine,
            setup,
            now: START,
            bufs: Vec::new(),
            transmitted: Vec::new(),
            last_built: Vec::new(),
            largest_batch: 0,
            twin: captures.any().then(|| (setup.engine(), Vec::new())),
            left: Vec::new(),
        }
    }

    /// Put `table` in force on the engine (and its twin), before the
    /// first frame ([`shuns`]).
    pub fn set_shuns(&mut self, table: std::sync::Arc<rampart_dataplane::shun::ShunTable>) {
        if let Some((twin, _)) = &mut self.twin {
            twin.set_shuns(table.clone());
        }
        self.engine.set_shuns(table);
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The setup it runs in.
    pub fn setup(&self) -> Setup {
        self.setup
    }

    /// The clock as of the last step.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The last frame as the engine left it (rewritten in place when it
    /// was forwarded with a sequence shift or normalization).
    pub fn last_frame(&self) -> &[u8] {
        self.bufs.last().map_or(&[], Vec::as_slice)
    }

    /// The most frames handed to `Engine::process_batch` at once (0 when
    /// not in batch mode).
    pub fn largest_batch(&self) -> usize {
        self.largest_batch
    }

    /// The last frame the engine sent of its own.
    pub fn last_built(&self) -> &[u8] {
        &self.last_built
    }

    /// Interfaces of the frames the engine sent of its own since this was
    /// last called.
    pub fn take_transmitted(&mut self) -> Vec<IfaceId> {
        std::mem::take(&mut self.transmitted)
    }

    /// Advance the clock, process the frame, then sweep expired entries,
    /// drain the effects and ask for the next timeout.
    pub fn step(&mut self, step: &Step<'_>) -> Verdict {
        self.now = advance(self.now, step.advance);
        self.load(std::slice::from_ref(step));
        let verdict = self
            .engine
            .process(&mut self.bufs[0], step.meta, step.ingress, self.now);
        oracle::check_forwarded(step.frame, step.meta, &self.bufs[0], verdict);
        if let Some((twin, bufs)) = &mut self.twin {
            load(bufs, std::slice::from_ref(step));
            let want = twin.process(&mut bufs[0], step.meta, step.ingress, self.now);
            same(&[want], bufs, &[verdict], &self.bufs, &mut self.left);
        }
        self.after();
        verdict
    }

    /// Advance the clock by the first step's `advance`, then hand every
    /// frame of `batch` to `Engine::process_batch` at once, on the first
    /// step's interface (the rest's `advance` and interface are not read:
    /// [`run`] groups only steps that [`joins`] allows); then sweep, drain
    /// and ask as [`step`](Self::step) does. Returns the verdicts in order.
    pub fn step_batch(&mut self, batch: &[Step<'_>]) -> Vec<Verdict> {
        let Some(first) = batch.first() else {
            return Vec::new();
        };
        self.now = advance(self.now, first.advance);
        self.load(batch);
        let mut frames: Vec<BatchFrame<'_>> = self
            .bufs
            .iter_mut()
            .zip(batch)
            .map(|(buf, step)| BatchFrame::new(buf.as_mut_slice(), step.meta))
            .collect();
        let mut verdicts = vec![Verdict::Hold; batch.len()];
        self.largest_batch = self.largest_batch.max(batch.len());
        self.engine
            .process_batch(&mut frames, first.ingress, self.now, &mut verdicts);
        for ((step, out), &verdict) in batch.iter().zip(&self.bufs).zip(&verdicts) {
            oracle::check_forwarded(step.frame, step.meta, out, verdict);
        }
        if let Some((twin, bufs)) = &mut self.twin {
            load(bufs, batch);
            let mut frames: Vec<BatchFrame<'_>> = bufs
                .iter_mut()
                .zip(batch)
                .map(|(buf, step)| BatchFrame::new(buf.as_mut_slice(), step.meta))
                .collect();
            let mut want = vec![Verdict::Hold; batch.len()];
            twin.process_batch(&mut frames, first.ingress, self.now, &mut want);
            same(&want, bufs, &verdicts, &self.bufs, &mut self.left);
        }
        self.after();
        verdicts
    }

    /// Copy the frames of `steps` into the driver's buffers.
    fn load(&mut self, steps: &[Step<'_>]) {
        load(&mut self.bufs, steps);
    }

    /// Sweep expired entries, drain the effects (holding each frame the
    /// engine built to the oracle) and ask for the next timeout.
    fn after(&mut self) {
        let out = effects(&mut self.engine, self.now);
        for effect in &out {
            oracle::check_effect(effect);
            match effect {
                Effect::Transmit { egress, frame } => {
                    self.transmitted.push(*egress);
                    self.last_built.clear();
                    self.last_built.extend_from_slice(frame);
                    if self.twin.is_some() {
                        self.left.push(frame.to_vec());
                    }
                }
                Effect::Release { frame, .. } if self.twin.is_some() => {
                    self.left.push(frame.to_vec());
                }
                _ => {}
            }
        }
        let timeout = self.engine.poll_timeout(self.now);
        if let Some((twin, _)) = &mut self.twin {
            assert_eq!(
                out,
                effects(twin, self.now),
                "captures changed what the engine asked the shell to do"
            );
            assert_eq!(
                timeout,
                twin.poll_timeout(self.now),
                "captures changed the engine's next timeout"
            );
        }
    }

    /// With captures, hold what they kept to what the engine saw
    /// ([`captures::check`]); `data` is the whole input.
    fn check_captures(&self, data: &[u8]) {
        if self.twin.is_none() {
            return;
        }
        let arrived: Vec<&[u8]> = steps(data).map(|s| s.frame).collect();
        captures::check(&self.engine, &arrived, &self.left, self.now);
    }
}

/// Sweep `engine`'s expired entries and drain its effects.
fn effects(engine: &mut Engine, now: Instant) -> Vec<Effect> {
    engine.expire(now);
    std::iter::from_fn(|| engine.poll_effect(now)).collect()
}

/// Copy the frames of `steps` into `bufs`.
fn load(bufs: &mut Vec<Vec<u8>>, steps: &[Step<'_>]) {
    bufs.resize_with(steps.len(), Vec::new);
    for (buf, step) in bufs.iter_mut().zip(steps) {
        buf.clear();
        buf.extend_from_slice(step.frame);
    }
}

/// The engine with captures judged as its twin without: the same
/// verdicts (`want` the twin's, `got` the engine's) and the same bytes of
/// every frame (`want_bufs`, `got_bufs`). Keeps the forwarded frames in
/// `left`.
fn same(
    want: &[Verdict],
    want_bufs: &[Vec<u8>],
    got: &[Verdict],
    got_bufs: &[Vec<u8>],
    left: &mut Vec<Vec<u8>>,
) {
    assert_eq!(got, want, "captures changed a verdict");
    for ((w, g), v) in want_bufs.iter().zip(got_bufs).zip(got) {
        assert_eq!(g, w, "captures changed the bytes of a frame judged {v:?}");
        if let Verdict::Forward { .. } = v {
            left.push(g.clone());
        }
    }
}

/// `now` moved on by `by`.
pub fn advance(now: Instant, by: Duration) -> Instant {
    let nanos = u64::try_from(by.as_nanos()).expect("at most 127 minutes");
    Instant::from_nanos(now.as_nanos().saturating_add(nanos))
}
