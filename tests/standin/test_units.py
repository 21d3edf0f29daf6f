"""Unit tests of the stand-in's pure parts: patches, selectors, protobuf, hashing, world lookups."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from standin import controller, discovery, negotiation, patch, protobuf  # noqa: E402
from standin.store import ApiError, FieldSelector, LabelSelector  # noqa: E402
from standin.world import World, image_digest, split_image  # noqa: E402

WORLD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "standin",
                     "worlds", "keybuzz.json")


class PatchTest(unittest.TestCase):
    """Strategic merge, merge patch and JSON patch as kubectl and helm send them."""

    def test_strategic_merge_set_image(self):
        doc = {"spec": {"template": {"spec": {"containers": [
            {"name": "api", "image": "a:1", "ports": [{"containerPort": 1}]},
            {"name": "side", "image": "s:1"}]}}}}
        p = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "api"}, {"name": "side"}],
                                            "containers": [{"image": "a:2", "name": "api"}]}}}}
        out = patch.strategic_merge(doc, p)
        cs = out["spec"]["template"]["spec"]["containers"]
        self.assertEqual([(c["name"], c["image"]) for c in cs], [("api", "a:2"), ("side", "s:1")])
        self.assertEqual(cs[0]["ports"], [{"containerPort": 1}])
        self.assertEqual(doc["spec"]["template"]["spec"]["containers"][0]["image"], "a:1", "input untouched")

    def test_strategic_merge_delete_and_null(self):
        doc = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"env": [{"name": "X"}, {"name": "Y"}]}}
        out = patch.strategic_merge(doc, {"metadata": {"labels": {"a": None}},
                                          "spec": {"env": [{"name": "X", "$patch": "delete"}]}})
        self.assertEqual(out, {"metadata": {"labels": {"b": "2"}}, "spec": {"env": [{"name": "Y"}]}})

    def test_merge_patch(self):
        self.assertEqual(patch.merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None}, "l": [2]}),
                         {"a": {"c": 2}, "l": [2]})

    def test_json_patch(self):
        doc = {"metadata": {"annotations": {"x": "1"}}, "spec": {"template": {"a": 1}}}
        out = patch.json_patch(doc, [{"op": "replace", "path": "/spec/template", "value": {"b": 2}},
                                     {"op": "replace", "path": "/metadata/annotations", "value": {}},
                                     {"op": "add", "path": "/spec/list", "value": []},
                                     {"op": "add", "path": "/spec/list/-", "value": 5}])
        self.assertEqual(out, {"metadata": {"annotations": {}}, "spec": {"template": {"b": 2}, "list": [5]}})
        with self.assertRaises(ApiError):
            patch.json_patch(doc, [{"op": "test", "path": "/spec/template/a", "value": 2}])
        with self.assertRaises(ApiError):
            patch.json_patch(doc, [{"op": "replace", "path": "/nope/x", "value": 1}])


class SelectorTest(unittest.TestCase):
    """Label and field selectors as client-go encodes them."""

    def test_label_selector(self):
        s = LabelSelector("owner=helm,name=tiny,status in (deployed, failed),!gone,env!=dev")
        self.assertTrue(s.matches({"owner": "helm", "name": "tiny", "status": "deployed"}))
        self.assertFalse(s.matches({"owner": "helm", "name": "tiny", "status": "superseded"}))
        self.assertFalse(s.matches({"owner": "helm", "name": "tiny", "status": "failed", "gone": ""}))
        self.assertFalse(s.matches({"owner": "helm", "name": "tiny", "status": "failed", "env": "dev"}))
        self.assertTrue(LabelSelector("").matches({}))
        with self.assertRaises(ApiError):
            LabelSelector("a=(")

    def test_field_selector(self):
        obj = {"metadata": {"name": "x", "namespace": "n"}}
        self.assertTrue(FieldSelector("metadata.name=x").matches(obj))
        self.assertFalse(FieldSelector("metadata.name=y").matches(obj))
        self.assertTrue(FieldSelector("metadata.name!=y,metadata.namespace==n").matches(obj))


class ProtobufTest(unittest.TestCase):
    """The k8s protobuf envelope decodes to the JSON Secret it encodes."""

    def test_round_trip(self):
        secret = {"metadata": {"name": "sh.helm.release.v1.x.v1", "namespace": "ns",
                               "labels": {"owner": "helm", "status": "deployed"}},
                  "data": {"release": "SDRzSQ=="}, "type": "helm.sh/release.v1"}
        out = protobuf.decode(protobuf.encode_secret(secret))
        self.assertEqual(out["kind"], "Secret")
        self.assertEqual(out["metadata"], secret["metadata"])
        self.assertEqual((out["data"], out["type"]), (secret["data"], secret["type"]))

    def test_rejects_other_bodies(self):
        with self.assertRaises(ApiError):
            protobuf.decode(b"{}")
        with self.assertRaises(ApiError) as e:
            protobuf.decode(protobuf.MAGIC + b"\x0a\x0e\x0a\x07apps/v1\x12\x03Pod")
        self.assertEqual(e.exception.code, 415)


class HashAndWorldTest(unittest.TestCase):
    """Template hashing ignores what the real controller ignores; images resolve by tag or digest."""

    def test_template_hash_ignores_hash_label_and_empty_values(self):
        t = {"metadata": {"labels": {"app": "a"}, "creationTimestamp": None},
             "spec": {"containers": [{"name": "c", "image": "i:1", "resources": {}}]}}
        u = {"metadata": {"labels": {"app": "a", "pod-template-hash": "abc"}},
             "spec": {"containers": [{"name": "c", "image": "i:1"}]}}
        self.assertEqual(controller.template_hash(t), controller.template_hash(u))
        u["spec"]["containers"][0]["image"] = "i:2"
        self.assertNotEqual(controller.template_hash(t), controller.template_hash(u))

    def test_world_lookups(self):
        w = World.load(WORLD)
        self.assertEqual(split_image("ghcr.io/a/b:v1"), ("ghcr.io/a/b", "v1", ""))
        self.assertEqual(split_image("localhost:5000/b@sha256:00"), ("localhost:5000/b", "", "sha256:00"))
        ref = "ghcr.io/keybuzz/keybuzz-api:v0.4.40-never-ready"
        self.assertEqual(w.behaviour(ref, "prod").rollout, "never-ready")
        by_digest = w.behaviour("ghcr.io/keybuzz/keybuzz-api@" + image_digest(ref), "dev")
        self.assertEqual((by_digest.ref, by_digest.rollout), (ref, "never-ready"))
        self.assertEqual(w.behaviour("ghcr.io/keybuzz/keybuzz-api:nope", "dev").rollout, "pull-error")
        needs = "ghcr.io/keybuzz/keybuzz-api:v0.4.32-needs-env"
        self.assertEqual(w.route(w.behaviour(needs, "dev"), "POST", "/auth/login")["status"], 200)
        self.assertEqual(w.route(w.behaviour(needs, "prod"), "POST", "/auth/login")["status"], 500)


META_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
META_ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


class NegotiationTest(unittest.TestCase):
    """Accept negotiation as k8s.io/apiserver does it: first servable clause wins, else 406."""

    def kind(self, accept):
        return negotiation.negotiate(accept).kind

    def assert406(self, fn, *args):
        with self.assertRaises(ApiError) as e:
            fn(*args)
        self.assertEqual((e.exception.code, e.exception.reason), (406, "NotAcceptable"))
        return e.exception.message

    def test_clauses_in_quality_order_then_as_sent(self):
        self.assertEqual([(t, s, p.get("as")) for t, s, p in negotiation.parse_accept(
            "*/*;q=0.8, application/json;as=Table;g=meta.k8s.io;v=v1;q=0.9, application/yaml, text/x;q=0")],
            [("application", "yaml", None), ("application", "json", "Table"), ("*", "*", None)])

    def test_plain_and_wildcards(self):
        for accept in ("", "application/json", "*/*", "application/*", "application/vnd.kubernetes.protobuf, */*",
                       "application/vnd.kubernetes.protobuf,application/json", "application/json;charset=utf-8"):
            self.assertIsNone(self.kind(accept), accept)

    def test_transforms(self):
        self.assertEqual(self.kind(META_LIST + ",application/json"), "PartialObjectMetadataList")
        self.assertEqual(self.kind(META_ONE + ",application/json"), "PartialObjectMetadata")
        # client-go's metadata client offers protobuf first: served (as JSON) with the transform.
        self.assertEqual(self.kind("application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;"
                                   "v=v1," + META_LIST + ",application/json"), "PartialObjectMetadataList")
        t = negotiation.negotiate("application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
        self.assertEqual((t.kind, t.version), ("Table", "v1beta1"))

    def test_unknown_transforms_are_skipped_then_406(self):
        for skipped in ("application/json;as=Foo;g=meta.k8s.io;v=v1", META_LIST.replace("v=v1", "v=v9"),
                        META_LIST.replace("meta.k8s.io", "apps"), "application/json;as=PartialObjectMetadataList",
                        "application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1"):
            self.assertIsNone(self.kind(skipped + ",application/json"), skipped)
            msg = self.assert406(negotiation.negotiate, skipped)
            self.assertEqual(msg, "only the following media types are accepted: application/json, "
                                  "application/yaml, application/vnd.kubernetes.protobuf")
        self.assert406(negotiation.negotiate, "text/plain")

    def test_transform_keeps_metadata_only(self):
        res = discovery.lookup("", "v1", "secrets")
        secret = {"kind": "Secret", "apiVersion": "v1", "type": "Opaque", "data": {"k": "c2VjcmV0"},
                  "metadata": {"name": "s", "namespace": "n", "labels": {"a": "b"}, "resourceVersion": "7"}}
        lst = {"kind": "SecretList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}, "items": [secret]}
        out = negotiation.transform(res, negotiation.Target("PartialObjectMetadataList"), lst)
        self.assertEqual(out, {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                               "metadata": {"resourceVersion": "9"},
                               "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                          "metadata": secret["metadata"]}]})
        one = negotiation.transform(res, negotiation.Target("PartialObjectMetadata"), secret)
        self.assertEqual(set(one), {"kind", "apiVersion", "metadata"})
        self.assertIn("c2VjcmV0", str(secret), "the stored object is untouched")
        msg = self.assert406(negotiation.transform, res, negotiation.Target("PartialObjectMetadata"), lst)
        self.assertIn("(*core.SecretList)", msg)
        deploy = discovery.lookup("apps", "v1", "deployments")
        msg = self.assert406(negotiation.transform, deploy, negotiation.Target("PartialObjectMetadataList"),
                             {"kind": "Deployment", "metadata": {"name": "d"}})
        self.assertIn("not a list (*apps.Deployment)", msg)
        status = {"kind": "Status", "code": 404}
        self.assertIs(negotiation.transform(res, negotiation.Target("PartialObjectMetadataList"), status), status)


if __name__ == "__main__":
    unittest.main()
