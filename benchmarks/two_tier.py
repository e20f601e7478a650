"""Benchmark: GET latency of an L2-only client vs TwoTierCache, with L2 one simulated 0.5 ms round trip away.

Run as root (network namespace): `python benchmarks/two_tier.py` takes about a minute and prints
markdown tables. L2 sits in its own netns behind a veth pair and a userspace delay proxy (this
kernel has no `tc netem`); the proxy's own ceiling is measured first so no figure measures it.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import random
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import redis

try:
    import cache_patterns_client  # noqa: F401
except ImportError:  # not pip-installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python" / "src"))
from cache_patterns_client import CacheStats, ClientOptions, TwoTierCache, TierSettings  # noqa: E402
from cache_patterns_client.connect import l1_client  # noqa: E402

PROXY = Path(__file__).with_name("two_tier_proxy.py")
NS_HOST_IP, NS_IP = "10.231.77.1", "10.231.77.2"
PASSWORD = "bench-" + os.urandom(6).hex()  # protected mode stays on: L2 is not on loopback
CHANNEL = "cache:bench:l1-inv"


@dataclass(frozen=True)
class Params:
    keys: int = 100_000
    value_bytes: int = 512
    zipf_s: float = 0.99
    l1_fraction: float = 0.10        # L1 maxmemory above its empty baseline, as a share of L2's dataset memory
    write_fraction: float = 0.05     # of all operations; writes come from a second pod
    ttl_cap_s: float = 30.0          # CACHE_L1_TTL_CAP
    l2_ttl_s: int = 3600             # TTL of every L2 entry
    target_rtt_us: int = 500         # added round trip to L2, measured at p50 (the proxy is calibrated to it)
    warmup_ops: int = 20_000
    measure_ops: int = 30_000
    overhead_keys: int = 1_000
    overhead_rounds: int = 20
    seed: int = 42


# ---- processes and network ----------------------------------------------------------------------

class Lab:
    """Everything the benchmark starts, torn down by PID and by name in `close`."""

    def __init__(self, use_netns: bool) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cpb-"))
        self.procs: List[subprocess.Popen[bytes]] = []
        tag = str(os.getpid() % 100000)
        self.ns = f"cpbench{tag}"
        self.veth = f"cpbh{tag}"
        self.netns = use_netns and self._make_netns()
        self.l2_host = NS_IP if self.netns else "127.0.0.1"

    def _make_netns(self) -> bool:
        if os.geteuid() != 0 or shutil.which("ip") is None:
            return False
        cmds = [["ip", "netns", "add", self.ns],
                ["ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth-l2", "netns", self.ns],
                ["ip", "addr", "add", f"{NS_HOST_IP}/30", "dev", self.veth],
                ["ip", "link", "set", self.veth, "up"],
                ["ip", "netns", "exec", self.ns, "ip", "addr", "add", f"{NS_IP}/30", "dev", "eth-l2"],
                ["ip", "netns", "exec", self.ns, "ip", "link", "set", "eth-l2", "up"],
                ["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"]]
        for cmd in cmds:
            if subprocess.run(cmd, capture_output=True).returncode != 0:
                self._drop_netns()
                return False
        return True

    def _drop_netns(self) -> None:
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

    def redis(self, name: str, args: Sequence[str], in_netns: bool = False) -> subprocess.Popen[bytes]:
        prefix = ["ip", "netns", "exec", self.ns] if in_netns and self.netns else []
        cmd = prefix + ["redis-server", "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                        "--logfile", str(self.dir / f"{name}.log"), *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def proxy(self, port: int, delay_us: int) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, str(PROXY), str(port), self.l2_host, "6379", str(delay_us)],
                                stdout=subprocess.PIPE)
        self.procs.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        if not ready or proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("delay proxy did not start")
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        if self.netns:
            self._drop_netns()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_ping(client: redis.Redis, what: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            if client.ping():
                return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start")
        time.sleep(0.02)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- measurement helpers ------------------------------------------------------------------------

def pct(sorted_ns: Sequence[int], q: float) -> float:
    """Percentile in microseconds (nearest rank)."""
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def summary(ns: List[int]) -> Dict[str, float]:
    s = sorted(ns)
    return {"p50": pct(s, 0.50), "p99": pct(s, 0.99), "mean": statistics.fmean(s) / 1000, "n": len(s)}


def single_conn_latency(paths: Dict[str, redis.Redis], rounds: int = 6, n: int = 500) -> Dict[str, Dict[str, float]]:
    """GET latency over one connection per path, paths interleaved round by round so that machine
    noise (2 shared cores) lands on all of them alike."""
    samples: Dict[str, List[int]] = {name: [] for name in paths}
    for client in paths.values():
        client.set("probe", b"x" * 512)
        for _ in range(200):
            client.get("probe")
    for _ in range(rounds):
        for name, client in paths.items():
            for _ in range(n):
                t = time.perf_counter_ns()
                client.get("probe")
                samples[name].append(time.perf_counter_ns() - t)
    return {name: summary(ns) for name, ns in samples.items()}


def redis_benchmark_rps(host: str, port: int, clients: int = 50, requests: int = 50_000) -> float:
    """GET throughput with redis-benchmark (C, 50 connections): the ceiling of what it talks to."""
    res = subprocess.run(["redis-benchmark", "-h", host, "-p", str(port), "-a", PASSWORD, "-c", str(clients),
                          "-n", str(requests), "-t", "get", "-d", "512", "--csv"],
                         capture_output=True, text=True, timeout=300)
    for line in res.stdout.splitlines():
        if line.startswith('"GET"'):
            return float(line.split(",")[1].strip('"'))
    raise RuntimeError(f"redis-benchmark failed: {res.stdout[-500:]} {res.stderr[-500:]}")


def zipf_ops(p: Params, n: int, rng: random.Random) -> Tuple[List[int], List[bool]]:
    """Key ranks drawn from Zipf(s) over the keyspace, and which operations are writes."""
    weights = [1.0 / (r ** p.zipf_s) for r in range(1, p.keys + 1)]
    cum = []
    total = 0.0
    for w in weights:
        total += w
        cum.append(total)
    ranks = rng.choices(range(p.keys), cum_weights=cum, k=n)
    writes = [rng.random() < p.write_fraction for _ in range(n)]
    return ranks, writes


# ---- the benchmark ------------------------------------------------------------------------------

def run(p: Params, use_netns: bool) -> str:
    lab = Lab(use_netns)
    clients: List[object] = []
    try:
        return _run(p, lab, clients)
    finally:
        for c in reversed(clients):  # caches before the connections they use
            c.close()  # type: ignore[attr-defined]
        lab.close()


def _run(p: Params, lab: Lab, clients: List[object]) -> str:
    rng = random.Random(p.seed)
    bind = lab.l2_host
    lab.redis("l2", ["--bind", bind, "--port", "6379", "--requirepass", PASSWORD], in_netns=True)
    direct = redis.Redis(host=bind, port=6379, password=PASSWORD, socket_timeout=5)
    clients.append(direct)
    wait_ping(direct, "L2")

    # 1. The proxy's own cost and ceiling, before anything is measured through it.
    proxy0_port = free_port()
    proxy0 = lab.proxy(proxy0_port, 0)
    via0 = redis.Redis(host="127.0.0.1", port=proxy0_port, password=PASSWORD, socket_timeout=5)
    ceiling = single_conn_latency({"direct": direct, "proxy_0": via0})
    ceiling_rps = {"direct": redis_benchmark_rps(bind, 6379), "proxy_0": redis_benchmark_rps("127.0.0.1", proxy0_port)}
    via0.close()
    lab.stop(proxy0)
    # Sleep overshoot and the proxy's own hop add to the configured delay: calibrate the configured
    # per-direction delay until the measured added round trip (p50, vs direct) is the target.
    delay_us = p.target_rtt_us // 2
    for _ in range(4):
        proxy_port = free_port()
        proxy = lab.proxy(proxy_port, delay_us)
        via = redis.Redis(host="127.0.0.1", port=proxy_port, password=PASSWORD, socket_timeout=5)
        measured = single_conn_latency({"direct": direct, "proxy_delay": via}, rounds=4)
        via.close()
        ceiling["proxy_delay"] = measured["proxy_delay"]
        ceiling["direct_at_calibration"] = measured["direct"]
        error = measured["proxy_delay"]["p50"] - measured["direct"]["p50"] - p.target_rtt_us
        if abs(error) <= 20:
            break
        lab.stop(proxy)
        delay_us = max(0, delay_us - round(error / 2))
    ceiling["delay_us"] = {"p50": float(delay_us)}

    # 2. The dataset, loaded directly (not through the proxy).
    direct.flushall()
    base_mem = int(direct.info("memory")["used_memory"])
    keys = [f"item:{i:07d}" for i in range(p.keys)]
    rng.shuffle(keys)  # rank -> key: hot keys spread over the keyspace
    pipe = direct.pipeline(transaction=False)
    for i, key in enumerate(keys):
        pipe.set(key, rng.randbytes(p.value_bytes), ex=p.l2_ttl_s)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    dataset = int(direct.info("memory")["used_memory"]) - base_mem

    # 3. Two pods' L1 sidecars: A (the reader, measured) and B (the writer).
    sockets = {}
    for name in ("l1-a", "l1-b"):
        sockets[name] = str(lab.dir / f"{name}.sock")
        lab.redis(name, ["--port", "0", "--unixsocket", sockets[name], "--unixsocketperm", "700",
                         "--maxmemory-policy", "allkeys-lru"])
    options = ClientOptions(l2_timeout=2.0, l2_connect_timeout=2.0, subscribe_wait=3.0)
    l1a_raw = l1_client(TierSettings(host="127.0.0.1", socket=sockets["l1-a"]), options)
    clients.append(l1a_raw)
    wait_ping(l1a_raw, "L1 A")
    l1_base = int(l1a_raw.info("memory")["used_memory"])
    l1_maxmemory = l1_base + int(p.l1_fraction * dataset)
    l1a_raw.config_set("maxmemory", l1_maxmemory)
    l1b_raw = l1_client(TierSettings(host="127.0.0.1", socket=sockets["l1-b"]), options)
    clients.append(l1b_raw)
    wait_ping(l1b_raw, "L1 B")
    l1b_raw.config_set("maxmemory", l1_maxmemory)

    def l2_via_proxy() -> redis.Redis:
        c = redis.Redis(host="127.0.0.1", port=proxy_port, password=PASSWORD, socket_timeout=2,
                        socket_connect_timeout=2)
        clients.append(c)
        return c

    ranks, writes = zipf_ops(p, p.warmup_ops + p.measure_ops, rng)
    counter = [0]

    def new_value() -> bytes:
        counter[0] += 1
        return counter[0].to_bytes(8, "big") * (p.value_bytes // 8)

    # 4. L2 only: every GET is a round trip through the delay proxy.
    l2_only = l2_via_proxy()
    base_get, base_set = _loop(p, ranks, writes, keys, l2_only.get,
                               lambda k: l2_only.set(k, new_value(), ex=p.l2_ttl_s), p.warmup_ops // 10)

    # 5. Two-tier: pod A reads, pod B writes (so A's copies are invalidated over pub/sub).
    pod_a = TwoTierCache(l2_via_proxy(), l1=l1_client(TierSettings(host="127.0.0.1", socket=sockets["l1-a"]), options),
                         channel=CHANNEL, ttl_cap=p.ttl_cap_s, default_ttl=p.l2_ttl_s, options=options)
    pod_b = TwoTierCache(l2_via_proxy(), l1=l1_client(TierSettings(host="127.0.0.1", socket=sockets["l1-b"]), options),
                         channel=CHANNEL, ttl_cap=p.ttl_cap_s, default_ttl=p.l2_ttl_s, options=options)
    clients += [pod_a, pod_b]
    if not (pod_a.subscribed and pod_b.subscribed):
        raise RuntimeError("invalidation subscription did not come up")

    def reset_stats() -> None:
        pod_a.stats = CacheStats()

    tt_get, tt_set = _loop(p, ranks, writes, keys, pod_a.get, lambda k: pod_b.set(k, new_value()),
                           p.warmup_ops, on_measure=reset_stats)
    stats = dataclasses.replace(pod_a.stats)
    l1_info = l1a_raw.info()

    # 6. Client overhead on an L1 hit: TwoTierCache.get vs a raw redis-py GET on the same L1 socket.
    # L1 is no longer memory-bound here, so eviction cannot turn an intended hit into a miss.
    l1a_raw.config_set("maxmemory", 0)
    hot = keys[: p.overhead_keys]
    for key in hot:
        pod_a.get(key)
        pod_a.get(key)
    missing = sum(1 for k in hot if l1a_raw.get(k) is None)
    if missing:
        raise RuntimeError(f"{missing} of {len(hot)} overhead keys are not in L1 ({pod_a.stats}, "
                           f"evicted {l1a_raw.info()['evicted_keys']})")
    raw_ns: List[int] = []
    cache_ns: List[int] = []
    hits_before = pod_a.stats.l1_hits
    for r in range(p.overhead_rounds):
        order = [(l1a_raw.get, raw_ns), (pod_a.get, cache_ns)]
        for fn, sink in (order if r % 2 == 0 else order[::-1]):
            for key in hot:
                t = time.perf_counter_ns()
                fn(key)
                sink.append(time.perf_counter_ns() - t)
    if pod_a.stats.l1_hits - hits_before != len(hot) * p.overhead_rounds:
        raise RuntimeError("an overhead-phase read missed L1")

    return report(p, lab, ceiling, ceiling_rps, dataset, l1_maxmemory, l1_base,
                  summary(base_get), summary(base_set), summary(tt_get), summary(tt_set), stats,
                  summary(raw_ns), summary(cache_ns), l1_info)


def _loop(p: Params, ranks: List[int], writes: List[bool], keys: List[str], get: Callable[[str], object],
          put: Callable[[str], object], warmup: int,
          on_measure: Optional[Callable[[], None]] = None) -> Tuple[List[int], List[int]]:
    """Warm up with `warmup` operations, then time `measure_ops` operations (GETs and writes apart)."""
    start = p.warmup_ops - warmup
    gets: List[int] = []
    puts: List[int] = []
    for i in range(start, len(ranks)):
        if i == p.warmup_ops and on_measure is not None:
            on_measure()
        key = keys[ranks[i]]
        t = time.perf_counter_ns()
        if writes[i]:
            put(key)
        else:
            get(key)
        dt = time.perf_counter_ns() - t
        if i >= p.warmup_ops:
            (puts if writes[i] else gets).append(dt)
    return gets, puts


def report(p: Params, lab: Lab, ceiling: Dict[str, Dict[str, float]], ceiling_rps: Dict[str, float], dataset: int,
           l1_maxmemory: int, l1_base: int, base_get: Dict[str, float], base_set: Dict[str, float],
           tt_get: Dict[str, float], tt_set: Dict[str, float], stats: CacheStats, raw: Dict[str, float],
           cached: Dict[str, float], l1_info: Dict[str, object]) -> str:
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    lines = [
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}, Python {platform.python_version()}, redis-py {redis.__version__}, "
        f"redis-server {redis_version.removeprefix('v=')}.",
        "",
        "Network: " + ("L2 in its own network namespace behind a veth pair; " if lab.netns else
                       "L2 on loopback (no netns: not root or `ip netns` unavailable); ")
        + f"the client reaches it through a userspace delay proxy (benchmarks/two_tier_proxy.py) configured to "
        f"{ceiling['delay_us']['p50']:.0f} us each way, calibrated so that it adds "
        f"{ceiling['proxy_delay']['p50'] - ceiling['direct_at_calibration']['p50']:.0f} us to a GET round trip "
        f"at p50 "
        f"(target {p.target_rtt_us} us). "
        "L1 sidecars on unix sockets in the client's namespace.",
        "",
        f"Parameters: {p.keys:,} keys, {p.value_bytes}-byte values, Zipf s={p.zipf_s}, "
        f"{p.write_fraction:.0%} writes (from a second pod), L1 maxmemory = empty baseline "
        f"{l1_base / 2**20:.1f} MiB + {p.l1_fraction:.0%} of the L2 dataset ({dataset / 2**20:.1f} MiB) "
        f"= {l1_maxmemory / 2**20:.1f} MiB, allkeys-lru; L1 TTL cap {p.ttl_cap_s:g} s; L2 TTL {p.l2_ttl_s} s; "
        f"{p.warmup_ops:,} warm-up then {p.measure_ops:,} measured operations, one client thread, seed {p.seed}.",
        "",
        "### Delay proxy: own cost and ceiling",
        "",
        "| path to L2 | GET p50 (us) | GET p99 (us) | GET ops/s, redis-benchmark -c 50 |",
        "|---|---:|---:|---:|",
        f"| direct{' (veth)' if lab.netns else ''} | {ceiling['direct']['p50']:.0f} | {ceiling['direct']['p99']:.0f} "
        f"| {ceiling_rps['direct']:,.0f} |",
        f"| proxy, 0 us delay | {ceiling['proxy_0']['p50']:.0f} | {ceiling['proxy_0']['p99']:.0f} "
        f"| {ceiling_rps['proxy_0']:,.0f} |",
        f"| proxy, {ceiling['delay_us']['p50']:.0f} us each way (used below) | {ceiling['proxy_delay']['p50']:.0f} "
        f"| {ceiling['proxy_delay']['p99']:.0f} | - |",
        "",
        f"The proxy alone adds {ceiling['proxy_0']['p50'] - ceiling['direct']['p50']:.0f} us (p50) and tops out at "
        f"{ceiling_rps['proxy_0']:,.0f} GET/s; the runs below issue at most "
        f"{1e6 / base_get['mean']:,.0f} L2 requests/s, so they measure latency, not the proxy's throughput.",
        "",
        "### GET latency, L2 only vs two-tier",
        "",
        "| client | GET p50 (us) | GET p99 (us) | GET mean (us) | L1 hit ratio | write p50 (us) |",
        "|---|---:|---:|---:|---:|---:|",
        f"| redis-py straight to L2 | {base_get['p50']:.0f} | {base_get['p99']:.0f} | {base_get['mean']:.0f} | - "
        f"| {base_set['p50']:.0f} |",
        f"| TwoTierCache (L1 + L2) | {tt_get['p50']:.0f} | {tt_get['p99']:.0f} | {tt_get['mean']:.0f} "
        f"| {stats.l1_hit_ratio:.1%} | {tt_set['p50']:.0f} |",
        f"| speed-up | {base_get['p50'] / tt_get['p50']:.1f}x | {base_get['p99'] / tt_get['p99']:.1f}x "
        f"| {base_get['mean'] / tt_get['mean']:.1f}x | | |",
        "",
        f"Two-tier counters (measured phase): {stats.l1_hits:,} L1 hits, {stats.l2_hits:,} L2 hits, "
        f"{stats.l2_misses:,} misses, {stats.populates:,} populates, {stats.populates_refused:,} refused by the "
        f"race guard, {stats.invalidations_received:,} invalidations received; L1 evicted "
        f"{l1_info.get('evicted_keys', 0):,} keys over the run.",
        "",
        "### Client overhead on an L1 hit",
        "",
        "| call | p50 (us) | mean (us) |",
        "|---|---:|---:|",
        f"| raw redis-py GET on the L1 socket | {raw['p50']:.1f} | {raw['mean']:.1f} |",
        f"| TwoTierCache.get (L1 hit) | {cached['p50']:.1f} | {cached['mean']:.1f} |",
        f"| overhead | {100 * (cached['p50'] / raw['p50'] - 1):+.1f}% | {100 * (cached['mean'] / raw['mean'] - 1):+.1f}% |",
        "",
        f"({p.overhead_keys:,} keys resident in L1, {p.overhead_rounds} alternating rounds, "
        f"{int(raw['n']):,} calls each.)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run for a smoke test (not for the README)")
    parser.add_argument("--no-netns", action="store_true", help="keep L2 on loopback (no root needed)")
    parser.add_argument("--output", type=Path, help="also write the markdown to this file")
    args = parser.parse_args()
    params = Params()
    if args.quick:
        params = Params(keys=10_000, warmup_ops=2_000, measure_ops=3_000, overhead_keys=200, overhead_rounds=4)
    text = run(params, use_netns=not args.no_netns)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n\nParameters: " + repr(asdict(params)) + "\n")


if __name__ == "__main__":
    main()
