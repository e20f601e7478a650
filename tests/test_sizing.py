"""Quantities and maxmemory from a limit at their edges (planning from a workload: test_planning.py)."""
from __future__ import annotations

import pytest

from cache_patterns.core import sizing
from cache_patterns.core.sizing import MI, GI


@pytest.mark.parametrize("text,expected", [
    ("128Mi", 128 * MI), ("1Gi", GI), ("1.5Gi", int(1.5 * GI)), ("1k", 1000), ("1M", 10**6), ("0", 0),
    ("100", 100), (256, 256), ("1e3", 1000), ("0.5Ki", 512), ("1Ti", 1024 * GI),
])
def test_parse_bytes(text, expected):
    assert sizing.parse_bytes(text) == expected


def test_a_fraction_of_a_byte_rounds_up_like_kubernetes():
    assert sizing.parse_bytes("1.5") == 2
    assert sizing.parse_bytes("100m") == 1


@pytest.mark.parametrize("bad", ["", " 1Gi", "1Gi ", "1 Gi", "Gi", "1gi", "1ki", "1KB", "1K", "-1Gi", "nan", "NaN",
                                 "Infinity", "1.2.3", True, None, [], 1.0e400, float("nan"), "0x10"])
def test_parse_rejects_what_kubernetes_rejects(bad):
    with pytest.raises(sizing.QuantityError):
        sizing.parse_bytes(bad)


@pytest.mark.parametrize("text,expected", [("500m", 500), ("0.5", 500), ("2", 2000), (1, 1000), ("1m", 1), ("0.25", 250)])
def test_parse_millicores(text, expected):
    assert sizing.parse_millicores(text) == expected


def test_cpu_finer_than_a_millicore_is_refused():
    with pytest.raises(sizing.QuantityError, match="finer than 1m"):
        sizing.parse_millicores("0.0005")


@pytest.mark.parametrize("n,text", [(128 * MI, "128Mi"), (GI, "1Gi"), (1536 * MI, "1536Mi"), (1000, "1000"),
                                    (1024, "1Ki"), (0, "0"), (1024 * GI, "1Ti"), (1, "1")])
def test_format_bytes_is_exact_and_round_trips(n, text):
    assert sizing.format_bytes(n) == text
    assert sizing.parse_bytes(text) == n


@pytest.mark.parametrize("m,text", [(500, "500m"), (1000, "1"), (2500, "2500m"), (0, "0")])
def test_format_millicores(m, text):
    assert sizing.format_millicores(m) == text
    assert sizing.parse_millicores(text) == m


def test_maxmemory_is_the_percentage_of_the_limit():
    assert sizing.maxmemory_for_limit(GI, 80) == GI * 80 // 100


def test_maxmemory_keeps_headroom_on_small_limits():
    limit = sizing.MIN_REDIS_MEMORY
    assert sizing.maxmemory_for_limit(limit, 95) == limit - sizing.MIN_HEADROOM


def test_maxmemory_at_the_minimum_limit_and_just_below():
    assert sizing.maxmemory_for_limit(sizing.MIN_REDIS_MEMORY, 80) > 0
    with pytest.raises(sizing.SizingError, match="too small to run Redis: at least 32Mi"):
        sizing.maxmemory_for_limit(sizing.MIN_REDIS_MEMORY - 1, 80)


@pytest.mark.parametrize("percent", [9, 96, 0, 100])
def test_maxmemory_percent_out_of_range(percent):
    with pytest.raises(sizing.SizingError):
        sizing.maxmemory_for_limit(GI, percent)


def test_request_above_limit():
    sizing.check_request_within_limit(GI, GI, "memory")
    with pytest.raises(sizing.SizingError, match="memory request"):
        sizing.check_request_within_limit(GI + 1, GI, "memory")
