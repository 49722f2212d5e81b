"""Who may do what on the hub, enforced in one place: every route's ``Requires``.

Each route names the one permission it needs with ``Depends(requires(...))``; the
OpenAPI document carries it as ``x-permission``. For each request the dependency

1. finds the principal: ``Authorization: Bearer <token>`` or the session cookie, else
   401 (a page: the sign-in page);
2. for a request made with the cookie that changes something (POST, PUT, PATCH, DELETE),
   checks the ``Origin`` and the session's CSRF token (form field ``csrf`` or header
   ``X-CSRF-Token``, compared in constant time), else 403;
3. finds the environments the request names (path, query, JSON body or form: see
   :func:`named_environments`) and checks the permission in the one it acts on and
   ``environments:read`` in those it reads from, else 403;
4. sets the principal as the acting one, so the writer lane queues and records the work
   for them, and checks their rights again for the exact environment it writes
   (protected environments take no run, whatever the role).

Which role holds which permission is data: ``headgate.security.roles``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from headgate.security.principal import ACTING, Principal, Refused
from headgate.security.roles import EVERY, Permission
from headgate.security.sessions import csrf_matches
from headgate.server.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    Credentials,
    SignInRequired,
    guard_of,
)

__all__ = ["Permission", "Requires", "requires"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Names under which a request names the environment it acts on, and those it reads from.
ACTED_KEYS = ("environment", "env", "to")
BASE_KEYS = ("target",)  # a review's target: the base of what is built, not what is written
READ_KEYS = ("from", "source", "left", "right", "against", "other")
# Asked without an environment: held anywhere is enough (the permission is not about one).
ANYWHERE = frozenset(
    {
        Permission.PROJECT_READ,
        Permission.TOKENS_MANAGE,
        Permission.AGENTS_READ,
        Permission.AGENTS_WORK,
        Permission.EVENTS_READ,
        Permission.EVENTS_WRITE,
        Permission.METRICS_READ,
        Permission.AUDIT_READ,
    }
)
# Asked without an environment: only a grant on every environment ('*') is enough.
EVERYWHERE = frozenset({Permission.USERS_MANAGE})
MAX_INSPECTED_BODY = 1024 * 1024


class Requires:
    """A route's dependency naming the permission it needs, and enforcing it."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> Permission:
        request.state.permission = self.permission
        guard = guard_of(request)
        found = await run_in_threadpool(guard.credentials, request)
        if found is None:
            if self.permission is Permission.PUBLIC:
                _same_origin(request)
                return self.permission
            raise SignInRequired("no token and no session")
        request.state.principal = found.principal
        if request.method not in SAFE_METHODS and found.by_cookie:
            if self.permission is Permission.PUBLIC:
                _same_origin(request)  # signing in or out checks its own token
            else:
                await _cookie_write_allowed(request, found)
        if self.permission is not Permission.PUBLIC:
            named = await named_environments(request, self.permission)
            if self._defaulted(named):  # the project's outline may be worked out first
                await run_in_threadpool(self._check, request, found.principal, named)
            else:
                self._check(request, found.principal, named)  # no I/O: no worker thread
        ACTING.set(found.principal)  # the endpoint (and the work it queues) acts for them
        return self.permission

    def _defaulted(self, named: Named) -> bool:
        """Whether the check is made in the project's default environment."""
        if self.permission in EVERYWHERE or named.acted or named.based:
            return False
        return self.permission not in ANYWHERE

    def _check(self, request: Request, principal: Principal, named: Named) -> None:
        asked = [(self.permission, e, True) for e in named.acted]
        asked += [(self.permission, e, False) for e in named.based]
        asked += [(Permission.ENVIRONMENTS_READ, e, True) for e in named.read]
        if self.permission in EVERYWHERE:  # whatever the request names: a grant on '*'
            asked.append((self.permission, EVERY, True))
        elif not named.acted and not named.based:
            if self.permission in ANYWHERE:
                if principal.allows_somewhere(self.permission):
                    return
                raise _refused(principal, self.permission, None)
            asked.append((self.permission, _default_environment(request), True))
        for permission, environment, protecting in asked:
            if not principal.allows(permission, environment, protecting=protecting):
                raise _refused(principal, permission, environment)

    def __repr__(self) -> str:
        return f"requires({self.permission.value!r})"


def requires(permission: Permission | str) -> Requires:
    """``dependencies=[Depends(requires("runs:start"))]`` on a route."""
    return Requires(Permission(permission))


def _refused(principal: Principal, permission: Permission, environment: str | None) -> Refused:
    """403, saying what was refused and what would allow it."""
    return Refused(principal, permission, environment)


def _default_environment(request: Request) -> str:
    name: str = request.app.state.hub.project.outline.default_environment
    return name


@dataclass
class Named:
    """The environments a request names: those it acts on, the base of what it builds
    (a review's target: its protection is checked where the build is queued), and those
    it reads from."""

    acted: list[str]
    based: list[str]
    read: list[str]


