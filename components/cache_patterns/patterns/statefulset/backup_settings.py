"""Settings of the StatefulSet pattern's backups and restores (`backup:` and `restore:` on a cache):
where the backups go, with which credentials and key, how often and for how long."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, model_validator

from cache_patterns.config.base import Shape, StrictModel, fail
from cache_patterns.config.common import doc
from cache_patterns.config.types import Bool, Duration, Int, Quantity, Str
from cache_patterns.core import naming, sizing
from cache_patterns.patterns.statefulset import cron

SECRET_NAME = Str(pattern=naming.DNS_LABEL, pattern_doc="a Secret name")
SECRET_KEY = Str(pattern=r"[-._a-zA-Z0-9]{1,253}", pattern_doc="a Secret key (letters, digits, '-', '_', '.')")
# An http(s) URL of an S3 endpoint: scheme, host (name, IPv4 or [IPv6]) and an optional port, no path.
ENDPOINT = Str(pattern=r"https?://([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*"
                       r"|\[[0-9a-fA-F:.]+\])(:\d{1,5})?/?",
               pattern_doc="an http(s) URL of an S3 endpoint without a path, such as https://s3.eu-west-1.amazonaws.com")
# S3 bucket naming rules (AWS "Bucket naming rules"): 3-63 characters, lower case, digits, '.', '-'.
BUCKET = Str(pattern=r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", pattern_doc="an S3 bucket name (3-63 lower-case letters, "
                                                                       "digits, '.', '-')")
PREFIX = Str(pattern=r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*", max_len=512,
             pattern_doc="an object key prefix without leading or trailing '/' (such as caches/prod)")
CIDR = Str(pattern=r"(\d{1,3}\.){3}\d{1,3}/\d{1,2}|[0-9a-fA-F:]+/\d{1,3}", pattern_doc="an IPv4 or IPv6 CIDR")
ROLE_ARN = Str(pattern=r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}", pattern_doc="an IAM role ARN")
# A restic snapshot id: 8 to 64 hex digits (the short id is 8).
SNAPSHOT = Str(pattern=r"latest|[0-9a-f]{8,64}", pattern_doc="latest, or a backup id (8 to 64 hex digits, "
                                                              "from `restore.sh list` or the job's log)")


class SecretKeyRef(StrictModel):
    TITLE = "a key of an existing Secret"
    name: Annotated[str, SECRET_NAME] = doc(..., "The Secret, in the cache's namespace (created by you, not by "
                                                  "this program, so it outlives the cache).", reference=True)
    key: Annotated[str, SECRET_KEY] = doc(..., "Its key.")


class S3Credentials(StrictModel):
    """An existing Secret with an access key, or an EKS workload identity (IRSA)."""

    TITLE = "S3 credentials"
    secret: Annotated[str | None, SECRET_NAME] = doc(
        None, "An existing Secret in the cache's namespace with the access key (see the key names below).",
        reference=True)
    access_key_id_key: Annotated[str, SECRET_KEY] = doc("AWS_ACCESS_KEY_ID", "Its key holding the access key id.")
    secret_access_key_key: Annotated[str, SECRET_KEY] = doc("AWS_SECRET_ACCESS_KEY", "Its key holding the secret key.")
    session_token_key: Annotated[str | None, SECRET_KEY] = doc(
        None, "Its key holding a session token (temporary credentials).", "none")
    role_arn: Annotated[str | None, ROLE_ARN] = doc(
        None, "EKS workload identity: the IAM role the backup and restore pods assume (their ServiceAccount gets the "
              "eks.amazonaws.com/role-arn annotation; no Secret).")

    @model_validator(mode="after")
    def _check(self) -> "S3Credentials":
        if (self.secret is None) == (self.role_arn is None):
            fail([("secret", "give one of secret (an access key) or roleArn (EKS workload identity)")])
        return self


class S3Destination(StrictModel):
    TITLE = "an S3-compatible destination"
    endpoint: Annotated[str, ENDPOINT] = doc(..., "The S3 endpoint URL (AWS, or any S3-compatible server).")
    bucket: Annotated[str, BUCKET] = doc(..., "An existing bucket (the backup never creates one).")
    prefix: Annotated[str, PREFIX] = doc("cache-patterns", "Key prefix; each cache has its repository under "
                                                           "<prefix>/<stack>-<cache>.")
    region: Annotated[str | None, Str(pattern=r"[a-z]{2}(-[a-z]+)+-\d|[a-z0-9-]{1,32}", pattern_doc="a region name")] \
        = doc(None, "The bucket's region.", "asked from the endpoint")
    path_style: Annotated[bool, Bool()] = doc(False, "Path-style requests (endpoint/bucket/key), as most "
                                                     "S3-compatible servers need; false: virtual-host style.")
    ca_secret: SecretKeyRef | None = doc(None, "A CA certificate (PEM) for an endpoint with a private CA.", "the "
                                                                                                           "system's CAs")
    egress: Annotated[tuple[Annotated[str, CIDR], ...], Shape("list", "a CIDR", max_items=32)] = doc(
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
    keep: Annotated[int, Int(1, 1000)] = doc(7, "Keep at most this many backups (the newest).")
    max_age: Annotated[int | None, Duration(min_ms=3_600_000, max_ms=10 * 365 * 86_400_000)] = doc(
        None, "Delete backups older than this (whole hours, such as 168h); the newest backup is kept whatever its "
              "age.", "no age limit")


class BackupSettings(StrictModel):
    """Scheduled backups of a StatefulSet cache to S3-compatible storage, with restic."""

    TITLE = "backups"
    schedule: Annotated[str, Str(pattern=r"@\w+|\S+( \S+){4}", max_len=128,
                                 pattern_doc="a cron schedule such as '0 3 * * *' (UTC) or @daily")] = doc(
        "0 3 * * *", "When to take a backup (cron, in timeZone).")
    time_zone: Annotated[str, Str(pattern=r"[A-Za-z_]+(/[A-Za-z0-9_+-]+){0,2}", pattern_doc="an IANA time zone")] = \
        doc("Etc/UTC", "The schedule's time zone.")
    destination: S3Destination = doc(..., "Where the backups go.")
    credentials: S3Credentials = doc(..., "How the pods authenticate to it.")
    encryption_key: SecretKeyRef = doc(..., "The key every backup is encrypted with (client-side, restic: "
                                            "AES-256 and Poly1305): an existing Secret; without it no backup can be "
                                            "read, so keep it beyond the cache.")
    retention: Retention = doc(Retention(), "How many backups to keep, and for how long.", "7, no age limit")
    allow_primary: Annotated[bool, Bool()] = doc(
        False, "With replicas but none healthy, take the snapshot from the primary (a fork on the primary) instead "
               "of failing.")
    timeout: Annotated[int, Duration(min_ms=60_000, max_ms=24 * 3_600_000, whole_seconds=True)] = doc(
        3_600_000, "Longest time one backup may take.", "1h")
    memory: Annotated[int, Quantity("bytes", min=128 * sizing.MI)] = doc(
        512 * sizing.MI, "Memory of the backup pod (restic's buffers).", "512Mi")
    pushgateway: Annotated[str | None, Str(pattern=r"https?://[^\s/]+(/[^\s]*)?",
                                           pattern_doc="an http(s) URL of a Prometheus Pushgateway")] = doc(
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
    from_: Annotated[str, SNAPSHOT, Field(alias="from")] = doc(
        "latest", "Which backup of the cache's `backup.destination` to restore.")
