//! One clustered engine fed frames interleaved with its peers' sync
//! messages, acknowledgements and timers: it must never panic. The input
//! format is in `src/engine_sync.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rampart_fuzz::engine_sync::run(data, |handled| {
        std::hint::black_box(handled);
    });
});
