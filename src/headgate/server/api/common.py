"""What the API's routers share: JSON of domain records, pages of lists, ETags."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

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


def jsonable(value: Any) -> Any:
    """Records (dataclasses), dates, paths and decimals as JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in asdict(value).items()}
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
