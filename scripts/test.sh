#!/usr/bin/env bash
# The test command: installs everything any test or benchmark runs (the
# `test` set of scripts/deps.sh: Debian packages as root, and cargo-deb;
# only what is missing), then runs every test of the workspace. As root
# the tests build their own network namespaces; as another user they say
# they were skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
exec cargo test --workspace "$@"
