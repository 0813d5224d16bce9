#!/usr/bin/env bash
# State-sync lab benchmark (issue 5): Rampart's link benchmark (events/s,
# lag at a fixed rate, bulk of 1M flows over a real mutual-TLS QUIC link on
# loopback) and, in the same run, conntrackd between two firewall
# namespaces (events/s for a burst of real new flows, lag from kernel
# timestamps, bulk resync), side by side. Table on stderr, JSON on
# stdout; all saved under target/bench/.
#
# Environment (defaults): RAMPART_BENCH_BULK=1000000 (entries for the bulk
# sync, both sides), RAMPART_BENCH_RATE=100000 (Rampart's lag rate, the
# goal's), RAMPART_BENCH_LAG_RATE=20000 (the rate both are measured at
# side by side: what the flow generator sustains here),
# RAMPART_BENCH_BURST=200000 (conntrackd burst). Extra options go to
# `labbench conntrackd` (e.g. --no-host-sysctl).
# Run as root: scripts/bench/sync.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bench_prefix="rbs$$"
. scripts/bench/common.sh

bulk="${RAMPART_BENCH_BULK:-1000000}"
rate="${RAMPART_BENCH_RATE:-100000}"
lag_rate="${RAMPART_BENCH_LAG_RATE:-20000}"
burst="${RAMPART_BENCH_BURST:-200000}"

cargo build --release -q -p rampart-chaos-tests --bin labbench --bin udpblast
# The link benchmark's executable, run directly so that its PID is the one
# this script waits for (and stops, on Ctrl-C).
link="$(cargo bench -q -p rampart-cluster --bench link --no-run --message-format=json \
  | grep -o '"executable":"[^"]*/link-[^"]*"' | tail -n 1 | sed 's/^"executable":"//; s/"$//')"
if [ -z "$link" ] || [ ! -x "$link" ]; then
  echo "$0: could not find the link benchmark's executable" >&2
  exit 1
fi

r1="$bench_out/sync-$bench_stamp-rampart-$rate.json"
r2="$bench_out/sync-$bench_stamp-rampart-$lag_rate.json"
json="$bench_out/sync-$bench_stamp.json"
text="$bench_out/sync-$bench_stamp.txt"
{
  echo "== rampart link benchmark: FLOWS=$bulk RATE=$rate"
} | tee "$text" >&2
bench_run env FLOWS="$bulk" RATE="$rate" "$link" --bench > "$r1" 2> >(tee -a "$text" >&2)
echo "== rampart link benchmark at the side-by-side rate: FLOWS=200000 RATE=$lag_rate" \
  | tee -a "$text" >&2
bench_run env FLOWS=200000 RATE="$lag_rate" "$link" --bench > "$r2" 2> >(tee -a "$text" >&2)
echo "== conntrackd" | tee -a "$text" >&2
bench_run target/release/labbench conntrackd --prefix "$bench_prefix" \
  --bulk "$bulk" --lag-rate "$lag_rate" --burst "$burst" \
  --rampart-json "$r1" --rampart-json "$r2" "$@" > "$json" 2> >(tee -a "$text" >&2)
cat "$json"
echo "saved: $json $text" >&2
