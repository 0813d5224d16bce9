#!/usr/bin/env bash
# The test command: installs the Debian packages the real-packet tests use
# (as root, only if missing), then runs every test of the workspace. As root
# the tests build their own network namespaces; as another user they say
# they were skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
exec cargo test --workspace "$@"
