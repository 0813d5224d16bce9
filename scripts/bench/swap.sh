#!/usr/bin/env bash
# Policy swap lab benchmark (issue 6): TCP throughput (iperf3) through
# `rampart run` during a burst of 100 `configure` writes (each swapped into
# every worker), against the same burst refused (no swap) and no writes,
# on one client — node — server topology in network namespaces. Table on
# stderr, JSON on stdout; both also saved under target/bench/. Options go
# to `labbench swap` (see --help), e.g. --reps 7 --seconds 12 --workers 2.
# Run as root: scripts/bench/swap.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bench_prefix="rbw$$"
. scripts/bench/common.sh

cargo build --release -q -p rampart-node --bin rampart \
  -p rampart-chaos-tests --bin labbench

json="$bench_out/swap-$bench_stamp.json"
text="$bench_out/swap-$bench_stamp.txt"
bench_run target/release/labbench swap --rampart target/release/rampart \
  --prefix "$bench_prefix" "$@" > "$json" 2> >(tee "$text" >&2)
cat "$json"
echo "saved: $json $text" >&2
