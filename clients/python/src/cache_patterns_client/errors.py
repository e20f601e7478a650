"""Errors the cache client raises, so apps can catch cache trouble without importing redis.

Every error is a CacheError; catching it is enough to fall back to the source of truth.
"""
from __future__ import annotations


class CacheError(Exception):
    """Base class of everything this package raises on purpose."""


class ConfigurationError(CacheError, ValueError):
    """The env contract (or an argument) is missing a value or holds one that cannot be used.
    The message names the variable, e.g. `CACHE_L1_TTL_CAP: must be a number of seconds > 0, got 'x'`."""


class L2Unavailable(CacheError):
    """The shared tier could not be reached in time (connect/read timeout, refused, auth failure).

    Raised by writes and deletes, and by reads that miss L1. The write may or may not have been
    applied on L2 (a timeout after the server applied it looks the same); the local L1 copy of the key
    has been dropped either way."""
