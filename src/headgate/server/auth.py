"""Who is asking: the hub finds a request's principal from its Bearer token or its
session cookie, and answers a request without either (401, or the sign-in page).

:class:`Guard` holds what that needs (the project's accounts, the session key, the
sessions' timeouts); ``server/permissions.py`` asks it once per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from headgate.security import sessions, tokens
from headgate.security.principal import Principal

if TYPE_CHECKING:
    from headgate.project.access import SecurityConfig
    from headgate.security.accounts import Accounts
    from headgate.server.hub import Hub

COOKIE = "headgate_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"


class SignInRequired(Exception):
    """No valid credentials: an API request gets 401, a page the sign-in page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Credentials:
    principal: Principal
    by_cookie: bool


class Guard:
    """The hub's accounts and session key, shared by every request."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    @property
    def config(self) -> SecurityConfig:
        """``security:`` as headgate.yml says now (the hub reloads a changed project)."""
        return self.hub.project.loaded.config.security

    @property
    def accounts(self) -> Accounts:
        return self.hub.project.accounts

    @cached_property
    def session_key(self) -> bytes:
        return sessions.session_key(self.hub.root)

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.config.session_idle_minutes)

    @property
    def absolute(self) -> timedelta:
        return timedelta(hours=self.config.session_hours)

    def credentials(self, request: Request) -> Credentials | None:
        """The request's principal, from ``Authorization: Bearer`` or the session cookie.

        A Bearer header that is not a valid token is refused outright (never falls back
        to the cookie), so a script never acts as the browser's user by mistake.
        """
        address = request.client.host if request.client else None
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise SignInRequired("the Authorization header is not 'Bearer <token>'")
            principal = tokens.authenticate(self.accounts, value, address=address)
            if principal is None:
                raise SignInRequired("the token is unknown, revoked or expired")
            return Credentials(principal, by_cookie=False)
        cookie = request.cookies.get(COOKIE)
        if cookie:
            found = sessions.resolve(
                self.accounts,
                self.session_key,
                cookie,
                address=address,
                idle=self.idle,
                absolute=self.absolute,
            )
            if found is not None:
                return Credentials(found, by_cookie=True)
        return None


def guard_of(request: Request) -> Guard:
    state = request.app.state
    guard: Guard | None = getattr(state, "guard", None)
    if guard is None:
        guard = Guard(state.hub)
        state.guard = guard
    return guard


def is_page(request: Request) -> bool:
    """A request for the web UI (not the API)."""
    return not request.url.path.startswith("/api/")


def install(app: FastAPI) -> None:
    """Answer :class:`SignInRequired`: 401 for the API, the sign-in page for a browser."""

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        if is_page(request) and request.method in ("GET", "HEAD"):
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?next={quote(wanted, safe='')}", status_code=303)
        body = {
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "detail": f"sign in first: {exc.reason}",
        }
        return JSONResponse(
            body,
            status_code=401,
            media_type="application/problem+json",
            headers={"WWW-Authenticate": 'Bearer realm="headgate"'},
        )
