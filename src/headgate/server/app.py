"""The hub's web application: the REST API under /api/v1 and, when present, the web UI.

``create_app(project_dir)`` starts a :class:`~headgate.server.hub.Hub` for the project
and returns the FastAPI application serving it; ``headgate serve`` runs it under
Uvicorn. Routes reach the hub with ``Depends(get_hub)`` (or ``request.app.state.hub``).
The web UI mounts itself through ``headgate.server.ui.mount(app)`` when that package
provides it.

Errors are problem documents (``application/problem+json``, RFC 9457) whose ``detail``
is what the command line prints for the same error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from headgate import __version__
from headgate.errors import HeadgateError
from headgate.server.auth import install as install_auth
from headgate.server.hub import Hub, problem_status
from headgate.server.permissions import Permission, document_permissions, requires

log = logging.getLogger("headgate.server")

API = "/api/v1"
PROBLEM = "application/problem+json"


def create_app(project_dir: Path, *, hub: Hub | None = None, ui: bool = True) -> FastAPI:
    """The application serving the project at ``project_dir`` (or the hub given)."""
    from headgate.server.api import routers

    the_hub = hub or Hub(project_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if hub is None:  # a hub the app started is closed with it
            the_hub.close()

    app = FastAPI(
        title=f"headgate hub: {the_hub.project.name}",
        version=__version__,
        description="The REST API of a headgate hub: one project, its runs, checks, "
        "environments, plans, deployments, deliveries and read-only queries.",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,  # FastAPI's pages load JavaScript from a CDN: ours is served here
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.hub = the_hub
    api_routers = routers()
    app.state.api_routers = api_routers
    for router in api_routers:
        app.include_router(router, prefix=API)
    _problems(app)
    _openapi_with_permissions(app, api_routers)
    install_auth(app)  # no credentials: 401, or the sign-in page for a browser
    _mount_metrics(app)

    @app.get(
        "/api/docs",
        include_in_schema=False,
        response_class=HTMLResponse,
        dependencies=[Depends(requires(Permission.PUBLIC))],
    )
    def api_docs() -> HTMLResponse:
        from headgate.server.docs import docs_page

        return HTMLResponse(docs_page(app.openapi()))

    if ui:
        _mount_ui(app)
    return app


async def get_hub(request: Request) -> Hub:
    """The hub serving this request (a FastAPI dependency; async: FastAPI would run a
    plain function in a worker thread, a hop per request for an attribute)."""
    hub: Hub = request.app.state.hub
    return hub


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem document (RFC 9457)."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


TITLES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    422: "Invalid request",
    500: "Internal error",
    503: "Busy",
    504: "Timed out",
}


def _problems(app: FastAPI) -> None:
    @app.exception_handler(HeadgateError)
    async def headgate_error(request: Request, exc: HeadgateError) -> JSONResponse:
        status = problem_status(exc)
        return problem(status, TITLES.get(status, "Error"), exc.render())

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_validation_text(e) for e in exc.errors()]
        return problem(422, TITLES[422], "; ".join(errors), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response = problem(exc.status_code, TITLES.get(exc.status_code, "Error"), detail)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    app.add_middleware(_UnexpectedErrors)


class _UnexpectedErrors:
    """A bug answers a problem document (500) and is logged; the server goes on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # the answer is under way: only cutting it short tells the client
            response = problem(500, TITLES[500], f"{type(exc).__name__}: {exc}")
            await response(scope, receive, send)


def _validation_text(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg"))


def _openapi_with_permissions(app: FastAPI, api_routers: list[Any]) -> None:
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = plain()
            document_permissions(document, [*api_routers, app], API)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _mount_metrics(app: FastAPI) -> None:
    """``/metrics`` for Prometheus, beside the API (where Prometheus looks by default)."""
    from headgate.server.metrics import router

    app.include_router(router)


def _mount_ui(app: FastAPI) -> None:
    try:
        from headgate.server.ui import mount
    except ImportError:
        return
    mount(app)
