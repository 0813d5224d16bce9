#!/usr/bin/env bash
# Debian packages of the lab benchmarks, installed only when missing
# (idempotent). Sourced by dataplane.sh, sync.sh and swap.sh; needs root to install.
bench_need=()
for pair in ip:iproute2 ethtool:ethtool iperf3:iperf3 nft:nftables ping:iputils-ping \
  conntrack:conntrack conntrackd:conntrackd; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || bench_need+=("${pair#*:}")
done
if [ ${#bench_need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${bench_need[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "installing Debian packages: ${bench_need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${bench_need[@]}"
fi
unset bench_need
