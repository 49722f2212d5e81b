"""Line and bar charts drawn as SVG text on the server.

Reports must open offline, print to PDF and need no JavaScript, so charts are
inline SVG made here without any plotting library. They aim to be honest rather
than fancy: bar charts always start at zero, line charts scale to the data with
round-numbered ticks, dates on the x axis get calendar ticks (hours, days, weeks,
months, years), and every point or bar carries a ``<title>`` so hovering it shows
the exact value. All text is escaped, so column names and values cannot inject
markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from html import escape

WIDTH = 720
HEIGHT = 300
PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d")
MARKER_LIMIT = 60  # more points than this: the line alone, markers would be a smear
CHAR_WIDTH = 6.6  # average glyph width at 11px, for laying out labels
EPOCH = datetime(1970, 1, 1)
HOUR, DAY = 3600.0, 86400.0
SECOND_STEPS = (HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY)
MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120, 240, 600)


@dataclass(frozen=True)
class Series:
    """One line (or one bar per x value) named for the legend."""

    name: str
    values: Sequence[object]


@dataclass(frozen=True)
class _Scale:
    """Maps data units (``lo``..``hi``) to pixels (``start``..``end``)."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        if self.hi == self.lo:
            return (self.start + self.end) / 2
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)


@dataclass(frozen=True)
class _Box:
    left: float
    top: float
    right: float
    bottom: float


