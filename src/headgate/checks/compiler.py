"""The fused scan: every aggregate-answerable check on a table in ONE ``SELECT``.

Checking a 10-million-row table with forty checks should read it once, not forty times.
Each check type answerable by aggregates (:class:`~headgate.checks.evaluation.ScanCheckType`)
contributes named aggregate expressions; they become the columns of a single
``SELECT <aggregates> FROM table`` built with sqlglot, so it generates for any dialect.
Identical aggregates (the ``COUNT(*)`` every check without a ``where`` needs as its row
total) are computed once and shared. Each column carries a comment naming its check, so
the SQL a user pastes explains itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError

from headgate.checks.evaluation import CheckEvaluationError, ScanCheckType
from headgate.checks.spec import Check, check_types
from headgate.checks.sqlgen import SnippetError, SqlContext


@dataclass(frozen=True)
class ScanSlot:
    """One check in a fused scan: its place in the input and its result columns by role."""

    position: int
    check: Check
    columns: dict[str, str]  # role ("failing", "total", "newest", ...) -> result column


@dataclass(frozen=True)
class FusedQuery:
    """The one scan of a table, and how to read each check's values back from its row.

    Checks evaluated by their own queries are not part of it; checks whose SQL could not
    be built (a ``where`` that does not parse in this dialect) are listed in ``rejected``.
    """

    table: str
    dialect: str
    sql: str | None
    slots: list[ScanSlot]
    rejected: list[tuple[int, Check, str]] = field(default_factory=list)

    @property
    def checks(self) -> list[Check]:
        return [slot.check for slot in self.slots]

    def values(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Per slot, role -> value, from the scan's one result row (keyed by column name)."""
        return [{role: row[column] for role, column in slot.columns.items()} for slot in self.slots]


def fused_scan(table: str, checks: Sequence[Check], dialect: str) -> FusedQuery:
    """ONE ``SELECT <aggregates> FROM table`` for every scan-answerable check in ``checks``."""
    sql = SqlContext(table, dialect)
    slots: list[ScanSlot] = []
    rejected: list[tuple[int, Check, str]] = []
    columns: dict[str, str] = {}  # generated aggregate SQL -> its result column
    expressions: dict[str, exp.Expr] = {}  # result column -> aggregate
    users: dict[str, list[str]] = {}  # result column -> names of the checks reading it
    for position, check in enumerate(checks):
        kind = check_types().get(check.type)
        if not isinstance(kind, ScanCheckType):
            continue
        try:
            aggregates = kind.aggregates(check, sql)
        except (SnippetError, CheckEvaluationError, SqlglotError) as exc:
            rejected.append((position, check, str(exc)))
            continue
        roles: dict[str, str] = {}
        for role, aggregate in aggregates.items():
            key = aggregate.sql(dialect=dialect)
            column = columns.get(key)
            if column is None:
                column = f"c{position}_{role}"
                columns[key] = column
                expressions[column] = aggregate
                users[column] = []
            users[column].append(check.name)
            roles[role] = column
        slots.append(ScanSlot(position, check, roles))
    if not expressions:
        return FusedQuery(table, dialect, None, slots, rejected)
    projections = []
    for column, aggregate in expressions.items():
        projection = aggregate.copy().as_(column)
        projection.add_comments([_label(users[column])])
        projections.append(projection)
    query = sql.render(sql.select(*projections))
    return FusedQuery(table, dialect, query, slots, rejected)


def check_sql(table: str, check: Check, dialect: str) -> str | None:
    """The scan of one check alone: what decides it, for a user to paste and run."""
    return fused_scan(table, [check], dialect).sql


def _label(names: list[str]) -> str:
    shown = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"
    return shown.replace("*/", "* /")
