//! Writes the seed corpus of every target (see `src/corpus.rs`), or of the
//! targets named: `cargo run --example make_corpus [TARGET…]`, in `fuzz/`.
//! For the targets with [`Outcomes`](rampart_fuzz::corpus::Outcomes) it
//! also writes what the target made of each seed to
//! `expect/<target>/<seed>.expect`: after a change of behaviour, review the
//! diff of those files before committing it. Seed and `.expect` files no
//! target builds any more are removed; the fuzzer's own finds (not
//! `seed-*`) are left alone.

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

        if target.outcomes.is_none() {
            continue;
        }
        let expect_dir = target.expect_dir();
        let expect_dir = Path::new(&expect_dir);
        fs::create_dir_all(expect_dir).expect("expect dir");
        for old in fs::read_dir(expect_dir).expect("expect dir") {
            let old = old.expect("entry").file_name();
            let old = old.to_string_lossy();
            let seed = old.strip_suffix(".expect").unwrap_or(&old);
            if !seeds.iter().any(|s| s.name == seed) {
                fs::remove_file(expect_dir.join(&*old)).expect("remove stale expect file");
            }
        }
        for seed in &seeds {
            let file = target
                .expect_file(&seed.name, &seed.input)
                .expect("a target with outcomes");
            fs::write(expect_dir.join(format!("{}.expect", seed.name)), file)
                .expect("write expect file");
        }
        println!("{}: {} expect files", target.name, seeds.len());
    }
}
