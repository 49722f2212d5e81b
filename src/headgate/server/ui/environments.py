"""Environments: what each publishes, its history with rollbacks, and a comparison of two
(models that differ, and the data diff of one of them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from headgate.errors import HeadgateError
from headgate.plan.naming import valid_environment
from headgate.server.permissions import Permission, requires
from headgate.server.ui.changes import (
    submit_env_create,
    submit_env_delete,
    submit_rollback,
)
from headgate.server.ui.forms import form_fields
from headgate.server.ui.health import EnvironmentHealth, environment_health
from headgate.server.ui.templating import (
    PageRoute,
    hub_of,
    model_link,
    number,
    pill,
    render,
    when,
)
from headgate.server.ui.views import chosen_environment, environment_names

router = APIRouter(route_class=PageRoute, include_in_schema=False)
READ = [Depends(requires(Permission.ENVIRONMENTS_READ))]
HISTORY = 30


@router.get("/environments", response_class=HTMLResponse, dependencies=READ)
def environments_page(request: Request) -> HTMLResponse:
    project = hub_of(request).project
    records = {e.name: e for e in project.env_list()}
    names = environment_names(project)
    return render(
        request,
        "environments.html",
        section="environments",
        title="Environments",
        names=names,
        records=records,
        last_runs={n: next(iter(project.runs(limit=1, environment=n)), None) for n in names},
        default_environment=project.outline.default_environment,
    )


@router.post("/environments", dependencies=[Depends(requires(Permission.ENVIRONMENTS_CREATE))])
async def create_environment(request: Request) -> Response:
    fields = await form_fields(request)
    hub = hub_of(request)
    name = (fields.get("name") or "").strip()
    if not valid_environment(name):
        raise HeadgateError(
            f"'{name}' is not a valid environment name",
            hint="start with a letter; use letters, digits, '-' or '_'",
        )
    source = chosen_environment(hub.project, fields.get("source") or None)
    job = submit_env_create(hub, name, source)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/environments/compare", response_class=HTMLResponse, dependencies=READ)
def compare_page(
    request: Request, left: str | None = None, right: str | None = None, model: str | None = None
) -> HTMLResponse:
    project = hub_of(request).project
    names = environment_names(project)
    left_env = chosen_environment(project, left or (names[1] if len(names) > 1 else names[0]))
    right_env = chosen_environment(project, right or project.outline.default_environment)
    rows = compare(project.state.env_models(left_env), project.state.env_models(right_env))
    diff = None
    if model:
        diff = project.diff(model, left_env, right_env)
    return render(
        request,
        "compare.html",
        section="environments",
        title=f"{left_env} compared with {right_env}",
        left=left_env,
        right=right_env,
        names=names,
        rows=rows,
        differing=[r for r in rows if r.change != "same"],
        model=model,
        diff=diff,
    )


@dataclass
class CompareRow:
    name: str
    change: str  # "same" | "different" | "only left" | "only right"
    left: Any
    right: Any


def compare(left: dict[str, Any], right: dict[str, Any]) -> list[CompareRow]:
    rows = []
    for name in sorted(set(left) | set(right)):
        a, b = left.get(name), right.get(name)
        if a is None or b is None:
            change = "only left" if b is None else "only right"
        else:
            change = "same" if a.physical_table == b.physical_table else "different"
        rows.append(CompareRow(name, change, a, b))
    return rows


@router.get("/environments/{name}", response_class=HTMLResponse, dependencies=READ)
def environment_page(request: Request, name: str) -> HTMLResponse:
    project = hub_of(request).project
    environment = chosen_environment(project, name)
    health = environment_health(project, environment, deployments=HISTORY)
    record = next((e for e in project.env_list() if e.name == environment), None)
    return render(
        request,
        "environment.html",
        section="environments",
        title=f"Environment {environment}",
        environment=environment,
        record=record,
        health=health,
        state=project.environment_state(environment),
        published_rows=_published_rows(health, environment),
        deployments=health.deployments,
        names=environment_names(project),
    )


def _published_rows(health: EnvironmentHealth, environment: str) -> Markup:
    """The rows of the table of what ``environment`` publishes, written here: a thousand
    rows through Jinja cost more than everything else on the page."""
    rows = []
    for name, model in health.models.items():
        status = model.status
        if not status.published_fingerprint:
            continue
        problems = ", ".join(
            f"<code>{escape(p.check_name)}</code> ({escape(p.status)})" for p in model.problems
        )
        rows.append(
            "  <tr>\n"
            f"    <td>{model_link(name, environment)}</td>\n"
            f"    <td>{pill(model.data)}</td>\n"
            f'    <td class="small">{escape(status.materialized)}</td>\n'
            f'    <td class="num">{escape(number(status.rows))}</td>\n'
            f'    <td class="mono small">{escape(status.published_fingerprint[:12])}</td>\n'
            f"    <td>{when(status.published_at)}</td>\n"
            f'    <td class="small">{problems}</td>\n'
            "  </tr>\n"
        )
    return Markup("".join(rows).rstrip("\n"))


@router.post("/environments/{name}/rollback", dependencies=[Depends(requires(Permission.ROLLBACK))])
async def rollback(request: Request, name: str) -> Response:
    """Asked once: a page saying what will be published again; confirmed: the rollback."""
    fields = await form_fields(request)
    hub = hub_of(request)
    environment = chosen_environment(hub.project, name)
    to = int(fields["to"]) if (fields.get("to") or "").isdigit() else None
    if fields.get("confirmed") != "yes":
        history = hub.project.deployments(environment, limit=HISTORY)
        target = next((d for d in history if d.id == to), None) if to else None
        if target is None and to is None and len(history) > 1:
            target = history[1]
        if target is None:
            raise HeadgateError(
                f"{environment} has no earlier deployment to roll back to",
                hint="a rollback publishes again what an earlier run or deploy published",
            )
        current = history[0] if history else None
        changed = _pointer_changes(current.pointers if current else {}, target.pointers)
        return render(
            request,
            "confirm_rollback.html",
            section="environments",
            title=f"Roll back {environment}",
            environment=environment,
            target=target,
            current=current,
            changed=changed,
        )
    job = submit_rollback(hub, environment, to=to)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post(
    "/environments/{name}/delete",
    dependencies=[Depends(requires(Permission.ENVIRONMENTS_DELETE))],
)
async def delete_environment(request: Request, name: str) -> Response:
    fields = await form_fields(request)
    hub = hub_of(request)
    environment = chosen_environment(hub.project, name)
    if environment == hub.project.outline.default_environment:
        raise HeadgateError(
            f"{environment} is the project's default environment: it is not deleted from here",
            hint="delete it with the command line if you really mean it",
        )
    if fields.get("confirmed") != "yes":
        return render(
            request,
            "confirm_delete.html",
            section="environments",
            title=f"Delete {environment}",
            environment=environment,
        )
    job = submit_env_delete(hub, environment)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _pointer_changes(
    now: dict[str, list[str]], then: dict[str, list[str]]
) -> list[tuple[str, str | None, str | None]]:
    """Models whose table differs between two pointer sets: (model, table now, table then)."""
    rows = []
    for name in sorted(set(now) | set(then)):
        a, b = now.get(name), then.get(name)
        if (a[1] if a else None) != (b[1] if b else None):
            rows.append((name, a[1] if a else None, b[1] if b else None))
    return rows
