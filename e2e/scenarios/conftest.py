"""The engine tier's fixtures: one local control plane for the session (e2e/cluster.py), and a fresh
copy of the program with its own state backend per scenario (e2e/engine.py).

Without the built toolchain the tier skips with the reason, or fails in CI
(CACHE_PATTERNS_REQUIRE_LIVE=1), like every live test.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import pytest

from e2e import engine, live
# The skip rule of every tier (tests/conftest.py): in CI a skip that is not declared not-applicable fails.
from tests.conftest import pytest_runtest_makereport, skip_or_fail  # noqa: F401 (a hook, registered by import)
from tools import validate


# Each scenario's outcome in this session, by node id: the baseline of the engine-tier mutants.
OUTCOMES: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        OUTCOMES.setdefault(report.nodeid, report.outcome)
    if report.failed:   # a failed setup or teardown fails the scenario too
        OUTCOMES[report.nodeid] = "failed"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The mutant tests run last: after the scenarios whose passing is their baseline."""
    items.sort(key=lambda item: item.nodeid.startswith("e2e/scenarios/test_mutants.py"))


@pytest.fixture(scope="session")
def cluster():
    from e2e import cluster as cluster_mod

    missing = sorted(set(engine.missing_tools()) | set(cluster_mod.missing_tools()))
    if missing:
        skip_or_fail(f"the engine tier needs the pinned toolchain; not built: {missing} (run `./run toolchain`)")
    with cluster_mod.running() as c:
        yield c


@pytest.fixture
def workspace(tmp_path: Path, cluster) -> engine.Workspace:
    return engine.Workspace.create(tmp_path, cluster.env())


@pytest.fixture
def empty_cluster(cluster):
    """The cluster holds no object of any stack before the scenario, and none after it (a scenario
    that fails half-way leaves its objects; the next one would not start on an empty cluster)."""
    assert live.owned_objects(cluster) == {}, "objects of an earlier scenario are still in the cluster"
    yield cluster


@contextlib.contextmanager
def destroyed_after(*stacks: engine.Stack) -> Iterator[None]:
    """Destroy the stacks however the scenario ends (a failed destroy is reported, not hidden)."""
    try:
        yield
    finally:
        errors = []
        for st in reversed(stacks):
            result = st.destroy(check=False)
            if result.code != 0:
                errors.append(f"destroy of {st.name} exited {result.code}:\n{result.output[-3000:]}")
        if errors:
            raise AssertionError("\n".join(errors))


def chart_dir(name: str) -> Path:
    """A chart folder of the shared folder (`charts/<name>`: upstream data beside the checkout)."""
    path = validate.shared_path("charts", name)
    if path is None or not (path / "Chart.yaml").is_file():
        skip_or_fail(f"no chart folder {validate.shared_dir() / 'charts' / name} (../shared beside the checkout, "
                     f"or ${validate.SHARED_ENV})")
    return path
