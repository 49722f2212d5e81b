"""Read-only queries against an environment: models are read by name, through its views."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from headgate.errors import HeadgateError
from headgate.plan.rewrite import reference_targets, rewrite_references
from headgate.project.models import DIALECT, table_references

READ_ONLY = (exp.Query, exp.Describe, exp.Show, exp.Pragma)


def environment_query(sql: str, views: dict[str, str], *, limit: int | None = None) -> str:
    """The SQL to run: only reading statements, model names swapped for the environment's views."""
    try:
        statements = [s for s in sqlglot.parse(sql, dialect=DIALECT) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise HeadgateError(
            f"SQL syntax error at line {first.get('line')}, column {first.get('col')}: "
            f"{first.get('description') or exc}"
        ) from None
    if len(statements) != 1:
        raise HeadgateError("give exactly one query")
    statement = statements[0]
    if not isinstance(statement, READ_ONLY):
        raise HeadgateError(
            f"headgate query only reads; {statement.key.upper()} is not allowed",
            hint="change data through models and `headgate run`",
        )
    if not isinstance(statement, exp.Query):
        return statement.sql(dialect=DIALECT)
    refs, _ = table_references(statement)
    targets = reference_targets(refs, views)
    rewritten = rewrite_references(statement.sql(dialect=DIALECT), targets)
    if limit is not None:
        rewritten = f"SELECT * FROM ({rewritten}) AS q LIMIT {int(limit)}"
    return rewritten
