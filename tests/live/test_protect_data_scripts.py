"""PROTECT_DATA (caches with backups or a restore): redis-start.sh's refusals and probe.sh's release of
replica-priority, against the fake redis-cli of test_pod_scripts (no Redis needed; the live tests in
test_backup_failures_live.py show the same with real processes)."""
from __future__ import annotations

import subprocess
import time

from cache_patterns.patterns.statefulset import ha

from .test_pod_scripts import SENTINELS, SERVERS, World, replicaof, shell, world  # noqa: F401 (fixtures)

PROTECT = {"PROTECT_DATA": "yes"}


def test_ordinal_0_does_not_start_empty_while_replicas_hold_data_and_nobody_names_a_primary(world: World,
                                                                                             shell: str) -> None:
    world.server(SERVERS[1], "slave", offset=5000)
    p = world.start(shell, SERVERS[0], "cache-0", **PROTECT)
    conf, err = p.communicate(timeout=30)
    assert p.returncode == 1 and conf == "", err
    assert "replicas hold replicated data: not starting as an empty primary" in err and "no primary found" in err
    # Without PROTECT_DATA it claims the role (the pure cache's choice: available, empty).
    rc, conf, err = world.run(shell, SERVERS[0], "cache-0")
    assert rc == 0 and replicaof(conf) is None and "designated initial primary" in err


def test_no_failover_within_the_wait_refuses_and_names_the_replica_with_the_most_data(world: World,
                                                                                     shell: str) -> None:
    for s in SENTINELS:
        world.sentinel(s, SERVERS[0])
    world.server(SERVERS[1], "slave", offset=4000)
    world.server(SERVERS[2], "slave", offset=5000)
    t = time.monotonic()
    p = world.start(shell, SERVERS[0], "cache-0", FAILOVER_WAIT="3", **PROTECT)
    conf, err = p.communicate(timeout=30)
    assert p.returncode == 1 and conf == "", err
    assert "refusing to start as primary" in err and f"{SERVERS[2]} (offset 5000)" in err
    assert time.monotonic() - t >= 2


def test_no_failover_and_no_replica_with_data_still_starts_as_primary(world: World, shell: str) -> None:
    for s in SENTINELS:
        world.sentinel(s, SERVERS[0])
    world.server(SERVERS[1], "slave", offset=5000)
    p = world.start(shell, SERVERS[0], "cache-0", FAILOVER_WAIT="3", **PROTECT)
    time.sleep(1)
    world.server(SERVERS[1], "slave", offset=0)     # the replica restarted empty meanwhile
    conf, err = p.communicate(timeout=30)
    assert p.returncode == 0 and replicaof(conf) is None and "no failover within 3s" in err


def test_every_server_starts_unpromotable_with_protect_data(world: World, shell: str) -> None:
    world.server(SERVERS[0], "master", offset=10)
    rc, conf, err = world.run(shell, SERVERS[1], "cache-1")
    assert rc == 0 and "replica-priority" not in conf
    assert not (world.root / "run" / "promotable-after-sync").exists()
    p = world.start(shell, SERVERS[1], "cache-1", **PROTECT)
    conf, err = p.communicate(timeout=30)
    assert p.returncode == 0 and replicaof(conf) == SERVERS[0] and "\nreplica-priority 0\n" in conf
    assert (world.root / "run" / "promotable-after-sync").exists()


def probe(world: World, shell: str, self_address: str) -> subprocess.CompletedProcess:
    (world.conf / "probe.sh").write_text(ha.script("probe.sh"))
    cmd = [shell, str(world.conf / "probe.sh"), "ready"] if shell == "/bin/sh" else \
        [shell, "sh", str(world.conf / "probe.sh"), "ready"]
    env = world.env(self_address, "cache-1") | {"PROBE_ADDRESS": self_address}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)


def test_ready_probe_makes_a_replica_promotable_only_after_a_completed_sync(world: World, shell: str) -> None:
    marker = world.root / "run" / "promotable-after-sync"
    marker.parent.mkdir(exist_ok=True)
    marker.touch()
    port = SERVERS[1].rsplit(":", 1)[1]
    d = world.fake / port
    d.mkdir()
    calls = d / "CONFIG_SET_replica-priority_100"
    def info(link: str, syncing: int) -> None:
        (d / "INFO_replication").write_text(f"role:slave\r\nmaster_link_status:{link}\r\n"
                                            f"master_sync_in_progress:{syncing}\r\n")
    info("down", 1)                      # loading its first copy
    assert probe(world, shell, SERVERS[1]).returncode == 1 and marker.exists()
    info("up", 0)
    # The fake answers CONFIG SET only once the file exists: before, the probe must keep the marker.
    assert probe(world, shell, SERVERS[1]).returncode == 0 and marker.exists()
    calls.write_text("OK\n")
    assert probe(world, shell, SERVERS[1]).returncode == 0 and not marker.exists()
