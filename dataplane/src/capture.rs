//! Packet capture, the ASA's `capture` (docs/asa-behaviour.md §2.11): a
//! capture copies the frames it selects, truncated to its packet length
//! and stamped with the engine's `now`, into a bounded buffer of its own.
//!
//! A `raw-data` capture on interface IF keeps the frames that enter on IF
//! as they arrived, and the frames that leave by IF as they leave, after
//! Rampart's rewrites (sequence randomization, the MSS clamp), as the ASA
//! shows both. An `asp-drop` capture keeps every frame the engine drops
//! (or those of one drop reason), as it arrived, with its reason. A
//! `match` filter selects both directions of what it names; an
//! `access-list` filter is the permits of that list of the running
//! policy, one direction per entry.
//!
//! Captures are per engine and runtime only: never configuration, never
//! synced to peers. The engine copies nothing and tests one `Option` per
//! frame while it has none ([`Engine`](crate::Engine)'s `captures` field).
//! Every buffer is bounded: a linear one stops when the next frame would
//! not fit (and says so), a circular one drops its oldest frames to make
//! room. A capture's frames are kept in one block allocated when it is
//! added (`ring`), each frame after a header of [`RECORD_OVERHEAD_BYTES`],
//! and the block is its buffer less what the capture's own bookkeeping
//! takes ([`Spec::overhead_bytes`]), so the memory a capture holds never
//! passes its buffer whatever the traffic.

mod ring;

use std::net::IpAddr;

use rampart_asa::ast::{AddrSpec, PortMatch, Protocol};
use rampart_asa::{CaptureDef, CaptureFilter, CaptureType};

use crate::flow::Tuple;
use crate::iface::InterfaceConfig;
use crate::packet::Parsed;
use crate::policy::classifier::Probe;
use crate::policy::compile::Policy;
use crate::time::Instant;
use crate::verdict::{DropReason, IfaceId};

/// The most captures an engine (a node) holds.
pub const MAX_CAPTURES: usize = 32;

/// What each kept frame costs its buffer besides its bytes: its header
/// in the buffer (time, lengths, interface, where seen and drop reason).
pub const RECORD_OVERHEAD_BYTES: usize = ring::HEADER_BYTES;

/// Room for where a frame was seen and its drop reason in one byte.
const _: () = assert!(DropReason::COUNT < 254);

/// Where a kept frame was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Entering on its interface, as received.
    Ingress,
    /// Leaving by its interface, as sent.
    Egress,
    /// Dropped (asp-drop), as received.
    Dropped,
}

/// One kept frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Engine time it was seen.
    pub at: Instant,
    /// The interface it entered on (ingress, dropped) or left by (egress).
    pub iface: IfaceId,
    /// Where it was seen.
    pub seen: Seen,
    /// Why it was dropped (asp-drop).
    pub reason: Option<DropReason>,
    /// Its length on the wire.
    pub wire_len: u32,
    /// Its first bytes, at most the capture's packet length.
    pub data: Box<[u8]>,
}

impl Record {
    fn of(h: ring::Header, data: Box<[u8]>) -> Record {
        let (seen, reason) = match h.tag {
            0 => (Seen::Ingress, None),
            1 => (Seen::Egress, None),
            t => (
                Seen::Dropped,
                DropReason::ALL.get(usize::from(t) - 2).copied(),
            ),
        };
        Record {
            at: Instant::from_nanos(h.at_ns),
            iface: IfaceId(h.iface),
            seen,
            reason,
            wire_len: h.wire_len,
            data,
        }
    }
}

/// Which interfaces' traffic a capture records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Frames entering or leaving `iface`.
    RawData {
        /// The interface.
        iface: IfaceId,
    },
    /// Dropped frames, of one reason or all.
    AspDrop {
        /// Only this reason.
        reason: Option<DropReason>,
    },
}

