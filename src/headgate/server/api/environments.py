"""Environments (create, list, delete, what each publishes, compare two) and deployments
(deploy, rollback, history). Every change goes through the hub's writer lane."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from headgate.errors import HeadgateError
from headgate.server.api.common import (
    NAME_PATTERN,
    EnvQuery,
    Limit,
    Offset,
    accepted,
    etagged,
    jsonable,
    page,
    published_answer,
)
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.jobs import CANCELLED, DONE, Job
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["environments"])
ENV_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
EnvName = Annotated[str, Path(max_length=100, pattern=ENV_PATTERN)]
Wait = Annotated[
    float,
    Query(
        ge=0,
        le=600,
        description="Seconds to wait for the change; past them the answer is 202 and the job to follow.",
    ),
]


class EnvironmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100, pattern=ENV_PATTERN)
    from_environment: str = Field(
        "prod",
        alias="from",
        max_length=100,
        pattern=ENV_PATTERN,
        description="Start from this one.",
    )


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_environment: str = Field(alias="from", max_length=100, pattern=ENV_PATTERN)
    to: str = Field("prod", max_length=100, pattern=ENV_PATTERN)
    expect_state: str | None = Field(
        None,
        max_length=100,
        description="Refuse if the target changed since the plan (its target_state).",
    )


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: int | None = Field(
        None,
        ge=1,
        le=2**62,
        description="Deployment to return to (default: the one before the latest).",
    )


def finished_or_accepted(job: Job, wait: float, *, status_code: int = 200) -> Response:
    """The job's result when it ends within ``wait`` seconds, else 202 and where to follow it."""
    if not job.wait(wait):
        body = {"job_id": job.id, "status": job.status, "links": {"job": f"/api/v1/jobs/{job.id}"}}
        return accepted(body, f"/api/v1/jobs/{job.id}")
    if job.status == DONE:
        return JSONResponse(jsonable(job.result), status_code=status_code)
    error = HeadgateError(job.error or f"{job.description} did not finish")
    if job.status == CANCELLED:
        raise _Conflict(job.error or f"{job.description} was cancelled")
    raise _JobError(error.message, job.error_status)


