//! One node's sync protocol fed its peers' frames, interleaved with
//! connections coming and going, local events and time: it must never
//! panic. The input format is in `src/sync_frame.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rampart_fuzz::sync_frame::run(data, |outcome| {
        std::hint::black_box(outcome);
    });
});
