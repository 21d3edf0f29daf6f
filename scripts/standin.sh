#!/usr/bin/env bash
# Starts and stops the local Kubernetes API stand-in (scripts/standin/, see its README.md).
#   standin.sh up DIR [--world FILE] [--rollout-seconds S] [--deadline-seconds S]
#   standin.sh down DIR
#   standin.sh ctl DIR ENV WHAT [JSON]   the control API (state, faults, images, routes, settings)
# `up` runs ONE background python process (DIR/standin.pid, DIR/standin.log) and returns once
# DIR/kubeconfig, DIR/endpoints.json and DIR/requests.jsonl exist; `down` stops exactly that process.
# The process gets its own session (setsid): whoever called `up` (a test through promote's process
# adapter, which ends its children's process group) must be able to exit without ending it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { echo "usage: $0 up DIR [--world FILE] [--rollout-seconds S] [--deadline-seconds S] | down DIR | ctl DIR ENV WHAT [JSON]" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
cmd=$1 dir=$2
shift 2

# True when PID is alive and is the stand-in serving DIR (never trust a stale pid file).
is_ours() {
  local pid=$1 cmdline
  [[ -r /proc/$pid/cmdline ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
  [[ $cmdline == *"-m standin serve --dir $dir "* || $cmdline == *"-m standin serve --dir $dir" ]]
}

case $cmd in
up)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -f $dir/standin.pid ]] && is_ours "$(cat "$dir/standin.pid")"; then
    echo "standin: already running in $dir (pid $(cat "$dir/standin.pid"))" >&2
    exit 1
  fi
  rm -f "$dir/ready" "$dir/kubeconfig" "$dir/endpoints.json" "$dir/standin.pid"
  : >"$dir/requests.jsonl"
  PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
    setsid nohup python3 -u -m standin serve --dir "$dir" "$@" >"$dir/standin.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/standin.pid"
  for _ in $(seq 1 200); do # bounded: 20 s (a busy 2-core machine starts python slowly)
    if [[ -f $dir/ready ]]; then
      echo "standin: up in $dir (pid $pid)"
      exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "standin: failed to start; last lines of $dir/standin.log:" >&2
  tail -n 20 "$dir/standin.log" >&2 || true
  kill "$pid" 2>/dev/null || true
  rm -f "$dir/standin.pid"
  exit 1
  ;;
down)
  [[ -d $dir ]] || exit 0
  dir=$(cd "$dir" && pwd)
  [[ -f $dir/standin.pid ]] || exit 0
  pid=$(cat "$dir/standin.pid")
  if is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do # bounded: 5 s, then force
      is_ours "$pid" || break
      sleep 0.1
    done
    if is_ours "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do is_ours "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$dir/standin.pid" "$dir/ready"
  echo "standin: down in $dir"
  ;;
ctl)
  PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
    exec python3 -m standin ctl "$dir" "$@"
  ;;
*) usage ;;
esac
