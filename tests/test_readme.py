"""The README stays true: generated sections match the code, the quick start is two commands that
exist, and every stack and pattern is documented."""
from __future__ import annotations

import re
from pathlib import Path

from tools import docs, harness

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_generated_sections_match_the_code():
    assert docs.apply(README) == README, "README.md is out of date: run `.venv/bin/python -m tools.docs --write`"


def test_quick_start_is_exactly_two_commands_and_both_exist():
    block = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["./run", "./run test"]
    run = (ROOT / "run").read_text()
    assert 'cmd="${1:-render}"' in run and "test)" in run
    assert (ROOT / "run").stat().st_mode & 0o111


def test_ci_runs_the_readme_test_command():
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("./run test")


def test_every_env_var_name_in_the_readme_is_in_the_contract():
    from tests.test_contract import documented
    mentioned = set(re.findall(r"`(CACHE_[A-Z0-9_]+)`", README)) - {"CACHE_L1", "CACHE_L2"}
    assert mentioned - documented() <= set(), mentioned - documented()


def test_every_stack_is_in_the_readme():
    for stack in harness.list_stacks():
        assert f"`{stack}`" in README, f"stack {stack} is not described in the README"
