"""`./run test` without arguments: the test tiers, each a pytest run of its own, with the time each
took and a summary at the end. With arguments `./run test` is plain pytest, so a tier runs alone
with `./run test -m cluster` (or `-m live`, `-m "not live and not cluster"`).

    unit     everything offline: config, components under Pulumi mocks, renders, snapshots
    live     real redis-server / redis-sentinel / haproxy processes on 127.0.0.1 (marker `live`, but tests/client;
             run in two parts, live and live-b)
    clients  the two-tier clients (Python, TypeScript, Go) against real servers: the conformance suite
             and the clients' own suites (tests/client, marker `live`)
    cluster  every stack applied to a real control plane (e2e/cluster.py, toolchain from e2e/pins.toml)
    engine   `pulumi up` of every Kubernetes stack with the real engine on a control plane of its own
             (e2e/scenarios, docs/engine.md; `./run e2e` runs it alone; run in two parts, engine and engine-b)
    node     the rendered pods run for real on a kubelet node in namespaces of its own (tests/node,
             marker `node`, a part of the cluster tier run as its own line: docs/node.md)

The unit tier runs first and alone, on two workers (pytest-xdist: it keeps both cores busy). Then four
lines run side by side: engine; clients then engine-b; node, live-b, then cluster; live. The
engine tier and its second part engine-b each get a control plane of their own (the ports
`PORT_OFFSET` after the cluster tier's), the node tier a cluster in namespaces of its own. Side by side
they keep both cores busy (99 % in the warm CI runs), so the stage takes about its CPU time over two
cores; the live and engine tiers are split by file so that no line runs on alone at the end with a
core idle (docs/e2e.md#time). `--serial` runs every tier in turn.
Each tier's output is printed as a block when it finishes.

What a tier reports comes from its pytest junit XML, not only its exit code: a tier whose every test
skipped is reported as skipped, with the reason, in the table and in the last line (it did not pass:
it ran nothing); a tier that collected nothing, or whose run did not report at all (an exception in
its thread), fails the run.
"""
from __future__ import annotations

import collections
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

# The live and engine tiers are each split in two by file, so that the lines of the side-by-side stage
# end together (docs/e2e.md#time): the second part of each runs after a shorter line's tiers. Every
# live and engine test is in exactly one part (tests/test_tiers.py).
LIVE_B = ("tests/live/test_backup_live.py",)
# The engine-tier mutants (e2e/scenarios/test_mutants.py) stay with the scenarios whose passing in the
# same session is their baseline (test_changes, test_rotation, test_stacks).
ENGINE_B = ("e2e/scenarios/test_component_package.py", "e2e/scenarios/test_day2.py", "e2e/scenarios/test_backup.py")


def _ignore(paths: tuple[str, ...]) -> list[str]:
    return [f"--ignore={p}" for p in paths]


# name, pytest arguments before the caller's
# The unit tier on two workers (pytest-xdist), one per core: 334 s on one process, 193 s on two (docs/e2e.md#time).
UNIT_WORKERS = 2
TIERS = {
    "unit": ["-m", "not live and not cluster", "-n", str(UNIT_WORKERS)],
    "live": ["-m", "live", "--ignore=tests/client", *_ignore(LIVE_B)],
    "live-b": ["-m", "live", *LIVE_B],
    "clients": ["-m", "live", "tests/client"],
    "cluster": ["-m", "cluster and not node"],
    "engine": ["e2e/scenarios", *_ignore(ENGINE_B)],
    "engine-b": list(ENGINE_B),
    "node": ["-m", "node"],
}
# Stages run one after another; the lines of a stage run side by side, the tiers of a line in order.
# Balanced on the tiers' times in the warm CI run of 2026-12-08 04:22 on 2 cores (docs/e2e.md#time):
# engine 937 s, clients 336 + engine-b 509, node 626 + live-b 176, live 815, cluster 176. The stage
# keeps both cores busy throughout, so a line that ends early only moves work to the tail.
STAGES = ((("unit",),), (("engine",), ("clients", "engine-b"), ("node", "live-b", "cluster"), ("live",)))
# A tier that starts a control plane of its own beside another's: its ports this far after the base.
PORT_OFFSET = {"engine": 10, "engine-b": 20}
# Each tier's log ends with its slowest tests: where CI's minutes go, in every run's output.
DURATIONS = ("--durations=10", "--durations-min=5")
NO_TESTS = 5   # pytest's exit code when it collected nothing
RESULTS_ENV = "CACHE_PATTERNS_TEST_RESULTS"   # a folder: each tier writes <tier>.json there (tools/outcomes.py)

_print = threading.Lock()


@dataclass
class Outcome:
    """One tier's result: `status` is ok, skipped or FAILED."""

    name: str
    status: str
    seconds: float = 0.0
    tests: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)   # skip reasons, most frequent first
    detail: str = ""                                    # why it failed, when not its tests

    @property
    def reason(self) -> str:
        if self.detail:
            return self.detail
        if not self.reasons:
            return ""
        more = len(self.reasons) - 1
        return self.reasons[0] + (f" (and {more} other reason{'s' if more > 1 else ''})" if more else "")


