"""Live: the StatefulSet pattern's rendered configs and pod scripts in real redis-server, redis-sentinel
and haproxy processes (3 + 3 + 1 on 127.0.0.1, non-root, read-only conf dirs). Each test starts from
a settled set (one primary that every Sentinel names and that sees every replica and peer)."""
from __future__ import annotations

import os
import shutil
import signal
import time

import pytest
import redis

from testbed.statefulset import LocalStatefulSet
from testbed.support import ACL_RULE_EXAMPLES, ACL_USERS, PASSWORD, UID, Writer, file_mode, missing_keys, new_root, require_binaries, user_password, wait_until

pytestmark = pytest.mark.live

# Loose bounds: a shared 2-core box, and Sentinel may enter TILT when its timer stalls.
FAILOVER_BOUND_S = 20


def pid_uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Uid:")).split()[1])


def test_bootstrap_elects_ordinal_0_and_replicates(cluster: LocalStatefulSet) -> None:
    primary = cluster.settle(timeout=60)
    assert primary == 0, cluster.logs("redis-0")
    assert "designated initial primary" in cluster.logs("redis-0") or "no peer holds" in cluster.logs("redis-0")

    with cluster.redis(0) as r:
        r.set("boot", "yes")
        assert r.execute_command("WAIT", 2, 5000) == 2
    for i in (1, 2):
        with cluster.redis(i) as r:
            assert r.get("boot") == "yes"
            assert r.info("replication")["role"] == "slave"
    assert set(cluster.sentinel_views()) == {f"127.0.0.1:{cluster.redis_ports[0]}"}

    # The endpoint writes to the primary and reads from a replica. (HAProxy starts with every server
    # up until its first check, which is why its pods get a readiness delay.)
    wait_until("the write endpoint on the primary", lambda: endpoint_port(cluster) == cluster.redis_ports[0], 5)
    wait_until("the read endpoint on a replica", lambda: endpoint_port(cluster, read=True) in cluster.redis_ports[1:], 5)
    with cluster.endpoint(read=True) as e:
        assert e.get("boot") == "yes"

    for name, m in cluster.members.items():
        assert m.proc is not None
        if os.geteuid() == 0:
            assert pid_uid(m.proc.pid) == UID, name
        for f in m.conf.iterdir():
            assert PASSWORD not in f.read_text(), f"{name}: {f.name} holds the password"
        assert file_mode(m.conf) == 0o555
    runtime = cluster.members["redis-1"].run_dir / "redis.conf"
    assert file_mode(runtime) == 0o600 and f'requirepass "{PASSWORD}"' in runtime.read_text()

    for i in range(3):
        for mode in ("alive", "ready"):
            assert cluster.run_script(f"redis-{i}", "probe.sh", mode).returncode == 0, f"redis-{i} {mode}"
        assert cluster.run_script(f"sentinel-{i}", "probe.sh", "sentinel").returncode == 0


def endpoint_port(cluster: LocalStatefulSet, read: bool = False) -> int:
    with cluster.endpoint(read=read) as e:
        return int(e.info("server")["tcp_port"])


def test_sigkill_of_primary_promotes_replica_without_losing_acknowledged_writes(cluster: LocalStatefulSet) -> None:
    old = cluster.settle()
    writer = Writer(lambda: cluster.endpoint(0.5), "kill")
    writer.start()
    wait_until("writes through the endpoint", lambda: len(writer.acked) >= 100, 10)
    t_kill = cluster.kill(f"redis-{old}")
    acked_before = len(writer.acked)

    new = wait_until("a new primary every Sentinel names", lambda: (p := cluster.agreed_primary()) not in (None, old) and p,
                     FAILOVER_BOUND_S)
    wait_until("a write through the endpoint after the kill",
               lambda: writer.recovered_after(t_kill), FAILOVER_BOUND_S)
    writer.stop()
    gap = writer.recovered_after(t_kill) - t_kill  # type: ignore[operator]

    assert cluster.primaries() == [new]
    with cluster.redis(new) as r:
        assert missing_keys(r, writer.acked) == [], "acknowledged (WAIT 1) writes were lost"
    assert acked_before >= 100 and len(writer.acked) > acked_before
    assert endpoint_port(cluster) == cluster.redis_ports[new], "the endpoint did not follow"
    assert gap < FAILOVER_BOUND_S

    # The old primary comes back through the start-up script as a replica of the new one.
    cluster.start(f"redis-{old}")
    assert cluster.settle() == new
    assert cluster.role(old) == "slave"
    assert "starting as replica of" in cluster.last_start(f"redis-{old}")
    with cluster.redis(old) as r:
        wait_until("the old primary to have the writes", lambda: not missing_keys(r, writer.acked[-50:]), 10)


