"""Plan each cache of each stack from its workload (`capacity`): the inputs, every derived figure with
the rule that produced it, and the same workload under every pattern, with a cost only where a price
has a source (published serverless rates, or a --prices file).

    python -m tools.plan [STACK ...] [--all] [--file STACKFILE] [--json] [--prices FILE] [--region REGION]
    python -m tools.plan --write-docs     regenerate the generated sections of docs/planning.md

Exits 2 when a stack's config is refused (its problems are printed), 1 when a price file is invalid.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from cache_patterns import planning
from cache_patterns import engine
from cache_patterns import stack as config
from cache_patterns.config.errors import ConfigError
from tools import docs, harness

DOCS = harness.ROOT / "docs" / "planning.md"
EXAMPLE = harness.ROOT / "docs" / "planning-example.yaml"
EXAMPLE_PRICES = harness.ROOT / "docs" / "prices.example.csv"


def parse_stack(stack_config: dict, stack: str) -> config.StackConfig:
    """A stack file's `config:`, parsed as the program parses it (secure values as placeholders)."""
    flat, secret_keys = harness.engine_config(stack_config, harness.secure_placeholder)
    return config.parse(engine.decode(flat, stack, frozenset(secret_keys)), stack)


def load(stack: str) -> config.StackConfig:
    return parse_stack(harness.load_stack_config(stack), stack)


def load_file(path: Path) -> config.StackConfig:
    data = yaml.safe_load(Path(path).read_text()) or {}
    return parse_stack(data.get("config") or {}, Path(path).stem)


def _origins(c: config.CacheConfig, pods: str) -> dict[str, str]:
    cap = c.capacity
    o = {"keys": "capacity.keys", "valueBytes": "capacity.valueBytes",
         "keyBytes": "capacity.keyBytes" if cap.key_bytes != planning.Size.fixed(32) else "capacity.keyBytes (default)",
         "maxmemoryPolicy": f"maxmemoryPolicy {c.maxmemory_policy}", "engine": "engine, version"}
    o["ttlPercent"] = "capacity.ttlPercent" if cap.ttl_percent is not None else \
        "defaultTtl set: every key" if c.default_ttl is not None else "no defaultTtl: none"
    if cap.writes_per_second is not None:
        o["writesPerSecond"] = "capacity.writesPerSecond"
    if cap.reads_per_second is not None:
        o["readsPerSecond"] = "capacity.readsPerSecond"
    if c.pattern == "statefulset":
        o |= {"persistence": "persistence", "replicas": "replicas"}
    elif c.pattern == "operator":
        o |= {"persistence": "storage (the operator's image saves RDB to it)" if c.storage else "no storage",
              "replicas": "replicas", "shards": "shards"}
    elif c.pattern == "external":
        o |= {"persistence": "ElastiCache snapshots without forking", "replicas": "replicas", "shards": "shards"}
    else:
        o |= {"persistence": "a sidecar never persists", "replicas": "a sidecar has none"}
    o["pods"] = "capacity.pods" if cap.pods is not None else pods
    return o


def cache_input(cfg: config.StackConfig, name: str) -> planning.CacheInput | None:
    """The planner's view of one cache, or None when it states no workload."""
    c = cfg.caches[name]
    if c.capacity is None:
        return None
    bound = cfg.apps_of(name)
    pods = sum(a.replicas for a in bound) or None
    pod_origin = ("bound apps: " + ", ".join(f"{a.name} x{a.replicas}" for a in bound)) if bound else "no bound apps"
    w = config.workload(c, pods)
    common = dict(stack=cfg.stack, name=name, engine=config.engine_of(c), workload=w, origins=_origins(c, pod_origin),
                  region=cfg.aws.region if cfg.aws else None, l1_memory=c.l1.memory if getattr(c, "l1", None) else None)
    if c.pattern == "external":
        kind = {"elasticache": "elasticache", "elasticache-serverless": "elasticache-serverless"}.get(c.kind, "endpoint")
        limits = (c.limits.data_storage_gb, c.limits.ecpu_per_second) if c.limits else None
        return planning.CacheInput(pattern=kind, node_type=c.node_type, reserved_percent=c.reserved_percent,
                                   limits=limits, **common)
    return planning.CacheInput(pattern=c.pattern, memory=c.memory, maxmemory_percent=c.maxmemory_percent,
                               storage=getattr(c, "storage", None), default_memory=c.DEFAULT_MEMORY,
                               default_percent=c.DEFAULT_PERCENT, **common)


