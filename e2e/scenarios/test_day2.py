"""Day-2 changes through the real engine (issue 23): an unsafe engine change is refused by `pulumi preview`
and `pulumi up` before anything is touched. The program reads its own stack's last `deployed` output
through a StackReference to itself (core/deployed.py); this proves the self-reference works on the local
file backend, that the refusal fails the preview, and that a refused `up` changes no object."""
from __future__ import annotations

import copy
import json

from e2e import engine, live
from e2e.scenarios.conftest import destroyed_after
from e2e.scenarios.test_stacks import deploy

REDIS_STS = ("cache", "staging-sessions")


def fingerprint(cluster, stack: str) -> dict[str, tuple]:
    """Every object of the stack: (uid, resourceVersion, generation): any write to one changes it."""
    return {str(ref): (o["metadata"]["uid"], o["metadata"]["resourceVersion"], o["metadata"].get("generation"))
            for ref, o in live.owned_objects(cluster, stack).items()}


SECRET_SIG = "4dabf18193072939515e22adb298388d"   # the state's marker of a secret value (its ciphertext)


def plain(value):
    """A state value with each secret's ciphertext (new on every checkpoint write) as one marker."""
    if isinstance(value, dict):
        return "<secret>" if SECRET_SIG in value else {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def managed(st: engine.Stack) -> dict[str, dict]:
    """The state's resources the program manages (not the stack, providers' plugins or reads), by URN."""
    return {r["urn"]: plain(r.get("inputs") or {}) for r in st.resources()
            if r.get("custom") and not r.get("external") and not r["type"].startswith("pulumi:providers:")}


def statefulset(cluster) -> dict:
    ns, name = REDIS_STS
    return json.loads(cluster.kubectl("get", "statefulset", name, "-n", ns, "-o", "json").stdout)


def with_engine(st: engine.Stack, engine_name: str, version: str) -> None:
    cfg = copy.deepcopy(st.config())
    cfg["cache-patterns:caches"]["sessions"].update({"engine": engine_name, "version": version})
    st.set_config(cfg)


def test_an_unsafe_engine_change_is_refused_by_preview_and_up_changes_nothing(workspace, empty_cluster):
    cluster = empty_cluster
    st = deploy(workspace, "staging")
    with destroyed_after(st):
        with_engine(st, "redis", "7.2")
        st.up()
        assert st.outputs()["deployed"]["sessions"]["engine"] == "redis"
        objects, state, sts = fingerprint(cluster, "staging"), managed(st), statefulset(cluster)

        # Redis 7.2 -> Valkey 9.0 skips the stepping stone: refused, naming the path that works.
        with_engine(st, "valkey", "9.0")
        preview = st.preview(check=False)
        assert preview.code != 0, f"preview of an unsafe jump passed:\n{engine._tail(preview)}"
        assert "caches.sessions.engine" in preview.output
        assert "the path that works: redis 7.2 -> valkey 8.1 -> valkey 9.0" in preview.output, engine._tail(preview)
        assert "Traceback" not in preview.output
        up = st.up(check=False)
        assert up.code != 0 and "the path that works" in up.output, engine._tail(up)
        assert up.changes == [], f"a refused up took steps:\n{up.describe()}"
        after = statefulset(cluster)
        assert (after["metadata"]["resourceVersion"], after["metadata"]["generation"]) == \
               (sts["metadata"]["resourceVersion"], sts["metadata"]["generation"]), "the StatefulSet was written"
        assert fingerprint(cluster, "staging") == objects, "a refused up changed an object"
        assert managed(st) == state, "a refused up changed the state"
        assert st.outputs()["deployed"]["sessions"]["version"] == "7.2", "the refused run replaced the record"

        # The step that works: applied in place (the StatefulSet keeps its object; a new template). Only
        # auto-named ConfigMaps whose scripts changed are replaced (a new name: how pods see new files).
        with_engine(st, "valkey", "8.1")
        result = st.up()
        assert {urn for urn in result.replaced if ":ConfigMap::" not in urn} == set(), result.describe()
        stepped = statefulset(cluster)
        assert stepped["metadata"]["uid"] == sts["metadata"]["uid"]
        assert stepped["metadata"]["generation"] == sts["metadata"]["generation"] + 1
        assert st.preview_no_changes().code == 0, "changes right after the step"

        # And back is a downgrade (Valkey to Redis): refused against the new record.
        with_engine(st, "redis", "7.2")
        back = st.preview(check=False)
        assert back.code != 0 and "valkey 8.1 (deployed) -> redis 7.2 refused" in back.output, engine._tail(back)
        with_engine(st, "valkey", "8.1")


def test_the_program_never_fights_the_autoscaler(workspace, empty_cluster):
    """Read-replica autoscaling: the HPA is applied; a count the HPA sets (through the scale subresource,
    as its controller does) is left alone by `preview --expect-no-changes` and by a later `up`."""
    cluster = empty_cluster
    st = deploy(workspace, "staging")
    with destroyed_after(st):
        cfg = copy.deepcopy(st.config())
        cfg["cache-patterns:caches"]["sessions"]["autoscaling"] = {"maxReplicas": 4}
        st.set_config(cfg)
        st.up()
        ns, name = REDIS_STS
        hpa = json.loads(cluster.kubectl("get", "hpa", name, "-n", ns, "-o", "json").stdout)
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 5)
        assert hpa["spec"]["behavior"]["scaleDown"]["selectPolicy"] == "Disabled"
        assert statefulset(cluster)["spec"]["replicas"] == 3
        cluster.kubectl("scale", "statefulset", name, "-n", ns, "--replicas=4")
        assert statefulset(cluster)["spec"]["replicas"] == 4
        no_changes = st.preview_no_changes()
        assert no_changes.code == 0, f"the program would revert the autoscaler:\n{no_changes.describe()}"
        # A template change (cpu) is applied; the count stays the autoscaler's.
        cfg["cache-patterns:caches"]["sessions"]["cpu"] = "300m"
        st.set_config(cfg)
        result = st.up()
        assert any(s.urn.endswith("StatefulSet::sessions-redis") for s in result.ops("update")), result.describe()
        after = statefulset(cluster)
        assert after["spec"]["replicas"] == 4, "pulumi up reverted the autoscaler's count"
        assert after["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "300m"
        assert st.preview_no_changes().code == 0
