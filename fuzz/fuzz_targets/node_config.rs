//! TOML text through the node configuration loader; an accepted file must
//! build an engine. See `src/node_config.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    std::hint::black_box(rampart_fuzz::node_config::run(data));
});
