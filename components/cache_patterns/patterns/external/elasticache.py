"""Pattern 1's AWS resources: the security group admitting the cluster, a node-based replication group
(subnet and parameter groups, log groups, AUTH token) or a serverless cache (its RBAC users), each
returning where the cache answers. `cache` is the ExternalCache they belong to (parent, names, tags)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from cache_patterns.core import naming, passwords
from cache_patterns.patterns.external import monitoring as watch
from cache_patterns.patterns.external import autoscaling, snapshots
from cache_patterns.patterns.external.network import Network, first
from cache_patterns.patterns.external.settings import Rotation

PRIMARY_PORT = 6379
# ElastiCache Serverless answers on the same host name at 6379 (primary) and 6380 (reads from the
# nearest replica): AWS "Best Practices for using Read Replicas", Amazon ElastiCache User Guide.
SERVERLESS_READ_PORT = 6380
# The app user of a serverless cache: every key (~*) and channel (&*, for two-tier invalidations),
# every command ElastiCache allows. The `default` user every user group must contain is switched off.
APP_ACCESS = "on ~* &* +@all"
DISABLED_ACCESS = "off -@all"


@dataclass(frozen=True)
class Endpoint:
    """Where the cache answers, before it is shaped into one namespace's binding."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    read_host: pulumi.Input[str] | None = None
    read_port: pulumi.Input[int] | None = None
    username: pulumi.Input[str] | None = None
    # The password as apps must see it: a secret Output that resolves only once the server accepts it.
    password: pulumi.Output[str] | None = None



def security_group(cache: Any, network: Network, ports: list[int]) -> aws.ec2.SecurityGroup:
    """Admits the cache port(s) only from the cluster's node/pod security groups.

    Inline rules, not one SecurityGroupIngressRule per source group: the sources may come from a
    StackReference, whose length is unknown while the program runs (a resource per item would have
    to be created inside apply). Inline rules are also authoritative: a rule added by hand in the
    console is removed by the next `pulumi up`. `egress: []` removes AWS's default allow-all egress;
    ElastiCache nodes never open connections to clients."""
    physical = naming.aws_name(cache._stack, cache._name, "cache")
    return aws.ec2.SecurityGroup(
        f"{cache._name}-sg",
        name=physical,
        # Name and description cannot change in place: both hold only what never changes.
        description=f"cache-patterns {cache._stack}/{cache._name}: ElastiCache clients from the cluster only",
        vpc_id=network.vpc_id,
        ingress=[{
            "description": f"Cache {'reads' if port == SERVERLESS_READ_PORT else 'clients'} (TLS) "
                           f"from the cluster node and pod security groups",
            "protocol": "tcp", "from_port": port, "to_port": port,
            "security_groups": network.client_security_group_ids,
        } for port in ports],
        egress=[],
        tags=cache._tags(physical),
        opts=pulumi.ResourceOptions(parent=cache),
    )


def _group_parts(cache: Any, network: Network) -> tuple[Any, Any, list[dict]]:
    """A replication group's subnet group, parameter group and log deliveries."""
    s, name = cache._settings, cache._name
    child = pulumi.ResourceOptions(parent=cache)
    cluster = s.shards is not None
    subnet_name = naming.aws_name(cache._stack, name, "subnets")
    subnets = aws.elasticache.SubnetGroup(
        f"{name}-subnets", name=subnet_name, description=f"cache-patterns {cache._stack}/{name}: private subnets",
        subnet_ids=network.subnet_ids, tags=cache._tags(subnet_name), opts=child)
    family = s.parameter_family
    params = {"maxmemory-policy": s.maxmemory_policy, **s.parameters}
    if cluster:
        params["cluster-enabled"] = "yes"
    # The family is part of the name: an engine major upgrade makes a new group (family cannot
    # change in place), created before the old one is deleted, with no name clash.
    params_name = naming.aws_name(cache._stack, name, family.replace(".", "-"))
    parameter_group = aws.elasticache.ParameterGroup(
        f"{name}-params", name=params_name, family=family,
        description=f"cache-patterns {cache._stack}/{name} ({family})",
        parameters=[{"name": k, "value": v} for k, v in sorted(params.items())],
        tags=cache._tags(params_name), opts=child)
    deliveries = []
    for log_type, enabled in (("slow-log", s.logs.slow), ("engine-log", s.logs.engine)):
        if enabled:
            log_name = naming.log_group(cache._stack, name, log_type)
            group = aws.cloudwatch.LogGroup(
                f"{name}-{log_type}", name=log_name, retention_in_days=s.logs.retention_days,
                tags=cache._tags(log_name), opts=child)
            deliveries.append({"destination": group.name, "destination_type": "cloudwatch-logs",
                               "log_format": "json", "log_type": log_type})
    return subnets, parameter_group, deliveries


