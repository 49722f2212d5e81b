"""The permissions the hub's routes need, declared on every route.

Each route names the one permission it needs with ``Depends(requires(...))``. Today the
hub records the declaration (``route_permissions`` lists them, and the OpenAPI document
carries it as ``x-permission``) and lets every request through; users, roles and tokens
grant and enforce them on top of the same declarations.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute


class Permission(StrEnum):
    """What a request may do; a role is a set of these, granted per environment."""

    PROJECT_READ = "project:read"  # models, lineage, the project's files as the hub reads them
    RUNS_READ = "runs:read"
    RUNS_START = "runs:start"
    RUNS_CANCEL = "runs:cancel"
    CHECKS_READ = "checks:read"  # check results, failing samples, monitors, profiles
    PROFILES_RUN = "profiles:run"  # take a profile now (one scan of a published table)
    ENVIRONMENTS_READ = "environments:read"
    ENVIRONMENTS_CREATE = "environments:create"
    ENVIRONMENTS_DELETE = "environments:delete"
    PLANS_READ = "plans:read"
    DEPLOYMENTS_READ = "deployments:read"
    DEPLOY = "deployments:deploy"
    ROLLBACK = "deployments:rollback"
    DELIVERIES_READ = "deliveries:read"
    DELIVERIES_RUN = "deliveries:run"
    DATA_QUERY = "data:query"  # read-only queries of what an environment publishes
    SCHEDULES_READ = "schedules:read"
    SCHEDULES_MANAGE = "schedules:manage"  # pause, resume
    AGENTS_READ = "agents:read"  # agents, their health, the task queue
    AGENTS_WORK = "agents:work"  # an agent registers, takes tasks, reports on them
    EVENTS_READ = "events:read"  # journeys, components, events, alerts, OpenLineage
    EVENTS_WRITE = "events:write"  # external tools post events and OpenLineage
    ALERTS_MANAGE = "alerts:manage"  # rules and their actions
    METRICS_READ = "metrics:read"  # /metrics and the team dashboard
    SECRETS_READ = "secrets:read"  # secrets' names and who changed them, never values
    SECRETS_MANAGE = "secrets:manage"
    USERS_MANAGE = "users:manage"  # users, role grants, other people's tokens
    TOKENS_MANAGE = "tokens:manage"  # one's own API tokens
    AUDIT_READ = "audit:read"


class Requires:
    """A route's dependency naming the permission it needs (recorded, not yet enforced)."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, request: Request) -> Permission:
        request.state.permission = self.permission
        return self.permission

    def __repr__(self) -> str:
        return f"requires({self.permission.value!r})"


def requires(permission: Permission | str) -> Requires:
    """``dependencies=[Depends(requires("runs:start"))]`` on a route."""
    return Requires(Permission(permission))


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


def document_permissions(openapi: dict[str, Any], routers: list[Any], prefix: str = "") -> None:
    """Write each operation's permission into the OpenAPI document as ``x-permission``."""
    for (method, path), permission in route_permissions(routers, prefix).items():
        operation = openapi.get("paths", {}).get(path, {}).get(method.lower())
        if operation is not None and permission is not None:
            operation["x-permission"] = permission.value
