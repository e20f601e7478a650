"""What the engine tier compares: the objects of a stack in the API server, against the offline render
of the same config (tools/harness.py under mocks) and the stack's state.

Objects are matched by their Pulumi URN (the state maps each URN to the live name the provider gave
it), so auto-named objects (ConfigMaps, Secrets, NetworkPolicies with a random suffix) compare too.
A stack's own objects are found by its owner label (components/cache_patterns/core/ownership.py): what controllers make
from them (ReplicaSets, Pods, claims, EndpointSlices) does not carry it.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cache_patterns.core import ownership
from tools import harness

@dataclass(frozen=True)
class Ref:
    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


def ref_of(obj: dict) -> Ref:
    meta = obj["metadata"]
    return Ref(obj["kind"], meta.get("namespace") or None, meta["name"])


CONTROLLER_MADE = ("events", "events.events.k8s.io", "endpoints", "endpointslices.discovery.k8s.io")


def listable_kinds(cluster: Any) -> list[str]:
    """Every resource type the API server lists (CRDs included), from its discovery: a fixed list
    would miss the kinds the program starts to create later."""
    out = cluster.kubectl("api-resources", "--verbs=list", "-o", "name").stdout
    # Events are written by controllers about objects; Endpoints and EndpointSlices by the endpoint
    # controllers, which copy the Service's labels (the owner label too). None is the program's.
    return sorted(n for n in out.split() if n not in CONTROLLER_MADE)


def owned_objects(cluster: Any, stack: str | None = None) -> dict[Ref, dict]:
    """Every object carrying the owner label (of `stack`, or of any stack), of any kind."""
    selector = f"{ownership.OWNER_LABEL}={stack}" if stack else ownership.OWNER_LABEL
    out = cluster.kubectl("get", ",".join(listable_kinds(cluster)), "-A", "-l", selector, "-o", "json").stdout
    # An object with an owner reference was made by a controller from one of the program's objects.
    return {ref_of(o): o for o in json.loads(out)["items"] if not o["metadata"].get("ownerReferences")}


def live_names(state_resources: list[dict]) -> dict[str, Ref]:
    """URN -> the live object the state says it is (Kubernetes objects only, Patch resources too)."""
    refs: dict[str, Ref] = {}
    for r in state_resources:
        if not r.get("custom") or not r["type"].startswith("kubernetes:") or r["type"].startswith("kubernetes:helm"):
            continue
        outputs = r.get("outputs") or {}
        meta = outputs.get("metadata") or {}
        if "kind" in outputs and "name" in meta:
            refs[r["urn"]] = Ref(outputs["kind"], meta.get("namespace") or None, meta["name"])
    return refs


def engine_urn(urn: str) -> str:
    """A URN of the mocks as the engine writes it: the engine leaves the root Stack out of the type
    chain of its children (`...::kubernetes:core/v1:Namespace::ns`, not `...::pulumi:pulumi:Stack$...`)."""
    return urn.replace("::pulumi:pulumi:Stack$", "::", 1)


def mock_urn(urn: str) -> str:
    """A URN as the engine writes it, in the form Pulumi's mocks give it: the mocks put the root Stack
    in the type chain of its children and keep only the parent's own type for deeper resources (the
    engine keeps the whole chain: `A$B$type`), so comparisons with the render are made in that form."""
    prefix, chain, name = urn.split("::", 1)[0], urn.split("::")[2], urn.rsplit("::", 1)[1]
    stack_project = "::".join(urn.split("::")[:2])
    types = chain.split("$")
    short = f"pulumi:pulumi:Stack${types[0]}" if len(types) == 1 else "$".join(types[-2:])
    return f"{stack_project}::{short}::{name}"


def rendered(run: harness.Run) -> dict[str, dict]:
    """URN (the mocks' form, see mock_urn) -> the manifest the render shows (mock names for auto-named objects)."""
    return {r.urn: harness.ints(r.manifest) for r in run.k8s_objects}


def rename(value: Any, names: dict[str, str]) -> Any:
    """Mock auto-names inside a manifest replaced by the live names (volume and env references)."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, dict):
        return {k: rename(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [rename(v, names) for v in value]
    return value


def subset_problems(want: Any, have: Any, path: str = "") -> list[str]:
    """Where `have` (a live object) lacks or differs from what `want` (the render) says. The API
    server adds defaults, so extra keys in `have` are fine; lists compare item by item."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [f"{path}: rendered an object, live has {have!r}"]
        problems = []
        for k, v in want.items():
            if k not in have:
                problems.append(f"{path}.{k}: rendered {_short(v)}, absent live")
            else:
                problems += subset_problems(v, have[k], f"{path}.{k}")
        return problems
    if isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            return [f"{path}: rendered {len(want)} items, live has {_short(have)}"]
        return [p for i, (w, h) in enumerate(zip(want, have)) for p in subset_problems(w, h, f"{path}[{i}]")]
    if _same_scalar(want, have):
        return []
    return [f"{path}: rendered {want!r}, live {have!r}"]


def _same_scalar(want: Any, have: Any) -> bool:
    if want == have:
        return True
    # The API server keeps integers as integers and quantities as written; a port given as "8080"
    # in one and 8080 in the other is the same value.
    return str(want) == str(have)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) < 100 else text[:97] + "..."


def pod_spec(obj: dict) -> dict | None:
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    return template.get("spec")


def secret_values(obj: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
