"""`./run test` without arguments: the test tiers in order, each a pytest run of its own, with the
time each took and a summary at the end. With arguments `./run test` is plain pytest, so a tier
runs alone with `./run test -m cluster` (or `-m live`, `-m "not live and not cluster"`).

    unit     everything offline: config, components under Pulumi mocks, renders, snapshots
    live     real redis-server / redis-sentinel / haproxy processes on 127.0.0.1
    cluster  every stack applied to a real control plane (e2e/cluster.py, toolchain from e2e/pins.toml)
    engine   `pulumi up` of every Kubernetes stack with the real engine on that control plane
             (e2e/scenarios, docs/engine.md; `./run e2e` runs it alone)
"""
from __future__ import annotations

import subprocess
import sys
import time

# name, pytest arguments before the caller's
TIERS = (
    ("unit", ["-m", "not live and not cluster"]),
    ("live", ["-m", "live"]),
    ("cluster", ["-m", "cluster"]),
    ("engine", ["e2e/scenarios"]),
)


def main(argv: list[str]) -> int:
    results = []
    for name, args in TIERS:
        print(f"\n=== tier {name}: pytest {' '.join(args + argv)}".rstrip(), flush=True)
        start = time.monotonic()
        code = subprocess.call([sys.executable, "-m", "pytest", *args, *argv])
        results.append((name, code, time.monotonic() - start))
        print(f"=== tier {name}: {'passed' if code == 0 else f'FAILED (pytest exit {code})'} "
              f"in {time.monotonic() - start:.0f} s", flush=True)
    print("\ntier      result   seconds")
    for name, code, took in results:
        print(f"{name:9} {'ok' if code == 0 else 'FAILED':8} {took:7.0f}")
    failed = sum(1 for _, code, _ in results if code != 0)
    print(f"tiers: {len(results) - failed} passed, {failed} failed")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
