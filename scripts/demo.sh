#!/usr/bin/env bash
# The built-in demo: the original incident on a local cluster stand-in, told in three acts.
#  1. PROD's API lost its login route (POST /auth/login → 404) while DEV is healthy: promote
#     audits both, tags the DEV release, rolls it out to PROD and validates it → promoted.
#  2. A bad build reaches DEV (healthy there, 500 on login in PROD): promote deploys it,
#     validation fails, it rolls back by itself → PROD is back on the release of act 1.
#  3. A build that answers every HTTP probe but fails 1 in 10 of PROD's users (500s) reaches
#     DEV: promote deploys it, its success-rate metric check (a real Prometheus scraping the
#     stand-in) fails, it rolls back → PROD is back on the release of act 1 again.
# Then the nightly dry run refuses to promote DEV's known-bad build (exit 8).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${PROMOTE_BUILD_DIR:-build}

scripts/bootstrap.sh
# The build type scripts/test.sh uses, so that the two share build/ without rebuilding it.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target promote

work=$(mktemp -d "${TMPDIR:-/tmp}/promote-demo.XXXXXX")
users_pid=""
# Stops what the demo started, each by its own pid or pid file: the users, Prometheus, the stand-in.
stop_all() {
  if [[ -n $users_pid ]]; then
    kill "$users_pid" 2>/dev/null || true
    wait "$users_pid" 2>/dev/null || true
    users_pid=""
  fi
  scripts/prometheus.sh down "$work/prometheus" >/dev/null || true
  scripts/standin.sh down "$work/cluster" >/dev/null || true
}
trap stop_all EXIT
scripts/standin.sh up "$work/cluster" --rollout-seconds 0.5

# The users of the api: GET /conversations/c-1042/messages (opening a conversation, a route no
# probe asks), 40 a second in PROD and 5 in DEV (its testers), for the whole demo. A success rate
# is computed from traffic: without it the checks have no data (the audit then says "no metric
# data", and act 3 would have nothing to judge). Only act 3's build fails some of them (every
# 10th in PROD: errorRate 0.1 on errorPaths /conversations/ in scripts/standin/worlds/keybuzz.json);
# the stand-in's other api images answer them 404, which is no 5xx. 40 a second keeps the 14
# probes of a validation round (which never fail there) from diluting those 500s to a success
# rate near 0.95: act 3 measures 0.90-0.93. One process, on 127.0.0.1 only, at most 180 s and
# 8100 requests; stopped on exit.
endpoint() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["api"])' "$@"; }
prod_api=$(endpoint "$work/cluster/endpoints.json" prod) dev_api=$(endpoint "$work/cluster/endpoints.json" dev)
python3 - "$prod_api/conversations/c-1042/messages" 40 "$dev_api/conversations/c-1042/messages" 5 <<'EOF' &
import re, sys, time, urllib.error, urllib.request

SECONDS, REQUESTS = 180, 8100
targets = []  # [next due time, period, url]
for url, per_second in zip(sys.argv[1::2], sys.argv[2::2]):
    if not re.fullmatch(r"http://127\.0\.0\.1:\d+/\S*", url):
        sys.exit("demo: users: %s is not on 127.0.0.1" % url)
    targets.append([time.monotonic(), 1.0 / float(per_second), url])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
deadline = time.monotonic() + SECONDS
for _ in range(REQUESTS):
    target = min(targets)
    time.sleep(max(0.0, target[0] - time.monotonic()))
    if time.monotonic() > deadline:
        break
    try:
        opener.open(target[2], timeout=2).close()
    except (urllib.error.HTTPError, OSError):
        pass  # a 404 or a 500 is an answer too: the stand-in counts it for Prometheus
    target[0] = max(target[0] + target[1], time.monotonic())  # after a stall: no burst
EOF
users_pid=$!

# The success-rate checks query a real Prometheus scraping every service port of the stand-in
# every second; its endpoints.json is the stand-in's plus each environment's "prometheus".
scripts/prometheus.sh up "$work/prometheus" --endpoints "$work/cluster/endpoints.json" --interval 1s
# A rate needs two scrapes of the users' requests: wait for them (at most 10 s) before the audit.
python3 - "$(cat "$work/prometheus/url")" <<'EOF'
import json, sys, time, urllib.parse, urllib.request

query = 'count by (env) (irate(standin_http_requests_total{service="api"}[3s]) > 0)'
url = sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    with opener.open(url, timeout=2) as answer:
        if len(json.load(answer)["data"]["result"]) == 2:  # dev and prod
            sys.exit(0)
    time.sleep(0.2)
