"""Shared fixtures: stack runs under mocks (cached per session), and the skip rule.

The skip rule: a test that cannot run here says why through `skip_or_fail` (what it lacks: a binary,
the toolchain, upstream data) or `not_applicable` (it has nothing to check: a stack without custom
resources, a new stack not recorded yet). With CACHE_PATTERNS_REQUIRE_LIVE=1 (CI, where .ci/run
installs everything) `skip_or_fail` fails instead, and so does every other skip (a bare
`pytest.skip`, a `skipif` marker, `importorskip`): `pytest_runtest_makereport` below turns it into a
failure. Only a declared not-applicable skip stays a skip, so CI cannot skip silently."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tools import harness, validate

REQUIRE_LIVE = os.environ.get("CACHE_PATTERNS_REQUIRE_LIVE") == "1"
CANARY = "CANARY0cache0patterns0leak0check0xyzzy0123456789ab"
NO_CRDS = (f"no CRD folder: ../shared/schemas/crds beside the checkout is absent (set {validate.SHARED_ENV} to the "
           f"shared folder, or {validate.CRDS_ENV} to the CRDs)")


NOT_APPLICABLE = "not applicable: "


def skip_or_fail(reason: str) -> None:
    """A test without what it needs: skipped with the reason, or failed in CI
    (CACHE_PATTERNS_REQUIRE_LIVE=1), where .ci/run installs everything."""
    if REQUIRE_LIVE:
        pytest.fail(f"{reason}, and CACHE_PATTERNS_REQUIRE_LIVE=1")
    pytest.skip(reason)


def not_applicable(reason: str) -> None:
    """A test with nothing to check for this parameter (not a missing tool): skipped everywhere."""
    pytest.skip(NOT_APPLICABLE + reason)


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """In CI, a skip that is not a declared not-applicable one fails (the skip rule above). Imported
    by every conftest outside tests/ (e2e/scenarios), so the rule covers every tier."""
    report = yield
    if REQUIRE_LIVE and report.skipped and not hasattr(report, "wasxfail"):
        reason = skip_reason(report)
        if not reason.startswith(NOT_APPLICABLE):
            report.outcome = "failed"
            report.longrepr = (f"skipped ({reason}), and CACHE_PATTERNS_REQUIRE_LIVE=1: in CI every skip fails "
                               "unless it is a declared not-applicable one (tests/conftest.py)")
    return report


def need_binary(name: str) -> str:
    """The path of a binary the live tests run."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if path is None:
        skip_or_fail(f"{name} is not installed (Debian package; .ci/run installs it)")
    return path


def shared_data() -> Path:
    """The sizing measurements in the shared folder (`data/`): upstream data the tests check the
    planner against, never copied in. Tests that need it skip (fail in CI), saying so, where it is absent."""
    path = validate.shared_path("data")
    if path is None or not (path / "perkey_upstream.csv").is_file():
        skip_or_fail(f"no sizing data: {validate.shared_dir() / 'data'} is absent (../shared beside the checkout, "
                     f"or ${validate.SHARED_ENV})")
    return path


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
        skip_or_fail(NO_CRDS)
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
        skip_or_fail(NO_CRDS)
    with e2e_cluster.running() as c:
        yield c
