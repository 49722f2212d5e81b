"""The project the hub serves, and the hub's own state (its writer lane)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["project"])


@router.get(
    "/project",
    summary="The project the hub serves",
    dependencies=[Depends(requires(Permission.PROJECT_READ))],
)
def project_info(hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    project = hub.project
    config = project.loaded.config
    current = hub.current
    return {
        "name": project.name,
        "root": str(project.root),
        "engine": config.engine.type,
        "default_environment": config.default_environment,
        "models": len(project.loaded.models),
        "sources": len(project.loaded.sources),
        "writing": current.to_json() if current else None,
        "flight_port": hub.flight.port if hub.flight is not None else None,  # Arrow Flight
    }
