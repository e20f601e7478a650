"""Benchmark: each two-tier client (Python, Python asyncio, TypeScript, Go) against raw GETs in its own
language on the same sockets: an L1 hit vs a raw GET on the L1 unix socket, an L1 miss that reads
through to L2 (and copies into L1) vs a raw GET on L2, and the loader's stampede figure (loader calls
per 100 concurrent misses of one key).

    ./run bench two_tier_clients [--quick] [--lang python,typescript,go] [--output FILE]

L2 is a redis-server on TCP loopback, L1 one on a unix socket (no added network delay: this measures
the clients, benchmarks/two_tier.py measures the tiers). Each client runs its timing loops in its own
conformance driver (clients/conformance), so every figure is that language's own clock and library.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from clients.conformance import drivers, runner  # noqa: E402
from clients.conformance.servers import Servers  # noqa: E402

VARIANTS = ("python", "python-asyncio", "typescript", "go")


@dataclass(frozen=True)
class Params:
    keys: int = 1000            # resident keys, each read once per round
    value_bytes: int = 512
    rounds: int = 20            # alternating rounds: raw first, then client first, ...
    stampede_rounds: int = 10
    concurrency: int = 100      # concurrent misses of one key
    loader_ms: int = 20         # how long the loader takes


def summary(ns: Sequence[int]) -> Dict[str, float]:
    s = sorted(ns)
    return {"p50": s[len(s) // 2] / 1000, "p99": s[min(len(s) - 1, int(0.99 * len(s)))] / 1000,
            "mean": statistics.fmean(s) / 1000, "n": len(s)}


def run_variant(lang: str, p: Params, binary: str) -> Dict[str, object]:
    base = "python" if lang == "python-asyncio" else lang
    servers = Servers(binary)
    driver = None
    try:
        l2 = servers.tcp("l2")
        l1 = servers.unix("l1")
        raw = l2.client()
        pipe = raw.pipeline(transaction=False)
        for i in range(p.keys):
            pipe.set(f"bench:{i}", os.urandom(p.value_bytes), ex=3600)
        pipe.execute()
        raw.close()
        driver = drivers.Driver(base, ROOT, "bench", ("--asyncio",) if lang == "python-asyncio" else ())
        hello = driver.call("hello", timeout=120)
        env = {"CACHE_CONTRACT_VERSION": "1", "CACHE_HOST": "127.0.0.1", "CACHE_PORT": str(l2.port),
               "CACHE_L1_HOST": "127.0.0.1", "CACHE_L1_SOCKET": str(l1.unixsocket), "CACHE_L1_TTL_CAP": "30",
               "CACHE_L1_INVALIDATION_CHANNEL": runner.CHANNEL}
        driver.call("open", timeout=30, env=env, options={"subscribe_wait": 3.0, "l1_timeout": 2.0, "l2_timeout": 2.0})
        assert driver.call("wait_ready", timeout=10, timeout_ms=5000)["ready"], f"{lang}: not subscribed"
        out = driver.call("bench", timeout=1800, l1_socket=str(l1.unixsocket), l2_port=l2.port, keys=p.keys,
                          rounds=p.rounds, stampede_rounds=p.stampede_rounds, concurrency=p.concurrency,
                          loader_ms=p.loader_ms)
        stats = driver.call("stats")
        return {"hello": hello, "stats": stats, "stampede": out["stampede_calls"],
                **{k: summary(out[k]) for k in ("hit_raw", "hit_client", "miss_raw", "miss_client")}}
    finally:
        if driver is not None:
            driver.close()
        servers.close()


def pct(a: float, b: float) -> str:
    return f"{100 * (a / b - 1):+.1f}%"


def report(p: Params, results: Dict[str, Dict[str, object]], load: List[str], binary: str) -> str:
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split()[2]
    lines = [
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs, Linux "
        f"{platform.release()}, {Path(binary).name} {version.removeprefix('v=')}; 1-minute load {load[0]} before, "
        f"{load[1]} after (`/proc/loadavg`).",
        "",
        f"Config: L2 on TCP loopback, L1 on a unix socket, {p.keys:,} keys of {p.value_bytes} bytes, {p.rounds} "
        f"alternating rounds (raw first, then the client first, ...), {p.keys * p.rounds:,} calls per figure; "
        f"stampede: {p.concurrency} concurrent get_or_load calls of one absent key, a {p.loader_ms} ms loader, "
        f"{p.stampede_rounds} rounds.",
        "",
        "| client (runtime, library) | L1 hit p50 / mean (us) | raw GET on the L1 socket | hit overhead p50 / mean "
        "| L1 miss, L2 hit p50 / mean | raw GET on L2 | loader calls per 100 concurrent misses |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for lang, r in results.items():
        hit, raw_hit, miss, raw_miss = (r[k] for k in ("hit_client", "hit_raw", "miss_client", "miss_raw"))
        calls = r["stampede"]
        lines.append(
            f"| {lang} ({r['hello']['runtime']}, client {r['hello']['client_version']}) "  # type: ignore[index]
            f"| {hit['p50']:.1f} / {hit['mean']:.1f} | {raw_hit['p50']:.1f} / {raw_hit['mean']:.1f} "  # type: ignore[index]
            f"| {pct(hit['p50'], raw_hit['p50'])} / {pct(hit['mean'], raw_hit['mean'])} "  # type: ignore[index]
            f"| {miss['p50']:.1f} / {miss['mean']:.1f} | {raw_miss['p50']:.1f} / {raw_miss['mean']:.1f} "  # type: ignore[index]
            f"| {min(calls)}-{max(calls)} |")  # type: ignore[type-var,arg-type]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run for a smoke test (not for the docs)")
    parser.add_argument("--lang", default=",".join(VARIANTS))
    parser.add_argument("--engine", default=shutil.which("redis-server"), help="redis-server or valkey-server")
    parser.add_argument("--output", type=Path, help="also write the markdown to this file")
    args = parser.parse_args()
    p = Params(keys=200, rounds=4, stampede_rounds=3) if args.quick else Params()
    load = [Path("/proc/loadavg").read_text().split()[0]]
    results = {}
    for lang in args.lang.split(","):
        started = time.monotonic()
        results[lang] = run_variant(lang, p, args.engine)
        print(f"{lang}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    load.append(Path("/proc/loadavg").read_text().split()[0])
    text = report(p, results, load, args.engine)
    print(text)
    if args.output:
        args.output.write_text(text + "\n\nParameters: " + repr(asdict(p)) + "\n")


if __name__ == "__main__":
    main()
