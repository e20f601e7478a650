"""The `--rows` option of the benchmarks that measure variants of a stack (failover, partition): each
row has a `key`; the option names some of them, in the order to run."""
from __future__ import annotations

import argparse
from typing import Protocol, Sequence, TypeVar


class Row(Protocol):
    key: str


R = TypeVar("R", bound=Row)


def add_rows_option(ap: argparse.ArgumentParser, rows: Sequence[Row]) -> None:
    ap.add_argument("--rows", default=",".join(r.key for r in rows),
                    help=f"comma-separated rows: {', '.join(r.key for r in rows)} (default: all)")


def chosen_rows(ap: argparse.ArgumentParser, spec: str, rows: Sequence[R]) -> list[R]:
    """The rows `spec` names, in its order; an unknown key is an error naming the known ones."""
    by_key = {r.key: r for r in rows}
    keys = [k for k in spec.split(",") if k]
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        ap.error(f"unknown row(s) {', '.join(unknown)}; rows: {', '.join(by_key)}")
    return [by_key[k] for k in keys]
