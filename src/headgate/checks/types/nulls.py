"""``not_null``: the only check that counts NULLs as failures."""

from __future__ import annotations

from sqlglot import exp

from headgate.checks.evaluation import RowCheckType, column_name
from headgate.checks.spec import Check, CheckParams, register
from headgate.checks.sqlgen import SqlContext


class NotNullParams(CheckParams):
    pass


@register
class NotNull(RowCheckType):
    name = "not_null"
    params_model = NotNullParams
    scopes = frozenset({"column"})
    example = "not_null"

    def failure(self, check: Check, sql: SqlContext) -> exp.Expr:
        return exp.Is(this=sql.column(column_name(check)), expression=exp.null())

    def describe(self, check: Check) -> str:
        return "are null"
