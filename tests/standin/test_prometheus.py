"""scripts/prometheus.sh: a real Prometheus scraping the stand-in's service ports, and the success
rate a metric check asks it for."""

import json
import os
import shutil
import socket
import tempfile
import time
import unittest
import urllib.parse

from harness import ROOT, StandinCase, run

PROMETHEUS_SH = os.path.join(ROOT, "scripts", "prometheus.sh")
PROMETHEUS = os.environ.get("PROMOTE_PROMETHEUS") or "prometheus"
SUCCESS_RATE = ('sum(rate(standin_http_requests_total{service="%s",env="prod",status!~"5.."}[10s])) / '
                'sum(rate(standin_http_requests_total{service="%s",env="prod"}[10s]))')
QUERY_SECONDS = 20  # the bound on every wait for Prometheus to have scraped something


def prometheus_pids(state_dir):
    """Pids of live processes whose command line names state_dir's prometheus.yml."""
    want = ("--config.file=%s" % os.path.join(state_dir, "prometheus.yml")).encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    if want in f.read().split(b"\0"):
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


class PrometheusCase(StandinCase):
    """A stand-in (StandinCase) and a Prometheus scraping it every second, for the whole class."""

    @classmethod
    def setUpClass(cls):
        if not shutil.which(PROMETHEUS):
            raise AssertionError("%s missing: run scripts/bootstrap.sh" % PROMETHEUS)
        super().setUpClass()
        cls.prom_dir = os.path.join(cls.tmp, "prometheus")
        started = time.monotonic()
        r = run([PROMETHEUS_SH, "up", cls.prom_dir, "--endpoints", os.path.join(cls.dir, "endpoints.json"),
                 "--interval", "1s"], timeout=60)
        cls.up_seconds = time.monotonic() - started
        if r.rc != 0:
            run([PROMETHEUS_SH, "down", cls.prom_dir], timeout=30)
            super().tearDownClass()
            raise AssertionError("prometheus.sh up failed: %s %s" % (r.out, r.err))
        with open(os.path.join(cls.prom_dir, "url"), encoding="utf-8") as f:
            cls.prom = f.read().strip()

    @classmethod
    def tearDownClass(cls):
        run([PROMETHEUS_SH, "down", cls.prom_dir], timeout=30)
        super().tearDownClass()

    def query(self, promql):
        """The result list of an instant query (GET /api/v1/query)."""
        url = self.prom + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        code, _, body = self.http(url)
        self.assertEqual(code, 200, body)
        doc = json.loads(body)
        self.assertEqual((doc["status"], doc["data"]["resultType"]), ("success", "vector"), doc)
        return doc["data"]["result"]

    def values(self, promql, label):
        """{value of label: sample value} of an instant query."""
        return {r["metric"].get(label): float(r["value"][1]) for r in self.query(promql)}


class PrometheusTest(PrometheusCase):
    """Injected errors of an image, as Prometheus computes the success rate of its service."""

    def test_success_rate_of_an_image_failing_one_request_in_four(self):
        api = self.endpoints["prod"]["api"]
        image = self.control("prod", "state")["serving"]["api"]
        self.control("prod", "images", {"image": image, "merge": True, "spec": {"errorRate": 0.25}})
        series = 'standin_http_requests_total{service="api",env="prod"}'
        # rate() counts what a series gained after Prometheus first saw it: make the 200 and the 500
        # series exist first (3 and 1), and wait until the 10 s window holds only samples taken
        # after that, the same number for both.
        self.assertEqual([self.http(api + "/health")[0] for _ in range(4)], [200, 200, 200, 500])
        self.wait_for(lambda: self.values("min_over_time(%s[10s])" % series, "status") == {"200": 3, "500": 1}
                      and len(set(self.values("count_over_time(%s[10s])" % series, "status").values())) == 1,
                      timeout=QUERY_SECONDS, what="Prometheus to scrape the first 4 requests")
        statuses = [self.http(api + "/health")[0] for _ in range(20)]
        self.assertEqual(statuses.count(500), 5, statuses)
        self.wait_for(lambda: self.values(series, "status") == {"200": 18, "500": 6},
                      timeout=QUERY_SECONDS, what="Prometheus to scrape the 20 requests")
        result = self.query(SUCCESS_RATE % ("api", "api"))
        self.assertEqual(len(result), 1, result)
        self.assertAlmostEqual(float(result[0]["value"][1]), 0.75, delta=0.01)
        # The series carry the stand-in's labels and the scrape's env and service.
        labels = self.query(series)[0]["metric"]
        self.assertEqual({k: labels[k] for k in ("env", "service", "namespace", "image", "job")},
                         {"env": "prod", "service": "api", "namespace": "keybuzz-api-prod",
                          "image": image, "job": "standin"})

    def test_a_service_that_does_not_exist_is_an_empty_vector(self):
        self.assertEqual(self.query(SUCCESS_RATE % ("nope", "nope")), [])
        self.assertEqual(self.query('standin_http_requests_total{service="nope"}'), [])


