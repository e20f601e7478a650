"""What a change of a stack's caches does to what runs, in a few lines: per app, the contract
variables it loses and gains; the objects replaced or deleted; the data at risk.

Both sides are a "basis" (`basis()`): the caches' patterns, each app's environment variable names,
every object's identity with a digest of the fields that force its replacement, the other resources
and where each cache's data lives. `./run render` keeps the basis of each render in
rendered/<stack>/render.json and prints the impact when the caches' patterns differ from the last
render (or from a git ref: `--against REF`); `./run render-diff` prints it per stack too. A basis is
made from files any tree of this program writes (its stack file, rendered manifests, the resources'
URNs), so an older ref without this module compares as well.

A change of a StatefulSet cache's engine version is checked against the upgrade paths
(cache_patterns/core/upgrades.py): `engine_refusals()` names each unsafe step and the path that works;
`./run render` refuses it (exit 2) and keeps the last render's basis (issue 23).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from cache_patterns.config.common import DEFAULT_ENGINE_VERSION
from cache_patterns.core import upgrades
from tools.snapshot import K8S_COMMON, REPLACE_FIELDS, _get

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
# Custom resources an operator turns into Redis pods.
OPERATOR_KINDS = ("RedisReplication", "RedisCluster", "RedisFailover", "Redis")
DATA_TYPES = ("aws:elasticache/replicationGroup:ReplicationGroup", "aws:elasticache/serverlessCache:ServerlessCache")
LISTED = 6  # names shown per kind
# Kinds whose deletion or replacement is named one by one: they hold data, or everything in them.
NAMED = ("StatefulSet", "PersistentVolumeClaim", "Namespace") + OPERATOR_KINDS


def type_token(obj: dict) -> str:
    group, _, version = obj["apiVersion"].rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{obj['kind']}"


def object_key(obj: dict) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {where}{meta['name']}"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _replace_digest(obj: dict) -> dict[str, str]:
    fields = K8S_COMMON + tuple(f.split("#")[0] for f in REPLACE_FIELDS.get(type_token(obj), ()))
    return {f: _digest(_get(obj, f)) for f in fields if _get(obj, f) is not None}


def _urn_parts(urn: str) -> tuple[str, str]:
    """(type, name) of a URN: urn:pulumi:STACK::PROJECT::[PARENT$]TYPE::NAME."""
    _, _, rest = urn.partition("::")
    _, _, rest = rest.partition("::")
    types, _, name = rest.rpartition("::")
    return types.rsplit("$", 1)[-1], name


def _app_env(manifests: list[dict], app: dict) -> list[str]:
    for obj in manifests:
        meta = obj["metadata"]
        if obj["kind"] == "Deployment" and meta["name"] == app.get("name") and meta.get("namespace") == app.get("namespace"):
            containers = obj["spec"]["template"]["spec"]["containers"]
            main = next((c for c in containers if c["name"] == app["name"]), containers[0])
            return sorted(e["name"] for e in main.get("env", []))
    return []


def _holds(stack: str, name: str, cache: dict, apps: list[dict], manifests: list[dict],
           resources: list[dict]) -> str:
    """Where a cache's data lives, in words."""
    pattern = cache.get("pattern")
    bound = sorted({a["name"] for a in apps if a.get("cache") == name})
    if pattern == "sidecar":
        return f"in the memory of every pod of {', '.join(bound) or 'its apps'}: lost as they roll"
    if pattern == "statefulset":
        sts = next((o for o in manifests if o["kind"] == "StatefulSet" and o["metadata"]["name"] == f"{stack}-{name}"), None)
        if sts is None:
            return "in its Redis pods"
        pods = sts["spec"].get("replicas", 1)
        if not sts["spec"].get("volumeClaimTemplates"):
            return f"in the memory of its {pods} Redis pods: lost when they are deleted"
        kept = (sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}).get("whenDeleted", "Retain")
        return (f"on the {pods} volumes of StatefulSet {sts['metadata']['name']}: "
                + ("kept after it is deleted (Retain), but no longer mounted" if kept == "Retain"
                   else "deleted with it (whenDeleted: Delete)"))
    if pattern == "operator":
        crs = [o for o in manifests if o["kind"] in OPERATOR_KINDS and o["metadata"]["name"].endswith(f"-{name}")]
        if not crs:
            return "in the operator's Redis pods"
        cr = crs[0]
        storage = (cr.get("spec") or {}).get("storage")
        kept = storage and storage.get("keepAfterDelete")
        return (f"in the pods of {cr['kind']} {cr['metadata']['name']}"
                + (", on volumes the operator keeps after it is deleted (keepAfterDelete)" if kept else
                   ", on volumes deleted with it" if storage else ": in memory, lost with it"))
    if pattern == "external":
        groups = [r for r in resources if r["type"] in DATA_TYPES]
        if not groups:
            return "outside this program (an endpoint it does not manage): untouched"
        names = ", ".join(r["name"] + (" [protected]" if r.get("protect") else "") for r in groups)
        return f"in ElastiCache ({names}): deleted with it (a protected one stops `pulumi up` until unprotected)"
    return "where its pattern keeps it"


