"""Statistical monitors in the audit: this build's metrics against each metric's control chart.

Metrics are collected in one scan of the new table and recorded for every build, so
the chart grows with each run; a monitor whose Western Electric rules flag the new
point is a failed check with its own severity. :func:`record_build_metrics` keeps the
metrics of every built table, monitored or not, so a monitor declared later judges at
once instead of waiting for eight more builds.

A monitor with ``rows: added`` judges the rows a build added to a table that only grows:
the rows added are the difference of two row counts; their mean and null fraction follow
exactly from the two builds' totals (``sum = mean x non-null rows``), so nothing but the
usual per-build metrics is stored.
"""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING

from headgate.checks.metrics import collect_metrics
from headgate.checks.results import CheckResult
from headgate.checks.spc import ChartResult, MonitorSpec, judge_monitor, monitor_spec
from headgate.checks.spc_charts import SPAN, pick_chart
from headgate.state.sqltypes import now as sqlnow

if TYPE_CHECKING:
    from headgate.checks.spec import Check
    from headgate.engines.base import EngineSession
    from headgate.state.store import StateStore

HISTORY_FOR_PICKING = 120  # runs read to pick a chart: a weekly season shows in three weeks
Totals = dict[str, float]  # one build's metrics: row_count, mean:<column>, null_fraction:<column>


def spec_of(check: Check) -> MonitorSpec:
    params = check.params if isinstance(check.params, dict) else {}
    return monitor_spec(params, column=check.column)


def evaluate_monitors(
    session: EngineSession,
    store: StateStore,
    monitors: list[Check],
    table: str,
    *,
    dialect: str,
    run_id: int | None,
    record: bool = True,
) -> list[CheckResult]:
    """Collect this build's metrics, judge each monitor on its history, record the metrics.

    The metrics are recorded only when no monitor blocks the build (a refused batch must
    not become the history the next one is judged by). The row count is left out of the
    record: every build records it already (it is also the baseline of
    ``row_count: {max_change: ...}``).
    """
    model = monitors[0].model
    specs = [spec_of(check) for check in monitors]
    metrics = collect_metrics(session, table, dialect=dialect)
    results = [
        _judge(store, check, spec, metrics) for check, spec in zip(monitors, specs, strict=True)
    ]
    if record and not any(r.blocking for r in results):
        store.record_metrics(
            run_id, model, table, {k: v for k, v in metrics.items() if k != "row_count"}
        )
    return results


def build_metrics(
    session: EngineSession,
    table: str,
    *,
    dialect: str,
    columns: list[tuple[str, str]] | None = None,
) -> dict[str, float]:
    """A built table's per-column metrics (the row count is recorded with the table)."""
    metrics = collect_metrics(session, table, dialect=dialect, columns=columns)
    return {k: v for k, v in metrics.items() if k != "row_count"}


def record_build_metrics(
    session: EngineSession,
    store: StateStore,
    model: str,
    physical_table: str,
    run_id: int | None,
    *,
    dialect: str = "duckdb",
    now: datetime | None = None,
) -> dict[str, float]:
    """Keep the per-column metrics of a table just built, for monitors declared now or later.

    One aggregate scan (:func:`headgate.checks.metrics.collect_metrics`): every column's
    null and distinct fraction, means, minima, maxima and freshness lags. The row count is
    not recorded here (every build records it with the table). A build whose monitors
    already recorded this run's metrics during its audit is not recorded twice; the
    metrics are returned either way. Call it once a build has passed its audit.
    """
    metrics = collect_metrics(session, physical_table, dialect=dialect, now=now)
    columns = {k: v for k, v in metrics.items() if k != "row_count"}
    if not columns:
        return metrics
    probe = next(iter(columns))
    latest = store.metric_history(model, probe, limit=1)
    if run_id is not None and latest and latest[-1][0] == run_id:
        return metrics
    store.record_metrics(run_id, model, physical_table, columns)
    return metrics


def _judge(
    store: StateStore, check: Check, spec: MonitorSpec, metrics: dict[str, float]
) -> CheckResult:
    times: list[datetime] | None = None
    if spec.rows == "added":
        history, current = _added_series(store, check.model, spec, metrics)
        label = f"{spec.key} of the rows added"
    else:
        current = metrics.get(spec.key)
        limit = max(spec.window + SPAN, 7 * spec.window + 8, HISTORY_FOR_PICKING)
        found = store.metric_history(check.model, spec.key, limit=limit)
        history = [v for _, _, v in found]
        times = [at for _, at, _ in found] + [sqlnow()]
        label = spec.key
    if current is None:
        what = "could not be measured on this table"
        if spec.rows == "added":
            what = "cannot be told: this build added no rows, or no earlier build was recorded"
        status = "error" if spec.rows == "all" else "pass"
        return CheckResult(check, status, f"{label} {what}")
    kind = spec.chart or chart_of(store, check.model, spec, history, times)
    chart = judge_monitor(spec, history, current, chart=kind, times=times)
    if chart.center is None:
        message = f"{label} = {current:,.6g}; {chart.verdict} ({chart.history} earlier runs)"
        return CheckResult(check, "pass", message, threshold=f"{spec.min_history} runs of history")
    limits = chart.limits["3"]
    described = f"{label} = {current:,.6g}; limits {limits[0]:,.6g} .. {limits[1]:,.6g}"
    judged = _judged_by(spec, chart.chart)
    if spec.direction != "both":
        judged += f" ({spec.direction} only)"
    if not chart.out_of_control:
        return CheckResult(check, "pass", f"{described}; in control", threshold=judged)
    flagged = "; ".join(flag.message for flag in chart.flags)
    status = "fail" if check.severity == "error" else "warn"
    return CheckResult(check, status, f"{described}; {flagged}", threshold=judged)