/// One end of a `match`: a prefix as a mask and the bits under it (both
/// of the 128-bit form every address takes, IPv4 mapped), computed once,
/// and the family it keeps to, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct End {
    bits: u128,
    mask: u128,
    v6: Option<bool>,
    port: Option<PortMatch>,
}

impl End {
    fn of(a: &AddrSpec, port: Option<PortMatch>) -> Result<End, String> {
        let (ip, len, v6) = match a {
            AddrSpec::Any => (None, 0, None),
            AddrSpec::Any4 => (None, 0, Some(false)),
            AddrSpec::Any6 => (None, 0, Some(true)),
            AddrSpec::Host(ip) => (Some(*ip), 128, Some(ip.is_ipv6())),
            AddrSpec::V4Net(a, m) => (
                Some(IpAddr::V4(*a)),
                96 + u32::from(*m).leading_ones(),
                Some(false),
            ),
            AddrSpec::V6Net(a, l) => (Some(IpAddr::V6(*a)), u32::from(*l), Some(true)),
            other => return Err(format!("a capture's match takes no {other:?}")),
        };
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len.min(128))
        };
        let bits = ip.map_or(0, |ip| u128::from_be_bytes(crate::flow::Addr::from(ip).0)) & mask;
        Ok(End {
            bits,
            mask,
            v6,
            port,
        })
    }

    fn matches(&self, v6: bool, addr: &crate::flow::Addr, port: u16) -> bool {
        self.v6.is_none_or(|f| f == v6)
            && u128::from_be_bytes(addr.0) & self.mask == self.bits
            && self.port.is_none_or(|m| match m {
                PortMatch::Eq(p) => port == p,
                PortMatch::Neq(p) => port != p,
                PortMatch::Lt(p) => port < p,
                PortMatch::Gt(p) => port > p,
                PortMatch::Range(a, b) => (a..=b).contains(&port),
            })
    }
}

/// A compiled `match`: a protocol (`None`: any) and two ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    proto: Option<u8>,
    a: End,
    b: End,
}

impl Match {
    /// Whether a packet goes from `a` to `b` or from `b` to `a` (the
    /// ASA's `match` captures both directions); ports count for TCP, UDP
    /// and SCTP only (an ICMP echo's id rides in the tuple's ports).
    fn matches(&self, t: &Tuple) -> bool {
        if self.proto.is_some_and(|x| x != t.proto) {
            return false;
        }
        let v6 = t.src.addr.is_v6();
        let (sp, dp) = if crate::flow::proto::has_ports(t.proto) {
            (t.src.port, t.dst.port)
        } else {
            (0, 0)
        };
        (self.a.matches(v6, &t.src.addr, sp) && self.b.matches(v6, &t.dst.addr, dp))
            || (self.b.matches(v6, &t.src.addr, sp) && self.a.matches(v6, &t.dst.addr, dp))
    }
}

/// Which frames a capture keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Every frame.
    All,
    /// Both directions of a `match`.
    Match(Match),
    /// The permits of an access-list of the running policy, by name; the
    /// engine finds it in each policy it runs (none: nothing matches).
    AccessList(String),
}

/// A capture as the engine runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Its name.
    pub name: String,
    /// What it records.
    pub kind: Kind,
    /// This engine's share of its buffer, in bytes.
    pub buffer_bytes: usize,
    /// Bytes kept of each frame.
    pub packet_length: usize,
    /// Overwrite the oldest frames when full.
    pub circular: bool,
    /// Which frames.
    pub filter: Filter,
    /// The command as parsed, for the shell to show (its buffer is the
    /// whole node's).
    pub def: CaptureDef,
}

