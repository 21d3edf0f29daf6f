"""Strategic-merge, JSON merge (RFC 7386) and JSON patch (RFC 6902) on plain JSON values."""

import copy

from .store import ApiError

# Lists merged by key in strategic-merge patches (k8s patchMergeKey); other lists are replaced.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "ports": "containerPort", "conditions": "type",
    "ownerReferences": "uid", "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
}
# Lists of primitives that strategic merge treats as sets (patchStrategy merge).
MERGE_SETS = {"finalizers"}


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge(target, patch, key=None):
    """Kubernetes strategic-merge patch: dicts merge, keyed lists merge by key, '$' directives
    ($setElementOrder, $retainKeys, $deleteFromPrimitiveList) are honoured loosely or ignored."""
    if isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            return {k: v for k, v in copy.deepcopy(patch).items() if k != "$patch"}
        if patch.get("$patch") == "delete":
            return None
        out = copy.deepcopy(target) if isinstance(target, dict) else {}
        for k, v in patch.items():
            if k.startswith("$deleteFromPrimitiveList/"):
                name = k.split("/", 1)[1]
                if isinstance(out.get(name), list):
                    out[name] = [x for x in out[name] if x not in v]
                continue
            if k.startswith("$"):
                continue
            if v is None:
                out.pop(k, None)
            else:
                merged = strategic_merge(out.get(k), v, k)
                if merged is None:
                    out.pop(k, None)
                else:
                    out[k] = merged
        return out
    if isinstance(patch, list):
        mk = MERGE_KEYS.get(key)
        if mk and isinstance(target, list) and all(isinstance(x, dict) for x in patch):
            out = copy.deepcopy(target)
            for item in patch:
                if item.get("$patch") == "replace":
                    return [{k: v for k, v in x.items() if k != "$patch"} for x in patch]
                idx = next((i for i, x in enumerate(out)
                            if isinstance(x, dict) and x.get(mk) == item.get(mk)), None)
                if item.get("$patch") == "delete":
                    if idx is not None:
                        out.pop(idx)
                elif idx is None:
                    out.append(strategic_merge({}, item))
                else:
                    out[idx] = strategic_merge(out[idx], item)
            return out
        if key in MERGE_SETS and isinstance(target, list):
            return list(target) + [x for x in patch if x not in target]
        return copy.deepcopy(patch)
    return copy.deepcopy(patch)


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", "invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc, parts):
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, list):
            cur = cur[int(p)]
        elif isinstance(cur, dict) and p in cur:
            cur = cur[p]
        else:
            raise ApiError(422, "Invalid", "doc is missing path: /" + "/".join(parts))
    return cur


def _get(doc, parts):
    cur = doc
    for p in parts:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    return cur


def json_patch(doc, ops):
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json patch must be a list of operations")
    for op in ops:
        kind, parts = op.get("op"), _pointer(op.get("path", ""))
        try:
            if kind == "test":
                if _get(doc, parts) != op.get("value"):
                    raise ApiError(422, "Invalid", "testing value %s failed" % op.get("path"))
                continue
            if kind in ("move", "copy"):
                src = _pointer(op.get("from", ""))
                value = copy.deepcopy(_get(doc, src))
                if kind == "move":
                    sp = _parent(doc, src)
                    if isinstance(sp, list):
                        sp.pop(int(src[-1]))
                    else:
                        del sp[src[-1]]
                kind, op = "add", dict(op, value=value)
            if not parts:
                if kind in ("add", "replace"):
                    doc = copy.deepcopy(op.get("value"))
                    continue
                raise ApiError(422, "Invalid", "cannot remove the document root")
            parent, last = _parent(doc, parts), parts[-1]
            if kind == "add":
                if isinstance(parent, list):
                    if last == "-":
                        parent.append(copy.deepcopy(op["value"]))
                    else:
                        parent.insert(int(last), copy.deepcopy(op["value"]))
                else:
                    parent[last] = copy.deepcopy(op["value"])
            elif kind == "replace":
                if isinstance(parent, list):
                    parent[int(last)] = copy.deepcopy(op["value"])
                else:
                    if last not in parent:
                        raise ApiError(422, "Invalid", "replace operation does not apply: doc is missing key: " + op["path"])
                    parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                if isinstance(parent, list):
                    parent.pop(int(last))
                else:
                    if last not in parent:
                        raise ApiError(422, "Invalid", "remove operation does not apply: doc is missing path: " + op["path"])
                    del parent[last]
            else:
                raise ApiError(400, "BadRequest", "unknown json patch op %r" % kind)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "Invalid", "json patch %s %s failed: %s" % (kind, op.get("path"), e))
    return doc