def test_primary_restarted_before_failover_waits_and_rejoins_as_replica(cluster: LocalStatefulSet) -> None:
    """The split-brain / empty-primary trap: a primary crashes and its container restarts before
    Sentinel notices. Sentinel still names it, the replicas hold the data: it must not serve (empty)
    as primary, but wait for the promotion and rejoin as a replica."""
    old = cluster.settle()
    with cluster.redis(old) as r:
        keys = [f"early:{n}" for n in range(200)]
        r.mset({k: "v" for k in keys})
        assert r.execute_command("WAIT", 2, 5000) == 2
    cluster.kill(f"redis-{old}")
    cluster.start(f"redis-{old}")
    roles_seen = set()
    def promoted() -> int | None:
        roles_seen.add(cluster.role(old))
        p = cluster.agreed_primary()
        return p if p not in (None, old) else None
    new = wait_until("Sentinel to promote a replica", promoted, FAILOVER_BOUND_S, interval=0.05)
    assert cluster.settle() == new
    roles_seen.add(cluster.role(old))
    assert "master" not in roles_seen, "the restarted server served as primary"
    log = cluster.last_start(f"redis-{old}")
    assert "still name this restarted server" in log and "Sentinel promoted it while this server was down" in log
    for i in (old, new):
        with cluster.redis(i) as r:
            assert missing_keys(r, keys) == []


def test_prestop_hands_over_before_the_primary_exits(cluster: LocalStatefulSet) -> None:
    old = cluster.settle()
    writer = Writer(lambda: cluster.endpoint(0.5), "drain")
    writer.start()
    wait_until("writes through the endpoint", lambda: len(writer.acked) >= 100, 10)
    t0 = time.monotonic()
    result = cluster.run_script(f"redis-{old}", "redis-prestop.sh")
    handover = time.monotonic() - t0
    assert result.returncode == 0 and "handed over to" in result.stderr, result.stderr

    # Handed over while the old process still runs: the promoted replica serves as primary, the old
    # one is already its replica, and the Sentinels all come to name the new one.
    assert cluster.members[f"redis-{old}"].running()
    new_address = result.stderr.rsplit("handed over to ", 1)[1].split()[0]
    new = cluster.redis_ports.index(int(new_address.rsplit(":", 1)[1]))
    assert new != old and cluster.role(new) == "master"
    assert cluster.role(old) == "slave"
    assert wait_until("every Sentinel to name the new primary", cluster.agreed_primary, 10) == new

    cluster.stop(f"redis-{old}")  # SIGTERM, as the kubelet sends once preStop returns
    stopped = time.monotonic()
    # Any acknowledged write after the old process is gone. (Not `recovered_after`: HAProxy may cut
    # the writer's connection while the hook still runs, so no error need follow the hook's end.)
    wait_until("a write through the endpoint after the handover",
               lambda: next((s for s in writer.successes if s > stopped), None), FAILOVER_BOUND_S)
    assert endpoint_port(cluster) == cluster.redis_ports[new]
    writer.stop()
    with cluster.redis(new) as r:
        assert missing_keys(r, writer.acked) == [], "acknowledged writes were lost in the handover"
    assert handover < 10, f"handover took {handover:.1f}s"
    cluster.start(f"redis-{old}")
    assert cluster.settle() == new


def test_min_replicas_to_write_refuses_writes_without_replicas(cluster: LocalStatefulSet) -> None:
    primary = cluster.settle()
    replicas = [i for i in range(3) if i != primary]
    for i in replicas:
        cluster.signal(f"redis-{i}", signal.SIGSTOP)
    try:
        def refused() -> bool:
            with cluster.redis(primary) as r:
                try:
                    r.set("lonely", "x")
                except redis.ResponseError as exc:
                    return "NOREPLICAS" in str(exc)
                return False
        wait_until("NOREPLICAS once the replicas stop acknowledging", refused, 10)
    finally:
        for i in replicas:
            cluster.signal(f"redis-{i}", signal.SIGCONT)
    def accepted() -> bool:
        with cluster.redis(primary) as r:
            return bool(r.set("lonely", "back"))
    wait_until("writes accepted again", accepted, 10)
    assert cluster.settle() == primary


def test_sentinel_restarts_keep_one_identity_per_address(cluster: LocalStatefulSet) -> None:
    primary = cluster.settle()
    def myid() -> str:
        with cluster.sentinel(1) as s:
            return str(s.execute_command("SENTINEL", "MYID"))
    before = myid()

    # Container restart, same volume: same id, so the others never count a fourth Sentinel.
    cluster.kill("sentinel-1")
    cluster.start("sentinel-1")
    cluster.wait_ready("sentinel-1")
    assert myid() == before
    assert cluster.settle() == primary

    # Rescheduled with an empty volume: a new id; the others replace the old one at that address
    # (settle() requires num-other-sentinels == 2 on every Sentinel) and it monitors the current
    # primary, learnt from the other Sentinels, not the template's ordinal 0.
    cluster.kill("sentinel-1")
    for f in cluster.members["sentinel-1"].run_dir.iterdir():
        f.unlink()
    cluster.start("sentinel-1")
    cluster.wait_ready("sentinel-1")
    assert myid() != before
    assert f"monitoring 127.0.0.1:{cluster.redis_ports[primary]}" in cluster.last_start("sentinel-1")
    assert cluster.settle() == primary


