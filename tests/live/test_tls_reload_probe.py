"""Live: the certificate watchers' liveness probe (tls-reload.sh beside Redis and beside HAProxy)
against real watchers of a TLS cluster, run as the kubelet runs the rendered probe (its command in the
container's environment).

A watcher that runs refreshes its heartbeat every round, so its probe passes however long it runs; one
that has stopped watching (SIGSTOP: the loop no longer goes round, the process is still there) fails
its probe once the heartbeat is older than the limit (6 polls, at least 30 s), and the kubelet restarts
it after `failureThreshold` failures `periodSeconds` apart. The restarted watcher loads a renewed
certificate into Redis at once. Why liveness and no readiness probe: docs/patterns/statefulset.md.
"""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from cache_patterns.patterns.statefulset import ha
from tools import harness

from testbed.statefulset import LocalStatefulSet
from testbed.support import wait_until
from testbed.tls import make_tls, pem_to_der, served_certificate

pytestmark = pytest.mark.live
WATCHERS = {"redis": "redis-0-tls-reload", "haproxy": "haproxy-tls-reload"}
# tls-reload.sh alive: a heartbeat older than 6 polls, and never less than 30 s, is a stopped watcher.
LIMIT_S = 30
# The probe and the heartbeat count whole seconds (`date +%s`); the probe itself starts a shell.
CLOCK_S = 2


def rendered_probes() -> dict[str, dict]:
    """The tls-reload containers' livenessProbes as the staging stack renders them, by role."""
    objs = harness.run("staging").manifests()
    out = {}
    for o in objs:
        if o["kind"] in ("StatefulSet", "Deployment"):
            for c in o["spec"]["template"]["spec"]["containers"]:
                if c["name"] == "tls-reload":
                    command = c["livenessProbe"]["exec"]["command"]
                    assert "readinessProbe" not in c, "a watcher's readiness would take a serving pod out of its Service"
                    out[command[-1]] = c["livenessProbe"]
    assert set(out) == set(WATCHERS)
    return out


def probe(cluster: LocalStatefulSet, watcher: str, spec: dict) -> bool:
    """The rendered exec probe, run in the watcher's environment (its script from the pod's ConfigMap)."""
    sh, script, *args = spec["exec"]["command"]
    assert (sh, script) == ("sh", f"{ha.CONF_DIR}/tls-reload.sh")
    return cluster.run_script(watcher, "tls-reload.sh", *args, timeout=spec["timeoutSeconds"]).returncode == 0


def heartbeat(cluster: LocalStatefulSet, watcher: str, role: str) -> int:
    return int((cluster.members[watcher].tls_live / f".alive-{role}").read_text())


def test_a_stopped_watcher_fails_its_liveness_probe_and_a_restarted_one_reloads(tls_cluster: LocalStatefulSet) -> None:
    cluster = tls_cluster
    probes = rendered_probes()
    cluster.settle(timeout=60)
    # Running: the probe passes, and every round refreshes the heartbeat (not only the first).
    for role, watcher in WATCHERS.items():
        assert probe(cluster, watcher, probes[role]), role
        first = heartbeat(cluster, watcher, role)
        wait_until(f"the {role} watcher's next heartbeat", lambda: heartbeat(cluster, watcher, role) > first, 5)
    # Stopped: still a process, no longer going round.
    stopped = time.monotonic()
    for watcher in WATCHERS.values():
        cluster.signal(watcher, signal.SIGSTOP)
    try:
        failed: dict[str, float] = {}
        while len(failed) < len(WATCHERS) and time.monotonic() - stopped < LIMIT_S + 3 * CLOCK_S:
            for role, watcher in WATCHERS.items():
                if role not in failed and not probe(cluster, watcher, probes[role]):
                    failed[role] = time.monotonic() - stopped
            time.sleep(0.5)
        print(f"\nstopped watchers' probes first failed after {failed} s (limit {LIMIT_S} s)")
        assert set(failed) == set(WATCHERS), f"a stopped watcher still passed its probe: {failed}"
        for role, after in failed.items():
            assert after >= LIMIT_S - CLOCK_S, f"{role}: the probe failed {after:.1f} s after the stop"
        # The kubelet kills the container after `failureThreshold` failures `periodSeconds` apart.
        for role, spec in probes.items():
            assert spec["periodSeconds"] * spec["failureThreshold"] <= 120, role
    finally:
        for watcher in WATCHERS.values():
            cluster.signal(watcher, signal.SIGCONT)
    # Restarted (as the kubelet does): the probe passes again, and a renewal reaches Redis.
    for watcher in WATCHERS.values():
        cluster.kill(watcher)
        cluster.start(watcher)
    for role, watcher in WATCHERS.items():
        wait_until(f"the restarted {role} watcher's probe", lambda: probe(cluster, watcher, probes[role]), 10)
    assert cluster.tls is not None
    renewed = make_tls(Path(cluster.root) / "renewed", ca=cluster.tls, names=(), label="watcher restart")
    cluster.install_tls(renewed)
    wait_until("redis-0 serving the renewed certificate",
               lambda: served_certificate(cluster.redis_ports[0]) == pem_to_der(renewed.cert), 15)
