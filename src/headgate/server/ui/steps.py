"""An external step's page: what it runs, how it is retried, and its recent runs.

``/steps/{name}`` takes the step's file name (``load_crm``) or its node name
(``steps.load_crm``); the lineage's step nodes and a run page's step tasks link here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from headgate.errors import HeadgateError
from headgate.project.steps import Step
from headgate.server.permissions import Permission, requires
from headgate.server.stepinfo import (
    every_step,
    find_step,
    output_file,
    output_text,
    step_info,
    step_url,
)
from headgate.server.ui.templating import PageRoute, hub_of, render
from headgate.server.ui.views import chosen_environment, environment_names

if TYPE_CHECKING:
    from headgate.facade import Project

router = APIRouter(route_class=PageRoute, include_in_schema=False)
READ = [Depends(requires(Permission.RUNS_READ))]


@router.get("/steps", response_class=HTMLResponse, dependencies=READ)
def steps_page(request: Request, env: str | None = None) -> HTMLResponse:
    """Every external step with its last run in the environment."""
    project = hub_of(request).project
    environment = chosen_environment(project, env)
    return render(
        request,
        "steps.html",
        section="lineage",
        title="Steps",
        environment=environment,
        environments=environment_names(project),
        steps=every_step(project, environment),
        step_url=step_url,
    )


@router.get("/steps/{name}", response_class=HTMLResponse, dependencies=READ)
def step_page(request: Request, name: str, env: str | None = None) -> HTMLResponse:
    """One step: its kind, command, timeout, retries, neighbours and recent runs."""
    project = hub_of(request).project
    environment = chosen_environment(project, env)
    info = step_info(project, find_step(project, name), environment)
    steps = set(project.loaded.steps)
    latest = info.last
    whole = latest is not None and _has_output(project, info.step, latest.run_id)
    return render(
        request,
        "step.html",
        section="lineage",
        title=info.name,
        environment=environment,
        environments=environment_names(project),
        info=info,
        config=info.step.config,
        neighbours={
            "Upstream": [(n, n in steps) for n in info.step.upstream],
            "Downstream": [(n, n in steps) for n in info.step.downstream],
        },
        step_url=step_url,
        whole_output=whole,
    )


@router.get("/steps/{name}/runs/{run_id}/output", dependencies=READ)
def step_output(request: Request, name: str, run_id: int) -> PlainTextResponse:
    """The step's whole output in that run, as plain text (masked as it was written)."""
    project = hub_of(request).project
    path = output_file(project, find_step(project, name), run_id)
    return PlainTextResponse(output_text(path))


def _has_output(project: Project, step: Step, run_id: int) -> bool:
    try:
        output_file(project, step, run_id)
    except HeadgateError:
        return False
    return True
