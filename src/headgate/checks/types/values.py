"""Checks on each value of a column: accepted_values, range, regex, length.

A NULL value never fails these (``not_null`` is for that): the failure condition is
NULL for it, and a NULL condition is not counted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Self

from pydantic import (
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from sqlglot import exp

from headgate.checks.evaluation import RowCheckType, column_name
from headgate.checks.spec import Check, CheckParams, register
from headgate.checks.sqlgen import SqlContext, literal
from headgate.checks.text import sentence_list
from headgate.project.sqlsyntax import regex_problem

Value = StrictStr | StrictInt | StrictFloat | StrictBool | datetime | date
Bound = StrictInt | StrictFloat | datetime | date | StrictStr


def _shown(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,}" if isinstance(value, int) else f"{value:g}"
    return str(value)


class AcceptedValuesParams(CheckParams):
    values: list[Value] = Field(min_length=1)


@register
class AcceptedValues(RowCheckType):
    name = "accepted_values"
    params_model = AcceptedValuesParams
    scopes = frozenset({"column"})
    example = "accepted_values: {values: [placed, shipped, returned]}"

    def failure(self, check: Check, sql: SqlContext) -> exp.Expr:
        params = check.params
        assert isinstance(params, AcceptedValuesParams)
        values = [literal(v) for v in params.values]
        return exp.not_(exp.In(this=sql.column(column_name(check)), expressions=values))

    def describe(self, check: Check) -> str:
        params = check.params
        assert isinstance(params, AcceptedValuesParams)
        return "are not one of " + sentence_list([_shown(v) for v in params.values], 8)


class RangeParams(CheckParams):
    min: Bound | None = None
    max: Bound | None = None
    inclusive: bool = True
    min_inclusive: bool | None = None
    max_inclusive: bool | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        numbers = (int, float)
        if (
            isinstance(self.min, numbers) and isinstance(self.max, numbers) and self.min > self.max
        ) or (
            isinstance(self.min, date)
            and isinstance(self.max, date)
            and type(self.min) is type(self.max)
            and self.min > self.max
        ):
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    @property
    def lower_inclusive(self) -> bool:
        return self.inclusive if self.min_inclusive is None else self.min_inclusive

    @property
    def upper_inclusive(self) -> bool:
        return self.inclusive if self.max_inclusive is None else self.max_inclusive


@register
class Range(RowCheckType):
    name = "range"
    params_model = RangeParams
    scopes = frozenset({"column"})
    example = "range: {min: 0, max: 100, inclusive: true}"

    def failure(self, check: Check, sql: SqlContext) -> exp.Expr:
        params = check.params
        assert isinstance(params, RangeParams)
        column = sql.column(column_name(check))
        outside: list[exp.Expr] = []
        if params.min is not None:
            low = literal(params.min)
            outside.append(column.copy() < low if params.lower_inclusive else column.copy() <= low)
        if params.max is not None:
            high = literal(params.max)
            outside.append(
                column.copy() > high if params.upper_inclusive else column.copy() >= high
            )
        return exp.or_(*outside) if len(outside) > 1 else outside[0]

    def describe(self, check: Check) -> str:
        params = check.params
        assert isinstance(params, RangeParams)
        if params.min is not None and params.max is not None:
            left = "[" if params.lower_inclusive else "("
            right = "]" if params.upper_inclusive else ")"
            return f"are outside {left}{_shown(params.min)}, {_shown(params.max)}{right}"
        if params.min is not None:
            low = _shown(params.min)
            return f"are below {low}" if params.lower_inclusive else f"are {low} or below"
        high = _shown(params.max)
        return f"are above {high}" if params.upper_inclusive else f"are {high} or above"


class RegexParams(CheckParams):
    pattern: str = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        problem = regex_problem(value)
        if problem is not None:
            raise ValueError(
                f"the pattern {value!r} is not a regular expression the warehouse reads "
                f"(RE2 syntax): {problem}"
            )
        return value


@register
class Regex(RowCheckType):
    """A value fails when the pattern is not found in it (anchor with ^ and $ for a full match).

    The engine's regular expressions apply (RE2 in DuckDB, POSIX in PostgreSQL).
    """

    name = "regex"
    params_model = RegexParams
    scopes = frozenset({"column"})
    example = "regex: {pattern: '^[A-Z]{2}[0-9]+$'}"

    def failure(self, check: Check, sql: SqlContext) -> exp.Expr:
        params = check.params
        assert isinstance(params, RegexParams)
        match = exp.RegexpLike(
            this=sql.column(column_name(check)), expression=exp.Literal.string(params.pattern)
        )
        return exp.not_(match)

    def describe(self, check: Check) -> str:
        params = check.params
        assert isinstance(params, RegexParams)
        return f"do not match {params.pattern!r}"


class LengthParams(CheckParams):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


@register
class Length(RowCheckType):
    name = "length"
    params_model = LengthParams
    scopes = frozenset({"column"})
    example = "length: {min: 3, max: 254}"

    def failure(self, check: Check, sql: SqlContext) -> exp.Expr:
        params = check.params
        assert isinstance(params, LengthParams)
        length = exp.Length(this=sql.column(column_name(check)))
        outside: list[exp.Expr] = []
        if params.min is not None:
            outside.append(length.copy() < exp.Literal.number(params.min))
        if params.max is not None:
            outside.append(length.copy() > exp.Literal.number(params.max))
        return exp.or_(*outside) if len(outside) > 1 else outside[0]

    def describe(self, check: Check) -> str:
        params = check.params
        assert isinstance(params, LengthParams)
        if params.min is not None and params.max is not None:
            return f"have a length outside [{params.min}, {params.max}]"
        if params.min is not None:
            return f"are shorter than {params.min}"
        return f"are longer than {params.max}"
