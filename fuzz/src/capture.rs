//! The `capture` target: what `capture` takes from outside the node, the
//! operator's command lines and the frames a sender put on the wire, up to
//! the text and files an operator reads (docs/asa-behaviour.md §2.11).
//!
//! Input, repeated until the input ends (the records of
//! [`crate::records`]):
//!
//! ```text
//! [op: u8] [advance: u8] [len: u16 big-endian] [body: len bytes]
//! ```
//!
//! - `op` bit 0 clear: `body` is a command line (bytes that are not UTF-8
//!   become U+FFFD) for the capture command parser (`rampart-asa`). What
//!   it refuses carries line 1 and a column within the line (one past its
//!   end at most); a `capture NAME …` it accepts becomes an engine
//!   [`Spec`] for the inside/outside pair (or is refused with a reason),
//!   and a `match` clause, printed as `show capture` prints it, parses
//!   back to the same clause.
//! - `op` bit 0 set: `body` is a captured frame (its first
//!   `CAPTURE_PACKET_LENGTH_MAX_BYTES`, what a capture keeps at most), with
//!   a claimed wire length chosen by bits 1-2: 0 the body's length, 1 the
//!   body's length plus `advance` × 64, 2 `advance` alone (possibly less
//!   than the bytes kept: the decoder must not trust it), 3 `u32::MAX`
//!   less `advance`. The frame is decoded as `show capture NAME` shows it,
//!   in all three views (the line, `detail`, `dump`): no panic, and only
//!   printable text (the line none but itself, `detail` with line breaks,
//!   `dump` with line breaks and tabs, one line per 16 bytes). The clock
//!   moves `advance` × 7.919 s before the frame; bit 3 set moves it to
//!   `u64::MAX` nanoseconds less `advance` (past the 32-bit seconds of a
//!   pcap record).
//!
//! At the end, every frame goes into one pcap file (`copy /pcap`), which
//! `pcap-file` reads back record by record with the same bytes, times (to
//! the microsecond, seconds clamped to 32 bits) and wire lengths (never
//! below the bytes kept).

use std::borrow::Cow;

use pcap_file::pcap::PcapParser;
use rampart_asa::parse::CAPTURE_PACKET_LENGTH_MAX_BYTES;
use rampart_asa::{CaptureCommand, CaptureFilter, ParseError, parse_capture, render};
use rampart_dataplane::capture::{Spec, drop_reason};
use rampart_dataplane::iface::InterfaceConfig;
use rampart_ops::capture::pcap::{self, PcapRecord};
use rampart_ops::capture::{describe, hex_dump};

use crate::corpus::SeedFile;

/// Where the seeds live, relative to `fuzz/`.
pub const DIR: &str = "corpus/capture";

/// The clock of the first frame: 2026-12-07 14:23:45 UTC, in nanoseconds.
pub const START_NS: u64 = 1_796_653_425_000_000_000;

/// What became of one command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Refused by the parser.
    Refused,
    /// Parsed, not a definition (`stop`, `no capture`, `clear capture`).
    Other,
    /// A definition the engine takes.
    Spec,
    /// A definition the engine refuses (no such interface, a match it
    /// cannot compile).
    NoSpec,
}

/// What an input made: one entry per command line, and how many frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Each command line's fate, in order.
    pub commands: Vec<Command>,
    /// Frames decoded and written to the pcap file.
    pub frames: usize,
}

/// One frame of an input.
struct Frame<'a> {
    unix_ns: u64,
    wire_len: u32,
    data: &'a [u8],
}