def replication_group(cache: Any, network: Network, sg: aws.ec2.SecurityGroup) -> Endpoint:
    """kind: elasticache: a replication group (cluster mode with `shards`), its AUTH token and alarms."""
    s, name = cache._settings, cache._name
    cluster = s.shards is not None
    subnets, parameter_group, deliveries = _group_parts(cache, network)
    rg_id = naming.elasticache_id(cache._stack, name, "", "replication group id")
    has_replica = s.replicas > 0
    shape: dict[str, Any] = (
        {"cluster_mode": "enabled", "num_node_groups": s.shards, "replicas_per_node_group": s.replicas}
        if cluster else {"cluster_mode": "disabled", "num_cache_clusters": 1 + s.replicas})
    auth: dict[str, Any] = {}
    token = None
    if s.auth:
        # Not protected even in production: a rotation replaces this generator.
        token = passwords.generate(f"{name}-auth-token", cache, s.rotation.generation)
        # Sent on every token change (never on create); terraform-provider-aws also sends it when
        # only the strategy changes, which is how run 2 of a rotation turns ROTATE into SET.
        # The token is deliberately not in ignore_changes: a rotation must reach the server.
        auth = {"auth_token": token, "auth_token_update_strategy": token_strategy(s.rotation)}
    group = aws.elasticache.ReplicationGroup(
        f"{name}-replication-group",
        replication_group_id=rg_id,
        description=f"cache-patterns {cache._stack}/{name}",
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
        # true (default): changes land when `pulumi up` runs, so the state never claims what AWS has
        # queued; false: AWS applies them in the maintenance window.
        apply_immediately=s.apply_immediately,
        **snapshots.replication_group_args(s, rg_id),
        log_delivery_configurations=deliveries,
        # Failover complete, node replaced, ... reach the alarms' topic.
        notification_topic_arn=cache._alarm_topic,
        tags=cache._tags(rg_id),
        **shape, **auth,
        # The id is fixed, so a replacement must delete first; in production protect refuses it.
        # With `autoscaling`, the counts it owns are the autoscaler's: never reverted by the next `pulumi up`.
        opts=pulumi.ResourceOptions(parent=cache, protect=cache._production, retain_on_delete=cache._production,
                                    delete_before_replace=True, ignore_changes=autoscaling.owned_inputs(s) or None),
    )
    autoscaling.attach(cache, name, group, rg_id, s)
    cache._ids.update(replicationGroupId=rg_id, arn=group.arn)
    if cache._alarm_topic is not None:
        watch.alarms(cache, name, cache._stack, s, cache._obs, cache._alarm_topic, cache._tags,
                     members=group.member_clusters)
    port = s.port
    # The app Secrets are built from the token only once the group has it (created, or ROTATEd):
    # apps roll to the new token after the server accepts it, never before.
    password = pulumi.Output.all(group.arn, token).apply(lambda v: v[1]) if token is not None else None
    if cluster:
        return Endpoint(host=group.configuration_endpoint_address, port=port, password=password)
    return Endpoint(host=group.primary_endpoint_address, port=port,
                     read_host=group.reader_endpoint_address if has_replica else None,
                     read_port=port if has_replica else None, password=password)


