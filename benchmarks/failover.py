"""Failover benchmark of the StatefulSet pattern: real processes, the pod scripts, default timings.

SIGKILLs the primary N times (and optionally drains it through preStop) with writers running through
the HAProxy write endpoint and through a Sentinel-aware redis-py client, and reports kill ->
+switch-master, kill -> first acknowledged write on each path, and acknowledged writes lost.
Takes ~10 s per trial. Run from the repository root: `.venv/bin/python benchmarks/failover.py`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.live.cluster import (MASTER, PASSWORD, Cluster, Writer, missing_binaries, missing_keys,  # noqa: E402
                                new_root, wait_until, which)

NO_RETRY = Retry(NoBackoff(), 0)
TIMEOUT = 0.5   # socket timeouts of both clients: short, no retries (FIELD-NOTES: defaults stall ~21 s)


class SwitchWatcher(threading.Thread):
    """Records when any Sentinel first publishes +switch-master."""

    def __init__(self, cluster: Cluster) -> None:
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


def sentinel_client(cluster: Cluster) -> Sentinel:
    return Sentinel([("127.0.0.1", p) for p in cluster.sentinel_ports], socket_timeout=TIMEOUT,
                    socket_connect_timeout=TIMEOUT, retry=NO_RETRY,
                    sentinel_kwargs={"password": PASSWORD, "socket_timeout": TIMEOUT,
                                     "socket_connect_timeout": TIMEOUT, "retry": NO_RETRY})


def trial(cluster: Cluster, n: int, graceful: bool) -> dict[str, float]:
    old = cluster.settle(timeout=120)
    sentinel = sentinel_client(cluster)
    via_endpoint = Writer(lambda: cluster.endpoint(TIMEOUT), f"ep{n}")
    via_sentinel = Writer(lambda: sentinel.master_for(MASTER, password=PASSWORD, socket_timeout=TIMEOUT,
                                                      socket_connect_timeout=TIMEOUT, retry=NO_RETRY), f"se{n}")
    watcher = SwitchWatcher(cluster)
    for t in (watcher, via_endpoint, via_sentinel):
        t.start()
    wait_until("writes on both paths", lambda: len(via_endpoint.acked) > 50 and len(via_sentinel.acked) > 50, 20)
    t0 = time.monotonic()
    if graceful:
        result = cluster.run_script(f"redis-{old}", "redis-prestop.sh")
        assert result.returncode == 0 and "handed over" in result.stderr, result.stderr
        handover = time.monotonic() - t0
        cluster.stop(f"redis-{old}")
    else:
        cluster.kill(f"redis-{old}")
        handover = float("nan")
    wait_until("a write on both paths after the fault",
               lambda: via_endpoint.recovered_after(t0) and via_sentinel.recovered_after(t0), 120)
    if not graceful:
        wait_until("+switch-master", lambda: watcher.first, 60)
    time.sleep(0.5)
    for t in (via_endpoint, via_sentinel, watcher):
        t.stop()
    new = wait_until("a primary every Sentinel names", cluster.agreed_primary, 60)
    with cluster.redis(new) as r:
        lost = len(missing_keys(r, via_endpoint.acked)) + len(missing_keys(r, via_sentinel.acked))
    cluster.start(f"redis-{old}")
    return {
        "switch": (watcher.first - t0) if watcher.first else float("nan"),
        # SIGKILL: from the kill to the first acknowledged write. Drain: writes wait (CLIENT PAUSE)
        # rather than fail, so what a client sees is the time without an acknowledged write.
        "endpoint": via_endpoint.outage(t0) if graceful else via_endpoint.recovered_after(t0) - t0,  # type: ignore[operator]
        "sentinel": via_sentinel.outage(t0) if graceful else via_sentinel.recovered_after(t0) - t0,  # type: ignore[operator]
        "handover": handover,
        "acked": len(via_endpoint.acked) + len(via_sentinel.acked),
        "lost": lost,
    }


def summary(values: list[float]) -> str:
    vals = [v for v in values if v == v]
    if not vals:
        return "-"
    return f"{min(vals):.2f} / {statistics.median(vals):.2f} / {max(vals):.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=8, help="SIGKILL trials (default 8)")
    ap.add_argument("--drains", type=int, default=3, help="graceful preStop trials (default 3)")
    ap.add_argument("--down-after", type=int, default=5000, help="Sentinel down-after-milliseconds (default 5000)")
    ap.add_argument("--failover-timeout", type=int, default=30_000, help="Sentinel failover-timeout ms (default 30000)")
    ap.add_argument("--min-replicas-to-write", type=int, default=0)
    args = ap.parse_args()
    missing = missing_binaries()
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2

    root = new_root("cp-failover-bench-")
    cluster = Cluster(root, down_after_ms=args.down_after, failover_timeout_ms=args.failover_timeout,
                      min_replicas_to_write=args.min_replicas_to_write, busybox=which("busybox") is not None,
                      failover_wait_s=(args.down_after + 2 * args.failover_timeout) // 1000 + 5)
    cluster.start_all()
    rows: list[tuple[str, dict[str, float]]] = []
    try:
        for n in range(args.trials):
            r = trial(cluster, n, graceful=False)
            rows.append(("kill", r))
            print(f"kill  {n + 1}: switch-master {r['switch']:.2f}s  endpoint {r['endpoint']:.2f}s  "
                  f"sentinel-client {r['sentinel']:.2f}s  acked {r['acked']:.0f} lost {r['lost']:.0f}", flush=True)
        for n in range(args.drains):
            r = trial(cluster, 100 + n, graceful=True)
            rows.append(("drain", r))
            print(f"drain {n + 1}: preStop {r['handover']:.2f}s  no write for: endpoint {r['endpoint']:.2f}s  "
                  f"sentinel-client {r['sentinel']:.2f}s  acked {r['acked']:.0f} lost {r['lost']:.0f}", flush=True)
    finally:
        cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)

    kills = [r for kind, r in rows if kind == "kill"]
    drains = [r for kind, r in rows if kind == "drain"]
    print()
    print(f"3 Redis + 3 Sentinel + HAProxy on 127.0.0.1, down-after {args.down_after} ms, failover-timeout "
          f"{args.failover_timeout} ms, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print("| fault | n | kill -> +switch-master | -> first write via HAProxy | -> first write via Sentinel client "
          "| acknowledged (WAIT 1) writes lost |")
    print("|---|---|---|---|---|---|")
    if kills:
        print(f"| SIGKILL primary | {len(kills)} | {summary([r['switch'] for r in kills])} s "
              f"| {summary([r['endpoint'] for r in kills])} s | {summary([r['sentinel'] for r in kills])} s "
              f"| {sum(r['lost'] for r in kills):.0f} of {sum(r['acked'] for r in kills):.0f} |")
    if drains:
        print(f"| preStop drain (handover {summary([r['handover'] for r in drains])} s) | {len(drains)} | - "
              f"| {summary([r['endpoint'] for r in drains])} s | {summary([r['sentinel'] for r in drains])} s "
              f"| {sum(r['lost'] for r in drains):.0f} of {sum(r['acked'] for r in drains):.0f} |")
    print("(min / median / max seconds; SIGKILL: from the kill; drain: time a client saw no acknowledged write)")
    goal = args.down_after / 1000 + 3
    worst = max([r["endpoint"] for r in kills] + [r["sentinel"] for r in kills], default=0.0)
    ok = worst <= goal and all(r["lost"] == 0 for _, r in rows)
    print(f"goal: after a SIGKILL every write path is back within down-after + 3 s = {goal:.1f} s, and no "
          f"acknowledged write is lost: {'met' if ok else 'NOT met'}" + (f" (worst {worst:.2f} s)" if kills else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
