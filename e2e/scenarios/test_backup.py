"""Backups and a restore by config, through the real engine (docs/backup.md): the staging stack, which
turns scheduled backups on, comes up with its CronJob, egress policy and backup user's Secret key as
rendered; then `restore: {from: latest}` on its cache previews and applies with no StatefulSet, claim,
Secret or password replaced or deleted (the engine replaces only what the snapshots predict: the
auto-named Redis ConfigMap), the Redis pods' template gains the restore step, and the Sentinels depend
on the Redis StatefulSet in the engine's own state; and a cache created with `restore` from the start
comes up as rendered.

The local control plane runs no pods: the restore itself (the init container reading the bucket, the
data loaded, the replicas syncing) is proven by the live tier (tests/live/test_backup_live.py), with the
scripts the pods run.
"""
from __future__ import annotations

import copy
import json

from e2e import engine, live
from e2e.scenarios.conftest import destroyed_after
from e2e.scenarios.test_changes import predicted_replacements
from e2e.scenarios.test_stacks import compare_with_render, deploy

NS = "cache"
STS, SENTINEL_STS = "staging-sessions", "staging-sessions-sentinel"
RESTORE = {"from": "latest"}


def _get(cluster, kind: str, name: str) -> dict:
    return json.loads(cluster.kubectl("get", kind, name, "-n", NS, "-o", "json").stdout)


def data_bearing_uids(cluster) -> dict[str, str]:
    """The objects a replacement would cost data or passwords: the Redis StatefulSet, its claims, the
    Secrets of the cache (the generated passwords live there)."""
    out = {f"statefulset/{STS}": _get(cluster, "statefulset", STS)["metadata"]["uid"]}
    for kind in ("pvc", "secret"):
        items = json.loads(cluster.kubectl("get", kind, "-n", NS, "-o", "json").stdout)["items"]
        out |= {f"{kind}/{i['metadata']['name']}": i["metadata"]["uid"] for i in items
                if kind == "secret" or i["metadata"]["name"].startswith(f"data-{STS}-")}
    return out


def backup_objects(cluster) -> dict[str, dict]:
    """The stack's backup objects in the API server, by kind."""
    owned = live.owned_objects(cluster, "staging")
    found = {ref.kind: obj for ref, obj in owned.items()
             if (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "backup"}
    return found


def sentinel_depends_on_redis(st: engine.Stack) -> bool:
    by_name = {r["urn"].rsplit("::", 1)[-1]: r for r in st.resources() if r["type"] == "kubernetes:apps/v1:StatefulSet"}
    return by_name["sessions-redis"]["urn"] in (by_name["sessions-sentinel"].get("dependencies") or [])


def init_names(cluster) -> list[str]:
    return [c["name"] for c in _get(cluster, "statefulset", STS)["spec"]["template"]["spec"].get("initContainers", [])]


def test_staging_with_backups_then_a_restore_by_config(workspace, empty_cluster):
    cluster = empty_cluster
    st = deploy(workspace, "staging")
    assert st.config()["cache-patterns:caches"]["sessions"].get("backup"), "the staging stack turns backups on"
    with destroyed_after(st):
        up = st.up(check=False)
        assert up.code == 0, f"pulumi up of staging with backups failed:\n{engine._tail(up)}"
        found = backup_objects(cluster)
        assert {"CronJob", "ConfigMap", "NetworkPolicy"} <= set(found), sorted(found)
        cron = found["CronJob"]
        assert cron["spec"]["schedule"] == "0 */6 * * *" and cron["spec"]["concurrencyPolicy"] == "Forbid"
        assert found["NetworkPolicy"]["spec"]["policyTypes"] == ["Ingress", "Egress"]
        auth = [o for ref, o in live.owned_objects(cluster, "staging").items()
                if ref.kind == "Secret" and "user-backup" in (o.get("data") or {})]
        assert len(auth) == 1, "no Secret holds the backup user's password"
        assert compare_with_render(cluster, st) == []
        assert not sentinel_depends_on_redis(st), "without restore the Sentinels need not wait for Redis"
        assert "restore" not in init_names(cluster)
        before = data_bearing_uids(cluster)

        # The restore by config, on the running stack: a preview first, then up. The StatefulSets are
        # updated in place; what the engine replaces is what the upgrade-safety snapshots predict (the
        # auto-named Redis ConfigMap, which gains restore.sh), and nothing that holds data or passwords.
        old_cfg = copy.deepcopy(st.config())
        cfg = copy.deepcopy(old_cfg)
        cfg["cache-patterns:caches"]["sessions"]["restore"] = RESTORE
        predicted = predicted_replacements(st.name, old_cfg, cfg)
        assert predicted and all(":ConfigMap::" in urn for urn in predicted), predicted
        st.set_config(cfg)
        preview = st.preview(check=False)
        assert preview.code == 0, f"preview with restore failed:\n{engine._tail(preview)}"
        assert {live.mock_urn(u) for u in preview.replaced} == predicted, preview.describe()
        assert "sessions-redis" in [s.name for s in preview.ops("update")], preview.describe()
        applied = st.up(check=False)
        assert applied.code == 0, f"up with restore failed:\n{engine._tail(applied)}"
        assert {live.mock_urn(u) for u in applied.replaced} == predicted, applied.describe()
        assert applied.ops("delete") == [], applied.describe()
        assert data_bearing_uids(cluster) == before, "a StatefulSet, claim or Secret is a new object"
        assert init_names(cluster)[:2] == ["restic-tools", "restore"], init_names(cluster)
        assert sentinel_depends_on_redis(st), "the Sentinels must be created after the restored primary"
        assert compare_with_render(cluster, st) == []
        again = st.preview_no_changes()
        assert again.code == 0, f"changes right after the restore by config:\n{again.describe()}"

    # A cache created with `restore` from the start (the stack re-created from its backups).
    assert live.owned_objects(cluster, "staging") == {}
    assert st.config()["cache-patterns:caches"]["sessions"]["restore"] == RESTORE
    with destroyed_after(st):
        up = st.up(check=False)
        assert up.code == 0, f"pulumi up of a cache created from a backup failed:\n{engine._tail(up)}"
        assert up.ops("create") and compare_with_render(cluster, st) == []
        assert sentinel_depends_on_redis(st) and init_names(cluster)[:2] == ["restic-tools", "restore"]
        again = st.preview_no_changes()
        assert again.code == 0, f"changes right after up:\n{again.describe()}"
