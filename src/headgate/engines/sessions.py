"""Each worker thread's own engine session: made on the thread's first call, all closed together.

Every engine hands a thread one session (a DuckDB cursor, a PostgreSQL connection, a
tagged view of the SparkSession) and closes them all when the engine closes; this is
that bookkeeping, once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from headgate.engines.base import EngineSession

S = TypeVar("S", bound=EngineSession)


class ThreadSessions(Generic[S]):
    """The sessions of one engine, one per calling thread."""

    def __init__(self, make: Callable[[], S]) -> None:
        self._make = make
        self._local = threading.local()
        self._sessions: list[S] = []
        self._guard = threading.Lock()

    def get(self) -> S:
        """The calling thread's session, made (one thread at a time) on its first call."""
        session: S | None = getattr(self._local, "session", None)
        if session is None:
            with self._guard:
                session = self._make()
                self._sessions.append(session)
            self._local.session = session
        return session

    def close(self) -> None:
        """Close every session made so far; a thread that asks again gets a new one."""
        with self._guard:
            for session in self._sessions:
                with contextlib.suppress(Exception):  # closing is best effort: a dead link is gone
                    session.close()
            self._sessions.clear()
            self._local = threading.local()
