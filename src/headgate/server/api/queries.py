"""Read-only queries of what an environment publishes: JSON, CSV, or an Arrow IPC stream.

Models are read by their names, as with ``headgate query``. Each query runs on a cursor
of its own of the hub's warehouse connection, with a row limit and a timeout; CSV and
Arrow are streamed batch by batch, so a large result never sits whole in the hub.
"""

from __future__ import annotations

import csv
import io
import threading
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from headgate.errors import EngineError, HeadgateError
from headgate.server.api.common import EnvQuery, jsonable
from headgate.server.api.environments import ENV_PATTERN
from headgate.server.app import get_hub
from headgate.server.hub import Hub
from headgate.server.permissions import Permission, requires
from headgate.server.warehouse import ArrowParts, record_batches

if TYPE_CHECKING:
    import pyarrow as pa

router = APIRouter(tags=["queries"])
ARROW = "application/vnd.apache.arrow.stream"
JSON_ROWS = 10_000  # default row limit of a JSON answer
MAX_ROWS = 10_000_000
DEFAULT_TIMEOUT = 30.0
READ_AHEAD = 2  # batches DuckDB computes while the last one is being sent
FORMATS = {"json": "application/json", "csv": "text/csv", "arrow": ARROW}


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=100_000, description="One read-only query.")
    environment: str | None = Field(None, max_length=100, pattern=ENV_PATTERN)
    limit: int | None = Field(
        None,
        ge=0,
        le=MAX_ROWS,
        description=f"At most this many rows (JSON: {JSON_ROWS:,} by default).",
    )
    timeout: float = Field(
        DEFAULT_TIMEOUT, gt=0, le=600, description="Seconds before the query is stopped."
    )
    format: str | None = Field(
        None, pattern="^(json|csv|arrow)$", description="Default: from Accept, else json."
    )


@router.post(
    "/query",
    summary="Run a read-only query; models are read by their names",
    description="JSON (`{columns, rows, row_count, truncated}`), CSV or an Arrow IPC stream, "
    "chosen by `format` or the Accept header.",
    responses={200: {"content": {"application/json": {}, "text/csv": {}, ARROW: {}}}},
    dependencies=[Depends(requires(Permission.DATA_QUERY))],
)
def post_query(body: QueryRequest, request: Request, hub: Hub = Depends(get_hub)) -> Response:
    return answer(hub, request, body)


@router.get(
    "/query",
    summary="Run a read-only query given in the URL (as POST /query)",
    responses={200: {"content": {"application/json": {}, "text/csv": {}, ARROW: {}}}},
    dependencies=[Depends(requires(Permission.DATA_QUERY))],
)
def get_query(
    request: Request,
    sql: Annotated[str, Query(min_length=1, max_length=100_000)],
    hub: Hub = Depends(get_hub),
    env: EnvQuery = None,
    limit: Annotated[int | None, Query(ge=0, le=MAX_ROWS)] = None,
    timeout: Annotated[float, Query(gt=0, le=600)] = DEFAULT_TIMEOUT,
    format: Annotated[str | None, Query(pattern="^(json|csv|arrow)$")] = None,
) -> Response:
    body = QueryRequest(sql=sql, environment=env, limit=limit, timeout=timeout, format=format)
    return answer(hub, request, body)


def answer(hub: Hub, request: Request, body: QueryRequest) -> Response:
    chosen = body.format or _from_accept(request.headers.get("accept", ""))
    limit = body.limit if body.limit is not None else (JSON_ROWS if chosen == "json" else None)
    probe = limit + 1 if chosen == "json" and limit is not None else limit  # to tell truncation
    ahead = 0 if chosen == "json" else READ_AHEAD  # JSON is read whole before it is sent
    with hub.query_counts.request("http"):  # counted for /metrics, as Flight's are
        schema, batches, handle = started(
            hub, body.sql, body.environment, probe, timeout=body.timeout, ahead=ahead
        )
    batches = hub.query_counts.batches("http", batches)

    def stop() -> None:
        if handle is not None:
            handle.close()

    if chosen == "json":
        try:
            rows: list[dict[str, Any]] = []
            for batch in batches:
                rows.extend(batch.to_pylist())
        finally:
            stop()
        truncated = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        return Response(
            _json(
                {
                    "columns": schema.names,
                    "rows": jsonable(rows),
                    "row_count": len(rows),
                    "truncated": truncated,
                }
            ),
            media_type="application/json",
        )
    if chosen == "csv":
        return StreamingResponse(_closing(_csv(schema, batches), stop), media_type="text/csv")
    # an Arrow stream cut short must not read as complete: an error aborts the connection
    return StreamingResponse(_arrow_sent(schema, batches, stop), media_type=ARROW)


