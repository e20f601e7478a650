"""A pytest plugin that writes each test's outcome to a JSON file: {node id: passed | skipped | failed}.

`./run test` loads it into every tier when `CACHE_PATTERNS_TEST_RESULTS` names a folder (tools/tiers.py):
each tier writes `<folder>/<tier>.json`. The mutation check then takes the tests that passed there as its
baseline instead of running them again on the unmutated tree (`./run mutate --baseline-from <folder>`,
tools/mutate.py): .ci/run runs the tiers first, then the mutants.

A test counts as passed only when its setup, call and teardown all passed; any failure or error in one
of them makes it failed; skipped when it was skipped and nothing failed.

    pytest -p tools.outcomes --outcomes-json=PATH ...
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

RANK = {"passed": 0, "skipped": 1, "failed": 2}


def worse(a: str, b: str) -> str:
    """Of two outcomes of one test (its phases, or two tiers' runs), the one that counts."""
    return max(a, b, key=RANK.__getitem__)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--outcomes-json", default=None, help="write {node id: passed|skipped|failed} here")


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = "failed" if report.failed else "skipped" if report.skipped else "passed"
        self.seen[report.nodeid] = worse(self.seen.get(report.nodeid, "passed"), outcome)

    def pytest_sessionfinish(self) -> None:
        # Whole or not at all: .ci/run starts the offline mutants as soon as the unit tier's file exists.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        part = self.path.with_name(self.path.name + ".part")
        part.write_text(json.dumps(self.seen, indent=0, sort_keys=True))
        part.replace(self.path)


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--outcomes-json")
    # Under pytest-xdist the controller gets every worker's reports and writes the file once; a worker
    # writing its share to the same path would race it.
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(Recorder(Path(path)), "cache-patterns-outcomes")


def load(folder: Path) -> dict[str, str]:
    """Every outcome the tiers wrote into `folder`; a test run by two tiers keeps its worse outcome."""
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        for node, outcome in json.loads(path.read_text()).items():
            seen[node] = worse(seen.get(node, "passed"), outcome)
    return seen


def selected(selection: str, seen: dict[str, str]) -> dict[str, str]:
    """The outcomes of the tests a pytest selection (a file, a test, a parametrised test or one case) names."""
    return {n: o for n, o in seen.items() if n == selection or n.startswith((selection + "::", selection + "["))}


def passed_selection(selection: str, seen: dict[str, str]) -> bool:
    """True when the tiers ran what `selection` names, none of it failed and at least one test passed."""
    mine = selected(selection, seen)
    return bool(mine) and "failed" not in mine.values() and "passed" in mine.values()