impl Spec {
    /// A parsed `capture` command for an engine of `interfaces`, with
    /// `share` of its buffer (a node of several workers splits it: each
    /// worker's engine keeps its own frames). Errors name what is wrong.
    pub fn from_def(
        def: &CaptureDef,
        interfaces: &[InterfaceConfig],
        buffer_bytes: usize,
    ) -> Result<Spec, String> {
        let kind = match &def.kind {
            CaptureType::RawData => {
                let name = def
                    .interface
                    .as_deref()
                    .ok_or("a raw-data capture needs 'interface IF'")?;
                let i = interfaces
                    .iter()
                    .position(|f| f.nameif == name)
                    .ok_or_else(|| format!("no interface named '{name}'"))?;
                Kind::RawData {
                    iface: IfaceId(i as u8),
                }
            }
            CaptureType::AspDrop(reason) => Kind::AspDrop {
                reason: match reason {
                    None => None,
                    Some(r) => {
                        Some(drop_reason(r).ok_or_else(|| format!("unknown drop reason '{r}'"))?)
                    }
                },
            },
        };
        let filter = match &def.filter {
            CaptureFilter::All => Filter::All,
            CaptureFilter::AccessList(n) => Filter::AccessList(n.clone()),
            CaptureFilter::Match(m) => Filter::Match(Match {
                proto: match m.protocol {
                    Protocol::Ip => None,
                    Protocol::Number(n) => Some(n),
                },
                a: End::of(&m.source, m.source_port)?,
                b: End::of(&m.destination, m.destination_port)?,
            }),
        };
        Ok(Spec {
            name: def.name.clone(),
            kind,
            buffer_bytes,
            packet_length: def.packet_length_bytes as usize,
            circular: def.circular,
            filter,
            def: def.clone(),
        })
    }

    /// The bytes of its buffer its bookkeeping takes, charged before any
    /// frame: the capture itself and its strings, the engine's list of
    /// captures, and for an asp-drop capture the copy of an arriving
    /// frame kept aside until it is judged.
    pub fn overhead_bytes(&self) -> usize {
        let s = |x: &String| x.capacity();
        let d = &self.def;
        let strings = s(&self.name)
            + s(&d.name)
            + d.interface.as_ref().map_or(0, s)
            + match &d.kind {
                CaptureType::AspDrop(Some(r)) => s(r),
                _ => 0,
            }
            + match &d.filter {
                CaptureFilter::AccessList(n) => s(n),
                _ => 0,
            }
            + match &self.filter {
                Filter::AccessList(n) => s(n),
                _ => 0,
            };
        let aside = match self.kind {
            Kind::AspDrop { .. } => self.packet_length,
            Kind::RawData { .. } => 0,
        };
        std::mem::size_of::<Capture>() + std::mem::size_of::<Captures>() + strings + aside
    }
}

/// The drop reason `show asp drop` names `label`.
pub fn drop_reason(label: &str) -> Option<DropReason> {
    DropReason::ALL.iter().copied().find(|r| r.label() == label)
}

/// Whether a capture still takes frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Capturing.
    Capturing,
    /// `capture NAME stop`.
    Stopped,
    /// A linear buffer that the next frame did not fit.
    Full,
}

/// One capture: its spec and its frames.
#[derive(Debug, Clone)]
pub struct Capture {
    spec: Spec,
    /// Index of its access-list in the policy in force.
    acl: Option<usize>,
    state: State,
    /// Its frames.
    ring: ring::Ring,
    /// Told apart from a capture of the same name added after it was
    /// removed ([`Cursor`]).
    id: u64,
    /// Frames a circular buffer let go to make room.
    overwritten: u64,
}

