"""PROTECT_DATA (caches with backups or a restore): redis-start.sh's refusals and probe.sh's release of
replica-priority, against the fake redis-cli of test_pod_scripts (no Redis needed; the live tests in
test_backup_failures_live.py show the same with real processes)."""
from __future__ import annotations

import subprocess
import time

from cache_patterns.patterns.statefulset import ha

from .test_pod_scripts import SENTINELS, SERVERS, World, replicaof, shell, world  # noqa: F401 (fixtures)

PROTECT = {"PROTECT_DATA": "yes"}


def replica(world: World, address: str, offset: int, priority: int = 100, keys: int = 0) -> None:
    """A replica as INFO shows it: its offset, its replica-priority, its keys."""
    d = world.fake / address.rsplit(":", 1)[1]
    d.mkdir(exist_ok=True)
    (d / "INFO_replication").write_text(f"# Replication\r\nrole:slave\r\nmaster_repl_offset:{offset}\r\n"
                                        f"slave_priority:{priority}\r\n")
    (d / "INFO_keyspace").write_text(f"# Keyspace\r\ndb0:keys={keys},expires=0,avg_ttl=0\r\n" if keys else
                                     "# Keyspace\r\n")


def own_rdb(world: World) -> None:
    """This server's data dir holds an RDB (persistence on)."""
    data = world.root / "data"
    data.mkdir(exist_ok=True)
    (data / "dump.rdb").write_bytes(b"REDIS0011")
    conf = world.conf / "redis.conf"
    conf.chmod(0o644)
    conf.write_text(conf.read_text().replace("dir /data", f"dir {data}"))


def test_ordinal_0_does_not_start_while_a_promotable_replica_holds_data_and_nobody_names_a_primary(
        world: World, shell: str) -> None:
    replica(world, SERVERS[1], offset=5000)
    p = world.start(shell, SERVERS[0], "cache-0", **PROTECT)
    conf, err = p.communicate(timeout=30)
    assert p.returncode == 1 and conf == "", err
    assert f"{SERVERS[1]} (offset 5000, a promotable replica) would lose data" in err and "no primary found" in err
    # Without PROTECT_DATA it claims the role (the pure cache's choice: available, empty).
    rc, conf, err = world.run(shell, SERVERS[0], "cache-0")
    assert rc == 0 and replicaof(conf) is None and "designated initial primary" in err


def test_a_whole_cache_back_from_its_volumes_starts_as_before(world: World, shell: str) -> None:
    """Replicas that restarted too (not promotable: no sync in this life) hold no newer data than
    this server's own RDB: ordinal 0 starts as primary, as without PROTECT_DATA."""
    own_rdb(world)
    replica(world, SERVERS[1], offset=5000, priority=0, keys=10)
    replica(world, SERVERS[2], offset=0, priority=0)
    p = world.start(shell, SERVERS[0], "cache-0", **PROTECT)
    conf, err = p.communicate(timeout=30)
    assert p.returncode == 0 and replicaof(conf) is None and "designated initial primary" in err, err


def test_a_server_without_data_does_not_start_while_any_peer_holds_some(world: World, shell: str) -> None:
    replica(world, SERVERS[1], offset=0, priority=0, keys=10)
    p = world.start(shell, SERVERS[0], "cache-0", **PROTECT)
    conf, err = p.communicate(timeout=30)
    assert p.returncode == 1 and f"{SERVERS[1]} (it holds data, this server has none)" in err, err


def test_no_failover_within_the_wait_refuses_and_names_the_replica(world: World, shell: str) -> None:
    for s in SENTINELS:
        world.sentinel(s, SERVERS[0])
    own_rdb(world)                              # an older RDB: the promotable replicas are newer
    replica(world, SERVERS[1], offset=4000)
    replica(world, SERVERS[2], offset=5000, priority=0)
    t = time.monotonic()
    p = world.start(shell, SERVERS[0], "cache-0", FAILOVER_WAIT="3", **PROTECT)
    conf, err = p.communicate(timeout=30)
    assert p.returncode == 1 and conf == "", err
    assert "refusing to start as primary" in err and f"{SERVERS[1]} (offset 4000, a promotable replica)" in err
    assert time.monotonic() - t >= 2


