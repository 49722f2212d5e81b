"""``GET /metrics``: the hub's records in Prometheus' text format, for Prometheus to scrape."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Runs, tasks, durations, rows, checks, freshness, queue, agents, events and "
    "queries answered in Prometheus' text format",
    dependencies=[Depends(requires(Permission.METRICS_READ))],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(hub: Hub = Depends(get_hub)) -> Response:
    from headgate.observe.metrics import CONTENT_TYPE, exposition

    body = await run_in_threadpool(exposition, hub.store, queries=hub.query_counts)
    return Response(body, media_type=CONTENT_TYPE)
