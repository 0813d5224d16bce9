#!/usr/bin/env bash
# Cluster placement benchmark (issue 15): the mesh lab (`rampart lab
# --nodes N`) with N = 2, 4 and 6 nodes and the same seed, flows and
# copies, one run after the other; each flow's forward and return paths
# cross nodes drawn at random. Reports, per N, the flows of each kind that
# passed and failed, and the sync bytes per new flow; then the ratio of
# N = 6 (and 4) to N = 2 measured in this run, which must stay near 1: sync
# traffic grows with `copies`, not with the number of nodes
# (docs/sync.md §13). With --full, a fourth run keeps a copy on every one
# of six nodes, the full mesh the placement replaces.
# Table on stderr, JSON on stdout; both also saved under target/bench/.
# Options: --flows F (default 300), --seed S (default 7), --copies K
# (default 2), --full.
# Run as root: scripts/bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bench_prefix="rbc$$"
. scripts/bench/common.sh

flows=300
seed=7
copies=2
full=0
while [ $# -gt 0 ]; do
  case "$1" in
    --flows) flows="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --copies) copies="$2"; shift 2 ;;
    --full) full=1; shift ;;
    *) echo "$0: unknown option $1" >&2; exit 2 ;;
  esac
done

cargo build --release -q -p rampart-node --bin rampart

json="$bench_out/cluster-$bench_stamp.json"
text="$bench_out/cluster-$bench_stamp.txt"
runs=()
bytes=()
pulls=()
lags=()
waits=()
for n in 2 4 6; do
  out="$bench_out/cluster-$bench_stamp-n$n.json"
  bench_run target/release/rampart lab --json --nodes "$n" --copies "$copies" \
    --flows "$flows" --seed "$seed" --prefix "${bench_prefix}n$n" > "$out"
  runs+=("$(cat "$out")")
  b="$(grep -o '"sync_bytes_per_new_flow":[0-9.]*' "$out")"
  bytes+=("${b#*:}")
  p="$(grep -o '"pulls_per_new_flow":[0-9.nul]*' "$out" || true)"
  pulls+=("${p#*:}")
  l="$(grep -o '"sync_lag_p99_ms":[0-9.nul]*' "$out" || true)"
  lags+=("${l#*:}")
  w="$(grep -o '"held_wait_p50_ms":[0-9.nul]*,"held_wait_p99_ms":[0-9.nul]*' "$out" || true)"
  w50="${w#*:}"
  w50="${w50%%,*}"
  waits+=("${w50:-null}/${w##*:}")
done
full_json="null"
full_bytes="null"
if [ "$full" = 1 ]; then
  out="$bench_out/cluster-$bench_stamp-n6-full.json"
  bench_run target/release/rampart lab --json --nodes 6 --copies 6 \
    --flows "$flows" --seed "$seed" --prefix "${bench_prefix}f" > "$out"
  full_json="$(cat "$out")"
  full_bytes="$(grep -o '"sync_bytes_per_new_flow":[0-9.]*' "$out")"
  full_bytes="${full_bytes#*:}"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "null" }'; }
r4="$(ratio "${bytes[1]}" "${bytes[0]}")"
r6="$(ratio "${bytes[2]}" "${bytes[0]}")"
{
  echo "cluster placement, copies $copies, $flows flows per kind, seed $seed"
  echo "N  sync bytes per new flow; pulls per new flow; replication lag p99; held packets' wait p50/p99 (ms, bucket bounds)"
  echo "   (the lab's JSON per run: $bench_out/cluster-$bench_stamp-n*.json)"
  echo "2  ${bytes[0]}; ${pulls[0]}; ${lags[0]}; ${waits[0]}"
  echo "4  ${bytes[1]}   (x$r4 of N = 2); ${pulls[1]}; ${lags[1]}; ${waits[1]}"
  echo "6  ${bytes[2]}   (x$r6 of N = 2); ${pulls[2]}; ${lags[2]}; ${waits[2]}"
  if [ "$full" = 1 ]; then
    echo "6, a copy on every node: $full_bytes   (x$(ratio "$full_bytes" "${bytes[2]}") of N = 6 with $copies copies)"
  fi
} | tee "$text" >&2
printf '{"copies":%s,"flows_per_kind":%s,"seed":%s,"sync_bytes_per_new_flow":{"2":%s,"4":%s,"6":%s},"ratio_to_2":{"4":%s,"6":%s},"pulls_per_new_flow":{"2":%s,"4":%s,"6":%s},"sync_lag_p99_ms":{"2":%s,"4":%s,"6":%s},"full_mesh_6":%s,"runs":[%s,%s,%s],"full_run":%s}\n' \
  "$copies" "$flows" "$seed" "${bytes[0]}" "${bytes[1]}" "${bytes[2]}" "$r4" "$r6" \
  "${pulls[0]:-null}" "${pulls[1]:-null}" "${pulls[2]:-null}" \
  "${lags[0]:-null}" "${lags[1]:-null}" "${lags[2]:-null}" \
  "$full_bytes" "${runs[0]}" "${runs[1]}" "${runs[2]}" "$full_json" > "$json"
cat "$json"
echo "saved: $json $text" >&2
