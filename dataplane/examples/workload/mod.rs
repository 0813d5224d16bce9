//! The workload the engine cost examples share (`capture_cost.rs`,
//! `tcp_map_cost.rs`; scripts/bench/README.md): 2,000 connections opened
//! (SYN, SYN-ACK, ACK), then 10,000 in-window data segments over 1,000
//! other established ones, frames built before the measured functions,
//! which callgrind collects by name (`--toggle-collect='*::measure_new'`).

use std::hint::black_box;

use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{TcpModel, v4_pair};
use rampart_dataplane::{Engine, IfaceId, Instant};

/// Connections opened in the measured handshakes.
pub const NEW_CONNS: u32 = 2_000;
/// Established connections the data segments belong to.
pub const EST_CONNS: u32 = 1_000;
/// Data segments per established connection.
pub const EST_ROUNDS: u32 = 10;

/// Frames and the interface each arrives on.
pub type Frames = Vec<(Vec<u8>, IfaceId)>;

#[inline(never)]
pub fn measure_new(e: &mut Engine, frames: &mut Frames, now: &mut u64) {
    for (f, iface) in frames.iter_mut() {
        *now += 1_000;
        black_box(e.process(f, PacketMeta::default(), *iface, Instant::from_nanos(*now)));
    }
}

#[inline(never)]
pub fn measure_established(e: &mut Engine, frames: &mut Frames, now: &mut u64) {
    for (f, iface) in frames.iter_mut() {
        *now += 2_000;
        black_box(e.process(f, PacketMeta::default(), *iface, Instant::from_nanos(*now)));
    }
}

fn model(i: u32) -> TcpModel {
    let (c, s) = v4_pair(10_000 + i as u16, 443);
    TcpModel::new(c, s, [i, !i], [64_240, 65_160], [Some(7), Some(7)])
}

/// Each model's handshake, as frames.
fn handshakes(models: &mut [TcpModel]) -> Frames {
    let mut frames = Frames::new();
    for m in models {
        let [syn, sa, ack] = m.handshake();
        frames.push((m.frame(&syn), IfaceId(0)));
        frames.push((m.frame(&sa), IfaceId(1)));
        frames.push((m.frame(&ack), IfaceId(0)));
    }
    frames
}

/// Run the workload on `e`: the new connections' handshakes measured
/// ([`measure_new`]), the established ones opened, then their data
/// segments, each built by `data` (the model, the round), measured
/// ([`measure_established`]).
pub fn run(e: &mut Engine, mut data: impl FnMut(&mut TcpModel, u32) -> Vec<u8>) {
    let mut now = Instant::from_secs(10).as_nanos();
    let mut fresh: Vec<TcpModel> = (0..NEW_CONNS).map(model).collect();
    let mut new = handshakes(&mut fresh);
    measure_new(e, &mut new, &mut now);
    let mut models: Vec<TcpModel> = (NEW_CONNS..NEW_CONNS + EST_CONNS).map(model).collect();
    let mut open = handshakes(&mut models);
    let mut segments = Frames::new();
    for round in 0..EST_ROUNDS {
        for m in &mut models {
            segments.push((data(m, round), IfaceId(0)));
        }
    }
    measure_new(e, &mut open, &mut now);
    measure_established(e, &mut segments, &mut now);
}
