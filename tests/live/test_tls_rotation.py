"""Live: certificates renewed and the CA rotated under a running cluster, by the pods' own reload
(tls.sh, tls-reload.sh), as cert-manager and the kubelet would do it: each pod's Secret volume is
swapped (`..data`) at its own moment. Every Redis and Sentinel then serves the new
certificate to new connections, the write endpoint passes it through, no acknowledged write is lost,
no failover starts, and at most one Sentinel is down at a time.

Differs from the staging stack only in timing: polls every 0.5 s (5 s), Sentinel restart slots of
2 s (10 s), a new CA's key pair served 12 s after it is trusted (150 s: the kubelet's propagation
across pods plus the Sentinel slots), pods updated within 2 s of each other and HAProxy's 4 s after
the first (up to ~2 min apart in a cluster). benchmarks/tls_reload.py measures the same with the
stack's own timing.
"""
from __future__ import annotations

import math
import random
import shutil
from pathlib import Path
from typing import Iterator

import pytest
import redis

from testbed import engines
from testbed.statefulset import LocalStatefulSet
from testbed.support import PASSWORD, Writer, missing_keys, new_root, require_binaries, wait_until
from testbed.tls import make_tls
from testbed.rotation import random_offsets, rotate
from .test_statefulset_ha import endpoint_port

pytestmark = pytest.mark.live
SPREAD_S = 2.0          # when the pods' kubelets bring an update, within this many seconds
HAPROXY_LAST_S = 4.0    # the worst case for the write endpoint: HAProxy's pod is updated last
SLOT_S = 2
# A new CA's key pair waits until every pod has the Secret and every Sentinel has restarted to trust it.
TRUST_DELAY_S = math.ceil(HAPROXY_LAST_S) + 3 * SLOT_S + 2


