"""One planted fault of the mutation check (tools/mutate.py): an exact text edit and the tests that must
catch it. Its own module so that groups of mutants kept in modules of their own can import it."""
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
