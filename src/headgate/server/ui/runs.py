"""Runs: the list, starting one, and a run's page with its Gantt chart, live while it runs.

A run page's live part (``/runs/{id}/live``) is the same template fragment the page
includes; the page's script fetches it again every second while the run is running
or queued, so what a person watches is exactly what a reload would show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from headgate.errors import HeadgateError
from headgate.server.permissions import Permission, requires
from headgate.server.ui.drawing import GanttBar, gantt_svg
from headgate.server.ui.forms import form_fields
from headgate.server.ui.health import finished_run
from headgate.server.ui.runrows import task_rows
from headgate.server.ui.templating import PageRoute, hub_of, render
from headgate.server.ui.views import chosen_environment, environment_names

if TYPE_CHECKING:
    from headgate.server.hub import Hub
    from headgate.server.jobs import Job
    from headgate.state.records import CheckResultRecord, RunRecord, TaskRecord

router = APIRouter(route_class=PageRoute, include_in_schema=False)
READ = [Depends(requires(Permission.RUNS_READ))]
LISTED = 50
LIVE = ("running", "queued")


@router.get("/runs", response_class=HTMLResponse, dependencies=READ)
def runs_page(request: Request, env: str | None = None) -> HTMLResponse:
    hub = hub_of(request)
    project = hub.project
    environment = chosen_environment(project, env) if env else None
    return render(
        request,
        "runs.html",
        section="runs",
        title="Runs",
        runs=project.runs(limit=LISTED, environment=environment),
        environment=environment,
        environments=environment_names(project),
        default_environment=project.outline.default_environment,
    )


@router.post("/runs", dependencies=[Depends(requires(Permission.RUNS_START))])
async def start_run(request: Request) -> Response:
    """Queue a run of an environment (optionally a selection); its page follows it live."""
    fields = await form_fields(request)
    hub = hub_of(request)
    environment = chosen_environment(hub.project, fields.get("environment") or None)
    selection = (fields.get("selection") or "").strip() or None
    job = hub.start_run(environment, selection=selection)
    return RedirectResponse(f"/runs/{job.run_id}", status_code=303)


@router.get("/runs/{run_id}", response_class=HTMLResponse, dependencies=READ)
def run_page(request: Request, run_id: int) -> HTMLResponse:
    context = _run_context(hub_of(request), run_id)
    return render(request, "run.html", section="runs", title=f"Run {run_id}", **context)


@router.get("/runs/{run_id}/live", response_class=HTMLResponse, dependencies=READ)
def run_live(request: Request, run_id: int) -> HTMLResponse:
    """The part of a run's page that changes while it runs."""
    context = _run_context(hub_of(request), run_id)
    return render(request, "run_live.html", **context)


@router.post("/runs/{run_id}/cancel", dependencies=[Depends(requires(Permission.RUNS_CANCEL))])
async def cancel_run(request: Request, run_id: int) -> Response:
    await form_fields(request)
    hub = hub_of(request)
    job = hub.job_of_run(run_id)
    if job is None or job.finished:
        raise HeadgateError(
            f"run {run_id} is not running", hint="only a running run can be cancelled"
        )
    hub.cancel(job)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@dataclass
class TaskView:
    task: TaskRecord
    log: list[str] = field(default_factory=list)
    checks: list[CheckResultRecord] = field(default_factory=list)

    @property
    def not_passing(self) -> list[CheckResultRecord]:
        return [c for c in self.checks if c.status != "pass"] if self.checks else []


def _run_context(hub: Hub, run_id: int) -> dict[str, Any]:
    project = hub.project
    job = hub.job_of_run(run_id)
    run = finished_run(project.state, run_id) if job is None or job.finished else None
    run = run or project.run_detail(run_id, specs=False)  # the page shows no task specs
    state = _live_state(run, job)
    results = project.state.check_results(run_id=run_id, limit=2000)
    by_model: dict[str, list[CheckResultRecord]] = {}
    for result in results:
        by_model.setdefault(result.model, []).append(result)
    logs = _task_logs(job)
    times, reconstructed = _task_times(hub, run, job)
    tasks = sorted(
        run.tasks, key=lambda t: (t.name not in times, times.get(t.name, (0.0,))[0] or 0.0)
    )
    views = [TaskView(t, logs.get(t.name, []), by_model.get(t.name, [])) for t in tasks]
    now = (
        (_aware(run.ended_at) if run.ended_at else datetime.now(UTC)) - _aware(run.started_at)
    ).total_seconds()
    bars = [
        GanttBar(t.name, t.status, *times.get(t.name, (None, None)), _bar_detail(t))
        for t in tasks
        if t.status != "skipped" or t.name in times
    ]
    gantt = gantt_svg(bars, now=now) if bars else ""
    return {
        "run": run,
        "job": job,
        "state": state,
        "tasks": views,
        "task_rows": task_rows(views, run.environment),  # written in Python: 1,000 rows
        "gantt": gantt,
        "reconstructed": reconstructed,
        "general_log": _general_log(job),
        "counts": _counts(run.tasks),
        "failed_checks": [r for r in results if r.status in ("fail", "error")],
    }