def reports(cfg: config.StackConfig, prices: planning.Prices,
            region: str | None) -> tuple[list[planning.CacheReport], list[str]]:
    """Reports of a stack's caches, and a line for each cache without a workload."""
    out, skipped = [], []
    for name in cfg.caches:
        inp = cache_input(cfg, name)
        if inp is None:
            skipped.append(f"{cfg.stack} / {name}: no `capacity`: nothing to plan (state the workload to get a plan)")
        else:
            out.append(planning.build(inp, prices, region))
    return out, skipped


# ---- docs/planning.md ------------------------------------------------------------------------------------

def rules_table() -> str:
    out = ["| rule | figure | how | source |", "|---|---|---|---|"]
    for r in planning.RULES:
        out.append(f"| `{r.id}` | {r.title} | {r.formula} | {r.source} |")
    return "\n".join(out) + "\n"


def example_table() -> str:
    reps, _ = reports(load_file(EXAMPLE), planning.prices.load(EXAMPLE_PRICES), None)
    return "```text\n" + planning.to_text(reps, legend=False) + "```\n"


DOC_SECTIONS = {"planning-rules": rules_table, "planning-example": example_table}


def apply_docs(text: str) -> str:
    return docs.apply(text, DOC_SECTIONS, str(DOCS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", help="stack names (default: the embedded default, local)")
    parser.add_argument("--all", action="store_true", help="every committed stack")
    parser.add_argument("--file", action="append", default=[], help="a stack file outside stacks/ (repeatable)")
    parser.add_argument("--json", action="store_true", help="the same data as JSON")
    parser.add_argument("--prices", help="a price file (format: components/cache_patterns/planning/prices.py, docs/planning.md)")
    parser.add_argument("--region", help="the AWS region to price in (default: the stack's aws.region, else us-east-1)")
    parser.add_argument("--write-docs", action="store_true", help="regenerate the sections of docs/planning.md")
    args = parser.parse_args(argv)
    if args.write_docs:
        DOCS.write_text(apply_docs(DOCS.read_text()))
        return 0
    stacks = harness.list_stacks() if args.all else (args.stacks or ([] if args.file else ["local"]))
    unknown = [s for s in stacks if s not in harness.list_stacks()]
    if unknown:
        print(f"unknown stack(s): {', '.join(unknown)} (stacks: {', '.join(harness.list_stacks())})", file=sys.stderr)
        return 2
    try:
        prices = planning.prices.load(args.prices) if args.prices else planning.prices.NO_PRICES
    except planning.PriceFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    all_reports, skipped, failed = [], [], False
    sources = [(s, lambda s=s: load(s)) for s in stacks] + [(f, lambda f=f: load_file(Path(f))) for f in args.file]
    for label, loader in sources:
        try:
            got, skip = reports(loader(), prices, args.region)
        except ConfigError as exc:
            print(f"{label}: {exc}", file=sys.stderr)
            failed = True
            continue
        except OSError as exc:
            print(f"{label}: {exc.strerror or exc}", file=sys.stderr)
            failed = True
            continue
        all_reports += got
        skipped += skip
    if args.json:
        sys.stdout.write(planning.to_json(all_reports))
    else:
        sys.stdout.write(planning.to_text(all_reports))
        for line in skipped:
            print(line)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
