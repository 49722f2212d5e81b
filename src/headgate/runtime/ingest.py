"""Loading a source table from a database, an API or a stream into a new segment.

Every load writes a table of its own (a segment, see ``plan/versions.py``), never into
one a reader may see. A database table with a cursor reads the rows past the previous
segment's high-water mark; without a cursor, and for APIs, the whole table is read. A
stream's micro-batches are committed into the segment one by one, each recorded in the
source's log before its messages are acknowledged, so a crash loses nothing and a
message delivered twice is kept once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from headgate.engines.base import EngineSession, quote

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.project.loader import SourceTable


@dataclass
class LoadedSegment:
    rows: int
    cursor: dict[str, Any] | None = None  # the high-water mark after this load, encoded
    detail: dict[str, Any] = field(default_factory=dict)


def load_segment(
    session: EngineSession,
    source: SourceTable,
    segment: str,
    *,
    after: dict[str, Any] | None,
    seen: list[str],
    root: Any,
    progress: Callable[[int], None] | None = None,
    on_commit: Callable[[], None] | None = None,
) -> LoadedSegment:
    """Load ``source`` into the new table ``segment``.

    ``after`` is the previous load's encoded cursor (None: read everything); ``seen``
    the segments a stream's redelivered messages may already be in; ``on_commit`` runs
    after each committed stream batch, before it is acknowledged; ``progress`` hears the
    rows read so far after each batch of a database or API read.
    """
    if source.kind in ("postgres", "mysql", "sqlite"):
        return _load_database(session, source, segment, after=after, root=root, progress=progress)
    if source.kind in ("nats", "redis_stream"):
        return _load_stream(session, source, segment, seen=seen, root=root, on_commit=on_commit)
    if source.kind == "http":
        from headgate.sources.http import read_endpoint

        pages = read_endpoint(
            source.source_config, source.table, project_dir=root, source_name=source.source
        )
        rows = _create(session, segment, _reporting(pages, progress))
        return LoadedSegment(rows, detail={"loaded": rows})
    raise ValueError(f"no loader for source type {source.kind}")


def _load_stream(
    session: EngineSession,
    source: SourceTable,
    segment: str,
    *,
    seen: list[str],
    root: Any,
    on_commit: Callable[[], None] | None,
) -> LoadedSegment:
    """Micro-batches until the stream is idle; each committed, logged, then acknowledged.

    A batch's rows are inserted only if their message id is in neither this segment nor
    the previous one, in the same transaction as its rejects, so a crash between commit
    and ack (the messages come again) neither loses nor doubles a row.
    """
    from headgate.sources.streams import read_stream

    loaded = rejected = batches = 0
    with read_stream(
        source.source_config, source.table, project_dir=root, source_name=source.source
    ) as read:
        for batch in read:
            try:
                with session.transaction():
                    loaded += _insert_new(session, segment, batch.table, seen)
                    rejects = batch.rejects_table()
                    if rejects.num_rows:
                        rejected += _insert_new(session, f"{segment}__rejects", rejects, [])
                if on_commit is not None:
                    on_commit()
            except BaseException:
                batch.nack()
                raise
            batch.ack()
            batches += 1
    if not session.table_exists(segment):  # an empty stream still publishes an (empty) table
        session.execute(
            f"CREATE TABLE {quote(segment)} (_message_id VARCHAR, _received_at TIMESTAMPTZ)"
        )
    detail = {"batches": batches, "loaded": loaded, "rejected": rejected}
    return LoadedSegment(loaded + rejected, detail=detail)


def _insert_new(session: EngineSession, target: str, data: pa.Table, seen: list[str]) -> int:
    """Rows whose ``_message_id`` is not in ``target`` nor ``seen``; new columns are added first."""
    staged = f"{target}__incoming"
    session.create_table_from_arrow(staged, data)
    try:
        if not session.table_exists(target):
            session.execute(
                f"CREATE TABLE {quote(target)} AS SELECT * FROM {quote(staged)} LIMIT 0"
            )
        present = {name for name, _ in session.columns_of(target)}
        for name, kind in session.columns_of(staged):
            if name not in present:
                session.execute(f"ALTER TABLE {quote(target)} ADD COLUMN {quote(name)} {kind}")
        known = " ".join(
            f"AND NOT EXISTS (SELECT 1 FROM {quote(t)} AS p WHERE p._message_id = s._message_id)"
            for t in seen
            if session.table_exists(t)
        )
        inserted = session.execute(
            f"INSERT INTO {quote(target)} BY NAME SELECT * FROM {quote(staged)} AS s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {quote(target)} AS t WHERE t._message_id = s._message_id) {known}"
        )
    finally:
        session.execute(f"DROP TABLE IF EXISTS {quote(staged)}")
    return int(inserted[0][0]) if inserted else 0


def _load_database(
    session: EngineSession,
    source: SourceTable,
    segment: str,
    *,
    after: dict[str, Any] | None,
    root: Any,
    progress: Callable[[int], None] | None,
) -> LoadedSegment:
    from headgate.sources.databases import read_table

    cursor_column = getattr(source.config, "cursor", None)
    mark_before = _decode(after) if after and cursor_column else None
    read = read_table(
        source.source_config,
        source.table,
        project_dir=root,
        cursor_after=mark_before,
        source_name=source.source,
    )
    with read:
        loaded = _create(session, segment, _reporting(read, progress), schema=read.schema)
        mark = read.max_cursor if cursor_column else None
    detail: dict[str, Any] = {"loaded": loaded}
    if cursor_column:
        detail["cursor"] = str(mark if mark is not None else mark_before)
    final = mark if mark is not None else mark_before
    return LoadedSegment(loaded, _encode(final) if final is not None else None, detail)


def _reporting(batches: Iterable[Any], progress: Callable[[int], None] | None) -> Iterable[Any]:
    """``batches`` unchanged, telling ``progress`` the rows passed on after each one."""
    if progress is None:
        return batches

    def passed_on() -> Iterator[Any]:
        rows = 0
        for batch in batches:
            yield batch
            rows += batch.num_rows
            progress(rows)

    return passed_on()


def _create(
    session: EngineSession, target: str, batches: Iterable[Any], schema: pa.Schema | None = None
) -> int:
    """A new table holding all the batches, created in one statement.

    With a known schema (a database read) the batches stream into the engine as they
    arrive; otherwise (API pages, whose columns may differ) they are combined first.
    """
    import pyarrow as pa

    if schema is not None:
        reader = pa.RecordBatchReader.from_batches(schema, iter(batches))
        return session.create_table_from_arrow(target, reader)
    collected = [
        pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b for b in batches
    ]
    table = pa.concat_tables(collected, promote_options="permissive") if collected else pa.table({})
    return session.create_table_from_arrow(target, table)


def _encode(value: Any) -> dict[str, Any]:
    """A cursor value stored with its type, so it comes back as what it was."""
    if isinstance(value, bool):
        return {"type": "str", "value": str(value)}
    if isinstance(value, int):
        return {"type": "int", "value": value}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": value}
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    return {"type": "str", "value": str(value)}


def _decode(stored: dict[str, Any]) -> Any:
    kind, value = stored.get("type"), stored.get("value")
    if kind == "int":
        return int(value)  # type: ignore[arg-type]
    if kind == "decimal":
        return Decimal(str(value))
    if kind == "float":
        return float(value)  # type: ignore[arg-type]
    if kind == "datetime":
        return datetime.fromisoformat(str(value))
    if kind == "date":
        return date.fromisoformat(str(value))
    return value
