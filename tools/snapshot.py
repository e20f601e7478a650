"""Upgrade safety: per stack, the URN of every resource and the values of the fields that force its
replacement, kept in tests/snapshots/<stack>.json and compared by the tests.

A renamed resource (new URN) or a changed replace-forcing field on a live stack means delete-and-create:
a new Deployment name, a new ElastiCache cluster, lost volumes. CI fails on any such change until the
snapshot is rewritten on purpose (`./run snapshot`), with `aliases` added where a parent or name changed.

    python -m tools.snapshot [--update] [STACK ...]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from tools import harness

SNAPSHOT_DIR = harness.ROOT / "tests" / "snapshots"

# Fields whose change replaces the resource (the provider's "force new" / Kubernetes immutable
# fields), by resource type. "*" applies to every Kubernetes object.
K8S_COMMON = ("metadata.name", "metadata.namespace")
REPLACE_FIELDS: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:StatefulSet": ("spec.selector", "spec.serviceName", "spec.volumeClaimTemplates",
                                       "spec.podManagementPolicy"),
    "kubernetes:core/v1:Service": ("spec.clusterIP",),
    "kubernetes:discovery.k8s.io/v1:EndpointSlice": ("addressType",),
    "kubernetes:core/v1:PersistentVolumeClaim": ("spec",),
    # Auto-named ConfigMaps and Secrets are replaced (a new name) whenever their data changes.
    "kubernetes:core/v1:ConfigMap": ("data",),
    "kubernetes:core/v1:Secret#keys": ("stringData", "data"),
    "kubernetes:helm.sh/v3:Release": ("name", "namespace", "chart"),
    "random:index/randomPassword:RandomPassword": ("length", "special", "upper", "lower", "numeric", "keepers"),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "replicationGroupId", "atRestEncryptionEnabled", "kmsKeyId", "subnetGroupName", "port",
        "clusterMode", "numNodeGroups#cluster", "preferredCacheClusterAzs", "dataTieringEnabled", "networkType",
        # The restore source (`restore`: patterns/external/snapshots.py) is creation-time.
        "snapshotName", "snapshotArns"),
    "aws:elasticache/serverlessCache:ServerlessCache": ("name", "engine", "majorEngineVersion", "kmsKeyId",
                                                        "subnetIds", "snapshotArnsToRestores"),
    "aws:elasticache/subnetGroup:SubnetGroup": ("name",),
    "aws:elasticache/parameterGroup:ParameterGroup": ("name", "family"),
    "aws:elasticache/user:User": ("userId", "userName", "engine"),
    "aws:elasticache/userGroup:UserGroup": ("userGroupId", "engine"),
    "aws:ec2/securityGroup:SecurityGroup": ("name", "vpcId", "description"),
    "aws:cloudwatch/logGroup:LogGroup": ("name",),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name",),
    "aws:sns/topic:Topic": ("name", "fifoTopic"),
    "aws:appautoscaling/target:Target": ("resourceId", "scalableDimension", "serviceNamespace"),
    "aws:appautoscaling/policy:Policy": ("name", "resourceId", "scalableDimension", "serviceNamespace"),
}


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _fingerprint(value: Any) -> Any:
    """Small values as they are; large ones (a pod template, a config file) as a short hash."""
    text = json.dumps(value, sort_keys=True, default=str)
    return value if len(text) <= 120 else "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _tokens(path: str) -> list[str | int]:
    """`a.b[0].c` -> ["a", "b", 0, "c"] (Pulumi's property path syntax, as in ignoreChanges)."""
    return [int(t[1:-1]) if t.startswith("[") else t for t in re.findall(r"\[\d+\]|[^.\[\]]+", path)]


def _without(value: Any, tokens: list[str | int]) -> Any:
    """`value` with the leaf at `tokens` removed (a copy; absent paths leave it as it is)."""
    if not tokens:
        return value
    head, rest = tokens[0], tokens[1:]
    if isinstance(value, dict) and isinstance(head, str) and head in value:
        if not rest:
            return {k: v for k, v in value.items() if k != head}
        return {**value, head: _without(value[head], rest)}
    if isinstance(value, list) and isinstance(head, int) and head < len(value):
        copy = list(value)
        copy[head] = _without(value[head], rest) if rest else None
        return copy
    return value


def _field_value(r: harness.Registered, field: str) -> Any:
    """A replace-forcing field's value, less what the resource ignores (ignoreChanges): the engine
    keeps the old value there, so a change under it replaces nothing."""
    value = _get(r.outputs if field == "metadata.name" else r.inputs, field)
    base = _tokens(field)
    for ignored in r.ignore_changes:
        tokens = _tokens(ignored)
        if tokens[:len(base)] == base and len(tokens) > len(base):
            value = _without(value, tokens[len(base):])
    return value


def snapshot(run: harness.Run) -> dict:
    out: dict[str, Any] = {}
    for r in sorted(run.resources, key=lambda r: r.urn):
        entry: dict[str, Any] = {}
        fields: list[str] = []
        if r.is_k8s_object or (r.custom and r.type.startswith("kubernetes:") and r.type.endswith("Patch")):
            fields += K8S_COMMON
        fields += REPLACE_FIELDS.get(r.type, ())
        # Fields a resource's replaceOnChanges names force its replacement too (an endpoint Service
        # switching between ExternalName and a selector-less ClusterIP).
        fields += [f for f in r.replace_on_changes if f not in fields]
        for f in fields:
            value = _field_value(r, f.split("#")[0])
            if value is not None:
                entry[f.split("#")[0]] = _fingerprint(value)
        for f in REPLACE_FIELDS.get(f"{r.type}#keys", ()):
            value = r.inputs.get(f)
            if isinstance(value, dict):
                entry[f"{f} keys"] = sorted(value)
        opts = [name for name, on in (("protect", r.protect), ("deleteBeforeReplace", r.delete_before_replace),
                                      ("retainOnDelete", r.retain_on_delete)) if on]
        if opts:
            entry["options"] = opts
        if r.replace_on_changes:
            entry["replaceOnChanges"] = sorted(r.replace_on_changes)
        out[r.urn] = entry
    return out


def path_for(stack: str) -> Path:
    return SNAPSHOT_DIR / f"{stack}.json"


def dumps(data: dict) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def diff(old: dict, new: dict) -> list[str]:
    lines = []
    for urn in sorted(set(old) - set(new)):
        lines.append(f"- removed (would be DELETED on a live stack): {urn}")
    for urn in sorted(set(new) - set(old)):
        lines.append(f"+ added: {urn}")
    for urn in sorted(set(old) & set(new)):
        if old[urn] != new[urn]:
            keys = sorted(k for k in set(old[urn]) | set(new[urn]) if old[urn].get(k) != new[urn].get(k))
            for k in keys:
                lines.append(f"~ {urn}: {k}: {old[urn].get(k)!r} -> {new[urn].get(k)!r}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*")
    parser.add_argument("--update", action="store_true", help="rewrite the snapshots")
    args = parser.parse_args(argv)
    status = 0
    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for stack in args.stacks or harness.list_stacks():
        new = snapshot(harness.run(stack))
        path = path_for(stack)
        old = json.loads(path.read_text()) if path.exists() else {}
        changes = diff(old, new)
        if args.update:
            path.write_text(dumps(new))
            print(f"{stack}: {len(new)} resources, {len(changes)} change(s) written to {path.relative_to(harness.ROOT)}")
            for line in changes:
                print(f"  {line}")
        elif changes:
            status = 1
            print(f"{stack}: {len(changes)} change(s) against {path.relative_to(harness.ROOT)}")
            for line in changes:
                print(f"  {line}")
    return status


if __name__ == "__main__":
    sys.exit(main())
