"""What one string key costs in a Redis 7.x keyspace: the exact model behind every memory figure.

The cost is a sum of allocations, each rounded up to the allocator's size class: the dict entry, the
key's sds string, the value (robj + sds), the key's share of the hash-table slot array and, for a key
with a TTL, its entry in the expires dict. docs/planning.md names the sources and the measured error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# Redis's bundled jemalloc is configured with --with-lg-quantum=3 (deps/Makefile), which the official
# redis and valkey images build; Debian's system jemalloc uses 16-byte classes.
OFFICIAL_QUANTUM = 8
DEBIAN_QUANTUM = 16
# A string value of at most 44 bytes is one allocation with its robj (OBJ_ENCODING_EMBSTR_SIZE_LIMIT).
EMBSTR_LIMIT = 44
ROBJ = 16            # sizeof(robj) on 64-bit
DICT_ENTRY = 24      # sizeof(dictEntry): key, value, next pointers
SLOT = 8             # one pointer per hash-table slot
SHAPES = ("fixed", "uniform", "log-uniform")
# A distribution is integrated over this many quantile points: size classes are steps of at most 25 %
# of a size, so 4096 points put the error far below the model's own (< 0.01 %).
POINTS = 4096


def size_class(n: int, quantum: int) -> int:
    """The jemalloc size class an allocation of n bytes is rounded up to (small classes: 4 per doubling
    above 8 x quantum; quantum-spaced below; 8 is always a class)."""
    if n <= 8:
        return 8
    if n <= 8 * quantum:
        return -(-n // quantum) * quantum
    step = 2 ** math.floor(math.log2(n - 1)) // 4
    return -(-n // step) * step


def sds_header(length: int, is_key: bool) -> int:
    """Header bytes of an sds string of `length` (sds.c sdsReqType): sdshdr5 only for keys under 32."""
    if is_key and length < 32:
        return 1
    if length < 256:
        return 3
    if length < 65536:
        return 5
    return 9


def key_alloc(k: int, quantum: int) -> int:
    """The key's sds: header, the bytes, the terminating NUL."""
    return size_class(sds_header(k, True) + k + 1, quantum)


def value_alloc(v: int, quantum: int) -> int:
    """A string value that is not an integer: EMBSTR (robj + sdshdr8 in one allocation) up to 44 bytes,
    else a robj plus a RAW sds."""
    if v <= EMBSTR_LIMIT:
        return size_class(ROBJ + 3 + v + 1, quantum)
    return size_class(ROBJ, quantum) + size_class(sds_header(v, False) + v + 1, quantum)


def slot_bytes(n: int) -> int:
    """Bytes of a dict's slot array holding n keys: a power of two slots, at least n (dict.c
    _dictExpandIfNeeded grows when used reaches size, to the next power of two above it)."""
    if n <= 0:
        return 0
    return SLOT * 2 ** math.ceil(math.log2(n))


@dataclass(frozen=True)
class Size:
    """A key or value length in bytes: fixed, or spread uniformly or log-uniformly over [min, max]."""

    min: int
    max: int
    shape: str = "fixed"

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {self.shape!r}")
        if not 1 <= self.min <= self.max:
            raise ValueError(f"sizes need 1 <= min <= max, got {self.min}..{self.max}")
        if self.shape == "fixed" and self.min != self.max:
            raise ValueError("a fixed size has min == max")

    @classmethod
    def fixed(cls, n: int) -> "Size":
        return cls(n, n, "fixed")

    @property
    def mean(self) -> float:
        if self.shape == "fixed" or self.min == self.max:
            return float(self.min)
        if self.shape == "uniform":
            return (self.min + self.max) / 2
        return (self.max - self.min) / math.log(self.max / self.min)

    @property
    def spread(self) -> float:
        """max / min: how far sizes vary (1 for a fixed size)."""
        return self.max / self.min

    def points(self) -> tuple[tuple[int, float], ...]:
        """(size, weight) pairs whose weights sum to 1: the distribution, discretised."""
        if self.min == self.max:
            return ((self.min, 1.0),)
        if self.shape == "uniform" and self.max - self.min < POINTS:
            n = self.max - self.min + 1
            return tuple((v, 1 / n) for v in range(self.min, self.max + 1))
        out = []
        for i in range(POINTS):
            u = (i + 0.5) / POINTS
            if self.shape == "uniform":
                x = self.min + u * (self.max - self.min)
            else:
                x = self.min * (self.max / self.min) ** u
            out.append((max(self.min, min(self.max, round(x))), 1 / POINTS))
        return tuple(out)

    def expect(self, f) -> float:
        return sum(w * f(v) for v, w in self.points())

    def describe(self) -> str:
        if self.shape == "fixed":
            return f"{self.min} B"
        return f"{self.min}..{self.max} B {self.shape} (mean {self.mean:.0f})"


