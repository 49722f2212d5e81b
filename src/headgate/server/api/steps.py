"""External steps: each one's config with its last run, and one step with its recent runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import PlainTextResponse

from headgate.server.api.common import NAME_PATTERN, EnvQuery, etagged
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires
from headgate.server.stepinfo import every_step, find_step, output_file, output_text, step_info

router = APIRouter(tags=["steps"])
RunId = Annotated[int, Path(ge=1, le=2**62)]
StepName = Annotated[
    str,
    Path(max_length=300, pattern=NAME_PATTERN, description="load_crm or steps.load_crm"),
]


@router.get(
    "/steps",
    summary="Every external step with what it runs and its last run in an environment",
    description="A step (`steps/<name>.yml`) runs a shell command, a Python callable or dbt "
    "in the DAG's order. `last_run` is its task in the environment's latest run that ran "
    "it (null when none of the recent runs did); its `output` is the last lines, masked.",
    dependencies=[Depends(requires(Permission.RUNS_READ))],
)
def list_steps(request: Request, hub: Hub = Depends(get_hub), env: EnvQuery = None) -> Response:
    project = hub.project
    environment = project._environment(env)
    steps = every_step(project, environment)
    body = {"environment": environment, "steps": [s.to_json(runs=False) for s in steps]}
    return etagged(request, body)


@router.get(
    "/steps/{name}",
    summary="One external step: its config and its recent runs with their output",
    description="`runs` are newest first: status, seconds, attempts, exit code, error and "
    "the output's last lines (masked as recorded); `log` is the whole output's file on "
    "the hub.",
    dependencies=[Depends(requires(Permission.RUNS_READ))],
)
def get_step(
    request: Request, name: StepName, hub: Hub = Depends(get_hub), env: EnvQuery = None
) -> Response:
    project = hub.project
    environment = project._environment(env)
    info = step_info(project, find_step(project, name), environment)
    return etagged(request, {"environment": environment, **info.to_json()})


@router.get(
    "/steps/{name}/runs/{run_id}/output",
    summary="A step's whole output in one run, as text",
    description="Its stdout and stderr as the hub wrote them (secrets masked), each attempt "
    "after a `--- attempt N` line. 404 when the step did not run in that run on the hub "
    "(a step an agent ran keeps its last lines with the run's task).",
    dependencies=[Depends(requires(Permission.RUNS_READ))],
    response_class=PlainTextResponse,
)
def step_output(name: StepName, run_id: RunId, hub: Hub = Depends(get_hub)) -> PlainTextResponse:
    project = hub.project
    path = output_file(project, find_step(project, name), run_id)
    return PlainTextResponse(output_text(path))
