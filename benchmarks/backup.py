"""Backup and restore benchmark of the StatefulSet pattern: a data set of --gib GiB, backed up under a
steady writer into versitygw by the rendered backup job, then restored into a fresh 1 + 2 + 3 set and
compared key by key (every key's value digest) with the source.

Everything runs as the pods run it (tests/live/backups.py: the rendered scripts, the engine image's
programs plus restic, UID 10001), 3 Redis + 3 Sentinels + HAProxy on 127.0.0.1 with backups on.
It reports:

- backup time against the same RDB written to local disk (`valkey-cli --rdb FILE` from the same
  replica) and the same file uploaded alone (`restic backup FILE` into an empty repository): goal, the
  backup within 1.3x of the slower of the two;
- the primary's p99 latency (a client writing at a fixed rate) during the backup against without:
  goal, within 1.2x (the replica forks and streams, not the primary);
- restore time to ready (restore step, RDB load, replicas synced) against download (`restic dump`)
  plus RDB load time.

    .venv/bin/python benchmarks/backup.py [--gib 1.0] [--rate 500]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cache_patterns.patterns.statefulset import backup as bk  # noqa: E402
from testbed.backups import (Backups, backup_settings, digests, fill, protected_plan, raw, restic,  # noqa: E402
                             restore_from, start_restored)
from testbed.s3server import S3Server, version as s3_version, versitygw  # noqa: E402
from testbed.statefulset import LocalStatefulSet as Cluster  # noqa: E402
from testbed.support import PASSWORD, engine_versions, missing_binaries, new_root, wait_until, which  # noqa: E402

VALUE = 1000


class RateWriter(threading.Thread):
    """SETs new keys `w:<n>` on one server at a fixed rate, timing each (the primary's latency as a
    client sees it); errors are counted, not retried."""

    def __init__(self, port: int, rate: float, cpu: int | None = None) -> None:
        super().__init__(daemon=True)
        self.port, self.period, self.cpu = port, 1.0 / rate, cpu
        self.latencies: list[float] = []
        self.errors = 0
        self.n = 0
        self.halt = threading.Event()

    def run(self) -> None:
        if self.cpu is not None:
            os.sched_setaffinity(threading.get_native_id(), {self.cpu})
        r = redis.Redis(port=self.port, password=PASSWORD, socket_timeout=2)
        next_at = time.perf_counter()
        while not self.halt.is_set():
            t0 = time.perf_counter()
            try:
                r.set(f"w:{self.n}", "v" * 100)
                self.latencies.append(time.perf_counter() - t0)
            except redis.RedisError:
                self.errors += 1
            self.n += 1
            next_at += self.period
            time.sleep(max(0.0, next_at - time.perf_counter()))

    def window(self) -> list[float]:
        """The latencies recorded since the last call."""
        out, self.latencies = self.latencies, []
        return out

    def stop(self) -> None:
        self.halt.set()
        self.join(10)


def p99(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100)[98] * 1000 if len(xs) > 100 else float("nan")


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, timeout=3600)
    assert p.returncode == 0, p.stderr[-2000:]
    return time.monotonic() - t0


def baselines(cluster: Cluster, backups: Backups, s3: S3Server, source: int, work: Path) -> dict:
    """The RDB of the same replica to local disk, then that file uploaded alone into a new repository."""
    cli = which("valkey-cli") or which("redis-cli")
    rdb = work / "local.rdb"
    env = {"REDISCLI_AUTH": backups.password_file.read_text(), "PATH": "/usr/bin:/bin"}
    t_local = timed([cli, "-h", "127.0.0.1", "-p", str(cluster.redis_addrs[source].port), "--user", bk.BACKUP_USER,
                     "--rdb", str(rdb)], env)
    creds = s3.credentials("upload-alone")
    alone = Backups(cluster, creds, backup_settings(creds))
    assert alone.restic_cmd("init").returncode == 0
    t0 = time.monotonic()
    p = alone.restic_cmd("backup", str(rdb), "--host", "upload-alone")
    assert p.returncode == 0, p.stderr
    return {"local": t_local, "upload": time.monotonic() - t0, "size": rdb.stat().st_size, "rdb": rdb}


def load_time(rdb: Path, work: Path) -> float:
    """How long the engine takes to load the RDB alone (from start to `loading:0`)."""
    from testbed.support import free_ports
    d = work / "load"
    d.mkdir()
    shutil.copy(rdb, d / "dump.rdb")
    port = free_ports(1)[0]
    server = which("valkey-server") or which("redis-server")
    t0 = time.monotonic()
    proc = subprocess.Popen([server, "--port", str(port), "--dir", str(d), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = redis.Redis(port=port, socket_timeout=1)
        wait_until("the RDB to load", lambda: r.info("persistence")["loading"] == 0, 600, interval=0.05)
        return time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(d, ignore_errors=True)


def sched(pid: int) -> tuple[float, float]:
    """(CPU seconds, seconds waiting for a CPU) of a process's live threads, from each thread's
    /proc/PID/task/TID/schedstat: time on a CPU, time runnable in a run queue (kernel schedstats)."""
    ran = waited = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                fields = f.read().split()
        except OSError:
            continue
        ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran / 1e9, waited / 1e9


def cpu_seconds(pid: int) -> float:
    """A process's CPU seconds with its reaped children's (/proc/PID/stat utime stime cutime cstime):
    the replica's, with the fork that streamed the RDB."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Where:
    """Where the CPU went in a window: the primary's CPU and run-queue wait (a write waits there when
    every CPU is busy), each other server's and versitygw's CPU (with reaped children), the backup
    job's processes (this process's reaped children) and this process (the writer)."""

    def __init__(self, cluster: Cluster, primary: int, s3: S3Server) -> None:
        self.primary = cluster.members[f"redis-{primary}"].proc.pid
        self.others = {name: m.proc.pid for name, m in cluster.members.items()
                       if m.proc is not None and m.proc.poll() is None and name != f"redis-{primary}"}
        self.s3 = s3.proc.pid
        self.start = self.read()

    def read(self) -> dict[str, float]:
        ran, waited = sched(self.primary)
        usage = children = os.times()
        out = {"t": time.monotonic(), "primary cpu": ran, "primary wait": waited,
               "others": sum(cpu_seconds(p) for p in self.others.values()), "versitygw": cpu_seconds(self.s3),
               "job": children.children_user + children.children_system, "bench": usage.user + usage.system}
        return out

    def window(self) -> dict[str, float]:
        """Per second of wall clock since the last call, for each."""
        now = self.read()
        dt = now["t"] - self.start["t"]
        out = {k: (now[k] - self.start[k]) / dt for k in now if k != "t"}
        self.start = now
        return out


