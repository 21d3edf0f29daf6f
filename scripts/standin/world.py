"""The world file: which images exist, how their rollouts end and what their HTTP routes answer."""

import copy
import hashlib
import json
import threading

ROLLOUT_MODES = ("ready", "never-ready", "crash", "pull-error")


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
    """How one image behaves in one environment: its digest, rollout outcome and routes."""

    def __init__(self, ref, digest, rollout, routes, known):
        self.ref = ref
        self.digest = digest
        self.rollout = rollout
        self.routes = routes
        self.known = known

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

    @staticmethod
    def load(path):
        with open(path, encoding="utf-8") as f:
            return World(json.load(f))

    def set_image(self, ref, spec):
        """Adds or replaces an image at runtime (control API)."""
        with self._lock:
            self.images[ref] = dict(spec)

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
                         list(merged.get("routes", [])), known=True)

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
