"""What one string key costs in a keyspace: the exact model behind every memory figure, one per layout.

Redis 7.x / Valkey 7.2-8.0 (`dict`): each allocation rounded up to the allocator's size class: the dict
entry, the key's sds string, the value (robj + sds), the key's share of the hash-table slot array and,
for a key with a TTL, its entry in the expires dict. Valkey 8.1+ (`hashtable`): one object holding
the robj, the key, the TTL and (when small enough) the value, plus the key's share of the hash table's
64-byte buckets (7 entries each, child buckets for overflow) and, with a TTL, of the expires table's.
docs/planning.md names the sources and the measured error.
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
    def layout(self) -> str:
        """The keyspace layout: `dict` (Redis, Valkey < 8.1), `hashtable-64` (Valkey 8.1: objects embed
        the key, a string value when the whole object fits 64 bytes) or `hashtable-128` (Valkey 9:
        embedded up to 128 bytes, reusing the robj's pointer)."""
        if self.name != "valkey" or self.major_minor < (8, 1):
            return "dict"
        return "hashtable-64" if self.major_minor < (9, 0) else "hashtable-128"

    @property
    def coverage(self) -> str:
        """How the per-key model relates to this engine: `measured` (Redis 7.x and Valkey 7.2 with the
        dict model; Valkey 8.1 and 9.1 with the hashtable models), `upper bound` (Valkey 8.0: the dict
        model; its keyspace is denser) or `not measured` (anything else, e.g. Valkey 9.0, modelled as
        9.1 from the sources, no 9.0 build here)."""
        major, minor = self.major_minor
        if (self.name == "redis" and major == 7 and minor <= 2) or (self.name == "valkey" and (major, minor) == (7, 2)):
            return "measured"
        if self.name == "valkey" and (major, minor) in ((8, 1), (9, 1)):
            return "measured"
        if self.name == "valkey" and (major, minor) == (8, 0):
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


def key_cost(keys: int, key_bytes: Size, value_bytes: Size, ttl_share: float, quantum: "int | Engine") -> KeyCost:
    """The per-key model: bytes of used_memory each of `keys` string keys adds, on average. `quantum`:
    the allocator's quantum (the dict layout), or the Engine (its layout and quantum)."""
    if keys < 1:
        raise ValueError(f"keys must be >= 1, got {keys}")
    if not 0 <= ttl_share <= 1:
        raise ValueError(f"ttl_share must be between 0 and 1, got {ttl_share}")
    if isinstance(quantum, Engine):
        if quantum.layout != "dict":
            return hashtable_cost(keys, key_bytes, value_bytes, ttl_share, quantum.quantum, quantum.layout)
        quantum = quantum.quantum
    with_ttl = round(keys * ttl_share)
    entry = size_class(DICT_ENTRY, quantum)
    return KeyCost(
        entry=entry,
        key=key_bytes.expect(lambda k: key_alloc(k, quantum)),
        value=value_bytes.expect(lambda v: value_alloc(v, quantum)),
        slots=slot_bytes(keys) / keys,
        ttl=(with_ttl * entry + slot_bytes(with_ttl)) / keys,
    )


def regions(keys: int, key_bytes: Size, value_bytes: Size, ttl_share: float,
            quantum: "int | Engine") -> tuple[tuple[float, float], ...]:
    """The keyspace as (allocations, mean bytes each) per kind of allocation: dict entries, key strings,
    EMBSTR values, value robjs, raw value strings, the slot array (one allocation), and the expires
    dict's entries and slots. Allocations of one kind share the allocator's slabs, so a write lands on
    a random page of each kind it touches: the copy-on-write model works region by region. The
    hashtable layouts (Valkey 8.1+): the objects, the separate value strings, the two tables."""
    if isinstance(quantum, Engine):
        if quantum.layout != "dict":
            cost = hashtable_cost(keys, key_bytes, value_bytes, ttl_share, quantum.quantum, quantum.layout)
            separate = sum(wk * wv for k, wk in key_bytes.points() for v, wv in value_bytes.points()
                           if valkey_object(k, v, False, quantum.quantum, quantum.layout)[1])
            out = [(keys, cost.entry), (keys * separate, cost.value / separate if separate else 0.0),
                   (1, cost.slots * keys), (1, cost.ttl * keys)]
            return tuple((n, a) for n, a in out if n and a)
        quantum = quantum.quantum
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


# ---- Valkey 8.1+: objects with embedded keys in a bucketed hash table (valkey src/object.c, hashtable.c) ----

BUCKET = 64                  # one cache line: 7 entry pointers, their hash bytes and presence bits
ENTRIES_PER_BUCKET = 7       # a bucket that overflows keeps 6 and points to a child bucket
EXPIRE_FIELD = 8             # a long long in the object, before the key
ROBJ_HEADER = 8              # type, encoding, LRU, flags, refcount: the robj without its value pointer


def valkey_sds_header(length: int, type5: bool) -> int:
    """sdsReqType (valkey src/sds.c): sdshdr5 under 32 where the caller allows it; sdshdr8 up to 251."""
    if type5 and length < 32:
        return 1
    if length <= 251:
        return 3
    return 5 if length <= 65530 else 9


def valkey_object(k: int, v: int, ttl: bool, quantum: int, layout: str) -> tuple[int, int]:
    """(object allocation, separate value allocation) of one string key: createStringObjectWithKeyAndExpire
    embeds the value when the object fits 64 (8.1) or 128 (9.x) bytes, else the object holds the key
    (and TTL) and points at a separate sds. A value arriving longer than the argument's own embedding
    limit (44 / 116 bytes) is kept as it came, a RAW sds."""
    key = 1 + valkey_sds_header(k, True) + k + 1          # the header-size byte, then the key's sds
    expire = EXPIRE_FIELD if ttl else 0
    if layout == "hashtable-64":
        embedded = v <= EMBSTR_LIMIT and ROBJ + (k + 3) + expire + (v + 4) <= 64
        embedded_size = ROBJ + expire + key + 3 + v + 1
    else:
        embedded = ROBJ_HEADER + 3 + v + 1 <= 128 and ROBJ_HEADER + key + expire + 3 + v + 1 <= 128
        embedded_size = ROBJ_HEADER + expire + key + max(3 + v + 1, 8)
    if embedded:
        return size_class(embedded_size, quantum), 0
    arg_embstr = v <= EMBSTR_LIMIT if layout == "hashtable-64" else ROBJ_HEADER + 3 + v + 1 <= 128
    # From an EMBSTR argument the value is copied with sdsnewlen (sdshdr5 under 32 bytes); a RAW
    # argument's sds is kept (it was made with sdsnewlen too).
    value = size_class(valkey_sds_header(v, True) + v + 1, quantum) if arg_embstr or v >= 32 else 0
    return size_class(ROBJ + expire + key, quantum), value


def child_buckets(entries: int, buckets: int) -> float:
    """Expected child buckets when `entries` hash uniformly into `buckets` (Poisson occupancy): a
    bucket with k > 7 entries chains ceil((k - 7) / 6) children."""
    if buckets == 0 or entries == 0:
        return 0.0
    lam = entries / buckets
    p = math.exp(-lam)
    total, k = 0.0, 0
    while k < 8 or p > 1e-12:
        if k > ENTRIES_PER_BUCKET:
            total += p * -(-(k - ENTRIES_PER_BUCKET) // (ENTRIES_PER_BUCKET - 1))
        k += 1
        p *= lam / k
    return buckets * total


def table_bytes(entries: int) -> float:
    """A hash table of `entries` grown one insert at a time: it doubles when an insert finds 7 entries
    per bucket (MAX_FILL_PERCENT_SOFT 100), so buckets = the power of two with 7 x buckets >= entries."""
    if entries <= 0:
        return 0.0
    buckets = 2 ** math.ceil(math.log2(entries / ENTRIES_PER_BUCKET)) if entries > ENTRIES_PER_BUCKET else 1
    return BUCKET * (buckets + child_buckets(entries, buckets))


def hashtable_cost(keys: int, key_bytes: Size, value_bytes: Size, ttl_share: float, quantum: int,
                   layout: str) -> KeyCost:
    """The per-key model of Valkey 8.1 (`hashtable-64`) and 9.x (`hashtable-128`): `entry` is the object
    (robj, key, TTL, an embedded value), `value` a separate value sds, `slots` the keys table's buckets,
    `ttl` what a TTL adds (the expire field where it changes the size class, the expires table)."""
    with_ttl = round(keys * ttl_share)
    share = with_ttl / keys

    def parts(ttl: bool) -> tuple[float, float]:
        obj = val = 0.0
        for k, wk in key_bytes.points():
            for v, wv in value_bytes.points():
                o, x = valkey_object(k, v, ttl, quantum, layout)
                obj += wk * wv * o
                val += wk * wv * x
        return obj, val

    plain_obj, plain_val = parts(False)
    ttl_obj, ttl_val = parts(True) if with_ttl else (plain_obj, plain_val)
    return KeyCost(entry=plain_obj, key=0.0, value=plain_val, slots=table_bytes(keys) / keys,
                   ttl=share * ((ttl_obj + ttl_val) - (plain_obj + plain_val)) + table_bytes(with_ttl) / keys)
