"""Kubernetes quantities, and maxmemory as a share of a memory limit (`maxmemoryPercent`).

Planning from a workload (maxmemory, limits, volumes, node types) is cache_patterns.planning.
Pure functions; the quantity grammar is the Kubernetes client's parser, with the guards it lacks.
"""
from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from kubernetes.utils.quantity import parse_quantity as _k8s_parse_quantity

KI = 1024
MI = 1024 * KI
GI = 1024 * MI

# Below this a Redis process cannot start, load its modules and hold its own structures
# (an empty redis-server 7 uses ~3 MiB RSS); a cache smaller than this is a mistake, not a choice.
MIN_REDIS_MEMORY = 32 * MI
# Headroom Redis needs beyond `maxmemory` at minimum: allocator fragmentation, client and
# replication buffers, the process itself.
MIN_HEADROOM = 8 * MI


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity, or a quantity out of the allowed range."""


def parse_quantity(value: object) -> Decimal:
    """Parse a Kubernetes quantity ("128Mi", "500m", "1.5Gi", 2) into a Decimal.

    Uses the Kubernetes client's parser and adds what it lets through: booleans, NaN, infinity,
    negative values and float numbers that are not exact.
    """
    if isinstance(value, bool) or value is None:
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"not a finite quantity: {value!r}")
        value = repr(value)
    if not isinstance(value, (int, str, Decimal)):
        raise QuantityError(f"not a quantity: {value!r}")
    text = str(value)
    # The client's Decimal() tolerates spaces ("1 Gi"); the Kubernetes grammar does not.
    if not text or any(c.isspace() for c in text):
        raise QuantityError(f"not a quantity: {value!r}")
    try:
        number = _k8s_parse_quantity(text)
    except (ValueError, InvalidOperation, TypeError) as exc:
        raise QuantityError(f"not a quantity: {value!r}") from exc
    if not number.is_finite():
        raise QuantityError(f"not a finite quantity: {value!r}")
    if number < 0:
        raise QuantityError(f"must not be negative: {value!r}")
    # The Kubernetes grammar has no upper-case K (kilo is "k"): the client accepts it, the API server does not.
    if text.endswith("K"):
        raise QuantityError(f"not a quantity: {value!r} (kilo is a lower-case 'k')")
    return number


def parse_bytes(value: object) -> int:
    """A memory or storage quantity in whole bytes (a fraction of a byte is rounded up, as Kubernetes does)."""
    return int(parse_quantity(value).to_integral_value(rounding="ROUND_CEILING"))


def parse_millicores(value: object) -> int:
    """A CPU quantity in whole millicores ("0.5" -> 500, "250m" -> 250)."""
    millis = parse_quantity(value) * 1000
    if millis != millis.to_integral_value():
        raise QuantityError(f"finer than 1m: {value!r}")
    return int(millis)


def format_bytes(n: int) -> str:
    """The shortest exact Kubernetes quantity for n bytes: 134217728 -> "128Mi", 1000 -> "1000"."""
    if n < 0:
        raise QuantityError(f"must not be negative: {n}")
    for suffix, unit in (("Ti", 1024 * GI), ("Gi", GI), ("Mi", MI), ("Ki", KI)):
        if n and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def format_millicores(m: int) -> str:
    """CPU as a string Kubernetes and every CRD accept: 500 -> "500m", 2000 -> "2"."""
    if m < 0:
        raise QuantityError(f"must not be negative: {m}")
    return str(m // 1000) if m % 1000 == 0 else f"{m}m"


def maxmemory_for_limit(limit_bytes: int, percent: int) -> int:
    """The `maxmemory` for a container with this memory limit: `percent` of it, leaving at least
    MIN_HEADROOM, so Redis evicts keys before the kernel kills the container.

    Raises SizingError when the limit is too small to run Redis at all.
    """
    if not 10 <= percent <= 95:
        raise SizingError(f"maxmemory percent must be between 10 and 95, got {percent}")
    if limit_bytes < MIN_REDIS_MEMORY:
        raise SizingError(
            f"a memory limit of {format_bytes(limit_bytes)} is too small to run Redis: "
            f"at least {format_bytes(MIN_REDIS_MEMORY)} is needed"
        )
    by_percent = limit_bytes * percent // 100
    return min(by_percent, limit_bytes - MIN_HEADROOM)


class SizingError(ValueError):
    """A plan that cannot work (a limit too small, a request above its limit)."""


def check_request_within_limit(request: int | None, limit: int | None, what: str) -> None:
    if request is not None and limit is not None and request > limit:
        raise SizingError(f"{what} request {request} is above its limit {limit}")