def basis(stack: str, config: dict, manifests: list[dict], resources: Iterable[dict]) -> dict:
    """What a render of `stack` deploys, for comparison. `config`: the stack file's `config`;
    `resources`: dicts with `urn` and `protect` (every resource the program registered)."""
    prefix = "cache-patterns:"
    caches = config.get(f"{prefix}caches") or {}
    apps = [a for a in (config.get(f"{prefix}apps") or []) if isinstance(a, dict)]
    others = []
    for r in resources:
        type_, name = _urn_parts(r["urn"])
        if type_.startswith(("kubernetes:", "pulumi:", "cache-patterns:")):
            continue
        others.append({"type": type_, "name": name, "protect": bool(r.get("protect"))})
    return {
        "stack": stack,
        "caches": {n: "/".join(filter(None, (c.get("pattern"), c.get("kind")))) for n, c in caches.items()
                   if isinstance(c, dict)},
        "apps": {f"{a.get('namespace')}/{a.get('name')}": _app_env(manifests, a) for a in apps},
        "engines": {n: _engine(c) for n, c in caches.items() if isinstance(c, dict) and c.get("pattern") == "statefulset"},
        "objects": {object_key(o): _replace_digest(o) for o in manifests},
        # Workloads whose pod template changes roll their pods.
        "templates": {object_key(o): _digest((o.get("spec") or {}).get("template")) for o in manifests
                      if o["kind"] in WORKLOADS},
        "resources": {f"{r['type']} {r['name']}": r["protect"] for r in others},
        "holds": {n: _holds(stack, n, c, apps, manifests, others) for n, c in caches.items() if isinstance(c, dict)},
    }


def _engine(cache: dict) -> str:
    """A StatefulSet cache's engine line as the config gives it: `valkey 8.1` (the default version when
    none is set)."""
    engine = str(cache.get("engine") or "valkey")
    return f"{engine} {cache.get('version') or DEFAULT_ENGINE_VERSION.get(engine, '')}"


def engine_refusals(old: dict, new: dict) -> list[str]:
    """Each StatefulSet cache whose engine version changes by a step its data cannot take in place
    (a downgrade, a skipped stepping stone, Redis 7.4+ to Valkey): what is wrong and the path that works.
    A basis without engines (an older render) or a cache new on either side is not checked."""
    out = []
    before, after = old.get("engines") or {}, new.get("engines") or {}
    for name in sorted(set(before) & set(after)):
        if before[name] != after[name]:
            (e1, v1), (e2, v2) = before[name].split(" ", 1), after[name].split(" ", 1)
            problem = upgrades.check(e1, v1, e2, v2)
            if problem is not None:
                out.append(f"cache {name}: {before[name]} -> {after[name]} refused: {problem}")
    return out


def _names(keys: list[str]) -> str:
    """Counts by kind; the names of what matters most when it goes (data, namespaces, cloud resources)."""
    by_kind: dict[str, list[str]] = {}
    for k in sorted(keys):
        kind, _, name = k.partition(" ")
        by_kind.setdefault(kind, []).append(name)
    counts = ", ".join(f"{kind} {len(names)}" for kind, names in by_kind.items())
    named = [f"{kind} {name}" for kind, names in by_kind.items() if kind in NAMED or ":" in kind
             for name in names[:LISTED]]
    return f"{len(keys)} ({counts})" + (f", among them {', '.join(named)}" if named else "")


def switched(old: dict, new: dict) -> bool:
    """Whether a cache was added, removed, or changed pattern (or kind)."""
    return old.get("caches") != new.get("caches")


def impact(old: dict, new: dict) -> list[str]:
    """The lines that say what going from `old` to `new` does; empty when no cache's pattern changed."""
    if not switched(old, new):
        return []
    out = []
    for name in sorted(set(old["caches"]) | set(new["caches"])):
        before, after = old["caches"].get(name), new["caches"].get(name)
        if before != after:
            out.append(f"cache {name}: {before or '(none)'} -> {after or '(removed)'}")
    for app in sorted(set(old["apps"]) | set(new["apps"])):
        lost = sorted(set(old["apps"].get(app, [])) - set(new["apps"].get(app, [])))
        gained = sorted(set(new["apps"].get(app, [])) - set(old["apps"].get(app, [])))
        if lost or gained:
            out.append(f"app {app}: loses {', '.join(lost) or 'nothing'}; gains {', '.join(gained) or 'nothing'}")
    deleted = [k for k in old["objects"] if k not in new["objects"]]
    replaced = [k for k in old["objects"] if k in new["objects"] and old["objects"][k] != new["objects"][k]]
    gone = [k for k in old["resources"] if k not in new["resources"]]
    if replaced:
        out.append(f"replaced (deleted, then created anew): {_names(replaced)}")
    if deleted or gone:
        out.append(f"deleted: {_names(deleted + gone)}")
    if not (replaced or deleted or gone):
        out.append("replaced or deleted: nothing")
    templates_before, templates_after = old.get("templates", {}), new.get("templates", {})
    rolled = [k for k in templates_before if k in templates_after and templates_before[k] != templates_after[k]]
    if rolled:
        out.append(f"rolled (new pods, one by one): {', '.join(sorted(rolled))}")
    for name in sorted(old["caches"]):
        if old["caches"][name] != new["caches"].get(name):
            now = new["caches"].get(name)
            then = (f"; the new {now} cache starts empty (nothing copies the data over)" if now else "")
            out.append(f"data at risk: cache {name} kept its data {old['holds'].get(name, '')}{then}")
    return out


def load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def from_files(stack: str, stack_file: Path, rendered: Path, resources_json: Path) -> dict:
    """The basis of a render written by any tree (render_diff's dump): its stack file, its manifests
    and its resources.json."""
    import yaml

    from cache_patterns.stack_reader import read_stack_file

    config = read_stack_file(stack_file) if stack_file.exists() else {}
    manifests = [yaml.safe_load(p.read_text()) for p in sorted(rendered.rglob("*.yaml"))]
    resources: list[Any] = json.loads(resources_json.read_text()) if resources_json.exists() else []
    return basis(stack, config, [m for m in manifests if isinstance(m, dict) and "kind" in m], resources)
