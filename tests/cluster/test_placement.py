"""Placement with the real kube-scheduler: a kwok node pool of nine nodes in three zones (six tainted
and labelled for caches, three labelled for apps) beside the cluster's own node, the production example
(docs/production-cluster.yaml) applied, and every pod where its rules say: cache pods only on the cache
pool and never on a tainted node they do not tolerate, the Redis pods (a primary and its replicas) on
three nodes in three zones, the Sentinels and HAProxy spread over zones as the defaults promise, the
app on its own pool. The same stack without its toleration stays Pending with the scheduler's reason."""
from __future__ import annotations

import copy
import json
import time
from collections import Counter

import pytest
import yaml

from cache_patterns.stack_reader import read_stack_file
from tools import harness

from . import kube

pytestmark = pytest.mark.cluster

EXAMPLE = harness.ROOT / "docs" / "production-cluster.yaml"
ZONES = ("zone-a", "zone-b", "zone-c")
TAINT = {"key": "dedicated", "value": "cache", "effect": "NoSchedule"}
# Two cache nodes and one app node per zone.
POOL = {f"place-cache-{z[-1]}{i}": (z, "cache") for z in ZONES for i in (0, 1)} | \
       {f"place-apps-{z[-1]}": (z, "apps") for z in ZONES}
PRIORITY_CLASS = "cache-critical"
SCHEDULE_TIMEOUT = 90.0


def node_manifest(name: str, zone: str, pool: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "type": "kwok", "node-pool": pool,
                                    "topology.kubernetes.io/zone": zone}},
            "spec": {"taints": [TAINT]} if pool == "cache" else {},
            "status": {"allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                       "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"}}}


@pytest.fixture(scope="module")
def node_pool(kube_cluster):
    """The pool and the PriorityClass the example names, removed afterwards (the cluster's own node,
    and any other, stay as they were)."""
    docs = [node_manifest(n, z, p) for n, (z, p) in POOL.items()]
    docs.append({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                 "metadata": {"name": PRIORITY_CLASS}, "value": 1_000_000,
                 "description": "Caches: not the first pods evicted (docs/production.md)."})
    for doc in docs:
        kube_cluster.kubectl("apply", "--server-side", "--field-manager=cache-patterns-e2e", "-f", "-",
                             input=json.dumps(doc))
    kube_cluster.kubectl("wait", "--for=condition=Ready", *[f"node/{n}" for n in POOL], "--timeout=60s")
    try:
        yield kube_cluster
    finally:
        kube_cluster.kubectl("delete", "--ignore-not-found", "node", *POOL, check=False)
        kube_cluster.kubectl("delete", "--ignore-not-found", "priorityclass", PRIORITY_CLASS, check=False)


def objects(config: dict, stack: str) -> list[dict]:
    return kube.manifests(harness.run(stack, config))


def pods_of(cluster, namespaces: list[str]) -> list[dict]:
    return [p for ns in namespaces for p in kube.get_json(cluster, "pods", "-n", ns)["items"]]


def tolerated(taint: dict, tolerations: list[dict]) -> bool:
    """Whether a toleration matches the taint (the scheduler's rule: key, operator, value, effect)."""
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint["key"]):
            return True
        if t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def component(pod: dict) -> str:
    return pod["metadata"]["labels"].get("app.kubernetes.io/component", "")


