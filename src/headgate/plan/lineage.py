"""Column lineage through sqlglot: which columns a query defines, and which it reads.

Both answers are what the impact review needs: a model's changed columns are those
whose definition differs; a downstream model is broken by the change only if it
reads one of them (in its SELECT, WHERE, JOIN, GROUP BY or anywhere else).

>>> schema = {"staging": {"orders": {"id": "INT", "amount": "DOUBLE", "note": "TEXT"}}}
>>> sorted(columns_read("select id, sum(amount) from staging.orders group by id", schema)["staging.orders"])
['amount', 'id']
>>> definitions("select id, amount * 2 as doubled from staging.orders", schema)["doubled"]
'orders.amount * 2'
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.schema import MappingSchema

from headgate.project.models import DIALECT, qualified_name

Schema = dict[str, dict[str, dict[str, str]]]  # schema -> table -> column -> type
ALL = None  # "every column": a star that could not be expanded, or a query that could not be read


def schema_of(columns: dict[str, list[list[str]]]) -> Schema:
    """A sqlglot schema from model name -> [[column, type], ...] (two-part names only)."""
    schema: Schema = {}
    for name, cols in columns.items():
        db, _, table = name.rpartition(".")
        if db and "." not in db:
            schema.setdefault(db, {})[table] = {c: t for c, t in cols}
    return schema


_MAPPINGS: dict[int, tuple[Schema, MappingSchema]] = {}


def _mapping(schema: Schema) -> MappingSchema | None:
    """One sqlglot MappingSchema per schema dict: building it normalizes every table, which
    costs far more than qualifying one query, so a plan reuses it for every model."""
    if not schema:
        return None
    cached = _MAPPINGS.get(id(schema))
    if cached is None or cached[0] is not schema:
        if len(_MAPPINGS) > 8:
            _MAPPINGS.clear()
        cached = (schema, MappingSchema(dict(schema), dialect=DIALECT))
        _MAPPINGS[id(schema)] = cached
    return cached[1]


def _qualified(sql: str, schema: Schema) -> exp.Expression | None:
    try:
        expression = sqlglot.parse_one(sql, dialect=DIALECT)
        qualified: exp.Expression = qualify(  # type: ignore[assignment]
            expression,
            schema=_mapping(schema),
            dialect=DIALECT,
            validate_qualify_columns=False,
            identify=False,
        )
        return qualified
    except (SqlglotError, KeyError, ValueError):
        return None


def definitions(sql: str, schema: Schema) -> dict[str, str] | None:
    """Output column -> its defining expression, or None when the output is not knowable."""
    query = _qualified(sql, schema)
    if query is None:
        return None
    select = query if isinstance(query, exp.Select) else query.find(exp.Select)
    if select is None:
        return None
    found: dict[str, str] = {}
    for projection in select.expressions:
        if isinstance(projection, exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            return None
        found[projection.alias_or_name.lower()] = projection.unalias().sql(dialect=DIALECT)
    if isinstance(query, exp.Union):
        # a union's columns take every branch's expression into account
        return {k: query.sql(dialect=DIALECT) for k in found}
    return found


def columns_read(sql: str, schema: Schema) -> dict[str, set[str] | None]:
    """Source table -> columns the query reads from it (ALL when it cannot tell)."""
    query = _qualified(sql, schema)
    if query is None:
        return {}
    reads: dict[str, set[str] | None] = {}
    try:
        scopes = traverse_scope(query)
    except SqlglotError:
        return {qualified_name(t): ALL for t in query.find_all(exp.Table)}
    for scope in scopes:
        tables = {
            alias: qualified_name(source)
            for alias, source in scope.sources.items()
            if isinstance(source, exp.Table)
        }
        for name in tables.values():
            reads.setdefault(name, set())
        for column in scope.columns:
            source = tables.get(column.table)
            if source is not None and reads.get(source) is not ALL:
                reads[source].add(column.name.lower())  # type: ignore[union-attr]
        for star in scope.expression.find_all(exp.Star):
            owner = star.parent
            if not isinstance(owner, exp.Column | exp.Select):
                continue  # COUNT(*) and friends read no column
            table = owner.table if isinstance(owner, exp.Column) else None
            for alias, name in tables.items():
                if table in (None, "", alias):
                    reads[name] = ALL
    return reads


def star_sources(sql: str) -> set[str]:
    """Tables whose every column a query passes through with ``*`` (new columns reach its output)."""
    try:
        query = sqlglot.parse_one(sql, dialect=DIALECT)
        scopes = traverse_scope(query)
    except SqlglotError:
        return set()
    found: set[str] = set()
    for scope in scopes:
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        tables = {
            a: qualified_name(t) for a, t in scope.sources.items() if isinstance(t, exp.Table)
        }
        for projection in select.expressions:
            if isinstance(projection, exp.Star):
                found.update(tables.values())
            elif (
                isinstance(projection, exp.Column)
                and isinstance(projection.this, exp.Star)
                and projection.table in tables
            ):
                found.add(tables[projection.table])
    return found


def rows_signature(sql: str) -> str | None:
    """The query with its output list blanked: equal signatures mean the same rows.

    Two versions whose signatures match differ only in what they compute per row, so
    only the columns whose expression changed are affected; otherwise (a new filter,
    join or source) any column's values may differ.
    """
    try:
        query = sqlglot.parse_one(sql, dialect=DIALECT)
    except SqlglotError:
        return None
    select = query if isinstance(query, exp.Select) else None
    if select is None:
        return query.sql(dialect=DIALECT)
    blank = select.copy()
    blank.set("expressions", [exp.Star()])
    return blank.sql(dialect=DIALECT)


def column_sources(sql: str, schema: Schema) -> dict[str, list[tuple[str, str]]] | None:
    """Each output column -> the (table, column) pairs it is computed from, through CTEs and
    subqueries; None when the query cannot be read. Literals and VALUES lists are no source.

    >>> schema = {"staging": {"orders": {"id": "INT", "amount": "DOUBLE"}}}
    >>> column_sources("select id, amount * 2 as doubled from staging.orders", schema)["doubled"]
    [('staging.orders', 'amount')]
    """
    from sqlglot.lineage import lineage as trace

    query = _qualified(sql, schema)
    if query is None:
        return None
    try:
        nodes = trace(None, query, schema={}, dialect=DIALECT, copy=False)
    except (SqlglotError, KeyError, ValueError):
        return None
    found: dict[str, list[tuple[str, str]]] = {}
    for column, node in nodes.items():
        sources: dict[tuple[str, str], None] = {}
        for step in node.walk():
            if not step.downstream and isinstance(step.source, exp.Table):
                sources[(qualified_name(step.source), step.name.rsplit(".", 1)[-1].lower())] = None
        found[column.lower()] = list(sources)
    return found


def changed_definitions(before: dict[str, str] | None, after: dict[str, str] | None) -> set[str]:
    """Columns present in both whose expression differs."""
    if before is None or after is None:
        return set()
    return {c for c in set(before) & set(after) if before[c] != after[c]}


def pretty(sql: str) -> str:
    try:
        return str(sqlglot.transpile(sql, read=DIALECT, write=DIALECT, pretty=True)[0])
    except SqlglotError:
        return sql
