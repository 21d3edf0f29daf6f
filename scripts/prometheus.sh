#!/usr/bin/env bash
# Starts and stops a real Prometheus (Debian's `prometheus`) that scrapes the service ports of a
# local stand-in (scripts/standin/, see its README.md "Metrics"), for metric checks' tests and the demo.
#   prometheus.sh up DIR --endpoints FILE [--interval 1s]
#   prometheus.sh down DIR
# `up` writes DIR/prometheus.yml (one job `standin`, a target per (env, service) of the stand-in's
# endpoints.json, labelled env and service), runs ONE background prometheus on a free 127.0.0.1
# port (DIR/prometheus.pid, log in DIR/prometheus.log, a fresh TSDB in DIR/data), waits at most
# 30 s until it is ready and has scraped every target once, and writes its URL to DIR/url and
# DIR/endpoints.json (the stand-in's endpoints with a "prometheus" URL in each environment: the
# --endpoints file for promote's metric checks).
# `down` stops exactly that process (TERM, then KILL after 5 s) and is idempotent.
# The process gets its own session (setsid), as the stand-in's does. Only 127.0.0.1 is contacted.
# PROMOTE_PROMETHEUS names another prometheus binary (default: the one on PATH).
set -euo pipefail

usage() { echo "usage: $0 up DIR --endpoints FILE [--interval 1s] | down DIR" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
cmd=$1 dir=$2
shift 2
prometheus=${PROMOTE_PROMETHEUS:-prometheus}
START_SECONDS=30 # the whole of `up`: every try to start and the first scrape
PORT_TRIES=3     # another process may take the free port between our probe and prometheus' bind

# True when PID is alive and is the prometheus of DIR (never trust a stale pid file).
is_ours() {
  local pid=$1 cmdline
  [[ -r /proc/$pid/cmdline ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
  [[ $cmdline == *prometheus*" --config.file=$dir/prometheus.yml "* ]]
}

# Stops PID if it is ours: TERM, then KILL after 5 s (bounded waits).
stop() {
  local pid=$1
  is_ours "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    is_ours "$pid" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do is_ours "$pid" || return 0; sleep 0.1; done
}

# Writes DIR/prometheus.yml from the stand-in's endpoints.json; prints the number of targets.
write_config() {
  python3 - "$1" "$2" "$dir/prometheus.yml" <<'EOF'
import json, re, sys

endpoints_file, interval, out = sys.argv[1:]
with open(endpoints_file, encoding="utf-8") as f:
    endpoints = json.load(f)
q = json.dumps  # a JSON string is a YAML scalar
lines = ["# Written by scripts/prometheus.sh from %s" % endpoints_file,
         "global:", "  scrape_interval: %s" % interval, "  evaluation_interval: %s" % interval,
         "scrape_configs:", "  - job_name: standin", "    honor_labels: true",
         "    metrics_path: /metrics", "    static_configs:"]
count = 0
for env in sorted(endpoints):
    seen = set()
    for service, url in endpoints[env].items():  # services come before their aliases (www)
        if service == "api_server" or url in seen:
            continue
        seen.add(url)
        m = re.fullmatch(r"http://(127\.0\.0\.1:\d+)/?", url)
        if not m:
            sys.exit("prometheus: %s: %s.%s is %r, not http://127.0.0.1:PORT" % (endpoints_file, env, service, url))
        lines += ["      - targets: [%s]" % q(m.group(1)),
                  "        labels: {env: %s, service: %s}" % (q(env), q(service))]
        count += 1
if not count:
    sys.exit("prometheus: %s names no service port" % endpoints_file)
with open(out, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
print(count)
EOF
}

# A free loopback port (bound, read, released: prometheus binds it right after).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until URL's /-/ready answers 200 and /api/v1/targets shows TARGETS targets, all "up".
# Exit 0: ready; 3: the process PID ended; 1: SECONDS passed (the targets' state printed).
wait_ready() {
  python3 - "$1" "$2" "$3" "$4" <<'EOF'
import json, sys, time, urllib.request

url, pid, want, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + seconds
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy


def alive():
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def get(path):
    try:
        with opener.open(url + path, timeout=2) as r:
            return r.status, r.read()
    except OSError:
        return None, b""


targets = []
while time.monotonic() < deadline:
    if not alive():
        sys.exit(3)
    status, _ = get("/-/ready")
    if status == 200:
        status, body = get("/api/v1/targets?state=active")
        if status == 200:
            targets = json.loads(body)["data"]["activeTargets"]
            if len(targets) == want and all(t["health"] == "up" for t in targets):
                sys.exit(0)
    time.sleep(0.2)
for t in targets:
    print("prometheus: target %s (%s) is %s %s" % (t.get("scrapeUrl"), t.get("labels"), t.get("health"),
                                                   t.get("lastError", "")), file=sys.stderr)
sys.exit(1)
EOF
}

case $cmd in
up)
  endpoints="" interval=1s
  while [[ $# -gt 0 ]]; do
    case $1 in
    --endpoints) [[ $# -ge 2 ]] || usage; endpoints=$2; shift 2 ;;
    --interval) [[ $# -ge 2 ]] || usage; interval=$2; shift 2 ;;
    *) usage ;;
    esac
  done
  [[ -n $endpoints ]] || usage
  [[ -r $endpoints ]] || { echo "prometheus: cannot read $endpoints" >&2; exit 1; }
  [[ $interval =~ ^[0-9]+(ms|s|m)$ ]] || { echo "prometheus: --interval must look like 1s, 500ms or 1m" >&2; exit 2; }
  command -v "$prometheus" >/dev/null || { echo "prometheus: $prometheus not found: run scripts/bootstrap.sh" >&2; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -f $dir/prometheus.pid ]] && is_ours "$(cat "$dir/prometheus.pid")"; then
    echo "prometheus: already running in $dir (pid $(cat "$dir/prometheus.pid"))" >&2
    exit 1
  fi
  rm -rf "$dir/data"
  rm -f "$dir/prometheus.pid" "$dir/url" "$dir/endpoints.json"
  targets=$(write_config "$endpoints" "$interval")
  deadline=$((SECONDS + START_SECONDS))
  for try in $(seq 1 "$PORT_TRIES"); do
    port=$(free_port)
    url="http://127.0.0.1:$port"
    setsid nohup "$prometheus" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" --log.level=warn >"$dir/prometheus.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/prometheus.pid"
    rc=0
    wait_ready "$url" "$pid" "$targets" "$((deadline > SECONDS ? deadline - SECONDS : 1))" || rc=$?
    if [[ $rc -eq 0 ]]; then
      echo "$url" >"$dir/url"
      # The stand-in's endpoints plus each environment's "prometheus": what promote's
      # --endpoints takes, so that metric checks query this Prometheus and not the plan's.
      python3 - "$endpoints" "$url" "$dir/endpoints.json" <<'PY'
import json, os, sys
source, url, out = sys.argv[1:]
with open(source, encoding="utf-8") as f:
    endpoints = json.load(f)
for env in endpoints.values():
    env["prometheus"] = url
with open(out + ".tmp", "w", encoding="utf-8") as f:
    json.dump(endpoints, f, indent=2)
    f.write("\n")
os.replace(out + ".tmp", out)
PY
      echo "prometheus: up in $dir (pid $pid, $url, $targets targets)"
      exit 0
    fi
    stop "$pid"
    rm -f "$dir/prometheus.pid"
    if [[ $rc -eq 3 ]] && grep -q "address already in use" "$dir/prometheus.log" && ((try < PORT_TRIES)) &&
      ((SECONDS < deadline)); then
      echo "prometheus: port $port was taken, trying another" >&2
      continue
    fi
    break
  done
  echo "prometheus: failed to start or to scrape every target within ${START_SECONDS} s; last lines of $dir/prometheus.log:" >&2
  tail -n 20 "$dir/prometheus.log" >&2 || true
  exit 1
  ;;
down)
  [[ $# -eq 0 ]] || usage
  [[ -d $dir ]] || exit 0
  dir=$(cd "$dir" && pwd)
  [[ -f $dir/prometheus.pid ]] || exit 0
  stop "$(cat "$dir/prometheus.pid")"
  rm -f "$dir/prometheus.pid" "$dir/url" "$dir/endpoints.json"
  echo "prometheus: down in $dir"
  ;;
*) usage ;;
esac
