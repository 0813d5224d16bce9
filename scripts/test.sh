#!/usr/bin/env bash
# The test command: installs everything any test or benchmark runs (the
# `test` set of scripts/deps.sh: Debian packages as root, and cargo-deb;
# only what is missing), then runs every test of the workspace and the
# fuzz crate's seed checks. Run it as root: the install step needs root
# for any Debian package missing (it stops and says so otherwise), and the
# real-packet tests build their own network namespaces (as another user,
# with every package already there, those tests say they were skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
cargo test --workspace "$@"
# The fuzz crate is outside the workspace (cargo-fuzz's layout): its seeds
# must stay the ones its corpus builder makes, and its drivers must replay
# them (fuzz/README.md). It shares the workspace's target directory, so
# only what it builds differently is compiled again.
cargo test --manifest-path fuzz/Cargo.toml --locked --target-dir target
