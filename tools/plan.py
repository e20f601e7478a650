"""Plan each cache of each stack from its workload (`capacity`): the inputs, every derived figure with
the rule that produced it, and the same workload under every pattern, with a cost only where a price
has a source (published serverless rates, or a --prices file).

    python -m tools.plan [STACK ...] [--all] [--file STACKFILE] [--json] [--prices FILE] [--region REGION] [--wide]
    python -m tools.plan --write-docs     regenerate the generated sections of docs/planning.md

Exits 2 when a stack's config is refused (every problem is printed at once, as `file:line: key:
message`, like `./run render`), 1 when a price file is invalid. Text fits 120 columns (--wide: no limit).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cache_patterns import planning
from cache_patterns import stack_reader
from cache_patterns import stack as config
from cache_patterns.config.errors import ConfigError
from tools import docs, harness

DOCS = harness.ROOT / "docs" / "planning.md"
EXAMPLE = harness.ROOT / "docs" / "planning-example.yaml"
EXAMPLE_PRICES = harness.ROOT / "docs" / "prices.example.csv"


def parse_stack(stack_config: dict, stack: str) -> config.StackConfig:
    """A stack file's `config:`, parsed as the program parses it (secure values as placeholders), with
    every problem at once: those of reading the keys (an unknown one, a secret where it cannot stay one)
    and those of their values."""
    flat, secret_keys = harness.engine_config(stack_config, harness.secure_placeholder)
    secret = frozenset(secret_keys)
    values, problems = stack_reader.decode_all(flat, secret)
    return config.parse(values, stack, secret_keys=secret, problems=problems)


def load(stack: str) -> config.StackConfig:
    return parse_stack(harness.load_stack_config(stack), stack)


def load_file(path: Path) -> config.StackConfig:
    return parse_stack(stack_reader.read_stack_file(Path(path)), Path(path).stem.removeprefix("Pulumi."))


def cache_input(cfg: config.StackConfig, name: str) -> planning.CacheInput | None:
    """The planner's view of one cache (its pattern's settings say what), or None when it states no workload."""
    return cfg.caches[name].plan_input(cfg.stack, name, cfg.apps_of(name), cfg.environment,
                                       cfg.aws.region if cfg.aws else None)


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
    parser.add_argument("--wide", action="store_true", help=f"do not fit the tables to {planning.text.WIDTH} columns")
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
    sources = [(harness.stack_file(s), lambda s=s: load(s)) for s in stacks] + \
        [(Path(f), lambda f=f: load_file(Path(f))) for f in args.file]
    for path, loader in sources:
        try:
            got, skip = reports(loader(), prices, args.region)
        except ConfigError as exc:
            n = len(exc.problems)
            print(f"{path}: invalid stack config ({n} problem{'s' * (n != 1)}):", file=sys.stderr)
            for line in stack_reader.located(path, exc.problems):
                print(f"  {line}", file=sys.stderr)
            failed = True
            continue
        except OSError as exc:
            print(f"{path}: {exc.strerror or exc}", file=sys.stderr)
            failed = True
            continue
        all_reports += got
        skipped += skip
    if args.json:
        sys.stdout.write(planning.to_json(all_reports))
    else:
        sys.stdout.write(planning.to_text(all_reports, width=None if args.wide else planning.text.WIDTH))
        for line in skipped:
            print(line)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
