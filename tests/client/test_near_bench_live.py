"""The two_tier_near benchmark in the live tier (issue 25: the benchmark runs in CI), small (`--quick`'s
sizes, L2 on loopback behind the same calibrated 0.5 ms delay proxy), with the issue's goals as
assertions: an in-process L1 hit at least 10x faster than a sidecar L1 hit at p50 in every client, the
in-process L1 within its byte bound, no stale read beyond the bound the live invalidation test holds,
and a hit ratio as good as the sidecar's for the same memory. The full run and its figures:
docs/benchmarks.md (`./run bench two_tier_near`)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks import two_tier as tt
from benchmarks import two_tier_near as bench
from tests.client.conftest import require_live

pytestmark = pytest.mark.live
# The goal for an L1 hit, in process against the sidecar, at p50.
SPEED_UP = 10
# A copy stale longer than this after the write's reply is a lost invalidation (the bound of
# tests/client/test_near_failover_live.py; measured: under 1 ms in the benchmark, 3.1 ms at load 19).
STALE_BOUND_MS = 50
QUICK = bench.Params(workload=tt.Params(keys=10_000, warmup_ops=2_000, measure_ops=3_000), hit_keys=200, hit_rounds=4)


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def test_on_the_zipf_workload_the_in_process_l1_holds_its_bound_serves_fresh_and_hits_as_often():
    """Part 1 (the Python client): L2 alone, a sidecar L1 and an in-process L1 on one operation sequence."""
    require_live()
    before = loadavg()
    one = bench.part1(QUICK.workload, use_netns=False)
    print("\n" + bench.report(QUICK, one, {}, [before, loadavg()], netns=False))
    _, near_versions, near_stats, (entries, used, _) = one["in-process"]
    _, _, side_stats, _ = one["sidecar"]
    assert 0 < entries <= QUICK.workload.keys and 0 < used <= one["budget"], (entries, used, one["budget"])
    assert near_stats.l1_hits > 0 and near_stats.invalidations_received > 0
    late = [age * 1000 for age in near_versions.stale if age * 1000 > STALE_BOUND_MS]
    assert not late, f"in-process reads stale beyond {STALE_BOUND_MS} ms after the write's reply: {late}"
    assert near_stats.l1_hit_ratio >= side_stats.l1_hit_ratio - 0.05, (near_stats.l1_hit_ratio, side_stats.l1_hit_ratio)


@pytest.mark.parametrize("lang", bench.LANGS)
def test_an_in_process_hit_is_at_least_ten_times_faster_than_a_sidecar_hit(lang):
    """Part 2: an L1 hit timed inside the client's conformance driver, in each mode."""
    require_live()
    got = bench.part2(QUICK, [lang], shutil.which("redis-server") or "redis-server")[lang]
    side, near = got["sidecar"], got["in-process"]
    print(f"\n{lang} at load {loadavg()}: sidecar hit p50 {side['p50']:.2f} us, in-process {near['p50']:.2f} us")
    assert side["p50"] >= SPEED_UP * near["p50"], f"{lang}: sidecar hit p50 {side['p50']:.2f} us, in-process {near['p50']:.2f} us"
