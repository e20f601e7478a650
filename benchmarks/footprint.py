"""What the containers beside Redis use: the staging stack as it ships (TLS, exporters) run as real
processes with its plan as deployed (3 Redis with their certificate watchers, 3 Sentinels, 2 HAProxy
endpoints with theirs, the
rendered exporter container beside every Redis and Sentinel), under writes through HAProxy, scraped
every 5 s, with `--connections` idle clients held open on each HAProxy. Every second it reads each
container's processes (its session) from /proc: resident memory (the peak is what a memory limit must
hold) and CPU time (the mean is what a CPU request should reserve).

Compared with the planned requests and limits (planning/footprint.py): the memory limit over the peak
is the headroom. Differences from a cluster: processes on 127.0.0.1 (or network namespaces for the
exporters), no cgroup accounting of page cache. Run from the repository root: `./run bench footprint`
(about 3 minutes; needs the engines, busybox, and the toolchain's redis_exporter).
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cache_patterns.core import sizing  # noqa: E402
from cache_patterns.planning.footprint import FOOTPRINTS  # noqa: E402
from testbed import engines  # noqa: E402
from testbed import exporters as ex  # noqa: E402
from testbed.plans import stack_plan  # noqa: E402
from testbed.statefulset import LocalStatefulSet  # noqa: E402
from testbed.support import PASSWORD, Writer, missing_binaries, new_root, wait_until  # noqa: E402
from testbed.tls import make_tls  # noqa: E402
from tools import harness  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
HZ = os.sysconf("SC_CLK_TCK")


def sessions() -> dict[int, tuple[int, int]]:
    """session id -> (resident bytes, CPU ticks) summed over its processes."""
    out: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            rss = int(Path(f"/proc/{entry}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        sid, ticks = int(fields[3]), int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        out[sid][0] += rss
        out[sid][1] += ticks
    return {sid: (v[0], v[1]) for sid, v in out.items()}


def component(member: str) -> str:
    if member.endswith("-tls-reload"):
        return "tlsReload"
    return member.split("-")[0].rstrip("0123456789")


def rendered() -> tuple[dict, dict, dict]:
    run = harness.run("staging", password=PASSWORD)
    objs = run.manifests()
    pods = {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objs if o["kind"] == "StatefulSet"}
    secrets = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Secret"}
    (cert,) = [m for m in objs if m["kind"] == "Certificate" and m["spec"]["secretName"] == "staging-sessions-tls"]
    return pods, secrets, cert


def start_exporters(cluster: LocalStatefulSet, pods: dict, secrets: dict) -> list[ex.PodExporter]:
    out = []
    for role, sts, ports in (("redis", "staging-sessions", cluster.redis_ports),
                             ("sentinel", "staging-sessions-sentinel", cluster.sentinel_ports)):
        for i, port in enumerate(ports):
            out.append(ex.start(cluster, cluster.root, pods[sts], secrets, member=f"{role}-{i}",
                                pod=f"{sts}-{i}", job=role, server_port=port))
    for e in out:
        wait_until(f"{e.name}'s exporter", lambda e=e: "redis_up 1" in (ex.scrape(e) or ""), 30)
    return out


def hold(cluster: LocalStatefulSet, n: int) -> list[socket.socket]:
    """`n` idle client connections on each HAProxy's write port (as a pool of idle clients keeps)."""
    out = []
    for addr in cluster.endpoints:
        for _ in range(n):
            out.append(socket.create_connection((addr.write.host, addr.write.port), timeout=5))
    return out


def measure(cluster: LocalStatefulSet, exporters: list[ex.PodExporter], seconds: int) -> dict[str, tuple]:
    """component -> (containers, peak resident bytes of one, mean millicores of the busiest)."""
    members = {m.proc.pid: name for name, m in cluster.members.items() if m.proc is not None}
    members |= {e.proc.pid: f"exporter-{e.name}" for e in exporters}
    first, peak = sessions(), defaultdict(int)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        for sid, (rss, _) in sessions().items():
            if sid in members:
                peak[members[sid]] = max(peak[members[sid]], rss)
        time.sleep(1)
    last, elapsed = sessions(), time.monotonic() - started
    out: dict[str, list] = defaultdict(lambda: [0, 0, 0.0])
    for sid, name in members.items():
        c = component(name)
        cpu = (last.get(sid, (0, 0))[1] - first.get(sid, (0, 0))[1]) / HZ / elapsed * 1000
        out[c][0] += 1
        out[c][1] = max(out[c][1], peak[name])
        out[c][2] = max(out[c][2], cpu)
    return {c: tuple(v) for c, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=120, help="measured interval (120)")
    ap.add_argument("--connections", type=int, default=500, help="idle clients held on each HAProxy (500)")
    args = ap.parse_args()
    missing = missing_binaries() + ([] if engines.exporter() else ["redis_exporter (./run toolchain)"])
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    pods, secrets, cert = rendered()
    root = new_root("cp-footprint-")
    tls = make_tls(root / "ca", names=tuple(cert["spec"]["dnsNames"]), loopback=False,
                   ecdsa=cert["spec"]["privateKey"]["algorithm"] == "ECDSA")
    # The staging plan as deployed: HAProxy's checks every second, the watchers' 5 s poll, rdb.
    cluster = LocalStatefulSet(root, plan=stack_plan("staging", "sessions"), tls=tls, busybox=True, haproxies=2)
    cluster.start_all()
    exporters, writers, idle, loads = [], (), [], [os.getloadavg()[0]]
    try:
        cluster.settle(timeout=90)
        exporters = start_exporters(cluster, pods, secrets)
        scraper = ex.Scraper(exporters, 5)
        scraper.start()
        writers = tuple(Writer(lambda j=j: cluster.endpoint(0.5, j=j), f"fp{j}", fresh=j == 1) for j in (0, 1))
        for w in writers:
            w.start()
        idle = hold(cluster, args.connections)
        result = measure(cluster, exporters, args.seconds)
        scraper.stop()
        loads.append(os.getloadavg()[0])
        writes = sum(len(w.acked) for w in writers)
    finally:
        for s in idle:
            s.close()
        for w in writers:
            w.stop()
        for e in exporters:
            e.stop()
        cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{', '.join(engines.versions().values())}; staging (TLS, rdb, exporters), 2 HAProxy with "
          f"{args.connections} idle clients each, 2 writers ({writes:,} acknowledged writes), scrapes every 5 s, "
          f"{args.seconds} s; {os.cpu_count()} CPUs, load {min(loads):.1f}-{max(loads):.1f}")
    print("| component | containers | peak resident (one) | CPU (busiest) | planned request / limit |")
    print("|---|---|---|---|---|")
    for c, (n, rss, cpu) in sorted(result.items()):
        f = FOOTPRINTS.get(c)
        planned = (f"{sizing.format_millicores(f.cpu)}, {sizing.format_bytes(f.memory)} / "
                   f"{sizing.format_bytes(f.memory_limit)}") if f else "(Redis: its own `memory`, `cpu`)"
        print(f"| {c} | {n} | {rss / 2**20:.1f} MiB | {cpu:.1f}m | {planned} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
