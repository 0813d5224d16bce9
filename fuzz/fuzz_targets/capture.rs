//! `capture` command lines through their parser, and captured frames
//! through `show capture`'s decoder and the pcap writer, read back. See
//! `src/capture.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    std::hint::black_box(rampart_fuzz::capture::run(data));
});