def _judged_by(spec: MonitorSpec, kind: str) -> str:
    if kind == "ewma":
        return f"EWMA (weight {spec.weight:g}, {spec.sigmas:g} sigmas)"
    if kind == "cusum":
        return f"CUSUM (slack {spec.slack:g}, decision {spec.decision:g} sigmas)"
    rules = "Western Electric rule" + ("s " if len(spec.rules) > 1 else " ")
    rules += ", ".join(map(str, spec.rules))
    return f"{rules} among runs on the same weekday" if kind == "weekly" else rules


def chart_of(
    store: StateStore,
    model: str,
    spec: MonitorSpec,
    history: list[float],
    times: list[datetime] | None,
) -> str:
    """The chart a monitor whose config names none judges by: picked from the metric's
    history once there is enough of it (twice ``min_history`` runs), then kept in the store
    so that the chart does not change from one run to the next (an agent's pick goes to the
    hub with its task's result)."""
    kept = kept_chart(store, model, spec)
    if kept is not None:
        return kept
    earlier = times[:-1] if times is not None else None
    kind, reason = pick_chart(
        history, earlier, min_history=spec.min_history, direction=spec.direction
    )
    if len(history) >= 2 * spec.min_history:
        store.keep_chart(model, _chart_key(spec), kind, reason)
    return kind


def recorded_chart(
    store: StateStore, model: str, spec: MonitorSpec, *, chart: str | None = None
) -> ChartResult | None:
    """The chart a monitor judges by, over the runs recorded so far (the newest last);
    None when no value was recorded. The kind is ``chart``, else the monitor's own, else
    the one picked and kept for it, else Western Electric: what people look at is what
    the audit judged by."""
    weekly = 7 * spec.window + 8 if (chart or spec.chart) == "weekly" else 0
    found = store.metric_history(model, spec.key, limit=max(spec.window + SPAN, weekly))
    if not found:
        return None
    kind = chart or spec.chart or kept_chart(store, model, spec) or "western_electric"
    values = [value for _, _, value in found]
    times = [at for _, at, _ in found]
    return judge_monitor(spec, values[:-1], values[-1], chart=kind, times=times)


def kept_chart(store: StateStore, model: str, spec: MonitorSpec) -> str | None:
    """The chart picked for the monitor from its history and kept, if one was."""
    return store.kept_chart(model, _chart_key(spec))


def _chart_key(spec: MonitorSpec) -> str:
    return spec.key + (":added" if spec.rows == "added" else "") + f":{spec.direction}"


def _added_series(
    store: StateStore, model: str, spec: MonitorSpec, metrics: dict[str, float]
) -> tuple[list[float], float | None]:
    """The metric of the rows each earlier build added, and of those this build adds."""
    keys = ["row_count"]
    if spec.metric != "row_count":
        keys += [f"null_fraction:{spec.column}"]
    if spec.metric == "mean":
        keys += [f"mean:{spec.column}"]
    limit = spec.window + 9
    series: dict[int, Totals] = {}
    order: list[int] = []
    for key in keys:
        for run, _, value in store.metric_history(model, key, limit=limit):
            if key == "row_count":
                order.append(run)
            series.setdefault(run, {})[key] = value
    builds = [series[run] for run in order if all(k in series[run] for k in keys)]
    added = [_added(spec, before, after) for before, after in pairwise(builds)]
    history = [value for value in added if value is not None]
    current = {k: metrics[k] for k in keys if k in metrics}
    if not builds or len(current) < len(keys):
        return history, None
    return history, _added(spec, builds[-1], current)


def _added(spec: MonitorSpec, before: Totals, after: Totals) -> float | None:
    """The metric over the rows ``after`` has beyond ``before`` (None when none were added)."""
    rows = after["row_count"] - before["row_count"]
    if spec.metric == "row_count":
        return rows
    if rows <= 0:
        return None
    nulls_key = f"null_fraction:{spec.column}"
    nulls = after["row_count"] * after[nulls_key] - before["row_count"] * before[nulls_key]
    if spec.metric == "null_fraction":
        return min(1.0, max(0.0, nulls / rows))
    mean_key = f"mean:{spec.column}"
    present = rows - nulls
    if present < 0.5:  # every added value is null: no mean
        return None
    present_before = before["row_count"] * (1 - before[nulls_key])
    present_after = after["row_count"] * (1 - after[nulls_key])
    total = after[mean_key] * present_after - before[mean_key] * present_before
    return total / present
