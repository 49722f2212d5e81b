"""Change review: a git revision against a target environment, built in an environment of
its own, then deployed (gated by its checks, after a confirmation) or rolled back.

The plan is the facade's review of the project at that revision (the hub checks the
revision out in a worktree of its own). Building it creates ``review-<branch>`` from
the target (pointers only) and runs the revision there; deploying promotes exactly
what that environment published, refused by the facade when its checks did not pass
or when the target changed since the plan was shown.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from headgate.errors import HeadgateError
from headgate.server.permissions import Permission, requires
from headgate.server.ui.changes import submit_deploy, submit_env_create
from headgate.server.ui.environments import compare
from headgate.server.ui.forms import form_fields
from headgate.server.ui.templating import PageRoute, hub_of, render
from headgate.server.ui.views import chosen_environment, environment_names

if TYPE_CHECKING:
    from headgate.facade import Project
    from headgate.plan.datadiff import DataDiff
    from headgate.plan.review import Review
    from headgate.server.hub import Hub

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PREFIX = "review-"
DATA_DIFFS = 5  # models whose data is compared on the page, the directly changed first


@router.get(
    "/review",
    response_class=HTMLResponse,
    dependencies=[Depends(requires(Permission.PLANS_READ))],
)
def review_page(
    request: Request, revision: str | None = None, target: str | None = None
) -> HTMLResponse:
    hub = hub_of(request)
    project = hub.project
    target_env = chosen_environment(project, target)
    context: dict[str, Any] = {
        "branches": git_branches(hub.root),
        "revision": revision or "",
        "target": target_env,
        "names": environment_names(project),
        "review": None,
    }
    if revision:
        at_revision = hub.project_at(revision)
        review = at_revision.review(target_env)
        context.update(review=review, build=_build_state(hub, at_revision, review, revision))
    return render(request, "review.html", section="review", title="Change review", **context)


@router.post("/review/build", dependencies=[Depends(requires(Permission.RUNS_START))])
async def build(request: Request) -> Response:
    """Build the revision in its own environment (created from the target, pointers only)."""
    fields = await form_fields(request)
    hub = hub_of(request)
    revision = _revision(fields)
    target = chosen_environment(hub.project, fields.get("target") or None)
    environment = review_environment(revision)
    if environment not in environment_names(hub.project):
        submit_env_create(hub, environment, target)
    job = hub.start_run(environment, revision=revision)
    return RedirectResponse(f"/runs/{job.run_id}", status_code=303)


@router.post("/review/deploy", dependencies=[Depends(requires(Permission.DEPLOY))])
async def deploy(request: Request) -> Response:
    """Asked once: what will be published, to confirm; confirmed: the deploy, gated by checks."""
    fields = await form_fields(request)
    hub = hub_of(request)
    revision = _revision(fields)
    target = chosen_environment(hub.project, fields.get("target") or None)
    source = chosen_environment(hub.project, review_environment(revision))
    expect_state = (fields.get("expect_state") or "").strip() or None
    if fields.get("confirmed") != "yes":
        state = hub.project.state
        rows = [
            r
            for r in compare(state.env_models(source), state.env_models(target))
            if r.change != "same"
        ]
        return render(
            request,
            "confirm_deploy.html",
            section="review",
            title=f"Deploy {source} to {target}",
            source=source,
            target=target,
            revision=revision,
            rows=rows,
            expect_state=expect_state or "",
        )
    job = submit_deploy(hub, source, target, expect_state=expect_state)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def review_environment(revision: str) -> str:
    """``review-<branch>``: the environment a revision is built in, named after it."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", revision).strip("-_") or "head"
    return (PREFIX + cleaned)[:60]


def git_branches(root: Path) -> list[str]:
    """The repository's local branches, newest commit first (none outside git)."""
    try:
        found = subprocess.run(
            [
                "git",
                "for-each-ref",
                "--sort=-committerdate",
                "--format=%(refname:short)",
                "refs/heads",
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line for line in found.stdout.splitlines() if line] if found.returncode == 0 else []


@dataclass
class BuildState:
    environment: str
    exists: bool
    current: bool  # publishes exactly the revision's versions of the changed models
    last_run: Any
    diffs: list[tuple[str, DataDiff | None, str | None]]  # model, diff, why none


def _build_state(hub: Hub, at_revision: Project, review: Review, revision: str) -> BuildState:
    environment = review_environment(revision)
    project = hub.project
    exists = environment in environment_names(project)
    runs = project.runs(limit=1, environment=environment) if exists else []
    pointers = project.state.env_models(environment) if exists else {}
    changed = [i.name for i in review.impacts if i.change != "removed"]
    current = exists and all(
        (p := pointers.get(n)) is not None and p.fingerprint == at_revision.fingerprints.get(n)
        for n in changed
    )
    diffs: list[tuple[str, DataDiff | None, str | None]] = []
    if current:
        targets = project.state.env_models(review.environment)
        ordered = sorted(review.impacts, key=lambda i: i.change != "direct")
        for impact in ordered:
            if impact.kind != "model" or impact.change not in ("direct", "indirect"):
                continue
            if len(diffs) >= DATA_DIFFS:
                break
            if impact.name not in targets:
                diffs.append((impact.name, None, f"not published in {review.environment}"))
                continue
            try:
                diffs.append(
                    (
                        impact.name,
                        at_revision.diff(impact.name, environment, review.environment),
                        None,
                    )
                )
            except HeadgateError as exc:
                diffs.append((impact.name, None, exc.message))
    return BuildState(environment, exists, current, runs[0] if runs else None, diffs)


def _revision(fields: dict[str, str]) -> str:
    revision = (fields.get("revision") or "").strip()
    if not revision:
        raise HeadgateError("no revision given", hint="pick a branch on the change review page")
    return revision
