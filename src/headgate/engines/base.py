"""The engine interface: what headgate asks of a warehouse, and nothing more.

Operations are written once here in portable SQL (generated through sqlglot where
a dialect differs); an engine subclass supplies connections, Arrow transfer and
its capability flags. Dialect differences are data (``Capabilities``), not
branches spread through the domain.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from headgate.errors import EngineError

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Capabilities:
    """What differs between engines, as data: the domain reads these instead of asking which engine."""

    dialect: str  # sqlglot's name for the SQL the engine runs
    transactional_ddl: bool  # CREATE/DROP inside a transaction, rolled back together
    concurrent_writes: bool  # several sessions may write different tables at once
    reads_files: bool  # the engine itself reads CSV/Parquet/JSON files
    identifier_quote: str = '"'
    replace_view_with_new_columns: bool = True  # CREATE OR REPLACE VIEW may change the columns
    replace_table: bool = True  # CREATE OR REPLACE TABLE exists
    union_by_name: bool = True  # UNION ALL BY NAME and INSERT ... BY NAME exist
    merge: bool = False  # MERGE INTO exists
    loads_files: bool = (
        False  # reads CSV/Parquet/JSON with its own readers (EngineSession.load_file)
    )
    max_identifier_length: int | None = None  # longer names are shortened by the engine
    # other processes (a hub's agents) may build into the warehouse while one holds it open
    shared_by_processes: bool = True


@dataclass(frozen=True)
class FileScan:
    """One file for an engine that reads files with its own readers (``loads_files``).

    Types are the contract's, spelt as headgate pins them (DuckDB's names); rejected
    records are reported as a DuckDB load reports them: the same file has the same
    rejects, counts and reasons on every engine.
    """

    path: Path
    relative: str  # how rejects name the file: relative to the project
    format: str  # csv, tsv, parquet, json or ndjson
    columns: dict[str, str]  # the file's own columns, in its order, typed by the contract
    table_columns: dict[
        str, str
    ]  # the table's columns: the contract (a column the file lacks is NULL)
    header: bool = True
    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    encoding: str | None = None
    quarantine: str | None = None  # set the whole file aside, each line a reject with this reason


REJECT_FIELDS = ("file", "line", "column_name", "reason", "raw_record", "rejected_at")

LEDGER = "headgate_meta.publishes"  # publish ids, written with the views they swapped


def quote(qualified: str) -> str:
    """``a.b`` -> ``"a"."b"`` (each part quoted; names are headgate-made, never user SQL)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in qualified.split("."))


def table_expression(qualified: str) -> exp.Table:
    parts = qualified.split(".")
    return exp.table_(parts[-1], db=parts[-2] if len(parts) > 1 else None, quoted=True)


def literal_time(value: datetime) -> str:
    return f"TIMESTAMP '{value.replace(tzinfo=None).isoformat(sep=' ')}'"


