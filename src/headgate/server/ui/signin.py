"""Signing in and out of the web UI: a form, a session cookie, sign-out that ends it.

The cookie is HttpOnly, SameSite=Lax, and Secure when the hub is reached over HTTPS;
it holds a random session id signed by the hub (``headgate.security.sessions``). Signing
in is throttled per account and per address (``headgate.security.accounts``).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from headgate.security import sessions
from headgate.security.accounts import SignInFailed
from headgate.security.principal import Principal, acting
from headgate.security.roles import Permission
from headgate.security.sessions import csrf_matches
from headgate.server.auth import COOKIE, guard_of
from headgate.server.permissions import requires
from headgate.server.ui.templating import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PUBLIC = [Depends(requires(Permission.PUBLIC))]


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this hub only (never another site).

    >>> safe_next("/runs?env=dev"), safe_next("https://evil.example/"), safe_next("//evil")
    ('/runs?env=dev', '/', '/')
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/signin", response_class=HTMLResponse, dependencies=PUBLIC)
def signin_page(request: Request, next: str | None = None) -> HTMLResponse:
    return _page(request, safe_next(next), "", None)


@router.post("/signin", dependencies=PUBLIC)
async def signin(request: Request) -> Response:
    fields = _fields(await request.body())
    wanted = safe_next(fields.get("next"))
    name = fields.get("username", "").strip()
    guard = guard_of(request)
    address = request.client.host if request.client else None
    try:
        principal = await run_in_threadpool(
            guard.accounts.sign_in, name, fields.get("password", ""), address=address
        )
    except SignInFailed as exc:
        return _page(request, wanted, name, exc.render(), status=401)
    return await run_in_threadpool(start_session, request, principal, wanted)


def start_session(request: Request, principal: Principal, wanted: str) -> Response:
    """Sign ``principal`` in: a new session (any old cookie is replaced), then ``wanted``."""
    guard = guard_of(request)
    made = sessions.start(guard.accounts, guard.session_key, principal)
    answer = RedirectResponse(wanted, status_code=303)
    answer.set_cookie(
        COOKIE,
        made.cookie,
        max_age=int(guard.absolute.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return answer


@router.post("/signout", dependencies=PUBLIC)
async def signout(request: Request) -> Response:
    body = await request.body()
    return await run_in_threadpool(_signout, request, body)


def _signout(request: Request, body: bytes) -> Response:
    """End the session (its row, not only the cookie) and show the sign-in page."""
    guard = guard_of(request)
    cookie = request.cookies.get(COOKIE)
    principal = acting()
    given = _fields(body).get("csrf")
    if cookie and principal is not None and csrf_matches(principal.session_csrf, given):
        name = sessions.end(guard.accounts, guard.session_key, cookie)
        if name:
            from headgate.security.audit import record

            address = request.client.host if request.client else None
            record(guard.hub.store, "signout", actor=name, address=address)
    answer = RedirectResponse("/signin", status_code=303)
    answer.delete_cookie(COOKIE, path="/")
    return answer


def _page(
    request: Request, wanted: str, username: str, error: str | None, *, status: int = 200
) -> HTMLResponse:
    oidc = guard_of(request).config.oidc
    return render(
        request,
        "signin.html",
        status_code=status,
        title="Sign in",
        next=wanted,
        username=username,
        error=error,
        oidc_label=oidc.label if oidc else None,
    )


def _fields(body: bytes) -> dict[str, str]:
    text = body[: 64 * 1024].decode("utf-8", errors="replace")
    return {key: values[-1] for key, values in parse_qs(text, keep_blank_values=True).items()}


def install_template_globals() -> None:
    """``csrf_token()``, ``can(permission, environment)`` and ``signed_in()`` for the
    templates: the CSRF field of every form, and buttons shown only to who may use them."""
    from headgate.server.ui.templating import _environment

    _environment().globals.update(csrf_token=_csrf_token, can=_can, signed_in=_signed_in)


def _csrf_token() -> str:
    principal = acting()
    return (principal.session_csrf or "") if principal is not None else ""


def _can(permission: str, environment: str | None = None) -> bool:
    principal = acting()
    if principal is None:
        return False
    wanted = Permission(permission)
    if environment is None:
        return principal.allows_somewhere(wanted)
    return principal.allows(wanted, environment)


def _signed_in() -> str | None:
    principal = acting()
    return principal.actor if principal is not None else None
