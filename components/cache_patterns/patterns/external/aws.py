"""What ElastiCache accepts, as tables and two window checks: config refuses what AWS would refuse at
deploy time (after minutes of waiting), naming the key."""
from __future__ import annotations

# ElastiCache (node-based) engine versions this program creates, and their parameter group family.
# Families: AWS "Engine specific parameters" (docs.aws.amazon.com/AmazonElastiCache/latest/dg/
# ParameterGroups.Engine.html): valkey8 covers 8.0-8.2, "Valkey 7.2 parameters are the same as Redis
# OSS 7", Valkey 9.0 has its own section (family valkey9); the CreateCacheParameterGroup API lists
# valkey8 | valkey7 | redis6.x | redis7 | ... Versions: "Supported engines and versions" (same guide).
# Redis OSS before 6 is left out: no AUTH rotation strategies or RBAC there.
ELASTICACHE_FAMILIES = {
    ("valkey", "7.2"): "valkey7",
    ("valkey", "8.0"): "valkey8",
    ("valkey", "8.1"): "valkey8",
    ("valkey", "8.2"): "valkey8",
    ("valkey", "9.0"): "valkey9",
    ("redis", "6.0"): "redis6.x",
    ("redis", "6.2"): "redis6.x",
    ("redis", "7.0"): "redis7",
    ("redis", "7.1"): "redis7",
}
# Valkey 8.1 matches the in-cluster image table, so moving a cache between patterns keeps its engine;
# ElastiCache's newest Redis OSS is 7.1 (the image table's 7.2 is not offered there).
ELASTICACHE_DEFAULT_VERSION = {"valkey": "8.1", "redis": "7.1"}
# Serverless caches: Valkey 7.2+ and Redis OSS 7.0+, addressed by major version only.
SERVERLESS_MAJORS = {"valkey": ("7", "8", "9"), "redis": ("7",)}
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK = 7 * 1440


def window(text: str, key: str, problems: list[tuple[str, str]]) -> tuple[int, int] | None:
    """(start, length) in minutes of a `hh:mm-hh:mm` (daily) or `ddd:hh:mm-ddd:hh:mm` (weekly) window,
    start counted from Monday 00:00 for weekly ones; None (after adding a problem) when out of range."""
    points = []
    for part in text.split("-"):
        *day, hh, mm = part.split(":")
        if int(hh) > 23 or int(mm) > 59:
            problems.append((key, f"{part!r} is not a time of day (hh:mm, UTC), got {text!r}"))
            return None
        points.append((DAYS.index(day[0]) * 1440 if day else 0) + int(hh) * 60 + int(mm))
    period = WEEK if text[0].isalpha() else 1440
    length = (points[1] - points[0]) % period
    # ElastiCache refuses windows shorter than 60 minutes, and maintenance windows over 24 hours.
    if not 60 <= length <= 1440:
        problems.append((key, f"must span 60 minutes to 24 hours, got {length} minutes ({text!r})"))
        return None
    return points[0], length


def windows_overlap(daily: tuple[int, int], weekly: tuple[int, int]) -> bool:
    """Whether a daily window, on any day, overlaps a weekly one."""
    busy = {(weekly[0] + m) % WEEK for m in range(weekly[1])}
    return any((day * 1440 + daily[0] + m) % WEEK in busy for day in range(7) for m in range(daily[1]))
