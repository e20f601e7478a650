"""The one password generator for every pattern, and the per-namespace Secrets apps read it from.

Passwords are alphanumeric so they are safe in a URL (CACHE_URL), in redis.conf, in an ElastiCache
AUTH token and in a shell, and long enough (48 characters, ~285 bits) that no character set is needed.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from cache_patterns.core.contract import PASSWORD_KEY, SecretRef

PASSWORD_LENGTH = 48


def generate(name: str, parent: pulumi.Resource, generation: int = 1,
             protect: bool = False) -> pulumi.Output[str]:
    """A new random password, as a secret Output. Bumping `generation` replaces it (rotation)."""
    pw = random.RandomPassword(
        name, length=PASSWORD_LENGTH, special=False, upper=True, lower=True, numeric=True,
        min_upper=4, min_lower=4, min_numeric=4, keepers={"generation": str(generation)},
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
    # The real engine marks RandomPassword.result secret; the mock engine does not. Be explicit.
    return pulumi.Output.secret(pw.result)


def namespace_secret(name: str, namespace: str, password: pulumi.Input[str] | None, parent: pulumi.Resource,
                     labels: dict[str, str], extra: dict[str, pulumi.Input[str]] | None = None) -> SecretRef:
    """A Secret holding the password in one app namespace (pods can only mount Secrets of their own
    namespace). Auto-named, so a changed password makes a new Secret and the pods that use it roll.
    `extra` adds keys (ACL users' passwords); with `password` None the Secret holds only those (a
    namespace whose apps all authenticate as ACL users never sees the default password), and the
    reference is to its first extra key."""
    if password is None and not extra:
        raise ValueError(f"{name}: a Secret needs the password or at least one extra key")
    data = {PASSWORD_KEY: pulumi.Output.secret(password)} if password is not None else {}
    for key, value in (extra or {}).items():
        data[key] = pulumi.Output.secret(value)
    secret = k8s.core.v1.Secret(
        name,
        metadata={"namespace": namespace, "labels": labels},
        type="Opaque",
        string_data=data,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return SecretRef(name=secret.metadata.name, key=next(iter(data)))
