"""cache-patterns: a Redis cache next to apps on Kubernetes, in the pattern each stack's config picks.

This file only composes: config (validated before any resource exists) -> program -> outputs.
"""
import pulumi

from cache_patterns import engine, program

cfg = engine.load()  # raises ConfigError, listing every problem, before any resource exists

for name, value in program.deploy(cfg).items():
    pulumi.export(name, value)
