"""Validation of custom resources against the CustomResourceDefinitions of the operators, offline.

`load(folder)` indexes every CRD in a folder of YAML files (upstream CRD files, or
`kubectl get crd NAME -o yaml` from a live cluster); `validate(obj, index)` lists every problem of one
custom resource against `spec.versions[].schema.openAPIV3Schema`, with the Kubernetes structural-schema
rules (int-or-string, nullable, preserve-unknown-fields, embedded resources, list types, formats).

It is stricter than the API server on purpose: the server silently prunes fields its schema does not
know (and nulls of non-nullable fields), so a misspelt or invented field is a setting that never takes
effect. Here it is a problem. CEL rules (`x-kubernetes-validations`) are not evaluated.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from tools.validate import describe

DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# ObjectMeta fields a client may send (the API server validates metadata itself, not the CRD schema).
OBJECT_META = {"name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences",
               "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
               "deletionGracePeriodSeconds", "managedFields", "selfLink"}
UNKNOWN = "unknown field (not in the CRD schema: the API server would silently drop it)"


@dataclass(frozen=True)
class Version:
    """One version of one CRD: what `apiVersion`/`kind` select and the schema that applies."""

    group: str
    version: str
    kind: str
    crd: str
    served: bool
    namespaced: bool
    schema: dict
    source: Path

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


@dataclass
class Index:
    """Every CRD version found in a folder, by (apiVersion, kind)."""

    folder: Path
    versions: dict[tuple[str, str], Version] = field(default_factory=dict)

    def of_kind(self, group: str, kind: str) -> list[Version]:
        return [v for v in self.versions.values() if v.group == group and v.kind == kind]

    def __len__(self) -> int:
        return len(self.versions)


# The C loader parses the large operator CRDs ~10x faster; the pure-Python one is the fallback.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _documents(path: Path) -> Iterable[dict]:
    for doc in yaml.load_all(path.read_text(), Loader=_LOADER):
        if isinstance(doc, dict) and doc.get("kind") == "List":
            yield from (d for d in doc.get("items") or [] if isinstance(d, dict))
        elif isinstance(doc, dict):
            yield doc


def load(folder: str | Path) -> Index:
    """Index every `apiextensions.k8s.io/v1` CustomResourceDefinition in the YAML files under `folder`
    (recursively; `kind: List` documents as `kubectl get crd -o yaml` prints them are unpacked)."""
    root = Path(folder)
    index = Index(folder=root)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".json"))
    for path in files:
        for doc in _documents(path):
            if doc.get("kind") != "CustomResourceDefinition" or doc.get("apiVersion") != "apiextensions.k8s.io/v1":
                continue
            spec = doc.get("spec") or {}
            names = spec.get("names") or {}
            for v in spec.get("versions") or []:
                schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object",
                                                                             "x-kubernetes-preserve-unknown-fields": True}
                entry = Version(group=spec.get("group", ""), version=v.get("name", ""), kind=names.get("kind", ""),
                                crd=(doc.get("metadata") or {}).get("name", ""), served=bool(v.get("served")),
                                namespaced=spec.get("scope") == "Namespaced", schema=schema, source=path)
                index.versions[(entry.api_version, entry.kind)] = entry
    return index


def covers(obj: dict, index: Index) -> bool:
    """Whether the folder has any CRD of the object's API group (an operator's group is all or
    nothing; a group absent altogether, such as cert-manager's, was simply not given)."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return any(v.group == group for v in index.versions.values())


def validate(obj: dict, index: Index) -> list[str]:
    """Every problem of one custom resource, each as `<Kind ns/name>: <path>: <what is wrong>`."""
    where = describe(obj)
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not api_version or not isinstance(kind, str) or not kind:
        return [f"{where}: apiVersion and kind are required, got {api_version!r} / {kind!r}"]
    group, _, version = api_version.rpartition("/")
    entry = index.versions.get((api_version, kind))
    if entry is None or not entry.served:
        others = [v for v in index.of_kind(group, kind) if v.served]
        if others:
            served = ", ".join(sorted(v.api_version for v in others))
            return [f"{where}: apiVersion {api_version} is not served by CRD {others[0].crd} (served: {served})"]
        in_group = sorted({v.kind for v in index.versions.values() if v.group == group})
        hint = f" (its CRDs in {group}: {', '.join(in_group)})" if in_group else ""
        return [f"{where}: no CRD in {index.folder} defines {kind} in {api_version}, so it cannot be validated{hint}"]
    out: list[str] = []
    _check_metadata(obj.get("metadata"), entry, out)
    # The root: apiVersion, kind and metadata belong to the API server, the rest to the schema.
    root = entry.schema
    props = root.get("properties") or {}
    for key in root.get("required") or []:
        if key not in obj and key not in ("apiVersion", "kind", "metadata"):
            out.append(f"{key}: missing required field")
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if key in props:
            _check(value, props[key], key, out)
        elif not root.get("x-kubernetes-preserve-unknown-fields"):
            out.append(f"{key}: {UNKNOWN}")
    return [f"{where}: {p}" for p in out]


