"""Who asks: the request log's kubectl session/command, user agent and connection, and the real
`kubectl proxy` as the one long-lived reader per environment that promote starts (issue 11)."""

import json
import os
import re
import select
import subprocess
import time
import unittest
import urllib.parse

from harness import CHARTS, KUBECTL, StandinCase

NS = "keybuzz-api-prod"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
META_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
CLIENT_UA = "promote-standin-test/1"
PROXY_START_SECONDS = 20


class RequestLogTest(StandinCase):
    """requests.jsonl tells kubectl processes, their subcommands and helm apart."""

    def assertFields(self, log):
        for r in log:
            self.assertTrue({"kubectlSession", "kubectlCommand", "userAgent", "conn"} <= set(r), r)
            self.assertRegex(r["conn"], r"^127\.0\.0\.1:\d+$")

    def test_one_session_per_kubectl_process(self):
        mark = self.log_mark()
        for _ in range(2):
            self.assertOk(self.kubectl("prod", NS, "get", "deploy", "-o", "json"))
        log = self.requests_since(mark)
        self.assertFields(log)
        sessions = {r["kubectlSession"] for r in log}
        self.assertEqual(len(sessions), 2, "two processes, two sessions")
        self.assertTrue(all(UUID.match(s) for s in sessions), sessions)
        self.assertEqual({r["kubectlCommand"] for r in log}, {"kubectl get"})
        self.assertEqual({r["userAgent"] for r in log}, {"kubectl/v1.32.3 (linux/amd64) kubernetes/32cc146"})

    def test_set_image_and_rollout_status_name_their_command(self):
        mark = self.log_mark()
        self.assertOk(self.kubectl("prod", NS, "set", "image", "deploy/keybuzz-api",
                                   "api=ghcr.io/keybuzz/keybuzz-api:v0.4.31-replacement"))
        self.assertOk(self.kubectl("prod", NS, "rollout", "status", "deploy/keybuzz-api", "--timeout=60s"))
        log = self.requests_since(mark)
        self.assertFields(log)
        by_command = {}
        for r in log:
            by_command.setdefault(r["kubectlCommand"], set()).add(r["kubectlSession"])
        self.assertEqual(sorted(by_command), ["kubectl rollout status", "kubectl set image"])
        self.assertTrue(all(len(s) == 1 for s in by_command.values()), by_command)
        self.assertNotEqual(by_command["kubectl set image"], by_command["kubectl rollout status"])
        patch = [r for r in log if r["verb"] == "patch"]
        self.assertEqual([r["kubectlCommand"] for r in patch], ["kubectl set image"])
        self.assertIn("kubectl rollout status", {r["kubectlCommand"] for r in log if r["verb"] == "watch"})

    def test_helm_sends_no_kubectl_headers(self):
        mark = self.log_mark()
        r = self.helm("dev", "default", "upgrade", "--install", "sess", os.path.join(CHARTS, "tiny"))
        self.assertOk(r)
        log = self.requests_since(mark)
        self.assertTrue(log)
        self.assertFields(log)
        self.assertEqual({(x["kubectlSession"], x["kubectlCommand"], x["userAgent"]) for x in log},
                         {(None, None, "Helm/3.17.2")})

    def test_plain_http_has_null_kubectl_fields(self):
        mark = self.log_mark()
        code, _, _ = self.http(self.endpoints["dev"]["api_server"] + "/api/v1/namespaces",
                               headers={"User-Agent": CLIENT_UA})
        self.assertEqual(code, 200)
        (r,) = self.requests_since(mark)
        self.assertEqual((r["kubectlSession"], r["kubectlCommand"], r["userAgent"]), (None, None, CLIENT_UA))


