//! Bytes through the Raft codec as an RPC message or a store record;
//! whatever decodes must round-trip. The input format is in
//! `src/raft_codec.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    std::hint::black_box(rampart_fuzz::raft_codec::run(data));
});
