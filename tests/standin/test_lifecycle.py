"""standin.sh up/down, the control API (faults, runtime images) and raw API behaviours."""

import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import unittest
import urllib.error

from harness import ROOT, STANDIN_SH, StandinCase, run, standin_pids

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from standin import protobuf  # noqa: E402


class UpDownTest(unittest.TestCase):
    """`up` starts exactly one process and `down` leaves none behind."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="standin-updown-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_up_writes_files_and_down_stops_everything(self):
        d = os.path.join(self.tmp, "s")
        self.addCleanup(run, [STANDIN_SH, "down", d])
        r = run([STANDIN_SH, "up", d], timeout=30)
        self.assertEqual(r.rc, 0, r.err)
        for f in ("kubeconfig", "endpoints.json", "requests.jsonl", "standin.pid", "standin.log"):
            self.assertTrue(os.path.exists(os.path.join(d, f)), f)
        with open(os.path.join(d, "standin.pid")) as f:
            pid = int(f.read())
        self.assertEqual(standin_pids(d), [pid])
        with open(os.path.join(d, "endpoints.json")) as f:
            eps = json.load(f)
        self.assertEqual(sorted(eps), ["dev", "prod"])
        for env in eps.values():
            self.assertTrue({"api", "client", "website"} <= set(env))
        with open(os.path.join(d, "kubeconfig")) as f:
            kc = f.read()
        self.assertIn("current-context: dev", kc)
        self.assertEqual(run([STANDIN_SH, "up", d], timeout=30).rc, 1, "a second up must refuse")
        # The control API from the command line: set a fault, read it back.
        r = run([STANDIN_SH, "ctl", d, "prod", "faults", '{"mode":"500","times":2}'], timeout=30)
        self.assertEqual(r.rc, 0, r.err)
        self.assertEqual((json.loads(r.out)["mode"], json.loads(r.out)["times"]), ("500", 2))
        r = run([STANDIN_SH, "ctl", d, "prod", "faults"], timeout=30)
        self.assertEqual(json.loads(r.out)["mode"], "500", r.err)
        self.assertEqual(run([STANDIN_SH, "down", d], timeout=30).rc, 0)
        self.assertEqual(standin_pids(d), [])
        self.assertFalse(os.path.exists(os.path.join(d, "standin.pid")))
        host, port = eps["prod"]["api"].rsplit(":", 1)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=2).close()
        self.assertEqual(run([STANDIN_SH, "down", d], timeout=30).rc, 0, "down is idempotent")

    def test_bad_world_fails_fast_with_log_tail(self):
        d = os.path.join(self.tmp, "bad")
        world = os.path.join(self.tmp, "world.json")
        with open(world, "w") as f:
            f.write("{not json")
        r = run([STANDIN_SH, "up", d, "--world", world], timeout=30)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("JSONDecodeError", r.err)
        self.assertEqual(standin_pids(d), [])

    def test_down_ignores_a_foreign_pid(self):
        d = os.path.join(self.tmp, "foreign")
        os.makedirs(d)
        with open(os.path.join(d, "standin.pid"), "w") as f:
            f.write(str(os.getpid()))  # this test process: must survive
        self.assertEqual(run([STANDIN_SH, "down", d], timeout=30).rc, 0)


class ControlApiTest(StandinCase):
    """The /_standin/ control API and raw API behaviours kubectl does not show."""

    def api(self, env):
        return self.endpoints[env]["api_server"]

    def test_fault_500_only_hits_its_environment(self):
        self.control("prod", "faults", {"mode": "500", "rate": 1.0, "seed": 1})
        try:
            r = self.kubectl("prod", "keybuzz-api-prod", "get", "deploy", "-o", "json", "--request-timeout=10s")
            self.assertNotEqual(r.rc, 0)
            self.assertOk(self.kubectl("dev", "keybuzz-api-dev", "get", "deploy", "-o", "json"))
            self.assertTrue(any(x.get("fault") == "500" for x in self.requests_log()))
        finally:
            self.control("prod", "faults", {"mode": "off"})
        self.assertOk(self.kubectl("prod", "keybuzz-api-prod", "get", "deploy", "-o", "json"))

    def test_seeded_rate_is_reproducible(self):
        url = self.api("dev") + "/version"

        def pattern():
            self.control("dev", "faults", {"mode": "500", "rate": 0.5, "seed": 42})
            return [self.http(url)[0] for _ in range(20)]

        try:
            first, second = pattern(), pattern()
        finally:
            self.control("dev", "faults", {"mode": "off"})
        self.assertEqual(first, second)
        self.assertEqual(set(first), {200, 500})

    def test_drop_and_hang(self):
        url = self.api("dev") + "/version"
        try:
            self.control("dev", "faults", {"mode": "drop", "rate": 1.0})
            with self.assertRaises((urllib.error.URLError, ConnectionError, OSError)):
                self.http(url)
            self.control("dev", "faults", {"mode": "hang", "rate": 1.0, "hangSeconds": 30})
            with self.assertRaises((TimeoutError, socket.timeout, urllib.error.URLError, OSError)):
                self.http(url, timeout=1)
        finally:
            self.control("dev", "faults", {"mode": "off"})
        self.assertEqual(self.http(url)[0], 200)

    def test_runtime_image_alias_keeps_digest(self):
        base = "ghcr.io/keybuzz/keybuzz-api:v0.4.31-replacement"
        retag = "ghcr.io/keybuzz/keybuzz-api:prod-2026-02-01"
        self.control("prod", "images", {"image": retag, "spec": {"like": base}})
        ns = "keybuzz-api-prod"
        self.assertOk(self.kubectl("prod", ns, "set", "image", "deploy/keybuzz-api", "api=" + retag))
        self.assertOk(self.kubectl("prod", ns, "rollout", "status", "deploy/keybuzz-api", "--timeout=60s"))
        pods = self.kubectl("prod", ns, "get", "pods", "-o", "json").json()["items"]
        digest = hashlib.sha256(base.encode()).hexdigest()
        self.assertEqual({p["status"]["containerStatuses"][0]["imageID"] for p in pods},
                         {"ghcr.io/keybuzz/keybuzz-api@sha256:" + digest})
        self.assertEqual(self.http(self.endpoints["prod"]["api"] + "/auth/login", "POST", {})[0], 200)
        state = self.control("prod", "state")
        self.assertEqual(state["serving"]["api"], retag)

    def test_watch_honours_timeout_seconds(self):
        url = self.api("dev") + "/apis/apps/v1/namespaces/keybuzz-api-dev/deployments?watch=true&timeoutSeconds=1"
        start = time.monotonic()
        code, headers, body = self.http(url, timeout=20)
        self.assertEqual(code, 200)
        self.assertLess(time.monotonic() - start, 15)
        events = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in events],
                         [("ADDED", "keybuzz-api")])

    def test_table_form(self):
        url = self.api("prod") + "/apis/apps/v1/namespaces/keybuzz-website-prod/deployments"
        code, _, body = self.http(url, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        self.assertEqual(code, 200)
        t = json.loads(body)
        self.assertEqual((t["kind"], t["apiVersion"]), ("Table", "meta.k8s.io/v1"))
        self.assertEqual([c["name"] for c in t["columnDefinitions"]][:4], ["Name", "Ready", "Up-to-date", "Available"])
        self.assertEqual(t["rows"][0]["cells"][:2], ["keybuzz-website", "1/1"])

    def test_aggregated_discovery_request_gets_plain_lists(self):
        code, headers, body = self.http(self.api("dev") + "/apis", headers={
            "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})
        self.assertEqual(code, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["kind"], "APIGroupList")
        self.assertEqual(sorted(g["name"] for g in doc["groups"]), ["apps", "batch", "coordination.k8s.io"])

    def test_protobuf_secret_create(self):
        body = protobuf.encode_secret({"metadata": {"name": "pb", "labels": {"owner": "helm"}},
                                       "data": {"k": "dmFsdWU="}, "type": "Opaque"})
        url = self.api("dev") + "/api/v1/namespaces/default/secrets"
        code, _, out = self.http(url, "POST", body, {"Content-Type": "application/vnd.kubernetes.protobuf",
                                                     "Accept": "application/vnd.kubernetes.protobuf, */*"})
        self.assertEqual(code, 201, out)
        s = json.loads(out)
        self.assertEqual((s["metadata"]["name"], s["metadata"]["namespace"], s["data"], s["metadata"]["labels"]),
                         ("pb", "default", {"k": "dmFsdWU="}, {"owner": "helm"}))
        code, _, _ = self.http(url, "POST", body, {"Content-Type": "application/vnd.kubernetes.protobuf"})
        self.assertEqual(code, 409)

    def test_leases_crud(self):
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "promote-prod"}, "spec": {"holderIdentity": "run-1"}}
        url = self.api("prod") + "/apis/coordination.k8s.io/v1/namespaces/default/leases"
        code, _, out = self.http(url, "POST", lease)
        self.assertEqual(code, 201, out)
        created = json.loads(out)
        stale = dict(created, metadata=dict(created["metadata"], resourceVersion="1"))
        self.assertEqual(self.http(url + "/promote-prod", "PUT", stale)[0], 409)
        created["spec"]["holderIdentity"] = "run-2"
        code, _, out = self.http(url + "/promote-prod", "PUT", created)
        self.assertEqual(code, 200, out)
        self.assertEqual(self.http(url + "/promote-prod", "DELETE")[0], 200)
        self.assertEqual(self.http(url + "/promote-prod")[0], 404)


if __name__ == "__main__":
    unittest.main()
