"""What the API's routers share: JSON of domain records, pages of lists, ETags."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse

EnvQuery = Annotated[
    str | None,
    Query(
        max_length=100,
        description="Environment (default: the project's, prod).",
        pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")]
NAME_PATTERN = r"^[A-Za-z0-9_.@:-]+$"

if TYPE_CHECKING:
    from headgate.state.records import RunRecord, TaskRecord


def jsonable(value: Any) -> Any:
    """Records (dataclasses), dates, paths and decimals as JSON values."""
    if is_dataclass(value) and not isinstance(value, type):  # field by field, nothing copied
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    return value


def run_json(run: RunRecord) -> dict[str, Any]:
    """A run and its tasks as JSON values: :func:`jsonable`'s answer, written out field by
    field (a run of 1,000 tasks is read in a few milliseconds, not walked generically)."""
    return {
        "id": run.id,
        "environment": run.environment,
        "status": run.status,
        "started_at": _moment(run.started_at),
        "ended_at": _moment(run.ended_at),
        "command": run.command,
        "selection": run.selection,
        "user": run.user,
        "host": run.host,
        "pid": run.pid,
        "git_commit": run.git_commit,
        "error": run.error,
        "published": run.published,
        "tasks": [task_json(task) for task in run.tasks],
        "counts": dict(run.counts),
    }


def task_json(task: TaskRecord) -> dict[str, Any]:
    """One task of a run as JSON values (as :func:`jsonable` gives it)."""
    seconds = task.seconds
    return {
        "run_id": task.run_id,
        "name": task.name,
        "kind": task.kind,
        "status": task.status,
        "fingerprint": task.fingerprint,
        "physical_table": task.physical_table,
        "rows": task.rows,
        "started_at": _moment(task.started_at),
        "ended_at": _moment(task.ended_at),
        "seconds": seconds if seconds is None or math.isfinite(seconds) else None,
        "error": task.error,
        "detail": jsonable(task.detail) if task.detail else {},
        "spec": None if task.spec is None else jsonable(task.spec),
        "attempts": task.attempts,
    }


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def json_response(body: Any) -> Response:
    """``body`` (JSON values already) encoded here, not walked again by the framework."""
    data = json.dumps(body, default=str, separators=(",", ":"), ensure_ascii=False)
    return Response(data.encode(), media_type="application/json")


def page(
    items: list[Any], *, limit: int, offset: int, total: int | None = None, **extra: Any
) -> dict[str, Any]:
    """One page of a list: ``items``, ``total`` (when known), and where the next page starts."""
    shown = items[offset : offset + limit]
    more = (total if total is not None else len(items)) > offset + limit
    return {
        "items": jsonable(shown),
        "total": total if total is not None else len(items),
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
        **jsonable(extra),
    }


def encoded(body: Any) -> tuple[bytes, str]:
    """``body`` as JSON bytes, and its ETag."""
    data = json.dumps(body, default=str, separators=(",", ":")).encode()
    return data, '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


def etagged(request: Request, body: Any, *, status_code: int = 200) -> Response:
    """``body`` as JSON with an ETag; 304 when the client holds the same version."""
    return _tagged(request, *encoded(body), status_code=status_code)


def published_answer(request: Request, hub: Any, compute: Callable[[], Any]) -> Response:
    """An answer about what is published, computed once per write for each URL (the
    same URL asked again before the next write is served from what was kept)."""
    key = ("answer", request.url.path, request.url.query)
    data, tag = hub.cached(key, lambda: encoded(compute()))
    return _tagged(request, data, tag)


def _tagged(request: Request, encoded: bytes, tag: str, *, status_code: int = 200) -> Response:
    wanted = request.headers.get("if-none-match", "")
    if tag in {t.strip() for t in wanted.split(",")} or wanted.strip() == "*":
        return Response(status_code=304, headers={"ETag": tag})
    return Response(
        encoded,
        status_code=status_code,
        media_type="application/json",
        headers={"ETag": tag, "Cache-Control": "no-cache"},
    )


def accepted(body: dict[str, Any], location: str) -> JSONResponse:
    """202: the write is queued; ``location`` is where to follow it."""
    return JSONResponse(body, status_code=202, headers={"Location": location})
