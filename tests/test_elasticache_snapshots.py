"""ElastiCache snapshots beyond the daily ones (patterns/external/snapshots.py): a final snapshot on
delete (on by default in production), creating a cache from a snapshot or RDB files in S3 (which
replaces an existing one: the upgrade-safety snapshot shows it), and when changes are applied."""
from __future__ import annotations

from tools import snapshot

from .test_external import RG, RG_CACHE, SERVERLESS, SERVERLESS_CACHE, problems, run, stack

RDB = "arn:aws:s3:::acme-rdb-exports/prod-sessions-0001.rdb"


def test_production_takes_a_final_snapshot_and_development_does_not() -> None:
    prod = run(stack({"sessions": RG_CACHE})).one(RG).inputs
    assert prod["finalSnapshotIdentifier"] == "prod-sessions-final"
    assert prod["applyImmediately"] is True and "snapshotName" not in prod and "snapshotArns" not in prod
    dev = run(stack({"sessions": RG_CACHE}, environment="development"), "dev").one(RG).inputs
    assert "finalSnapshotIdentifier" not in dev
    off = run(stack({"sessions": {**RG_CACHE, "finalSnapshot": False}})).one(RG).inputs
    assert "finalSnapshotIdentifier" not in off


def test_a_restore_source_and_when_changes_apply_reach_the_replication_group() -> None:
    named = run(stack({"sessions": {**RG_CACHE, "restore": {"snapshotName": "prod-sessions-final"},
                                    "applyImmediately": False,
                                    "maintenanceWindow": "sun:03:00-sun:04:00"}})).one(RG).inputs
    assert named["snapshotName"] == "prod-sessions-final" and named["applyImmediately"] is False
    assert named["maintenanceWindow"] == "sun:03:00-sun:04:00"
    arns = run(stack({"sessions": {**RG_CACHE, "restore": {"rdbArns": [RDB]}}})).one(RG).inputs
    assert arns["snapshotArns"] == [RDB]
    serverless = run(stack({"sessions": {**SERVERLESS_CACHE, "restore": {"rdbArns": [RDB]}}})).one(SERVERLESS).inputs
    assert serverless["snapshotArnsToRestores"] == [RDB]


def test_adding_a_restore_source_to_a_live_cache_shows_as_a_replacement() -> None:
    before = snapshot.snapshot(run(stack({"sessions": RG_CACHE})))
    after = snapshot.snapshot(run(stack({"sessions": {**RG_CACHE, "restore": {"snapshotName": "nightly"}}})))
    changes = snapshot.diff(before, after)
    assert any("replicationGroup" in c and "snapshotName" in c for c in changes), changes
    # A final snapshot is a delete-time field: turning it off replaces nothing.
    off = snapshot.snapshot(run(stack({"sessions": {**RG_CACHE, "finalSnapshot": False}})))
    assert snapshot.diff(before, off) == []


def test_restore_mistakes_are_named() -> None:
    got = problems(caches={"sessions": {**RG_CACHE, "restore": {"snapshotName": "a", "rdbArns": [RDB]}}})
    assert any(k.endswith("restore.snapshotName") and "one of snapshotName or rdbArns" in m for k, m in got), got
    got = problems(caches={"sessions": {**SERVERLESS_CACHE, "restore": {"snapshotName": "a"}}})
    assert any("use rdbArns" in m for _, m in got), got
    got = problems(caches={"sessions": {**RG_CACHE, "restore": {"rdbArns": ["s3://bucket/key.rdb"]}}})
    assert any("rdbArns" in k for k, _ in got), got