async def named_environments(request: Request, permission: Permission) -> Named:
    """The environments a request names, as it names them: path parameters (``env``;
    ``name`` and ``other`` under ``/environments/``; the environment of a run, a job, a
    schedule the path names), query parameters, and a JSON or form body's fields."""
    acted: list[str] = []
    based: list[str] = []
    read: list[str] = []
    route = request.scope.get("route")
    template = getattr(route, "path", "") or ""
    params = request.path_params
    under_environments = "/environments/{name}" in template
    for key, value in params.items():
        if key in ("env", "environment") or (key == "name" and under_environments):
            acted.append(str(value))
        elif key == "other" and under_environments:
            read.append(str(value))
    if "run_id" in params or "job_id" in params:  # read from the store: a worker thread
        acted += await run_in_threadpool(_owned_environments, request, params)
    if "/schedules/{name}" in template:
        acted += _schedule_environment(request, str(params.get("name", "")))
    fields: dict[str, Any] = dict(request.query_params)
    fields.update(await _body_fields(request))
    for key in ACTED_KEYS:
        if isinstance(fields.get(key), str) and fields[key]:
            acted.append(fields[key])
    for key in BASE_KEYS:
        if isinstance(fields.get(key), str) and fields[key]:
            based.append(fields[key])
    for key in READ_KEYS:
        if isinstance(fields.get(key), str) and fields[key]:
            read.append(fields[key])
    creating = permission is Permission.ENVIRONMENTS_CREATE and not under_environments
    if creating and isinstance(fields.get("name"), str) and fields["name"]:
        acted.append(fields["name"])
    return Named(_unique(acted), _unique(based), _unique(read))


def _owned_environments(request: Request, params: dict[str, Any]) -> list[str]:
    """The environment of the run or job a path names (a missing one names none)."""
    hub = request.app.state.hub
    found: list[str] = []
    if "run_id" in params:
        try:
            run = hub.store.get_run(int(params["run_id"]))
        except (TypeError, ValueError):
            run = None
        if run is not None:
            found.append(run.environment)
    if "job_id" in params:
        try:
            job = hub.job(int(params["job_id"]))
        except (TypeError, ValueError):
            job = None
        if job is not None and job.environment:
            found.append(job.environment)
    return found


def _schedule_environment(request: Request, name: str) -> list[str]:
    """The environment a schedule or file trigger runs in (a missing one names none)."""
    config = request.app.state.hub.project.loaded.config
    for declared in [*config.schedules, *getattr(config, "triggers", [])]:
        if declared.name == name:
            return [str(declared.environment)]
    return []


async def _body_fields(request: Request) -> dict[str, Any]:
    if request.method in SAFE_METHODS:
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/json", "application/x-www-form-urlencoded"):
        return {}
    body = await request.body()  # kept by the request: the endpoint reads it again
    if not body or len(body) > MAX_INSPECTED_BODY:
        return {}
    try:
        if kind == "application/json":
            data = json.loads(body)
            return data if isinstance(data, dict) else {}
        text = body.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return {}  # the endpoint answers what is wrong with it
    return {key: values[-1] for key, values in parse_qs(text, keep_blank_values=True).items()}


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _same_origin(request: Request) -> None:
    """A browser's cross-site write is refused: its Origin (or Referer) must be this hub."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return  # not a browser's request, or one that says nothing: the CSRF token decides
    given = urlsplit(origin)
    own = urlsplit(str(request.base_url))
    if (given.scheme, given.netloc) != (own.scheme, own.netloc):
        raise HTTPException(403, "a request from another site is refused (Origin check)")


async def _cookie_write_allowed(request: Request, found: Credentials) -> None:
    """A change asked with the session cookie: same origin, and the session's CSRF token."""
    _same_origin(request)
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        given = (await _body_fields(request)).get(CSRF_FIELD)
    if not csrf_matches(found.principal.session_csrf, given if isinstance(given, str) else None):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page")


def permission_of(route: APIRoute) -> Permission | None:
    """The permission a route declares, found among its dependencies."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, Requires):
            return dependant.call.permission
        stack.extend(dependant.dependencies)
    return None


def route_permissions(
    routers: list[Any], prefix: str = ""
) -> dict[tuple[str, str], Permission | None]:
    """(method, path) -> the permission each route of ``routers`` declares (None: it
    declares none); paths as served, under ``prefix``."""
    found: dict[tuple[str, str], Permission | None] = {}
    for router in routers:
        for route in getattr(router, "routes", [router]):
            if isinstance(route, APIRoute):
                for method in sorted(route.methods or ()):
                    found[(method, prefix + route.path)] = permission_of(route)
    return found


def app_routes(app: Any) -> list[tuple[str, str, Permission | None]]:
    """Every (method, path, permission) the application serves, from its router (the
    API and the UI's pages; the framework's own OpenAPI route and static files aside)."""
    from fastapi.routing import iter_route_contexts

    found: list[tuple[str, str, Permission | None]] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            for method in sorted(context.methods or ()):
                found.append((method, str(context.path), permission_of(route)))
    return found


def document_permissions(openapi: dict[str, Any], routers: list[Any], prefix: str = "") -> None:
    """Write each operation's permission into the OpenAPI document as ``x-permission``
    (found by the operation's id, so a path with a converter such as ``{key:path}`` or a
    router mounted beside the API's prefix is matched too)."""
    from fastapi.routing import iter_route_contexts

    by_id: dict[str, Permission] = {}
    for router in routers:
        for context in iter_route_contexts(list(getattr(router, "routes", [router]))):
            route = context.original_route
            if isinstance(route, APIRoute) and (permission := permission_of(route)):
                by_id[route.unique_id] = permission
    for (method, path), permission in route_permissions(routers, prefix).items():
        if permission is not None:
            plain = re.sub(r":[a-z]+}", "}", path)
            operation = openapi.get("paths", {}).get(plain, {}).get(method.lower())
            if operation is not None:
                operation["x-permission"] = permission.value
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            found = by_id.get(operation.get("operationId", ""))
            if found is not None and isinstance(operation, dict):
                operation.setdefault("x-permission", found.value)
