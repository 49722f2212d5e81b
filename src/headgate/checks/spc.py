"""Statistical process control: a control chart per run metric, judged by the Western Electric rules.

A ``monitor`` check watches one metric of a model over its runs (row count, a column's
null fraction, ...; see :mod:`headgate.checks.metrics`). The newest run is judged against
a center line and limits at 1, 2 and 3 sigma computed from ``window`` earlier runs: those
before the last eight, the most any rule looks at, so a slow shift in progress cannot
move its own center line and hide from rule 4 (with a short history the gap shrinks so
that ``min_history`` runs still give a verdict). The default is robust, median and MAD x 1.4826 as sigma, so one bad run in the history
does not widen the limits and hide the next one; ``method: mean`` gives the classic
mean and standard deviation. The four Western Electric rules flag:

1. one point beyond 3 sigma;
2. two of three consecutive points beyond 2 sigma on the same side;
3. four of five consecutive points beyond 1 sigma on the same side;
4. eight points in a row on the same side of the center.

Every firing in the shown points is reported (a chart shows its history), but the
verdict is about the newest run: it is "out of control" only when a firing includes it,
so last month's incident does not fail today's run. With fewer than ``min_history``
earlier runs there is no verdict. A monitor may judge by some of the rules only
(``rules: [1]``: a monitor that blocks publishing should not fire on slow drifts) and on
one side only (``direction: drop``: a volume monitor need not fire on a busy day).

On a table that only grows, a total drifts by construction (its row count climbs, its
mean converges), so a chart of it fires on trends while one bad batch barely moves it.
``rows: added`` charts the rows each build added instead: the row count added, and the
mean and null fraction of the added rows, derived exactly from two consecutive builds'
totals (see :mod:`headgate.runtime.monitoring`).

>>> stable = [100.0, 102.0, 98.0, 101.0, 99.0, 100.0, 103.0, 97.0, 101.0, 99.0]
>>> control_chart(stable).verdict
'in control'
>>> chart = control_chart([*stable, 130.0])
>>> chart.verdict, [(f.rule, f.indices) for f in chart.flags]
('out of control', [(1, [10])])
>>> control_chart(stable[:5]).verdict
'insufficient history'
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from headgate.checks.metrics import METRICS

MAD_TO_SIGMA = 1.4826  # MAD x 1.4826 estimates sigma for normally distributed values
MEAN_ABSOLUTE_TO_SIGMA = 1.2533  # sqrt(pi/2): the same for the mean absolute deviation
METHODS = ("median", "mean")
RULES = {
    1: "one point beyond 3 sigma",
    2: "two of three consecutive points beyond 2 sigma on the same side",
    3: "four of five consecutive points beyond 1 sigma on the same side",
    4: "eight points in a row on the same side of the center",
}
SPAN = 8  # the most runs a rule looks at (rule 4)
ROWS = ("all", "added")
ADDED_METRICS = ("row_count", "mean", "null_fraction")  # derivable from two builds' totals
DIRECTIONS = ("both", "drop", "growth")
# rule: (points looked at, points needed, sigmas a point must be beyond)
_WINDOWS = {1: (1, 1, 3.0), 2: (3, 2, 2.0), 3: (5, 4, 1.0), 4: (8, 8, 0.0)}


@dataclass
class ChartPoint:
    """One run on the chart: where it lies against the center, in sigmas and zones."""

    index: int  # position in the series given
    value: float
    sigmas: float | None  # signed distance from the center; None without limits
    zone: int | None  # 0 within 1 sigma, 1 between 1 and 2, 2 between 2 and 3, 3 beyond 3
    side: int  # 1 above the center, -1 below, 0 on it


@dataclass
class Flag:
    """A Western Electric rule firing: which rule, on which side, over which points."""

    rule: int
    side: int
    indices: list[int]
    message: str


@dataclass
class ChartResult:
    """A control chart: its center and limits, the points shown, the firings and the verdict."""

    method: str
    window: int
    min_history: int
    history: int  # earlier runs the center and limits come from (points[:history])
    center: float | None
    sigma: float | None
    limits: dict[str, tuple[float, float]]  # "1", "2", "3" sigma: (lower, upper)
    points: list[ChartPoint] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    verdict: str = "insufficient history"
    chart: str = "western_electric"  # or ewma, cusum, weekly: headgate.checks.spc_charts
    statistic: float | None = None  # the newest EWMA, or CUSUM in sigmas (signed)

    @property
    def out_of_control(self) -> bool:
        return self.verdict == "out of control"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def control_chart(
    values: list[float],
    *,
    window: int = 20,
    method: str = "median",
    min_history: int = 8,
    rules: tuple[int, ...] = (1, 2, 3, 4),
    direction: str = "both",
) -> ChartResult:
    """Judge the newest of ``values`` (oldest first) against ``window`` earlier values.

    A small shift that lasts: every point within one sigma, eight in a row above center.

    >>> history = [100.0, 102.0, 98.0, 101.0, 99.0, 100.0, 103.0, 97.0, 101.0, 99.0]
    >>> [(f.rule, f.indices) for f in control_chart(history + [100.5] * 8).flags]
    [(4, [10, 11, 12, 13, 14, 15, 16, 17])]
    """
    if method not in METHODS:
        raise ValueError(f"method is one of {', '.join(METHODS)}, got {method!r}")
    if window < 2 or not 1 <= min_history <= window:
        raise ValueError(
            f"need window >= 2 and 1 <= min_history <= window (got {window}, {min_history})"
        )
    series = [float(v) for v in values]
    newest = len(series) - 1
    # The rules look at up to the last SPAN runs; the limits come from the runs before
    # them, so a shift in progress does not drag the center along with it. A short
    # history shrinks that gap first, keeping min_history runs for the limits.
    gap = max(0, min(SPAN - 1, newest - min_history))
    first = max(0, newest - gap - window)
    earlier = series[first : newest - gap] if newest >= 0 else series[:0]
    result = ChartResult(method, window, min_history, len(earlier), None, None, {})
    if len(earlier) >= 2:
        center, sigma = _center_and_sigma(earlier, method)
        result.center, result.sigma = center, sigma
        result.limits = {str(k): (center - k * sigma, center + k * sigma) for k in (1, 2, 3)}
    for i in range(first, newest + 1):
        result.points.append(_point(i, float(series[i]), result.center, result.sigma))
    if len(earlier) < min_history or newest < 0:
        return result
    sides = {"both": (-1, 1), "drop": (-1,), "growth": (1,)}[direction]
    result.flags = [
        f for f in _western_electric(result.points) if f.rule in rules and f.side in sides
    ]
    newest_flagged = any(newest in f.indices for f in result.flags)
    result.verdict = "out of control" if newest_flagged else "in control"
    return result


def _center_and_sigma(values: list[float], method: str) -> tuple[float, float]:
    # A chart holds tens of runs: the standard library is exact and quick at that size.
    if method == "mean":
        return statistics.fmean(values), statistics.stdev(values)
    center = statistics.median(values)
    deviations = [abs(v - center) for v in values]
    sigma = statistics.median(deviations) * MAD_TO_SIGMA
    if sigma == 0.0:  # over half the runs equal: the mean deviation still sees the rest
        sigma = statistics.fmean(deviations) * MEAN_ABSOLUTE_TO_SIGMA
    return center, sigma


def _point(index: int, value: float, center: float | None, sigma: float | None) -> ChartPoint:
    if center is None or sigma is None:
        return ChartPoint(index, value, None, None, 0)
    side = (value > center) - (value < center)
    if sigma == 0.0:  # a constant history: any change is beyond every limit
        sigmas = 0.0 if side == 0 else side * float("inf")
    else:
        sigmas = (value - center) / sigma
    zone = min(3, int(abs(sigmas))) if abs(sigmas) != float("inf") else 3
    if zone and abs(sigmas) == zone:  # exactly on a limit is not beyond it
        zone -= 1
    return ChartPoint(index, value, sigmas, zone, side)


def _western_electric(points: list[ChartPoint]) -> list[Flag]:
    """Every firing of the four rules, consecutive firings of one rule merged."""
    flags: list[Flag] = []
    for rule, (looked, needed, beyond) in _WINDOWS.items():
        for end in range(looked - 1, len(points)):
            run = points[end - looked + 1 : end + 1]
            side = run[-1].side
            if side == 0 or not _beyond(run[-1], beyond, side):
                continue
            hits = [p.index for p in run if _beyond(p, beyond, side)]
            if len(hits) < needed:
                continue
            last = flags[-1] if flags else None
            if last and last.rule == rule and last.side == side and hits[0] <= last.indices[-1] + 1:
                last.indices = sorted(set(last.indices) | set(hits))
                continue
            where = "above" if side > 0 else "below"
            flags.append(Flag(rule, side, hits, f"rule {rule}: {RULES[rule]} ({where})"))
    return sorted(flags, key=lambda f: (f.indices[-1], f.rule))


def _beyond(point: ChartPoint, sigmas: float, side: int) -> bool:
    """Whether the point lies beyond ``sigmas`` on ``side`` (0 sigmas: merely on that side)."""
    if point.sigmas is None or point.side != side:
        return False
    return abs(point.sigmas) > sigmas


@dataclass(frozen=True)
class MonitorSpec:
    """A ``monitor`` check's parameters, validated, and the metric key it charts."""

    metric: str
    column: str | None = None
    method: str = "median"
    window: int = 20
    min_history: int = 8
    rows: str = "all"  # "added": the rows each build added, on a table that only grows
    direction: str = "both"  # "drop" or "growth": flag one side of the center only
    rules: tuple[int, ...] = (1, 2, 3, 4)
    chart: str | None = None  # None: picked from the metric's history (spc_charts.pick_chart)
    weight: float = 0.1  # EWMA's weight of the newest run
    sigmas: float = 2.7  # EWMA's limit, in sigmas of the EWMA
    slack: float = 0.5  # CUSUM's allowance per run, in sigmas
    decision: float = 5.0  # CUSUM's decision interval, in sigmas

    @property
    def key(self) -> str:
        """The metric's key as :func:`headgate.checks.metrics.collect_metrics` names it."""
        return self.metric if self.column is None else f"{self.metric}:{self.column}"


