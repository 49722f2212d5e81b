"""PostgreSQL, the team warehouse: physical tables in one schema, each environment a schema of views.

A BI tool reads the views directly. PostgreSQL's DDL is transactional, so a publish
drops and creates an environment's views in one transaction: a reader sees the old
views or the new, never a mix. A view swap needs an ACCESS EXCLUSIVE lock, which a
long query holds off; the publish waits at most ``lock_timeout_seconds`` per try (so
new readers never queue behind it for longer), rolls back and tries again with
backoff.

Connections come from psycopg 3 (``pip install 'headgate[postgres]'``), one per worker
thread. Arrow moves in and out through ``COPY`` on the same connection, so a load
inside a transaction commits or rolls back with it. Names longer than PostgreSQL's 63
bytes (``<model>__<fingerprint>__v<version>`` often is) are shortened by a hash and
carry their full name in a comment, which the catalog reads back.
"""

from __future__ import annotations

import contextlib
import io
import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.engines.base import Capabilities, Engine, EngineSession, ViewSpec, quote
from headgate.engines.pgnames import (
    NAME_COMMENT,
    fit_identifier,
    fit_names,
    full_name_comment,
    full_names,
    literal,
)
from headgate.engines.sessions import ThreadSessions
from headgate.errors import EngineError, HeadgateError

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.project.config import PostgresEngineConfig

CAPABILITIES = Capabilities(
    dialect="postgres",
    transactional_ddl=True,
    concurrent_writes=True,
    reads_files=False,
    replace_view_with_new_columns=False,
    replace_table=False,
    union_by_name=False,
    merge=True,
    max_identifier_length=63,
)

LOCK_NOT_AVAILABLE = "55P03"
VIEW_COLUMNS_CHANGED = {"42P16", "42804"}  # cannot drop/rename a view's column, or change its type
ALREADY_EXISTS = {"42P06", "23505"}  # a schema another session just created


