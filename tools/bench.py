"""`./run bench NAME [ARGS]`: run a benchmark of benchmarks/. Without a NAME it lists them; with one
that is not a benchmark it says so and lists them. A benchmark is a script there that runs on its own
(`if __name__ == "__main__":`) and that no other benchmark starts itself: `rows.py` (an option other
benchmarks import) and `two_tier_proxy.py` (the delay proxy two_tier.py starts) are helpers."""
from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def benchmarks() -> dict[str, str]:
    """Every benchmark by name, with the first line of its docstring."""
    scripts = {p.stem: p.read_text() for p in sorted(BENCHMARKS.glob("*.py")) if not p.name.startswith("_")}
    out = {}
    for name, text in scripts.items():
        runs_alone = 'if __name__ == "__main__":' in text
        # Another benchmark imports it, or names its file as a string to start it.
        started_by_another = any(f'"{name}.py"' in other or f"benchmarks.{name} import" in other
                                 for o, other in scripts.items() if o != name)
        if runs_alone and not started_by_another:
            doc = ast.get_docstring(ast.parse(text)) or ""
            out[name] = doc.split("\n\n")[0].replace("\n", " ").removeprefix("Benchmark: ")
    return out


def listing() -> str:
    found = benchmarks()
    width = max(map(len, found))
    return "benchmarks (./run bench NAME [ARGS], docs/benchmarks.md):\n" + "\n".join(
        f"  {name:<{width}}  {doc}" for name, doc in found.items())


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print(listing())
        return 0
    name, args = argv[0], argv[1:]
    if name not in benchmarks():
        print(f"./run bench: {name!r} is not a benchmark\n{listing()}", file=sys.stderr)
        return 2
    script = str(BENCHMARKS / f"{name}.py")
    os.execv(sys.executable, [sys.executable, script, *args])
    return 0   # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
