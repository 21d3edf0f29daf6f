"""The resource registry: legacy discovery documents, a minimal OpenAPI v3 and Table rendering."""

import datetime
import hashlib
import json

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


class Resource:
    """One served resource type (plural name, kind, group/version, scope)."""

    def __init__(self, group, version, plural, singular, kind, namespaced, short=()):
        self.group = group
        self.version = version
        self.plural = plural
        self.singular = singular
        self.kind = kind
        self.namespaced = namespaced
        self.short = list(short)

    @property
    def api_version(self):
        return self.group + "/" + self.version if self.group else self.version

    @property
    def qualified(self):
        return self.plural + "." + self.group if self.group else self.plural

    def api_resource(self):
        return {"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
                "kind": self.kind, "verbs": VERBS, "shortNames": self.short,
                "storageVersionHash": hashlib.sha256(self.qualified.encode()).hexdigest()[:12]}


RESOURCES = [
    Resource("", "v1", "namespaces", "namespace", "Namespace", False, ["ns"]),
    Resource("", "v1", "pods", "pod", "Pod", True, ["po"]),
    Resource("", "v1", "secrets", "secret", "Secret", True),
    Resource("", "v1", "configmaps", "configmap", "ConfigMap", True, ["cm"]),
    Resource("", "v1", "services", "service", "Service", True, ["svc"]),
    Resource("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ["sa"]),
    Resource("", "v1", "events", "event", "Event", True, ["ev"]),
    Resource("apps", "v1", "deployments", "deployment", "Deployment", True, ["deploy"]),
    Resource("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ["rs"]),
    Resource("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
    # Stored only (no controller runs them): enough to apply the nightly CronJob manifest.
    Resource("batch", "v1", "cronjobs", "cronjob", "CronJob", True, ["cj"]),
]
GROUPS = {"apps": "v1", "coordination.k8s.io": "v1", "batch": "v1"}


def lookup(group, version, plural):
    for r in RESOURCES:
        if r.group == group and r.version == version and r.plural == plural:
            return r
    return None


def by_kind(kind):
    for r in RESOURCES:
        if r.kind == kind:
            return r
    return None


def version_info():
    return {"major": "1", "minor": "32", "gitVersion": "v1.32.3", "gitCommit": "standin",
            "gitTreeState": "clean", "buildDate": "2025-03-11T00:00:00Z", "goVersion": "go1.23.6",
            "compiler": "gc", "platform": "linux/amd64"}


def api_versions(host):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}


def api_group(name):
    gv = {"groupVersion": name + "/" + GROUPS[name], "version": GROUPS[name]}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": [gv],
            "preferredVersion": gv}


def api_group_list():
    groups = [api_group(g) for g in GROUPS]
    for g in groups:
        del g["kind"], g["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(group, version):
    rs = [r for r in RESOURCES if r.group == group and r.version == version]
    if not rs:
        return None
    out = []
    for r in rs:
        out.append(r.api_resource())
        if r.plural in ("deployments", "replicasets"):
            out.append({"name": r.plural + "/scale", "singularName": "", "namespaced": True,
                        "group": "autoscaling", "version": "v1", "kind": "Scale",
                        "verbs": ["get", "patch", "update"]})
        if r.plural in ("deployments", "replicasets", "pods"):
            out.append({"name": r.plural + "/status", "singularName": "", "namespaced": True,
                        "kind": r.kind, "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": group + "/" + version if group else version, "resources": out}


# --- OpenAPI v3 -------------------------------------------------------------------------------
def _gv_path(group, version):
    return "apis/%s/%s" % (group, version) if group else "api/" + version


def openapi_root():
    """The /openapi/v3 index: one document per group-version."""
    paths = {}
    for gv in sorted({(r.group, r.version) for r in RESOURCES}):
        p = _gv_path(*gv)
        h = hashlib.sha256(json.dumps(openapi_group(*gv), sort_keys=True).encode()).hexdigest()
        paths[p] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (p, h.upper()[:128])}
    return {"paths": paths}


def openapi_group(group, version):
    """A minimal per-group document: every PATCH operation carries its GVK and the
    fieldValidation query parameter, so clients validate server-side instead of downloading
    full schemas (kubectl's and helm's QueryParamVerifierV3)."""
    rs = [r for r in RESOURCES if r.group == group and r.version == version]
    if not rs:
        return None
    paths, schemas = {}, {}
    for r in rs:
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        schema_name = "io.k8s.standin.%s.%s.%s" % (r.group or "core", r.version, r.kind)
        schemas[schema_name] = {"type": "object", "x-kubernetes-group-version-kind": [gvk],
                                "x-kubernetes-preserve-unknown-fields": True}
        params = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
        body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/" + schema_name}}}}
        op = lambda action: {"operationId": action + r.kind, "parameters": params,
                             "x-kubernetes-action": action,
                             "x-kubernetes-group-version-kind": gvk,
                             "requestBody": body,
                             "responses": {"200": {"description": "OK"}}}
        prefix = "/" + _gv_path(group, version) + ("/namespaces/{namespace}" if r.namespaced else "")
        paths[prefix + "/" + r.plural + "/{name}"] = {"patch": op("patch"), "put": op("put")}
        paths[prefix + "/" + r.plural] = {"post": op("post")}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.3"},
            "paths": paths, "components": {"schemas": schemas}}


# --- Table rendering ------------------------------------------------------------------------
def _age(ts):
    try:
        t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return "<unknown>"
    s = int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm%ds" % (m, s % 60) if s % 60 else "%dm" % m
    if m < 180:
        return "%dm" % m
    h = m // 60
    if h < 48:
        return "%dh" % h
    return "%dd" % (h // 24)


def _col(name, typ="string", fmt="", priority=0, desc=""):
    return {"name": name, "type": typ, "format": fmt, "description": desc or name, "priority": priority}


def _images(spec):
    cs = (spec.get("template", {}).get("spec", {}) or {}).get("containers", [])
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _selector(spec):
    ml = (spec.get("selector") or {}).get("matchLabels") or {}
    return ",".join("%s=%s" % kv for kv in sorted(ml.items()))


def table_columns(res):
    p = res.plural
    if p == "deployments":
        return [_col("Name", fmt="name"), _col("Ready"), _col("Up-to-date", "integer"),
                _col("Available", "integer"), _col("Age"), _col("Containers", priority=1),
                _col("Images", priority=1), _col("Selector", priority=1)]
    if p == "replicasets":
        return [_col("Name", fmt="name"), _col("Desired", "integer"), _col("Current", "integer"),
                _col("Ready", "integer"), _col("Age"), _col("Containers", priority=1),
                _col("Images", priority=1), _col("Selector", priority=1)]
    if p == "pods":
        return [_col("Name", fmt="name"), _col("Ready"), _col("Status"), _col("Restarts", "string"),
                _col("Age"), _col("IP", priority=1), _col("Node", priority=1)]
    if p == "secrets":
        return [_col("Name", fmt="name"), _col("Type"), _col("Data", "integer"), _col("Age")]
    if p == "configmaps":
        return [_col("Name", fmt="name"), _col("Data", "integer"), _col("Age")]
    if p == "namespaces":
        return [_col("Name", fmt="name"), _col("Status"), _col("Age")]
    if p == "services":
        return [_col("Name", fmt="name"), _col("Type"), _col("Cluster-IP"), _col("External-IP"),
                _col("Port(s)"), _col("Age")]
    if p == "leases":
        return [_col("Name", fmt="name"), _col("Holder"), _col("Age")]
    return [_col("Name", fmt="name"), _col("Age")]


def table_cells(res, obj):
    md, spec, st = obj.get("metadata", {}), obj.get("spec", {}) or {}, obj.get("status", {}) or {}
    age = _age(md.get("creationTimestamp"))
    p = res.plural
    if p == "deployments":
        c, i = _images(spec)
        return [md["name"], "%d/%d" % (st.get("readyReplicas", 0), spec.get("replicas", 1)),
                st.get("updatedReplicas", 0), st.get("availableReplicas", 0), age, c, i, _selector(spec)]
    if p == "replicasets":
        c, i = _images(spec)
        return [md["name"], spec.get("replicas", 0), st.get("replicas", 0), st.get("readyReplicas", 0),
                age, c, i, _selector(spec)]
    if p == "pods":
        cs = st.get("containerStatuses", [])
        ready = sum(1 for c in cs if c.get("ready"))
        reason = st.get("phase", "Pending")
        for c in cs:
            w = (c.get("state") or {}).get("waiting")
            if w:
                reason = w.get("reason", reason)
        restarts = sum(c.get("restartCount", 0) for c in cs)
        return [md["name"], "%d/%d" % (ready, len(spec.get("containers", []))), reason, str(restarts),
                age, st.get("podIP", "<none>"), spec.get("nodeName", "<none>")]
    if p == "secrets":
        return [md["name"], obj.get("type", "Opaque"), len(obj.get("data") or {}), age]
    if p == "configmaps":
        return [md["name"], len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), age]
    if p == "namespaces":
        return [md["name"], st.get("phase", "Active"), age]
    if p == "services":
        ports = ",".join("%s/%s" % (pt.get("port"), pt.get("protocol", "TCP")) for pt in spec.get("ports", []))
        return [md["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"), "<none>",
                ports or "<none>", age]
    if p == "leases":
        return [md["name"], spec.get("holderIdentity", ""), age]
    return [md["name"], age]


def table(res, objs, rv, version="v1"):
    rows = []
    for o in objs:
        md = dict(o.get("metadata", {}))
        md.pop("managedFields", None)
        rows.append({"cells": table_cells(res, o),
                     "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/" + version,
                                "metadata": md}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/" + version, "metadata": {"resourceVersion": rv},
            "columnDefinitions": table_columns(res), "rows": rows}