def started(
    hub: Hub, sql: str, env: str | None, limit: int | None, *, timeout: float, ahead: int
) -> tuple[pa.Schema, Iterator[pa.RecordBatch], Any]:
    """The query started on a cursor of its own: its schema, its batches as they are read,
    and the handle that stops it (None: nothing to stop). HTTP and Arrow Flight (server/
    flight.py) read through here; a missing table is named in the environment's terms."""
    prepared, published, environment = prepare(hub, sql, env, limit)
    try:
        return record_batches(hub.engine, prepared, timeout=timeout, ahead=ahead)
    except EngineError as exc:
        from headgate.runtime.query import unknown_table

        raise unknown_table(str(exc), sql, published, environment) or exc from None


def prepare(hub: Hub, sql: str, env: str | None, limit: int | None) -> tuple[str, list[str], str]:
    """The SQL to run (read-only, model names -> the environment's views), what the
    environment publishes, and its name.

    Kept until the next write starts or ends: parsing and rewriting a query is Python
    work (milliseconds under the GIL), and dashboards send the same queries again and again.
    """
    environment = hub.project._environment(env)
    key = (hub.generation, environment, sql, limit)
    kept = PREPARED.get(hub, key)
    if kept is None:
        kept = _prepared(hub, sql, environment, limit)
        PREPARED.put(hub, key, kept)
    return kept


def _prepared(
    hub: Hub, sql: str, environment: str, limit: int | None
) -> tuple[str, list[str], str]:
    from headgate.plan.naming import view_name
    from headgate.runtime.query import environment_query

    project = hub.project
    published: list[str] = hub.cached(
        ("published", environment), lambda: project._published(environment)
    )
    engine = hub.engine
    views = {name: view_name(name, environment, engine.schema_prefix) for name in published}
    rewritten = environment_query(
        sql,
        views,
        limit=limit,
        dialect=engine.capabilities.dialect,
        columns=engine.session().columns_of,
    )
    return rewritten, published, environment


class PreparedQueries:
    """The latest prepared queries of each hub, the least recently used forgotten first."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._kept: weakref.WeakKeyDictionary[Hub, OrderedDict[Any, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._guard = threading.Lock()

    def get(self, hub: Hub, key: Any) -> Any:
        with self._guard:
            kept = self._kept.get(hub)
            if kept is None or key not in kept:
                return None
            kept.move_to_end(key)
            return kept[key]

    def put(self, hub: Hub, key: Any, value: Any) -> None:
        with self._guard:
            kept = self._kept.setdefault(hub, OrderedDict())
            kept[key] = value
            while len(kept) > self.size:
                kept.popitem(last=False)


PREPARED = PreparedQueries()


def _from_accept(accept: str) -> str:
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        for name, known in FORMATS.items():
            if media == known:
                return name
    return "json"


def _json(data: Any) -> bytes:
    import json

    return json.dumps(data, default=str, separators=(",", ":")).encode()


def _csv(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(schema.names)
    yield buffer.getvalue().encode()
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        columns = [column.to_pylist() for column in batch.columns]
        for row in zip(*columns, strict=True):
            writer.writerow(["" if value is None else value for value in row])
        yield buffer.getvalue().encode()


def _arrow(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[bytes | memoryview]:
    """One Arrow IPC stream, piece by piece (``ArrowParts``)."""
    stream = ArrowParts(schema)
    for batch in batches:
        yield from stream.batch(batch)
    yield from stream.end()


async def _arrow_sent(
    schema: pa.Schema, batches: Iterator[pa.RecordBatch], stop: Any
) -> AsyncIterator[bytes | memoryview]:
    """The stream as the server sends it: each batch taken in a worker thread (it may wait
    for DuckDB), its pieces handed to the server from the event loop, one hop per batch."""
    stream = ArrowParts(schema)
    try:
        while (pieces := await run_in_threadpool(_next_pieces, batches, stream)) is not None:
            for piece in pieces:
                yield piece
        for piece in stream.end():
            yield piece
    finally:
        stop()


def _next_pieces(
    batches: Iterator[pa.RecordBatch], stream: ArrowParts
) -> list[bytes | memoryview] | None:
    batch = next(batches, None)
    return None if batch is None else stream.batch(batch)


def _closing(stream: Iterator[bytes], stop: Any) -> Iterator[bytes]:
    try:
        yield from stream
    except HeadgateError as exc:  # the status is sent: end the body with the error's text
        yield f"\nerror: {exc.render()}\n".encode()
    finally:
        stop()
