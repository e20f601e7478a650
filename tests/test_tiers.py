"""`./run test` tells the truth (tools/tiers.py): a tier whose every test skipped is reported as skipped
with the reason, in the table and the last line; a tier that collected nothing or did not report at
all fails the run. And the skip rule (tests/conftest.py): in CI every skip that is not a declared
not-applicable one fails."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import tiers

ROOT = Path(__file__).resolve().parent.parent

PASSING = "def test_one():\n    assert 1 + 1 == 2\n"
SKIPPING = ("import pytest\n\ndef test_one():\n    pytest.skip('redis-server is not installed')\n\n"
            "def test_two():\n    pytest.skip('redis-server is not installed')\n")


@pytest.fixture
def fake_tiers(tmp_path, monkeypatch):
    """Three tiers over tiny test files: one passes, one skips every test, one collects nothing."""
    for name, text in {"passing": PASSING, "skipping": SKIPPING, "empty": ""}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / f"test_{name}.py").write_text(text)
    common = ["-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-q"]
    monkeypatch.setattr(tiers, "TIERS", {n: common + [str(tmp_path / n)] for n in ("passing", "skipping", "empty")})
    return tmp_path


def test_a_tier_whose_every_test_skipped_is_reported_skipped_with_the_reason(fake_tiers, monkeypatch, capsys):
    monkeypatch.setattr(tiers, "STAGES", ((("passing",), ("skipping",)),))
    assert tiers.main([]) == 0
    out = capsys.readouterr().out
    table = out[out.rindex("\ntier "):].splitlines()
    row = next(line for line in table if line.startswith("skipping "))
    assert row.split()[1:4] == ["skipped", "2", "2"] and "redis-server is not installed" in row
    assert next(line for line in table if line.startswith("passing ")).split()[1] == "ok"
    assert table[-1].startswith("tiers: 1 passed, 1 skipped (skipping: redis-server is not installed), 0 failed")


def test_a_tier_that_collected_nothing_fails_the_run(fake_tiers, monkeypatch, capsys):
    monkeypatch.setattr(tiers, "STAGES", ((("passing", "empty"),),))
    assert tiers.main([]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("tiers: 1 passed, 0 skipped, 1 failed (empty)")


def test_a_tier_whose_runner_raised_is_a_failure_not_a_missing_row(fake_tiers, monkeypatch, capsys):
    monkeypatch.setattr(tiers, "STAGES", ((("passing",), ("skipping",)),))
    real = tiers.run_tier

    def broken(name, argv, logs):
        if name == "skipping":
            raise OSError("no space left on device")
        return real(name, argv, logs)

    monkeypatch.setattr(tiers, "run_tier", broken)
    assert tiers.main([]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("skipping "))
    assert "FAILED" in row and "OSError: no space left on device" in row
    assert out.strip().splitlines()[-1].startswith("tiers: 1 passed, 0 skipped, 1 failed (skipping)")


def test_a_tier_without_a_result_is_reported_as_not_reporting():
    lines, code = tiers.summary([tiers.Outcome("unit", "ok", 1.0, 3)], ["unit", "engine"], 2.0, serial=True)
    assert code == 1
    assert any(line.startswith("engine ") and "did not report" in line for line in lines)


SKIP_RULE = """
import pytest
from tests.conftest import not_applicable, skip_or_fail

def test_bare_skip():
    pytest.skip("no binary")

@pytest.mark.skipif(True, reason="not on this machine")
def test_skipif():
    pass

def test_rule():
    skip_or_fail("toolchain not built")

def test_not_applicable():
    not_applicable("this stack renders no custom resources")
