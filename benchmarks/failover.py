"""Failover benchmark of the StatefulSet pattern: the staging stack's cache as it ships, in real processes.

The plan comes from stacks/Pulumi.staging.yaml (testbed.plans.stack_plan: the same redis.conf,
sentinel.conf, haproxy.cfg, scripts and timings the rendered ConfigMaps and pod specs carry; only
addresses, ports and file paths are local), run as 3 Redis + 3 Sentinels + 1 HAProxy on 127.0.0.1
through the pod scripts as UID 10001. Each row is that plan or a variant that differs where it says.

Per trial, writers run throughout: one through the HAProxy write endpoint and one through redis-py's
Sentinel client (0.5 s socket timeouts, no retries), each SET followed by WAIT 1 (acknowledged = a
replica has it). A trial either SIGKILLs the primary or drains it through its preStop hook, and
reports what a client sees: the longest time without an acknowledged write on each path (kill: also
kill -> +switch-master), the hook's own runtime, and acknowledged writes lost.

    .venv/bin/python benchmarks/failover.py [--rows shipped,no-tls,...] [--kills 5] [--drains 5]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cache_patterns.patterns.statefulset import ha  # noqa: E402
from benchmarks.rows import add_rows_option, chosen_rows  # noqa: E402
from testbed.plans import stack_plan  # noqa: E402
from testbed.statefulset import LocalStatefulSet  # noqa: E402
from testbed.support import PASSWORD, Writer, engine_versions, missing_binaries, missing_keys, new_root, wait_until, which  # noqa: E402

NO_RETRY = Retry(NoBackoff(), 0)
TIMEOUT = 0.5   # socket timeouts of both clients: short, no retries (FIELD-NOTES: defaults stall ~21 s)
STACK, CACHE = "staging", "sessions"


@dataclass(frozen=True)
class Row:
    key: str
    differs: str                          # what differs from the staging stack ("-": nothing)
    changes: dict                         # edits of the cache's keys in the stack file
    endpoint: Callable[[ha.Endpoint], ha.Endpoint] = lambda e: e

    def plan(self) -> ha.HaPlan:
        p = stack_plan(STACK, CACHE, self.changes)
        return replace(p, endpoint=self.endpoint(p.endpoint))


ROWS = [
    Row("shipped", "-", {}),
    Row("no-tls", "TLS off", {"tls": None}),
    Row("no-persistence", "persistence none", {"persistence": "none", "storage": None}),
    Row("min-replicas-0", "minReplicasToWrite 0", {"minReplicasToWrite": 0}),
    Row("checks-500ms", "HAProxy checks every 500 ms", {},
        lambda e: replace(e, check_interval_ms=500)),
    Row("downinter-250ms", "HAProxy checks servers that are down every 250 ms", {},
        lambda e: replace(e, down_check_interval_ms=250)),
    Row("old-benchmark", "what this benchmark ran before: checks every 500 ms, no TLS, persistence none, "
        "minReplicasToWrite 0", {"tls": None, "persistence": "none", "storage": None, "minReplicasToWrite": 0},
        lambda e: replace(e, check_interval_ms=500)),
]


class SwitchWatcher(threading.Thread):
    """Records when any Sentinel first publishes +switch-master."""

    def __init__(self, cluster: LocalStatefulSet) -> None:
        super().__init__(daemon=True)
        self.subs = []
        for i in range(cluster.sentinels):
            ps = cluster.sentinel(i, timeout=TIMEOUT).pubsub()
            ps.subscribe("+switch-master")
            self.subs.append(ps)
        self.first: float | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for ps in self.subs:
                try:
                    msg = ps.get_message(ignore_subscribe_messages=True, timeout=0.01)
                except (redis.RedisError, OSError):
                    continue
                if msg is not None and self.first is None:
                    self.first = time.monotonic()

    def stop(self) -> None:
        self.halt.set()
        self.join(5)
        for ps in self.subs:
            ps.close()


def tls_kwargs(cluster: LocalStatefulSet) -> dict:
    if cluster.tls is None:
        return {}
    return {"ssl": True, "ssl_ca_certs": str(cluster.client_ca), "ssl_check_hostname": False}


def sentinel_client(cluster: LocalStatefulSet) -> Sentinel:
    common = {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT, "retry": NO_RETRY, **tls_kwargs(cluster)}
    return Sentinel([(a.host, a.port) for a in cluster.sentinel_addrs], **common,
                    sentinel_kwargs={"password": PASSWORD, **common})


def trial(cluster: LocalStatefulSet, n: int, graceful: bool) -> dict[str, float]:
    old = cluster.settle(timeout=180)
    sentinel = sentinel_client(cluster)
    via_endpoint = Writer(lambda: cluster.endpoint(TIMEOUT), f"ep{n}")
    via_sentinel = Writer(lambda: sentinel.master_for(cluster.master, password=PASSWORD, socket_timeout=TIMEOUT,
                                                      socket_connect_timeout=TIMEOUT, retry=NO_RETRY,
                                                      **tls_kwargs(cluster)), f"se{n}")
    watcher = SwitchWatcher(cluster)
    for t in (watcher, via_endpoint, via_sentinel):
        t.start()
    wait_until("writes on both paths", lambda: len(via_endpoint.acked) > 50 and len(via_sentinel.acked) > 50, 30)
    t0 = time.monotonic()
    if graceful:
        result = cluster.run_script(f"redis-{old}", "redis-prestop.sh")
        assert result.returncode == 0 and "handed over" in result.stderr, result.stderr
        handover = time.monotonic() - t0
        cluster.stop(f"redis-{old}")
    else:
        cluster.kill(f"redis-{old}")
        handover = float("nan")
    after = t0 + (handover if graceful else 0.0)
    def back(w: Writer) -> bool:
        errors = [e for e in w.error_times if e >= t0]
        return bool(w.successes) and w.successes[-1] > max([after, *errors])
    wait_until("a write on both paths after the fault", lambda: back(via_endpoint) and back(via_sentinel), 120)
    if not graceful:
        wait_until("+switch-master", lambda: watcher.first, 60)
    time.sleep(1.0)
    end = time.monotonic()
    for t in (via_endpoint, via_sentinel, watcher):
        t.stop()
    new = wait_until("a primary every Sentinel names", cluster.agreed_primary, 60)
    with cluster.redis(new) as r:
        lost = len(missing_keys(r, via_endpoint.acked)) + len(missing_keys(r, via_sentinel.acked))
    cluster.start(f"redis-{old}")
    # The longest time without an acknowledged write, from 1 s before the fault to the end: what a
    # client sees, whether its writes failed (kill) or waited (drain: CLIENT PAUSE) meanwhile.
    return {
        "switch": (watcher.first - t0) if watcher.first else float("nan"),
        "endpoint": via_endpoint.longest_gap(t0 - 1, end)[0],
        "sentinel": via_sentinel.longest_gap(t0 - 1, end)[0],
        "handover": handover,
        "acked": len(via_endpoint.acked) + len(via_sentinel.acked),
        "lost": lost,
    }


def summary(values: list[float]) -> str:
    vals = [v for v in values if v == v]
    if not vals:
        return "-"
    return f"{min(vals):.2f} / {statistics.median(vals):.2f} / {max(vals):.2f}"


def run_row(row: Row, kills: int, drains: int, busybox: bool) -> list[tuple[str, dict[str, float]]]:
    plan = row.plan()
    root = new_root(f"cp-failover-{row.key}-")
    cluster = LocalStatefulSet(root, plan=plan, busybox=busybox)
    cluster.start_all()
    rows: list[tuple[str, dict[str, float]]] = []
    try:
        for n in range(kills):
            r = trial(cluster, n, graceful=False)
            rows.append(("kill", r))
            print(f"  {row.key} kill  {n + 1}: switch-master {r['switch']:.2f}s  no write: endpoint "
                  f"{r['endpoint']:.2f}s sentinel-client {r['sentinel']:.2f}s  acked {r['acked']:.0f} lost "
                  f"{r['lost']:.0f}", flush=True)
        for n in range(drains):
            r = trial(cluster, 100 + n, graceful=True)
            rows.append(("drain", r))
            print(f"  {row.key} drain {n + 1}: preStop {r['handover']:.2f}s  no write: endpoint {r['endpoint']:.2f}s "
                  f"sentinel-client {r['sentinel']:.2f}s  acked {r['acked']:.0f} lost {r['lost']:.0f}", flush=True)
    finally:
        cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_rows_option(ap, ROWS)
    ap.add_argument("--kills", type=int, default=5, help="SIGKILL trials per row (default 5)")
    ap.add_argument("--drains", type=int, default=5, help="preStop drain trials per row (default 5)")
    args = ap.parse_args()
    chosen = chosen_rows(ap, args.rows, ROWS)
    missing = missing_binaries()
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    busybox = which("busybox") is not None
    loads = [os.getloadavg()[0]]
    results = []
    for row in chosen:
        print(f"{row.key}: {row.differs}", flush=True)
        results.append((row, run_row(row, args.kills, args.drains, busybox)))
        loads.append(os.getloadavg()[0])

    shipped = stack_plan(STACK, CACHE)
    print()
    print(f"{engine_versions()}; 3 Redis + 3 Sentinels + 1 HAProxy on 127.0.0.1, scripts under "
          f"{'busybox sh' if busybox else 'dash'}, {os.cpu_count()} CPUs, 1-min load {min(loads):.2f}-{max(loads):.2f}")
    print(f"staging as shipped: downAfter {shipped.sentinel.down_after_ms} ms, failoverTimeout "
          f"{shipped.sentinel.failover_timeout_ms} ms, HAProxy checks every {shipped.endpoint.check_interval_ms} ms, "
          f"TLS {'on' if shipped.server.tls else 'off'}, persistence {shipped.server.persistence}, "
          f"minReplicasToWrite {shipped.server.min_replicas_to_write} (lag "
          f"{shipped.server.min_replicas_max_lag_ms // 1000} s)")
    print()
    print("| row: differs from staging | fault | n | kill -> `+switch-master` | no acknowledged write via HAProxy "
          "| ... via Sentinel client | preStop hook ran | acknowledged (`WAIT 1`) writes lost |")
    print("|---|---|---|---|---|---|---|---|")
    ok = True
    for row, rows in results:
        for kind, label in (("kill", "SIGKILL of the primary"), ("drain", "preStop drain")):
            rs = [r for k, r in rows if k == kind]
            if not rs:
                continue
            ok &= all(r["lost"] == 0 for r in rs)
            print(f"| {row.key}: {row.differs} | {label} | {len(rs)} | "
                  f"{summary([r['switch'] for r in rs]) + ' s' if kind == 'kill' else '-'} "
                  f"| {summary([r['endpoint'] for r in rs])} s | {summary([r['sentinel'] for r in rs])} s "
                  f"| {summary([r['handover'] for r in rs]) + ' s' if kind == 'drain' else '-'} "
                  f"| {sum(r['lost'] for r in rs):.0f} of {sum(r['acked'] for r in rs):,.0f} |")
    print("(min / median / max; 'no acknowledged write': the longest time a client saw no acknowledged write, "
          "from 1 s before the fault to 1 s after both paths wrote again)")
    print(f"goal: no acknowledged write lost: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
