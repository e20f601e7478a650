"""Live, TLS on: the same scripts and templates with `port 0` + `tls-port`, replication and Sentinel
over TLS, HAProxy checking over TLS and passing client TLS through, with a CA made by openssl."""
from __future__ import annotations

import pytest
import redis

from testbed.statefulset import LocalStatefulSet
from testbed.support import PASSWORD, Writer, missing_keys, wait_until
from .test_statefulset_ha import FAILOVER_BOUND_S, endpoint_port

pytestmark = pytest.mark.live


def test_tls_replication_failover_and_endpoint(tls_cluster: LocalStatefulSet) -> None:
    c = tls_cluster
    assert c.settle(timeout=60) == 0
    runtime = (c.members["redis-0"].run_dir / "redis.conf").read_text()
    assert "\nport 0\n" in runtime and f"\ntls-port {c.redis_ports[0]}\n" in runtime

    # Nothing answers in plain text, so no password ever crosses the network in the clear.
    plain = redis.Redis(host="127.0.0.1", port=c.redis_ports[0], password=PASSWORD, socket_timeout=1,
                        socket_connect_timeout=1)
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    plain.close()

    with c.redis(0) as r:
        r.set("tls", "on")
        assert r.execute_command("WAIT", 2, 5000) == 2
    for i in (1, 2):
        with c.redis(i) as r:
            assert r.get("tls") == "on"
    wait_until("the write endpoint on the primary", lambda: endpoint_port(c) == c.redis_ports[0], 5)

    writer = Writer(lambda: c.endpoint(0.5), "tls")
    writer.start()
    wait_until("writes through the endpoint", lambda: len(writer.acked) >= 50, 10)
    t_kill = c.kill("redis-0")
    new = wait_until("a new primary every Sentinel names", lambda: (p := c.agreed_primary()) not in (None, 0) and p,
                     FAILOVER_BOUND_S)
    wait_until("a write through the endpoint after the kill", lambda: writer.recovered_after(t_kill),
               FAILOVER_BOUND_S)
    writer.stop()
    with c.redis(new) as r:
        assert missing_keys(r, writer.acked) == [], "acknowledged (WAIT 1) writes were lost"
    assert endpoint_port(c) == c.redis_ports[new]

    c.start("redis-0")
    assert c.settle() == new
    assert c.role(0) == "slave"

    # Probes and the preStop handover speak TLS too.
    for i in range(3):
        assert c.run_script(f"redis-{i}", "probe.sh", "ready").returncode == 0
        assert c.run_script(f"sentinel-{i}", "probe.sh", "sentinel").returncode == 0
    result = c.run_script(f"redis-{new}", "redis-prestop.sh")
    assert result.returncode == 0 and "handed over to" in result.stderr, result.stderr
    assert c.role(new) == "slave"
    wait_until("another primary every Sentinel names", lambda: (p := c.agreed_primary()) not in (None, new) and p,
               FAILOVER_BOUND_S)
