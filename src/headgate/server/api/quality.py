"""Check results (latest, history, failing samples), monitors' control charts, profiles."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from headgate.errors import HeadgateError
from headgate.server.api.common import (
    NAME_PATTERN,
    EnvQuery,
    Limit,
    Offset,
    etagged,
    jsonable,
    page,
    published_answer,
)
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["checks"])
CheckName = Annotated[
    str,
    Path(max_length=400, pattern=NAME_PATTERN, description="e.g. staging.orders.order_id.unique"),
]
ModelName = Annotated[str, Path(max_length=300, pattern=NAME_PATTERN)]
RESULTS_SCANNED = 20_000  # newest results read to find each check's latest


def latest_results(hub: Hub, environment: str) -> list[Any]:
    """Each check's newest result on the tables ``environment`` publishes."""
    found: list[Any] = hub.cached(("checks", environment), lambda: _latest(hub, environment))
    return found


def _latest(hub: Hub, environment: str) -> list[Any]:
    state = hub.project.state
    tables = {p.physical_table for p in state.env_models(environment).values()}
    latest: dict[str, Any] = {}
    for record in state.check_results(limit=RESULTS_SCANNED):
        if record.physical_table in tables and record.check_name not in latest:
            latest[record.check_name] = record
    return sorted(latest.values(), key=lambda r: (r.model, r.check_name))


@router.get(
    "/checks",
    summary="Each check's latest result on what an environment publishes",
    dependencies=[Depends(requires(Permission.CHECKS_READ))],
)
def list_checks(
    request: Request,
    hub: Hub = Depends(get_hub),
    env: EnvQuery = None,
    model: Annotated[str | None, Query(max_length=300)] = None,
    status: Annotated[str | None, Query(pattern="^(pass|fail|warn|error)$")] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> Response:
    def answer() -> dict[str, Any]:
        environment = hub.project._environment(env)
        results = latest_results(hub, environment)
        if model:
            results = [r for r in results if r.model == model.lower()]
        if status:
            results = [r for r in results if r.status == status]
        counts: dict[str, int] = {}
        for result in results:
            counts[result.status] = counts.get(result.status, 0) + 1
        shown = [_summary(r) for r in results]
        body = page(shown, limit=limit, offset=offset, environment=environment, counts=counts)
        return body

    return published_answer(request, hub, answer)


@router.get(
    "/checks/{name}",
    summary="A check's latest result with its SQL and sample of failing rows",
    description="What `headgate failures NAME --json` prints: one result, or one per model "
    "for a custom check reading several models.",
    dependencies=[Depends(requires(Permission.CHECKS_READ))],
)
def check_failures(name: CheckName, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    records = hub.project.failures_of(name)
    if len(records) == 1:
        found: dict[str, Any] = jsonable(records[0])
        return found
    return {"check": name, "results": jsonable(records)}


@router.get(
    "/checks/{name}/history",
    summary="A check's results over time, newest first",
    dependencies=[Depends(requires(Permission.CHECKS_READ))],
)
def check_history(
    request: Request,
    name: CheckName,
    hub: Hub = Depends(get_hub),
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    project = hub.project
    model = _model_of_check(hub, name)
    records = project.state.check_results(model=model, limit=5000) if model else []
    history = [_summary(r) for r in records if r.check_name == name]
    if not history:
        project.failures_of(name)  # raises the CLI's "no result recorded" with suggestions
    return etagged(request, page(history, limit=limit, offset=offset, check=name))


def _model_of_check(hub: Hub, name: str) -> str | None:
    checks = hub.project.checks
    for found in (checks.by_model, checks.custom):
        for model, declared in found.items():
            if any(c.name == name for c in declared):
                return model
    latest = hub.project.state.latest_check_result(name)
    return latest.model if latest else None


def _summary(record: Any) -> dict[str, Any]:
    return {
        "name": record.check_name,
        "model": record.model,
        "type": record.check_type,
        "column": record.column,
        "severity": record.severity,
        "status": record.status,
        "failing_rows": record.failing_rows,
        "total_rows": record.total_rows,
        "message": record.message,
        "has_sample": bool(record.sample),
        "physical_table": record.physical_table,
        "run_id": record.run_id,
        "created_at": record.created_at.isoformat() if record.created_at else None,
    }


@router.get(
    "/models/{name}/monitors/{metric}",
    tags=["monitors"],
    summary="A metric's control chart over recent runs (center, limits, points, rule firings)",
    description="Metrics: row_count, null_fraction, distinct_fraction, mean, min, max, "
    "freshness_lag; column-level metrics need `column`.",
    dependencies=[Depends(requires(Permission.CHECKS_READ))],
)
def monitor_chart(
    name: ModelName,
    metric: Annotated[str, Path(max_length=60, pattern=r"^[a-z_]+$")],
    hub: Hub = Depends(get_hub),
    column: Annotated[str | None, Query(max_length=200)] = None,
    chart: Annotated[
        Literal["western_electric", "ewma", "cusum", "weekly"] | None,
        Query(description="the kind of chart (default: the one the model's monitor judges by)"),
    ] = None,
) -> dict[str, Any]:
    found = hub.project.monitor(name, metric, column=column, chart=chart)
    data: dict[str, Any] = jsonable(found.to_dict())
    return {"model": name.lower(), "metric": metric, "column": column, **data}


@router.get(
    "/models/{name}/profile",
    tags=["profiles"],
    summary="The latest profile kept of a model or source",
    dependencies=[Depends(requires(Permission.CHECKS_READ))],
)
def latest_profile(name: ModelName, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    found = hub.project.state.latest_profile(name.lower())
    if found is None:
        raise HeadgateError(
            f"no profile kept of {name}",
            hint=f"take one: POST /api/v1/models/{name}/profile (or headgate profile {name})",
        )
    data: dict[str, Any] = jsonable(found)
    return data


@router.post(
    "/models/{name}/profile",
    tags=["profiles"],
    summary="Profile a published model or source now (one scan), and keep the profile",
    dependencies=[Depends(requires(Permission.PROFILES_RUN))],
)
def take_profile(
    name: ModelName, hub: Hub = Depends(get_hub), env: EnvQuery = None
) -> dict[str, Any]:
    profile = hub.project.profile(name, env)
    data: dict[str, Any] = jsonable(profile.to_dict())
    return data