class PostgresError(EngineError):
    """A statement PostgreSQL refused; ``sqlstate`` says why (``55P03``: a lock was not granted)."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _error(exc: Exception) -> PostgresError:
    return PostgresError(full_names(str(exc).strip()), getattr(exc, "sqlstate", None))


def sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None)


class PostgresSession(EngineSession):
    capabilities = CAPABILITIES

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    # --- statements -------------------------------------------------------------------

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        fitted = fit_names(sql)
        named = full_name_comment(sql, fitted)
        if named is None:
            return self._run(fitted)
        with self.transaction():
            rows = self._run(fitted)
            self._run(named)
        return rows

    def _run(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            with self.connection.cursor() as cursor:
                cursor.execute(sql)
                if cursor.description is not None:
                    return list(cursor.fetchall())
                status = (cursor.statusmessage or "").split(" ", 1)[0]
                if status in ("INSERT", "UPDATE", "DELETE", "MERGE", "COPY"):
                    return [(cursor.rowcount,)]
                return []
        except psycopg.Error as exc:
            raise _error(exc) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction; nested ones are savepoints, rolled back alone."""
        import psycopg

        try:
            with self.connection.transaction():
                yield
        except psycopg.Error as exc:  # raised by COMMIT itself
            raise _error(exc) from exc

    # --- Arrow in and out -------------------------------------------------------------

    def arrow(self, sql: str) -> pa.Table:
        """A query's rows as Arrow, through COPY (typed by the query's own columns)."""
        import psycopg

        from headgate.engines.pgarrow import arrow_schema, read_copy

        fitted = fit_names(sql)
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(f"SELECT * FROM ({fitted}) AS headgate_q LIMIT 0")
                schema = arrow_schema(cursor.description)
                buffer = io.BytesIO()
                with cursor.copy(f"COPY ({fitted}) TO STDOUT WITH (FORMAT csv)") as copy:
                    for chunk in copy:
                        buffer.write(chunk)
        except psycopg.errors.SyntaxError:
            return self._arrow_from_rows(fitted)  # a statement that is not a query (SHOW ...)
        except psycopg.Error as exc:
            raise _error(exc) from exc
        return read_copy(buffer.getvalue(), schema)

    def _arrow_from_rows(self, sql: str) -> pa.Table:
        import psycopg
        import pyarrow as pa

        try:
            with self.connection.cursor() as cursor:
                cursor.execute(sql)
                names = [c.name for c in cursor.description or []]
                rows = cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            raise _error(exc) from exc
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})

    def create_table_from_arrow(self, target: str, data: pa.Table | pa.RecordBatchReader) -> int:
        """A table from Arrow data, replacing one of that name, in one transaction."""
        from headgate.engines.pgarrow import column_definitions

        with self.transaction():
            self.execute(f"DROP TABLE IF EXISTS {quote(target)}")
            self.execute(f"CREATE TABLE {quote(target)} ({column_definitions(data.schema)})")
            self._copy_in(target, data)
        return self.row_count(target)

    def append_arrow(self, target: str, data: pa.Table) -> int:
        """Rows appended by column name (COPY names the columns)."""
        self._copy_in(target, data)
        return int(data.num_rows)

    def _copy_in(self, target: str, data: pa.Table | pa.RecordBatchReader) -> None:
        import psycopg

        from headgate.engines.pgarrow import csv_batches

        names = ", ".join(quote(f.name) for f in data.schema)
        statement = fit_names(f"COPY {quote(target)} ({names}) FROM STDIN WITH (FORMAT csv)")
        try:
            with self.connection.cursor() as cursor, cursor.copy(statement) as copy:
                for chunk in csv_batches(data):
                    copy.write(chunk)
        except psycopg.Error as exc:
            raise _error(exc) from exc

    # --- DDL PostgreSQL spells its own way ----------------------------------------------

    def create_table_as(self, target: str, select_sql: str, *, replace: bool = False) -> int:
        """Create ``target`` in one statement; ``replace`` drops the old one in the same transaction."""
        if not replace:
            self.execute(f"CREATE TABLE {quote(target)} AS {select_sql}")
        else:
            with self.transaction():
                self.execute(f"DROP TABLE IF EXISTS {quote(target)}")
                self.execute(f"CREATE TABLE {quote(target)} AS {select_sql}")
        return self.row_count(target)

    def create_view_as(self, target: str, select_sql: str) -> None:
        """CREATE OR REPLACE VIEW, or DROP and CREATE when the columns change (one transaction)."""
        with self.transaction():
            try:
                with self.transaction():
                    self.execute(f"CREATE OR REPLACE VIEW {quote(target)} AS {select_sql}")
            except EngineError as exc:
                if sqlstate(exc) not in VIEW_COLUMNS_CHANGED:
                    raise
                self.execute(f"DROP VIEW IF EXISTS {quote(target)}")
                self.execute(f"CREATE VIEW {quote(target)} AS {select_sql}")

    # --- catalog ------------------------------------------------------------------------

    def table_exists(self, target: str) -> bool:
        rows = self.execute(f"SELECT to_regclass({literal(fit_names(quote(target)))})")
        return rows[0][0] is not None

    def columns_of(self, target: str) -> list[tuple[str, str]]:
        rows = self.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a "
            f"WHERE a.attrelid = to_regclass({literal(fit_names(quote(target)))}) "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        )
        return [(str(name), str(kind)) for name, kind in rows]

    def relations(self, schemas: set[str], kinds: str) -> set[str]:
        """Qualified full names of the relations of ``kinds`` (pg_class.relkind letters)."""
        if not schemas:
            return set()
        listed = ", ".join(literal(fit_identifier(s)) for s in sorted(schemas))
        relkinds = ", ".join(literal(k) for k in kinds)
        rows = self.execute(
            "SELECT n.nspname, c.relname, d.description FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_description AS d ON d.objoid = c.oid AND d.objsubid = 0 "
            "AND d.classoid = 'pg_class'::regclass "
            f"WHERE n.nspname IN ({listed}) AND c.relkind IN ({relkinds})"
        )
        schema_names = {fit_identifier(s): s for s in schemas}
        found = set()
        for schema, name, description in rows:
            if description and str(description).startswith(NAME_COMMENT):
                name = str(description)[len(NAME_COMMENT) :]
            found.add(f"{schema_names.get(schema, schema)}.{name}")
        return found

    def interrupt(self) -> None:
        """Cancel the statement this session's connection runs now (a task's timeout); the
        statement fails, the connection stays usable."""
        with contextlib.suppress(Exception):  # nothing running, or the server gone
            self.connection.cancel_safe(timeout=10)

    def close(self) -> None:
        self.close_file_reader()
        with contextlib.suppress(Exception):
            self.connection.close()


