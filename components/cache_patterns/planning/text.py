"""Plan reports as text for people (tables that fit a terminal of `width` columns, long cells wrapped;
each missing price said once) and as JSON for tools (every figure, with the rule that produced it)."""
from __future__ import annotations

import json
import textwrap
from dataclasses import asdict

from .plan import fmt
from .report import NO_PRICE_FILE, CacheReport
from .rules import BY_ID

WIDTH = 120
MIN_COLUMN = 12


def table(rows: list[list[str]], width: int | None = WIDTH, indent: str = "  ") -> list[str]:
    """Rows as aligned columns. With a `width`, the widest columns are narrowed (never below
    MIN_COLUMN) until a line fits, and their cells wrap onto continuation lines."""
    columns = len(rows[0])
    widths = [max(len(r[i]) for r in rows) for i in range(columns)]
    gaps = len(indent) + 2 * (columns - 1)
    while width is not None and sum(widths) + gaps > width:
        widest = max(range(columns), key=lambda i: widths[i])
        if widths[widest] <= MIN_COLUMN:
            break
        widths[widest] -= 1
    out = []
    for row in rows:
        cells = [textwrap.wrap(c, widths[i], break_long_words=True) or [""] for i, c in enumerate(row)]
        for line in range(max(len(c) for c in cells)):
            parts = [(c[line] if line < len(c) else "").ljust(widths[i]) for i, c in enumerate(cells)]
            out.append((indent + "  ".join(parts)).rstrip())
    return out


def _current(r) -> str:
    if r.current is None:
        return ""
    return f"{r.shown_current()} ({r.origin})" if r.origin else r.shown_current()


def report_text(rep: CacheReport, width: int | None = WIDTH) -> list[str]:
    out = [f"== {rep.stack} / {rep.name}: pattern {rep.pattern}, {rep.engine}; model: {rep.coverage}", "inputs"]
    out += table([[r.name, r.shown(), r.origin] for r in rep.inputs], width)
    if rep.derived:
        out.append("derived (rule ids: the rules below, or docs/planning.md)")
        out += table([["figure", "planned", "this stack", "rule"]] +
                     [[r.name, r.shown(), _current(r), r.rule] for r in rep.derived], width)
    out.append(f"the same workload in each shape (prices for {rep.region})")
    rows = [["shape", "fits", "units", "memory each", "memory total", "cost", "note"]]
    for o in rep.options:
        rows.append([o.pattern + (" *" if o.current else ""), "yes" if o.fits else "no", o.units,
                     fmt(o.each) if o.each else "-", fmt(o.total) if o.total else "-", o.cost.cell(), o.note])
    out += table(rows, width)
    for o in rep.options:
        for src in o.cost.sources:
            out += _wrap(f"{o.pattern} cost: {o.cost.formula}; source: {src}", width)
        if o.cost.usd_per_month is None and o.cost.formula != NO_PRICE_FILE:
            out += _wrap(f"{o.pattern} cost unknown: {o.cost.formula}", width)
    if rep.findings:
        out.append("findings")
        for f in rep.findings:
            out += _wrap(f"{f.severity}: caches.{rep.name}.{f.key}: {f.message}", width)
    for n in rep.notes:
        out += _wrap(f"note: {n}", width)
    return out + [""]


def _wrap(line: str, width: int | None, indent: str = "  ") -> list[str]:
    return textwrap.wrap(line, width or 10**6, initial_indent=indent, subsequent_indent=indent + "  ")


def to_text(reports: list[CacheReport], legend: bool = True, width: int | None = WIDTH) -> str:
    """Every report, then (with `legend`) the rules they used and, once, how to price what is unpriced."""
    out: list[str] = []
    for rep in reports:
        out += report_text(rep, width)
    if not legend:
        return "\n".join(out).rstrip() + "\n"
    if any(o.cost.formula == NO_PRICE_FILE for rep in reports for o in rep.options):
        out += textwrap.wrap("costs: no price file was given, so Kubernetes memory and ElastiCache nodes are not "
                             "priced (\"-\"); pass --prices FILE with rows for them (format and an example: "
                             "docs/planning.md); serverless uses AWS's published rates where they exist.",
                             width or 10**6)
        out.append("")
    used = list(dict.fromkeys(r for rep in reports for r in rep.rules))
    if used:
        out.append("rules")
        for rid in used:
            rule = BY_ID[rid]
            out += _wrap(f"{rid}: {rule.formula}", width)
            out += _wrap(f"source: {rule.source}", width, "    ")
    return "\n".join(out) + "\n"


def to_json(reports: list[CacheReport]) -> str:
    used = list(dict.fromkeys(r for rep in reports for r in rep.rules))
    doc = {
        "caches": [
            {**{k: v for k, v in asdict(rep).items() if k not in ("options", "findings")},
             "options": [{**asdict(o), "cost": {**asdict(o.cost), "shown": o.cost.shown()}} for o in rep.options],
             "findings": [asdict(f) for f in rep.findings]}
            for rep in reports],
        "rules": {rid: asdict(BY_ID[rid]) for rid in used},
    }
    return json.dumps(doc, indent=1, default=str) + "\n"
