"""Schedules and file triggers: list them with their next slots and last runs, pause and
resume them, and start one's run now by an API call."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from headgate.facade.scheduling import ScheduleStatus
from headgate.server.api.common import accepted, etagged, jsonable
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["schedules"])
Name = Annotated[
    str, Path(max_length=63, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", description="Its name.")
]


def schedule_json(status: ScheduleStatus, *, leading: bool) -> dict[str, Any]:
    body: dict[str, Any] = jsonable(status)
    body["scheduled_here"] = leading  # whether this hub replica is the one that schedules
    return body


@router.get(
    "/schedules",
    summary="Schedules and file triggers: paused or not, next slots, last slot and run",
    dependencies=[Depends(requires(Permission.SCHEDULES_READ))],
)
def list_schedules(request: Request, hub: Hub = Depends(get_hub)) -> Response:
    leading = hub.scheduling.leading
    items = [schedule_json(s, leading=leading) for s in hub.project.schedules()]
    return etagged(request, {"items": items, "total": len(items), "scheduled_here": leading})


@router.get(
    "/schedules/{name}",
    summary="One schedule or trigger",
    dependencies=[Depends(requires(Permission.SCHEDULES_READ))],
)
def get_schedule(name: Name, request: Request, hub: Hub = Depends(get_hub)) -> Response:
    return etagged(request, _status(hub, name))


@router.post(
    "/schedules/{name}/pause",
    summary="Pause: slots that come due while paused never run, new files start nothing",
    dependencies=[Depends(requires(Permission.SCHEDULES_MANAGE))],
)
def pause_schedule(name: Name, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    hub.project.pause_schedule(name)
    return _status(hub, name)


@router.post(
    "/schedules/{name}/resume",
    summary="Resume from the next slot (or the next new file)",
    dependencies=[Depends(requires(Permission.SCHEDULES_MANAGE))],
)
def resume_schedule(name: Name, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    hub.project.pause_schedule(name, paused=False)
    return _status(hub, name)


@router.post(
    "/schedules/{name}/trigger",
    status_code=202,
    summary="Start the schedule's run now (its environment, selection, retries and timeout)",
    dependencies=[Depends(requires(Permission.RUNS_START))],
)
def trigger_schedule(name: Name, request: Request, hub: Hub = Depends(get_hub)) -> Response:
    from headgate.security.principal import acting

    caller = acting()
    user = f"trigger {name} by {caller.actor}" if caller else f"trigger {name} by API"
    run_id = hub.project.trigger_schedule(name, hub.start_scheduled_run, user=user)
    job = hub.job_of_run(run_id)
    body = {
        "schedule": name,
        "run_id": run_id,
        "job_id": job.id if job else None,
        "status": job.status if job else "queued",
    }
    return accepted(body, f"/api/v1/runs/{run_id}")


def _status(hub: Hub, name: str) -> dict[str, Any]:
    hub.project._schedule(name)  # an unknown name answers 404 with the names there are
    found = next(s for s in hub.project.schedules() if s.name == name)
    return schedule_json(found, leading=hub.scheduling.leading)
