#!/usr/bin/env bash
# Shared by the lab benchmark scripts: root check, packages, and a cleanup
# that stops only the benchmark process this script started (by PID) and
# removes only namespaces carrying this run's prefix. Sourced, not run.
if [ "$(id -u)" -ne 0 ]; then
  echo "$0: run as root (network namespaces, AF_PACKET sockets, conntrack)" >&2
  exit 1
fi
. scripts/bench/deps.sh

bench_out="${RAMPART_BENCH_OUT:-target/bench}"
mkdir -p "$bench_out"
bench_stamp="$(date -u +%Y%m%dT%H%M%SZ)"
bench_pid=""

# Namespaces of this run only: "<prefix>-..." with a prefix holding our PID.
bench_remove_namespaces() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${bench_prefix}-" || true); do
    ip netns del "$ns" 2>/dev/null || true
  done
}

bench_cleanup() {
  if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
    # The benchmark unwinds on SIGTERM: it stops its own children by PID,
    # removes its namespaces and restores any host setting it changed.
    kill -TERM "$bench_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$bench_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$bench_pid" 2>/dev/null || true
  fi
  bench_remove_namespaces
  bench_restore_host
}

# Host sysctls the sync benchmark may raise; restored here too in case
# the benchmark was killed before it could restore them itself.
bench_saved_ct_max="$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || true)"
bench_saved_ct_buckets="$(cat /proc/sys/net/netfilter/nf_conntrack_buckets 2>/dev/null || true)"
bench_restore_host() {
  local f
  f=/proc/sys/net/netfilter/nf_conntrack_max
  if [ -n "$bench_saved_ct_max" ] && [ "$(cat $f)" != "$bench_saved_ct_max" ]; then
    echo "$bench_saved_ct_max" > "$f" || true
  fi
  f=/proc/sys/net/netfilter/nf_conntrack_buckets
  if [ -n "$bench_saved_ct_buckets" ] && [ "$(cat $f)" != "$bench_saved_ct_buckets" ]; then
    echo "$bench_saved_ct_buckets" > "$f" || true
  fi
}

trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command in the background and wait for it, so a signal reaches
# the trap at once; its exit status is ours.
bench_run() {
  "$@" &
  bench_pid=$!
  local rc=0
  wait "$bench_pid" || rc=$?
  bench_pid=""
  return "$rc"
}
