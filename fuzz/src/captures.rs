//! `engine_process` with captures (docs/asa-behaviour.md §2.11): control
//! bits 4-6 of an input's *second* record (ignored before the choice
//! existed, and clear in every seed written then) add captures to the
//! engine before the first frame:
//!
//! - bit 4: a `raw-data` capture with `match ip any any` on the inside
//!   (bit 6 set: the outside), a small circular buffer, so it wraps;
//! - bit 5: an `asp-drop all` capture, a small linear buffer, so it fills.
//!
//! A capture only copies: it must never change a verdict, the bytes the
//! engine forwards or the frames it sends of its own. The driver runs a
//! twin engine of the same setup without captures on the same frames and
//! compares both ([`crate::Driver`]); the verdicts stay those of the
//! `.expect` files. At the end, every kept frame is checked against what
//! the engine saw ([`check`]): no longer than the packet length or its
//! wire length; one seen entering or dropped is the start of a frame as it
//! arrived (a dropped one may also be a datagram reassembled from the
//! input's fragments, kept whole as judged), one seen leaving the start of
//! a frame as the engine forwarded, released or sent it; the buffer holds no more than its capacity; copying the
//! frames out a part at a time (as `show capture` does) gives the same
//! frames. Each is then decoded in `show capture`'s three views
//! ([`crate::capture::decode`]).

use rampart_asa::{CaptureCommand, parse_capture};
use rampart_dataplane::capture::{Kind, Seen, Spec, drop_reason};
use rampart_dataplane::iface::InterfaceConfig;
use rampart_dataplane::{Engine, IfaceId, Instant};

/// Control bit 4 of the second record: the raw-data capture.
const RAW_BIT: u8 = 0x10;
/// Control bit 5 of the second record: the asp-drop capture.
const DROP_BIT: u8 = 0x20;
/// Control bit 6 of the second record: the raw-data capture is on the
/// outside.
const OUTSIDE_BIT: u8 = 0x40;

/// The raw-data capture, `{}` its interface.
const RAW: &str = "capture fz-raw type raw-data interface {} buffer 1534 packet-length 200 \
                   circular-buffer match ip any any";
/// The asp-drop capture.
const DROPS: &str = "capture fz-drop type asp-drop all buffer 2048 packet-length 96";

/// The captures of an input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Captures {
    /// The raw-data capture's interface, if it has one.
    pub raw: Option<IfaceId>,
    /// The asp-drop capture.
    pub drops: bool,
}

impl Captures {
    /// The captures the second record's control byte selects (none for an
    /// input of one record).
    pub fn of_input(data: &[u8]) -> Self {
        crate::records(data)
            .nth(1)
            .map_or_else(Captures::default, |(c, _, _)| Captures::from_control(c))
    }

    /// The captures of a second record's control byte.
    pub fn from_control(control: u8) -> Self {
        Captures {
            raw: (control & RAW_BIT != 0).then_some(IfaceId(u8::from(control & OUTSIDE_BIT != 0))),
            drops: control & DROP_BIT != 0,
        }
    }

    /// The bits to set in the second record's control byte.
    pub fn control_bits(self) -> u8 {
        self.raw
            .map_or(0, |i| RAW_BIT | if i.0 == 1 { OUTSIDE_BIT } else { 0 })
            | if self.drops { DROP_BIT } else { 0 }
    }

    /// Whether there is any.
    pub fn any(self) -> bool {
        self.raw.is_some() || self.drops
    }

    /// Add them to `engine`, parsed as an operator types them.
    pub fn add_to(self, engine: &mut Engine) {
        let interfaces = InterfaceConfig::inside_outside();
        let mut lines = Vec::new();
        if let Some(i) = self.raw {
            lines.push(RAW.replace("{}", if i.0 == 1 { "outside" } else { "inside" }));
        }
        if self.drops {
            lines.push(DROPS.to_string());
        }
        for line in lines {
            let Ok(CaptureCommand::Define(def)) =
                parse_capture(&line, &|w| drop_reason(w).is_some())
            else {
                panic!("a fuzz capture parses: {line}");
            };
            // One worker's share of a node of two (ops splits a buffer
            // evenly between the workers): a few frames fill it.
            let spec = Spec::from_def(&def, &interfaces, def.buffer_bytes as usize / 2)
                .unwrap_or_else(|e| panic!("a fuzz capture fits the engine: {e}"));
            engine
                .capture_add(spec)
                .unwrap_or_else(|e| panic!("a fuzz capture is added: {e:?}"));
        }
    }
}

