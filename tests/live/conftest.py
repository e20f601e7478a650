"""Fixtures of the live StatefulSet-pattern tests: a set of real Redis, Sentinel and HAProxy processes
per test module, started through the pod scripts as a non-root user and stopped by PID."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.conftest import skip_or_fail

from testbed import engines, pod_runner, rolling
from testbed.statefulset import LocalStatefulSet
from testbed.support import ACL_USERS, new_root, require_binaries, which
from testbed.tls import make_tls


# Modules with a failed test: their cluster directory is kept for the logs.
_FAILED = pytest.StashKey[set]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    if report.failed and isinstance(item, pytest.Function):
        item.session.stash.setdefault(_FAILED, set()).add(item.module.__name__)
    return report


def require_exporter_pods() -> None:
    """Skip (fail in CI) unless the engines, the pod runner and the built redis_exporter are here:
    what the tests that run the rendered exporter container need."""
    require_binaries()
    why = pod_runner.can_run()
    if why:
        skip_or_fail(f"cannot run a pod's container here: {why}")
    if engines.exporter() is None:
        skip_or_fail("redis_exporter is not built (./run toolchain redis_exporter)")


def running_cluster(request: pytest.FixtureRequest, prefix: str, engine: str | None = None,
                    start: Callable[[LocalStatefulSet], object] = LocalStatefulSet.start_all,
                    settle_s: float | None = None, **kwargs: object) -> Iterator[LocalStatefulSet]:
    """Start a cluster, hand it to the module's tests, stop every process by PID. On a failure the
    directory (logs, rendered files) is kept and the last log lines are printed. `engine`: every pod
    runs that engine of the toolchain (testbed/rolling.py); `start`: which processes start first
    (default all); `settle_s`: wait up to that long for one primary every Sentinel names."""
    require_binaries()
    root = new_root(prefix)
    cluster = LocalStatefulSet(root, **kwargs)  # type: ignore[arg-type]
    for name in cluster.members if engine else ():
        rolling.use_engine(cluster, name, engine)
    try:
        start(cluster)
        if settle_s is not None:
            cluster.settle(timeout=settle_s)
        yield cluster
    finally:
        cluster.stop_all()
        module = request.module.__name__
        if module in request.session.stash.get(_FAILED, set()):
            print(f"\nlive cluster kept at {root}\n{cluster.logs(tail=25)}")
        else:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Iterator[LocalStatefulSet]:
    """3 Redis + 3 Sentinels + HAProxy, scripts under busybox sh when it is installed (what the
    alpine images run), else dash. min-replicas-to-write 1 with a 2 s lag bound, down-after 1.5 s.
    With ACL users, so every failover test also shows they leave replication and Sentinel alone."""
    yield from running_cluster(request, "cp-ha-", busybox=which("busybox") is not None,
                               min_replicas_to_write=1, min_replicas_max_lag_ms=2000, acl_users=ACL_USERS)


@pytest.fixture(scope="module")
def tls_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStatefulSet]:
    """The same with TLS on (a CA made here with openssl), scripts under dash (Debian's sh)."""
    require_binaries()
    tls = make_tls(Path(tmp_path_factory.mktemp("ca")))
    yield from running_cluster(request, "cp-ha-tls-", tls=tls, busybox=False)
