#!/usr/bin/env bash
# The built-in demo: the original incident on a local cluster stand-in, told in two acts.
#  1. PROD's API lost its login route (POST /auth/login → 404) while DEV is healthy: promote
#     audits both, tags the DEV release, rolls it out to PROD and validates it → promoted.
#  2. A bad build reaches DEV (healthy there, 500 on login in PROD): promote deploys it,
#     validation fails, it rolls back by itself → PROD is back on the release of act 1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${PROMOTE_BUILD_DIR:-build}

scripts/bootstrap.sh
# The build type scripts/test.sh uses, so that the two share build/ without rebuilding it.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target promote

work=$(mktemp -d "${TMPDIR:-/tmp}/promote-demo.XXXXXX")
trap 'scripts/standin.sh down "$work/cluster" >/dev/null' EXIT
scripts/standin.sh up "$work/cluster" --rollout-seconds 0.5

# The release repository of the demo: an ordinary git repository with one commit, whose
# "origin" (the plan's releases.remote) is a bare repository standing in for the shared one.
git init -q "$work/releases"
git -C "$work/releases" -c user.name=demo -c user.email=demo@example.com \
  commit -q --allow-empty -m "keybuzz releases"
git init -q --bare "$work/releases.git"
git -C "$work/releases" remote add origin "$work/releases.git"

# plans/keybuzz.yaml gates PROD behind an approval (ops-lead or cto). The demo plays the whole
# story unattended, so it runs a copy without the gate.
sed 's/approval: { required: true/approval: { required: false/' plans/keybuzz.yaml \
  >"$work/keybuzz-demo.yaml"

kubectl=("$root/tools/bin/kubectl" --kubeconfig "$work/cluster/kubeconfig")
promote=("$build/promote" --plan "$work/keybuzz-demo.yaml"
  --kubectl "$root/tools/bin/kubectl" --helm "$root/tools/bin/helm"
  --kubeconfig "$work/cluster/kubeconfig" --endpoints "$work/cluster/endpoints.json"
  --releases "$work/releases" --state-dir "$work/state")

# Exit codes: 0 promoted / all clear, 1 rolled back, 6 promotion pending, 7 target unhealthy,
# 8 the run would be refused.
expect() {
  local want=$1 got=$2 what=$3
  if [[ $got != "$want" ]]; then
    echo "demo: $what exited $got, expected $want" >&2
    exit 1
  fi
  echo "($what: exit $got as expected)"
}

echo
echo "== The audit: promote audit dev prod"
code=0
"${promote[@]}" --report-dir "$work/audit" audit dev prod || code=$?
expect 7 "$code" "audit of a broken PROD"
sed -n '/^## Conclusion/,/^## Versions/p' "$work/audit/audit.md" | head -n -1

echo
echo "== Act 1: promote dev prod"
code=0
"${promote[@]}" dev prod || code=$?
expect 0 "$code" "promotion of the stable DEV"
after=$(ls -d "$work"/state/runs/*/after | tail -n 1)
echo "PROD's endpoints after the promotion ($after/audit.md):"
awk '/^## Endpoints/ { e = 1 } e && /^### prod/ { p = 1; next } p && /^(##|- )/ { exit }
  p && /^\| / { print }' "$after/audit.md"

echo
echo "== Act 2: a bad build reaches DEV (v0.4.32-needs-env: fine in DEV, 500 on login in PROD)"
"${kubectl[@]}" --context dev -n keybuzz-api-dev set image deployment/keybuzz-api \
  api=ghcr.io/keybuzz/keybuzz-api:v0.4.32-needs-env
"${kubectl[@]}" --context dev -n keybuzz-api-dev rollout status deployment/keybuzz-api
code=0
"${promote[@]}" dev prod || code=$?
expect 1 "$code" "promotion of the bad build (rolled back)"
echo "PROD's api now runs: $("${kubectl[@]}" --context prod -n keybuzz-api-prod get \
  deployment/keybuzz-api -o jsonpath='{.spec.template.spec.containers[0].image}')"
echo "Release tags: $(git -C "$work/releases" tag | tr '\n' ' ')(pushed to origin: $(git -C "$work/releases.git" tag | tr '\n' ' '))"
echo "Marked bad:   $(git -C "$work/releases" notes --ref=promote list | wc -l) release(s)"

echo
echo "== The nightly dry run now: promote dev prod --dry-run"
code=0
"${promote[@]}" --report-dir "$work/nightly" dev prod --dry-run >"$work/nightly.txt" || code=$?
grep -A1 '^Recommendation' "$work/nightly.txt"
# DEV still holds the image that failed in PROD: the run would be refused, and the nightly says so.
expect 8 "$code" "nightly dry run (DEV holds a known-bad image)"

trap - EXIT
scripts/standin.sh down "$work/cluster" >/dev/null
echo
echo "Runs, journals and reports: $work/state/runs/ (events.jsonl, audit/, after/)"
