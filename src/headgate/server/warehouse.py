"""The warehouse as the hub holds it: one engine open for the process's lifetime.

On DuckDB every reader and the writer use cursors of the one connection: a reader never
meets a lock, and a publish (one transaction) shows it the old views or the new. Engines
keep one session per thread; threads come and go (a run's workers, the server's pool),
so sessions of threads that ended are closed from time to time.

Queries from the API get a cursor of their own (not the thread's session): a streamed
result is read across several of the server's threads, and a timeout interrupts only
that query.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from headgate.errors import EngineError, HeadgateError

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.engines.base import Engine, EngineSession

BATCH_ROWS = 262_144  # rows per streamed Arrow batch


class SessionKeeper:
    """Remembers which thread each of an engine's sessions belongs to, to close the
    sessions of threads that have ended (``release_ended``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._owners: dict[int, tuple[threading.Thread, EngineSession]] = {}
        self._guard = threading.Lock()
        opened = engine.session

        def session() -> EngineSession:
            found = opened()
            ident = threading.get_ident()
            with self._guard:
                if self._owners.get(ident, (None, None))[1] is not found:
                    self._owners[ident] = (threading.current_thread(), found)
            return found

        engine.session = session  # type: ignore[method-assign]

    def release_ended(self) -> int:
        """Close the sessions of threads that have ended; how many were closed."""
        with self._guard:
            ended = [i for i, (thread, _) in self._owners.items() if not thread.is_alive()]
            gone = [self._owners.pop(i)[1] for i in ended]
        # the engine's own list of its sessions (engines/sessions.py), so it forgets them too
        holder: Any = getattr(self.engine, "_sessions", None)
        kept: list[Any] = getattr(holder, "_sessions", holder if isinstance(holder, list) else [])
        guard: Any = getattr(holder, "_guard", None) or getattr(self.engine, "_guard", None)
        with guard if guard is not None else contextlib.nullcontext():
            for session in gone:
                if session in kept:
                    kept.remove(session)
        for session in gone:
            with contextlib.suppress(Exception):
                session.close()
        return len(gone)

    def interrupt_threads(self, prefix: str) -> int:
        """Interrupt the running query of every live thread whose name starts with ``prefix``."""
        with self._guard:
            chosen = [
                session
                for thread, session in self._owners.values()
                if thread.is_alive() and thread.name.startswith(prefix)
            ]
        for session in chosen:
            with contextlib.suppress(Exception):
                session.interrupt()
        return len(chosen)


class QueryCursor:
    """A cursor for one query, stopped by its timeout from another thread."""

    def __init__(self, cursor: Any, timeout: float | None) -> None:
        self.cursor = cursor
        self._timer: threading.Timer | None = None
        if timeout is not None:
            self._timer = threading.Timer(timeout, self.interrupt)
            self._timer.daemon = True
            self._timer.start()

    def interrupt(self) -> None:
        with contextlib.suppress(Exception):
            self.cursor.interrupt()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with contextlib.suppress(Exception):
            self.cursor.close()


def query_cursor(engine: Engine, timeout: float | None) -> QueryCursor | None:
    """A fresh cursor of the held DuckDB connection (None for another engine)."""
    connection = getattr(engine, "connection", None)
    cursor = getattr(connection, "cursor", None)
    if cursor is None or getattr(engine.capabilities, "dialect", "") != "duckdb":
        return None
    return QueryCursor(cursor(), timeout)


def record_batches(
    engine: Engine, sql: str, *, timeout: float | None = None, batch_rows: int = BATCH_ROWS
) -> tuple[pa.Schema, Iterator[pa.RecordBatch], QueryCursor | None]:
    """The query's schema and its rows batch by batch, read as they are asked for; the
    query is stopped after ``timeout`` seconds.

    The caller closes the returned cursor (or lets the iterator end, which closes it).
    """
    import duckdb
    import pyarrow as pa

    handle = query_cursor(engine, timeout)
    if handle is None:  # another engine: the session's Arrow, whole
        table = engine.session().arrow(sql)
        return table.schema, iter(table.to_batches(max_chunksize=batch_rows)), None
    try:
        relation = handle.cursor.sql(sql)
        if relation is None:  # a statement without rows
            handle.close()
            return pa.schema([]), iter(()), None
        reader = relation.to_arrow_reader(batch_rows)
    except duckdb.Error as exc:
        handle.close()
        raise _engine_error(exc) from exc
    except BaseException:
        handle.close()
        raise

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except (duckdb.Error, pa.ArrowException) as exc:
                    raise _engine_error(exc) from exc
                yield batch
        finally:
            handle.close()

    return reader.schema, batches(), handle


def _engine_error(exc: BaseException) -> HeadgateError:
    text = str(exc).strip()
    if "INTERRUPT" in text.upper():
        return QueryTimeout("the query was stopped: it ran longer than its timeout")
    return EngineError(text)


class QueryTimeout(HeadgateError):
    """A query ran longer than the timeout it was given."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message, hint="narrow it (a filter, fewer columns) or give a longer timeout"
        )
