"""Permissions and roles: the one table saying which role may do what.

A role is granted to a user per environment: an environment's name, a pattern such as
``dev-*``, or ``*`` for every one. A permission asked for without an environment in
mind (managing users) is asked for ``*``, which only a grant on ``*`` covers.

Protected environments (``prod`` unless ``security.protected`` in headgate.yml says
otherwise) take no write but a deploy or a rollback (and the scheduler's runs, which
act for no one): :data:`WRITES` are refused there whatever the role.
"""

from __future__ import annotations

from enum import StrEnum
from fnmatch import fnmatchcase


class Permission(StrEnum):
    """What a request may do; a role is a set of these, granted per environment."""

    PUBLIC = "public"  # anyone, signed in or not: the sign-in page, the API's docs
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


VIEWER = "viewer"
DEVELOPER = "developer"
DEPLOYER = "deployer"
ADMIN = "admin"
AGENT = "agent"  # a machine: an agent pulling tasks from the hub
EVENTS_WRITER = "events-writer"  # a machine: a tool posting events and OpenLineage

ROLES = (VIEWER, DEVELOPER, DEPLOYER, ADMIN, AGENT, EVENTS_WRITER)
PEOPLE = frozenset({VIEWER, DEVELOPER, DEPLOYER, ADMIN})
READERS = PEOPLE
EVERY = "*"

P = Permission
# Each permission and the roles that hold it. Every Permission has its row (a test says
# so), so a route declaring a new permission is covered by the table the day it appears.
PERMISSION_ROLES: dict[Permission, frozenset[str]] = {
    P.PUBLIC: frozenset(ROLES),
    P.PROJECT_READ: READERS,
    P.RUNS_READ: READERS,
    P.CHECKS_READ: READERS,
    P.ENVIRONMENTS_READ: READERS,
    P.PLANS_READ: READERS,
    P.DEPLOYMENTS_READ: READERS,
    P.DELIVERIES_READ: READERS,
    P.DATA_QUERY: READERS,
    P.SCHEDULES_READ: READERS,
    P.AGENTS_READ: READERS,
    P.EVENTS_READ: READERS,
    P.METRICS_READ: READERS,
    P.SECRETS_READ: READERS,  # names and who changed them: a value is shown to no one
    P.TOKENS_MANAGE: READERS,  # one's own tokens, never beyond one's own rights
    P.RUNS_START: frozenset({DEVELOPER, ADMIN}),
    P.PROFILES_RUN: frozenset({DEVELOPER, DEPLOYER, ADMIN}),
    P.ENVIRONMENTS_CREATE: frozenset({DEVELOPER, ADMIN}),
    P.ENVIRONMENTS_DELETE: frozenset({DEVELOPER, ADMIN}),
    P.DELIVERIES_RUN: frozenset({DEVELOPER, DEPLOYER, ADMIN}),
    P.RUNS_CANCEL: frozenset({DEVELOPER, DEPLOYER, ADMIN}),
    P.DEPLOY: frozenset({DEPLOYER, ADMIN}),
    P.ROLLBACK: frozenset({DEPLOYER, ADMIN}),
    P.SCHEDULES_MANAGE: frozenset({DEPLOYER, ADMIN}),
    P.ALERTS_MANAGE: frozenset({DEPLOYER, ADMIN}),
    P.AUDIT_READ: frozenset({DEPLOYER, ADMIN}),
    P.AGENTS_WORK: frozenset({AGENT, ADMIN}),
    P.EVENTS_WRITE: frozenset({EVENTS_WRITER, ADMIN}),
    P.SECRETS_MANAGE: frozenset({ADMIN}),
    P.USERS_MANAGE: frozenset({ADMIN}),
}

# What changes an environment's data or existence: never in a protected environment.
WRITES = frozenset({P.RUNS_START, P.ENVIRONMENTS_CREATE, P.ENVIRONMENTS_DELETE})


def roles_for(permission: Permission) -> frozenset[str]:
    """The roles holding ``permission``.

    >>> sorted(roles_for(Permission.DEPLOY))
    ['admin', 'deployer']
    """
    return PERMISSION_ROLES[permission]


def covers(pattern: str, environment: str) -> bool:
    """Whether a grant on ``pattern`` covers ``environment``.

    >>> covers("*", "prod"), covers("dev-*", "dev-ann"), covers("dev-*", "prod")
    (True, True, False)
    >>> covers("prod", "*"), covers("*", "*")
    (False, True)
    """
    if environment == EVERY:
        return pattern == EVERY
    return fnmatchcase(environment, pattern)


def is_protected(environment: str, protected: list[str] | tuple[str, ...]) -> bool:
    """Whether ``environment`` is protected (``protected`` holds names or patterns)."""
    return any(fnmatchcase(environment, pattern) for pattern in protected)


def allowed(
    grants: list[tuple[str, str]],
    permission: Permission,
    environment: str,
    *,
    protected: list[str] | tuple[str, ...] = (),
) -> bool:
    """Whether (role, environment pattern) ``grants`` allow ``permission`` in ``environment``.

    >>> grants = [("developer", "dev-*"), ("viewer", "*")]
    >>> allowed(grants, Permission.RUNS_START, "dev-ann"), allowed(grants, Permission.RUNS_START, "prod")
    (True, False)
    >>> allowed([("admin", "*")], Permission.RUNS_START, "prod", protected=["prod"])
    False
    """
    if permission is Permission.PUBLIC:
        return True
    if permission in WRITES and environment != EVERY and is_protected(environment, protected):
        return False
    holders = PERMISSION_ROLES[permission]
    return any(role in holders and covers(pattern, environment) for role, pattern in grants)


def check_role(role: str) -> str:
    """``role`` if it is one headgate knows, else a clear error."""
    from headgate.errors import HeadgateError

    if role not in ROLES:
        raise HeadgateError(f"unknown role '{role}'", hint=f"use one of: {', '.join(ROLES)}")
    return role