class _JobError(HeadgateError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Conflict(HeadgateError):
    status = 409


@router.get(
    "/environments",
    summary="Every environment: who made it, from where, how many models, when it last changed",
    dependencies=[Depends(requires(Permission.ENVIRONMENTS_READ))],
)
def list_environments(request: Request, hub: Hub = Depends(get_hub)) -> Response:
    return etagged(request, {"environments": jsonable(hub.project.env_list())})


@router.post(
    "/environments",
    status_code=201,
    summary="Create an environment publishing the same tables as another: no data copied",
    dependencies=[Depends(requires(Permission.ENVIRONMENTS_CREATE))],
)
def create_environment(
    request: EnvironmentRequest, hub: Hub = Depends(get_hub), wait: Wait = 60.0
) -> Response:
    name, source = request.name, request.from_environment

    def work(project: Any) -> dict[str, Any]:
        change = project.env_create(name, source=source)
        return {"environment": name, "from": source, "models": len(change.changed)}

    job = hub.submit("env_create", f"env create {name} from {source}", work, environment=name)
    return finished_or_accepted(job, wait, status_code=201)


@router.delete(
    "/environments/{name}",
    summary="Drop an environment's views; its tables stay while anything else points at them",
    dependencies=[Depends(requires(Permission.ENVIRONMENTS_DELETE))],
)
def delete_environment(name: EnvName, hub: Hub = Depends(get_hub), wait: Wait = 60.0) -> Response:
    if name not in {e.name for e in hub.project.env_list()}:
        raise HeadgateError(f"no environment named {name}", hint="list them: headgate env list")

    def work(project: Any) -> dict[str, Any]:
        return {"environment": name, "views_dropped": project.env_delete(name)}

    job = hub.submit("env_delete", f"env delete {name}", work, environment=name)
    return finished_or_accepted(job, wait)


@router.get(
    "/environments/{name}",
    summary="What an environment publishes: each model's fingerprint and table, and its state hash",
    dependencies=[Depends(requires(Permission.ENVIRONMENTS_READ))],
)
def environment_detail(request: Request, name: EnvName, hub: Hub = Depends(get_hub)) -> Response:
    project = hub.project
    pointers = project.state.env_models(name)
    record = next((e for e in project.env_list() if e.name == name), None)
    if record is None and not pointers:
        raise HeadgateError(f"no environment named {name}", hint="list them: headgate env list")
    body = {
        "environment": jsonable(record),
        "name": name,
        "state": project.environment_state(name),
        "models": [jsonable(p) for _, p in sorted(pointers.items())],
    }
    return etagged(request, body)


@router.get(
    "/environments/{name}/status",
    summary="Each model's state in the environment and its last run (what `headgate status` shows)",
    dependencies=[Depends(requires(Permission.ENVIRONMENTS_READ))],
)
def environment_status(request: Request, name: EnvName, hub: Hub = Depends(get_hub)) -> Response:
    return published_answer(request, hub, lambda: jsonable(hub.project.status(name)))


@router.get(
    "/environments/{name}/compare/{other}",
    summary="Compare what two environments publish: models only in one, and models whose tables differ",
    dependencies=[Depends(requires(Permission.ENVIRONMENTS_READ))],
)
def compare_environments(
    name: EnvName, other: EnvName, hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    state = hub.project.state
    left, right = state.env_models(name), state.env_models(other)
    models = []
    for model in sorted(set(left) | set(right)):
        a, b = left.get(model), right.get(model)
        if a is None or b is None:
            change = f"only in {name}" if b is None else f"only in {other}"
        else:
            change = "same" if a.physical_table == b.physical_table else "different"
        models.append(
            {
                "name": model,
                "change": change,
                "left": a.physical_table if a else None,
                "right": b.physical_table if b else None,
                "left_fingerprint": a.fingerprint if a else None,
                "right_fingerprint": b.fingerprint if b else None,
            }
        )
    differing = [m for m in models if m["change"] != "same"]
    return {"left": name, "right": other, "differing": len(differing), "models": models}


@router.get(
    "/environments/{name}/diff/{model}",
    summary="A model's data compared between two environments, by key, in the warehouse",
    dependencies=[Depends(requires(Permission.ENVIRONMENTS_READ))],
)
def data_diff(
    name: EnvName,
    model: Annotated[str, Path(max_length=300, pattern=NAME_PATTERN)],
    hub: Hub = Depends(get_hub),
    against: Annotated[str, Query(max_length=100, pattern=ENV_PATTERN)] = "prod",
    key: Annotated[list[str] | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    found: dict[str, Any] = jsonable(hub.project.diff(model, name, against, key=key).to_json())
    return found


@router.post(
    "/deployments",
    status_code=201,
    tags=["deployments"],
    summary="Deploy: promote exactly the tables built and checked in one environment into another",
    description="Refused, with the reason, when the checks did not run on those tables or "
    "failed, or when the target changed since the plan (`expect_state`).",
    dependencies=[Depends(requires(Permission.DEPLOY))],
)
def deploy(request: DeployRequest, hub: Hub = Depends(get_hub), wait: Wait = 60.0) -> Response:
    source, target, expected = request.from_environment, request.to, request.expect_state

    def work(project: Any) -> dict[str, Any]:
        result = project.deploy(source, target, expect_state=expected)
        return {
            "deployment_id": result.change.deployment_id,
            "from": result.source,
            "to": result.target,
            "models": result.models,
        }

    job = hub.submit("deploy", f"deploy {source} to {target}", work, environment=target)
    return finished_or_accepted(job, wait, status_code=201)


@router.post(
    "/environments/{name}/rollback",
    status_code=201,
    tags=["deployments"],
    summary="Roll back: publish again what an earlier deployment published; nothing rebuilt",
    dependencies=[Depends(requires(Permission.ROLLBACK))],
)
def rollback(
    name: EnvName,
    hub: Hub = Depends(get_hub),
    request: RollbackRequest | None = None,
    wait: Wait = 60.0,
) -> Response:
    to = request.to if request else None

    def work(project: Any) -> dict[str, Any]:
        earlier, change = project.rollback(name, to=to)
        return {
            "environment": name,
            "rolled_back_to": earlier,
            "deployment_id": change.deployment_id,
            "models": change.count,
        }

    job = hub.submit("rollback", f"rollback {name}", work, environment=name)
    return finished_or_accepted(job, wait, status_code=201)


@router.get(
    "/deployments",
    tags=["deployments"],
    summary="What each environment published over time: runs, deploys, rollbacks (newest first)",
    dependencies=[Depends(requires(Permission.DEPLOYMENTS_READ))],
)
def list_deployments(
    request: Request,
    hub: Hub = Depends(get_hub),
    env: EnvQuery = None,
    pointers: Annotated[
        bool, Query(description="Include each deployment's whole pointer set.")
    ] = False,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Response:
    records = hub.project.deployments(env, limit=limit + offset + 1)
    items = []
    for record in records:
        item = jsonable(record)
        item["models"] = len(record.pointers)
        if not pointers:
            item.pop("pointers", None)
            item.pop("plan", None)
        items.append(item)
    body = page(items, limit=limit, offset=offset)
    if len(records) > limit + offset:
        body["total"] = None
    return etagged(request, body)