def test_no_failover_and_no_replica_with_data_still_starts_as_primary(world: World, shell: str) -> None:
    for s in SENTINELS:
        world.sentinel(s, SERVERS[0])
    replica(world, SERVERS[1], offset=5000)
    p = world.start(shell, SERVERS[0], "cache-0", FAILOVER_WAIT="3", **PROTECT)
    time.sleep(1)
    replica(world, SERVERS[1], offset=0, priority=0)     # the replica restarted empty meanwhile
    conf, err = p.communicate(timeout=30)
    assert p.returncode == 0 and replicaof(conf) is None and "no failover within 3s" in err


def test_every_server_starts_unpromotable_with_protect_data(world: World, shell: str) -> None:
    """Every replica starts unpromotable until its first sync (redis-start.sh, for every cache); with
    PROTECT_DATA a server starting as primary is held too, so after a demotion it is promotable only
    once it has synced as a replica (data_at_risk counts a promotable replica as the newest copy)."""
    held = world.root / "run" / "replica-priority"
    rc, conf, err = world.run(shell, SERVERS[0], "cache-0")
    assert rc == 0 and replicaof(conf) is None and "replica-priority" not in conf and not held.exists(), err
    p = world.start(shell, SERVERS[0], "cache-0", **PROTECT)
    conf, err = p.communicate(timeout=30)
    assert p.returncode == 0 and replicaof(conf) is None and "\nreplica-priority 0\n" in conf, err
    assert held.read_text().strip() == "100"


def test_every_replica_starts_unpromotable_without_protect_data(world: World, shell: str) -> None:
    """Without PROTECT_DATA too: a server starting as a replica is held at replica-priority 0 and its
    configured priority kept for `probe.sh ready` (a scale-up's new pod, a restarted replica), so
    Sentinel cannot promote it before its first sync."""
    held = world.root / "run" / "replica-priority"
    world.sentinel(SENTINELS[0], SERVERS[2])
    world.sentinel(SENTINELS[1], SERVERS[2])
    rc, conf, err = world.run(shell, SERVERS[0], "cache-0")
    assert rc == 0 and replicaof(conf) == SERVERS[2], err
    assert "\nreplica-priority 0\n" in conf and held.read_text().strip() == "100", conf


def probe(world: World, shell: str, self_address: str) -> subprocess.CompletedProcess:
    (world.conf / "probe.sh").write_text(ha.script("probe.sh"))
    cmd = [shell, str(world.conf / "probe.sh"), "ready"] if shell == "/bin/sh" else \
        [shell, "sh", str(world.conf / "probe.sh"), "ready"]
    env = world.env(self_address, "cache-1") | {"PROBE_ADDRESS": self_address}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)


def test_ready_probe_makes_a_replica_promotable_only_after_a_completed_sync(world: World, shell: str) -> None:
    held = world.root / "run" / "replica-priority"       # what redis-start.sh held back
    held.parent.mkdir(exist_ok=True)
    held.write_text("100\n")
    port = SERVERS[1].rsplit(":", 1)[1]
    d = world.fake / port
    d.mkdir()
    calls = d / "CONFIG_SET_replica-priority_100"
    def info(link: str, syncing: int) -> None:
        (d / "INFO_replication").write_text(f"role:slave\r\nmaster_link_status:{link}\r\n"
                                            f"master_sync_in_progress:{syncing}\r\n")
    info("down", 1)                      # loading its first copy
    assert probe(world, shell, SERVERS[1]).returncode == 1 and held.exists()
    info("up", 1)                        # linked, the sync not done
    assert probe(world, shell, SERVERS[1]).returncode == 1 and held.exists()
    info("up", 0)
    # The fake answers CONFIG SET only once the file exists: until the priority is set, the probe
    # fails and keeps what it must restore.
    assert probe(world, shell, SERVERS[1]).returncode == 1 and held.exists()
    calls.write_text("OK\n")
    assert probe(world, shell, SERVERS[1]).returncode == 0 and not held.exists()
