"""Where pattern 1's ElastiCache lives: the network from stack config or from the cluster's stack
(a StackReference), checked when its outputs arrive, naming the config key."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pulumi


@dataclass(frozen=True)
class Network:
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    client_security_group_ids: pulumi.Input[Sequence[str]]


def as_list(value: Any, key: str, stack: str, output: str) -> list[str]:
    """A StackReference output holding one id or a list of ids, as a list (errors name the config key)."""
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ValueError(f"aws.networkFrom.{key}: output {output!r} of stack {stack!r} must be an id or a "
                     f"non-empty list of ids, got {value!r}")


def subnets(value: Any, stack: str, output: str) -> list[str]:
    ids = as_list(value, "subnetIdsOutput", stack, output)
    if len(ids) < 2:
        raise ValueError(f"aws.networkFrom.subnetIdsOutput: output {output!r} of stack {stack!r} needs at least "
                         f"2 private subnets (in different AZs), got {len(ids)}")
    return ids


def vpc(value: Any, stack: str, output: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"aws.networkFrom.vpcIdOutput: output {output!r} of stack {stack!r} must be a VPC id, "
                         f"got {value!r}")
    return value


def first(items: Sequence[Any] | None, attr: str) -> Any:
    """`attr` of the first endpoint (typed output objects, or plain dicts)."""
    if not items:
        return None
    item = items[0]
    return item.get(attr) if isinstance(item, dict) else getattr(item, attr)


def network_of(a: Any, name: str, parent: pulumi.Resource) -> Network:
    """The network of `aws` config: given explicitly, or read from the cluster's stack."""
    if a.network_from is None:
        return Network(vpc_id=a.vpc_id, subnet_ids=list(a.subnet_ids),
                       client_security_group_ids=list(a.client_security_group_ids))
    nf = a.network_from
    ref = pulumi.StackReference(f"{name}-network", stack_name=nf.stack, opts=pulumi.ResourceOptions(parent=parent))
    # Validated when the outputs arrive: a wrong shape fails the deployment naming the config key,
    # before any cache resource is created with it.
    return Network(
        vpc_id=ref.get_output(nf.vpc_id_output).apply(lambda v: vpc(v, nf.stack, nf.vpc_id_output)),
        subnet_ids=ref.get_output(nf.subnet_ids_output).apply(lambda v: subnets(v, nf.stack, nf.subnet_ids_output)),
        # The cluster stack may export one security group (a string) or several (a list).
        client_security_group_ids=ref.get_output(nf.client_security_group_ids_output).apply(
            lambda v: as_list(v, "clientSecurityGroupIdsOutput", nf.stack, nf.client_security_group_ids_output)),
    )