def monitor_spec(params: Mapping[str, Any], *, column: str | None = None) -> MonitorSpec:
    """Validate ``monitor: {...}`` (declared under ``column``, or naming one); ValueError says why."""
    unknown = set(params) - {
        "metric",
        "column",
        "method",
        "window",
        "min_history",
        "rows",
        "direction",
        "rules",
        "chart",
        "weight",
        "sigmas",
        "slack",
        "decision",
    }
    if unknown:
        raise ValueError(f"monitor has no parameter {', '.join(sorted(unknown))}")
    metric = params.get("metric")
    if metric not in METRICS:
        raise ValueError(f"monitor metric is one of {', '.join(METRICS)}, got {metric!r}")
    named = params.get("column", column)
    if metric == "row_count" and named is not None and "column" in params:
        raise ValueError("row_count is a metric of the model, not of a column")
    if metric != "row_count" and named is None:
        raise ValueError(
            f"monitor {metric} needs a column: declare it under one or add column: <name>"
        )
    window, min_history = params.get("window", 20), params.get("min_history", 8)
    method = params.get("method", "median")
    for name, value in (("window", window), ("min_history", min_history)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"monitor {name} is a whole number of runs, got {value!r}")
    if method not in METHODS or window < 2 or min_history > window:
        raise ValueError(
            f"monitor needs method median or mean, window >= 2 and min_history <= window "
            f"(got {method!r}, {window}, {min_history})"
        )
    rows, direction = params.get("rows", "all"), params.get("direction", "both")
    if rows not in ROWS:
        raise ValueError(f"monitor rows is all or added, got {rows!r}")
    if rows == "added" and metric not in ADDED_METRICS:
        raise ValueError(
            f"rows: added charts {', '.join(ADDED_METRICS)} of the added rows, not {metric}"
        )
    if direction not in DIRECTIONS:
        raise ValueError(f"monitor direction is both, drop or growth, got {direction!r}")
    rules = params.get("rules", [1, 2, 3, 4])
    if (
        not isinstance(rules, list)
        or not rules
        or any(isinstance(r, bool) or r not in RULES for r in rules)
    ):
        raise ValueError(f"monitor rules is a list of Western Electric rules 1-4, got {rules!r}")
    chart = params.get("chart", "auto")
    charts = ("auto", "western_electric", "ewma", "cusum", "weekly")
    if chart not in charts:
        raise ValueError(f"monitor chart is one of {', '.join(charts)}, got {chart!r}")
    if chart == "weekly" and rows == "added":
        raise ValueError("a weekly chart compares whole runs by weekday: use rows: all")
    tuning = {"weight": 0.1, "sigmas": 2.7, "slack": 0.5, "decision": 5.0}
    for name, default in list(tuning.items()):
        given = params.get(name, default)
        if isinstance(given, bool) or not isinstance(given, int | float) or given <= 0:
            raise ValueError(f"monitor {name} is a positive number, got {given!r}")
        if name == "weight" and given > 1:
            raise ValueError(f"monitor weight is between 0 and 1 (EWMA), got {given!r}")
        tuning[name] = float(given)
    return MonitorSpec(
        str(metric),
        None if metric == "row_count" else str(named),
        method,
        window,
        min_history,
        rows,
        direction,
        tuple(sorted(set(rules))),
        None if chart == "auto" else str(chart),
        **tuning,
    )


