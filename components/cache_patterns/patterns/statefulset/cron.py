"""Five-field cron schedules as a Kubernetes CronJob reads them (minute hour day-of-month month
day-of-week, with `*`, lists, ranges and steps, and @hourly/@daily/@weekly/@midnight): whether one is
valid, and the longest time between two runs, which the backup alert waits twice over."""
from __future__ import annotations

from datetime import datetime, timedelta

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
          "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}


class CronError(ValueError):
    pass


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        if step_text and not step_text.isdigit():
            raise CronError(f"{name} {part!r}: the step must be a number")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise CronError(f"{name} {part!r}: the step must be at least 1")
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise CronError(f"{name} {part!r} is not a range of numbers")
            first, last = int(a), int(b)
        elif body.isdigit():
            first = int(body)
            last = high if step_text else first
        else:
            raise CronError(f"{name} {part!r} is not a number, range or * (names such as MON are not accepted)")
        if not (low <= first <= high and low <= last <= high and first <= last):
            raise CronError(f"{name} {part!r} is outside {low}-{high}")
        out.update(range(first, last + 1, step))
    return frozenset(out)


def parse(schedule: str) -> tuple[frozenset[int], ...]:
    """The sets of minutes, hours, days of month, months and days of week (0-6, Sunday 0)."""
    text = MACROS.get(schedule.strip(), schedule)
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"{schedule!r} is not a cron schedule (5 fields: minute hour day-of-month month "
                        f"day-of-week, such as '0 3 * * *', or @daily/@hourly/@weekly)")
    sets = [_field(p, name, low, high) for p, (name, low, high) in zip(parts, FIELDS)]
    sets[4] = frozenset(d % 7 for d in sets[4])
    return tuple(sets)


def _runs(schedule: str, start: datetime, days_ahead: int) -> list[datetime]:
    minutes, hours, days, months, weekdays = parse(schedule)
    parts = MACROS.get(schedule.strip(), schedule).split()
    dom_any, dow_any = parts[2] == "*", parts[4] == "*"
    times = [(h, m) for h in sorted(hours) for m in sorted(minutes)]
    out = []
    for n in range(days_ahead):
        d = start + timedelta(days=n)
        # cron: when both day fields are restricted, a day matching either one runs.
        day_ok = (d.day in days and (d.isoweekday() % 7) in weekdays) if (dom_any or dow_any) else \
            (d.day in days or (d.isoweekday() % 7) in weekdays)
        if d.month in months and day_ok:
            out += [d.replace(hour=h, minute=m) for h, m in times]
    return out


def longest_gap_s(schedule: str) -> int:
    """The longest time between two runs (seconds), over the runs of the next nine years from a fixed date
    (so leap years and short months count). Raises CronError for an invalid or a never-running schedule."""
    months = parse(schedule)[3]
    runs = _runs(schedule, datetime(2027, 1, 1), 366 * 9 if len(months) < 12 else 62)
    if len(runs) < 2:
        raise CronError(f"{schedule!r} runs less than twice in nine years")
    return int(max((b - a).total_seconds() for a, b in zip(runs, runs[1:])))
