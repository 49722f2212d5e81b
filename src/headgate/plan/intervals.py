"""Time intervals of incremental models: what is due, what is done, what is missing.

Intervals are half-open ``[start, end)`` in UTC, aligned to the model's unit.
Only whole intervals are processed: a day is loaded once it has ended, so a run
at 10:00 never records a half-filled day as done.

>>> from datetime import datetime
>>> done = [Interval(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))]
>>> gaps = missing_ranges(done, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 6, tzinfo=UTC), "day", None)
>>> [(s.day, e.day) for s, e in gaps]
[(3, 6)]
>>> gaps = missing_ranges([], datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 6, tzinfo=UTC), "day", 2)
>>> [(s.day, e.day) for s, e in gaps]
[(1, 3), (3, 5), (5, 6)]
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from headgate.state.records import Interval

__all__ = ["UTC", "Interval", "align", "as_utc", "missing_ranges", "step"]


def as_utc(value: date | datetime) -> datetime:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def align(value: datetime, unit: str) -> datetime:
    """The start of the interval holding ``value``."""
    value = as_utc(value)
    if unit == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        return value.replace(hour=0, minute=0, second=0, microsecond=0)
    return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def step(value: datetime, unit: str, count: int = 1) -> datetime:
    if unit == "hour":
        return value + timedelta(hours=count)
    if unit == "day":
        return value + timedelta(days=count)
    month = value.month - 1 + count
    return value.replace(year=value.year + month // 12, month=month % 12 + 1)


def missing_ranges(
    done: list[Interval], start: datetime, end: datetime, unit: str, batch_size: int | None
) -> list[tuple[datetime, datetime]]:
    """Ranges in ``[start, end)`` not covered by ``done``, cut into batches of ``batch_size`` units."""
    gaps: list[tuple[datetime, datetime]] = []
    cursor = start
    for interval in sorted(done):
        if interval.end <= cursor:
            continue
        if interval.start >= end:
            break
        if interval.start > cursor:
            gaps.append((cursor, min(interval.start, end)))
        cursor = max(cursor, interval.end)
    if cursor < end:
        gaps.append((cursor, end))
    if batch_size is None:
        return gaps
    batches: list[tuple[datetime, datetime]] = []
    for gap_start, gap_end in gaps:
        cursor = gap_start
        while cursor < gap_end:
            upper = min(step(cursor, unit, batch_size), gap_end)
            batches.append((cursor, upper))
            cursor = upper
    return batches
