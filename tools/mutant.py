"""One planted fault of the mutation check (tools/mutate.py; the lists: tools/mutants.py,
tools/mutants_backup.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    fault: str           # what a user would suffer
    path: str            # file to edit, relative to the tree
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids (a file, or file::function) that must fail
    count: int = 1
