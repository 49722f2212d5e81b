"""headgate's own runs, checks and deliveries as events, the same kinds external tools post.

When a run's record closes, :func:`observe_run` turns it into events: the run of the
pipeline ``headgate:<environment>`` (RUNNING, then its end status) with a task per
model it built or failed, a run of each such model (component ``model:<name>``, one
event as it ended), and each model's check results as test outcomes (monitors as
``type: monitor``); models reused as they were tell nothing. Deliveries
(:func:`observe_deliveries`) are runs of ``delivery:<name>``. So headgate's pipelines
sit in journeys beside Airflow's and Tableau's, and the same rules alert on them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from headgate.observe.events import Event
from headgate.observe.ingest import ingest

log = logging.getLogger("headgate.observe")

TASK_STATUS = {
    "built": "COMPLETED",
    "failed": "FAILED",
    "upstream_failed": "FAILED",
}
CHECK_STATUS = {"pass": "PASSED", "warn": "WARNING", "fail": "FAILED", "error": "FAILED"}
WORKED = ("built", "failed", "upstream_failed")


def _event(
    kind: str,
    component: str,
    component_kind: str,
    at: datetime,
    body: dict[str, Any],
    *,
    run_key: str | None = None,
    task_key: str | None = None,
    name: str | None = None,
    owner: str | None = None,
) -> Event:
    body = {"event_type": kind, "component_tool": "headgate", **body}
    if run_key:
        body["run_key"] = run_key
    if task_key:
        body["task_key"] = task_key
    return Event(
        kind=kind,
        component=component,
        component_kind=component_kind,
        component_name=name,
        at=at,
        body=body,
        tool="headgate",
        run_key=run_key,
        task_key=task_key,
        source="headgate",
        owner=owner,
    )


def run_events(run: Any, checks: Sequence[Any]) -> list[Event]:
    """The events a finished run record (with its tasks) and its check results make."""
    pipeline = f"headgate:{run.environment}"
    key = str(run.id)
    started = run.started_at
    ended = run.ended_at or datetime.now(UTC)
    warned = any(
        c.status == "warn" or (c.status == "fail" and c.severity == "warn") for c in checks
    )
    if run.status in ("success", "nothing_to_do"):
        status = "COMPLETED_WITH_WARNINGS" if warned else "COMPLETED"
    else:
        status = "FAILED"
    events = [
        _event("run-status", pipeline, "pipeline", started, {"status": "RUNNING"}, run_key=key)
    ]
    for task in run.tasks:
        end = TASK_STATUS.get(task.status)
        if end is None or task.status not in WORKED:
            continue  # pending, or reused as it was: nothing happened to tell
        at = task.ended_at or ended
        events.append(
            _event(
                "run-status",
                pipeline,
                "pipeline",
                at,
                {"status": end},
                run_key=key,
                task_key=task.name,
            )
        )
        if task.kind == "model":  # one event: the model's run as it ended
            model = f"model:{task.name}"
            body: dict[str, Any] = {"status": end}
            if task.error:
                body["metadata"] = {"error": task.error[:2000]}
            events.append(
                _event("run-status", model, "model", at, body, run_key=key, name=task.name)
            )
    events += _check_events(checks, key, ended)
    events.append(
        _event("run-status", pipeline, "pipeline", ended, {"status": status}, run_key=key)
    )
    return events


def _check_events(checks: Sequence[Any], run_key: str, at: datetime) -> list[Event]:
    by_model: dict[str, list[dict[str, Any]]] = {}
    for check in checks:
        status = CHECK_STATUS.get(check.status, "FAILED")
        if status == "FAILED" and check.severity == "warn":
            status = "WARNING"
        outcome: dict[str, Any] = {
            "name": check.check_name,
            "status": status,
            "description": (check.message or "")[:4000],
            "type": "monitor" if check.check_type == "monitor" else check.check_type,
        }
        if check.failing_rows is not None:
            outcome["metric_value"] = float(check.failing_rows)
            outcome["metric_name"] = "failing_rows"
        by_model.setdefault(check.model, []).append(outcome)
    return [
        _event(
            "test-outcomes",
            f"model:{model}",
            "model",
            at,
            {"test_outcomes": outcomes},
            run_key=run_key,
            name=model,
        )
        for model, outcomes in sorted(by_model.items())
    ]


def observe_run(store: Any, run_id: int) -> None:
    """Record a finished run's events; never lets observing fail the run."""
    try:
        run = store.get_run(run_id)
        if run is None:
            return
        checks = store.check_results(run_id=run_id, limit=100_000)
        ingest(store, run_events(run, checks))
    except Exception:  # the run's own outcome stands whatever happens here
        log.warning("run %s: its events could not be recorded", run_id, exc_info=True)


def observe_deliveries(
    store: Any, environment: str, run_id: int | None, results: Sequence[Any]
) -> None:
    """Record deliveries as runs of ``delivery:<name>``: delivered, failed or skipped."""
    statuses = {"delivered": "COMPLETED", "failed": "FAILED"}
    at = datetime.now(UTC)
    key = f"{run_id or 'manual'}:{at.strftime('%Y%m%dT%H%M%S%f')}"
    events = []
    for result in results:
        status = statuses.get(result.status)
        if status is None:
            continue
        component = f"delivery:{result.name}"
        body: dict[str, Any] = {"status": status, "metadata": {"environment": environment}}
        if result.message:
            body["metadata"]["message"] = str(result.message)[:2000]
        events.append(
            _event(
                "run-status",
                component,
                "delivery",
                at,
                {"status": "RUNNING"},
                run_key=key,
                name=result.name,
            )
        )
        events.append(
            _event("run-status", component, "delivery", at, body, run_key=key, name=result.name)
        )
    try:
        ingest(store, events)
    except Exception:
        log.warning("deliveries' events could not be recorded", exc_info=True)
