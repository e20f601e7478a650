"""Benchmark: how long the offline render takes per stack, and how evaluation time grows with the
number of apps (the program itself, under Pulumi's mocks). A script, not a test; prints markdown.

    .venv/bin/python benchmarks/render.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import harness, render  # noqa: E402


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    harness.run("local")  # imports and first-run costs out of the figures
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.python_version()}, "
          f"median of {args.repeat}; render = evaluate + validate + write YAML\n")
    print("| stack | objects | render (s) |\n|---|---:|---:|")
    with tempfile.TemporaryDirectory() as out:
        for stack in harness.list_stacks():
            result = render.render(stack, Path(out))
            seconds = timed(lambda: render.render(stack, Path(out)), args.repeat)
            print(f"| `{stack}` | {len(result.manifests)} | {seconds:.2f} |")
    base = harness.load_stack_config("local")
    print("\n| apps (sidecar cache, 5 namespaces) | evaluate (s) | per app (ms) |\n|---:|---:|---:|")
    for n in (1, 10, 50, 100, 200):
        cfg = {**base, "cache-patterns:apps": [{"name": f"app{i}", "image": "ghcr.io/acme/app:1.0.0",
                                                "cache": "local", "namespace": f"ns{i % 5}"} for i in range(n)]}
        seconds = timed(lambda: harness.run("local", cfg), args.repeat)
        print(f"| {n} | {seconds:.3f} | {seconds / n * 1000:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
