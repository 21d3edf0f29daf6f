#!/usr/bin/env bash
# The whole test suite, as CI and a newcomer run it: install what is missing, build, run ctest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${PROMOTE_BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)

scripts/bootstrap.sh
# Release, as the shipped CI files build it; warnings are errors here, and only here.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPROMOTE_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"
# The pinned binaries come first on PATH so no test reaches the machine's /usr/bin/kubectl.
export PATH="$root/tools/bin:$PATH"
ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@"
