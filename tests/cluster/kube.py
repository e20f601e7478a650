"""What the cluster tests do to the API server, through the pinned kubectl: server-side apply of
rendered objects (one object per call, so each gets its own verdict and warnings), reads, deletes
and waits. Objects come from the program under Pulumi's mocks, exactly as `./run render` makes
them, with placeholder passwords instead of redacted values (the server must accept them).
"""
from __future__ import annotations

import base64
import copy
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Iterable

import yaml

from e2e.cluster import Cluster
from tools import harness, render

FIELD_MANAGER = "cache-patterns"
READY_TIMEOUT = 120.0
DELETE_TIMEOUT = "180s"


def manifests(run: harness.Run) -> list[dict]:
    """The Kubernetes objects of one evaluation, in the order the program registered them."""
    return [render.clean(r.manifest) for r in run.k8s_objects]


def has_cloud_resources(run: harness.Run) -> bool:
    return any(r.type.startswith("aws:") for r in run.resources)


def ref(obj: dict) -> str:
    """`kind namespace/name`: how the tests name an object."""
    meta = obj["metadata"]
    return f"{obj['kind']} {meta.get('namespace') + '/' if meta.get('namespace') else ''}{meta['name']}"


def _kubectl_ref(obj: dict) -> list[str]:
    api = obj["apiVersion"]
    group = api.split("/")[0] if "/" in api else ""
    version = api.split("/")[-1]
    resource = f"{obj['kind']}.{version}.{group}" if group else obj["kind"]
    meta = obj["metadata"]
    return [resource, meta["name"], *(["-n", meta["namespace"]] if meta.get("namespace") else [])]


@dataclass
class Applied:
    obj: dict
    ok: bool
    stderr: str

    @property
    def warnings(self) -> list[str]:
        return [line[len("Warning: "):] for line in self.stderr.splitlines() if line.startswith("Warning: ")]

    @property
    def error(self) -> str:
        return "\n".join(line for line in self.stderr.splitlines() if not line.startswith("Warning: "))

    @property
    def immutable(self) -> bool:
        """Refused because the change touches a field Kubernetes cannot change in place."""
        return not self.ok and bool(re.search(r"field is immutable|Forbidden: updates to \w+ spec for fields other than",
                                              self.stderr))


def apply(cluster: Cluster, obj: dict) -> Applied:
    """`kubectl apply --server-side` of one object; strict field validation (kubectl's default):
    a field the schema does not know is an error, not silently dropped."""
    proc = cluster.kubectl("apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--validate=strict",
                           "-f", "-", input=json.dumps(obj), check=False)
    return Applied(obj, proc.returncode == 0, proc.stderr)


def apply_all(cluster: Cluster, objs: Iterable[dict]) -> list[Applied]:
    """Namespaces first (everything else lives in them), then the rest in the program's order."""
    objs = list(objs)
    ordered = [o for o in objs if o["kind"] == "Namespace"] + [o for o in objs if o["kind"] != "Namespace"]
    return [apply(cluster, o) for o in ordered]


def get(cluster: Cluster, obj: dict) -> dict | None:
    proc = cluster.kubectl("get", *_kubectl_ref(obj), "-o", "json", check=False)
    if proc.returncode != 0:
        if "NotFound" in proc.stderr:
            return None
        raise AssertionError(f"kubectl get {ref(obj)}: {proc.stderr}")
    return json.loads(proc.stdout)


def get_json(cluster: Cluster, *args: str) -> dict:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def stored_spec(stored: dict) -> dict:
    """What a second apply must leave alone: the object without status and the bookkeeping every
    write changes (resourceVersion, managedFields' timestamps)."""
    out = copy.deepcopy(stored)
    out.pop("status", None)
    for key in ("resourceVersion", "managedFields"):
        out["metadata"].pop(key, None)
    return out


# Quantities the server writes in canonical form (1024Mi -> 1Gi, 0.5 -> 500m): the same value.
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_QUANTITY = re.compile(r"([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?")