class EngineSession(ABC):
    """One connection's worth of work; each worker thread has its own."""

    capabilities: Capabilities

    @abstractmethod
    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement: its rows; for INSERT, UPDATE and DELETE one row holding the count."""

    _local_reader: EngineSession | None = None

    def file_reader(self) -> EngineSession:
        """A session that reads CSV, Parquet and JSON files with SQL (``read_csv(...)``).

        An engine that reads files itself answers with this very session; another one
        with a local in-memory DuckDB whose tables :meth:`copy_from` then brings in.
        """
        if self.capabilities.reads_files:
            return self
        if self._local_reader is None:
            import duckdb

            from headgate.engines.duckdb import DuckDBSession

            self._local_reader = DuckDBSession(duckdb.connect(":memory:"))
        return self._local_reader

    def close_file_reader(self) -> None:
        """Close the local reader :meth:`file_reader` opened, if any."""
        if self._local_reader is not None:
            self._local_reader.close()
            self._local_reader = None

    def load_file(self, scan: FileScan, target: str, rejects: str) -> tuple[int, int]:
        """Read one file with the engine's own reader into ``target`` (replaced), its rejected
        records into ``rejects`` (columns :data:`REJECT_FIELDS`): rows (loaded, rejected).

        Only an engine whose capabilities say ``loads_files`` is asked.
        """
        raise EngineError(
            f"the {self.capabilities.dialect} engine reads no files itself: "
            f"{scan.relative} is read through file_reader()"
        )

    def union_all_by_name(self, tables: Sequence[str]) -> str:
        """A SELECT of every row of ``tables``, columns matched by name (NULL where one lacks it)."""
        if self.capabilities.union_by_name:
            return " UNION ALL BY NAME ".join(f"SELECT * FROM {quote(t)}" for t in tables)
        described = [(t, self.columns_of(t)) for t in tables]
        union: dict[str, str] = {}
        for _, columns in described:
            for name, kind in columns:
                union.setdefault(name, kind)
        selects = []
        for table, columns in described:
            have = {name for name, _ in columns}
            items = [
                quote(name) if name in have else f"CAST(NULL AS {kind}) AS {quote(name)}"
                for name, kind in union.items()
            ]
            selects.append(f"SELECT {', '.join(items)} FROM {quote(table)}")
        return " UNION ALL ".join(selects)

    def copy_from(self, reader: EngineSession, table: str) -> int:
        """Bring ``table`` from ``reader`` (see :meth:`file_reader`) into this session's warehouse."""
        if reader is self:
            return self.row_count(table)
        schema = table.rpartition(".")[0]
        if schema:
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        return self.create_table_from_arrow(table, reader.arrow(f"SELECT * FROM {quote(table)}"))

    @abstractmethod
    def arrow(self, sql: str) -> pa.Table: ...

    def frame(self, sql: str) -> Any:
        """A query's rows as a Python model's ``ctx.ref`` and ``ctx.sql`` hand them over.

        Arrow here; an engine whose data should stay where it is (Spark) answers with its
        own DataFrame, which :meth:`create_table_from_arrow` also accepts back.
        """
        return self.arrow(sql)

    def own_frame(self, value: object) -> bool:
        """Whether ``value`` is this engine's own DataFrame (written without Arrow)."""
        return False

    @abstractmethod
    def create_table_from_arrow(
        self, target: str, data: pa.Table | pa.RecordBatchReader
    ) -> int: ...

    def append_arrow(self, target: str, data: pa.Table) -> int:
        """Append rows to an existing table (columns matched by name).

        Portable default: stage the rows in a table of their own, then insert them;
        an engine that can scan Arrow directly overrides this.
        """
        staged = f"{target}__append_{threading.get_ident()}"
        self.create_table_from_arrow(staged, data)
        try:
            self.execute(f"INSERT INTO {quote(target)} SELECT * FROM {quote(staged)}")
        finally:
            self.execute(f"DROP TABLE IF EXISTS {quote(staged)}")
        return int(data.num_rows)

    @contextmanager
    def dense_keys(self, bits: int) -> Iterator[bool]:
        """Queries inside group by integer keys spanning at most ``2**bits`` values.

        A hint: an engine that can index groups directly by key (a "perfect" hash
        table) uses one that large and yields True; others yield False and the caller
        takes its general path. The caller only gives it when the keys are dense (about
        as many rows as values in the span), so the table's size stays proportional to
        the data.
        """
        yield False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if not self.capabilities.transactional_ddl:
            yield  # no transactions (Spark): each statement stands alone, nothing is sent
            return
        self.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def create_table_as(self, target: str, select_sql: str, *, replace: bool = False) -> int:
        """Create ``target`` from a query in one statement: it exists whole or not at all."""
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
        self.execute(f"{verb} {quote(target)} AS {select_sql}")
        return self.row_count(target)

    def create_view_as(self, target: str, select_sql: str) -> None:
        self.execute(f"CREATE OR REPLACE VIEW {quote(target)} AS {select_sql}")

    def swap_in(self, staged: str, target: str, *, view: bool = False) -> None:
        """Replace ``target`` by ``staged`` in one transaction (readers see one or the other)."""
        kind = "VIEW" if view else "TABLE"
        with self.transaction():
            self.execute(f"DROP {kind} IF EXISTS {quote(target)}")
            self.execute(
                f"ALTER {kind} {quote(staged)} RENAME TO {quote(target.rsplit('.', 1)[-1])}"
            )

    def drop_relation(self, name: str, *, view: bool = False) -> None:
        self.execute(f"DROP {'VIEW' if view else 'TABLE'} IF EXISTS {quote(name)}")

    def table_exists(self, target: str) -> bool:
        """Whether a table or view of that qualified name exists, from the engine's catalog."""
        schema, _, name = target.rpartition(".")
        rows = self.execute(
            "SELECT count(*) FROM information_schema.tables "
            f"WHERE table_schema = '{schema}' AND table_name = '{name}'"
        )
        return bool(rows[0][0])

    def columns_of(self, target: str) -> list[tuple[str, str]]:
        """(name, type) of a table's or view's columns, in order, from the engine's catalog."""
        schema, _, name = target.rpartition(".")
        rows = self.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{schema}' AND table_name = '{name}' ORDER BY ordinal_position"
        )
        return [(str(column), str(kind)) for column, kind in rows]

    def row_count(self, target: str) -> int:
        return int(self.execute(f"SELECT count(*) FROM {quote(target)}")[0][0])

    def create_empty_like(self, target: str, select_sql: str) -> None:
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {quote(target)} AS SELECT * FROM ({select_sql}) AS q LIMIT 0"
        )

    def replace_time_range(
        self,
        target: str,
        select_sql: str,
        time_column: str,
        start: datetime,
        end: datetime,
        keys: Sequence[str],
        audit: Callable[[], object] | None = None,
    ) -> tuple[int, int]:
        """Replace one time range of an incremental table in one transaction (idempotent).

        Without a unique key the range's rows are deleted and re-inserted; with one,
        rows whose key reappears in the range are replaced (a merge). ``audit`` runs
        inside the transaction, on the table with the new rows: if it raises, the
        range is rolled back and readers never saw it.
        """
        column = quote(time_column)
        in_range = f"{column} >= {literal_time(start)} AND {column} < {literal_time(end)}"
        batch = f"SELECT * FROM ({select_sql}) AS q WHERE {in_range}"
        with self.transaction():
            return self._replace_rows(target, batch, keys, in_range, audit)

    def merge_by_key(
        self,
        target: str,
        select_sql: str,
        keys: Sequence[str],
        audit: Callable[[], object] | None = None,
    ) -> tuple[int, int]:
        with self.transaction():
            return self._replace_rows(target, select_sql, keys, None, audit)

    def _replace_rows(
        self,
        target: str,
        batch_sql: str,
        keys: Sequence[str],
        range_filter: str | None,
        audit: Callable[[], object] | None,
    ) -> tuple[int, int]:
        staged = f"headgate_batch_{threading.get_ident()}"
        self.execute(f"DROP TABLE IF EXISTS {staged}")
        self.execute(f"CREATE TEMP TABLE {staged} AS {batch_sql}")
        if keys:
            key_list = ", ".join(quote(k) for k in keys)
            condition = f"({key_list}) IN (SELECT {key_list} FROM {staged})"
            if len(keys) == 1:
                condition = f"{quote(keys[0])} IN (SELECT {quote(keys[0])} FROM {staged})"
        else:
            condition = range_filter or "TRUE"
        deleted = int(self.execute(f"DELETE FROM {quote(target)} WHERE {condition}")[0][0])
        inserted = int(self.execute(f"INSERT INTO {quote(target)} SELECT * FROM {staged}")[0][0])
        self.execute(f"DROP TABLE {staged}")
        if audit is not None:
            audit()
        return deleted, inserted

    def interrupt(self) -> None:  # noqa: B027 - an engine that cannot stop a query waits
        """Stop the query this session is running, from another thread (a task's timeout)."""

    def close(self) -> None:  # noqa: B027 - sessions without resources need nothing
        pass