sys.exit("demo: Prometheus saw no users' requests in dev and prod within 10 s")
EOF

# The release repository of the demo: an ordinary git repository with one commit, whose
# "origin" (the plan's releases.remote) is a bare repository standing in for the shared one.
git init -q "$work/releases"
git -C "$work/releases" -c user.name=demo -c user.email=demo@example.com \
  commit -q --allow-empty -m "keybuzz releases"
git init -q --bare "$work/releases.git"
git -C "$work/releases" remote add origin "$work/releases.git"

# The demo runs a copy of plans/keybuzz.yaml with these changes:
# - plans/keybuzz.yaml gates PROD behind an approval (ops-lead or cto); the demo plays the whole
#   story unattended, so its copy has no gate.
# - the copy checks the api's success rate too (act 3), in each environment's Prometheus. These
#   checks are not in plans/keybuzz.yaml itself: every test that uses that plan would need a
#   Prometheus beside its stand-in (--endpoints must then name one).
#   `irate` over the last two scrapes (1 s apart; [3s] always holds two) makes each validation
#   round, 1 s apart too, judge the last second rather than a trailing window.
# Each edit is anchored on text that must occur exactly once, so a change of plans/keybuzz.yaml
# stops the demo here, loudly, instead of giving it a copy that silently lacks an edit.
python3 - plans/keybuzz.yaml "$work/keybuzz-demo.yaml" <<'EOF'
import sys

source, out = sys.argv[1:]
with open(source, encoding="utf-8") as f:
    plan = f.read()


def edit(anchor, replacement):
    global plan
    if plan.count(anchor) != 1:
        sys.exit("demo: %s: expected %r exactly once, found it %d times"
                 % (source, anchor, plan.count(anchor)))
    plan = plan.replace(anchor, replacement)


edit("approval: { required: true", "approval: { required: false")
for env in ("dev", "prod"):
    namespace = '    namespace: "keybuzz-{service}-%s"\n' % env
    # The URL is a placeholder: --endpoints gives the demo's Prometheus (scripts/prometheus.sh).
    edit(namespace, namespace + '    prometheus: { url: "http://prometheus.keybuzz.test:9090" }\n')
edit("    wave: 1\n", """    wave: 1
    metrics:
      - name: success-rate
        query: 'sum(irate(standin_http_requests_total{namespace="{namespace}",status!~"5.."}[3s]))
                / sum(irate(standin_http_requests_total{namespace="{namespace}"}[3s]))'
        min: 0.95
        golden: true
""")
with open(out, "w", encoding="utf-8") as f:
    f.write(plan)
EOF

kubectl=("$root/tools/bin/kubectl" --kubeconfig "$work/cluster/kubeconfig")
promote=("$build/promote" --plan "$work/keybuzz-demo.yaml"
  --kubectl "$root/tools/bin/kubectl" --helm "$root/tools/bin/helm"
  --kubeconfig "$work/cluster/kubeconfig" --endpoints "$work/prometheus/endpoints.json"
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
echo "== Act 3: a build that passes every probe reaches DEV (v0.4.33-db-pool: fine in DEV, 500 to 1 in 10 of PROD's users)"
"${kubectl[@]}" --context dev -n keybuzz-api-dev set image deployment/keybuzz-api \
  api=ghcr.io/keybuzz/keybuzz-api:v0.4.33-db-pool
"${kubectl[@]}" --context dev -n keybuzz-api-dev rollout status deployment/keybuzz-api
code=0
"${promote[@]}" dev prod || code=$?
expect 1 "$code" "promotion of the build that fails PROD's users (rolled back)"
echo "PROD's api now runs: $("${kubectl[@]}" --context prod -n keybuzz-api-prod get \
  deployment/keybuzz-api -o jsonpath='{.spec.template.spec.containers[0].image}')"
run=$(ls -d "$work"/state/runs/* | tail -n 1)
why=$(sed -n 's/^\*\*Why:\*\* //p' "$run/promotion.md")
if [[ $why != *"METRIC success-rate measured"* ]]; then
  echo "demo: act 3 was rolled back, but not on its success rate: $why" >&2
  exit 1
fi
echo "Why ($run/promotion.md):"
echo "  $why"
echo "The check ($work/keybuzz-demo.yaml):"
sed -n '/- name: success-rate/,/golden:/p' "$work/keybuzz-demo.yaml"
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
stop_all
echo
echo "Runs, journals and reports: $work/state/runs/ (events.jsonl, audit/, after/)"
