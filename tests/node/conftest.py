"""The real-node fixture: a cluster whose node is a kubelet with containerd (e2e/node.py), for every
test of this folder and any other that asks for `real_node`.

    def test_something(real_node):              # marker `cluster`: the cluster tier runs it
        real_node.import_for(objs)                  # every image its pods name, built and imported
        real_node.kubectl("apply", ...)
        real_node.exec("cache", "pod-0", "valkey-cli", "ping")

The cluster is started once per session and taken down at its end, and then the host must be as it
was before `up` (`host_before`, e2e/hoststate.py): a difference fails the session's last test at
teardown. A running cluster (`./run cluster up --node`) is reused and left running (then nothing is
checked at the end).
"""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.conftest import skip_or_fail
from tools import validate


@pytest.fixture(scope="session")
def host_before() -> dict | None:
    """What the host looked like before this session's node (None: a running node was reused)."""
    from e2e import hoststate, node

    return None if node.current() is not None else hoststate.snapshot()


@pytest.fixture(scope="session")
def real_node(host_before) -> Iterator["node.NodeCluster"]:
    from e2e import hoststate, node, nodeconf

    why = node.unavailable()
    if why:
        skip_or_fail(why)
    if validate.crds_dir() is None:
        skip_or_fail(f"no CRD folder: set {validate.CRDS_ENV} to ../shared/schemas/crds")
    existing = node.current()
    if existing is not None:
        yield existing
        return
    cluster = node.up()
    recorded = node._read_state(cluster.dir)["node"]
    try:
        yield cluster
    finally:
        node.down()
        after = hoststate.snapshot()
        # A safety net for a broken `down` (as `./run mutate` breaks it): nothing is left on the
        # machine either way; after a working `down` both are no-ops.
        hoststate.restore_sysctls(recorded["sysctls_changed"])
        hoststate.remove_cgroups(nodeconf.cgroup_root(cluster.port))
    left = hoststate.diff(host_before, after)
    assert not left, "`down` left host changes:\n" + "\n".join(left)
    assert not hoststate.processes_in(recorded["net_inode"], "net", recorded["started"])
