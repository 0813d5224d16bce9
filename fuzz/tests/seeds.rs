//! The checked-in seeds are the ones `src/` builds; each target's driver
//! replays them to the checked-in outcomes (`expect/`), which is what fails
//! when the engine's or the protocol's behaviour changes; and the seeds'
//! bytes replay to what the generator saw while it built them.

use std::fmt::Write as _;
use std::path::Path;

use rampart_fuzz::corpus::{MAX_SEEDS, targets};

/// How to rewrite the `.expect` files, for the failure messages.
const REGENERATE: &str = "If the change of behaviour is intended, rewrite the files with \
     `cargo run --example make_corpus [TARGET…]` in fuzz/, then review `git diff fuzz/expect`: \
     every changed line is a verdict or outcome that changed, and the diff goes in the commit \
     for review with the change that caused it.";

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

/// Each checked-in seed of the engine and sync targets, replayed through its
/// target, gives exactly its checked-in `.expect` file: the verdicts and
/// outcomes are data in the repository, not recomputed by the same engine.
#[test]
fn seeds_replay_to_their_checked_in_outcomes() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = String::new();
    for target in targets() {
        if target.outcomes.is_none() {
            continue;
        }
        let seeds = (target.seeds)();
        for seed in &seeds {
            let path = format!("{}/{}.expect", target.expect_dir(), seed.name);
            // The checked-in input (`checked_in_seeds_are_current` checks
            // it is the one `src/` builds).
            let Ok(input) = std::fs::read(fuzz.join(target.dir).join(&seed.name)) else {
                writeln!(failures, "{}/{}: no seed file", target.dir, seed.name).unwrap();
                continue;
            };
            let got = target.expect_file(&seed.name, &input).expect("outcomes");
            let want = match std::fs::read_to_string(fuzz.join(&path)) {
                Ok(want) => want,
                Err(e) => {
                    writeln!(failures, "{path}: {e}").unwrap();
                    continue;
                }
            };
            if got != want {
                writeln!(failures, "{path}: {}", first_difference(&want, &got)).unwrap();
            }
        }
        // No `.expect` file for a seed no longer built.
        let dir = fuzz.join(target.expect_dir());
        for entry in std::fs::read_dir(&dir).into_iter().flatten() {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            let seed = name.strip_suffix(".expect").unwrap_or(&name);
            if !seeds.iter().any(|s| s.name == seed) {
                writeln!(failures, "{}/{name}: no such seed", target.expect_dir()).unwrap();
            }
        }
    }
    assert!(
        failures.is_empty(),
        "the seeds no longer replay to their checked-in outcomes:\n{failures}\n{REGENERATE}"
    );
}

/// Where `got` first departs from `want`, line by line.
fn first_difference(want: &str, got: &str) -> String {
    let (mut w, mut g) = (want.lines(), got.lines());
    for line in 1.. {
        match (w.next(), g.next()) {
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return "the line endings differ".to_string(),
            (a, b) => {
                return format!(
                    "line {line}: expected {}, got {}",
                    a.map_or("the end".to_string(), |a| format!("`{a}`")),
                    b.map_or("the end".to_string(), |b| format!("`{b}`")),
                );
            }
        }
    }
    unreachable!("the lines differ somewhere")
}

// The seed generators drive the engine and the protocol step by step
// without going through the input bytes; replaying the bytes must give
// what the generator saw. This checks the input encoding (and that the
// run is deterministic), not the behaviour: the expectation is computed by
// the same engine at test time.

#[test]
fn engine_process_seed_bytes_replay_as_the_generator_drove_them() {
    for seed in rampart_fuzz::seeds::all() {
        let mut outcomes = Vec::new();
        rampart_fuzz::run(&seed.input, |o| outcomes.push(o));
        assert_eq!(outcomes, seed.outcomes, "{}", seed.name);
    }
}

#[test]
fn engine_sync_seed_bytes_replay_as_the_generator_drove_them() {
    for seed in rampart_fuzz::engine_sync::seeds() {
        let mut handled = Vec::new();
        rampart_fuzz::engine_sync::run(&seed.file.input, |h| handled.push(h));
        assert_eq!(handled, seed.handled, "{}", seed.file.name);
    }
}

/// Also what the seeds were built to show: the forged batch number is
/// refused, every frame of the other seeds but `seed-refused` accepted.
#[test]
fn sync_frame_seed_bytes_replay_as_the_generator_drove_them() {
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

#[test]
fn capture_seeds_parse_or_decode_as_named() {
    use rampart_fuzz::capture::{Command, run};
    for seed in rampart_fuzz::capture::seeds() {
        let outcome = run(&seed.input);
        let want = match seed.name.strip_prefix("seed-command-") {
            None => {
                assert!(outcome.commands.is_empty(), "{}", seed.name);
                assert_eq!(outcome.frames, 5, "{}", seed.name);
                continue;
            }
            Some("refused") => Command::Refused,
            Some("stop" | "no" | "clear") => Command::Other,
            // A raw-data capture with no interface only restarts one.
            Some("bare") => Command::NoSpec,
            Some(_) => Command::Spec,
        };
        assert_eq!(outcome.commands, vec![want], "{}", seed.name);
        assert_eq!(outcome.frames, 0, "{}", seed.name);
    }
}