"""


@pytest.mark.parametrize("ci", [False, True])
def test_in_ci_every_skip_fails_except_a_declared_not_applicable_one(tmp_path, ci):
    """Outside tests/, as in e2e/scenarios: the rule comes with the hook its conftest imports."""
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_runtest_makereport  # noqa: F401\n")
    (tmp_path / "test_probe.py").write_text(SKIP_RULE)
    env = {**os.environ, "CACHE_PATTERNS_REQUIRE_LIVE": "1" if ci else "0",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "components")])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", "--rootdir",
                           str(tmp_path), str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True)
    summary = proc.stdout.strip().splitlines()[-1]
    if not ci:
        assert proc.returncode == 0 and summary.startswith("4 skipped"), proc.stdout
    else:
        # The bare skip and skip_or_fail fail, the skipif marker errors at setup; not_applicable skips.
        assert proc.returncode == 1 and summary.startswith("2 failed, 1 skipped, 1 error"), proc.stdout
        assert "SKIPPED [1]" in proc.stdout and "not applicable: this stack renders" in proc.stdout
        assert "ERROR test_probe.py::test_skipif" in proc.stdout


def test_every_tier_that_starts_a_control_plane_beside_another_gets_ports_of_its_own(monkeypatch):
    """The tiers that start a control plane run side by side: on one port they would share (and stop)
    one control plane; the engine tier's two parts and the cluster tier each get other ports, and no
    two of them are on one line only by accident of the offsets."""
    monkeypatch.setenv("CACHE_PATTERNS_CLUSTER_PORT", "19443")
    ports = {name: tiers.tier_env(name)["CACHE_PATTERNS_CLUSTER_PORT"] for name in ("cluster", "engine", "engine-b")}
    assert ports == {"cluster": "19443", "engine": "19453", "engine-b": "19463"}
    # e2e/cluster.py uses the base port and the 5 after it: the offsets keep the ranges apart.
    offsets = sorted([0, *tiers.PORT_OFFSET.values()])
    assert all(b - a >= 6 for a, b in zip(offsets, offsets[1:])), offsets


# One interpreter collects every argument list in turn (pytest.main, in process): the test modules are
# imported once, so the seven collections cost about one (a full collection is ~10 s of a core).
COLLECT = """
import json, sys, pytest
class Rec:
    def __init__(self): self.ids = []
    def pytest_collection_finish(self, session): self.ids = [item.nodeid for item in session.items]
out = {}
for name, args in json.loads(sys.argv[1]).items():
    rec = Rec()
    code = pytest.main(["--collect-only", "-qq", "-p", "no:cacheprovider", *args], plugins=[rec])
    out[name] = rec.ids if code == 0 else None
print("COLLECTED" + json.dumps(out))
"""


def _collect(arg_lists: dict[str, list[str]]) -> dict[str, list[str]]:
    proc = subprocess.run([sys.executable, "-c", COLLECT, json.dumps(arg_lists)], capture_output=True,
                          text=True, cwd=ROOT)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("COLLECTED")), None)
    assert line is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = json.loads(line.removeprefix("COLLECTED"))
    assert None not in got.values(), {name: ids for name, ids in got.items() if ids is None}
    return got


SPLITS = {"live": (["-m", "live"], ("live", "live-b", "clients")),
          "engine": (["e2e/scenarios"], ("engine", "engine-b"))}


def test_every_test_is_in_exactly_one_part_of_a_split_tier():
    """Splitting a tier over the stage's lines must not drop or repeat a test: the parts' tests, together,
    are the whole tier's, and no test is in two parts."""
    lists = {f"whole {split}": whole for split, (whole, _) in SPLITS.items()}
    lists.update({name: tiers.TIERS[name] for _, parts in SPLITS.values() for name in parts})
    got = _collect(lists)
    for split, (_, parts) in SPLITS.items():
        everything = got[f"whole {split}"]
        in_parts = [test for name in parts for test in got[name]]
        assert everything and all(got[name] for name in parts), (split, {n: len(got[n]) for n in parts})
        assert sorted(in_parts) == sorted(everything), (
            split, set(everything) - set(in_parts), [t for t in in_parts if in_parts.count(t) > 1])


def test_every_tier_runs_in_the_side_by_side_stage_or_the_unit_stage_exactly_once():
    placed = [name for stage in tiers.STAGES for line in stage for name in line]
    assert sorted(placed) == sorted(tiers.TIERS)


def test_the_readme_names_the_lines_the_stage_runs():
    """The README's quick start and command table say which tiers run side by side: as tools/tiers.py runs them."""
    lines = " | ".join(" -> ".join(line) for line in tiers.STAGES[-1])
    readme = (ROOT / "README.md").read_text()
    assert readme.count(f"side by side: {lines}") + readme.count(f"side by side: {lines.replace('|', chr(92) + '|')}") == 2, lines
