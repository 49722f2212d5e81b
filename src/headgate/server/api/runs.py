"""Runs: start one (queued in the writer lane), cancel it, list them, follow one live."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from headgate.errors import HeadgateError
from headgate.server.api.common import (
    EnvQuery,
    Limit,
    Offset,
    accepted,
    etagged,
    json_response,
    jsonable,
    page,
    run_json,
    task_json,
)
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.jobs import Job
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["runs"])
RunId = Annotated[int, Path(ge=1, le=2**62)]
JobId = Annotated[int, Path(ge=1, le=2**62)]
POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0
ENV_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"


class RunRequest(BaseModel):
    """What ``headgate run`` takes, as JSON."""

    model_config = ConfigDict(extra="forbid")

    environment: str | None = Field(None, max_length=100, pattern=ENV_PATTERN)
    select: str | None = Field(None, max_length=2000, description="name, tag:x, +name, name+")
    revision: str | None = Field(
        None,
        max_length=200,
        description="A git branch, tag or commit to run instead of the hub's checkout.",
    )
    threads: int | None = Field(None, ge=1, le=64)
    full_refresh: bool = False
    publish_partial: bool = False
    restate: list[Annotated[str, Field(max_length=300)]] | None = Field(None, max_length=100)
    start: datetime | None = None
    end: datetime | None = None


@router.post(
    "/runs",
    status_code=202,
    summary="Start a run: queued now, carried out in turn; answers at once with its id",
    dependencies=[Depends(requires(Permission.RUNS_START))],
)
def start_run(request: RunRequest, hub: Hub = Depends(get_hub)) -> Response:
    options: dict[str, Any] = {
        "threads": request.threads,
        "full_refresh": request.full_refresh,
        "publish_partial": request.publish_partial,
        "restate": request.restate,
        "start": request.start,
        "end": request.end,
    }
    if request.restate and (request.start is None or request.end is None):
        raise HeadgateError(
            "--restate needs --start and --end", hint="e.g. --start 2024-06-01 --end 2024-07-01"
        )
    job = hub.start_run(
        request.environment, selection=request.select, revision=request.revision, **options
    )
    return accepted(_queued(job), f"/api/v1/runs/{job.run_id}")


def _queued(job: Job) -> dict[str, Any]:
    return {
        "run_id": job.run_id,
        "job_id": job.id,
        "status": job.status,
        "environment": job.environment,
        "links": {
            "run": f"/api/v1/runs/{job.run_id}",
            "events": f"/api/v1/runs/{job.run_id}/events",
            "job": f"/api/v1/jobs/{job.id}",
        },
    }


@router.get(
    "/runs",
    summary="Recent runs, newest first (what `headgate runs` lists)",
    dependencies=[Depends(requires(Permission.RUNS_READ))],
)
def list_runs(
    request: Request,
    hub: Hub = Depends(get_hub),
    env: EnvQuery = None,
    status: Annotated[str | None, Query(max_length=30)] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Response:
    wanted = limit + offset + 1 if status is None else 10_000
    records = hub.project.runs(limit=wanted, environment=env)
    if status:
        records = [r for r in records if r.status == status]
    items = [_run_summary(r) for r in records]
    total = len(items) if status or len(records) < wanted else None
    body = page(items, limit=limit, offset=offset, total=total)
    if total is None:  # more than this page exists; the whole count is not taken
        body["total"] = None
        body["next_offset"] = offset + limit
    return etagged(request, body)


def _run_summary(record: Any) -> dict[str, Any]:
    data = run_json(record)
    data.pop("tasks", None)
    return data


@router.get(
    "/runs/{run_id}",
    summary="One run: its tasks with rows, seconds and errors; the hub's job while it is queued or running",
    dependencies=[Depends(requires(Permission.RUNS_READ))],
    response_model=dict[str, Any],
)
def run_detail(
    run_id: RunId,
    hub: Hub = Depends(get_hub),
    specs: Annotated[bool, Query(description="Include each task's spec (what it does).")] = False,
) -> Response:
    record = hub.project.run_detail(run_id, specs=specs)
    data = run_json(record)  # 1,000 tasks typed field by field, encoded once
    job = hub.job_of_run(run_id)
    data["job"] = jsonable(job.to_json()) if job else None
    if job is not None and job.status == "queued":
        data["status"] = "queued"
    return json_response(data)


@router.post(
    "/runs/{run_id}/cancel",
    status_code=202,
    summary="Cancel a run: a queued one never starts; a running one stops at its next task "
    "and publishes nothing",
    dependencies=[Depends(requires(Permission.RUNS_CANCEL))],
)
def cancel_run(run_id: RunId, hub: Hub = Depends(get_hub)) -> Response:
    job = hub.job_of_run(run_id)
    if job is None:
        record = hub.project.run_detail(run_id, specs=False)
        raise HeadgateError(
            f"run {run_id} is {record.status} and is not carried out by this hub",
            hint="only runs started through the hub, and not finished, can be cancelled",
        )
    if job.finished:
        raise HeadgateError(
            f"run {run_id} has already ended ({job.status})", hint="nothing to cancel"
        )
    hub.cancel(job)
    return accepted(_queued(job) | {"cancel_requested": True}, f"/api/v1/runs/{run_id}")


@router.get(
    "/runs/{run_id}/events",
    summary="A run's progress as server-sent events (plan, task_started, task_progress, "
    "task_finished, run_finished, log, error, end)",
    response_class=StreamingResponse,
    dependencies=[Depends(requires(Permission.RUNS_READ))],
)
def run_events(run_id: RunId, request: Request, hub: Hub = Depends(get_hub)) -> StreamingResponse:
    job = hub.job_of_run(run_id)
    if job is None:
        hub.project.run_detail(run_id, specs=False)  # an unknown run: 404 before the stream
        return _stream(_recorded_events(hub, run_id, request))
    return _stream(_job_events(job, request))


@router.get(
    "/jobs",
    summary="The hub's writes: queued, running and recently finished",
    dependencies=[Depends(requires(Permission.RUNS_READ))],
)
def list_jobs(
    hub: Hub = Depends(get_hub), limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    return page([j.to_json() for j in hub.jobs()], limit=limit, offset=offset)


@router.get(
    "/jobs/{job_id}",
    summary="One write the hub was asked for: its status, result or error",
    dependencies=[Depends(requires(Permission.RUNS_READ))],
)
def job_detail(job_id: JobId, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    return find_job(hub, job_id).to_json()


@router.get(
    "/jobs/{job_id}/events",
    summary="A job's progress as server-sent events",
    response_class=StreamingResponse,
    dependencies=[Depends(requires(Permission.RUNS_READ))],
)
def job_events(job_id: JobId, request: Request, hub: Hub = Depends(get_hub)) -> StreamingResponse:
    return _stream(_job_events(find_job(hub, job_id), request))


def find_job(hub: Hub, job_id: int) -> Job:
    job = hub.job(job_id)
    if job is None:
        raise HeadgateError(f"no job {job_id} in this hub", hint="list them: GET /api/v1/jobs")
    return job


def _stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(jsonable(data), default=str)}\n\n"


async def _job_events(job: Job, request: Request) -> AsyncIterator[str]:
    index, quiet = 0, 0.0
    yield _sse("job", job.to_json())
    while True:
        events, index, finished = job.events_since(index, 0)
        for event in events:
            yield _sse(event["event"], event)
        if finished and not events:
            yield _sse("end", job.to_json())
            return
        if events:
            quiet = 0.0
            continue
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS
        if quiet >= KEEPALIVE_SECONDS:
            quiet = 0.0
            yield ": keep-alive\n\n"


async def _recorded_events(hub: Hub, run_id: int, request: Request) -> AsyncIterator[str]:
    """A run this hub is not carrying out (another process's, or an old one): its record,
    then each task as the store sees it finish, until the run ends."""
    done: set[str] = set()
    while True:
        record = await asyncio.to_thread(hub.project.run_detail, run_id, specs=False)
        for task in record.tasks:
            if task.name not in done and task.status not in ("pending", "running"):
                done.add(task.name)
                yield _sse(
                    "task_finished", {k: v for k, v in task_json(task).items() if k != "spec"}
                )
        if record.status != "running":
            yield _sse("end", _run_summary(record))
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(1.0)
