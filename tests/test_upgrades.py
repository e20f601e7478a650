"""The engine upgrade paths (core/upgrades.py): each fact against upstream's rdb.h, each verdict."""
from __future__ import annotations

import pytest

from cache_patterns.core import upgrades

# RDB_VERSION in each line's src/rdb.h, as read (docs/upgrades.md names the tags and tarballs).
RDB = {("redis", "7.0"): 10, ("redis", "7.2"): 11, ("redis", "7.4"): 12, ("redis", "8.0"): 12,
       ("valkey", "7.2"): 11, ("valkey", "8.0"): 11, ("valkey", "8.1"): 11, ("valkey", "9.0"): 80,
       ("valkey", "9.1"): 80}


def test_every_line_writes_the_rdb_version_its_source_says():
    assert {line.key: line.rdb for line in upgrades.LINES} == RDB


@pytest.mark.parametrize("old,new", [
    ("redis 7.0", "valkey 8.1"), ("redis 7.2", "valkey 8.1"), ("valkey 8.1", "valkey 9.1"),
    ("valkey 8.1", "valkey 9.0"), ("valkey 9.0", "valkey 9.1"), ("redis 7.0", "redis 7.2"),
    ("valkey 7.2", "valkey 8.1"), ("redis 7.0", "valkey 8.1.1"), ("valkey 8.1", "valkey 8.1"),
])
def test_safe_steps(old, new):
    assert upgrades.check(*old.split(), *new.split()) is None


@pytest.mark.parametrize("old,new,says", [
    ("valkey 9.1", "valkey 8.1", "downgrade"),
    ("valkey 8.1", "valkey 8.0", "downgrade"),
    ("redis 7.4", "valkey 8.1", "RDB 12"),
    ("redis 8.0", "valkey 9.1", "no in-place path"),
    ("valkey 8.1", "redis 7.2", "Valkey to Redis"),
    ("redis 7.2", "valkey 9.0", "skips valkey 8.1"),
    ("valkey 8.0", "valkey 9.1", "skips valkey 8.1"),
    ("valkey 8.1", "valkey 10.0", "no replication/RDB facts"),
])
def test_unsafe_steps_are_refused_with_the_reason(old, new, says):
    problem = upgrades.check(*old.split(), *new.split())
    assert problem is not None and says in problem, problem


def test_a_refused_jump_names_the_path_that_works():
    problem = upgrades.check("redis", "7.0", "valkey", "9.1")
    assert problem is not None
    assert "the path that works: redis 7.0 -> valkey 8.1 -> valkey 9.1" in problem


def test_a_path_exists_exactly_where_every_step_loads_the_previous_format():
    for old in upgrades.LINES:
        for new in upgrades.LINES:
            chain = upgrades.path(old, new)
            if chain is None:
                continue
            for a, b in zip(chain, chain[1:]):
                assert b.loads(a) and upgrades.step_problem(a, b) is None
    assert upgrades.path(upgrades.BY_KEY["redis", "7.4"], upgrades.BY_KEY["valkey", "8.1"]) is None


def test_valkey_refuses_the_redis_only_formats_whatever_the_version():
    v91 = upgrades.BY_KEY["valkey", "9.1"]
    assert not v91.loads(upgrades.BY_KEY["redis", "7.4"])
    assert v91.loads(upgrades.BY_KEY["redis", "7.2"]) and v91.loads(upgrades.BY_KEY["redis", "7.0"])
    assert not upgrades.BY_KEY["valkey", "8.1"].loads(v91)