impl Capture {
    /// Its spec.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }
    /// Whether it still takes frames.
    pub fn state(&self) -> State {
        self.state
    }
    /// Its frames, oldest first, each copied out of the buffer.
    pub fn records(&self) -> Records<'_> {
        let (_, at) = self.ring.start();
        Records {
            ring: &self.ring,
            at,
            left: self.ring.count(),
        }
    }
    /// Bytes of frames kept (without their headers).
    pub fn captured_bytes(&self) -> usize {
        self.ring.data()
    }
    /// Buffer bytes in use (frames and their headers).
    pub fn used_bytes(&self) -> usize {
        self.ring.used()
    }
    /// Bytes its frames and their headers may take: its buffer less its
    /// bookkeeping ([`Spec::overhead_bytes`]).
    pub fn capacity_bytes(&self) -> usize {
        self.ring.capacity()
    }

    /// Where its oldest frame is, to copy its frames a part at a time.
    pub fn cursor(&self) -> Cursor {
        let (seq, at) = self.ring.start();
        Cursor {
            id: self.id,
            seq,
            at,
        }
    }

    /// Copies of its frames from `from` on, as many as `max_bytes` hold
    /// (their bytes and records; one at least), and where the next part
    /// starts;
    /// `None` once there is no more. Frames a circular buffer let go
    /// since `from` was taken are skipped; a cursor of another capture
    /// (this one removed and added again) starts over.
    pub fn records_from(&self, from: Cursor, max_bytes: usize) -> (Vec<Record>, Option<Cursor>) {
        let (first, head) = self.ring.start();
        let end = self.ring.end_seq();
        // A frame's place holds while it is kept; the oldest is at the
        // head whatever a clear did.
        let (mut seq, mut at) = if from.id == self.id && from.seq > first && from.seq <= end {
            (from.seq, from.at)
        } else {
            (first, head)
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        while seq < end && (out.is_empty() || bytes < max_bytes) {
            let (h, data, next) = self.ring.read(at, true);
            let data = data.unwrap_or_default();
            bytes += data.len() + std::mem::size_of::<Record>();
            out.push(Record::of(h, data));
            (seq, at) = (seq + 1, next);
        }
        let more = (seq < end).then_some(Cursor {
            id: self.id,
            seq,
            at,
        });
        (out, more)
    }
    /// Frames a circular buffer let go.
    pub fn overwritten(&self) -> u64 {
        self.overwritten
    }

    fn selects(&self, policy: &Policy, parsed: Option<&Parsed>) -> bool {
        let Some(Parsed::Ip {
            tuple,
            transport,
            ah,
            ..
        }) = parsed
        else {
            // Not IP, or not parsed: only a capture without a filter.
            return self.spec.filter == Filter::All;
        };
        match &self.spec.filter {
            Filter::All => true,
            Filter::Match(m) => m.matches(tuple),
            Filter::AccessList(_) => self
                .acl
                .and_then(|i| policy.acls().get(i))
                .is_some_and(|a| {
                    let icmp = transport.icmp_type_code(tuple.src.addr.is_v6());
                    a.decide(&Probe::of_packet(tuple, *ah, icmp)) == Some(true)
                }),
        }
    }

    fn keep(
        &mut self,
        frame: &[u8],
        wire_len: usize,
        at: Instant,
        iface: IfaceId,
        seen: Seen,
        reason: Option<DropReason>,
    ) {
        if self.state != State::Capturing {
            return;
        }
        let n = frame
            .len()
            .min(self.spec.packet_length)
            .min(usize::from(u16::MAX));
        let cost = n + RECORD_OVERHEAD_BYTES;
        if cost > self.ring.capacity() {
            // Not even an empty buffer holds it.
            if !self.spec.circular {
                self.state = State::Full;
            }
            return;
        }
        while self.ring.used() + cost > self.ring.capacity() {
            if !self.spec.circular {
                self.state = State::Full;
                return;
            }
            if !self.ring.pop() {
                break;
            }
            self.overwritten = self.overwritten.saturating_add(1);
        }
        let tag = match (seen, reason) {
            (Seen::Ingress, _) => 0,
            (Seen::Egress, _) => 1,
            (Seen::Dropped, r) => r.map_or(255, |r| r.index() as u8 + 2),
        };
        let header = ring::Header {
            at_ns: at.as_nanos(),
            wire_len: u32::try_from(wire_len).unwrap_or(u32::MAX),
            len: n as u16,
            iface: iface.0,
            tag,
        };
        self.ring.push(header, &frame[..n]);
    }
}

/// Where a copy of a capture's frames a part at a time goes on
/// ([`Capture::records_from`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    id: u64,
    seq: u64,
    at: usize,
}

