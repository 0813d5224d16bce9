#!/usr/bin/env bash
# The install step: what a set of commands needs, installed only when it is
# missing (idempotent; `apt-get update` only when something is missing).
#
#   scripts/deps.sh lab     what `rampart lab` runs (scripts/lab.sh)
#   scripts/deps.sh bench   what the lab benchmarks run (scripts/bench/)
#   scripts/deps.sh test    what any test or benchmark runs (scripts/test.sh,
#                           .ci/run): a superset of the two above
#
# The table is the one list: chaos-tests/tests/deps_named.rs reads it and
# fails the build when a test, a benchmark or `rampart lab` starts a
# program that the matching set does not name. Programs of Debian's base
# system (Priority: required) and programs cargo builds are listed there,
# not here. Debian packages need root to install; the cargo tool does not.
set -euo pipefail

usage="usage: scripts/deps.sh lab|bench|test"
set_name="${1:?$usage}"
case "$set_name" in
  lab | bench | test) ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac

# The table: a command, what provides it (a Debian package, or `crate:`
# a cargo tool at a pinned version) and the sets that need it.
deps_table() {
  cat <<'TABLE'
# command         provided by               sets
ip                iproute2                  lab bench test
ethtool           ethtool                   lab bench test
sysctl            procps                    lab bench test
# `rampart lab up` tells the user to try ping and iperf3 in its namespaces.
ping              iputils-ping              lab bench test
iperf3            iperf3                    lab bench test
nft               nftables                  bench test
conntrack         conntrack                 bench test
conntrackd        conntrackd                bench test
# scripts/bench/http.sh: a real HTTP client, a new connection per request.
wrk               wrk                       bench test
prometheus        prometheus                test
promtool          prometheus                test
systemd-analyze   systemd                   test
cargo-deb         crate:cargo-deb@3.8.0     test
# chaos-tests/tests/structure.rs lists the tracked files to check.
git               git                       test
# The fuzz crate's libfuzzer-sys compiles libFuzzer (C++) in its build
# script; Debian's base system and a Rust toolchain bring only a C compiler.
g++               g++                       test
TABLE
}

debs=()
crates=()
while read -r cmd provider sets; do
  case "$cmd" in '' | '#'*) continue ;; esac
  case " $sets " in *" $set_name "*) ;; *) continue ;; esac
  case "$provider" in
    crate:*)
      # A cargo tool at its pinned version: `cargo-deb --version` says
      # "cargo-deb 3.8.0".
      crate="${provider#crate:}"
      [ "$("$cmd" --version 2>/dev/null || true)" = "$cmd ${crate#*@}" ] && continue
      crates+=("$crate")
      ;;
    *)
      # /usr/sbin is not on every user's PATH; the programs there are.
      PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 && continue
      case " ${debs[*]-} " in *" $provider "*) ;; *) debs+=("$provider") ;; esac
      ;;
  esac
done < <(deps_table)

started=$SECONDS
if [ ${#debs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${debs[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "installing Debian packages: ${debs[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${debs[@]}"
fi
for c in ${crates[@]+"${crates[@]}"}; do
  echo "installing cargo tool: ${c%@*} ${c#*@}" >&2
  cargo install --locked --quiet "${c%@*}" --version "${c#*@}"
done
if [ $((${#debs[@]} + ${#crates[@]})) -gt 0 ]; then
  echo "install step ($set_name) took $((SECONDS - started)) s" >&2
fi
