"""The service ports' Prometheus metrics (/metrics, /_standin/metrics) and the serving faults an
image can be given: errorRate (deterministic), errorPaths and latencyMs."""

import os
import re
import shutil
import subprocess
import sys
import unittest

from harness import ROOT, StandinCase

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from standin import metrics  # noqa: E402
from standin.world import World  # noqa: E402

REQUESTS = "standin_http_requests_total"
DURATION = "standin_http_request_duration_seconds"
ISTIO = "istio_requests_total"
BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"]
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """[(name, {label: value}, float)] of an exposition; fails on a line it cannot read."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m is None:
            raise AssertionError("not a sample line: %r" % line)
        labels = {k: re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), v)
                  for k, v in LABEL.findall(m.group(2) or "")}
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def pick(samples, name, **labels):
    """The samples of one series name whose labels include the given ones."""
    return [(lab, v) for n, lab, v in samples if n == name and all(lab.get(k) == w for k, w in labels.items())]


def total(samples, name, **labels):
    return sum(v for _, v in pick(samples, name, **labels))


class MetricsUnitTest(unittest.TestCase):
    """The registry's exposition and the world's serving faults, without a server."""

    def test_exposition_format(self):
        reg = metrics.Registry()
        reg.observe("prod", "ns", "api", "repo:1", "GET", '/a"b\\c', 200, 0.003)
        reg.observe("prod", "ns", "api", "repo:1", "GET", '/a"b\\c', 200, 0.3)
        reg.observe("prod", "ns", "web", "repo:2", "POST", "/x", 500, 7.0)
        reg.observe("dev", "ns", "api", "repo:1", "GET", "/", 200, 0.01)
        text = reg.exposition("prod", "api").decode()
        lines = text.splitlines()
        self.assertEqual(lines[:2], ["# HELP %s Requests a service port answered, by the image that "
                                     "answered." % REQUESTS, "# TYPE %s counter" % REQUESTS])
        self.assertIn("# TYPE %s histogram" % DURATION, lines)
        self.assertIn('%s{env="prod",namespace="ns",service="api",image="repo:1",method="GET",'
                      'path="/a\\"b\\\\c",status="200"} 2' % REQUESTS, lines)
        s = parse(text)
        self.assertEqual({lab["service"] for n, lab, _ in s if n != ISTIO}, {"api"})
        buckets = [(lab["le"], v) for lab, v in pick(s, DURATION + "_bucket")]
        self.assertEqual([b for b, _ in buckets], BUCKETS)
        self.assertEqual([v for _, v in buckets], [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2])
        self.assertAlmostEqual(total(s, DURATION + "_sum"), 0.303)
        self.assertEqual(total(s, DURATION + "_count"), 2)
        # Above the last bucket: only +Inf and the count hold it.
        web = parse(reg.exposition("prod", "web").decode())
        self.assertEqual(total(web, DURATION + "_bucket", le="5"), 0)
        self.assertEqual(total(web, DURATION + "_bucket", le="+Inf"), 1)
        # The environment's aggregate holds both services, each family's HELP/TYPE once.
        both = reg.exposition("prod").decode()
        self.assertEqual(both.count("# TYPE"), 3)
        self.assertEqual({lab["service"] for n, lab, _ in parse(both) if n != ISTIO}, {"api", "web"})
        self.assertEqual(parse(reg.exposition("staging").decode()), [])

    def test_world_serving_faults_and_env_overrides(self):
        w = World({"images": {"repo:1": {"routes": [], "errorRate": 0.1,
                                         "env": {"prod": {"latencyMs": 250, "errorPaths": ["/api/orders"]}}}}})
        dev, prod = w.behaviour("repo:1", "dev"), w.behaviour("repo:1", "prod")
        self.assertEqual((dev.error_rate, dev.error_paths, dev.latency_seconds()), (0.1, (), 0.0))
        self.assertEqual((prod.error_rate, prod.error_paths, prod.latency_seconds()), (0.1, ("/api/orders",), 0.25))
        # Every 10th eligible request fails, counted per (env, image).
        fails = [n for n in range(1, 31) if w.inject_error(dev, "dev", "/health")]
        self.assertEqual(fails, [10, 20, 30])
        self.assertFalse(w.inject_error(prod, "prod", "/health"), "not an errorPaths prefix")
        fails = [n for n in range(1, 21) if w.inject_error(prod, "prod", "/api/orders/7")]
        self.assertEqual(fails, [10, 20])
        # Rates that are not exact in binary floating point still fail exactly floor(n * rate).
        w.set_image("repo:2", {"errorRate": 0.29})
        b = w.behaviour("repo:2", "dev")
        self.assertEqual(sum(w.inject_error(b, "dev", "/") for _ in range(100)), 29)
        w.set_image("repo:3", {"latencyMs": 60000})
        self.assertEqual(w.behaviour("repo:3", "dev").latency_seconds(), 5.0)
        for bad in ({"errorRate": 1.5}, {"errorRate": "0.1"}, {"errorPaths": "/api"},
                    {"latencyMs": -1}, {"env": {"prod": {"errorRate": -0.1}}}):
            with self.assertRaises(ValueError, msg=bad):
                w.set_image("repo:4", bad)


class ServiceMetricsTest(StandinCase):
    """Each service port's /metrics, the API server's /_standin/metrics, and images that fail or
    answer late. Each test uses its own (environment, service), as they share one stand-in."""

    def scrape(self, env, service):
        code, headers, body = self.http(self.endpoints[env][service] + "/metrics")
        self.assertEqual(code, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4")
        return parse(body.decode())

    def serving(self, env, service):
        return self.control(env, "state")["serving"][service]

    def set_image(self, env, image, spec, merge=True):
        self.control(env, "images", {"image": image, "spec": spec, "merge": merge})

    def test_istio_family_counts_by_destination_and_code(self):
        # What Argo Rollouts' documented success-rate template asks of a mesh: requests by
        # reporter, destination service (NAME.NAMESPACE.svc.cluster.local) and response code.
        reg = metrics.Registry()
        reg.observe("prod", "shop-api-prod", "api", "repo:1", "GET", "/a", 200, 0.01)
        reg.observe("prod", "shop-api-prod", "api", "repo:2", "POST", "/b", 200, 0.01)
        reg.observe("prod", "shop-api-prod", "api", "repo:2", "GET", "/a", 503, 0.01)
        reg.observe("dev", "shop-api-dev", "api", "repo:1", "GET", "/a", 200, 0.01)
        s = parse(reg.exposition("prod").decode())
        want = {"reporter": "source", "destination_service": "api.shop-api-prod.svc.cluster.local",
                "destination_workload": "api"}
        self.assertEqual(sorted((lab["response_code"], v) for lab, v in pick(s, ISTIO, **want)),
                         [("200", 2), ("503", 1)])
        self.assertEqual(len(pick(s, ISTIO)), 2, "dev's requests are not prod's")

    def test_requests_are_counted_with_their_labels(self):
        api = self.endpoints["dev"]["api"]
        image = self.serving("dev", "api")
        for _ in range(3):
            self.assertEqual(self.http(api + "/health")[0], 200)
        self.assertEqual(self.http(api + "/auth/me?token=x")[0], 401)
        self.assertEqual(self.http(api + "/auth/login", "POST", {"email": "a"})[0], 200)
        self.http(api + "/metrics")  # never counted itself
        s = self.scrape("dev", "api")
        want = {"env": "dev", "namespace": "keybuzz-api-dev", "service": "api", "image": image}
        counters = pick(s, REQUESTS)
        self.assertEqual(sorted((lab["method"], lab["path"], lab["status"], v) for lab, v in counters),
                         [("GET", "/auth/me", "401", 1), ("GET", "/health", "200", 3),
                          ("POST", "/auth/login", "200", 1)])
        for lab, _ in counters:
            self.assertEqual({k: lab[k] for k in want}, want)
            self.assertEqual(set(lab), set(metrics.REQUEST_LABELS))
        buckets = pick(s, DURATION + "_bucket", **want)
        self.assertEqual([lab["le"] for lab, _ in buckets], BUCKETS)
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets), "cumulative")
        self.assertEqual(buckets[-1][1], 5)
        self.assertEqual(total(s, DURATION + "_count", **want), 5)
        self.assertGreater(total(s, DURATION + "_sum", **want), 0)
        # Only this service's series; a HEAD of /metrics is not counted either.
        self.assertEqual({lab["service"] for n, lab, _ in s if n != ISTIO}, {"api"})
        self.assertEqual(self.http(api + "/metrics", "HEAD")[0], 200)
        self.assertEqual(self.http(api + "/metrics", "POST", {})[0], 405)
        self.assertEqual(total(self.scrape("dev", "api"), REQUESTS), 5)
        if shutil.which("promtool"):  # Prometheus' own linter reads it as valid
            text = self.http(api + "/metrics")[2]
            lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30)
            self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)

    def test_no_serving_pod_is_image_none(self):
        image = self.serving("prod", "api")
        self.set_image("prod", image, {"rollout": "crash"})
        try:
            self.wait_for(lambda: self.http(self.endpoints["prod"]["api"] + "/health")[0] == 503,
                          what="prod's api to lose its serving pods")
        finally:
            self.set_image("prod", image, {"rollout": "ready"})
        self.wait_for(lambda: self.http(self.endpoints["prod"]["api"] + "/health")[0] == 200,
                      what="prod's api to serve again")
        s = self.scrape("prod", "api")
        self.assertGreaterEqual(total(s, REQUESTS, image="none", path="/health", status="503"), 1)
        self.assertGreaterEqual(total(s, DURATION + "_count", image="none"), 1)
        self.assertGreaterEqual(total(s, REQUESTS, image=image, status="200"), 1)

    def test_error_rate_fails_every_fourth_request(self):
        client = self.endpoints["dev"]["client"]
        image = self.serving("dev", "client")
        spec = self.control("dev", "state")["world"]["images"][image]
        # The documented form: the whole spec, as the world file has it, plus errorRate.
        self.set_image("dev", image, dict(spec, errorRate=0.25), merge=False)
        try:
            answers = [self.http(client + ("/health" if i % 2 else "/login")) for i in range(8)]
        finally:
            self.set_image("dev", image, spec, merge=False)
        self.assertEqual([a[0] for a in answers], [200, 200, 200, 500, 200, 200, 200, 500])
        self.assertEqual(answers[3][2], b'{"error":"injected"}')
        self.assertEqual(answers[3][1]["X-Standin-Image"], image)
        s = self.scrape("dev", "client")
        self.assertEqual(total(s, REQUESTS, status="500"), 2)
        self.assertEqual(total(s, REQUESTS, path="/login", status="200"), 4)
        self.assertEqual(total(s, REQUESTS, path="/health", status="500"), 2)  # probes fail too
        self.assertEqual(self.http(client + "/login")[0], 200, "the spec without errorRate again")

    def test_error_paths_confine_the_errors(self):
        client = self.endpoints["prod"]["client"]
        image = self.serving("prod", "client")
        self.set_image("prod", image, {"errorRate": 0.5, "errorPaths": ["/api/orders"]})
        try:
            probes = [self.http(client + p)[0] for p in ("/health", "/login") * 4]
            orders = [self.http(client + "/api/orders/%d" % i)[0] for i in range(4)]
        finally:
            self.set_image("prod", image, {"errorRate": 0, "errorPaths": []})
        self.assertEqual(probes, [200] * 8)
        self.assertEqual(orders, [404, 500, 404, 500])  # the route's own 404 otherwise
        s = self.scrape("prod", "client")
        self.assertEqual(total(s, REQUESTS, status="500"), 2)
        self.assertEqual({lab["path"] for lab, _ in pick(s, REQUESTS, status="500")},
                         {"/api/orders/1", "/api/orders/3"})

    def test_latency_shows_in_the_histogram(self):
        image = self.serving("prod", "website")
        self.assertEqual(self.serving("dev", "website"), image)

        def histogram(env):
            s = self.scrape(env, "website")
            return (total(s, DURATION + "_sum"), total(s, DURATION + "_bucket", le="0.25"),
                    total(s, DURATION + "_count"))

        prod_before, dev_before = histogram("prod"), histogram("dev")
        self.set_image("prod", image, {"env": {"prod": {"latencyMs": 250}}})
        try:
            for _ in range(2):
                self.assertEqual(self.http(self.endpoints["prod"]["website"] + "/")[0], 200)
            self.assertEqual(self.http(self.endpoints["dev"]["website"] + "/")[0], 200)
        finally:
            self.set_image("prod", image, {"env": {}})
        prod = [a - b for a, b in zip(histogram("prod"), prod_before)]
        self.assertGreaterEqual(prod[0], 0.5)
        self.assertEqual(prod[1:], [0, 2], "both above the 0.25 s bucket")
        dev = [a - b for a, b in zip(histogram("dev"), dev_before)]  # the override is prod's only
        self.assertLess(dev[0], 0.25)
        self.assertEqual(dev[1:], [1, 1])

    def test_api_server_aggregates_its_environment(self):
        for service in ("api", "client", "website"):
            self.http(self.endpoints["prod"][service] + "/health")
        self.http(self.endpoints["dev"]["website"] + "/health")
        mark = self.log_mark()
        code, headers, body = self.http(self.endpoints["prod"]["api_server"] + "/_standin/metrics")
        self.assertEqual(code, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4")
        text = body.decode()
        self.assertEqual(text.count("# TYPE %s " % REQUESTS), 1)
        self.assertEqual(text.count("# TYPE %s " % DURATION), 1)
        s = parse(text)
        self.assertEqual({lab["env"] for _, lab, _ in s}, {"prod"})
        self.assertTrue({"api", "client", "website"} <= {lab["service"] for n, lab, _ in s if n != ISTIO})
        # The same samples as the service ports' own pages, together.
        per_service = []
        for service in ("api", "client", "website"):
            per_service += self.scrape("prod", service)
        key = lambda x: (x[0], sorted(x[1].items()))  # noqa: E731
        self.assertEqual(sorted(s, key=key), sorted(per_service, key=key))
        self.assertEqual(self.requests_since(mark), [], "the control API is not in requests.jsonl")

    def test_control_api_rejects_a_bad_error_rate(self):
        image = self.serving("dev", "website")
        code, _, body = self.http(self.endpoints["dev"]["api_server"] + "/_standin/images", "POST",
                                  {"image": image, "merge": True, "spec": {"errorRate": 2}})
        self.assertEqual(code, 400, body)
        self.assertIn(b"errorRate", body)
        self.assertNotIn("errorRate", self.control("dev", "state")["world"]["images"][image])


if __name__ == "__main__":
    unittest.main()
