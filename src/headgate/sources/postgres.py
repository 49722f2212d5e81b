"""PostgreSQL through ADBC: the server's binary COPY straight into Arrow batches.

ADBC streams a result in batches of bounded size, so a large table never sits in
memory whole. It delivers ``numeric`` as exact decimal text: headgate turns
``numeric(p,s)`` (p <= 38) into ``decimal128(p,s)``; ``numeric`` without a precision,
or wider than 38 digits (what DuckDB cannot hold), is read as ``double precision``, the
choice DuckDB's own PostgreSQL scanner makes. The session is read-only, so a ``query:``
can never change the source.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from headgate.sources.adbc import AdbcSession
from headgate.sources.drivers import (
    Column,
    Driver,
    Place,
    is_arrow_ordered,
    numeric_literal,
    quote_double,
    temporal_text,
)
from headgate.sources.errors import SourceError
from headgate.sources.secrets import Secrets

if TYPE_CHECKING:
    import pyarrow as pa

CONNECT_TIMEOUT_SECONDS = 10
MAX_DECIMAL_PRECISION = 38
SCALED_INTEGER_DIGITS = 18  # 10**18 units still fit a bigint
_NOT_A_NUMBER = re.compile(r"cannot convert (NaN|-?infinity) to bigint", re.IGNORECASE)

_TRANSIENT = (
    "connection refused",
    "could not connect",
    "timeout expired",
    "timed out",
    "could not translate host name",
    "no route to host",
    "server closed the connection",
    "connection reset",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "too many clients",
    "terminating connection",
)
_CREDENTIALS = ("password authentication failed", "does not exist", "no pg_hba.conf entry")


class PostgresDriver(Driver):
    database = "PostgreSQL"

    def __init__(self, url: str, secrets: Secrets, place: Place) -> None:
        super().__init__(url, secrets, place)
        self._session: AdbcSession | None = None

    @classmethod
    def open(cls, url: str, secrets: Secrets, label: str) -> PostgresDriver:
        import adbc_driver_manager
        import adbc_driver_postgresql

        libpq = libpq_url(url)
        secrets.remember(*_passwords(libpq))
        driver = cls(libpq, secrets, Place(label, location(libpq)))
        try:
            driver._session = AdbcSession(lambda: adbc_driver_postgresql.connect(libpq))
        except adbc_driver_manager.Error as exc:
            transient = _is_transient(exc)
            raise driver.fail(exc, "connecting to", transient=transient, hint=_hint(exc)) from None
        return driver

    def quote(self, identifier: str) -> str:
        return quote_double(identifier)

    def describe(self, select_sql: str) -> list[Column]:
        import adbc_driver_manager

        try:
            schema = self._open().schema(select_sql)
        except adbc_driver_manager.Error as exc:
            transient = _is_transient(exc)
            raise self.fail(
                exc, "describing the query on", transient=transient, hint=_hint(exc)
            ) from None
        return [self._column(field) for field in schema]

    def _column(self, field: pa.Field) -> Column:
        import pyarrow as pa

        metadata = field.metadata or {}
        kind = metadata.get(b"POSTGRESQL:type", b"").decode()
        reference = self.column_ref(field.name)
        if kind == "numeric":
            typmod = int(metadata.get(b"POSTGRESQL:typmod", b"-1"))
            precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
            if typmod >= 4 and 0 <= scale <= precision <= MAX_DECIMAL_PRECISION:
                target = pa.decimal128(precision, scale)
                kind = f"numeric({precision},{scale})"
                if precision <= SCALED_INTEGER_DIGITS:
                    # ADBC hands numerics over as text (half the read time of a table
                    # with two of them); as a count of 10**-scale units they travel
                    # as bigint and become the same decimals, exactly, in Arrow.
                    factor = f" * 1{'0' * scale}" if scale else ""
                    expression = f"CAST({reference}{factor} AS bigint)"
                    convert = partial(scaled_to_decimal, target=target)
                    return Column(field.name, expression, target, True, convert, kind=kind)
                return Column(field.name, reference, target, True, kind=kind)
            return Column(
                field.name, f"CAST({reference} AS double precision)", pa.float64(), True, kind=kind
            )
        return Column(field.name, reference, None, is_arrow_ordered(field.type), kind=kind)

    def literal(self, value: Any, column: Column) -> str:
        number = numeric_literal(value)
        if number is not None:
            return number
        text = temporal_text(value)
        if text is None and isinstance(value, str):
            text = value
        if text is not None:
            # an untyped literal: PostgreSQL reads it as the column's own type
            return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
        if isinstance(value, bytes):
            return "E'\\\\x" + value.hex() + "'"
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

        sql = self.select_sql(columns, source_sql, where, order_by)
        scaled = [c for c in columns if c.convert is not None]
        try:
            reader = self._open().stream(sql)
        except adbc_driver_manager.Error as exc:
            raise self._read_failure(exc, scaled) from None
        return reader.schema, self._batches(reader, scaled)

    def _batches(
        self, reader: pa.RecordBatchReader, scaled: list[Column]
    ) -> Iterator[pa.RecordBatch]:
        import adbc_driver_manager
        import pyarrow as pa

        try:
            yield from reader
        except (adbc_driver_manager.Error, OSError, pa.ArrowException) as exc:
            raise self._read_failure(exc, scaled) from None

    def _read_failure(self, exc: BaseException, scaled: list[Column]) -> SourceError:
        """The read's error; a NaN or infinity met in a decimal column says which columns."""
        if scaled and _NOT_A_NUMBER.search(str(exc)):
            names = ", ".join(repr(c.name) for c in scaled)
            which = f"column {names}" if len(scaled) == 1 else f"one of columns {names}"
            return SourceError(
                f"{self.place.label}: {which} ({scaled[0].kind}) holds NaN or Infinity, "
                "which a decimal cannot",
                hint=f"select it as {scaled[0].name}::double precision (or NULLIF it) in a "
                "query: NaN and Infinity are not decimals",
            )
        transient = _is_transient(exc)
        return self.fail(exc, "reading from", transient=transient, hint=_hint(exc))

    def _open(self) -> AdbcSession:
        if self._session is None:
            raise SourceError(f"{self.place.label}: the connection is closed")
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = None