def _quantity(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _QUANTITY.fullmatch(value) if isinstance(value, str) else None
    return float(m.group(1)) * _SUFFIX[m.group(2) or ""] if m else None


def as_stored(obj: dict) -> dict:
    """What the server stores for `obj` by its documented write-only conversions: a Secret's
    `stringData` is merged into `data`, base64-encoded (and never stored as such)."""
    out = {k: v for k, v in obj.items() if k != "status"}
    if obj.get("kind") == "Secret" and "stringData" in obj:
        encoded = {k: base64.b64encode(str(v).encode()).decode() for k, v in obj["stringData"].items()}
        out["data"] = {**(obj.get("data") or {}), **encoded}
        del out["stringData"]
    return out


def rewritten(sent: Any, stored: Any, path: str = "") -> list[str]:
    """Every field we sent whose stored value differs (besides a quantity's canonical spelling):
    the fields a client that compares what it sent with what it reads would find changed on every
    run. Fields the server adds (defaults) are not compared: we did not send them."""
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [f"{path}: sent an object, stored {stored!r}"]
        return [p for k, v in sent.items() for p in rewritten(v, stored.get(k), f"{path}.{k}" if path else k)]
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(stored) != len(sent):
            return [f"{path}: sent {len(sent)} item(s), stored {stored!r:.200}"]
        return [p for i, (a, b) in enumerate(zip(sent, stored)) for p in rewritten(a, b, f"{path}[{i}]")]
    if sent == stored:
        return []
    if path.split(".")[-1] not in ("data", "stringData"):
        q1, q2 = _quantity(sent), _quantity(stored)
        if q1 is not None and q2 is not None and abs(q1 - q2) <= 1e-9 * max(abs(q1), 1):
            return []
    return [f"{path}: sent {sent!r:.120}, stored {stored!r:.120}"]


def workloads(objs: Iterable[dict]) -> list[dict]:
    return [o for o in objs if o["kind"] in ("Deployment", "StatefulSet")]


def not_ready(stored: dict) -> str | None:
    """Why a Deployment or StatefulSet is not Ready and rolled out, or None when it is."""
    spec, status = stored.get("spec") or {}, stored.get("status") or {}
    want = spec.get("replicas", 1)
    if status.get("observedGeneration") != stored["metadata"].get("generation"):
        return "controller has not observed the latest generation"
    for key in ("readyReplicas", "updatedReplicas", "availableReplicas"):
        if status.get(key, 0) != want:
            return f"{key} {status.get(key, 0)}/{want}"
    if stored["kind"] == "StatefulSet" and status.get("currentRevision") != status.get("updateRevision"):
        return "rollout not finished (currentRevision != updateRevision)"
    return None


def wait_ready(cluster: Cluster, objs: Iterable[dict], timeout: float = READY_TIMEOUT) -> dict[str, str]:
    """Wait until every workload is Ready; returns {ref: why not} for those still not Ready."""
    pending = {ref(o): o for o in workloads(objs)}
    why: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, obj in list(pending.items()):
            stored = get(cluster, obj)
            reason = "not found" if stored is None else not_ready(stored)
            if reason is None:
                del pending[key]
                why.pop(key, None)
            else:
                why[key] = reason
        if pending:
            time.sleep(1)
    return {k: why[k] for k in pending}


def delete_all(cluster: Cluster, objs: Iterable[dict], timeout: str = DELETE_TIMEOUT) -> tuple[int, str]:
    """Delete objects with foreground propagation (dependents first, as `pulumi destroy` waits for)
    and wait until they are gone; namespaces last. Returns kubectl's exit code and output."""
    objs = list(objs)
    ordered = [o for o in objs if o["kind"] != "Namespace"] + [o for o in objs if o["kind"] == "Namespace"]
    docs = yaml.safe_dump_all([{"apiVersion": o["apiVersion"], "kind": o["kind"],
                                "metadata": {k: v for k, v in o["metadata"].items() if k in ("name", "namespace")}}
                               for o in ordered])
    proc = cluster.kubectl("delete", "--cascade=foreground", "--wait=true", f"--timeout={timeout}",
                           "--ignore-not-found", "-f", "-", input=docs, check=False, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def events(cluster: Cluster, namespace: str, name: str) -> list[dict]:
    data = get_json(cluster, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    return data.get("items", [])
