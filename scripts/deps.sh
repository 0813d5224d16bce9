#!/usr/bin/env bash
# Debian packages the lab, the real-packet tests and the lab benchmarks use,
# installed only when missing (idempotent). Sourced by lab.sh, test.sh and
# .ci/run; needs root when something is missing.
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
# The real-Prometheus scrape test and `promtool check rules` on ops/alerts.
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${need[*]} (run as root to install them)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
