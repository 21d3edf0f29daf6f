"""The HTTP front of one cluster: Kubernetes REST paths, watches, the request log and /_standin/."""

import base64
import copy
import json
import random
import re
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import discovery, metrics, negotiation, patch, protobuf
from .store import ApiError, FieldSelector, LabelSelector, Watcher, not_found, now_rfc3339

WATCH_CAP_SECONDS = 60.0  # no watch lives longer; informers simply re-watch
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


class RequestLog:
    """Appends one JSON line per API request to requests.jsonl (shared by all clusters)."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        open(path, "a").close()

    def write(self, record):
        line = json.dumps(record, sort_keys=True) + "\n"
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)


class FaultSwitch:
    """Seeded fault injection: answer 500, hang, or drop the connection at a given rate."""

    def __init__(self):
        self.lock = threading.Lock()
        self.configure({})

    def configure(self, cfg):
        with self.lock:
            self.mode = cfg.get("mode", "off")
            if self.mode not in ("off", "500", "403", "hang", "drop"):
                raise ApiError(400, "BadRequest", "fault mode must be off, 500, 403, hang or drop")
            self.rate = float(cfg.get("rate", 1.0))
            self.seed = cfg.get("seed", 0)
            self.rng = random.Random(self.seed)
            self.hang_seconds = float(cfg.get("hangSeconds", 30))
            self.methods = {m.upper() for m in cfg.get("methods", [])}
            self.path_re = re.compile(cfg.get("pathRegex", ""))
            # The first `skip` matching requests pass: "let the deploy through, fail the rollback".
            self.skip = int(cfg.get("skip", 0))
            # Then at most `times` matching requests fault (-1: no limit): "two 500s, then fine".
            self.times = int(cfg.get("times", -1))
            self.hits = 0

    def describe(self):
        with self.lock:
            return {"mode": self.mode, "rate": self.rate, "seed": self.seed, "hits": self.hits,
                    "hangSeconds": self.hang_seconds, "methods": sorted(self.methods),
                    "pathRegex": self.path_re.pattern, "skip": self.skip, "times": self.times}

    def pick(self, method, path):
        """The fault to inject for this request, or None."""
        with self.lock:
            if self.mode == "off" or (self.methods and method not in self.methods):
                return None
            if not self.path_re.search(path):
                return None
            if self.skip > 0:
                self.skip -= 1
                return None
            if self.times == 0 or self.rng.random() >= self.rate:
                return None
            if self.times > 0:
                self.times -= 1
            self.hits += 1
            return self.mode, self.hang_seconds


class Route:
    """A parsed resource path: resource type, namespace, name and subresource."""

    def __init__(self, res, namespace, name, sub):
        self.res, self.namespace, self.name, self.sub = res, namespace, name, sub


def parse_path(path):
    """Maps /api/v1/… and /apis/G/V/… to a Route, or None for non-resource paths."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    ns = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns, rest = rest[1], rest[2:]
    res = discovery.lookup(group, version, rest[0])
    if res is None:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return Route(res, ns if res.namespaced else None, name, sub)


def _decode_secret_strings(obj):
    if obj.get("kind") == "Secret" and obj.get("stringData"):
        data = obj.setdefault("data", {}) or {}
        for k, v in obj.pop("stringData").items():
            data[k] = base64.b64encode(v.encode()).decode()
        obj["data"] = data
    return obj


def apply_defaults(res, obj):
    """The few defaults the real API server applies that kubectl, helm and promote rely on."""
    obj["apiVersion"], obj["kind"] = res.api_version, res.kind
    spec = obj.get("spec")
    if res.plural == "deployments":
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        obj.setdefault("status", {})
    elif res.plural == "services" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        if spec.get("clusterIP") != "None":
            n = sum(map(ord, obj["metadata"].get("name", ""))) % 250 + 2
            spec.setdefault("clusterIP", "10.96.0.%d" % n)
    elif res.plural == "namespaces":
        obj["status"] = {"phase": "Active"}
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif res.plural == "secrets":
        obj.setdefault("type", "Opaque")
        _decode_secret_strings(obj)
    return obj


