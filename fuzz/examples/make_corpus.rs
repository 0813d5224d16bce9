//! Writes the seed corpus of every target (see `src/corpus.rs`), or of the
//! targets named: `cargo run --example make_corpus [TARGET…]`, in `fuzz/`.
//! Seed files no target builds any more are removed; the fuzzer's own
//! finds (not `seed-*`) are left alone.

use std::fs;
use std::path::Path;

fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    for target in rampart_fuzz::corpus::targets() {
        if !only.is_empty() && !only.iter().any(|t| t == target.name) {
            continue;
        }
        let dir = Path::new(target.dir);
        fs::create_dir_all(dir).expect("corpus dir");
        let seeds = (target.seeds)();
        for old in fs::read_dir(dir).expect("corpus dir") {
            let old = old.expect("entry").file_name();
            let old = old.to_string_lossy();
            if old.starts_with("seed-") && !seeds.iter().any(|s| s.name == old) {
                fs::remove_file(dir.join(&*old)).expect("remove stale seed");
            }
        }
        for seed in &seeds {
            fs::write(dir.join(&seed.name), &seed.input).expect("write seed");
        }
        let bytes: usize = seeds.iter().map(|s| s.input.len()).sum();
        println!("{}: {} seeds, {bytes} bytes", target.name, seeds.len());
    }
}
