#!/usr/bin/env bash
# The built-in demo: the original incident on a local cluster stand-in. PROD's API lost its
# login route (POST /auth/login → 404) while DEV is healthy; promote audits both, says why PROD
# is down and what to do, and plans the promotion step by step without changing anything.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${PROMOTE_BUILD_DIR:-build}

scripts/bootstrap.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target promote

work=$(mktemp -d "${TMPDIR:-/tmp}/promote-demo.XXXXXX")
trap 'scripts/standin.sh down "$work/cluster" >/dev/null' EXIT
scripts/standin.sh up "$work/cluster"

promote=("$build/promote" --plan plans/keybuzz.yaml
  --kubectl "$root/tools/bin/kubectl" --helm "$root/tools/bin/helm"
  --kubeconfig "$work/cluster/kubeconfig" --endpoints "$work/cluster/endpoints.json"
  --releases "$work/releases" --state-dir "$work/state")

# Exit codes of an audit or dry run: 0 all clear, 6 promotion pending, 7 target unhealthy.
explain() {
  case $1 in
  0) echo "(exit 0: target healthy, nothing pending)" ;;
  6) echo "(exit 6: a promotion is pending)" ;;
  7) echo "(exit 7: the target is not healthy — a nightly job would alert)" ;;
  *) echo "(exit $1: unexpected)" >&2; exit "$1" ;;
  esac
}

echo
echo "== 1. the plan: promote plan check plans/keybuzz.yaml"
"$build/promote" plan check plans/keybuzz.yaml

echo
echo "== 2. the audit: promote audit dev prod"
code=0
"${promote[@]}" --report-dir "$work/audit" audit dev prod || code=$?
explain "$code"

echo
echo "== 3. the nightly dry run: promote dev prod --dry-run"
code=0
"${promote[@]}" --report-dir "$work/dry-run" dev prod --dry-run || code=$?
explain "$code"

echo
echo "The audit report as a person reads it: $work/audit/audit.md"
sed -n '1,/^## Versions/p' "$work/audit/audit.md" | head -n -1
trap - EXIT
scripts/standin.sh down "$work/cluster" >/dev/null
echo "Reports stay in $work (audit/, dry-run/)."
