"""``unique`` and ``unique_combination``: the rows whose value (or key) appears more than once.

A failing row is every row of a duplicated value, so ``1, 1, 1, 2`` has 3 failing rows.
``count(col) - count(DISTINCT col)`` (here 2) is not that number, but it is zero exactly
when there are no duplicates. So ``unique`` asks the fused scan for both counts, which
decides the common case (no duplicates) for free; only when duplicates exist does one
grouped query count the failing rows exactly and fetch the most repeated values in the
same pass. NULLs are not values: they never make a row a duplicate.

``unique_combination`` needs a composite distinct count, which engines spell
differently, so it runs one grouped query of its own. Like a SQL ``UNIQUE`` constraint,
a row with a NULL in any of its key columns is never a duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import Field, field_validator
from sqlglot import exp

from headgate.checks.evaluation import (
    QueryCheckType,
    RunContext,
    ScanCheckType,
    Verdict,
    column_name,
    row_verdict,
)
from headgate.checks.spec import Check, CheckParams, register
from headgate.checks.sqlgen import SAMPLE_LIMIT, SqlContext, both, count_if, when

FAILING = "failing_rows_in_total"
GROUP_ROWS = "headgate_group_rows"


def _count_alias(keys: list[str]) -> str:
    """The sample's count column: ``rows``, unless a key column is already called that."""
    alias = "rows"
    while alias in {k.lower() for k in keys}:
        alias += "_"
    return alias


def _duplicates(
    sql: SqlContext, keys: list[str], where: exp.Expr | None, *, with_total: bool
) -> exp.Select:
    """Key values that occur more than once, most repeated first (at most 20).

    With ``with_total``, each row also carries the number of failing rows over all
    duplicated values (a window over the groups, computed before the LIMIT).
    """
    columns = [sql.column(k) for k in keys]
    not_null = [exp.not_(exp.Is(this=c.copy(), expression=exp.null())) for c in columns]
    rows = exp.Count(this=exp.Star())
    projections: list[exp.Expr] = [*columns, rows.copy().as_(_count_alias(keys))]
    if with_total:
        projections.append(exp.Window(this=exp.Sum(this=rows.copy())).as_(FAILING))
    query = sql.select(*projections, condition=both(where, *not_null))
    query = query.group_by(*[c.copy() for c in columns]).having(rows.copy() > 1)
    return query.order_by(exp.Ordered(this=rows.copy(), desc=True)).limit(SAMPLE_LIMIT)


class UniqueParams(CheckParams):
    pass


@register
class Unique(ScanCheckType):
    name = "unique"
    params_model = UniqueParams
    scopes = frozenset({"column"})
    example = "unique"

    def aggregates(self, check: Check, sql: SqlContext) -> dict[str, exp.Expr]:
        where = sql.where(check)
        value = when(where, sql.column(column_name(check)))
        return {
            "values": exp.Count(this=value.copy()),
            "distinct": exp.Count(this=exp.Distinct(expressions=[value.copy()])),
            "total": count_if(where),
        }

    def judge(self, check: Check, values: Mapping[str, Any], run: RunContext) -> Verdict:
        surplus = int(values["values"]) - int(values["distinct"])
        total = int(values["total"])
        what = "hold a value that appears more than once"
        if surplus == 0:
            return row_verdict(check, 0, total, what)
        query = run.sql.render(
            _duplicates(run.sql, [column_name(check)], run.sql.where(check), with_total=True)
        )
        found = run.records(query)
        failing = int(found[0][FAILING]) if found else 0
        sample = [{k: v for k, v in row.items() if k != FAILING} for row in found]
        return row_verdict(check, failing, total, what, sql=query, sample=sample)


class UniqueCombinationParams(CheckParams):
    columns: list[str] = Field(min_length=2)

    @field_validator("columns")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len({c.lower() for c in value}) != len(value):
            raise ValueError("a column is listed twice")
        return value


@register
class UniqueCombination(QueryCheckType):
    name = "unique_combination"
    params_model = UniqueCombinationParams
    scopes = frozenset({"model"})
    example = "unique_combination: {columns: [order_id, line]}"

    def columns_read(self, check: Check) -> list[str]:
        return list(self._params(check).columns)

    def with_columns(self, check: Check, spelling: dict[str, str]) -> Check:
        columns = [spelling.get(c.lower(), c) for c in self._params(check).columns]
        return replace(check, params=UniqueCombinationParams(columns=columns))

    def evaluate(self, check: Check, run: RunContext) -> Verdict:
        sql = run.sql
        keys = self._params(check).columns
        where = sql.where(check)
        rows = exp.Count(this=exp.Star())
        groups = sql.select(*[sql.column(k) for k in keys], rows.as_(GROUP_ROWS), condition=where)
        groups = groups.group_by(*[sql.column(k) for k in keys])
        inner = exp.to_identifier("g")
        counted = exp.column(GROUP_ROWS, table=inner.name, quoted=True)
        complete = [
            exp.not_(
                exp.Is(this=exp.column(k, table=inner.name, quoted=True), expression=exp.null())
            )
            for k in keys
        ]
        duplicated = exp.and_(counted.copy() > 1, *complete)
        failing = exp.Sum(this=when(duplicated, counted.copy()))
        query = exp.select(
            exp.func("COALESCE", exp.Sum(this=counted.copy()), exp.Literal.number(0)).as_("total"),
            exp.func("COALESCE", failing, exp.Literal.number(0)).as_("failing"),
        ).from_(groups.subquery(inner))
        decide = sql.render(query)
        total, failing_rows = run.execute(decide)[0]
        sample_sql = sql.render(_duplicates(sql, keys, where, with_total=False))
        what = f"repeat a combination of {', '.join(keys)}"
        return row_verdict(
            check, int(failing_rows), int(total), what, sql=decide, sample_sql=sample_sql
        )

    @staticmethod
    def _params(check: Check) -> UniqueCombinationParams:
        params = check.params
        assert isinstance(params, UniqueCombinationParams)
        return params
