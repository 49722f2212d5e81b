"""Components and journeys: what events told about each component, and each journey's path."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from headgate.errors import HeadgateError
from headgate.server.api.common import Limit, Offset, etagged, jsonable, page
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["journeys"])
READ = [Depends(requires(Permission.EVENTS_READ))]
ComponentKey = Annotated[str, Path(max_length=400)]


@router.get(
    "/components",
    summary="Every component: declared in headgate.yml, seen in events, or headgate's own",
    dependencies=READ,
)
def list_components(
    request: Request, hub: Hub = Depends(get_hub), limit: Limit = 100, offset: Offset = 0
) -> Response:
    return etagged(request, page(hub.project.components(), limit=limit, offset=offset))


@router.get(
    "/components/{key:path}",
    summary="One component, its latest status and its newest runs with their tasks",
    dependencies=READ,
)
def component_detail(
    key: ComponentKey, hub: Hub = Depends(get_hub), runs: Limit = 20
) -> dict[str, Any]:
    found = hub.project.component(key)
    if found is None:
        raise HeadgateError(f"no component {key}", hint="list them: GET /api/v1/components")
    data: dict[str, Any] = jsonable(found)
    data["runs"] = jsonable(hub.project.component_runs(key, limit=runs))
    return data


@router.get(
    "/journeys",
    summary="Every journey: its components in order, its edges and its latest instance",
    dependencies=READ,
)
def list_journeys(request: Request, hub: Hub = Depends(get_hub)) -> Response:
    items = []
    for journey in hub.project.journeys():
        latest = hub.project.journey_instances(journey.name, limit=1)
        items.append(
            jsonable(journey) | {"latest_instance": jsonable(latest[0]) if latest else None}
        )
    return etagged(request, {"items": items, "total": len(items)})


@router.get(
    "/journeys/{name}",
    summary="One journey as a graph: each component with its latest state, the edges, "
    "recent instances and the instances expected next",
    dependencies=READ,
)
def journey_detail(
    name: Annotated[str, Path(max_length=200)], hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    return journey_body(hub, name)


def journey_body(hub: Hub, name: str) -> dict[str, Any]:
    """A journey with its components' states, instances and upcoming slots (API and UI)."""
    journey = hub.project.journey(name)
    if journey is None:
        raise HeadgateError(f"no journey {name}", hint="list them: GET /api/v1/journeys")
    known = {c.key: c for c in hub.project.components()}
    nodes = []
    for key in journey.components:
        component = known.get(key)
        nodes.append(jsonable(component) if component else {"key": key, "kind": "batch_pipeline"})
    open_alerts = {a.component: a for a in hub.project.alerts(status="open", limit=1000)}
    for node in nodes:
        alert = open_alerts.get(node["key"])
        node["open_alert"] = jsonable(alert) if alert else None
    now = hub.observer.clock() if hasattr(hub, "observer") else None
    return {
        "name": journey.name,
        "description": journey.description,
        "source": journey.source,
        "components": nodes,
        "edges": [{"from": a, "to": b} for a, b in journey.edges],
        "instances": jsonable(hub.project.journey_instances(name)),
        "upcoming": jsonable(hub.project.upcoming_instances(journey=name, now=now)),
    }


@router.get(
    "/upcoming-instances",
    summary="The runs expected next, per component with an expected schedule",
    dependencies=READ,
)
def upcoming_instances(hub: Hub = Depends(get_hub), count: Limit = 3) -> dict[str, Any]:
    now = hub.observer.clock() if hasattr(hub, "observer") else None
    items = jsonable(hub.project.upcoming_instances(now=now, count=min(count, 50)))
    return {"items": items, "total": len(items)}


StatusQuery = Annotated[str | None, Query(pattern=r"^(open|resolved)$")]


@router.get(
    "/alerts",
    summary="Alerts, newest first; each open until its component recovers, grouped under "
    "the upstream alert that caused it (`root_id`)",
    dependencies=READ,
)
def list_alerts(
    request: Request,
    hub: Hub = Depends(get_hub),
    status: StatusQuery = None,
    component: Annotated[str | None, Query(max_length=400)] = None,
    limit: Limit = 100,
) -> Response:
    found = hub.project.alerts(status=status, component=component, limit=limit)
    return etagged(request, {"items": jsonable(found), "count": len(found)})


@router.get(
    "/alerts/notices",
    summary="What rules' actions sent or still wait to send (no secret is ever kept)",
    dependencies=READ,
)
def list_notices(hub: Hub = Depends(get_hub), limit: Limit = 100) -> dict[str, Any]:
    found = hub.project.alert_notices(limit=limit)
    return {"items": jsonable(found), "count": len(found)}


@router.get(
    "/alerts/{alert_id}",
    summary="One alert, the alerts it grouped and the notices sent about it",
    dependencies=READ,
)
def alert_detail(
    alert_id: Annotated[int, Path(ge=1, le=2**62)], hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    found = hub.project.alert(alert_id)
    if found is None:
        raise HeadgateError(f"no alert {alert_id}", hint="list them: GET /api/v1/alerts")
    data: dict[str, Any] = jsonable(found)
    data["grouped"] = jsonable(hub.project.alerts_grouped_under(alert_id))
    data["notices"] = jsonable(hub.project.alert_notices(alert_id=alert_id))
    return data
