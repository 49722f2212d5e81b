"""Arithmetic on half-open time intervals [start, end).

An incremental table remembers which time ranges it already holds. Keeping the list merged
(no overlaps, no touching neighbours) makes "what is missing?" a simple walk, and keeps the
stored list as short as the history allows.
"""

from __future__ import annotations

from collections.abc import Iterable

from headgate.state.records import Interval


def checked(start_end: Interval) -> Interval:
    """The interval itself, refused when its end is before its start (a caller's mistake)."""
    if start_end.end < start_end.start:
        raise ValueError(
            f"interval end {start_end.end.isoformat()} is before its start "
            f"{start_end.start.isoformat()}"
        )
    return start_end


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted intervals with overlapping and adjacent ones coalesced; empty ones dropped."""
    merged: list[Interval] = []
    for item in sorted(i for i in intervals if i.end > i.start):
        if merged and item.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Interval(last.start, max(last.end, item.end))
        else:
            merged.append(item)
    return merged


def subtract(intervals: Iterable[Interval], hole: Interval) -> list[Interval]:
    """The intervals with ``hole`` cut out; an interval spanning the hole splits in two."""
    kept: list[Interval] = []
    for item in merge(intervals):
        if item.end <= hole.start or item.start >= hole.end:
            kept.append(item)
            continue
        if item.start < hole.start:
            kept.append(Interval(item.start, hole.start))
        if item.end > hole.end:
            kept.append(Interval(hole.end, item.end))
    return kept
