"""The web UI's pages: overview, lineage and models here; runs, environments, change
review and deliveries in their own modules, gathered into this one router.

Every page is rendered on the server from what the hub's :class:`headgate.Project`
and metadata store say now; every route declares the permission it needs, like the
REST API's, and changes are POSTed forms carried out by the hub's writer lane.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from headgate.errors import HeadgateError
from headgate.server.permissions import Permission, requires
from headgate.server.stepinfo import lineage_statuses
from headgate.server.ui import agents as agents_pages
from headgate.server.ui import changes, deliveries, environments, review, runs, schedules
from headgate.server.ui import dashboard as dashboard_page
from headgate.server.ui import journeys as journey_pages
from headgate.server.ui import steps as step_pages
from headgate.server.ui.drawing import STATUS_MARKS, lineage_svg
from headgate.server.ui.health import environment_health
from headgate.server.ui.modelpage import model_page_context
from headgate.server.ui.templating import PageRoute, hub_of, render
from headgate.server.ui.views import cached_layout, chosen_environment, environment_names

router = APIRouter(route_class=PageRoute, include_in_schema=False)
READ = [Depends(requires(Permission.PROJECT_READ))]


@router.get("/", response_class=HTMLResponse, dependencies=READ)
def overview(request: Request) -> HTMLResponse:
    """Each environment's health at a glance."""
    hub = hub_of(request)
    project = hub.project
    names = environment_names(project)
    healths = [environment_health(project, name, deployments=3) for name in names]
    queued = [j for j in hub.jobs() if j.status == "queued"]
    return render(
        request,
        "overview.html",
        section="overview",
        title="Overview",
        healths=healths,
        recent_runs=project.runs(limit=8),
        queued=queued,
        writing=hub.current,
        default_environment=project.outline.default_environment,
        models=len(project.loaded.models),
        sources=len(project.loaded.sources),
    )


@router.get("/lineage", response_class=HTMLResponse, dependencies=READ)
def lineage(request: Request, env: str | None = None) -> HTMLResponse:
    """The whole DAG, laid out on the server, coloured by each model's data status."""
    project = hub_of(request).project
    environment = chosen_environment(project, env)
    health = environment_health(project, environment, deployments=0)
    statuses = {name: m.data for name, m in health.models.items()}
    layout = cached_layout(project)
    kinds = {name: kind for name, (kind, _) in project.outline.kinds.items()}
    counts = {status: health.count(status) for status in STATUS_MARKS}
    steps = {name: step.config.kind for name, step in project.loaded.steps.items()}
    if steps:  # each step coloured by its last run here
        statuses.update(lineage_statuses(project, environment))
    svg = lineage_svg(layout, statuses, kinds=kinds, suffix=f"?env={environment}", steps=steps)
    return render(
        request,
        "lineage.html",
        section="lineage",
        title="Lineage",
        wide=True,
        environment=environment,
        environments=environment_names(project),
        svg=svg,
        counts=counts,
        total=len(layout.nodes) - len(steps),
        steps=len(steps),
    )


@router.get("/models/{name}", response_class=HTMLResponse, dependencies=READ)
def model(request: Request, name: str, env: str | None = None) -> HTMLResponse:
    """Everything about one model: what it is, its data, its checks, its history."""
    hub = hub_of(request)
    project = hub.project
    environment = chosen_environment(project, env)
    lowered = name.strip().lower()
    if lowered not in project.outline.kinds:
        import difflib

        close = difflib.get_close_matches(lowered, list(project.outline.kinds), n=3)
        raise HeadgateError(
            f"no model or source named '{name}'",
            hint=f"did you mean {', '.join(close)}?" if close else "see the lineage page",
        )
    context = model_page_context(project, lowered, environment)
    return render(
        request,
        "model.html",
        section="lineage",
        title=lowered,
        environment=environment,
        environments=environment_names(project),
        **context,
    )


router.include_router(runs.router)
router.include_router(environments.router)
router.include_router(review.router)
router.include_router(deliveries.router)
router.include_router(changes.router)
router.include_router(schedules.router)
router.include_router(journey_pages.router)
router.include_router(agents_pages.router)
router.include_router(dashboard_page.router)
router.include_router(step_pages.router)
