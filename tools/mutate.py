"""Mutation check: plant known faults, one at a time, in a temporary copy of the tree and assert that
the tests meant to guard against each one fail. A fault the tests let through (a surviving mutant)
means those tests cannot see it: the check fails.

Each mutant is an exact text edit (the text must occur exactly `count` times, so a refactoring that
moves it makes this check fail loudly instead of silently testing nothing) and the test node ids that
must catch it. The same tests first run on the unmutated copy and must pass, so a mutant counts as
caught only because of its edit (in CI the tiers' run of the same tree is that baseline for the tests it
passed: `--baseline-from`, tools/outcomes.py). The copy imports its own client sources (PYTHONPATH), not the
installed package.

Mutants whose tests are all in the engine tier (e2e/scenarios: `pulumi up` on the local cluster) run
in that tier (e2e/scenarios/test_mutants.py), right after the same scenarios passed unmutated in the
same session, which is their baseline; `./run mutate` runs the others, or any named one.
docs/mutation.md lists every mutant: `./run mutate --docs` (and `./run docs`) writes that table.

    ./run mutate [--list] [--docs] [--workers N] [--baseline-from DIR] [--part offline|rest] [--idle] [NAME ...]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools.mutants import CLIENT_SRC, MUTANTS, Mutant  # noqa: F401 (the list, re-exported)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "mutation.md"


def tier(node: str) -> str:
    """The test tier a test node belongs to (tools/tiers.py): engine, cluster, node, live or unit."""
    path = node.split("::")[0]
    if path.startswith("e2e/scenarios/"):
        return "engine"
    if path.startswith("tests/cluster/"):
        return "cluster"
    if path.startswith("tests/node/"):
        return "node"
    return "live" if "pytest.mark.live" in source(node) else "unit"


def source(node: str) -> str:
    """The text of a test node's module ("" when it is not a file of this tree)."""
    path = ROOT / node.split("::")[0]
    return path.read_text() if path.is_file() else ""


def run_by_engine_tier(m: Mutant) -> bool:
    return all(tier(t) == "engine" for t in m.tests)


# Test modules that start processes or keep time themselves (a server and its readiness loop, sleeps).
CLOCKS = ("Popen", "time.sleep", "monotonic(")


def offline(m: Mutant) -> bool:
    """Caught by unit-tier tests that start no server and wait on no clock: not in tests/live or
    tests/client (the unit-tier tests there run real processes against timers), and no test module that
    starts a process or keeps time itself (CLOCKS). .ci/run runs these beside the other tiers at the
    lowest CPU priority (`--part offline --idle`); a run that starved into a subprocess timeout anyway
    is not counted as caught but run again at normal priority (`run_mutant`)."""
    def calm(node: str) -> bool:
        return not node.startswith(("tests/live/", "tests/client/")) and not any(c in source(node) for c in CLOCKS)
    return all(tier(t) == "unit" and calm(t) for t in m.tests)


PARTS = {"offline": offline, "rest": lambda m: not offline(m)}


def docs_table() -> str:
    """docs/mutation.md's table: every mutant, its fault, the tests that catch it and their tier."""
    out = ["| mutant | the fault | caught by | tier |", "|---|---|---|---|"]
    for m in MUTANTS:
        tests = ", ".join(f"`{Path(t.split('::')[0]).name}::{t.split('::')[1]}`" if "::" in t else f"`{t}`"
                          for t in m.tests)
        tiers = ", ".join(dict.fromkeys(tier(t) for t in m.tests))
        out.append(f"| {m.name} | {m.fault.replace('|', '/')} | {tests} | {tiers} |")
    return "\n".join(out) + "\n"


def documented(text: str) -> str:
    """docs/mutation.md with its generated table as the mutants are now."""
    from tools import docs

    return docs.apply(text, {"mutants": docs_table}, str(DOCS))


