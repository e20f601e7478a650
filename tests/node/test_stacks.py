"""The rendered stacks on a real node: every pod starts from its local image and turns Ready through
its own probes, every app reaches its cache through the contract's variables (the test app's SET and
GET, e2e/testapp/app.py), and a deleted app pod is replaced by one that does too.

`platform` runs as far as its operator can: the OT redis-operator's module is refused by the Go proxy
(docs/e2e.md), so its RedisReplication is stored and nothing creates the cache's pods; its apps start
and turn Ready, and their cache is not checked.
"""
from __future__ import annotations

import pytest

from e2e import pods
from tests.cluster import kube

from . import stacks

pytestmark = [pytest.mark.cluster, pytest.mark.node]

STACKS = ["local", "dev", "platform"]


def operator_namespaces(d: stacks.Deployed) -> set[str]:
    """Namespaces of the caches an operator would run (their custom resources)."""
    return {o["metadata"]["namespace"] for o in d.objs if o["apiVersion"].startswith("redis.redis.opstreelabs.in/")
            or o["apiVersion"].startswith("databases.spotahome.com/")}


def app_reaches_cache(cluster, app: dict) -> list[str]:
    """Every pod of the app: the SET/GET round trip through the contract; returns the failures."""
    failures = []
    for pod in stacks.workload_pods(cluster, app):
        result = pods.app_check(cluster, app["metadata"]["namespace"], pod["metadata"]["name"],
                                container=app["spec"]["template"]["spec"]["containers"][0]["name"])
        if not result.get("ok"):
            failures.append(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}: {result}")
    return failures


def cache_namespace(app: dict) -> str | None:
    """The namespace of the cache the app's contract names (CACHE_HOST <svc>.<namespace>.svc...)."""
    env = {e["name"]: e.get("value") for c in app["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}
    parts = (env.get("CACHE_HOST") or "").split(".")
    return parts[1] if len(parts) > 2 and parts[2] == "svc" else None


@pytest.fixture(scope="module")
def deployed(real_node, tmp_path_factory):
    """The three stacks at once (no namespace is shared), each with the workloads not Ready after
    the wait and why."""
    with stacks.deployed_all(real_node, STACKS, tmp_path_factory.mktemp("stacks")) as found:
        every = [o for d in found.values() for o in d.objs]
        why = kube.wait_ready(real_node, every, timeout=stacks.READY_TIMEOUT)
        yield found, why


@pytest.mark.parametrize("stack", STACKS)
def test_stack_runs_for_real(real_node, deployed, stack):
    found, why = deployed
    d = found[stack]
    mine = {k: v for k, v in why.items() if k in {kube.ref(o) for o in d.objs}}
    assert not mine, "not Ready through their probes:\n" + stacks.not_ready_report(real_node, d.objs, mine)
    operated = operator_namespaces(d)
    apps = [a for a in d.apps() if cache_namespace(a) not in operated]
    assert apps or operated, f"stack {stack}: no app reaches a cache"
    failures = [f for a in apps for f in app_reaches_cache(real_node, a)]
    assert not failures, "apps that could not SET/GET through the contract:\n" + "\n".join(failures)

    # A deleted app pod is replaced; the new one turns Ready and reaches its cache too (a sidecar
    # cache starts empty in it, a shared cache is reached again through its Service).
    app = (apps or d.apps())[0]
    ns, labels = app["metadata"]["namespace"], app["spec"]["selector"]["matchLabels"]
    before = {p["metadata"]["name"] for p in pods.list_pods(real_node, ns, labels)}
    victim = sorted(before)[0]
    real_node.kubectl("delete", "pod", "-n", ns, victim, "--wait=true", "--timeout=120s")
    replaced = pods.wait_ready(real_node, ns, labels, count=app["spec"].get("replicas", 1))
    assert victim not in {p["metadata"]["name"] for p in replaced}
    if apps:
        failures = app_reaches_cache(real_node, app)
        assert not failures, "after the pod was replaced:\n" + "\n".join(failures)
