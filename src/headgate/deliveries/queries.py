"""The SQL a delivery runs: models are read by name and swapped for the environment's tables.

A report section's query is plain SQL naming models (``marts.daily_revenue``); it is
parsed with sqlglot, never templated, and every reference the environment knows is
rewritten to the table or view holding that model there. Only a single reading
statement is accepted, so a delivery can never change the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from headgate.engines.base import quote
from headgate.errors import HeadgateError
from headgate.plan.rewrite import rewrite_references
from headgate.project.models import DIALECT, table_references
from headgate.project.sqlsyntax import SqlSyntaxError, in_text, parse_statements

Resolver = Callable[[str], str]


def parse_query(sql: str) -> exp.Query:
    """The one SELECT in ``sql``; a ``ValueError`` says what is wrong (config validation shows it)."""
    try:
        statements = parse_statements(sql, dialect=DIALECT)
    except SqlSyntaxError as exc:
        raise ValueError(in_text(exc.problem)) from None
    if len(statements) != 1:
        raise ValueError("give exactly one query")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise ValueError(f"a delivery only reads; {statement.key.upper()} is not allowed")
    return statement


def query_references(sql: str) -> list[str]:
    """The tables a query reads, lower-cased as written (CTE names and table functions excluded)."""
    refs, _ = table_references(parse_query(sql))
    return refs


def environment_sql(sql: str, resolve: Resolver, *, dialect: str = DIALECT) -> str:
    """``sql`` with each model it names replaced by the model's table in the environment.

    The query is written in the project's dialect and returned in ``dialect``, the engine's.

    ``resolve`` raises ``KeyError`` for a name that is not a model; such a reference
    (a table outside headgate, an ``information_schema`` view) is left as written.
    """
    try:
        query = parse_query(sql)
    except ValueError as exc:
        raise HeadgateError(str(exc)) from None
    refs, _ = table_references(query)
    targets: dict[str, str] = {}
    for ref in refs:
        target = _try_resolve(ref, resolve)
        if target is None and ref.startswith("main."):
            target = _try_resolve(ref[5:], resolve)  # `main.x` is how DuckDB names model `x`
        if target is not None:
            targets[ref] = target
    return rewrite_references(query.sql(dialect=DIALECT), targets, dialect=dialect)


def model_sql(model: str, resolve: Resolver, *, environment: str) -> str:
    """``SELECT *`` from a model's table in the environment."""
    target = _try_resolve(model, resolve)
    if target is None:
        raise HeadgateError(
            f"model '{model}' is not published in environment '{environment}'",
            hint="check the model's name, and that a run has published it in this environment",
        )
    return f"SELECT * FROM {quote(target)}"


def _try_resolve(name: str, resolve: Resolver) -> str | None:
    try:
        return resolve(name)
    except KeyError:
        return None
