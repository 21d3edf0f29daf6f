"""Paged lists (`limit`/`continue`) and the 403 fault, as a real API server and RBAC answer them."""

import json

from harness import StandinCase


class PagingTest(StandinCase):
    """A list in pages returns every object once, in order, and the real kubectl follows it."""

    def get(self, path, env="prod"):
        code, _, body = self.http(self.endpoints[env]["api_server"] + path)
        return code, json.loads(body)

    def names(self, items):
        return [(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in items]

    def test_pages_cover_the_list_once(self):
        code, whole = self.get("/api/v1/pods")
        self.assertEqual(code, 200)
        self.assertGreaterEqual(len(whole["items"]), 3, "the default world runs several pods")
        self.assertNotIn("continue", whole["metadata"])
        seen, token, pages = [], "", 0
        while pages < 50:
            code, page = self.get("/api/v1/pods?limit=2" + ("&continue=" + token if token else ""))
            self.assertEqual(code, 200, page)
            self.assertLessEqual(len(page["items"]), 2)
            seen += self.names(page["items"])
            pages += 1
            token = page["metadata"].get("continue", "")
            if not token:
                break
            self.assertEqual(page["metadata"]["remainingItemCount"],
                             len(whole["items"]) - len(seen))
        self.assertEqual(seen, self.names(whole["items"]))
        self.assertEqual(pages, (len(whole["items"]) + 1) // 2)

    def test_a_bad_token_is_a_bad_request(self):
        code, status = self.get("/api/v1/pods?limit=2&continue=not-a-token")
        self.assertEqual(code, 400)
        self.assertEqual(status["reason"], "BadRequest")

    def test_kubectl_follows_the_pages(self):
        mark = self.log_mark()
        paged = self.kubectl("prod", None, "get", "pods", "-A", "--chunk-size=1", "-o", "name")
        self.assertOk(paged)
        whole = self.kubectl("prod", None, "get", "pods", "-A", "-o", "name")
        self.assertOk(whole)
        self.assertEqual(paged.out, whole.out)
        lists = [r for r in self.requests_since(mark) if r["verb"] == "list" and "continue=" in r["query"]]
        self.assertGreaterEqual(len(lists), 2, "kubectl asked for the following pages")


class ForbiddenFaultTest(StandinCase):
    """Mode 403 answers a Forbidden Status for the matching paths only, as RBAC would."""

    def test_cluster_wide_list_forbidden_namespace_list_not(self):
        self.control("prod", "faults", {"mode": "403", "pathRegex": "^/apis/apps/v1/deployments$"})
        try:
            base = self.endpoints["prod"]["api_server"]
            code, _, body = self.http(base + "/apis/apps/v1/deployments")
            self.assertEqual(code, 403)
            status = json.loads(body)
            self.assertEqual((status["kind"], status["reason"], status["code"]),
                             ("Status", "Forbidden", 403))
            code, _, _ = self.http(base + "/apis/apps/v1/namespaces/keybuzz-api-prod/deployments")
            self.assertEqual(code, 200)
            denied = self.kubectl("prod", None, "get", "deployments", "-A")
            self.assertNotEqual(denied.rc, 0)
            self.assertIn("forbidden", denied.err.lower())
        finally:
            self.control("prod", "faults", {"mode": "off"})
