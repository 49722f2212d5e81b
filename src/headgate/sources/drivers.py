"""What the database reader asks of each database: describe a query, stream it as Arrow.

A driver turns the source's query into columns (the SQL that selects each one and the
Arrow type it arrives as) before any row moves, so the read's schema is known even
when no row comes back, and conversions that must happen in the database (a decimal
too wide for the driver, a time zone) are written into the SQL rather than repaired
afterwards. Each database's quirks live in its own module (postgres, mysql, sqlite).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from headgate.sources.errors import SourceError, SourceUnavailable
from headgate.sources.secrets import Secrets

if TYPE_CHECKING:
    import pyarrow as pa

SOURCE_ALIAS = "hg_src"


@dataclass(frozen=True)
class Column:
    """One column of a read: how it is selected and what Arrow type it arrives as."""

    name: str
    expression: str  # SQL over the aliased source that produces the column
    target: pa.DataType | None  # Arrow type delivered; None: as the driver delivers it
    arrow_ordered: bool  # Arrow orders its values as the database does (numbers, times)
    convert: Callable[[pa.Array], pa.Array] | None = None  # beyond a plain cast
    kind: str = ""  # the database's own type name, for messages


@dataclass(frozen=True)
class Place:
    """Where a read happens, for messages: never holds a password."""

    label: str  # "source 'shop_db' table 'orders'"
    where: str  # "PostgreSQL at 127.0.0.1:5432/test"


class Driver(ABC):
    """One connection to one database for one read; closed when the read ends."""

    database: str  # "PostgreSQL", for messages

    def __init__(self, url: str, secrets: Secrets, place: Place) -> None:
        self.url = url
        self.secrets = secrets
        self.place = place

    @abstractmethod
    def quote(self, identifier: str) -> str: ...

    @abstractmethod
    def describe(self, select_sql: str) -> list[Column]:
        """The columns ``select_sql`` returns, without reading its rows."""

    @abstractmethod
    def literal(self, value: Any, column: Column) -> str:
        """``value`` as a SQL literal comparable with ``column`` (no injection possible)."""

    @abstractmethod
    def stream(
        self,
        columns: list[Column],
        source_sql: str,
        where: str,
        order_by: Column | None,
        batch_rows: int,
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """Start the query: its delivered schema, and its batches (columns as ``columns``)."""

    @abstractmethod
    def close(self) -> None: ...

    def table_sql(self, table: str) -> str:
        return f"SELECT * FROM {'.'.join(self.quote(part) for part in table.split('.'))}"

    def select_sql(
        self, columns: list[Column], source_sql: str, where: str, order_by: Column | None
    ) -> str:
        """``SELECT <columns> FROM (<source>) AS hg_src [WHERE ..] [ORDER BY ..]``."""
        select_list = ", ".join(f"{c.expression} AS {self.quote(c.name)}" for c in columns)
        sql = f"SELECT {select_list} FROM ({source_sql}) AS {SOURCE_ALIAS}"
        if where:
            sql += f" WHERE {where}"
        if order_by is not None:
            sql += f" ORDER BY {self.column_ref(order_by.name)}"
        return sql

    def column_ref(self, name: str) -> str:
        return f"{SOURCE_ALIAS}.{self.quote(name)}"

    def fail(
        self, exc: BaseException, doing: str, *, transient: bool = False, hint: str | None = None
    ) -> SourceError:
        """A :class:`SourceError` for ``exc`` (driver text masked), raised ``from None``."""
        text = " ".join(str(exc).split())
        kind = SourceUnavailable if transient else SourceError
        message = f"{self.place.label}: {doing} {self.place.where} failed: {text}"
        return kind(self.secrets.mask(message), hint=hint)


def quote_double(identifier: str) -> str:
    """``"name"`` with embedded quotes doubled (PostgreSQL and SQLite identifiers)."""
    return '"' + identifier.replace('"', '""') + '"'


def numeric_literal(value: Any) -> str | None:
    """``value`` as a SQL number when it is one (never a string that looks like one)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise SourceError(f"a cursor value of {value} cannot be compared")
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise SourceError(f"a cursor value of {value} cannot be compared")
        return format(value, "f")
    return None


def temporal_text(value: Any) -> str | None:
    """ISO text of a date, time or datetime (space-separated, as every database parses it)."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return None


def is_arrow_ordered(data_type: pa.DataType) -> bool:
    """Whether Arrow's order of this type's values is the database's order (no collation)."""
    import pyarrow as pa

    return bool(
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
        or pa.types.is_temporal(data_type)
        or pa.types.is_boolean(data_type)
    )


def close_quietly(*resources: Any) -> None:
    """Close each resource; a failure to close must not hide the error that ended the read."""
    for resource in resources:
        if resource is not None:
            with contextlib.suppress(Exception):
                resource.close()
