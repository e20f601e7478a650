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
