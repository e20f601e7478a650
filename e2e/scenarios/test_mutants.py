"""The engine tier catches the faults it found: each engine-tier mutant of tools/mutants.py (the
stack-owner label, the URN aliases of objects that move between pattern components, the claim
patches' retainOnDelete, the password keepers) is planted in a copy of the tree, and its scenario,
run from that copy on this session's cluster, must fail. The baseline is this session: the same
scenario passed unmutated earlier in it (these tests run last); one that did not run here runs
unmutated in the copy first. Namespaces a mutated run leaves behind are deleted after it."""
from __future__ import annotations

import json

import pytest

from e2e.scenarios.conftest import OUTCOMES
from tools import mutate

ENGINE_MUTANTS = [m for m in mutate.MUTANTS if mutate.run_by_engine_tier(m)]


def namespaces(cluster) -> set[str]:
    items = json.loads(cluster.kubectl("get", "namespaces", "-o", "json").stdout)["items"]
    return {i["metadata"]["name"] for i in items}


@pytest.mark.parametrize("mutant", ENGINE_MUTANTS, ids=[m.name for m in ENGINE_MUTANTS])
def test_the_engine_tier_catches(mutant, empty_cluster, tmp_path):
    cluster = empty_cluster
    assert mutate.check_anchor(mutant, mutate.ROOT) is None
    copy = tmp_path / "tree"
    mutate.copy_tree(mutate.ROOT, copy)
    unproven = tuple(t for t in mutant.tests if OUTCOMES.get(t) != "passed")
    if unproven:
        baseline = mutate.pytest(copy, unproven, stop_first=False)
        assert baseline.returncode == 0, f"the unmutated scenarios fail, so the mutant proves nothing:\n" \
                                         f"{mutate.tail(baseline.stdout + baseline.stderr, 30)}"
    before = namespaces(cluster)
    try:
        outcome, seconds, detail = mutate.run_mutant(mutant, copy)
    finally:
        for ns in sorted(namespaces(cluster) - before):
            cluster.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=120s", check=False)
    assert outcome == "caught", f"{mutant.name} ({mutant.fault}) {outcome} in the engine tier:\n{detail}"
