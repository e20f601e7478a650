"""The invalidation message format shared by every two-tier client, in any language (version 1).

A message is published on CACHE_L1_INVALIDATION_CHANNEL after a write or delete on L2. Encoding and
decoding cost one split; the format is bytes, so keys need no escaping.

    payload  = version SP origin SP op [SP key]
    version  = "1"
    origin   = 1*(ALPHA / DIGIT / "-" / "_")  ; the publishing client instance, so it can skip its own
    op       = "k" / "*"                      ; "k": drop `key` from L1; "*": flush the whole L1
    key      = *OCTET                         ; the rest of the payload, verbatim (may hold spaces)

A receiver drops the named key from its L1 (or flushes L1 for "*"), unless origin is its own. A
payload it cannot parse, or with a version other than "1", makes it flush its whole L1: a newer
writer must never leave an older reader stale.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Union

VERSION = b"1"
OP_KEY = b"k"
OP_FLUSH = b"*"
_ORIGIN = re.compile(rb"[A-Za-z0-9_-]+\Z")


@dataclass(frozen=True)
class Invalidation:
    """One decoded message. `key` is None for a flush (op "*") and for an unreadable payload."""

    origin: bytes
    key: Optional[bytes]
    flush: bool


def key_bytes(key: Union[str, bytes]) -> bytes:
    """A key as it is stored and named in messages: str as UTF-8 (what redis-py sends), bytes as is.

    Anything else is a TypeError: redis-py sends the int 42 as "42" while `bytes(42)` is 42 NUL bytes,
    so other pods would drop the wrong key and keep the old value."""
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytes):
        return key
    raise TypeError(f"key: must be str or bytes, got {type(key).__name__} {key!r:.40}")


def encode_key(origin: str, key: Union[str, bytes]) -> bytes:
    """The payload that drops one key from every other pod's L1."""
    return b" ".join((VERSION, _check_origin(origin), OP_KEY, key_bytes(key)))


def encode_flush(origin: str) -> bytes:
    """The payload that flushes every other pod's whole L1 (operators may publish it by hand)."""
    return b" ".join((VERSION, _check_origin(origin), OP_FLUSH))


def decode(payload: bytes) -> Invalidation:
    """Parse a payload. Anything unexpected decodes as a flush from an unknown origin (the safe reading)."""
    parts = payload.split(b" ", 3)
    if len(parts) >= 3 and parts[0] == VERSION and _ORIGIN.match(parts[1]):
        if parts[2] == OP_KEY and len(parts) == 4:
            return Invalidation(origin=parts[1], key=parts[3], flush=False)
        if parts[2] == OP_FLUSH and len(parts) == 3:
            return Invalidation(origin=parts[1], key=None, flush=True)
    return Invalidation(origin=b"", key=None, flush=True)


def _check_origin(origin: str) -> bytes:
    raw = origin.encode()
    if not _ORIGIN.match(raw):
        raise ValueError(f"origin: only letters, digits, '-' and '_' are allowed, got {origin!r}")
    return raw
