"""Resource planning: from what a cache holds and how it is written to maxmemory, container limits,
replica buffers, volumes, ElastiCache node types and serverless figures, for every pattern.

Pure functions and frozen dataclasses, no Pulumi and no config types: the config layer builds a
`Workload` and asks. Each figure names the rule (planning.rules) that produced it; docs/planning.md
documents the rules, their sources and the model's measured error.
"""
from .aws import DEFAULT_RESERVED_PERCENT, NodeType, node_types, smallest_node
from .headroom import GI, KI, MI, Headroom
from .memory import DEBIAN_QUANTUM, OFFICIAL_QUANTUM, Engine, KeyCost, Size, key_cost, regions
from .plan import (FATAL, SHORT, UNSAFE, Finding, NodePlan, PodPlan, PodSettings, ServerlessPlan, Workload,
                   default_headroom, fmt, plan_nodes, plan_pod, plan_serverless, pod_settings)
from .prices import PriceFileError, Prices
from .report import CacheInput, CacheReport, PodGroup, build, compare
from .text import to_json, to_text
from .rules import RULES

__all__ = [
    "DEFAULT_RESERVED_PERCENT", "NodeType", "node_types", "smallest_node", "GI", "KI", "MI", "Headroom",
    "DEBIAN_QUANTUM", "OFFICIAL_QUANTUM", "Engine", "KeyCost", "Size", "key_cost", "regions", "FATAL", "SHORT",
    "UNSAFE", "Finding", "NodePlan", "PodPlan", "PodSettings", "ServerlessPlan", "Workload", "default_headroom",
    "fmt", "plan_nodes", "plan_pod", "plan_serverless", "pod_settings", "PriceFileError", "Prices", "CacheInput",
    "CacheReport", "PodGroup", "build", "compare", "to_json", "to_text", "RULES",
]
