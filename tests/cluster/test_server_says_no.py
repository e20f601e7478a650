"""Where the API server, not our validator, says no: a custom resource of the program broken against
its CRD, and the program's own StatefulSet made (by the test) to break its namespace's Pod Security
level: the server warns on apply, and the StatefulSet controller's pods are refused (FailedCreate)."""
from __future__ import annotations

import copy
import time

import pytest

from tests.conftest import stack_run
from tools import crds as crd_tools

from . import kube

pytestmark = pytest.mark.cluster


def _of(stack: str, kind: str) -> list[dict]:
    return [o for o in kube.manifests(stack_run(stack)) if o["kind"] == kind]


def _namespace_of(stack: str, obj: dict) -> dict:
    return next(o for o in _of(stack, "Namespace") if o["metadata"]["name"] == obj["metadata"]["namespace"])


def _drop_secret_name(cert: dict) -> str:
    del cert["spec"]["secretName"]
    return "spec.secretName"


def _unknown_usage(cert: dict) -> str:
    cert["spec"]["usages"] = ["server auth", "world domination"]
    return "spec.usages"


def _undeclared_field(cert: dict) -> str:
    cert["spec"]["renewBeforeDays"] = 7
    return "renewBeforeDays"


@pytest.mark.parametrize("breakage", [_drop_secret_name, _unknown_usage, _undeclared_field],
                         ids=["required-field-missing", "value-outside-enum", "field-not-in-schema"])
def test_a_custom_resource_that_breaks_its_crd_is_refused(kube_cluster, crd_index, breakage):
    """The staging stack's cert-manager Certificate, broken three ways: each refused by the server
    (422 Invalid / strict field validation), naming the field, and flagged by our offline CRD
    validator too (the two must agree on what a CRD allows)."""
    cert = copy.deepcopy(_of("staging", "Certificate")[0])
    namespace = _namespace_of("staging", cert)
    try:
        assert kube.apply(kube_cluster, namespace).ok
        assert kube.apply(kube_cluster, cert).ok, "the Certificate as rendered must be accepted"
        field = breakage(cert)
        result = kube.apply(kube_cluster, cert)
        assert not result.ok, f"the server accepted a Certificate with a broken {field}"
        assert field in result.error, result.error
        assert any(field in p for p in crd_tools.validate(cert, crd_index)), \
            f"our validator does not flag {field}: {crd_tools.validate(cert, crd_index)}"
    finally:
        kube.delete_all(kube_cluster, [cert, namespace])


def test_a_pod_template_breaking_pod_security_is_warned_and_its_pods_refused(kube_cluster):
    """The staging Redis StatefulSet with its first container made privileged: the namespace the
    program labels `restricted` makes the server warn on apply, and the StatefulSet controller's
    pods are forbidden, reported as a FailedCreate event. The unmodified StatefulSet draws no warning."""
    sts = copy.deepcopy(next(o for o in _of("staging", "StatefulSet") if not o["metadata"]["name"].endswith("sentinel")))
    namespace = _namespace_of("staging", sts)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    name, ns = sts["metadata"]["name"], sts["metadata"]["namespace"]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    try:
        assert kube.apply(kube_cluster, namespace).ok
        clean = kube.apply(kube_cluster, copy.deepcopy(sts) | {"spec": {**sts["spec"], "replicas": 0}})
        assert clean.ok and not clean.warnings, clean.stderr
        container.setdefault("securityContext", {}).update({"privileged": True, "allowPrivilegeEscalation": True})
        result = kube.apply(kube_cluster, sts)
        assert result.ok, result.error     # a workload is admitted with a warning; its pods are not
        assert any('would violate PodSecurity "restricted:latest"' in w and "privileged" in w
                   and f'container "{container["name"]}"' in w for w in result.warnings), result.stderr
        deadline = time.monotonic() + 60
        failed: list[dict] = []
        while not failed and time.monotonic() < deadline:
            failed = [e for e in kube.events(kube_cluster, ns, name) if e.get("reason") == "FailedCreate"]
            time.sleep(1)
        assert failed, f"no FailedCreate event for StatefulSet {ns}/{name} in 60 s"
        message = failed[0]["message"]
        assert "forbidden" in message and 'violates PodSecurity "restricted:latest"' in message \
            and "privileged" in message, message
        assert failed[0]["source"].get("component", failed[0].get("reportingComponent")) == "statefulset-controller"
        pods = kube.get_json(kube_cluster, "pods", "-n", ns, "-l",
                             ",".join(f"{k}={v}" for k, v in sts["spec"]["selector"]["matchLabels"].items()))
        assert pods["items"] == [], "a pod breaking the namespace's Pod Security level was created"
    finally:
        kube.delete_all(kube_cluster, [sts, namespace])


def test_the_cluster_serves_every_crd_our_validator_reads(kube_cluster, crd_index):
    """The server and the offline validator judge custom resources by the same CRDs."""
    installed = {c["metadata"]["name"] for c in kube.get_json(kube_cluster, "crd")["items"]}
    indexed = {v.crd for v in crd_index.versions.values()}
    assert indexed and indexed <= installed, sorted(indexed - installed)
