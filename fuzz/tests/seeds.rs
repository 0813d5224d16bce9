//! The checked-in seeds are the ones `src/` builds, and each target's
//! driver replays them with the outcomes they were built with.

use std::path::Path;

use rampart_fuzz::corpus::{MAX_SEEDS, targets};

#[test]
fn checked_in_seeds_are_current() {
    for target in targets() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(target.dir);
        let seeds = (target.seeds)();
        assert!(!seeds.is_empty(), "{}: no seeds", target.name);
        assert!(seeds.len() <= MAX_SEEDS, "{}: a small corpus", target.name);
        for seed in &seeds {
            let on_disk = std::fs::read(dir.join(&seed.name)).unwrap_or_else(|e| {
                panic!(
                    "{}/{}: {e}; run `cargo run --example make_corpus`",
                    target.name, seed.name
                )
            });
            assert!(
                on_disk == seed.input,
                "{}/{} is stale; run `cargo run --example make_corpus`",
                target.name,
                seed.name
            );
        }
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .expect("corpus dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .filter(|n| n.starts_with("seed-"))
            .collect();
        names.sort();
        let mut built: Vec<_> = seeds.iter().map(|s| s.name.clone()).collect();
        built.sort();
        assert_eq!(names, built, "{}: no stray seed files", target.name);
    }
}

/// Every seed through exactly what the fuzzer runs: no panic.
#[test]
fn every_seed_replays_through_its_target() {
    for target in targets() {
        for seed in (target.seeds)() {
            (target.run)(&seed.input);
        }
    }
}

#[test]
fn engine_process_seeds_replay_with_their_verdicts() {
    for seed in rampart_fuzz::seeds::all() {
        let mut verdicts = Vec::new();
        rampart_fuzz::run(&seed.input, |v| verdicts.push(v));
        assert_eq!(verdicts, seed.verdicts, "{}", seed.name);
    }
}

#[test]
fn engine_sync_seeds_replay_with_what_the_engine_made_of_them() {
    for seed in rampart_fuzz::engine_sync::seeds() {
        let mut handled = Vec::new();
        rampart_fuzz::engine_sync::run(&seed.file.input, |h| handled.push(h));
        assert_eq!(handled, seed.handled, "{}", seed.file.name);
    }
}

#[test]
fn sync_frame_seeds_replay_with_their_outcomes() {
    for seed in rampart_fuzz::sync_frame::seeds() {
        let mut outcomes = Vec::new();
        rampart_fuzz::sync_frame::run(&seed.file.input, |o| outcomes.push(o));
        assert_eq!(outcomes, seed.outcomes, "{}", seed.file.name);
        match seed.file.name.as_str() {
            "seed-refused" => {}
            // The forged batch number breaks the protocol: the peer is
            // dropped (its frame refused), never an overflow.
            "seed-batch-u64-max" => assert!(
                outcomes.iter().flatten().last().is_some_and(Result::is_err),
                "the batch numbered u64::MAX is refused"
            ),
            name => assert!(
                outcomes.iter().flatten().all(Result::is_ok),
                "{name}: every frame accepted"
            ),
        }
    }
}

#[test]
fn raft_codec_seeds_all_decode() {
    for seed in rampart_fuzz::raft_codec::seeds() {
        assert!(
            rampart_fuzz::raft_codec::run(&seed.input).is_some(),
            "{}",
            seed.name
        );
    }
}

#[test]
fn policy_parse_seeds_parse_except_the_published_one() {
    use rampart_fuzz::policy_parse::{Outcome, run};
    for seed in rampart_fuzz::policy_parse::seeds() {
        let outcome = run(&seed.input);
        if seed.name == "seed-seed-as-published" {
            assert_eq!(outcome, Outcome::Refused(2));
        } else {
            assert!(
                matches!(outcome, Outcome::Parsed { checked: true, .. }),
                "{}: {outcome:?}",
                seed.name
            );
        }
    }
}

#[test]
fn node_config_seeds_load_unless_named_refused() {
    for seed in rampart_fuzz::node_config::seeds() {
        let refused = seed.name.starts_with("seed-refused-");
        assert_eq!(
            rampart_fuzz::node_config::run(&seed.input),
            !refused,
            "{}",
            seed.name
        );
    }
}