def test_acl_users_get_exactly_their_rules_on_every_server_after_failovers(cluster: LocalStatefulSet) -> None:
    """ACL users (rendered by redis-start.sh from acl-users.conf and the password files) beside the
    default user. Runs after the failovers and restarts above, so the users have been through
    Sentinel's CONFIG REWRITE and re-rendering by the script; the default user kept replication,
    Sentinel and the HAProxy checks working all along."""
    primary = cluster.settle()
    with cluster.client(cluster.write_port, user="app") as app:
        assert app.set("app:acl", "v") and app.get("app:acl") == "v"
        with pytest.raises(redis.exceptions.NoPermissionError, match="(?i)no permissions"):
            app.set("other:acl", "v")            # outside ~app:*
        with pytest.raises(redis.exceptions.NoPermissionError, match="(?i)no permissions"):
            app.flushall()                        # -@dangerous
        assert app.get("shared:acl") is None     # the selector grants GET on shared:*
        with pytest.raises(redis.exceptions.NoPermissionError, match="(?i)no permissions"):
            app.set("shared:acl", "v")           # ... and nothing else there
    with cluster.redis(primary) as r:
        assert r.execute_command("ACL", "WHOAMI") == "default"
        r.set("other:acl", "by-default")
        assert r.execute_command("WAIT", 2, 5000) == 2
    for i in range(cluster.servers):
        with cluster.client(cluster.redis_ports[i], user="reader") as reader:
            assert reader.mget(["app:acl", "other:acl"]) == ["v", "by-default"], f"redis-{i}"
            with pytest.raises(redis.exceptions.NoPermissionError, match="(?i)no permissions"):
                reader.execute_command("SCAN", 0)     # +@read, then -@all +get +mget
    with pytest.raises(redis.exceptions.AuthenticationError):
        cluster.client(cluster.redis_ports[primary], user="app", password=PASSWORD).ping()

    # The users' passwords exist only in the Secret files and the runtime config in the run dir.
    secrets = [PASSWORD] + [user_password(name) for name, _ in ACL_USERS]
    for name, m in cluster.members.items():
        for f in m.conf.iterdir():
            assert not any(s in f.read_text() for s in secrets), f"{name}: {f.name} holds a password"
    assert (cluster.members["redis-0"].conf / "acl-users.conf").exists()
    assert not (cluster.members["sentinel-0"].conf / "acl-users.conf").exists()


def test_every_form_of_acl_rule_the_config_accepts_loads_in_redis() -> None:
    require_binaries()
    root = new_root("cp-ha-acl-")
    users = tuple((f"u{i}", rules) for i, rules in enumerate(ACL_RULE_EXAMPLES))
    c = LocalStatefulSet(root, servers=1, sentinels=1, acl_users=users)
    try:
        c.start("redis-0")
        c.wait_ready("redis-0")
        with c.redis(0) as r:
            listed = {line.split()[1]: line for line in r.execute_command("ACL", "LIST")}
        for name, _ in users:
            assert " on " in listed[name] and " #" in listed[name], listed[name]
            with c.client(c.redis_ports[0], user=name) as u:
                u.execute_command("AUTH", name, user_password(name))
    finally:
        c.stop_all()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("persistence, survives", [("none", False), ("rdb", True), ("aof", True)])
def test_persistence_modes_load_and_behave_across_a_restart(persistence: str, survives: bool) -> None:
    """Each rendered persistence mode loads in a real redis-server and does what it says when the
    lone designated primary is restarted through its script (no Sentinel, no peers reachable)."""
    require_binaries()
    root = new_root(f"cp-ha-{persistence}-")
    c = LocalStatefulSet(root, servers=1, sentinels=1, persistence=persistence)
    try:
        c.start("redis-0")
        c.wait_ready("redis-0")
        with c.redis(0) as r:
            assert r.config_get("appendonly")["appendonly"] == ("yes" if persistence == "aof" else "no")
            assert (r.config_get("save")["save"] != "") == (persistence == "rdb")
            r.set("kept", "yes")
        c.stop("redis-0")   # SIGTERM: the shutdown a pod gets
        c.start("redis-0")
        c.wait_ready("redis-0")
        wait_until("the data set to load", lambda: c.role(0) == "master", 10)
        with c.redis(0) as r:
            assert (r.get("kept") == "yes") == survives
    finally:
        c.stop_all()
        shutil.rmtree(root, ignore_errors=True)
