"""cache-patterns: a Redis cache next to apps on Kubernetes, in the pattern each stack's config picks.

This file only composes: config (validated before any resource exists) -> program -> outputs.
"""
import pulumi

from cache_patterns import program, stack_reader
from cache_patterns.core import ownership

cfg = stack_reader.load()  # raises ConfigError, listing every problem, before any resource exists
ownership.label_every_object(cfg.stack)
for key, message in cfg.warnings:  # what the plan advises against but does not stop (docs/planning.md)
    pulumi.log.warn(f"{key}: {message}")

for name, value in program.deploy(cfg).items():
    pulumi.export(name, value)
