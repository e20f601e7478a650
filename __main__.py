"""cache-patterns: a Redis cache next to apps on Kubernetes, in the pattern each stack's config picks.

This file only composes: config -> providers and namespaces -> caches -> apps -> outputs.
"""
import pulumi

from components import caches, config, ownership, platform
from components.app import AppDeployment

cfg = config.load()  # raises ConfigError, listing every problem, before any resource exists
ownership.label_every_object(cfg.stack)
for key, message in cfg.warnings:  # what the plan advises against but does not stop (docs/planning.md)
    pulumi.log.warn(f"{key}: {message}")

k8s_provider = platform.kubernetes_provider(cfg)
aws_provider = platform.aws_provider(cfg)
providers = [p for p in (k8s_provider, aws_provider) if p is not None]
namespaces = platform.namespaces(cfg, pulumi.ResourceOptions(provider=k8s_provider))
opts = pulumi.ResourceOptions(providers=providers, depends_on=namespaces)

built = {name: caches.build(name, cfg, opts) for name in cfg.caches}

apps = {
    app.name: AppDeployment(
        app.name,
        {"app": app, "binding": caches.binding(built[app.cache], app),
         "disruption_budget": cfg.environment != "development", "cluster_domain": cfg.cluster_domain},
        opts,
    )
    for app in cfg.apps
}

pulumi.export("environment", cfg.environment)
pulumi.export("caches", {name: cache.discovery for name, cache in built.items()})
pulumi.export("apps", {name: {"namespace": cfg_app.namespace, "cache": cfg_app.cache,
                              "dnsName": apps[name].dns_name, "deployment": apps[name].deployment.metadata.name}
                       for name, cfg_app in ((a.name, a) for a in cfg.apps)})
