"""Reads with the real kubectl: JSON lists, the Table form, secrets by name, no writes."""

import hashlib
import json
import unittest

from harness import StandinCase

API_PROD = "ghcr.io/keybuzz/keybuzz-api:v0.9.29-contact-fix"
API_DEV = "ghcr.io/keybuzz/keybuzz-api:v0.4.31-replacement"


class KubectlReadTest(StandinCase):
    """`kubectl get` against the seeded world changes nothing and shows DESIGN.md's situation."""

    def test_prod_api_runs_contact_fix(self):
        r = self.kubectl("prod", "keybuzz-api-prod", "get", "deploy", "-o", "json")
        self.assertOk(r)
        items = {d["metadata"]["name"]: d for d in r.json()["items"]}
        api = items["keybuzz-api"]
        self.assertEqual(api["spec"]["template"]["spec"]["containers"][0]["image"], API_PROD)
        self.assertEqual(api["spec"]["template"]["spec"]["containers"][0]["name"], "api")
        self.assertEqual(api["status"]["observedGeneration"], api["metadata"]["generation"])
        self.assertEqual(api["status"]["availableReplicas"], api["spec"]["replicas"])
        self.assertEqual(api["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1")
        reasons = {c["type"]: c["reason"] for c in api["status"]["conditions"]}
        self.assertEqual(reasons, {"Available": "MinimumReplicasAvailable",
                                   "Progressing": "NewReplicaSetAvailable"})

    def test_dev_world(self):
        want = {"keybuzz-api-dev": ("keybuzz-api", "api", API_DEV),
                "keybuzz-client-dev": ("keybuzz-client", "client",
                                       "ghcr.io/keybuzz/keybuzz-client:v0.5.33-replacement"),
                "keybuzz-website-dev": ("keybuzz-website", "website",
                                        "ghcr.io/keybuzz/keybuzz-website:v0.4.20-home-fixes")}
        for ns, (name, container, image) in want.items():
            r = self.kubectl("dev", ns, "get", "deploy", name, "-o", "json")
            self.assertOk(r)
            c = r.json()["spec"]["template"]["spec"]["containers"][0]
            self.assertEqual((c["name"], c["image"]), (container, image))

    def test_human_table(self):
        r = self.kubectl("prod", "keybuzz-api-prod", "get", "deploy")
        self.assertOk(r)
        lines = r.out.strip().splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"])
        self.assertEqual(lines[1].split()[:4], ["keybuzz-api", "2/2", "2", "2"])
        wide = self.kubectl("prod", "keybuzz-api-prod", "get", "deploy", "-o", "wide")
        self.assertOk(wide)
        self.assertIn(API_PROD, wide.out)

    def test_secret_names(self):
        r = self.kubectl("prod", "keybuzz-api-prod", "get", "secret", "-o", "name")
        self.assertOk(r)
        self.assertEqual(sorted(r.out.split()),
                         ["secret/ghcr-cred", "secret/keybuzz-api-postgres", "secret/keybuzz-stripe",
                          "secret/minio-credentials"])
        self.assertNotIn("PLANTED-SECRET", r.out)

    def test_planted_marker_is_in_a_secret_value(self):
        r = self.kubectl("prod", "keybuzz-api-prod", "get", "secret", "keybuzz-api-postgres",
                         "-o", "jsonpath={.data.DATABASE_URL}")
        self.assertOk(r)
        import base64
        self.assertIn("PLANTED-SECRET-7f3a9c", base64.b64decode(r.out).decode())

    def test_pods_report_digest_of_their_image(self):
        r = self.kubectl("prod", "keybuzz-api-prod", "get", "pods", "-l", "app=keybuzz-api", "-o", "json")
        self.assertOk(r)
        pods = r.json()["items"]
        self.assertEqual(len(pods), 2)
        digest = hashlib.sha256(API_PROD.encode()).hexdigest()
        for p in pods:
            cs = p["status"]["containerStatuses"][0]
            self.assertEqual(cs["imageID"], "ghcr.io/keybuzz/keybuzz-api@sha256:" + digest)
            self.assertTrue(cs["ready"])
            owner = p["metadata"]["ownerReferences"][0]
            self.assertEqual((owner["kind"], owner["controller"]), ("ReplicaSet", True))

    def test_replicaset_is_owned_by_its_deployment(self):
        dep = self.kubectl("prod", "keybuzz-api-prod", "get", "deploy", "keybuzz-api", "-o", "json").json()
        r = self.kubectl("prod", "keybuzz-api-prod", "get", "rs", "-l", "app=keybuzz-api", "-o", "json")
        self.assertOk(r)
        rs = r.json()["items"]
        self.assertEqual(len(rs), 1)
        owner = rs[0]["metadata"]["ownerReferences"][0]
        self.assertEqual((owner["uid"], owner["controller"]), (dep["metadata"]["uid"], True))
        self.assertEqual(rs[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1")
        self.assertIn("pod-template-hash", rs[0]["spec"]["template"]["metadata"]["labels"])

    def test_reads_make_no_writes(self):
        mark = self.log_mark()
        for args in (["get", "deploy", "-o", "json"], ["get", "deploy"], ["get", "secret", "-o", "name"],
                     ["get", "rs,pods"], ["rollout", "history", "deploy/keybuzz-api"]):
            self.assertOk(self.kubectl("prod", "keybuzz-api-prod", *args))
        log = self.requests_since(mark)
        self.assertTrue(log)
        self.assertEqual([r for r in log if r["verb"] not in ("get", "list", "watch")], [])
        self.assertTrue(all(r["env"] == "prod" for r in log))
        self.assertTrue(all({"env", "method", "path", "query", "verb", "content_type", "ts"} <= set(r) for r in log))

    def test_missing_object_is_404(self):
        r = self.kubectl("prod", "keybuzz-api-prod", "get", "deploy", "nope", "-o", "json")
        self.assertEqual(r.rc, 1)
        self.assertIn('deployments.apps "nope" not found', r.err)

    def test_service_endpoints_answer_as_their_images(self):
        prod, dev = self.endpoints["prod"], self.endpoints["dev"]
        self.assertEqual(self.http(prod["api"] + "/auth/login", "POST", {"email": "a"})[0], 404)
        self.assertEqual(self.http(prod["api"] + "/auth/signup", "POST", {})[0], 404)
        self.assertEqual(self.http(dev["api"] + "/auth/login", "POST", {"email": "a"})[0], 200)
        for ep in (prod["api"], dev["api"]):
            code, _, body = self.http(ep + "/health")
            self.assertEqual(code, 200)
            self.assertEqual(json.loads(body), {"status": "ok", "service": "keybuzz-api"})
            self.assertEqual(self.http(ep + "/auth/me")[0], 401)
            self.assertEqual(self.http(ep + "/tenants")[0], 200)
        # As in the incident, PROD's API has lost every business route; DEV's refuses without a
        # token.
        for path in ("/spaces", "/users", "/conversations", "/messages", "/attachments",
                     "/dashboard/stats", "/stats/platform"):
            self.assertEqual(self.http(dev["api"] + path)[0], 401, path)
            self.assertEqual(self.http(prod["api"] + path)[0], 404, path)
        self.assertNotEqual(self.http(dev["api"] + "/webhooks/amazon", "POST", {})[0], 404)
        self.assertEqual(self.http(prod["api"] + "/webhooks/amazon", "POST", {})[0], 404)
        # The website's second host is another name for its port.
        self.assertEqual(prod["www"], prod["website"])
        code, headers, _ = self.http(prod["client"] + "/")
        self.assertEqual((code, headers.get("Location")), (307, "/login"))
        self.assertEqual(self.http(prod["client"] + "/login")[0], 200)
        self.assertEqual(self.http(prod["website"] + "/")[0], 200)


if __name__ == "__main__":
    unittest.main()
