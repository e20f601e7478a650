"""Validation of custom resources against the CustomResourceDefinitions of the operators, offline.

`load(folder)` indexes every CRD in a folder of YAML files (upstream CRD files, or
`kubectl get crd NAME -o yaml` from a live cluster); `validate(obj, index)` lists every problem of one
custom resource against `spec.versions[].schema.openAPIV3Schema`, as the API server does it: first the
Kubernetes structural-schema steps JSON Schema has no keyword for (pruning of unknown fields and of
nulls of non-nullable fields, embedded resources, list types: `_prune`), then the pruned object against
the schema with `jsonschema` (the OpenAPI v3.0 dialect turned into draft-07: nullable, int-or-string,
boolean exclusive bounds; the int32, int64 and date-time formats).

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

import jsonschema
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
    root = dict(entry.schema)
    root["properties"] = {k: v for k, v in (root.get("properties") or {}).items()
                          if k not in ("apiVersion", "kind", "metadata")}
    root["required"] = [k for k in root.get("required") or [] if k not in ("apiVersion", "kind", "metadata")]
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    pruned = _prune(body, root, "", out)
    out += _schema_problems(pruned, root)
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


# ---- the structural steps: what the API server prunes, and list types ------------------------------

def _prune(value: Any, schema: dict, path: str, out: list[str]) -> Any:
    """`value` as the API server keeps it: unknown fields and nulls of non-nullable fields dropped,
    each reported (it would silently drop them); embedded resources and list types checked."""
    if isinstance(value, dict) and (schema.get("type") in (None, "object")):
        return _prune_object(value, schema, path, out)
    if isinstance(value, list) and schema.get("type") in (None, "array"):
        _check_list_type(value, schema, path, out)
        items = schema.get("items")
        return [_prune(item, items, f"{path}[{i}]", out) if isinstance(items, dict) else item
                for i, item in enumerate(value)]
    return value


def _prune_object(value: dict, schema: dict, path: str, out: list[str]) -> dict:
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    embedded = schema.get("x-kubernetes-embedded-resource")
    if embedded:
        # An embedded object is a whole Kubernetes object: apiVersion, kind and metadata are
        # implied (metadata as ObjectMeta), and the API server requires apiVersion and kind.
        for key in ("apiVersion", "kind"):
            if not isinstance(value.get(key), str) or not value.get(key):
                out.append(f"{_join(path, key)}: an embedded resource needs {key}")
    kept = {}
    for key, sub in value.items():
        sub_path, sub_schema = _join(path, key), props.get(key, extra if isinstance(extra, dict) else None)
        if sub is None and not (sub_schema or {}).get("nullable") and sub_schema is not None:
            out.append(f"{sub_path}: null is not allowed (the field is not nullable; the API server would drop it)")
        elif sub_schema is not None:
            kept[key] = _prune(sub, sub_schema, sub_path, out)
        elif embedded and key in ("apiVersion", "kind"):
            kept[key] = sub
        elif embedded and key == "metadata":
            if not isinstance(sub, dict):
                out.append(f"{sub_path}: must be an object, got {_show(sub)}")
            else:
                out.extend(f"{sub_path}.{k}: {UNKNOWN}" for k in sub if k not in OBJECT_META)
        elif extra is True or schema.get("x-kubernetes-preserve-unknown-fields"):
            kept[key] = sub
        else:
            out.append(f"{sub_path}: {UNKNOWN}")
    return kept


def _check_list_type(value: list, schema: dict, path: str, out: list[str]) -> None:
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        for i, item in enumerate(value):
            if item in value[:i]:
                out.append(f"{path}[{i}]: duplicate {_show(item)} in a list of type set")
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        defaults = ((schema.get("items") or {}).get("properties") or {})
        seen: dict[tuple, int] = {}
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            missing = [k for k in keys if k not in item and "default" not in defaults.get(k, {})]
            if missing:
                out.append(f"{path}[{i}]: missing map key {', '.join(missing)} of a list of type map")
                continue
            key = tuple(item.get(k) for k in keys)
            if key in seen:
                shown = ", ".join(f"{k}={item.get(k)!r}" for k in keys)
                out.append(f"{path}[{i}]: duplicate entry ({shown}) in a list of type map (first at [{seen[key]}])")
            seen.setdefault(key, i)


# ---- the schema, with jsonschema ------------------------------------------------------------------------

def _draft7(node: Any) -> Any:
    """OpenAPI v3.0 (the CRD dialect) as draft-07: `nullable` and int-or-string as types, boolean
    exclusive bounds as numbers. Other `x-kubernetes-*` keys are not keywords and are ignored."""
    if isinstance(node, list):
        return [_draft7(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _draft7(v) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out["type"] = ["integer", "string"]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [*([out["type"]] if isinstance(out["type"], str) else out["type"]), "null"]
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if out.get(exclusive) is True:
            out[exclusive] = out.pop(bound)
        elif out.get(exclusive) is False:
            out.pop(exclusive)
    return out


def _date_time(text: Any) -> bool:
    if not isinstance(text, str):
        return True
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in text or "t" in text


FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("date-time")(_date_time)
for _name, (_low, _high) in (("int32", INT32), ("int64", INT64)):
    FORMATS.checks(_name)(lambda v, lo=_low, hi=_high: not _is_int(v) or lo <= v <= hi)


def _schema_problems(value: Any, schema: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(_draft7(schema), format_checker=FORMATS)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    out = []
    for e in errors:
        where = tuple(e.absolute_path)
        if where in typed and e.validator != "type":
            continue        # a value of the wrong type: that is its one problem
        out.append(_message(e))
    return list(dict.fromkeys(out))


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(e: jsonschema.ValidationError) -> str:
    path, v, value, rule = _path(e.absolute_path), e.validator, e.instance, e.validator_value
    if v == "required":
        missing = re.match(r"'(.*)' is a required property", e.message)
        return f"{_join(path, missing.group(1) if missing else '?')}: missing required field"
    if v == "type":
        int_or_string = e.schema.get("type") == ["integer", "string"]
        wanted = "an integer or a string" if int_or_string else f"of type {rule}"
        return f"{path}: must be {wanted}, got {_show(value)}"
    words = {
        "enum": lambda: f"{_show(value)} is not one of {', '.join(repr(x) for x in rule)}",
        "pattern": lambda: f"{_show(value)} does not match the pattern {rule}",
        "maxLength": lambda: f"longer than {rule} characters ({len(value)})",
        "minLength": lambda: f"shorter than {rule} characters ({len(value)})",
        "minimum": lambda: f"must be >= {rule}, got {_show(value)}",
        "maximum": lambda: f"must be <= {rule}, got {_show(value)}",
        "exclusiveMinimum": lambda: f"must be > {rule}, got {_show(value)}",
        "exclusiveMaximum": lambda: f"must be < {rule}, got {_show(value)}",
        "multipleOf": lambda: f"must be a multiple of {rule}, got {_show(value)}",
        "maxItems": lambda: f"more than {rule} items ({len(value)})",
        "minItems": lambda: f"fewer than {rule} items ({len(value)})",
        "maxProperties": lambda: f"more than {rule} properties ({len(value)})",
        "minProperties": lambda: f"fewer than {rule} properties ({len(value)})",
        "uniqueItems": lambda: "duplicate items in a list of unique items",
        "format": lambda: (f"{_show(value)} is not an RFC 3339 date-time" if rule == "date-time"
                           else f"{_show(value)} is out of the {rule} range"),
        "anyOf": lambda: "matches none of the allowed forms: " + "; ".join(
            _message(c).split(": ", 1)[-1] for c in e.context[:len(rule)]),
        "oneOf": lambda: f"must match exactly one of {len(rule)} forms",
        "not": lambda: "matches a form that is not allowed",
    }
    return f"{path}: {words[v]()}" if v in words else f"{path}: {e.message}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
