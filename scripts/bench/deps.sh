#!/usr/bin/env bash
# Packages of the lab benchmarks: the `bench` set of scripts/deps.sh (one
# table for the lab, the benchmarks and the tests). Sourced by common.sh.
scripts/deps.sh bench || exit 1
