"""Accept negotiation of resource responses as the API server does it: media types and the
`as=Table` / `as=PartialObjectMetadata` / `as=PartialObjectMetadataList` transforms.

The real server (k8s.io/apiserver handlers/negotiation) takes the Accept clauses in quality order and
answers with the first one it can serve; a clause whose `as=;g=;v=` it does not know is skipped, and
when no clause is left the answer is 406 NotAcceptable. The transform is chosen before the object is
read, so a clause that names the wrong shape (the single-object form on a list, or the reverse) is a
406 too: there is no falling back to a later clause. The stand-in always writes JSON: a protobuf or
YAML clause is served as JSON (clients decode by the response's Content-Type)."""

from . import discovery
from .store import ApiError

SERVED = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
META_VERSIONS = ("v1", "v1beta1")  # meta.k8s.io versions of Table and PartialObjectMetadata*
TRANSFORMS = ("Table", "PartialObjectMetadata", "PartialObjectMetadataList")


class Target:
    """The negotiated answer: None (the object as stored) or a meta.k8s.io kind and version."""

    def __init__(self, kind=None, version="v1"):
        self.kind, self.version = kind, version

    @property
    def api_version(self):
        return "meta.k8s.io/" + self.version


def parse_accept(header):
    """Accept clauses as (type, subtype, params), best first: by q, then concrete before wildcard,
    otherwise in the order sent (as goautoneg sorts them). Clauses with q=0 are refusals."""
    clauses = []
    for i, part in enumerate((header or "").split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        if media == "*":
            media = "*/*"
        if "/" not in media:
            continue
        typ, sub = media.split("/", 1)
        params, q = {}, 1.0
        for f in fields[1:]:
            if "=" not in f:
                continue
            k, v = (x.strip() for x in f.split("=", 1))
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
            else:
                params[k] = v
        if q <= 0:
            continue
        clauses.append((-q, typ == "*", sub == "*", i, typ, sub, params))
    clauses.sort()
    return [(c[4], c[5], c[6]) for c in clauses]


def _acceptable(typ, sub, params):
    """The Target this clause asks for, or None when the stand-in (as the real server) can't serve it."""
    for media in SERVED:
        mtyp, msub = media.split("/")
        if not (typ == "*" or (typ == mtyp and sub in ("*", msub))):
            continue
        if not any(k in params for k in ("as", "g", "v")):
            return Target()
        kind, group, version = params.get("as", ""), params.get("g", ""), params.get("v", "")
        if group != "meta.k8s.io" or version not in META_VERSIONS or kind not in TRANSFORMS:
            continue
        if kind == "Table" and media not in ("application/json", "application/yaml"):
            continue  # the real server renders Tables as JSON or YAML only
        return Target(kind, version)
    return None


def not_acceptable(message=None):
    return ApiError(406, "NotAcceptable",
                    message or "only the following media types are accepted: " + ", ".join(SERVED))


def negotiate(header):
    """The Target for an Accept header (no header: the object as stored); 406 when none fits."""
    if not (header or "").strip():
        return Target()
    for typ, sub, params in parse_accept(header):
        t = _acceptable(typ, sub, params)
        if t is not None:
            return t
    raise not_acceptable()


def _go_type(res, is_list):
    # The real message names the internal Go type, e.g. (*core.SecretList), (*apps.Deployment).
    pkg = (res.group.split(".")[0] if res.group else "core")
    return "*%s.%s%s" % (pkg, res.kind, "List" if is_list else "")


def partial(obj, version="v1"):
    """An object's PartialObjectMetadata: its whole metadata, nothing else (no data/spec/status)."""
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/" + version,
            "metadata": dict(obj.get("metadata") or {})}


def transform(res, target, obj):
    """The answer to send for obj (a stored object or a `…List` with items) under target."""
    if target.kind is None or obj.get("kind") == "Status":
        return obj
    is_list = isinstance(obj.get("items"), list) and obj.get("kind", "").endswith("List")
    if target.kind == "Table":
        items = obj["items"] if is_list else [obj]
        rv = (obj.get("metadata") or {}).get("resourceVersion", "")
        return discovery.table(res, items, rv, target.version)
    if target.kind == "PartialObjectMetadata":
        if is_list:
            raise not_acceptable("you requested PartialObjectMetadata, but the requested object is a "
                                 "list (%s)" % _go_type(res, True))
        return partial(obj, target.version)
    if not is_list:
        raise not_acceptable("you requested PartialObjectMetadataList, but the requested object is "
                             "not a list (%s)" % _go_type(res, False))
    md = {k: v for k, v in (obj.get("metadata") or {}).items()
          if k in ("resourceVersion", "continue", "remainingItemCount")}
    return {"kind": "PartialObjectMetadataList", "apiVersion": target.api_version, "metadata": md,
            "items": [partial(o, target.version) for o in obj["items"]]}
