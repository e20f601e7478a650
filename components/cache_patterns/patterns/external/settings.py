"""Settings of pattern 1, external (`pattern: external`): ElastiCache (node-based or serverless) or an
existing endpoint, and the checks AWS would otherwise make at deploy time."""
from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from cache_patterns.config.base import StrictModel, fail
from cache_patterns import planning
from cache_patterns.config.cache import CacheSettings, StackFacts
from cache_patterns.config.capacity import Capacity, split_findings
from cache_patterns.config.common import VERSION, doc, environment
from cache_patterns.config.types import Flag, Text, show
from cache_patterns.core import naming
from cache_patterns.patterns.external.aws import (ELASTICACHE_DEFAULT_VERSION, ELASTICACHE_FAMILIES,
                                                  LOG_RETENTION_DAYS, SERVERLESS_MAJORS, window, windows_overlap)
from cache_patterns.patterns.external.endpoint import ENDPOINT_HOST, host_problems
from cache_patterns.patterns.external import autoscaling, snapshots
from cache_patterns.patterns.external.autoscaling import Autoscaling
from cache_patterns.patterns.external.snapshots import ElastiCacheRestore
from cache_patterns.patterns.two_tier.settings import L1Settings

TAG = "external"
SUMMARY = "a managed cache (AWS ElastiCache, node-based or serverless) or an existing endpoint, outside the cluster"
HOST = Annotated[str, Text(ENDPOINT_HOST, "a host name, an IPv4 or an IPv6 address")]
# A node type such as cache.r7g.large: the cache.<family>.<size> ElastiCache sells (not an EC2 or RDS type).
NODE_TYPE = Annotated[str, Text(r"cache\.(t[234]g?|m[3-7]g?d?|r[3-7]g?d?|c7gn)\.(micro|small|medium|large|[1-9]?[0-9]?xlarge)",
                 "an ElastiCache node type such as cache.r7g.large or cache.m7g.xlarge")]
# Keys that only apply to one kind, and the hint when one is given with another kind.
ONLY = {
    "elasticache": ("nodeType", "shards", "parameters", "maintenanceWindow"),
    "elasticache-serverless": ("limits",),
    "endpoint": ("host", "readHost", "readPort", "username", "caCertificate", "cluster"),
}


class Rotation(StrictModel):
    TITLE = "password rotation"
    generation: Annotated[int, Field(strict=True, ge=1, le=10_000)] = doc(1, "Bump (with strategy: rotate) to generate a new AUTH token or "
                                                        "serverless user password; ElastiCache kinds only.")
    strategy: Literal["rotate", "set"] = doc(
        "rotate", "rotate: old and new password both work (roll the apps); set: only the new one.")


class LogDelivery(StrictModel):
    TITLE = "log delivery"
    slow: Flag = doc(True, "Deliver the slow log to CloudWatch Logs.")
    engine: Flag = doc(True, "Deliver the engine log to CloudWatch Logs.")
    retention_days: Annotated[int, Field(strict=True, ge=1, le=3653)] = doc(30, "CloudWatch Logs retention: one of the periods it accepts "
                                                           "(1, 3, 5, 7, 14, 30, 60, 90, 180, 365, ...).")


class ServerlessLimits(StrictModel):
    TITLE = "serverless usage limits"
    data_storage_gb: Annotated[int, Field(strict=True, ge=1, le=5000)] = doc(..., "Maximum data storage in GB.")
    ecpu_per_second: Annotated[int, Field(strict=True, ge=1000, le=15_000_000)] = doc(..., "Maximum ElastiCache Processing Units per second.")


