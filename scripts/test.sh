#!/usr/bin/env bash
# The whole test suite, as CI and a newcomer run it: install what is missing, build, run ctest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${PROMOTE_BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)

scripts/bootstrap.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs"
# The pinned binaries come first on PATH so no test reaches the machine's /usr/bin/kubectl.
export PATH="$root/tools/bin:$PATH"
ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@"