class PostgresEngine(Engine):
    capabilities = CAPABILITIES

    def __init__(
        self, url: str, config: PostgresEngineConfig, *, read_only: bool, mask: Callable[[str], str]
    ) -> None:
        self.url = url
        self.config = config
        self.schema_prefix = config.schema_prefix
        self.read_only = read_only
        self._mask = mask
        self._sessions = ThreadSessions(self._connect)

    @classmethod
    def open(
        cls,
        config: PostgresEngineConfig,
        root: Path,
        *,
        read_only: bool = False,
        wait_seconds: float = 600.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> PostgresEngine:
        """Connect now, so an unreachable server or a missing driver is one clear error here."""
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise HeadgateError(
                "the postgres engine needs psycopg, which is not installed",
                hint="install it: pip install 'headgate[postgres]'",
            ) from None
        from headgate.sources.secrets import Secrets

        secrets = Secrets(root)
        url = secrets.resolve(config.url)
        engine = cls(url, config, read_only=read_only, mask=secrets.mask)
        engine.session()
        return engine

    @property
    def shown_url(self) -> str:
        """The URL with its password hidden: what messages show."""
        return self._mask(self.url)

    def _connect(self) -> PostgresSession:
        import psycopg

        try:
            connection = psycopg.connect(
                self.url, autocommit=True, connect_timeout=10, application_name="headgate"
            )
        except psycopg.Error as exc:
            reason = self._mask(
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise EngineError(
                f"cannot connect to the PostgreSQL warehouse at {self.shown_url}: {reason}",
                hint="check engine.url in headgate.yml, and that the server runs and accepts you",
            ) from None
        setup = "SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'"
        if self.read_only:
            setup += "; SET default_transaction_read_only = on"
        connection.execute(setup)
        return PostgresSession(connection)

    def session(self) -> PostgresSession:
        return self._sessions.get()

    def ensure_schema(self, schema: str) -> None:
        try:
            self.session().execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        except EngineError as exc:  # created by another session at the same moment
            if sqlstate(exc) not in ALREADY_EXISTS:
                raise

    def existing_tables(self, schema: str) -> set[str]:
        return self.session().relations({schema}, "rvmpf")

    def existing_views(self, schemas: set[str]) -> set[str]:
        return self.session().relations(schemas, "v")

    def publish_views(
        self, views: Sequence[ViewSpec], drops: Sequence[str], *, publish_id: int | None = None
    ) -> None:
        """Swap the views in one transaction, waiting for readers' locks a bounded time per try.

        A view swap takes an ACCESS EXCLUSIVE lock. A query holding the view makes the
        swap wait, and new readers queue behind the waiting swap; ``lock_timeout`` caps
        that wait, then the transaction is rolled back (readers go on undisturbed) and
        tried again after a growing pause.
        """
        session = self.session()
        for schema in sorted({v.view.rsplit(".", 1)[0] for v in views}):
            self.ensure_schema(schema)
        if publish_id is not None:
            self._ensure_ledger()
        timeout_ms = max(int(self.config.lock_timeout_seconds * 1000), 1)
        attempts = self.config.publish_attempts
        for attempt in range(1, attempts + 1):
            try:
                with session.transaction():
                    session.execute(f"SET LOCAL lock_timeout = {timeout_ms}")
                    for name in drops:
                        session.execute(f"DROP VIEW IF EXISTS {quote(name)}")
                    for spec in views:
                        session.create_view_as(spec.view, f"SELECT * FROM {quote(spec.target)}")
                    if publish_id is not None:
                        session.execute(
                            f"INSERT INTO {quote(self.ledger)} VALUES ({int(publish_id)})"
                        )
                return
            except EngineError as exc:
                if sqlstate(exc) != LOCK_NOT_AVAILABLE:
                    raise
                if attempt == attempts:
                    raise EngineError(
                        f"publish gave up after {attempts} tries: queries reading the views held "
                        f"them longer than {self.config.lock_timeout_seconds:g} s each time "
                        f"({exc})",
                        hint="readers saw the previous views throughout; run again when the long "
                        "queries end, or raise engine.lock_timeout_seconds or publish_attempts",
                    ) from None
                time.sleep(min(0.1 * 2**attempt, 1.0) * (0.5 + random.random()))

    def storage_bytes(self) -> int:
        rows = self.session().execute("SELECT pg_database_size(current_database())")
        return int(rows[0][0])

    def close(self) -> None:
        self._sessions.close()
