"""Building check SQL with sqlglot expressions, so one definition generates for any dialect.

Every query headgate runs for a check is built here or from these pieces, never by
pasting strings: identifiers are quoted by the generator, literals escaped by it, and a
dialect difference (``REGEXP_MATCHES`` in DuckDB, ``~`` in PostgreSQL) is sqlglot's job.
Filtered counts are written ``COUNT(CASE WHEN cond THEN 1 END)``: unlike ``FILTER
(WHERE ...)`` or ``COUNT_IF`` it generates unchanged, and means the same, in every SQL
engine, and unlike ``SUM(CASE ...)`` it is 0, not NULL, on an empty table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from headgate.checks.spec import Check
from headgate.project.sqlsyntax import WAREHOUSE_DIALECT, expression_syntax_problem, in_text

SAMPLE_LIMIT = 20
"""At most this many failing rows are fetched for a failed check."""


class SnippetError(ValueError):
    """User-written SQL (a ``where``, an expression) that does not parse as one expression."""


def parse_snippet(text: str, dialect: str) -> exp.Expr:
    """Parse a SQL boolean expression as written in a check; SnippetError says why not."""
    try:
        parsed = [e for e in sqlglot.parse(text, read=dialect) if e is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        detail = str(first.get("description") or exc).split("\n")[0]
        if "Required keyword" in detail or "<class" in detail:
            detail = "the expression is incomplete"
        raise SnippetError(f"not a valid SQL expression: {detail}") from None
    except SqlglotError as exc:  # an unterminated string or quoted name: DuckDB says where
        _refuse_what_the_warehouse_refuses(text, dialect)
        raise SnippetError(f"not a valid SQL expression: {exc}") from None
    if len(parsed) != 1:
        raise SnippetError("write one SQL expression, without ';'")
    expression = parsed[0]
    if isinstance(expression, exp.Query | exp.DDL | exp.DML | exp.Command):
        raise SnippetError("write a boolean expression (like a WHERE condition), not a statement")
    _refuse_what_the_warehouse_refuses(text, dialect)
    return expression


def _refuse_what_the_warehouse_refuses(text: str, dialect: str) -> None:
    """sqlglot reads some broken SQL leniently (``x in (select y from t join u on)``)."""
    if dialect != WAREHOUSE_DIALECT:
        return
    problem = expression_syntax_problem(text)
    if problem is not None:
        raise SnippetError(f"not a valid SQL expression: {in_text(problem)}")


def referenced_columns(expression: exp.Expr) -> list[str]:
    """Unqualified column names an expression reads; none when it holds a subquery.

    A subquery may read other tables' columns, which cannot be checked against this one.
    """
    if any(True for _ in expression.find_all(exp.Query)):
        return []
    names = {c.name for c in expression.find_all(exp.Column) if not c.table and c.name}
    return sorted(names)


def table_of(qualified: str) -> exp.Table:
    """``catalog.schema.table``, ``schema.table`` or ``table`` as a quoted table expression."""
    parts = qualified.split(".")
    return exp.table_(
        parts[-1],
        db=parts[-2] if len(parts) > 1 else None,
        catalog=".".join(parts[:-2]) if len(parts) > 2 else None,
        quoted=True,
    )


def literal(value: object) -> exp.Expr:
    """A Python value (from YAML) as a SQL literal of the matching type."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.Type.TIMESTAMP)
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    return exp.Literal.string(str(value))


def count_if(condition: exp.Expr | None) -> exp.Expr:
    """``COUNT(*)``, or ``COUNT(CASE WHEN condition THEN 1 END)``: rows where it is true."""
    if condition is None:
        return exp.Count(this=exp.Star())
    return exp.Count(this=when(condition, exp.Literal.number(1)))


def when(condition: exp.Expr | None, value: exp.Expr) -> exp.Expr:
    """``CASE WHEN condition THEN value END`` (NULL otherwise), or ``value`` if no condition."""
    if condition is None:
        return value
    return exp.Case(ifs=[exp.If(this=condition.copy(), true=value)])


def both(*conditions: exp.Expr | None) -> exp.Expr | None:
    """The conjunction of the given conditions; None when there are none.

    sqlglot parenthesizes an ``OR`` operand itself, so ``where`` keeps its meaning.
    """
    present = [c.copy() for c in conditions if c is not None]
    if not present:
        return None
    return exp.and_(*present) if len(present) > 1 else present[0]


@dataclass(frozen=True)
class SqlContext:
    """The table and dialect check SQL is generated for, with the helpers types need."""

    table: str
    dialect: str

    @property
    def source(self) -> exp.Table:
        return table_of(self.table)

    def column(self, name: str) -> exp.Column:
        return exp.column(name, quoted=True)

    def snippet(self, text: str) -> exp.Expr:
        """User SQL parsed in this dialect (the engine's: users write SQL for their warehouse)."""
        return parse_snippet(text, self.dialect)

    def where(self, check: Check) -> exp.Expr | None:
        return self.snippet(check.where) if check.where else None

    def select(
        self,
        *projections: exp.Expr,
        condition: exp.Expr | None = None,
        limit: int | None = None,
    ) -> exp.Select:
        query = exp.select(*projections).from_(self.source)
        if condition is not None:
            query = query.where(condition)
        if limit is not None:
            query = query.limit(limit)
        return query

    def sample(self, condition: exp.Expr | None) -> str:
        """``SELECT * FROM table WHERE condition LIMIT 20``: rows to show a user."""
        return self.render(self.select(exp.Star(), condition=condition, limit=SAMPLE_LIMIT))

    def render(self, expression: exp.Expr) -> str:
        return expression.sql(dialect=self.dialect, pretty=True)
