"""SQLite through ADBC, with each column's type taken from its declaration, not its first rows.

SQLite types values, not columns, and ADBC infers a column's Arrow type from the first
batch: a column whose first batch is all NULL would become ``int64`` and then fail on
its first text value, and an empty result would be all ``int64``. So headgate reads the
declared types (SQLite's affinity rules), and puts one witness row first whose values
have those types; the witness is dropped from the first batch. Declared types map to:
INT -> int64; CHAR/CLOB/TEXT -> string; BLOB -> binary; REAL/FLOA/DOUB, NUMERIC and
DECIMAL -> float64 (SQLite stores no exact decimals); BOOL -> bool; DATE/TIME ->
string, as stored (SQLite has no date type). A column without a declared type (an
expression) keeps what ADBC infers.

The file is opened read-only, so a ``query:`` can never change it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.sources.adbc import AdbcSession
from headgate.sources.drivers import (
    Column,
    Driver,
    Place,
    numeric_literal,
    quote_double,
    temporal_text,
)
from headgate.sources.errors import SourceError
from headgate.sources.secrets import Secrets

if TYPE_CHECKING:
    import pyarrow as pa

WITNESS = "hg_witness"


class SQLiteDriver(Driver):
    database = "SQLite"

    def __init__(self, url: str, secrets: Secrets, place: Place) -> None:
        super().__init__(url, secrets, place)
        self._session: AdbcSession | None = None
        self._witnesses: list[str] = []

    @classmethod
    def open(cls, url: str, secrets: Secrets, label: str, project_dir: Path) -> SQLiteDriver:
        path = sqlite_path(url, project_dir)
        if not path.is_file():
            raise SourceError(
                f"{label}: SQLite file {path} does not exist",
                hint="the url of a sqlite source is a file path, relative to the project",
            )
        return cls(path.resolve().as_uri() + "?mode=ro", secrets, Place(label, f"SQLite {path}"))

    def quote(self, identifier: str) -> str:
        return quote_double(identifier)

    def describe(self, select_sql: str) -> list[Column]:
        import sqlite3

        try:
            connection = sqlite3.connect(self.url, uri=True)
            try:
                names = [
                    d[0]
                    for d in connection.execute(f"SELECT * FROM ({select_sql}) LIMIT 0").description
                    or []
                ]
                # a temporary view reports the declared type of each column it selects
                connection.execute(f"CREATE TEMP VIEW hg_describe AS {select_sql}")
                declared = [
                    row[2] for row in connection.execute("PRAGMA temp.table_info(hg_describe)")
                ]
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise self.fail(exc, "describing the query on", transient=_is_busy(exc)) from None
        columns = []
        self._witnesses = []
        for name, declaration in zip(names, declared, strict=True):
            column, witness = self._column(name, declaration or "")
            columns.append(column)
            self._witnesses.append(witness)
        return columns

    def _column(self, name: str, declaration: str) -> tuple[Column, str]:
        """The column and its witness value, by SQLite's affinity rules."""
        import pyarrow as pa

        decl = declaration.upper()
        ref = self.column_ref(name)
        as_real = f"CASE WHEN typeof({ref}) = 'integer' THEN CAST({ref} AS REAL) ELSE {ref} END"
        if "INT" in decl:
            return Column(name, ref, pa.int64(), True, kind=declaration), "0"
        if any(word in decl for word in ("CHAR", "CLOB", "TEXT")):
            return Column(name, ref, pa.string(), False, kind=declaration), "''"
        if "BLOB" in decl:
            return Column(name, ref, pa.binary(), False, kind=declaration), "X''"
        if not decl:
            return Column(name, ref, None, False, kind="no declared type"), "NULL"
        if any(word in decl for word in ("REAL", "FLOA", "DOUB")):
            return Column(name, as_real, pa.float64(), True, kind=declaration), "0.0"
        if "BOOL" in decl:
            return Column(name, ref, pa.bool_(), True, kind=declaration), "0"
        if "DATE" in decl or "TIME" in decl:
            return Column(name, f"CAST({ref} AS TEXT)", pa.string(), False, kind=declaration), "''"
        return Column(name, as_real, pa.float64(), True, kind=declaration), "0.0"

    def literal(self, value: Any, column: Column) -> str:
        number = numeric_literal(value)
        if number is not None:
            return number
        text = temporal_text(value)
        if text is None and isinstance(value, str):
            text = value
        if text is not None:
            return "'" + text.replace("'", "''") + "'"
        if isinstance(value, bytes):
            return f"X'{value.hex()}'"
        raise SourceError(
            f"{self.place.label}: a cursor value of type {type(value).__name__} "
            f"cannot be compared with column {column.name!r}"
        )

    def stream(
        self,
        columns: list[Column],
        source_sql: str,
        where: str,
        order_by: Column | None,
        batch_rows: int,
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        import adbc_driver_manager
        import adbc_driver_sqlite

        witness = ", ".join(
            [f"1 AS {WITNESS}"]
            + [
                f"{value} AS {self.quote(c.name)}"
                for c, value in zip(columns, self._witnesses, strict=True)
            ]
        )
        rows = ", ".join(["0"] + [c.expression for c in columns])
        sql = f"SELECT {witness} UNION ALL SELECT {rows} FROM ({source_sql}) AS hg_src"
        if where:
            sql += f" WHERE {where}"
        if order_by is not None:
            sql += f" ORDER BY 1 DESC, {columns.index(order_by) + 2}"
        try:
            self._session = AdbcSession(lambda: adbc_driver_sqlite.connect(self.url))
            options = {"adbc.sqlite.query.batch_rows": str(batch_rows)}
            reader = self._session.stream(sql, options)
        except adbc_driver_manager.Error as exc:
            raise self.fail(exc, "reading from", transient=_is_busy(exc)) from None
        schema = reader.schema.remove(0)
        return schema, self._batches(reader, columns)

    def _batches(
        self, reader: pa.RecordBatchReader, columns: list[Column]
    ) -> Iterator[pa.RecordBatch]:
        import adbc_driver_manager
        import pyarrow as pa
        import pyarrow.compute as pc

        first = True
        try:
            for batch in reader:
                if first:
                    first = False
                    marker = batch.column(0)
                    # the witness is the first row; filter by its marker should it ever not be
                    if len(marker) and marker[0].as_py() == 1 and pc.sum(marker).as_py() == 1:
                        batch = batch.slice(1)
                    else:
                        batch = batch.filter(pc.equal(marker, 0))
                yield batch.drop_columns([WITNESS])
        except (adbc_driver_manager.Error, OSError, pa.ArrowException) as exc:
            mixed = re.search(r"type mismatch in column (\d+)", str(exc), re.IGNORECASE)
            if mixed and 0 < int(mixed.group(1)) <= len(columns):
                name = columns[int(mixed.group(1)) - 1].name
                raise SourceError(
                    self.secrets.mask(
                        f"{self.place.label}: column {name!r} holds values of more than one "
                        f"type ({str(exc).strip()})"
                    ),
                    hint=(
                        f"declare the column's type in the table, or cast it in a query: "
                        f"select cast({name} as text) as {name}, ..."
                    ),
                ) from None
            raise self.fail(exc, "reading from", transient=_is_busy(exc)) from None

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = None


def sqlite_path(url: str, project_dir: Path) -> Path:
    """The file a sqlite ``url`` names: a path (relative to the project) or ``sqlite:///path``.

    As in SQLAlchemy, ``sqlite:///data/shop.db`` is relative and ``sqlite:////srv/shop.db``
    absolute.
    """
    text = url.strip()
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://")
        text = text[1:] if text.startswith("/") else text
    path = Path(text).expanduser()
    return path if path.is_absolute() else project_dir / path


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text
