"""The tiers' outcomes file (tools/outcomes.py) and the mutation check's baseline taken from it
(tools/mutate.py --baseline-from, run so by .ci/run): a test counts as the baseline only when the tiers
ran it and it passed; anything else runs again unmutated, and a failure there stops the check."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from pathlib import Path

from tools import mutate, outcomes, tiers

SAMPLE = '''
import pytest

def test_ok():
    pass

def test_fails():
    assert False

def test_skipped():
    pytest.skip("not here")

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n == 1

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown")

def test_teardown_error(broken_teardown):
    pass
'''


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_the_plugin_records_every_outcome_and_a_teardown_error_as_failed(tmp_path, workers):
    # With xdist (the unit tier's two workers) the controller writes every worker's outcomes.
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    out = tmp_path / "results" / "unit.json"
    env = {**os.environ, "PYTHONPATH": str(mutate.ROOT)}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tools.outcomes",
                    f"--outcomes-json={out}", *workers, "test_sample.py"], cwd=tmp_path, env=env, capture_output=True)
    assert json.loads(out.read_text()) == {
        "test_sample.py::test_ok": "passed",
        "test_sample.py::test_fails": "failed",
        "test_sample.py::test_skipped": "skipped",
        "test_sample.py::test_param[1]": "passed",
        "test_sample.py::test_param[2]": "failed",
        "test_sample.py::test_teardown_error": "failed",
    }


def test_a_selection_passes_only_when_it_ran_nothing_failed_and_something_passed(tmp_path):
    (tmp_path / "live.json").write_text(json.dumps({"a.py::t[1]": "passed", "a.py::t[2]": "skipped",
                                                    "a.py::tx": "failed", "b.py::u": "skipped"}))
    (tmp_path / "unit.json").write_text(json.dumps({"c.py::v": "passed"}))
    (tmp_path / "clients.json").write_text(json.dumps({"c.py::v": "failed"}))   # worse outcome wins
    seen = outcomes.load(tmp_path)
    assert outcomes.passed_selection("a.py::t", seen)            # its cases: one passed, one skipped
    assert not outcomes.passed_selection("a.py::tx", seen)       # not a case of a.py::t
    assert not outcomes.passed_selection("a.py", seen)           # the file holds a failure
    assert not outcomes.passed_selection("b.py::u", seen)        # only skipped: a mutant would survive it
    assert not outcomes.passed_selection("c.py::v", seen)
    assert not outcomes.passed_selection("d.py::w", seen)        # never ran in the tiers


def test_the_baseline_runs_again_only_what_the_tiers_did_not_pass(tmp_path, monkeypatch, capsys):
    (tmp_path / "live.json").write_text(json.dumps({"a.py::t": "passed", "b.py::u": "failed"}))
    ran = []

    def fake_pytest(copy, tests, stop_first):
        ran.append(tests)
        return subprocess.CompletedProcess([], 0, "1 passed", "")

    monkeypatch.setattr(mutate, "pytest", fake_pytest)
    assert mutate.baseline(tmp_path, ("a.py::t", "b.py::u", "c.py::v"), tmp_path, time.perf_counter())
    assert ran == [("b.py::u", "c.py::v")]
    assert "1 in the tiers' run" in capsys.readouterr().out

    ran.clear()
    assert mutate.baseline(tmp_path, ("a.py::t",), tmp_path, time.perf_counter())
    assert ran == []                                             # all passed in the tiers: nothing again

    ran.clear()
    assert mutate.baseline(tmp_path, ("a.py::t", "b.py::u"), None, time.perf_counter())
    assert ran == [("a.py::t", "b.py::u")]                       # without results: everything, as before


def test_a_failing_rerun_or_an_empty_results_folder_stops_the_check(tmp_path, monkeypatch):
    (tmp_path / "live.json").write_text(json.dumps({"b.py::u": "failed"}))
    monkeypatch.setattr(mutate, "pytest", lambda copy, tests, stop_first: subprocess.CompletedProcess([], 1, "1 failed", ""))
    assert not mutate.baseline(tmp_path, ("b.py::u",), tmp_path, time.perf_counter())
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not mutate.baseline(tmp_path, ("b.py::u",), empty, time.perf_counter())


def test_each_tier_writes_its_outcomes_only_when_asked(monkeypatch, tmp_path):
    monkeypatch.delenv(tiers.RESULTS_ENV, raising=False)
    assert tiers.outcomes_args("live") == []
    monkeypatch.setenv(tiers.RESULTS_ENV, str(tmp_path))
    assert tiers.outcomes_args("live") == ["-p", "tools.outcomes", f"--outcomes-json={tmp_path / 'live.json'}"]


def test_ci_takes_the_baseline_from_the_tiers_it_just_ran():
    ci = (mutate.ROOT / ".ci" / "run").read_text()
    test_at = ci.index(f'{tiers.RESULTS_ENV}="$results" ./run test')
    assert ci.index('./run mutate --baseline-from "$results"') > test_at
    # Both parts of the check run: the offline one once the unit tier's outcomes exist, the rest after the tiers.
    offline = ci.index('./run mutate --baseline-from "$results" --part offline --idle')
    assert test_at < ci.index('"$results/unit.json"') < offline < ci.index('wait "$tests"') \
        < ci.index('./run mutate --baseline-from "$results" --part rest')


def test_the_two_parts_of_the_check_are_every_mutant_once_and_the_offline_one_waits_on_no_clock():
    ran = [m for m in mutate.MUTANTS if not mutate.run_by_engine_tier(m)]
    parts = {name: [m for m in ran if keep(m)] for name, keep in mutate.PARTS.items()}
    assert sorted(m.name for p in parts.values() for m in p) == sorted(m.name for m in ran)
    assert parts["offline"] and parts["rest"]
    for m in parts["offline"]:
        for t in m.tests:
            # No live test, and none of the unit-tier ones that run servers and timers (tests/live, tests/client).
            assert mutate.tier(t) == "unit" and not t.startswith(("tests/live/", "tests/client/")), (m.name, t)
    assert any(t.startswith("tests/live/") and mutate.tier(t) == "unit" for m in parts["rest"] for t in m.tests)
    # The Alertmanager test starts a server and polls it against a deadline: not offline.
    assert any(t.startswith("tests/observability/test_alertmanager.py") for m in parts["rest"] for t in m.tests)


def test_a_mutant_caught_only_by_a_time_limit_at_the_lowest_priority_runs_again(monkeypatch, capsys):
    """At nice 19 a starved test can hit a subprocess timeout: that failure proves nothing, so the mutant
    runs again at normal priority, and only that run counts."""
    calls = []

    def fake_pytest(copy, tests, stop_first):
        calls.append(mutate.IDLE)
        out = "FAILED tests/x.py::t - subprocess.TimeoutExpired: timed out after 120 seconds" if mutate.IDLE else ""
        return subprocess.CompletedProcess([], 1 if mutate.IDLE else 0, out, "")

    m = mutate.MUTANTS[0]
    monkeypatch.setattr(mutate, "pytest", fake_pytest)
    monkeypatch.setattr(mutate, "copy_tree", lambda root, target: target.mkdir(parents=True))
    # The mutant's file is neither read nor written for real: the edit is not what this is about.
    monkeypatch.setattr(mutate, "baseline", lambda *a: True)
    monkeypatch.setattr(mutate.Path, "read_text", lambda self: m.old if self.name == Path(m.path).name else "")
    monkeypatch.setattr(mutate.Path, "write_text", lambda self, text: None)
    code = mutate.main(["--idle", "--workers", "1", m.name])
    out = capsys.readouterr().out
    assert calls == [True, False], calls
    assert "starved" in out and "SURVIVED" in out and code == 1, out


def test_idle_runs_the_tests_at_nice_19_in_an_autogroup_of_their_own():
    probe = [sys.executable, "-c", "import os; print(os.nice(0), os.getsid(0) == os.getpid(), "
             "open('/proc/self/autogroup').read().split()[-1] if os.path.exists('/proc/self/autogroup') else 19)"]
    out = subprocess.run(mutate.LOWEST_PRIORITY + probe, capture_output=True, text=True, start_new_session=True).stdout
    assert out.split() == ["19", "True", "19"], out
