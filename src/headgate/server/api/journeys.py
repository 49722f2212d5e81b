"""Components and journeys: what events told about each component, and each journey's path."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

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
