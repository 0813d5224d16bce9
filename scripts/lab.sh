#!/usr/bin/env bash
# The main job: `rampart lab` — the asymmetric two-node cluster in network
# namespaces, two real node processes sharing state over QUIC, real TCP and
# UDP traffic, a summary (add --json for scripts), everything torn down.
# Needs root; installs the Debian packages the lab uses if they are missing
# (`scripts/deps.sh lab`: iproute2, ethtool, procps, and ping and iperf3 for
# the commands `rampart lab up` suggests).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/lab.sh: run as root (network namespaces and AF_PACKET sockets)" >&2
  exit 1
fi
scripts/deps.sh lab
exec cargo run --release -q -p rampart-node --bin rampart -- lab "$@"
