"""Control charts beyond the Western Electric rules: EWMA, CUSUM and a weekly season.

The Western Electric rules catch a large jump at once and a small shift only after
eight runs in a row on one side; a shift of about one sigma that lasts, with the usual
noise around it, can go unflagged for a long time. Two charts made for it:

- **EWMA** (exponentially weighted moving average): ``z = weight x value + (1 - weight)
  x previous z``, started at the center; flagged when ``z`` leaves ``center +/- sigmas x
  sigma x sqrt(weight / (2 - weight) x (1 - (1 - weight)^(2i)))``. The defaults (weight
  0.1, 2.7 sigmas) are Montgomery's: with a known center and sigma, about 500 runs
  between false alarms, a one-sigma shift found in about ten.
- **CUSUM** (cumulative sum): ``upper = max(0, upper + (value - center) / sigma - slack)``
  and the same downward; flagged when either passes ``decision``. The defaults (slack
  0.5, decision 5) give, likewise, about 465 runs between false alarms and find a
  one-sigma shift in about ten. Limits estimated from 20 runs alarm more often: the
  README gives the measured rates.

Both keep Western Electric rule 1 (one run beyond 3 sigma), which they are slow to see.
Both run over the last :data:`SPAN` runs against a center and sigma from the ``window``
runs before them (the same robust median and MAD as the Western Electric chart).

A **weekly** chart compares a run with the runs on the same weekday only (a Monday with
Mondays), judged by the Western Electric rules; for metrics that follow the week.

:func:`pick_chart` picks a monitor's chart from its metric's history when the config
names none: see its docstring, and the README.

>>> calm = [100.0, 101.0, 99.0, 100.5, 99.5] * 4
>>> shifted = [101.9, 100.6, 99.8, 101.7, 101.2, 100.4, 101.8, 99.9, 101.5, 101.1, 100.7, 101.6]
>>> ewma_chart([*calm, *shifted]).verdict, cusum_chart([*calm, *shifted]).verdict
('out of control', 'out of control')
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import datetime

from headgate.checks.spc import (
    ChartResult,
    Flag,
    _center_and_sigma,
    _point,
    _western_electric,
    control_chart,
)

SPAN = 16  # the recent runs an EWMA or CUSUM chart accumulates over
CHARTS = ("western_electric", "ewma", "cusum", "weekly")
EWMA_RULE, CUSUM_RULE = 5, 6  # flag numbers beside the four Western Electric rules
MIN_WEEKS = 3  # a weekly season needs this many weeks of history to be told or judged


def _baseline(
    values: Sequence[float], window: int, min_history: int, span: int
) -> tuple[int, int, list[float]]:
    """Where the judged runs start, where the baseline starts, and the baseline."""
    newest = len(values) - 1
    gap = max(0, min(span - 1, newest - min_history))
    first = max(0, newest - gap - window)
    return newest - gap, first, [float(v) for v in values[first : newest - gap]]


def _start(
    name: str, values: Sequence[float], window: int, method: str, min_history: int, span: int
) -> tuple[ChartResult, int]:
    judged_from, first, earlier = _baseline(values, window, min_history, span)
    result = ChartResult(method, window, min_history, len(earlier), None, None, {})
    result.chart = name
    if len(earlier) >= 2:
        center, sigma = _center_and_sigma(earlier, method)
        result.center, result.sigma = center, sigma
        result.limits = {str(k): (center - k * sigma, center + k * sigma) for k in (1, 2, 3)}
    result.points = [
        _point(i, float(values[i]), result.center, result.sigma) for i in range(first, len(values))
    ]
    return result, judged_from


def ewma_chart(
    values: Sequence[float],
    *,
    window: int = 20,
    method: str = "median",
    min_history: int = 8,
    direction: str = "both",
    weight: float = 0.1,
    sigmas: float = 2.7,
) -> ChartResult:
    """Judge the newest of ``values`` by the EWMA of the last :data:`SPAN` runs."""
    result, judged_from = _start("ewma", values, window, method, min_history, SPAN)
    if result.center is None or result.sigma is None or result.history < min_history:
        return result
    center, sigma = result.center, max(result.sigma, 1e-12)
    z = center
    out: list[int] = []
    side = 0
    for i, value in enumerate(values[judged_from:], start=1):
        z = weight * float(value) + (1 - weight) * z
        width = sigmas * sigma * math.sqrt(weight / (2 - weight) * (1 - (1 - weight) ** (2 * i)))
        side = (z > center + width) - (z < center - width)
        if side and _wanted(side, direction):
            out.append(judged_from + i - 1)
    result.statistic = z
    return _verdict(
        result, out, side, EWMA_RULE, f"EWMA {z:,.6g} beyond its limit", direction, judged_from
    )


def cusum_chart(
    values: Sequence[float],
    *,
    window: int = 20,
    method: str = "median",
    min_history: int = 8,
    direction: str = "both",
    slack: float = 0.5,
    decision: float = 5.0,
) -> ChartResult:
    """Judge the newest of ``values`` by the CUSUM of the last :data:`SPAN` runs."""
    result, judged_from = _start("cusum", values, window, method, min_history, SPAN)
    if result.center is None or result.sigma is None or result.history < min_history:
        return result
    center, sigma = result.center, max(result.sigma, 1e-12)
    upper = lower = 0.0
    out: list[int] = []
    side = 0
    for i, value in enumerate(values[judged_from:]):
        distance = (float(value) - center) / sigma
        upper = max(0.0, upper + distance - slack)
        lower = max(0.0, lower - distance - slack)
        side = 1 if upper > decision else -1 if lower > decision else 0
        if side and _wanted(side, direction):
            out.append(judged_from + i)
    result.statistic = upper if side >= 0 else -lower
    what = f"CUSUM {max(upper, lower):,.3g} sigmas beyond the decision interval {decision:g}"
    return _verdict(result, out, side, CUSUM_RULE, what, direction, judged_from)


def weekly_chart(
    values: Sequence[float],
    times: Sequence[datetime],
    *,
    window: int = 20,
    method: str = "median",
    min_history: int = MIN_WEEKS,
    rules: tuple[int, ...] = (1, 2, 3, 4),
    direction: str = "both",
) -> ChartResult:
    """Judge the newest run against earlier runs on the same weekday (UTC)."""
    day = times[-1].weekday()
    same = [float(v) for v, t in zip(values, times, strict=True) if t.weekday() == day]
    result = control_chart(
        same,
        window=window,
        method=method,
        # every earlier same weekday counts: weeks are few, none is held back as a gap
        min_history=max(min(min_history, window), min(window, len(same) - 1)),
        rules=rules,
        direction=direction,
    )
    result.chart = "weekly"
    return result


def _wanted(side: int, direction: str) -> bool:
    return direction == "both" or (side > 0) == (direction == "growth")


def _verdict(
    result: ChartResult,
    out: list[int],
    side: int,
    rule: int,
    what: str,
    direction: str,
    judged_from: int,
) -> ChartResult:
    """Flags and verdict; rule 1 (one point beyond 3 sigma) still stands beside the chart,
    which is slow, by design, to react to one wild run."""
    newest = result.points[-1].index if result.points else -1
    flags = [
        f
        for f in _western_electric(result.points)
        if f.rule == 1
        and f.indices[0] >= judged_from
        and (direction == "both" or _wanted(f.side, direction))
    ]
    if out:
        where = "above" if side > 0 else "below"
        flags.append(Flag(rule, side or 1, out, f"{what} ({where})"))
    result.flags = sorted(flags, key=lambda f: (f.indices[-1], f.rule))
    flagged = newest in out or any(newest in f.indices for f in flags)
    result.verdict = "out of control" if flagged else "in control"
    return result


def pick_chart(
    values: Sequence[float],
    times: Sequence[datetime] | None,
    *,
    min_history: int = 8,
    direction: str = "both",
) -> tuple[str, str]:
    """The chart for a monitor whose config names none, and why, from its history.

    1. ``weekly`` when the history spans at least three weeks and the weekday explains at
       least half of the metric's variance (a busy Monday is the Monday's normal);
    2. ``western_electric`` when the history is short (under twice ``min_history`` runs),
       nearly constant (any change is news), or has spikes (5% or more of the runs beyond
       3 robust sigmas: one bad batch is what to catch, and it would drag an average);
    3. ``cusum`` for a monitor that watches one side only (``direction: drop`` or
       ``growth``): CUSUM accumulates evidence in one direction;
    4. otherwise ``ewma``: steady noise, where the risk is a small shift that lasts.

    >>> pick_chart([5.0, 6.0] * 4, None)[0]
    'western_electric'
    >>> pick_chart([], [])[0]
    'western_electric'
    """
    series = [float(v) for v in values]
    if times is not None and len(times) == len(series) and _weekly(series, times):
        return "weekly", "the weekday explains at least half of the metric's variance"
    if len(series) < 2 * min_history:
        return "western_electric", f"fewer than {2 * min_history} runs of history"
    center, sigma = _center_and_sigma(series, "median")
    if sigma == 0.0 or statistics.median(abs(v - center) for v in series) == 0.0:
        return "western_electric", "the metric rarely changes"
    spikes = sum(1 for v in series if abs(v - center) > 3 * sigma)
    if spikes >= 0.05 * len(series):
        return "western_electric", f"{spikes} of {len(series)} runs are spikes beyond 3 sigma"
    if direction != "both":
        return "cusum", f"a one-sided monitor ({direction}) on steady noise"
    return "ewma", "steady noise, where a small lasting shift is the risk"


def _weekly(series: list[float], times: Sequence[datetime]) -> bool:
    if len(series) < 7 * MIN_WEEKS or (times[-1] - times[0]).days < 7 * MIN_WEEKS:
        return False
    days: dict[int, list[float]] = {}
    for value, at in zip(series, times, strict=True):
        days.setdefault(at.weekday(), []).append(value)
    if len(days) < 5:
        return False
    mean = statistics.fmean(series)
    total = sum((v - mean) ** 2 for v in series)
    if total == 0.0:
        return False
    between = sum(len(d) * (statistics.fmean(d) - mean) ** 2 for d in days.values())
    return between / total >= 0.5
