"""Databases (PostgreSQL, MySQL, SQLite): a table or query read into a new segment.

A table with a ``cursor`` is read past the previous segment's high-water mark, so each
load brings only new rows and the source's version appends them; without a cursor the
whole table is read and the newest segment replaces the rest.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from headgate.project.config import StrictModel
from headgate.sources.databases import MySQLSourceConfig, PostgresSourceConfig, SQLiteSourceConfig
from headgate.sources.types import (
    LoadedSegment,
    LoadingSourceType,
    LoadRequest,
    create_segment,
    reporting,
)


class DatabaseSourceType(LoadingSourceType):
    def __init__(self, name: str, config: type[StrictModel]) -> None:
        self.name = name  # type: ignore[misc]
        self.config = config  # type: ignore[misc]

    def appends(self, table: Any) -> bool:
        return bool(getattr(table, "cursor", None))

    def load(self, request: LoadRequest) -> LoadedSegment:
        from headgate.sources.databases import read_table

        source = request.source
        cursor_column = getattr(source.config, "cursor", None)
        mark_before = _decode(request.after) if request.after and cursor_column else None
        read = read_table(
            source.source_config,
            source.table,
            project_dir=request.root,
            cursor_after=mark_before,
            source_name=source.source,
        )
        with read:
            batches = reporting(read, request.progress)
            loaded = create_segment(request.session, request.segment, batches, schema=read.schema)
            mark = read.max_cursor if cursor_column else None
        detail: dict[str, Any] = {"loaded": loaded}
        if cursor_column:
            detail["cursor"] = str(mark if mark is not None else mark_before)
        final = mark if mark is not None else mark_before
        return LoadedSegment(loaded, _encode(final) if final is not None else None, detail)


def _encode(value: Any) -> dict[str, Any]:
    """A cursor value stored with its type, so it comes back as what it was."""
    if isinstance(value, bool):
        return {"type": "str", "value": str(value)}
    if isinstance(value, int):
        return {"type": "int", "value": value}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": value}
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    return {"type": "str", "value": str(value)}


def _decode(stored: dict[str, Any]) -> Any:
    kind, value = stored.get("type"), stored.get("value")
    if kind == "int":
        return int(value)  # type: ignore[arg-type]
    if kind == "decimal":
        return Decimal(str(value))
    if kind == "float":
        return float(value)  # type: ignore[arg-type]
    if kind == "datetime":
        return datetime.fromisoformat(str(value))
    if kind == "date":
        return date.fromisoformat(str(value))
    return value


TYPES = (
    DatabaseSourceType("postgres", PostgresSourceConfig),
    DatabaseSourceType("mysql", MySQLSourceConfig),
    DatabaseSourceType("sqlite", SQLiteSourceConfig),
)
