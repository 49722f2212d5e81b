"""SVG drawn on the server for the web UI: the lineage graph, a run's Gantt chart, control charts.

Everything is plain SVG text with every name escaped; colours come from CSS classes
(``s-ok``, ``s-failed``, ...) so the page's stylesheet keeps one palette. Each node,
bar and point carries a ``<title>``: hovering it shows the exact name and value. The
axes reuse the report charts' tick rules (:mod:`headgate.deliveries.svg`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

from headgate.deliveries.svg import format_tick, format_value, nice_ticks
from headgate.server.ui.layout import NODE_HEIGHT, NODE_WIDTH, Layout

# data status -> (short mark, words); the mark keeps the status readable without colour
STATUS_MARKS: dict[str, tuple[str, str]] = {
    "ok": ("✓", "built, checks pass"),
    "warn": ("!", "built, a warning check failed"),
    "failed": ("✕", "failed: a build or a blocking check failed"),
    "stale": ("↻", "stale: the project changed since it was published"),
    "running": ("▶", "building now"),
    "missing": ("○", "not built in this environment"),
}
LABEL_CHARS = 31  # what fits in a node at the graph's font size
# an external step's node: its last run, not data
STEP_WORDS: dict[str, str] = {
    "ok": "its last run succeeded",
    "failed": "its last run failed",
    "running": "running now",
    "missing": "has not run in this environment",
}
STEP_LABEL_CHARS = 22  # beside the step's kind ("shell", "python", "dbt")


def lineage_svg(
    layout: Layout,
    statuses: Mapping[str, str],
    *,
    kinds: Mapping[str, str],
    link: str = "/models/",
    suffix: str = "",
    focus: str | None = None,
    steps: Mapping[str, str] | None = None,
) -> str:
    """The DAG as SVG: a node per model or source, linked to its page, coloured by status.

    ``steps`` names the external steps among the nodes, each with its kind (shell, python,
    dbt): drawn rounded, labelled with that kind, linked to the step's page.
    """
    parts = [
        f'<svg class="dag" id="dag" viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" '
        f'width="{layout.width:.0f}" height="{layout.height:.0f}" role="img" '
        f'aria-label="lineage of {len(layout.nodes)} models and sources" '
        'font-family="system-ui, sans-serif" font-size="12">',
        '<g class="edges">',
    ]
    half = NODE_HEIGHT / 2
    for up, down in layout.edges:
        a, b = layout.nodes[up], layout.nodes[down]
        x1, y1, x2, y2 = a.x + NODE_WIDTH, a.y + half, b.x, b.y + half
        bend = max((x2 - x1) / 2, 20)
        near = " near" if focus in (up, down) else ""
        parts.append(
            f'<path class="edge{near}" d="M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} '
            f'{x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"/>'
        )
    parts.append('</g><g class="nodes">')
    for name, node in layout.nodes.items():
        if steps is not None and name in steps:
            parts.append(_step_node(name, node, statuses.get(name, "missing"), steps[name], suffix))
            continue
        status = statuses.get(name, "missing")
        mark, words = STATUS_MARKS.get(status, ("?", status))
        kind = kinds.get(name, "model")
        label = name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"
        classes = f"node s-{status} k-{kind}" + (" focus" if name == focus else "")
        parts.append(
            f'<a href="{link}{quote(name)}{escape(suffix)}" class="{classes}" data-name="{escape(name)}">'
            f"<title>{escape(name)} ({kind}): {escape(words)}</title>"
            f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{NODE_WIDTH}" '
            f'height="{NODE_HEIGHT}" rx="6"/>'
            f'<text class="mark" x="{node.x + 10:.1f}" y="{node.y + half + 4:.1f}">{mark}</text>'
            f'<text x="{node.x + 26:.1f}" y="{node.y + half + 4:.1f}">{escape(label)}</text></a>'
        )
    parts.append("</g></svg>")
    return "".join(parts)


def _step_node(name: str, node: Any, status: str, kind: str, suffix: str) -> str:
    """An external step: a rounded node labelled with its kind, linked to its page."""
    half = NODE_HEIGHT / 2
    mark = STATUS_MARKS.get(status, ("?", status))[0]
    words = STEP_WORDS.get(status, status)
    short = name.removeprefix("steps.")
    label = f"steps.{short}"
    label = label if len(label) <= STEP_LABEL_CHARS else label[: STEP_LABEL_CHARS - 1] + "…"
    return (
        f'<a href="/steps/{quote(short)}{escape(suffix)}" class="node s-{status} k-step" '
        f'data-name="{escape(name)}"><title>{escape(name)} (step: {escape(kind)}): '
        f"{escape(words)}</title>"
        f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" '
        f'rx="{half:.0f}"/>'
        f'<text class="mark" x="{node.x + 12:.1f}" y="{node.y + half + 4:.1f}">{mark}</text>'
        f'<text x="{node.x + 28:.1f}" y="{node.y + half + 4:.1f}">{escape(label)}</text>'
        f'<text class="kind" x="{node.x + NODE_WIDTH - 12:.1f}" y="{node.y + half + 4:.1f}" '
        f'text-anchor="end" font-size="10">step: {escape(kind)}</text></a>'
    )


@dataclass(frozen=True)
class GanttBar:
    """One task on a run's timeline, in seconds from the run's start (end None: running)."""

    name: str
    status: str
    start: float | None
    end: float | None
    detail: str = ""  # rows, attempts: shown in the tooltip


GANTT_LABEL = 220
GANTT_ROW = 22
GANTT_WIDTH = 960


def gantt_svg(bars: Sequence[GanttBar], *, now: float) -> str:
    """Each task as a bar from its start to its end (to ``now`` while it runs), on a seconds axis."""
    ends = [b.end if b.end is not None else now for b in bars if b.start is not None]
    span = max(max(ends, default=now), 0.001)
    ticks = nice_ticks(0.0, span, target=8)
    span = ticks[-1] or span
    left, right, top = GANTT_LABEL, GANTT_WIDTH - 16, 24
    height = top + GANTT_ROW * max(len(bars), 1) + 12

    def x(seconds: float) -> float:
        return left + (right - left) * max(seconds, 0.0) / span

    parts = [
        f'<svg class="gantt" viewBox="0 0 {GANTT_WIDTH} {height}" width="{GANTT_WIDTH}" '
        f'height="{height}" role="img" aria-label="timeline of {len(bars)} tasks" '
        'font-family="system-ui, sans-serif" font-size="11">'
    ]
    for tick in ticks:
        px = x(tick)
        parts.append(
            f'<line class="grid" x1="{px:.1f}" y1="{top - 6}" x2="{px:.1f}" y2="{height - 8}"/>'
        )
        label = format_tick(tick, ticks) + " s"
        parts.append(
            f'<text class="axis" x="{px:.1f}" y="{top - 10}" text-anchor="middle">{label}</text>'
        )
    for index, bar in enumerate(bars):
        y = top + index * GANTT_ROW
        label = bar.name if len(bar.name) <= 32 else bar.name[:31] + "…"
        parts.append(
            f'<a href="#task-{quote(bar.name)}"><text class="label" x="{left - 8}" '
            f'y="{y + 15}" text-anchor="end">{escape(label)}</text></a>'
        )
        if bar.start is None:
            parts.append(
                f'<text class="axis" x="{left + 4}" y="{y + 15}">{escape(bar.status)}</text>'
            )
            continue
        finish = bar.end if bar.end is not None else now
        width = max(x(finish) - x(bar.start), 2.0)
        seconds = max(finish - bar.start, 0.0)
        tip = f"{bar.name}: {bar.status}, {seconds:.2f} s" + (
            f", {bar.detail}" if bar.detail else ""
        )
        parts.append(
            f'<rect class="bar s-{escape(bar.status)}" x="{x(bar.start):.1f}" y="{y + 4}" '
            f'width="{width:.1f}" height="{GANTT_ROW - 8}" rx="3"><title>{escape(tip)}</title></rect>'
        )
    parts.append("</svg>")
    return "".join(parts)


CHART_WIDTH = 640
CHART_HEIGHT = 220


def control_chart_svg(
    values: Sequence[float],
    *,
    center: float | None,
    limits: Mapping[str, tuple[float, float]],
    flagged: set[int],
    history: int,
    labels: Sequence[str] = (),
    title: str = "",
) -> str:
    """A control chart: the values as a line, the center, the 1/2/3-sigma limits shaded.

    Points ``flagged`` by a Western Electric rule are drawn as red diamonds; the first
    ``history`` points (those the limits come from) sit on a lighter background.
    """
    lows = [lo for lo, _ in limits.values()]
    highs = [hi for _, hi in limits.values()]
    known = list(values) + lows + highs + ([center] if center is not None else [])
    if not known:
        return f'<p class="muted">{escape(title)}: no values recorded yet</p>'
    ticks = nice_ticks(min(known), max(known))
    left, right, top, bottom = 64.0, CHART_WIDTH - 12.0, 28.0, CHART_HEIGHT - 26.0
    lo, hi = ticks[0], ticks[-1]

    def y(value: float) -> float:
        return (
            bottom - (value - lo) / (hi - lo) * (bottom - top) if hi != lo else (top + bottom) / 2
        )

    count = max(len(values) - 1, 1)

    def x(index: int) -> float:
        return left + (right - left) * index / count

    parts = [
        f'<svg class="control" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" width="{CHART_WIDTH}" '
        f'height="{CHART_HEIGHT}" role="img" aria-label="{escape(title or "control chart")}" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f'<text class="title" x="8" y="16">{escape(title)}</text>',
    ]
    if "3" in limits:
        low, high = limits["3"]
        parts.append(
            f'<rect class="band" x="{left}" y="{y(high):.1f}" width="{right - left}" '
            f'height="{max(y(low) - y(high), 0):.1f}"/>'
        )
    if 0 < history < len(values):
        parts.append(
            f'<line class="split" x1="{x(history - 1) + (x(1) - x(0)) / 2:.1f}" y1="{top}" '
            f'x2="{x(history - 1) + (x(1) - x(0)) / 2:.1f}" y2="{bottom}"/>'
        )
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{left}" y1="{y(tick):.1f}" x2="{right}" y2="{y(tick):.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{format_tick(tick, ticks)}</text>"
        )
    for sigma, (low, high) in sorted(limits.items()):
        for value in (low, high):
            parts.append(
                f'<line class="limit l{escape(sigma)}" x1="{left}" y1="{y(value):.1f}" '
                f'x2="{right}" y2="{y(value):.1f}"><title>{escape(sigma)} sigma: '
                f"{format_value(value)}</title></line>"
            )
    if center is not None:
        parts.append(
            f'<line class="center" x1="{left}" y1="{y(center):.1f}" x2="{right}" '
            f'y2="{y(center):.1f}"><title>center: {format_value(center)}</title></line>'
        )
    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    parts.append(f'<polyline class="series" points="{points}"/>')
    for i, value in enumerate(values):
        label = labels[i] if i < len(labels) else f"point {i + 1}"
        tip = f"{label}: {format_value(value)}"
        if i in flagged:
            px, py = x(i), y(value)
            parts.append(
                f'<path class="flag" d="M{px:.1f},{py - 6:.1f} L{px + 6:.1f},{py:.1f} '
                f'L{px:.1f},{py + 6:.1f} L{px - 6:.1f},{py:.1f} Z"><title>{escape(tip)} '
                "(out of control)</title></path>"
            )
        else:
            parts.append(
                f'<circle class="point" cx="{x(i):.1f}" cy="{y(value):.1f}" r="3">'
                f"<title>{escape(tip)}</title></circle>"
            )
    if labels:
        parts.append(
            f'<text class="axis" x="{left}" y="{CHART_HEIGHT - 8}">{escape(labels[0])}</text>'
        )
        parts.append(
            f'<text class="axis" x="{right}" y="{CHART_HEIGHT - 8}" text-anchor="end">'
            f"{escape(labels[-1])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
