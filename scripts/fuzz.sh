#!/usr/bin/env bash
# Runs each libFuzzer target (fuzz/) for a bounded time from its seed corpus: the plan loader on
# YAML and JSON, the Argo Rollouts AnalysisTemplate reader, the journal reader, and the kubectl
# and helm JSON readers. A crash, a sanitizer report, a leak, a timeout (10 s on one input) or an out-of-memory (2 GB) fails it and leaves
# the input in BUILD/artifacts/. Usage: scripts/fuzz.sh [SECONDS per target, default 60].
# Needs clang (scripts/bootstrap.sh installs it); builds into $PROMOTE_FUZZ_BUILD_DIR (build-fuzz).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-60}
build=${PROMOTE_FUZZ_BUILD_DIR:-build-fuzz}
jobs=$(nproc 2>/dev/null || echo 2)

CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROMOTE_FUZZ=ON \
  -DPROMOTE_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"

# Seeds: the checked-in ones, plus every plan and journal the tests already hold.
seeds() {
  case $1 in
    plan_yaml) ls plans/*.yaml tests/plans/good/*.yaml tests/plans/bad/*.yaml ;;
    plan_json) ls tests/plans/good/*.json tests/plans/bad/*.json ;;
    analysis_template) ls tests/plans/analysis/*.yaml ;;
    *) ls "fuzz/seeds/$1"/* ;;
  esac
}

mkdir -p "$build/artifacts"
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
for target in plan_yaml plan_json analysis_template journal kube_json helm_json; do
  corpus="$build/corpus/$target"  # grows across runs; never written into the repository
  mkdir -p "$corpus"
  while read -r seed; do cp -n "$seed" "$corpus/" 2>/dev/null || true; done < <(seeds "$target")
  log="$build/artifacts/$target.log"
  if "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -dict=fuzz/promote.dict -artifact_prefix="$build/artifacts/$target-" -print_final_stats=1 \
    "$corpus" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz $target: ${seconds}s, ${runs:-?} inputs, no finding"
  else
    echo "fuzz $target: FINDING (see $log and $build/artifacts/$target-*)"
    tail -n 40 "$log"
    status=1
  fi
done
exit "$status"
