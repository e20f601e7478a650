"""`./run test` without arguments: the test tiers, each a pytest run of its own, with the time each
took and a summary at the end. With arguments `./run test` is plain pytest, so a tier runs alone
with `./run test -m cluster` (or `-m live`, `-m "not live and not cluster"`).

    unit     everything offline: config, components under Pulumi mocks, renders, snapshots
    live     real redis-server / redis-sentinel / haproxy processes on 127.0.0.1
    cluster  every stack applied to a real control plane (e2e/cluster.py, toolchain from e2e/pins.toml)
    engine   `pulumi up` of every Kubernetes stack with the real engine on that control plane
             (e2e/scenarios, docs/engine.md; `./run e2e` runs it alone)
    node     the rendered pods run for real on a kubelet node in namespaces of its own (tests/node,
             marker `node`, a part of the cluster tier run as its own line: docs/node.md)

The unit tier runs first and alone (it keeps a core busy). Then the live tier runs beside the cluster
and engine tiers (those two in order, on one control plane) and beside the node tier (a cluster of
its own): they spend most of their time waiting on processes, timers, pods and the API server, not
on a core, so side by side they take about as long as the longest line instead of the sum
(docs/e2e.md#time). `--serial` runs every tier in turn.
Each tier's output is printed as a block when it finishes.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# name, pytest arguments before the caller's
TIERS = {
    "unit": ["-m", "not live and not cluster"],
    "live": ["-m", "live"],
    "cluster": ["-m", "cluster and not node"],
    "engine": ["e2e/scenarios"],
    "node": ["-m", "node"],
}
# Stages run one after another; the lines of a stage run side by side, the tiers of a line in order.
STAGES = ((("unit",),), (("live",), ("cluster", "engine"), ("node",)))

_print = threading.Lock()


def run_tier(name: str, argv: list[str], logs: Path) -> tuple[str, int, float]:
    args = TIERS[name] + argv
    log = logs / f"{name}.log"
    start = time.monotonic()
    with log.open("w") as out:
        code = subprocess.call([sys.executable, "-m", "pytest", *args], stdout=out, stderr=subprocess.STDOUT)
    took = time.monotonic() - start
    with _print:
        print(f"\n=== tier {name}: pytest {' '.join(args)}".rstrip(), flush=True)
        sys.stdout.write(log.read_text())
        print(f"=== tier {name}: {'passed' if code == 0 else f'FAILED (pytest exit {code})'} in {took:.0f} s",
              flush=True)
    return name, code, took


def run_line(line: tuple[str, ...], argv: list[str], logs: Path, results: list) -> None:
    for name in line:
        results.append(run_tier(name, argv, logs))


def main(argv: list[str]) -> int:
    serial = "--serial" in argv
    argv = [a for a in argv if a != "--serial"]
    stages = tuple((tuple(n for line in stage for n in line),) for stage in STAGES) if serial else STAGES
    results: list[tuple[str, int, float]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cp-tiers-") as tmp:
        for stage in stages:
            if len(stage) > 1:
                print(f"\n=== side by side: {' | '.join(' -> '.join(line) for line in stage)}", flush=True)
            threads = [threading.Thread(target=run_line, args=(line, argv, Path(tmp), results)) for line in stage]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    results.sort(key=lambda r: list(TIERS).index(r[0]))
    print("\ntier      result   seconds")
    for name, code, took in results:
        print(f"{name:9} {'ok' if code == 0 else 'FAILED':8} {took:7.0f}")
    failed = sum(1 for _, code, _ in results if code != 0)
    print(f"tiers: {len(results) - failed} passed, {failed} failed, in {time.monotonic() - started:.0f} s"
          f"{' (serial)' if serial else ' (live beside cluster and engine)'}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
