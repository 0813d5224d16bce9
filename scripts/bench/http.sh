#!/usr/bin/env bash
# HTTP benchmark (issue 15): wrk, a new connection per request
# (`Connection: close`, 32 at once by default), through the asymmetric
# pair of synced nodes, symmetric and asymmetric interleaved in one run.
# Reports requests/s, latency p50/p99, held packets and what became of
# them (expired is a failure), and sync events per connection; the ratio
# asymmetric / symmetric. Options go to `labbench http` (e.g. --seconds,
# --reps, --connections, --defer-ms; see `target/release/labbench http
# --help`). Table on stderr, JSON on stdout; both saved under target/bench/.
# Run as root: scripts/bench/http.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bench_prefix="rbh$$"
. scripts/bench/common.sh

cargo build --release -q -p rampart-node --bin rampart
cargo build --release -q -p rampart-chaos-tests --bin labbench

json="$bench_out/http-$bench_stamp.json"
text="$bench_out/http-$bench_stamp.txt"
bench_run target/release/labbench http --prefix "$bench_prefix" "$@" \
  > "$json" 2> >(tee "$text" >&2)
cat "$json"
echo "saved: $json $text" >&2
