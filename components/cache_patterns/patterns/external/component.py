"""Pattern 1, external: a managed cache (AWS ElastiCache, node-based or serverless) or an existing
endpoint (GCP Memorystore, Azure Cache for Redis, any Redis), wired into every app namespace.

Choose it when nobody should operate Redis: failover, patching, snapshots and encryption are the
provider's. It costs money by the hour (node type x nodes, or serverless ECPUs and GB-hours), pays
for cross-AZ traffic, and puts a network hop outside the cluster in front of every request.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NotRequired, Sequence, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from cache_patterns.core import k8s as kb
from cache_patterns.core import naming, passwords
from cache_patterns.core.contract import CacheBinding, CacheConnection, FileRef, SecretRef
from cache_patterns.observability import component as monitoring
from cache_patterns.observability import settings as observability_settings
from cache_patterns.observability.settings import ObservabilityConfig
from cache_patterns.patterns.base import BuildContext
from cache_patterns.patterns.external import monitoring as watch
from cache_patterns.patterns.external.endpoint import in_cluster_name
from cache_patterns.patterns.external.network import Network, first, network_of
from cache_patterns.patterns.external.settings import AwsConfig, ExternalSettings, Rotation

PRIMARY_PORT = 6379
# ElastiCache Serverless answers on the same host name at 6379 (primary) and 6380 (reads from the
# nearest replica): AWS "Best Practices for using Read Replicas", Amazon ElastiCache User Guide.
SERVERLESS_READ_PORT = 6380
# The app user of a serverless cache: every key (~*) and channel (&*, for two-tier invalidations),
# every command ElastiCache allows. The `default` user every user group must contain is switched off.
APP_ACCESS = "on ~* &* +@all"
DISABLED_ACCESS = "off -@all"


class ExternalCacheArgs(TypedDict):
    settings: ExternalSettings
    """The cache's config (`caches.<name>` with `pattern: external`)."""
    stack: str
    """Stack name: the first part of every physical name (replication group id, users, groups)."""
    production: bool
    """Protect and retain the cache itself (never the token: rotating it replaces its generator)."""
    namespaces: Sequence[str]
    """Namespaces of the bound apps; each gets the password Secret (and CA ConfigMap, in-cluster Service)."""
    cluster_domain: str
    """The cluster's DNS domain, for the in-cluster Service host names."""
    aws: NotRequired[AwsConfig | None]
    """Region and network; required for the ElastiCache kinds, unused for kind: endpoint."""
    password: NotRequired[pulumi.Input[str] | None]
    """kind: endpoint: the password from secret config (already a secret Output); absent without auth."""
    observability: NotRequired[ObservabilityConfig]
    """The stack's `observability` block: CloudWatch alarms and their SNS topic for ElastiCache, and
    the two-tier clients' rules and dashboard. Absent: off."""
    monitoring_namespace: NotRequired[str]
    """Where the two-tier clients' PrometheusRule and dashboard go (the stack's namespace)."""


