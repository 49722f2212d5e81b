"""Deliveries: each one the project declares, what it last produced, a report shown in the
page, an export downloaded; running them again through the writer lane."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from headgate.errors import HeadgateError
from headgate.server.permissions import Permission, requires
from headgate.server.ui.changes import submit_deliveries
from headgate.server.ui.forms import form_fields
from headgate.server.ui.templating import PageRoute, hub_of, render
from headgate.server.ui.views import chosen_environment, environment_names

if TYPE_CHECKING:
    from headgate.deliveries.config import Delivery
    from headgate.server.hub import Hub

router = APIRouter(route_class=PageRoute, include_in_schema=False)
READ = [Depends(requires(Permission.DELIVERIES_READ))]
SHOWN_INLINE = {".html", ".htm", ".pdf", ".svg", ".png", ".txt"}
DEFAULT_OUTPUTS = {"report": "out/reports/{name}.html", "notebook": "out/notebooks/{name}.html"}


@dataclass
class Output:
    path: Path
    relative: str
    size: int
    modified: datetime

    @property
    def viewable(self) -> bool:
        return self.path.suffix.lower() in SHOWN_INLINE


@dataclass
class DeliveryView:
    name: str
    type: str
    description: str | None
    reads: list[str]
    outputs: list[Output] = field(default_factory=list)
    last: dict[str, Any] | None = None


@router.get("/deliveries", response_class=HTMLResponse, dependencies=READ)
def deliveries_page(request: Request) -> HTMLResponse:
    hub = hub_of(request)
    views = [_view(hub, d) for _, d in sorted(hub.project.deliveries.items())]
    return render(
        request,
        "deliveries.html",
        section="deliveries",
        title="Deliveries",
        deliveries=views,
        names=environment_names(hub.project),
        default_environment=hub.project.outline.default_environment,
    )


@router.get("/deliveries/{name}", response_class=HTMLResponse, dependencies=READ)
def delivery_page(request: Request, name: str, file: str | None = None) -> HTMLResponse:
    hub = hub_of(request)
    view = _view(hub, _delivery(hub, name))
    shown = _chosen(view, file) if view.outputs else None
    return render(
        request,
        "delivery.html",
        section="deliveries",
        title=f"Delivery {view.name}",
        delivery=view,
        shown=shown,
        names=environment_names(hub.project),
        default_environment=hub.project.outline.default_environment,
    )


@router.get("/deliveries/{name}/file", dependencies=READ)
def delivery_file(
    request: Request, name: str, file: str | None = None, download: int = 0
) -> Response:
    """One file a delivery produced: shown in the page (reports) or downloaded (exports)."""
    hub = hub_of(request)
    view = _view(hub, _delivery(hub, name))
    if not view.outputs:
        raise HeadgateError(f"{view.name} has produced nothing yet", hint="run it from this page")
    chosen = _chosen(view, file)
    inline = chosen.viewable and not download
    response = FileResponse(
        chosen.path,
        filename=chosen.path.name,
        content_disposition_type="inline" if inline else "attachment",
    )
    # a report is shown in a sandboxed frame: it runs no script and reaches nothing
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    )
    return response


@router.post("/deliveries/run", dependencies=[Depends(requires(Permission.DELIVERIES_RUN))])
async def run_deliveries(request: Request) -> Response:
    fields = await form_fields(request)
    hub = hub_of(request)
    environment = chosen_environment(hub.project, fields.get("environment") or None)
    name = (fields.get("name") or "").strip().lower()
    names = [_delivery(hub, name).name] if name else None
    job = submit_deliveries(hub, environment, names)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _delivery(hub: Hub, name: str) -> Delivery:
    found = hub.project.deliveries.get(name.lower())
    if found is None:
        raise HeadgateError(
            f"no delivery named {name}",
            hint=f"deliveries: {', '.join(sorted(hub.project.deliveries)) or 'none'}",
        )
    return found


def _view(hub: Hub, delivery: Delivery) -> DeliveryView:
    from headgate.deliveries.registry import delivery_reads

    config = delivery.config
    last = hub.delivered.get(delivery.name)
    return DeliveryView(
        delivery.name,
        delivery.type,
        getattr(config, "description", None) or getattr(config, "title", None),
        delivery_reads(delivery),
        _outputs(hub.root, delivery, last),
        last,
    )


def _outputs(root: Path, delivery: Delivery, last: dict[str, Any] | None) -> list[Output]:
    """The files the delivery produced, newest first: those this hub recorded, else the
    files on disk matching its output path (``{date}`` and ``{environment}`` as any)."""
    config = delivery.config
    template = getattr(config, "path", None) or getattr(config, "output", None)
    template = template or DEFAULT_OUTPUTS.get(delivery.type, "")
    paths = [Path(p) for p in (last or {}).get("outputs", [])]
    if not paths and template:
        pattern = template.replace("{name}", delivery.name)
        pattern = pattern.replace("{date}", "*").replace("{environment}", "*")
        full = pattern if os.path.isabs(pattern) else str(root / pattern)
        paths = [Path(p) for p in glob.glob(full)]
        if delivery.type == "report":
            paths += [p.with_suffix(".pdf") for p in list(paths) if p.with_suffix(".pdf").exists()]
    found = []
    resolved_root = root.resolve()
    for path in paths:
        full_path = path if path.is_absolute() else root / path
        if not full_path.is_file() or not full_path.resolve().is_relative_to(resolved_root):
            continue
        stat = full_path.stat()
        found.append(
            Output(
                full_path,
                str(full_path.relative_to(root)),
                stat.st_size,
                datetime.fromtimestamp(stat.st_mtime, UTC),
            )
        )
    return sorted(found, key=lambda o: (o.modified, o.relative), reverse=True)


def _chosen(view: DeliveryView, file: str | None) -> Output:
    if file is None:
        viewable = [o for o in view.outputs if o.path.suffix.lower() in (".html", ".htm")]
        return (viewable or view.outputs)[0]
    for output in view.outputs:
        if output.relative == file:
            return output
    raise HeadgateError(
        f"no output {file} of {view.name}",
        hint=f"outputs: {', '.join(o.relative for o in view.outputs)}",
    )