class ExternalSettings(CacheSettings):
    """Pattern 1: AWS ElastiCache, or an existing endpoint (Memorystore, Azure Cache, any Redis)."""

    TITLE = "pattern: external"
    ENV_DEFAULTS = {"replicas": {"production": 2, "staging": 1, "development": 0},
                    "snapshotRetention": {"production": 7, "development": 1},
                    "finalSnapshot": {"production": True, "development": False}}
    pattern: Literal["external"] = doc(..., SUMMARY + ".")
    version: VERSION | None = doc(None, "Engine version (major.minor) of an ElastiCache cache; "
                                                        "informational for kind: endpoint.", "valkey 8.1, redis 7.1")
    kind: Literal["elasticache", "elasticache-serverless", "endpoint"] = doc(
        "elasticache", "elasticache (replication group), elasticache-serverless, or endpoint (any existing Redis).")
    auth: Flag = doc(True, "Require a password (AUTH token / user password).")
    tls: Flag = doc(True, "Connect with TLS (always on for ElastiCache).")
    node_type: NODE_TYPE | None = doc(None, "ElastiCache node type (kind: elasticache).")
    replicas: Annotated[int, Field(strict=True, ge=0, le=5)] = doc(0, "kind: elasticache: read replicas per shard (Multi-AZ and automatic "
                                                 "failover with 1 or more).", "2 in production, 1 in staging, else 0")
    shards: Annotated[int, Field(strict=True, ge=1, le=500)] | None = doc(None, "kind: elasticache: cluster mode with this many shards, each "
                                                           "with `replicas` replicas (absent: cluster mode off, one primary).")
    at_rest_encryption: Flag = doc(True, "Encrypt data at rest.")
    kms_key_arn: Annotated[str, Text(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[-a-f0-9]+", "a KMS key ARN")] | None = doc(
        None, "Customer-managed KMS key for at-rest encryption.", "the AWS-managed key")
    snapshot_retention: Annotated[int, Field(strict=True, ge=0, le=35)] = doc(1, "Days of automatic snapshots (at least 1 in production).",
                                                         "7 in production, else 1")
    snapshot_window: Annotated[str, Text(r"\d\d:\d\d-\d\d:\d\d", "hh:mm-hh:mm (UTC)")] | None = doc(
        None, "Daily snapshot window.")
    maintenance_window: Annotated[str, Text(r"(mon|tue|wed|thu|fri|sat|sun):\d\d:\d\d-(mon|tue|wed|thu|fri|sat|sun):\d\d:\d\d",
                             "ddd:hh:mm-ddd:hh:mm (UTC)")] | None = doc(None, "Weekly maintenance window.")
    auto_minor_version_upgrade: Flag = doc(True, "Apply minor engine upgrades in the maintenance window.")
    apply_immediately: Flag = doc(True, "kind: elasticache: apply changes when `pulumi up` runs (a resize or an "
                                        "upgrade may cause a brief outage then); false: AWS queues them for the "
                                        "maintenance window, and the stack shows them before they happen.")
    final_snapshot: Flag = doc(False, "kind: elasticache: take a snapshot named `<replication group id>-final` when "
                                      "the cache is deleted.", "true in production, else false")
    restore: ElastiCacheRestore | None = doc(
        None, "Create the cache from a snapshot or RDB files in S3 (a change of this key replaces the cache).", "none")
    parameters: dict[Annotated[str, Text(r"[a-z][-a-z0-9]*", "a parameter name")], Annotated[str, Text(r".+", "a value")]] = doc(
        {}, "Extra parameter-group parameters.", "none")
    logs: LogDelivery = doc(LogDelivery(), "Log delivery to CloudWatch.", "slow and engine logs, 30 days")
    rotation: Rotation = doc(Rotation(), "AUTH password rotation (see the rotation workflow).", "generation 1")
    limits: ServerlessLimits | None = doc(None, "kind: elasticache-serverless: usage limits (required; they cap the bill).")
    host: HOST | None = doc(None, "kind: endpoint: the primary endpoint (an IP gets a Service with "
                                                  "an EndpointSlice, a name an ExternalName Service).")
    port: Annotated[int, Field(strict=True, ge=1, le=65535)] = doc(6379, "Port of the primary endpoint; for kind: elasticache the port the "
                                                    "nodes listen on (changing it replaces the cache).")
    read_host: HOST | None = doc(None, "kind: endpoint: a read endpoint (replicas).")
    read_port: Annotated[int, Field(strict=True, ge=1, le=65535)] | None = doc(None, "Port of the read endpoint.", "`port`")
    username: Annotated[str, Text(r"[A-Za-z0-9_-]+", "an ACL user name")] | None = doc(
        None, "kind: endpoint: ACL user (absent: the default user).")
    ca_certificate: Annotated[str, Text(r"-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*",
                         "a PEM CA certificate")] | None = doc(
        None, "kind: endpoint: CA that signed the server certificate (Memorystore uses a private CA).")
    cluster: Flag = doc(False, "kind: endpoint: the server runs in cluster mode.")
    l1: L1Settings | None = doc(None, "Two-tier: an L1 in every bound app pod (sidecar) or app process (in-process).")
    autoscaling: Autoscaling | None = doc(
        None, "kind: elasticache with `shards`: Application Auto Scaling of the shards and/or the replicas per shard "
              "(min, max, metric, target); the counts it owns are then ignored by `pulumi up` (docs/upgrades.md).", "off")
    capacity: Capacity | None = doc(None, "The workload: plans the node type (kind: elasticache; `nodeType` is "
                                          "checked against it) and checks serverless `limits` (docs/planning.md).")

    @property
    def auth_enabled(self) -> bool:
        return self.auth

    @property
    def member_replicas(self) -> int:
        return self.replicas if self.kind == "elasticache" else 0

    @property
    def plan_shards(self) -> int:
        return self.shards or 1

    def plan_engine(self) -> planning.Engine:
        return planning.Engine(self.engine, self.engine_version)

    @property
    def reserved_percent(self) -> int:
        """ElastiCache's reserved-memory-percent: from `parameters`, else its default (25)."""
        value = self.parameters.get("reserved-memory-percent", "")
        return int(value) if value.isdigit() and int(value) < 100 else planning.DEFAULT_RESERVED_PERCENT

    @cached_property
    def nodes(self) -> planning.NodePlan | None:
        """kind: elasticache with `capacity`: the node type that holds it (and `nodeType` checked)."""
        w = self.workload()
        if w is None or self.kind != "elasticache":
            return None
        return planning.plan_nodes(w, self.plan_engine(), self.node_type, self.reserved_percent)

    @property
    def effective_node_type(self) -> str | None:
        """`nodeType`, else the smallest node type that holds `capacity`."""
        if self.node_type is not None or self.nodes is None or self.nodes.smallest is None:
            return self.node_type
        return self.nodes.smallest.name

    def plan_findings(self) -> tuple:
        if self.nodes is not None:
            return self.nodes.findings
        if self.kind == "elasticache-serverless" and self.limits is not None and self.capacity is not None:
            return planning.plan_serverless(self.workload(), self.plan_engine(), self.limits.data_storage_gb,
                                            self.limits.ecpu_per_second).findings
        return ()

    @property
    def engine_version(self) -> str:
        """The ElastiCache engine version (major.minor): `version`, else the default of the engine."""
        return self.version or ELASTICACHE_DEFAULT_VERSION[self.engine]

    @property
    def parameter_family(self) -> str | None:
        """The parameter group family of (engine, version), or None where ElastiCache has none."""
        return ELASTICACHE_FAMILIES.get((self.engine, self.engine_version))

    @property
    def cluster_mode(self) -> bool:
        """Sharded (Redis Cluster protocol): `shards` set, any serverless cache, or `cluster: true`."""
        return self.shards is not None or self.kind == "elasticache-serverless" or self.cluster

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> "ExternalSettings":
        env = environment(info)
        fail(self.l1_problems() + self.auth_problems(env) + self._kind_problems(env) + autoscaling.problems(self, env))
        return self

    def _kind_problems(self, env: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        given = {"nodeType": self.node_type, "shards": self.shards, "parameters": self.parameters or None,
                 "maintenanceWindow": self.maintenance_window, "limits": self.limits, "host": self.host,
                 "readHost": self.read_host, "readPort": self.read_port, "username": self.username,
                 "caCertificate": self.ca_certificate, "cluster": self.cluster or None}
        only = dict(ONLY)
        if self.kind == "endpoint":
            given.update(kmsKeyArn=self.kms_key_arn, snapshotWindow=self.snapshot_window)
            only["elasticache"] += ("kmsKeyArn", "snapshotWindow")
        for kind, keys in only.items():
            for key in keys:
                if kind != self.kind and given.get(key) is not None:
                    hint = " (cluster mode on ElastiCache: set `shards`)" if key == "cluster" else ""
                    value = given[key].model_dump(by_alias=True) if isinstance(given[key], StrictModel) else given[key]
                    out.append((key, f"only applies to kind: {kind}, got {show(value)} with kind: {self.kind}{hint}"))
        out += snapshots.problems(self)
        if self.kind == "endpoint":
            return out + self._endpoint_problems(env)
        if not self.tls:
            out.append(("tls", "ElastiCache in-transit encryption is always on, got false"))
        if self.parameter_family is None:
            known = ", ".join(v for e, v in ELASTICACHE_FAMILIES if e == self.engine)
            out.append(("version", f"ElastiCache has no {self.engine} {self.engine_version!r} with a parameter group "
                                   f"family (major.minor, one of: {known})"))
        if self.snapshot_retention < 1 and env == "production":
            out.append(("snapshotRetention", "production keeps at least 1 day of snapshots, got 0"))
        if self.kms_key_arn is not None and not self.at_rest_encryption:
            out.append(("kmsKeyArn", "needs atRestEncryption: true"))
        if self.logs.retention_days not in LOG_RETENTION_DAYS:
            out.append(("logs.retentionDays", f"CloudWatch Logs only keeps logs for one of "
                                              f"{', '.join(map(str, LOG_RETENTION_DAYS))} days, "
                                              f"got {self.logs.retention_days}"))
        for key in ("maxmemory-policy", "cluster-enabled"):
            if key in self.parameters:
                instead = "maxmemoryPolicy" if key == "maxmemory-policy" else "shards (cluster mode)"
                out.append((f"parameters.{key}", f"is derived from {instead}; set that instead"))
        snapshot = window(self.snapshot_window, "snapshotWindow", out) if self.snapshot_window else None
        out += split_findings(self.plan_findings(), env)[0]
        if self.kind == "elasticache":
            if self.node_type is None and self.capacity is None:
                out.append(("nodeType", "is required with kind: elasticache (such as cache.r7g.large), "
                                        "unless `capacity` plans it"))
            elif self.effective_node_type is None:
                need = planning.aws.shards_needed(self.nodes.need_per_node * (self.shards or 1), self.reserved_percent)
                out.append(("capacity", f"no node type holds it per shard; set shards to at least {need}"))
            out += self.replica_problems(env)
            maint = window(self.maintenance_window, "maintenanceWindow", out) if self.maintenance_window else None
            if snapshot and maint and windows_overlap(snapshot, maint):
                out.append(("snapshotWindow", f"{self.snapshot_window!r} overlaps maintenanceWindow "
                                              f"{self.maintenance_window!r}; ElastiCache refuses overlapping windows"))
        else:
            if self.limits is None:
                out.append(("limits", "is required with kind: elasticache-serverless (it caps the bill)"))
            if self.engine_version.split(".")[0] not in SERVERLESS_MAJORS[self.engine]:
                out.append(("version", f"serverless {self.engine} needs major version "
                                       f"{' or '.join(SERVERLESS_MAJORS[self.engine])}, got {self.engine_version!r}"))
            if self.port != 6379:
                out.append(("port", f"serverless caches listen on 6379 (and 6380 for reads), got {self.port}"))
            if not self.at_rest_encryption:
                out.append(("atRestEncryption", "serverless caches are always encrypted at rest, got false"))
        return out

    def _endpoint_problems(self, env: str) -> list[tuple[str, str]]:
        out = []
        if self.host is None:
            out.append(("host", "is required with kind: endpoint"))
        out += host_problems(self.host, "host") + host_problems(self.read_host, "readHost")
        if not self.tls and env == "production":
            out.append(("tls", "production requires TLS to an external cache, got false"))
        if self.ca_certificate is not None and not self.tls:
            out.append(("caCertificate", "is only used with tls: true"))
        if self.read_port is not None and self.read_host is None:
            out.append(("readPort", "needs readHost"))
        return out

    def plan_origins(self) -> dict[str, str]:
        return {"persistence": "ElastiCache snapshots without forking", "replicas": "replicas", "shards": "shards"}

    def plan_shape(self) -> dict[str, Any]:
        limits = (self.limits.data_storage_gb, self.limits.ecpu_per_second) if self.limits else None
        return {"pattern": self.kind, "node_type": self.node_type, "reserved_percent": self.reserved_percent,
                "limits": limits}

    @property
    def takes_password(self) -> bool:
        """An endpoint's password is set in secret config; ElastiCache's are generated."""
        return self.kind == "endpoint"

    @property
    def cloud_alarms(self) -> bool:
        return self.kind != "endpoint"

    def app_problems(self, key: str, app: Any, cache: str, stack: StackFacts) -> list[tuple[str, str]]:
        out = super().app_problems(key, app, cache, stack)
        pw = stack.passwords.get(cache, "")
        if app.wants_password_env and self.kind == "endpoint" and not re.fullmatch(r"[A-Za-z0-9._~-]*", pw):
            out.append((f"passwords.{cache}", f"must be URL-safe (letters, digits, ._~-) for CACHE_URL with "
                                              f"passwordEnv ({key}), got <secret>"))
        return out

    def stack_problems(self, name: str, stack: StackFacts) -> list[tuple[str, str]]:
        """An endpoint's password in secret config (exactly when it has auth); ElastiCache needs `aws`."""
        out = []
        if self.kind != "endpoint":
            if not stack.aws_given:
                out.append((f"caches.{name}", f"kind: {self.kind} needs the `aws` key (region and network)"))
            return out
        if self.auth and name not in stack.passwords:
            out.append((f"passwords.{name}", "is required for an endpoint cache with auth: set it with "
                                             f"`pulumi config set --secret --path 'passwords.{name}' <password>`"))
        if not self.auth and name in stack.passwords:
            out.append((f"passwords.{name}", "is set but the cache has auth: false"))
        if self.rotation != Rotation():
            out.append((f"caches.{name}.rotation", "does not apply to kind: endpoint: change the password at its "
                                                   f"source, then `pulumi config set --secret --path 'passwords.{name}'`"))
        return out

    def name_checks(self, stack: str, cache: str, app_namespaces: dict[str, str]) -> list:
        """Every name this cache derives: its label, AWS ids and names, in-cluster Service names."""
        checks = [lambda: naming.instance(stack, cache)]
        if self.kind == "elasticache":
            checks.append(lambda: naming.elasticache_id(stack, cache, "", "replication group id"))
        elif self.kind == "elasticache-serverless":
            checks += [lambda suffix=s, what=w: naming.elasticache_id(stack, cache, suffix, what)
                       for s, w in (("", "serverless cache"), ("default", "ElastiCache user id"))]
        elif not self.tls:
            checks += [lambda: naming.external_service(stack, cache)]
            if self.read_host is not None:
                checks += [lambda: naming.external_service(stack, cache, "read")]
        return checks


AWS_ID_DOCS = {"vpc": "a VPC id", "subnet": "a subnet id", "sg": "a security group id"}
OUTPUT_NAME = Annotated[str, Text(r"[A-Za-z_][A-Za-z0-9_]*", "an output name")]


def aws_id(prefix: str) -> Any:
    return Annotated[str, Text(prefix + r"-[0-9a-f]{8,17}", AWS_ID_DOCS[prefix])]


VpcId, SubnetId, SecurityGroupId = aws_id("vpc"), aws_id("subnet"), aws_id("sg")


class NetworkFrom(StrictModel):
    TITLE = "network from a stack"
    stack: Annotated[str, Text(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}", "a stack name org/project/stack")] = doc(
        ..., "The stack that owns the cluster and its VPC.")
    vpc_id_output: OUTPUT_NAME = doc("vpcId", "Its output holding the VPC id.")
    subnet_ids_output: OUTPUT_NAME = doc("privateSubnetIds", "Its output holding the private subnet ids.")
    client_security_group_ids_output: OUTPUT_NAME = doc(
        "nodeSecurityGroupIds", "Its output holding the node/pod security group id(s).")


class AwsConfig(StrictModel):
    """AWS region and network, for the ElastiCache kinds of pattern 1."""

    TITLE = "AWS"
    region: Annotated[str, Text(r"[a-z]{2}(-[a-z]+)+-\d", "an AWS region such as eu-west-1")] = doc(
        ..., "Region of the ElastiCache resources.")
    vpc_id: VpcId | None = doc(None, "VPC of the cluster.")
    subnet_ids: tuple[SubnetId, ...] = doc(
        (), "Private subnets for the subnet group.", "none")
    client_security_group_ids: tuple[SecurityGroupId, ...] = doc((), "Security groups of the cluster's nodes/pods: the only sources admitted.", "none")
    network_from: NetworkFrom | None = doc(None, "Read the network from the cluster's stack (StackReference).")
    tags: dict[Annotated[str, Text(r"[^\s].{0,127}", "a tag key")], Annotated[str, Text(max_len=256, min_len=0)]] = doc(
        {}, "Tags on every AWS resource.", "none")

    @model_validator(mode="after")
    def _check(self) -> "AwsConfig":
        out = []
        explicit = self.vpc_id is not None or self.subnet_ids or self.client_security_group_ids
        if self.network_from is not None and explicit:
            out.append(("networkFrom", "give the network explicitly (vpcId, subnetIds, clientSecurityGroupIds) "
                                       "or networkFrom, not both"))
        elif self.network_from is None:
            if self.vpc_id is None:
                out.append(("vpcId", "is required unless networkFrom names the cluster's stack"))
            if len(self.subnet_ids) < 2:
                out.append(("subnetIds", f"needs at least 2 private subnets (in different AZs), got {len(self.subnet_ids)}"))
            if not self.client_security_group_ids:
                out.append(("clientSecurityGroupIds", "needs the cluster's node/pod security group(s)"))
        for key, ids in (("subnetIds", self.subnet_ids), ("clientSecurityGroupIds", self.client_security_group_ids)):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                out.append((key, f"lists {', '.join(dupes)} more than once"))
        fail(out)
        return self
