"""`./run plan` as a user reads it (issue 18.9): config problems the way render reports them (every one
at once, file:line), how to price said once instead of "price unknown" in every cell, every pod a
pattern runs counted, the stack's own setting beside the planned one, and 120 columns (`--wide`)."""
from __future__ import annotations

import io
import re
from contextlib import redirect_stderr, redirect_stdout

import pytest

from cache_patterns.planning.footprint import FOOTPRINTS
from tools import harness
from tools import plan as plan_tool


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = plan_tool.main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_every_config_problem_is_reported_at_once_with_file_and_line(tmp_path):
    """Before: two problems (an unknown top-level key and a secret where it cannot stay one) and, once
    fixed, the next six. Now all at once, in file order, like `./run render`."""
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(
        "config:\n"
        "  cache-patterns:environment: development\n"
        "  cache-patterns:kubernetesVerison: \"1.30\"\n"
        "  cache-patterns:caches:\n"
        "    web:\n"
        "      pattern: sidecar\n"
        "      memory: 1GB\n"
        "      replicaz: 2\n"
        "  cache-patterns:apps:\n"
        "    - {name: api, image: nginx, cache: web}\n")
    code, _, err = run_cli("--file", str(path))
    assert code == 2
    assert f"{path}: invalid stack config (4 problems):" in err
    lines = [line.strip() for line in err.splitlines()[1:]]
    assert lines[0].startswith(f"{path}:3: cache-patterns:kubernetesVerison: unknown key")
    assert lines[1] == f"{path}:7: caches.web.memory: must be a memory quantity such as 256Mi, at least 32Mi, " \
                       f"at most 1Ti, got '1GB' (did you mean 1Gi?)"
    assert lines[2].startswith(f"{path}:8: caches.web.replicaz: unknown key 'replicaz'")
    assert lines[3].startswith(f"{path}:10: apps[api].image: must be an image reference")


def test_without_prices_the_table_says_once_how_to_pass_them():
    code, text, _ = run_cli("staging", "--wide")
    assert code == 0
    assert "price unknown" not in text
    assert text.count("pass --prices FILE") == 1
    table = text.split("the same workload in each shape", 1)[1].split("\n\n", 1)[0]
    statefulset = next(line for line in table.splitlines() if line.strip().startswith("statefulset"))
    assert re.split(r"\s{2,}", statefulset.strip())[5] == "-", statefulset


def test_the_statefulset_plan_counts_its_sentinels_and_haproxy_pods():
    reps, _ = plan_tool.reports(plan_tool.load("staging"), plan_tool.planning.prices.NO_PRICES, None)
    sessions = next(r for r in reps if r.name == "sessions")
    cfg = plan_tool.load("staging").caches["sessions"]
    option = next(o for o in sessions.options if o.pattern == "statefulset")
    assert option.current and f"+ {cfg.sentinels} Sentinel + 2 HAProxy" in option.units
    figures = {r.name: r for r in sessions.derived}
    redis = figures["memory of all Redis pods"].value
    # Each pod with the limits of its containers: staging's Sentinels carry an exporter, its HAProxy
    # pods (TLS) a certificate watcher (planning/footprint.py).
    f = FOOTPRINTS
    assert cfg.exporter and cfg.tls.enabled
    sentinel, haproxy = f["sentinel"].memory_limit + f["exporter"].memory_limit, \
        f["haproxy"].memory_limit + f["tlsReload"].memory_limit
    assert (sentinel, haproxy) == (128 * 2**20, 160 * 2**20)
    assert figures["memory of all pods"].value == redis + cfg.sentinels * sentinel + 2 * haproxy
    assert option.total == figures["memory of all pods"].value


def test_the_stack_setting_is_shown_beside_the_planned_one():
    reps, _ = plan_tool.reports(plan_tool.load("staging"), plan_tool.planning.prices.NO_PRICES, None)
    sessions = next(r for r in reps if r.name == "sessions")
    cfg = plan_tool.load("staging").caches["sessions"]
    limit = {r.name: r for r in sessions.derived}["memory limit"]
    assert limit.current == cfg.memory_limit and limit.origin == "memory"
    _, text, _ = run_cli("staging")
    row = next(line for line in text.splitlines() if line.strip().startswith("memory limit"))
    assert f"{limit.shown()}  {limit.shown_current()} (memory)" in row and limit.shown() != limit.shown_current()


@pytest.mark.parametrize("stack", harness.list_stacks())
def test_the_text_fits_120_columns(stack):
    _, text, _ = run_cli(stack)
    assert max(map(len, text.splitlines())) <= 120


def test_wide_keeps_every_row_on_one_line():
    _, text, _ = run_cli("staging")
    _, wide, _ = run_cli("staging", "--wide")
    assert max(map(len, wide.splitlines())) > 120 and len(wide.splitlines()) < len(text.splitlines())
    assert sorted(wide.split()) == sorted(text.split())
