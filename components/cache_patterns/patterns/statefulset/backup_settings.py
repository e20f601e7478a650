"""Settings of the StatefulSet pattern's backups and restores (`backup:` and `restore:` on a cache):
where the backups go, with which credentials and key, how often and for how long."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, model_validator

from cache_patterns.config.base import StrictModel, fail
from cache_patterns.config.common import doc
from cache_patterns.config.types import Duration, Flag, Quantity, Text
from cache_patterns.core import naming, sizing
from cache_patterns.patterns.statefulset import cron

# The ACL user the backup job connects as (patterns/statefulset/backup.py gives its rules).
BACKUP_USER = "backup"
SECRET_NAME = Annotated[str, Text(naming.DNS_LABEL, "a Secret name")]
SECRET_KEY = Annotated[str, Text(r"[-._a-zA-Z0-9]{1,253}", "a Secret key (letters, digits, '-', '_', '.')")]
# An http(s) URL of an S3 endpoint: scheme, host (name, IPv4 or [IPv6]) and an optional port, no path.
ENDPOINT = Annotated[str, Text(r"https?://([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*"
                       r"|\[[0-9a-fA-F:.]+\])(:\d{1,5})?/?",
               "an http(s) URL of an S3 endpoint without a path, such as https://s3.eu-west-1.amazonaws.com")]
# S3 bucket naming rules (AWS "Bucket naming rules"): 3-63 characters, lower case, digits, '.', '-'.
BUCKET = Annotated[str, Text(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name (3-63 lower-case letters, "
                                                                   "digits, '.', '-')")]
PREFIX = Annotated[str, Text(r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*",
                             "an object key prefix without leading or trailing '/' (such as caches/prod)", max_len=512)]
CIDR = Annotated[str, Text(r"(\d{1,3}\.){3}\d{1,3}/\d{1,2}|[0-9a-fA-F:]+/\d{1,3}", "an IPv4 or IPv6 CIDR")]
ROLE_ARN = Annotated[str, Text(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}", "an IAM role ARN")]
# A restic snapshot id: 8 to 64 hex digits (the short id is 8).
SNAPSHOT = Annotated[str, Text(r"latest|[0-9a-f]{8,64}", "latest, or a backup id (8 to 64 hex digits, from "
                                                           "`restore.sh list` or the job's log)")]


class SecretKeyRef(StrictModel):
    TITLE = "a key of an existing Secret"
    name: SECRET_NAME = doc(..., "The Secret, in the cache's namespace (created by you, not by "
                                                  "this program, so it outlives the cache).", reference=True)
    key: SECRET_KEY = doc(..., "Its key.")


class S3Credentials(StrictModel):
    """An existing Secret with an access key, or an EKS workload identity (IRSA)."""

    TITLE = "S3 credentials"
    secret: SECRET_NAME | None = doc(
        None, "An existing Secret in the cache's namespace with the access key (see the key names below).",
        reference=True)
    access_key_id_key: SECRET_KEY = doc("AWS_ACCESS_KEY_ID", "Its key holding the access key id.")
    secret_access_key_key: SECRET_KEY = doc("AWS_SECRET_ACCESS_KEY", "Its key holding the secret key.")
    session_token_key: SECRET_KEY | None = doc(
        None, "Its key holding a session token (temporary credentials).", "none")
    role_arn: ROLE_ARN | None = doc(
        None, "EKS workload identity: the IAM role the backup and restore pods assume (their ServiceAccount gets the "
              "eks.amazonaws.com/role-arn annotation; no Secret).")

    @model_validator(mode="after")
    def _check(self) -> "S3Credentials":
        if (self.secret is None) == (self.role_arn is None):
            fail([("secret", "give one of secret (an access key) or roleArn (EKS workload identity)")])
        return self


class S3Destination(StrictModel):
    TITLE = "an S3-compatible destination"
    endpoint: ENDPOINT = doc(..., "The S3 endpoint URL (AWS, or any S3-compatible server).")
    bucket: BUCKET = doc(..., "An existing bucket (the backup never creates one).")
    prefix: PREFIX = doc("cache-patterns", "Key prefix; each cache has its repository under "
                                                           "<prefix>/<stack>-<cache>.")
    region: Annotated[str, Text(r"[a-z]{2}(-[a-z]+)+-\d|[a-z0-9-]{1,32}", "a region name")] | None = doc(None, "The bucket's region.", "asked from the endpoint")
    path_style: Flag = doc(False, "Path-style requests (endpoint/bucket/key), as most "
                                                     "S3-compatible servers need; false: virtual-host style.")
    ca_secret: SecretKeyRef | None = doc(None, "A CA certificate (PEM) for an endpoint with a private CA.", "the "
                                                                                                           "system's CAs")
    egress: Annotated[tuple[CIDR, ...], Field(max_length=32)] = doc(
        (), "Where the endpoint is (CIDRs), for the backup pods' NetworkPolicy; empty: any address on the endpoint's "
            "port.", "any address")

    @property
    def port(self) -> int:
        m = re.match(r"(https?)://(\[[^]]+\]|[^:/]+)(?::(\d+))?", self.endpoint)
        assert m is not None
        return int(m.group(3)) if m.group(3) else (443 if m.group(1) == "https" else 80)

    def repository(self, statefulset: str) -> str:
        return f"s3:{self.endpoint.rstrip('/')}/{self.bucket}/{self.prefix}/{statefulset}"


class Retention(StrictModel):
    TITLE = "retention"
    keep: Annotated[int, Field(strict=True, ge=1, le=1000)] = doc(7, "Keep at most this many backups (the newest).")
    max_age: Annotated[int, Duration(min_ms=3_600_000, max_ms=10 * 365 * 86_400_000)] | None = doc(
        None, "Delete backups older than this (whole hours, such as 168h); the newest backup is kept whatever its "
              "age.", "no age limit")


class BackupSettings(StrictModel):
    """Scheduled backups of a StatefulSet cache to S3-compatible storage, with restic."""

    TITLE = "backups"
    schedule: Annotated[str, Text(r"@\w+|\S+( \S+){4}", "a cron schedule such as '0 3 * * *' (UTC) or @daily",
                                  max_len=128)] = doc(
        "0 3 * * *", "When to take a backup (cron, in timeZone).")
    time_zone: Annotated[str, Text(r"[A-Za-z_]+(/[A-Za-z0-9_+-]+){0,2}", "an IANA time zone")] = doc("Etc/UTC", "The schedule's time zone.")
    destination: S3Destination = doc(..., "Where the backups go.")
    credentials: S3Credentials = doc(..., "How the pods authenticate to it.")
    encryption_key: SecretKeyRef = doc(..., "The key every backup is encrypted with (client-side, restic: "
                                            "AES-256 and Poly1305): an existing Secret; without it no backup can be "
                                            "read, so keep it beyond the cache.")
    retention: Retention = doc(Retention(), "How many backups to keep, and for how long.", "7, no age limit")
    allow_primary: Flag = doc(
        False, "With replicas but none healthy, take the snapshot from the primary (a fork on the primary) instead "
               "of failing.")
    timeout: Annotated[int, Duration(min_ms=60_000, max_ms=24 * 3_600_000, whole_seconds=True)] = doc(
        3_600_000, "Longest time one backup may take.", "1h")
    memory: Annotated[int, Quantity("bytes", min=128 * sizing.MI)] = doc(
        512 * sizing.MI, "Memory of the backup pod (restic's buffers).", "512Mi")
    pushgateway: Annotated[str, Text(r"https?://[^\s/]+(/[^\s]*)?", "an http(s) URL of a Prometheus Pushgateway")] \
        | None = doc(
        None, "Push each backup's result (last success time, duration, size) there for the alert and dashboard.",
        "not pushed")

    @model_validator(mode="after")
    def _check(self) -> "BackupSettings":
        out = []
        try:
            gap = cron.longest_gap_s(self.schedule)
        except cron.CronError as e:
            out.append(("schedule", str(e)))
        else:
            if gap < 3600:
                out.append(("schedule", f"runs every {gap // 60} minutes at times; backups at most hourly "
                                        f"(a snapshot forks a replica and reads the whole data set)"))
        if self.retention.max_age is not None and self.retention.max_age % 3_600_000:
            out.append(("retention.maxAge", f"whole hours (restic counts age in hours), got "
                                            f"{Duration.fmt(self.retention.max_age)}"))
        fail(out)
        return self

    @property
    def interval_s(self) -> int:
        """The longest time between two scheduled backups."""
        return cron.longest_gap_s(self.schedule)

    @property
    def keep_within(self) -> str:
        """restic's --keep-within ("" for none)."""
        return f"{self.retention.max_age // 3_600_000}h" if self.retention.max_age else ""


class RestoreSettings(StrictModel):
    """Create the cache from a backup: ordinal 0 restores it before anything starts, then becomes the
    primary; the replicas start empty and sync from it; the Sentinels are created after."""

    TITLE = "restore"
    from_: Annotated[SNAPSHOT, Field(alias="from")] = doc(
        "latest", "Which backup of the cache's `backup.destination` to restore.")
