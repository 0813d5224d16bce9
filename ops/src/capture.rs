//! `capture`, `show capture`, `copy /pcap capture:NAME`: the ASA's packet
//! capture on one node (docs/asa-behaviour.md §2.11, docs/ops.md §1).
//!
//! A capture is runtime state of this node's workers, never
//! configuration: not replicated, not in `show running-config`, gone at
//! a restart. Each worker's engine keeps the frames it judged in its
//! share of the capture's buffer (the buffer split evenly between the
//! workers); `show capture` asks every worker for its frames between two
//! of its batches and merges them by time. Captures show packet
//! contents: every endpoint of them needs the admin token (the server's
//! screen, `is_capture_path`).
//!
//! ```text
//! capture cap1 type raw-data interface inside [Capturing - 1234 bytes]
//!   match tcp host 198.18.0.10 any eq www
//! capture drops type asp-drop all [Capturing - 0 bytes]
//! ```

mod decode;
pub mod pcap;

use std::sync::Mutex;

use rampart_asa::{CaptureCommand, CaptureDef, CaptureFilter, CaptureType, parse_capture};
use rampart_dataplane::Engine;
use rampart_dataplane::capture::{self as cap, Record, Seen, Spec, State};

pub use decode::{clock, describe, hex_dump};

use crate::admin::Admin;
use crate::backend::OpsError;
use crate::echo::echo;
use crate::pool::EnginePool;

/// The longest `capture` command the admin API takes.
pub const CAPTURE_COMMAND_MAX_BYTES: usize = 1024;
/// The most frames one `show capture NAME` answer decodes (a 32 MiB
/// buffer of short frames holds some 250,000): the pcap file has them all.
pub const CAPTURE_SHOW_MAX_PACKETS: usize = 50_000;
/// The same with `dump`, whose text is some five bytes per byte kept.
pub const CAPTURE_DUMP_MAX_PACKETS: usize = 5_000;
/// The most bytes all of a node's capture buffers may add up to.
pub const CAPTURE_TOTAL_BUFFER_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// The most a worker copies of a capture in one job (frame bytes and
/// their records): a `show capture NAME` or pcap export takes its frames
/// in parts of this, so a worker pauses its packets for a short copy at
/// a time, however large its share.
pub const CAPTURE_COPY_CHUNK_BYTES: usize = 1024 * 1024;

/// Whether an admin API path is a capture's (admin token for every
/// method: captures show packet contents).
pub fn is_capture_path(path: &str) -> bool {
    path == "/v1/capture" || path.starts_with("/v1/capture/")
}

pub use crate::model::{
    CaptureDone, CaptureList, CaptureQuery, CaptureSummary, CaptureView, CapturedPacket,
};

// === impl Admin ===

/// One capture command at a time on a node: a check of the captures in
/// place and the change it allows are not to interleave with another's.
static COMMANDS: Mutex<()> = Mutex::new(());

/// One export of a capture's frames (`show capture NAME`, the pcap file)
/// at a time on a node: each holds a copy of up to the capture's whole
/// buffer in the admin thread.
static EXPORTS: Mutex<()> = Mutex::new(());

impl<P: EnginePool> Admin<P> {
    /// `capture …`, `capture NAME stop`, `no capture NAME`, `clear
    /// capture NAME` on every worker.
    pub(crate) fn capture_command(&self, line: &str) -> Result<CaptureDone, OpsError> {
        if line.len() > CAPTURE_COMMAND_MAX_BYTES {
            return Err(OpsError::BadRequest(format!(
                "a capture command is at most {CAPTURE_COMMAND_MAX_BYTES} bytes"
            )));
        }
        let cmd = parse_capture(line.trim_end(), &|w| cap::drop_reason(w).is_some())
            .map_err(|e| OpsError::BadRequest(format!("column {}: {}", e.column, e.message)))?;
        let _one = COMMANDS.lock().unwrap_or_else(|p| p.into_inner());
        let name = cmd.name().to_string();
        let done = |action: &str| CaptureDone {
            name: name.clone(),
            action: action.into(),
        };
        let missing = || OpsError::NotFound(format!("no capture {}", echo(&name)));
        let on_all = |f: fn(&mut Engine, &str) -> bool| -> Result<bool, OpsError> {
            let n = name.clone();
            Ok(self.each(move |w| f(w.engine, &n))?.into_iter().any(|x| x))
        };
        match cmd {
            CaptureCommand::Remove(_) => on_all(|e, n| e.capture_remove(n))?
                .then(|| done("removed"))
                .ok_or_else(missing),
            CaptureCommand::Clear(_) => on_all(|e, n| e.capture_clear(n))?
                .then(|| done("cleared"))
                .ok_or_else(missing),
            CaptureCommand::Stop(_) => on_all(|e, n| e.capture_run(n, false))?
                .then(|| done("stopped"))
                .ok_or_else(missing),
            CaptureCommand::Define(def) => self.capture_define(def).map(done),
        }
    }

