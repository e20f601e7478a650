"""Live: the ways a replicated cache with backups loses its data to an empty or older node, each made
impossible by PROTECT_DATA (redis-start.sh, probe.sh), with real Valkey and Sentinel processes:

- a primary that comes back with an older RDB while no failover can happen (its Sentinels lost their
  state with it) is not kept as primary, so its replicas never resync from it (redis/redis#7046,
  apecloud/kubeblocks#10753); the documented recovery then brings every key back;
- a new replica still waiting for its first copy is never promoted when the primary dies
  (spotahome/redis-operator#205).

Each test fails without PROTECT_DATA (tools/mutate.py: protect-data-refusal, protect-data-priority)."""
from __future__ import annotations

import re
import shutil
import time
from typing import Iterator

import pytest

from testbed.backups import protected_plan
from testbed.statefulset import LocalStatefulSet as Cluster
from testbed.support import _pairs, missing_keys, new_root, require_binaries, wait_until, which

pytestmark = pytest.mark.live


@pytest.fixture
def protected(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    require_binaries()
    root = new_root("cp-protect-")
    cluster = Cluster(root, plan=protected_plan(persistence="rdb", failover_wait_s=8), busybox=which("busybox") is not None)
    cluster.start_all()
    failed = request.session.testsfailed
    try:
        assert cluster.settle(timeout=60) == 0
        release(cluster)
        yield cluster
    finally:
        cluster.stop_all()
        if request.session.testsfailed > failed:
            print(f"\nkept {root}\n{cluster.logs(tail=30)}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def release(cluster: Cluster) -> None:
    """What the kubelet's readiness probe does every 5 s: makes each synced replica promotable."""
    for i in range(cluster.servers):
        if cluster.role(i) == "slave":
            assert cluster.run_script(f"redis-{i}", "probe.sh", "ready").returncode == 0
    for i in range(cluster.servers):
        if cluster.role(i) == "slave":
            with cluster.redis(i) as r:
                assert r.info("replication")["slave_priority"] == 100, f"redis-{i} was not released"


def write(cluster: Cluster, primary: int, prefix: str, n: int = 2000) -> list[str]:
    keys = [f"{prefix}:{i}" for i in range(n)]
    with cluster.redis(primary, timeout=10) as r:
        for start in range(0, n, 500):
            r.mset({k: "v" for k in keys[start:start + 500]})
        assert r.execute_command("WAIT", cluster.servers - 1, 10_000) == cluster.servers - 1
    return keys


def wipe_sentinels(cluster: Cluster) -> None:
    """Every Sentinel loses its state (a new pod: an empty run dir) and starts again."""
    for i in range(cluster.sentinels):
        cluster.kill(f"sentinel-{i}")
        for f in cluster.members[f"sentinel-{i}"].run_dir.iterdir():
            f.unlink()


def test_a_primary_back_with_an_older_rdb_and_no_failover_is_not_kept_as_primary(protected: Cluster) -> None:
    c = protected
    old = write(c, 0, "old")
    with c.redis(0) as r:
        r.save()                                  # the RDB on redis-0's volume holds "old" only
    new = write(c, 0, "new")
    c.kill("redis-0")
    wipe_sentinels(c)
    for i in range(c.sentinels):
        c.start(f"sentinel-{i}")
    c.start("redis-0")
    roles = set()
    def exited() -> bool:
        roles.add(c.role(0))
        return not c.members["redis-0"].running()
    wait_until("redis-0 to refuse the role and exit", exited, 60, interval=0.1)
    log = c.last_start("redis-0")
    assert "refusing to start as primary" in log, log
    assert "master" not in roles, "redis-0 served as primary"
    named = re.search(r"and (\S+) \(offset \d+, a promotable replica\) holds data", log)
    assert named, log
    i = c.server_index(named.group(1))
    for j in (1, 2):
        with c.redis(j) as r:
            assert missing_keys(r, old + new) == [], f"redis-{j} lost data"
    # docs/backup.md, "A primary that cannot come back": promote that replica, point the other
    # replicas at it, restart the Sentinels with empty state; the old primary's pod, restarting on its
    # own, joins as a replica.
    with c.redis(i) as r:
        r.execute_command("REPLICAOF", "NO", "ONE")
    for j in (1, 2):
        if j != i:
            with c.redis(j) as r:
                r.execute_command("REPLICAOF", c.redis_addrs[i].host, c.redis_addrs[i].port)
    wipe_sentinels(c)
    for s in range(c.sentinels):
        c.start(f"sentinel-{s}")
    c.start("redis-0")
    assert c.settle(timeout=60) == i
    for j in range(c.servers):
        with c.redis(j) as r:
            wait_until(f"redis-{j} to hold every key", lambda r=r: not missing_keys(r, old + new), 30)


def test_an_empty_replica_waiting_for_its_first_copy_is_never_promoted(protected: Cluster) -> None:
    c = protected
    keys = write(c, 0, "data")
    with c.redis(0) as r:
        r.save()
        # The next full sync waits 60 s: a replica that asks for one stays empty meanwhile.
        r.config_set("repl-diskless-sync-delay", 60)
    # A new, empty redis-2 (its pod replaced mid-change), while redis-1 is gone (a node drain).
    c.stop("redis-1")
    c.kill("redis-2")
    for f in c.members["redis-2"].data.iterdir():
        f.unlink() if f.is_file() else shutil.rmtree(f)
    c.start("redis-2")
    c.wait_ready("redis-2")
    def known_to_sentinels() -> bool:
        """Every Sentinel sees the new replica up, as it is: no link yet, priority 0."""
        for i in range(c.sentinels):
            with c.sentinel(i) as s:
                entries = [_pairs(r) for r in s.execute_command("SENTINEL", "REPLICAS", c.master)]
            entry = next((e for e in entries if e.get("port") == str(c.redis_addrs[2].port)), None)
            if entry is None or entry["flags"] != "slave" or entry.get("slave-priority") != "0":
                return False
        return True
    wait_until("the Sentinels to know the new replica", known_to_sentinels, 40, interval=0.5)
    with c.redis(2) as r:
        info = r.info("replication")
        assert info["master_link_status"] == "down" and info["slave_priority"] == 0, info
    # The readiness probe runs and must not release it (it has no copy yet).
    assert c.run_script("redis-2", "probe.sh", "ready").returncode == 1
    c.kill("redis-0")
    t = time.monotonic()
    while time.monotonic() - t < 12:           # down-after 1.5 s: a failover would have happened
        assert c.role(2) != "master", "the empty replica was promoted"
        time.sleep(0.2)
    # The primary comes back with its RDB; nobody holds more: it is the primary again, and keeps it all.
    c.start("redis-0")
    c.start("redis-1")
    assert c.settle(timeout=90) == 0
    with c.redis(0) as r:
        r.config_set("repl-diskless-sync-delay", 1)
    for j in range(c.servers):
        with c.redis(j) as r:
            wait_until(f"redis-{j} to hold every key", lambda r=r: not missing_keys(r, keys), 60)
