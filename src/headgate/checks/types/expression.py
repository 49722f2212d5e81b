"""``expression``: a SQL boolean that must hold on every row.

A row fails when the expression is false; when it is NULL (it reads a NULL value) the
row does not fail, as in a SQL ``CHECK`` constraint.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from sqlglot import exp

from headgate.checks.evaluation import RowCheckType
from headgate.checks.spec import Check, CheckParams, register
from headgate.checks.sqlgen import SqlContext, parse_snippet
from headgate.project.models import DIALECT


class ExpressionParams(CheckParams):
    sql: str = Field(min_length=1)

    @field_validator("sql")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_snippet(value, DIALECT)  # a SnippetError is a ValueError: pydantic reports it
        return value


@register
class Expression(RowCheckType):
    name = "expression"
    params_model = ExpressionParams
    scopes = frozenset({"column", "model"})
    example = 'expression: {sql: "amount >= discount"}'

    def sql_snippets(self, check: Check) -> list[str]:
        params = check.params
        assert isinstance(params, ExpressionParams)
        return [params.sql]

    def failure(self, check: Check, sql: SqlContext) -> exp.Expr:
        params = check.params
        assert isinstance(params, ExpressionParams)
        return exp.not_(exp.paren(sql.snippet(params.sql)))

    def describe(self, check: Check) -> str:
        params = check.params
        assert isinstance(params, ExpressionParams)
        return f"violate {params.sql}"