    fn capture_define(&self, def: CaptureDef) -> Result<&'static str, OpsError> {
        let parts = self.each(|w| {
            let e = &*w.engine;
            let specs: Vec<Spec> = e
                .captures()
                .map(|c| c.list().iter().map(|c| c.spec().clone()).collect())
                .unwrap_or_default();
            let acls: Vec<String> = e.policy().acls().iter().map(|a| a.name.clone()).collect();
            (specs, acls, e.config().interfaces.clone())
        })?;
        let workers = parts.len().max(1);
        // The node's captures: those of every worker, a capture left on
        // some workers only (an add or a removal that did not reach them
        // all) counted too.
        let mut specs: Vec<Spec> = Vec::new();
        for (worker_specs, _, _) in &parts {
            for s in worker_specs {
                if !specs.iter().any(|k| k.name == s.name) {
                    specs.push(s.clone());
                }
            }
        }
        let Some((_, acls, interfaces)) = parts.into_iter().next() else {
            return Err(OpsError::Unavailable("no packet worker".into()));
        };
        if let Some(cur) = specs.iter().find(|s| s.name == def.name) {
            // Re-issued as it was (or bare): restart it, its frames kept;
            // with other options: refused, as changing a running
            // capture's filter in place would mix two captures' frames.
            let same = CaptureDef {
                bare: false,
                ..def.clone()
            } == CaptureDef {
                bare: false,
                ..cur.def.clone()
            };
            if !(def.bare || same) {
                return Err(OpsError::BadRequest(format!(
                    "capture {} exists with other options: remove it first ('no capture {}')",
                    def.name, def.name
                )));
            }
            let n = def.name.clone();
            self.each(move |w| w.engine.capture_run(&n, true))?;
            return Ok("restarted");
        }
        if def.bare {
            return Err(OpsError::NotFound(format!(
                "no capture {}: give its type and interface",
                echo(&def.name)
            )));
        }
        if specs.len() >= cap::MAX_CAPTURES {
            return Err(OpsError::BadRequest(format!(
                "a node holds at most {} captures: remove one first",
                cap::MAX_CAPTURES
            )));
        }
        let total: u64 = specs
            .iter()
            .map(|s| u64::from(s.def.buffer_bytes))
            .sum::<u64>()
            + u64::from(def.buffer_bytes);
        if total > CAPTURE_TOTAL_BUFFER_MAX_BYTES {
            return Err(OpsError::BadRequest(format!(
                "the captures' buffers would add up to {total} bytes, more than the node's \
                 {CAPTURE_TOTAL_BUFFER_MAX_BYTES}"
            )));
        }
        if let CaptureFilter::AccessList(n) = &def.filter
            && !acls.contains(n)
        {
            return Err(OpsError::BadRequest(format!(
                "no access-list {} in the running configuration",
                echo(n)
            )));
        }
        // Each worker keeps its own frames in its share of the buffer,
        // with room for one whole packet, its header and the capture's
        // bookkeeping at least (the ASA's smallest buffer is one packet
        // and its 16-byte header; split over workers, or less Rampart's
        // bookkeeping, it would otherwise keep no full-size frame at all).
        let share = def.buffer_bytes as usize / workers;
        let mut spec = Spec::from_def(&def, &interfaces, share).map_err(OpsError::BadRequest)?;
        let one = def.packet_length_bytes as usize + cap::RECORD_OVERHEAD_BYTES;
        spec.buffer_bytes = spec.buffer_bytes.max(one + spec.overhead_bytes());
        let added = self.each(move |w| w.engine.capture_add(spec.clone()));
        let failed = match added {
            Ok(added) => match added.into_iter().find_map(Result::err) {
                None => return Ok("added"),
                Some(e) => OpsError::BadRequest(e.to_string()),
            },
            // A worker did not answer in time: the others may have it.
            Err(e) => e,
        };
        // Undo it where it went in: all workers, or none. Best effort: a
        // worker that did not answer runs the removal after the add
        // (its jobs run in order), and one still missing it is counted
        // by the next define and removed by `no capture NAME`.
        let n = def.name.clone();
        let _ = self.each(move |w| w.engine.capture_remove(&n));
        Err(failed)
    }

    /// `show capture`.
    pub(crate) fn capture_list(&self) -> Result<CaptureList, OpsError> {
        let parts = self.each(|w| worker_part(w.engine, None))?;
        let captures: Vec<CaptureSummary> = merge(parts).into_iter().map(|m| m.summary).collect();
        let text = render_list(&captures);
        Ok(CaptureList { captures, text })
    }

    /// `show capture NAME [detail] [dump] [count N]`.
    pub(crate) fn capture_show(&self, q: &CaptureQuery) -> Result<CaptureView, OpsError> {
        // The first `shown` of the node are among the first `shown` of
        // each worker: no worker copies more.
        let merged = self.capture_merged(&q.name, Some(shown(q)))?;
        Ok(render_view(merged, q))
    }

    /// `copy /pcap capture:NAME`: the capture as a pcap file.
    pub(crate) fn capture_pcap(&self, name: &str) -> Result<Vec<u8>, OpsError> {
        let m = self.capture_merged(name, None)?;
        Ok(pcap::write(
            m.summary.packet_length,
            m.records.iter().map(|(r, _)| pcap::PcapRecord {
                unix_ns: r.at.as_nanos(),
                wire_len: r.wire_len,
                data: &r.data,
            }),
        ))
    }

    /// Capture `name` over the workers, with at most `first` frames of
    /// each (`None`: all): the frames each held when asked, copied
    /// [`CAPTURE_COPY_CHUNK_BYTES`] at a time; one export at a time.
    fn capture_merged(&self, name: &str, first: Option<usize>) -> Result<Merged, OpsError> {
        let _one = EXPORTS.try_lock().map_err(|_| {
            OpsError::Busy(
                "another capture is being shown or exported on this node (one at a time): \
                 try again when it ends"
                    .into(),
            )
        })?;
        let n = name.to_string();
        let heads = self.each(move |w| {
            let part = worker_part(w.engine, Some((&n, Some(0))));
            let cursor = w
                .engine
                .captures()
                .and_then(|c| c.list().iter().find(|c| c.spec().name == n))
                .map(|c| c.cursor());
            (part, cursor)
        })?;
        let (mut parts, mut cursors): (Vec<WorkerPart>, Vec<Option<cap::Cursor>>) =
            heads.into_iter().unzip();
        // Each worker's frames as it held them when asked, the first
        // `first`: a circular buffer filling meanwhile ends the copy too.
        let mut left: Vec<usize> = parts
            .iter()
            .map(|p| {
                p.captures
                    .first()
                    .map_or(0, |c| c.packets.min(first.unwrap_or(usize::MAX)))
            })
            .collect();
        for (c, l) in cursors.iter_mut().zip(&left) {
            if *l == 0 {
                *c = None;
            }
        }
        while cursors.iter().any(Option::is_some) {
            let n = name.to_string();
            let ask = std::sync::Arc::new(cursors.clone());
            let got = self.each(move |w| {
                let from = (*ask.get(w.worker)?)?;
                let c = w
                    .engine
                    .captures()?
                    .list()
                    .iter()
                    .find(|c| c.spec().name == n)?;
                Some(c.records_from(from, CAPTURE_COPY_CHUNK_BYTES))
            })?;
            for (i, g) in got.into_iter().enumerate() {
                let (Some(cursor), Some(l), Some(part)) =
                    (cursors.get_mut(i), left.get_mut(i), parts.get_mut(i))
                else {
                    continue;
                };
                let Some((mut records, next)) = g else {
                    // Removed meanwhile: what was copied stands.
                    *cursor = None;
                    continue;
                };
                records.truncate(*l);
                *l -= records.len();
                *cursor = next.filter(|_| *l > 0);
                if let Some(c) = part.captures.first_mut() {
                    c.records.extend(records);
                }
            }
        }
        merge(parts)
            .into_iter()
            .next()
            .ok_or_else(|| OpsError::NotFound(format!("no capture {}", echo(name))))
    }
}

