"""Rollouts with the real kubectl: set image, rollout status, progress deadline, rollout undo."""

import hashlib
import http.client
import json
import socket
import time
import unittest
import urllib.error

from harness import StandinCase

REPO = "ghcr.io/keybuzz/"


def image_of(dep):
    return dep["spec"]["template"]["spec"]["containers"][0]["image"]


def revision_of(obj):
    return obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"]


class KubectlRolloutTest(StandinCase):
    """Each test uses its own deployment, so the tests of this class do not depend on each other."""

    up_args = ["--rollout-seconds", "0.5", "--deadline-seconds", "2"]

    def deploy(self, ctx, ns, name):
        r = self.kubectl(ctx, ns, "get", "deploy", name, "-o", "json")
        self.assertOk(r)
        return r.json()

    def replicasets(self, ctx, ns, selector):
        r = self.kubectl(ctx, ns, "get", "rs", "-l", selector, "-o", "json")
        self.assertOk(r)
        return {rs["metadata"]["name"]: rs for rs in r.json()["items"]}

    def test_set_image_fixes_prod_login(self):
        ep = self.endpoints["prod"]["api"]
        self.assertEqual(self.http(ep + "/auth/login", "POST", {})[0], 404)
        mark = self.log_mark()
        r = self.kubectl("prod", "keybuzz-api-prod", "set", "image", "deploy/keybuzz-api",
                         "api=" + REPO + "keybuzz-api:v0.4.31-replacement")
        self.assertOk(r)
        writes = [x for x in self.requests_since(mark) if x["verb"] not in ("get", "list", "watch")]
        self.assertEqual(len(writes), 1, writes)
        self.assertEqual((writes[0]["method"], writes[0]["content_type"]),
                         ("PATCH", "application/strategic-merge-patch+json"))
        self.assertEqual(writes[0]["path"], "/apis/apps/v1/namespaces/keybuzz-api-prod/deployments/keybuzz-api")
        st = self.kubectl("prod", "keybuzz-api-prod", "rollout", "status", "deploy/keybuzz-api", "--timeout=60s")
        self.assertOk(st)
        self.assertIn('deployment "keybuzz-api" successfully rolled out', st.out)
        self.assertEqual(self.http(ep + "/auth/login", "POST", {})[0], 200)
        dep = self.deploy("prod", "keybuzz-api-prod", "keybuzz-api")
        self.assertEqual(dep["metadata"]["generation"], 2)
        self.assertEqual(dep["status"]["observedGeneration"], 2)
        self.assertEqual(revision_of(dep), "2")
        self.assertEqual(dep["status"]["updatedReplicas"], 2)
        self.assertEqual(dep["status"]["availableReplicas"], 2)
        rs = self.replicasets("prod", "keybuzz-api-prod", "app=keybuzz-api")
        self.assertEqual(sorted((revision_of(x), x["spec"]["replicas"]) for x in rs.values()), [("1", 0), ("2", 2)])
        pods = self.kubectl("prod", "keybuzz-api-prod", "get", "pods", "-o", "json").json()["items"]
        digest = hashlib.sha256((REPO + "keybuzz-api:v0.4.31-replacement").encode()).hexdigest()
        self.assertEqual({p["status"]["containerStatuses"][0]["imageID"] for p in pods},
                         {REPO + "keybuzz-api@sha256:" + digest})

    def test_never_ready_exceeds_progress_deadline_and_old_image_keeps_serving(self):
        ep = self.endpoints["dev"]["website"]
        r = self.kubectl("dev", "keybuzz-website-dev", "set", "image", "deploy/keybuzz-website",
                         "website=" + REPO + "keybuzz-website:v0.4.40-never-ready")
        self.assertOk(r)
        st = self.kubectl("dev", "keybuzz-website-dev", "rollout", "status", "deploy/keybuzz-website",
                          "--timeout=60s")
        self.assertEqual(st.rc, 1, st.out + st.err)
        self.assertIn('deployment "keybuzz-website" exceeded its progress deadline', st.err)
        dep = self.deploy("dev", "keybuzz-website-dev", "keybuzz-website")
        prog = [c for c in dep["status"]["conditions"] if c["type"] == "Progressing"][0]
        self.assertEqual((prog["status"], prog["reason"]), ("False", "ProgressDeadlineExceeded"))
        code, headers, _ = self.http(ep + "/")
        self.assertEqual(code, 200)
        self.assertEqual(headers.get("X-Standin-Image"), REPO + "keybuzz-website:v0.4.20-home-fixes")

    def test_undo_restores_previous_image_and_moves_revision(self):
        ns, name = "keybuzz-client-prod", "keybuzz-client"
        before = self.replicasets("prod", ns, "app=keybuzz-client")
        self.assertEqual(len(before), 1)
        first_rs = next(iter(before))
        self.assertOk(self.kubectl("prod", ns, "set", "image", "deploy/" + name,
                                   "client=" + REPO + "keybuzz-client:v0.5.33-replacement"))
        self.assertOk(self.kubectl("prod", ns, "rollout", "status", "deploy/" + name, "--timeout=60s"))
        mark = self.log_mark()
        r = self.kubectl("prod", ns, "rollout", "undo", "deploy/" + name)
        self.assertOk(r)
        writes = [x for x in self.requests_since(mark) if x["verb"] not in ("get", "list", "watch")]
        self.assertEqual([(w["method"], w["content_type"]) for w in writes],
                         [("PATCH", "application/json-patch+json")])
        self.assertOk(self.kubectl("prod", ns, "rollout", "status", "deploy/" + name, "--timeout=60s"))
        dep = self.deploy("prod", ns, name)
        self.assertEqual(image_of(dep), REPO + "keybuzz-client:v0.5.3-signup-public")
        self.assertEqual(revision_of(dep), "3")
        after = self.replicasets("prod", ns, "app=keybuzz-client")
        self.assertEqual(len(after), 2, "the identical template must reuse its ReplicaSet")
        self.assertEqual(revision_of(after[first_rs]), "3")
        self.assertEqual(after[first_rs]["spec"]["replicas"], 2)
        hist = self.kubectl("prod", ns, "rollout", "history", "deploy/" + name)
        self.assertOk(hist)
        self.assertEqual([l.split()[0] for l in hist.out.strip().splitlines()[2:]], ["2", "3"])

    def test_undo_after_failed_rollout(self):
        ns = "keybuzz-api-dev"
        self.assertOk(self.kubectl("dev", ns, "set", "image", "deploy/keybuzz-api",
                                   "api=" + REPO + "keybuzz-api:v0.4.41-crash"))
        st = self.kubectl("dev", ns, "rollout", "status", "deploy/keybuzz-api", "--timeout=60s")
        self.assertEqual(st.rc, 1)
        self.assertIn("exceeded its progress deadline", st.err)
        pods = self.kubectl("dev", ns, "get", "pods", "-o", "json").json()["items"]
        waiting = [p["status"]["containerStatuses"][0]["state"].get("waiting", {}).get("reason") for p in pods]
        self.assertIn("CrashLoopBackOff", waiting)
        self.assertEqual(self.http(self.endpoints["dev"]["api"] + "/auth/login", "POST", {})[0], 200)
        self.assertOk(self.kubectl("dev", ns, "rollout", "undo", "deploy/keybuzz-api"))
        self.assertOk(self.kubectl("dev", ns, "rollout", "status", "deploy/keybuzz-api", "--timeout=60s"))
        dep = self.deploy("dev", ns, "keybuzz-api")
        self.assertEqual(image_of(dep), REPO + "keybuzz-api:v0.4.31-replacement")
        prog = [c for c in dep["status"]["conditions"] if c["type"] == "Progressing"][0]
        self.assertEqual(prog["reason"], "NewReplicaSetAvailable")

    def test_image_by_digest_resolves_to_its_tag(self):
        ns, name = "keybuzz-client-dev", "keybuzz-client"
        tag_ref = REPO + "keybuzz-client:v0.5.3-signup-public"
        digest = "sha256:" + hashlib.sha256(tag_ref.encode()).hexdigest()
        pinned = REPO + "keybuzz-client@" + digest
        self.assertOk(self.kubectl("dev", ns, "set", "image", "deploy/" + name, "client=" + pinned))
        self.assertOk(self.kubectl("dev", ns, "rollout", "status", "deploy/" + name, "--timeout=60s"))
        pods = self.kubectl("dev", ns, "get", "pods", "-o", "json").json()["items"]
        self.assertEqual({p["status"]["containerStatuses"][0]["imageID"] for p in pods}, {pinned})
        self.assertEqual({p["spec"]["containers"][0]["image"] for p in pods}, {pinned})
        self.assertEqual(self.http(self.endpoints["dev"]["client"] + "/login")[0], 200)

    def test_unknown_image_never_becomes_available(self):
        ns = "keybuzz-website-prod"
        self.assertOk(self.kubectl("prod", ns, "set", "image", "deploy/keybuzz-website",
                                   "website=" + REPO + "keybuzz-website:does-not-exist"))
        st = self.kubectl("prod", ns, "rollout", "status", "deploy/keybuzz-website", "--timeout=60s")
        self.assertEqual(st.rc, 1)
        pods = self.kubectl("prod", ns, "get", "pods", "-o", "json").json()["items"]
        reasons = {p["status"]["containerStatuses"][0]["state"].get("waiting", {}).get("reason") for p in pods}
        self.assertTrue(reasons & {"ErrImagePull", "ImagePullBackOff"}, reasons)
        self.assertEqual(self.http(self.endpoints["prod"]["website"] + "/")[0], 200)


