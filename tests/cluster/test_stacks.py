"""Every committed stack without cloud resources, rendered as `./run render` does, through a real API
server: accepted as a whole by server-side apply, stored as sent, a second apply changes nothing,
its Deployments and StatefulSets turn Ready (kwok plays the kubelet), and deleting it finishes."""
from __future__ import annotations

import pytest

from tests.conftest import stack_run
from tools import harness

from . import kube

pytestmark = pytest.mark.cluster

STACKS = [s for s in harness.list_stacks() if not kube.has_cloud_resources(stack_run(s))]


@pytest.mark.parametrize("stack", STACKS)
def test_stack_lifecycle(kube_cluster, stack):
    objs = kube.manifests(stack_run(stack))
    assert objs, f"stack {stack} renders no Kubernetes object"
    # Two objects claiming one name would be merged by the server into one, silently.
    refs = [kube.ref(o) for o in objs]
    assert len(set(refs)) == len(refs), sorted(r for r in refs if refs.count(r) > 1)
    try:
        # 1. Every object accepted, and none with a warning (a Pod Security or deprecation warning
        #    is the server telling us something the program should fix).
        results = kube.apply_all(kube_cluster, objs)
        refused = [f"{kube.ref(r.obj)}: {r.error}" for r in results if not r.ok]
        assert not refused, f"stack {stack}: the server refused:\n" + "\n".join(refused)
        warned = [f"{kube.ref(r.obj)}: {w}" for r in results for w in r.warnings]
        assert not warned, f"stack {stack}: the server warned:\n" + "\n".join(warned)

        # 2. Stored as sent: no field the server rewrites (a client comparing what it sent with what
        #    it reads back would see a change on every run).
        stored = {kube.ref(o): kube.get(kube_cluster, o) for o in objs}
        rewritten = [f"{key}: {p}" for o in objs for key in [kube.ref(o)]
                     for p in kube.rewritten(kube.as_stored(o), stored[key])]
        assert not rewritten, f"stack {stack}: the server stored other values than sent:\n" + "\n".join(rewritten)

        # 3. Ready under kwok: pods created (admission passed), scheduled, volumes bound.
        not_ready = kube.wait_ready(kube_cluster, objs)
        assert not not_ready, f"stack {stack}: not Ready after {kube.READY_TIMEOUT:.0f} s: {not_ready}"

        # 4. A second apply of the same objects is a no-op: nothing stored changes.
        before = {kube.ref(o): kube.stored_spec(kube.get(kube_cluster, o)) for o in objs}
        again = kube.apply_all(kube_cluster, objs)
        assert all(r.ok for r in again), [f"{kube.ref(r.obj)}: {r.error}" for r in again if not r.ok]
        after = {kube.ref(o): kube.stored_spec(kube.get(kube_cluster, o)) for o in objs}
        changed = sorted(k for k in before if before[k] != after[k])
        assert not changed, f"stack {stack}: a second apply changed {changed}"
    finally:
        # 5. Deleting the stack's objects finishes (garbage collector, namespace controller and
        #    kwok's pod deletion all run), and nothing of it is left.
        code, out = kube.delete_all(kube_cluster, objs)
    assert code == 0, f"stack {stack}: delete did not finish:\n{out}"
    left = [kube.ref(o) for o in objs if kube.get(kube_cluster, o) is not None]
    assert not left, f"stack {stack}: still there after delete: {left}"
