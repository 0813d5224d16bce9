//! Writes the seed corpus of `engine_process` (see `src/seeds.rs`):
//! `cargo run --example make_corpus`, in `fuzz/`.

use std::fs;
use std::path::Path;

fn main() {
    let dir = Path::new(rampart_fuzz::seeds::DIR);
    fs::create_dir_all(dir).expect("corpus dir");
    for seed in rampart_fuzz::seeds::all() {
        fs::write(dir.join(seed.name), &seed.input).expect("write seed");
        println!(
            "{} ({} bytes, {} frames)",
            seed.name,
            seed.input.len(),
            seed.verdicts.len()
        );
    }
}