class PrometheusUpDownTest(PrometheusCase):
    """prometheus.sh: one target per service port, ready before `up` returns, `down` idempotent."""

    def test_up_scrapes_each_port_once_and_down_stops_it(self):
        self.assertLess(self.up_seconds, 35, "up waits at most 30 s")
        with open(os.path.join(self.prom_dir, "prometheus.pid")) as f:
            pid = int(f.read())
        self.assertEqual(prometheus_pids(self.prom_dir), [pid])
        with open(os.path.join(self.prom_dir, "prometheus.yml")) as f:
            config = f.read()
        for line in ("  scrape_interval: 1s", "  evaluation_interval: 1s", "  - job_name: standin",
                     "    honor_labels: true", "    metrics_path: /metrics"):
            self.assertIn(line + "\n", config)
        code, _, body = self.http(self.prom + "/api/v1/targets?state=active")
        self.assertEqual(code, 200)
        targets = json.loads(body)["data"]["activeTargets"]
        # Every target was scraped once before `up` returned; www is the website's port again.
        self.assertEqual({t["health"] for t in targets}, {"up"})
        self.assertEqual(sorted((t["labels"]["env"], t["labels"]["service"]) for t in targets),
                         [(e, s) for e in ("dev", "prod") for s in ("api", "client", "website")])
        ports = {(e, s): self.endpoints[e][s].rsplit(":", 1)[1] for e in ("dev", "prod")
                 for s in ("api", "client", "website")}
        self.assertEqual({t["labels"]["instance"] for t in targets}, {"127.0.0.1:" + p for p in ports.values()})
        self.assertTrue(self.prom.startswith("http://127.0.0.1:"))
        again = run([PROMETHEUS_SH, "up", self.prom_dir, "--endpoints",
                     os.path.join(self.dir, "endpoints.json")], timeout=30)
        self.assertEqual(again.rc, 1, "a second up must refuse")
        self.assertEqual(run([PROMETHEUS_SH, "down", self.prom_dir], timeout=30).rc, 0)
        self.assertEqual(prometheus_pids(self.prom_dir), [])
        self.assertFalse(os.path.exists(os.path.join(self.prom_dir, "prometheus.pid")))
        port = int(self.prom.rsplit(":", 1)[1])
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        self.assertEqual(run([PROMETHEUS_SH, "down", self.prom_dir], timeout=30).rc, 0, "idempotent")


class PrometheusScriptTest(unittest.TestCase):
    """prometheus.sh refusals that start nothing."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="prometheus-sh-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_refuses_endpoints_off_loopback(self):
        eps = os.path.join(self.tmp, "endpoints.json")
        with open(eps, "w") as f:
            json.dump({"prod": {"api": "http://10.0.0.1:80", "api_server": "http://127.0.0.1:1"}}, f)
        d = os.path.join(self.tmp, "p")
        r = run([PROMETHEUS_SH, "up", d, "--endpoints", eps], timeout=30)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("not http://127.0.0.1:PORT", r.err)
        self.assertEqual(prometheus_pids(d), [])
        self.assertNotEqual(run([PROMETHEUS_SH, "up", d], timeout=30).rc, 0, "--endpoints is required")

    def test_down_without_up_and_with_a_foreign_pid(self):
        self.assertEqual(run([PROMETHEUS_SH, "down", os.path.join(self.tmp, "none")], timeout=30).rc, 0)
        d = os.path.join(self.tmp, "foreign")
        os.makedirs(d)
        with open(os.path.join(d, "prometheus.pid"), "w") as f:
            f.write(str(os.getpid()))  # this test process: must survive
        self.assertEqual(run([PROMETHEUS_SH, "down", d], timeout=30).rc, 0)


if __name__ == "__main__":
    unittest.main()
