#!/usr/bin/env python3
"""One measured run on a generated product against the stand-in: wall time, promote's own peak
RSS, API requests and kubectl processes per environment (distinct Kubectl-Session values in the
stand-in's request log: each kubectl process sends its own, and promote's reads all go through
one kubectl proxy that promote tags with one), writes, and the run's timeline.

    scripts/bench/scale.py --promote build/promote --services 50 --waves 5 --what audit
    scripts/bench/scale.py ... --what promote [--bad 3 --bad-mode crash]  # a rollout that fails
    scripts/bench/scale.py ... --driver helm --what helm-atomic --bad 0     # helm's own answer
    scripts/bench/scale.py ... --what promote --bad 0 --bad-mode slow --metrics  # a metric check
                                                                               # fails

--metrics starts a real Prometheus (scripts/prometheus.sh, 1 s scrapes) beside the stand-in and
gives promote its URL; the run's verdict_to_rollback_write_s is then the time from the failing
metric evaluation to the first rollback write.

--what helm-atomic runs `helm upgrade --atomic --timeout T` of the bad service instead of
promote (T = --helm-timeout, short) and reports it scaled to helm's default 300 s timeout as
measured − T + 300: helm waits the whole timeout for a rollout that never becomes ready (it does
not read the progress deadline), so only that wait depends on T.

A promotion reports its floor: the sum over waves of the slowest rollout (from the write to the
stand-in's "available", rollouts.jsonl) plus the validation's least time (initial delay, then
rounds until the soak is over), all measured in the same run.

Prints one JSON object. With --max-kubectl N it exits 1 when an environment used more than N
kubectl processes (the CI check that no change brings back one call per service).
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(ROOT, "tests/standin/charts/tiny")
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
VERDICT = re.compile(r"\[warn(ing)?\] (\[wave \d+\] |validate prod failed)")
ROUND = re.compile(r"validate prod round (\d+): (.*)")
ROUND_COUNTS = re.compile(r"(\d+)/(\d+) passed")
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]")
DEFAULT_HELM_TIMEOUT_S = 300.0


def log_seconds(line):
    """The epoch seconds of a promote log line's timestamp (local time), or None."""
    match = LOG_TIME.match(line)
    if not match:
        return None
    return datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()


def read_jsonl(path, skip=0):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for i, line in enumerate(f) if i >= skip]


def tool(name):
    local = os.path.join(ROOT, "tools/bin", name)
    return local if os.path.exists(local) else name


class World:
    """The generated product, its stand-in and (for helm) its installed releases."""

    def __init__(self, args, work):
        self.args, self.work = args, work
        self.cluster = os.path.join(work, "cluster")
        self.env = dict(os.environ, HELM_CACHE_HOME=os.path.join(work, "helm-cache"),
                        HELM_CONFIG_HOME=os.path.join(work, "helm-config"),
                        HELM_DATA_HOME=os.path.join(work, "helm-data"))
        make = [sys.executable, os.path.join(ROOT, "scripts/bench/make_world.py"),
                "--services", str(args.services), "--waves", str(args.waves), "--dir", work,
                "--bad-mode", args.bad_mode, "--driver", args.driver, "--chart", CHART]
        for bad in args.bad:
            make += ["--bad", str(bad)]
        if args.metrics:
            make.append("--metrics")
        subprocess.run(make + args.world_arg, check=True)
        with open(os.path.join(work, "bench.json")) as f:
            self.facts = json.load(f)
        subprocess.run([os.path.join(ROOT, "scripts/standin.sh"), "up", self.cluster, "--world",
                        os.path.join(work, "world.json")], check=True, stdout=subprocess.DEVNULL)
        self.endpoints = os.path.join(self.cluster, "endpoints.json")
        self.prometheus = os.path.join(work, "prometheus") if args.metrics else None
        if self.prometheus:
            up = subprocess.run([os.path.join(ROOT, "scripts/prometheus.sh"), "up", self.prometheus,
                                 "--endpoints", self.endpoints, "--interval", "1s"],
                                stdout=subprocess.DEVNULL)
            if up.returncode != 0:
                self.prometheus = None
                self.down()
                raise SystemExit("scale.py: prometheus.sh up failed")
            self.endpoints = os.path.join(self.prometheus, "endpoints.json")

    def down(self):
        if self.prometheus:
            subprocess.run([os.path.join(ROOT, "scripts/prometheus.sh"), "down", self.prometheus],
                           stdout=subprocess.DEVNULL)
        subprocess.run([os.path.join(ROOT, "scripts/standin.sh"), "down", self.cluster],
                       stdout=subprocess.DEVNULL)

    def kube(self, env, service):
        return ["--kubeconfig=" + os.path.join(self.cluster, "kubeconfig"),
                "--namespace=" + f"{service}-{env}"]

    def helm(self, env, service, *args, check=True):
        command = [tool("helm"), *args, *self.kube(env, service), "--kube-context=" + env]
        return subprocess.run(command, env=self.env, check=check, capture_output=True, text=True)

    def install_releases(self):
        """Hands every seeded Deployment over to a helm release of the tiny chart (same name and
        namespace, so the service ports follow), DEV on v2 and PROD on v1."""
        def install(env, service):
            tag = "v2" if env == "dev" else "v1"
            subprocess.run([tool("kubectl"), *self.kube(env, service), "--context=" + env,
                            "delete", f"deployment/{service}", "--wait=true"], check=True,
                           capture_output=True)
            repo = self.facts["services"][service]["repository"]
            self.helm(env, service, "install", service, CHART, "--set",
                      f"image.repository={repo},image.tag={tag},container=app", "--wait",
                      "--timeout=120s")
        jobs = [(env, service) for env in ("dev", "prod") for service in self.facts["services"]]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for done in [pool.submit(install, *job) for job in jobs]:
                done.result()


