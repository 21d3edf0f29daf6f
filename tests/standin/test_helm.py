"""Releases with the real helm v3: install/upgrade --wait, history, rollback, a failing upgrade."""

import base64
import gzip
import json
import os
import unittest

from harness import CHARTS, StandinCase

CHART = os.path.join(CHARTS, "tiny")
NS = "keybuzz-api-prod"
REPO = "ghcr.io/keybuzz/keybuzz-api:"


class HelmTest(StandinCase):
    """One release walked through its life; the steps run in order inside one test."""

    up_args = ["--rollout-seconds", "0.5", "--deadline-seconds", "2"]

    def image(self, name):
        r = self.kubectl("prod", NS, "get", "deploy", name, "-o", "json")
        self.assertOk(r)
        return r.json()["spec"]["template"]["spec"]["containers"][0]["image"]

    def history(self, name):
        r = self.helm("prod", NS, "history", name, "-o", "json")
        self.assertOk(r)
        return [(h["revision"], h["status"]) for h in json.loads(r.out)]

    def test_release_lifecycle(self):
        mark = self.log_mark()
        r = self.helm("prod", NS, "install", "tiny", CHART, "--wait", "--timeout", "60s")
        self.assertOk(r)
        self.assertIn("STATUS: deployed", r.out)
        self.assertEqual(self.image("tiny"), REPO + "v0.9.29-contact-fix")
        log = self.requests_since(mark)
        self.assertTrue(any(x["path"] == "/openapi/v3" for x in log), "helm validation must stay on")
        secret_writes = [x for x in log if x.get("resource") == "secrets" and x["verb"] == "create"]
        self.assertEqual([x["content_type"] for x in secret_writes], ["application/vnd.kubernetes.protobuf"])
        self.assertTrue(all(x["status"] < 400 for x in log if x["verb"] not in ("get",)))

        r = self.helm("prod", NS, "upgrade", "tiny", CHART, "--set", "image.tag=v0.4.31-replacement",
                      "--wait", "--timeout", "60s")
        self.assertOk(r)
        self.assertEqual(self.image("tiny"), REPO + "v0.4.31-replacement")
        self.assertEqual(self.history("tiny"), [(1, "superseded"), (2, "deployed")])

        r = self.helm("prod", NS, "upgrade", "tiny", CHART, "--set", "image.tag=v0.4.40-never-ready",
                      "--wait", "--timeout", "3s")
        self.assertEqual(r.rc, 1, r.out + r.err)
        self.assertIn("UPGRADE FAILED", r.err)
        self.assertIn("context deadline exceeded", r.err)
        self.assertEqual(self.history("tiny")[-1], (3, "failed"))

        r = self.helm("prod", NS, "rollback", "tiny", "2", "--wait", "--timeout", "60s")
        self.assertOk(r)
        self.assertEqual(self.image("tiny"), REPO + "v0.4.31-replacement")
        self.assertEqual(self.history("tiny"), [(1, "superseded"), (2, "superseded"), (3, "failed"),
                                                (4, "deployed")])

        # The release records are real Secrets whose payload helm can read back.
        r = self.kubectl("prod", NS, "get", "secret", "-l", "owner=helm,name=tiny", "-o", "json")
        self.assertOk(r)
        secrets = {s["metadata"]["name"]: s for s in r.json()["items"]}
        self.assertEqual(sorted(secrets), ["sh.helm.release.v1.tiny.v%d" % i for i in (1, 2, 3, 4)])
        v4 = secrets["sh.helm.release.v1.tiny.v4"]
        self.assertEqual(v4["type"], "helm.sh/release.v1")
        self.assertEqual(v4["metadata"]["labels"]["status"], "deployed")
        release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(v4["data"]["release"]))))
        self.assertEqual(release["version"], 4)

        r = self.helm("prod", NS, "uninstall", "tiny", "--wait", "--timeout", "60s")
        self.assertOk(r)
        self.wait_for(lambda: self.kubectl("prod", NS, "get", "rs", "-l", "app.kubernetes.io/instance=tiny",
                                           "-o", "json").json()["items"] == [], what="garbage collection")

    def test_install_into_new_namespace(self):
        r = self.helm("dev", "tiny-ns", "install", "other", CHART, "--create-namespace", "--wait",
                      "--timeout", "60s", "--set", "image.repository=ghcr.io/keybuzz/keybuzz-website",
                      "--set", "image.tag=v0.4.20-home-fixes", "--set", "container=website")
        self.assertOk(r)
        r = self.helm("dev", "tiny-ns", "list", "-o", "json")
        self.assertOk(r)
        self.assertEqual([(x["name"], x["status"]) for x in json.loads(r.out)], [("other", "deployed")])


if __name__ == "__main__":
    unittest.main()
