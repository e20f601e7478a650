"""Provider-computed outputs the mocks return for non-Kubernetes resources (the real provider would
compute them: endpoints, ARNs, ids), so Outputs that depend on them resolve as in a real deployment.
Hooks register themselves with `harness.output_hook`.

Values are deterministic (derived from the resource's name, its inputs and the provider's region) and
shaped like AWS's: `master.<id>.<6 chars>.<region code>.cache.amazonaws.com` and so on.
"""
from __future__ import annotations

import hashlib

from pulumi.runtime import mocks as pmocks

from tools import harness

ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
# Region of each explicit AWS provider, by provider resource name, recorded when the provider is
# registered (it always is before the resources that use it).
_REGIONS: dict[str, str] = {}
_DIRECTIONS = {"northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw", "central": "c",
               "north": "n", "south": "s", "east": "e", "west": "w"}


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def region_of(args: pmocks.MockResourceArgs) -> str:
    explicit = args.inputs.get("region")
    if explicit:
        return explicit
    # A provider reference is "<provider urn>::<provider id>"; the urn ends with "::<name>".
    parts = (args.provider or "").split("::")
    return _REGIONS.get(parts[-2], DEFAULT_REGION) if len(parts) >= 2 else DEFAULT_REGION


def region_code(region: str) -> str:
    """The short region code in ElastiCache host names: us-east-1 -> use1, ap-southeast-2 -> apse2."""
    area, *middle, number = region.split("-")
    return area + "".join(_DIRECTIONS.get(m, m[:1]) for m in middle) + number


def _arn(region: str, kind: str, name: str) -> str:
    return f"arn:aws:elasticache:{region}:{ACCOUNT}:{kind}:{name}"


@harness.output_hook("pulumi:providers:aws")
def _aws_provider(args: pmocks.MockResourceArgs, outputs: dict) -> dict:
    _REGIONS[args.name] = args.inputs.get("region") or DEFAULT_REGION
    return outputs


@harness.output_hook("aws:elasticache/replicationGroup:ReplicationGroup")
def _replication_group(args: pmocks.MockResourceArgs, outputs: dict) -> dict:
    region = region_of(args)
    rg_id = str(outputs.get("replicationGroupId") or args.name).lower()
    suffix = f"{rg_id}.{_hex(rg_id + region, 6)}.{region_code(region)}.cache.amazonaws.com"
    cluster = outputs.get("clusterMode") == "enabled" or outputs.get("numNodeGroups") is not None
    if cluster:
        shards = int(outputs.get("numNodeGroups") or 1)
        replicas = int(outputs.get("replicasPerNodeGroup") or 0)
        members = [f"{rg_id}-{s:04d}-{n:03d}" for s in range(1, shards + 1) for n in range(1, replicas + 2)]
        endpoints = {"configurationEndpointAddress": f"clustercfg.{suffix}"}
    else:
        nodes = int(outputs.get("numCacheClusters") or 1)
        members = [f"{rg_id}-{n:03d}" for n in range(1, nodes + 1)]
        endpoints = {"primaryEndpointAddress": f"master.{suffix}", "readerEndpointAddress": f"replica.{suffix}"}
    return {
        **outputs, **endpoints,
        "arn": _arn(region, "replicationgroup", rg_id),
        "port": int(outputs.get("port") or 6379),
        "memberClusters": members,
        "clusterEnabled": cluster,
        "engineVersionActual": f"{outputs.get('engineVersion', '7.1')}.0",
    }


@harness.output_hook("aws:elasticache/serverlessCache:ServerlessCache")
def _serverless_cache(args: pmocks.MockResourceArgs, outputs: dict) -> dict:
    region = region_of(args)
    name = str(outputs.get("name") or args.name)
    host = f"{name}-{_hex(name + region, 6)}.serverless.{region_code(region)}.cache.amazonaws.com"
    return {
        **outputs,
        "arn": _arn(region, "serverlesscache", name),
        "endpoints": [{"address": host, "port": 6379}],
        "readerEndpoints": [{"address": host, "port": 6380}],
        "fullEngineVersion": f"{outputs.get('majorEngineVersion', '8')}.0",
        "status": "available",
    }


@harness.output_hook("aws:ec2/securityGroup:SecurityGroup")
def _security_group(args: pmocks.MockResourceArgs, outputs: dict) -> dict:
    # The resource id itself is the harness's ("<name>-id"); the ARN carries a realistic sg- id.
    region = region_of(args)
    sg_id = f"sg-{_hex(args.name + region, 17)}"
    return {**outputs, "arn": f"arn:aws:ec2:{region}:{ACCOUNT}:security-group/{sg_id}",
            "ownerId": ACCOUNT, "name": outputs.get("name") or f"{args.name}-{_hex(args.name, 7)}"}


@harness.output_hook("aws:elasticache/subnetGroup:SubnetGroup")
def _subnet_group(args: pmocks.MockResourceArgs, outputs: dict) -> dict:
    name = str(outputs.get("name") or f"{args.name}-{_hex(args.name, 7)}").lower()
    return {**outputs, "name": name, "arn": _arn(region_of(args), "subnetgroup", name)}


@harness.output_hook("aws:elasticache/parameterGroup:ParameterGroup")
def _parameter_group(args: pmocks.MockResourceArgs, outputs: dict) -> dict:
    name = str(outputs.get("name") or f"{args.name}-{_hex(args.name, 7)}").lower()
    return {**outputs, "name": name, "arn": _arn(region_of(args), "parametergroup", name)}


@harness.output_hook("aws:cloudwatch/logGroup:LogGroup")
def _log_group(args: pmocks.MockResourceArgs, outputs: dict) -> dict:
    region = region_of(args)
    name = outputs.get("name") or f"{args.name}-{_hex(args.name, 7)}"
    return {**outputs, "name": name, "arn": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{name}"}


@harness.output_hook("aws:elasticache/user:User")
def _user(args: pmocks.MockResourceArgs, outputs: dict) -> dict:
    return {**outputs, "arn": _arn(region_of(args), "user", outputs.get("userId"))}


@harness.output_hook("aws:elasticache/userGroup:UserGroup")
def _user_group(args: pmocks.MockResourceArgs, outputs: dict) -> dict:
    group = outputs.get("userGroupId")
    return {**outputs, "arn": _arn(region_of(args), "usergroup", group)}


@harness.output_hook("aws:sns/topic:Topic")
def _topic(args: pmocks.MockResourceArgs, outputs: dict) -> dict:
    name = outputs.get("name") or f"{args.name}-{_hex(args.name, 7)}"
    return {**outputs, "name": name, "arn": f"arn:aws:sns:{region_of(args)}:{ACCOUNT}:{name}"}


@harness.output_hook("aws:cloudwatch/metricAlarm:MetricAlarm")
def _metric_alarm(args: pmocks.MockResourceArgs, outputs: dict) -> dict:
    name = outputs.get("name") or f"{args.name}-{_hex(args.name, 7)}"
    return {**outputs, "name": name, "arn": f"arn:aws:cloudwatch:{region_of(args)}:{ACCOUNT}:alarm:{name}"}
