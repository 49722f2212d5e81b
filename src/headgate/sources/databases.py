"""Database sources (PostgreSQL, MySQL/MariaDB, SQLite): a table or a query, read as Arrow.

A source file such as ``sources/shop_db.yml``::

    type: postgres
    url: ${secret:SHOP_DB_URL}
    tables:
      customers: {table: public.customers, cursor: updated_at}
      big_spenders: {query: "select * from public.customers where lifetime_value > 1000"}
      orders: {table: public.orders, cursor: id, batch_rows: 200000}

Rows move as Arrow batches from a columnar driver (ADBC's COPY for PostgreSQL, ADBC for
SQLite, connectorx for MySQL), never row by row through Python objects, and in batches,
so a table larger than memory streams through. An incremental read filters
``cursor > last value`` in the database; the read reports the new high-water mark once
every batch has been consumed, and the caller stores it only after its load committed,
so a failed load reads the same rows again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from headgate.project.config import StrictModel
from headgate.sources.errors import SourceError
from headgate.sources.extras import require_drivers
from headgate.sources.secrets import Secrets

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.sources.drivers import Column, Driver

DEFAULT_BATCH_ROWS = 245_760  # the largest batch passed on (a multiple of DuckDB's row group)


class DatabaseTableConfig(StrictModel):
    """One table of a database source: a table or a query, optionally incremental by ``cursor``."""

    table: str | None = Field(default=None, description="schema.table (or table) to read whole")
    query: str | None = Field(default=None, description="one SELECT statement")
    cursor: str | None = Field(
        default=None, description="column whose growing values mark new rows (id, updated_at)"
    )
    batch_rows: int | None = Field(
        default=None, ge=1, description="at most this many rows per Arrow batch"
    )
    description: str | None = None

    @model_validator(mode="after")
    def _table_or_query(self) -> DatabaseTableConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        if self.table is not None and not self.table.strip():
            raise ValueError("'table' is empty")
        if self.query is not None and not self.query.strip().rstrip(";").strip():
            raise ValueError("'query' is empty")
        return self

    def source_sql(self, driver: Driver) -> str:
        if self.table is not None:
            return driver.table_sql(self.table.strip())
        return (self.query or "").strip().rstrip(";").strip()


class DatabaseSourceConfig(StrictModel):
    url: str = Field(description="connection URL; write ${secret:NAME}, never a password")
    description: str | None = None
    tables: dict[str, DatabaseTableConfig]


class PostgresSourceConfig(DatabaseSourceConfig):
    """``type: postgres``: ``url`` is a libpq URL (``postgresql://user@host:5432/db``)."""

    type: Literal["postgres"]


class MySQLSourceConfig(DatabaseSourceConfig):
    """``type: mysql`` (MySQL or MariaDB): ``url`` is ``mysql://user:password@host:3306/db``."""

    type: Literal["mysql"]


class SQLiteSourceConfig(DatabaseSourceConfig):
    """``type: sqlite``: ``url`` is a file path relative to the project, or ``sqlite:///abs/path``."""

    type: Literal["sqlite"]


DatabaseConfig = PostgresSourceConfig | MySQLSourceConfig | SQLiteSourceConfig


class DatabaseRead:
    """One read of one table: its Arrow schema now, its batches when iterated, then ``max_cursor``.

    The query is already running when this object exists (so ``schema`` is the real
    one, zero rows or not). Iterate it once; the connection closes when the last batch
    is read, when iteration stops early and the read is closed, or on ``with`` exit.
    """

    def __init__(
        self,
        driver: Driver,
        columns: list[Column],
        batches: Iterator[pa.RecordBatch],
        delivered: pa.Schema,
        cursor: str | None,
        batch_rows: int,
    ) -> None:
        import pyarrow as pa

        from headgate.sources.drivers import is_arrow_ordered

        self._driver = driver
        self._columns = columns
        self._batches = batches
        self._batch_rows = batch_rows
        self.cursor = cursor
        fields = []
        for column, field in zip(columns, delivered, strict=True):
            fields.append(pa.field(column.name, column.target or _plain_type(field.type)))
        self.schema: pa.Schema = pa.schema(fields)
        self._cursor_index = [c.name for c in columns].index(cursor) if cursor else -1
        self._cursor_by_max = cursor is not None and (
            columns[self._cursor_index].arrow_ordered
            or is_arrow_ordered(self.schema.field(self._cursor_index).type)
        )
        self._started = False
        self._finished = False
        self._max_cursor: Any = None
        self.rows = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self._started:
            raise RuntimeError("a DatabaseRead can be iterated once")
        self._started = True
        return self._read()

    @property
    def max_cursor(self) -> Any:
        """The cursor's highest value among the rows read (None without a cursor or rows)."""
        if self.cursor is not None and not self._finished:
            raise RuntimeError("max_cursor is known once every batch has been read")
        return self._max_cursor

    def close(self) -> None:
        self._driver.close()

    def __enter__(self) -> DatabaseRead:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _read(self) -> Iterator[pa.RecordBatch]:
        """The driver's batches as they come, sliced (never copied) to ``batch_rows`` at most.

        Gathering small batches into bigger ones would copy every row once more; DuckDB
        fills its row groups from a stream of any batch size, so it is not done.
        """
        try:
            for raw in self._batches:
                if raw.num_rows == 0:
                    continue
                batch = self._conform(raw)
                self._advance_cursor(batch)
                self.rows += batch.num_rows
                for start in range(0, batch.num_rows, self._batch_rows):
                    yield batch.slice(start, self._batch_rows)
            self._finished = True
        finally:
            self._driver.close()

    def _conform(self, raw: pa.RecordBatch) -> pa.RecordBatch:
        import pyarrow as pa
        import pyarrow.compute as pc

        arrays = []
        for column, field, array in zip(self._columns, self.schema, raw.columns, strict=True):
            try:
                if column.convert is not None:
                    array = column.convert(array)
                if array.type != field.type:
                    if isinstance(array.type, pa.ExtensionType) and not isinstance(
                        field.type, pa.ExtensionType
                    ):
                        array = array.storage
                    if array.type != field.type:
                        array = pc.cast(array, field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise SourceError(
                    self._driver.secrets.mask(
                        f"{self._driver.place.label}: column {column.name!r} "
                        f"({column.kind or array.type}) cannot be read as {field.type}: {exc}"
                    ),
                    hint=_conversion_hint(column.name, str(exc)),
                ) from None
            arrays.append(array)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _advance_cursor(self, batch: pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        if self._cursor_index < 0:
            return
        values = batch.column(self._cursor_index)
        if self._cursor_by_max:
            candidate = pc.max(values).as_py()
            if candidate is not None and (self._max_cursor is None or candidate > self._max_cursor):
                self._max_cursor = candidate
            return
        # rows arrive ordered by the cursor in the database's own collation: the last
        # non-null value is the maximum the database itself would compute
        present = values.drop_null()
        if len(present):
            self._max_cursor = present[len(present) - 1].as_py()


def _plain_type(data_type: pa.DataType) -> pa.DataType:
    """A driver's opaque extension type (an unknown database type) as its text storage."""
    import pyarrow as pa

    if isinstance(data_type, pa.ExtensionType) and data_type.extension_name == "arrow.opaque":
        return data_type.storage_type
    return data_type


def _conversion_hint(column: str, error: str) -> str:
    lowered = error.lower()
    if "nan" in lowered or "infinity" in lowered:
        return (
            f"the column holds NaN or Infinity, which a decimal cannot: select it as "
            f"{column}::double precision (or NULLIF it) in a query"
        )
    return f"cast {column} to a simpler type in a query (query: select ..., cast({column} as ...))"


def read_table(
    config: DatabaseConfig,
    table_name: str,
    *,
    project_dir: Path,
    cursor_after: Any | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    source_name: str | None = None,
) -> DatabaseRead:
    """Start reading ``table_name`` of a database source; rows newer than ``cursor_after`` only.

    ``cursor_after`` is the ``max_cursor`` of the last committed read (None for a full
    read). A ``batch_rows`` set on the table in the source file wins over the argument.
    Errors are :class:`SourceError` (``SourceUnavailable``, transient, when the server
    cannot be reached), with every secret masked.
    """
    entry = config.tables.get(table_name)
    label = (
        f"source {source_name!r} table {table_name!r}"
        if source_name
        else f"{config.type} source table {table_name!r}"
    )
    if entry is None:
        known = ", ".join(sorted(config.tables)) or "none"
        raise SourceError(f"{label}: no such table in the source (its tables: {known})")
    if cursor_after is not None and entry.cursor is None:
        raise SourceError(
            f"{label}: a cursor value was given but the table has no 'cursor' column",
            hint="add cursor: <column> to the table in the source file, or read it whole",
        )
    require_drivers(config.type, source_name)
    secrets = Secrets(project_dir)
    try:
        driver = _open(config, secrets.resolve(config.url), secrets, label, project_dir)
    except SourceError as exc:  # a path or URL in the message may be the secret itself
        raise type(exc)(secrets.mask(exc.message), hint=exc.hint) from None
    try:
        source_sql = entry.source_sql(driver)
        columns = driver.describe(source_sql)
        _check_names(columns, label)
        where = ""
        order_by: Column | None = None
        if entry.cursor is not None:
            cursor = _cursor_column(columns, entry.cursor, label)
            if cursor_after is not None:
                literal = driver.literal(cursor_after, cursor)
                where = f"{driver.column_ref(cursor.name)} > {literal}"
            if not cursor.arrow_ordered:
                # text and other collated types: the database orders them, so the
                # last value read is the maximum in the database's own collation
                order_by = cursor
        rows = entry.batch_rows or batch_rows
        delivered, batches = driver.stream(columns, source_sql, where, order_by, rows)
        return DatabaseRead(driver, columns, batches, delivered, entry.cursor, rows)
    except BaseException:
        driver.close()
        raise


def _open(
    config: DatabaseConfig, url: str, secrets: Secrets, label: str, project_dir: Path
) -> Driver:
    if config.type == "postgres":
        from headgate.sources.postgres import PostgresDriver

        return PostgresDriver.open(url, secrets, label)
    if config.type == "mysql":
        from headgate.sources.mysql import MySQLDriver

        return MySQLDriver.open(url, secrets, label)
    from headgate.sources.sqlite import SQLiteDriver

    return SQLiteDriver.open(url, secrets, label, project_dir)


def _check_names(columns: list[Column], label: str) -> None:
    seen: set[str] = set()
    for column in columns:
        if column.name in seen:
            raise SourceError(
                f"{label}: the query returns two columns named {column.name!r}",
                hint="give each column its own name in the query (select a.id as order_id, ...)",
            )
        seen.add(column.name)


def _cursor_column(columns: list[Column], name: str, label: str) -> Column:
    for column in columns:
        if column.name == name:
            return column
    known = ", ".join(c.name for c in columns)
    raise SourceError(
        f"{label}: cursor column {name!r} is not among the columns read ({known})",
        hint="name a column the table or query returns as 'cursor'",
    )