/// `/v1/capture/NAME?detail&dump&count=N`.
pub fn parse_query(name: &str, query: &str) -> Result<CaptureQuery, OpsError> {
    let mut q = CaptureQuery {
        name: name.to_string(),
        ..Default::default()
    };
    for (k, v) in crate::http::query_pairs(query) {
        match k.as_str() {
            "detail" => q.detail = true,
            "dump" => q.dump = true,
            "count" => {
                q.count = Some(v.parse().map_err(|_| {
                    OpsError::BadRequest(format!("count must be a number, not {}", echo(&v)))
                })?)
            }
            other => {
                return Err(OpsError::BadRequest(format!(
                    "unknown parameter {}: detail, dump or count=N",
                    echo(other)
                )));
            }
        }
    }
    Ok(q)
}

// === the workers' parts ===

/// One worker's copy of its captures (with their frames when one is
/// named), taken between two of its batches.
#[derive(Debug, Clone)]
pub struct WorkerPart {
    interfaces: Vec<String>,
    captures: Vec<WorkerCapture>,
}

#[derive(Debug, Clone)]
struct WorkerCapture {
    spec: Spec,
    state: State,
    captured: usize,
    packets: usize,
    overwritten: u64,
    records: Vec<Record>,
}

/// What a worker hands over: every capture's summary, or capture `name`'s
/// with its first `first` frames (all: `None`). A listing copies no frame;
/// the copy is made between two of the worker's batches, so `show
/// capture` asks for no more than it shows.
pub fn worker_part(engine: &Engine, name: Option<(&str, Option<usize>)>) -> WorkerPart {
    let interfaces = engine
        .config()
        .interfaces
        .iter()
        .map(|i| i.nameif.clone())
        .collect();
    let captures = engine
        .captures()
        .map(|c| {
            c.list()
                .iter()
                .filter(|c| name.is_none_or(|(n, _)| c.spec().name == n))
                .map(|c| WorkerCapture {
                    spec: c.spec().clone(),
                    state: c.state(),
                    captured: c.captured_bytes(),
                    packets: c.records().len(),
                    overwritten: c.overwritten(),
                    records: match name {
                        Some((_, first)) => c.records().take(first.unwrap_or(usize::MAX)).collect(),
                        None => Vec::new(),
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    WorkerPart {
        interfaces,
        captures,
    }
}

/// A capture over the node's workers.
#[derive(Debug, Clone)]
struct Merged {
    summary: CaptureSummary,
    /// Its frames in time order, each with its interface's name.
    records: Vec<(Record, String)>,
}

/// The node's captures: the first worker's list, each with the sums and
/// frames of every worker that has it.
fn merge(parts: Vec<WorkerPart>) -> Vec<Merged> {
    let mut out: Vec<Merged> = Vec::new();
    for part in parts {
        for c in part.captures {
            let at = match out.iter().position(|m| m.summary.name == c.spec.name) {
                Some(i) => i,
                None => {
                    out.push(Merged {
                        summary: summary(&c.spec),
                        records: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            let m = &mut out[at];
            let s = &mut m.summary;
            s.captured_bytes = s.captured_bytes.saturating_add(c.captured as u64);
            s.packets = s.packets.saturating_add(c.packets as u64);
            s.overwritten = s.overwritten.saturating_add(c.overwritten);
            match c.state {
                State::Full => s.state = "buffer-full".into(),
                State::Stopped if s.state == "capturing" => s.state = "stopped".into(),
                _ => {}
            }
            for r in c.records {
                let iface = part
                    .interfaces
                    .get(usize::from(r.iface.0))
                    .cloned()
                    .unwrap_or_else(|| format!("if{}", r.iface.0));
                m.records.push((r, iface));
            }
        }
    }
    for m in &mut out {
        m.records.sort_by_key(|(r, _)| r.at);
    }
    out
}

fn summary(spec: &Spec) -> CaptureSummary {
    let d = &spec.def;
    let (kind, drop_reason) = match &d.kind {
        CaptureType::RawData => ("raw-data", None),
        CaptureType::AspDrop(r) => ("asp-drop", r.clone()),
    };
    CaptureSummary {
        name: d.name.clone(),
        kind: kind.into(),
        interface: d.interface.clone(),
        drop_reason,
        filter: match &d.filter {
            CaptureFilter::All => None,
            CaptureFilter::Match(m) => Some(rampart_asa::render::capture_match(m)),
            CaptureFilter::AccessList(n) => Some(format!("access-list {n}")),
        },
        buffer_bytes: u64::from(d.buffer_bytes),
        packet_length: d.packet_length_bytes,
        circular: d.circular,
        state: "capturing".into(),
        captured_bytes: 0,
        packets: 0,
        overwritten: 0,
    }
}

// === rendering ===

/// `show capture`: a line per capture, its filter below it.
pub fn render_list(captures: &[CaptureSummary]) -> String {
    let mut out = String::new();
    for c in captures {
        out.push_str(&format!("capture {} type {}", c.name, c.kind));
        if c.kind == "asp-drop" {
            out.push_str(&format!(" {}", c.drop_reason.as_deref().unwrap_or("all")));
        }
        if let Some(i) = &c.interface {
            out.push_str(&format!(" interface {i}"));
        }
        let state = match c.state.as_str() {
            "buffer-full" => "Buffer Full",
            "stopped" => "Capturing stopped",
            _ => "Capturing",
        };
        out.push_str(&format!(" [{state} - {} bytes]\n", c.captured_bytes));
        if let Some(f) = &c.filter {
            out.push_str(&format!("  {f}\n"));
        }
    }
    out
}

/// How many frames `show capture NAME` decodes at most.
fn shown(q: &CaptureQuery) -> usize {
    let most = if q.dump {
        CAPTURE_DUMP_MAX_PACKETS
    } else {
        CAPTURE_SHOW_MAX_PACKETS
    };
    q.count.unwrap_or(usize::MAX).min(most)
}

fn render_view(m: Merged, q: &CaptureQuery) -> CaptureView {
    let shown = shown(q);
    let packets = m
        .records
        .iter()
        .take(shown)
        .enumerate()
        .map(|(i, (r, iface))| {
            let mut line = describe(&r.data, r.wire_len, q.detail);
            if let Some(reason) = r.reason {
                line.push_str(&format!(
                    " Drop-reason: ({}) {}",
                    reason.label(),
                    reason.description()
                ));
            }
            CapturedPacket {
                number: i as u64 + 1,
                time_ns: r.at.as_nanos(),
                interface: iface.clone(),
                seen: match r.seen {
                    Seen::Ingress => "ingress",
                    Seen::Egress => "egress",
                    Seen::Dropped => "dropped",
                }
                .into(),
                drop_reason: r.reason.map(|x| x.label().to_string()),
                wire_len: r.wire_len,
                line,
                dump: q.dump.then(|| hex_dump(&r.data)),
            }
        })
        .collect();
    CaptureView {
        packets_captured: m.summary.packets,
        capture: m.summary,
        packets,
    }
}

/// `show capture NAME`'s text, as the ASA prints it:
///
/// ```text
/// 2 packets captured
///
///    1: 14:23:45.123456       198.18.0.10.51234 > 198.18.1.10.80: S 2839219290:2839219290(0) win 29200 <mss 1460>
///    2: 14:23:45.123501       198.18.1.10.80 > 198.18.0.10.51234: S 1:1(0) ack 2839219291 win 65160 <mss 1380>
/// 2 packets shown
/// ```
pub fn render_view_text(v: &CaptureView) -> String {
    let total = v.packets_captured as usize;
    let mut text = format!("\n{total} packet{} captured\n\n", plural(total));
    for p in &v.packets {
        text.push_str(&format!(
            "{:>4}: {}       {}\n",
            p.number,
            clock(p.time_ns),
            p.line
        ));
        if let Some(d) = &p.dump {
            text.push_str(d);
        }
    }
    let shown = v.packets.len();
    text.push_str(&format!("{shown} packet{} shown\n", plural(shown)));
    text
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