@pytest.fixture(scope="module")
def rotating(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    require_binaries()
    ca_dir = Path(tmp_path_factory.mktemp("tls"))
    first = make_tls(ca_dir / "first", ecdsa=True, label="rotation CA one")
    root = new_root("cp-rotate-")
    # staging's Sentinel and endpoint settings: down-after 5 s, 1 s checks, min-replicas-to-write 1.
    cluster = LocalStatefulSet(root, tls=first, busybox=True, down_after_ms=5000, failover_timeout_ms=30_000,
                      min_replicas_to_write=1, min_replicas_max_lag_ms=10_000, check_interval_ms=1000,
                      tls_poll_s=0.5, tls_restart_slot_s=SLOT_S, tls_trust_delay_s=TRUST_DELAY_S)
    cluster.start_all()
    writers: tuple[Writer, ...] = ()
    try:
        cluster.settle(timeout=60)
        # Hand the primary over (the preStop hook), so it is not the first server of haproxy.cfg: a
        # reloaded HAProxy that forgot the servers' states would send writes to r0, now a replica.
        assert "handed over to" in cluster.run_script("redis-0", "redis-prestop.sh").stderr
        primary = cluster.settle(timeout=60)
        assert primary != 0
        wait_until("the write endpoint on the new primary", lambda: endpoint_port(cluster) == cluster.redis_ports[primary],
                   30)
        # One client on a long-lived connection, one opening a new connection for every write.
        writers = (Writer(lambda: cluster.endpoint(0.5), "rot"), Writer(lambda: cluster.endpoint(0.5), "rot-new", fresh=True))
        for w in writers:
            w.start()
        wait_until("writes through the endpoint", lambda: all(len(w.acked) >= 50 for w in writers), 30)
        yield cluster, writers, first, ca_dir, primary
    finally:
        for w in writers:
            w.stop()
        cluster.stop_all()
        if request.session.testsfailed:
            print(f"\nrotation cluster kept at {root}\n{cluster.logs(tail=30)}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def common_checks(r, primary: int) -> None:
    assert r.complete, f"not every member serves the new certificate: {r.served_after}"
    assert r.endpoint_serves_new, "a new connection through the write endpoint did not get the new certificate"
    assert (r.endpoint_serial, r.endpoint_issuer) == (r.serial, r.issuer)
    assert r.failovers == [], r.failovers
    assert r.primary_before == r.primary_after == primary
    assert r.max_sentinels_down <= 1, f"{r.max_sentinels_down} Sentinels were down at once"
    assert r.writes_acked > 100 and r.writes_lost == 0, (r.writes_acked, r.writes_lost)
    assert r.readonly_errors == 0, "the endpoint sent writes to a replica"
    # No Redis, Sentinel or HAProxy check ever met a certificate it did not trust.
    assert r.handshake_errors == [], "\n".join(r.handshake_errors[:10])


def test_a_renewal_under_the_same_ca_is_served_at_once(rotating) -> None:
    cluster, writers, first, ca_dir, primary = rotating
    renewed = make_tls(ca_dir / "renewed", ca=first, ecdsa=True, label="rotation CA one")
    # Every pod at the same moment: the worst case for the Sentinels, which would all restart at once
    # without their slots.
    r = rotate(cluster, renewed, "renewal", {pod: 0.0 for pod in cluster.pods()}, timeout=60, writers=writers)
    print(f"\nrenewal ({engines.versions()}): {r}")
    common_checks(r, primary)
    # The CA did not change: HAProxy's trust did not either, so it is not reloaded; each Sentinel
    # restarts once, in its slot.
    assert r.haproxy_reloads == [] and r.sentinel_restarts == 3
    redis_times = [t for n, t in r.served_after.items() if n.startswith("redis-")]
    assert max(redis_times) < 3 * cluster.tls_poll_s + 2, r.served_after
    assert r.longest_write_gap < 1.0, f"writes paused for {r.longest_write_gap}s"


def test_a_new_ca_is_trusted_everywhere_before_any_pod_serves_its_certificate(rotating) -> None:
    cluster, writers, first, ca_dir, primary = rotating
    second = make_tls(ca_dir / "second", ecdsa=True, label="rotation CA two")
    offsets = random_offsets(cluster.pods(), SPREAD_S, random.Random(2), last="haproxy", last_at=HAPROXY_LAST_S)
    r = rotate(cluster, second, "new CA", offsets, timeout=90, writers=writers, settle_after=12)
    print(f"\nnew CA ({engines.versions()}): {r}")
    common_checks(r, primary)
    assert "rotation CA two" in r.issuer
    # Two steps: trust first (HAProxy reloads once, each Sentinel restarts to trust), serve later
    # (each Sentinel restarts again); no pod serves the new CA's certificate before the trust delay.
    assert len(r.haproxy_reloads) == 1 and r.haproxy_reloads[0] < 3 * cluster.tls_poll_s + 2
    assert r.sentinel_restarts == 6
    # (tls.sh counts in whole seconds: the delay may come up to 1 s short of TRUST_DELAY_S.)
    assert min(r.served_after.values()) >= TRUST_DELAY_S - 1, r.served_after
    # HAProxy, updated last, never lost the primary: its checks trusted every certificate the
    # servers presented (a pod serving the new CA's certificate at once would fail them for 4 s).
    assert r.longest_write_gap < 1.0, f"writes paused for {r.longest_write_gap}s"
    # A client that knows only the new CA gets in through the endpoint; one that knows only the old
    # one no longer does: new connections really use the new certificate.
    new_only = redis.Redis(host="127.0.0.1", port=cluster.write_port, password=PASSWORD, ssl=True,
                           ssl_ca_certs=str(second.ca), ssl_check_hostname=False, socket_timeout=2)
    assert new_only.ping()
    new_only.close()
    old_only = redis.Redis(host="127.0.0.1", port=cluster.write_port, password=PASSWORD, ssl=True,
                           ssl_ca_certs=str(first.ca), ssl_check_hostname=False, socket_timeout=2)
    with pytest.raises(redis.ConnectionError):
        old_only.ping()
    old_only.close()
    # Every write acknowledged since the cluster started is still there.
    with cluster.redis(primary, timeout=5) as conn:
        for w in writers:
            assert missing_keys(conn, list(w.acked)) == []