/// A capture's frames, oldest first, each copied out of its buffer.
#[derive(Debug)]
pub struct Records<'a> {
    ring: &'a ring::Ring,
    at: usize,
    left: usize,
}

impl Iterator for Records<'_> {
    type Item = Record;
    fn next(&mut self) -> Option<Record> {
        if self.left == 0 {
            return None;
        }
        let (h, data, next) = self.ring.read(self.at, true);
        self.at = next;
        self.left -= 1;
        Some(Record::of(h, data.unwrap_or_default()))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Records<'_> {}

/// Why a capture could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    /// A capture of that name exists.
    #[error("capture {0} exists: remove it first ('no capture {0}')")]
    Exists(String),
    /// [`MAX_CAPTURES`] exist.
    #[error("at most {MAX_CAPTURES} captures")]
    TooMany,
}

/// The captures of one engine.
#[derive(Debug, Clone, Default)]
pub struct Captures {
    list: Vec<Capture>,
    /// The next capture's [`Capture::id`].
    next_id: u64,
    /// The frame as it arrived, for the asp-drop captures (the engine
    /// may rewrite it before a later drop).
    arrived: Vec<u8>,
}

/// The frame being judged, as the captures saw it arrive.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Selected {
    /// Captures whose filter selects it, a bit each.
    mask: u32,
    /// Whether [`Captures::arrived`] holds its first bytes.
    kept_arrival: bool,
}

impl Captures {
    /// Every capture, in the order they were added.
    pub fn list(&self) -> &[Capture] {
        &self.list
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Add a capture, finding its access-list in `policy`.
    pub fn add(&mut self, spec: Spec, policy: &Policy) -> Result<(), AddError> {
        if self.list.iter().any(|c| c.spec.name == spec.name) {
            return Err(AddError::Exists(spec.name));
        }
        if self.list.len() >= MAX_CAPTURES {
            return Err(AddError::TooMany);
        }
        let bytes = spec.buffer_bytes.saturating_sub(spec.overhead_bytes());
        let mut c = Capture {
            spec,
            acl: None,
            state: State::Capturing,
            ring: ring::Ring::new(bytes),
            id: self.next_id,
            overwritten: 0,
        };
        self.next_id += 1;
        c.acl = acl_index(&c.spec, policy);
        // One slot per capture: the list is part of their bookkeeping.
        self.list.reserve_exact(1);
        self.list.push(c);
        Ok(())
    }

    /// Remove a capture; whether it existed.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.list.len();
        self.list.retain(|c| c.spec.name != name);
        self.list.shrink_to_fit();
        self.list.len() != before
    }

    /// Empty a capture's buffer (a full one captures again); whether it existed.
    pub fn clear(&mut self, name: &str) -> bool {
        self.with(name, |c| {
            c.ring.clear();
            c.overwritten = 0;
            if c.state == State::Full {
                c.state = State::Capturing;
            }
        })
    }

    /// Stop (`false`) or restart (`true`) a capture, its frames kept;
    /// whether it existed. A full linear buffer stays full.
    pub fn run(&mut self, name: &str, on: bool) -> bool {
        self.with(name, |c| match (on, c.state) {
            (false, _) => c.state = State::Stopped,
            (true, State::Stopped) => c.state = State::Capturing,
            (true, _) => {}
        })
    }

    fn with(&mut self, name: &str, f: impl FnOnce(&mut Capture)) -> bool {
        match self.list.iter_mut().find(|c| c.spec.name == name) {
            Some(c) => {
                f(c);
                true
            }
            None => false,
        }
    }

    /// A new policy: find each capture's access-list in it.
    pub(crate) fn policy_changed(&mut self, policy: &Policy) {
        for c in &mut self.list {
            c.acl = acl_index(&c.spec, policy);
        }
    }

