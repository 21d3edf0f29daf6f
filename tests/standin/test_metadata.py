"""Metadata-only reads: the Accept `as=PartialObjectMetadata(List)` negotiation of a real API server."""

import base64
import json
import os
import sys
import unittest

from harness import ROOT, StandinCase

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from standin import discovery  # noqa: E402

NS = "keybuzz-api-prod"
META_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
META_ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
MARKER = "PLANTED-SECRET-7f3a9c"


class MetadataOnlyTest(StandinCase):
    """Lists and gets answer metadata only when asked, for every resource; Secrets' values stay out."""

    def api(self, path, accept=None, env="prod"):
        headers = {"Accept": accept} if accept else {}
        code, headers, body = self.http(self.endpoints[env]["api_server"] + path, headers=headers)
        return code, headers, body

    def secret_values(self):
        """Every stored value of the namespace's Secrets, as base64 and decoded."""
        code, _, body = self.api("/api/v1/namespaces/%s/secrets" % NS)
        self.assertEqual(code, 200)
        values = []
        for s in json.loads(body)["items"]:
            for v in (s.get("data") or {}).values():
                values += [v, base64.b64decode(v).decode()]
        self.assertTrue(any(MARKER in v for v in values), "the world plants its marker in a Secret")
        return values

    def assertNoValues(self, body, values):
        text = body.decode()
        self.assertNotIn(MARKER, text)
        for v in values:
            self.assertNotIn(v, text)
        self.assertNotIn('"data"', text)

    def assertMetadataOnly(self, item, name=None):
        self.assertEqual((item["kind"], item["apiVersion"]), ("PartialObjectMetadata", "meta.k8s.io/v1"))
        self.assertEqual(set(item), {"kind", "apiVersion", "metadata"})
        self.assertTrue({"name", "uid", "resourceVersion", "creationTimestamp"} <= set(item["metadata"]))
        if name:
            self.assertEqual(item["metadata"]["name"], name)

    def test_secret_list_is_metadata_only(self):
        values = self.secret_values()
        mark = self.log_mark()
        code, headers, body = self.api("/api/v1/namespaces/%s/secrets" % NS, META_LIST + ",application/json")
        self.assertEqual(code, 200, body)
        self.assertEqual(headers["Content-Type"], "application/json")
        doc = json.loads(body)
        self.assertEqual((doc["kind"], doc["apiVersion"]), ("PartialObjectMetadataList", "meta.k8s.io/v1"))
        self.assertTrue(doc["metadata"]["resourceVersion"].isdigit())
        self.assertEqual(sorted(i["metadata"]["name"] for i in doc["items"]),
                         ["ghcr-cred", "keybuzz-api-postgres", "keybuzz-stripe", "minio-credentials"])
        for item in doc["items"]:
            self.assertMetadataOnly(item)
            self.assertEqual(item["metadata"]["namespace"], NS)
        self.assertNoValues(body, values)
        log = self.requests_since(mark)
        self.assertEqual([(r["verb"], r["resource"], r["status"]) for r in log], [("list", "secrets", 200)])

    def test_secret_get_is_metadata_only(self):
        values = self.secret_values()
        code, _, body = self.api("/api/v1/namespaces/%s/secrets/keybuzz-api-postgres" % NS,
                                 META_ONE + ",application/json")
        self.assertEqual(code, 200, body)
        self.assertMetadataOnly(json.loads(body), "keybuzz-api-postgres")
        self.assertNoValues(body, values)

    def test_client_go_header_with_protobuf_first(self):
        # client-go's metadata client; the stand-in serves the protobuf clause as JSON.
        accept = ("application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
                  + META_LIST + ",application/json")
        code, headers, body = self.api("/api/v1/namespaces/%s/secrets" % NS, accept)
        self.assertEqual(code, 200, body)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(json.loads(body)["kind"], "PartialObjectMetadataList")
        self.assertNotIn(MARKER, body.decode())

    def test_every_resource_lists_and_gets_metadata_only(self):
        for res in discovery.RESOURCES:
            prefix = "/apis/%s/%s" % (res.group, res.version) if res.group else "/api/" + res.version
            path = prefix + ("/namespaces/%s/" % NS if res.namespaced else "/") + res.plural
            code, _, body = self.api(path, META_LIST + ",application/json")
            self.assertEqual(code, 200, (path, body))
            doc = json.loads(body)
            self.assertEqual(doc["kind"], "PartialObjectMetadataList", path)
            for item in doc["items"]:
                self.assertMetadataOnly(item)
                code, _, one = self.api(path + "/" + item["metadata"]["name"], META_ONE)
                self.assertEqual(code, 200, one)
                self.assertEqual(json.loads(one), item, path)
            if res.plural in ("namespaces", "deployments", "pods", "secrets", "replicasets", "services"):
                self.assertTrue(doc["items"], path)

    def test_deployments_and_pods_by_label(self):
        code, _, body = self.api("/api/v1/namespaces/%s/pods?labelSelector=app%%3Dkeybuzz-api" % NS, META_LIST)
        self.assertEqual(code, 200, body)
        pods = json.loads(body)["items"]
        self.assertEqual(len(pods), 2)
        self.assertTrue(all(p["metadata"]["labels"]["app"] == "keybuzz-api" for p in pods))
        self.assertNotIn('"spec"', body.decode())
        self.assertNotIn('"status"', body.decode())

    def test_wrong_shape_is_406_without_fallback(self):
        # The transform is picked before the object is read: the `,application/json` after it is
        # not a fallback, as on a real server.
        code, _, body = self.api("/api/v1/namespaces/%s/secrets" % NS, META_ONE + ",application/json")
        self.assertEqual(code, 406)
        st = json.loads(body)
        self.assertEqual((st["kind"], st["reason"], st["code"]), ("Status", "NotAcceptable", 406))
        self.assertEqual(st["message"], "you requested PartialObjectMetadata, but the requested object is a "
                                        "list (*core.SecretList)")
        code, _, body = self.api("/apis/apps/v1/namespaces/%s/deployments/keybuzz-api" % NS,
                                 META_LIST + ",application/json")
        self.assertEqual(code, 406)
        self.assertIn("not a list (*apps.Deployment)", json.loads(body)["message"])

    def test_unknown_as_falls_back_or_is_406(self):
        path = "/api/v1/namespaces/%s/secrets" % NS
        code, _, body = self.api(path, "application/json;as=Foo;g=meta.k8s.io;v=v1,application/json")
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)["kind"], "SecretList")
        for accept in ("application/json;as=Foo;g=meta.k8s.io;v=v1", META_LIST.replace("v=v1", "v=v2"), "text/plain"):
            code, _, body = self.api(path, accept)
            self.assertEqual(code, 406, accept)
            st = json.loads(body)
            self.assertEqual(st["reason"], "NotAcceptable")
            self.assertEqual(st["message"], "only the following media types are accepted: application/json, "
                                            "application/yaml, application/vnd.kubernetes.protobuf")
            self.assertNotIn(MARKER, body.decode())

    def test_missing_object_is_404(self):
        code, _, body = self.api("/api/v1/namespaces/%s/secrets/nope" % NS, META_ONE)
        self.assertEqual(code, 404)
        self.assertEqual(json.loads(body)["reason"], "NotFound")
        code, _, body = self.api("/api/v1/namespaces/nope/secrets", META_LIST)
        self.assertEqual((code, json.loads(body)["items"]), (200, []), "a list in a missing namespace is empty")

    def test_metadata_watch(self):
        path = "/api/v1/namespaces/%s/secrets?watch=1&timeoutSeconds=1" % NS
        code, _, body = self.api(path, META_ONE + ",application/json")
        self.assertEqual(code, 200)
        events = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        self.assertEqual(len(events), 4)
        for e in events:
            self.assertEqual(e["type"], "ADDED")
            self.assertMetadataOnly(e["object"])
        self.assertNotIn(MARKER, body.decode())
        code, _, body = self.api(path, META_LIST)
        self.assertEqual(code, 406, "a watch streams single objects")

    def test_kubectl_still_gets_tables_and_json(self):
        self.assertOk(self.kubectl("prod", NS, "get", "secrets"))
        r = self.kubectl("prod", NS, "get", "secret", "keybuzz-api-postgres", "-o", "json")
        self.assertOk(r)
        self.assertIn("DATABASE_URL", r.json()["data"])


if __name__ == "__main__":
    unittest.main()
