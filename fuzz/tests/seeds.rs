//! The checked-in seeds are the ones `src/seeds.rs` builds, and the fuzz
//! driver replays each with the verdicts it was built with.

use std::path::Path;

#[test]
fn checked_in_seeds_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(rampart_fuzz::seeds::DIR);
    let seeds = rampart_fuzz::seeds::all();
    assert!(seeds.len() <= 30, "a small corpus");
    for seed in &seeds {
        let on_disk = std::fs::read(dir.join(seed.name)).unwrap_or_else(|e| {
            panic!("{}: {e}; run `cargo run --example make_corpus`", seed.name)
        });
        assert!(
            on_disk == seed.input,
            "{} is stale; run `cargo run --example make_corpus`",
            seed.name
        );
    }
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .filter(|n| n.starts_with("seed-"))
        .collect();
    names.sort();
    let mut built: Vec<_> = seeds.iter().map(|s| s.name.to_string()).collect();
    built.sort();
    assert_eq!(names, built, "no stray seed files");
}

#[test]
fn seeds_replay_with_their_verdicts() {
    for seed in rampart_fuzz::seeds::all() {
        let mut verdicts = Vec::new();
        rampart_fuzz::run(&seed.input, |v| verdicts.push(v));
        assert_eq!(verdicts, seed.verdicts, "{}", seed.name);
    }
}
