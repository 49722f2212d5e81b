"""Reads outside a transaction, for the hub's hottest paths (a request's token, a task's
context): on PostgreSQL a connection in autocommit sends no BEGIN before its query and
no ROLLBACK when it goes back to the pool, two round trips fewer per read. Each statement
sees what was committed before it began, as in a read-committed transaction; nothing
read this way is locked. Elsewhere, :meth:`Database.read`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from headgate.state.database import Database


@contextmanager
def quick_read(db: Database) -> Iterator[Connection]:
    """A connection for queries only (see the module)."""
    if not isinstance(db, Database) or db.dialect != "postgresql":  # or one connection's
        with db.read() as conn:
            yield conn
        return
    try:
        with db.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
    except SQLAlchemyError as exc:
        raise db.failure("reading", exc) from exc
