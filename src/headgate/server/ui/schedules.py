"""The schedules page: each schedule and file trigger, its next slots and last run;
pause, resume, or start its run now."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from headgate.server.permissions import Permission, requires
from headgate.server.ui.forms import form_fields
from headgate.server.ui.templating import PageRoute, hub_of, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get(
    "/schedules",
    response_class=HTMLResponse,
    dependencies=[Depends(requires(Permission.SCHEDULES_READ))],
)
def schedules_page(request: Request) -> HTMLResponse:
    hub = hub_of(request)
    return render(
        request,
        "schedules.html",
        section="schedules",
        title="Schedules",
        schedules=hub.project.schedules(),
        leading=hub.scheduling.leading,
    )


@router.post(
    "/schedules/{name}/pause", dependencies=[Depends(requires(Permission.SCHEDULES_MANAGE))]
)
async def pause(request: Request, name: str) -> Response:
    await form_fields(request)
    hub_of(request).project.pause_schedule(name)
    return RedirectResponse("/schedules", status_code=303)


@router.post(
    "/schedules/{name}/resume", dependencies=[Depends(requires(Permission.SCHEDULES_MANAGE))]
)
async def resume(request: Request, name: str) -> Response:
    await form_fields(request)
    hub_of(request).project.pause_schedule(name, paused=False)
    return RedirectResponse("/schedules", status_code=303)


@router.post("/schedules/{name}/trigger", dependencies=[Depends(requires(Permission.RUNS_START))])
async def trigger(request: Request, name: str) -> Response:
    await form_fields(request)
    hub = hub_of(request)
    from headgate.security.principal import acting

    caller = acting()
    user = f"trigger {name} by {caller.actor}" if caller else f"trigger {name}"
    run_id = hub.project.trigger_schedule(name, hub.start_scheduled_run, user=user)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)
