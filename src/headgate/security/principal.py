"""Who is acting: a signed-in user or an API token, and the rights they carry.

The hub resolves a request's principal once and sets it as the acting one
(:data:`ACTING`) for the work the request does, so the facade records that person as
the actor of a run, a deploy or an audit entry, and the writer lane checks their rights
again when it carries out the work they queued.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from dataclasses import dataclass, field
from typing import TypeVar

from headgate.errors import HeadgateError
from headgate.security.roles import EVERY, PERMISSION_ROLES, Permission, allowed

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Principal:
    """A user (``token`` None) or one of a user's API tokens."""

    name: str  # the person (or machine account) the rights belong to
    grants: tuple[tuple[str, str], ...]  # (role, environment pattern)
    protected: tuple[str, ...] = ()
    token: str | None = None  # the token's name when signed in by token
    token_roles: tuple[str, ...] = ()
    token_environments: tuple[str, ...] = ()
    session_csrf: str | None = field(default=None, repr=False)
    address: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names it: ``ann``, or ``ann:ci-deploy`` for ann's token."""
        return f"{self.name}:{self.token}" if self.token else self.name

    def allows(
        self, permission: Permission, environment: str | None, *, protecting: bool = True
    ) -> bool:
        """Whether this principal may do ``permission`` in ``environment`` (None: ``*``);
        ``protecting=False`` leaves protected environments' refusal to a later check."""
        where = environment or EVERY
        protected = self.protected if protecting else ()
        if not allowed(list(self.grants), permission, where, protected=protected):
            return False
        if self.token is None:
            return True
        # a token does at most what its scope says, and never more than its owner may
        scoped = [(role, env) for role in self.token_roles for env in self.token_environments]
        return allowed(scoped, permission, where, protected=protected)

    def allows_somewhere(self, permission: Permission) -> bool:
        """Whether some grant (within the token's scope) holds ``permission`` at all."""
        holders = PERMISSION_ROLES[permission]
        if not any(role in holders for role, _ in self.grants):
            return False
        return self.token is None or any(role in holders for role in self.token_roles)

    def roles_in(self, environment: str) -> list[str]:
        from headgate.security.roles import covers

        return sorted({role for role, pattern in self.grants if covers(pattern, environment)})


ACTING: ContextVar[Principal | None] = ContextVar("headgate_acting", default=None)


def acting() -> Principal | None:
    """The principal the current work is done for (None: a local command or the scheduler)."""
    return ACTING.get()


@contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    token = ACTING.set(principal)
    try:
        yield
    finally:
        ACTING.reset(token)


def demand(permission: Permission, environment: str | None) -> None:
    """Refuse (403) work the acting principal may not do; local work passes."""
    principal = ACTING.get()
    if principal is not None and not principal.allows(permission, environment):
        raise Refused(principal, permission, environment)


class Refused(HeadgateError):
    """A principal asked for something its roles do not allow (HTTP 403)."""

    status = 403

    def __init__(
        self, principal: Principal, permission: Permission, environment: str | None
    ) -> None:
        where = f" in {environment}" if environment and environment != EVERY else ""
        super().__init__(
            f"{principal.actor} may not {permission.value}{where}",
            hint=_hint(permission, environment, principal),
        )


def _hint(permission: Permission, environment: str | None, principal: Principal) -> str:
    from headgate.security.roles import WRITES, is_protected, roles_for

    if permission in WRITES and environment and is_protected(environment, principal.protected):
        return f"{environment} is protected: change it with a deploy from another environment"
    holders = ", ".join(sorted(roles_for(permission)))
    return f"ask an admin for one of these roles{' in ' + environment if environment else ''}: {holders}"


# What each kind of the hub's queued work needs, checked when it is queued for someone.
JOB_PERMISSIONS = {
    "run": Permission.RUNS_START,
    "env_create": Permission.ENVIRONMENTS_CREATE,
    "env_delete": Permission.ENVIRONMENTS_DELETE,
    "deploy": Permission.DEPLOY,
    "rollback": Permission.ROLLBACK,
    "deliver": Permission.DELIVERIES_RUN,
}


def authorize_job(kind: str, environment: str | None) -> None:
    """Refuse queuing ``kind`` of work in ``environment`` for an acting principal without
    the right there (protected environments included); local and scheduled work passes."""
    permission = JOB_PERMISSIONS.get(kind)
    if permission is not None:
        demand(permission, environment)


def carried(work: Callable[[T], R]) -> Callable[[T], R]:
    """``work`` done later on another thread for the principal acting now (its actor is
    recorded on the run, the deploy and the audit log)."""
    context = copy_context()

    def done_for(argument: T) -> R:
        return context.copy().run(work, argument)

    return done_for
