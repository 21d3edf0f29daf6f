"""The world file: which images exist, how their rollouts end and what their HTTP routes answer."""

import copy
import fractions
import hashlib
import json
import threading

ROLLOUT_MODES = ("ready", "never-ready", "crash", "pull-error")
MAX_LATENCY_MS = 5000.0  # latencyMs is bounded: a test must not be able to hang a port


def split_image(ref):
    """Splits 'repo:tag' or 'repo@sha256:…' into (repo, tag, digest); missing parts are ''."""
    digest = ""
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    tag = ""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1:]
    return ref, tag, digest


def image_digest(ref):
    """The deterministic fake digest of an image reference: sha256 of 'repo:tag'."""
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


class Behaviour:
    """How one image behaves in one environment: its digest, rollout outcome and routes, and how
    badly it serves: the fraction of requests it fails (errorRate, on errorPaths when given) and
    how long it waits before each answer (latencyMs)."""

    def __init__(self, ref, digest, rollout, routes, known, error_rate=0.0, error_paths=(), latency_ms=0.0):
        self.ref = ref
        self.digest = digest
        self.rollout = rollout
        self.routes = routes
        self.known = known
        self.error_rate = error_rate
        self.error_paths = tuple(error_paths)
        self.latency_ms = latency_ms

    def latency_seconds(self):
        """How long to wait before answering (latencyMs, bounded at MAX_LATENCY_MS)."""
        return min(max(self.latency_ms, 0.0), MAX_LATENCY_MS) / 1000.0

    def error_eligible(self, path):
        """Whether injected errors may hit this path: any path, or one under an errorPaths prefix."""
        if self.error_rate <= 0:
            return False
        return not self.error_paths or any(path.startswith(p) for p in self.error_paths)

    def image_id(self):
        """The pod's status.containerStatuses[].imageID for this image ('' if never pulled)."""
        if self.rollout == "pull-error":
            return ""
        return split_image(self.ref)[0] + "@" + self.digest


class World:
    """The parsed world file plus runtime overrides; thread-safe."""

    def __init__(self, data):
        self._lock = threading.Lock()
        self.data = data
        self.settings = dict(data.get("settings", {}))
        self.route_tables = data.get("routeTables", {})
        self.images = {}
        for ref, spec in data.get("images", {}).items():
            self.images[ref] = dict(spec)
        self.environments = data.get("environments", {})
        self._error_counts = {}  # (env, image ref) -> requests eligible for an injected error

    @staticmethod
    def load(path):
        with open(path, encoding="utf-8") as f:
            world = World(json.load(f))
        for ref, spec in world.images.items():
            check_serving(ref, spec)
        return world

    def set_image(self, ref, spec, merge=False):
        """Adds or replaces an image at runtime (control API); with merge, spec's top-level keys
        replace only those of the image's current spec. Restarts its injected-error counts."""
        spec = dict(spec)
        with self._lock:
            if merge:
                spec = dict(self.images.get(ref, {}), **spec)
            check_serving(ref, spec)
            self.images[ref] = spec
            for key in [k for k in self._error_counts if k[1] == ref]:
                del self._error_counts[key]

    def set_route_table(self, name, routes):
        with self._lock:
            self.route_tables[name] = list(routes)

    def snapshot(self):
        with self._lock:
            return {"settings": self.settings, "images": copy.deepcopy(self.images),
                    "routeTables": copy.deepcopy(self.route_tables)}

    def _spec(self, ref, seen=()):
        """The image's spec with 'like' aliases resolved (a retag shares the original's digest)."""
        spec = self.images.get(ref)
        if spec is None:
            return None
        like = spec.get("like")
        if like and like not in seen:
            base = self._spec(like, seen + (ref,))
            if base is not None:
                merged = dict(base)
                merged.update({k: v for k, v in spec.items() if k != "like"})
                merged.setdefault("digest", base.get("digest") or image_digest(like))
                return merged
        return spec

    def _find(self, image):
        """Resolves an image reference (by tag or by digest) to (canonical ref, spec)."""
        repo, tag, digest = split_image(image)
        with self._lock:
            if digest:
                for ref, _ in self.images.items():
                    spec = self._spec(ref)
                    if split_image(ref)[0] == repo and (spec.get("digest") or image_digest(ref)) == digest:
                        return ref, spec
                return None, None
            ref = repo + ":" + (tag or "latest")
            return ref, self._spec(ref)

    def behaviour(self, image, env):
        """The Behaviour of an image reference in an environment."""
        ref, spec = self._find(image)
        if spec is None:
            unknown = self.settings.get("unknownImages", "pull-error")
            rollout = "pull-error" if unknown == "pull-error" else "ready"
            r = ref or image
            return Behaviour(r, image_digest(r), rollout, ["unknown-image"], known=False)
        merged = dict(spec)
        merged.update(spec.get("env", {}).get(env, {}))
        rollout = merged.get("rollout", "ready")
        if rollout not in ROLLOUT_MODES:
            rollout = "ready"
        return Behaviour(ref, merged.get("digest") or image_digest(ref), rollout,
                         list(merged.get("routes", [])), known=True,
                         error_rate=float(merged.get("errorRate", 0)),
                         error_paths=merged.get("errorPaths") or (),
                         latency_ms=float(merged.get("latencyMs", 0)))

    def inject_error(self, behaviour, env, path):
        """Whether this request of the image answers an injected 500. Deterministic: the n-th
        eligible request of (env, image) fails when floor(n * errorRate) grows, so of its first n
        requests exactly floor(n * errorRate) fail (errorRate 0.25: the 4th, 8th, 12th, …)."""
        if not behaviour.error_eligible(path):
            return False
        rate = fractions.Fraction(min(behaviour.error_rate, 1.0)).limit_denominator(1000000)
        key = (env, behaviour.ref)
        with self._lock:
            n = self._error_counts.get(key, 0) + 1
            self._error_counts[key] = n
        return n * rate.numerator // rate.denominator > (n - 1) * rate.numerator // rate.denominator

    def route(self, behaviour, method, path):
        """The first route of the behaviour's tables matching method and path, or None."""
        with self._lock:
            for table in behaviour.routes:
                for r in self.route_tables.get(table, []):
                    if r.get("method", "*") not in ("*", method):
                        continue
                    p = r.get("path", "*")
                    if p == "*" or p == path or (p.endswith("*") and path.startswith(p[:-1])):
                        return r
        return None


def check_serving(ref, spec):
    """Rejects (ValueError) an image spec whose errorRate, errorPaths or latencyMs, at the top or
    under env.<env>, are not a fraction in [0, 1], a list of path prefixes and milliseconds >= 0."""
    parts = [spec] + [v for v in (spec.get("env") or {}).values() if isinstance(v, dict)]
    for part in parts:
        rate = part.get("errorRate", 0)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError("%s: errorRate must be a number from 0 to 1, not %r" % (ref, rate))
        paths = part.get("errorPaths", [])
        if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
            raise ValueError("%s: errorPaths must be a list of path prefixes (\"/api/orders\"), not %r"
                             % (ref, paths))
        latency = part.get("latencyMs", 0)
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or latency < 0:
            raise ValueError("%s: latencyMs must be a number of milliseconds >= 0, not %r" % (ref, latency))