def scaled_to_decimal(array: pa.Array, target: pa.Decimal128Type) -> pa.Array:
    """A bigint array counting ``10**-scale`` units as ``target`` decimals, bit for bit.

    A decimal128 is a 16-byte two's complement integer of those units: the bigint is its
    low word, its sign extension the high word. Nulls keep their validity bitmap.

    >>> import pyarrow as pa
    >>> scaled_to_decimal(pa.array([1250, -5, None]), pa.decimal128(12, 2)).to_pylist()
    [Decimal('12.50'), Decimal('-0.05'), None]
    """
    import numpy as np
    import pyarrow as pa

    validity, data = array.buffers()
    units = np.frombuffer(data, dtype=np.int64, count=array.offset + len(array))
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63
    buffers = [validity, pa.py_buffer(words)]
    return pa.Array.from_buffers(target, len(array), buffers, array.null_count, array.offset)


def libpq_url(url: str) -> str:
    """``url`` as libpq takes it: plain scheme, a connect timeout, a read-only session.

    SQLAlchemy-style schemes (``postgresql+psycopg://``) are accepted as written in
    other tools' configs. The read-only default protects the source from a ``query:``
    that writes.
    """
    url = url.strip()
    settings = {
        "connect_timeout": str(CONNECT_TIMEOUT_SECONDS),
        "application_name": "headgate",
        "options": "-c default_transaction_read_only=on",
    }
    if "://" in url:
        url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
        present = {key for key, _ in parse_qsl(urlsplit(url).query)}
        extra = [
            f"{key}={value.replace(' ', '%20').replace('=', '%3D')}"
            for key, value in settings.items()
            if key not in present
        ]
        if extra:
            url += ("&" if "?" in url else "?") + "&".join(extra)
        return url
    present = set(re.findall(r"(\w+)\s*=", url))
    extra = [
        f"{key}='{value}'" if " " in value else f"{key}={value}"
        for key, value in settings.items()
        if key not in present
    ]
    return " ".join([url, *extra]).strip()


def location(url: str) -> str:
    """``PostgreSQL at host:port/database``: where, without user or password."""
    if "://" in url:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
        return f"PostgreSQL at {host}:{port}{parts.path or '/'}"
    pairs = dict(re.findall(r"(\w+)\s*=\s*('[^']*'|\S+)", url))
    host = pairs.get("host", "localhost").strip("'")
    port = pairs.get("port", "5432").strip("'")
    return f"PostgreSQL at {host}:{port}/{pairs.get('dbname', '').strip(chr(39))}"


def _passwords(url: str) -> list[str]:
    if "://" in url:
        password = urlsplit(url).password
        return [password, unquote(password)] if password else []
    return [value.strip("'") for value in re.findall(r"password\s*=\s*('[^']*'|\S+)", url)]


def _is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _TRANSIENT)


def _hint(exc: BaseException) -> str | None:
    text = str(exc).lower()
    if _is_transient(exc):
        return (
            "check that PostgreSQL runs at that address and accepts connections from "
            "this machine; a run retries transient failures"
        )
    if "database" in text and "does not exist" in text:
        return "check the database name at the end of the source's url"
    if any(marker in text for marker in _CREDENTIALS) and "failed to connect" in text:
        return "check the user and password in the source's url (the secret it names)"
    if "relation" in text and "does not exist" in text:
        return "check the table name (schema.table) or the query in the source file"
    if "read-only transaction" in text:
        return "a source query only reads: write a SELECT"
    return None