def _check_metadata(meta: Any, entry: Version, out: list[str]) -> None:
    if not isinstance(meta, dict):
        out.append(f"metadata: must be an object, got {_show(meta)}")
        return
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        out.append("metadata.name: missing (custom resources need a name)")
    elif len(name) > 253 or not DNS1123_SUBDOMAIN.fullmatch(name):
        out.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', "
                   f"at most 253 characters)")
    ns = meta.get("namespace")
    if ns is not None:
        if not entry.namespaced:
            out.append(f"metadata.namespace: {entry.kind} is cluster-scoped, got namespace {ns!r}")
        elif not isinstance(ns, str) or len(ns) > 63 or not DNS1123_LABEL.fullmatch(ns):
            out.append(f"metadata.namespace: {ns!r} is not a DNS-1123 label")
    for key in meta:
        if key not in OBJECT_META:
            out.append(f"metadata.{key}: {UNKNOWN}")
    for key, value in (meta.get("labels") or {}).items():
        if not _label_key_ok(key):
            out.append(f"metadata.labels: {key!r} is not a valid label key")
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.fullmatch(value):
            out.append(f"metadata.labels.{key}: {_show(value)} is not a valid label value")
    for key, value in (meta.get("annotations") or {}).items():
        if not isinstance(value, str):
            out.append(f"metadata.annotations.{key}: must be a string, got {_show(value)}")


def _label_key_ok(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(LABEL_NAME.fullmatch(name))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    # JSON has one number type: an integral float (which is how Pulumi's mocks hand numbers back)
    # is the same document as the integer.
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())


def _type_ok(value: Any, typ: str) -> bool:
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": _is_int(value),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }.get(typ, True)


def _check(value: Any, schema: dict, path: str, out: list[str], structural: bool = True) -> None:
    """Append the problems of `value` against `schema`. `structural` is false inside allOf/anyOf/
    oneOf/not, which may only add value validations (they never declare fields)."""
    if value is None:
        if not schema.get("nullable") and structural:
            out.append(f"{path}: null is not allowed (the field is not nullable; the API server would drop it)")
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not (_is_int(value) or isinstance(value, str)):
            out.append(f"{path}: must be an integer or a string, got {_show(value)}")
            return
    elif "type" in schema and not _type_ok(value, schema["type"]):
        out.append(f"{path}: must be of type {schema['type']}, got {_show(value)}")
        return
    before = len(out)
    _check_value(value, schema, path, out)
    if len(out) > before:
        return
    if isinstance(value, dict):
        _check_object(value, schema, path, out, structural)
    elif isinstance(value, list):
        _check_array(value, schema, path, out, structural)
    for sub in schema.get("allOf") or []:
        _check(value, sub, path, out, structural=False)
    if schema.get("anyOf"):
        results = [_problems(value, sub, path) for sub in schema["anyOf"]]
        if all(results):
            out.append(f"{path}: matches none of the allowed forms: " + "; ".join(r[0] for r in results))
    if schema.get("oneOf"):
        matching = sum(1 for sub in schema["oneOf"] if not _problems(value, sub, path))
        if matching != 1:
            out.append(f"{path}: must match exactly one of {len(schema['oneOf'])} forms, matches {matching}")
    if "not" in schema and not _problems(value, schema["not"], path):
        out.append(f"{path}: matches a form that is not allowed")


def _problems(value: Any, schema: dict, path: str) -> list[str]:
    found: list[str] = []
    _check(value, schema, path, found, structural=False)
    return found


