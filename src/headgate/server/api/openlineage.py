"""OpenLineage in, and Marquez's read API: what Airflow, Spark and dbt post, read back.

``POST /lineage`` takes OpenLineage events as Marquez does (201, empty body); the read
routes answer in Marquez's shapes (``spec/openapi.yml``), so Marquez's clients and the
scripts written for it read a hub unchanged. The graph, ``GET /lineage?nodeId=...``,
lives beside headgate's own DAG in :mod:`headgate.server.api.lineage`.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from headgate.observe import openlineage, openlineage_read
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["openlineage"])

READ = [Depends(requires(Permission.EVENTS_READ))]
Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")]
Name = Annotated[str, Path(min_length=1, max_length=400)]
MAX_EVENT_BYTES = 5_000_000


@router.post(
    "/lineage",
    status_code=201,
    summary="Receive an OpenLineage run, job or dataset event",
    description="An OpenLineage event (spec 2-0-2): a run's START, RUNNING, COMPLETE, "
    "ABORT, FAIL or OTHER with its job, input and output datasets and their facets. "
    "Answers 201 with an empty body, as Marquez does; 400 says what is wrong.",
    dependencies=[Depends(requires(Permission.EVENTS_WRITE))],
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def post_lineage(request: Request, hub: Hub = Depends(get_hub)) -> Response:
    body = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            return _bad(f"the body is not valid gzip: {exc}")
    if len(body) > MAX_EVENT_BYTES:
        return _bad(f"an event is at most {MAX_EVENT_BYTES:,} bytes")
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return _bad(f"the body is not JSON: {exc}")
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(openlineage.ingest, hub.store, event)
    return Response(status_code=201)


def _bad(detail: str) -> JSONResponse:
    from headgate.server.app import problem

    return problem(400, "Bad request", detail)


@router.get("/namespaces", summary="Namespaces of OpenLineage jobs and datasets", dependencies=READ)
def list_namespaces(
    hub: Hub = Depends(get_hub), limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    return openlineage_read.namespaces(hub.store, limit=limit, offset=offset)


@router.get(
    "/namespaces/{namespace:path}/jobs/{job:path}/runs",
    summary="A job's runs, newest first",
    dependencies=READ,
)
def list_runs(
    namespace: Name,
    job: Name,
    hub: Hub = Depends(get_hub),
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    return openlineage_read.runs(hub.store, namespace, job, limit=limit, offset=offset)


@router.get("/namespaces/{namespace:path}/jobs/{job:path}", summary="One job", dependencies=READ)
def get_job(namespace: Name, job: Name, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    return openlineage_read.job(hub.store, namespace, job)


@router.get("/namespaces/{namespace:path}/jobs", summary="A namespace's jobs", dependencies=READ)
def list_jobs(
    namespace: Name, hub: Hub = Depends(get_hub), limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    return openlineage_read.jobs(hub.store, namespace, limit=limit, offset=offset)


@router.get(
    "/namespaces/{namespace:path}/datasets/{dataset:path}", summary="One dataset", dependencies=READ
)
def get_dataset(namespace: Name, dataset: Name, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    return openlineage_read.dataset(hub.store, namespace, dataset)


@router.get(
    "/namespaces/{namespace:path}/datasets", summary="A namespace's datasets", dependencies=READ
)
def list_datasets(
    namespace: Name, hub: Hub = Depends(get_hub), limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    return openlineage_read.datasets(hub.store, namespace, limit=limit, offset=offset)


@router.get("/namespaces/{namespace:path}", summary="One namespace", dependencies=READ)
def get_namespace(namespace: Name, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    return openlineage_read.namespace(hub.store, namespace)


@router.get(
    "/column-lineage",
    summary="Column lineage around a field (or every field of a dataset)",
    description="`nodeId` is `datasetField:<namespace>:<dataset>:<field>` or "
    "`dataset:<namespace>:<name>`; the fields it is computed from, `depth` steps up, and with "
    "`withDownstream=true` those computed from it, as Marquez answers.",
    dependencies=READ,
)
def get_column_lineage(
    node_id: Annotated[str, Query(alias="nodeId", min_length=1, max_length=1000)],
    hub: Hub = Depends(get_hub),
    depth: Annotated[int, Query(ge=0, le=100)] = 20,
    with_downstream: Annotated[bool, Query(alias="withDownstream")] = False,
) -> dict[str, Any]:
    from headgate.observe.openlineage_columns import column_lineage

    return column_lineage(hub.store, node_id, depth, with_downstream)


@router.get("/jobs/runs/{run_id}", summary="One run of a job", dependencies=READ)
def get_run(
    run_id: Annotated[str, Path(min_length=1, max_length=64)], hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    return openlineage_read.run(hub.store, run_id)


@router.get(
    "/events/lineage",
    summary="The OpenLineage events received, newest first",
    dependencies=READ,
)
def list_events(
    hub: Hub = Depends(get_hub),
    before: Annotated[datetime | None, Query(description="Events at or before.")] = None,
    after: Annotated[datetime | None, Query(description="Events at or after.")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    return openlineage_read.events(
        hub.store, before=_utc(before), after=_utc(after), limit=limit, offset=offset
    )


def _utc(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
