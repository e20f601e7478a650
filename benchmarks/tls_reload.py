"""Certificate reload benchmark of the StatefulSet pattern, with the staging stack's own settings.

Renews the server certificate (same CA) and rotates the CA under a running cluster of real processes
(3 Redis + 3 Sentinels + HAProxy, started through the pod scripts, each pod with its own Secret
volume written the way the kubelet writes it), with two writers through the HAProxy write endpoint
(one long-lived connection, one new connection per write; every write followed by WAIT 1). Each pod
gets the new Secret at a random moment within --spread seconds (the kubelet's sync period is 60 s).

Reports, per rotation: time from each pod's own Secret swap to the new certificate being served by
that Redis / Sentinel and to HAProxy's reload, Sentinel restarts and the most Sentinels down at once,
acknowledged writes lost, write errors and the longest time without an acknowledged write, failovers
(+switch-master, master +sdown/+odown) and refused TLS handshakes.

The timing (poll, Sentinel slots, trust delay), Sentinel down-after and failover-timeout,
min-replicas-to-write, RDB persistence and HAProxy's check interval are read from the rendered
staging stack. Differences from a cluster: processes on 127.0.0.1, pods updated by this script.
Run from the repository root: `./run bench tls_reload` (about 6 minutes per trial).
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testbed import engines  # noqa: E402
from testbed.statefulset import LocalStatefulSet  # noqa: E402
from testbed.support import Writer, missing_binaries, new_root  # noqa: E402
from testbed.tls import make_tls  # noqa: E402
from testbed.rotation import Rotation, quiet_gap, random_offsets, rotate  # noqa: E402
from tools import harness  # noqa: E402


def staging_settings() -> dict:
    """What the staging stack ships, read from its rendered objects."""
    objs = harness.run("staging").manifests()
    conf = {}
    for o in objs:
        if o["kind"] == "ConfigMap":
            conf.update(o.get("data") or {})
    sts = next(o for o in objs if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "staging-sessions")
    redis_env = {e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    cert = next(o for o in objs if o["kind"] == "Certificate" and o["spec"].get("secretName") == "staging-sessions-tls")

    def directive(text: str, pattern: str) -> str:
        m = re.search(pattern, text, re.M)
        assert m, pattern
        return m.group(1)
    return {
        "down_after_ms": int(directive(conf["sentinel.conf"], r"^sentinel down-after-milliseconds \S+ (\d+)")),
        "failover_timeout_ms": int(directive(conf["sentinel.conf"], r"^sentinel failover-timeout \S+ (\d+)")),
        "min_replicas_to_write": int(directive(conf["redis.conf"], r"^min-replicas-to-write (\d+)")),
        "min_replicas_max_lag_ms": 1000 * int(directive(conf["redis.conf"], r"^min-replicas-max-lag (\d+)")),
        "persistence": "rdb" if re.search(r"^save \d", conf["redis.conf"], re.M) else "none",
        "check_interval_ms": int(directive(conf["haproxy.cfg"], r"check inter (\d+)ms")),
        "tls_poll_s": float(redis_env["TLS_POLL"]),
        "tls_restart_slot_s": int(redis_env["TLS_RESTART_SLOT"]),
        "tls_trust_delay_s": int(redis_env["TLS_TRUST_DELAY"]),
        "ecdsa": cert["spec"]["privateKey"]["algorithm"] == "ECDSA",
    }


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1, help="renewal + CA rotation pairs (default 1)")
    ap.add_argument("--spread", type=float, default=60.0, help="pods get the Secret within this many seconds (60)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    missing = missing_binaries()
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    shipped = staging_settings()
    ecdsa = shipped.pop("ecdsa")
    print(f"staging settings: {shipped}, ECDSA keys: {ecdsa}", flush=True)
    if shipped["tls_trust_delay_s"] < args.spread + 3 * shipped["tls_restart_slot_s"]:
        print("warning: the trust delay is shorter than spread + Sentinel slots; refused handshakes expected")
    rng = random.Random(args.seed)
    ca_root = Path(tempfile.mkdtemp(prefix="cp-tls-bench-ca-"))
    ca = make_tls(ca_root / "ca-0", ecdsa=ecdsa, label="bench CA 0")
    root = new_root("cp-tls-bench-")
    cluster = LocalStatefulSet(root, tls=ca, busybox=engines.which("busybox") is not None, **shipped)
    cluster.start_all()
    results: list[Rotation] = []
    writers: tuple[Writer, ...] = ()
    quiet = 0.0
    started = time.monotonic()
    loads = []
    try:
        cluster.settle(timeout=90)
        writers = (Writer(lambda: cluster.endpoint(0.5), "bench"),
                   Writer(lambda: cluster.endpoint(0.5), "bench-new", fresh=True))
        for w in writers:
            w.start()
        time.sleep(3)
        quiet = quiet_gap(writers, 120)
        print(f"quiet: longest gap between acknowledged writes over 120 s without a rotation {quiet:.2f} s", flush=True)
        budget = args.spread + shipped["tls_trust_delay_s"] + 6 * shipped["tls_restart_slot_s"] + 60
        for n in range(args.trials):
            renewed = make_tls(ca_root / f"renewal-{n}", ca=ca, ecdsa=ecdsa, label=f"bench CA {n}")
            loads.append(os.getloadavg()[0])
            r = rotate(cluster, renewed, "renewal", random_offsets(cluster.pods(), args.spread, rng),
                       timeout=budget, settle_after=15, writers=writers)
            results.append(r)
            print(f"renewal {n + 1}: {r}", flush=True)
            ca = make_tls(ca_root / f"ca-{n + 1}", ecdsa=ecdsa, label=f"bench CA {n + 1}")
            loads.append(os.getloadavg()[0])
            r = rotate(cluster, ca, "new CA", random_offsets(cluster.pods(), args.spread, rng),
                       timeout=budget, settle_after=15, writers=writers)
            results.append(r)
            print(f"new CA {n + 1}: {r}", flush=True)
            loads.append(os.getloadavg()[0])
    finally:
        for w in writers:
            w.stop()
        cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(ca_root, ignore_errors=True)

    versions = engines.versions()
    print()
    print(f"{', '.join(versions.values())}; 3 Redis + 3 Sentinels + HAProxy on 127.0.0.1, {os.cpu_count()} CPUs, "
          f"load {min(loads):.2f}-{max(loads):.2f}; pods updated within {args.spread:.0f} s in random order; "
          f"{args.trials} trial(s), {time.monotonic() - started:.0f} s")
    print("| rotation | Redis: swap -> new certificate served | Sentinel: swap -> served | HAProxy: swap -> reload "
          "| Sentinel restarts (most down at once) | acknowledged writes lost | write errors | longest gap between "
          "acknowledged writes | failovers | refused handshakes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for kind in ("renewal", "new CA"):
        rs = [r for r in results if r.kind == kind]
        redis_t = [v for r in rs for n, v in r.served_after.items() if n.startswith("redis-") and v is not None]
        sent_t = [v for r in rs for n, v in r.served_after.items() if n.startswith("sentinel-") and v is not None]
        reloads = [v for r in rs for v in r.haproxy_reloads]
        lost = sum(r.writes_lost for r in rs)
        acked = sum(r.writes_acked for r in rs)
        failovers = sum(len(r.failovers) for r in rs)
        refused = sum(len(r.handshake_errors) for r in rs)
        print(f"| {kind} | {summary(redis_t)} s | {summary(sent_t)} s | {summary(reloads) + ' s' if reloads else 'none'} "
              f"| {sum(r.sentinel_restarts for r in rs)} ({max((r.max_sentinels_down for r in rs), default=0)}) "
              f"| {lost} of {acked} | {sum(r.write_errors for r in rs)} | {max((r.longest_write_gap for r in rs), default=0):.2f} s "
              f"| {failovers} | {refused} |")
        ok &= all(r.complete and r.endpoint_serves_new for r in rs) and lost == 0 and failovers == 0 and refused == 0 \
            and all(r.max_sentinels_down <= 1 for r in rs)
    print(f"| (no rotation, 120 s) | - | - | - | - | - | - | {quiet:.2f} s | - | - |")
    print("(min / median / max over pods and trials, each from that pod's own Secret swap)")
    print(f"goal: every pod serves the new certificate, 0 acknowledged writes lost, no failover, at most one "
          f"Sentinel down, no refused handshake: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
