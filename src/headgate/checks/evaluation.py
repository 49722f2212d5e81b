"""How a check type is evaluated: inside the fused scan, or by a query of its own.

Most checks are a count of failing rows, and counting is an aggregate, so all of them on
one table are answered by one scan (:mod:`headgate.checks.compiler` fuses them). A
:class:`RowCheckType` only says which rows fail; counting, tolerating, messages and
samples are shared here. Types that need another table or the catalog
(relationships, contract, custom SQL) are :class:`QueryCheckType` and run their own query.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlglot import exp

from headgate.checks import text
from headgate.checks.spec import Check, CheckType, MaxFailures
from headgate.checks.sqlgen import SqlContext, both, count_if
from headgate.engines.base import EngineSession
from headgate.errors import HeadgateError


class CheckEvaluationError(HeadgateError):
    """A check could not be decided (not a data failure): reported with status ``error``."""


@dataclass
class Verdict:
    """What evaluating one check found, before it becomes a :class:`CheckResult`."""

    passed: bool
    message: str
    threshold: str
    failing_rows: int | None = None
    total_rows: int | None = None
    sql: str | None = None
    """The query that decided it, when not the check's own slice of the fused scan."""
    sample: list[dict[str, Any]] | None = None
    """Failing rows already fetched while deciding (else ``sample_sql`` fetches them)."""
    sample_sql: str | None = None


@dataclass
class RunContext:
    """What evaluating checks on one table needs: the session, names, history and the clock."""

    session: EngineSession
    sql: SqlContext
    resolve: Callable[[str], str]
    previous: Mapping[str, float]
    now: datetime
    last_sql: str | None = field(default=None, init=False)

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        self.last_sql = sql
        return self.session.execute(sql)

    def records(self, sql: str) -> list[dict[str, Any]]:
        """Rows as dicts, read through Arrow (which keeps time zones and decimals intact)."""
        self.last_sql = sql
        rows: list[dict[str, Any]] = self.session.arrow(sql).to_pylist()
        return rows

    def physical(self, model: str, check: Check) -> str:
        """The table to read for ``model``.

        The checked model itself is the table being checked (a new build, while auditing
        it); any other model is what ``resolve`` says (usually its published table).
        """
        if model == check.model:
            return self.sql.table
        try:
            return self.resolve(model)
        except Exception as exc:  # the resolver is the caller's: any failure is this check's error
            raise CheckEvaluationError(f"cannot find the table of '{model}': {exc}") from exc


def tolerance(limit: MaxFailures, total: int | None) -> str:
    """``0``, ``5`` or ``0.1% (120 rows)``: what ``max_failures`` allows on this table."""
    if limit.fraction is None:
        return text.number(limit.count or 0)
    allowed = limit.allowed(total)
    return f"{limit} ({text.rows(allowed)})" if allowed is not None else str(limit)


def row_verdict(
    check: Check,
    failing: int,
    total: int | None,
    what: str,
    *,
    sample_sql: str | None = None,
    sql: str | None = None,
    sample: list[dict[str, Any]] | None = None,
) -> Verdict:
    """The verdict of a failing-row count: ``37 of 120,150 rows (0.03%) are null; tolerated 0``."""
    limit = check.max_failures
    if total is None:
        counted = f"{text.rows(failing)} {what}"
    else:
        share = failing / total if total else 0.0
        counted = f"{text.number(failing)} of {text.rows(total)} ({text.percent(share)}) {what}"
    allowed = tolerance(limit, total)
    return Verdict(
        passed=limit.tolerates(failing, total),
        message=f"{counted}; tolerated {allowed}",
        threshold=f"at most {allowed} failing rows",
        failing_rows=failing,
        total_rows=total,
        sql=sql,
        sample=sample,
        sample_sql=sample_sql,
    )


def column_name(check: Check) -> str:
    """The checked column of a column-level check (parsing guarantees there is one)."""
    if check.column is None:
        raise CheckEvaluationError(f"check {check.name} needs a column")
    return check.column


class ScanCheckType(CheckType):
    """A type answered by aggregates in the table's one fused scan."""

    @abstractmethod
    def aggregates(self, check: Check, sql: SqlContext) -> dict[str, exp.Expr]:
        """Named aggregate expressions over the table (``failing``, ``total``, ``newest``...)."""

    @abstractmethod
    def judge(self, check: Check, values: Mapping[str, Any], run: RunContext) -> Verdict:
        """Decide from the aggregates' values (may query again, e.g. for an exact count)."""


class RowCheckType(ScanCheckType):
    """A row-level check: it says which rows fail; the rest is shared.

    NULL semantics follow dbt: when :meth:`failure` is NULL for a row (a NULL value in a
    range, a regex, an expression) the row is not counted as failing; only ``not_null``
    looks for NULLs.
    """

    @abstractmethod
    def failure(self, check: Check, sql: SqlContext) -> exp.Expr:
        """True for a failing row."""

    @abstractmethod
    def describe(self, check: Check) -> str:
        """What failing rows do, after "N of M rows": ``are null``, ``are below 0``."""

    def aggregates(self, check: Check, sql: SqlContext) -> dict[str, exp.Expr]:
        where = sql.where(check)
        return {
            "failing": count_if(both(where, self.failure(check, sql))),
            "total": count_if(where),
        }

    def judge(self, check: Check, values: Mapping[str, Any], run: RunContext) -> Verdict:
        condition = both(run.sql.where(check), self.failure(check, run.sql))
        return row_verdict(
            check,
            int(values["failing"]),
            int(values["total"]),
            self.describe(check),
            sample_sql=run.sql.sample(condition),
        )


class QueryCheckType(CheckType):
    """A type that runs its own query: it reads another table, the catalog, or user SQL."""

    @abstractmethod
    def evaluate(self, check: Check, run: RunContext) -> Verdict:
        """Run the check; engine errors propagate (the runner reports them as ``error``)."""
