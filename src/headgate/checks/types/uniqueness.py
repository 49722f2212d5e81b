"""``unique`` and ``unique_combination``: the rows whose value (or key) appears more than once.

A failing row is every row of a duplicated value, so ``1, 1, 1, 2`` has 3 failing rows.
Both types answer with ONE grouped query: ``GROUP BY key HAVING count(*) > 1``, with the
number of failing rows over all duplicated values as a window and the most repeated
values (at most 20, the sample) as its rows. An exact ``COUNT(DISTINCT)`` costs as much
as that grouping on every engine measured (DuckDB builds the same hash table; on
PostgreSQL it even stops the scan from running in parallel), and when it finds
duplicates the grouping must run anyway to count the failing rows. The fused scan only
contributes the number of rows checked, which other checks share.

Integer keys that are dense (about as many rows as values in their span, as ids and
line numbers are) take a faster first step where the engine can index groups directly
by key (:meth:`~headgate.engines.base.EngineSession.dense_keys`): ``count - COUNT(DISTINCT
key)`` then costs about a fifth of the grouping on DuckDB, and proves the common case,
no duplicates; the grouping runs only when it finds some. The fused scan supplies each
key column's minimum and maximum, which tell whether the keys are dense.

NULLs are not values: like a SQL ``UNIQUE`` constraint, a row with a NULL in any of its
key columns is never a duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import reduce
from math import prod
from typing import Any

from pydantic import Field, field_validator
from sqlglot import exp

from headgate.checks.evaluation import (
    RunContext,
    ScanCheckType,
    Verdict,
    column_name,
    row_verdict,
)
from headgate.checks.spec import Check, CheckParams, register
from headgate.checks.sqlgen import SAMPLE_LIMIT, SqlContext, both, count_if, when

FAILING = "failing_rows_in_total"
KEY_NUMBER = "headgate_key_number"
DENSE_SLOTS_PER_ROW = 2  # keys spanning at most twice the rows counted are dense


def _count_alias(keys: list[str]) -> str:
    """The sample's count column: ``rows``, unless a key column is already called that."""
    alias = "rows"
    while alias in {k.lower() for k in keys}:
        alias += "_"
    return alias


def _duplicates(sql: SqlContext, keys: list[str], where: exp.Expr | None) -> exp.Select:
    """Key values that occur more than once, most repeated first (at most 20).

    Each row also carries the number of failing rows over all duplicated values. The
    groups are a CTE read twice (engines materialize it: DuckDB and PostgreSQL both do
    for a CTE referenced more than once); a window over the grouping instead cost DuckDB
    40% more on ten million keys.
    """
    columns: list[exp.Expr] = [sql.column(k) for k in keys]
    not_null = [exp.not_(exp.Is(this=c.copy(), expression=exp.null())) for c in columns]
    return _grouped(sql, columns, both(where, *not_null), _count_alias(keys))


def _grouped(
    sql: SqlContext, keys: list[exp.Expr], condition: exp.Expr | None, counted: str
) -> exp.Select:
    """The duplicated groups of ``keys`` (expressions; not a column becomes ``KEY_NUMBER``)."""
    rows = exp.Count(this=exp.Star())
    named = [k.copy() if isinstance(k, exp.Column) else k.copy().as_(KEY_NUMBER) for k in keys]
    groups = sql.select(*named, rows.copy().as_(counted), condition=condition)
    groups = groups.group_by(*[k.copy() for k in keys]).having(rows.copy() > 1)
    name = "duplicated"
    every = exp.select(exp.Sum(this=exp.column(counted, quoted=True))).from_(name)
    query = exp.select(exp.Star(), exp.Subquery(this=every).as_(FAILING)).from_(name)
    query = query.with_(name, as_=groups)
    ordered = exp.Ordered(this=exp.column(counted, quoted=True), desc=True)
    return query.order_by(ordered).limit(SAMPLE_LIMIT)


def _judge_duplicates(
    check: Check, keys: list[str], values: Mapping[str, Any], run: RunContext, what: str
) -> Verdict:
    """The verdict from one grouped query: failing rows in total, and the sample.

    Dense integer keys are first counted distinct under the engine's dense-key hint;
    when that finds no duplicates the grouping is not needed, and when it finds some
    the grouping is by the one composite integer too.
    """
    total = int(values["total"])
    where = run.sql.where(check)
    dense = _DenseKeys.of(keys, values, total)
    if dense is not None:
        with run.session.dense_keys(dense.span.bit_length() + 1) as applied:
            if applied:
                return dense.judge(check, run, where, what, total)
    query = run.sql.render(_duplicates(run.sql, keys, where))
    return _verdict_from_groups(check, run.records(query), total, what, query)


def _verdict_from_groups(
    check: Check, found: list[dict[str, Any]], total: int, what: str, query: str
) -> Verdict:
    failing = int(found[0][FAILING]) if found else 0
    sample = [{k: v for k, v in row.items() if k != FAILING} for row in found]
    return row_verdict(check, failing, total, what, sql=query, sample=sample)


