"""Versions of data that grows: incremental models and loaded sources, made of immutable segments.

A physical object never changes once it exists, so what one environment reads is never
touched by a run in another, nor by a run in its own before that run publishes. Data
that grows between runs (a new day of an incremental model, new rows from a database or
a stream) is kept as *segments*: tables written once, each holding one batch. A *version*
is a view over a list of segments; a run that adds a day writes one segment and a new
version view (a few catalog statements, whatever the table's size), and publishing
points the environment at the new version. Readers of the old version see the old
segments, unchanged.

How a version reads its segments depends on how the data grows:

- ``ranges``: an incremental model by time. Each segment covers whole time ranges; a
  range processed again (a restatement, a lookback) is hidden in the older segments by a
  *mask* on the time column, and the newer segment supplies it.
- ``keys``: an incremental model with a unique key. Segments are layers; a key in a newer
  layer hides the same key in every older one (newest wins, as a merge would).
- ``append``: a source read by cursor or a stream: every segment's rows, in order.
- ``replace``: a source read whole each time: the newest segment alone.

Versions stay fast to read by compaction: whenever eight consecutive segments share a
level, they are merged into one segment of the next level (written once, shared by every
environment, like any segment), so a version has O(log n) segments and each row is
rewritten O(log n) times over the life of the table.

Names are derived from content: a segment from the fingerprint, its range and the exact
upstream versions it read; a version from its segments. Two environments that reach the
same data reach the same names, so nothing is built twice.

>>> a = Segment("s.a", ranges=[("2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00")])
>>> b = Segment("s.b", ranges=[("2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00")])
>>> [s.table for s in with_new_segments("ranges", [a], [b])]
['s.a', 's.b']
>>> with_new_segments("ranges", [a], [b])[0].masks
[('2024-01-01T00:00:00+00:00', '2024-01-02T00:00:00+00:00')]
>>> print(version_sql(Version("append", [a, b]), '"'))
SELECT * FROM "s"."a"
UNION ALL
SELECT * FROM "s"."b"
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Mode = Literal["ranges", "keys", "append", "replace"]
FANOUT = 8  # consecutive segments of one level merged into one of the next
Range = tuple[str, str]  # ISO timestamps, half-open [start, end)


@dataclass
class Segment:
    """One immutable table of a version, and what the version hides of it."""

    table: str
    ranges: list[Range] = field(default_factory=list)  # time ranges it holds (mode ranges)
    masks: list[Range] = field(default_factory=list)  # time ranges hidden: a newer one has them
    level: int = 0
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, type), when known
    rows: int | None = None
    cursor: dict[str, Any] | None = None  # the source's high-water mark after this segment

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "ranges": [list(r) for r in self.ranges],
            "masks": [list(m) for m in self.masks],
            "level": self.level,
            "columns": [list(c) for c in self.columns],
            "rows": self.rows,
            "cursor": self.cursor,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segment:
        return cls(
            table=str(data["table"]),
            ranges=[(str(s), str(e)) for s, e in data.get("ranges") or []],
            masks=[(str(s), str(e)) for s, e in data.get("masks") or []],
            level=int(data.get("level") or 0),
            columns=[(str(n), str(t)) for n, t in data.get("columns") or []],
            rows=data.get("rows"),
            cursor=data.get("cursor"),
        )


@dataclass
class Version:
    mode: Mode
    segments: list[Segment]
    keys: tuple[str, ...] = ()
    time_column: str | None = None

    @property
    def rows(self) -> int | None:
        counts = [s.rows for s in self.segments]
        if self.mode == "append" and all(c is not None for c in counts):
            return sum(c for c in counts if c is not None)
        return None

    def covered(self) -> list[tuple[datetime, datetime]]:
        """The time ranges this version holds (mode ranges and keys with a time column)."""
        return sorted(
            (datetime.fromisoformat(s), datetime.fromisoformat(e))
            for segment in self.segments
            for s, e in segment.ranges
        )

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.segments]


def digest(*parts: object, size: int = 6) -> str:
    payload = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2b(payload.encode(), digest_size=size).hexdigest()


def segment_name(base: str, *parts: object) -> str:
    """A new segment of ``base``: named by what it was made from."""
    return f"{base}__s{digest(*parts)}"


def version_name(base: str, version: Version) -> str:
    """A version is named by its segments and what it hides of them."""
    spec = [(s.table, s.masks) for s in version.segments]
    return f"{base}__v{digest(version.mode, list(version.keys), spec)}"


def derived_name(base: str, upstream: Sequence[str]) -> str:
    """A table built from versioned inputs: named by the exact versions it read."""
    return f"{base}__d{digest(sorted(upstream))}"


def with_new_segments(mode: Mode, old: list[Segment], new: list[Segment]) -> list[Segment]:
    """The segment list after adding ``new``: older ones masked where the new ones cover them."""
    if mode == "replace":
        return list(new[-1:]) if new else list(old)
    if mode != "ranges":
        return [*old, *new]
    added = [r for segment in new for r in segment.ranges]
    result = []
    for segment in old:
        masks = list(segment.masks)
        for start, end in added:
            if _overlaps(segment.ranges, start, end) and (start, end) not in masks:
                masks.append((start, end))
        result.append(Segment(**{**segment.__dict__, "masks": sorted(masks)}))
    return [*result, *new]


def _overlaps(ranges: list[Range], start: str, end: str) -> bool:
    low, high = datetime.fromisoformat(start), datetime.fromisoformat(end)
    return any(
        datetime.fromisoformat(s) < high and datetime.fromisoformat(e) > low for s, e in ranges
    )


def compaction(segments: list[Segment]) -> tuple[int, int] | None:
    """The first run of ``FANOUT`` consecutive segments of one level, as (start, end) indexes."""
    run_start = 0
    for index in range(1, len(segments) + 1):
        if index == len(segments) or segments[index].level != segments[run_start].level:
            if index - run_start >= FANOUT:
                return run_start, run_start + FANOUT
            run_start = index
    return None


def merged_segment(base: str, group: list[Segment]) -> Segment:
    """The segment that replaces ``group`` once written (its rows: the group's version)."""
    spec = [(s.table, s.masks) for s in group]
    ranges = sorted({r for s in group for r in s.ranges})
    return Segment(
        table=f"{base}__c{digest(spec)}",
        ranges=ranges,
        level=group[0].level + 1,
        columns=union_columns(group),
        cursor=group[-1].cursor,
    )


def union_columns(segments: Sequence[Segment]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for segment in segments:
        for name, kind in segment.columns:
            seen.setdefault(name, kind)
    return list(seen.items())


def version_sql(version: Version, quote_char: str, *, literal_time: Any = None) -> str:
    """The SELECT a version's view runs: portable SQL (UNION ALL, NOT EXISTS, CAST)."""
    segments = version.segments
    if version.mode == "replace":
        segments = segments[-1:]
    columns = union_columns(segments)
    uniform = all(s.columns == columns or not s.columns for s in segments)
    parts = []
    for index, segment in enumerate(segments):
        select = _projection(segment, columns, uniform, quote_char)
        where = _hidden(version, segments, index, quote_char, literal_time)
        parts.append(f"{select} FROM {_quote(segment.table, quote_char)} AS s{index}{where}")
    if not parts:
        return "SELECT 1 AS empty_version WHERE 1 = 0"
    if version.mode == "append" and uniform:
        # the common case reads plainly: the doctest above shows it
        parts = [f"SELECT * FROM {_quote(s.table, quote_char)}" for s in segments]
    return "\nUNION ALL\n".join(parts)


def _projection(
    segment: Segment, columns: list[tuple[str, str]], uniform: bool, quote_char: str
) -> str:
    if uniform:
        return "SELECT *"
    have = {name for name, _ in segment.columns}
    items = [
        _quote_part(name, quote_char)
        if name in have
        else f"CAST(NULL AS {kind}) AS {_quote_part(name, quote_char)}"
        for name, kind in columns
    ]
    return "SELECT " + ", ".join(items)


def _hidden(
    version: Version, segments: list[Segment], index: int, quote_char: str, literal_time: Any
) -> str:
    segment = segments[index]
    conditions = []
    if segment.masks and version.time_column:
        column = f"s{index}.{_quote_part(version.time_column, quote_char)}"
        hidden = " OR ".join(
            f"({column} >= {_time(start, literal_time)} AND {column} < {_time(end, literal_time)})"
            for start, end in segment.masks
        )
        conditions.append(f"NOT ({hidden})")
    if version.mode == "keys" and version.keys:
        newer = segments[index + 1 :]
        for later in newer:
            match = " AND ".join(
                f"n.{_quote_part(k, quote_char)} = s{index}.{_quote_part(k, quote_char)}"
                for k in version.keys
            )
            conditions.append(
                f"NOT EXISTS (SELECT 1 FROM {_quote(later.table, quote_char)} AS n WHERE {match})"
            )
    return (" WHERE " + " AND ".join(conditions)) if conditions else ""


def _time(value: str, literal_time: Any) -> str:
    moment = datetime.fromisoformat(value)
    if literal_time is not None:
        return str(literal_time(moment))
    return f"TIMESTAMP '{moment.replace(tzinfo=None).isoformat(sep=' ')}'"


def _quote_part(name: str, quote_char: str) -> str:
    return quote_char + name.replace(quote_char, quote_char * 2) + quote_char


def _quote(qualified: str, quote_char: str) -> str:
    return ".".join(_quote_part(p, quote_char) for p in qualified.split("."))


@dataclass
class Growth:
    """How a versioned node grows in one run: from which segments, by which new batches."""

    mode: Mode
    base_segments: list[Segment] = field(default_factory=list)
    ranges: list[tuple[datetime, datetime]] = field(default_factory=list)  # new time ranges
    new_layer: bool = False  # keys without a time column: the whole query as a new layer
    keys: tuple[str, ...] = ()
    time_column: str | None = None
    nonce: str | None = None  # set when the user asked to recompute what exists (restate)


@dataclass
class GrownVersion:
    version: Version
    new: list[Segment]  # segments to write from the model's query, in order
    merged: dict[str, list[Segment]]  # compacted segment -> the segments it merges


def grow(base: str, growth: Growth, upstream: Sequence[str]) -> GrownVersion:
    """The version after this run's batches, compacted; names only, nothing written."""
    inputs = sorted(upstream)
    new: list[Segment] = []
    for start, end in growth.ranges:
        span = (start.isoformat(), end.isoformat())
        name = segment_name(base, span, inputs, growth.nonce)
        new.append(Segment(name, ranges=[span]))
    if growth.new_layer:
        new.append(Segment(segment_name(base, "layer", inputs, growth.nonce)))
    grown = add_segments(base, growth.mode, growth.base_segments, new)
    grown.version.keys, grown.version.time_column = growth.keys, growth.time_column
    return grown


def add_segments(base: str, mode: Mode, old: list[Segment], new: list[Segment]) -> GrownVersion:
    """``old`` plus ``new`` as one version, compacted where a level has filled up."""
    segments = with_new_segments(mode, old, new)
    merged: dict[str, list[Segment]] = {}
    while (found := compaction(segments)) is not None:
        first, last = found
        group = segments[first:last]
        combined = merged_segment(base, group)
        merged[combined.table] = group
        segments = [*segments[:first], combined, *segments[last:]]
    return GrownVersion(Version(mode, segments), new, merged)
