"""Loading a source table from a database, an API or a stream into its physical table.

Every load is idempotent. A database table with a cursor appends the rows past the
stored high-water mark, after deleting any rows past it (left by a load that
committed without recording its mark), and the mark advances only once the rows are
committed. Without a cursor, and for APIs, the table is replaced whole, in one
transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from headgate.engines.base import EngineSession, quote

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.project.loader import SourceTable
    from headgate.state.store import StateStore


def load_external(
    session: EngineSession,
    store: StateStore,
    source: SourceTable,
    target: str,
    *,
    fresh: bool,
    root: Any,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, bool, dict[str, Any]]:
    """Load ``source`` into ``target``; returns (rows in the table, whether it changed, detail).

    ``progress`` hears the rows read so far after each batch of a database or API read.
    """
    if source.kind in ("postgres", "mysql", "sqlite"):
        return _load_database(
            session, store, source, target, fresh=fresh, root=root, progress=progress
        )
    if source.kind in ("nats", "redis_stream"):
        return _load_stream(session, source, target, root=root)
    if source.kind == "http":
        from headgate.sources.http import read_endpoint

        pages = read_endpoint(
            source.source_config, source.table, project_dir=root, source_name=source.source
        )
        rows = _replace(session, target, _reporting(pages, progress))
        return rows, True, {"loaded": rows}
    raise ValueError(f"no loader for source type {source.kind}")


def _load_stream(
    session: EngineSession, source: SourceTable, target: str, *, root: Any
) -> tuple[int, bool, dict[str, Any]]:
    """Micro-batches until the stream is idle; each committed, then acknowledged.

    A batch's rows are inserted only if their message id is not in the table yet, in
    the same transaction as its rejects, so a crash between commit and ack (the
    messages come again) neither loses nor doubles a row.
    """
    from headgate.sources.streams import read_stream

    loaded = rejected = batches = 0
    with read_stream(
        source.source_config, source.table, project_dir=root, source_name=source.source
    ) as read:
        for batch in read:
            try:
                with session.transaction():
                    loaded += _insert_new(session, target, batch.table)
                    rejects = batch.rejects_table()
                    if rejects.num_rows:
                        rejected += _insert_new(session, f"{target}__rejects", rejects)
            except BaseException:
                batch.nack()
                raise
            batch.ack()
            batches += 1
    if not session.table_exists(target):  # an empty stream still publishes an (empty) table
        session.execute(
            f"CREATE TABLE {quote(target)} (_message_id VARCHAR, _received_at TIMESTAMPTZ)"
        )
    detail = {"batches": batches, "loaded": loaded, "rejected": rejected}
    return session.row_count(target), bool(loaded or rejected), detail


def _insert_new(session: EngineSession, target: str, data: pa.Table) -> int:
    """Rows whose ``_message_id`` the table does not hold yet; new columns are added first."""
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
        inserted = session.execute(
            f"INSERT INTO {quote(target)} BY NAME SELECT * FROM {quote(staged)} AS s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {quote(target)} AS t WHERE t._message_id = s._message_id)"
        )
    finally:
        session.execute(f"DROP TABLE IF EXISTS {quote(staged)}")
    return int(inserted[0][0]) if inserted else 0


def _load_database(
    session: EngineSession,
    store: StateStore,
    source: SourceTable,
    target: str,
    *,
    fresh: bool,
    root: Any,
    progress: Callable[[int], None] | None,
) -> tuple[int, bool, dict[str, Any]]:
    from headgate.sources.databases import read_table

    cursor_column = getattr(source.config, "cursor", None)
    stored = None if fresh or not cursor_column else store.source_cursor(target)
    after = _decode(stored) if stored else None
    read = read_table(
        source.source_config,
        source.table,
        project_dir=root,
        cursor_after=after,
        source_name=source.source,
    )
    with read:
        batches = _reporting(read, progress)
        if cursor_column is None or after is None:
            rows = _replace(session, target, batches, schema=read.schema)
            loaded = rows
        else:
            loaded = _append(session, target, batches, cursor_column, after)
            rows = session.row_count(target)
        mark = read.max_cursor if cursor_column else None
    if cursor_column and mark is not None:
        store.set_source_cursor(target, _encode(mark))
    detail: dict[str, Any] = {"loaded": loaded}
    if cursor_column:
        detail["cursor"] = str(mark if mark is not None else after)
    return rows, bool(loaded) or after is None, detail


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


def _replace(
    session: EngineSession, target: str, batches: Iterable[Any], schema: pa.Schema | None = None
) -> int:
    """Swap in a table holding all the batches, in one transaction.

    With a known schema (a database read) the batches stream into the engine as they
    arrive; otherwise (API pages, whose columns may differ) they are combined first.
    """
    import pyarrow as pa

    if schema is not None:
        reader = pa.RecordBatchReader.from_batches(schema, iter(batches))
        with session.transaction():
            return session.create_table_from_arrow(target, reader)
    collected = [
        pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b for b in batches
    ]
    if collected:
        table = pa.concat_tables(collected, promote_options="permissive")
    else:
        table = pa.table({}) if schema is None else schema.empty_table()
    with session.transaction():
        rows = session.create_table_from_arrow(target, table)
    return rows


def _append(
    session: EngineSession, target: str, batches: Iterable[Any], cursor: str, after: Any
) -> int:
    """Rows past the mark, appended in one transaction that first clears anything past it."""
    import pyarrow as pa

    loaded = 0
    with session.transaction():
        session.execute(f"DELETE FROM {quote(target)} WHERE {quote(cursor)} > {_literal(after)}")
        for batch in batches:
            table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
            if table.num_rows:
                loaded += session.append_arrow(target, table)
    return loaded


def _literal(value: Any) -> str:
    if isinstance(value, bool | int | float | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return (
            f"TIMESTAMPTZ '{value.isoformat()}'"
            if value.tzinfo
            else f"TIMESTAMP '{value.isoformat()}'"
        )
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


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