/// Hold the frames `engine`'s captures kept to what it saw: `arrived`, the
/// frames as they arrived; `left`, the frames as the engine forwarded or
/// sent them; `now`, the clock of the last step. Then decode each.
pub fn check(engine: &Engine, arrived: &[&[u8]], left: &[Vec<u8>], now: Instant) {
    let Some(caps) = engine.captures() else {
        return;
    };
    for cap in caps.list() {
        let spec = cap.spec();
        assert!(
            cap.used_bytes() <= cap.capacity_bytes(),
            "capture {} holds {} bytes in {}",
            spec.name,
            cap.used_bytes(),
            cap.capacity_bytes()
        );
        let records: Vec<_> = cap.records().collect();
        // As `show capture` copies them: a part at a time.
        let mut parts = Vec::new();
        let mut cursor = Some(cap.cursor());
        while let Some(from) = cursor {
            let (part, next) = cap.records_from(from, 300);
            assert!(
                !part.is_empty() || records.is_empty(),
                "a part of capture {} is empty",
                spec.name
            );
            parts.extend(part);
            cursor = next;
        }
        assert_eq!(parts, records, "capture {} copied in parts", spec.name);
        let mut last = crate::START;
        for r in &records {
            let len = r.data.len();
            assert!(
                len <= spec.packet_length && len <= r.wire_len as usize,
                "capture {} kept {len} bytes of a {}-byte frame (packet length {})",
                spec.name,
                r.wire_len,
                spec.packet_length
            );
            assert!(
                r.at >= last && r.at <= now,
                "capture {}: a frame out of time",
                spec.name
            );
            last = r.at;
            let whole = |f: &[u8]| f.len() == r.wire_len as usize && f.starts_with(&r.data);
            match (spec.kind, r.seen) {
                (Kind::RawData { iface }, Seen::Ingress) => {
                    assert_eq!(r.iface, iface);
                    assert!(
                        arrived.iter().any(|f| whole(f)),
                        "capture {} kept an arriving frame as it did not arrive: {r:?}",
                        spec.name
                    );
                }
                (Kind::RawData { iface }, Seen::Egress) => {
                    assert_eq!(r.iface, iface);
                    assert!(
                        left.iter().any(|f| whole(f)),
                        "capture {} kept a leaving frame as it did not leave: {r:?}",
                        spec.name
                    );
                }
                (Kind::AspDrop { .. }, Seen::Dropped) => {
                    assert!(r.reason.is_some(), "a drop without its reason: {r:?}");
                    // A datagram that came in fragments and is dropped
                    // once reassembled is kept whole, as judged
                    // (docs/asa-behaviour.md §2.11): not an arrival.
                    let reassembled = arrived.iter().any(|f| is_fragment(f));
                    assert!(
                        reassembled || arrived.iter().any(|f| whole(f)),
                        "capture {} kept a dropped frame as it did not arrive: {r:?}",
                        spec.name
                    );
                }
                (kind, seen) => panic!("capture {} of {kind:?} kept a frame {seen:?}", spec.name),
            }
            crate::capture::decode(&r.data, r.wire_len);
        }
    }
}

/// Whether `frame` is an IPv4 fragment, or an IPv6 packet whose first
/// extension header is a fragment header (RFC 8200 §4.5), behind any
/// number of VLAN tags: enough to tell an input that may reassemble.
fn is_fragment(frame: &[u8]) -> bool {
    let mut at = 12;
    while let Some(&[hi, lo]) = frame.get(at..at + 2) {
        match u16::from_be_bytes([hi, lo]) {
            0x8100 | 0x88a8 => at += 4,
            0x0800 => {
                return frame
                    .get(at + 8..at + 10)
                    .is_some_and(|f| u16::from_be_bytes([f[0], f[1]]) & 0x3fff != 0);
            }
            0x86dd => return frame.get(at + 8) == Some(&44),
            _ => return false,
        }
    }
    false
}

/// `input` with `captures` set in its second record's control byte
/// (unchanged if it has one record).
pub fn with_captures(input: &[u8], captures: Captures) -> Vec<u8> {
    let mut out = input.to_vec();
    if let Some([hi, lo]) = input.get(2..4).map(|b| [b[0], b[1]]) {
        let second = crate::STEP_HEADER_LEN + usize::from(u16::from_be_bytes([hi, lo]));
        if let Some(c) = out.get_mut(second) {
            *c = (*c & !(RAW_BIT | DROP_BIT | OUTSIDE_BIT)) | captures.control_bits();
        }
    }
    out
}
