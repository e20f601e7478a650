"""Changes by config on a live stack, through the real engine: a pattern switch keeps every app's
Deployment (same object, updated in place) and replaces exactly what the upgrade-safety snapshots
predict; a bigger StatefulSet volume grows the claims with nothing deleted."""
from __future__ import annotations

import copy
import json

import pytest

from e2e import engine, live
from e2e.scenarios.conftest import destroyed_after
from e2e.scenarios.test_stacks import deploy, offline_operator
from tools import harness, snapshot

APP_DEPLOYMENT = "cache-patterns:index:AppDeployment$kubernetes:apps/v1:Deployment"


def uids(cluster, kind: str, refs: list[live.Ref]) -> dict[live.Ref, str]:
    out = {}
    for ref in refs:
        proc = cluster.kubectl("get", kind, ref.name, "-n", ref.namespace, "-o", "json")
        out[ref] = json.loads(proc.stdout)["metadata"]["uid"]
    return out


def app_deployments(st: engine.Stack) -> dict[str, live.Ref]:
    return {urn: ref for urn, ref in live.live_names(st.resources()).items() if APP_DEPLOYMENT in urn}


def predicted_replacements(stack: str, before: dict, after: dict) -> set[str]:
    """What the snapshots of the two configs say the engine replaces: resources in both whose
    replace-forcing fields differ."""
    old, new = snapshot.snapshot(harness.run(stack, before)), snapshot.snapshot(harness.run(stack, after))
    return {urn for urn in set(old) & set(new)
            if {k: v for k, v in old[urn].items() if k != "options"} != {k: v for k, v in new[urn].items() if k != "options"}}


def switch(cluster, st: engine.Stack, cache: str, settings: dict, **extra) -> engine.Result:
    before = st.config()
    after = copy.deepcopy(before)
    after["cache-patterns:caches"][cache] = settings
    after.update(extra)
    after = offline_operator(after)
    apps = app_deployments(st)
    uid_before = uids(cluster, "deployment", list(apps.values()))
    st.set_config(after)
    result = st.up(check=False)
    assert result.code == 0, f"up after the switch failed:\n{engine._tail(result)}"
    # The apps' Deployments: same URN, same live object, never replaced.
    assert app_deployments(st) == apps
    replaced_apps = {urn for urn in apps if urn in result.replaced}
    assert replaced_apps == set(), f"app Deployments replaced: {sorted(replaced_apps)}"
    assert uids(cluster, "deployment", list(apps.values())) == uid_before, "an app's Deployment is a new object"
    assert {s.urn for s in result.ops("update")} >= set(apps), "the apps' Deployments were not updated in place"
    # What the engine replaced is what the snapshots predicted (no more, no less).
    predicted = predicted_replacements(st.name, before, after)
    replaced = {live.mock_urn(urn) for urn in result.replaced}   # the snapshots' URNs are the mocks'
    assert replaced == predicted, (
        f"replaced by the engine, not predicted: {sorted(replaced - predicted)}\n"
        f"predicted, not replaced: {sorted(predicted - replaced)}")
    no_changes = st.preview_no_changes()
    assert no_changes.code == 0, f"changes right after the switch:\n{no_changes.describe()}"
    return result


def test_dev_switches_sidecar_statefulset_sidecar(workspace, empty_cluster):
    cluster = empty_cluster
    st = deploy(workspace, "dev")
    with destroyed_after(st):
        st.up()
        sidecar = copy.deepcopy(st.config()["cache-patterns:caches"]["fragments"])
        statefulset = {"pattern": "statefulset", "memory": "256Mi", "maxmemoryPolicy": "allkeys-lfu",
                       "defaultTtl": "10m"}
        switch(cluster, st, "fragments", statefulset)
        assert any(r.kind == "StatefulSet" for r in live.owned_objects(cluster, "dev"))
        switch(cluster, st, "fragments", sidecar)
        assert not any(r.kind == "StatefulSet" for r in live.owned_objects(cluster, "dev"))


def test_staging_switches_statefulset_to_operator(workspace, empty_cluster):
    cluster = empty_cluster
    st = deploy(workspace, "staging")
    with destroyed_after(st):
        st.up()
        operator_cache = {"pattern": "operator", "kind": "ot-replication", "replicas": 2, "sentinels": 3,
                          "memory": "1Gi", "cpu": "250m", "maxmemoryPolicy": "noeviction", "storage": "5Gi",
                          "defaultTtl": "12h", "tls": {"issuer": "internal-ca"}, "exporter": True}
        switch(cluster, st, "sessions", operator_cache,
               **{"cache-patterns:operators": {"ot-container-kit": {"install": True, "namespace": "redis-operator",
                                                                    "version": "0.26.0"}}})
        kinds = {r.kind for r in live.owned_objects(cluster, "staging")}
        assert "RedisReplication" in kinds and "StatefulSet" not in kinds


def test_staging_grows_its_volumes_without_deleting_anything(workspace, empty_cluster):
    cluster = empty_cluster
    # The StorageClass must allow expansion (what the README asks of a cluster for this).
    cluster.kubectl("patch", "storageclass", _default_storage_class(cluster), "--type=merge",
                    "-p", '{"allowVolumeExpansion": true}')
    st = deploy(workspace, "staging")
    with destroyed_after(st):
        st.up()
        claims = _claims(cluster)
        assert len(claims) == 3 and {c["spec"]["resources"]["requests"]["storage"] for c in claims.values()} == {"5Gi"}
        sts_uid = _uid(cluster, "statefulset", "cache", "staging-sessions")
        cfg = st.config()
        cfg["cache-patterns:caches"]["sessions"]["storage"] = "8Gi"
        st.set_config(cfg)
        result = st.up(check=False)
        assert result.code == 0, f"up with a bigger volume failed:\n{engine._tail(result)}"
        assert result.replaced == set() and result.ops("delete") == [], result.describe()
        grown = _claims(cluster)
        assert {name: c["metadata"]["uid"] for name, c in grown.items()} == \
               {name: c["metadata"]["uid"] for name, c in claims.items()}, "a claim was deleted"
        assert {c["spec"]["resources"]["requests"]["storage"] for c in grown.values()} == {"8Gi"}
        assert _uid(cluster, "statefulset", "cache", "staging-sessions") == sts_uid, "the StatefulSet was replaced"
        no_changes = st.preview_no_changes()
        assert no_changes.code == 0, f"changes right after growing:\n{no_changes.describe()}"


def _default_storage_class(cluster) -> str:
    items = json.loads(cluster.kubectl("get", "storageclass", "-o", "json").stdout)["items"]
    defaults = [i["metadata"]["name"] for i in items
                if i["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    if len(defaults) != 1:
        pytest.fail(f"the cluster has {len(defaults)} default StorageClasses: {defaults}")
    return defaults[0]


def _claims(cluster) -> dict[str, dict]:
    items = json.loads(cluster.kubectl("get", "pvc", "-n", "cache", "-o", "json").stdout)["items"]
    return {i["metadata"]["name"]: i for i in items if i["metadata"]["name"].startswith("data-staging-sessions-")}


def _uid(cluster, kind: str, namespace: str, name: str) -> str:
    return json.loads(cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)["metadata"]["uid"]
