"""What the engine tier compares: the objects of a stack in the API server, against the offline render
of the same config (tools/harness.py under mocks) and the stack's state.

Objects are matched by their Pulumi URN (the state maps each URN to the live name the provider gave
it), so auto-named objects (ConfigMaps, Secrets, NetworkPolicies with a random suffix) compare too.
A stack's own objects are found by its owner label (components/cache_patterns/core/ownership.py): what controllers make
from them (ReplicaSets, Pods, claims, EndpointSlices) does not carry it.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cache_patterns.core import contract, ownership
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


def checksum_masked(obj: dict) -> dict:
    """A workload with its pod template's binding checksum replaced by a marker when it is a sha256:
    the checksum hashes what the binding puts into the pod, auto-generated Secret and ConfigMap names
    included, which differ between the mocks and the engine, so only its presence and form compare."""
    template = (obj.get("spec") or {}).get("template") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(contract.CHECKSUM_ANNOTATION)
    if not (isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value)):
        return obj
    masked = {**annotations, contract.CHECKSUM_ANNOTATION: "<sha256>"}
    return {**obj, "spec": {**obj["spec"], "template": {**template, "metadata": {**template["metadata"],
                                                                                   "annotations": masked}}}}


def secret_keys_only(obj: dict) -> dict:
    """A Secret with each value of `data` replaced by a marker (others unchanged): compared by key."""
    if obj.get("kind") != "Secret":
        return obj
    return {**obj, "data": {k: "<value>" for k in obj.get("data") or {}}}


def secret_values(obj: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


_BASE64_TOKEN = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")


def _base64_hides(blob: bytes, secret: bytes) -> bool:
    """Whether some base64 run in `blob` decodes, at any of its three alignments, to bytes holding
    `secret` (a password inside a base64'd JSON map is found too, not only the password alone)."""
    for token in _BASE64_TOKEN.findall(blob):
        for skip in range(4):
            part = token[skip:]
            part = part[: len(part) - len(part) % 4] if not part.endswith(b"=") else part
            try:
                if secret in base64.b64decode(part, validate=False):
                    return True
            except (ValueError, binascii.Error):
                continue
    return False


def backend_leaks(state_dir: Path, secrets: dict[str, str]) -> list[str]:
    """Where a secret is readable in any file the state backend wrote (checkpoints, history, backups,
    locks: every file under its folder), in plain text, JSON-escaped, or base64 (alone or inside a
    longer base64 value). `secrets`: what -> plaintext."""
    files = sorted(p for p in state_dir.rglob("*") if p.is_file())
    leaks = []
    for path in files:
        blob = path.read_bytes()
        for what, plain in secrets.items():
            forms = {"plain": plain.encode(), "JSON-escaped": json.dumps(plain)[1:-1].encode(),
                     "doubly JSON-escaped": json.dumps(json.dumps(plain)[1:-1])[1:-1].encode()}
            found = [name for name, form in forms.items() if form in blob]
            if _base64_hides(blob, plain.encode()):
                found.append("base64")
            leaks += [f"{what} ({form}) in {path.relative_to(state_dir)}" for form in found]
    return leaks
