#!/usr/bin/env bash
# The whole test suite, as CI and a newcomer run it: install what is missing, then three stages.
#   release   build Release with -Werror into build/ and run every test (ctest; arguments go to it)
#   sanitize  build with ASan+UBSan into build-asan/ and run every test of promote's code again:
#             a memory error, a leak or undefined behaviour fails the test that meets it
#   fuzz      each libFuzzer target for PROMOTE_FUZZ_SECONDS (default 60) (scripts/fuzz.sh)
# PROMOTE_TEST_STAGES picks stages (default all three, in this order), e.g. "release" alone for
# a quick check while working.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${PROMOTE_BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)
stages=${PROMOTE_TEST_STAGES:-release sanitize fuzz}

scripts/bootstrap.sh
# The pinned binaries come first on PATH so no test reaches the machine's /usr/bin/kubectl.
export PATH="$root/tools/bin:$PATH"

stage() {
  echo "== test stage $1 ($(date -u +%H:%M:%S))"
}

for name in $stages; do
  case $name in
    release)
      stage release
      # Release, as the shipped CI files build it; warnings are errors here, and only here.
      cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPROMOTE_WERROR=ON >/dev/null
      cmake --build "$build" -j "$jobs"
      ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@"
      ;;
    sanitize)
      stage sanitize
      # -O0 -g1 and frame pointers (CMakeLists.txt); the promote binary the tests start is
      # instrumented too, so the end-to-end tests check it as well.
      cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPROMOTE_SANITIZE=ON \
        -DPROMOTE_WERROR=ON >/dev/null
      cmake --build build-asan -j "$jobs"
      ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" \
        LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp:print_suppressions=0" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
        ctest --test-dir build-asan --output-on-failure -j "$jobs" -E '^(standin|ci_files)[.]'
      # (Left out above: the stand-in's own Python tests and the CI files' install, which makes a
      # Release build of its own: neither runs a line of the instrumented build.)
      ;;
    fuzz)
      stage fuzz
      scripts/fuzz.sh "${PROMOTE_FUZZ_SECONDS:-60}"
      ;;
    *)
      echo "scripts/test.sh: unknown stage '$name' in PROMOTE_TEST_STAGES (release, sanitize, fuzz)" >&2
      exit 2
      ;;
  esac
done
stage done
