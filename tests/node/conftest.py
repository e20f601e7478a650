"""The real-node fixture: a cluster whose node is a kubelet with containerd (e2e/node.py), for every
test of this folder and any other that asks for `real_node`.

    def test_something(real_node):              # marker `cluster`: the cluster tier runs it
        real_node.import_images(images.references(objs))
        real_node.kubectl("apply", ...)
        real_node.exec("cache", "pod-0", "valkey-cli", "ping")

The cluster is started once per session (or a running one, `./run cluster up --node`, is reused and
left running) and taken down at the end, with every host change undone.
"""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.conftest import skip_or_fail
from tools import validate


@pytest.fixture(scope="session")
def real_node() -> Iterator["node.NodeCluster"]:
    from e2e import node

    why = node.unavailable()
    if why:
        skip_or_fail(why)
    if validate.crds_dir() is None:
        skip_or_fail(f"no CRD folder: set {validate.CRDS_ENV} to ../shared/schemas/crds")
    with node.running() as c:
        yield c
