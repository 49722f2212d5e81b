"""Connecting to the metadata store: URL resolution, engine set-up and transactions.

SQLite is the default and is shared between processes (a run, the server, a second CLI),
so it runs in WAL mode with a long busy timeout. Python's sqlite3 module starts
transactions lazily and not before DDL; the store takes over ``BEGIN`` itself so that
migrations are atomic and read-modify-write transactions take the write lock up front
(``BEGIN IMMEDIATE``) instead of failing when another process wrote in between.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError, StatementError
from sqlalchemy.sql.dml import Insert

from headgate.errors import StateError

ENV_URL = "HEADGATE_STATE_URL"
DEFAULT_PATH = Path(".headgate") / "state.db"
BUSY_TIMEOUT_SECONDS = 30
_IMMEDIATE = "headgate_immediate"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")


def resolve_url(url: str | None, project_dir: Path) -> str:
    """The URL to open: the argument, else ``HEADGATE_STATE_URL``, else the project's SQLite file.

    A bare ``postgresql://`` (or ``postgres://``) URL gets the psycopg 3 driver, the one
    headgate installs, instead of SQLAlchemy's default psycopg2.
    """
    chosen = url or os.environ.get(ENV_URL) or ""
    if not chosen:
        path = (project_dir / DEFAULT_PATH).resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the metadata store folder {path.parent}: {exc}"
            ) from exc
        return f"sqlite:///{path}"
    for prefix in ("postgresql://", "postgres://"):
        if chosen.startswith(prefix):
            return "postgresql+psycopg://" + chosen[len(prefix) :]
    return chosen


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``, safe to print and to log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _PASSWORD_IN_URL.sub(r"\1***@", url)


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except ArgumentError:
        return None


class Database:
    """An engine plus the few dialect differences the store's queries need."""

    def __init__(self, url: str, schema: str | None) -> None:
        self.display_url = mask_url(url)
        self._secret = _password(url)
        self.engine = self._create_engine(url)
        self.dialect = self.engine.dialect.name
        self.schema = schema if self.dialect == "postgresql" else None
        if self.schema is not None:
            if not _SCHEMA_NAME.match(self.schema):
                raise StateError(f"invalid metadata store schema name {self.schema!r}")
            self.engine = self.engine.execution_options(schema_translate_map={None: self.schema})

    def _create_engine(self, url: str) -> Engine:
        try:
            parsed = make_url(url)
            if parsed.get_backend_name() == "sqlite":
                return _sqlite_engine(url)
            if parsed.get_backend_name() == "postgresql":
                return create_engine(url, connect_args={"connect_timeout": 10})
            return create_engine(url)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise StateError(
                f"cannot use {mask_url(url)} as the metadata store: {exc}",
                hint="use sqlite:///path/state.db or postgresql://user@host:5432/db",
            ) from exc

    def failure(self, action: str, exc: BaseException) -> StateError:
        """A StateError for ``exc`` that names the store and never shows its password."""
        # The driver's own message: SQLAlchemy's wrapper would add the SQL and its parameters.
        orig = exc.orig if isinstance(exc, StatementError) else None
        reason = str(orig) if orig is not None else str(exc)
        if self._secret:
            reason = reason.replace(self._secret, "***")
        failed = StateError(f"metadata store {self.display_url}: {action} failed: {reason.strip()}")
        # a deadlock or a serialization failure: the same transaction succeeds if tried again
        failed.transient = getattr(orig, "sqlstate", None) in ("40P01", "40001")
        return failed

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for queries; nothing it does is kept."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self.failure("reading", exc) from exc

    @contextmanager
    def write(self, action: str = "writing") -> Iterator[Connection]:
        """One transaction, committed when the block ends and rolled back if it raises."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{_IMMEDIATE: True})
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise self.failure(action, exc) from exc

    def serialize(self, conn: Connection, key: str) -> None:
        """Hold a lock on ``key`` until the transaction ends (other writers of it wait).

        SQLite transactions from :meth:`write` already hold the database's write lock; on
        PostgreSQL a transaction-scoped advisory lock serializes writers of one key only.
        """
        if self.dialect != "postgresql":
            return
        digest = hashlib.blake2b(f"{self.schema}:{key}".encode(), digest_size=8).digest()
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:key)"),
            {"key": int.from_bytes(digest, "big", signed=True)},
        )

    def insert(self, table: Table) -> Insert:
        """An INSERT with ``ON CONFLICT`` support for this store's dialect."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        if self.dialect == "sqlite":
            return sqlite.insert(table)
        raise StateError(f"the metadata store supports SQLite and PostgreSQL, not {self.dialect}")

    def upsert(
        self,
        conn: Connection,
        table: Table,
        keys: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        *,
        keep: Sequence[str] = (),
    ) -> None:
        """Insert ``rows``, updating the row where ``keys`` match (except the ``keep`` columns)."""
        if not rows:
            return
        stmt: Any = self.insert(table)
        fixed = set(keys) | set(keep)
        updated = {name: stmt.excluded[name] for name in rows[0] if name not in fixed}
        conn.execute(
            stmt.on_conflict_do_update(index_elements=list(keys), set_=updated), list(rows)
        )

    def insert_if_absent(self, conn: Connection, table: Table, row: Mapping[str, Any]) -> bool:
        """Insert ``row`` unless its primary key exists; whether it was inserted."""
        stmt: Any = self.insert(table)
        key = next(iter(table.primary_key.columns))
        # RETURNING, not rowcount: drivers need not report a row count for INSERT.
        inserted = conn.execute(stmt.on_conflict_do_nothing().returning(key), row)
        return inserted.first() is not None

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: the "begin" hook below issues BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
