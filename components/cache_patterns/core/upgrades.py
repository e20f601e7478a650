"""Which engine version changes a cache can take in place, from upstream's sources: the RDB format each
line writes and which formats it loads, because a rolling upgrade has the new servers replicate from
the old primary (the new one loads the old one's RDB) and a restarted pod loads its own files.

A step is safe when the new line loads what the old one writes and it does not skip a stepping stone;
anything else (a downgrade, Redis 7.4+ to Valkey, a jump into Valkey 9 from below 8.1) is refused,
naming the path that works. docs/upgrades.md shows the same table; tests/test_upgrades.py holds both
to it.
"""
from __future__ import annotations

from dataclasses import dataclass

REDIS_MAGIC, VALKEY_MAGIC = "REDIS", "VALKEY"
# RDB 12-79 are Redis formats Valkey never loads (valkey src/rdb.h RDB_FOREIGN_VERSION_MIN/MAX).
FOREIGN = range(12, 80)


@dataclass(frozen=True, kw_only=True)
class Line:
    """One engine line (major.minor): what it writes, what it loads, where that was read."""

    engine: str
    version: str
    rdb: int                       # RDB_VERSION it writes (src/rdb.h)
    magic: str                     # the file's magic: REDIS0011 / VALKEY080
    loads_foreign: bool            # a Valkey that refuses RDB 12-79 whatever the version check
    relaxed_check: bool = False    # has `rdb-version-check relaxed` (loads newer VALKEY-magic files, best effort)
    feeds_older_replicas: bool = False  # sends a replica the newest RDB its REPLCONF version reads (diskless)
    source: str
    run_here: str | None = None    # the patch release the live tier runs, if any

    @property
    def key(self) -> tuple[str, str]:
        return self.engine, self.version

    @property
    def number(self) -> tuple[int, int]:
        major, minor = self.version.split(".")
        return int(major), int(minor)

    def __str__(self) -> str:
        return f"{self.engine} {self.version}"

    def loads(self, other: "Line") -> bool:
        """Whether this line loads (with the default strict check) the RDB `other` writes."""
        if self.engine == "valkey" and other.magic == REDIS_MAGIC and other.rdb in FOREIGN:
            return False
        if self.magic == REDIS_MAGIC and other.magic == VALKEY_MAGIC:
            return False
        return other.rdb <= self.rdb


LINES = (
    Line(engine="redis", version="7.0", rdb=10, magic=REDIS_MAGIC, loads_foreign=True,
         source="redis/redis 7.0.15 src/rdb.h", run_here="7.0.15"),
    Line(engine="redis", version="7.2", rdb=11, magic=REDIS_MAGIC, loads_foreign=True,
         source="redis/redis 7.2.6 src/rdb.h"),
    Line(engine="redis", version="7.4", rdb=12, magic=REDIS_MAGIC, loads_foreign=True,
         source="redis/redis 7.4.1 src/rdb.h"),
    Line(engine="redis", version="8.0", rdb=12, magic=REDIS_MAGIC, loads_foreign=True,
         source="redis 8.0.6 (Debian's orig tarball) src/rdb.h"),
    Line(engine="valkey", version="7.2", rdb=11, magic=REDIS_MAGIC, loads_foreign=False,
         source="valkey-io/valkey 7.2.7 src/rdb.h"),
    Line(engine="valkey", version="8.0", rdb=11, magic=REDIS_MAGIC, loads_foreign=False,
         source="valkey-io/valkey 8.0.1 src/rdb.h; PR #665 (back to RDB 11 for Redis 7.2 compatibility)"),
    Line(engine="valkey", version="8.1", rdb=11, magic=REDIS_MAGIC, loads_foreign=False, relaxed_check=True,
         source="valkey 8.1.1 (Debian's orig tarball) src/rdb.h, src/rdb.c rdbLoadRioWithLoadingCtx; PR #1604",
         run_here="8.1.1"),
    Line(engine="valkey", version="9.0", rdb=80, magic=VALKEY_MAGIC, loads_foreign=False, relaxed_check=True,
         source="valkey PR #2422 (RDB 80, VALKEY magic, 8.1 the stepping stone); not run: no 9.0 source reachable"),
    Line(engine="valkey", version="9.1", rdb=80, magic=VALKEY_MAGIC, loads_foreign=False, relaxed_check=True,
         feeds_older_replicas=True,
         source="valkey 9.1.2 (Debian's orig tarball) src/rdb.h, src/replication.c replicaRdbVersion; PR #2735",
         run_here="9.1.2"),
)
BY_KEY = {line.key: line for line in LINES}
# Valkey 9 is reached from 8.1 only: the one line that can load a 9.x RDB again (relaxed check), so a
# rollback exists (valkey PR #2422: "8.1 is a stepping stone").
STEPPING_STONES = {("valkey", 9): ("valkey", "8.1")}


