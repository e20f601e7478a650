"""A program of your own using the cache-patterns components directly: one in-cluster Redis with
Sentinel failover (pattern 2) and one app wired to it. No stack-config schema: the settings are plain
values here, checked by the same models as a stack file's before anything exists (a misspelt key or
arg is an error naming it, with what is allowed).
"""
import pulumi
import pulumi_kubernetes as k8s

from cache_patterns import AppDeployment, RedisStatefulSet

config = pulumi.Config()
environment = config.get("environment") or "staging"
provider = k8s.Provider("k8s", context=config.get("kubeContext"))
opts = pulumi.ResourceOptions(provider=provider)

sessions = RedisStatefulSet("sessions", {
    "settings": {"replicas": 1, "memory": "256Mi", "maxmemoryPolicy": "noeviction"},
    "namespace": "cache",
    "apps": [{"name": "web", "namespace": "shop"}],
    "environment": environment,
}, opts)
app = AppDeployment("web", {
    "settings": {"namespace": "shop", "image": "ghcr.io/acme/web:1.0.0", "reads": ["CACHE_URL"]},
    "binding": sessions.binding("shop"),
    "environment": environment,
}, opts)

pulumi.export("write", pulumi.Output.concat(sessions.host, ":", sessions.port.apply(str)))
pulumi.export("appDns", app.dns_name)
