#!/usr/bin/env bash
# The built-in demo: builds promote and shows what plans/keybuzz.yaml would promote from DEV to
# PROD. Later issues turn this into a full promotion against the local cluster stand-in.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${PROMOTE_BUILD_DIR:-build}

scripts/bootstrap.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target promote

echo
echo "== promote plan check plans/keybuzz.yaml"
"$build/promote" plan check plans/keybuzz.yaml
