"""Every route of the hub (read from its router: API and pages) x every role x a protected
and an unprotected environment: allowed, 403 or 401 as the role table says, and not one
unauthorized success. A route that declares no permission fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from headgate.security.roles import ROLES, WRITES, Permission, allowed
from headgate.server.permissions import app_routes
from tests.server.hubs import Served, make_project, serving

pytestmark = pytest.mark.fast

ENVIRONMENTS = ("prod", "dev")  # prod is protected (the default), dev is not
NOBODY = "nobody"  # signed in, no role anywhere
SAMPLE = {"model": "staging.orders", "metric": "row_count", "other": "prod"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    from headgate.facade import Project

    root = make_project(tmp_path_factory.mktemp("routes") / "shop")
    tokens: dict[str, str] = {}
    with Project.load(root) as project:
        for role in (*ROLES, NOBODY):
            project.add_user(f"user-{role}", None, roles=[] if role == NOBODY else [(role, "*")])
            scope = ["viewer"] if role == NOBODY else [role]
            tokens[role] = project.create_token(role, scope, owner=f"user-{role}")
    with serving(root, ui=True) as served:
        yield served, tokens


def fill(path: str, environment: str, ids: dict[str, dict[str, int]]) -> str:
    """The path with its parameters filled for ``environment``."""
    under_environments = "/environments/{name}" in path

    def value(found: re.Match[str]) -> str:
        name, _, converter = found.group(1).partition(":")
        if converter == "int":
            return "1"
        if converter == "uuid":
            return "00000000-0000-4000-8000-000000000000"
        if name in ("env", "environment") or (name == "name" and under_environments):
            return environment
        if name in ("run_id", "job_id"):
            return str(ids[name][environment])
        return SAMPLE.get(name, "staging.orders" if name == "name" else "x")

    return re.sub(r"\{([^}]+)\}", value, path)


def prepare(served: Served) -> dict[str, dict[str, int]]:
    """dev created from prod, a run in each environment, a job in each: the ids to use."""
    api = httpx.Client(base_url=f"{served.url}/api/v1", headers=served.headers, timeout=120)
    assert api.post("/environments", json={"name": "dev", "from": "prod"}).status_code == 201
    run = api.post("/runs", json={"environment": "dev"}).json()
    with api.stream("GET", f"/runs/{run['run_id']}/events") as events:
        for _ in events.iter_lines():
            pass
    assert api.post("/deployments", json={"from": "dev", "to": "prod"}).status_code == 201
    api.close()
    jobs = {job.environment: job.id for job in reversed(served.hub.jobs())}
    return {"run_id": {"prod": 1, "dev": run["run_id"]}, "job_id": jobs}


def expected(role: str | None, permission: Permission, environment: str) -> str:
    if permission is Permission.PUBLIC:
        return "allowed"
    if role is None:
        return "401"
    grants = [] if role == NOBODY else [(role, "*")]
    return "allowed" if allowed(grants, permission, environment, protected=["prod"]) else "403"


def outcome(answer: httpx.Response) -> str:
    if answer.status_code == 401:
        return "401"
    if answer.status_code == 303 and answer.headers.get("location", "").startswith("/signin"):
        return "401"  # a page asks a browser to sign in
    if answer.status_code == 403:
        return "403"
    return "allowed"


def test_every_route_declares_a_permission_and_every_role_gets_what_the_table_says(
    hub: tuple[Served, dict[str, str]],
) -> None:
    served, tokens = hub
    routes = app_routes(served.app)
    undeclared = [(m, p) for m, p, permission in routes if permission is None]
    assert undeclared == [], "every route declares its permission with requires(...)"
    assert len(routes) > 50 and any(not p.startswith("/api/") for _, p, _ in routes)
    ids = prepare(served)
    wrong: list[str] = []
    checked = 0
    callers: list[str | None] = [None, *tokens]
    with httpx.Client(base_url=served.url, timeout=120) as client:
        for method, template, permission in routes:
            assert permission is not None
            for environment in ENVIRONMENTS:
                path = fill(template, environment, ids)
                for caller in callers:
                    headers = {"Authorization": f"Bearer {tokens[caller]}"} if caller else {}
                    answer = call(client, method, path, environment, headers)
                    got, wanted = outcome(answer), expected(caller, permission, environment)
                    checked += 1
                    if got != wanted and not _refused_later(got, wanted, permission, environment):
                        wrong.append(
                            f"{method} {path} as {caller or 'anonymous'}: {got}, expected "
                            f"{wanted} ({permission.value}) {_text(answer)!r}"
                        )
    assert checked > 1000
    print("\n".join(wrong))
    assert wrong == []


def _refused_later(got: str, wanted: str, permission: Permission, environment: str) -> bool:
    """An allowed gate whose work is then refused where it is queued (never the reverse),
    or a public route answering for itself (a wrong password: 401; signed out: /signin)."""
    if permission is Permission.PUBLIC:
        return got != "403"
    return wanted == "allowed" and got == "403" and permission in WRITES and environment == "prod"


def call(
    client: httpx.Client, method: str, path: str, environment: str, headers: dict[str, str]
) -> httpx.Response:
    """One request naming ``environment`` (query, and JSON or form body for a change);
    streams are closed once their status is known."""
    params = {"env": environment}
    if method in ("GET", "HEAD", "OPTIONS"):
        request = client.build_request(method, path, params=params, headers=headers)
    elif path.startswith("/api/"):
        body = {"environment": environment}
        request = client.build_request(method, path, params=params, json=body, headers=headers)
    else:
        form = {"form": "1", "environment": environment}
        request = client.build_request(method, path, params=params, data=form, headers=headers)
    answer = client.send(request, stream=True)
    if not answer.headers.get("content-type", "").startswith("text/event-stream"):
        answer.read()
    answer.close()
    return answer


def test_a_route_without_a_permission_is_found(tmp_path: Path) -> None:
    from fastapi import APIRouter, FastAPI

    app = FastAPI()
    router = APIRouter()

    @router.get("/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    app.include_router(router, prefix="/api/v1")
    assert ("GET", "/api/v1/forgotten", None) in app_routes(app)


def _text(answer: httpx.Response) -> str:
    try:
        return answer.text[:160]
    except httpx.ResponseNotRead:
        return "(a stream)"
