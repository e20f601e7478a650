"""Prices the user supplies (`./run plan --prices FILE`): node-hours, Kubernetes memory, and serverless
rates for regions without a published one. The planner never invents a price: without a row it
says "price unknown".

The file is CSV with a header. Columns: type, region, usd_per_hour, source, date, and optionally
engine. Lines starting with '#' are comments.

    type,region,usd_per_hour,source,date,engine
    cache.m7g.large,eu-west-1,0.178,AWS Price List API (AmazonElastiCache offer file),2026-11-20,valkey
    kubernetes-memory-gib,*,0.004445,AWS Fargate pricing page (Linux/x86 per GB-hour),2026-03-01,

type: an ElastiCache node type (price per node-hour), kubernetes-memory-gib (per GiB-hour of container
memory request), serverless-gb (per GB-hour of data stored) or serverless-million-ecpu (the price of
one million ECPU, not an hourly price). region: an AWS region, or * for any. date: YYYY-MM or
YYYY-MM-DD. engine: redis, valkey, or empty for both.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from . import aws

HOURS_PER_MONTH = 730  # AWS's pricing pages and calculator bill a month as 730 hours
SPECIAL_TYPES = ("kubernetes-memory-gib", "serverless-gb", "serverless-million-ecpu")
COLUMNS = ("type", "region", "usd_per_hour", "source", "date")
OPTIONAL = ("engine",)
REGION = re.compile(r"\*|[a-z]{2}(-[a-z]+)+-\d")
DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?")
ENGINES = ("redis", "valkey")


class PriceFileError(ValueError):
    """Every problem of a price file, one per line, each naming the line, the column and the value."""

    def __init__(self, path: str, problems: list[str]):
        self.problems = problems
        n = len(problems)
        super().__init__(f"{path}: {n} problem{'s' if n != 1 else ''}:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Price:
    type: str
    region: str
    usd_per_hour: float
    source: str
    date: str
    engine: str = ""

    def cite(self) -> str:
        return f"{self.source}, {self.date} (--prices)"


class Prices:
    """The rows of a price file, looked up by type, region and engine (exact region before `*`,
    a row for the engine before one for both)."""

    def __init__(self, rows: list[Price], path: str = ""):
        self.rows, self.path = rows, path

    def find(self, type_: str, region: str | None, engine: str | None) -> Price | None:
        best = None
        for row in self.rows:
            if row.type != type_ or row.engine not in ("", engine or ""):
                continue
            if row.region not in ("*", region):
                continue
            rank = (row.region != "*", row.engine != "")
            if best is None or rank > best[0]:
                best = (rank, row)
        return best[1] if best else None


NO_PRICES = Prices([])


def parse(text: str, path: str = "prices") -> Prices:
    """Parse and validate a price file; raises PriceFileError listing every problem."""
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")]
    if not lines:
        raise PriceFileError(path, [f"no header row: expected columns {', '.join(COLUMNS)}[, engine]"])
    reader = csv.reader(io.StringIO("\n".join(line for _, line in lines)))
    rows = list(reader)
    header = [h.strip() for h in rows[0]]
    problems: list[str] = []
    missing = [c for c in COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS + OPTIONAL]
    if missing:
        problems.append(f"line {lines[0][0]}: header lacks column(s) {', '.join(missing)} "
                        f"(expected {', '.join(COLUMNS)}[, engine])")
    if unknown:
        problems.append(f"line {lines[0][0]}: unknown column(s) {', '.join(unknown)} "
                        f"(allowed: {', '.join(COLUMNS + OPTIONAL)})")
    if problems:
        raise PriceFileError(path, problems)
    nodes = aws.node_types()
    out: list[Price] = []
    seen: dict[tuple[str, str, str], int] = {}
    for (lineno, _), cells in zip(lines[1:], rows[1:]):
        if len(cells) != len(header):
            problems.append(f"line {lineno}: {len(cells)} cells, the header has {len(header)}")
            continue
        row = {h: c.strip() for h, c in zip(header, cells)}
        bad = []
        t = row["type"]
        if t not in nodes and t not in SPECIAL_TYPES:
            hint = "an ElastiCache node type the planner knows" if t.startswith("cache.") else "a type"
            bad.append(f"type: {t!r} is not {hint} (node types such as cache.m7g.large, or one of "
                       f"{', '.join(SPECIAL_TYPES)})")
        if not REGION.fullmatch(row["region"]):
            bad.append(f"region: {row['region']!r} is not an AWS region such as eu-west-1, or *")
        try:
            usd = float(row["usd_per_hour"])
            if not usd > 0 or usd != usd or usd == float("inf"):
                raise ValueError
        except ValueError:
            bad.append(f"usd_per_hour: must be a positive number of US dollars, got {row['usd_per_hour']!r}")
            usd = 0.0
        if not row["source"]:
            bad.append("source: is required (where the price comes from: a price page, an API, an invoice)")
        if not DATE.fullmatch(row["date"]):
            bad.append(f"date: must be YYYY-MM or YYYY-MM-DD (when the price was read), got {row['date']!r}")
        engine = row.get("engine", "")
        if engine not in ("",) + ENGINES:
            bad.append(f"engine: {engine!r} is not one of {', '.join(ENGINES)} (or empty for both)")
        key = (t, row["region"], engine)
        if not bad and key in seen:
            bad.append(f"type {t}, region {row['region']}, engine {engine or 'any'} is already priced on line {seen[key]}")
        problems += [f"line {lineno}: {b}" for b in bad]
        if not bad:
            seen[key] = lineno
            out.append(Price(t, row["region"], usd, row["source"], row["date"], engine))
    if problems:
        raise PriceFileError(path, problems)
    return Prices(out, path)


def load(path: str | Path) -> Prices:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise PriceFileError(str(p), [f"cannot read the file: {exc.strerror or exc}"]) from exc
    return parse(text, str(p))
