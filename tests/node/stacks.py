"""A rendered stack on the real node: its images built and imported, the cluster CA and ClusterIssuer
its Certificates name (the node's cert-manager issues from it; e2e/certs.py), its objects applied as
tests/cluster/kube.py applies them, and every object deleted afterwards."""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from e2e import certs, pods
from e2e.node import NodeCluster
from tests.cluster import kube
from tests.conftest import stack_run
from tools import harness

READY_TIMEOUT = 300.0


@dataclass
class Deployed:
    stack: str
    objs: list[dict]
    ca: certs.CA | None

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objs if o["kind"] == kind]

    def workload(self, kind: str, name: str) -> dict:
        (found,) = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        return found

    def apps(self) -> list[dict]:
        """The app Deployments (component `app`): what reaches a cache through the contract."""
        return [o for o in self.of_kind("Deployment")
                if o["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "app"
                or any(e["name"] == "CACHE_CONTRACT_VERSION" for c in o["spec"]["template"]["spec"]["containers"]
                       for e in c.get("env", []))]


def workload_pods(cluster: NodeCluster, obj: dict) -> list[dict]:
    return pods.list_pods(cluster, obj["metadata"]["namespace"], obj["spec"]["selector"]["matchLabels"])


def not_ready_report(cluster: NodeCluster, objs: list[dict], why: dict[str, str]) -> str:
    """Per workload not Ready: its pods' container states and the namespace's warning events."""
    lines = []
    for o in kube.workloads(objs):
        if kube.ref(o) not in why:
            continue
        lines.append(f"{kube.ref(o)}: {why[kube.ref(o)]}")
        lines += [pods.why_not_ready(p) for p in workload_pods(cluster, o)]
        ev = cluster.kubectl("get", "events", "-n", o["metadata"]["namespace"], "--field-selector", "type=Warning",
                             "-o", "json", check=False)
        if ev.returncode == 0:
            lines += [f"  event {e['involvedObject']['name']}: {e['reason']} {e['message'][:300]}"
                      for e in json.loads(ev.stdout)["items"][-8:]]
    return "\n".join(lines)


def wait_all_ready(cluster: NodeCluster, objs: list[dict], timeout: float = READY_TIMEOUT) -> None:
    why = kube.wait_ready(cluster, objs, timeout=timeout)
    assert not why, "not Ready through their probes:\n" + not_ready_report(cluster, objs, why)


def stop_pods(cluster: NodeCluster, objs: list[dict]) -> None:
    """The end of a test, not a claim: the workloads go without their pods (orphaned), then the pods
    with a one-second grace period, so the teardown does not run every preStop handover."""
    namespaces = sorted({o["metadata"]["namespace"] for o in kube.workloads(objs)})
    for ns in namespaces:
        cluster.kubectl("delete", "deployment,statefulset,replicaset", "--all", "-n", ns, "--cascade=orphan",
                        "--wait=true", "--timeout=60s", check=False)
    for ns in namespaces:
        cluster.kubectl("delete", "pods", "--all", "-n", ns, "--grace-period=1", "--wait=false", check=False)
    for ns in namespaces:
        cluster.kubectl("wait", "--for=delete", "pods", "--all", "-n", ns, "--timeout=120s", check=False)


@contextlib.contextmanager
def deployed_all(cluster: NodeCluster, names: list[str], work: Path, variants: dict[str, harness.Run] | None = None,
                 before: list[dict] = ()) -> Iterator[dict[str, Deployed]]:
    """Several stacks at once (their namespaces must not overlap), deleted together at the end.
    `variants`: a stack's evaluation with other settings than its file's; `before`: objects applied
    once the stacks' namespaces exist and before anything else (the existing Secrets a stack names)."""
    runs = {name: kube.manifests((variants or {}).get(name) or stack_run(name)) for name in names}
    every = [o for objs in runs.values() for o in objs]
    cluster.import_for(every)
    ca, prereq = None, []
    if any(o["kind"] == "Certificate" for o in every):
        ca = certs.make_ca(work / "ca")
        prereq = certs.issuer_objects(ca)
        refused = [f"{kube.ref(r.obj)}: {r.error}" for r in kube.apply_all(cluster, prereq) if not r.ok]
        assert not refused, refused
    try:
        if before:
            first = [o for o in every if o["kind"] == "Namespace"] + list(before)
            refused = [f"{kube.ref(r.obj)}: {r.error}" for r in kube.apply_all(cluster, first) if not r.ok]
            assert not refused, refused
        for name, objs in runs.items():
            refused = [f"{kube.ref(r.obj)}: {r.error}" for r in kube.apply_all(cluster, objs) if not r.ok]
            assert not refused, f"stack {name}: the server refused:\n" + "\n".join(refused)
        yield {name: Deployed(name, objs, ca) for name, objs in runs.items()}
    finally:
        started = time.monotonic()
        stop_pods(cluster, every)
        code, out = kube.delete_all(cluster, every + list(before) + prereq[1:] + prereq[:1])
        assert code == 0, f"stacks {names}: delete did not finish in {time.monotonic() - started:.0f} s:\n{out}"


@contextlib.contextmanager
def deployed(cluster: NodeCluster, stack: str, work: Path, variant: harness.Run | None = None,
             before: list[dict] = ()) -> Iterator[Deployed]:
    with deployed_all(cluster, [stack], work, {stack: variant} if variant else None, before) as found:
        yield found[stack]
