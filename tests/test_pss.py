"""tools/pss.py, the restricted Pod Security Standard plus this project's rules: the probe rule knows a
pod that runs to completion (a Job's or CronJob's) from one that serves for its life."""
from __future__ import annotations

import copy

from tools import pss

CONTAINER = {
    "name": "c", "image": "x:1",
    "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
    "resources": {"requests": {"memory": "64Mi"}, "limits": {"memory": "64Mi"}},
}
POD = {"securityContext": {"runAsUser": 10001, "runAsGroup": 10001, "runAsNonRoot": True},
       "automountServiceAccountToken": False, "containers": [CONTAINER]}
PROBE = {"exec": {"command": ["true"]}}


def pod(**changes) -> dict:
    spec = copy.deepcopy(POD)
    spec.update(changes)
    return spec


def template(kind: str, spec: dict) -> dict:
    tpl = {"metadata": {"labels": {"a": "b"}}, "spec": spec}
    body = {"jobTemplate": {"spec": {"template": tpl}}} if kind == "CronJob" else {"template": tpl}
    return {"kind": kind, "metadata": {"name": "w", "namespace": "n"}, "spec": body}


def violations(obj: dict) -> list[str]:
    return [v for _, spec in pss.pod_specs(obj) for v in pss.restricted_violations(spec)]


def test_a_serving_container_without_probes_fails_in_every_long_running_workload():
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        assert violations(template(kind, pod())) == ["c: no probes"], kind
        assert violations(template(kind, pod(restartPolicy="Always"))) == ["c: no probes"], kind
        probed = pod(containers=[{**CONTAINER, "readinessProbe": PROBE}])
        assert violations(template(kind, probed)) == [], kind
    assert violations({"kind": "Pod", "metadata": {"name": "p"}, "spec": pod()}) == ["c: no probes"]


def test_a_job_or_cronjob_container_runs_to_completion_without_probes():
    for kind in ("Job", "CronJob"):
        for policy in ("Never", "OnFailure"):
            assert violations(template(kind, pod(restartPolicy=policy))) == [], (kind, policy)
    assert violations({"kind": "Pod", "metadata": {"name": "p"}, "spec": pod(restartPolicy="Never")}) == []


def test_a_native_sidecar_of_a_job_still_needs_a_probe_and_every_other_rule_still_applies():
    """Only the probe rule depends on the pod running to completion: a sidecar (an init container with
    restartPolicy Always) runs beside the Job's container, and the security rules hold for a Job too."""
    sidecar = {**copy.deepcopy(CONTAINER), "name": "side", "restartPolicy": "Always"}
    job = pod(restartPolicy="Never", initContainers=[sidecar])
    assert violations(template("Job", job)) == ["side: no probes"]
    loose = pod(restartPolicy="Never", containers=[{**CONTAINER, "securityContext": {}}])
    found = violations(template("CronJob", loose))
    assert "c: allowPrivilegeEscalation is not false" in found and "c: root filesystem is writable" in found
    assert "c: no probes" not in found
