"""The mutation check (tools/mutate.py, `./run mutate`, run by CI) stays runnable: every planted
fault still fits the code it edits and names tests that exist. Running the mutants themselves takes
minutes, so CI runs `./run mutate`; this keeps a refactoring from breaking it unnoticed."""
from __future__ import annotations

import re

import pytest

from tools import mutate


@pytest.mark.parametrize("mutant", mutate.MUTANTS, ids=[m.name for m in mutate.MUTANTS])
def test_each_mutant_fits_the_code_and_names_existing_tests(mutant):
    assert mutate.check_anchor(mutant, mutate.ROOT) is None
    assert mutant.old != mutant.new and mutant.tests
    for node in mutant.tests:
        path, _, function = node.partition("::")
        source = (mutate.ROOT / path).read_text()
        name = re.sub(r"\[.*\]$", "", function)
        assert re.search(rf"^def {re.escape(name)}\(", source, re.M), f"{node}: no such test"


def test_names_are_unique_and_the_copy_holds_the_project():
    assert len({m.name for m in mutate.MUTANTS}) == len(mutate.MUTANTS)
    files = {p.as_posix() for p in mutate.tree_files(mutate.ROOT)}
    assert {"__main__.py", "tools/mutate.py", "tests/conftest.py", "pyproject.toml"} <= files
    assert not any(f.startswith((".venv/", "rendered/")) for f in files)


def test_the_docs_list_every_mutant_as_the_code_has_it():
    text = mutate.DOCS.read_text()
    assert text == mutate.documented(text), "docs/mutation.md's table is out of date: run `./run mutate --docs`"
    for m in mutate.MUTANTS:
        assert f"| {m.name} | " in text


def test_the_faults_the_engine_found_are_mutants_the_engine_tier_runs():
    engine = {m.name for m in mutate.MUTANTS if mutate.run_by_engine_tier(m)}
    assert {"stack-owner-label-dropped", "urn-alias-removed", "claim-patch-not-retained",
            "rotation-keepers-unchanged"} <= engine
    assert mutate.tier("e2e/scenarios/test_stacks.py::test_stack_lifecycle") == "engine"
    assert mutate.tier("tests/live/test_tls_rotation.py::test_a_renewal_under_the_same_ca_is_served_at_once") == "live"
    assert mutate.tier("tests/test_render.py::test_unknown_stack_exits_non_zero") == "unit"
