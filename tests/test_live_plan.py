"""The benchmarks and live tests measure what the stacks ship: `stack_plan` gives exactly the files and
environment the rendered stack puts in its ConfigMaps and pods, and a LocalStatefulSet built from it
changes only addresses, ports and file paths. (Pure: no process is started.)"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cache_patterns.patterns.statefulset import ha
from tests.conftest import stack_run
from testbed.plans import stack_plan
from testbed.statefulset import LocalStatefulSet
from testbed.tls import TlsMaterial

STACK, CACHE = "staging", "sessions"


def rendered(kind: str, name: str) -> dict:
    return stack_run(STACK).one(f"kubernetes:core/v1:{kind}" if kind == "ConfigMap" else f"kubernetes:apps/v1:{kind}",
                                name).manifest


@pytest.mark.parametrize("role", ["redis", "sentinel", "haproxy"])
def test_stack_plan_files_are_the_rendered_configmaps(role: str):
    assert stack_plan(STACK, CACHE).files(role) == rendered("ConfigMap", f"{CACHE}-{role}-conf")["data"]


@pytest.mark.parametrize("role, workload, kind", [("redis", "redis", "StatefulSet"),
                                                   ("sentinel", "sentinel", "StatefulSet"),
                                                   ("haproxy", "endpoint", "Deployment")])
def test_stack_plan_env_is_the_rendered_pods(role: str, workload: str, kind: str):
    pod = rendered(kind, f"{CACHE}-{workload}")["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["command"] == stack_plan(STACK, CACHE).command(role))
    assert container["env"] == stack_plan(STACK, CACHE).env(role)


def test_stack_plan_variants_differ_where_they_say():
    shipped, variant = stack_plan(STACK, CACHE), stack_plan(STACK, CACHE, {"tls": None, "minReplicasToWrite": 0})
    assert shipped.server.tls is not None and shipped.server.min_replicas_to_write == 1
    assert variant.server.tls is None and variant.server.min_replicas_to_write == 0
    assert dataclasses.replace(variant.server, tls=shipped.server.tls, min_replicas_to_write=1) == shipped.server


# What a local cluster may change of each setting: where things are, never how they behave.
LOCAL_FIELDS = {
    "redis": {"port", "data_dir", "tls", "bind"},
    "sentinel": {"port", "initial_primary", "work_dir", "tls", "bind"},
    "haproxy": {"topology", "tls_ca_file", "bind", "write_port", "read_port", "health_port", "conf_dir", "state_file"},
    "scripts": {"topology", "password_file", "tls_ca_file", "acl_password_dir", "conf_dir", "run_dir"},
}


def changed(a: object, b: object) -> set[str]:
    return {f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)}  # type: ignore[arg-type]


def test_a_local_cluster_of_the_stack_plan_changes_only_addresses_and_paths(tmp_path: Path):
    plan = stack_plan(STACK, CACHE)
    fake = tmp_path / "tls"
    fake.mkdir()
    for name in ("ca.crt", "tls.crt", "tls.key"):
        (fake / name).write_text("not used: nothing starts here\n")
    root = tmp_path / "cluster"
    root.mkdir()
    cluster = LocalStatefulSet(root, plan=plan, tls=TlsMaterial(ca=fake / "ca.crt", cert=fake / "tls.crt", key=fake / "tls.key"))
    for name, m in cluster.members.items():
        if name.endswith("-tls-reload"):
            continue   # a sidecar in the same pod: its files are the pod's
        role = name.split("-")[0]
        local = cluster.localized(role, name)  # type: ignore[arg-type]
        original = {"redis": plan.server, "sentinel": plan.sentinel, "haproxy": plan.endpoint}[role]
        assert changed(local, original) <= LOCAL_FIELDS[role], name
        # The files the member runs: the localized settings rendered by the same functions, and the
        # scripts byte for byte as the rendered ConfigMap holds them.
        shipped = plan.files(role)  # type: ignore[arg-type]
        on_disk = {f.name: f.read_text() for f in m.conf.iterdir()}
        assert set(on_disk) == set(shipped), name
        for fname, text in on_disk.items():
            if fname.endswith((".sh", ".lua")):
                assert text == shipped[fname], f"{name}: {fname}"
    assert changed(cluster.scripts, plan.scripts) <= LOCAL_FIELDS["scripts"]
    # What behaves: the staging values, not the live tests' short ones.
    assert (plan.sentinel.down_after_ms, plan.endpoint.check_interval_ms, plan.server.persistence,
            plan.server.min_replicas_to_write, plan.scripts.prestop_timeout_s) == (5000, 1000, "rdb", 1, 30)
    assert ha.QUORUM_LUA in {f.name for f in cluster.members["haproxy"].conf.iterdir()}