/// Parse, decode and write one input. The fuzz target's whole body.
pub fn run(data: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    let mut now = START_NS;
    let mut frames = Vec::new();
    let keep = CAPTURE_PACKET_LENGTH_MAX_BYTES as usize;
    for (op, advance, body) in crate::records(data) {
        if op & 1 == 0 {
            out.commands.push(command(body));
            continue;
        }
        now = if op & 0x08 != 0 {
            u64::MAX - u64::from(advance)
        } else {
            now.saturating_add(u64::from(advance) * 7_919_000_123)
        };
        let frame = &body[..body.len().min(keep)];
        let len = u32::try_from(body.len()).expect("a body fits 16 bits");
        let wire_len = match (op >> 1) & 3 {
            0 => len,
            1 => len + u32::from(advance) * 64,
            2 => u32::from(advance),
            _ => u32::MAX - u32::from(advance),
        };
        decode(frame, wire_len);
        frames.push(Frame {
            unix_ns: now,
            wire_len,
            data: frame,
        });
    }
    out.frames = frames.len();
    pcap_round_trip(CAPTURE_PACKET_LENGTH_MAX_BYTES, &frames);
    out
}

/// One command line through the parser, and what parses through the
/// engine's spec and the `match` printer.
fn command(body: &[u8]) -> Command {
    let line = String::from_utf8_lossy(body);
    let is_reason = |w: &str| drop_reason(w).is_some();
    let def = match parse_capture(&line, &is_reason) {
        Err(e) => {
            check_error(&line, &e);
            return Command::Refused;
        }
        Ok(CaptureCommand::Define(def)) => def,
        Ok(_) => return Command::Other,
    };
    if let CaptureFilter::Match(m) = &def.filter {
        let printed = render::capture_match(m);
        let again = format!("capture x type asp-drop all {printed}");
        match parse_capture(&again, &is_reason) {
            Ok(CaptureCommand::Define(d)) => assert_eq!(
                d.filter, def.filter,
                "a printed match parses to another: {line:?} printed {printed:?}"
            ),
            other => panic!(
                "a printed match does not parse back: {line:?} printed {printed:?}: {other:?}"
            ),
        }
    }
    let interfaces = InterfaceConfig::inside_outside();
    match Spec::from_def(&def, &interfaces, def.buffer_bytes as usize) {
        Ok(spec) => {
            assert!(spec.packet_length <= CAPTURE_PACKET_LENGTH_MAX_BYTES as usize);
            std::hint::black_box(spec.overhead_bytes());
            Command::Spec
        }
        Err(reason) => {
            assert!(
                !reason.is_empty(),
                "a spec refused without a reason: {line:?}"
            );
            Command::NoSpec
        }
    }
}

/// A refusal points into the line it refuses: line 1, a column from 1 to
/// one past the line's end, and a message.
fn check_error(line: &str, e: &ParseError) {
    let chars = line.chars().count();
    assert!(
        e.line == 1 && (1..=chars + 1).contains(&e.column) && !e.message.is_empty(),
        "a refusal outside its line: {line:?} → {e:?}"
    );
}

/// The three views of `show capture NAME` of one frame: the line, the
/// `detail` line, the `dump`.
pub fn decode(frame: &[u8], wire_len: u32) {
    let line = describe(frame, wire_len, false);
    assert!(
        !line.is_empty() && !line.chars().any(char::is_control),
        "the line of a frame is not one printable line: {line:?}\nframe: {}",
        hex(frame)
    );
    let detail = describe(frame, wire_len, true);
    assert!(
        !detail.is_empty() && !detail.chars().any(|c| c.is_control() && c != '\n'),
        "the detail of a frame is not printable lines: {detail:?}\nframe: {}",
        hex(frame)
    );
    let dump = hex_dump(frame);
    assert!(
        !dump
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "the dump of a frame is not printable lines: {dump:?}"
    );
    assert_eq!(
        dump.lines().count(),
        frame.len().div_ceil(16),
        "a dump line per 16 bytes"
    );
}

