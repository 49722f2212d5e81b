"""Plans: the impact review of the project (or a git revision of it) against an environment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from headgate.server.api.common import EnvQuery, etagged
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["plans"])


@router.get(
    "/plans",
    summary="The impact review: models and columns changed, breaking or not, SQL and schema "
    "diffs, what will be built, which checks run",
    description="`revision` (a branch, tag or commit) is checked out in a worktree the hub "
    "owns; without it the hub's checkout is reviewed. JSON by default (what `headgate plan "
    "--json` prints); `format=markdown` or `Accept: text/markdown` gives the pull-request "
    "comment.",
    responses={200: {"content": {"application/json": {}, "text/markdown": {}}}},
    dependencies=[Depends(requires(Permission.PLANS_READ))],
)
def plan(
    request: Request,
    hub: Hub = Depends(get_hub),
    env: EnvQuery = None,
    revision: Annotated[str | None, Query(max_length=200, pattern=r"^[^\s~^:?*\[\\]+$")] = None,
    select: Annotated[str | None, Query(max_length=2000)] = None,
    format: Annotated[str | None, Query(pattern="^(json|markdown)$")] = None,
) -> Response:
    project = hub.project_at(revision)
    environment = project._environment(env)
    commit = hub.commit_of(revision) if revision else None  # a branch may move: by commit
    review = hub.cached(
        ("plan", environment, commit, select),
        lambda: project.review(environment, selection=select),
    )
    markdown = format == "markdown" or (
        format is None and "text/markdown" in request.headers.get("accept", "")
    )
    if markdown:
        return Response(review.to_markdown(), media_type="text/markdown; charset=utf-8")
    return etagged(request, review.to_json())
