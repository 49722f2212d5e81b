"""Rendering the UI's Jinja2 templates, and the route class that turns errors into pages.

Every page gets the same frame (``base.html``): the project's name, the sections, the
stylesheet and script with a version stamp so a browser never keeps an old copy.
A user's mistake (a model that does not exist, an environment with nothing
published) is shown as a page with the same words the CLI prints, never a traceback.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2.utils import url_quote
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException as StarletteHTTPException

from headgate.errors import HeadgateError
from headgate.server.hub import Hub, problem_status
from headgate.server.ui.drawing import STATUS_MARKS

log = logging.getLogger("headgate.server.ui")

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"
NAV = (
    ("/", "Overview", "overview"),
    ("/lineage", "Lineage", "lineage"),
    ("/runs", "Runs", "runs"),
    ("/environments", "Environments", "environments"),
    ("/review", "Change review", "review"),
    ("/deliveries", "Deliveries", "deliveries"),
)
MARKS = {**STATUS_MARKS, "success": ("✓", ""), "pass": ("✓", ""), "built": ("✓", "")}
MARKS.update({"fail": ("✕", ""), "error": ("✕", ""), "upstream_failed": ("✕", "")})
MARKS.update({"partial": ("!", ""), "changed": ("↻", ""), "pending": ("…", "")})


@dataclass
class Notice:
    text: str
    kind: str = ""  # "" | "ok" | "warn" | "bad"
    hint: str | None = None


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """``template`` rendered in the page frame, with ``context``."""
    hub = hub_of(request)
    values = {
        "request": request,
        "project_name": hub.project.name,
        "nav_items": NAV,
        "section": context.pop("section", ""),
        "notices": context.pop("notices", []),
        "wide": context.pop("wide", False),
        **context,
    }
    text = _environment().get_template(template).render(values)
    return HTMLResponse(text, status_code=status_code)


def ago(moment: datetime | None) -> str:
    """``3 min ago``, ``2 h ago``, ``yesterday``, or the date."""
    if moment is None:
        return "never"
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    seconds = (datetime.now(UTC) - aware).total_seconds()
    if seconds < 0:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 2 * 86400:
        return "yesterday"
    return aware.strftime("%Y-%m-%d")


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return ""
    finish = end or datetime.now(UTC)
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    finish = finish if finish.tzinfo else finish.replace(tzinfo=UTC)
    seconds = max((finish - start).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def pill(status: str, text: str | None = None) -> Markup:
    """A status as a coloured pill (the ``pill`` macro's HTML, made by a plain call: a
    page's table of 1,000 rows calls it 1,000 times)."""
    mark = MARKS.get(status, ("", ""))[0]
    shown = text or status.replace("_", " ")
    kind = escape(status.replace(" ", "_"))
    return Markup(f'<span class="pill s-{kind}">{escape(mark)} {escape(shown)}</span>')


def when(moment: datetime | None) -> Markup:
    """A moment as ``3 min ago`` with the exact time on hover (the ``when`` macro's HTML)."""
    if not moment:
        return Markup('<span class="muted">never</span>')
    exact = escape(moment.strftime("%Y-%m-%d %H:%M:%S %Z"))
    return Markup(
        f'<time datetime="{escape(moment.isoformat())}" title="{exact}">'
        f"{escape(ago(moment))}</time>"
    )


def model_link(name: str, env: str | None = None) -> Markup:
    """A link to a model's page (the ``model_link`` macro's HTML)."""
    query = escape("?env=" + env) if env else ""
    return Markup(
        f'<a href="/models/{escape(url_quote(name))}{query}" class="mono">{escape(name)}</a>'
    )


def number(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def filesize(size: int) -> str:
    """``812 B``, ``31.7 KiB``, ``4.2 MiB``."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(
        static=_static_url,
        ago=ago,
        duration=duration,
        marks=MARKS,
        pill_html=pill,
        when_html=when,
        model_link_html=model_link,
        number=number,
        filesize=filesize,
    )
    return environment


@cache
def _static_url(name: str) -> str:
    digest = hashlib.blake2b((STATIC / name).read_bytes(), digest_size=4).hexdigest()
    return f"/static/{name}?v={digest}"


class PageRoute(APIRoute):
    """A UI route: a user's error or a missing page answers with an HTML page saying why."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except HeadgateError as exc:
                return error_page(request, problem_status(exc), exc.message, exc.hint)
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail), None)

        return page


TITLES = {400: "This cannot be done", 404: "Not found", 409: "Not now", 503: "Busy"}


def error_page(request: Request, status: int, message: str, hint: str | None) -> HTMLResponse:
    return render(
        request,
        "error.html",
        status_code=status,
        title=TITLES.get(status, "Error"),
        message=message,
        hint=hint,
    )
