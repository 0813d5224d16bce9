//! ASA configuration text through the parser and, when it parses, the
//! compiler: neither may panic or take super-linear time (run with
//! `-timeout=10`). See `src/policy_parse.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    std::hint::black_box(rampart_fuzz::policy_parse::run(data));
});
