"""The `./run` entry point as a new user meets it (issue 18.12): `--help` exits 0 with every command
(without setting anything up), an unknown command says so and exits 2, `./run bench` lists the
benchmarks (not their helper modules), and the first run says what it does during the installs."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tools import bench, harness

ROOT = harness.ROOT


def run(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(cwd / "run"), *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=env or os.environ.copy())


def test_help_exits_zero_with_every_command_and_an_unknown_command_exits_two():
    for flag in ("--help", "-h", "help"):
        r = run(flag)
        assert r.returncode == 0 and "./run render-diff" in r.stdout and "./run bench" in r.stdout, flag
    r = run("nope")
    assert r.returncode == 2 and "unknown command 'nope'" in r.stderr and "./run test" in r.stderr


def test_bench_lists_the_benchmarks_and_not_their_helpers():
    names = set(bench.benchmarks())
    # Every script of benchmarks/ but the two helpers (an option module, the proxy two_tier.py starts).
    assert names == {p.stem for p in bench.BENCHMARKS.glob("*.py")} - {"rows", "two_tier_proxy"}
    assert {"failover", "two_tier"} <= names
    r = run("bench")
    assert r.returncode == 0 and all(f"  {n} " in r.stdout for n in names)
    assert "  rows " not in r.stdout and "two_tier_proxy" not in r.stdout
    r = run("bench", "rows")
    assert r.returncode == 2 and "'rows' is not a benchmark" in r.stderr and "  failover " in r.stderr


def test_the_first_run_says_what_it_is_doing_during_the_installs(tmp_path):
    """`./run setup` in a copy of the entry point, with a python3 that records instead of installing."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("run", "requirements.txt", "constraints.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tree / name)
    (tree / "clients" / "python").mkdir(parents=True)
    (tree / "clients" / "python" / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    # `python3 -m venv .venv` makes a .venv/bin/python that accepts anything.
    fake.write_text('#!/bin/sh\nmkdir -p "$3/bin"\nprintf \'#!/bin/sh\\nexit 0\\n\' > "$3/bin/python"\n'
                    'chmod +x "$3/bin/python"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    first = run("setup", cwd=tree, env=env)
    assert first.returncode == 0, first.stderr
    assert "first run: creating .venv" in first.stderr and "about a minute" in first.stderr
    assert "installing the pinned packages" in first.stderr and "installing the two-tier cache client" in first.stderr
    assert ".venv ready in" in first.stderr
    again = run("setup", cwd=tree, env=env)
    assert again.returncode == 0 and again.stderr == ""
