"""The agents page: each agent's health, labels, capacity and tasks, and the queue; a
run's tasks as agents carried them out, with the output each printed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from headgate.server.permissions import Permission, requires
from headgate.server.ui.templating import PageRoute, hub_of, render
from headgate.state import agents as registry

router = APIRouter(route_class=PageRoute, include_in_schema=False)
READ = [Depends(requires(Permission.AGENTS_READ))]
HEALTH_PILLS = {"healthy": "success", "late": "partial", "offline": "failed"}
STATE_PILLS = {"waiting": "pending", "leased": "running", "queued": "queued", "done": "done"}


@router.get("/agents", response_class=HTMLResponse, dependencies=READ)
def agents_page(request: Request) -> HTMLResponse:
    db = registry.database(hub_of(request).store)
    return render(
        request,
        "agents.html",
        section="agents",
        title="Agents",
        agents=registry.list_agents(db),
        queue=registry.queue_of(db),
        health_pills=HEALTH_PILLS,
        state_pills=STATE_PILLS,
        run_id=None,
        output=[],
    )


@router.get("/agents/runs/{run_id}", response_class=HTMLResponse, dependencies=READ)
def agents_run_page(request: Request, run_id: int) -> HTMLResponse:
    hub = hub_of(request)
    hub.project.run_detail(run_id)  # an unknown run is a 404 page
    db = registry.database(hub.store)
    return render(
        request,
        "agents.html",
        section="agents",
        title=f"Run {run_id} on agents",
        agents=[],
        queue=registry.tasks_of_run(db, run_id),
        health_pills=HEALTH_PILLS,
        state_pills=STATE_PILLS,
        run_id=run_id,
        output=registry.output_of(db, run_id),
    )