class KubectlProxyTest(StandinCase):
    """The real `kubectl proxy --port=0` in front of the stand-in: reads, a watch, a 404, and what it
    forwards of the caller's headers. Each test starts its own proxy; cleanup always kills it."""

    def setUp(self):
        self.proxy, self.base = self.start_proxy("prod")

    def start_proxy(self, context):
        argv = [KUBECTL, "proxy", "--port=0", "--kubeconfig", self.kubeconfig, "--context", context,
                "--cache-dir", os.path.join(self.tmp, "kcache")]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=dict(os.environ, HOME=self.tmp))
        self.addCleanup(self.stop_proxy, proc)
        out, deadline = b"", time.monotonic() + PROXY_START_SECONDS
        while b"\n" not in out:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                self.fail("kubectl proxy did not start: %r %r" % (out, proc.stderr.read() if proc.poll() is not None else b""))
            ready, _, _ = select.select([proc.stdout], [], [], left)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    continue
                out += chunk
        m = re.match(r"^Starting to serve on 127\.0\.0\.1:(\d+)\n", out.decode())
        self.assertTrue(m, out)
        return proc, "http://127.0.0.1:%s" % m.group(1)

    @staticmethod
    def stop_proxy(proc):
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=10)
        finally:
            proc.stdout.close()
            proc.stderr.close()

    def get(self, path, accept=None, headers=None, timeout=10):
        h = {"User-Agent": CLIENT_UA}
        if accept:
            h["Accept"] = accept
        h.update(headers or {})
        return self.http(self.base + path, headers=h, timeout=timeout)

    def test_reads_through_the_proxy(self):
        mark = self.log_mark()
        code, _, body = self.get("/api/v1/namespaces/" + NS)
        self.assertEqual(code, 200, body)
        self.assertEqual(json.loads(body)["metadata"]["name"], NS)
        code, _, body = self.get("/apis/apps/v1/namespaces/%s/deployments" % NS)
        self.assertEqual(code, 200)
        self.assertEqual([d["metadata"]["name"] for d in json.loads(body)["items"]], ["keybuzz-api"])
        sel = urllib.parse.quote("app=keybuzz-api")
        code, _, body = self.get("/api/v1/namespaces/%s/pods?labelSelector=%s" % (NS, sel))
        self.assertEqual(code, 200)
        pods = json.loads(body)["items"]
        self.assertEqual(len(pods), 2)
        self.assertTrue(all(p["status"]["containerStatuses"][0]["ready"] for p in pods))
        code, headers, body = self.get("/api/v1/namespaces/%s/secrets" % NS, META_LIST)
        self.assertEqual(code, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["kind"], "PartialObjectMetadataList")
        self.assertEqual(len(doc["items"]), 4)
        self.assertNotIn("PLANTED-SECRET", body.decode())
        self.assertNotIn('"data"', body.decode())
        log = self.requests_since(mark)
        self.assertEqual([(r["env"], r["verb"], r.get("resource"), r["status"]) for r in log],
                         [("prod", "get", "namespaces", 200), ("prod", "list", "deployments", 200),
                          ("prod", "list", "pods", 200), ("prod", "list", "secrets", 200)])
        self.assertEqual(log[2]["query"], "labelSelector=app%3Dkeybuzz-api")

    def test_missing_namespace_is_a_404_status(self):
        code, _, body = self.get("/api/v1/namespaces/nope")
        self.assertEqual(code, 404)
        st = json.loads(body)
        self.assertEqual((st["kind"], st["reason"], st["code"]), ("Status", "NotFound", 404))
        self.assertEqual(st["message"], 'namespaces "nope" not found')

    def test_watch_through_the_proxy(self):
        code, _, body = self.get("/apis/apps/v1/namespaces/%s/deployments" % NS)
        self.assertEqual(code, 200)
        rv = json.loads(body)["metadata"]["resourceVersion"]
        # A change after rv, made directly on the API server (not through the proxy).
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched"}, "data": {"k": "v"}}
        code, _, _ = self.http(self.endpoints["prod"]["api_server"] + "/api/v1/namespaces/%s/configmaps" % NS,
                               "POST", cm)
        self.assertEqual(code, 201)
        start = time.monotonic()
        code, _, body = self.get("/api/v1/namespaces/%s/configmaps?watch=1&resourceVersion=%s&timeoutSeconds=5"
                                 % (NS, rv), timeout=30)
        took = time.monotonic() - start
        self.assertEqual(code, 200)
        events = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in events], [("ADDED", "watched")])
        self.assertGreater(took, 3, "the watch stays open until timeoutSeconds")
        self.assertLess(took, 20, "and ends then, through the proxy too")

    def test_proxy_forwards_the_callers_headers_and_adds_no_session(self):
        # Observed with kubectl v1.32.3: the proxy sends no Kubectl-Session/Kubectl-Command of its
        # own, passes the caller's User-Agent and Kubectl-* headers through unchanged, adds
        # X-Forwarded-For, and reuses one upstream connection for sequential requests.
        other, other_base = self.start_proxy("prod")
        mark = self.log_mark()
        path = "/api/v1/namespaces/" + NS
        self.assertEqual(self.get(path)[0], 200)
        self.assertEqual(self.get(path)[0], 200)
        self.assertEqual(self.get(path, headers={"Kubectl-Session": "promote-run-1",
                                                 "Kubectl-Command": "promote status"})[0], 200)
        self.assertEqual(self.http(other_base + path, headers={"User-Agent": CLIENT_UA})[0], 200)
        log = self.requests_since(mark)
        self.assertEqual(len(log), 4)
        self.assertEqual([(r["kubectlSession"], r["kubectlCommand"], r["userAgent"]) for r in log],
                         [(None, None, CLIENT_UA), (None, None, CLIENT_UA),
                          ("promote-run-1", "promote status", CLIENT_UA), (None, None, CLIENT_UA)])
        self.assertEqual(len({r["conn"] for r in log[:3]}), 1, "one proxy, one kept-alive connection")
        self.assertNotEqual(log[0]["conn"], log[3]["conn"], "another proxy, another connection")


if __name__ == "__main__":
    unittest.main()