@dataclass(frozen=True)
class Engine:
    """The server a plan is for: engine, version, and the allocator's size-class quantum."""

    name: str
    version: str
    quantum: int = OFFICIAL_QUANTUM

    @property
    def major_minor(self) -> tuple[int, int]:
        parts = (self.version.split(".") + ["0"])[:2]
        return int(parts[0]), int(parts[1])

    @property
    def coverage(self) -> str:
        """How the per-key model relates to this engine: `measured` (Redis 7.x, Valkey 7.2: the same
        dict and sds), `upper bound` (Valkey 8+: a denser keyspace, AWS reports 20 % less memory) or
        `not measured` (anything else: an estimate from the nearest measured engine)."""
        major, minor = self.major_minor
        if (self.name == "redis" and major == 7 and minor <= 2) or (self.name == "valkey" and (major, minor) == (7, 2)):
            return "measured"
        if self.name == "valkey" and major >= 8:
            return "upper bound"
        return "not measured"

    def describe(self) -> str:
        return f"{self.name} {self.version} (jemalloc quantum {self.quantum})"


@dataclass(frozen=True)
class KeyCost:
    """Bytes per key, and its parts (each an expectation over the size distributions)."""

    entry: float
    key: float
    value: float
    slots: float
    ttl: float

    @property
    def total(self) -> float:
        return self.entry + self.key + self.value + self.slots + self.ttl


def key_cost(keys: int, key_bytes: Size, value_bytes: Size, ttl_share: float, quantum: int) -> KeyCost:
    """The per-key model: bytes of used_memory each of `keys` string keys adds, on average."""
    if keys < 1:
        raise ValueError(f"keys must be >= 1, got {keys}")
    if not 0 <= ttl_share <= 1:
        raise ValueError(f"ttl_share must be between 0 and 1, got {ttl_share}")
    with_ttl = round(keys * ttl_share)
    entry = size_class(DICT_ENTRY, quantum)
    return KeyCost(
        entry=entry,
        key=key_bytes.expect(lambda k: key_alloc(k, quantum)),
        value=value_bytes.expect(lambda v: value_alloc(v, quantum)),
        slots=slot_bytes(keys) / keys,
        ttl=(with_ttl * entry + slot_bytes(with_ttl)) / keys,
    )


def regions(keys: int, key_bytes: Size, value_bytes: Size, ttl_share: float, quantum: int) -> tuple[tuple[float, float], ...]:
    """The keyspace as (allocations, mean bytes each) per kind of allocation: dict entries, key strings,
    EMBSTR values, value robjs, raw value strings, the slot array (one allocation), and the expires
    dict's entries and slots. Allocations of one kind share the allocator's slabs, so a write lands on
    a random page of each kind it touches: the copy-on-write model works region by region."""
    entry = size_class(DICT_ENTRY, quantum)
    embstr = sum(w for v, w in value_bytes.points() if v <= EMBSTR_LIMIT)
    out = [(keys, entry), (keys, key_bytes.expect(lambda k: key_alloc(k, quantum)))]
    if embstr:
        mean = sum(w * value_alloc(v, quantum) for v, w in value_bytes.points() if v <= EMBSTR_LIMIT) / embstr
        out.append((keys * embstr, mean))
    if embstr < 1:
        raw = 1 - embstr
        mean = sum(w * size_class(sds_header(v, False) + v + 1, quantum)
                   for v, w in value_bytes.points() if v > EMBSTR_LIMIT) / raw
        out += [(keys * raw, size_class(ROBJ, quantum)), (keys * raw, mean)]
    out.append((1, slot_bytes(keys)))
    with_ttl = round(keys * ttl_share)
    if with_ttl:
        out += [(with_ttl, entry), (1, slot_bytes(with_ttl))]
    return tuple((n, a) for n, a in out if n and a)