@dataclass(frozen=True)
class _DenseKeys:
    """Integer keys numbered as one: ``sum((key - low) * stride)``, in ``[0, span)``."""

    keys: list[str]
    lows: list[int]
    sizes: list[int]  # high - low + 1 per key

    @classmethod
    def of(cls, keys: list[str], values: Mapping[str, Any], total: int) -> _DenseKeys | None:
        """The numbering, when every key is an integer and the span is dense; else None."""
        bounds = [(values[f"low{i}"], values[f"high{i}"]) for i in range(len(keys))]
        if not all(_is_int(low) and _is_int(high) for low, high in bounds):
            return None
        found = cls(keys, [low for low, _ in bounds], [high - low + 1 for low, high in bounds])
        return found if 0 < found.span <= DENSE_SLOTS_PER_ROW * total else None

    @property
    def span(self) -> int:
        return prod(self.sizes)

    def strides(self) -> list[int]:
        """The last key varies fastest: stride of key i is the product of later sizes."""
        return [prod(self.sizes[i + 1 :]) for i in range(len(self.keys))]

    def number(self, sql: SqlContext) -> exp.Expr:
        """The composite as SQL; NULL when any key is NULL (arithmetic keeps NULL)."""
        parts: list[exp.Expr] = []
        for key, low, stride in zip(self.keys, self.lows, self.strides(), strict=True):
            part = _offset(sql.column(key), low)
            parts.append(
                part
                if stride == 1
                else exp.Mul(this=exp.paren(part), expression=exp.Literal.number(stride))
            )
        return reduce(lambda a, b: exp.Add(this=a, expression=b), parts)

    def decode(self, number: int) -> dict[str, int]:
        return {
            key: low + (number // stride) % size
            for key, low, size, stride in zip(
                self.keys, self.lows, self.sizes, self.strides(), strict=True
            )
        }

    def judge(
        self, check: Check, run: RunContext, where: exp.Expr | None, what: str, total: int
    ) -> Verdict:
        """Distinct count first; on duplicates, group by the number and decode the sample.

        The SQL shown for a failure is the plain grouping by the key columns: it finds
        the same groups, and reads as what it means.
        """
        sql = run.sql
        number = self.number(sql)
        value = when(where, number)
        distinct = exp.Count(this=exp.Distinct(expressions=[value.copy()]))
        surplus = sql.select(exp.Sub(this=exp.Count(this=value.copy()), expression=distinct))
        decided = sql.render(surplus)
        if int(run.execute(decided)[0][0] or 0) == 0:
            return row_verdict(check, 0, total, what, sql=decided)
        counted = _count_alias(self.keys)
        present = exp.not_(exp.Is(this=number.copy(), expression=exp.null()))
        found = run.records(sql.render(_grouped(sql, [number], both(where, present), counted)))
        # a key whose values start at 0 is its own number: the grouping names it as it is
        named = number.name if isinstance(number, exp.Column) else KEY_NUMBER
        rows = [
            {**self.decode(int(row[named])), counted: row[counted], FAILING: row[FAILING]}
            for row in found
        ]
        readable = sql.render(_duplicates(sql, self.keys, where))
        return _verdict_from_groups(check, rows, total, what, readable)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _key_aggregates(sql: SqlContext, check: Check, keys: list[str]) -> dict[str, exp.Expr]:
    """The fused scan's part: rows checked, and each key column's range (shared, unfiltered)."""
    found: dict[str, exp.Expr] = {"total": count_if(sql.where(check))}
    for i, key in enumerate(keys):
        found[f"low{i}"] = exp.Min(this=sql.column(key))
        found[f"high{i}"] = exp.Max(this=sql.column(key))
    return found


def _offset(column: exp.Expr, low: int) -> exp.Expr:
    """``column - low``, written the way a person would (``id``, ``id - 5``, ``id + 3``)."""
    if low == 0:
        return column
    if low < 0:
        return exp.Add(this=column, expression=exp.Literal.number(-low))
    return exp.Sub(this=column, expression=exp.Literal.number(low))


class UniqueParams(CheckParams):
    pass


@register
class Unique(ScanCheckType):
    name = "unique"
    params_model = UniqueParams
    scopes = frozenset({"column"})
    example = "unique"

    def aggregates(self, check: Check, sql: SqlContext) -> dict[str, exp.Expr]:
        return _key_aggregates(sql, check, [column_name(check)])

    def judge(self, check: Check, values: Mapping[str, Any], run: RunContext) -> Verdict:
        what = "hold a value that appears more than once"
        return _judge_duplicates(check, [column_name(check)], values, run, what)


class UniqueCombinationParams(CheckParams):
    columns: list[str] = Field(min_length=2)

    @field_validator("columns")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len({c.lower() for c in value}) != len(value):
            raise ValueError("a column is listed twice")
        return value


@register
class UniqueCombination(ScanCheckType):
    name = "unique_combination"
    params_model = UniqueCombinationParams
    scopes = frozenset({"model"})
    example = "unique_combination: {columns: [order_id, line]}"

    def columns_read(self, check: Check) -> list[str]:
        return list(self._params(check).columns)

    def with_columns(self, check: Check, spelling: dict[str, str]) -> Check:
        columns = [spelling.get(c.lower(), c) for c in self._params(check).columns]
        return replace(check, params=UniqueCombinationParams(columns=columns))

    def aggregates(self, check: Check, sql: SqlContext) -> dict[str, exp.Expr]:
        return _key_aggregates(sql, check, self._params(check).columns)

    def judge(self, check: Check, values: Mapping[str, Any], run: RunContext) -> Verdict:
        keys = self._params(check).columns
        what = f"repeat a combination of {', '.join(keys)}"
        return _judge_duplicates(check, list(keys), values, run, what)

    @staticmethod
    def _params(check: Check) -> UniqueCombinationParams:
        params = check.params
        assert isinstance(params, UniqueCombinationParams)
        return params
