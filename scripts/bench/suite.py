#!/usr/bin/env python3
"""The benchmark suite behind scripts/bench.sh: each case after one warm-up, several
repetitions, median and spread, the ratios the README quotes, bench/results.json and two
pictures (bench/timeline.svg: a failed promotion against helm upgrade --atomic; bench/scaling.svg:
wall time and kubectl processes against services).

    scripts/bench/suite.py --promote build-bench/promote --probe-bench build-bench/promote_probe_bench
                           [--repeat 3] [--quick]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGGER_DECISION_S = 60.0  # Flagger's defaults: analysis interval 60 s × threshold 1
FAILED = ["--services", "1", "--what", "promote", "--bad", "0", "--world-arg=--interval=1s",
          "--world-arg=--failure-limit=2"]


def scale(promote, *args):
    run = subprocess.run([sys.executable, os.path.join(ROOT, "scripts/bench/scale.py"),
                          "--promote", promote, *args], capture_output=True, text=True,
                         timeout=1800)
    if run.returncode != 0:
        raise SystemExit(f"scale.py {' '.join(args)} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def spread(values):
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4)}


def case(promote, repeat, name, *args, warm=True):
    if warm:
        scale(promote, *args)  # warm-up: page cache, kubectl's and helm's first start
    runs = [scale(promote, *args) for _ in range(repeat)]
    summary = {"name": name, "args": list(args), "seconds": spread([r["seconds"] for r in runs]),
               "runs": runs}
    last = runs[-1]
    summary["kubectl"] = {env: v["kubectl"] for env, v in last["env"].items()}
    summary["requests"] = {env: v["requests"] for env, v in last["env"].items()}
    extra = []
    for key in ("peak_rss_mb", "ratio_to_floor", "floor_s", "verdict_to_rollback_write_s",
                "scaled_to_default_s"):
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            summary[key] = round(statistics.median(values), 3)
            extra.append(f"{key} {summary[key]}")
    s = summary["seconds"]
    print(f"{name:<44} median {s['median']:8.3f} s [{s['min']:.3f}–{s['max']:.3f}]  "
          f"exit {last['exit']}  kubectl {summary['kubectl']}  requests {summary['requests']}  "
          + "  ".join(extra), flush=True)
    return summary


def help_time(promote, repeat=20):
    """`promote --help`, wall time of each of `repeat` runs after one warm-up."""
    subprocess.run([promote, "--help"], capture_output=True, check=True)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([promote, "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    summary = {"name": "promote --help", "seconds": spread(times)}
    print(f"{'promote --help':<44} median {summary['seconds']['median'] * 1000:8.2f} ms "
          f"[{min(times) * 1000:.2f}–{max(times) * 1000:.2f}]", flush=True)
    return summary


def probes(probe_bench, repeat, count=1000):
    """1,000 probes through promote's prober against a local HTTP server, and `xargs -P8 curl`
    over the same URLs; the server counts the connections each used."""
    server = subprocess.Popen([probe_bench, "--serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}"

        def connections():
            got = subprocess.run(["curl", "-s", url + "/stats"], capture_output=True, text=True,
                                 check=True, timeout=10)
            return json.loads(got.stdout)["connections"]

        def prober():
            got = subprocess.run([probe_bench, "--url", url, "--count", str(count)],
                                 capture_output=True, text=True, check=True, timeout=120)
            result = json.loads(got.stdout)
            if result["passed"] != count:
                raise SystemExit(f"probe bench: {result}")
            return result["seconds"]

        urls = "\n".join(f"{url}/item/{i}" for i in range(count)) + "\n"

        def curl():
            started = time.perf_counter()
            subprocess.run(["xargs", "-P8", "-n1", "curl", "-s", "-o", "/dev/null"], input=urls,
                           text=True, check=True, timeout=600)
            return time.perf_counter() - started

        prober()
        before = connections()
        promote_times = [prober() for _ in range(repeat)]
        promote_connections = (connections() - before) / repeat
        curl()
        before = connections()
        curl_times = [curl() for _ in range(max(1, repeat // 2))]
        curl_connections = (connections() - before) / len(curl_times)
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    summary = {"name": f"{count} probes", "promote": spread(promote_times),
               "xargs_curl": spread(curl_times),
               "connections": {"promote": promote_connections, "xargs_curl": curl_connections}}
    print(f"{count} probes: promote median {summary['promote']['median'] * 1000:.1f} ms "
          f"({promote_connections:.0f} connections), xargs -P8 curl "
          f"{summary['xargs_curl']['median']:.2f} s ({curl_connections:.0f} connections)",
          flush=True)
    return summary


def kill_harness(promote_tests):
    """The kill harness with every point (PROMOTE_KILL_POINTS=all): its kill-points lines and
    wall time. A failed invariant fails the suite."""
    started = time.perf_counter()
    run = subprocess.run([promote_tests, "[kill]"], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PROMOTE_KILL_POINTS": "all"}, timeout=7200)
    seconds = round(time.perf_counter() - started, 1)
    scenarios = [json.loads(line.split(" ", 1)[1]) for line in run.stdout.splitlines()
                 if line.startswith("kill-points ")]
    if run.returncode != 0:
        raise SystemExit(f"kill harness failed:\n{run.stdout[-6000:]}")
    for s in scenarios:
        print(f"kill harness {s['scenario']:<24} {s['exercised']} points, {s['survived']} "
              f"survived, {s['lines']} lines, {s['seconds']} s", flush=True)
    return {"seconds": seconds, "scenarios": scenarios}


def fast_probe_server(probe_bench):
    server = subprocess.Popen([probe_bench, "--serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    return server, f"http://127.0.0.1:{int(server.stdout.readline())}"


# --- pictures --------------------------------------------------------------------------------

def svg(width, height, body):
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" '
            f'fill="white"/>\n{body}</svg>\n')


def text(x, y, words, anchor="start", size=12, weight="normal"):
    words = str(words).replace("&", "&amp;").replace("<", "&lt;")
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'font-weight="{weight}">{words}</text>\n')


def nice_step(limit, ticks):
    """A step of 1, 2 or 5 × 10^k that divides 0…limit into about `ticks` parts."""
    import math
    raw = max(limit, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def axis(x0, x1, y, limit, unit, ticks=6):
    """A horizontal axis from 0 to `limit` (drawn from x0 to x1) with round tick values."""
    out = f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="black"/>\n'
    step = nice_step(limit, ticks)
    value = 0.0
    while value <= limit + 1e-9:
        x = x0 + (x1 - x0) * value / limit
        out += f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="black"/>\n'
        out += text(x, y + 16, f"{round(value, 6):g}{unit}", "middle", 10)
        value += step
    return out


def phases(run, helm_scale=None):
    """(start, end, label, colour) spans of one failed run's timeline. helm_scale (T): helm's
    wait for the timeout is stretched from T to 300 s, everything after it shifted."""
    events = run["timeline"]
    writes = [e["t"] for e in events if e["event"] == "write"]
    end = run["seconds"]
    spans = []
    if helm_scale is not None:
        shift = 300.0 - helm_scale
        first, second = writes[0], writes[1] if len(writes) > 1 else end
        spans.append((0, first, "start", "#bbbbbb"))
        spans.append((first, second + shift, "waits for readiness until --timeout", "#d9534f"))
        spans.append((second + shift, end + shift, "rollback --wait", "#f0ad4e"))
        return spans, end + shift
    verdict = next((e["t"] for e in events if e["event"] == "verdict"), None)
    rollback = next((t for t in writes if verdict is not None and t >= verdict), None)
    spans.append((0, writes[0], "audit, tag", "#bbbbbb"))
    if verdict is not None:
        spans.append((writes[0], verdict, "deploy + detect", "#d9534f"))
    if rollback is not None:
        restored = next((e["t"] for e in events if e["event"] == "available" and e["t"] >= rollback),
                        rollback)
        spans.append((verdict, restored, "roll back", "#f0ad4e"))
        spans.append((restored, end, "re-validate", "#5cb85c"))
    return spans, end


def timeline_svg(promote_run, helm_run, path):
    width, left, right = 900, 230, 870
    body = text(20, 24, "A failed promotion: one service whose new image crash-loops "
                "(stand-in, same image and cluster)", weight="bold", size=14)
    promote_spans, promote_end = phases(promote_run)
    helm_spans, helm_end = phases(helm_run, helm_scale=helm_run["helm_timeout_s"])
    limit = max(helm_end, promote_end) * 1.02
    rows = [(f"promote: {promote_end:.1f} s", promote_spans),
            (f"helm upgrade --atomic: {helm_end:.0f} s", helm_spans)]
    y = 50
    for label, spans in rows:
        body += text(20, y + 16, label)
        for start, stop, _, colour in spans:
            x0 = left + (right - left) * start / limit
            x1 = left + (right - left) * stop / limit
            body += (f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="22" '
                     f'fill="{colour}"/>\n')
        y += 34
    body += axis(left, right, y, limit, " s")
    body += text(left, y + 34, f"helm measured at --timeout={helm_run['helm_timeout_s']:g}s "
                 f"({helm_run['seconds']:.1f} s) and scaled to its default 300 s: measured − "
                 f"{helm_run['helm_timeout_s']:g} + 300", size=10)
    # promote alone, to its own scale, with each event.
    y += 70
    body += text(20, y, "promote alone", weight="bold")
    y += 12
    zoom = promote_end * 1.05
    for start, stop, label, colour in promote_spans:
        x0 = left + (right - left) * start / zoom
        x1 = left + (right - left) * stop / zoom
        body += (f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="22" '
                 f'fill="{colour}"/>\n')
        body += text((x0 + x1) / 2, y + 36, label, "middle", 10)
    for event in promote_run["timeline"]:
        x = left + (right - left) * event["t"] / zoom
        colour = {"round passed": "#2e7d32", "round failed": "#c62828", "verdict": "black",
                  "write": "#1565c0"}.get(event["event"])
        if colour:
            body += (f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x:.1f}" y2="{y + 26}" '
                     f'stroke="{colour}" stroke-width="2"/>\n')
    body += text(20, y + 16, "events")
    y += 50
    body += axis(left, right, y, zoom, " s", ticks=5)
    body += text(left, y + 34, "blue: writes (set image, restore); black: the verdict; green: "
                 "re-validation rounds", size=10)
    with open(path, "w") as out:
        out.write(svg(width, y + 50, body))


def scaling_svg(series, counts, path):
    """series: {label: [(services, seconds)]}; counts: {label: [(services, value)]}."""
    width, height = 900, 360
    colours = ["#1565c0", "#2e7d32", "#c62828", "#6a1b9a"]
    body = text(20, 24, "Scaling: wall time and cluster calls against services (stand-in)",
                weight="bold", size=14)

    def chart(x0, title, data, unit):
        x1, y0, y1 = x0 + 360, 60, 280
        xs = [n for points in data.values() for n, _ in points]
        ys = [v for points in data.values() for _, v in points]
        x_max, y_max = max(xs) * 1.05, max(ys) * 1.2 or 1
        out = text(x0, 48, title, weight="bold")
        out += f'<line x1="{x0}" y1="{y1}" x2="{x0}" y2="{y0}" stroke="black"/>\n'
        step, v = nice_step(y_max, 4), 0.0
        while v <= y_max + 1e-9:
            y = y1 - (y1 - y0) * v / y_max
            out += text(x0 - 6, y + 4, f"{round(v, 6):g}{unit}", "end", 10)
            v += step
        out += axis(x0, x1, y1, x_max, "", ticks=4)
        out += text((x0 + x1) / 2, y1 + 32, "services", "middle", 10)
        for k, (label, points) in enumerate(data.items()):
            colour = colours[k % len(colours)]
            coords = [(x0 + (x1 - x0) * n / x_max, y1 - (y1 - y0) * v / y_max) for n, v in points]
            path_d = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out += (f'<polyline points="{path_d}" fill="none" stroke="{colour}" '
                    f'stroke-width="2"/>\n')
            for x, y in coords:
                out += f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>\n'
            out += text(x0 + 10, y1 + 50 + 14 * k, label, size=10).replace(
                "<text", f'<text fill="{colour}"')
        return out

    body += chart(70, "wall time", series, " s")
    body += chart(510, "per environment (prod)", counts, "")
    with open(path, "w") as out:
        out.write(svg(width, height + 60, body))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promote", required=True)
    parser.add_argument("--probe-bench", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 and 50 services; no helm audit")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench/results.json"))
    parser.add_argument("--kill-harness", metavar="PROMOTE_TESTS",
                        help="also run tests/e2e/kill_test.cc at every journal line with this "
                             "promote_tests binary (a test build)")
    args = parser.parse_args()
    sizes = [3, 50] if args.quick else [3, 10, 50, 200]
    promote, repeat = args.promote, args.repeat
    started = time.time()
    results = {"repeat": repeat, "cases": {}, "ratios": {}}
    cases, ratios = results["cases"], results["ratios"]

    cases["help"] = help_time(promote)
    cases["probes"] = probes(args.probe_bench, max(repeat, 5))
    ratios["xargs -P8 curl / promote, 1000 probes"] = round(
        cases["probes"]["xargs_curl"]["median"] / cases["probes"]["promote"]["median"], 1)

    server, probe_url = fast_probe_server(args.probe_bench)
    try:
        for n in sizes:
            waves = ["--waves", "5" if n >= 5 else "1"]
            cases[f"audit {n}"] = case(promote, repeat, f"audit {n} services",
                                       "--services", str(n), *waves, "--what", "audit")
            cases[f"audit {n} fast probes"] = case(
                promote, repeat, f"audit {n} services, probes on C++ server",
                "--services", str(n), *waves, "--what", "audit", "--probe-server", probe_url)
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    for n in sizes[1:]:
        for suffix in ("", " fast probes"):
            ratios[f"audit {n} / audit 3{suffix}"] = round(
                cases[f"audit {n}{suffix}"]["seconds"]["median"] /
                cases[f"audit 3{suffix}"]["seconds"]["median"], 2)
    if not args.quick:
        cases["audit 50 helm"] = case(promote, repeat, "audit 50 services, helm driver",
                                      "--services", "50", "--waves", "5", "--what", "audit",
                                      "--driver", "helm")

    cases["promote 50"] = case(promote, repeat, "promote 50 services, 5 waves",
                               "--services", "50", "--waves", "5", "--what", "promote")
    ratios["promote 50 / its rollouts and validations"] = cases["promote 50"]["ratio_to_floor"]
    if not args.quick:
        cases["promote 200"] = case(promote, 1, "promote 200 services, 5 waves",
                                    "--services", "200", "--waves", "5", "--what", "promote",
                                    warm=False)

    cases["failed crash"] = case(promote, repeat, "failed promotion, crash-looping image",
                                 *FAILED, "--bad-mode", "crash")
    cases["failed crash helm"] = case(promote, repeat, "failed promotion, crash-looping, helm",
                                      *FAILED, "--bad-mode", "crash", "--driver", "helm")
    cases["failed never-ready"] = case(promote, repeat, "failed promotion, never-ready image",
                                       *FAILED, "--bad-mode", "never-ready")
    cases["failed unhealthy"] = case(promote, repeat, "failed promotion, ready image failing probes",
                                     *FAILED, "--bad-mode", "unhealthy")
    # Probes pass; only the golden p90-latency metric check (a real Prometheus) sees the 300 ms.
    cases["failed slow metric"] = case(promote, repeat, "failed promotion, slow image, metric check",
                                       *FAILED, "--bad-mode", "slow", "--metrics")
    cases["helm atomic unhealthy"] = case(  # an outcome, not a time: once is enough
        promote, 1, "helm upgrade --atomic, ready image failing probes",
        "--services", "1", "--bad", "0", "--bad-mode", "unhealthy", "--driver", "helm",
        "--what", "helm-atomic", warm=False)
    results["helm atomic unhealthy"] = {
        "exit": cases["helm atomic unhealthy"]["runs"][-1]["exit"],
        "prodImageAfter": cases["helm atomic unhealthy"]["runs"][-1]["prod_image_after"]}
    cases["helm atomic"] = case(promote, repeat, "helm upgrade --atomic, crash-looping image",
                                "--services", "1", "--bad", "0", "--bad-mode", "crash",
                                "--driver", "helm", "--what", "helm-atomic")
    helm_default = cases["helm atomic"]["scaled_to_default_s"]
    for key in ("failed crash", "failed crash helm", "failed never-ready", "failed unhealthy"):
        median = cases[key]["seconds"]["median"]
        ratios[f"helm --atomic (default timeout) / {key}"] = round(helm_default / median, 1)
        ratios[f"Flagger decision (60 s) / {key}"] = round(FLAGGER_DECISION_S / median, 1)

    if args.kill_harness:
        results["kill harness"] = kill_harness(args.kill_harness)

    largest = f"audit {sizes[-1]}"
    results["footprint"] = {
        "help_ms": round(cases["help"]["seconds"]["median"] * 1000, 2),
        f"peak_rss_mb_{largest.replace(' ', '_')}": cases[largest].get("peak_rss_mb"),
    }
    if "promote 200" in cases:
        results["footprint"]["peak_rss_mb_promote_200"] = cases["promote 200"].get("peak_rss_mb")

    out_dir = os.path.dirname(args.out)
    os.makedirs(out_dir, exist_ok=True)
    timeline_svg(cases["failed crash"]["runs"][-1], cases["helm atomic"]["runs"][-1],
                 os.path.join(out_dir, "timeline.svg"))
    scaling_svg({"audit (stand-in probes)": [(n, cases[f"audit {n}"]["seconds"]["median"])
                                             for n in sizes],
                 "audit (probes on a C++ server)": [
                     (n, cases[f"audit {n} fast probes"]["seconds"]["median"]) for n in sizes]},
                {"kubectl processes, audit": [(n, cases[f"audit {n}"]["kubectl"].get("prod", 0))
                                              for n in sizes],
                 "API requests, audit": [(n, cases[f"audit {n}"]["requests"].get("prod", 0))
                                         for n in sizes]},
                os.path.join(out_dir, "scaling.svg"))
    results["seconds"] = round(time.time() - started, 1)
    for name, ratio in ratios.items():
        print(f"ratio {name}: {ratio}")
    print(f"helm --atomic, ready image failing probes: {results['helm atomic unhealthy']}")
    print(f"footprint: {results['footprint']}")
    with open(args.out, "w") as out:
        json.dump(results, out, indent=1)
    print(f"results: {args.out}, {out_dir}/timeline.svg, {out_dir}/scaling.svg "
          f"({results['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