def line(engine: str, version: str) -> Line | None:
    """The line of a config version (`8.1`, `8.1.1` or `8`: major.minor decides)."""
    parts = version.split(".")
    return BY_KEY.get((engine, ".".join((parts + ["0"])[:2])))


def step_problem(old: Line, new: Line) -> str | None:
    """Why a rolling change from `old` to `new` is unsafe, or None if it is safe."""
    if old == new:
        return None
    if old.engine == "valkey" and new.engine == "redis":
        return (f"{old} -> {new}: Valkey to Redis is not an upgrade path (Redis 7.4+ writes RDB 12, which "
                f"Valkey never loads, and nothing is tested the other way)")
    if new.engine == old.engine and new.number < old.number:
        why = (f"{new} does not load the RDB {old.rdb} {old} writes" if not new.loads(old) else
               f"{new} would replicate a {old} primary mid-roll, whose stream may carry commands {new} lacks")
        return f"{old} -> {new} is a downgrade: {why}; no engine writes an older format (valkey #3032)"
    if not new.loads(old):
        if new.engine == "valkey" and old.rdb in FOREIGN:
            return (f"{old} -> {new}: {old} writes RDB {old.rdb}, a Redis-only format Valkey refuses "
                    f"(\"Can't handle RDB format version {old.rdb}\"); there is no in-place path: copy the keys "
                    f"into a new cache")
        return f"{old} -> {new}: {new} does not load RDB {old.rdb} that {old} writes"
    stone = STEPPING_STONES.get((new.engine, new.number[0]))
    if stone is not None and old.key != stone and (old.engine, old.number[0]) != (new.engine, new.number[0]):
        return (f"{old} -> {new} skips {BY_KEY[stone]}: only {BY_KEY[stone]} can load a {new} RDB again "
                f"(rdb-version-check relaxed), so it is the step every path to {new} takes (valkey PR #2422)")
    return None


def path(old: Line, new: Line) -> list[Line] | None:
    """The shortest chain of safe steps from `old` to `new` (both ends included), None if none exists."""
    frontier, seen = [[old]], {old.key}
    while frontier:
        nxt = []
        for chain in frontier:
            if chain[-1] == new:
                return chain
            for cand in LINES:
                if cand.key not in seen and step_problem(chain[-1], cand) is None:
                    seen.add(cand.key)
                    nxt.append(chain + [cand])
        frontier = nxt
    return None


def check(old_engine: str, old_version: str, new_engine: str, new_version: str) -> str | None:
    """A change of a running cache's engine version: None if it is safe in place, else what is wrong and
    the path that works (or that none does)."""
    old, new = line(old_engine, old_version), line(new_engine, new_version)
    for name, ver, found in ((old_engine, old_version, old), (new_engine, new_version, new)):
        if found is None:
            known = ", ".join(str(x) for x in LINES)
            return f"{name} {ver}: no replication/RDB facts for this line (known: {known})"
    assert old is not None and new is not None
    problem = step_problem(old, new)
    if problem is None:
        return None
    chain = path(old, new)
    if chain is not None:
        return f"{problem}; the path that works: {' -> '.join(str(x) for x in chain)}, one `pulumi up` per step"
    return f"{problem}; no in-place path exists"


def table() -> list[tuple[str, ...]]:
    """Rows of docs/upgrades.md's compatibility table: from, to, verdict."""
    rows = []
    for old in LINES:
        for new in LINES:
            if old != new:
                problem = step_problem(old, new)
                rows.append((str(old), str(new), "safe" if problem is None else "refused"))
    return rows
