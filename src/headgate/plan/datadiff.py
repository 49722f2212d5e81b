"""Data diff: how one model's data differs between two environments, computed in the engine.

Rows are matched by key (the model's unique key, or one given); the result counts
rows only on either side and rows whose values changed, per column, with a small
sample. Nothing is pulled into Python but the counts and the sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from headgate.engines.base import EngineSession, quote
from headgate.errors import HeadgateError

SAMPLE_ROWS = 10


@dataclass
class DataDiff:
    model: str
    left: str  # environment names
    right: str
    key: list[str]
    rows_left: int = 0
    rows_right: int = 0
    only_left: int = 0
    only_right: int = 0
    changed: int = 0
    column_changes: dict[str, int] = field(default_factory=dict)
    columns_only_left: list[str] = field(default_factory=list)
    columns_only_right: list[str] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)
    same_table: bool = False

    @property
    def identical(self) -> bool:
        return self.same_table or (
            not self.only_left
            and not self.only_right
            and not self.changed
            and not self.columns_only_left
            and not self.columns_only_right
        )

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "identical": self.identical}


def diff_tables(
    session: EngineSession,
    model: str,
    left: tuple[str, str],
    right: tuple[str, str],
    key: list[str],
) -> DataDiff:
    """``left``/``right`` are (environment, physical table)."""
    result = DataDiff(model, left[0], right[0], key)
    if left[1] == right[1]:
        result.same_table = True
        result.rows_left = result.rows_right = session.row_count(left[1])
        return result
    left_columns = [c for c, _ in session.columns_of(left[1])]
    right_columns = [c for c, _ in session.columns_of(right[1])]
    result.columns_only_left = [c for c in left_columns if c not in right_columns]
    result.columns_only_right = [c for c in right_columns if c not in left_columns]
    shared = [c for c in left_columns if c in right_columns]
    missing = [k for k in key if k not in shared]
    if missing:
        raise HeadgateError(
            f"key column(s) {', '.join(missing)} not in both versions of {model}",
            hint=f"columns in both: {', '.join(shared)}; choose with --key",
        )
    result.rows_left = session.row_count(left[1])
    result.rows_right = session.row_count(right[1])
    if key:
        _by_key(session, result, left[1], right[1], key, [c for c in shared if c not in key])
    else:
        _by_row(session, result, left[1], right[1], shared)
    return result


def _by_key(
    session: EngineSession,
    result: DataDiff,
    left: str,
    right: str,
    key: list[str],
    values: list[str],
) -> None:
    joined = f"FROM {quote(left)} AS l FULL OUTER JOIN {quote(right)} AS r ON " + " AND ".join(
        f"l.{quote(k)} = r.{quote(k)}" for k in key
    )
    left_missing = " AND ".join(f"l.{quote(k)} IS NULL" for k in key)
    right_missing = " AND ".join(f"r.{quote(k)} IS NULL" for k in key)
    differs = [f"l.{quote(c)} IS DISTINCT FROM r.{quote(c)}" for c in values]
    any_change = " OR ".join(differs) or "FALSE"
    both = f"NOT ({left_missing}) AND NOT ({right_missing})"
    aggregates = [
        f"COUNT(CASE WHEN {right_missing} THEN 1 END)",
        f"COUNT(CASE WHEN {left_missing} THEN 1 END)",
        f"COUNT(CASE WHEN {both} AND ({any_change}) THEN 1 END)",
        *[f"COUNT(CASE WHEN {both} AND {d} THEN 1 END)" for d in differs],
    ]
    row = session.execute(f"SELECT {', '.join(aggregates)} {joined}")[0]
    result.only_left, result.only_right, result.changed = int(row[0]), int(row[1]), int(row[2])
    result.column_changes = {c: int(n) for c, n in zip(values, row[3:], strict=True) if n}
    if result.changed:
        picked = [f"l.{quote(k)} AS {quote(k)}" for k in key]
        for column in result.column_changes:
            picked += [
                f"l.{quote(column)} AS {quote(column + '__' + result.left)}",
                f"r.{quote(column)} AS {quote(column + '__' + result.right)}",
            ]
        sample = session.arrow(
            f"SELECT {', '.join(picked)} {joined} WHERE {both} AND ({any_change}) LIMIT {SAMPLE_ROWS}"
        )
        result.sample = sample.to_pylist()


def _by_row(
    session: EngineSession, result: DataDiff, left: str, right: str, shared: list[str]
) -> None:
    columns = ", ".join(quote(c) for c in shared)
    only_left = session.execute(
        f"SELECT count(*) FROM (SELECT {columns} FROM {quote(left)} EXCEPT ALL SELECT {columns} FROM {quote(right)})"
    )
    only_right = session.execute(
        f"SELECT count(*) FROM (SELECT {columns} FROM {quote(right)} EXCEPT ALL SELECT {columns} FROM {quote(left)})"
    )
    result.only_left, result.only_right = int(only_left[0][0]), int(only_right[0][0])