def test_every_pod_lands_where_its_rules_say(node_pool):
    cluster = node_pool
    config = read_stack_file(EXAMPLE)
    objs = objects(config, "production-cluster")
    namespaces = sorted({o["metadata"]["namespace"] for o in objs if o["metadata"].get("namespace")})
    try:
        applied = kube.apply_all(cluster, objs)
        assert all(r.ok for r in applied), [f"{kube.ref(r.obj)}: {r.error}" for r in applied if not r.ok]
        not_ready = kube.wait_ready(cluster, objs)
        assert not not_ready, not_ready
        nodes = {n["metadata"]["name"]: n for n in kube.get_json(cluster, "nodes")["items"]}
        pods = pods_of(cluster, namespaces)
        assert len(pods) == 3 + 3 + 2 + 2, [p["metadata"]["name"] for p in pods]
        zone_of, where = {}, {}
        for pod in pods:
            node = nodes[pod["spec"]["nodeName"]]
            labels, taints = node["metadata"]["labels"], node["spec"].get("taints") or []
            untolerated = [t for t in taints if not tolerated(t, pod["spec"].get("tolerations") or [])]
            assert not untolerated, (pod["metadata"]["name"], node["metadata"]["name"], untolerated)
            pool = "apps" if component(pod) == "app" else "cache"
            assert labels.get("node-pool") == pool, (pod["metadata"]["name"], node["metadata"]["name"])
            zone_of[pod["metadata"]["name"]] = labels["topology.kubernetes.io/zone"]
            where[pod["metadata"]["name"]] = node["metadata"]["name"]
            assert pod["spec"].get("priorityClassName") == (None if pool == "apps" else PRIORITY_CLASS)
        by = {c: [p["metadata"]["name"] for p in pods if component(p) == c] for c in ("redis", "sentinel", "endpoint")}
        # The primary and its replicas: required anti-affinity (one node each) and a DoNotSchedule zone spread.
        assert len({where[p] for p in by["redis"]}) == 3 and len({zone_of[p] for p in by["redis"]}) == 3, by
        # The defaults (preferred): Sentinels and HAProxy spread over the zones, at most one apart.
        for c in ("sentinel", "endpoint"):
            counts = Counter(zone_of[p] for p in by[c])
            assert max(counts.values()) - min(counts.get(z, 0) for z in ZONES) <= 1, (c, counts)
    finally:
        code, out = kube.delete_all(cluster, objs)
    assert code == 0, out


def unschedulable(cluster, namespace: str) -> list[tuple[str, str]]:
    """(pod, the scheduler's message) for each pod whose PodScheduled condition says Unschedulable."""
    out = []
    for pod in kube.get_json(cluster, "pods", "-n", namespace)["items"]:
        for c in pod.get("status", {}).get("conditions") or []:
            if c["type"] == "PodScheduled" and c["status"] == "False" and c.get("reason") == "Unschedulable":
                out.append((pod["metadata"]["name"], c.get("message", "")))
    return out


def test_a_missing_toleration_leaves_the_pods_pending_with_the_scheduler_reason(node_pool):
    cluster = node_pool
    config = copy.deepcopy(read_stack_file(EXAMPLE))
    del config["cache-patterns:placement"]["tolerations"]
    config["cache-patterns:namespace"] = "cache-untolerated"
    config["cache-patterns:apps"] = []
    objs = [o for o in objects(config, "untolerated") if o["kind"] != "Namespace" or
            o["metadata"]["name"] == "cache-untolerated"]
    try:
        applied = kube.apply_all(cluster, objs)
        assert all(r.ok for r in applied), [f"{kube.ref(r.obj)}: {r.error}" for r in applied if not r.ok]
        deadline, found, named = time.monotonic() + SCHEDULE_TIMEOUT, [], set()
        # A Redis pod is first unschedulable for its volume claim (bound a moment later), then for the taint.
        while time.monotonic() < deadline and (len(found) < 8 or not all("taint" in m for _, m in found)):
            found = unschedulable(cluster, "cache-untolerated")
            # What `kubectl describe pod` shows (a Redis pod's first attempts wait for its volume claim).
            named = {e["involvedObject"]["name"] for e in kube.get_json(
                cluster, "events", "-n", "cache-untolerated", "--field-selector", "reason=FailedScheduling")["items"]
                if "untolerated taint" in e["message"]}
            time.sleep(1)
        pods = kube.get_json(cluster, "pods", "-n", "cache-untolerated")["items"]
        assert len(pods) == 8 and all(p["status"].get("phase") == "Pending" and not p["spec"].get("nodeName")
                                      for p in pods), [(p["metadata"]["name"], p["status"].get("phase")) for p in pods]
        assert len(found) == 8, found
        for name, message in found:
            # Kubernetes 1.34: "0/10 nodes are available: 4 node(s) didn't match Pod's node affinity/selector,
            # 6 node(s) had untolerated taint(s). ..." (the pool's six nodes, and the four others).
            assert "6 node(s) had untolerated taint" in message, (name, message)
            assert "4 node(s) didn't match Pod's node affinity/selector" in message, (name, message)
        # The events say it too, but not for every pod: the scheduler's event recorder folds a pod's repeated
        # FailedScheduling into its first (a Redis pod's first attempts wait for its volume claim), while the
        # PodScheduled condition always holds the latest reason (docs/production.md: how to read it).
        assert named and named <= {name for name, _ in found}, named
        print(yaml.safe_dump({"example": found[0][1]}))
    finally:
        code, out = kube.delete_all(cluster, objs)
    assert code == 0, out
