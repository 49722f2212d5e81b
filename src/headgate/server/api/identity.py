"""API tokens (one's own; an admin's for anyone), users and the audit log, over HTTP.

A token's value is in the answer that creates it and nowhere else; lists show its
prefix, scope, expiry and last use. Users' password hashes never leave the hub.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from headgate.errors import HeadgateError
from headgate.security.principal import Principal, acting
from headgate.server.api.common import jsonable
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires

router = APIRouter(tags=["identity"])


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(min_length=1, max_length=10)
    environments: list[str] = Field(default_factory=lambda: ["*"], max_length=50)
    expires_at: datetime | None = None
    user: str | None = Field(None, max_length=200, description="whose (admins only)")


def _me() -> Principal:
    principal = acting()
    if principal is None:  # the dependency signed the request in
        raise HeadgateError("no one is signed in")
    return principal


def _token_json(token: Any) -> dict[str, Any]:
    data: dict[str, Any] = jsonable(token)
    data.pop("hash", None)
    return data


@router.get(
    "/tokens",
    summary="My API tokens (an admin: everyone's, or one user's)",
    dependencies=[Depends(requires(Permission.TOKENS_MANAGE))],
)
def list_tokens(
    hub: Hub = Depends(get_hub), user: str | None = Query(None, max_length=200)
) -> dict[str, Any]:
    me = _me()
    admin = me.allows(Permission.USERS_MANAGE, "*")
    owner = user if admin else me.name
    return {"tokens": [_token_json(t) for t in hub.project.tokens(owner)]}


@router.post(
    "/tokens",
    status_code=201,
    summary="Create a token; its value is in this answer only",
    dependencies=[Depends(requires(Permission.TOKENS_MANAGE))],
)
def create_token(request: TokenRequest, hub: Hub = Depends(get_hub)) -> JSONResponse:
    value = hub.project.create_token(
        request.name,
        request.roles,
        request.environments,
        request.expires_at,
        owner=request.user,
    )
    return JSONResponse({"name": request.name, "token": value}, status_code=201)


@router.delete(
    "/tokens/{token_id}",
    summary="Revoke a token at once (one's own; an admin: anyone's)",
    dependencies=[Depends(requires(Permission.TOKENS_MANAGE))],
)
def revoke_token(token_id: int, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    me = _me()
    found = hub.project.accounts.table.token(token_id)
    mine = found is not None and found.owner == me.name
    if found is None or not (mine or me.allows(Permission.USERS_MANAGE, "*")):
        raise HeadgateError(f"no token {token_id}", hint="list yours: GET /api/v1/tokens")
    hub.project.revoke_token(token_id)
    return {"revoked": token_id}


@router.get(
    "/users",
    summary="Users, whether enabled, and their roles per environment",
    dependencies=[Depends(requires(Permission.USERS_MANAGE))],
)
def list_users(hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    grants: dict[str, list[str]] = {}
    for g in hub.project.grants():
        grants.setdefault(g.username, []).append(f"{g.role}@{g.environment}")
    return {
        "users": [
            {
                "name": u.name,
                "disabled": u.disabled,
                "source": u.source,
                "created_at": u.created_at.isoformat(),
                "roles": grants.get(u.name, []),
            }
            for u in hub.project.users()
        ]
    }


class UserRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    password: str | None = Field(None, max_length=1024, description="none: single sign-on only")
    roles: list[str] = Field(default_factory=list, max_length=50, description="role@environment")


class GrantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, max_length=50)
    scope: str = Field("*", min_length=1, max_length=200, description="environment or pattern")


class DisableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: bool = True


def _grant(text: str) -> tuple[str, str]:
    role, _, environment = text.partition("@")
    return role, environment or "*"


@router.post(
    "/users",
    status_code=201,
    summary="Add a user (a password, or none for single sign-on only) with roles",
    dependencies=[Depends(requires(Permission.USERS_MANAGE))],
)
def add_user(request: UserRequest, hub: Hub = Depends(get_hub)) -> JSONResponse:
    hub.project.add_user(request.name, request.password, roles=[_grant(r) for r in request.roles])
    return JSONResponse({"name": request.name, "roles": request.roles}, status_code=201)


@router.post(
    "/users/{username}/roles",
    summary="Grant a role in an environment, a pattern of them, or every one",
    dependencies=[Depends(requires(Permission.USERS_MANAGE))],
)
def grant_role(username: str, request: GrantRequest, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    added = hub.project.grant(username, request.role, request.scope)
    return {"user": username, "role": request.role, "scope": request.scope, "added": added}


@router.delete(
    "/users/{username}/roles/{role}",
    summary="Take a role back (scope: the environment or pattern it was granted in)",
    dependencies=[Depends(requires(Permission.USERS_MANAGE))],
)
def revoke_role(
    username: str,
    role: str,
    hub: Hub = Depends(get_hub),
    scope: str = Query("*", max_length=200),
) -> dict[str, Any]:
    hub.project.revoke(username, role, scope)
    return {"user": username, "role": role, "scope": scope, "revoked": True}


@router.post(
    "/users/{username}/disable",
    summary="Disable (or enable) a user: their sessions and tokens stop at once",
    dependencies=[Depends(requires(Permission.USERS_MANAGE))],
)
def disable_user(
    username: str, request: DisableRequest, hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    hub.project.disable_user(username, disabled=request.disabled)
    return {"user": username, "disabled": request.disabled}


@router.get(
    "/audit",
    summary="The audit log, newest last: who did what, when, from where",
    dependencies=[Depends(requires(Permission.AUDIT_READ))],
)
def audit(
    hub: Hub = Depends(get_hub),
    person: str | None = Query(None, max_length=200),
    environment: str | None = Query(None, max_length=200),
    action: str | None = Query(None, max_length=100),
    since: datetime | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    found = hub.project.audit_log(
        person=person, environment=environment, action=action, since=since, limit=limit
    )
    return {"entries": [jsonable(e) for e in found]}
