"""Rendering a query written in one SQL dialect as SQL another engine runs.

Models are written in the project's dialect (DuckDB's); an engine of another dialect
gets them through sqlglot. Where the tables a query reads are known, the query is first
qualified and typed against them (``columns``): sqlglot then expands ``* EXCLUDE (...)``
into the columns it leaves, and knows when ``round(x, 2)`` reads a double precision that
PostgreSQL only rounds as numeric. A few DuckDB functions PostgreSQL lacks are rewritten
here; a construct with no translation is a :class:`TranspileError` naming it.

On the same dialect nothing changes: the query is rendered as it always was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError, SqlglotError, UnsupportedError

from headgate.errors import HeadgateError, Location, ProjectError

Columns = Callable[[str], list[tuple[str, str]]]  # qualified table -> (name, type) in order


class TranspileError(HeadgateError):
    """A construct of the query has no translation into the engine's dialect."""

    def __init__(
        self, message: str, construct: str, *, hint: str | None = None, node: exp.Expr | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.construct = construct
        self.kind = type(node).__name__ if node is not None else ""
        self.names = _column_names(node) if node is not None else frozenset()

    def located(self, path: Path, read: str = "duckdb") -> ProjectError:
        """This error in a model file, at the line where the construct is written, as written."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            text = ""
        line, written = _written(text, self.kind, self.names, read) if text else (0, "")
        message = self.message.replace(self.construct, written) if written else self.message
        return ProjectError(
            f"cannot run on this engine: {message}", Location(path, line), hint=self.hint
        )


def render(
    query: exp.Expression,
    *,
    read: str,
    write: str,
    columns: Columns | None = None,
) -> str:
    """``query`` (parsed as ``read``) as SQL in ``write``; the tree is changed in place."""
    if read == write:
        return query.sql(dialect=write)
    if columns is not None:
        query = _typed(query, read, write, columns)
    if write == "postgres":
        query = _postgres_arithmetic(query)
    if write == "spark":
        from headgate.engines.spark_sql import spark_arithmetic

        query = spark_arithmetic(query, _surely_exact)
    query = _rewritten_functions(query, write)
    _refuse_untranslatable(query, write)
    try:
        return query.sql(dialect=write, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        node = _construct(query, write)
        construct = _shown(node)
        raise TranspileError(
            f"{_first_line(exc)} (in `{construct}`)",
            construct,
            hint=f"write it in a way {write} supports; see what sqlglot makes of it: "
            f"sqlglot.transpile(sql, read='{read}', write='{write}')",
            node=node,
        ) from None


def _typed(query: exp.Expression, read: str, write: str, columns: Columns) -> exp.Expression:
    """The query qualified and annotated with the types of the tables it reads, when it can be."""
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.schema import MappingSchema

    schema = MappingSchema(dialect=write)
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    for table in query.find_all(exp.Table):
        if not table.name or (not table.db and table.name in ctes):
            continue
        qualified = f"{table.db}.{table.name}" if table.db else table.name
        found = columns(qualified)
        if not found:
            return query  # a table the engine does not know: leave the query as written
        table_ref = exp.table_(table.name, db=table.db or None, quoted=True)
        schema.add_table(table_ref, {name: kind for name, kind in found}, dialect=write)
    try:
        qualified_query = qualify(
            query.copy(),
            schema=schema,
            dialect=read,
            validate_qualify_columns=False,
            quote_identifiers=True,
        )
        typed = annotate_types(qualified_query, schema=schema, dialect=read)
    except (OptimizeError, SqlglotError, KeyError, ValueError):
        return query
    if isinstance(typed, exp.Select):
        # names qualify invented for unnamed outputs: the engine names those itself
        for projection in list(typed.expressions):
            if isinstance(projection, exp.Alias) and projection.alias.startswith("_col_"):
                projection.replace(projection.this)
    return typed


def _rewritten_functions(query: exp.Expression, write: str) -> exp.Expression:
    if write not in ("postgres", "spark"):
        return query

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.RegexpFullMatch):
            # DuckDB's whole-string match: PostgreSQL's ~ (Spark's RLIKE) anchored at both ends
            return exp.RegexpLike(
                this=node.this, expression=_wrapped(node.expression, "^(?:", ")$")
            )
        if (
            isinstance(node, exp.RegexpExtract)
            and write == "postgres"  # Spark's regexp_extract is DuckDB's, group 0 given
            and not node.args.get("parameters")
        ):
            group = node.args.get("group")
            number = int(group.name) if isinstance(group, exp.Literal) and group.name else 0
            pattern = node.expression if number else _wrapped(node.expression, "(", ")")
            match = exp.Anonymous(this="REGEXP_MATCH", expressions=[node.this, pattern])
            element = exp.Bracket(
                this=exp.Paren(this=match),
                expressions=[exp.Literal.number(max(number, 1))],
                offset=1,
            )
            # DuckDB answers '' where nothing matches; PostgreSQL NULL
            return exp.Coalesce(this=element, expressions=[exp.Literal.string("")])
        return node

    return query.transform(rewrite, copy=False)


def _postgres_arithmetic(query: exp.Expression) -> exp.Expression:
    """DuckDB's division and rounding, spelled so PostgreSQL computes the same numbers."""

    def divide(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Div) and not node.args.get("typed"):
            # DuckDB's `/` divides as doubles whatever the operands (decimals too); sqlglot
            # leaves a decimal numerator alone, and PostgreSQL would divide it exactly
            double = (exp.DType.DOUBLE, exp.DType.FLOAT)
            if not (node.this.is_type(*double) or node.expression.is_type(*double)):
                node.set("this", exp.Cast(this=node.this, to=_double()))
        return node

    def round_(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Round) and not _surely_exact(node.this):
            return _round_half_away(node) or node
        return node

    # divisions first: a rounded quotient is a double once its division is
    return query.transform(divide, copy=False).transform(round_, copy=False)


def _surely_exact(node: exp.Expression) -> bool:
    """Whether sqlglot knows ``node`` and everything in it to be decimal or integer."""
    exact = {*exp.DataType.INTEGER_TYPES, exp.DType.DECIMAL, exp.DType.BIGDECIMAL}
    return all(
        isinstance(kind, exp.DataType) and kind.this in exact
        for part in node.walk()
        if isinstance(part, exp.Column | exp.Func | exp.Binary | exp.Cast)
        for kind in [part.to if isinstance(part, exp.Cast) else part.type]
    )


def _round_half_away(node: exp.Round) -> exp.Expression | None:
    """DuckDB's ``round(x, n)`` of a double: the double's exact value rounded, halves away from 0.

    PostgreSQL rounds only numeric to n places, and casting a double to numeric keeps 15
    digits: 75.98499999999999943 (the double nearest 75.985, which DuckDB rounds to 75.98)
    would become 75.985 and round up. ``to_char(x, '9.999...EEEE')`` writes the double with
    21 significant digits, enough to tell which side of a half it lies; the result is a
    double, as DuckDB's is. Infinities and NaN are left as they are.
    """
    decimals = node.args.get("decimals") or exp.Literal.number(0)
    if not isinstance(decimals, exp.Literal) or decimals.is_string:
        return None
    value = node.this
    digits = exp.Anonymous(
        this="TO_CHAR",
        expressions=[value.copy(), exp.Literal.string("9." + "9" * 20 + "EEEE")],
    )
    exact = exp.Cast(this=digits, to=exp.DataType.build("NUMERIC"))
    rounded = exp.Cast(
        this=exp.Round(this=exact, decimals=decimals.copy()),
        to=_double(),
    )
    finite = exp.EQ(
        this=exp.Sub(this=exp.Paren(this=value.copy()), expression=exp.Paren(this=value.copy())),
        expression=exp.Literal.number(0),
    )
    return exp.Case(ifs=[exp.If(this=finite, true=rounded)], default=value.copy())


def _double() -> exp.DataType:
    return exp.DataType.build("DOUBLE PRECISION", dialect="postgres")


def _wrapped(pattern: exp.Expression, before: str, after: str) -> exp.Expression:
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        return exp.Literal.string(before + pattern.this + after)
    return exp.DPipe(
        this=exp.DPipe(this=exp.Literal.string(before), expression=pattern.copy()),
        expression=exp.Literal.string(after),
    )


def _refuse_untranslatable(query: exp.Expression, write: str) -> None:
    """Constructs sqlglot passes through unchanged although ``write`` cannot run them."""
    if write != "postgres":
        return
    for node in query.find_all(exp.Star, exp.Join):
        if isinstance(node, exp.Star) and (node.args.get("except") or node.args.get("replace")):
            construct = node.sql(dialect="duckdb")
            raise TranspileError(
                f"PostgreSQL has no `* EXCLUDE` / `* REPLACE` and the columns to expand it into "
                f"are unknown (in `{construct}`)",
                construct,
                hint="list the columns, or build the tables it reads first",
                node=node,
            )
        if isinstance(node, exp.Join) and (node.args.get("kind") or "").upper() == "ASOF":
            construct = "ASOF JOIN"
            raise TranspileError(
                "PostgreSQL has no ASOF JOIN (in `ASOF JOIN`)",
                construct,
                hint="use a LATERAL subquery instead",
                node=node,
            )


def _construct(query: exp.Expression, write: str) -> exp.Expr:
    """The smallest part of ``query`` that cannot be rendered in ``write``."""
    found: exp.Expr = query
    for node in query.walk(bfs=False):
        if node is query:
            continue
        try:
            node.sql(dialect=write, unsupported_level=ErrorLevel.RAISE)
        except UnsupportedError:
            found = node  # depth-first: a deeper failing node replaces its parent
        except SqlglotError:
            continue
    return found


def _shown(node: exp.Expr) -> str:
    text = node.sql(dialect="duckdb")
    return text if len(text) <= 80 else text[:77] + "..."


def _column_names(node: exp.Expr) -> frozenset[str]:
    return frozenset(c.name.lower() for c in node.find_all(exp.Column))


def _written(text: str, kind: str, names: frozenset[str], read: str) -> tuple[int, str]:
    """Where in ``text`` (a model file) the construct is: its 1-based line and how it reads there.

    The construct failed in the query as rewritten (tables renamed, columns qualified), so
    it is found again by its kind and the columns it uses; (0, "") when it is not found.
    """
    import sqlglot

    try:
        parsed = sqlglot.parse_one(text, read=read)
    except SqlglotError:
        return 0, ""
    for node in parsed.walk():
        if type(node).__name__ != kind or _column_names(node) != names:
            continue
        for leaf in node.walk():
            line = leaf.meta.get("line") if hasattr(leaf, "meta") else None
            if isinstance(line, int):
                return line, _shown(node)
        return 0, _shown(node)
    return 0, ""


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
