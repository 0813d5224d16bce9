//! Feeds a sequence of frames to one engine with an advancing clock, one
//! by one or in batches, under one of several policies, sweeping expired
//! entries after each: the engine must never panic, and must keep the
//! checksums of what it forwards and builds valid (`src/oracle.rs`). The
//! input format is documented in `src/lib.rs` and the README.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rampart_fuzz::run(data, |outcome| {
        std::hint::black_box(outcome);
    });
});
