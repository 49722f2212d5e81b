"""A query read straight from the DuckDB file, for ``headgate query``.

DuckDB's own parser tells a single SELECT from anything else, and the rows come as Python
values: the engine layer and Arrow are not loaded, and in production, whose views carry
the models' own names, neither is the SQL parser that rewrites names for other
environments. That is most of what a short query costs. Whatever this cannot answer
(another statement, another engine, a warehouse another process holds) goes the full
way, which validates, rewrites and waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headgate.errors import EngineError


@dataclass
class QueryRows:
    """A query's result as plain Python values."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def select_directly(
    engine: dict[str, Any], root: Path, sql: str, limit: int | None
) -> QueryRows | None:
    """The rows of ``sql`` read from the warehouse file, or None when it must go the full way."""
    if engine.get("type") != "duckdb":
        return None
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error:
        return None  # the full way reports the syntax error in headgate's words
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        return None
    path = Path(engine["path"])
    path = path if path.is_absolute() else root / path
    if not path.exists():
        return None
    settings = {k: engine[k] for k in ("threads", "memory_limit") if engine.get(k)}
    try:
        connection = duckdb.connect(str(path), read_only=True, config=settings)
    except duckdb.Error:
        return None  # held by a writer: the full way waits and says for whom
    try:
        relation = connection.sql(statements[0].query)
        if limit is not None:
            relation = relation.limit(limit)
        return QueryRows(list(relation.columns), relation.fetchall())
    except duckdb.Error as exc:
        raise EngineError(str(exc).strip()) from exc
    finally:
        connection.close()
