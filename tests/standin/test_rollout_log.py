"""rollouts.jsonl (when each rollout began and ended) and the controller's sleep when settled."""

import json
import os

from harness import StandinCase

REPO = "ghcr.io/keybuzz/"


class RolloutLogTest(StandinCase):
    """The benchmarks subtract the rollouts' own time from promote's: the log must be exact."""

    up_args = ["--rollout-seconds", "0.5", "--deadline-seconds", "2"]

    def rollouts(self):
        path = os.path.join(self.dir, "rollouts.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def pod_reasons(self, ctx, ns):
        r = self.kubectl(ctx, ns, "get", "pods", "-o", "json")
        self.assertOk(r)
        return {(cs.get("state", {}).get("waiting") or {}).get("reason", "running")
                for p in r.json()["items"] for cs in p["status"].get("containerStatuses", [])}

    def test_seeding_logs_nothing_and_each_rollout_logs_its_end_once(self):
        self.assertEqual(self.rollouts(), [], "the seeded world's deployments did not roll out")
        r = self.kubectl("prod", "keybuzz-api-prod", "set", "image", "deploy/keybuzz-api",
                         "api=" + REPO + "keybuzz-api:v0.4.31-replacement")
        self.assertOk(r)
        r = self.kubectl("dev", "keybuzz-website-dev", "set", "image", "deploy/keybuzz-website",
                         "website=" + REPO + "keybuzz-website:v0.4.40-never-ready")
        self.assertOk(r)
        lines = self.wait_for(lambda: (lambda ls: ls if len(ls) >= 2 else None)(self.rollouts()),
                              what="two rollouts.jsonl lines")
        by_name = {(x["env"], x["namespace"], x["name"]): x for x in lines}
        self.assertEqual(set(by_name), {("prod", "keybuzz-api-prod", "keybuzz-api"),
                                        ("dev", "keybuzz-website-dev", "keybuzz-website")})
        api = by_name[("prod", "keybuzz-api-prod", "keybuzz-api")]
        website = by_name[("dev", "keybuzz-website-dev", "keybuzz-website")]
        self.assertEqual(api["event"], "available")
        self.assertEqual(website["event"], "deadline-exceeded")
        self.assertTrue(api["replicaSet"].startswith("keybuzz-api-"), api)
        # A 0.5 s rollout and a 2 s deadline: each end lies after its beginning, by about that much.
        self.assertGreaterEqual(api["ts"] - api["began"], 0.4)
        self.assertGreaterEqual(website["ts"] - website["began"], 1.9)
        status = self.kubectl("prod", "keybuzz-api-prod", "rollout", "status", "deploy/keybuzz-api",
                              "--timeout=30s")
        self.assertOk(status)
        self.assertEqual(len(self.rollouts()), 2, "a finished rollout is logged once")

    def test_a_settled_controller_wakes_when_an_image_changes_behaviour(self):
        ns = "keybuzz-client-prod"
        self.assertEqual(self.pod_reasons("prod", ns), {"running"})
        running = self.kubectl("prod", ns, "get", "deploy", "keybuzz-client", "-o",
                               "jsonpath={.spec.template.spec.containers[0].image}")
        self.assertOk(running)
        # The controller sleeps once nothing changes; the control API must wake it.
        self.control("prod", "images", {"image": running.out.strip(), "spec": {"rollout": "crash"}})
        self.wait_for(lambda: self.pod_reasons("prod", ns) == {"CrashLoopBackOff"},
                      what="the running pods to crash-loop after their image changed behaviour")