def judge_monitor(
    spec: MonitorSpec,
    history: list[float],
    current: float,
    *,
    chart: str | None = None,
    times: list[datetime] | None = None,
) -> ChartResult:
    """The chart of the metric's earlier runs (oldest first) with the current run last.

    ``chart`` (else the spec's, else Western Electric) picks the kind; a weekly chart needs
    ``times``, the runs' times with the current run's last.
    """
    from headgate.checks import spc_charts

    kind = chart or spec.chart or "western_electric"
    values = [*history, current]
    w, m, d = spec.window, spec.method, spec.direction
    if kind == "ewma":
        return spc_charts.ewma_chart(
            values, window=w, method=m, min_history=spec.min_history, direction=d,
            weight=spec.weight, sigmas=spec.sigmas,
        )  # fmt: skip
    if kind == "cusum":
        return spc_charts.cusum_chart(
            values, window=w, method=m, min_history=spec.min_history, direction=d,
            slack=spec.slack, decision=spec.decision,
        )  # fmt: skip
    if kind == "weekly" and times is not None and len(times) == len(values):
        return spc_charts.weekly_chart(
            values, times, window=w, method=m, rules=spec.rules, direction=d
        )
    return control_chart(
        [*history, current],
        window=spec.window,
        method=spec.method,
        min_history=spec.min_history,
        rules=spec.rules,
        direction=spec.direction,
    )


