#!/usr/bin/env bash
# Dataplane lab benchmark (issue 4): TCP throughput (iperf3) and
# small-packet UDP packets/s (udpblast) through a kernel bridge and router,
# the kernel's stateful firewall (nftables + conntrack) and `rampart run`,
# inspected and tcp-state-bypass, on one client — node — server topology
# in network namespaces. Table on stderr, JSON on stdout; both also saved
# under target/bench/. Options go to `labbench dataplane` (see --help),
# e.g. --reps 5 --seconds 10 --workers 2 --tcp-streams 4 --udp-flows 4.
# Run as root: scripts/bench/dataplane.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bench_prefix="rbd$$"
. scripts/bench/common.sh

cargo build --release -q -p rampart-node --bin rampart \
  -p rampart-chaos-tests --bin labbench --bin udpblast

json="$bench_out/dataplane-$bench_stamp.json"
text="$bench_out/dataplane-$bench_stamp.txt"
bench_run target/release/labbench dataplane --rampart target/release/rampart \
  --prefix "$bench_prefix" "$@" > "$json" 2> >(tee "$text" >&2)
cat "$json"
echo "saved: $json $text" >&2
