"""Shared fixtures: stack runs under mocks (cached per session), and the live-binary policy."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tools import harness, validate

REQUIRE_LIVE = os.environ.get("CACHE_PATTERNS_REQUIRE_LIVE") == "1"
CANARY = "CANARY0cache0patterns0leak0check0xyzzy0123456789ab"


def skip_or_fail(reason: str) -> None:
    """A live test without what it needs: skipped with the reason, or failed in CI
    (CACHE_PATTERNS_REQUIRE_LIVE=1), where .ci/run installs everything."""
    if REQUIRE_LIVE:
        pytest.fail(f"{reason}, and CACHE_PATTERNS_REQUIRE_LIVE=1")
    pytest.skip(reason)


def need_binary(name: str) -> str:
    """The path of a binary the live tests run."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if path is None:
        skip_or_fail(f"{name} is not installed (Debian package; .ci/run installs it)")
    return path


def shared_data() -> Path:
    """The sizing measurements beside the project (../shared/data): upstream data the tests check the
    planner against, never copied in. Tests that need it skip, saying so, where it is absent."""
    crds = os.environ.get("CACHE_PATTERNS_CRDS")
    candidates = [Path(crds).parent.parent / "data"] if crds else []
    candidates += [harness.ROOT.parent / "shared" / "data", Path("/work/shared/data")]
    for path in candidates:
        if (path / "perkey_upstream.csv").is_file():
            return path
    pytest.skip("no sizing data: ../shared/data (or $CACHE_PATTERNS_CRDS/../../data) is absent")


_runs: dict[tuple[str, str], harness.Run] = {}


def stack_run(stack: str, password: str = harness.PLACEHOLDER_PASSWORD) -> harness.Run:
    """The program evaluated for a committed stack file (cached: evaluation is deterministic)."""
    key = (stack, password)
    if key not in _runs:
        _runs[key] = harness.run(stack, password=password, stack_outputs=STACK_OUTPUTS)
    return _runs[key]


# What a StackReference to the cluster's stack returns in tests (stacks may use networkFrom).
STACK_OUTPUTS: dict[str, dict] = {}


@pytest.fixture(scope="session")
def crd_index():
    """The operators' CRDs, from $CACHE_PATTERNS_CRDS (default ../shared/schemas/crds); tests that
    need them skip, saying so, where the folder is absent (the CRDs are upstream data, not ours)."""
    from tools import crds

    folder = validate.crds_dir()
    if folder is None:
        pytest.skip(f"no CRD folder: set {validate.CRDS_ENV} (default ../shared/schemas/crds) to the operator CRDs")
    return crds.load(folder)


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator["e2e_cluster.Cluster"]:
    """A real Kubernetes control plane on 127.0.0.1 (e2e/cluster.py) for the session: a running one
    (`./run cluster up`) is reused and left running, else one is started and stopped at the end.
    Tests that use it carry the `cluster` marker (tests/cluster; the engine tier)."""
    from e2e import cluster as e2e_cluster

    missing = e2e_cluster.missing_tools()
    if missing:
        skip_or_fail(f"toolchain not built: {', '.join(missing)} (`./run toolchain`; .ci/run builds it)")
    if validate.crds_dir() is None:
        skip_or_fail(f"no CRD folder: set {validate.CRDS_ENV} to ../shared/schemas/crds")
    with e2e_cluster.running() as c:
        yield c
