"""The team dashboard: the four DORA measures and the data's, over time, as SVG charts drawn
on the server (no script, nothing from a CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from headgate.server.permissions import Permission, requires
from headgate.server.ui.templating import PageRoute, hub_of, render
from headgate.server.ui.views import chosen_environment, environment_names

router = APIRouter(route_class=PageRoute, include_in_schema=False)

WIDTH, HEIGHT = 560, 200
COLOURS = ("#3b6ea8", "#c0392b", "#8e9aaf")


@router.get(
    "/dashboard",
    response_class=HTMLResponse,
    dependencies=[Depends(requires(Permission.METRICS_READ))],
)
def dashboard(
    request: Request, env: str | None = None, days: int = Query(default=90, ge=7, le=730)
) -> HTMLResponse:
    project = hub_of(request).project
    environment = chosen_environment(project, env)
    measures = project.team_metrics(environment, days=days)
    weeks = [w.start.strftime("%m-%d") for w in measures.weeks]
    charts = {
        "deployments": bars_svg(
            "Deployments per week (of them, followed by an incident)",
            weeks,
            [
                ("deployments", [w.deployments for w in measures.weeks]),
                ("failed", [w.failed_deployments for w in measures.weeks]),
            ],
        ),
        "checks": bars_svg(
            "Checks run and failed per week",
            weeks,
            [
                ("run", [w.checks_run for w in measures.weeks]),
                ("failed", [w.checks_failed for w in measures.weeks]),
            ],
        ),
        "caught": bars_svg(
            "Errors caught before publish and after, per week",
            weeks,
            [
                ("before publish", [w.caught_before for w in measures.weeks]),
                ("after publish", [w.caught_after for w in measures.weeks]),
            ],
        ),
    }
    return render(
        request,
        "dashboard.html",
        section="dashboard",
        title="Team dashboard",
        environment=environment,
        environments=environment_names(project),
        days=days,
        m=measures,
        charts=charts,
    )


def bars_svg(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]) -> str:
    """Grouped bars, one group per label (a week), one bar per series, with a legend."""
    top, bottom, left, right = 30.0, HEIGHT - 24.0, 36.0, WIDTH - 8.0
    highest = max([1, *(v for _, values in series for v in values)])
    parts = [
        f'<svg class="bars" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" '
        'font-size="11">',
        f'<text x="4" y="14">{escape(title)}</text>',
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{highest}</text>',
        f'<text x="{left - 4}" y="{bottom}" text-anchor="end">0</text>',
    ]
    legend_x = left
    for index, (name, _) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<rect x="{legend_x + 200}" y="5" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 214}" y="14">{escape(name)}</text>'
        )
        legend_x += 14 + 7 * len(name) + 16
    group = (right - left) / max(len(labels), 1)
    bar = max(group * 0.8 / max(len(series), 1), 1.0)
    for i, label in enumerate(labels):
        x0 = left + i * group + group * 0.1
        for j, (name, values) in enumerate(series):
            value = values[i] if i < len(values) else 0
            height = (bottom - top) * value / highest
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{bottom - height:.1f}" width="{bar - 1:.1f}" '
                f'height="{height:.1f}" fill="{COLOURS[j % len(COLOURS)]}">'
                f"<title>{escape(label)}: {value} {escape(name)}</title></rect>"
            )
        if len(labels) <= 16 or i % 2 == 0:
            parts.append(
                f'<text x="{x0 + group * 0.4:.1f}" y="{bottom + 14}" text-anchor="middle" '
                f'font-size="9">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
