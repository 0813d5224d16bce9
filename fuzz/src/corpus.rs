//! Every target with its seeds, for `make_corpus` (which writes them) and
//! the tests (which check the files are current and replay them).

use crate::{engine_sync, node_config, policy_parse, raft_codec, seeds, sync_frame};

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
}

/// Most seeds a target may have: the corpus stays small.
pub const MAX_SEEDS: usize = 40;

/// Every target.
pub fn targets() -> [Target; 6] {
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
                crate::run(data, |v| {
                    std::hint::black_box(v);
                })
            },
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
        },
        Target {
            name: "raft_codec",
            dir: raft_codec::DIR,
            seeds: raft_codec::seeds,
            run: |data| {
                std::hint::black_box(raft_codec::run(data));
            },
        },
        Target {
            name: "policy_parse",
            dir: policy_parse::DIR,
            seeds: policy_parse::seeds,
            run: |data| {
                std::hint::black_box(policy_parse::run(data));
            },
        },
        Target {
            name: "node_config",
            dir: node_config::DIR,
            seeds: node_config::seeds,
            run: |data| {
                std::hint::black_box(node_config::run(data));
            },
        },
    ]
}
