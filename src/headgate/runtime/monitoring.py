"""Statistical monitors in the audit: this build's metrics against each metric's control chart.

Metrics are collected in one scan of the new table and recorded for every build, so
the chart grows with each run; a monitor whose Western Electric rules flag the new
point is a failed check with its own severity (warn by default in suggestions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headgate.checks.metrics import collect_metrics
from headgate.checks.results import CheckResult
from headgate.checks.spc import MonitorSpec, judge_monitor, monitor_spec

if TYPE_CHECKING:
    from headgate.checks.spec import Check
    from headgate.engines.base import EngineSession
    from headgate.state.store import StateStore


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

    The row count is left out of the record: every build records it already (it is also
    the baseline of ``row_count: {max_change: ...}``).
    """
    model = monitors[0].model
    specs = [spec_of(check) for check in monitors]
    time_columns = [s.column for s in specs if s.metric == "freshness_lag" and s.column]
    metrics = collect_metrics(session, table, dialect=dialect, time_columns=time_columns or None)
    results = [
        _judge(store, check, spec, metrics) for check, spec in zip(monitors, specs, strict=True)
    ]
    if record:
        store.record_metrics(
            run_id, model, table, {k: v for k, v in metrics.items() if k != "row_count"}
        )
    return results


def _judge(
    store: StateStore, check: Check, spec: MonitorSpec, metrics: dict[str, float]
) -> CheckResult:
    current = metrics.get(spec.key)
    if current is None:
        return CheckResult(check, "error", f"metric {spec.key} could not be measured on this table")
    history = [
        value for _, _, value in store.metric_history(check.model, spec.key, limit=spec.window + 8)
    ]
    chart = judge_monitor(spec, history, current)
    if chart.center is None:
        message = f"{spec.key} = {current:,.6g}; {chart.verdict} ({chart.history} earlier runs)"
        return CheckResult(check, "pass", message, threshold=f"{spec.min_history} runs of history")
    limits = chart.limits["3"]
    described = f"{spec.key} = {current:,.6g}; limits {limits[0]:,.6g} .. {limits[1]:,.6g}"
    if not chart.out_of_control:
        return CheckResult(
            check, "pass", f"{described}; in control", threshold="Western Electric rules"
        )
    flagged = "; ".join(flag.message for flag in chart.flags)
    status = "fail" if check.severity == "error" else "warn"
    return CheckResult(check, status, f"{described}; {flagged}", threshold="Western Electric rules")
