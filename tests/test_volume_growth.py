"""Growing a StatefulSet cache's volumes by config (`storage`): the claims grow in place, nothing is
replaced. The engine tier (e2e/scenarios/test_statefulset_volume.py) runs it against an API server."""
from __future__ import annotations

import copy

from tools import harness, snapshot

STACK = "staging"
STS = "kubernetes:apps/v1:StatefulSet"
PATCH = "kubernetes:core/v1:PersistentVolumeClaimPatch"


def _run(**cache_settings):
    cfg = copy.deepcopy(harness.load_stack_config(STACK))
    cfg["cache-patterns:caches"]["sessions"].update(cache_settings)
    return harness.run(STACK, cfg)


def test_a_bigger_volume_replaces_nothing():
    before, after = snapshot.snapshot(_run(storage="5Gi")), snapshot.snapshot(_run(storage="20Gi"))
    changed = {urn for urn in set(before) & set(after) if before[urn] != after[urn]}
    assert set(before) == set(after) and changed == set()


def test_every_pods_claim_is_patched_to_the_new_size_after_the_statefulset():
    run = _run(storage="20Gi", replicas=2)
    sts = run.one(STS, "sessions-redis")
    patches = run.of_type(PATCH)
    assert sorted(p.inputs["metadata"]["name"] for p in patches) == [
        f"data-staging-sessions-{i}" for i in range(3)]
    for p in patches:
        assert p.inputs["spec"] == {"resources": {"requests": {"storage": "20Gi"}}}
        assert p.inputs["metadata"]["namespace"] == "cache"
        assert p.inputs["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"
        assert sts.urn in p.dependencies
        # The engine refuses to delete a Patch that alone manages a required field (the grown size):
        # retained, or `pulumi destroy` fails after a growth.
        assert p.retain_on_delete
    # The claim template names the claims the patches address.
    assert sts.inputs["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"


def test_a_new_storage_class_still_replaces_the_statefulset():
    """Only the size is grown in place; a claim cannot move to another StorageClass."""
    before = snapshot.snapshot(_run(storage="5Gi"))
    after = snapshot.snapshot(_run(storage="5Gi", storageClass="fast"))
    sts_urn = harness.run(STACK).one(STS, "sessions-redis").urn
    assert before[sts_urn] != after[sts_urn]


def test_without_persistence_there_is_nothing_to_grow():
    cfg = copy.deepcopy(harness.load_stack_config(STACK))
    sessions = cfg["cache-patterns:caches"]["sessions"]
    for key in ("storage", "persistence"):
        sessions.pop(key, None)
    run = harness.run(STACK, cfg)
    assert run.of_type(PATCH) == [] and run.one(STS, "sessions-redis").ignore_changes == ()
