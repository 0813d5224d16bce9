//! Instructions per packet of the engine with and without packet
//! captures, for callgrind (scripts/bench/README.md, "capture cost"):
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='capture_cost::workload::measure_new' \
//!     target/release/examples/capture_cost none
//! ```
//!
//! A fixed workload: 2,000 connections opened (SYN, SYN-ACK, ACK), then
//! 10,000 in-window data segments over 1,000 other established ones,
//! frames built before the measured functions. The argument says which
//! capture runs: `none`, `nomatch` (one raw-data capture on the inside
//! whose match selects nothing) or `match` (one that selects every frame,
//! a circular buffer large enough to keep them all).

use std::sync::Arc;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::policy::compile::{compile, randomization_off};
use rampart_dataplane::trace::Side;
use rampart_dataplane::{Engine, EngineConfig};

#[path = "workload/mod.rs"]
mod workload;
use workload::{EST_CONNS, EST_ROUNDS, NEW_CONNS};

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

fn main() {
    let scenario = std::env::args().nth(1).unwrap_or_else(|| "none".into());
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    cfg.max_conns = 8_192;
    let mut e = Engine::new(cfg).unwrap();
    let p = compile(&randomization_off(), &e.config().interfaces).unwrap();
    e.set_policy(Arc::new(p)).unwrap();
    setup_capture(&mut e, &scenario);
    workload::run(&mut e, |m, _| {
        let d = m.data(Side::Client, 100);
        m.frame(&d)
    });
    assert_eq!(e.counters().total_dropped(), 0);
    println!(
        "{scenario}: {} forwarded, {} new, {} established",
        e.counters().forwarded_packets,
        NEW_CONNS,
        EST_CONNS * EST_ROUNDS
    );
}
