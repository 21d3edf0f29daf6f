"""A small decoder for Kubernetes protobuf bodies (magic 'k8s\\0' + runtime.Unknown) of Secrets
and ConfigMaps, which is what helm's release storage sends."""

import base64
import datetime

from .store import ApiError

MAGIC = b"k8s\x00"


def _varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields(buf):
    """Yields (field number, wire type, value) for one protobuf message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            val = buf[i:i + n]
            if len(val) != n:
                raise ValueError("truncated field")
            i += n
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        elif wt == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield num, wt, val


def _str(b):
    return b.decode("utf-8")


def _map_entry(b, value_bytes=False):
    k, v = "", b"" if value_bytes else ""
    for num, _, val in fields(b):
        if num == 1:
            k = _str(val)
        elif num == 2:
            v = bytes(val) if value_bytes else _str(val)
    return k, v


def _time(b):
    secs = 0
    for num, _, val in fields(b):
        if num == 1:
            secs = val
    return datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner_ref(b):
    out = {}
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}
    for num, _, val in fields(b):
        if num in names:
            out[names[num]] = _str(val)
        elif num == 6:
            out["controller"] = bool(val)
        elif num == 7:
            out["blockOwnerDeletion"] = bool(val)
    return out


def object_meta(b):
    md = {}
    strings = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    for num, _, val in fields(b):
        if num in strings:
            md[strings[num]] = _str(val)
        elif num == 7:
            md["generation"] = val
        elif num == 8:
            md["creationTimestamp"] = _time(val)
        elif num == 11:
            k, v = _map_entry(val)
            md.setdefault("labels", {})[k] = v
        elif num == 12:
            k, v = _map_entry(val)
            md.setdefault("annotations", {})[k] = v
        elif num == 13:
            md.setdefault("ownerReferences", []).append(_owner_ref(val))
        elif num == 14:
            md.setdefault("finalizers", []).append(_str(val))
    return md


def _secret(raw):
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {}}
    for num, _, val in fields(raw):
        if num == 1:
            obj["metadata"] = object_meta(val)
        elif num == 2:
            k, v = _map_entry(val, value_bytes=True)
            obj.setdefault("data", {})[k] = base64.b64encode(v).decode()
        elif num == 3:
            obj["type"] = _str(val)
        elif num == 4:
            k, v = _map_entry(val)
            obj.setdefault("stringData", {})[k] = v
        elif num == 5:
            obj["immutable"] = bool(val)
    return obj


def _configmap(raw):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
    for num, _, val in fields(raw):
        if num == 1:
            obj["metadata"] = object_meta(val)
        elif num == 2:
            k, v = _map_entry(val)
            obj.setdefault("data", {})[k] = v
        elif num == 3:
            k, v = _map_entry(val, value_bytes=True)
            obj.setdefault("binaryData", {})[k] = base64.b64encode(v).decode()
        elif num == 4:
            obj["immutable"] = bool(val)
    return obj


DECODERS = {("v1", "Secret"): _secret, ("v1", "ConfigMap"): _configmap}


def decode(body):
    """Decodes a protobuf-encoded object into its JSON form; ApiError 415 for other kinds."""
    if not body.startswith(MAGIC):
        raise ApiError(400, "BadRequest", "protobuf body without the k8s magic prefix")
    try:
        api_version = kind = ""
        raw = b""
        for num, _, val in fields(body[len(MAGIC):]):
            if num == 1:
                for n2, _, v2 in fields(val):
                    if n2 == 1:
                        api_version = _str(v2)
                    elif n2 == 2:
                        kind = _str(v2)
            elif num == 2:
                raw = bytes(val)
        dec = DECODERS.get((api_version, kind))
        if dec is None:
            raise ApiError(415, "UnsupportedMediaType",
                           "the stand-in decodes protobuf only for Secret and ConfigMap, not %s %s"
                           % (api_version, kind))
        return dec(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, "BadRequest", "cannot decode protobuf body: %s" % e)


# --- encoder, used by the tests to build bodies exactly as client-go does -------------------
def _enc_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return _enc_varint(num << 3 | 2) + _enc_varint(len(payload)) + payload


def encode_secret(secret):
    """Encodes a JSON Secret (name, namespace, labels, data) as a k8s protobuf body."""
    md = secret.get("metadata", {})
    meta = _field(1, md.get("name", "")) + _field(3, md.get("namespace", ""))
    for k, v in sorted((md.get("labels") or {}).items()):
        meta += _field(11, _field(1, k) + _field(2, v))
    raw = _field(1, meta)
    for k, v in sorted((secret.get("data") or {}).items()):
        raw += _field(2, _field(1, k) + _field(2, base64.b64decode(v)))
    raw += _field(3, secret.get("type", "Opaque"))
    unknown = _field(1, _field(1, "v1") + _field(2, "Secret")) + _field(2, raw)
    return MAGIC + unknown
