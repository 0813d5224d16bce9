//! What the capture tests' engines share (`capture.rs`, and
//! `capture_memory.rs`, its own binary for its counting allocator).

use std::sync::Arc;

use rampart_asa::{CaptureCommand, parse_capture};
use rampart_dataplane::capture::{Spec, drop_reason};
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::policy::compile::{compile, disable_randomization};
use rampart_dataplane::policy::parse_config;
use rampart_dataplane::{Engine, EngineConfig};

/// An inside/outside engine running policy `text`, sequence
/// randomization off.
pub fn engine(text: &str) -> Engine {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    let mut cfg = parse_config(text).expect("parses").config;
    disable_randomization(&mut cfg);
    let p = compile(&cfg, &e.config().interfaces).expect("compiles");
    e.set_policy(Arc::new(p)).expect("fits");
    e
}

/// Add the capture of command `line`, with all of its buffer.
pub fn capture(e: &mut Engine, line: &str) {
    let Ok(CaptureCommand::Define(def)) = parse_capture(line, &|w| drop_reason(w).is_some()) else {
        panic!("{line}")
    };
    let spec = Spec::from_def(&def, &e.config().interfaces, def.buffer_bytes as usize).unwrap();
    e.capture_add(spec).unwrap();
}
