"""Journeys in the web UI: each journey as a graph of its components with their latest
state, its instances and the runs expected next; alerts, and the page an alert's link
opens to explain it."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from headgate.errors import HeadgateError
from headgate.server.api.journeys import journey_body
from headgate.server.permissions import Permission, requires
from headgate.server.ui.layout import NODE_HEIGHT, NODE_WIDTH, layered_layout
from headgate.server.ui.templating import PageRoute, hub_of, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
READ = [Depends(requires(Permission.EVENTS_READ))]

# a component's latest status -> (CSS status class, mark, words)
STATES: dict[str, tuple[str, str, str]] = {
    "COMPLETED": ("ok", "✓", "completed"),
    "COMPLETED_WITH_WARNINGS": ("warn", "!", "completed with warnings"),
    "FAILED": ("failed", "✕", "failed"),
    "RUNNING": ("running", "▶", "running"),
    "WRITE": ("ok", "✓", "written"),
    "READ": ("ok", "✓", "read"),
}
ALERTED = ("stale", "⏰", "alert open")
UNKNOWN = ("missing", "○", "no event yet")
LABEL_CHARS = 27


def component_state(node: Mapping[str, Any]) -> tuple[str, str, str]:
    """What a node shows: an open alert first, else its latest status."""
    alert = node.get("open_alert")
    if alert is not None and node.get("status") not in ("FAILED",):
        return (ALERTED[0], ALERTED[1], f"{alert['kind'].replace('_', ' ')}: {alert['message']}")
    return STATES.get(str(node.get("status")), UNKNOWN)


def journey_svg(body: Mapping[str, Any]) -> str:
    """The journey's components left to right, each coloured by its state."""
    nodes = {n["key"]: n for n in body["components"]}
    upstream: dict[str, list[str]] = {key: [] for key in nodes}
    for edge in body["edges"]:
        upstream.setdefault(edge["to"], []).append(edge["from"])
        upstream.setdefault(edge["from"], [])
    layout = layered_layout(upstream)
    half = NODE_HEIGHT / 2
    parts = [
        f'<svg class="dag journey" viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" '
        f'width="{layout.width:.0f}" height="{layout.height:.0f}" role="img" '
        f'aria-label="journey {escape(body["name"])}: {len(nodes)} components" '
        'font-family="system-ui, sans-serif" font-size="12"><g class="edges">'
    ]
    for up, down in layout.edges:
        a, b = layout.nodes[up], layout.nodes[down]
        x1, y1, x2, y2 = a.x + NODE_WIDTH, a.y + half, b.x, b.y + half
        bend = max((x2 - x1) / 2, 20)
        parts.append(
            f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} '
            f'{x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"/>'
        )
    parts.append('</g><g class="nodes">')
    for key, placed in layout.nodes.items():
        node = nodes.get(key, {"key": key, "kind": "batch_pipeline"})
        status, mark, words = component_state(node)
        kind = str(node.get("kind") or "batch_pipeline")
        label = key if len(key) <= LABEL_CHARS else key[: LABEL_CHARS - 1] + "…"
        tool = f" · {node['tool']}" if node.get("tool") else ""
        parts.append(
            f'<a href="#component-{quote(key)}" class="node s-{status} k-{escape(kind)}" '
            f'data-name="{escape(key)}" data-state="{status}">'
            f"<title>{escape(key)} ({escape(kind)}{escape(tool)}): {escape(words)}</title>"
            f'<rect x="{placed.x:.1f}" y="{placed.y:.1f}" width="{NODE_WIDTH}" '
            f'height="{NODE_HEIGHT}" rx="6"/>'
            f'<text class="mark" x="{placed.x + 10:.1f}" y="{placed.y + half + 4:.1f}">{mark}</text>'
            f'<text x="{placed.x + 26:.1f}" y="{placed.y + half + 4:.1f}">{escape(label)}</text></a>'
        )
    parts.append("</g></svg>")
    return "".join(parts)


@router.get("/journeys", response_class=HTMLResponse, dependencies=READ)
def journeys_page(request: Request) -> HTMLResponse:
    """Every journey with its latest pass, the open alerts, the runs expected next."""
    hub = hub_of(request)
    project = hub.project
    rows = []
    for journey in project.journeys():
        latest = project.journey_instances(journey.name, limit=1)
        rows.append({"journey": journey, "latest": latest[0] if latest else None})
    now = hub.observer.clock() if hasattr(hub, "observer") else None
    return render(
        request,
        "journeys.html",
        section="journeys",
        title="Journeys",
        rows=rows,
        alerts=project.alerts(status="open", limit=200),
        upcoming=project.upcoming_instances(now=now)[:20],
    )


@router.get("/journeys/{name}", response_class=HTMLResponse, dependencies=READ)
def journey_page(request: Request, name: str) -> HTMLResponse:
    """One journey as a graph, its components' states, its instances, what comes next."""
    hub = hub_of(request)
    body = journey_body(hub, name)
    states = {n["key"]: component_state(n) for n in body["components"]}
    return render(
        request,
        "journey.html",
        section="journeys",
        title=f"Journey {name}",
        wide=True,
        journey=body,
        svg=journey_svg(body),
        states=states,
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse, dependencies=READ)
def alert_page(request: Request, alert_id: int) -> HTMLResponse:
    """What an alert is about: its component, what happened, what it caused, who was told."""
    project = hub_of(request).project
    alert = project.alert(alert_id)
    if alert is None:
        raise HeadgateError(f"no alert {alert_id}", hint="the journeys page lists open alerts")
    root = project.alert(alert.root_id) if alert.root_id else None
    return render(
        request,
        "alert.html",
        section="journeys",
        title=f"Alert {alert_id}",
        alert=alert,
        root=root,
        component=project.component(alert.component),
        grouped=project.alerts_grouped_under(alert_id),
        notices=project.alert_notices(alert_id=alert_id),
        events=project.observed_events(component=alert.component, limit=20),
        runs=project.component_runs(alert.component, limit=10),
    )
