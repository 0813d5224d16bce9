//! Feeds a sequence of frames to one engine with an advancing clock, then
//! sweeps expired entries: the engine must never panic.
//!
//! Input format, repeated until the input ends:
//! `[control: u8] [advance_ms: u8] [len: u16 big-endian] [frame: len bytes]`
//! where control bit 0 picks the ingress interface (0 inside, 1 outside),
//! bits 1-2 the checksum knowledge (0 unverified, 1 partial, 2-3 verified),
//! and bit 3 an unknown interface (index 7).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::{ChecksumState, PacketMeta};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant};

fuzz_target!(|data: &[u8]| {
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    cfg.max_conns = 64;
    let Ok(mut engine) = Engine::new(cfg) else {
        return;
    };
    let mut now = Instant::from_secs(1);
    let mut rest = data;
    let mut buf = Vec::new();
    while let [control, advance, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        buf.clear();
        buf.extend_from_slice(&tail[..len]);
        rest = &tail[len..];
        let iface = if control & 0x08 != 0 {
            IfaceId(7)
        } else {
            IfaceId(control & 1)
        };
        let checksum = match (control >> 1) & 3 {
            0 => ChecksumState::Unverified,
            1 => ChecksumState::Partial,
            _ => ChecksumState::Verified,
        };
        now = Instant::from_nanos(now.as_nanos() + u64::from(*advance) * 50_000_000);
        let _ = engine.process(&mut buf, PacketMeta { checksum }, iface, now);
        engine.expire(now);
    }
});