def _check_value(value: Any, schema: dict, path: str, out: list[str]) -> None:
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(e) for e in schema["enum"])
        out.append(f"{path}: {_show(value)} is not one of {allowed}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{path}: {_show(value)} does not match the pattern {schema['pattern']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{path}: longer than {schema['maxLength']} characters ({len(value)})")
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(f"{path}: shorter than {schema['minLength']} characters ({len(value)})")
        if schema.get("format") == "date-time" and not _date_time(value):
            out.append(f"{path}: {_show(value)} is not an RFC 3339 date-time")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        fmt = schema.get("format")
        low, high = {"int32": INT32, "int64": INT64}.get(fmt, (None, None))
        if low is not None and not low <= value <= high:
            out.append(f"{path}: {_show(value)} is out of the {fmt} range")
        if "minimum" in schema:
            if value < schema["minimum"] or (schema.get("exclusiveMinimum") and value == schema["minimum"]):
                out.append(f"{path}: must be {'>' if schema.get('exclusiveMinimum') else '>='} {schema['minimum']}, "
                           f"got {_show(value)}")
        if "maximum" in schema:
            if value > schema["maximum"] or (schema.get("exclusiveMaximum") and value == schema["maximum"]):
                out.append(f"{path}: must be {'<' if schema.get('exclusiveMaximum') else '<='} {schema['maximum']}, "
                           f"got {_show(value)}")
        if schema.get("multipleOf") and (value / schema["multipleOf"]) % 1:
            out.append(f"{path}: must be a multiple of {schema['multipleOf']}, got {_show(value)}")


def _date_time(text: str) -> bool:
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in text or "t" in text


def _check_object(value: dict, schema: dict, path: str, out: list[str], structural: bool) -> None:
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    embedded = schema.get("x-kubernetes-embedded-resource")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        out.append(f"{path}: more than {schema['maxProperties']} properties ({len(value)})")
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        out.append(f"{path}: fewer than {schema['minProperties']} properties ({len(value)})")
    for key in schema.get("required") or []:
        if key not in value:
            out.append(f"{_join(path, key)}: missing required field")
    if embedded:
        # An embedded object is a whole Kubernetes object: apiVersion, kind and metadata are
        # implied (metadata as ObjectMeta), and the API server requires apiVersion and kind.
        for key in ("apiVersion", "kind"):
            if not isinstance(value.get(key), str) or not value.get(key):
                out.append(f"{_join(path, key)}: an embedded resource needs {key}")
    for key, sub in value.items():
        sub_path = _join(path, key)
        if key in props:
            _check(sub, props[key], sub_path, out, structural)
        elif embedded and key in ("apiVersion", "kind"):
            continue
        elif embedded and key == "metadata":
            if not isinstance(sub, dict):
                out.append(f"{sub_path}: must be an object, got {_show(sub)}")
            else:
                out.extend(f"{sub_path}.{k}: {UNKNOWN}" for k in sub if k not in OBJECT_META)
        elif isinstance(extra, dict):
            _check(sub, extra, sub_path, out, structural)
        elif extra is True or preserve or not structural:
            continue
        else:
            out.append(f"{sub_path}: {UNKNOWN}")


def _check_array(value: list, schema: dict, path: str, out: list[str], structural: bool) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        out.append(f"{path}: more than {schema['maxItems']} items ({len(value)})")
    if "minItems" in schema and len(value) < schema["minItems"]:
        out.append(f"{path}: fewer than {schema['minItems']} items ({len(value)})")
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _check(item, items, f"{path}[{i}]", out, structural)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set" or schema.get("uniqueItems"):
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                out.append(f"{path}[{i}]: duplicate {_show(item)} in a list of type set")
            seen.append(item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen_keys: dict[tuple, int] = {}
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            missing = [k for k in keys if k not in item and "default" not in ((items or {}).get("properties") or {})
                       .get(k, {})]
            if missing:
                out.append(f"{path}[{i}]: missing map key {', '.join(missing)} of a list of type map")
                continue
            key = tuple(item.get(k) for k in keys)
            if key in seen_keys:
                shown = ", ".join(f"{k}={item.get(k)!r}" for k in keys)
                out.append(f"{path}[{i}]: duplicate entry ({shown}) in a list of type map "
                           f"(first at [{seen_keys[key]}])")
            seen_keys.setdefault(key, i)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
