"""The invalidation message format shared by every two-tier client, in any language (version 2;
docs/protocol.md is the specification, clients/conformance/vectors.json the byte-level vectors).

A message is published on CACHE_L1_INVALIDATION_CHANNEL after a write or delete on L2. Encoding and
decoding cost one split; the format is bytes, so keys need no escaping.

    payload  = version SP origin SP body
    version  = "2"                            ; "1" is still read (the body has no "v" then)
    origin   = 1*(ALPHA / DIGIT / "-" / "_")  ; the publishing client instance, so it can skip its own
    body     = "k" SP key                     ; drop `key` (a delete, or a write that announces nothing)
             / "v" SP ttl SP digest SP key    ; `key` now holds the value with `digest`, written with `ttl`
             / "*"                            ; flush the whole L1
    ttl      = "-" / 1*DIGIT                  ; the write's TTL in milliseconds, "-" for none
    digest   = 32(DIGIT / "a"-"f")            ; the first 16 bytes of SHA-256(value), lowercase hex
    key      = *OCTET                         ; the rest of the payload, verbatim (may hold spaces)

A receiver drops the named key from its L1 (or flushes L1 for "*"), unless origin is its own. A "v"
message also lets a reader that read exactly the announced value keep its copy (docs/protocol.md,
reader rule 7). A payload it cannot parse, or with a version it does not know, makes it flush its
whole L1: a newer writer must never leave an older reader stale.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Optional, Union

VERSION = b"2"
READABLE = (b"1", b"2")
OP_KEY = b"k"
OP_VALUE = b"v"
OP_FLUSH = b"*"
NO_TTL = b"-"
_ORIGIN = re.compile(rb"[A-Za-z0-9_-]+\Z")
_DIGEST = re.compile(rb"[0-9a-f]{32}\Z")
_TTL = re.compile(rb"(-|[0-9]{1,15})\Z")


@dataclass(frozen=True)
class Announcement:
    """What a "v" message says the key now holds: the value's digest and the write's TTL (ms, None: none)."""

    digest: bytes
    ttl_ms: Optional[int]


@dataclass(frozen=True)
class Invalidation:
    """One decoded message. `key` is None for a flush (op "*") and for an unreadable payload;
    `announced` is set for a "v" message only."""

    origin: bytes
    key: Optional[bytes]
    flush: bool
    announced: Optional[Announcement] = None


def key_bytes(key: Union[str, bytes]) -> bytes:
    """A key as it is stored and named in messages: str as UTF-8 (what redis-py sends), bytes as is.

    Anything else is a TypeError: redis-py sends the int 42 as "42" while `bytes(42)` is 42 NUL bytes,
    so other pods would drop the wrong key and keep the old value."""
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytes):
        return key
    raise TypeError(f"key: must be str or bytes, got {type(key).__name__} {key!r:.40}")


def digest(value: bytes) -> bytes:
    """The value's digest as messages carry it: SHA-256, first 16 bytes, lowercase hex (32 bytes)."""
    return hashlib.sha256(value).hexdigest()[:32].encode()


def encode_key(origin: str, key: Union[str, bytes], version: int = 2) -> bytes:
    """The payload that drops one key from every other pod's L1 (version 1 or 2)."""
    return b" ".join((_version(version), _check_origin(origin), OP_KEY, key_bytes(key)))


def encode_value(origin: str, key: Union[str, bytes], value_digest: bytes, ttl_ms: Optional[int]) -> bytes:
    """The payload of a write: drop `key`, and announce the value it now holds (version 2), by its
    `digest()` and the write's TTL in milliseconds (None: no expiry)."""
    if not _DIGEST.match(value_digest):
        raise ValueError(f"digest: must be 32 lowercase hex digits, got {value_digest!r}")
    ttl = NO_TTL if ttl_ms is None else str(int(ttl_ms)).encode()
    return b" ".join((VERSION, _check_origin(origin), OP_VALUE, ttl, value_digest, key_bytes(key)))


def encode_flush(origin: str, version: int = 2) -> bytes:
    """The payload that flushes every other pod's whole L1 (operators may publish it by hand)."""
    return b" ".join((_version(version), _check_origin(origin), OP_FLUSH))


def decode(payload: bytes) -> Invalidation:
    """Parse a payload. Anything unexpected decodes as a flush from an unknown origin (the safe reading)."""
    parts = payload.split(b" ", 3)
    if len(parts) >= 3 and parts[0] in READABLE and _ORIGIN.match(parts[1]):
        origin, op = parts[1], parts[2]
        if op == OP_KEY and len(parts) == 4:
            return Invalidation(origin=origin, key=parts[3], flush=False)
        if op == OP_FLUSH and len(parts) == 3:
            return Invalidation(origin=origin, key=None, flush=True)
        if op == OP_VALUE and parts[0] == VERSION and len(parts) == 4:
            fields = parts[3].split(b" ", 2)
            if len(fields) == 3 and _TTL.match(fields[0]) and _DIGEST.match(fields[1]):
                ttl = None if fields[0] == NO_TTL else int(fields[0])
                return Invalidation(origin=origin, key=fields[2], flush=False,
                                    announced=Announcement(digest=fields[1], ttl_ms=ttl))
    return Invalidation(origin=b"", key=None, flush=True)


def _version(version: int) -> bytes:
    if version not in (1, 2):
        raise ValueError(f"version: must be 1 or 2, got {version!r}")
    return str(version).encode()


def _check_origin(origin: str) -> bytes:
    raw = origin.encode()
    if not _ORIGIN.match(raw):
        raise ValueError(f"origin: only letters, digits, '-' and '_' are allowed, got {origin!r}")
    return raw
