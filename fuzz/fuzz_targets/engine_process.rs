//! Feeds a sequence of frames to one engine with an advancing clock,
//! sweeping expired entries after each: the engine must never panic. The
//! input format is documented in `src/lib.rs` and the README.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rampart_fuzz::run(data, |verdict| {
        std::hint::black_box(verdict);
    });
});
