#!/usr/bin/env python3
"""The benchmark suite behind scripts/bench.sh: each case after one warm-up, several
repetitions, median and spread, the ratios the README quotes, and bench/results.json.

    scripts/bench/suite.py --promote build-bench/promote [--repeat 3] [--quick]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def scale(promote, *args):
    run = subprocess.run([sys.executable, os.path.join(ROOT, "scripts/bench/scale.py"),
                          "--promote", promote, *args], capture_output=True, text=True,
                         timeout=1800)
    if run.returncode != 0:
        raise SystemExit(f"scale.py {' '.join(args)} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def case(promote, repeat, name, *args):
    scale(promote, *args)  # warm-up: page cache, kubectl's first start
    runs = [scale(promote, *args) for _ in range(repeat)]
    times = [r["seconds"] for r in runs]
    summary = {"name": name, "args": list(args), "median_s": round(statistics.median(times), 3),
               "min_s": min(times), "max_s": max(times), "runs": runs}
    last = runs[-1]
    kubectl = {env: v["kubectl"] for env, v in last["env"].items()}
    requests = {env: v["requests"] for env, v in last["env"].items()}
    extra = ""
    if "verdict_to_rollback_write_s" in last:
        summary["verdict_to_rollback_write_s"] = statistics.median(
            [r["verdict_to_rollback_write_s"] for r in runs
             if r["verdict_to_rollback_write_s"] is not None] or [float("nan")])
        extra = f", verdict→rollback write {summary['verdict_to_rollback_write_s']:.3f} s"
    print(f"{name:<28} median {summary['median_s']:7.3f} s  [{summary['min_s']:.3f}–"
          f"{summary['max_s']:.3f}]  exit {last['exit']}  kubectl {kubectl}  "
          f"requests {requests}{extra}", flush=True)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promote", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 and 50 services only")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench/results.json"))
    args = parser.parse_args()
    sizes = [3, 50] if args.quick else [3, 10, 50, 200]
    results = {"cases": []}
    for n in sizes:
        results["cases"].append(case(args.promote, args.repeat, f"audit {n} services",
                                     "--services", str(n), "--waves", "5" if n >= 5 else "1",
                                     "--what", "audit"))
    audits = {c["args"][1]: c["median_s"] for c in results["cases"]}
    results["ratios"] = {f"audit {n} / audit 3": round(audits[str(n)] / audits["3"], 2)
                         for n in sizes if n != 3}
    results["cases"].append(case(args.promote, args.repeat, "promote 50 services, 5 waves",
                                 "--services", "50", "--waves", "5", "--what", "promote"))
    results["cases"].append(case(args.promote, args.repeat, "failed promotion, 1 service",
                                 "--services", "1", "--what", "promote", "--bad", "0",
                                 "--world-arg=--interval=1s", "--world-arg=--failure-limit=2"))
    for name, ratio in results["ratios"].items():
        print(f"ratio {name}: {ratio}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as out:
        json.dump(results, out, indent=1)
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
