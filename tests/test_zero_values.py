"""No object sends a field at a zero value the API server drops. Kubernetes stores these fields
(non-pointer, `omitempty` in its Go types) only when they differ from zero, so `initialDelaySeconds: 0`
or `readOnly: false` is sent on every apply and never read back: a difference between what the
program declares and what the cluster holds, for any tool that compares the two. Found by the
cluster tier (tests/cluster), checked here on every stack without a cluster."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.conftest import stack_run
from tools import harness

# Field names of core/v1 and apps/v1 types that are `omitempty` without a pointer: a zero is dropped.
DROPPED_AT_ZERO = {
    # Probe
    "initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold",
    # VolumeMount, Container
    "readOnly", "subPath", "stdin", "stdinOnce", "tty",
    # PodSpec
    "hostNetwork", "hostPID", "hostIPC", "nodeName", "priorityClassName", "serviceAccountName",
    # ServiceSpec
    "publishNotReadyAddresses", "loadBalancerIP", "externalName",
    # StatefulSetSpec, DeploymentSpec
    "minReadySeconds", "paused",
}


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}.{k}" if path else k, v
            yield from _walk(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


@pytest.mark.parametrize("stack", harness.list_stacks())
def test_no_object_sends_a_zero_the_server_drops(stack):
    found = [f"{o['kind']} {o['metadata'].get('name')}: {path} = {value!r}"
             for o in stack_run(stack).manifests() for path, value in _walk(o)
             if path.rsplit(".", 1)[-1] in DROPPED_AT_ZERO and value in (0, False, "")]
    assert not found, "\n".join(found)
