//! Every target with its seeds, for `make_corpus` (which writes them) and
//! the tests (which check the files are current and replay them).
//!
//! For the targets that drive the engine or the sync protocol, the
//! generator also writes what the target made of each seed, one line per
//! verdict or outcome, to `expect/<target>/<seed>.expect`; the tests replay
//! the checked-in input and compare with that file, so a change of
//! behaviour shows as a failing test and then as a diff to review. The
//! files sit outside `corpus/` because libFuzzer owns that folder: it
//! reads every file there as an input, and `cargo fuzz cmin` rewrites it.

use crate::{capture, engine_sync, node_config, policy_parse, raft_codec, seeds, sync_frame};

/// One seed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedFile {
    /// File name, `seed-*`.
    pub name: String,
    /// The input.
    pub input: Vec<u8>,
}

impl SeedFile {
    /// A seed named `name` holding `input`.
    pub fn new(name: impl Into<String>, input: impl AsRef<[u8]>) -> Self {
        SeedFile {
            name: name.into(),
            input: input.as_ref().to_vec(),
        }
    }
}

/// A fuzz target as the corpus tools see it.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The `cargo fuzz` target name.
    pub name: &'static str,
    /// Its corpus directory, relative to `fuzz/`.
    pub dir: &'static str,
    /// Its seeds, built afresh.
    pub seeds: fn() -> Vec<SeedFile>,
    /// The target's body: what the fuzzer runs on one input.
    pub run: fn(&[u8]),
    /// The same body, recording what it made of each step of the input,
    /// one line each, for the `.expect` files; `None` where the tests
    /// state the expected result themselves (decodes, parses, loads).
    pub outcomes: Option<Outcomes>,
}

/// How a target's `.expect` files are made.
#[derive(Debug, Clone, Copy)]
pub struct Outcomes {
    /// What each line is, for the file's header.
    pub what: &'static str,
    /// The target's body on one input, one line per verdict or outcome.
    pub run: fn(&[u8]) -> Vec<String>,
}

impl Target {
    /// The folder of this target's `.expect` files, relative to `fuzz/`.
    pub fn expect_dir(&self) -> String {
        format!("{EXPECT_DIR}/{}", self.name)
    }

    /// The `.expect` file of the seed named `seed` holding `input`: a
    /// header saying what the lines are and how they are rewritten, then
    /// what the target's body made of `input`, one line per verdict or
    /// outcome. `None` for a target without [`Outcomes`].
    pub fn expect_file(&self, seed: &str, input: &[u8]) -> Option<String> {
        let outcomes = self.outcomes?;
        let mut out = format!(
            "# {} {seed}: {}, in input order.\n\
             # Written by `cargo run --example make_corpus {}` (in fuzz/); \
             a change here is a change of behaviour: review it.\n",
            self.name, outcomes.what, self.name
        );
        for line in (outcomes.run)(input) {
            out.push_str(&line);
            out.push('\n');
        }
        Some(out)
    }
}

/// Where the `.expect` files live, relative to `fuzz/`: one folder per
/// target.
pub const EXPECT_DIR: &str = "expect";

/// Most seeds a target may have: the corpus stays small.
pub const MAX_SEEDS: usize = 40;

/// Every target.
pub fn targets() -> [Target; 7] {
    [
        Target {
            name: "engine_process",
            dir: seeds::DIR,
            seeds: || {
                seeds::all()
                    .into_iter()
                    .map(|s| SeedFile::new(s.name, s.input))
                    .collect()
            },
            run: |data| {
                crate::run(data, |o| {
                    std::hint::black_box(o);
                })
            },
            outcomes: Some(Outcomes {
                what: "the engine's verdict on each frame, and each frame it sent of its own \
                       (Transmit)",
                run: |data| {
                    let mut lines = Vec::new();
                    crate::run(data, |o| lines.push(o.to_string()));
                    lines
                },
            }),
        },
        Target {
            name: "engine_sync",
            dir: engine_sync::DIR,
            seeds: || engine_sync::seeds().into_iter().map(|s| s.file).collect(),
            run: |data| {
                engine_sync::run(data, |h| {
                    std::hint::black_box(h);
                })
            },
            outcomes: Some(Outcomes {
                what: "what Engine::handle made of each frame, peer's event, ack and timer",
                run: |data| {
                    let mut lines = Vec::new();
                    engine_sync::run(data, |h| lines.push(format!("{h:?}")));
                    lines
                },
            }),
        },
        Target {
            name: "sync_frame",
            dir: sync_frame::DIR,
            seeds: || sync_frame::seeds().into_iter().map(|s| s.file).collect(),
            run: |data| {
                sync_frame::run(data, |o| {
                    std::hint::black_box(o);
                })
            },
            outcomes: Some(Outcomes {
                what: "each step's outcome (a frame or datagram accepted or refused; - another step)",
                run: |data| {
                    let mut lines = Vec::new();
                    sync_frame::run(data, |o| {
                        lines.push(match o {
                            None => "-".to_string(),
                            Some(Ok(())) => "accepted".to_string(),
                            Some(Err(e)) => format!("refused {e:?}"),
                        })
                    });
                    lines
                },
            }),
        },
        Target {
            name: "raft_codec",
            dir: raft_codec::DIR,
            seeds: raft_codec::seeds,
            run: |data| {
                std::hint::black_box(raft_codec::run(data));
            },
            outcomes: None,
        },
        Target {
            name: "policy_parse",
            dir: policy_parse::DIR,
            seeds: policy_parse::seeds,
            run: |data| {
                std::hint::black_box(policy_parse::run(data));
            },
            outcomes: None,
        },
        Target {
            name: "node_config",
            dir: node_config::DIR,
            seeds: node_config::seeds,
            run: |data| {
                std::hint::black_box(node_config::run(data));
            },
            outcomes: None,
        },
        Target {
            name: "capture",
            dir: capture::DIR,
            seeds: capture::seeds,
            run: |data| {
                std::hint::black_box(capture::run(data));
            },
            outcomes: None,
        },
    ]
}
