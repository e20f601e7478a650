"""Pattern 2's data volumes: a claim template per Redis pod (persistence), else an emptyDir, and the
growth of live claims in place when `storage` grows (nothing is replaced to grow a volume)."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from cache_patterns.core import sizing
from cache_patterns.patterns.statefulset.settings import StatefulSetSettings

# Kubernetes cannot change a StatefulSet's claim templates, except that their size is ignored here: a
# bigger `storage` grows the live claims in place (one PersistentVolumeClaimPatch per pod) and the
# template keeps the size the StatefulSet was created with, so neither the StatefulSet nor a volume is
# ever deleted to grow (the StorageClass must allow volume expansion; the API server refuses to shrink a
# claim).
CLAIM_SIZE = "spec.volumeClaimTemplates[0].spec.resources.requests.storage"


def data_volumes(s: StatefulSetSettings, labels: dict) -> tuple[list[dict], list[dict]]:
    """(pod volumes, claim templates) of the Redis pods' data directory."""
    if s.volume is None:
        # No persistence: replicas still write the primary's snapshot to disk during a full sync.
        return [{"name": "data", "emptyDir": {"sizeLimit": sizing.format_bytes(2 * s.memory_limit)}}], []
    claim_spec: dict = {"accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": sizing.format_bytes(s.volume)}}}
    if s.storage_class:
        claim_spec["storageClassName"] = s.storage_class
    return [], [{"metadata": {"name": "data", "labels": labels}, "spec": claim_spec}]


def grow_claims(parent: pulumi.Resource, name: str, statefulset: k8s.apps.v1.StatefulSet, sts_name: str,
                namespace: str, s: StatefulSetSettings) -> None:
    """The claims the StatefulSet controller made (`<template>-<statefulset>-<ordinal>`), at the
    configured size. They exist once the StatefulSet is ready, which the provider waits for. Forced:
    the controller's field manager owns the size it created them with. Retained on delete: once grown,
    the size is this patch's alone, and the provider will not remove a required field (the claim
    itself goes with the StatefulSet's retention policy)."""
    if s.storage is None:
        return
    for ordinal in range(s.replicas + 1):
        k8s.core.v1.PersistentVolumeClaimPatch(
            f"{name}-data-{ordinal}",
            metadata={"name": f"data-{sts_name}-{ordinal}", "namespace": namespace,
                      "annotations": {"pulumi.com/patchForce": "true"}},
            spec={"resources": {"requests": {"storage": sizing.format_bytes(s.storage)}}},
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[statefulset], retain_on_delete=True),
        )