    /// A frame arrives on `ingress`: note which captures select it, keep
    /// it in the raw-data captures of `ingress`, and keep its first bytes
    /// aside if an asp-drop capture selects it.
    pub(crate) fn arrive(
        &mut self,
        frame: &[u8],
        ingress: IfaceId,
        at: Instant,
        policy: &Policy,
        parsed: Option<&Parsed>,
    ) -> Selected {
        let mut sel = Selected::default();
        let mut aside = 0;
        for (i, c) in self.list.iter_mut().enumerate() {
            if c.state != State::Capturing || !c.selects(policy, parsed) {
                continue;
            }
            sel.mask |= 1 << i;
            match c.spec.kind {
                Kind::RawData { iface } if iface == ingress => {
                    c.keep(frame, frame.len(), at, ingress, Seen::Ingress, None);
                }
                Kind::RawData { .. } => {}
                Kind::AspDrop { .. } => aside = aside.max(c.spec.packet_length),
            }
        }
        if aside > 0 {
            self.arrived.clear();
            // No more than the longest packet length of the asp-drop
            // captures (each charged it, `Spec::overhead_bytes`).
            self.arrived.reserve_exact(aside);
            self.arrived
                .extend_from_slice(&frame[..frame.len().min(aside)]);
            sel.kept_arrival = true;
        }
        sel
    }

    /// The frame `sel` selected leaves by `egress` as `frame`.
    pub(crate) fn leave(&mut self, sel: Selected, frame: &[u8], egress: IfaceId, at: Instant) {
        for (i, c) in self.list.iter_mut().enumerate() {
            if sel.mask & (1 << i) != 0 && c.spec.kind == (Kind::RawData { iface: egress }) {
                c.keep(frame, frame.len(), at, egress, Seen::Egress, None);
            }
        }
    }

    /// The frame `sel` selected, which arrived on `ingress`, was dropped
    /// for `reason`; `wire_len` is its length as it arrived.
    pub(crate) fn dropped(
        &mut self,
        sel: Selected,
        ingress: IfaceId,
        reason: DropReason,
        wire_len: usize,
        at: Instant,
    ) {
        if !sel.kept_arrival {
            return;
        }
        let arrived = std::mem::take(&mut self.arrived);
        for (i, c) in self.list.iter_mut().enumerate() {
            if sel.mask & (1 << i) == 0 {
                continue;
            }
            if let Kind::AspDrop { reason: want } = c.spec.kind
                && want.is_none_or(|w| w == reason)
            {
                c.keep(&arrived, wire_len, at, ingress, Seen::Dropped, Some(reason));
            }
        }
        self.arrived = arrived;
    }

    /// A frame that waited for a peer's state was dropped for `reason` at
    /// its deadline: kept, as it waited, by the asp-drop captures that
    /// select it.
    pub(crate) fn dropped_late(
        &mut self,
        frame: &[u8],
        ingress: IfaceId,
        reason: DropReason,
        at: Instant,
        policy: &Policy,
        parsed: Option<&Parsed>,
    ) {
        for c in &mut self.list {
            if c.state == State::Capturing
                && matches!(c.spec.kind, Kind::AspDrop { reason: want } if want.is_none_or(|w| w == reason))
                && c.selects(policy, parsed)
            {
                c.keep(frame, frame.len(), at, ingress, Seen::Dropped, Some(reason));
            }
        }
    }

    /// A frame the engine sends on its own or after a wait leaves by
    /// `egress`: kept by the raw-data captures of `egress` that select it.
    pub(crate) fn sent(
        &mut self,
        frame: &[u8],
        egress: IfaceId,
        at: Instant,
        policy: &Policy,
        parsed: Option<&Parsed>,
    ) {
        for c in &mut self.list {
            if c.state == State::Capturing
                && c.spec.kind == (Kind::RawData { iface: egress })
                && c.selects(policy, parsed)
            {
                c.keep(frame, frame.len(), at, egress, Seen::Egress, None);
            }
        }
    }
}

fn acl_index(spec: &Spec, policy: &Policy) -> Option<usize> {
    match &spec.filter {
        Filter::AccessList(n) => policy.acls().iter().position(|a| a.name == *n),
        _ => None,
    }
}