def read_junit(path: Path) -> tuple[int, int, int, list[str]]:
    """(tests, skipped, failed or errored, skip reasons by frequency) from pytest's junit XML."""
    root = ET.parse(path).getroot()
    tests = skipped = failed = 0
    reasons: collections.Counter[str] = collections.Counter()
    for case in root.iter("testcase"):
        tests += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        skip = case.find("skipped")
        if skip is not None:
            skipped += 1
            reasons[(skip.get("message") or "").removeprefix("Skipped: ").strip() or "no reason given"] += 1
    return tests, skipped, failed, [r for r, _ in reasons.most_common()]


def classify(name: str, code: int, junit: Path, seconds: float) -> Outcome:
    """What a tier's pytest run amounts to."""
    if not junit.exists():
        return Outcome(name, "FAILED", seconds, detail=f"pytest exit {code}, no report written")
    tests, skipped, failed, reasons = read_junit(junit)
    out = Outcome(name, "ok", seconds, tests, skipped, reasons)
    if code == NO_TESTS or tests == 0:
        out.status, out.detail = "FAILED", "no tests collected"
    elif code != 0:
        out.status, out.detail = "FAILED", f"pytest exit {code}, {failed} failed"
    elif skipped == tests:
        out.status = "skipped"
    return out


def tier_env(name: str) -> dict[str, str]:
    """The tier's environment: a tier in PORT_OFFSET gets a control plane of its own."""
    env = dict(os.environ)
    if name in PORT_OFFSET:
        from e2e.cluster import base_port
        env["CACHE_PATTERNS_CLUSTER_PORT"] = str(base_port() + PORT_OFFSET[name])
    return env


def outcomes_args(name: str) -> list[str]:
    """With CACHE_PATTERNS_TEST_RESULTS set, the tier writes each test's outcome there (tools/outcomes.py):
    the mutation check's baseline in CI (.ci/run)."""
    folder = os.environ.get(RESULTS_ENV)
    return ["-p", "tools.outcomes", f"--outcomes-json={Path(folder).resolve() / f'{name}.json'}"] if folder else []


def run_tier(name: str, argv: list[str], logs: Path) -> Outcome:
    args = TIERS[name] + argv
    log, junit = logs / f"{name}.log", logs / f"{name}.xml"
    start = time.monotonic()
    with log.open("w") as out:
        code = subprocess.call([sys.executable, "-m", "pytest", *args, *outcomes_args(name), *DURATIONS,
                                f"--junit-xml={junit}"],
                               stdout=out, stderr=subprocess.STDOUT, env=tier_env(name))
    outcome = classify(name, code, junit, time.monotonic() - start)
    with _print:
        print(f"\n=== tier {name}: pytest {' '.join(args)}".rstrip(), flush=True)
        sys.stdout.write(log.read_text())
        note = outcome.reason if outcome.status != "ok" else (f"{outcome.skipped} skipped" if outcome.skipped else "")
        print(f"=== tier {name}: {outcome.status}{f' ({note})' if note else ''} in {outcome.seconds:.0f} s", flush=True)
    return outcome


def run_line(line: tuple[str, ...], argv: list[str], logs: Path, results: list[Outcome]) -> None:
    for name in line:
        try:
            results.append(run_tier(name, argv, logs))
        except Exception as exc:   # noqa: BLE001 -- reported as the tier's failure, never dropped
            with _print:
                traceback.print_exc()
            results.append(Outcome(name, "FAILED", detail=f"the tier's runner raised {type(exc).__name__}: {exc}"))


def summary(results: list[Outcome], expected: list[str], seconds: float, serial: bool) -> tuple[list[str], int]:
    """The table and the last line; the exit code (1 when a tier failed or did not report)."""
    by_name = {r.name: r for r in results}
    for name in expected:
        if name not in by_name:
            by_name[name] = Outcome(name, "FAILED", detail="did not report (its run ended without a result)")
    rows = [by_name[n] for n in expected]
    lines = ["", f"{'tier':9} {'result':8} {'tests':>6} {'skipped':>8} {'seconds':>8}"]
    for r in rows:
        lines.append(f"{r.name:9} {r.status:8} {r.tests:6} {r.skipped:8} {r.seconds:8.0f}"
                     + (f"  {r.reason}" if r.status != "ok" else ""))
    count = collections.Counter(r.status for r in rows)
    skipped = "; ".join(f"{r.name}: {r.reason}" for r in rows if r.status == "skipped")
    failed = ", ".join(r.name for r in rows if r.status == "FAILED")
    lines.append(f"tiers: {count['ok']} passed, {count['skipped']} skipped{f' ({skipped})' if skipped else ''}, "
                 f"{count['FAILED']} failed{f' ({failed})' if failed else ''}, in {seconds:.0f} s"
                 f"{' (serial)' if serial else ' (side by side: ' + ' | '.join(' -> '.join(line) for line in STAGES[-1]) + ')'}")
    return lines, 1 if count["FAILED"] else 0


def main(argv: list[str]) -> int:
    serial = "--serial" in argv
    argv = [a for a in argv if a != "--serial"]
    stages = tuple((tuple(n for line in stage for n in line),) for stage in STAGES) if serial else STAGES
    expected = [n for stage in stages for line in stage for n in line]
    results: list[Outcome] = []
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
    lines, code = summary(results, expected, time.monotonic() - started, serial)
    print("\n".join(lines), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
