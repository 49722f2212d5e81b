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
import heapq
import itertools
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from headgate.errors import EngineError, HeadgateError

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.engines.base import Engine, EngineSession

# rows per streamed Arrow batch: smaller ones stay in the CPU's caches while they are sent
BATCH_ROWS = 131_072
WRITER_NICENESS = 10  # how much lower the writer lane's CPU priority is than the readers'


def yield_to_readers() -> None:
    """Lower the calling thread's CPU priority, and that of the threads it starts from now
    on (a run's workers): when the writer lane and readers want the cores at once, the
    readers go first; alone, the writer still has every core.

    Linux gives each thread its own niceness; elsewhere this does nothing.
    """
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + WRITER_NICENESS))


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
        self._watched = timeout is not None
        if timeout is not None:
            WATCHDOG.watch(self, timeout)

    def interrupt(self) -> None:
        with contextlib.suppress(Exception):
            self.cursor.interrupt()

    def close(self) -> None:
        if self._watched:
            WATCHDOG.forget(self)
        with contextlib.suppress(Exception):
            self.cursor.close()


class Watchdog:
    """One thread that interrupts every query past its timeout.

    A thread per query (``threading.Timer``) cost each query a thread's start, which waits
    for the new thread to take the GIL: milliseconds when the writer lane's Python work
    holds it, paid by every reader.
    """

    def __init__(self) -> None:
        self._due: list[tuple[float, int, QueryCursor]] = []  # a heap, soonest first
        self._watched: set[int] = set()  # ids of the cursors still watched
        self._ticket = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, cursor: QueryCursor, timeout: float) -> None:
        with self._changed:
            heapq.heappush(self._due, (time.monotonic() + timeout, next(self._ticket), cursor))
            self._watched.add(id(cursor))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._interrupt_late, name="headgate-query-timeouts", daemon=True
                )
                self._thread.start()
            elif self._due[0][2] is cursor:  # sooner than what the thread sleeps until
                self._changed.notify()

    def forget(self, cursor: QueryCursor) -> None:
        with self._changed:
            self._watched.discard(id(cursor))
            if len(self._due) > 2 * len(self._watched) + 64:  # mostly closed: keep the heap small
                self._due = [entry for entry in self._due if id(entry[2]) in self._watched]
                heapq.heapify(self._due)

    def _interrupt_late(self) -> None:
        while True:
            with self._changed:
                late = self._take_late()
                if not late:
                    wait = self._due[0][0] - time.monotonic() if self._due else 60.0
                    self._changed.wait(max(wait, 0.0))
                    continue
            for cursor in late:
                cursor.interrupt()

    def _take_late(self) -> list[QueryCursor]:
        """The watched cursors whose time is up; closed ones are dropped on the way."""
        now, late = time.monotonic(), []
        while self._due and (self._due[0][0] <= now or id(self._due[0][2]) not in self._watched):
            _, _, cursor = heapq.heappop(self._due)
            if id(cursor) in self._watched:
                self._watched.discard(id(cursor))
                late.append(cursor)
        return late


WATCHDOG = Watchdog()


def query_cursor(engine: Engine, timeout: float | None) -> QueryCursor | None:
    """A fresh cursor of the held DuckDB connection (None for another engine)."""
    connection = getattr(engine, "connection", None)
    cursor = getattr(connection, "cursor", None)
    if cursor is None or getattr(engine.capabilities, "dialect", "") != "duckdb":
        return None
    return QueryCursor(cursor(), timeout)


def record_batches(
    engine: Engine,
    sql: str,
    *,
    timeout: float | None = None,
    batch_rows: int = BATCH_ROWS,
    ahead: int = 0,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch], QueryCursor | ReadAhead | None]:
    """The query's schema and its rows batch by batch, read as they are asked for; the
    query is stopped after ``timeout`` seconds. With ``ahead``, a thread of its own reads
    up to that many batches ahead of the caller, so DuckDB computes the next batches
    while the caller sends the last one.

    The caller closes the returned handle (or lets the iterator end, which closes it).
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
                except (duckdb.Error, pa.ArrowException, OSError) as exc:  # DuckDB via Arrow
                    raise _engine_error(exc) from exc
                yield batch
        finally:
            handle.close()

    if ahead > 0:
        prefetched = ReadAhead(batches(), ahead, handle)
        return reader.schema, iter(prefetched), prefetched
    return reader.schema, batches(), handle


_END = object()


class ReadAhead:
    """Batches read by a thread of their own, up to ``depth`` ahead of whoever sends them.

    The thread that reads the cursor is the one that closes it; ``close`` (the caller
    stopped early: a client gone, an error) interrupts the query and lets that thread
    end.
    """

    def __init__(self, batches: Iterator[pa.RecordBatch], depth: int, cursor: QueryCursor) -> None:
        self._slots: queue.Queue[Any] = queue.Queue(depth)
        self._quit = threading.Event()
        self._done = False
        self._cursor = cursor
        self._thread = threading.Thread(
            target=self._produce, args=(batches,), name="headgate-read-ahead", daemon=True
        )
        self._thread.start()

    def _produce(self, batches: Iterator[pa.RecordBatch]) -> None:
        try:
            for batch in batches:
                if not self._put(batch):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the reader, raised there
            self._put(exc)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # the generator's own clean-up closes the cursor, in this thread

    def _put(self, item: Any) -> bool:
        while not self._quit.is_set():
            try:
                self._slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            while True:
                item = self._slots.get()
                if item is _END:
                    self._done = True
                    return
                if isinstance(item, BaseException):
                    self._done = True
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading; the query is interrupted unless it was read to its end."""
        if self._quit.is_set():
            return
        self._quit.set()
        if not self._done:
            self._cursor.interrupt()


SMALL_PIECE = 65_536  # pieces of a message below this are sent together, copied once


class ArrowParts:
    """An Arrow IPC stream as the pieces Arrow's stream writer hands over: each column's
    buffers as they are (no copy: the HTTP server's framing is the one copy made), the
    small pieces between them (message headers, padding, short buffers) joined.

    Dictionaries (DuckDB's ENUM) are written before the batches that use them, as the
    stream writer does for any sink. It writes to this object as to a file.
    """

    closed = False

    def __init__(self, schema: pa.Schema) -> None:
        import pyarrow as pa

        self._pieces: list[Any] = []
        self._writer = pa.ipc.new_stream(self, schema)

    def batch(self, batch: pa.RecordBatch) -> list[bytes | memoryview]:
        """The pieces of one batch's message (and of the schema's, first)."""
        self._writer.write_batch(batch)
        return self._take()

    def end(self) -> list[bytes | memoryview]:
        """The last pieces: the schema's when no batch came, then the end-of-stream mark."""
        self._writer.close()
        return self._take()

    def write(self, data: Any) -> int:
        self._pieces.append(data)
        return memoryview(data).nbytes

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def _take(self) -> list[bytes | memoryview]:
        taken: list[bytes | memoryview] = []
        small: list[Any] = []
        for piece in self._pieces:
            view = memoryview(piece)
            if view.nbytes < SMALL_PIECE:
                small.append(view)
                continue
            if small:
                taken.append(b"".join(small))
                small = []
            taken.append(view)
        if small:
            taken.append(b"".join(small))
        self._pieces = []
        return taken


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
