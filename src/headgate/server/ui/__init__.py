"""The hub's web UI: server-rendered pages (Jinja2), SVG drawn on the server, a little JS.

``mount(app)`` adds the pages and the static files to the hub's application. Pages read
through the hub's :class:`headgate.Project` and its metadata store, the same way the
REST API does; every change they ask for (a run, a deploy, a rollback) goes through the
hub's writer lane.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "static"


def mount(app: FastAPI) -> None:
    """Serve the UI's pages at / and its stylesheet and script at /static."""
    from headgate.server.ui import audit, signin
    from headgate.server.ui.pages import router

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    from headgate.server import auth_oidc

    app.include_router(signin.router)  # sign-in and sign-out
    app.include_router(auth_oidc.router)  # single sign-on (security.oidc in headgate.yml)
    signin.install_template_globals()
    app.include_router(audit.router)  # the audit log and one's API tokens
    app.include_router(router)
