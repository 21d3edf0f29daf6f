"""An in-memory object store for one cluster: resourceVersions, generations and a watch history."""

import collections
import copy
import datetime
import json
import re
import threading
import uuid


def now_rfc3339(offset_seconds=0.0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """A Kubernetes API failure, rendered as a meta/v1 Status."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self):
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "details": self.details,
                "code": self.code}


def not_found(res, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (res.qualified, name),
                    {"name": name, "group": res.group, "kind": res.plural})


class LabelSelector:
    """A parsed label selector (=, ==, !=, in, notin, exists, !exists)."""

    _TERM = re.compile(r"\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|"
                       r"\s+(in|notin)\s*\(([^)]*)\))?\s*$")

    def __init__(self, text):
        self.terms = []
        for part in self._split(text or ""):
            m = self._TERM.match(part)
            if not m:
                raise ApiError(400, "BadRequest", "unable to parse requirement: %r" % part)
            neg, key, op, val, setop, setvals = m.groups()
            if setop:
                vals = {v.strip() for v in setvals.split(",") if v.strip()}
                self.terms.append((key, setop, vals))
            elif op:
                self.terms.append((key, "!=" if op == "!=" else "=", val))
            else:
                self.terms.append((key, "!exists" if neg else "exists", None))

    @staticmethod
    def _split(text):
        parts, depth, cur = [], 0, ""
        for ch in text:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur.strip():
            parts.append(cur)
        return [p for p in parts if p.strip()]

    def matches(self, labels):
        labels = labels or {}
        for key, op, val in self.terms:
            has = key in labels
            v = labels.get(key)
            if op == "=" and v != val:
                return False
            if op == "!=" and has and v == val:
                return False
            if op == "in" and v not in val:
                return False
            if op == "notin" and has and v in val:
                return False
            if op == "exists" and not has:
                return False
            if op == "!exists" and has:
                return False
        return True


class FieldSelector:
    """A parsed field selector: dotted paths compared with =, == or !=."""

    def __init__(self, text):
        self.terms = []
        for part in (text or "").split(","):
            part = part.strip()
            if not part:
                continue
            m = re.match(r"^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$", part)
            if not m:
                raise ApiError(400, "BadRequest", "invalid field selector: %r" % part)
            self.terms.append((m.group(1), m.group(2) != "!=", m.group(3)))

    def matches(self, obj):
        for path, eq, val in self.terms:
            cur = obj
            for p in path.split("."):
                cur = cur.get(p) if isinstance(cur, dict) else None
            cur = "" if cur is None else str(cur)
            if (cur == val) != eq:
                return False
        return True


class Watcher:
    """One open watch: the filter and the position it has streamed up to."""

    def __init__(self, plural, namespace, labels, fields):
        self.plural = plural
        self.namespace = namespace
        self.labels = labels
        self.fields = fields

    def matches(self, plural, obj):
        if plural != self.plural:
            return False
        md = obj.get("metadata", {})
        if self.namespace and md.get("namespace") != self.namespace:
            return False
        return self.labels.matches(md.get("labels")) and self.fields.matches(obj)


def spec_equal(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class Store:
    """All objects of one cluster, keyed by (plural, namespace, name); every write is an event."""

    HISTORY = 10000

    def __init__(self, name):
        self.name = name
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.objects = {}
        self.rv = 1000
        self.events = collections.deque(maxlen=self.HISTORY)

    # --- reads -------------------------------------------------------------------------------
    def get(self, plural, namespace, name):
        with self.lock:
            obj = self.objects.get((plural, namespace or "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, plural, namespace=None, labels=None, fields=None):
        with self.lock:
            out = []
            # Filter on the key before sorting: a list of one namespace's ReplicaSets (each probe
            # asks which image serves) must not sort every object of a 200-service cluster.
            keys = sorted(k for k in self.objects
                          if k[0] == plural and (not namespace or k[1] == namespace))
            for key in keys:
                obj = self.objects[key]
                if labels and not labels.matches(obj["metadata"].get("labels")):
                    continue
                if fields and not fields.matches(obj):
                    continue
                out.append(copy.deepcopy(obj))
            return out, str(self.rv)

    # --- writes ------------------------------------------------------------------------------
    def _emit(self, etype, plural, obj):
        self.events.append((self.rv, etype, plural, copy.deepcopy(obj)))
        self.changed.notify_all()

    def create(self, plural, obj, creation_offset=0.0):
        """Stores a new object, filling uid, resourceVersion, generation and creationTimestamp."""
        with self.lock:
            md = obj.setdefault("metadata", {})
            key = (plural, md.get("namespace", ""), md["name"])
            if key in self.objects:
                return None
            self.rv += 1
            md["uid"] = str(uuid.uuid4())
            md["resourceVersion"] = str(self.rv)
            md["creationTimestamp"] = now_rfc3339(creation_offset)
            md.setdefault("generation", 1)
            md.pop("selfLink", None)
            self.objects[key] = obj
            self._emit("ADDED", plural, obj)
            return copy.deepcopy(obj)

    def replace(self, plural, obj, bump_generation=True):
        """Stores a new version of an existing object; generation moves when its spec changed."""
        with self.lock:
            md = obj["metadata"]
            key = (plural, md.get("namespace", ""), md["name"])
            old = self.objects.get(key)
            if old is None:
                return None
            for k in ("uid", "creationTimestamp"):
                md[k] = old["metadata"].get(k)
            gen = old["metadata"].get("generation", 1)
            if bump_generation and "spec" in old and not spec_equal(old.get("spec"), obj.get("spec")):
                gen += 1
            md["generation"] = gen
            if spec_equal(old, dict(obj, metadata=dict(md, resourceVersion=old["metadata"]["resourceVersion"]))):
                return copy.deepcopy(old)  # no-op writes do not create events
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            self.objects[key] = obj
            self._emit("MODIFIED", plural, obj)
            return copy.deepcopy(obj)

    def delete(self, plural, namespace, name):
        with self.lock:
            obj = self.objects.pop((plural, namespace or "", name), None)
            if obj is None:
                return None
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._emit("DELETED", plural, obj)
            return copy.deepcopy(obj)

    # --- watches -----------------------------------------------------------------------------
    def oldest_rv(self):
        with self.lock:
            return self.events[0][0] if len(self.events) == self.HISTORY else 0

    def events_after(self, rv, watcher):
        with self.lock:
            return [(r, t, copy.deepcopy(o)) for (r, t, p, o) in self.events
                    if r > rv and watcher.matches(p, o)]

    def wait_for_change(self, rv, timeout):
        """Blocks until the store's resourceVersion passes rv or timeout seconds elapse."""
        with self.lock:
            if self.rv > rv:
                return True
            self.changed.wait(timeout)
            return self.rv > rv