def tree_files(root: Path) -> list[Path]:
    """The project's files: tracked and untracked-but-not-ignored ones in a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                             check=True, capture_output=True).stdout
        return [Path(p) for p in out.decode().split("\0") if p and (root / p).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "rendered", "__pycache__", ".pytest_cache"}
        return [p.relative_to(root) for p in root.rglob("*") if p.is_file() and not skip & set(p.parts)]


def copy_tree(root: Path, target: Path) -> None:
    for rel in tree_files(root):
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest)


def check_anchor(m: Mutant, root: Path) -> str | None:
    """Why the mutant cannot be planted in `root` (None: it can)."""
    path = root / m.path
    if not path.is_file():
        return f"{m.path} does not exist"
    found = path.read_text().count(m.old)
    if found != m.count:
        return f"{m.path}: the text to replace occurs {found} time(s), expected {m.count}: {m.old.strip()[:80]!r}"
    return None


def environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy), str(copy / "components"), str(copy / CLIENT_SRC)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # The copy is not beside the shared folder: it reads the one this checkout reads.
    sys.path.insert(0, str(ROOT))
    from tools import validate

    env.setdefault(validate.SHARED_ENV, str(validate.shared_dir()))
    return env


IDLE = False   # --idle: every pytest run at the lowest CPU priority
# A session of its own (start_new_session), whose autogroup gets nice 19, then nice 19 itself. With the
# kernel's autogroups (sched_autogroup_enabled) a process's nice only ranks it inside its session's
# group and the groups share the cores equally; a group of its own at nice 19 gets about 1.5 % of a core
# that another group wants. Without autogroups the process's own nice does the same.
LOWEST_PRIORITY = ["sh", "-c", 'echo 19 > /proc/self/autogroup 2>/dev/null; exec nice -n 19 "$@"', "sh"]


def pytest(copy: Path, tests: tuple[str, ...], stop_first: bool) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header", "-rfEs"]
    if stop_first:
        args.append("-x")
    return subprocess.run((LOWEST_PRIORITY if IDLE else []) + args + list(tests), cwd=copy, env=environment(copy),
                          capture_output=True, text=True, start_new_session=IDLE)


def tail(text: str, lines: int = 15) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def run_mutant(m: Mutant, copy: Path) -> tuple[str, float, str]:
    """(outcome, seconds, detail): caught, SURVIVED or ERROR."""
    path = copy / m.path
    original = path.read_text()
    started = time.perf_counter()
    try:
        path.write_text(original.replace(m.old, m.new))
        result = pytest(copy, m.tests, stop_first=True)
    finally:
        path.write_text(original)
    seconds = time.perf_counter() - started
    if result.returncode == 1:
        failed = [line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        if IDLE and "timeout" in result.stdout.lower():
            # Starved at the lowest priority into a time limit: proves nothing; main runs it again at
            # normal priority.
            return "starved", seconds, failed[0] if failed else ""
        return "caught", seconds, failed[0] if failed else ""
    if result.returncode == 0:
        return "SURVIVED", seconds, tail(result.stdout)
    return "ERROR", seconds, f"pytest exit {result.returncode}\n{tail(result.stdout + result.stderr)}"


def baseline(copy: Path, tests: tuple[str, ...], results: Path | None, started: float) -> bool:
    """The mutants' tests must pass unmutated, so that a failure counts only because of an edit. With
    `results` (the tiers' outcomes of this same tree, tools/outcomes.py), what passed there is not run
    again; whatever the tiers did not run, or did not pass, runs here on the unmutated copy."""
    done: tuple[str, ...] = ()
    if results is not None:
        from tools import outcomes

        seen = outcomes.load(results)
        if not seen:
            print(f"--baseline-from {results}: no outcomes there (was CACHE_PATTERNS_TEST_RESULTS set for "
                  "./run test?)", file=sys.stderr)
            return False
        done = tuple(t for t in tests if outcomes.passed_selection(t, seen))
    rest = tuple(t for t in tests if t not in done)
    if rest:
        run = pytest(copy, rest, stop_first=False)
        if run.returncode != 0:
            print(f"the unmutated tree fails the selected tests (exit {run.returncode}); fix that first:\n"
                  f"{tail(run.stdout + run.stderr, 30)}", file=sys.stderr)
            return False
    seconds = time.perf_counter() - started
    print(f"baseline: {len(tests)} test selections pass unmutated: {len(done)} in the tiers' run ({results}), "
          f"{len(rest)} on the unmutated copy ({seconds:.1f} s)" if results is not None else
          f"baseline: {len(tests)} test selections pass on the unmutated copy ({seconds:.1f} s)")
    return True


def report(m: Mutant, outcome: str, seconds: float, detail: str) -> None:
    print(f"{outcome:<8} {m.name:<28} {seconds:5.1f} s  {m.fault}")
    if outcome != "caught" or detail:
        print(f"    {detail.strip()}" if outcome in ("caught", "starved") else detail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--docs", action="store_true", help="write docs/mutation.md's table and exit")
    parser.add_argument("--workers", type=int, default=2, help="mutants run in parallel (default 2)")
    parser.add_argument("--baseline-from", type=Path, metavar="DIR",
                        help="the tiers' outcomes of this tree (CACHE_PATTERNS_TEST_RESULTS=DIR ./run test): "
                             "what passed there is the baseline, not run again")
    parser.add_argument("--part", choices=sorted(PARTS),
                        help="only the offline mutants (caught by unit-tier tests that run no server and wait on "
                             "no clock) or the rest; default: every mutant")
    parser.add_argument("--idle", action="store_true",
                        help="run the tests at the lowest CPU priority (beside other work: .ci/run)")
    args = parser.parse_args(argv)
    global IDLE
    IDLE = args.idle
    by_name = {m.name: m for m in MUTANTS}
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:<28} {'(engine tier) ' if run_by_engine_tier(m) else ''}{m.fault}")
        return 0
    if args.docs:
        DOCS.write_text(documented(DOCS.read_text()))
        return 0
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        print(f"unknown mutant(s): {', '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    # The engine tier runs its own mutants (e2e/scenarios/test_mutants.py); named, any runs here.
    mutants = [by_name[n] for n in args.names] if args.names else [m for m in MUTANTS if not run_by_engine_tier(m)]
    if args.part:
        mutants = [m for m in mutants if PARTS[args.part](m)]
    broken = [f"{m.name}: {why}" for m in mutants if (why := check_anchor(m, ROOT))]
    if broken:
        print("mutants that no longer fit the code (update tools/mutants.py):\n  " + "\n  ".join(broken), file=sys.stderr)
        return 2

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cp-mutate-") as tmp:
        workers = max(1, min(args.workers, len(mutants)))
        copies = [Path(tmp) / f"tree{i}" for i in range(workers)]
        for copy in copies:
            copy_tree(ROOT, copy)
        tests = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
        if not baseline(copies[0], tests, args.baseline_from, started):
            return 1

        free = list(copies)

        def one(m: Mutant) -> tuple[Mutant, str, float, str]:
            copy = free.pop()
            try:
                return (m, *run_mutant(m, copy))
            finally:
                free.append(copy)

        # Mutants caught by live tests take longest: start them first, so no worker idles at the end.
        order = sorted(mutants, key=lambda m: not any("/live/" in t or "_live" in t for t in m.tests))
        results = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for m, outcome, seconds, detail in pool.map(one, order):
                results.append((m, outcome))
                report(m, outcome, seconds, detail)
        starved = [m for m, outcome in results if outcome == "starved"]
        if starved:
            IDLE = False
            print(f"again at normal priority (a time limit ran out at the lowest): {', '.join(m.name for m in starved)}")
            results = [(m, outcome) for m, outcome in results if outcome != "starved"]
            for m in starved:
                outcome, seconds, detail = run_mutant(m, copies[0])
                results.append((m, outcome))
                report(m, outcome, seconds, detail)
    survived = [m.name for m, outcome in results if outcome != "caught"]
    total = time.perf_counter() - started
    print(f"{len(results) - len(survived)}/{len(results)} mutants caught in {total:.0f} s "
          f"({workers} worker(s))" + (f"; not caught: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
