"""Every committed stack is wired: each Service, NetworkPolicy and PodDisruptionBudget selects pods the
render creates, each port it names is a port those pods expose, and each Service port is admitted by
the NetworkPolicies of the pods behind it. A selector or port typo passes schema validation and
breaks traffic only on a cluster; here it fails the suite.

Pods the render does not show (an operator's, whose selectors use matchExpressions) are left out."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import stack_run
from tools import harness

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def pod_template(obj: dict) -> dict | None:
    """A workload's pod template; a CronJob's is in its jobTemplate (the pods of each Job it starts)."""
    if obj["kind"] in WORKLOADS:
        return obj["spec"]["template"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return None


@dataclass(frozen=True)
class Pods:
    """One workload's pod template: where it runs, its labels and the ports its containers expose."""

    workload: str
    namespace: str
    labels: dict
    ports: dict  # port name -> number, plus str(number) -> number for unnamed ones

    def port(self, ref: object) -> int | None:
        """The number a Service targetPort or NetworkPolicy port (a number or a name) means here."""
        if isinstance(ref, int):
            return ref if ref in self.ports.values() else None
        return self.ports.get(str(ref))


def pods_of(objs: list[dict]) -> list[Pods]:
    out = []
    for obj in objs:
        tpl = pod_template(obj)
        if tpl is None:
            continue
        ports: dict = {}
        for c in tpl["spec"].get("containers", []) + tpl["spec"].get("initContainers", []):
            for p in c.get("ports", []):
                ports[p.get("name") or str(p["containerPort"])] = p["containerPort"]
        out.append(Pods(f"{obj['kind']} {obj['metadata']['name']}", obj["metadata"]["namespace"],
                        tpl["metadata"].get("labels", {}), ports))
    return out


def selected(pods: list[Pods], namespace: str, match: dict) -> list[Pods]:
    return [p for p in pods if p.namespace == namespace and all(p.labels.get(k) == v for k, v in match.items())]


def plain_selector(selector: dict | None) -> dict | None:
    """matchLabels of a label selector, or None where it uses expressions (an operator's pods)."""
    if not selector or selector.get("matchExpressions"):
        return None
    return selector.get("matchLabels", {})


def wiring_problems(objs: list[dict]) -> list[str]:
    pods = pods_of(objs)
    problems: list[str] = []
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]

    def admitted(target: Pods, port: int) -> bool:
        applying = [np for np in policies if np["metadata"]["namespace"] == target.namespace
                    and plain_selector(np["spec"]["podSelector"]) is not None
                    and target in selected(pods, target.namespace, plain_selector(np["spec"]["podSelector"]))]
        if not applying:
            return True  # no policy selects these pods: everything is admitted
        return any(not rule.get("ports") or any(target.port(p["port"]) == port for p in rule["ports"])
                   for np in applying for rule in np["spec"].get("ingress", []))

    for obj in objs:
        kind, meta = obj["kind"], obj["metadata"]
        where = f"{kind} {meta['namespace']}/{meta['name']}" if meta.get("namespace") else f"{kind} {meta['name']}"
        if kind == "Service" and obj["spec"].get("selector"):
            targets = selected(pods, meta["namespace"], obj["spec"]["selector"])
            if not targets:
                problems.append(f"{where}: selector {obj['spec']['selector']} matches no pods")
            for target in targets:
                for sp in obj["spec"].get("ports", []):
                    number = target.port(sp.get("targetPort", sp["port"]))
                    if number is None:
                        problems.append(f"{where}: port {sp['port']} targets {sp.get('targetPort', sp['port'])!r}, "
                                        f"which {target.workload} does not expose")
                    elif not admitted(target, number):
                        problems.append(f"{where}: port {sp['port']} reaches {target.workload}:{number}, which no "
                                        f"NetworkPolicy of those pods admits")
        elif kind in ("NetworkPolicy", "PodDisruptionBudget"):
            match = plain_selector(obj["spec"]["podSelector"] if kind == "NetworkPolicy" else obj["spec"]["selector"])
            if match is None:
                continue
            targets = selected(pods, meta["namespace"], match)
            if not targets:
                problems.append(f"{where}: selector {match} matches no pods")
            if kind == "NetworkPolicy":
                for target in targets:
                    for rule in obj["spec"].get("ingress", []):
                        for p in rule.get("ports", []):
                            if target.port(p["port"]) is None:
                                problems.append(f"{where}: admits port {p['port']!r}, which {target.workload} "
                                                f"does not expose")
    return problems


@pytest.mark.parametrize("stack", harness.list_stacks())
def test_services_policies_and_budgets_select_pods_and_ports_that_exist(stack):
    objs = [harness.ints(m) for m in stack_run(stack).manifests()]
    assert pods_of(objs), "a stack without pods"
    problems = wiring_problems(objs)
    assert not problems, "\n".join(problems)


def test_the_wiring_check_sees_a_broken_selector_a_wrong_port_and_a_closed_policy():
    objs = [harness.ints(m) for m in stack_run("staging").manifests()]
    assert wiring_problems(objs) == []

    def edited(kind: str, name_part: str, change) -> list[str]:
        copy = [harness.ints(o) for o in objs]
        (obj,) = [o for o in copy if o["kind"] == kind and o["metadata"]["name"].startswith(name_part)
                  and o["metadata"].get("namespace") == "cache"]
        change(obj)
        return wiring_problems(copy)

    def selector_typo(svc):
        svc["spec"]["selector"]["app.kubernetes.io/component"] = "endpiont"

    def wrong_target(svc):
        svc["spec"]["ports"][0]["targetPort"] = "health0"

    def sentinel_port_closed(np):
        np["spec"]["ingress"][0]["ports"] = [{"port": 6379, "protocol": "TCP"}]

    assert any("matches no pods" in p for p in edited("Service", "staging-sessions-read", selector_typo))
    assert any("does not expose" in p for p in edited("Service", "staging-sessions-read", wrong_target))
    found = edited("NetworkPolicy", "sessions-sentinel-ingress", sentinel_port_closed)
    assert any("admits port 6379, which StatefulSet" in p for p in found)
    assert any("26379" in p and "no NetworkPolicy of those pods admits" in p for p in found)


def test_the_wiring_check_sees_the_pods_a_cronjob_starts():
    """Staging's backup CronJob: its egress NetworkPolicy selects the pods of the Jobs it starts (they
    are in the CronJob's jobTemplate); a label typo there leaves the policy selecting nothing."""
    objs = [harness.ints(m) for m in stack_run("staging").manifests()]
    (cron,) = [o for o in objs if o["kind"] == "CronJob"]
    backup_pods = [p for p in pods_of(objs) if p.workload == f"CronJob {cron['metadata']['name']}"]
    assert len(backup_pods) == 1 and backup_pods[0].namespace == "cache"
    (egress,) = [o for o in objs if o["kind"] == "NetworkPolicy" and "backup-egress" in o["metadata"]["name"]]
    assert backup_pods == selected(pods_of(objs), "cache", plain_selector(egress["spec"]["podSelector"]))
    cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] = "bakcup"
    assert any(p.startswith(f"NetworkPolicy cache/{egress['metadata']['name']}: selector") and "matches no pods" in p
               for p in wiring_problems(objs))
