"""The cluster tier: a real control plane (e2e/cluster.py) for the whole session. A running cluster
(`./run cluster up`) is reused and left running; otherwise one is started and stopped at the end."""
from __future__ import annotations

from typing import Iterator

import pytest

from e2e import cluster as e2e_cluster
from tests.conftest import skip_or_fail
from tools import validate


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[e2e_cluster.Cluster]:
    missing = e2e_cluster.missing_tools()
    if missing:
        skip_or_fail(f"toolchain not built: {', '.join(missing)} (`./run toolchain`; .ci/run builds it)")
    if validate.crds_dir() is None:
        skip_or_fail(f"no CRD folder: set {validate.CRDS_ENV} to ../shared/schemas/crds")
    with e2e_cluster.running() as c:
        yield c
