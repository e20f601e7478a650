"""The backup alerts under promtool (rules exactly as observability.rules generates them for a cache
with `backup.pushgateway`): each fires when it should and stays quiet otherwise, and the dashboard
reads the same series. The series are what backup.sh pushes (tests/live/test_backup_live.py checks
the push itself): a Pushgateway group job/namespace/cache labels every one."""
from __future__ import annotations

from pathlib import Path

from cache_patterns.observability import dashboard, rules
from cache_patterns.observability.target import BackupTarget, CacheTarget

from . import promtool as pt

STS = "prod-sessions"
HOUR = 3600


def target(interval_h: int = 6) -> CacheTarget:
    return CacheTarget(stack="prod", cache="sessions", pattern="statefulset", namespace="cache",
                       backup=BackupTarget(cache=STS, interval_s=interval_h * HOUR))


def pushed(metric: str, sts: str = STS) -> str:
    return f'{metric}{{job="cache-backup",namespace="cache",cache="{sts}",instance="pg:9091"}}'


def backup_cases(sts: str, interval_h: int = 6) -> list[pt.Case]:
    """Each backup alert firing and quiet, for a `backup.schedule` whose longest gap is `interval_h`
    hours (also run on the staging stack's rules by test_rules_promtool)."""
    C = pt.Case
    limit_m = 2 * interval_h * 60
    last = pushed("cache_backup_last_success_timestamp_seconds", sts)
    run = pushed("cache_backup_last_run_success", sts)
    span = f"0+0x{limit_m + 100}"
    return [
        C(f"a backup older than twice the {interval_h} h schedule fires", "CacheBackupTooOld", [(last, span)],
          f"{limit_m + 1}m", [{"value": (limit_m + 1) * 60}]),
        C("a backup within twice the schedule is quiet", "CacheBackupTooOld", [(last, span)], f"{limit_m - 1}m"),
        C("a newer success resets it", "CacheBackupTooOld",
          [(last, f"0+0x{limit_m // 2} {limit_m * 30}+0x{limit_m}")], f"{limit_m + 1}m"),
        C("no success ever fires after twice the schedule", "CacheBackupNeverSucceeded",
          [(run, f"0x{limit_m + 100}")], f"{limit_m + 10}m", [{}]),
        C("a success present is quiet", "CacheBackupNeverSucceeded", [(last, span)], f"{limit_m + 10}m"),
        C("a failed last run fires", "CacheBackupFailing", [(run, "1 1 0x5")], "4m", [{"value": 0}]),
        C("a good last run is quiet", "CacheBackupFailing", [(run, "0 1x5")], "4m"),
    ]


def test_backup_alerts_fire_when_they_should_and_only_then(tmp_path: Path) -> None:
    groups = rules.groups(target())
    rule_file = pt.write_rules(groups, tmp_path / "rules.yaml")
    check = pt.check(rule_file)
    assert check.returncode == 0, check.stdout + check.stderr
    # Minute 0 is time 0: a success at 0 s, seen every minute after (the Pushgateway keeps the value).
    tests = pt.test_file(rule_file, groups, backup_cases(STS), tmp_path / "tests.yaml")
    result = pt.run_tests(tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_interval_follows_the_schedule_and_the_dashboard_reads_the_same_series() -> None:
    daily = rules.groups(target(24))[0]["rules"]
    too_old = next(r for r in daily if r["alert"] == "CacheBackupTooOld")
    assert too_old["expr"].endswith(f"> {2 * 24 * HOUR}")
    assert next(r for r in daily if r["alert"] == "CacheBackupNeverSucceeded")["for"] == "2d"
    exprs = dashboard.expressions(dashboard.dashboard(target()))
    for metric in ("cache_backup_last_success_timestamp_seconds", "cache_backup_duration_seconds",
                   "cache_backup_size_bytes", "cache_backup_last_run_success"):
        assert any(f'{metric}{{cache="{STS}"}}' in e for e in exprs), metric