def _task_times(
    hub: Hub, run: RunRecord, job: Job | None
) -> tuple[dict[str, tuple[float | None, float | None]], bool]:
    """Each task's start and end in seconds from the run's start, and whether they were
    reconstructed: the hub's own events for a run it carried out, the task records'
    times where the store has them, else each task placed after its upstream tasks
    ended (as a run with enough threads would), lasting the seconds it recorded."""
    begun = _aware(run.started_at).timestamp()
    times: dict[str, tuple[float | None, float | None]] = {}
    for event in list(job.events) if job else []:
        name, kind = event.get("name"), event.get("event")
        if not isinstance(name, str) or kind not in ("task_started", "task_finished"):
            continue
        start, end = times.get(name, (None, None))
        at = float(event.get("at", begun)) - begun
        times[name] = (at, end) if kind == "task_started" else (start, at)
    if times:
        return times, False
    for task in run.tasks:
        if task.started_at is not None:
            end = _aware(task.ended_at).timestamp() - begun if task.ended_at else None
            times[task.name] = (_aware(task.started_at).timestamp() - begun, end)
    if times:
        return times, False
    upstream = hub.project.loaded.dag.upstream
    ran = {t.name: t for t in run.tasks if t.seconds is not None}
    for name in hub.project.loaded.dag.order:
        if name in ran:
            start = max(
                (times[p][1] or 0.0 for p in upstream.get(name, []) if p in times), default=0.0
            )
            times[name] = (start, start + (ran[name].seconds or 0.0))
    return times, True


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _live_state(run: RunRecord, job: Job | None) -> str:
    if job is not None and job.status == "queued":
        return "queued"
    return "running" if run.status == "running" else run.status


def _counts(tasks: list[TaskRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.status] = counts.get(task.status, 0) + 1
    return counts


def _bar_detail(task: TaskRecord) -> str:
    parts = []
    if task.rows is not None:
        parts.append(f"{task.rows:,} rows")
    if task.attempts and task.attempts > 1:
        parts.append(f"{task.attempts} attempts")
    return ", ".join(parts)


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S")


def _task_logs(job: Job | None) -> dict[str, list[str]]:
    """Per task, what the hub saw while it ran: started, rows as they came, the outcome."""
    found: dict[str, list[str]] = {}
    if job is None:
        return found
    for event in list(job.events):
        name = event.get("name")
        kind = event.get("event")
        if not isinstance(name, str):
            continue
        at = _clock(float(event.get("at", 0)))
        if kind == "task_started":
            found.setdefault(name, []).append(f"{at} started")
        elif kind == "task_progress":
            found.setdefault(name, []).append(f"{at} {int(event.get('rows') or 0):,} rows so far")
        elif kind == "task_finished":
            line = f"{at} {event.get('status')} ({event.get('action')}) in {event.get('seconds')} s"
            if event.get("rows") is not None:
                line += f", {event['rows']:,} rows"
            found.setdefault(name, []).append(line)
            for check in event.get("checks") or []:
                found[name].append(
                    f"{at}   check {check.get('name')}: {check.get('status')}"
                    + (f" ({check.get('message')})" if check.get("status") != "pass" else "")
                )
            if event.get("error"):
                found[name].append(f"{at} error: {event['error']}")
    return found


def _general_log(job: Job | None) -> list[str]:
    """The run's own messages: queued, planned, warnings, finished."""
    if job is None:
        return []
    lines = [f"{job.created_at:%H:%M:%S} queued: {job.description}"]
    for event in list(job.events):
        kind = event.get("event")
        at = _clock(float(event.get("at", 0)))
        if kind == "started":
            lines.append(f"{at} started")
        elif kind == "plan":
            work = event.get("work") or []
            lines.append(f"{at} planned: {len(work)} task(s) of {event.get('total')} node(s)")
        elif kind == "log":
            lines.append(f"{at} {event.get('level')}: {event.get('text')}")
        elif kind == "error":
            lines.append(f"{at} error: {event.get('error')}")
        elif kind == "run_finished":
            lines.append(
                f"{at} finished: {event.get('status')} {event.get('message') or ''}".rstrip()
            )
    return lines