@dataclass(frozen=True)
class _Endpoint:
    """Where the cache answers, before it is shaped into one namespace's binding."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    read_host: pulumi.Input[str] | None = None
    read_port: pulumi.Input[int] | None = None
    username: pulumi.Input[str] | None = None
    # The password as apps must see it: a secret Output that resolves only once the server accepts it.
    password: pulumi.Output[str] | None = None


class ExternalCache(pulumi.ComponentResource):
    """An ElastiCache replication group or serverless cache, or an existing endpoint, as a BoundCache:
    the same binding shape as every other pattern, with the password in a Secret of each app namespace."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]

    def __init__(self, name: str, args: ExternalCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cache-patterns:index:ExternalCache", name, None, opts)
        s = args["settings"]
        self._name, self._settings, self._stack = name, s, args["stack"]
        self._production = args["production"]
        self._labels = kb.labels(name, "cache", naming.instance(self._stack, name))
        self._ids: dict[str, pulumi.Input[str]] = {}
        self._obs = args.get("observability") or observability_settings.defaults()
        self._alarm_topic = watch.alarm_topic(self, name, self._stack, s, self._obs, self._tags)
        if self._alarm_topic is not None:
            self._ids["alarmTopicArn"] = self._alarm_topic
        if s.kind == "endpoint":
            endpoint = _Endpoint(host=s.host, port=s.port, read_host=s.read_host,
                                 read_port=(s.read_port or s.port) if s.read_host is not None else None,
                                 username=s.username, password=args.get("password") if s.auth else None)
        else:
            aws_cfg = args.get("aws")
            if aws_cfg is None:
                raise ValueError(f"caches.{name}: kind: {s.kind} needs the `aws` config (region and network)")
            network = network_of(aws_cfg, name, self)
            ports = [PRIMARY_PORT, SERVERLESS_READ_PORT] if s.kind == "elasticache-serverless" else [s.port]
            sg = self._security_group(network, ports)
            self._ids["securityGroupId"] = sg.id
            if s.kind == "elasticache":
                endpoint = self._replication_group(network, sg)
            else:
                endpoint = self._serverless(network, sg)

        self.host = pulumi.Output.from_input(endpoint.host)
        self.port = pulumi.Output.from_input(endpoint.port)
        self._endpoint = endpoint
        self._bindings = {ns: self._bind(ns, endpoint, args["cluster_domain"]) for ns in sorted(set(args["namespaces"]))}
        self.monitoring = monitoring.attach(name, self, watch.monitoring_target(
            self._stack, name, s, args["namespaces"], args.get("monitoring_namespace") or self._stack, self._labels),
            self._obs)
        self.register_outputs({"host": self.host, "port": self.port, **self._ids})

    # -----------------------------------------------------------------------------------------
    # What the program sees.

    def binding(self, namespace: str, user: str | None = None) -> CacheBinding:
        if user is not None:
            raise ValueError(f"caches.{self._name}: an external cache takes no ACL user from config")
        if namespace not in self._bindings:
            raise KeyError(f"caches.{self._name}: no binding for namespace {namespace!r} "
                           f"(bound namespaces: {', '.join(self._bindings) or 'none'})")
        return self._bindings[namespace]

    @property
    def discovery(self) -> dict[str, pulumi.Input]:
        s, e = self._settings, self._endpoint
        out: dict[str, pulumi.Input] = {
            "pattern": "external", "kind": s.kind, "host": e.host, "port": e.port, "tls": s.tls,
            "cluster": s.cluster_mode, "auth": s.auth,
        }
        if s.kind != "endpoint":
            out.update(engine=s.engine, version=s.engine_version, **self._ids)
        if e.read_host is not None:
            out.update(readHost=e.read_host, readPort=e.read_port)
        if e.username is not None:
            out["username"] = e.username
        if self.monitoring is not None:
            out["monitoring"] = self.monitoring.discovery
        return out

    def _tags(self, physical: str) -> dict[str, str]:
        # Stack and environment come from the provider's default tags.
        return {"Name": physical, "cache-patterns:cache": self._name}

    def _security_group(self, network: Network, ports: list[int]) -> aws.ec2.SecurityGroup:
        """Admits the cache port(s) only from the cluster's node/pod security groups.

        Inline rules, not one SecurityGroupIngressRule per source group: the sources may come from a
        StackReference, whose length is unknown while the program runs (a resource per item would have
        to be created inside apply). Inline rules are also authoritative: a rule added by hand in the
        console is removed by the next `pulumi up`. `egress: []` removes AWS's default allow-all egress;
        ElastiCache nodes never open connections to clients."""
        physical = naming.aws_name(self._stack, self._name, "cache")
        return aws.ec2.SecurityGroup(
            f"{self._name}-sg",
            name=physical,
            # Name and description cannot change in place: both hold only what never changes.
            description=f"cache-patterns {self._stack}/{self._name}: ElastiCache clients from the cluster only",
            vpc_id=network.vpc_id,
            ingress=[{
                "description": f"Cache {'reads' if port == SERVERLESS_READ_PORT else 'clients'} (TLS) "
                               f"from the cluster node and pod security groups",
                "protocol": "tcp", "from_port": port, "to_port": port,
                "security_groups": network.client_security_group_ids,
            } for port in ports],
            egress=[],
            tags=self._tags(physical),
            opts=pulumi.ResourceOptions(parent=self),
        )

    # -----------------------------------------------------------------------------------------
    # kind: elasticache

    def _replication_group(self, network: Network, sg: aws.ec2.SecurityGroup) -> _Endpoint:
        s, name = self._settings, self._name
        child = pulumi.ResourceOptions(parent=self)
        cluster = s.shards is not None
        subnet_name = naming.aws_name(self._stack, name, "subnets")
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets", name=subnet_name, description=f"cache-patterns {self._stack}/{name}: private subnets",
            subnet_ids=network.subnet_ids, tags=self._tags(subnet_name), opts=child)
        family = s.parameter_family
        params = {"maxmemory-policy": s.maxmemory_policy, **s.parameters}
        if cluster:
            params["cluster-enabled"] = "yes"
        # The family is part of the name: an engine major upgrade makes a new group (family cannot
        # change in place), created before the old one is deleted, with no name clash.
        params_name = naming.aws_name(self._stack, name, family.replace(".", "-"))
        parameter_group = aws.elasticache.ParameterGroup(
            f"{name}-params", name=params_name, family=family,
            description=f"cache-patterns {self._stack}/{name} ({family})",
            parameters=[{"name": k, "value": v} for k, v in sorted(params.items())],
            tags=self._tags(params_name), opts=child)
        deliveries = []
        for log_type, enabled in (("slow-log", s.logs.slow), ("engine-log", s.logs.engine)):
            if enabled:
                log_name = naming.log_group(self._stack, name, log_type)
                group = aws.cloudwatch.LogGroup(
                    f"{name}-{log_type}", name=log_name, retention_in_days=s.logs.retention_days,
                    tags=self._tags(log_name), opts=child)
                deliveries.append({"destination": group.name, "destination_type": "cloudwatch-logs",
                                   "log_format": "json", "log_type": log_type})
        rg_id = naming.elasticache_id(self._stack, name, "", "replication group id")
        has_replica = s.replicas > 0
        shape: dict[str, Any] = (
            {"cluster_mode": "enabled", "num_node_groups": s.shards, "replicas_per_node_group": s.replicas}
            if cluster else {"cluster_mode": "disabled", "num_cache_clusters": 1 + s.replicas})
        auth: dict[str, Any] = {}
        token = None
        if s.auth:
            # Not protected even in production: a rotation replaces this generator.
            token = passwords.generate(f"{name}-auth-token", self, s.rotation.generation)
            # Sent on every token change (never on create); terraform-provider-aws also sends it when
            # only the strategy changes, which is how run 2 of a rotation turns ROTATE into SET.
            # The token is deliberately not in ignore_changes: a rotation must reach the server.
            auth = {"auth_token": token, "auth_token_update_strategy": _token_strategy(s.rotation)}
        group = aws.elasticache.ReplicationGroup(
            f"{name}-replication-group",
            replication_group_id=rg_id,
            description=f"cache-patterns {self._stack}/{name}",
            engine=s.engine,
            engine_version=s.engine_version,
            node_type=s.effective_node_type,
            port=s.port,
            parameter_group_name=parameter_group.name,
            subnet_group_name=subnets.name,
            security_group_ids=[sg.id],
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=s.at_rest_encryption,
            kms_key_id=s.kms_key_arn,
            # Failover needs somewhere to fail over to; cluster mode requires the flag regardless.
            automatic_failover_enabled=has_replica or cluster,
            multi_az_enabled=has_replica,
            # r6gd nodes only run with data tiering on (AWS refuses them otherwise).
            data_tiering_enabled=True if ".r6gd." in (s.effective_node_type or "") else None,
            snapshot_retention_limit=s.snapshot_retention,
            snapshot_window=s.snapshot_window,
            maintenance_window=s.maintenance_window,
            auto_minor_version_upgrade=s.auto_minor_version_upgrade,
            # Changes land when `pulumi up` runs, so the state never claims what AWS has queued.
            apply_immediately=True,
            log_delivery_configurations=deliveries,
            # Failover complete, node replaced, ... reach the alarms' topic.
            notification_topic_arn=self._alarm_topic,
            tags=self._tags(rg_id),
            **shape, **auth,
            # The id is fixed, so a replacement must delete first; in production protect refuses it.
            opts=pulumi.ResourceOptions(parent=self, protect=self._production, retain_on_delete=self._production,
                                        delete_before_replace=True),
        )
        self._ids.update(replicationGroupId=rg_id, arn=group.arn)
        if self._alarm_topic is not None:
            watch.alarms(self, name, self._stack, s, self._obs, self._alarm_topic, self._tags,
                         members=group.member_clusters)
        port = s.port
        # The app Secrets are built from the token only once the group has it (created, or ROTATEd):
        # apps roll to the new token after the server accepts it, never before.
        password = pulumi.Output.all(group.arn, token).apply(lambda v: v[1]) if token is not None else None
        if cluster:
            return _Endpoint(host=group.configuration_endpoint_address, port=port, password=password)
        return _Endpoint(host=group.primary_endpoint_address, port=port,
                         read_host=group.reader_endpoint_address if has_replica else None,
                         read_port=port if has_replica else None, password=password)

    # -----------------------------------------------------------------------------------------
    # kind: elasticache-serverless

    def _serverless(self, network: Network, sg: aws.ec2.SecurityGroup) -> _Endpoint:
        s, name = self._settings, self._name
        limits = s.limits
        assert limits is not None  # config requires it for this kind
        cache_name = naming.elasticache_id(self._stack, name, "", "serverless cache")
        user_group_id = None
        username = None
        current = None
        dependencies: list[pulumi.Input[str]] = []
        if s.auth:
            # Serverless caches have no AUTH token, only RBAC. Every user group must contain a user
            # named `default` (CloudFormation AWS::ElastiCache::UserGroup, UserIds; botocore
            # DefaultUserRequired), so it is there, switched off, with a password nobody is given.
            named = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
            default_id = naming.elasticache_id(self._stack, name, "default", "ElastiCache user id")
            default_user = aws.elasticache.User(
                f"{name}-default-user", user_id=default_id, user_name="default", engine=s.engine,
                access_string=DISABLED_ACCESS,
                authentication_mode={"type": "password",
                                     "passwords": [passwords.generate(f"{name}-default-user-password", self)]},
                tags=self._tags(default_id), opts=named)
            app_id = naming.elasticache_id(self._stack, name, "app", "ElastiCache user id")
            current, accepted = self._app_passwords(s.rotation)
            app_user = aws.elasticache.User(
                f"{name}-app-user", user_id=app_id, user_name=app_id, engine=s.engine, access_string=APP_ACCESS,
                authentication_mode={"type": "password", "passwords": accepted},
                tags=self._tags(app_id), opts=named)
            group_id = naming.elasticache_id(self._stack, name, "", "ElastiCache user group id")
            group = aws.elasticache.UserGroup(
                f"{name}-users", user_group_id=group_id, engine=s.engine,
                user_ids=[default_user.user_id, app_user.user_id], tags=self._tags(group_id), opts=named)
            user_group_id, username = group.user_group_id, app_id
            dependencies.append(app_user.arn)
            self._ids["userGroupId"] = group_id
        snapshot_time = s.snapshot_window.split("-")[0] if s.snapshot_window else None
        cache = aws.elasticache.ServerlessCache(
            f"{name}-serverless",
            name=cache_name,
            description=f"cache-patterns {self._stack}/{name}",
            engine=s.engine,
            major_engine_version=s.engine_version.split(".")[0],
            cache_usage_limits={"data_storage": {"maximum": limits.data_storage_gb, "unit": "GB"},
                                "ecpu_per_seconds": [{"maximum": limits.ecpu_per_second}]},
            kms_key_id=s.kms_key_arn,
            security_group_ids=[sg.id],
            subnet_ids=network.subnet_ids,
            snapshot_retention_limit=s.snapshot_retention,
            daily_snapshot_time=snapshot_time,
            user_group_id=user_group_id,
            tags=self._tags(cache_name),
            opts=pulumi.ResourceOptions(parent=self, protect=self._production, retain_on_delete=self._production,
                                        delete_before_replace=True),
        )
        self._ids.update(serverlessCacheName=cache_name, arn=cache.arn)
        if self._alarm_topic is not None:
            watch.alarms(self, name, self._stack, s, self._obs, self._alarm_topic, self._tags, serverless_name=cache.name)
        password = (pulumi.Output.all(cache.arn, *dependencies, current).apply(lambda v: v[-1])
                    if current is not None else None)
        return _Endpoint(
            host=cache.endpoints.apply(lambda eps: first(eps, "address")),
            port=cache.endpoints.apply(lambda eps: int(first(eps, "port") or PRIMARY_PORT)),
            read_host=cache.reader_endpoints.apply(lambda eps: first(eps, "address")),
            read_port=cache.reader_endpoints.apply(lambda eps: int(first(eps, "port") or SERVERLESS_READ_PORT)),
            username=username, password=password,
        )

    def _app_passwords(self, rotation: Rotation) -> tuple[pulumi.Output[str], list[pulumi.Output[str]]]:
        """The app user's password and every password the user accepts. An ElastiCache user holds up
        to two passwords, so rotation uses two generators that take turns: slot a changes on odd
        generations, slot b on even ones; the other slot still holds the previous password, accepted
        until `strategy: set` drops it (the same two runs as the AUTH token's ROTATE, then SET)."""
        gen = rotation.generation
        slot_a = passwords.generate(f"{self._name}-app-password-a", self, (gen + 1) // 2)
        if gen == 1:
            return slot_a, [slot_a]
        slot_b = passwords.generate(f"{self._name}-app-password-b", self, gen // 2)
        current, previous = (slot_a, slot_b) if gen % 2 else (slot_b, slot_a)
        return current, [current, previous] if rotation.strategy == "rotate" else [current]

    # -----------------------------------------------------------------------------------------
    # One app namespace's view.

    def _bind(self, ns: str, e: _Endpoint, cluster_domain: str) -> CacheBinding:
        s = self._settings
        host, read_host = e.host, e.read_host
        ca = None
        if s.kind == "endpoint" and not s.tls:
            # A stable in-cluster name only without TLS: a TLS client checks the certificate against
            # the host it dialled, which must then be the real endpoint.
            host = in_cluster_name(self, self._stack, self._name, self._labels, ns, "", s.host, s.port,
                                   cluster_domain)
            if e.read_host is not None:
                read_host = in_cluster_name(self, self._stack, self._name, self._labels, ns, "read", s.read_host,
                                            e.read_port, cluster_domain)
        if s.kind == "endpoint" and s.tls and s.ca_certificate is not None:
            config_map = k8s.core.v1.ConfigMap(
                f"{self._name}-ca-{ns}", metadata={"namespace": ns, "labels": self._labels},
                data={"ca.crt": s.ca_certificate}, opts=pulumi.ResourceOptions(parent=self))
            ca = FileRef(kind="configMap", name=config_map.metadata.name)
        secret: SecretRef | None = None
        if e.password is not None:
            secret = passwords.namespace_secret(f"{self._name}-password-{ns}", ns, e.password, self, self._labels)
        connection = CacheConnection(
            host=host, port=e.port, tls=s.tls, ca=ca, username=e.username, password=secret,
            read_host=read_host, read_port=e.read_port if read_host is not None else None,
            cluster=s.cluster_mode,
        )
        return CacheBinding(cache=self._name, pattern="external", connection=connection,
                            default_ttl_seconds=s.default_ttl_seconds)


def _token_strategy(rotation: Rotation) -> str:
    """ROTATE keeps the old token valid beside the new one; SET (allowed only after ROTATE) keeps only
    the new one. Values and semantics: ModifyReplicationGroup AuthTokenUpdateStrategy (AWS SDK docs)."""
    return "SET" if rotation.strategy == "set" else "ROTATE"


def build(name: str, settings: ExternalSettings, context: BuildContext, opts: pulumi.ResourceOptions) -> ExternalCache:
    """The registry's entry point."""
    return ExternalCache(name, {
        "settings": settings, "stack": context.stack, "production": context.production, "aws": context.aws,
        "namespaces": context.app_namespaces, "cluster_domain": context.cluster_domain,
        # The one place the plaintext of an endpoint password meets a resource: wrapped here.
        "password": pulumi.Output.secret(context.password) if context.password is not None else None,
        "observability": context.observability, "monitoring_namespace": context.namespace,
    }, opts)

