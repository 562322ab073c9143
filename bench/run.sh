#!/usr/bin/env bash
# Builds the gateway and the benchmark in release mode and runs the suite:
# every scenario against xlgw, the GStreamer peer and the loopback floor,
# one table at the end (also in target/bench/latest.md and latest.json).
#
#   bench/run.sh                  # full suite (about 30 minutes)
#   bench/run.sh --quick          # the CI smoke scenarios (under 3 minutes)
#   bench/run.sh --only fanout-1000 --targets xlgw,floor
#   bench/run.sh --only churn --targets xlgw --churn-secs 600
#
# Every other argument goes to `xlgw-bench suite` (see --help). Run it on an
# otherwise idle machine: the relay, the camera and the readers share its
# CPUs, and the load is recorded with the results.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p xlgw -p xlgw-bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec target/release/xlgw-bench suite "$@"