/// `copy /pcap` of `frames` with snap length `snaplen`, read back by
/// `pcap-file`: the same records.
fn pcap_round_trip(snaplen: u32, frames: &[Frame<'_>]) {
    let file = pcap::write(
        snaplen,
        frames.iter().map(|f| PcapRecord {
            unix_ns: f.unix_ns,
            wire_len: f.wire_len,
            data: f.data,
        }),
    );
    let (mut rest, parser) = PcapParser::new(&file).expect("a pcap file header");
    let header = parser.header();
    assert_eq!(header.snaplen, snaplen);
    assert_eq!(header.datalink, pcap_file::DataLink::ETHERNET);
    for f in frames {
        let (after, raw) = parser
            .next_raw_packet(rest)
            .expect("a pcap record per frame");
        let kept = u32::try_from(f.data.len()).expect("a frame fits 32 bits");
        let secs = u32::try_from(f.unix_ns / 1_000_000_000).unwrap_or(u32::MAX);
        assert_eq!(
            (raw.ts_sec, u64::from(raw.ts_frac)),
            (secs, f.unix_ns % 1_000_000_000 / 1_000),
            "the record's time"
        );
        assert_eq!(raw.incl_len, kept, "the bytes kept");
        assert_eq!(raw.orig_len, f.wire_len.max(kept), "the wire length");
        assert!(raw.incl_len <= snaplen, "a record within the snap length");
        assert_eq!(raw.data, Cow::Borrowed(f.data), "the record's bytes");
        if raw.orig_len <= snaplen {
            // pcap-file's checked reader also refuses a wire length above
            // the snap length (libpcap does not): only whole frames are
            // held to it.
            raw.clone()
                .try_into_pcap_packet(header.ts_resolution, snaplen)
                .expect("a whole frame's record reads back checked");
        }
        rest = after;
    }
    assert!(rest.is_empty(), "nothing after the last record");
}

/// A frame as hex, to paste into a test.
fn hex(frame: &[u8]) -> String {
    frame.iter().map(|b| format!("{b:02x}")).collect()
}

/// Command lines: (seed name suffix, line).
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "raw-data",
        "capture cap1 interface inside match tcp host 198.18.0.10 any eq www",
    ),
    (
        "every-option",
        "capture cap2 type raw-data interface outside buffer 1534 packet-length 64 circular-buffer match udp 198.18.0.0 255.254.0.0 range 1000 2000 any6 neq 53",
    ),
    ("asp-drop", "capture drops type asp-drop all buffer 65536"),
    ("asp-drop-reason", "capture d2 type asp-drop acl-drop"),
    (
        "access-list",
        "capture acl interface inside access-list INSIDE_IN",
    ),
    (
        "v6-match",
        "capture v6 interface inside match icmp6 2001:db8::/32 host 2001:db8::1",
    ),
    ("stop", "capture cap1 stop"),
    ("no", "no capture cap1"),
    ("clear", "clear capture cap1"),
    ("bare", "capture cap1"),
    ("refused", "capture cap1 interface inside match tcp any lt"),
];

/// The seeds: each command line alone, then frames of every kind the
/// decoder names, each with each claimed wire length.
pub fn seeds() -> Vec<SeedFile> {
    let mut out: Vec<SeedFile> = COMMANDS
        .iter()
        .map(|(name, line)| {
            let mut input = Vec::new();
            crate::encode_record(&mut input, 0, 0, line.as_bytes());
            SeedFile::new(format!("seed-command-{name}"), input)
        })
        .collect();
    for (name, frame) in crate::seeds::capture_frames() {
        let mut input = Vec::new();
        for (i, op) in [1u8, 3, 5, 7].into_iter().enumerate() {
            let advance = u8::try_from(i * 40).expect("small");
            crate::encode_record(&mut input, op, advance, &frame);
        }
        // And cut to 14 bytes, the shortest packet length.
        crate::encode_record(&mut input, 1 | 0x08, 1, &frame[..frame.len().min(14)]);
        out.push(SeedFile::new(format!("seed-frame-{name}"), input));
    }
    out
}
