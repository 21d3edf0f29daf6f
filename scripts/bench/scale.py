#!/usr/bin/env python3
"""One measured promote run on a generated product against the stand-in: wall time, API
requests and kubectl processes per environment (distinct Kubectl-Session values in the
stand-in's request log: each kubectl process sends its own, and promote's reads all go through
one kubectl proxy that promote tags with one), writes per environment.

    scripts/bench/scale.py --promote build/promote --services 50 --waves 5 --what audit
    scripts/bench/scale.py ... --what promote [--bad 3]    # --bad: a rollout that fails

Prints one JSON object. With --max-kubectl N it exits 1 when an environment used more than N
kubectl processes (the CI check that no change brings back one call per service).
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
VERDICT = re.compile(r"\[warn(ing)?\] (\[wave \d+\] |validate prod failed)")
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]")


def log_seconds(line):
    """The epoch seconds of a promote log line's timestamp (local time), or None."""
    match = LOG_TIME.match(line)
    if not match:
        return None
    return datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promote", required=True)
    parser.add_argument("--services", type=int, required=True)
    parser.add_argument("--waves", type=int, default=1)
    parser.add_argument("--what", choices=["audit", "promote"], default="audit")
    parser.add_argument("--bad", type=int, action="append", default=[])
    parser.add_argument("--work", help="folder to work in (default: a temporary one, removed)")
    parser.add_argument("--max-kubectl", type=int)
    parser.add_argument("--world-arg", action="append", default=[],
                        help="extra argument for make_world.py, e.g. --world-arg=--soak=4s")
    args = parser.parse_args()

    work = args.work or tempfile.mkdtemp(prefix="promote-bench-")
    cluster = os.path.join(work, "cluster")
    make = [sys.executable, os.path.join(ROOT, "scripts/bench/make_world.py"),
            "--services", str(args.services), "--waves", str(args.waves), "--dir", work]
    for bad in args.bad:
        make += ["--bad", str(bad)]
    subprocess.run(make + args.world_arg, check=True)
    standin = os.path.join(ROOT, "scripts/standin.sh")
    subprocess.run([standin, "up", cluster, "--world", os.path.join(work, "world.json")],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        command = [args.promote, "--plan", os.path.join(work, "plan.yaml"),
                   "--kubeconfig", os.path.join(cluster, "kubeconfig"),
                   "--endpoints", os.path.join(cluster, "endpoints.json"),
                   "--state-dir", os.path.join(work, "state"), "--output", "json"]
        command += ["audit", "dev", "prod"] if args.what == "audit" else ["dev", "prod"]
        started = time.time()
        run = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        seconds = time.time() - started
    finally:
        subprocess.run([standin, "down", cluster], stdout=subprocess.DEVNULL)

    result = {"services": args.services, "waves": args.waves, "what": args.what,
              "bad": args.bad, "exit": run.returncode, "seconds": round(seconds, 3), "env": {}}
    first_rollback_write = None
    with open(os.path.join(cluster, "requests.jsonl")) as log:
        for line in log:
            request = json.loads(line)
            env = result["env"].setdefault(
                request["env"], {"requests": 0, "writes": 0, "kubectl": set()})
            env["requests"] += 1
            if request.get("kubectlSession"):
                env["kubectl"].add(request["kubectlSession"])
            if request.get("verb") in WRITES and request.get("resource") == "deployments":
                env["writes"] += 1
    for env in result["env"].values():
        env["kubectl"] = len(env["kubectl"])

    # Failure verdict (a wave's rollout or validation failed) → the first rollback write.
    if args.bad:
        verdict = None
        for line in run.stderr.splitlines():
            if VERDICT.search(line):
                verdict = log_seconds(line)
                break
        with open(os.path.join(cluster, "requests.jsonl")) as log:
            requests = [json.loads(line) for line in log]
        patches = [r["ts"] for r in requests if r.get("verb") == "patch" and r["env"] == "prod"]
        later = [ts for ts in patches if verdict is not None and ts >= verdict - 0.001]
        result["verdict_to_rollback_write_s"] = round(min(later) - verdict, 3) if later else None
    if not args.work:
        subprocess.run(["rm", "-rf", work])
    print(json.dumps(result))
    if args.max_kubectl is not None:
        over = {name: env["kubectl"] for name, env in result["env"].items()
                if env["kubectl"] > args.max_kubectl}
        if over:
            print(f"too many kubectl processes (limit {args.max_kubectl}): {over}", file=sys.stderr)
            return 1
    if run.returncode not in (0, 1, 6, 7):
        print(run.stderr[-3000:], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