class PerEnvironmentBehaviourTest(StandinCase):
    """An image can be healthy in DEV and broken in PROD (world file `env` overrides)."""

    def test_needs_env_breaks_login_only_in_prod(self):
        image = "api=ghcr.io/keybuzz/keybuzz-api:v0.4.32-needs-env"
        for ctx in ("dev", "prod"):
            ns = "keybuzz-api-" + ctx
            self.assertOk(self.kubectl(ctx, ns, "set", "image", "deploy/keybuzz-api", image))
            self.assertOk(self.kubectl(ctx, ns, "rollout", "status", "deploy/keybuzz-api", "--timeout=60s"))
        dev, prod = self.endpoints["dev"]["api"], self.endpoints["prod"]["api"]
        self.assertEqual(self.http(dev + "/auth/login", "POST", {})[0], 200)
        self.assertEqual(self.http(prod + "/auth/login", "POST", {})[0], 500)
        self.assertEqual(self.http(prod + "/health")[0], 200)
        self.assertEqual(json.loads(self.http(prod + "/health")[2])["service"], "keybuzz-api")


class ServiceFaultTest(StandinCase):
    """The faults a route can play on a service port: late, reset, huge (the fault matrix's)."""

    up_args = ["--rollout-seconds", "0.3", "--deadline-seconds", "2"]

    def test_late_reset_and_huge_answers(self):
        image = REPO + "keybuzz-website:v9.9.9-faulty"
        self.control("dev", "routes", {"name": "faulty", "routes": [
            {"path": "/late", "status": 200, "body": "late", "delaySeconds": 1},
            {"path": "/reset", "status": 200, "reset": True},
            {"path": "/huge", "status": 200, "body": "start", "bodyBytes": 3 << 20},
        ]})
        self.control("dev", "images", {"image": image, "spec": {"routes": ["faulty"]}})
        ns = "keybuzz-website-dev"
        self.assertOk(self.kubectl("dev", ns, "set", "image", "deploy/keybuzz-website",
                                   "website=" + image))
        self.assertOk(self.kubectl("dev", ns, "rollout", "status", "deploy/keybuzz-website",
                                   "--timeout=60s"))
        base = self.endpoints["dev"]["website"]
        started = time.monotonic()
        self.assertEqual(self.http(base + "/late")[0], 200)
        self.assertGreaterEqual(time.monotonic() - started, 1.0)
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected,
                                urllib.error.URLError)):
            self.http(base + "/reset")
        code, _, body = self.http(base + "/huge")
        self.assertEqual((code, len(body), body[:5]), (200, 3 << 20, b"start"))
        # A late answer is cut by the client's own timeout, as a probe's is.
        with self.assertRaises((TimeoutError, socket.timeout, urllib.error.URLError)):
            self.http(base + "/late", timeout=0.3)


if __name__ == "__main__":
    unittest.main()