def chart(
    kind: str,
    x: Sequence[object],
    series: Sequence[Series],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """A ``line`` or ``bar`` chart of ``series`` over ``x``, as an ``<svg>`` element."""
    numbers = [[to_number(v) for v in s.values] for s in series]
    present = [v for values in numbers for v in values if v is not None]
    if not present or not x:
        return _empty(title, width, height)
    lo, hi = min(present), max(present)
    if kind == "bar":
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    y_ticks = nice_ticks(lo, hi)
    y_labels = [format_tick(t, y_ticks) for t in y_ticks]
    top = (28 if title else 10) + (18 if len(series) > 1 else 0) + 22
    left = max(40.0, 14 + CHAR_WIDTH * max(len(label) for label in y_labels))
    box = _Box(left, top, width - 16, height - (38 if x_label else 24))
    y = _Scale(y_ticks[0], y_ticks[-1], box.bottom, box.top)
    parts = _frame(title, y_label, x_label, [s.name for s in series], box, width, height)
    for tick, label in zip(y_ticks, y_labels, strict=True):
        py = y(tick)
        parts.append(_line(box.left, py, box.right, py, "#e5e7eb"))
        parts.append(_text(box.left - 6, py + 4, label, anchor="end"))
    if kind == "bar":
        parts += _bars(x, series, numbers, box, y)
    elif kind == "line":
        parts += _lines(x, series, numbers, box, y)
    else:
        raise ValueError(f"unknown chart type '{kind}' (line or bar)")
    parts.append(_line(box.left, box.bottom, box.right, box.bottom, "#9ca3af"))
    parts.append(_line(box.left, box.top, box.left, box.bottom, "#9ca3af"))
    return _svg(title, width, height, parts)


def _lines(
    x: Sequence[object],
    series: Sequence[Series],
    numbers: list[list[float | None]],
    box: _Box,
    y: _Scale,
) -> list[str]:
    kind, xs = x_positions(x)
    parts: list[str] = []
    if kind == "category":
        scale = _Scale(0, max(len(x) - 1, 0), box.left, box.right)
        parts += _category_ticks(x, [scale(i) for i in range(len(x))], box)
    else:
        known = [v for v in xs if v is not None]
        lo, hi = min(known), max(known)
        if kind == "time":
            ticks = time_ticks(lo, hi, max(2, int((box.right - box.left) // 90)))
            scale = _Scale(lo, hi, box.left, box.right)
        else:
            steps = nice_ticks(lo, hi)
            ticks = [(t, format_tick(t, steps)) for t in steps]
            scale = _Scale(steps[0], steps[-1], box.left, box.right)
        for value, label in ticks:
            px = scale(value)
            parts.append(_line(px, box.bottom, px, box.bottom + 4, "#9ca3af"))
            parts.append(_x_label(px, label, box))
    for index, (one, values) in enumerate(zip(series, numbers, strict=True)):
        color = PALETTE[index % len(PALETTE)]
        points: list[tuple[float, float, str]] = []
        segments: list[list[tuple[float, float, str]]] = [points]
        for i, (xv, yv) in enumerate(zip(xs, values, strict=False)):
            if xv is None or yv is None:
                points = []  # a gap in the data is a gap in the line
                segments.append(points)
                continue
            px = scale(i if kind == "category" else xv)
            points.append((px, y(yv), f"{label_of(x[i])} · {one.name}: {format_value(yv)}"))
        drawn = [s for s in segments if s]
        for segment in drawn:
            coords = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in segment)
            parts.append(
                f'<polyline class="series" points="{coords}" fill="none" stroke="{color}" '
                'stroke-width="2" stroke-linejoin="round"/>'
            )
        if sum(len(s) for s in drawn) <= MARKER_LIMIT:
            for segment in drawn:
                for px, py, tip in segment:
                    parts.append(
                        f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}">'
                        f"<title>{escape(tip)}</title></circle>"
                    )
    return parts


def _bars(
    x: Sequence[object],
    series: Sequence[Series],
    numbers: list[list[float | None]],
    box: _Box,
    y: _Scale,
) -> list[str]:
    band = (box.right - box.left) / len(x)
    group = band * 0.8
    width = max(group / len(series), 1.0)
    zero = y(0.0)
    centers = [box.left + band * (i + 0.5) for i in range(len(x))]
    parts = _category_ticks(x, centers, box)
    for index, (one, values) in enumerate(zip(series, numbers, strict=True)):
        color = PALETTE[index % len(PALETTE)]
        for i, value in enumerate(values[: len(x)]):
            if value is None:
                continue
            px = centers[i] - group / 2 + index * (group / len(series))
            top, bottom = sorted((y(value), zero))
            tip = f"{label_of(x[i])} · {one.name}: {format_value(value)}"
            parts.append(
                f'<rect class="bar" x="{px:.1f}" y="{top:.1f}" width="{width:.1f}" '
                f'height="{max(bottom - top, 0.5):.1f}" fill="{color}">'
                f"<title>{escape(tip)}</title></rect>"
            )
    return parts


def _category_ticks(x: Sequence[object], centers: list[float], box: _Box) -> list[str]:
    """Labels under evenly spaced x values, thinned so they never overlap."""
    labels = [_shorten(label_of(v)) for v in x]
    widest = max(len(label) for label in labels) * CHAR_WIDTH + 12
    room = (box.right - box.left) / max(len(x), 1)
    every = max(1, math.ceil(widest / room)) if room > 0 else 1
    parts: list[str] = []
    for i in range(0, len(x), every):
        parts.append(_line(centers[i], box.bottom, centers[i], box.bottom + 4, "#9ca3af"))
        parts.append(_x_label(centers[i], labels[i], box))
    return parts


def _x_label(px: float, label: str, box: _Box) -> str:
    """A label under the x axis, centred on its tick unless that would cut it at an edge."""
    half = len(label) * CHAR_WIDTH / 2
    anchor = "middle"
    if px + half > box.right + 14:
        anchor = "end"
    elif px - half < 2:
        anchor = "start"
    return _text(px, box.bottom + 16, label, anchor=anchor)


def _frame(
    title: str, y_label: str, x_label: str, names: list[str], box: _Box, width: int, height: int
) -> list[str]:
    parts: list[str] = []
    if title:
        parts.append(_text(8, 18, title, size=14, weight="600", color="#111827"))
    if len(names) > 1:
        legend_y = 36 if title else 18
        px = box.left
        for index, name in enumerate(names):
            color = PALETTE[index % len(PALETTE)]
            parts.append(
                f'<rect x="{px:.1f}" y="{legend_y - 9}" width="10" height="10" fill="{color}"/>'
            )
            parts.append(_text(px + 14, legend_y, name))
            px += 14 + CHAR_WIDTH * len(name) + 16
    if y_label:
        parts.append(_text(8, box.top - 14, y_label, color="#6b7280"))
    if x_label:
        parts.append(
            _text((box.left + box.right) / 2, height - 6, x_label, anchor="middle", color="#6b7280")
        )
    return parts


def _empty(title: str, width: int, height: int) -> str:
    parts = [_text(width / 2, height / 2, "no rows to chart", anchor="middle", color="#6b7280")]
    if title:
        parts.insert(0, _text(8, 18, title, size=14, weight="600", color="#111827"))
    return _svg(title, width, height, parts)


def _svg(title: str, width: int, height: int, parts: list[str]) -> str:
    label = escape(title or "chart")
    head = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{label}" font-family="system-ui, sans-serif" font-size="11">'
        f"<title>{label}</title>"
    )
    return head + "".join(parts) + "</svg>"


def _line(x1: float, y1: float, x2: float, y2: float, color: str) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{color}" stroke-width="1"/>'
    )


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    size: int = 11,
    weight: str = "400",
    color: str = "#374151",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'font-weight="{weight}" fill="{color}">{escape(text)}</text>'
    )