def run_measured(command, work, env=None, sample_rss=False):
    """Runs `command` to its end (bounded: 30 min): wall seconds, exit code, stdout, stderr, and
    with sample_rss the process's own peak RSS (VmHWM, sampled every 5 ms until it exits)."""
    out_path, err_path = os.path.join(work, "run.out"), os.path.join(work, "run.err")
    peak_kb = 0
    with open(out_path, "w") as out, open(err_path, "w") as err:
        started = time.time()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        limit = started + 1800
        while proc.poll() is None and time.time() < limit:
            if sample_rss:
                try:
                    with open(f"/proc/{proc.pid}/status") as status:
                        for line in status:
                            if line.startswith("VmHWM:"):
                                peak_kb = max(peak_kb, int(line.split()[1]))
                except (FileNotFoundError, ProcessLookupError, ValueError):
                    pass
            time.sleep(0.005)
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        seconds = time.time() - started
    with open(out_path) as f:
        stdout = f.read()
    with open(err_path) as f:
        stderr = f.read()
    return started, seconds, code, stdout, stderr, peak_kb


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promote", required=True)
    parser.add_argument("--services", type=int, required=True)
    parser.add_argument("--waves", type=int, default=1)
    parser.add_argument("--what", choices=["audit", "promote", "helm-atomic"], default="audit")
    parser.add_argument("--driver", choices=["kubectl", "helm"], default="kubectl")
    parser.add_argument("--bad", type=int, action="append", default=[])
    parser.add_argument("--bad-mode", choices=["never-ready", "crash", "unhealthy", "slow"],
                        default="never-ready")
    parser.add_argument("--metrics", action="store_true",
                        help="metric checks, judged by a real Prometheus started for the run")
    parser.add_argument("--helm-timeout", type=float, default=10.0)
    parser.add_argument("--work", help="folder to work in (default: a temporary one, removed)")
    parser.add_argument("--max-kubectl", type=int)
    parser.add_argument("--probe-server",
                        help="base URL that answers every probe (promote_probe_bench --serve): "
                             "times promote without the stand-in's Python service ports")
    parser.add_argument("--world-arg", action="append", default=[],
                        help="extra argument for make_world.py, e.g. --world-arg=--soak=4s")
    args = parser.parse_args()
    if args.what == "helm-atomic" and (args.driver != "helm" or len(args.bad) != 1):
        parser.error("--what helm-atomic needs --driver helm and one --bad")

    work = args.work or tempfile.mkdtemp(prefix="promote-bench-")
    world = World(args, work)
    cluster = world.cluster
    requests_log = os.path.join(cluster, "requests.jsonl")
    try:
        if args.driver == "helm":
            world.install_releases()
        endpoints = world.endpoints
        if args.probe_server:
            with open(endpoints) as f:
                urls = json.load(f)
            for env in urls.values():
                for service in env:
                    if service != "api_server":
                        env[service] = args.probe_server
            endpoints = os.path.join(work, "endpoints-probe-server.json")
            with open(endpoints, "w") as f:
                json.dump(urls, f)
        mark = len(read_jsonl(requests_log))  # the set-up's requests are not the run's
        rollouts_mark = len(read_jsonl(os.path.join(cluster, "rollouts.jsonl")))
        if args.what == "helm-atomic":
            service = f"svc{args.bad[0]:03d}"
            command = [tool("helm"), "upgrade", service, CHART, "--reuse-values", "--set",
                       "image.tag=v2", "--atomic", f"--timeout={args.helm_timeout:g}s",
                       *world.kube("prod", service), "--kube-context=prod"]
        else:
            command = [args.promote, "--plan", os.path.join(work, "plan.yaml"),
                       "--kubeconfig", os.path.join(cluster, "kubeconfig"),
                       "--endpoints", endpoints, "--helm", tool("helm"), "--kubectl",
                       tool("kubectl"), "--state-dir", os.path.join(work, "state"),
                       "--output", "json"]
            command += ["audit", "dev", "prod"] if args.what == "audit" else ["dev", "prod"]
        started, seconds, code, _, stderr, peak_kb = run_measured(
            command, work, env=world.env, sample_rss=args.what != "helm-atomic")
        prod_image_after = None
        if args.what == "helm-atomic":
            service = f"svc{args.bad[0]:03d}"
            prod_image_after = subprocess.run(
                [tool("kubectl"), *world.kube("prod", service), "--context=prod", "get",
                 f"deployment/{service}", "-o", "jsonpath={.spec.template.spec.containers[0].image}"],
                env=world.env, capture_output=True, text=True, check=True).stdout.strip()
    finally:
        world.down()

    result = {"services": args.services, "waves": args.waves, "what": args.what,
              "driver": args.driver, "bad": args.bad, "badMode": args.bad_mode, "exit": code,
              "seconds": round(seconds, 3), "env": {}}
    if peak_kb:
        result["peak_rss_mb"] = round(peak_kb / 1024, 1)
    requests = read_jsonl(requests_log, skip=mark)
    rollouts = read_jsonl(os.path.join(cluster, "rollouts.jsonl"), skip=rollouts_mark)
    for request in requests:
        env = result["env"].setdefault(
            request["env"], {"requests": 0, "writes": 0, "kubectl": set()})
        env["requests"] += 1
        if request.get("kubectlSession"):
            env["kubectl"].add(request["kubectlSession"])
        if request.get("verb") in WRITES and request.get("resource") == "deployments":
            env["writes"] += 1
    for env in result["env"].values():
        env["kubectl"] = len(env["kubectl"])

    # The timeline, in seconds from the start: writes to PROD's Deployments, the stand-in's
    # rollout ends, and promote's validation rounds, verdict and end.
    writes = [r for r in requests if r["env"] == "prod" and r.get("verb") in WRITES
              and r.get("resource") == "deployments"]
    timeline = [{"t": round(w["ts"] - started, 3), "event": "write", "name": w.get("name")}
                for w in writes]
    timeline += [{"t": round(r["ts"] - started, 3), "event": r["event"], "name": r["name"]}
                 for r in rollouts if r["env"] == "prod"]
    verdict = None
    for line in stderr.splitlines():
        at = log_seconds(line)
        if at is None:
            continue
        if verdict is None and VERDICT.search(line):
            verdict = at
            timeline.append({"t": round(at - started, 3), "event": "verdict"})
        elif ROUND.search(line):
            counts = ROUND_COUNTS.match(ROUND.search(line).group(2))  # "2/2 passed, …"
            passed = bool(counts) and counts.group(1) == counts.group(2)
            timeline.append({"t": round(at - started, 3),
                             "event": "round passed" if passed else "round failed"})
    timeline.append({"t": round(seconds, 3), "event": "end"})
    result["timeline"] = sorted(timeline, key=lambda e: e["t"])

    if args.bad and args.what == "promote":
        later = [w["ts"] for w in writes if verdict is not None and w["ts"] >= verdict - 0.001]
        result["verdict_to_rollback_write_s"] = round(min(later) - verdict, 3) if later else None
    if args.what == "helm-atomic":
        # What helm left PROD running: an image that becomes ready but fails its probes passes
        # helm's wait, so --atomic has nothing to roll back.
        result["prod_image_after"] = prod_image_after
        result["helm_timeout_s"] = args.helm_timeout
        result["scaled_to_default_s"] = round(
            seconds - args.helm_timeout + DEFAULT_HELM_TIMEOUT_S, 3)
    if args.what == "promote" and not args.bad:
        # Per wave: its slowest rollout, from the write to "available", plus the validation's
        # least time. Promote cannot go faster than their sum.
        first_write, available = {}, {}
        for w in writes:
            first_write.setdefault(w.get("name"), w["ts"])
        for r in rollouts:
            if r["env"] == "prod" and r["event"] == "available" and r["name"] in first_write:
                available.setdefault(r["name"], r["ts"])
        slowest = {}
        for name, facts in world.facts["services"].items():
            if name in first_write and name in available:
                wave = facts["wave"]
                slowest[wave] = max(slowest.get(wave, 0.0), available[name] - first_write[name])
        floor = sum(slowest.values()) + \
            world.facts["validationFloorSeconds"] * len(set(
                f["wave"] for f in world.facts["services"].values()))
        result["slowest_rollout_s"] = {str(w): round(s, 3) for w, s in sorted(slowest.items())}
        result["floor_s"] = round(floor, 3)
        result["ratio_to_floor"] = round(seconds / floor, 3) if floor else None
    with open(os.path.join(work, "promote.log"), "w") as out:
        out.write(stderr)
    if not args.work:
        subprocess.run(["rm", "-rf", work])
    print(json.dumps(result))
    if args.max_kubectl is not None:
        over = {name: env["kubectl"] for name, env in result["env"].items()
                if env["kubectl"] > args.max_kubectl}
        if over:
            print(f"too many kubectl processes (limit {args.max_kubectl}): {over}", file=sys.stderr)
            return 1
    if code not in (0, 1, 6, 7) and args.what != "helm-atomic":
        print(stderr[-3000:], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
