"""Real redis-server processes for the two-tier client tests: an L2 on a free TCP port, one L1 per "pod"
on a unix socket in a short temp dir. Each server starts in ~50 ms, is stopped by PID at teardown,
and can be killed, paused or restarted mid-test to prove the failure behaviour. The servers are the
conformance suite's (clients/conformance/servers.py), started from redis-server.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import pytest

try:
    import cache_patterns_client  # noqa: F401
except ImportError:  # not pip-installed: test the source tree (CI installs it, see the README)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python" / "src"))

from cache_patterns_client import ClientOptions, TwoTierCache  # noqa: E402
from clients.conformance.servers import Server as RedisProcess  # noqa: E402,F401 (the tests' name for one)
from clients.conformance.servers import Servers as ConformanceServers  # noqa: E402
from clients.conformance.servers import wait_until  # noqa: E402,F401 (used by the tests)
from tests.conftest import skip_or_fail  # noqa: E402

REDIS_SERVER = shutil.which("redis-server")

# Short enough that a failure test finishes in well under a second, long enough for a loaded CI box.
FAST = ClientOptions(l1_connect_timeout=0.2, l1_timeout=0.2, l2_connect_timeout=0.3, l2_timeout=0.3,
                     retries=1, l1_retry_interval=0.2, l2_retry_interval=0.2,
                     health_check_interval=0.5, subscribe_wait=3.0)


def require_live() -> None:
    """Skip (or, with CACHE_PATTERNS_REQUIRE_LIVE=1, fail) when redis-server is not installed."""
    if REDIS_SERVER is None:
        skip_or_fail("redis-server not on PATH (apt-get install redis-server)")


class Servers(ConformanceServers):
    """The servers of one test (the conformance suite's, clients/conformance/servers.py), on redis-server."""

    def __init__(self) -> None:
        super().__init__(str(REDIS_SERVER))


@pytest.fixture
def servers() -> Iterator[Servers]:
    require_live()
    s = Servers()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def l2(servers: Servers) -> RedisProcess:
    return servers.tcp("l2")


def pod_env(l2: RedisProcess, l1: Optional[RedisProcess], cap: float = 30, channel: str = "cache:pages:l1-inv",
            extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The env the foundation gives an app container bound to a two-tier cache (contract v1)."""
    env = {"CACHE_CONTRACT_VERSION": "1", "CACHE_NAME": "pages", "CACHE_PATTERN": "statefulset"}
    for prefix in ("CACHE", "CACHE_L2"):
        env.update({f"{prefix}_HOST": "127.0.0.1", f"{prefix}_PORT": str(l2.port),
                    f"{prefix}_TLS": "false", f"{prefix}_CLUSTER": "false"})
    if l1 is not None:
        assert l1.unixsocket is not None
        env.update({"CACHE_L1_HOST": "127.0.0.1", "CACHE_L1_PORT": "6380", "CACHE_L1_SOCKET": l1.unixsocket,
                    "CACHE_L1_TLS": "false", "CACHE_L1_CLUSTER": "false", "CACHE_L1_URL": f"unix://{l1.unixsocket}",
                    "CACHE_L1_TTL_CAP": str(cap), "CACHE_L1_INVALIDATION_CHANNEL": channel})
    env.update(extra or {})
    return env


def seen_by(readers: Sequence["Pod"], write: Callable[[], object], timeout: float = 2.0) -> None:
    """Run another pod's `write`, then wait until every reader has received its invalidation. A read
    right after the write would otherwise race it: an invalidation arriving between the reader's L2
    read and its L1 copy refuses the copy (as the protocol requires), and a test expecting the copy
    would fail on timing alone."""
    before = [r.cache.stats.invalidations_received for r in readers]
    write()
    wait_until(lambda: all(r.cache.stats.invalidations_received > n for r, n in zip(readers, before)),
               timeout, "the write's invalidation at every reader")


class Pod:
    """An app pod: its own L1 sidecar and a TwoTierCache built from the env contract."""

    def __init__(self, l1: RedisProcess, cache: TwoTierCache) -> None:
        self.l1 = l1
        self.cache = cache
        self.l1_raw = l1.client()


@pytest.fixture
def make_pod(servers: Servers, l2: RedisProcess) -> Iterator[Callable[..., Pod]]:
    pods: List[Pod] = []

    def make(cap: float = 30, options: ClientOptions = FAST, extra: Optional[Dict[str, str]] = None) -> Pod:
        l1 = servers.unix(f"l1-{len(pods)}")
        cache = TwoTierCache.from_env(pod_env(l2, l1, cap=cap, extra=extra), options=options)
        assert cache.wait_ready(3.0), "invalidation subscription did not come up"
        pod = Pod(l1, cache)
        pods.append(pod)
        return pod

    yield make
    for pod in pods:
        pod.cache.close()
        pod.l1_raw.close()
