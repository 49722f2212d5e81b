"""The audit log page (filtered by person, environment, action and time) and the page
where a person creates, sees and revokes their API tokens (a new one is shown once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from headgate.errors import HeadgateError
from headgate.security.principal import acting
from headgate.server.permissions import Permission, requires
from headgate.server.ui.forms import form_fields
from headgate.server.ui.templating import PageRoute, hub_of, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get(
    "/audit", response_class=HTMLResponse, dependencies=[Depends(requires(Permission.AUDIT_READ))]
)
def audit_page(
    request: Request,
    person: str | None = None,
    environment: str | None = None,
    action: str | None = None,
    hours: int | None = None,
) -> HTMLResponse:
    since = datetime.now(UTC) - timedelta(hours=hours) if hours else None
    hub = hub_of(request)
    entries = hub.project.audit_log(
        person=person or None,
        environment=environment or None,
        action=action or None,
        since=since,
        limit=200,
    )
    actions = sorted({e.action for e in hub.project.audit_log(limit=1000)})
    return render(
        request,
        "audit.html",
        section="audit",
        title="Audit log",
        entries=list(reversed(entries)),
        person=person or "",
        environment=environment or "",
        action=action or "",
        hours=hours or "",
        actions=actions,
        verdict=hub.project.audit_verify(),
    )


@router.get(
    "/tokens",
    response_class=HTMLResponse,
    dependencies=[Depends(requires(Permission.TOKENS_MANAGE))],
)
def tokens_page(request: Request) -> HTMLResponse:
    return _tokens(request, None)


@router.post("/tokens", dependencies=[Depends(requires(Permission.TOKENS_MANAGE))])
async def create_token(request: Request) -> Response:
    fields = await form_fields(request)
    hub = hub_of(request)
    days = int(fields.get("days") or 0)
    expires = datetime.now(UTC) + timedelta(days=days) if days > 0 else None
    role = fields.get("role") or "viewer"
    value = hub.project.create_token(fields.get("name", "").strip(), [role], ["*"], expires)
    return _tokens(request, value, status=201)


@router.post(
    "/tokens/{token_id}/revoke", dependencies=[Depends(requires(Permission.TOKENS_MANAGE))]
)
async def revoke_token(request: Request, token_id: int) -> Response:
    await form_fields(request)
    hub = hub_of(request)
    me = acting()
    found = hub.project.accounts.table.token(token_id)
    if found is None or me is None or found.owner != me.name:
        raise HeadgateError(f"no token {token_id} of yours")
    hub.project.revoke_token(token_id)
    return RedirectResponse("/tokens", status_code=303)


def _tokens(request: Request, new: str | None, *, status: int = 200) -> HTMLResponse:
    me = acting()
    hub = hub_of(request)
    mine = hub.project.tokens(me.name) if me is not None else []
    roles = me.roles_in("*") if me is not None else []
    every = sorted({role for role, _ in me.grants}) if me is not None else []
    return render(
        request,
        "tokens.html",
        status_code=status,
        section="tokens",
        title="API tokens",
        tokens=list(reversed(mine)),
        new_token=new,
        roles=every or roles,
    )
