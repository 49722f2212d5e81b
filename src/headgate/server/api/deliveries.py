"""Deliveries: what the project declares, running them, and fetching what they produced."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from headgate.errors import HeadgateError
from headgate.server.api.environments import ENV_PATTERN, Wait, finished_or_accepted
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["deliveries"])
DeliveryName = Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9_.-]+$")]


class DeliverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: list[Annotated[str, Field(max_length=200)]] | None = Field(
        None, max_length=200, description="Deliveries to run (default: all)."
    )
    environment: str | None = Field(None, max_length=100, pattern=ENV_PATTERN)


@router.get(
    "/deliveries",
    summary="Every delivery the project declares, with what it last produced through this hub",
    dependencies=[Depends(requires(Permission.DELIVERIES_READ))],
)
def list_deliveries(hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    items = []
    for name, delivery in sorted(hub.project.deliveries.items()):
        config = delivery.config
        items.append(
            {
                "name": name,
                "type": delivery.type,
                "file": str(delivery.path.relative_to(hub.root))
                if delivery.path.is_relative_to(hub.root)
                else str(delivery.path),
                "description": getattr(config, "description", None),
                "model": getattr(config, "model", None),
                "last": hub.delivered.get(name),
            }
        )
    return {"deliveries": items}


@router.post(
    "/deliveries/run",
    summary="Run deliveries against what an environment publishes now (all, or the named ones)",
    dependencies=[Depends(requires(Permission.DELIVERIES_RUN))],
)
def run_deliveries(
    request: DeliverRequest | None = None, hub: Hub = Depends(get_hub), wait: Wait = 120.0
) -> Response:
    names = request.names if request else None
    environment = request.environment if request else None

    def work(project: Any) -> dict[str, Any]:
        results = project.deliver(environment, names=names)
        return {"deliveries": [r.to_dict() for r in results]}

    what = ", ".join(names) if names else "all deliveries"
    job = hub.submit("deliver", f"deliver {what}", work, environment=environment)
    return finished_or_accepted(job, wait)


@router.get(
    "/deliveries/{name}/output",
    summary="A file the delivery last produced (the first, or the one `file` names)",
    response_class=FileResponse,
    dependencies=[Depends(requires(Permission.DELIVERIES_READ))],
)
def delivery_output(
    name: DeliveryName,
    hub: Hub = Depends(get_hub),
    file: Annotated[str | None, Query(max_length=1000)] = None,
) -> FileResponse:
    if name.lower() not in hub.project.deliveries:
        raise HeadgateError(
            f"no delivery named {name}",
            hint=f"deliveries: {', '.join(sorted(hub.project.deliveries)) or 'none'}",
        )
    last = hub.delivered.get(name.lower())
    outputs = [str(p) for p in (last or {}).get("outputs", [])]
    if not outputs:
        raise HeadgateError(
            f"no output of {name} recorded by this hub yet",
            hint="run it: POST /api/v1/deliveries/run (or a run that publishes what it reads)",
        )
    chosen = file if file is not None else outputs[0]
    if chosen not in outputs:
        raise HeadgateError(f"no output {chosen} of {name}", hint=f"outputs: {', '.join(outputs)}")
    path = FilePath(chosen) if FilePath(chosen).is_absolute() else hub.root / chosen
    if not path.resolve().is_relative_to(hub.root.resolve()) or not path.is_file():
        raise HeadgateError(f"no output {chosen} of {name} on disk", hint="run the delivery again")
    return FileResponse(path, filename=path.name)
