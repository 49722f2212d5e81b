"""MySQL and MariaDB through connectorx (rows to Arrow in Rust), described through PyMySQL.

connectorx moves the rows, in batches; PyMySQL only describes the query (no rows) and
renders the cursor literal with the server's own escaping rules. It also connects
first, so an unreachable server or a refused login fails at once with the server's
message, where connectorx's pool would wait 30 seconds and log to stderr.

Two types are rewritten in the SQL, because connectorx would lose data otherwise:
``DECIMAL(p,s)`` arrives as ``decimal128(38,10)`` there, so a wider scale travels as
text and becomes ``decimal128(p,s)`` again (``DOUBLE`` beyond 38 digits, which DuckDB
cannot hold); ``TIMESTAMP`` is shown in the session's time zone, so it travels as
microseconds since the epoch and arrives as ``timestamp[us, UTC]``. ``DATETIME`` has no
time zone and arrives naive. ``TINYINT(1)`` (``BOOLEAN``) stays an integer: MySQL lets
it hold 2..127 too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from headgate.sources.drivers import (
    Column,
    Driver,
    Place,
    close_quietly,
    numeric_literal,
    temporal_text,
)
from headgate.sources.errors import SourceError
from headgate.sources.secrets import Secrets

if TYPE_CHECKING:
    import pyarrow as pa

CONNECT_TIMEOUT_SECONDS = 10
MAX_DECIMAL_PRECISION = 38
CONNECTORX_SCALE = 10  # connectorx reads every DECIMAL as decimal128(38, 10)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# MySQL protocol field types (as PyMySQL reports them)
DECIMAL_TYPES = {0, 246}
TIMESTAMP_TYPE = 7
ORDERED_TYPES = {0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 246}  # numbers, dates, times
UNSIGNED_FLAG = 32
# server errors where waiting may help: cannot connect, lost, too many connections, lock waits
TRANSIENT_CODES = {1040, 1205, 1213, 2002, 2003, 2006, 2013, 2055}


class MySQLDriver(Driver):
    database = "MySQL"

    def __init__(self, url: str, secrets: Secrets, place: Place) -> None:
        super().__init__(url, secrets, place)
        self._connection: Any = None

    @classmethod
    def open(cls, url: str, secrets: Secrets, label: str) -> MySQLDriver:
        import pymysql

        parts = urlsplit(url.strip())
        if not parts.scheme.startswith(("mysql", "mariadb")) or not parts.hostname:
            raise SourceError(
                f"{label}: the url is not a MySQL URL",
                hint="write url: mysql://user:password@host:3306/database (through ${secret:NAME})",
            )
        user = unquote(parts.username or "root")
        password = unquote(parts.password or "")
        secrets.remember(password, parts.password or "")
        host, port = parts.hostname, parts.port or 3306
        database = unquote(parts.path.lstrip("/"))
        cx_url = f"mysql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{quote(database, safe='')}"
        driver = cls(cx_url, secrets, Place(label, f"MySQL at {host}:{port}/{database}"))
        try:
            driver._connection = pymysql.connect(
                host=host,
                port=port,
                user=user,
                password=password,
                database=database or None,
                charset="utf8mb4",
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
            )
        except pymysql.Error as exc:
            raise driver._fail(exc, "connecting to") from None
        return driver

    def quote(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"

    def describe(self, select_sql: str) -> list[Column]:
        import pymysql

        try:
            with self._connection.cursor() as cursor:
                cursor.execute(f"SELECT * FROM ({select_sql}) AS hg_src LIMIT 0")
                result = getattr(cursor, "_result", None)
                fields = list(getattr(result, "fields", None) or [])
                description = list(cursor.description or [])
        except pymysql.Error as exc:
            raise self._fail(exc, "describing the query on") from None
        columns = []
        for index, row in enumerate(description):
            flags = fields[index].flags if len(fields) == len(description) else UNSIGNED_FLAG
            columns.append(self._column(row[0], row[1], row[3], row[5], flags))
        return columns

    def _column(self, name: str, code: int, length: int, scale: int, flags: int) -> Column:
        import pyarrow as pa

        reference = self.column_ref(name)
        if code in DECIMAL_TYPES:
            # the display length counts the sign (unless unsigned) and the decimal point
            unsigned = bool(flags & UNSIGNED_FLAG)
            precision = max(1, length - (1 if scale else 0) - (0 if unsigned else 1))
            kind = f"decimal({precision},{scale})"
            if precision > MAX_DECIMAL_PRECISION:
                return Column(name, f"CAST({reference} AS DOUBLE)", pa.float64(), True, kind=kind)
            target = pa.decimal128(precision, scale)
            if scale <= CONNECTORX_SCALE and precision - scale <= 38 - CONNECTORX_SCALE:
                return Column(name, reference, target, True, kind=kind)
            return Column(name, f"CAST({reference} AS CHAR)", target, True, kind=kind)
        if code == TIMESTAMP_TYPE:
            return Column(
                name,
                f"CAST(UNIX_TIMESTAMP({reference}) * 1000000 AS SIGNED)",
                pa.timestamp("us", tz="UTC"),
                True,
                convert=_microseconds_to_timestamp,
                kind="timestamp",
            )
        return Column(name, reference, None, code in ORDERED_TYPES, kind=f"type {code}")

    def literal(self, value: Any, column: Column) -> str:
        number = numeric_literal(value)
        if number is not None:
            return number
        if isinstance(value, datetime) and value.tzinfo is not None and column.kind == "timestamp":
            # TIMESTAMP compares in the session's time zone: name the instant instead
            micros = (value - _EPOCH) // timedelta(microseconds=1)
            seconds, fraction = divmod(micros, 1_000_000)
            return f"FROM_UNIXTIME({seconds}.{fraction:06d})"
        if isinstance(value, datetime):
            value = value.replace(tzinfo=None)
        text = temporal_text(value)
        if text is None and isinstance(value, str):
            text = value
        if text is not None:
            # the server's own escaping (it knows whether NO_BACKSLASH_ESCAPES is on)
            return str(self._connection.escape(text))
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
        import connectorx

        sql = self.select_sql(columns, source_sql, where, order_by)
        self._close_connection()
        try:
            reader = connectorx.read_sql(
                self.url, sql, return_type="arrow_stream", batch_size=batch_rows
            )
        except RuntimeError as exc:
            raise self.fail(exc, "reading from", transient=_transient_text(exc)) from None
        return reader.schema, self._batches(reader)

    def _batches(self, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        try:
            yield from reader
        except (RuntimeError, OSError, pa.ArrowException) as exc:
            raise self.fail(exc, "reading from", transient=_transient_text(exc)) from None

    def close(self) -> None:
        self._close_connection()

    def _close_connection(self) -> None:
        close_quietly(self._connection)
        self._connection = None

    def _fail(self, exc: Exception, doing: str) -> SourceError:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        transient = code in TRANSIENT_CODES
        hint = None
        if transient:
            hint = (
                "check that the server runs at that address and accepts connections from "
                "this machine; a run retries transient failures"
            )
        elif code in (1044, 1045):
            hint = "check the user and password in the source's url (the secret it names)"
        elif code == 1049:
            hint = "check the database name at the end of the source's url"
        elif code == 1146:
            hint = "check the table name or the query in the source file"
        return self.fail(exc, doing, transient=transient, hint=hint)


def _transient_text(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(
        m in text for m in ("connection refused", "timed out", "lost connection", "broken pipe")
    )


def _microseconds_to_timestamp(array: pa.Array) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pc.cast(array, pa.int64()), pa.timestamp("us", tz="UTC"))