def pin(pid: int, cpu: int) -> None:
    """The process and its threads on one CPU (as if alone on a node's core)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(task), {cpu})


def pin_cluster(cluster: Cluster, primary: int, s3: S3Server) -> None:
    """--pin: the primary (and the writer) on CPU 0, everything else of the benchmark on CPU 1, so the
    backup's work (the replica's fork, restic, check-rdb) competes with the primary only as much as
    the machine's other load makes it, as on separate nodes."""
    for name, m in cluster.members.items():
        if m.proc is not None and m.proc.poll() is None:
            pin(m.proc.pid, 0 if name == f"redis-{primary}" else 1)
    assert s3.proc is not None
    pin(s3.proc.pid, 1)


def run(gib: float, rate: float, pinned: bool, job_nice: int = 0) -> int:
    keys = int(gib * 1024 ** 3 / VALUE)
    gib_mem = 3 * gib + 0.5
    plan = protected_plan()
    plan = replace(plan, server=replace(plan.server, maxmemory=int(gib_mem * 1024 ** 3),
                                        replica_buffer_limit=1024 ** 3, repl_backlog=64 * 1024 ** 2))
    loads = [os.getloadavg()[0]]
    s3 = S3Server(new_root("cp-bench-s3-"))
    s3.start()
    root = new_root("cp-bench-bk-")
    source = Cluster(root, plan=plan, busybox=which("busybox") is not None)
    work = new_root("cp-bench-work-")
    target: Cluster | None = None
    try:
        source.start_all()
        primary = source.settle(timeout=90)
        t0 = time.monotonic()
        with source.redis(primary, timeout=60) as r:
            fill(r, keys)
            assert r.execute_command("WAIT", 2, 120_000) == 2
            used = r.info("memory")["used_memory"]
        print(f"filled {keys:,} keys ({used / 1024 ** 3:.2f} GiB used) in {time.monotonic() - t0:.0f} s", flush=True)
        creds = s3.credentials("bench")
        backups = Backups(source, creds, backup_settings(creds), restore=restore_from("latest"))
        if pinned:
            pin_cluster(source, primary, s3)
            backups.cpu = 1
        backups.nice = job_nice
        writer = RateWriter(source.redis_addrs[primary].port, rate, cpu=0 if pinned else None)
        writer.start()
        where = Where(source, primary, s3)
        time.sleep(20)
        quiet = writer.window()
        cpu_quiet = where.window()
        loads.append(os.getloadavg()[0])
        job = backups.run(timeout=3600)
        during = writer.window()
        cpu_during = where.window()
        assert job.returncode == 0, job.stderr
        m = backups.manifests()[-1]
        src = source.server_index(m["pod"]) if ":" in m["pod"] else int(m["pod"].rsplit("-", 1)[1])
        time.sleep(10)
        after = writer.window()
        writer.stop()
        loads.append(os.getloadavg()[0])
        print(f"backup {m['id']}: {job.seconds:.1f} s, {int(m['size']) / 1024 ** 2:.0f} MiB, {m['keys']} keys, from "
              f"{m['role']} {m['pod']}", flush=True)
        base = baselines(source, backups, s3, src, work)
        print(f"same RDB to local disk {base['local']:.1f} s, that file uploaded alone {base['upload']:.1f} s", flush=True)
        second = backups.run(timeout=3600)
        assert second.returncode == 0, second.stderr
        expected = digests(raw(source, primary))
        written = {k for k in expected if k.startswith(b"w:")}
        t_download = timed([restic(), "--no-cache", "-o", "s3.bucket-lookup=path", "-o", "s3.region=us-east-1", "dump",
                            m["id"], "/dump.rdb"], {"RESTIC_REPOSITORY": backups.plan.repository,
                                                    "RESTIC_PASSWORD": backups.key_file.read_text(),
                                                    "HOME": str(work), **creds.env()})
        t_load = load_time(base["rdb"], work)
        source.stop_all()
        # Restore the backup taken under the writer into a fresh 1 + 2 + 3 set.
        target = Cluster(new_root("cp-bench-dst-"), plan=plan, busybox=source.busybox)
        restore = Backups(target, creds, backups.settings, restore=restore_from(m["id"]))
        t_primary, t_ready = start_restored(target, restore)
        assert target.settle(timeout=120) == 0
        loads.append(os.getloadavg()[0])
        mismatched = 0
        for i in range(3):
            got = digests(raw(target, i))
            same = {k for k in expected if not k.startswith(b"w:")}
            mismatched += len(same - set(got)) + sum(1 for k in got if got[k] != expected.get(k))
        slower = max(base["local"], base["upload"])
        base_p99, during_p99 = p99(quiet + after), p99(during)
        print()
        pinning = " (pinned: the primary and the writer on CPU 0, the rest on CPU 1)" if pinned else ""
        pinning += f"; the backup job at nice {job_nice}" if job_nice else ""
        print(f"{engine_versions()}, restic {bk.RESTIC_IMAGE.split(':')[1]}, {s3_version()} (posix backend on "
              f"the same disk); 3 servers + 3 Sentinels on 127.0.0.1, backups on (PROTECT_DATA), busybox "
              f"{'yes' if source.busybox else 'no'}; {os.cpu_count()} CPUs{pinning}; 1-min load "
              f"{min(loads):.1f}-{max(loads):.1f}")
        print(f"data set: {keys:,} keys of ~{VALUE} B (hex of random bytes: compressible 2:1; 1 in 10 a hash or a "
              f"list, 1 in 7 with a TTL), {used / 1024 ** 3:.2f} GiB used; writer: {rate:.0f} SET/s on the primary")
        print()
        print("| measure | value | goal |")
        print("|---|---|---|")
        print(f"| backup (first into an empty repository) | {job.seconds:.1f} s for {base['size'] / 1024 ** 2:.0f} MiB "
              f"({base['size'] / 1024 ** 2 / job.seconds:.0f} MiB/s) | - |")
        print(f"| same RDB to local disk / that file uploaded alone | {base['local']:.1f} s / {base['upload']:.1f} s | - |")
        print(f"| backup / slower of the two | {job.seconds / slower:.2f}x | <= 1.3x: "
              f"{'met' if job.seconds <= 1.3 * slower else 'NOT met'} |")
        print(f"| second backup (same data set, repository has its chunks) | {second.seconds:.1f} s | - |")
        print(f"| primary p99 without / during the backup | {base_p99:.2f} ms / {during_p99:.2f} ms "
              f"({during_p99 / base_p99:.2f}x, {len(during)} writes, {writer.errors} errors) | <= 1.2x: "
              f"{'met' if during_p99 <= 1.2 * base_p99 else 'NOT met'} |")
        shares = "; ".join(f"{k} {cpu_quiet[k]:.2f} / {cpu_during[k]:.2f}" for k in cpu_quiet)
        print(f"| CPU-seconds per second, without / during the backup | {shares} | - |")
        print(f"| restore: primary ready (restore step, load) / 2 replicas synced | {t_primary:.1f} s / {t_ready:.1f} s "
              f"| - |")
        print(f"| download alone + RDB load alone | {t_download:.1f} s + {t_load:.1f} s = {t_download + t_load:.1f} s | - |")
        print(f"| keys whose value digest differs from the source (3 servers) | {mismatched} | 0 |")
        return 0 if mismatched == 0 else 1
    finally:
        for c in (source, target):
            if c is not None:
                c.stop_all()
        s3.stop()
        for d in (root, work, s3.root) + ((target.root,) if target else ()):
            shutil.rmtree(d, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=float, default=1.0, help="data set size in GiB (default 1)")
    ap.add_argument("--rate", type=float, default=500, help="writes per second on the primary (default 500)")
    ap.add_argument("--pin", action="store_true", help="the primary and the writer on CPU 0, the rest on CPU 1")
    ap.add_argument("--job-nice", type=int, default=0,
                    help="run the backup job's processes at this niceness: the lower CPU weight a node's kubelet "
                         "gives the job's pod (CPU request 100m) against a Redis pod's (250m): about nice 4")
    args = ap.parse_args()
    missing = missing_binaries() + (["restic"] if restic() is None else []) + \
        (["versitygw"] if versitygw() is None else [])
    if missing:
        print(f"missing: {', '.join(missing)} (./run toolchain)", file=sys.stderr)
        return 2
    return run(args.gib, args.rate, args.pin, args.job_nice)


if __name__ == "__main__":
    sys.exit(main())