def render_text(chart: ChartResult, *, width: int = 49) -> str:
    """The chart for a terminal: one line per run, its place among the sigma lanes.

    >>> print(render_text(control_chart([5.0, 5.0, 6.0, 4.0, 5.0, 5.0, 6.0, 4.0, 9.0])).splitlines()[-1])
    rule 1: one point beyond 3 sigma (above): run 8
    """
    kind = chart.chart.replace("_", " ")
    lines = [f"{chart.verdict} ({kind} chart); method {chart.method}, {chart.history} earlier runs"]
    if chart.center is None or chart.sigma is None:
        lines += [f"{p.index:>5}  {p.value:>14,.6g}" for p in chart.points]
        return "\n".join(lines) + "\n"
    low, high = chart.limits["3"]
    lines.append(
        f"center {chart.center:,.6g}, sigma {chart.sigma:,.6g}, 3-sigma limits {low:,.6g} .. {high:,.6g}"
    )
    half = width // 2
    flagged = {i for f in chart.flags for i in f.indices}
    for point in chart.points:
        lane = [" "] * width
        for k in (-3, -2, -1, 1, 2, 3):
            lane[half + round(k * half / 3.5)] = "|"
        lane[half] = ":"
        sigmas = point.sigmas or 0.0
        at = (
            half + round(max(-3.5, min(3.5, sigmas)) * half / 3.5)
            if abs(sigmas) != float("inf")
            else (0 if sigmas < 0 else width - 1)
        )
        lane[at] = "X" if point.index in flagged else "o"
        lines.append(f"{point.index:>5}  {point.value:>14,.6g}  {''.join(lane)}".rstrip())
    lines += [
        f"{f.message}: run{'s' if len(f.indices) > 1 else ''} {', '.join(map(str, f.indices))}"
        for f in chart.flags
    ]
    return "\n".join(lines) + "\n"