def validate(res, obj):
    if res.plural == "deployments":
        spec = obj.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels")
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not sel:
            raise ApiError(422, "Invalid", 'Deployment.apps "%s" is invalid: spec.selector: Required value'
                           % obj["metadata"]["name"])
        if any(labels.get(k) != v for k, v in sel.items()):
            raise ApiError(422, "Invalid", 'Deployment.apps "%s" is invalid: spec.template.metadata.labels: '
                           'Invalid value: `selector` does not match template `labels`' % obj["metadata"]["name"])
        if not ((spec.get("template") or {}).get("spec") or {}).get("containers"):
            raise ApiError(422, "Invalid", 'Deployment.apps "%s" is invalid: '
                           'spec.template.spec.containers: Required value' % obj["metadata"]["name"])


class Cluster:
    """One environment: its store, controller and API server."""

    def __init__(self, env, store, controller, runtime):
        self.env, self.store, self.controller, self.runtime = env, store, controller, runtime
        self.faults = FaultSwitch()
        self.server = None

    def serve(self, log):
        handler = type("Handler", (ApiHandler,), {"cluster": self, "log": log})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="api-" + self.env, daemon=True).start()
        return self.server.server_address[1]


class ApiHandler(BaseHTTPRequestHandler):
    """Answers Kubernetes API requests for one Cluster over HTTP/1.1."""

    protocol_version = "HTTP/1.1"
    server_version = "standin-apiserver"
    disable_nagle_algorithm = True  # as services.py: no delayed-ACK wait between header and body
    cluster = None
    log = None

    def log_message(self, fmt, *args):  # the request log replaces the default stderr lines
        pass

    # --- plumbing -------------------------------------------------------------------------
    def _body(self):
        return self._raw

    def _read_body(self):
        # Read every request's body, whatever its method (helm sends DELETE with a body): bytes
        # left unread on a keep-alive connection would be parsed as the next request.
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            # A body streamed from a reader (`kubectl delete --raw PATH -f -`) comes chunked.
            raw = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                raw += self.rfile.read(size)
                self.rfile.readline()  # the CRLF after each chunk
            self._raw = raw
            return
        n = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(n) if n else b""

    def _send(self, code, obj, content_type="application/json"):
        data = obj if isinstance(obj, bytes) else (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _record(self, route, verb, status, fault=None):
        if self.path.startswith("/_standin/"):
            return
        u = urllib.parse.urlsplit(self.path)
        rec = {"env": self.cluster.env, "method": self.command, "path": u.path, "query": u.query,
               "verb": verb, "content_type": self.headers.get("Content-Type", ""),
               "status": status, "ts": time.time(),
               # Who asked: kubectl >= 1.22 names its process and subcommand in these headers, so
               # a benchmark can count kubectl processes; conn tells TCP connections apart.
               "kubectlSession": self.headers.get("Kubectl-Session"),
               "kubectlCommand": self.headers.get("Kubectl-Command"),
               "userAgent": self.headers.get("User-Agent"),
               "conn": "%s:%d" % self.client_address[:2]}
        if route is not None:
            rec["resource"] = route.res.plural
            if route.namespace:
                rec["namespace"] = route.namespace
            if route.name:
                rec["name"] = route.name
            if route.sub:
                rec["subresource"] = route.sub
        if fault:
            rec["fault"] = fault
        self.log.write(rec)

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _handle(self):
        self._read_body()
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        if u.path.startswith("/_standin/"):
            return self._control(u.path, q)
        route, verb = None, "get"
        try:
            route = parse_path(u.path)
            verb = self._verb(route, q)
        except ApiError:
            pass
        fault = self.cluster.faults.pick(self.command, u.path)
        if fault:
            mode, hang = fault
            self._record(route, verb, int(mode) if mode in ("500", "403") else 0, fault=mode)
            if mode == "403":  # as RBAC answers a verb it does not grant
                return self._send(403, ApiError(403, "Forbidden", "%s is forbidden: User "
                                                "\"promote\" cannot %s this resource (standin "
                                                "fault)" % (u.path, verb)).status())
            if mode == "500":
                return self._send(500, ApiError(500, "InternalError",
                                                "an error on the server (\"standin fault\") has prevented the request from succeeding").status())
            if mode == "hang":
                time.sleep(hang)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        try:
            if route is None:
                code, obj = self._non_resource(u.path)
            else:
                # Negotiated before the object is read, as the real server does (406 before 404).
                target = negotiation.negotiate(self.headers.get("Accept"))
                if verb == "watch":
                    if target.kind == "PartialObjectMetadataList":
                        raise negotiation.not_acceptable(
                            "standin: a watch streams single objects; ask for as=PartialObjectMetadata")
                    self._record(route, verb, 200)
                    return self._watch(route, q, target)
                code, obj = self._resource(route, verb, q)
                if code < 400:
                    obj = negotiation.transform(route.res, target, obj)
        except ApiError as e:
            code, obj = e.code, e.status()
        except Exception as e:  # a bug here must not kill the connection silently
            code, obj = 500, ApiError(500, "InternalError", "standin: %r" % e).status()
        self._record(route, verb, code)
        self._send(code, obj)

    def _verb(self, route, q):
        if route is None:
            return "get"
        m = self.command
        if m in ("GET", "HEAD"):
            if q.get("watch") in ("true", "1"):
                return "watch"
            return "get" if route.name else "list"
        return {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if route.name else "deletecollection"}.get(m, m.lower())

    # --- non-resource paths ---------------------------------------------------------------
    def _non_resource(self, path):
        path = path.rstrip("/") or "/"
        host = "127.0.0.1:%d" % self.server.server_address[1]
        if self.command not in ("GET", "HEAD"):
            raise ApiError(405, "MethodNotAllowed", "method not allowed")
        if path == "/version":
            return 200, discovery.version_info()
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, b"ok"
        if path == "/api":
            return 200, discovery.api_versions(host)
        if path == "/apis":
            return 200, discovery.api_group_list()
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            doc = discovery.resource_list("", parts[1])
            if doc:
                return 200, doc
        if parts[0] == "apis" and len(parts) == 2 and parts[1] in discovery.GROUPS:
            return 200, discovery.api_group(parts[1])
        if parts[0] == "apis" and len(parts) == 3:
            doc = discovery.resource_list(parts[1], parts[2])
            if doc:
                return 200, doc
        if path == "/openapi/v3":
            return 200, discovery.openapi_root()
        if path.startswith("/openapi/v3/"):
            rest = path[len("/openapi/v3/"):].split("/")
            doc = None
            if rest[0] == "api" and len(rest) == 2:
                doc = discovery.openapi_group("", rest[1])
            elif rest[0] == "apis" and len(rest) == 3:
                doc = discovery.openapi_group(rest[1], rest[2])
            if doc:
                return 200, doc
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # --- resources ------------------------------------------------------------------------
    def _body_object(self):
        raw = self._body()
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        if ctype == "application/vnd.kubernetes.protobuf":
            return protobuf.decode(raw)
        if ctype in ("application/json", "application/yaml", "*/*", ""):
            try:
                return json.loads(raw or b"{}")
            except json.JSONDecodeError as e:
                raise ApiError(400, "BadRequest", "invalid JSON body: %s" % e)
        raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format: " + ctype)

    def _check_namespace(self, route):
        if route.res.namespaced:
            if not route.namespace:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            if self.cluster.store.get("namespaces", "", route.namespace) is None:
                raise ApiError(404, "NotFound", 'namespaces "%s" not found' % route.namespace,
                               {"name": route.namespace, "kind": "namespaces"})

    def _resource(self, route, verb, q):
        store, res = self.cluster.store, route.res
        ns = route.namespace or ""
        dry = q.get("dryRun") == "All"
        if route.sub not in (None, "status", "scale"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if verb == "list":
            labels = LabelSelector(q.get("labelSelector"))
            fields = FieldSelector(q.get("fieldSelector"))
            items, rv = store.list(res.plural, route.namespace, labels, fields)
            meta = {"resourceVersion": rv}
            items = self._page(items, q, meta)
            return 200, {"kind": res.kind + "List", "apiVersion": res.api_version,
                         "metadata": meta, "items": items}
        if verb == "deletecollection":
            self._check_namespace(route)
            labels = LabelSelector(q.get("labelSelector"))
            fields = FieldSelector(q.get("fieldSelector"))
            with store.lock:
                items, rv = store.list(res.plural, route.namespace, labels, fields)
                if not dry:
                    for o in items:
                        store.delete(res.plural, ns, o["metadata"]["name"])
            return 200, {"kind": res.kind + "List", "apiVersion": res.api_version,
                         "metadata": {"resourceVersion": rv}, "items": items}
        if verb == "create":
            if route.name and res.plural != "namespaces":
                raise ApiError(405, "MethodNotAllowed", "POST to a named resource is not allowed")
            obj = self._body_object()
            return self._create(route, obj, dry)
        if not route.name:
            raise ApiError(405, "MethodNotAllowed", "method not allowed on a collection")
        with store.lock:
            cur = store.get(res.plural, ns, route.name)
            if verb == "get":
                if cur is None:
                    raise not_found(res, route.name)
                if route.sub == "scale":
                    return 200, self._scale_of(cur)
                return 200, cur
            if verb == "delete":
                if cur is None:
                    raise not_found(res, route.name)
                self._check_preconditions(res, route.name, cur)
                if dry:
                    return 200, cur
                store.delete(res.plural, ns, route.name)
                return 200, cur
            if cur is None:
                raise not_found(res, route.name)
            if verb == "update":
                new = self._body_object()
                if route.sub == "scale":
                    new = self._apply_scale(cur, new)
                else:
                    rv = (new.get("metadata") or {}).get("resourceVersion")
                    if rv and rv != cur["metadata"]["resourceVersion"]:
                        raise self._conflict(res, route.name)
            elif verb == "patch":
                base = self._scale_of(cur) if route.sub == "scale" else cur
                new = self._patch(base, self._body())
                if route.sub == "scale":
                    new = self._apply_scale(cur, new)
                rv = (new.get("metadata") or {}).get("resourceVersion")
                if rv and rv != cur["metadata"]["resourceVersion"]:
                    raise self._conflict(res, route.name)
            else:
                raise ApiError(405, "MethodNotAllowed", "method not allowed")
            return self._update(route, cur, new, dry)

    @staticmethod
    def _page(items, q, meta):
        """`limit`/`continue` as the API server pages a list: a page of at most `limit` items in
        (namespace, name) order, and an opaque token naming where the next page starts."""
        after = None
        if q.get("continue"):
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(q["continue"].encode())))
            except (ValueError, TypeError):
                raise ApiError(400, "BadRequest", "invalid continue token")
            items = [o for o in items if (o["metadata"].get("namespace", ""),
                                          o["metadata"]["name"]) > after]
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            raise ApiError(400, "BadRequest", "limit must be an integer")
        if 0 < limit < len(items):
            last = items[limit - 1]["metadata"]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                [last.get("namespace", ""), last["name"]]).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return items

    def _check_preconditions(self, res, name, cur):
        # DeleteOptions.preconditions (uid, resourceVersion), checked as the API server does: a
        # delete of an object that changed since the client read it fails with 409 Conflict.
        # Bodies that are not JSON (helm's protobuf DeleteOptions) carry none that matter here.
        try:
            opts = json.loads(self._body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            return
        pre = opts.get("preconditions") if isinstance(opts, dict) else None
        if not isinstance(pre, dict):
            return
        md = cur["metadata"]
        for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if pre.get(key) and pre[key] != md.get(key):
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": Precondition '
                               'failed: %s in precondition: %s, %s in object meta: %s'
                               % (res.qualified, name, label, pre[key], label, md.get(key)),
                               {"name": name, "group": res.group, "kind": res.plural})

    def _conflict(self, res, name):
        return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been '
                        'modified; please apply your changes to the latest version and try again'
                        % (res.qualified, name), {"name": name, "group": res.group, "kind": res.plural})

    def _patch(self, cur, body):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            p = json.loads(body or b"null")
        except json.JSONDecodeError as e:
            raise ApiError(400, "BadRequest", "invalid patch body: %s" % e)
        if ctype == "application/strategic-merge-patch+json":
            return patch.strategic_merge(cur, p)
        if ctype == "application/merge-patch+json":
            return patch.merge_patch(cur, p)
        if ctype == "application/json-patch+json":
            return patch.json_patch(cur, p)
        raise ApiError(415, "UnsupportedMediaType",
                       "the stand-in does not support patch type %r (no server-side apply)" % ctype)

    @staticmethod
    def _scale_of(obj):
        md = obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": md["name"], "namespace": md.get("namespace"), "uid": md["uid"],
                             "resourceVersion": md["resourceVersion"],
                             "creationTimestamp": md["creationTimestamp"]},
                "spec": {"replicas": obj["spec"].get("replicas", 1)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0)}}

    @staticmethod
    def _apply_scale(cur, scale):
        new = copy.deepcopy(cur)
        new["spec"]["replicas"] = int((scale.get("spec") or {}).get("replicas", 0))
        return new

    def _create(self, route, obj, dry):
        store, res = self.cluster.store, route.res
        md = obj.setdefault("metadata", {}) or {}
        obj["metadata"] = md
        if res.namespaced:
            if md.get("namespace") and route.namespace and md["namespace"] != route.namespace:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not "
                               "match the namespace sent on the request")
            md["namespace"] = route.namespace
            self._check_namespace(route)
        else:
            md.pop("namespace", None)
        if not md.get("name"):
            if md.get("generateName"):
                md["name"] = md["generateName"] + "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            else:
                raise ApiError(422, "Invalid", "%s is invalid: metadata.name: Required value" % res.kind)
        for k in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
            md.pop(k, None)
        obj = apply_defaults(res, obj)
        validate(res, obj)
        if dry:
            md.update({"uid": "dry-run", "creationTimestamp": now_rfc3339(), "generation": 1})
            return 201, obj
        created = store.create(res.plural, obj)
        if created is None:
            raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (res.qualified, md["name"]),
                           {"name": md["name"], "group": res.group, "kind": res.plural})
        return 201, created

    def _update(self, route, cur, new, dry):
        res = route.res
        md = new.setdefault("metadata", {})
        md["name"], md["resourceVersion"] = cur["metadata"]["name"], cur["metadata"]["resourceVersion"]
        if res.namespaced:
            md["namespace"] = cur["metadata"]["namespace"]
        md.pop("managedFields", None)
        if route.sub == "status":
            merged = copy.deepcopy(cur)
            merged["status"] = new.get("status")
            new = merged
        elif "status" in cur and res.plural not in ("namespaces",):
            new["status"] = cur["status"]  # the main resource ignores status changes
        new = apply_defaults(res, new)
        validate(res, new)
        if dry:
            return 200, new
        out = self.cluster.store.replace(res.plural, new, bump_generation=route.sub != "status")
        if route.sub == "scale":
            return 200, self._scale_of(out)
        return 200, out

    # --- watches --------------------------------------------------------------------------
    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _watch(self, route, q, target):
        store = self.cluster.store
        watcher_labels = LabelSelector(q.get("labelSelector"))
        watcher_fields = FieldSelector(q.get("fieldSelector"))
        w = Watcher(route.res.plural, route.namespace, watcher_labels, watcher_fields)
        if route.name:
            w.fields.terms.append(("metadata.name", True, route.name))
        try:
            timeout = min(float(q.get("timeoutSeconds") or WATCH_CAP_SECONDS), WATCH_CAP_SECONDS)
        except ValueError:
            timeout = WATCH_CAP_SECONDS
        rv_param = q.get("resourceVersion", "")
        initial = []
        with store.lock:
            if rv_param in ("", "0") or q.get("sendInitialEvents") == "true":
                items, rv = store.list(route.res.plural, route.namespace, w.labels, w.fields)
                start = int(rv)
                initial = [{"type": "ADDED", "object": o} for o in items]
                if q.get("sendInitialEvents") == "true":
                    initial.append({"type": "BOOKMARK", "object": {
                        "kind": route.res.kind, "apiVersion": route.res.api_version,
                        "metadata": {"resourceVersion": rv,
                                     "annotations": {"k8s.io/initial-events-end": "true"}}}})
            else:
                try:
                    start = int(rv_param)
                except ValueError:
                    raise ApiError(400, "BadRequest", "invalid resourceVersion %r" % rv_param)
                if start < store.oldest_rv():
                    initial = [{"type": "ERROR", "object": ApiError(
                        410, "Expired", "too old resource version: %d (%d)" % (start, store.oldest_rv())).status()}]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.close_connection = True
        deadline = time.monotonic() + timeout
        # as=PartialObjectMetadata: every event carries only its object's metadata. (A Table watch
        # gets whole objects: the stand-in renders Tables for lists and gets only.)
        meta_only = target.kind == "PartialObjectMetadata"

        def send(etype, obj):
            if meta_only and etype != "ERROR":
                obj = negotiation.partial(obj, target.version)
            self._chunk((json.dumps({"type": etype, "object": obj}) + "\n").encode())

        try:
            for ev in initial:
                send(ev["type"], ev["object"])
            if initial and initial[-1]["type"] == "ERROR":
                raise StopIteration
            pos = start
            while not self.cluster.runtime.stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                store.wait_for_change(pos, min(left, 1.0))
                with store.lock:
                    current = store.rv
                    evs = store.events_after(pos, w)
                for rv, etype, obj in evs:
                    send(etype, obj)
                pos = current
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (StopIteration,):
            try:
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    # --- control API ----------------------------------------------------------------------
    def _control(self, path, q):
        rt = self.cluster.runtime
        try:
            body = json.loads(self._body() or b"{}") if self.command in ("POST", "PUT") else {}
            if path == "/_standin/health":
                return self._send(200, {"ok": True, "env": self.cluster.env})
            if path == "/_standin/state" and self.command == "GET":
                return self._send(200, rt.state(self.cluster.env))
            if path == "/_standin/faults":
                if self.command == "POST":
                    self.cluster.faults.configure(body)
                return self._send(200, self.cluster.faults.describe())
            if path == "/_standin/metrics" and self.command in ("GET", "HEAD"):
                return self._send(200, rt.metrics.exposition(self.cluster.env), metrics.CONTENT_TYPE)
            if path == "/_standin/images" and self.command == "POST":
                rt.world.set_image(body["image"], body.get("spec", {}), merge=bool(body.get("merge")))
                rt.poke_controllers()
                return self._send(200, {"ok": True})
            if path == "/_standin/routes" and self.command == "POST":
                rt.world.set_route_table(body["name"], body.get("routes", []))
                rt.poke_controllers()
                return self._send(200, {"ok": True})
            if path == "/_standin/settings" and self.command == "POST":
                rt.configure(body)
                return self._send(200, rt.settings())
            raise ApiError(404, "NotFound", "unknown control path " + path)
        except ApiError as e:
            return self._send(e.code, e.status())
        except (KeyError, ValueError, TypeError) as e:
            return self._send(400, ApiError(400, "BadRequest", "bad control request: %r" % e).status())
