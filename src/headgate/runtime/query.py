"""Read-only queries against an environment: models are read by name, through its views."""

from __future__ import annotations

import difflib
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from headgate.engines.transpile import Columns
from headgate.errors import HeadgateError
from headgate.plan.rewrite import reference_targets, rewrite_references
from headgate.project.models import DIALECT, table_references
from headgate.project.sqlsyntax import SYNTAX_HINT, SqlSyntaxError, in_text, parse_statements

READ_ONLY = (exp.Query, exp.Describe, exp.Show, exp.Pragma)


def environment_query(
    sql: str,
    views: dict[str, str],
    *,
    limit: int | None = None,
    dialect: str = DIALECT,
    columns: Columns | None = None,
) -> str:
    """The SQL to run: only reading statements, model names swapped for the environment's views.

    The query is written in the project's dialect and run in ``dialect``, the engine's.
    """
    try:
        statements = parse_statements(sql, dialect=DIALECT)
    except SqlSyntaxError as exc:
        raise HeadgateError(in_text(exc.problem), hint=SYNTAX_HINT) from None
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
    rewritten = rewrite_references(
        statement.sql(dialect=DIALECT), targets, dialect=dialect, columns=columns
    )
    if limit is not None:
        rewritten = f"SELECT * FROM ({rewritten}) AS q LIMIT {int(limit)}"
    return rewritten


_MISSING_TABLE = re.compile(
    r'Table with name "?([^\s"!]+)"? does not exist|relation "([^"]+)" does not exist'
)


def unknown_table(
    message: str, sql: str, published: list[str], environment: str
) -> HeadgateError | None:
    """The engine's "no such table" error said in the environment's terms.

    The engine's own suggestion may name another environment's internal schema (it
    knows every view in the warehouse); this one names only what ``environment``
    publishes, by the names users read them by.
    """
    found = _MISSING_TABLE.search(message)
    if found is None:
        return None
    missing = (found.group(1) or found.group(2)).lower()
    try:
        parsed = sqlglot.parse_one(sql, dialect=DIALECT)
    except SqlglotError:
        parsed = None
    refs = table_references(parsed)[0] if isinstance(parsed, exp.Query) else []
    known = set(published)
    unknown = [r for r in refs if r not in known and f"main.{r}" not in known]
    name = next((r for r in unknown if r == missing or r.endswith(f".{missing}")), missing)
    close = difflib.get_close_matches(name, published, n=3, cutoff=0.6)
    if not close:  # by the table part alone: `ordrs` -> `marts.orders`
        table = name.rsplit(".", 1)[-1]
        by_table = {p.rsplit(".", 1)[-1]: p for p in published}
        close = [by_table[t] for t in difflib.get_close_matches(table, list(by_table), n=3)]
    return HeadgateError(
        f"{environment} publishes no model or source named {name}",
        hint=f"did you mean {', '.join(close)}?"
        if close
        else f"see what it publishes: headgate status --env {environment}",
    )
