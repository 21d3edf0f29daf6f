#!/usr/bin/env bash
# The benchmark suite (README, "Benchmarks"): builds promote in Release into build-bench/, then
# runs scripts/bench/suite.py against the stand-in on loopback and writes bench/results.json,
# bench/timeline.svg and bench/scaling.svg.
#   scripts/bench.sh [--repeat N] [--quick]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/bootstrap.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DPROMOTE_BUILD_TESTS=OFF \
  -DPROMOTE_BUILD_BENCH=ON >/dev/null
cmake --build build-bench --target promote promote_probe_bench -j "$(nproc 2>/dev/null || echo 2)"
export PATH="$root/tools/bin:$PATH"
exec python3 scripts/bench/suite.py --promote build-bench/promote \
  --probe-bench build-bench/promote_probe_bench "$@"