def _shorten(label: str, limit: int = 16) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def to_number(value: object) -> float | None:
    """A y value as a float; ``None`` (and NaN) is a gap. Anything else non-numeric is an error."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return None if math.isnan(number) else number
    raise ValueError(f"{value!r} is not a number")


def x_positions(values: Sequence[object]) -> tuple[str, list[float | None]]:
    """How x values lie on the axis: ``time`` (seconds), ``number``, or ``category`` (their index)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, date) for v in present):
        first = next((v for v in present if isinstance(v, datetime) and v.tzinfo), None)
        zone = first.tzinfo if isinstance(first, datetime) else None
        return "time", [_seconds(v, zone) if isinstance(v, date) else None for v in values]
    if present and all(
        isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in present
    ):
        return "number", [to_number(v) for v in values]
    return "category", [float(i) for i in range(len(values))]


def _seconds(value: date, zone: tzinfo | None) -> float:
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone).replace(tzinfo=None)
    return (moment - EPOCH).total_seconds()


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round-numbered ticks (steps of 1, 2 or 5 times a power of ten) covering ``lo``..``hi``."""
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / target
    power = 10.0 ** math.floor(math.log10(raw))
    fraction = raw / power
    step = (1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10) * power
    start, end = math.floor(lo / step), math.ceil(hi / step)
    digits = max(0, -math.floor(math.log10(step))) + 1
    return [round(i * step, digits) for i in range(start, end + 1)]


def format_tick(value: float, ticks: Sequence[float]) -> str:
    """A tick label with as many decimals as the step between ticks needs, and no ``-0``."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{(value if value != 0 else 0.0):,.{decimals}f}"


def format_value(value: float) -> str:
    """A value for a tooltip: whole numbers whole, others to a sensible precision."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4g}"


def label_of(value: object) -> str:
    if value is None:
        return "∅"
    if isinstance(value, datetime):
        if value.time() == datetime.min.time() and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def time_ticks(lo: float, hi: float, most: int) -> list[tuple[float, str]]:
    """Calendar ticks between two moments (seconds since 1970): hours, days, weeks, months or years."""
    span = hi - lo
    if span <= 0:
        return [(lo, label_of(EPOCH + timedelta(seconds=lo)))]
    for step in SECOND_STEPS:
        if span / step <= most:
            anchor = 4 * DAY if step == 7 * DAY else 0.0  # 1970-01-05 was a Monday
            first = math.ceil((lo - anchor) / step) * step + anchor
            count = int((hi - first) // step) + 1
            shape = "%Y-%m-%d"
            if step < DAY:
                shape = "%H:%M" if span <= DAY else "%m-%d %H:%M"
            moments = [first + i * step for i in range(count)]
            return [(m, (EPOCH + timedelta(seconds=m)).strftime(shape)) for m in moments]
    start = EPOCH + timedelta(seconds=lo)
    for months in MONTH_STEPS:
        if span / (months * 30.44 * DAY) <= most:
            break
    index = start.year * 12 + start.month - 1
    if start != datetime(start.year, start.month, 1):
        index += 1
    index = math.ceil(index / months) * months
    ticks: list[tuple[float, str]] = []
    while True:
        moment = datetime(index // 12, index % 12 + 1, 1)
        seconds = (moment - EPOCH).total_seconds()
        if seconds > hi:
            return ticks
        ticks.append((seconds, moment.strftime("%Y" if months >= 12 else "%Y-%m")))
        index += months