def serverless(cache: Any, network: Network, sg: aws.ec2.SecurityGroup) -> Endpoint:
    s, name = cache._settings, cache._name
    limits = s.limits
    assert limits is not None  # config requires it for this kind
    cache_name = naming.elasticache_id(cache._stack, name, "", "serverless cache")
    user_group_id = None
    username = None
    current = None
    dependencies: list[pulumi.Input[str]] = []
    if s.auth:
        # Serverless caches have no AUTH token, only RBAC. Every user group must contain a user
        # named `default` (CloudFormation AWS::ElastiCache::UserGroup, UserIds; botocore
        # DefaultUserRequired), so it is there, switched off, with a password nobody is given.
        named = pulumi.ResourceOptions(parent=cache, delete_before_replace=True)
        default_id = naming.elasticache_id(cache._stack, name, "default", "ElastiCache user id")
        default_user = aws.elasticache.User(
            f"{name}-default-user", user_id=default_id, user_name="default", engine=s.engine,
            access_string=DISABLED_ACCESS,
            authentication_mode={"type": "password",
                                 "passwords": [passwords.generate(f"{name}-default-user-password", cache)]},
            tags=cache._tags(default_id), opts=named)
        app_id = naming.elasticache_id(cache._stack, name, "app", "ElastiCache user id")
        current, accepted = app_passwords(cache, s.rotation)
        app_user = aws.elasticache.User(
            f"{name}-app-user", user_id=app_id, user_name=app_id, engine=s.engine, access_string=APP_ACCESS,
            authentication_mode={"type": "password", "passwords": accepted},
            tags=cache._tags(app_id), opts=named)
        group_id = naming.elasticache_id(cache._stack, name, "", "ElastiCache user group id")
        group = aws.elasticache.UserGroup(
            f"{name}-users", user_group_id=group_id, engine=s.engine,
            user_ids=[default_user.user_id, app_user.user_id], tags=cache._tags(group_id), opts=named)
        user_group_id, username = group.user_group_id, app_id
        dependencies.append(app_user.arn)
        cache._ids["userGroupId"] = group_id
    snapshot_time = s.snapshot_window.split("-")[0] if s.snapshot_window else None
    server = aws.elasticache.ServerlessCache(
        f"{name}-serverless",
        name=cache_name,
        description=f"cache-patterns {cache._stack}/{name}",
        engine=s.engine,
        major_engine_version=s.engine_version.split(".")[0],
        cache_usage_limits={"data_storage": {"maximum": limits.data_storage_gb, "unit": "GB"},
                            "ecpu_per_seconds": [{"maximum": limits.ecpu_per_second}]},
        kms_key_id=s.kms_key_arn,
        security_group_ids=[sg.id],
        subnet_ids=network.subnet_ids,
        snapshot_retention_limit=s.snapshot_retention,
        daily_snapshot_time=snapshot_time,
        **snapshots.serverless_args(s),
        user_group_id=user_group_id,
        tags=cache._tags(cache_name),
        opts=pulumi.ResourceOptions(parent=cache, protect=cache._production, retain_on_delete=cache._production,
                                    delete_before_replace=True),
    )
    cache._ids.update(serverlessCacheName=cache_name, arn=server.arn)
    if cache._alarm_topic is not None:
        watch.alarms(cache, name, cache._stack, s, cache._obs, cache._alarm_topic, cache._tags, serverless_name=server.name)
    password = (pulumi.Output.all(server.arn, *dependencies, current).apply(lambda v: v[-1])
                if current is not None else None)
    return Endpoint(
        host=server.endpoints.apply(lambda eps: first(eps, "address")),
        port=server.endpoints.apply(lambda eps: int(first(eps, "port") or PRIMARY_PORT)),
        read_host=server.reader_endpoints.apply(lambda eps: first(eps, "address")),
        read_port=server.reader_endpoints.apply(lambda eps: int(first(eps, "port") or SERVERLESS_READ_PORT)),
        username=username, password=password,
    )


def app_passwords(cache: Any, rotation: Rotation) -> tuple[pulumi.Output[str], list[pulumi.Output[str]]]:
    """The app user's password and every password the user accepts. An ElastiCache user holds up
    to two passwords, so rotation uses two generators that take turns: slot a changes on odd
    generations, slot b on even ones; the other slot still holds the previous password, accepted
    until `strategy: set` drops it (the same two runs as the AUTH token's ROTATE, then SET)."""
    gen = rotation.generation
    slot_a = passwords.generate(f"{cache._name}-app-password-a", cache, (gen + 1) // 2)
    if gen == 1:
        return slot_a, [slot_a]
    slot_b = passwords.generate(f"{cache._name}-app-password-b", cache, gen // 2)
    current, previous = (slot_a, slot_b) if gen % 2 else (slot_b, slot_a)
    return current, [current, previous] if rotation.strategy == "rotate" else [current]


def token_strategy(rotation: Rotation) -> str:
    """ROTATE keeps the old token valid beside the new one; SET (allowed only after ROTATE) keeps only
    the new one. Values and semantics: ModifyReplicationGroup AuthTokenUpdateStrategy (AWS SDK docs)."""
    return "SET" if rotation.strategy == "set" else "ROTATE"
