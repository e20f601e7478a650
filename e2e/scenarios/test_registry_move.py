"""A registry move through the real engine: `pulumi up` of the staging stack pulling every image the
program names from one registry by digest, with a pull Secret, then a change of only the registry.
The move is an in-place update: nothing is replaced, the data-bearing objects (the Redis StatefulSet,
its volume claims, the password Secrets) are the same live objects, the StatefulSets and Deployments
roll onto the new references, and a preview afterwards has nothing to do."""
from __future__ import annotations

import copy
import json

from e2e import engine, live
from e2e.scenarios.conftest import destroyed_after
from e2e.scenarios.test_stacks import deploy
from tools import harness

DIGESTS = {key: {"digest": "sha256:" + digit * 64}
           for key, digit in (("valkey-8.1", "1"), ("haproxy", "2"), ("exporter", "3"))}
DATA_KINDS = ("StatefulSet", "PersistentVolumeClaim", "Secret")


def with_images(config: dict, registry: str) -> dict:
    out = copy.deepcopy(config)
    out["cache-patterns:images"] = {"registry": registry, "pullSecrets": ["internal-registry"], **DIGESTS}
    return out


def live_uids(cluster, stack: str) -> dict[live.Ref, str]:
    return {ref: obj["metadata"]["uid"] for ref, obj in live.owned_objects(cluster, stack).items()}


def claims(cluster, namespace: str) -> dict[str, str]:
    items = json.loads(cluster.kubectl("get", "pvc", "-n", namespace, "-o", "json").stdout)["items"]
    return {c["metadata"]["name"]: c["metadata"]["uid"] for c in items}


def images(cluster, namespace: str) -> set[str]:
    out = set()
    for kind in ("statefulsets", "deployments"):
        for obj in json.loads(cluster.kubectl("get", kind, "-n", namespace, "-o", "json").stdout)["items"]:
            spec = obj["spec"]["template"]["spec"]
            out |= {c["image"] for c in spec.get("initContainers", []) + spec["containers"]}
            assert spec["imagePullSecrets"] == [{"name": "internal-registry"}], obj["metadata"]["name"]
    return out


def test_a_registry_move_is_an_in_place_rolling_update(workspace, empty_cluster):
    cluster = empty_cluster
    base = harness.load_stack_config("staging")
    namespace = base["cache-patterns:namespace"]
    st = deploy(workspace, "staging", with_images(base, "registry-a.internal.example/mirror"))
    with destroyed_after(st):
        st.up()
        before_uids, before_claims = live_uids(cluster, "staging"), claims(cluster, namespace)
        assert before_claims, "the staging cache has volume claims (persistence: rdb)"
        assert all(i.startswith("registry-a.internal.example/mirror/") and "@sha256:" in i
                   for i in images(cluster, namespace))
        st.set_config(with_images(st.config(), "registry-b.internal.example/mirror"))
        result = st.up(check=False)
        assert result.code == 0, f"up after the registry move failed:\n{engine._tail(result)}"
        assert result.replaced == set(), f"replaced:\n{result.describe()}"
        assert not result.ops("delete", "create"), result.describe()
        updated = {s.urn for s in result.ops("update")}
        assert any("StatefulSet" in u for u in updated) and any("Deployment" in u for u in updated), result.describe()
        after_uids = live_uids(cluster, "staging")
        data = {ref for ref in before_uids if ref.kind in DATA_KINDS}
        assert data and {r: after_uids.get(r) for r in data} == {r: before_uids[r] for r in data}
        assert claims(cluster, namespace) == before_claims
        moved = images(cluster, namespace)
        assert moved and all(i.startswith("registry-b.internal.example/mirror/") and "@sha256:" in i for i in moved)
        no_changes = st.preview_no_changes()
        assert no_changes.code == 0, f"changes right after the move:\n{no_changes.describe()}"
