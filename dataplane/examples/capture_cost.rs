//! Instructions per packet of the engine with and without packet
//! captures, for callgrind (scripts/bench/README.md, "capture cost"):
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='capture_cost::measure_new' \
//!     target/release/examples/capture_cost none
//! ```
//!
//! A fixed workload: 2,000 connections opened (SYN, SYN-ACK, ACK), then
//! 10,000 in-window data segments over 1,000 other established ones,
//! frames built before the measured functions. The argument says which
//! capture runs: `none`, `nomatch` (one raw-data capture on the inside
//! whose match selects nothing) or `match` (one that selects every frame,
//! a circular buffer large enough to keep them all).

use std::hint::black_box;
use std::sync::Arc;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::policy::compile::{compile, randomization_off};
use rampart_dataplane::trace::{Side, TcpModel, v4_pair};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant};

const NEW_CONNS: u32 = 2_000;
const EST_CONNS: u32 = 1_000;
const EST_ROUNDS: u32 = 10;

type Frames = Vec<(Vec<u8>, IfaceId)>;

fn setup_capture(e: &mut Engine, scenario: &str) {
    use rampart_asa::{CaptureCommand, parse_capture};
    use rampart_dataplane::capture::{Spec, drop_reason};
    let line = match scenario {
        "none" => return,
        "nomatch" => "capture c interface inside match tcp host 198.19.255.1 any",
        "match" => "capture c interface inside match tcp any any buffer 33554432 circular-buffer",
        other => panic!("unknown scenario {other}"),
    };
    let Ok(CaptureCommand::Define(def)) = parse_capture(line, &|w| drop_reason(w).is_some()) else {
        panic!("{line}")
    };
    let spec = Spec::from_def(&def, &e.config().interfaces, def.buffer_bytes as usize).unwrap();
    e.capture_add(spec).unwrap();
}

#[inline(never)]
fn measure_new(e: &mut Engine, frames: &mut Frames, now: &mut u64) {
    for (f, iface) in frames.iter_mut() {
        *now += 1_000;
        black_box(e.process(f, PacketMeta::default(), *iface, Instant::from_nanos(*now)));
    }
}

#[inline(never)]
fn measure_established(e: &mut Engine, frames: &mut Frames, now: &mut u64) {
    for (f, iface) in frames.iter_mut() {
        *now += 2_000;
        black_box(e.process(f, PacketMeta::default(), *iface, Instant::from_nanos(*now)));
    }
}

fn model(i: u32) -> TcpModel {
    let (c, s) = v4_pair(10_000 + i as u16, 443);
    TcpModel::new(c, s, [i, !i], [64_240, 65_160], [Some(7), Some(7)])
}

fn main() {
    let scenario = std::env::args().nth(1).unwrap_or_else(|| "none".into());
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    cfg.max_conns = 8_192;
    let mut e = Engine::new(cfg).unwrap();
    let p = compile(&randomization_off(), &e.config().interfaces).unwrap();
    e.set_policy(Arc::new(p)).unwrap();
    setup_capture(&mut e, &scenario);
    let mut now = Instant::from_secs(10).as_nanos();

    let mut new: Frames = Vec::new();
    for i in 0..NEW_CONNS {
        let mut m = model(i);
        let [syn, sa, ack] = m.handshake();
        new.push((m.frame(&syn), IfaceId(0)));
        new.push((m.frame(&sa), IfaceId(1)));
        new.push((m.frame(&ack), IfaceId(0)));
    }
    measure_new(&mut e, &mut new, &mut now);

    let mut open: Frames = Vec::new();
    let mut models: Vec<TcpModel> = (NEW_CONNS..NEW_CONNS + EST_CONNS).map(model).collect();
    for m in &mut models {
        let [syn, sa, ack] = m.handshake();
        open.push((m.frame(&syn), IfaceId(0)));
        open.push((m.frame(&sa), IfaceId(1)));
        open.push((m.frame(&ack), IfaceId(0)));
    }
    let mut data: Frames = Vec::new();
    for _ in 0..EST_ROUNDS {
        for m in &mut models {
            let d = m.data(Side::Client, 100);
            data.push((m.frame(&d), IfaceId(0)));
        }
    }
    measure_new(&mut e, &mut open, &mut now);
    measure_established(&mut e, &mut data, &mut now);
    assert_eq!(e.counters().total_dropped(), 0);
    println!(
        "{scenario}: {} forwarded, {} new, {} established",
        e.counters().forwarded_packets,
        NEW_CONNS,
        EST_CONNS * EST_ROUNDS
    );
}
