"""ElastiCache snapshots beyond the daily ones: a final snapshot when the cache is deleted, and creating
a cache from a snapshot or from RDB files in S3 (docs/backup.md, "ElastiCache").

Both restore sources are creation-time fields of the replication group (the provider's ForceNew):
adding, changing or removing `restore` replaces the cache. tools/snapshot.py lists them among the
replacing fields, so the upgrade-safety snapshots show such a change before it reaches a live stack."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.common import doc
from cache_patterns.config.types import Text

SNAPSHOT_NAME = Annotated[str, Text(r"[A-Za-z][A-Za-z0-9-]{0,254}", "an ElastiCache snapshot name")]
RDB_ARN = Annotated[str, Text(r"arn:aws[a-z-]*:(s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+|elasticache:[a-z0-9-]+:\d{12}"
                              r":serverlesscachesnapshot:\S+)",
                              "an S3 object ARN of an RDB file (arn:aws:s3:::bucket/key.rdb), or a serverless "
                              "snapshot's ARN")]


class ElastiCacheRestore(StrictModel):
    """Create the cache from a snapshot of another cache, or from RDB files in S3."""

    TITLE = "an ElastiCache restore source"
    snapshot_name: SNAPSHOT_NAME | None = doc(None, "kind: elasticache: an existing snapshot (automatic, manual or "
                                                    "final) to create the replication group from.")
    rdb_arns: Annotated[tuple[RDB_ARN, ...], Field(max_length=500)] = doc(
        (), "RDB files in S3 (one per shard; the bucket must let ElastiCache read them), or for "
            "kind: elasticache-serverless its snapshots' ARNs.", "none")

    @model_validator(mode="after")
    def _check(self) -> "ElastiCacheRestore":
        if (self.snapshot_name is None) == (not self.rdb_arns):
            fail([("snapshotName", "give one of snapshotName or rdbArns")])
        return self


def final_snapshot_id(replication_group_id: str) -> str:
    return f"{replication_group_id}-final"


def replication_group_args(s: Any, replication_group_id: str) -> dict[str, Any]:
    """The snapshot arguments of a replication group: the final snapshot (a delete-time field, no
    change to a live group) and the restore source (creation-time: a change replaces the group)."""
    out: dict[str, Any] = {}
    if s.final_snapshot:
        out["final_snapshot_identifier"] = final_snapshot_id(replication_group_id)
    if s.restore is not None and s.restore.snapshot_name is not None:
        out["snapshot_name"] = s.restore.snapshot_name
    elif s.restore is not None:
        out["snapshot_arns"] = list(s.restore.rdb_arns)
    return out


def serverless_args(s: Any) -> dict[str, Any]:
    if s.restore is None:
        return {}
    return {"snapshot_arns_to_restores": list(s.restore.rdb_arns)}


def problems(s: Any) -> list[tuple[str, str]]:
    if s.restore is not None and s.kind == "elasticache-serverless" and s.restore.snapshot_name is not None:
        return [("restore.snapshotName", "a serverless cache restores from snapshot ARNs: use rdbArns")]
    if s.restore is not None and s.kind == "endpoint":
        return [("restore", "only applies to the ElastiCache kinds (an existing endpoint is not created here)")]
    return []