@dataclass(frozen=True)
class ViewSpec:
    """An environment's view: ``view`` reads everything from ``target``."""

    view: str
    target: str


class Engine(ABC):
    capabilities: Capabilities
    schema_prefix: str = ""  # before every schema headgate creates (PostgreSQL's schema_prefix)

    @property
    def ledger(self) -> str:
        return self.schema_prefix + LEDGER

    @abstractmethod
    def session(self) -> EngineSession:
        """A session for the calling thread (created on first use)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def existing_tables(self, schema: str) -> set[str]:
        """Qualified names of the tables and views in ``schema``."""

    def ensure_schema(self, schema: str) -> None:
        self.session().execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")

    def publish_views(
        self, views: Sequence[ViewSpec], drops: Sequence[str], *, publish_id: int | None = None
    ) -> None:
        """Point every view at its target, and drop others, in one transaction: readers see all or none.

        ``publish_id`` (the metadata store's deployment id) is written to the warehouse's
        publish ledger in the same transaction, so whether this publish happened can be
        read back from the warehouse itself, whatever happened to the process after it.
        """
        session = self.session()
        schemas = sorted({v.view.rsplit(".", 1)[0] for v in views})
        for schema in schemas:
            self.ensure_schema(schema)
        if publish_id is not None:
            self._ensure_ledger()
        with session.transaction():
            for name in drops:
                session.execute(f"DROP VIEW IF EXISTS {quote(name)}")
            for spec in views:
                session.execute(
                    f"CREATE OR REPLACE VIEW {quote(spec.view)} AS SELECT * FROM {quote(spec.target)}"
                )
            if publish_id is not None:
                session.execute(f"INSERT INTO {quote(self.ledger)} VALUES ({int(publish_id)})")

    def _ensure_ledger(self) -> None:
        self.ensure_schema(self.ledger.split(".")[0])
        self.session().execute(
            f"CREATE TABLE IF NOT EXISTS {quote(self.ledger)} (publish_id BIGINT NOT NULL)"
        )

    def published(self, publish_ids: Sequence[int]) -> set[int]:
        """Which of these publishes the warehouse committed (read from its publish ledger)."""
        if not publish_ids or not self.session().table_exists(self.ledger):
            return set()
        listed = ", ".join(str(int(i)) for i in publish_ids)
        rows = self.session().execute(
            f"SELECT publish_id FROM {quote(self.ledger)} WHERE publish_id IN ({listed})"
        )
        return {int(row[0]) for row in rows}

    def drop_relations(self, names: Sequence[str]) -> None:
        """Drop tables or views by qualified name, whichever each is."""
        session = self.session()
        views = self.existing_views({name.rsplit(".", 1)[0] for name in names})
        for name in names:
            session.execute(f"DROP {'VIEW' if name in views else 'TABLE'} IF EXISTS {quote(name)}")

    def existing_views(self, schemas: set[str]) -> set[str]:
        found: set[str] = set()
        for schema in schemas:
            rows = self.session().execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                f"WHERE table_type = 'VIEW' AND table_schema = '{schema}'"
            )
            found.update(f"{s}.{t}" for s, t in rows)
        return found

    def storage_bytes(self) -> int:
        """Bytes the warehouse's data occupies (0 when the engine cannot tell)."""
        return 0
