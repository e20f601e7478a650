"""A program of your own using the cache-patterns components directly: one in-cluster Redis with
Sentinel failover (pattern 2) and one app wired to it. No stack-config schema: the settings are
plain values here, checked by the same models (`parse_settings`, `parse_app`) before anything exists.
"""
import pulumi
import pulumi_kubernetes as k8s

from cache_patterns import AppDeployment, RedisStatefulSet, parse_app, parse_settings

config = pulumi.Config()
environment = config.get("environment") or "staging"
provider = k8s.Provider("k8s", context=config.get("kubeContext"))
opts = pulumi.ResourceOptions(provider=provider)

settings = parse_settings({"pattern": "statefulset", "replicas": 1, "memory": "256Mi", "maxmemoryPolicy": "noeviction"},
                          environment=environment)
web = parse_app({"name": "web", "namespace": "shop", "image": "ghcr.io/acme/web:1.0.0", "cache": "sessions",
                 "reads": ["CACHE_URL"]})

sessions = RedisStatefulSet("sessions", {
    "cache": "sessions", "settings": settings, "stack": pulumi.get_stack(), "namespace": "cache",
    "apps": [web], "environment": environment, "cluster_domain": "cluster.local",
}, opts)
app = AppDeployment("web", {"app": web, "binding": sessions.binding("shop"),
                            "disruption_budget": environment != "development", "cluster_domain": "cluster.local"}, opts)

pulumi.export("write", sessions.discovery["write"])
pulumi.export("appDns", app.dns_name)
