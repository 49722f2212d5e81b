"""Events: external tools post what their runs did; each answered with its event id.

The kinds and shapes are DataKitchen Observability's v1 events, so an integration that
posts to ``/events/v1/<kind>`` there posts the same body to ``/api/v1/events/<kind>``
here. Many events go in one request with ``/events/batch`` (one transaction).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from headgate.errors import HeadgateError
from headgate.observe.events import (
    DatasetOperationEvent,
    Event,
    EventBatch,
    MessageLogEvent,
    MetricLogEvent,
    RunStatusEvent,
    TestOutcomesEvent,
)
from headgate.server.api.common import Limit, etagged, jsonable
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["events"])
WRITE = [Depends(requires(Permission.EVENTS_WRITE))]
READ = [Depends(requires(Permission.EVENTS_READ))]
KindQuery = Annotated[
    str | None,
    Query(
        pattern=r"^(run-status|test-outcomes|metric-log|message-log|dataset-operation)$",
        description="Only events of this kind.",
    ),
]
KeyQuery = Annotated[str | None, Query(max_length=400)]


def _keep(hub: Hub, events: list[Event]) -> list[str]:
    ids = hub.project.post_events(events)
    observer = getattr(hub, "observer", None)
    if observer is not None:
        observer.wake()
    return ids


def _posted(hub: Hub, event: Event) -> JSONResponse:
    (event_id,) = _keep(hub, [event])
    return JSONResponse({"event_id": event_id}, status_code=201)


ANSWER: dict[int | str, dict[str, Any]] = {
    201: {"description": "Kept; the body holds its `event_id`."}
}


@router.post(
    "/events/run-status",
    status_code=201,
    responses=ANSWER,
    summary="A run, or one of its tasks, is RUNNING, COMPLETED, COMPLETED_WITH_WARNINGS or FAILED",
    dependencies=WRITE,
)
def post_run_status(event: RunStatusEvent, hub: Hub = Depends(get_hub)) -> JSONResponse:
    return _posted(hub, event.to_event())


@router.post(
    "/events/test-outcomes",
    status_code=201,
    responses=ANSWER,
    summary="Tests' outcomes (PASSED, FAILED, WARNING) with their metric and thresholds",
    dependencies=WRITE,
)
def post_test_outcomes(event: TestOutcomesEvent, hub: Hub = Depends(get_hub)) -> JSONResponse:
    return _posted(hub, event.to_event())


@router.post(
    "/events/metric-log",
    status_code=201,
    responses=ANSWER,
    summary="A metric's value",
    dependencies=WRITE,
)
def post_metric_log(event: MetricLogEvent, hub: Hub = Depends(get_hub)) -> JSONResponse:
    return _posted(hub, event.to_event())


@router.post(
    "/events/message-log",
    status_code=201,
    responses=ANSWER,
    summary="A log message (ERROR, WARNING, INFO)",
    dependencies=WRITE,
)
def post_message_log(event: MessageLogEvent, hub: Hub = Depends(get_hub)) -> JSONResponse:
    return _posted(hub, event.to_event())


@router.post(
    "/events/dataset-operation",
    status_code=201,
    responses=ANSWER,
    summary="A dataset was read (READ) or written (WRITE)",
    dependencies=WRITE,
)
def post_dataset_operation(
    event: DatasetOperationEvent, hub: Hub = Depends(get_hub)
) -> JSONResponse:
    return _posted(hub, event.to_event())


@router.post(
    "/events/batch",
    status_code=201,
    responses={201: {"description": "Kept; `event_ids` in the order posted."}},
    summary="Up to 10,000 events of any kind, each with its `event_type`, kept in one transaction",
    dependencies=WRITE,
)
def post_batch(batch: EventBatch, hub: Hub = Depends(get_hub)) -> JSONResponse:
    ids = _keep(hub, [event.to_event() for event in batch.events])
    return JSONResponse({"event_ids": ids, "count": len(ids)}, status_code=201)


@router.get(
    "/events",
    summary="Events received, newest first; `after` reads on from a sequence number",
    dependencies=READ,
)
def list_events(
    request: Request,
    hub: Hub = Depends(get_hub),
    component: KeyQuery = None,
    kind: KindQuery = None,
    run_key: KeyQuery = None,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Limit = 100,
) -> Response:
    found = hub.project.observed_events(
        component=component, kind=kind, run_key=run_key, after=after, limit=limit
    )
    items = [_event_json(e) for e in found]
    return etagged(request, {"items": items, "count": len(items), "limit": limit})


@router.get(
    "/events/{event_id:uuid}",  # a UUID only: /events/lineage is OpenLineage's
    summary="One event as it was received",
    dependencies=READ,
)
def event_detail(event_id: uuid.UUID, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    found = hub.project.observed_event(str(event_id))
    if found is None:
        raise HeadgateError(f"no event {event_id}", hint="list them: GET /api/v1/events")
    return _event_json(found)


def _event_json(record: Any) -> dict[str, Any]:
    data: dict[str, Any] = jsonable(record)
    body = data.pop("body")
    return {**body, **data}
