"""A pattern switch on a live cluster: the `dev` stack's cache goes sidecar -> StatefulSet ->
StatefulSet with volumes -> sidecar, each config composed from the committed stack file and applied
on top of the previous one. The objects the API server refuses to change in place (immutable
fields) must be exactly those the upgrade-safety snapshots (tools/snapshot.py) say get replaced:
a refusal the snapshots miss is a `pulumi up` that fails half-way; a predicted replacement the
server would have accepted is a needless delete-and-create."""
from __future__ import annotations

import copy

import pytest

from tools import harness, snapshot

from . import kube

pytestmark = pytest.mark.cluster

STACK = "dev"
CACHE = "fragments"
# The snapshot fields that Kubernetes itself refuses to change in place, by resource type. The other
# replace-forcing fields of tools/snapshot.py are the engine's choice (content-named ConfigMaps and
# Secrets, passwords, cloud resources), which the API server would accept as updates.
SERVER_IMMUTABLE = {t: snapshot.REPLACE_FIELDS[t] for t in (
    "kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:Service",
    "kubernetes:core/v1:PersistentVolumeClaim")}
STEPS = (
    ("sidecar (committed)", {}),
    ("statefulset", {"pattern": "statefulset"}),
    ("statefulset with volumes", {"pattern": "statefulset", "storage": "1Gi"}),
    ("sidecar (committed, again)", {}),
)


def config_with(**changes: object) -> dict:
    """The committed `dev` stack config with the cache's settings changed."""
    cfg = copy.deepcopy(harness.load_stack_config(STACK))
    cfg["cache-patterns:caches"][CACHE].update(changes)
    return cfg


def predicted_replacements(before: harness.Run, after: harness.Run) -> set[str]:
    """Objects kept under the same name whose server-immutable snapshot fields change."""
    old, new = snapshot.snapshot(before), snapshot.snapshot(after)
    by_urn = {r.urn: r for r in after.k8s_objects}
    out = set()
    for urn in set(old) & set(by_urn):
        if old[urn].get("metadata.name") != new[urn].get("metadata.name"):
            continue   # a new name is a new object: nothing to refuse
        fields = SERVER_IMMUTABLE.get(by_urn[urn].type, ())
        if any(old[urn].get(f) != new[urn].get(f) for f in fields):
            out.add(kube.ref(by_urn[urn].manifest))
    return out


def test_server_refusals_match_the_snapshots(kube_cluster):
    runs = [(label, harness.run(STACK, config_with(**changes))) for label, changes in STEPS]
    current = kube.manifests(runs[0][1])
    seen = []
    try:
        results = kube.apply_all(kube_cluster, current)
        assert all(r.ok for r in results), [f"{kube.ref(r.obj)}: {r.error}" for r in results if not r.ok]
        assert not kube.wait_ready(kube_cluster, current)
        for (label_a, run_a), (label_b, run_b) in zip(runs, runs[1:]):
            step = f"{label_a} -> {label_b}"
            target = kube.manifests(run_b)
            results = kube.apply_all(kube_cluster, target)
            other = [f"{kube.ref(r.obj)}: {r.error}" for r in results if not r.ok and not r.immutable]
            assert not other, f"{step}: refused for other reasons than immutable fields:\n" + "\n".join(other)
            refused = {kube.ref(r.obj) for r in results if r.immutable}
            predicted = predicted_replacements(run_a, run_b)
            assert refused == predicted, (f"{step}: the server refused {sorted(refused)} in place, the snapshots "
                                          f"predict replacing {sorted(predicted)}")
            seen.append((step, sorted(refused)))
            # What the engine does next: replace the refused objects, delete the ones the new config
            # no longer has; then the new config must be complete and Ready.
            replaced = [r.obj for r in results if r.immutable]
            code, out = kube.delete_all(kube_cluster, replaced)
            assert code == 0, out
            again = [kube.apply(kube_cluster, o) for o in replaced]
            assert all(r.ok for r in again), [f"{kube.ref(r.obj)}: {r.error}" for r in again if not r.ok]
            gone = [o for o in current if kube.ref(o) not in {kube.ref(t) for t in target}]
            code, out = kube.delete_all(kube_cluster, gone)
            assert code == 0, f"{step}: deleting what the new config dropped did not finish:\n{out}"
            not_ready = kube.wait_ready(kube_cluster, target)
            assert not not_ready, f"{step}: not Ready: {not_ready}"
            current = target
    finally:
        everything = {kube.ref(o): o for _, run in runs for o in kube.manifests(run)}
        code, out = kube.delete_all(kube_cluster, everything.values())
    assert code == 0, out
    # The switch into volumes is the step whose StatefulSet the server must refuse: if no step was
    # refused at all, the comparison above proved nothing.
    assert any(refused for _, refused in seen), seen
